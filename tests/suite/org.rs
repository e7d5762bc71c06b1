//! Security at organization scale: `audit --org` across the test server's
//! organization (accounts that answer, one whose role is missing, one that refuses,
//! one that hangs, one that throttles), the user-level findings, `revoke --leaked`
//! for each kind of key and signer, and `guard`'s policies checked by moto's own
//! policy validator.

use crate::support::iam::*;
use crate::support::*;

/// The test server's organization: the management account (the tests' own) first,
/// then five members. Made once; later calls answer the same accounts.
fn organization(url: &str) -> Vec<String> {
    let made = control(url, "POST", "/_control/org", r#"{"accounts": 5}"#);
    made["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// One IAM (or STS) call run by moto inside `account`; moto's XML.
fn moto(url: &str, account: &str, service: &str, params: serde_json::Value) -> String {
    let body = serde_json::json!({"account": account, "service": service, "params": params});
    let out = control(url, "POST", "/_control/moto", &body.to_string());
    assert_eq!(out["status"], 200, "{out}");
    out["body"].as_str().unwrap().to_string()
}

fn xml_value(xml: &str, tag: &str) -> String {
    let start = xml
        .find(&format!("<{tag}>"))
        .unwrap_or_else(|| panic!("no {tag} in {xml}"))
        + tag.len()
        + 2;
    let end = xml[start..].find(&format!("</{tag}>")).unwrap() + start;
    xml[start..end].to_string()
}

/// Credentials of `service` for `user` in `account`, made by the server; their keys.
fn seed(url: &str, account: &str, user: &str, service: &str, n: usize) -> Vec<String> {
    // The user exists in IAM too (a second seed finds it there already).
    let create = serde_json::json!({"account": account, "params": {"Action": "CreateUser", "UserName": user}});
    control(url, "POST", "/_control/moto", &create.to_string());
    let body = serde_json::json!({"account": account, "user": user, "per_user": n,
                                  "service": service, "age_days": 30});
    let out = control(url, "POST", "/_control/seed", &body.to_string());
    out["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

/// An STS query call through the server's API (as the SDK would make it), signed
/// with access key `key` (and session `token`).
fn sts(url: &str, key: &str, token: Option<&str>, params: &str) -> String {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={key}/20261201/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0"
    );
    let mut headers = vec![
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Authorization", auth.as_str()),
    ];
    if let Some(t) = token {
        headers.push(("X-Amz-Security-Token", t));
    }
    let (status, body) = http(
        "POST",
        &format!("{url}/"),
        &headers,
        &format!("{params}&Version=2011-06-15"),
    );
    assert_eq!(status, 200, "{body}");
    body
}

/// The policy document of a GetRolePolicy/GetUserPolicy reply (IAM URL-encodes it).
fn policy_document(reply: &str) -> serde_json::Value {
    let text = percent_encoding::percent_decode_str(
        &xml_value(reply, "PolicyDocument").replace("&quot;", "\""),
    )
    .decode_utf8()
    .unwrap()
    .to_string();
    serde_json::from_str(&text).unwrap()
}

/// Temporary credentials from a reply: key, secret, token.
fn session_of(reply: &str) -> (String, String, String) {
    (
        xml_value(reply, "AccessKeyId"),
        xml_value(reply, "SecretAccessKey"),
        xml_value(reply, "SessionToken"),
    )
}

/// A short-term Bedrock key signed with these credentials (minted offline).
fn mint(sb: &Sandbox, (key, secret, token): (&str, &str, Option<&str>)) -> String {
    let mut cmd = sb.bedkey();
    cmd.env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .args(["token", "--region", "us-east-1", "--expires", "1h"]);
    if let Some(t) = token {
        cmd.env("AWS_SESSION_TOKEN", t);
    }
    let out = cmd.output().unwrap();
    ok(&out);
    stdout(&out).trim().to_string()
}

fn leaked(sb: &Sandbox, url: &str, key: &str, args: &[&str]) -> std::process::Output {
    bedkey(sb, url)
        .args(["revoke", "--leaked"])
        .args(args)
        .write_stdin(key.to_string())
        .output()
        .unwrap()
}

fn status_in(url: &str, id: &str) -> Option<String> {
    control(url, "GET", "/_control/credentials", "")
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .map(|c| c["status"].as_str().unwrap().to_string())
}

fn fail_in(url: &str, account: &str, action: &str, extra: serde_json::Value) {
    let mut fault = serde_json::json!({"action": action, "account": account, "times": -1});
    fault
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    control(url, "POST", "/_control/fail", &fault.to_string());
}

#[test]
fn audit_org_reads_every_account_and_lists_the_ones_it_could_not() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let accounts = organization(url);
    let (good, missing, denied, hangs, throttled) = (
        &accounts[1],
        &accounts[2],
        &accounts[3],
        &accounts[4],
        &accounts[5],
    );
    // In the good account: a broad user, a phantom user with an access key, and a
    // Claude Platform phantom without one.
    let admin = sb.name("admin");
    seed(url, good, &admin, "bedrock.amazonaws.com", 1);
    moto(
        url,
        good,
        "iam",
        serde_json::json!({"Action": "AttachUserPolicy", "UserName": admin,
                           "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
    );
    let phantom = format!("BedrockAPIKey-{}", sb.name("ph"));
    seed(url, good, &phantom, "bedrock.amazonaws.com", 1);
    moto(
        url,
        good,
        "iam",
        serde_json::json!({"Action": "CreateAccessKey", "UserName": phantom}),
    );
    let platform = format!("AeaApiKey-{}", sb.name("pl"));
    seed(
        url,
        good,
        &platform,
        "aws-external-anthropic.amazonaws.com",
        1,
    );
    seed(url, missing, "someone", "bedrock.amazonaws.com", 1);

    fail_in(
        url,
        missing,
        "AssumeRole",
        serde_json::json!({"code": "AccessDenied", "status": 403,
        "message": "User is not authorized to perform: sts:AssumeRole"}),
    );
    fail_in(
        url,
        denied,
        "ListServiceSpecificCredentials",
        serde_json::json!({"code": "AccessDenied", "status": 403,
        "message": "not authorized to perform iam:ListServiceSpecificCredentials"}),
    );
    fail_in(
        url,
        hangs,
        "ListServiceSpecificCredentials",
        serde_json::json!({"mode": "hang", "delay_ms": 8000}),
    );
    fail_in(
        url,
        throttled,
        "ListServiceSpecificCredentials",
        serde_json::json!({"code": "Throttling", "status": 400,
        "message": "Rate exceeded"}),
    );

    let started = std::time::Instant::now();
    let out = bedkey(&sb, url)
        .env("BEDKEY_AWS_TIMEOUT", "2s")
        .args(["audit", "--org", "--output", "json"])
        .output()
        .unwrap();
    ok(&out);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = json["credentials"].as_array().unwrap();
    let row = |user: &str| {
        rows.iter()
            .find(|r| r["user"] == user)
            .unwrap_or_else(|| panic!("no {user} in {json}"))
    };
    assert_eq!(row(&admin)["account"], good.as_str());
    let findings = |user: &str| row(user)["findings"].to_string();
    assert!(findings(&admin).contains("broad-policy"), "{}", row(&admin));
    assert!(
        row(&admin)["reasons"]
            .to_string()
            .contains("AdministratorAccess")
    );
    assert!(
        findings(&phantom).contains("phantom-access-key"),
        "{}",
        row(&phantom)
    );
    assert!(
        !findings(&platform).contains("phantom-access-key"),
        "{}",
        row(&platform)
    );
    assert_eq!(row(&platform)["service"], "claude-platform");
    assert!(rows.iter().all(|r| r["user"] != "someone"));

    let failures = json["failures"].as_array().unwrap();
    let reason = |account: &str| {
        failures
            .iter()
            .find(|f| f["account"] == account)
            .map(|f| f["reason"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no failure for {account}: {failures:?}"))
    };
    assert!(
        reason(missing).contains("AssumeRole"),
        "{}",
        reason(missing)
    );
    assert!(
        reason(denied).contains("AccessDenied"),
        "{}",
        reason(denied)
    );
    assert!(
        reason(hangs).contains("did not answer") || reason(hangs).contains("no answer"),
        "{}",
        reason(hangs)
    );
    // Throttled past its retries (or past the time they may take).
    let throttled_reason = reason(throttled);
    assert!(
        throttled_reason.contains("Throttling") || throttled_reason.contains("did not answer"),
        "{throttled_reason}"
    );
    assert!(!failures.iter().any(|f| f["account"] == good.as_str()));
    assert_eq!(json["summary"]["accounts"], 6);
    assert_eq!(json["summary"]["accounts_failed"], 4);
    assert!(
        stderr(&out).contains(&format!("account {missing}")),
        "{}",
        stderr(&out)
    );
    assert_no_debug_text(&stderr(&out));

    // A partial audit does not pass a gate, even with nothing strict among what it read.
    let out = bedkey(&sb, url)
        .env("BEDKEY_AWS_TIMEOUT", "2s")
        .args([
            "audit",
            "--org",
            "--strict",
            "--service",
            "claude-platform",
            "--max-age",
            "36600",
        ])
        .args(["--skip", &format!("{good},{}", accounts[0])])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("could not be read"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn audit_org_picks_accounts_and_writes_csv() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let accounts = organization(url);
    let user = sb.name("csv");
    seed(url, &accounts[1], &user, "bedrock.amazonaws.com", 2);
    seed(url, &accounts[2], &user, "bedrock.amazonaws.com", 1);
    let out = bedkey(&sb, url)
        .args([
            "audit",
            "--org",
            "--accounts",
            &accounts[1],
            "--output",
            "csv",
        ])
        .output()
        .unwrap();
    ok(&out);
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "account,service,user,credential_id,status,created,expires,age_days,findings,reasons,managed_here"
    );
    let mine: Vec<&str> = lines.filter(|l| l.contains(&user)).collect();
    assert_eq!(mine.len(), 2, "{text}");
    assert!(
        mine.iter()
            .all(|l| l.starts_with(&format!("{},bedrock,", accounts[1])))
    );

    // Nothing read proves nothing: a gate over no account fails.
    let out = bedkey(&sb, url)
        .args(["audit", "--org", "--strict", "--accounts", &accounts[1]])
        .args(["--skip", &accounts[1]])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no account was read"),
        "{}",
        stderr(&out)
    );

    // An id that is no account of the organization is a failure, not silence, and
    // --quiet does not hide it.
    let out = bedkey(&sb, url)
        .args([
            "audit",
            "--org",
            "--accounts",
            "999999999999",
            "--output",
            "json",
            "-q",
        ])
        .output()
        .unwrap();
    ok(&out);
    assert!(
        stderr(&out).contains("account 999999999999: not an account"),
        "{}",
        stderr(&out)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["failures"][0]["account"], "999999999999");
    for bad in [
        vec!["audit", "--org", "--accounts", "12ab"],
        vec!["audit", "--org", "--concurrency", "0"],
        vec!["audit", "--accounts", &accounts[1]],
        vec!["audit", "--org", "--role", "no spaces"],
        vec!["list", "--output", "csv"],
    ] {
        let out = bedkey(&sb, url).args(&bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }
}

#[test]
fn revoke_leaked_long_term_keys_of_each_service_then_nothing_is_left() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    for service in [
        "bedrock.amazonaws.com",
        "aws-external-anthropic.amazonaws.com",
    ] {
        let user = sb.name("leak");
        let keys = seed(url, "123456789012", &user, service, 1);
        let id = credentials_of(url, &user)[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let made = iam_query(url, &format!("Action=CreateAccessKey&UserName={user}"));
        let access_key = xml_value(&made, "AccessKeyId");

        let out = leaked(&sb, url, &keys[0], &["--dry-run"]);
        ok(&out);
        assert!(
            stderr(&out).contains("would deactivate"),
            "{}",
            stderr(&out)
        );
        assert_eq!(status_in(url, &id).as_deref(), Some("Active"));

        let out = leaked(&sb, url, &keys[0], &[]);
        ok(&out);
        assert!(
            stderr(&out).contains(&format!("deactivated credential {id} of {user}")),
            "{}",
            stderr(&out)
        );
        assert_eq!(status_in(url, &id).as_deref(), Some("Inactive"));
        assert!(!stderr(&out).contains(&keys[0]));
        // The user's access keys are named: whoever held the key may hold them too.
        assert!(stderr(&out).contains(&access_key), "{}", stderr(&out));

        let out = leaked(&sb, url, &keys[0], &["--delete", "--output", "json"]);
        ok(&out);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let kinds: Vec<&str> = json["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["step"].as_str().unwrap())
            .collect();
        assert_eq!(kinds[..4], ["found", "found", "already", "did"], "{json}");
        assert_eq!(json["local_keys"], serde_json::json!([]));
        assert_eq!(status_in(url, &id), None);

        let out = leaked(&sb, url, &keys[0], &["--delete"]);
        ok(&out);
        assert!(stderr(&out).contains("nothing to do"), "{}", stderr(&out));
    }
}

#[test]
fn revoke_leaked_reads_back_a_change_whose_reply_was_lost() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let user = sb.name("lost");
    let keys = seed(url, "123456789012", &user, "bedrock.amazonaws.com", 1);
    let id = credentials_of(url, &user)[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    control(
        url,
        "POST",
        "/_control/fail",
        r#"{"action": "UpdateServiceSpecificCredential", "mode": "500_after", "code": "ServiceFailure", "status": 500, "times": -1}"#,
    );
    let out = leaked(&sb, url, &keys[0], &[]);
    ok(&out);
    assert_eq!(status_in(url, &id).as_deref(), Some("Inactive"));
}

#[test]
fn revoke_leaked_refuses_an_ambiguous_alias_and_keys_of_other_accounts() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    control(url, "POST", "/_control/aliases", r#"{"style": "plain"}"#);
    let user = sb.name("twin");
    let keys = seed(url, "123456789012", &user, "bedrock.amazonaws.com", 2);
    control(url, "POST", "/_control/aliases", r#"{"style": "plus"}"#);
    let ids: Vec<String> = credentials_of(url, &user)
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    let out = leaked(&sb, url, &keys[0], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&ids[0]) && stderr(&out).contains(&ids[1]),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("--credential-id"), "{}", stderr(&out));
    assert_eq!(status_in(url, &ids[0]).as_deref(), Some("Active"));
    let out = leaked(&sb, url, &keys[0], &["--credential-id", &ids[1]]);
    ok(&out);
    assert_eq!(status_in(url, &ids[1]).as_deref(), Some("Inactive"));
    assert_eq!(status_in(url, &ids[0]).as_deref(), Some("Active"));

    // A member's key needs --org; a key of no account of the organization is refused.
    let accounts = organization(url);
    let member = seed(
        url,
        &accounts[1],
        &sb.name("member"),
        "bedrock.amazonaws.com",
        1,
    );
    let out = leaked(&sb, url, &member[0], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--org"), "{}", stderr(&out));
    let out = leaked(&sb, url, &member[0], &["--org"]);
    ok(&out);
    assert!(
        stderr(&out).contains(&format!("in account {}", accounts[1])),
        "{}",
        stderr(&out)
    );
    let stranger = long_term_key(&format!("{}-at-999999999999", sb.name("far")));
    let out = leaked(&sb, url, &stranger, &["--org"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not in this organization"),
        "{}",
        stderr(&out)
    );

    // Keys on the command line, malformed keys and misplaced flags are usage errors.
    for (key, args) in [
        ("ABSKnot-base64!", vec![]),
        (
            member[0].as_str(),
            vec!["--role", "arn:aws:iam::111122223333:role/x"],
        ),
    ] {
        let out = leaked(&sb, url, key, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let out = leaked(&sb, url, &member[0], &["--org", "--role", "BedkeyAudit"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--org-role"), "{}", stderr(&out));
    let out = bedkey(&sb, url)
        .args(["revoke", "--leaked", "name"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn revoke_leaked_short_term_key_of_a_user_deactivates_its_access_key() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let user = sb.name("signer");
    iam_query(url, &format!("Action=CreateUser&UserName={user}"));
    let made = iam_query(url, &format!("Action=CreateAccessKey&UserName={user}"));
    let (key_id, secret) = (
        xml_value(&made, "AccessKeyId"),
        xml_value(&made, "SecretAccessKey"),
    );
    let key = mint(&sb, (&key_id, &secret, None));
    let out = leaked(&sb, url, &key, &[]);
    ok(&out);
    assert!(
        stderr(&out).contains(&format!("deactivated access key {key_id} of {user}")),
        "{}",
        stderr(&out)
    );
    let listed = iam_query(url, &format!("Action=ListAccessKeys&UserName={user}"));
    assert!(listed.contains("<Status>Inactive</Status>"), "{listed}");
    let out = leaked(&sb, url, &key, &[]);
    ok(&out);
    assert!(
        stderr(&out).contains("inactive already"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn revoke_leaked_short_term_key_of_a_role_session_denies_older_sessions() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let accounts = organization(url);
    let member = &accounts[1];
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;
    let role = sb.name("dev");
    moto(
        url,
        member,
        "iam",
        serde_json::json!({"Action": "CreateRole", "RoleName": role,
                                                "AssumeRolePolicyDocument": trust}),
    );
    // The role already holds bedkey's policy with another statement, which is kept.
    let other = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Mine","Effect":"Deny","Action":"s3:DeleteBucket","Resource":"*"}]}"#;
    moto(
        url,
        member,
        "iam",
        serde_json::json!({"Action": "PutRolePolicy", "RoleName": role,
        "PolicyName": "bedkey-revoke-older-sessions", "PolicyDocument": other}),
    );
    let assumed = sts(
        url,
        AKID,
        None,
        &format!("Action=AssumeRole&RoleArn=arn:aws:iam::{member}:role/{role}&RoleSessionName=ci"),
    );
    let (k, s, t) = session_of(&assumed);
    // The session does something, which CloudTrail records.
    sts(url, &k, Some(&t), "Action=GetCallerIdentity");
    let key = mint(&sb, (&k, &s, Some(&t)));

    let out = leaked(&sb, url, &key, &["--org", "--dry-run"]);
    ok(&out);
    assert!(stderr(&out).contains("would deny role"), "{}", stderr(&out));
    let out = leaked(&sb, url, &key, &["--org"]);
    ok(&out);
    assert!(
        stderr(&out).contains(&format!("role {role}")),
        "{}",
        stderr(&out)
    );
    let policy = moto(
        url,
        member,
        "iam",
        serde_json::json!({"Action": "GetRolePolicy", "RoleName": role,
        "PolicyName": "bedkey-revoke-older-sessions"}),
    );
    let doc = policy_document(&policy);
    let statements = doc["Statement"].as_array().unwrap();
    assert!(statements.iter().any(|s| s["Sid"] == "Mine"), "{doc}");
    let deny = statements
        .iter()
        .find(|s| s["Sid"] == "BedkeyDenyOlderBedrockSessions")
        .unwrap();
    assert_eq!(deny["Effect"], "Deny");
    assert!(
        deny["Action"]
            .to_string()
            .contains("bedrock-mantle:CallWithBearerToken")
    );
    assert!(deny["Condition"]["DateLessThan"]["aws:TokenIssueTime"].is_string());

    let out = leaked(&sb, url, &key, &["--org"]);
    ok(&out);
    assert!(stderr(&out).contains("nothing to do"), "{}", stderr(&out));

    // When CloudTrail knows nothing yet, the role is named by hand.
    let again = sts(
        url,
        AKID,
        None,
        &format!("Action=AssumeRole&RoleArn=arn:aws:iam::{member}:role/{role}&RoleSessionName=ci2"),
    );
    let (k2, s2, t2) = session_of(&again);
    control(url, "DELETE", "/_control/cloudtrail", "");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let later = mint(&sb, (&k2, &s2, Some(&t2)));
    let out = leaked(&sb, url, &later, &["--org"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--role"), "{}", stderr(&out));
    let arn = format!("arn:aws:iam::{member}:role/{role}");
    let out = leaked(&sb, url, &later, &["--org", "--role", &arn]);
    ok(&out);

    // A role of IAM Identity Center takes no policy: said plainly, exit 1.
    let sso = format!(
        "AWSReservedSSO_Admin_{}",
        sb.name("x").replace(['-', '.', '_'], "")
    );
    moto(
        url,
        member,
        "iam",
        serde_json::json!({"Action": "CreateRole", "RoleName": sso,
                                                "AssumeRolePolicyDocument": trust}),
    );
    let assumed = sts(
        url,
        AKID,
        None,
        &format!("Action=AssumeRole&RoleArn=arn:aws:iam::{member}:role/{sso}&RoleSessionName=me"),
    );
    let (k3, s3, t3) = session_of(&assumed);
    sts(url, &k3, Some(&t3), "Action=GetCallerIdentity");
    let out = leaked(&sb, url, &mint(&sb, (&k3, &s3, Some(&t3))), &["--org"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("IAM Identity Center"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn revoke_leaked_short_term_key_of_a_user_session_denies_the_users_older_sessions() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let user = sb.name("sess");
    iam_query(url, &format!("Action=CreateUser&UserName={user}"));
    let made = iam_query(url, &format!("Action=CreateAccessKey&UserName={user}"));
    let user_key = xml_value(&made, "AccessKeyId");
    let session = sts(url, &user_key, None, "Action=GetSessionToken");
    let (k, s, t) = session_of(&session);
    sts(url, &k, Some(&t), "Action=GetCallerIdentity");
    let out = leaked(&sb, url, &mint(&sb, (&k, &s, Some(&t))), &[]);
    ok(&out);
    assert!(stderr(&out).contains("GetSessionToken"), "{}", stderr(&out));
    let policy = iam_query(
        url,
        &format!("Action=GetUserPolicy&UserName={user}&PolicyName=bedkey-revoke-older-sessions"),
    );
    assert!(policy.contains("TokenIssueTime"), "{policy}");
}

#[test]
fn guard_policies_are_valid_and_within_their_limits() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let combos: Vec<Vec<&str>> = vec![
        vec!["--deny", "all"],
        vec!["--deny", "long-term"],
        vec!["--max-age", "90"],
        vec!["--deny", "long-term", "--max-age", "30", "--service", "all"],
        vec!["--deny", "all", "--service", "claude-platform", "--iam"],
        vec!["--deny", "long-term", "--service", "claude-platform"],
        vec!["--max-age", "7", "--service", "all", "--iam"],
    ];
    for (n, combo) in combos.iter().enumerate() {
        let out = sb.bedkey().arg("guard").args(combo).output().unwrap();
        ok(&out);
        let text = stdout(&out);
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            text.chars().filter(|c| !c.is_whitespace()).count() <= 5120,
            "{combo:?}"
        );
        let statements = doc["Statement"].as_array().unwrap();
        if combo.contains(&"--max-age") {
            assert!(
                statements.iter().any(
                    |s| s["Condition"]["Null"]["iam:ServiceSpecificCredentialAgeDays"] == "true"
                ),
                "{doc}"
            );
        }
        if combo.contains(&"long-term") && !combo.contains(&"claude-platform") {
            assert!(
                text.contains("bedrock:BearerTokenType")
                    && text.contains("bedrock-mantle:BearerTokenType"),
                "{text}"
            );
        }
        if combo.contains(&"claude-platform") && combo.contains(&"long-term") {
            assert!(
                stderr(&out).contains("no condition key"),
                "{}",
                stderr(&out)
            );
        }
        // moto's own policy validator accepts it.
        let name = format!("{}-{n}", sb.name("guard"));
        let encoded: String = percent(&text);
        iam_query(
            url,
            &format!("Action=CreatePolicy&PolicyName={name}&PolicyDocument={encoded}"),
        );
    }
    for bad in [
        vec!["guard"],
        vec!["guard", "--max-age", "0"],
        vec!["guard", "--deny", "some"],
    ] {
        let out = sb.bedkey().args(&bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
}

#[test]
fn a_plus_n_alias_is_matched_among_every_user_it_may_name() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    // dave's second credential and dave+1's first carry the same alias.
    let dave = sb.name("dave");
    let dave1 = format!("{dave}+1");
    seed(url, "123456789012", &dave, "bedrock.amazonaws.com", 2);
    let leaked_key = seed(url, "123456789012", &dave1, "bedrock.amazonaws.com", 1);
    let out = leaked(&sb, url, &leaked_key[0], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot be told"), "{}", stderr(&out));
    for user in [&dave, &dave1] {
        assert!(
            credentials_of(url, user)
                .iter()
                .all(|c| c["status"] == "Active")
        );
    }
    // frank has one credential (frank-at-…), frank+1 one (frank+1-at-…): the key of
    // frank+1 is frank+1's, and only that is cut.
    let frank = sb.name("frank");
    let frank1 = format!("{frank}+1");
    seed(url, "123456789012", &frank, "bedrock.amazonaws.com", 1);
    let key = seed(url, "123456789012", &frank1, "bedrock.amazonaws.com", 1);
    let out = leaked(&sb, url, &key[0], &[]);
    ok(&out);
    assert_eq!(credentials_of(url, &frank1)[0]["status"], "Inactive");
    assert_eq!(credentials_of(url, &frank)[0]["status"], "Active");
}

#[test]
fn replies_cut_short_are_never_taken_for_the_whole() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let user = sb.name("cut");
    iam_query(url, &format!("Action=CreateUser&UserName={user}"));
    let made = iam_query(url, &format!("Action=CreateAccessKey&UserName={user}"));
    let (id, secret) = (
        xml_value(&made, "AccessKeyId"),
        xml_value(&made, "SecretAccessKey"),
    );
    let key = mint(&sb, (&id, &secret, None));
    control(
        url,
        "POST",
        "/_control/fail",
        r#"{"action": "ListAccessKeys", "mode": "garbled_after", "times": -1}"#,
    );
    let out = leaked(&sb, url, &key, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!stderr(&out).contains("nothing to do"), "{}", stderr(&out));
    control(url, "POST", "/_control/reset", "{}");
    let listed = iam_query(url, &format!("Action=ListAccessKeys&UserName={user}"));
    assert!(listed.contains("<Status>Active</Status>"), "{listed}");

    // The audit's policies cut short: a failure, and --strict fails.
    let admin = sb.name("carol");
    seed(url, "123456789012", &admin, "bedrock.amazonaws.com", 1);
    iam_query(
        url,
        &format!(
            "Action=AttachUserPolicy&UserName={admin}&PolicyArn=arn:aws:iam::aws:policy/AdministratorAccess"
        ),
    );
    control(
        url,
        "POST",
        "/_control/fail",
        r#"{"action": "GetAccountAuthorizationDetails", "mode": "garbled_after", "times": -1}"#,
    );
    let out = bedkey(&sb, url)
        .args([
            "audit",
            "--service",
            "bedrock",
            "--output",
            "json",
            "--strict",
            "--max-age",
            "36600",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        json["failures"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("policies not read"),
        "{json}"
    );
}

#[test]
fn revoke_leaked_rewrites_a_planted_deny_and_checks_a_named_role() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let accounts = organization(url);
    let member = &accounts[2];
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;
    let (role, innocent) = (sb.name("ci"), sb.name("innocent"));
    for r in [&role, &innocent] {
        moto(
            url,
            member,
            "iam",
            serde_json::json!({"Action": "CreateRole", "RoleName": r,
                                                    "AssumeRolePolicyDocument": trust}),
        );
    }
    // A statement with bedkey's Sid that denies nothing, as one statement on its own.
    let planted = r#"{"Version":"2012-10-17","Statement":{"Sid":"BedkeyDenyOlderBedrockSessions","Effect":"Allow","Action":["bedrock:CallWithBearerToken","bedrock-mantle:CallWithBearerToken"],"Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2030-01-01T00:00:00Z"}}}}"#;
    moto(
        url,
        member,
        "iam",
        serde_json::json!({"Action": "PutRolePolicy", "RoleName": role,
        "PolicyName": "bedkey-revoke-older-sessions", "PolicyDocument": planted}),
    );
    let assumed = sts(
        url,
        AKID,
        None,
        &format!("Action=AssumeRole&RoleArn=arn:aws:iam::{member}:role/{role}&RoleSessionName=x"),
    );
    let (k, s, t) = session_of(&assumed);
    sts(url, &k, Some(&t), "Action=GetCallerIdentity");
    let key = mint(&sb, (&k, &s, Some(&t)));

    // CloudTrail names the role: another one given to --role is refused.
    let out = leaked(
        &sb,
        url,
        &key,
        &[
            "--org",
            "--role",
            &format!("arn:aws:iam::{member}:role/{innocent}"),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("not role {innocent}")),
        "{}",
        stderr(&out)
    );
    let none = moto_status(url, member, &innocent);
    assert_eq!(none, 404, "the innocent role got no policy");

    let out = leaked(&sb, url, &key, &["--org"]);
    ok(&out);
    assert!(stderr(&out).contains("done: Deny"), "{}", stderr(&out));
    let policy = moto(
        url,
        member,
        "iam",
        serde_json::json!({"Action": "GetRolePolicy", "RoleName": role,
        "PolicyName": "bedkey-revoke-older-sessions"}),
    );
    let doc = policy_document(&policy);
    let statements = doc["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1, "{doc}");
    assert_eq!(statements[0]["Effect"], "Deny");
}

/// moto's HTTP status for the role's bedkey policy.
fn moto_status(url: &str, account: &str, role: &str) -> u64 {
    let body = serde_json::json!({"account": account, "service": "iam", "params": {
        "Action": "GetRolePolicy", "RoleName": role, "PolicyName": "bedkey-revoke-older-sessions"}});
    control(url, "POST", "/_control/moto", &body.to_string())["status"]
        .as_u64()
        .unwrap()
}

#[test]
fn revoke_flags_of_a_leak_never_reach_a_plain_revoke() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("victim");
    run_ok(&sb, url, &["create", &name]);
    for flag in ["--dry-run", "--delete", "--org"] {
        let out = bedkey(&sb, url)
            .args(["revoke", &name, "--yes", flag])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag}: {}", stderr(&out));
    }
    assert_eq!(credentials_of(url, &format!("bedkey-{name}")).len(), 1);
    // A lost reply to the delete is read back.
    let user = sb.name("gone");
    let keys = seed(url, "123456789012", &user, "bedrock.amazonaws.com", 1);
    control(
        url,
        "POST",
        "/_control/fail",
        r#"{"action": "DeleteServiceSpecificCredential", "mode": "drop_after", "times": -1}"#,
    );
    let out = leaked(&sb, url, &keys[0], &["--delete"]);
    ok(&out);
    assert!(credentials_of(url, &user).is_empty());
    // CSV cells a spreadsheet would run are text; an empty --accounts is no default.
    control(url, "POST", "/_control/reset", "{}");
    seed(url, "123456789012", "=1+2", "bedrock.amazonaws.com", 1);
    let out = bedkey(&sb, url)
        .args(["audit", "--output", "csv"])
        .output()
        .unwrap();
    ok(&out);
    assert!(stdout(&out).contains(",'=1+2,"), "{}", stdout(&out));
    let out = bedkey(&sb, url)
        .args(["audit", "--org", "--accounts", ""])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
