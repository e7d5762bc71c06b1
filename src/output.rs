//! How bedkey speaks: results on stdout, everything else (notes, warnings, `-v` detail)
//! on stderr, so `eval "$(bedkey env)"` and `KEY=$(bedkey token)` only ever see the
//! result.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::cli::Output;
use crate::error::{Error, Result};
use crate::secret::{ExposeSecret, Secret};

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
            eprintln!("bedkey: {message}");
        }
    }

    /// A warning on stderr, unless `--quiet`.
    pub fn warn(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            let label = self.paint("warning", "33");
            eprintln!("bedkey: {label}: {message}");
        }
    }

    /// Detail for `-v`. Callers pass names, sources and masked values only.
    pub fn detail(&self, message: impl std::fmt::Display) {
        if self.verbose {
            eprintln!("bedkey: {message}");
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
            eprintln!("::add-mask::{}", secret.expose_secret());
        }
    }

    /// Write a command's JSON object on stdout.
    pub fn print_json(&self, value: &impl Serialize) -> Result<()> {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| Error::failure(format!("cannot write JSON: {e}")))?;
        stdout_line(&text)
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
