//! The user's own scheduled job that runs `bedkey rotate --due --notify`: its period,
//! its command line, and its files for each platform's service manager (a systemd
//! user timer, a launchd agent, a Task Scheduler task), each written with that
//! format's own quoting. Also what the job and `schedule install` leave in the config
//! dir: the record of what was installed, and the last run's outcome. Nothing here
//! runs a program or prints; the command does.

pub mod launchd;
pub mod systemd;
pub mod task_scheduler;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Text as XML character data or an attribute value (the launchd plist, the task).
pub fn xml_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A window (`--within`): a duration with a unit (a bare `7` would be seconds to
/// bedkey and days to someone used to `--days 7`), 0s to 366 days. In seconds.
pub fn parse_window(text: &str) -> Result<i64> {
    if !text.is_empty() && text.trim().bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::usage(format!(
            "--within {text}: give a unit, e.g. {text}d or {text}h"
        )));
    }
    let secs = crate::time::parse_duration(text)
        .map_err(|e| e.context("--within"))?
        .as_secs();
    if secs > 366 * 86_400 {
        return Err(Error::usage(format!(
            "--within {text} is out of range: 0s to 366d"
        )));
    }
    Ok(secs as i64)
}

/// The first words of every file `schedule install` writes: `remove` deletes only a
/// file that carries them, at a path install uses.
pub const MARKER: &str = "Made by `bedkey schedule install`";

/// Whether `path` is a job file bedkey wrote: one of the paths install uses for the
/// record's scheduler, holding [`MARKER`] (a UTF-16 task file too).
pub fn is_ours(path: &Path, expected: &[PathBuf]) -> bool {
    if !expected.iter().any(|e| e == path) {
        return false;
    }
    let Ok(bytes) = crate::files::read_bytes_no_follow(path) else {
        return false;
    };
    let text = if bytes.starts_with(&[0xFF, 0xFE]) {
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(&bytes).into_owned()
    };
    text.contains(MARKER)
}

/// The name every platform's job goes by.
pub const JOB_NAME: &str = "bedkey-rotate";
/// In the config dir: what `schedule install` made, for `status` and `remove`.
pub const RECORD_FILE: &str = "schedule.json";
/// In the config dir: the last `rotate --due` run's outcome.
pub const STATE_FILE: &str = "rotation-state.json";
/// In the config dir: one line a key a run, appended.
pub const LOG_FILE: &str = "rotation.log";
/// The log is started afresh (the old one kept as `.1`) past this size.
pub const LOG_MAX: u64 = 256 * 1024;

/// The service managers bedkey writes jobs for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheduler {
    Systemd,
    Launchd,
    TaskScheduler,
}

impl Scheduler {
    /// This platform's, or the one `BEDKEY_SCHEDULER` names (how tests write another
    /// platform's files here).
    pub fn here() -> Result<Scheduler> {
        if let Some(name) = crate::settings::scheduler() {
            return Scheduler::parse(&name);
        }
        if cfg!(target_os = "macos") {
            Ok(Scheduler::Launchd)
        } else if cfg!(windows) {
            Ok(Scheduler::TaskScheduler)
        } else if cfg!(target_os = "linux") {
            Ok(Scheduler::Systemd)
        } else {
            Err(Error::failure(
                "bedkey writes scheduled jobs for systemd, launchd and Task Scheduler; on this system, run `bedkey rotate --due` from cron",
            ))
        }
    }

    pub fn parse(name: &str) -> Result<Scheduler> {
        match name {
            "systemd" => Ok(Scheduler::Systemd),
            "launchd" => Ok(Scheduler::Launchd),
            "task-scheduler" => Ok(Scheduler::TaskScheduler),
            other => Err(Error::usage(format!(
                "BEDKEY_SCHEDULER={other}: expected systemd, launchd or task-scheduler"
            ))),
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Scheduler::Systemd => "a systemd user timer",
            Scheduler::Launchd => "a launchd agent",
            Scheduler::TaskScheduler => "a Task Scheduler task",
        }
    }
}

/// How often the job runs: a period that divides a day (whole minutes of an hour,
/// whole hours of a day), a day, or a week; each has a calendar form in every format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Every {
    Minutes(u32),
    Hours(u32),
    Day,
    Week,
}

/// Daily and weekly runs happen at this hour, local time (laptops are on).
pub const RUN_HOUR: u32 = 9;

impl Every {
    pub fn parse(text: &str) -> Result<Every> {
        let secs = crate::time::parse_duration(text)
            .map_err(|e| e.context("--every"))?
            .as_secs();
        let refuse = || {
            Error::usage(format!(
                "--every {text}: the period must divide a day or be a week (e.g. 15m, 1h, 6h, 12h, 1d, 7d)"
            ))
        };
        match secs {
            604_800 => Ok(Every::Week),
            86_400 => Ok(Every::Day),
            s if s >= 3_600 && s % 3_600 == 0 && 24 % (s / 3_600) == 0 => {
                Ok(Every::Hours((s / 3_600) as u32))
            }
            s if (300..3_600).contains(&s) && s % 60 == 0 && 60 % (s / 60) == 0 => {
                Ok(Every::Minutes((s / 60) as u32))
            }
            s if s < 300 && s > 0 => Err(Error::usage(format!(
                "--every {text}: more often than every 5 minutes is no use for keys that last days"
            ))),
            _ => Err(refuse()),
        }
    }

    /// Back to text, as `--every` takes it.
    pub fn text(self) -> String {
        match self {
            Every::Minutes(m) => format!("{m}m"),
            Every::Hours(h) => format!("{h}h"),
            Every::Day => "1d".to_string(),
            Every::Week => "7d".to_string(),
        }
    }

    /// When it runs, in words (local time).
    pub fn describe(self) -> String {
        match self {
            Every::Minutes(m) => format!("every {m} minutes"),
            Every::Hours(h) => format!(
                "every {h} hours ({})",
                (0..24)
                    .step_by(h as usize)
                    .map(|x| format!("{x:02}:00"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Every::Day => format!("daily at {RUN_HOUR:02}:00"),
            Every::Week => format!("Mondays at {RUN_HOUR:02}:00"),
        }
    }

    /// The period in seconds.
    pub fn secs(self) -> i64 {
        match self {
            Every::Minutes(m) => i64::from(m) * 60,
            Every::Hours(h) => i64::from(h) * 3_600,
            Every::Day => 86_400,
            Every::Week => 604_800,
        }
    }
}

/// The job: the program and its arguments, and the environment it is given.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Variables of the installing shell the job needs to see the same AWS setup
    /// (never credentials).
    pub env: Vec<(String, String)>,
}

/// AWS settings a job carries over from the shell that installed it: where the
/// shared files are, the region, endpoints, the CA bundle. Credentials never.
pub fn carried_env() -> Vec<(String, String)> {
    let wanted = |k: &str| {
        matches!(
            k,
            "AWS_CONFIG_FILE"
                | "AWS_SHARED_CREDENTIALS_FILE"
                | "AWS_REGION"
                | "AWS_DEFAULT_REGION"
                | "AWS_CA_BUNDLE"
                | "AWS_EC2_METADATA_DISABLED"
                | "AWS_ENDPOINT_URL"
                // A credential_process helper (aws-vault, granted) is found on it.
                | "PATH"
        ) || k.starts_with("AWS_ENDPOINT_URL_")
    };
    // vars_os: a variable that is not UTF-8 (of anything else) must not stop us.
    let mut vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, v)| wanted(k) && !v.is_empty())
        // An endpoint with a user, a password or a signed query in it is a secret.
        .filter(|(k, v)| {
            !(k.starts_with("AWS_ENDPOINT_URL") && (v.contains('@') || v.contains('?')))
        })
        .map(|(k, v)| {
            // A relative file is the installing shell's: the job starts elsewhere.
            let is_file = matches!(
                k.as_str(),
                "AWS_CONFIG_FILE" | "AWS_SHARED_CREDENTIALS_FILE" | "AWS_CA_BUNDLE"
            );
            match std::path::absolute(&v) {
                Ok(abs) if is_file => (k, abs.to_string_lossy().into_owned()),
                _ => (k, v),
            }
        })
        .collect();
    vars.sort();
    vars
}

/// Text that a job file cannot hold: a line break or another control character would
/// end or corrupt the line it is on in every format.
pub fn check_printable(what: &str, text: &str) -> Result<()> {
    if text.chars().any(char::is_control) {
        return Err(Error::usage(format!(
            "{what} holds a control character (a line break?), which a scheduled job's file cannot carry"
        )));
    }
    Ok(())
}

/// What `schedule install` made, kept for `status` and `remove`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub scheduler: Scheduler,
    /// Every file written, so that `remove` takes away exactly these.
    pub files: Vec<PathBuf>,
    pub every: String,
    pub within: String,
    pub installed_at: String,
    pub job: Job,
    /// Whether the service manager took the job (false: files only).
    pub enabled: bool,
}

/// One key's outcome in a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyOutcome {
    pub name: String,
    /// `rotated`, `renew-by-hand`, `failed`.
    pub outcome: String,
    pub expires_at: Option<String>,
    pub detail: String,
}

/// A `rotate --due` run, as `schedule status` and `doctor` show it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunState {
    pub ran_at: String,
    /// `ok` or `failed`.
    pub outcome: String,
    pub within: String,
    pub keys: Vec<KeyOutcome>,
}

pub fn read_record(dir: &Path) -> Result<Option<Record>> {
    read_json(&dir.join(RECORD_FILE))
}

pub fn read_state(dir: &Path) -> Result<Option<RunState>> {
    read_json(&dir.join(STATE_FILE))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match crate::files::read_no_follow(path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            Error::failure(format!("{} is not what bedkey wrote: {e}", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::failure(format!(
            "reading {}: {}",
            path.display(),
            crate::files::describe(&e)
        ))),
    }
}

pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::failure(e.to_string()))?;
    crate::files::write_atomically(path, format!("{text}\n").as_bytes())
}

/// Append lines to the run log, starting it afresh past [`LOG_MAX`].
pub fn append_log(dir: &Path, lines: &[String]) -> Result<()> {
    use std::io::Write;
    let path = dir.join(LOG_FILE);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > LOG_MAX) {
        let _ = std::fs::rename(&path, dir.join(format!("{LOG_FILE}.1")));
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        // Never through a symlink; 0600 like every file of bedkey's.
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    }
    let mut file = options.open(&path).map_err(|e| {
        Error::failure(format!(
            "opening {}: {}",
            path.display(),
            crate::files::describe(&e)
        ))
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = file.set_permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut text = String::new();
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    file.write_all(text.as_bytes())
        .map_err(|e| Error::failure(format!("writing {}: {e}", path.display())))
}

/// Why bedkey cannot rotate a key itself, or None when it can.
pub fn renew_by_hand(meta: &crate::config::KeyMeta) -> Option<String> {
    match meta.origin {
        crate::config::Origin::Iam if meta.shared.is_none() => None,
        crate::config::Origin::Shared | crate::config::Origin::Iam => Some(format!(
            "pulled from {}: whoever publishes it rotates it",
            meta.shared
                .as_ref()
                .map_or("a secret", |s| s.secret.as_str())
        )),
        crate::config::Origin::Imported => {
            let console = meta
                .alias
                .as_deref()
                .is_some_and(|a| a.starts_with("BedrockAPIKey-") || a.starts_with("AeaApiKey-"));
            Some(if console {
                "made in the console: make a new one there (or with bedkey create), then bedkey remove and bedkey import it".to_string()
            } else {
                "imported: bedkey did not make it, so renew it where it was made, then bedkey remove and bedkey import it".to_string()
            })
        }
        crate::config::Origin::Minted => None,
    }
}

/// When the key `meta` will be rotated by a job of `record`: the job's first run once
/// the key is within its window. None for a key the job cannot rotate or that never
/// expires.
pub fn rotates_at(meta: &crate::config::KeyMeta, record: &Record, now: i64) -> Option<i64> {
    let expires = meta.expires?;
    if meta.kind != crate::config::KeyKind::LongTerm || renew_by_hand(meta).is_some() {
        return None;
    }
    let every = Every::parse(&record.every).ok()?;
    let within = crate::time::parse_duration(&record.within).ok()?.as_secs() as i64;
    // A key inside the window already goes at the next run.
    Some(next_run_at_or_after(every, (expires - within).max(now)))
}

/// When the job next runs at or after `at` (seconds, UTC), given its period: the
/// next multiple of the period for sub-day periods, else the next run hour (for a
/// week, the next Monday's). An estimate in UTC, for `list`.
pub fn next_run_at_or_after(every: Every, at: i64) -> i64 {
    let period = every.secs();
    match every {
        Every::Minutes(_) | Every::Hours(_) => (at + period - 1).div_euclid(period) * period,
        Every::Day | Every::Week => {
            let day = 86_400;
            let mut t = at.div_euclid(day) * day + i64::from(RUN_HOUR) * 3_600;
            if t < at {
                t += day;
            }
            if every == Every::Week {
                // 1970-01-01 was a Thursday: Monday is day 4 of that week.
                while (t.div_euclid(day) + 3).rem_euclid(7) != 0 {
                    t += day;
                }
            }
            t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_that_divide_a_day_or_are_a_week() {
        assert_eq!(Every::parse("1d").unwrap(), Every::Day);
        assert_eq!(Every::parse("24h").unwrap(), Every::Day);
        assert_eq!(Every::parse("7d").unwrap(), Every::Week);
        assert_eq!(Every::parse("6h").unwrap(), Every::Hours(6));
        assert_eq!(Every::parse("15m").unwrap(), Every::Minutes(15));
        for bad in ["5h", "2d", "7m", "90m", "1m", "0s", "soon", "1h30m"] {
            assert!(Every::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_next_run_follows_the_period() {
        let monday_0900 = crate::time::parse_instant("2026-12-07T09:00:00Z").unwrap();
        let thursday = crate::time::parse_instant("2026-12-03T10:00:00Z").unwrap();
        assert_eq!(next_run_at_or_after(Every::Week, thursday), monday_0900);
        assert_eq!(
            next_run_at_or_after(Every::Day, thursday),
            crate::time::parse_instant("2026-12-04T09:00:00Z").unwrap()
        );
        assert_eq!(
            next_run_at_or_after(Every::Hours(6), thursday),
            crate::time::parse_instant("2026-12-03T12:00:00Z").unwrap()
        );
        assert_eq!(
            next_run_at_or_after(Every::Hours(6), monday_0900 + 3 * 3_600),
            monday_0900 + 3 * 3_600
        );
    }
}
