//! Secrets: every API key and AWS secret travels in [`Secret`], whose Debug prints
//! `[REDACTED]` and whose memory is zeroed on drop. Calling `expose_secret()` marks
//! the one place a secret leaves its wrapper: printing it for `eval`, handing it to a
//! child process, or writing it to the secure store.

pub use secrecy::{ExposeSecret, SecretString as Secret};

/// Wrap a string as a secret.
pub fn secret(value: impl Into<String>) -> Secret {
    Secret::from(value.into())
}

/// `ABSK…WXYZ`, `bedrock-api-key-…WXYZ`, `AKIA…WXYZ`: enough to tell keys apart,
/// never enough to use one.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 12 {
        return "…".to_string();
    }
    let shown = if value.starts_with(crate::token::SHORT_TERM_PREFIX) {
        crate::token::SHORT_TERM_PREFIX.len()
    } else {
        4
    };
    let head: String = chars[..shown].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// Mask anything in `text` that looks like a Bedrock API key. A last line of defence
/// for messages that quote user input (clap echoes unexpected arguments).
pub fn redact_keys(text: &str) -> String {
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = [
        crate::token::LONG_TERM_PREFIX,
        crate::token::SHORT_TERM_PREFIX,
    ]
    .iter()
    .filter_map(|p| rest.find(p))
    .min()
    {
        let end = rest[at..]
            .find(|c| !is_key_char(c))
            .map_or(rest.len(), |e| at + e);
        out.push_str(&rest[..at]);
        let word = &rest[at..end];
        if word.len() >= 20 {
            out.push_str(&mask(word));
        } else {
            out.push_str(word);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
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

    #[test]
    fn keys_inside_messages_are_masked() {
        let text = "unexpected argument 'ABSKQmVkcm9ja0FQSUtleS1hMi1hdC0xMjM0NTY3OD=' found";
        assert_eq!(redact_keys(text), "unexpected argument 'ABSK…3OD=' found");
        assert_eq!(redact_keys("no key named 'ABSK'"), "no key named 'ABSK'");
        assert_eq!(redact_keys("plain"), "plain");
    }

    #[test]
    fn mask_keeps_only_the_ends() {
        assert_eq!(mask("ABSKQmVkcm9ja0FQSUtleS1WXYZ"), "ABSK…WXYZ");
        assert_eq!(mask("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        assert_eq!(mask("short"), "…");
        assert_eq!(
            mask("bedrock-api-key-YmVkcm9jaMQ=="),
            "bedrock-api-key-…MQ=="
        );
    }
}
