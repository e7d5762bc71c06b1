//! bedkey's own environment variables: what each does (the list `bedkey man` shows
//! and the docs follow), and the one place each is read and checked. A setting given
//! wrong is refused like a flag (exit 2), never ignored.

use std::time::Duration;

use crate::error::{Error, Result};

pub const CONFIG_DIR: &str = "BEDKEY_CONFIG_DIR";
pub const STORE: &str = "BEDKEY_STORE";
pub const PASSPHRASE: &str = "BEDKEY_PASSPHRASE";
pub const MIN_TTL: &str = "BEDKEY_MIN_TTL";
pub const SHARED_TTL: &str = "BEDKEY_SHARED_TTL";
pub const AWS_TIMEOUT: &str = "BEDKEY_AWS_TIMEOUT";
pub const KEYRING_TIMEOUT: &str = "BEDKEY_KEYRING_TIMEOUT";
pub const REFRESH_BEFORE: &str = "BEDKEY_REFRESH_BEFORE";
pub const KEY_EXPIRES_AT: &str = "BEDKEY_KEY_EXPIRES_AT";
pub const SCHEDULER: &str = "BEDKEY_SCHEDULER";
/// The values `BEDKEY_SCHEDULER` takes (`schedule::Scheduler` reads them).
pub const SCHEDULERS: [&str; 3] = ["systemd", "launchd", "task-scheduler"];

/// `(name, what it does)`, in the order a person meets them.
pub const VARIABLES: &[(&str, &str)] = &[
    (
        CONFIG_DIR,
        "the directory of bedkey's key list (as --config-dir); default the platform's config dir + /bedkey",
    ),
    (
        STORE,
        "where new keys' secrets go (as --store): auto, keyring, keyutils or file",
    ),
    (
        PASSPHRASE,
        "the file store's passphrase; taken out of bedkey's environment at start, never passed on",
    ),
    (
        MIN_TTL,
        "refresh a short-term key when less than this remains (default 5m; 0s to 12h), capped at half the key's lifetime",
    ),
    (
        SHARED_TTL,
        "read a shared or published key's secret again when the copy here is older than this (default 1h; 0s to 30d)",
    ),
    (
        AWS_TIMEOUT,
        "the most one AWS call may take, retries included (default 30s; it may only be shorter)",
    ),
    (
        KEYRING_TIMEOUT,
        "seconds a keyring call may take (default 3; a write at a terminal waits 60 for an unlock)",
    ),
    (
        REFRESH_BEFORE,
        "for the shell code of `bedkey init`: refresh the key this many seconds before it expires (default 300)",
    ),
    (
        SCHEDULER,
        "which service manager `bedkey schedule` writes for: systemd, launchd or task-scheduler (default this platform's; another platform's files are for inspection)",
    ),
    (
        KEY_EXPIRES_AT,
        "set by `bedkey env --export-expiry` (and `init`): when the exported key stops working, in seconds since the epoch",
    ),
];

/// A variable's value, when it is set and not empty.
fn value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Check every setting, as the command line is checked: first thing each run.
pub fn check() -> Result<()> {
    min_ttl()?;
    shared_ttl()?;
    aws_timeout()?;
    keyring_timeout(false)?;
    if let Some(name) = scheduler()
        && !SCHEDULERS.contains(&name.as_str())
    {
        return Err(Error::usage(format!(
            "{SCHEDULER}={name}: expected systemd, launchd or task-scheduler"
        )));
    }
    Ok(())
}

/// `BEDKEY_SCHEDULER`: the service manager `schedule` writes for, when not this
/// platform's.
pub fn scheduler() -> Option<String> {
    value(SCHEDULER)
}

/// `BEDKEY_PASSPHRASE`, the file store's passphrase, as the process started with it
/// (the binary reads it once, then takes it out of its environment).
pub fn passphrase() -> Option<String> {
    std::env::var(PASSPHRASE).ok()
}

/// Whether `BEDKEY_STORE` chose the store (not `--store`).
pub fn store_from_env() -> bool {
    value(STORE).is_some()
}

/// `BEDKEY_MIN_TTL`: refresh a short-term key when less than this remains; 0 s to
/// 12 h, default 5 minutes. In seconds.
pub fn min_ttl() -> Result<i64> {
    let Some(v) = value(MIN_TTL) else {
        return Ok(300);
    };
    let d = crate::time::parse_duration(&v).map_err(|e| e.context(MIN_TTL))?;
    if d > crate::token::MAX_LIFETIME {
        return Err(Error::usage(format!(
            "{MIN_TTL}={v} is out of range: 0s to 12h"
        )));
    }
    Ok(d.as_secs() as i64)
}

/// `BEDKEY_SHARED_TTL`: a shared or published key's secret is read again when the copy
/// here is older than this; 0 s to 30 days, default an hour. In seconds.
pub fn shared_ttl() -> Result<i64> {
    let Some(v) = value(SHARED_TTL) else {
        return Ok(3600);
    };
    let d = crate::time::parse_duration(&v).map_err(|e| e.context(SHARED_TTL))?;
    if d > Duration::from_secs(30 * 86_400) {
        return Err(Error::usage(format!(
            "{SHARED_TTL}={v} is out of range: 0s to 30d"
        )));
    }
    Ok(d.as_secs() as i64)
}

/// The longest an AWS call may take, retries included: 30 s, or less with
/// `BEDKEY_AWS_TIMEOUT` (seconds, or a duration such as `5s`), never more.
pub const AWS_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

pub fn aws_timeout() -> Result<Duration> {
    let Some(v) = value(AWS_TIMEOUT) else {
        return Ok(AWS_OPERATION_TIMEOUT);
    };
    match crate::time::parse_duration(&v) {
        Ok(d) if !d.is_zero() => Ok(d.min(AWS_OPERATION_TIMEOUT)),
        _ => Err(Error::usage(format!(
            "{AWS_TIMEOUT}={v} is not a duration above zero (30, 30s, 1m)"
        ))),
    }
}

/// How long a keyring call may take: 3 s (gh's), or `BEDKEY_KEYRING_TIMEOUT` seconds
/// (above 0, under an hour); `patient` writes wait a minute for an unlock prompt.
pub fn keyring_timeout(patient: bool) -> Result<Duration> {
    let Some(v) = value(KEYRING_TIMEOUT) else {
        return Ok(Duration::from_secs(if patient { 60 } else { 3 }));
    };
    match v.parse::<f64>() {
        Ok(s) if s > 0.0 && s < 3600.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(Error::usage(format!(
            "{KEYRING_TIMEOUT}={v} is not a number of seconds above 0 and under 3600"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `BEDKEY_*` name in the code is listed here, and read nowhere else.
    #[test]
    fn every_setting_is_listed_and_read_in_this_one_place() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![root];
        let listed: Vec<&str> = VARIABLES.iter().map(|(n, _)| *n).collect();
        // Names that are not settings: the build's, a heredoc delimiter, the tests'.
        let not_settings = [
            "BEDKEY_COMMIT",
            "BEDKEY_BUILD_",
            "BEDKEY_EOF",
            "BEDKEY_TEST_",
            // Texts handed to the Windows notifier's script, not settings.
            "BEDKEY_NOTE_",
        ];
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("settings.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (at, _) in text.match_indices("BEDKEY_") {
                let name: String = text[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                    .collect();
                if not_settings.iter().any(|n| name.starts_with(n)) {
                    continue;
                }
                assert!(
                    listed.contains(&name.as_str()),
                    "{name} in {path:?} is not listed"
                );
            }
            for line in text
                .lines()
                .filter(|l| l.contains("env::var") && !l.contains("BEDKEY_TEST_"))
            {
                assert!(
                    !line.contains("BEDKEY_") && !line.contains("settings::"),
                    "a setting read outside settings.rs, in {path:?}: {line}"
                );
            }
        }
    }
}
