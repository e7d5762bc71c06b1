//! Questions to the person at the terminal. Off a terminal nothing is asked: callers
//! take `--yes` or stdin instead, so scripts never hang on a prompt.

use std::io::{BufRead, IsTerminal, Read, Write};

use crate::error::{Error, Result};
use crate::secret::{Secret, secret};

pub fn on_terminal() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Ask a yes/no question on stderr; anything but y/yes is no.
pub fn confirm(question: &str) -> Result<bool> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// A secret from a hidden prompt on a terminal, else from all of stdin.
pub fn read_secret(prompt: &str) -> Result<Secret> {
    let text = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt)
            .map_err(|e| Error::usage(format!("cannot read the key: {e}")))?
    } else {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::usage(format!("cannot read the key from stdin: {e}")))?;
        text
    };
    let text = secret(text.trim().to_string());
    if secrecy::ExposeSecret::expose_secret(&text).is_empty() {
        return Err(Error::usage("no key given on stdin"));
    }
    Ok(text)
}
