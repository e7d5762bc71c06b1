//! `create` through IAM: users, policies, scoped keys, dry runs, and every way a
//! create can fail midway (a lost reply, a store that breaks, throttling).

use crate::support::iam::*;
use crate::support::*;

#[test]
fn create_makes_the_user_attaches_the_policy_and_stores_the_key() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("made");
    let out = bedkey(&sb, url)
        .args([
            "create",
            &name,
            "--days",
            "30",
            "--region",
            "us-east-1",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    ok(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let user = format!("bedkey-{name}");
    assert_eq!(json["user"], user.as_str());
    assert_eq!(json["kind"], "long-term");

    let held = credentials_of(url, &user);
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["id"], json["credential_id"]);
    assert_eq!(held[0]["expires"], json["expires_at"]);
    let attached = iam_query(
        url,
        &format!("Action=ListAttachedUserPolicies&UserName={user}"),
    );
    assert!(
        attached.contains("arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess"),
        "{attached}"
    );
    let got_user = iam_query(url, &format!("Action=GetUser&UserName={user}"));
    assert!(got_user.contains("<Path>/bedkey/</Path>"), "{got_user}");

    // The stored key is the one IAM made, and env gives it back.
    let env = sb
        .bedkey()
        .args(["env", &name, "--shell", "json"])
        .output()
        .unwrap();
    ok(&env);
    let vars: serde_json::Value = serde_json::from_slice(&env.stdout).unwrap();
    let key = vars["AWS_BEARER_TOKEN_BEDROCK"].as_str().unwrap();
    assert!(key.starts_with("ABSK"));
    assert_eq!(vars["AWS_REGION"], "us-east-1");
    let meta = &sb.keys_json()["keys"][&name];
    assert_eq!(meta["origin"], "iam");
    assert_eq!(meta["credential_id"], json["credential_id"]);
    assert!(
        !stdout(&out).contains(key),
        "create never prints the secret"
    );
}

#[test]
fn create_reuses_an_existing_user_and_its_policy() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let user = sb.name("shared");
    run_ok(&sb, url, &["create", &sb.name("one"), "--user", &user]);
    run_ok(
        &sb,
        url,
        &["create", &sb.name("two"), "--user", &user, "--no-expiry"],
    );
    let held = credentials_of(url, &user);
    assert_eq!(held.len(), 2);
    assert!(
        held.iter().any(|c| c["expires"].is_null()),
        "--no-expiry sends no age"
    );
    let calls = actions(url);
    assert_eq!(
        calls.iter().filter(|a| *a == "CreateUser").count(),
        1,
        "{calls:?}"
    );
    assert_eq!(
        calls.iter().filter(|a| *a == "AttachUserPolicy").count(),
        1,
        "{calls:?}"
    );
}

#[test]
fn create_checks_every_input_before_calling_aws() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("bad");
    for (args, why) in [
        (vec!["--days", "0"], "out of range"),
        (vec!["--days", "36601"], "out of range"),
        (vec!["--user", "no spaces allowed"], "not an IAM user name"),
        (
            vec!["--policy", "AmazonBedrockLimitedAccess"],
            "not a managed policy ARN",
        ),
        (vec!["--allow-model", "claude"], "not a Bedrock model"),
        (
            vec![
                "--allow-model",
                "amazon.nova-lite-v1:0",
                "--source-ip",
                "10.0.0.0/40",
            ],
            "not an IP range",
        ),
        (vec!["--region", "Moon 1"], "not an AWS region"),
    ] {
        let out = bedkey(&sb, url)
            .args(["create", &name])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(why), "{args:?}: {}", stderr(&out));
    }
    let long = "x".repeat(60);
    let out = bedkey(&sb, url).args(["create", &long]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "bedkey-<60 chars> is too long for IAM"
    );
    assert!(stderr(&out).contains("--user"));
    assert!(
        actions(url).is_empty(),
        "no AWS call was made: {:?}",
        actions(url)
    );
}

#[test]
fn create_at_the_two_key_limit_names_the_keys_and_changes_nothing() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let user = sb.name("full");
    run_ok(&sb, url, &["create", &sb.name("k1"), "--user", &user]);
    run_ok(&sb, url, &["create", &sb.name("k2"), "--user", &user]);
    let before = credentials_of(url, &user);
    control(url, "POST", "/_control/reset", "{}");
    let third = sb.name("k3");
    let out = bedkey(&sb, url)
        .args(["create", &third, "--user", &user])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for c in &before {
        assert!(err.contains(c["id"].as_str().unwrap()), "{err}");
    }
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(err.contains("hint: `bedkey rotate"), "{err}");
    assert_eq!(credentials_of(url, &user).len(), 2);
    let calls = actions(url);
    assert!(
        !calls
            .iter()
            .any(|a| a.starts_with("Create") || a.starts_with("Attach")),
        "{calls:?}"
    );
    assert!(sb.forgot(&third));
}

#[test]
fn a_store_that_was_ready_but_fails_after_creation_still_hands_over_the_key() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    start_file_store(&sb);
    let name = sb.name("lost");
    let user = format!("bedkey-{name}");
    let out = break_store_during_iam_create(
        &sb,
        url,
        &["--store", "file", "create", &name, "--days", "7"],
    );
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let key = stdout(&out).trim().to_string();
    assert!(key.starts_with("ABSK"), "the key reaches the user: {key:?}");
    let err = stderr(&out);
    assert!(err.contains("AWS never shows it again"), "{err}");
    assert!(
        err.contains(&format!("bedkey import {name} --expires-at ")),
        "{err}"
    );
    assert_eq!(
        credentials_of(url, &user).len(),
        1,
        "the credential exists in IAM"
    );
    // The printed key is the real one: its alias names the user IAM made it for.
    let inspected = sb
        .bedkey()
        .args(["inspect", "-", "--output", "json"])
        .write_stdin(key)
        .output()
        .unwrap();
    ok(&inspected);
    let json: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert!(json["alias"].as_str().unwrap().starts_with(&user), "{json}");
}

#[test]
fn a_store_failure_after_create_in_json_hands_over_json_and_a_hint_that_works() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    start_file_store(&sb);
    let name = sb.name("lostjson");
    let out = break_store_during_iam_create(
        &sb,
        url,
        &[
            "--store",
            "file",
            "--output",
            "json",
            "--region",
            "eu-west-1",
            "create",
            &name,
            "--days",
            "9",
        ],
    );
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let key = json["key"].as_str().unwrap();
    assert!(key.starts_with("ABSK"), "{json}");
    assert_eq!(json["stored"], false);
    assert_eq!(json["region"], "eu-west-1");
    let err = stderr(&out);
    let hint = err.lines().find(|l| l.starts_with("hint:")).unwrap();
    let command = hint.split('`').nth(1).unwrap();
    assert!(command.contains("--region eu-west-1"), "{command}");
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    ok(&sb
        .bedkey()
        .args(["--store", "file"])
        .args(&args)
        .write_stdin(key.to_string())
        .output()
        .unwrap());
    let listed = sb.keys_json();
    assert_eq!(listed["keys"][&name]["region"], "eu-west-1");
    assert_eq!(
        listed["keys"][&name]["expires"].as_i64(),
        json["expires_at"]
            .as_str()
            .map(|t| aws_smithy_types::DateTime::from_str(
                t,
                aws_smithy_types::date_time::Format::DateTime
            )
            .unwrap()
            .secs())
    );
}

#[test]
fn a_store_that_cannot_take_the_key_stops_create_before_iam() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    start_file_store(&sb);
    let out = bedkey(&sb, url)
        .env("BEDKEY_PASSPHRASE", "not the passphrase")
        .args(["--store", "file", "create", &sb.name("never")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("wrong passphrase"));
    assert!(out.stdout.is_empty());
    assert!(
        actions(url).is_empty(),
        "IAM was never called: {:?}",
        actions(url)
    );
}

#[test]
fn a_failure_midway_says_what_iam_holds_and_a_rerun_finishes() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("midway");
    let user = format!("bedkey-{name}");
    control(
        url,
        "POST",
        "/_control/fail",
        r#"{"action": "CreateServiceSpecificCredential", "code": "AccessDenied", "status": 403, "message": "User is not authorized to perform: iam:CreateServiceSpecificCredential", "times": 1}"#,
    );
    let out = bedkey(&sb, url).args(["create", &name]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "AccessDenied is a credentials problem"
    );
    let err = stderr(&out);
    assert!(err.contains("AccessDenied"), "{err}");
    assert!(
        err.contains(&format!("IAM now has user {user} (new)")),
        "{err}"
    );
    assert!(err.contains("AmazonBedrockLimitedAccess attached"), "{err}");
    assert!(err.contains("run the same command again"), "{err}");
    assert!(
        err.contains(&format!("aws iam delete-user --user-name {user}")),
        "{err}"
    );
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(credentials_of(url, &user).is_empty());

    run_ok(&sb, url, &["create", &name]);
    assert_eq!(credentials_of(url, &user).len(), 1);
}

#[test]
fn throttling_is_retried_and_persistent_throttling_is_one_clear_line() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    control(
        url,
        "POST",
        "/_control/throttle",
        r#"{"action": "GetUser", "times": 1}"#,
    );
    run_ok(&sb, url, &["create", &sb.name("retried")]);

    control(
        url,
        "POST",
        "/_control/throttle",
        r#"{"action": "GetUser", "times": 10}"#,
    );
    let out = bedkey(&sb, url)
        .args(["create", &sb.name("throttled")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("bedkey: error: IAM GetUser failed: Throttling"),
        "{err}"
    );
    assert!(err.contains("hint: IAM kept throttling"), "{err}");
}

#[test]
fn an_unreachable_iam_is_exit_1_and_no_credentials_exit_4() {
    let Some((_url, _turn)) = server() else {
        return;
    };
    let sb = Sandbox::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = bedkey(&sb, &format!("http://{closed}"))
        .args(["create", &sb.name("unreachable")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot reach IAM"),
        "{}",
        stderr(&out)
    );
    // What happened, in words, without the SDK's layers around it.
    assert!(
        stderr(&out).contains("the connection was refused"),
        "{}",
        stderr(&out)
    );
    for layer in ["dispatch failure", "client error", "os error", "(Connect)"] {
        assert!(!stderr(&out).contains(layer), "{layer}: {}", stderr(&out));
    }

    let out = sb
        .bedkey()
        .env("AWS_ENDPOINT_URL_IAM", _url)
        .args(["create", &sb.name("nocreds")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn a_scoped_key_gets_a_least_privilege_inline_policy_and_no_managed_one() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("scoped");
    let user = format!("bedkey-{name}");
    let profile = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
    run_ok(
        &sb,
        url,
        &[
            "create",
            &name,
            "--days",
            "10",
            "--allow-model",
            profile,
            "--source-ip",
            "203.0.113.0/24",
        ],
    );
    let attached = iam_query(
        url,
        &format!("Action=ListAttachedUserPolicies&UserName={user}"),
    );
    assert!(
        !attached.contains("AmazonBedrockLimitedAccess"),
        "{attached}"
    );
    let (doc, text) = inline_policy(url, &user, &name);
    let statements = doc["Statement"].as_array().unwrap();
    assert_eq!(statements[0]["Action"], "bedrock:CallWithBearerToken");
    assert!(text.contains("arn:aws:bedrock:*:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"), "{text}");
    assert!(
        text.contains(
            "arn:aws:bedrock:*::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0"
        ),
        "{text}"
    );
    assert!(text.contains("bedrock:InferenceProfileArn"), "{text}");
    assert!(text.contains("203.0.113.0/24"), "{text}");
    let expires = credentials_of(url, &user)[0]["expires"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        statements[0]["Condition"]["DateLessThan"]["aws:CurrentTime"]
            .as_str()
            .unwrap()[..13],
        expires[..13]
    );
}

#[test]
fn dry_run_prints_the_calls_and_the_policy_and_makes_no_change() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("dry");
    let out = bedkey(&sb, url)
        .args([
            "create",
            &name,
            "--allow-model",
            "amazon.nova-lite-v1:0",
            "--region",
            "eu-west-1",
            "--dry-run",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    ok(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["dry_run"], true);
    assert!(
        json["calls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().starts_with("PutUserPolicy"))
    );
    assert_eq!(
        json["policy"]["Statement"][1]["Resource"][0],
        "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-lite-v1:0"
    );
    let calls = actions(url);
    assert!(
        calls.iter().all(|a| a == "GetCallerIdentity"),
        "read-only only: {calls:?}"
    );
    assert!(credentials_of(url, &format!("bedkey-{name}")).is_empty());
    assert!(!sb.path().join("bedkey/keys.json").exists());
}

#[test]
fn a_scoped_policy_too_large_for_iam_is_refused_before_any_call() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let mut cmd = bedkey(&sb, url);
    cmd.args(["create", &sb.name("huge")]);
    for i in 0..40 {
        cmd.args([
            "--allow-model",
            &format!("us.anthropic.model-number-{i}-v1:0"),
        ]);
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("IAM takes 2048 inline"),
        "{}",
        stderr(&out)
    );
    assert!(
        actions(url).is_empty(),
        "no AWS call was made: {:?}",
        actions(url)
    );
}

#[test]
fn a_lost_reply_to_create_leaves_no_orphaned_credential_and_a_rerun_works() {
    let Some((url, _turn)) = server() else { return };
    for mode in ["drop_after", "500_after", "garbled_after"] {
        let sb = Sandbox::new();
        let name = sb.name("lost");
        let user = format!("bedkey-{name}");
        control(
            url,
            "POST",
            "/_control/fail",
            &format!(
                r#"{{"action": "CreateServiceSpecificCredential", "mode": "{mode}", "times": 1}}"#
            ),
        );
        let out = bedkey(&sb, url).args(["create", &name]).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{mode}: {err}");
        // Sent once: a retry would have made a second credential.
        let creates = actions(url)
            .iter()
            .filter(|a| *a == "CreateServiceSpecificCredential")
            .count();
        assert_eq!(creates, 1, "{mode}: the create was retried");
        assert!(err.contains("bedkey deleted it"), "{mode}: {err}");
        assert!(err.contains("run the same command again"), "{mode}: {err}");
        assert!(err.lines().count() <= 3, "{mode}: {err}");
        assert_no_debug_text(&err);
        if mode == "garbled_after" {
            assert!(err.contains("could not read"), "{mode}: {err}");
        }
        assert!(credentials_of(url, &user).is_empty(), "{mode}: orphan left");
        assert!(sb.forgot(&name));

        run_ok(&sb, url, &["create", &name]);
        assert_eq!(credentials_of(url, &user).len(), 1, "{mode}");
        control(url, "POST", "/_control/reset", "{}");
    }
}

#[test]
fn a_create_with_no_answer_times_out_and_says_iam_may_still_make_the_key() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("hung");
    let user = format!("bedkey-{name}");
    control(
        url,
        "POST",
        "/_control/fail",
        r#"{"action": "CreateServiceSpecificCredential", "mode": "hang", "delay_ms": 60000, "times": 1}"#,
    );
    let out = bedkey(&sb, url)
        .env("BEDKEY_AWS_TIMEOUT", "2s")
        .args(["create", &name])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("did not answer CreateServiceSpecificCredential within 2s"),
        "{err}"
    );
    assert!(
        err.contains("IAM has made no key so far, but may still"),
        "{err}"
    );
    assert!(
        err.contains(&format!("IAM also has user {user} (new)")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "aws iam list-service-specific-credentials --user-name {user}"
        )),
        "{err}"
    );
    assert!(err.lines().count() <= 3, "{err}");
    assert_no_debug_text(&err);
    assert!(credentials_of(url, &user).is_empty());
}

#[test]
fn when_iam_cannot_be_listed_after_a_lost_create_the_commands_to_finish_are_printed() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("unlisted");
    let user = format!("bedkey-{name}");
    control(
        url,
        "POST",
        "/_control/fail",
        r#"{"action": "CreateServiceSpecificCredential", "mode": "500_after", "times": 1}"#,
    );
    // A new user is not listed before the create, so this hits only the sweep.
    control(
        url,
        "POST",
        "/_control/fail",
        r#"{"action": "ListServiceSpecificCredentials", "code": "AccessDenied", "status": 403, "times": -1}"#,
    );
    let out = bedkey(&sb, url).args(["create", &name]).output().unwrap();
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("may have made the key anyway"), "{err}");
    assert!(
        err.contains(&format!(
            "aws iam list-service-specific-credentials --user-name {user} --service-name bedrock.amazonaws.com"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "aws iam delete-service-specific-credential --user-name {user} --service-specific-credential-id"
        )),
        "{err}"
    );
    assert!(err.lines().count() <= 3, "{err}");
    // The orphan is really there, and the printed commands name its user.
    assert_eq!(credentials_of(url, &user).len(), 1);
}

#[test]
fn a_sweep_deletes_nothing_when_another_run_made_a_key_meanwhile() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("race");
    let user = format!("bedkey-{name}");
    control(
        url,
        "POST",
        "/_control/fail",
        r#"{"action": "CreateServiceSpecificCredential", "mode": "drop_after", "delay_ms": 2000, "times": 1}"#,
    );
    let child = in_background(&sb, url, &["create", &name]);
    // While the create hangs, another run (another machine) makes a key for the user.
    wait_for_action(url, "CreateServiceSpecificCredential");
    control(
        url,
        "POST",
        "/_control/seed",
        &format!(r#"{{"user": "{user}", "per_user": 1, "age_days": 30}}"#),
    );
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("bedkey deleted none"), "{err}");
    assert_eq!(credentials_of(url, &user).len(), 2, "nothing deleted");
}

#[test]
fn a_policy_file_becomes_a_tagged_managed_policy_and_tags_go_on_the_user() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("custom");
    let user = format!("bedkey-{name}");
    let file = sb.path().join("policy.json");
    std::fs::write(&file, CUSTOM_POLICY).unwrap();
    let out = bedkey(&sb, url)
        .args(["create", &name, "--policy-file", file.to_str().unwrap()])
        .args(["--tag", "team=ml", "--tag", "cost-center=42"])
        .output()
        .unwrap();
    ok(&out);
    let arn = format!("arn:aws:iam::123456789012:policy/bedkey/bedkey-{name}");
    let attached = iam_query(
        url,
        &format!("Action=ListAttachedUserPolicies&UserName={user}"),
    );
    assert!(attached.contains(&arn), "{attached}");
    assert!(
        !attached.contains("AmazonBedrockLimitedAccess"),
        "{attached}"
    );
    let policy = iam_query(url, &format!("Action=GetPolicy&PolicyArn={arn}"));
    assert!(policy.contains("<Path>/bedkey/</Path>"), "{policy}");
    let tags = iam_query(url, &format!("Action=ListPolicyTags&PolicyArn={arn}"));
    assert!(
        tags.contains("bedkey:name") && tags.contains(&name),
        "{tags}"
    );
    let user_tags = iam_query(url, &format!("Action=ListUserTags&UserName={user}"));
    assert!(
        user_tags.contains("team") && user_tags.contains("ml"),
        "{user_tags}"
    );
    assert!(user_tags.contains("cost-center"), "{user_tags}");

    // The same key made again: its policy gets a new default version, pruned at
    // five. (Another key may not take it over: see below.)
    for _ in 0..5 {
        run_ok(&sb, url, &["revoke", &name, "--yes"]);
        ok(&bedkey(&sb, url)
            .args(["create", &name, "--policy-file", file.to_str().unwrap()])
            .output()
            .unwrap());
    }
    let versions = iam_query(url, &format!("Action=ListPolicyVersions&PolicyArn={arn}"));
    assert_eq!(versions.matches("<VersionId>").count(), 5, "{versions}");
}

#[test]
fn a_policy_of_that_name_made_elsewhere_is_not_touched() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("foreign");
    let file = sb.path().join("policy.json");
    std::fs::write(&file, CUSTOM_POLICY).unwrap();
    let foreign = format!("hand-made-{name}");
    iam_query(
        url,
        &format!(
            "Action=CreatePolicy&PolicyName={foreign}&Path=%2Fbedkey%2F&PolicyDocument={}",
            percent(CUSTOM_POLICY)
        ),
    );
    let out = bedkey(&sb, url)
        .args(["create", &name, "--policy-file", file.to_str().unwrap()])
        .args(["--policy-name", &foreign])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bedkey did not make it"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("--policy-name"), "{}", stderr(&out));
    assert!(!actions(url).iter().any(|a| a == "CreatePolicyVersion"));
}

#[test]
fn a_bad_policy_file_or_tag_changes_nothing_in_iam() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("badpolicy");
    let file = sb.path().join("policy.json");
    let long = format!(
        r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "bedrock:*", "Resource": "{}"}}]}}"#,
        "x".repeat(7000)
    );
    // One key twice: the check would judge one "Version" and IAM might read the other.
    let twice = r#"{"Version": "2008-10-17", "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "bedrock:*", "Resource": "*"}]}"#;
    let twice_inside = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Effect": "Deny", "Action": "bedrock:*", "Resource": "*"}]}"#;
    for (text, tag) in [
        ("not json", "a=b"),
        (r#"{"Statement": []}"#, "a=b"),
        (long.as_str(), "a=b"),
        (CUSTOM_POLICY, "no-equals-sign"),
        (twice, "a=b"),
        (twice_inside, "a=b"),
    ] {
        std::fs::write(&file, text).unwrap();
        let out = bedkey(&sb, url)
            .args([
                "create",
                &name,
                "--policy-file",
                file.to_str().unwrap(),
                "--tag",
                tag,
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{tag}: {}", stderr(&out));
        assert!(stderr(&out).lines().count() <= 3);
    }
    let out = bedkey(&sb, url)
        .args(["create", &name, "--policy-file", file.to_str().unwrap()])
        .args(["--allow-model", "anthropic.claude-3-haiku-20240307-v1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(actions(url).is_empty(), "{:?}", actions(url));
}

#[test]
fn a_policy_bedkey_made_for_another_key_is_not_given_a_new_version() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let (a, b) = (sb.name("pola"), sb.name("polb"));
    let file = sb.path().join("policy.json");
    std::fs::write(&file, CUSTOM_POLICY).unwrap();
    let shared = format!("bedkey-{a}");
    run_ok(
        &sb,
        url,
        &["create", &a, "--policy-file", file.to_str().unwrap()],
    );
    let out = bedkey(&sb, url)
        .args(["create", &b, "--policy-file", file.to_str().unwrap()])
        .args(["--policy-name", &shared])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("the policy of key '{a}'")),
        "{}",
        stderr(&out)
    );
    let calls = actions(url);
    assert!(
        !calls.iter().any(|x| x == "CreatePolicyVersion"),
        "{calls:?}"
    );
    let creates = calls
        .iter()
        .filter(|x| *x == "CreateServiceSpecificCredential")
        .count();
    assert_eq!(creates, 1, "only key {a} was made: {calls:?}");
    assert!(sb.forgot(&b));
}

#[test]
fn dry_run_shows_the_policy_file_calls_and_document() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("drycustom");
    let file = sb.path().join("policy.json");
    std::fs::write(&file, CUSTOM_POLICY).unwrap();
    let out = bedkey(&sb, url)
        .args([
            "create",
            &name,
            "--policy-file",
            file.to_str().unwrap(),
            "--tag",
            "team=ml",
            "--dry-run",
        ])
        .output()
        .unwrap();
    ok(&out);
    let text = stdout(&out);
    assert!(text.contains("CreatePolicy bedkey-"), "{text}");
    assert!(text.contains("TagUser"), "{text}");
    assert!(text.contains("foundation-model/anthropic.*"), "{text}");
    assert!(actions(url).is_empty());
}

#[test]
fn a_definite_refusal_is_never_swept_up_after() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("refused");
    let user = format!("bedkey-{name}");
    control(
        url,
        "POST",
        "/_control/fail",
        r#"{"action": "CreateServiceSpecificCredential", "code": "LimitExceeded", "status": 409, "delay_ms": 2000, "times": 1}"#,
    );
    let child = in_background(&sb, url, &["create", &name]);
    wait_for_action(url, "CreateServiceSpecificCredential");
    // Another run's key appears while the refusal is on its way.
    control(
        url,
        "POST",
        "/_control/seed",
        &format!(r#"{{"user": "{user}", "per_user": 1}}"#),
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("LimitExceeded"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("deleted"), "{}", stderr(&out));
    assert_eq!(
        credentials_of(url, &user).len(),
        1,
        "the other run's key survives"
    );
}

#[cfg(unix)]
#[test]
fn a_policy_file_that_is_not_a_regular_file_is_refused() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let link = sb.path().join("zero.json");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    let out = bedkey(&sb, url)
        .args([
            "create",
            &sb.name("zero"),
            "--policy-file",
            link.to_str().unwrap(),
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_mantle_scoped_key_gets_mantle_actions_for_its_models_and_rotate_keeps_them() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("mscoped");
    let user = format!("bedkey-{name}");
    run_ok(
        &sb,
        url,
        &[
            "create",
            &name,
            "--region",
            "us-west-2",
            "--allow-model",
            "amazon.nova-lite-v1:0",
            "--allow-mantle-model",
            "openai.gpt-oss-120b",
        ],
    );
    let read_policy = || inline_policy(url, &user, &name).0;
    let doc = read_policy();
    let by_sid = |sid: &str| {
        doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .cloned()
            .unwrap_or_else(|| panic!("no {sid}: {doc}"))
    };
    assert_eq!(
        by_sid("UseBearerToken")["Action"],
        "bedrock:CallWithBearerToken"
    );
    assert_eq!(
        by_sid("UseBearerTokenOnMantle")["Action"],
        "bedrock-mantle:CallWithBearerToken"
    );
    let infer = by_sid("InferAllowedMantleModels");
    assert_eq!(infer["Action"], "bedrock-mantle:CreateInference");
    assert_eq!(
        infer["Resource"],
        "arn:aws:bedrock-mantle:us-west-2:123456789012:project/*"
    );
    assert_eq!(
        infer["Condition"]["StringEquals"]["bedrock-mantle:Model"],
        serde_json::json!(["openai.gpt-oss-120b"])
    );
    // The dry run shows the same document, and a bad id changes nothing.
    let out = bedkey(&sb, url)
        .args([
            "create",
            &sb.name("mdry"),
            "--dry-run",
            "--allow-mantle-model",
            "openai.gpt-oss-20b",
        ])
        .output()
        .unwrap();
    ok(&out);
    assert!(
        stdout(&out).contains("bedrock-mantle:CreateInference"),
        "{}",
        stdout(&out)
    );
    let before = actions(url).len();
    for bad in [
        &["--allow-mantle-model", "gpt oss"][..],
        &[
            "--allow-mantle-model",
            "openai.x",
            "--policy",
            "arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess",
        ][..],
    ] {
        let out = bedkey(&sb, url)
            .args(["create", &sb.name("mbad")])
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }
    assert_eq!(actions(url).len(), before, "a refused create called AWS");
    // rotate renews the policy with the Mantle models kept.
    run_ok(&sb, url, &["rotate", &name]);
    let doc = read_policy();
    assert!(doc.to_string().contains("openai.gpt-oss-120b"), "{doc}");
}
