//! `bedkey inspect` end to end.

use crate::support::*;
use base64::Engine as _;

const VECTOR_A: &str = include_str!("../vectors/short-term-a.txt");

fn vector_key() -> String {
    VECTOR_A
        .lines()
        .find_map(|l| l.strip_prefix("key="))
        .unwrap()
        .to_string()
}

fn long_term_key() -> String {
    let body = base64::engine::general_purpose::STANDARD
        .encode("BedrockAPIKey-x1y2-at-123456789012:Zm9vYmFyc2VjcmV0c2VjcmV0");
    format!("ABSK{body}")
}

#[test]
fn inspect_reads_a_short_term_key_from_the_argument() {
    let sb = Sandbox::new();
    let out = sb
        .bedkey()
        .args(["inspect", &vector_key()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("short-term"));
    assert!(text.contains("us-west-2"));
    assert!(text.contains("2025-07-15T05:00:00Z"));
    assert!(text.contains("2025-07-15T17:00:00Z"));
    assert!(text.contains("expired"));
    assert!(text.contains("AKIA…MPLE"));
    assert!(!text.contains("AKIAIOSFODNN7EXAMPLE"));
    assert!(!text.contains(&vector_key()[20..60]));
}

#[test]
fn inspect_reads_stdin_with_a_dash_and_the_environment_otherwise() {
    let sb = Sandbox::new();
    let out = sb
        .bedkey()
        .args(["inspect", "-", "--output", "json"])
        .write_stdin(format!("{}\n", vector_key()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["kind"], "short-term");
    assert_eq!(json["region"], "us-west-2");
    assert_eq!(json["expired"], true);
    assert_eq!(json["seconds_left"], 0);
    assert_eq!(json["session_token"], false);
    assert_eq!(json["expires_at"], "2025-07-15T17:00:00Z");

    let out = sb
        .bedkey()
        .env("AWS_BEARER_TOKEN_BEDROCK", long_term_key())
        .args(["inspect", "--output", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["kind"], "long-term");
    assert_eq!(json["alias"], "BedrockAPIKey-x1y2-at-123456789012");
    assert_eq!(json["account"], "123456789012");
}

#[test]
fn inspect_of_a_fresh_key_shows_time_left_and_session_token() {
    let sb = Sandbox::new();
    let key = sb
        .bedkey_with_env_credentials()
        .env("AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjEXAMPLE")
        .args(["token", "--region", "eu-west-1", "--expires", "1h"])
        .output()
        .unwrap();
    let out = sb
        .bedkey()
        .args(["inspect", "-"])
        .write_stdin(key.stdout)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(text.contains("eu-west-1"), "{text}");
    assert!(text.contains("left"), "{text}");
    assert!(text.contains("yes (temporary credentials)"), "{text}");
    assert!(!text.contains("IQoJb3JpZ2luX2VjEXAMPLE"));
}

#[test]
fn inspect_never_prints_a_long_term_secret() {
    let sb = Sandbox::new();
    let out = sb
        .bedkey()
        .args(["inspect", &long_term_key()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("long-term"));
    assert!(!text.contains("Zm9vYmFyc2VjcmV0"));
    assert!(!text.contains("foobarsecret"));
    assert!(!text.contains(&long_term_key()));
}

#[test]
fn inspect_rejects_malformed_keys_with_exit_2_and_one_line() {
    let sb = Sandbox::new();
    let key = vector_key();
    let cases = [
        ("sk-ant-api03-xyz".to_string(), "starts with none of"),
        ("bedrock-api-key-%%%".to_string(), "base64"),
        (key[..key.len() - 30].to_string(), "base64"),
        (
            format!(
                "bedrock-api-key-{}",
                base64::engine::general_purpose::STANDARD
                    .encode("bedrock.amazonaws.com/?Action=CallWithBearerToken&Version=1")
            ),
            "X-Amz-",
        ),
        ("ABSK".to_string(), "ALIAS:SECRET"),
        ("".to_string(), "no key"),
    ];
    for (bad, why) in cases {
        let out = sb
            .bedkey()
            .args(["inspect", "-"])
            .write_stdin(bad.clone())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = stderr(&out);
        assert!(err.starts_with("bedkey: error: "), "{err}");
        assert!(err.contains(why), "{bad}: {err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn inspect_with_no_key_anywhere_is_a_usage_error() {
    let sb = Sandbox::new();
    let out = sb.bedkey().arg("inspect").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("AWS_BEARER_TOKEN_BEDROCK"));
}
