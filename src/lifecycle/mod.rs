//! What the commands that change AWS do, step by step: the IAM and Secrets Manager
//! flows behind `create`, `rotate`, `publish` and `revoke`, and the decisions between
//! their calls (what to call next, what a failure means, what to undo). Nothing here
//! prints: outcomes come back as data for the command to show.
//!
//! - [`create`]: `create`'s plan, its steps, and what a failure midway means
//! - [`publish`]: where a key's secret is, the checks before writing it, the write
//! - [`rotate`]: the grace period, the new credential, every copy written, the old
//!   one retired
//! - [`rotate_secret`]: `rotate --secret-id`: the secret's claims checked, the write
//!   that must not race another rotation
//! - [`copies`]: the copies of a key in secrets: which hold a credential, and the
//!   current key written over them

pub mod copies;
pub mod create;
pub mod publish;
pub mod rotate;
pub mod rotate_secret;

/// What a flow has to say as it goes, for the command to show: `-v` detail, a note,
/// or a warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    Detail(String),
    Note(String),
    Warning(String),
}
