//! Questions to the person at the terminal. Off a terminal nothing is asked: callers
//! take `--yes` or stdin instead, so scripts never hang on a prompt.

use std::io::{BufRead, IsTerminal, Read, Write};

use bedkey::error::{Error, Result};
use bedkey::secret::{Secret, secret};

/// The most a key may be. A long-term key is about 130 bytes and a short-term key
/// signed with session credentials a few KiB; more is not a key.
pub const MAX_KEY_BYTES: usize = 16 * 1024;

pub fn on_terminal() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Ask a yes/no question on stderr; anything but y/yes is no.
pub fn confirm(question: &str) -> Result<bool> {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{question} [y/N] ").and_then(|_| err.flush());
    drop(err);
    let mut answer = String::new();
    std::io::stdin().lock().take(1024).read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Ask on a terminal; refuse off one without `--yes`.
pub fn confirmed(yes: bool, question: &str) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !on_terminal() {
        return Err(Error::usage("not on a terminal: pass --yes to confirm"));
    }
    if confirm(question)? {
        Ok(())
    } else {
        Err(Error::interrupted("cancelled; nothing changed"))
    }
}

/// A line typed at a hidden prompt. The terminal gets its echo back whatever ends
/// the prompt, a signal included.
pub fn hidden(prompt: &str) -> std::io::Result<Secret> {
    crate::process::with_terminal_restored(|| rpassword::prompt_password(prompt)).map(secret)
}

/// A secret from a hidden prompt on a terminal, else from all of stdin (at most
/// [`MAX_KEY_BYTES`]).
pub fn read_secret(prompt: &str) -> Result<Secret> {
    let text = if std::io::stdin().is_terminal() {
        hidden(prompt).map_err(|e| Error::usage(format!("cannot read the key: {e}")))?
    } else {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .take(MAX_KEY_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::usage(format!("cannot read the key from stdin: {e}")))?;
        // Past the cap only one byte more is read: enough to refuse it below.
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::usage("the input is not text: that is not a Bedrock API key"))?;
        secret(text)
    };
    let text = secret(
        secrecy::ExposeSecret::expose_secret(&text)
            .trim()
            .to_string(),
    );
    if secrecy::ExposeSecret::expose_secret(&text).is_empty() {
        return Err(Error::usage("no key given on stdin"));
    }
    if secrecy::ExposeSecret::expose_secret(&text).len() > MAX_KEY_BYTES {
        return Err(Error::usage(format!(
            "the input is longer than {} KiB: that is not a Bedrock API key",
            MAX_KEY_BYTES / 1024
        )));
    }
    Ok(text)
}

/// The file store's passphrase as bedkey's binary finds it: `BEDKEY_PASSPHRASE` (taken
/// at start), else a hidden prompt on a terminal, twice for a new file.
pub struct TerminalPassphrase;

impl bedkey::store::Passphrase for TerminalPassphrase {
    fn available(&self) -> bool {
        crate::process::env_passphrase().is_some() || std::io::stdin().is_terminal()
    }

    fn passphrase(&self, path: &std::path::Path, creating: bool) -> Result<Secret> {
        use bedkey::store::PASSPHRASE_VAR;
        if let Some(p) = crate::process::env_passphrase() {
            if secrecy::ExposeSecret::expose_secret(p).is_empty() {
                return Err(Error::store(format!("{PASSPHRASE_VAR} is empty")));
            }
            return Ok(p.clone());
        }
        if !std::io::stdin().is_terminal() {
            return Err(Error::store(format!(
                "the file store needs a passphrase: {PASSPHRASE_VAR} is not set and there is no terminal to ask"
            )));
        }
        let ask = |prompt: &str| {
            hidden(prompt).map_err(|e| Error::store(format!("cannot read the passphrase: {e}")))
        };
        if !creating {
            return ask(&format!("Passphrase for {}: ", path.display()));
        }
        let first = ask("New passphrase for bedkey's encrypted file: ")?;
        let again = ask("Same passphrase again: ")?;
        if secrecy::ExposeSecret::expose_secret(&first)
            != secrecy::ExposeSecret::expose_secret(&again)
        {
            return Err(Error::store("the passphrases differ; nothing was stored"));
        }
        Ok(first)
    }
}
