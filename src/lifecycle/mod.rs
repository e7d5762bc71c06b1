//! What the commands that change AWS do, step by step: the IAM and Secrets Manager
//! flows behind `create`, `rotate`, `publish` and `revoke`, and the decisions between
//! their calls (what to call next, what a failure means, what to undo). Nothing here
//! prints: outcomes come back as data for the command to show.
//!
//! - [`copies`]: the copies of a key in secrets: which hold a credential, and the
//!   current key written over them

pub mod copies;
