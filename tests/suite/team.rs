//! Team keys: `publish`, `pull` and `rotate --secret-id` through Secrets Manager, and
//! what happens when a secret's write, tag or reply goes wrong.

use crate::support::iam::*;
use crate::support::*;

#[test]
fn a_team_shares_a_key_through_a_secret_and_never_notices_a_rotation() {
    let Some((url, _turn)) = server() else { return };
    let admin = Sandbox::new();
    let mate = Sandbox::new();
    let name = admin.name("team");
    let user = format!("bedkey-{name}");
    let secret = format!("bedrock/{name}");
    run_ok(&admin, url, &["create", &name, "--region", "us-east-1"]);
    // A secret made by hand first, with a field of its own, as teams have them.
    let (status, body) = secrets_call(
        url,
        "CreateSecret",
        &format!(r#"{{"Name": "{secret}", "SecretString": "{{\"owner\": \"ml-team\"}}"}}"#),
    );
    assert_eq!(status, 200, "{body}");
    run_ok(&admin, url, &["publish", &name, "--secret-id", &secret]);
    let value = secret_value(url, &secret);
    let key = admin.loaded_key(&name);
    assert_eq!(value["bedrock_api_key"], key.as_str());
    assert_eq!(value["owner"], "ml-team");
    assert_eq!(value["region"], "us-east-1");
    assert_eq!(value["iam_user"], user.as_str());
    let old_id = value["credential_id"].as_str().unwrap().to_string();

    run_ok(
        &mate,
        url,
        &[
            "pull",
            "mate",
            "--secret-id",
            &secret,
            "--secret-region",
            "us-east-1",
        ],
    );
    assert_eq!(mate.loaded_key("mate"), key);
    let listed = stdout(&bedkey(&mate, url).args(["list"]).output().unwrap());
    assert!(
        listed.contains("shared from arn:aws:secretsmanager:us-east-1"),
        "{listed}"
    );

    // Rotate: the secret gets the new key, the old credential stays active.
    let out = bedkey(&admin, url)
        .args(["rotate", &name, "--grace", "1h"])
        .output()
        .unwrap();
    ok(&out);
    let rotated = secret_value(url, &secret);
    let new_key = admin.loaded_key(&name);
    assert_ne!(new_key, key);
    assert_eq!(rotated["bedrock_api_key"], new_key.as_str());
    assert_eq!(rotated["owner"], "ml-team");
    assert_eq!(rotated["retiring"]["credential_id"], old_id.as_str());
    assert_eq!(status_of(url, &user, &old_id).as_deref(), Some("Active"));
    // The teammate's cached copy still works, and a re-read brings the new key.
    assert_eq!(mate.loaded_key("mate"), key);
    run_ok(&mate, url, &["pull", "mate"]);
    assert_eq!(mate.loaded_key("mate"), new_key);
    // And `env` reads it again by itself once the copy is stale.
    let env = bedkey(&mate, url)
        .env("BEDKEY_SHARED_TTL", "0s")
        .args(["env", "mate", "--shell", "json"])
        .output()
        .unwrap();
    ok(&env);

    // Before the grace period ends nothing is retired: no new rotation, --finish
    // only says when; --finish --grace 0 retires at once.
    let early = bedkey(&admin, url)
        .args(["rotate", &name])
        .output()
        .unwrap();
    assert_eq!(early.status.code(), Some(1), "{}", stderr(&early));
    assert!(stderr(&early).contains("--finish"), "{}", stderr(&early));
    let waiting = bedkey(&admin, url)
        .args(["rotate", &name, "--finish"])
        .output()
        .unwrap();
    ok(&waiting);
    assert!(
        stderr(&waiting).contains("stays active until"),
        "{}",
        stderr(&waiting)
    );
    assert_eq!(status_of(url, &user, &old_id).as_deref(), Some("Active"));
    run_ok(&admin, url, &["rotate", &name, "--finish", "--grace", "0"]);
    assert_eq!(
        status_of(url, &user, &old_id),
        None,
        "the old credential is deleted"
    );
}

#[test]
fn a_scheduled_job_rotates_from_the_secret_alone() {
    let Some((url, _turn)) = server() else { return };
    let Published {
        admin: _admin,
        name: _,
        user,
        secret,
    } = published(url, "cirot");
    let before = secret_value(url, &secret);
    let old_id = before["credential_id"].as_str().unwrap().to_string();

    // No bedkey home at all: a fresh sandbox stands for the CI job.
    let ci = Sandbox::new();
    let out = rotate_from_secret(&ci, url, &secret, &["--grace", "0"]);
    ok(&out);
    let after = secret_value(url, &secret);
    assert_ne!(after["bedrock_api_key"], before["bedrock_api_key"]);
    assert_ne!(after["credential_id"], before["credential_id"]);
    assert_eq!(after["iam_user"], user.as_str());
    assert_eq!(
        status_of(url, &user, &old_id),
        None,
        "--grace 0 retires at once"
    );
    assert!(
        !ci.path().join("bedkey/keys.json").exists(),
        "no local state made"
    );

    // With a grace period, the next run before it ends refuses; the secret says why.
    ok(&rotate_from_secret(&ci, url, &secret, &[]));
    let graced = secret_value(url, &secret);
    assert!(graced["retiring"]["after"].is_string(), "{graced}");
    let again = rotate_from_secret(&ci, url, &secret, &[]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("stays active until"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn team_keys_fail_clearly_and_never_break_a_shell() {
    let Some((url, _turn)) = server() else { return };
    let admin = Sandbox::new();
    let mate = Sandbox::new();
    let name = admin.name("teamfault");
    let secret = format!("bedrock/{name}");
    let dead = "http://127.0.0.1:9";
    // A secret that holds no key: exit 2, nothing stored.
    secrets_call(
        url,
        "CreateSecret",
        &format!(r#"{{"Name": "{secret}-junk", "SecretString": "hello"}}"#),
    );
    let out = bedkey(&mate, url)
        .args([
            "pull",
            "junk",
            "--secret-id",
            &format!("{secret}-junk"),
            "--secret-region",
            "us-east-1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(mate.forgot("junk"));
    // A missing secret: one clear line.
    let out = bedkey(&mate, url)
        .args([
            "pull",
            "none",
            "--secret-id",
            "bedrock/missing",
            "--secret-region",
            "us-east-1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no secret bedrock/missing"),
        "{}",
        stderr(&out)
    );
    // A short-term key cannot be published.
    let short = admin.name("short");
    ok(&admin
        .bedkey_with_env_credentials()
        .args(["create", &short, "--short-term", "--region", "us-east-1"])
        .output()
        .unwrap());
    let out = bedkey(&admin, url)
        .args(["publish", &short, "--secret-id", &secret])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    run_ok(&admin, url, &["create", &name, "--region", "us-east-1"]);
    // Secrets Manager unreachable during publish: exit 1, nothing recorded.
    let out = bedkey(&admin, url)
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", dead)
        .env("BEDKEY_AWS_TIMEOUT", "3s")
        .args(["publish", &name, "--secret-id", &secret])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(admin.keys_json()["keys"][&name].get("published").is_none());
    run_ok(&admin, url, &["publish", &name, "--secret-id", &secret]);

    // ... during env of a stale shared copy: the cached key, a warning, exit 0.
    run_ok(
        &mate,
        url,
        &[
            "pull",
            "mate",
            "--secret-id",
            &secret,
            "--secret-region",
            "us-east-1",
        ],
    );
    let out = bedkey(&mate, url)
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", dead)
        .env("BEDKEY_SHARED_TTL", "0s")
        .args(["env", "mate"])
        .output()
        .unwrap();
    ok(&out);
    assert!(
        stderr(&out).contains("could not read shared key 'mate' again"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("ABSK"));

    // ... during rotate: the old credential stays active; the printed command resumes.
    let user = format!("bedkey-{name}");
    let old_id = admin.keys_json()["keys"][&name]["credential_id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = bedkey(&admin, url)
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", dead)
        .env("BEDKEY_AWS_TIMEOUT", "3s")
        .args(["rotate", &name, "--grace", "1s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(status_of(url, &user, &old_id).as_deref(), Some("Active"));
    let hint = stderr(&out)
        .lines()
        .find(|l| l.starts_with("hint:"))
        .unwrap()
        .to_string();
    let resume = hint.split('`').nth(1).unwrap();
    let args: Vec<&str> = resume.split_whitespace().skip(1).collect();
    std::thread::sleep(std::time::Duration::from_secs(2));
    // Due, but the secret is behind: --finish refuses until it is written.
    let early = bedkey(&admin, url)
        .args(["rotate", &name, "--finish"])
        .output()
        .unwrap();
    assert_eq!(early.status.code(), Some(1), "{}", stderr(&early));
    ok(&bedkey(&admin, url).args(&args).output().unwrap());
    assert_eq!(
        secret_value(url, &secret)["bedrock_api_key"],
        admin.loaded_key(&name).as_str()
    );
    run_ok(&admin, url, &["rotate", &name, "--finish"]);
    assert_eq!(status_of(url, &user, &old_id), None);
}

#[test]
fn a_lost_reply_to_a_secret_write_counts_when_the_secret_holds_the_key() {
    let Some((url, _turn)) = server() else { return };
    let Published {
        admin,
        name,
        user,
        secret,
    } = published(url, "lostput");
    // publish: the write lands, every reply is lost (the SDK's retries too).
    control(
        url,
        "POST",
        "/_control/fail",
        r#"{"action": "PutSecretValue", "mode": "drop_after", "times": 3}"#,
    );
    let out = bedkey(&admin, url)
        .args(["publish", &name, "--secret-id", &secret])
        .output()
        .unwrap();
    ok(&out);
    let recorded = &admin.keys_json()["keys"][&name]["published"];
    assert_eq!(recorded.as_array().unwrap().len(), 1, "{recorded}");

    // rotate --secret-id: PutSecretValue's replies lost, and a role that may not tag.
    let old_id = secret_value(url, &secret)["credential_id"]
        .as_str()
        .unwrap()
        .to_string();
    control(
        url,
        "POST",
        "/_control/fail",
        r#"{"action": "PutSecretValue", "mode": "drop_after", "times": 3}"#,
    );
    control(
        url,
        "POST",
        "/_control/fail",
        r#"{"action": "TagResource", "code": "AccessDeniedException", "status": 400, "times": -1}"#,
    );
    let ci = Sandbox::new();
    let out = rotate_from_secret(&ci, url, &secret, &["--grace", "0"]);
    ok(&out);
    let err = stderr(&out);
    assert!(!err.contains("delete credential"), "{err}");
    assert!(!err.contains("hint"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "no key handed over: the secret holds it"
    );
    let after = secret_value(url, &secret);
    assert_ne!(after["credential_id"], old_id.as_str());
    let live: Vec<String> = credentials_of(url, &user)
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        live,
        vec![after["credential_id"].as_str().unwrap().to_string()]
    );
    assert!(
        !actions(url).iter().any(|a| a == "TagResource"),
        "no tag needed"
    );

    // A write whose reply is an outright refusal is not a write: nothing is claimed.
    control(url, "POST", "/_control/reset", "{}");
    control(
        url,
        "POST",
        "/_control/fail",
        r#"{"action": "PutSecretValue", "code": "AccessDeniedException", "status": 400, "times": -1}"#,
    );
    let out = rotate_from_secret(&ci, url, &secret, &["--grace", "0"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let printed = stdout(&out);
    assert!(printed.starts_with("ABSK"), "the new key is handed over");
    assert!(
        stderr(&out).contains("or delete credential"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_key_in_two_secrets_is_never_retired_while_one_still_holds_it() {
    let Some((url, _turn)) = server() else { return };
    let admin = Sandbox::new();
    let name = admin.name("twosec");
    let user = format!("bedkey-{name}");
    let (a, b) = (format!("bedrock/{name}-a"), format!("bedrock/{name}-b"));
    run_ok(&admin, url, &["create", &name, "--region", "us-east-1"]);
    run_ok(&admin, url, &["publish", &name, "--secret-id", &a]);
    run_ok(&admin, url, &["publish", &name, "--secret-id", &b]);
    let tags = user_tags(url, &user);
    assert_eq!(tags.matches("bedkey:secret:").count(), 2, "{tags}");
    let old_id = secret_value(url, &a)["credential_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Rotating from A writes B too, then retires the old credential.
    let ci = Sandbox::new();
    ok(&rotate_from_secret(&ci, url, &a, &["--grace", "0"]));
    let (va, vb) = (secret_value(url, &a), secret_value(url, &b));
    assert_eq!(va["bedrock_api_key"], vb["bedrock_api_key"]);
    assert_eq!(va["credential_id"], vb["credential_id"]);
    assert_eq!(status_of(url, &user, &old_id), None);

    // B made unreadable as a key: whether it holds the old one is unknown, so the
    // old credential stays, recorded as retiring.
    let old_id = va["credential_id"].as_str().unwrap().to_string();
    let body = serde_json::json!({"SecretId": b, "SecretString": "not a key"});
    assert_eq!(
        secrets_call(url, "PutSecretValue", &body.to_string()).0,
        200
    );
    let out = rotate_from_secret(&ci, url, &a, &["--grace", "0"]);
    ok(&out);
    assert!(stderr(&out).contains(&b), "{}", stderr(&out));
    assert_eq!(status_of(url, &user, &old_id).as_deref(), Some("Active"));
    assert_eq!(
        secret_value(url, &a)["retiring"]["credential_id"],
        old_id.as_str()
    );
    // B holds the old key again (by hand): the next run first writes B the current
    // key, retires the old credential, then rotates; every copy ends on the newest.
    assert_eq!(
        secrets_call(
            url,
            "PutSecretValue",
            &serde_json::json!({"SecretId": b, "SecretString": vb.to_string()}).to_string()
        )
        .0,
        200
    );
    ok(&rotate_from_secret(&ci, url, &a, &["--grace", "0"]));
    let (va, vb) = (secret_value(url, &a), secret_value(url, &b));
    assert_eq!(va["bedrock_api_key"], vb["bedrock_api_key"]);
    let live: Vec<String> = credentials_of(url, &user)
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        live,
        vec![va["credential_id"].as_str().unwrap().to_string()]
    );
}

#[test]
fn a_home_whose_key_was_rotated_from_its_secret_takes_the_new_key() {
    let Some((url, _turn)) = server() else { return };
    let Published {
        admin,
        name,
        user,
        secret,
    } = published(url, "stale");
    let first = admin.loaded_key(&name);
    let ci = Sandbox::new();
    ok(&rotate_from_secret(&ci, url, &secret, &["--grace", "1s"]));
    let rotated = secret_value(url, &secret);

    // publish from the stale home would hand the team its older key: refused.
    let out = bedkey(&admin, url)
        .args(["publish", &name, "--secret-id", &secret])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("newer key"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("bedkey pull {name}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(secret_value(url, &secret), rotated);

    // env reads the secret again on the shared rule, and takes the new key.
    let out = bedkey(&admin, url)
        .env("BEDKEY_SHARED_TTL", "0s")
        .args(["env", &name, "--shell", "json"])
        .output()
        .unwrap();
    ok(&out);
    assert!(
        stderr(&out).contains("was rotated from"),
        "{}",
        stderr(&out)
    );
    let vars: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(vars["AWS_BEARER_TOKEN_BEDROCK"], rotated["bedrock_api_key"]);
    assert_ne!(admin.loaded_key(&name), first);
    let meta = &admin.keys_json()["keys"][&name];
    assert_eq!(meta["credential_id"], rotated["credential_id"]);

    // rotate NAME now starts from the secret's key: the due retirement is finished,
    // then a new credential goes to the secret.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let out = bedkey(&admin, url)
        .args(["rotate", &name, "--grace", "0"])
        .output()
        .unwrap();
    ok(&out);
    let now = secret_value(url, &secret);
    assert_eq!(now["bedrock_api_key"], admin.loaded_key(&name).as_str());
    assert_eq!(credentials_of(url, &user).len(), 1);
}

#[test]
fn pull_takes_a_key_rotated_from_the_secret_into_the_home_that_published_it() {
    let Some((url, _turn)) = server() else { return };
    let Published {
        admin,
        name,
        user: _,
        secret,
    } = published(url, "pullown");
    let out = bedkey(&admin, url).args(["pull", &name]).output().unwrap();
    ok(&out);
    assert!(
        stderr(&out).contains("nothing to take in"),
        "{}",
        stderr(&out)
    );
    let ci = Sandbox::new();
    ok(&rotate_from_secret(&ci, url, &secret, &["--grace", "1h"]));
    let out = bedkey(&admin, url).args(["pull", &name]).output().unwrap();
    ok(&out);
    assert!(
        stderr(&out).contains("was rotated from"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        admin.loaded_key(&name),
        secret_value(url, &secret)["bedrock_api_key"]
            .as_str()
            .unwrap()
    );
    // The old credential retires with the secret's grace period, here as there.
    let meta = &admin.keys_json()["keys"][&name];
    assert!(meta["retiring"]["due"].is_number(), "{meta}");
}

#[test]
fn revoke_names_the_secrets_that_still_hold_the_key() {
    let Some((url, _turn)) = server() else { return };
    let Published {
        admin: sb,
        name,
        user: _,
        secret,
    } = published(url, "revpub");
    let out = bedkey(&sb, url)
        .args(["revoke", &name, "--yes"])
        .output()
        .unwrap();
    ok(&out);
    assert!(
        stderr(&out).contains("still hold the revoked key"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains(&secret), "{}", stderr(&out));
    // It deletes none.
    assert!(secret_value(url, &secret)["bedrock_api_key"].is_string());
}

#[test]
fn a_secret_whose_user_was_changed_cannot_rotate_another_users_key() {
    let Some((url, _turn)) = server() else { return };
    let admin = Sandbox::new();
    let name = admin.name("forged");
    let victim = admin.name("victim");
    let secret = format!("bedrock/{name}");
    run_ok(&admin, url, &["create", &name, "--region", "us-east-1"]);
    run_ok(&admin, url, &["create", &victim, "--region", "us-east-1"]);
    run_ok(&admin, url, &["publish", &name, "--secret-id", &secret]);
    let victim_user = format!("bedkey-{victim}");
    let victim_id = admin.keys_json()["keys"][&victim]["credential_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut value = secret_value(url, &secret);
    value["iam_user"] = serde_json::json!(victim_user);
    value["credential_id"] = serde_json::json!(victim_id);
    let body = serde_json::json!({"SecretId": secret, "SecretString": value.to_string()});
    let (status, _) = secrets_call(url, "PutSecretValue", &body.to_string());
    assert_eq!(status, 200);

    let ci = Sandbox::new();
    let out = rotate_from_secret(&ci, url, &secret, &["--grace", "0"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not name this secret"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        status_of(url, &victim_user, &victim_id).as_deref(),
        Some("Active")
    );
    assert_eq!(
        credentials_of(url, &victim_user).len(),
        1,
        "no key made for the victim"
    );
}

#[test]
fn a_stale_copy_written_back_keeps_the_old_credential_and_a_pulled_key_is_not_published() {
    let Some((url, _turn)) = server() else { return };
    let mate = Sandbox::new();
    let Published {
        admin,
        name,
        user,
        secret,
    } = published(url, "writeback");
    run_ok(
        &mate,
        url,
        &[
            "pull",
            "mate",
            "--secret-id",
            &secret,
            "--secret-region",
            "us-east-1",
        ],
    );
    let out = bedkey(&mate, url)
        .args(["publish", "mate", "--secret-id", &secret])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let old_value = secret_value(url, &secret);
    let old_id = old_value["credential_id"].as_str().unwrap().to_string();
    run_ok(&admin, url, &["rotate", &name, "--grace", "1s"]);
    // The old value written back by hand: --finish must not delete what it holds.
    let body = serde_json::json!({"SecretId": secret, "SecretString": old_value.to_string()});
    assert_eq!(
        secrets_call(url, "PutSecretValue", &body.to_string()).0,
        200
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    let out = bedkey(&admin, url)
        .args(["rotate", &name, "--finish"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not hold the current key"),
        "{}",
        stderr(&out)
    );
    assert_eq!(status_of(url, &user, &old_id).as_deref(), Some("Active"));
}

#[test]
fn grace_is_bounded_and_can_be_cut_short() {
    let Some((url, _turn)) = server() else { return };
    let Published {
        admin: sb,
        name,
        user,
        secret: _,
    } = published(url, "grace");
    let out = bedkey(&sb, url)
        .args(["rotate", &name, "--grace", "1000000d"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let old_id = sb.keys_json()["keys"][&name]["credential_id"]
        .as_str()
        .unwrap()
        .to_string();
    run_ok(&sb, url, &["rotate", &name, "--grace", "30d"]);
    assert_eq!(status_of(url, &user, &old_id).as_deref(), Some("Active"));
    run_ok(&sb, url, &["rotate", &name, "--finish", "--grace", "0"]);
    assert_eq!(status_of(url, &user, &old_id), None);
    // And rotation goes on.
    run_ok(&sb, url, &["rotate", &name, "--grace", "0"]);
}

#[test]
fn a_forged_key_or_retirement_in_a_secret_changes_nothing() {
    let Some((url, _turn)) = server() else { return };
    use base64::Engine as _;
    let admin = Sandbox::new();
    let name = admin.name("bound");
    let victim = admin.name("vict");
    let secret = format!("bedrock/{name}");
    run_ok(&admin, url, &["create", &name, "--region", "us-east-1"]);
    run_ok(&admin, url, &["create", &victim, "--region", "us-east-1"]);
    run_ok(&admin, url, &["publish", &name, "--secret-id", &secret]);
    let victim_user = format!("bedkey-{victim}");
    let victim_id = admin.keys_json()["keys"][&victim]["credential_id"]
        .as_str()
        .unwrap()
        .to_string();
    // A key forged to carry the victim's alias, with the victim's user and credential.
    let alias = format!("{victim_user}-at-123456789012");
    let forged = format!(
        "ABSK{}",
        base64::engine::general_purpose::STANDARD.encode(format!("{alias}:{}", "x".repeat(40)))
    );
    let mut value = secret_value(url, &secret);
    let original = value.clone();
    value["bedrock_api_key"] = serde_json::json!(forged);
    value["iam_user"] = serde_json::json!(victim_user);
    value["credential_id"] = serde_json::json!(victim_id);
    let body = serde_json::json!({"SecretId": secret, "SecretString": value.to_string()});
    assert_eq!(
        secrets_call(url, "PutSecretValue", &body.to_string()).0,
        200
    );
    let ci = Sandbox::new();
    let out = rotate_from_secret(&ci, url, &secret, &["--grace", "0"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not name this secret"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        status_of(url, &victim_user, &victim_id).as_deref(),
        Some("Active")
    );
    assert_eq!(credentials_of(url, &victim_user).len(), 1);

    // The secret restored, but asking to retire another credential of the same user.
    let user = format!("bedkey-{name}");
    let mut value = original;
    let other = admin.name("second");
    run_ok(
        &admin,
        url,
        &["create", &other, "--user", &user, "--region", "us-east-1"],
    );
    let other_id = admin.keys_json()["keys"][&other]["credential_id"]
        .as_str()
        .unwrap()
        .to_string();
    value["retiring"] =
        serde_json::json!({"credential_id": other_id, "after": "2020-01-01T00:00:00Z"});
    let body = serde_json::json!({"SecretId": secret, "SecretString": value.to_string()});
    assert_eq!(
        secrets_call(url, "PutSecretValue", &body.to_string()).0,
        200
    );
    let out = rotate_from_secret(&ci, url, &secret, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not name as retiring"),
        "{}",
        stderr(&out)
    );
    assert_eq!(status_of(url, &user, &other_id).as_deref(), Some("Active"));
}

#[test]
fn publish_never_replaces_another_users_key_and_a_cut_listing_is_an_error() {
    let Some((url, _turn)) = server() else { return };
    // A known account: two credentials, so that the cut below lands inside one.
    control(url, "POST", "/_control/reset", r#"{"credentials": true}"#);
    let sb = Sandbox::new();
    let mine = sb.name("mine");
    let theirs = sb.name("theirs");
    run_ok(&sb, url, &["create", &mine, "--region", "us-east-1"]);
    run_ok(&sb, url, &["create", &theirs, "--region", "us-east-1"]);
    let their_key = sb.loaded_key(&theirs);
    let secret = format!("x/{mine}");
    let body = serde_json::json!({"Name": secret, "SecretString": their_key});
    assert_eq!(secrets_call(url, "CreateSecret", &body.to_string()).0, 200);
    let out = bedkey(&sb, url)
        .args(["publish", &mine, "--secret-id", &secret])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("another IAM user"),
        "{}",
        stderr(&out)
    );
    assert_eq!(secret_value(url, &secret), serde_json::json!(their_key));

    // A listing cut short in the middle of a credential is no complete list.
    control(
        url,
        "POST",
        "/_control/fail",
        r#"{"action": "ListServiceSpecificCredentials", "mode": "garbled_after", "times": 1}"#,
    );
    let out = bedkey(&sb, url)
        .args(["audit", "--strict"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("could not read"), "{}", stderr(&out));
}
