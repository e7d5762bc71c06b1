//! Long-term keys through IAM: the real aws-sdk-iam client over HTTP, through
//! `AWS_ENDPOINT_URL_IAM`, against `tests/server/iam_server.py` on 127.0.0.1 (moto
//! for users and policies, plus a faithful emulation of the service-specific
//! credential calls moto lacks). The suite starts the server itself; it stops when
//! the tests end. Faults are injected per action, so the tests take turns.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command as Std, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};

use common::*;

struct Server {
    url: String,
    _child: Child,
}

static SERVER: OnceLock<Option<Server>> = OnceLock::new();
static TURN: Mutex<()> = Mutex::new(());

fn start() -> Option<Server> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/server/iam_server.py");
    let spawned = Std::new("python3")
        .args([script, "--port", "0", "--exit-on-stdin-eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) if !required("BEDKEY_TEST_IAM_SERVER") => {
            eprintln!("skipped: cannot start the IAM test server: {e}");
            return None;
        }
        Err(e) => panic!("cannot start the IAM test server: {e}"),
    };
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    match line.trim().strip_prefix("listening on ") {
        Some(url) => Some(Server {
            url: url.to_string(),
            // Its stdin stays open while this process lives; at exit the server sees
            // EOF and stops.
            _child: child,
        }),
        None if !required("BEDKEY_TEST_IAM_SERVER") => {
            eprintln!(
                "skipped: the IAM test server did not start (pip install -r tests/server/requirements.txt)"
            );
            None
        }
        None => panic!("the IAM test server did not start"),
    }
}

/// The shared server, this test's turn at it, with faults and the request log cleared.
fn server() -> Option<(&'static str, MutexGuard<'static, ()>)> {
    let turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let server = SERVER.get_or_init(start).as_ref()?;
    control(&server.url, "POST", "/_control/reset", "{}");
    Some((&server.url, turn))
}

fn control(url: &str, method: &str, path: &str, body: &str) -> serde_json::Value {
    let (status, text) = http(
        method,
        &format!("{url}{path}"),
        &[("Content-Type", "application/json")],
        body,
    );
    assert!(status < 300, "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

/// The credentials the server holds for `user`.
fn credentials_of(url: &str, user: &str) -> Vec<serde_json::Value> {
    control(url, "GET", "/_control/credentials", "")
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["user"] == user)
        .cloned()
        .collect()
}

/// The IAM actions the server received since this test's turn began.
fn actions(url: &str) -> Vec<String> {
    control(url, "GET", "/_control/requests", "")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Ask moto (through the server) an IAM question directly, as a raw Query call.
fn iam_query(url: &str, params: &str) -> String {
    let auth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/iam/aws4_request, \
                SignedHeaders=host, Signature=0";
    let (status, body) = http(
        "POST",
        &format!("{url}/"),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", auth),
        ],
        &format!("{params}&Version=2010-05-08"),
    );
    assert_eq!(status, 200, "{body}");
    body
}

fn bedkey(sb: &Sandbox, url: &str) -> assert_cmd::Command {
    let mut cmd = sb.bedkey_with_env_credentials();
    cmd.env("AWS_ENDPOINT_URL_IAM", url)
        .env("AWS_ENDPOINT_URL_STS", url)
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", url);
    cmd
}

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

/// Create the sandbox's encrypted file store by importing a first key into it.
fn start_file_store(sb: &Sandbox) {
    ok(&sb
        .bedkey()
        .args(["--store", "file", "import", &sb.name("first")])
        .write_stdin(long_term_key("BedrockAPIKey-first-at-123456789012"))
        .output()
        .unwrap());
}

/// Run bedkey with `args`, and break its encrypted file store while IAM (held for
/// three seconds) is making a key: a store that was ready, failing after IAM acted.
/// The file comes back afterwards. Returns bedkey's output.
fn break_store_during_iam_create(sb: &Sandbox, url: &str, args: &[&str]) -> std::process::Output {
    control(
        url,
        "POST",
        "/_control/fail",
        r#"{"action": "CreateServiceSpecificCredential", "delay_ms": 3000, "times": 1}"#,
    );
    let child = in_background(sb, url, args);
    wait_for_action(url, "CreateServiceSpecificCredential");
    let sealed = sb.path().join("bedkey/secrets.age");
    let moved = sb.path().join("secrets.age.moved");
    std::fs::rename(&sealed, &moved).unwrap();
    std::fs::create_dir(&sealed).unwrap();
    let out = child.wait_with_output().unwrap();
    std::fs::remove_dir(&sealed).unwrap();
    std::fs::rename(&moved, &sealed).unwrap();
    out
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
fn rotate_hands_over_the_new_key_and_keeps_the_old_one_when_storing_fails() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("rotlost");
    let user = format!("bedkey-{name}");
    run_ok(&sb, url, &["--store", "file", "create", &name]);
    let old = sb.loaded_key(&name);
    control(url, "POST", "/_control/reset", "{}");
    let out = break_store_during_iam_create(&sb, url, &["rotate", &name]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stdout(&out).trim().starts_with("ABSK"),
        "the new key reaches the user"
    );
    let err = stderr(&out);
    assert!(err.contains("the old one is untouched"), "{err}");
    let held = credentials_of(url, &user);
    assert_eq!(held.len(), 2);
    assert!(held.iter().all(|c| c["status"] == "Active"), "{held:?}");
    // With the store back, the stored key is still the old, working one.
    assert_eq!(sb.loaded_key(&name), old);

    // The hint works as printed, at the two-key limit: delete the new credential
    // (here through the same IAM API the AWS CLI would call), then rotate again.
    let hint = err.lines().find(|l| l.starts_with("hint:")).unwrap();
    let new_id = hint
        .split("--service-specific-credential-id ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap()
        .trim();
    assert!(hint.contains(&format!("`bedkey rotate {name}`")), "{hint}");
    iam_query(
        url,
        &format!(
            "Action=DeleteServiceSpecificCredential&UserName={user}&ServiceSpecificCredentialId={new_id}"
        ),
    );
    run_ok(&sb, url, &["rotate", &name]);
    assert_ne!(sb.loaded_key(&name), old);
    assert_eq!(credentials_of(url, &user).len(), 1);
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
    let policy = iam_query(
        url,
        &format!("Action=GetUserPolicy&UserName={user}&PolicyName=bedkey-{name}"),
    );
    let start = policy.find("<PolicyDocument>").unwrap() + "<PolicyDocument>".len();
    let end = policy.find("</PolicyDocument>").unwrap();
    // IAM returns the document URL-encoded.
    let text = percent_encoding::percent_decode_str(&policy[start..end].replace("&quot;", "\""))
        .decode_utf8()
        .unwrap()
        .to_string();
    let doc: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
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
fn rotate_stores_a_new_credential_then_deletes_the_old_one() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("rot");
    let user = format!("bedkey-{name}");
    run_ok(&sb, url, &["create", &name, "--days", "20"]);
    let old_key = sb.loaded_key(&name);
    let old_id = credentials_of(url, &user)[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    control(url, "POST", "/_control/reset", "{}");

    let out = bedkey(&sb, url)
        .args(["rotate", &name, "--output", "json"])
        .output()
        .unwrap();
    ok(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["old_credential_id"], old_id.as_str());
    let held = credentials_of(url, &user);
    assert_eq!(held.len(), 1, "the old credential is deleted");
    assert_eq!(held[0]["id"], json["new_credential_id"]);
    let new_key = sb.loaded_key(&name);
    assert_ne!(old_key, new_key);
    // Order: create, then (after storing) deactivate, then delete.
    let calls = actions(url);
    let at = |a: &str| {
        calls
            .iter()
            .position(|c| c == a)
            .unwrap_or_else(|| panic!("{a} in {calls:?}"))
    };
    assert!(at("CreateServiceSpecificCredential") < at("UpdateServiceSpecificCredential"));
    assert!(at("UpdateServiceSpecificCredential") < at("DeleteServiceSpecificCredential"));
    let meta = &sb.keys_json()["keys"][&name];
    assert_eq!(meta["credential_id"], json["new_credential_id"]);
}

#[test]
fn rotate_keeps_the_old_key_when_iam_fails_and_refuses_imported_keys() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("keep");
    run_ok(&sb, url, &["create", &name]);
    let before = sb.loaded_key(&name);
    control(
        url,
        "POST",
        "/_control/fail",
        r#"{"action": "CreateServiceSpecificCredential", "code": "ServiceFailure", "status": 500, "times": 5}"#,
    );
    let out = bedkey(&sb, url).args(["rotate", &name]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let after = sb.loaded_key(&name);
    assert_eq!(before, after, "the stored key still works");
    assert_eq!(
        credentials_of(url, &format!("bedkey-{name}"))[0]["status"],
        "Active"
    );

    let imported = sb.name("imported");
    ok(&sb.import(
        &imported,
        &long_term_key("BedrockAPIKey-q-at-123456789012"),
        &[],
    ));
    let out = bedkey(&sb, url)
        .args(["rotate", &imported])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("was imported"), "{}", stderr(&out));
}

#[test]
fn revoke_deletes_the_credential_and_forgets_even_when_iam_already_lost_it() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("rev");
    let user = format!("bedkey-{name}");
    run_ok(&sb, url, &["create", &name]);
    let out = bedkey(&sb, url).args(["revoke", &name]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "off a terminal it needs --yes");
    assert_eq!(credentials_of(url, &user).len(), 1);
    run_ok(&sb, url, &["revoke", &name, "--yes"]);
    assert!(credentials_of(url, &user).is_empty());
    assert!(sb.forgot(&name));

    let gone = sb.name("gone");
    run_ok(&sb, url, &["create", &gone]);
    let id = credentials_of(url, &format!("bedkey-{gone}"))[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    control(url, "DELETE", &format!("/_control/credentials/{id}"), "");
    let out = bedkey(&sb, url)
        .args(["revoke", &gone, "--yes"])
        .output()
        .unwrap();
    ok(&out);
    assert!(stderr(&out).contains("already gone"), "{}", stderr(&out));
    assert!(sb.forgot(&gone));
}

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

/// A fake Bedrock control plane on loopback: answers each request from a script of
/// (status, error type, message) by the bearer key it carries.
fn fake_bedrock(answers: Vec<(String, u16, &'static str, &'static str)>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 16384];
            let n = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let (status, kind, message) = answers
                .iter()
                .find(|(key, ..)| {
                    request.contains(&format!("authorization: Bearer {key}\r\n"))
                        && request.starts_with("GET /foundation-models ")
                })
                .map(|(_, s, k, m)| (*s, *k, *m))
                .unwrap_or((403, "UnrecognizedClientException", "Invalid API Key format"));
            let body = if status == 200 {
                r#"{"modelSummaries":[]}"#.to_string()
            } else {
                format!(r#"{{"message":"{message}"}}"#)
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nx-amzn-ErrorType: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
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

/// bedkey with `args` against the server, running while the test goes on.
fn in_background(sb: &Sandbox, url: &str, args: &[&str]) -> Child {
    sb.command(bedkey_bin())
        .env("AWS_ACCESS_KEY_ID", AKID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_ENDPOINT_URL_IAM", url)
        .env("AWS_ENDPOINT_URL_STS", url)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait until the server has received `action`.
fn wait_for_action(url: &str, action: &str) {
    let started = std::time::Instant::now();
    while !actions(url).iter().any(|a| a == action) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "never saw {action}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// bedkey with `args` against the server, which must succeed.
fn run_ok(sb: &Sandbox, url: &str, args: &[&str]) {
    ok(&bedkey(sb, url).args(args).output().unwrap());
}

/// `rotate --secret-id SECRET` in us-east-1, with `extra` flags.
fn rotate_from_secret(
    sb: &Sandbox,
    url: &str,
    secret: &str,
    extra: &[&str],
) -> std::process::Output {
    bedkey(sb, url)
        .args([
            "rotate",
            "--secret-id",
            secret,
            "--secret-region",
            "us-east-1",
        ])
        .args(extra)
        .output()
        .unwrap()
}

/// No stderr a person sees may hold Rust debug text.
fn assert_no_debug_text(err: &str) {
    for debug in ["{", "Some(", "StatusCode(", "Response {"] {
        assert!(!err.contains(debug), "debug text {debug:?} in: {err}");
    }
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
    assert_eq!(pages, 2);
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
    assert!(text.starts_with("USER"), "{text}");

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
fn a_lost_reply_during_rotate_leaves_no_orphan_and_the_old_key_works() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("rotlost");
    let user = format!("bedkey-{name}");
    run_ok(&sb, url, &["create", &name]);
    let old = sb.loaded_key(&name);
    control(
        url,
        "POST",
        "/_control/fail",
        r#"{"action": "CreateServiceSpecificCredential", "mode": "drop_after", "times": 1}"#,
    );
    let out = bedkey(&sb, url).args(["rotate", &name]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bedkey deleted it"),
        "{}",
        stderr(&out)
    );
    assert_eq!(credentials_of(url, &user).len(), 1, "an orphan is left");
    assert_eq!(sb.loaded_key(&name), old);
    // Nothing is in the way of the next rotation.
    run_ok(&sb, url, &["rotate", &name]);
    assert_ne!(sb.loaded_key(&name), old);
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

const CUSTOM_POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "bedrock:CallWithBearerToken", "Resource": "*"},
    {"Effect": "Allow", "Action": "bedrock:InvokeModel", "Resource": "arn:aws:bedrock:*::foundation-model/anthropic.*"}]}"#;

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

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A Secrets Manager call straight to the server (moto), JSON protocol.
fn secrets_call(url: &str, target: &str, body: &str) -> (u16, String) {
    let auth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/secretsmanager/aws4_request, \
                SignedHeaders=host, Signature=0";
    http(
        "POST",
        &format!("{url}/"),
        &[
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", &format!("secretsmanager.{target}")),
            ("Authorization", auth),
        ],
        body,
    )
}

/// The current value of a secret, as JSON when it is.
fn secret_value(url: &str, id: &str) -> serde_json::Value {
    let (status, body) = secrets_call(url, "GetSecretValue", &format!(r#"{{"SecretId": "{id}"}}"#));
    assert_eq!(status, 200, "{body}");
    let out: serde_json::Value = serde_json::from_str(&body).unwrap();
    let text = out["SecretString"].as_str().unwrap();
    serde_json::from_str(text).unwrap_or(serde_json::Value::String(text.to_string()))
}

fn status_of(url: &str, user: &str, id: &str) -> Option<String> {
    credentials_of(url, user)
        .iter()
        .find(|c| c["id"] == id)
        .map(|c| c["status"].as_str().unwrap().to_string())
}

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
    let admin = Sandbox::new();
    let name = admin.name("cirot");
    let user = format!("bedkey-{name}");
    let secret = format!("bedrock/{name}");
    run_ok(&admin, url, &["create", &name, "--region", "us-east-1"]);
    run_ok(&admin, url, &["publish", &name, "--secret-id", &secret]);
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

/// The IAM user's tags, as moto lists them (raw XML).
fn user_tags(url: &str, user: &str) -> String {
    iam_query(url, &format!("Action=ListUserTags&UserName={user}"))
}

#[test]
fn a_lost_reply_to_a_secret_write_counts_when_the_secret_holds_the_key() {
    let Some((url, _turn)) = server() else { return };
    let admin = Sandbox::new();
    let name = admin.name("lostput");
    let user = format!("bedkey-{name}");
    let secret = format!("bedrock/{name}");
    run_ok(&admin, url, &["create", &name, "--region", "us-east-1"]);
    run_ok(&admin, url, &["publish", &name, "--secret-id", &secret]);
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
    let admin = Sandbox::new();
    let name = admin.name("stale");
    let user = format!("bedkey-{name}");
    let secret = format!("bedrock/{name}");
    run_ok(&admin, url, &["create", &name, "--region", "us-east-1"]);
    run_ok(&admin, url, &["publish", &name, "--secret-id", &secret]);
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
    let admin = Sandbox::new();
    let name = admin.name("pullown");
    let secret = format!("bedrock/{name}");
    run_ok(&admin, url, &["create", &name, "--region", "us-east-1"]);
    run_ok(&admin, url, &["publish", &name, "--secret-id", &secret]);
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
    let sb = Sandbox::new();
    let name = sb.name("revpub");
    let secret = format!("bedrock/{name}");
    run_ok(&sb, url, &["create", &name, "--region", "us-east-1"]);
    run_ok(&sb, url, &["publish", &name, "--secret-id", &secret]);
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

#[test]
fn a_stale_copy_written_back_keeps_the_old_credential_and_a_pulled_key_is_not_published() {
    let Some((url, _turn)) = server() else { return };
    let admin = Sandbox::new();
    let mate = Sandbox::new();
    let name = admin.name("writeback");
    let user = format!("bedkey-{name}");
    let secret = format!("bedrock/{name}");
    run_ok(&admin, url, &["create", &name, "--region", "us-east-1"]);
    run_ok(&admin, url, &["publish", &name, "--secret-id", &secret]);
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
    let sb = Sandbox::new();
    let name = sb.name("grace");
    let user = format!("bedkey-{name}");
    let secret = format!("bedrock/{name}");
    run_ok(&sb, url, &["create", &name, "--region", "us-east-1"]);
    run_ok(&sb, url, &["publish", &name, "--secret-id", &secret]);
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
