//! How bedkey speaks: results on stdout, everything else (notes, warnings, `-v` detail)
//! on stderr, so `eval "$(bedkey env)"` and `KEY=$(bedkey token)` only ever see the
//! result.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::cli::Output;
use bedkey::error::{Error, Result};
use bedkey::secret::{ExposeSecret, Secret};

#[derive(Clone)]
pub struct Printer {
    pub format: Output,
    quiet: bool,
    verbose: bool,
    color: bool,
    github: bool,
}

impl Printer {
    pub fn new(format: Output, quiet: bool, verbose: bool) -> Self {
        let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::stderr().is_terminal();
        let github = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
        Printer {
            format,
            quiet,
            verbose,
            color,
            github,
        }
    }

    pub fn json(&self) -> bool {
        self.format == Output::Json
    }

    /// A note on stderr, unless `--quiet`.
    pub fn note(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            stderr_line(&format!("bedkey: {}", printable(&message.to_string())));
        }
    }

    /// `note` as a value that outlives this borrow, for code that reports progress.
    pub fn noter(&self) -> Box<dyn Fn(&str)> {
        let quiet = self.quiet;
        Box::new(move |message| {
            if !quiet {
                stderr_line(&format!("bedkey: {}", printable(message)));
            }
        })
    }

    /// A warning on stderr, unless `--quiet`.
    pub fn warn(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            let label = self.paint("warning", "33");
            stderr_line(&format!(
                "bedkey: {label}: {}",
                printable(&message.to_string())
            ));
        }
    }

    /// Detail for `-v`. Callers pass names, sources and masked values only.
    pub fn detail(&self, message: impl std::fmt::Display) {
        if self.verbose {
            stderr_line(&format!("bedkey: {}", printable(&message.to_string())));
        }
    }

    pub fn paint(&self, text: &str, ansi: &str) -> String {
        if self.color {
            format!("\x1b[{ansi}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// In GitHub Actions, tell the runner to mask a secret in every later log line.
    /// It goes to stderr, which the runner reads too, so `KEY=$(bedkey token)` stays
    /// clean.
    pub fn mask_in_ci(&self, secret: &Secret) {
        if self.github {
            stderr_line(&format!("::add-mask::{}", secret.expose_secret()));
        }
    }

    /// AWS made a key it shows only once, and storing it failed: give it to the person
    /// now, on stdout (in `--output json`, as `key` in `details`), with a warning on
    /// stderr. The caller still fails, with the command that stores it later.
    pub fn hand_over(&self, key: &Secret, what: &str, mut details: serde_json::Value) {
        self.mask_in_ci(key);
        let warning = self.paint("warning", "33");
        stderr_line(&format!(
            "bedkey: {warning}: {what}, but storing it failed; AWS never shows it again, so it is printed on stdout. Keep it safe."
        ));
        let printed = if self.json() {
            details["stored"] = serde_json::Value::Bool(false);
            details["key"] = serde_json::Value::String(key.expose_secret().to_string());
            serde_json::to_string_pretty(&details)
                .map_err(|e| Error::failure(e.to_string()))
                .and_then(|text| write_stdout_strictly(&text))
        } else {
            write_stdout_strictly(key.expose_secret())
        };
        if printed.is_err() {
            // stdout is gone (`>/dev/full`, closed): the terminal is the last place.
            stderr_line(&format!(
                "bedkey: {warning}: stdout could not be written; the key is: {}",
                key.expose_secret()
            ));
        }
    }

    /// Write a command's JSON object on stdout.
    pub fn print_json(&self, value: &impl Serialize) -> Result<()> {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| Error::failure(format!("cannot write JSON: {e}")))?;
        stdout_line(&text)
    }
}

/// Print `bedkey: error: …` (and a hint) on stderr and give the exit code. Anything
/// key-shaped in the text is masked, a last line of defence for messages that quote
/// input (clap echoes unexpected arguments).
pub fn report(error: &Error) -> std::process::ExitCode {
    use bedkey::token::redact_keys;
    stderr_line(&format!(
        "bedkey: error: {}",
        printable(&redact_keys(error.message()))
    ));
    if let Some(hint) = error.hint() {
        stderr_line(&format!("hint: {}", printable(&redact_keys(hint))));
    }
    std::process::ExitCode::from(error.kind().exit_code())
}

/// Text from input made safe for a terminal: control characters (an escape sequence
/// hidden in a name or a file) are shown as `\u{1b}`, never sent raw.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// Print a line on stderr. A stderr that cannot be written to (`2>/dev/full`, a
/// closed pipe) is ignored: it must never abort a command that has done its work.
pub fn stderr_line(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}").and_then(|_| err.flush());
}

/// A line on stdout where a closed pipe is a failure too: for a key that must arrive.
fn write_stdout_strictly(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|_| out.flush())
        .map_err(|e| Error::failure(format!("cannot write to stdout: {e}")))
}

/// Write bytes on stdout; a closed pipe (`bedkey man | head`) is not an error.
pub fn stdout_bytes(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|e| Error::failure(format!("cannot write to stdout: {e}"))),
    }
}

/// Print a line on stdout; a closed pipe (`bedkey list | head -1`) is not an error.
pub fn stdout_line(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|e| Error::failure(format!("cannot write to stdout: {e}"))),
    }
}

/// Print rows as aligned columns.
pub fn table(rows: &[Vec<String>]) -> Result<()> {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{:<w$}", printable(cell), w = *w))
            .collect();
        stdout_line(line.join("  ").trim_end())?;
    }
    Ok(())
}
