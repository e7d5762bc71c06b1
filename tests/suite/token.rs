//! `bedkey token` end to end: the real binary, real credential providers.

use crate::support::*;

#[test]
fn token_prints_only_the_key_on_stdout() {
    let sb = Sandbox::new();
    let out = sb
        .bedkey_with_env_credentials()
        .args(["token", "--region", "us-west-2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1);
    assert!(text.starts_with("bedrock-api-key-"));
    assert_eq!(key_param(&text, "X-Amz-Expires").as_deref(), Some("43200"));
    assert!(
        key_param(&text, "X-Amz-Credential")
            .unwrap()
            .contains("%2Fus-west-2%2Fbedrock%2F")
    );
    assert!(key_url(&text).ends_with("&Version=1"));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn token_accepts_every_expires_form() {
    let sb = Sandbox::new();
    for (form, secs) in [
        ("1", "1"),
        ("900", "900"),
        ("900s", "900"),
        ("15m", "900"),
        ("2h", "7200"),
        ("12h", "43200"),
        ("43200", "43200"),
    ] {
        let out = sb
            .bedkey_with_env_credentials()
            .args(["token", "--region", "us-east-1", "--expires", form])
            .output()
            .unwrap();
        assert!(out.status.success(), "{form}: {}", stderr(&out));
        assert_eq!(
            key_param(&stdout(&out), "X-Amz-Expires").as_deref(),
            Some(secs),
            "{form}"
        );
    }
}

#[test]
fn token_rejects_lifetimes_out_of_range_with_exit_2() {
    let sb = Sandbox::new();
    for bad in ["0", "0s", "43201", "12h1s", "13h", "2d", "soon", "-5"] {
        let out = sb
            .bedkey_with_env_credentials()
            .args(["token", "--region", "us-east-1", "--expires", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(out.stdout.is_empty());
        let err = stderr(&out);
        assert!(err.starts_with("bedkey: error: "), "{bad}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn token_without_a_region_is_a_usage_error() {
    let sb = Sandbox::new();
    let out = sb
        .bedkey_with_env_credentials()
        .arg("token")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("no AWS region"), "{err}");
    assert!(err.contains("hint: pass --region"), "{err}");
}

#[test]
fn token_reads_the_region_from_the_environment_then_the_profile() {
    let sb = Sandbox::new();
    sb.aws_config("[default]\nregion = eu-west-3\n");
    let out = sb
        .bedkey_with_env_credentials()
        .arg("token")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        key_param(&stdout(&out), "X-Amz-Credential")
            .unwrap()
            .contains("eu-west-3")
    );

    let out = sb
        .bedkey_with_env_credentials()
        .env("AWS_REGION", "ap-south-1")
        .arg("token")
        .output()
        .unwrap();
    assert!(
        key_param(&stdout(&out), "X-Amz-Credential")
            .unwrap()
            .contains("ap-south-1")
    );

    let out = sb
        .bedkey_with_env_credentials()
        .env("AWS_DEFAULT_REGION", "ca-central-1")
        .arg("token")
        .output()
        .unwrap();
    assert!(
        key_param(&stdout(&out), "X-Amz-Credential")
            .unwrap()
            .contains("ca-central-1")
    );
}

#[test]
fn token_rejects_a_malformed_region() {
    let sb = Sandbox::new();
    let out = sb
        .bedkey_with_env_credentials()
        .args(["token", "--region", "US East"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not an AWS region"));
    // Flag-shaped values are not regions either: the Action would export them.
    for flag in ["--help", "-x", "--", "x-", "-1"] {
        let out = sb
            .bedkey_with_env_credentials()
            .arg("token")
            .arg(format!("--region={flag}"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{flag}: a key was minted");
    }
    let out = sb
        .bedkey_with_env_credentials()
        .env("AWS_REGION", "-x")
        .arg("token")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn token_without_credentials_exits_4_and_says_where_it_looked() {
    let sb = Sandbox::new();
    let out = sb
        .bedkey()
        .args(["token", "--region", "us-east-1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = stderr(&out);
    assert!(err.contains("no AWS credentials found"), "{err}");
    assert!(err.contains("environment"), "{err}");
    assert!(err.contains("~/.aws/credentials"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(err.lines().count(), 2, "{err}");
}

#[test]
fn token_with_an_unknown_profile_exits_4() {
    let sb = Sandbox::new();
    let out = sb
        .bedkey()
        .args(["token", "--region", "us-east-1", "--profile", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("bedkey: error: "));
}

#[test]
fn an_explicit_profile_wins_over_environment_credentials() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.path().join(".aws/credentials"),
        "[work]\naws_access_key_id = AKIAPROFILEEXAMPLE01\naws_secret_access_key = x/y+z\n",
    )
    .unwrap();
    let out = sb
        .bedkey_with_env_credentials()
        .args(["token", "--region", "us-east-1", "--profile", "work"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let cred = key_param(&stdout(&out), "X-Amz-Credential").unwrap();
    assert!(cred.starts_with("AKIAPROFILEEXAMPLE01%2F"), "{cred}");
}

#[test]
fn token_signs_in_the_session_token_before_the_signature() {
    let sb = Sandbox::new();
    let out = sb
        .bedkey_with_env_credentials()
        .env("AWS_SESSION_TOKEN", "FwoGZXIvYXdzE+/abc==")
        .args(["token", "--region", "us-east-1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let url = key_url(&stdout(&out));
    let token_at = url
        .find("&X-Amz-Security-Token=FwoGZXIvYXdzE%2B%2Fabc%3D%3D&")
        .unwrap();
    let signature_at = url.find("&X-Amz-Signature=").unwrap();
    assert!(token_at < signature_at, "{url}");
}

#[cfg(unix)]
#[test]
fn token_lifetime_is_capped_at_the_credentials_expiry() {
    let sb = Sandbox::new();
    sb.expiring_profile("sso", &rfc3339_from_now(600));
    let out = sb
        .bedkey()
        .args([
            "token",
            "--region",
            "us-east-1",
            "--profile",
            "sso",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["capped_by_credentials"], true);
    let lifetime = json["lifetime_seconds"].as_i64().unwrap();
    assert!((590..=600).contains(&lifetime), "{lifetime}");
    let key = json["key"].as_str().unwrap();
    assert_eq!(
        key_param(key, "X-Amz-Expires").unwrap(),
        lifetime.to_string()
    );
    assert!(key_param(key, "X-Amz-Security-Token").is_some());
    let err = stderr(&out);
    assert!(err.contains("credentials that sign it expire"), "{err}");
}

#[cfg(unix)]
#[test]
fn token_is_not_capped_when_credentials_outlive_it() {
    let sb = Sandbox::new();
    sb.expiring_profile("sso", &rfc3339_from_now(7200));
    let out = sb
        .bedkey()
        .args([
            "token",
            "--region",
            "us-east-1",
            "--profile",
            "sso",
            "--expires",
            "15m",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["capped_by_credentials"], false);
    assert_eq!(json["lifetime_seconds"], 900);
    assert!(stderr(&out).is_empty());
}

#[cfg(unix)]
#[test]
fn token_with_expired_credentials_exits_4() {
    let sb = Sandbox::new();
    sb.expiring_profile("old", &rfc3339_from_now(-60));
    let out = sb
        .bedkey()
        .args(["token", "--region", "us-east-1", "--profile", "old"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn token_json_reports_the_real_expiry() {
    let sb = Sandbox::new();
    let out = sb
        .bedkey_with_env_credentials()
        .args([
            "token",
            "--region",
            "us-east-1",
            "--expires",
            "2h",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["region"], "us-east-1");
    assert_eq!(json["kind"], "short-term");
    assert_eq!(json["lifetime_seconds"], 7200);
    assert!(json["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(
        json["key"]
            .as_str()
            .unwrap()
            .starts_with("bedrock-api-key-")
    );
}

#[test]
fn token_masks_the_key_in_github_actions_without_polluting_stdout() {
    let sb = Sandbox::new();
    let out = sb
        .bedkey_with_env_credentials()
        .env("GITHUB_ACTIONS", "true")
        .args(["token", "--region", "us-east-1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let key = stdout(&out);
    assert_eq!(key.lines().count(), 1);
    assert_eq!(stderr(&out).trim(), format!("::add-mask::{}", key.trim()));
}

#[test]
fn verbose_output_names_sources_but_never_the_secret() {
    let sb = Sandbox::new();
    let out = sb
        .bedkey_with_env_credentials()
        .args(["-v", "token", "--region", "us-east-1"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(err.contains("environment"), "{err}");
    assert!(err.contains("AKIA…MPLE"), "{err}");
    assert!(!err.contains(SECRET), "{err}");
    assert!(!err.contains(AKID), "{err}");
}
