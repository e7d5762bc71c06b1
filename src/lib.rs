//! bedkey's core: Amazon Bedrock API keys made, stored, refreshed and loaded, with no
//! terminal in it. Nothing here prints, prompts or parses a command line; what a
//! person should hear comes back as data (warnings, sources, errors with a kind and
//! an AWS code), and the `bedkey` binary decides how to show it.
//!
//! - [`token`]: minting short-term keys byte for byte as AWS does, reading either kind
//! - [`keys`]: a stored key in use: load, refresh, add, replace, forget
//! - [`config`]: key metadata (`keys.json`) and its lock
//! - [`store`]: the secure stores behind one trait
//! - [`iam`]: long-term keys through IAM
//! - [`secrets`]: team keys shared through AWS Secrets Manager
//! - [`aws`]: credentials, timeouts, AWS errors, minting from the credential chain
//! - [`region`]: region names, the region in effect, partitions and DNS suffixes
//! - [`profile`]: the AWS profile in effect
//! - [`audit`]: an account's API keys read and judged, and an organization's accounts
//! - [`authz`]: whether a user's policies make its key a way into the account
//! - [`org`]: an AWS Organization's accounts, and a way into each
//! - [`leak`]: a leaked key traced to what made it, and cut off
//! - [`guard`]: the SCP or IAM policy that enforces a rule on API keys
//! - [`schedule`]: the scheduled job's period, files (systemd, launchd, Task Scheduler) and records
//! - [`notify`]: desktop notifications (D-Bus, osascript, PowerShell)
//! - [`clients`]: what each kind of client reads: the sets of `--for`, the proxy's child
//! - [`lifecycle`]: the flows of the commands that change AWS, and their decisions
//! - [`proxy`]: a local endpoint that keeps long-running programs' keys fresh
//! - [`settings`]: bedkey's own environment variables
//! - [`fuzz`]: entry points of the parsers of untrusted input, for fuzzers and tests
//! - [`policy`], [`shell`], [`time`], [`files`], [`secret`], [`error`]: the pieces

// No terminal in the library: it returns data and errors, and the binary speaks.
#![deny(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::dbg_macro,
    clippy::disallowed_methods
)]
#![warn(clippy::too_many_lines)]

pub mod audit;
pub mod authz;
pub mod aws;
pub mod clients;
pub mod config;
pub mod error;
pub mod files;
#[doc(hidden)]
pub mod fuzz;
pub mod guard;
pub mod iam;
pub mod keys;
pub mod leak;
pub mod lifecycle;
pub mod notify;
pub mod org;
pub mod policy;
pub mod profile;
pub mod proxy;
pub mod region;
pub mod schedule;
pub mod secret;
pub mod secrets;
pub mod service;
pub mod settings;
pub mod shell;
pub mod store;
pub mod time;
pub mod token;
