//! The job as a systemd user service and timer (`~/.config/systemd/user`), with
//! systemd's own quoting: in `ExecStart=` a word is double-quoted when it must be,
//! with `\` and `"` escaped, `%` doubled (specifiers) and `$` doubled (variables);
//! in `Environment=` the same quoting, `%` doubled.

use std::path::{Path, PathBuf};

use super::{Every, JOB_NAME, Job, RUN_HOUR, check_printable};
use crate::error::{Error, Result};

/// The directory of the user's own units.
pub fn unit_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".config")))
        .map(|c| c.join("systemd").join("user"))
}

pub fn service_name() -> String {
    format!("{JOB_NAME}.service")
}

pub fn timer_name() -> String {
    format!("{JOB_NAME}.timer")
}

/// The `OnCalendar=` form of a period.
pub fn on_calendar(every: Every) -> String {
    match every {
        Every::Minutes(m) => format!("*-*-* *:00/{m}:00"),
        Every::Hours(h) => format!("*-*-* 00/{h}:00:00"),
        Every::Day => format!("*-*-* {RUN_HOUR:02}:00:00"),
        Every::Week => format!("Mon *-*-* {RUN_HOUR:02}:00:00"),
    }
}

/// The program of `ExecStart=`: systemd takes `%` specifiers in it (doubled here),
/// but no variables, and refuses quotes and backslashes in it outright.
pub fn exec_program(path: &str) -> Result<String> {
    if path.contains(['"', '\'', '\\']) {
        return Err(Error::usage(format!(
            "systemd cannot run a program whose path holds a quote or a backslash ({path}); put bedkey elsewhere"
        )));
    }
    let escaped = path.replace('%', "%%");
    Ok(if path.contains([' ', '\t', ';']) {
        format!("\"{escaped}\"")
    } else {
        escaped
    })
}

/// One argument of a command line as `ExecStart=` reads it back.
pub fn exec_word(word: &str) -> String {
    let escaped = word
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
        .replace('$', "$$");
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@".contains(c));
    if plain {
        escaped
    } else {
        format!("\"{escaped}\"")
    }
}

/// One `KEY=VALUE` assignment as `Environment=` reads it back.
pub fn env_assignment(key: &str, value: &str) -> String {
    let escaped = format!("{key}={value}")
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%");
    format!("\"{escaped}\"")
}

/// The service and timer files: (file name, contents).
pub fn units(job: &Job, every: Every) -> Result<Vec<(String, String)>> {
    check_printable("the bedkey path", &job.program.to_string_lossy())?;
    for a in &job.args {
        check_printable("an argument of the job", a)?;
    }
    let mut exec = vec![exec_program(&job.program.to_string_lossy())?];
    exec.extend(job.args.iter().map(|a| exec_word(a)));
    let mut service = String::from(
        "# Made by `bedkey schedule install`; `bedkey schedule remove` takes it away.\n\
         [Unit]\n\
         Description=bedkey: rotate API keys that expire soon, remind of the rest\n\n\
         [Service]\n\
         Type=oneshot\n",
    );
    for (k, v) in &job.env {
        check_printable(k, v)?;
        service.push_str(&format!("Environment={}\n", env_assignment(k, v)));
    }
    service.push_str(&format!("ExecStart={}\n", exec.join(" ")));
    let timer = format!(
        "# Made by `bedkey schedule install`; `bedkey schedule remove` takes it away.\n\
         [Unit]\n\
         Description=bedkey: rotate API keys that expire soon ({})\n\n\
         [Timer]\n\
         OnCalendar={}\n\
         # A run missed while the machine was off happens at the next boot.\n\
         Persistent=true\n\
         Unit={}\n\n\
         [Install]\n\
         WantedBy=timers.target\n",
        every.text(),
        on_calendar(every),
        service_name()
    );
    Ok(vec![(service_name(), service), (timer_name(), timer)])
}

/// Where each unit goes.
pub fn paths(dir: &Path) -> Vec<PathBuf> {
    vec![dir.join(service_name()), dir.join(timer_name())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_and_escaped_as_systemd_reads_them() {
        assert_eq!(exec_word("rotate"), "rotate");
        assert_eq!(exec_word("/opt/my tools/x"), "\"/opt/my tools/x\"");
        assert_eq!(
            exec_program("/opt/my tools/$x%h").unwrap(),
            "\"/opt/my tools/$x%%h\""
        );
        assert!(exec_program("/opt/\"q\"/bedkey").is_err());
        assert_eq!(exec_word("100%"), "\"100%%\"");
        assert_eq!(exec_word("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(exec_word("$HOME"), "\"$$HOME\"");
        assert_eq!(exec_word(""), "\"\"");
        assert_eq!(
            env_assignment("AWS_CONFIG_FILE", "/a b/%c"),
            "\"AWS_CONFIG_FILE=/a b/%%c\""
        );
    }

    #[test]
    fn calendars_for_each_period() {
        assert_eq!(on_calendar(Every::Day), "*-*-* 09:00:00");
        assert_eq!(on_calendar(Every::Week), "Mon *-*-* 09:00:00");
        assert_eq!(on_calendar(Every::Hours(6)), "*-*-* 00/6:00:00");
        assert_eq!(on_calendar(Every::Minutes(15)), "*-*-* *:00/15:00");
    }

    #[test]
    fn a_line_break_cannot_reach_a_unit() {
        let job = Job {
            program: "/bin/bedkey".into(),
            args: vec!["--config-dir".into(), "a\nExecStartPre=/bin/evil".into()],
            env: Vec::new(),
        };
        assert!(units(&job, Every::Day).is_err());
    }
}
