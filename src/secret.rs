//! Secrets: every API key and AWS secret travels in [`Secret`], whose Debug prints
//! `[REDACTED]` and whose memory is zeroed on drop. Calling `expose_secret()` marks
//! the one place a secret leaves its wrapper: printing it for `eval`, handing it to a
//! child process, or writing it to the secure store.

pub use secrecy::{ExposeSecret, SecretString as Secret};

/// Wrap a string as a secret.
pub fn secret(value: impl Into<String>) -> Secret {
    Secret::from(value.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_the_secret() {
        let s = secret("ABSKsupersecretvalue");
        let shown = format!("{s:?}");
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
        assert_eq!(s.expose_secret(), "ABSKsupersecretvalue");
    }
}
