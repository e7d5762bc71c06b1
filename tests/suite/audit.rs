//! What bedkey reads back from IAM: `list --remote`, `audit`, `verify`, and
//! listings that are cut short or never end.

use crate::support::iam::*;
use crate::support::*;

#[test]
fn list_remote_marks_keys_without_a_local_secret_and_local_keys_gone_from_iam() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let (kept, orphan, vanished) = (sb.name("kept"), sb.name("orphan"), sb.name("vanished"));
    for n in [&kept, &orphan, &vanished] {
        run_ok(&sb, url, &["create", n]);
    }
    ok(&sb
        .bedkey()
        .args(["remove", &orphan, "--yes"])
        .output()
        .unwrap());
    let id = credentials_of(url, &format!("bedkey-{vanished}"))[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    control(url, "DELETE", &format!("/_control/credentials/{id}"), "");

    let out = bedkey(&sb, url)
        .args(["list", "--remote", "--output", "json"])
        .output()
        .unwrap();
    ok(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let remote = json["remote"].as_array().unwrap();
    let row = |user: String| remote.iter().find(|r| r["user"] == user.as_str()).cloned();
    assert_eq!(
        row(format!("bedkey-{kept}")).unwrap()["local_name"],
        kept.as_str()
    );
    assert!(row(format!("bedkey-{orphan}")).unwrap()["local_name"].is_null());
    assert!(row(format!("bedkey-{vanished}")).is_none());
    assert_eq!(json["gone_from_iam"], serde_json::json!([vanished]));

    let out = bedkey(&sb, url)
        .args(["list", "--remote"])
        .output()
        .unwrap();
    ok(&out);
    assert!(
        stdout(&out).contains("(no local secret)"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains(&format!("key '{vanished}': its IAM credential is gone")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verify_reports_accepted_denied_expired_and_rejected_keys() {
    let sb = Sandbox::new();
    let good = long_term_key("BedrockAPIKey-good-at-123456789012");
    let denied = long_term_key("BedrockAPIKey-deny-at-123456789012");
    let unknown = long_term_key("BedrockAPIKey-unkn-at-123456789012");
    let url = fake_bedrock(vec![
        (good.clone(), 200, "", ""),
        (
            denied.clone(),
            403,
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/x is not authorized to perform: bedrock:CallWithBearerToken",
        ),
    ]);
    for (name, key) in [("good", &good), ("denied", &denied), ("unknown", &unknown)] {
        ok(&sb.import(&sb.name(name), key, &["--region", "us-east-1"]));
    }
    let verify = |name: &str| {
        sb.bedkey()
            .env("AWS_ENDPOINT_URL_BEDROCK", &url)
            .args(["verify", &sb.name(name)])
            .output()
            .unwrap()
    };
    let out = verify("good");
    ok(&out);
    assert!(stdout(&out).contains("accepted"), "{}", stdout(&out));

    let out = verify("denied");
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("lacks bedrock:CallWithBearerToken"),
        "{}",
        stderr(&out)
    );

    let out = verify("unknown");
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("rejected"), "{}", stderr(&out));

    let old = sb.name("old");
    ok(&sb.import(
        &old,
        &good,
        &["--expires-at", "2020-01-01", "--region", "us-east-1"],
    ));
    let out = sb
        .bedkey()
        .env("AWS_ENDPOINT_URL_BEDROCK", &url)
        .args(["verify", &old, "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["verdict"], "expired");
    assert!(
        json["http_status"].is_null(),
        "no call for a key known to be expired"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = sb
        .bedkey()
        .env("AWS_ENDPOINT_URL_BEDROCK", format!("http://{closed}"))
        .args(["verify", &sb.name("good")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot reach Bedrock"));
}

#[test]
fn audit_lists_every_key_in_the_account_with_its_findings() {
    let Some((url, _turn)) = server() else { return };
    control(url, "POST", "/_control/reset", r#"{"credentials": true}"#);
    let sb = Sandbox::new();
    let name = sb.name("audited");
    run_ok(&sb, url, &["create", &name, "--days", "30"]);
    let mine = sb.keys_json()["keys"][&name]["credential_id"]
        .as_str()
        .unwrap()
        .to_string();
    // A console-made key that never expires, and 1,200 keys of others: two pages
    // (bedkey asks for pages of 1,000, IAM's most).
    control(
        url,
        "POST",
        "/_control/seed",
        r#"{"users": 1, "per_user": 1, "prefix": "BedrockAPIKey-console"}"#,
    );
    control(
        url,
        "POST",
        "/_control/seed",
        r#"{"users": 600, "per_user": 2, "prefix": "team", "age_days": 365}"#,
    );
    let console = credentials_of(url, "BedrockAPIKey-console-0")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    control(
        url,
        "PATCH",
        &format!("/_control/credentials/{console}"),
        &format!(r#"{{"created": "{}"}}"#, rfc3339_from_now(-200 * 86_400)),
    );

    let out = bedkey(&sb, url)
        .args(["audit", "--output", "json"])
        .output()
        .unwrap();
    ok(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let creds = json["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1202);
    let find = |id: &str| creds.iter().find(|c| c["credential_id"] == id).unwrap();
    let m = find(&mine);
    assert_eq!(m["managed_here"], true);
    assert_eq!(m["findings"], serde_json::json!([]));
    assert_eq!(m["status"], "Active");
    let c = find(&console);
    assert_eq!(
        c["findings"],
        serde_json::json!([
            "never-expires",
            "older-than-90",
            "console-made",
            "not-managed-here"
        ])
    );
    assert_eq!(c["age_days"], 200);
    assert_eq!(json["summary"]["credentials"], 1202);
    assert_eq!(json["summary"]["users"], 602);
    let pages = actions(url)
        .iter()
        .filter(|a| *a == "ListServiceSpecificCredentials")
        .count();
    // One paginated listing a service: Bedrock's two pages, one each for the
    // other three (Claude Platform, CloudWatch, CloudWatch Logs).
    assert_eq!(pages, 5);
    assert_eq!(json["summary"]["strict_failures"], 1);
    // Listed in one paginated call with AllUsers, no per-user listing.
    assert!(actions(url).iter().all(|a| a != "ListUsers"));

    let strict = bedkey(&sb, url)
        .args(["audit", "--strict"])
        .output()
        .unwrap();
    assert_eq!(strict.status.code(), Some(1), "{}", stderr(&strict));
    assert!(stderr(&strict).contains("1 of 1202"), "{}", stderr(&strict));
    let text = stdout(&strict);
    assert!(
        text.contains("never-expires, older-than-90, console-made"),
        "{text}"
    );
    assert!(text.starts_with("SERVICE"), "{text}");

    let lenient = bedkey(&sb, url)
        .args(["audit", "--strict", "--max-age", "36600"])
        .output()
        .unwrap();
    assert_eq!(lenient.status.code(), Some(1), "never-expires still fails");
    let bad = bedkey(&sb, url)
        .args(["audit", "--max-age", "0"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    control(url, "POST", "/_control/reset", r#"{"credentials": true}"#);
}

#[test]
fn a_listing_that_never_ends_is_an_error_not_an_endless_audit() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    control(
        url,
        "POST",
        "/_control/seed",
        r#"{"users": 3, "per_user": 1, "prefix": "endless"}"#,
    );
    for (mode, said) in [("no-marker", "no marker"), ("same-marker", "gave before")] {
        control(
            url,
            "POST",
            "/_control/paging",
            &format!(r#"{{"mode": "{mode}"}}"#),
        );
        // Killed after a minute if it pages on.
        let out = bedkey(&sb, url)
            .args(["audit"])
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{mode}: {err}");
        assert!(err.contains(said), "{mode}: {err}");
        assert_eq!(err.lines().count(), 1, "{mode}: {err}");
        let pages = actions(url)
            .iter()
            .filter(|a| *a == "ListServiceSpecificCredentials")
            .count();
        assert!(pages <= 2, "{mode}: {pages} pages");
        control(url, "POST", "/_control/reset", "{}");
    }
    control(url, "POST", "/_control/reset", r#"{"credentials": true}"#);
}

#[test]
fn a_listing_cut_short_is_an_error_wherever_it_is_cut() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    // One more credential before each try moves where the cut lands: inside a
    // credential, between two, inside the closing elements.
    for times in 0..8 {
        control(
            url,
            "POST",
            "/_control/seed",
            &format!(r#"{{"users": 1, "per_user": 1, "prefix": "cut{times}"}}"#),
        );
        control(
            url,
            "POST",
            "/_control/fail",
            r#"{"action": "ListServiceSpecificCredentials", "mode": "garbled_after", "times": 1}"#,
        );
        let out = bedkey(&sb, url)
            .args(["audit", "--output", "json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "try {times}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "try {times}");
        let err = stderr(&out);
        assert!(err.contains("could not read"), "{err}");
        assert!(!err.contains('{'), "{err}");
        assert!(!err.contains("interceptor"), "{err}");
        assert!(!err.contains("response error"), "{err}");
    }
    run_ok(&sb, url, &["audit"]);
}
