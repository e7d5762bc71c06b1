//! The one error type every command returns, and how it reaches the user.
//!
//! Each kind says what the caller can do about it and maps to one exit code of the
//! command-line contract. Messages are single lines and never hold a secret: they are
//! built from names, paths and AWS error codes only.

use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, as far as the caller can act on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Anything not listed below: network, an AWS error we do not classify, I/O.
    Failure,
    /// Bad flag, value out of range, malformed key or name: fix the command line.
    Usage,
    /// There is no key by that name: `bedkey list` shows what there is.
    NoSuchKey,
    /// No AWS credentials, expired ones, or AWS denied access.
    Credentials,
    /// The secure store is unavailable or refused.
    Store,
    /// Ctrl-C, or the user declined a prompt.
    Interrupted,
}

impl Kind {
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Failure => 1,
            Kind::Usage => 2,
            Kind::NoSuchKey => 3,
            Kind::Credentials => 4,
            Kind::Store => 5,
            Kind::Interrupted => 130,
        }
    }
}

#[derive(Debug)]
pub struct Error {
    kind: Kind,
    message: String,
    hint: Option<String>,
    /// The AWS error code behind it (`NoSuchEntity`, `LimitExceeded`), when there is
    /// one: callers match on this, never on the message.
    code: Option<String>,
    /// What caused it, for callers that want the chain (never shown raw to users).
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: one_line(message.into()),
            hint: None,
            code: None,
            source: None,
        }
    }

    pub fn failure(message: impl Into<String>) -> Self {
        Error::new(Kind::Failure, message)
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Error::new(Kind::Usage, message)
    }

    pub fn no_such_key(name: &str) -> Self {
        Error::new(Kind::NoSuchKey, format!("no key named '{name}'"))
            .with_hint("`bedkey list` shows the keys bedkey knows")
    }

    pub fn credentials(message: impl Into<String>) -> Self {
        Error::new(Kind::Credentials, message)
    }

    pub fn store(message: impl Into<String>) -> Self {
        Error::new(Kind::Store, message)
    }

    pub fn interrupted(message: impl Into<String>) -> Self {
        Error::new(Kind::Interrupted, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(one_line(hint.into()));
        self
    }

    /// Prefix the message with what was being done, ripgrep style: `reading X: cause`.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// Attach the AWS error code the failure came with.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Attach the underlying error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The AWS error code, if the failure came from AWS with one.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message with its hint in parentheses: one line for where the hint cannot
    /// go on a line of its own (a failure entry, a log line, a notification).
    pub fn message_and_hint(&self) -> String {
        match &self.hint {
            Some(h) => format!("{} ({h})", self.message),
            None => self.message.clone(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        if err.kind() == std::io::ErrorKind::Interrupted {
            return Error::interrupted("interrupted");
        }
        Error::failure(err.to_string())
    }
}

/// Errors are printed on one line: fold whatever a library put on several.
fn one_line(s: String) -> String {
    if s.contains('\n') {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_contract() {
        assert_eq!(Kind::Failure.exit_code(), 1);
        assert_eq!(Kind::Usage.exit_code(), 2);
        assert_eq!(Kind::NoSuchKey.exit_code(), 3);
        assert_eq!(Kind::Credentials.exit_code(), 4);
        assert_eq!(Kind::Store.exit_code(), 5);
        assert_eq!(Kind::Interrupted.exit_code(), 130);
    }

    #[test]
    fn messages_are_folded_onto_one_line() {
        let e = Error::failure("first\n  second\nthird");
        assert_eq!(e.message(), "first second third");
    }

    #[test]
    fn context_prefixes_the_message() {
        let e = Error::store("locked").context("reading key 'x'");
        assert_eq!(e.message(), "reading key 'x': locked");
        assert_eq!(e.kind(), Kind::Store);
    }
}
