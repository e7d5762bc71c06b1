//! The IAM, STS and Secrets Manager test server (`tests/server/iam_server.py` on
//! 127.0.0.1: moto for users, policies and secrets, plus a faithful emulation of the
//! service-specific credential calls moto lacks), and what the tests of `create`,
//! `rotate`, `revoke`, `audit`, `verify` and team keys do with it. The suite starts
//! the server once; it stops when the tests end. Faults are injected per action, so
//! the tests that use it take turns (`server()` hands out the turn).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command as Std, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};

use super::*;

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
pub fn server() -> Option<(&'static str, MutexGuard<'static, ()>)> {
    let turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let server = SERVER.get_or_init(start).as_ref()?;
    control(&server.url, "POST", "/_control/reset", "{}");
    Some((&server.url, turn))
}

pub fn control(url: &str, method: &str, path: &str, body: &str) -> serde_json::Value {
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
pub fn credentials_of(url: &str, user: &str) -> Vec<serde_json::Value> {
    control(url, "GET", "/_control/credentials", "")
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["user"] == user)
        .cloned()
        .collect()
}

/// The IAM actions the server received since this test's turn began.
pub fn actions(url: &str) -> Vec<String> {
    control(url, "GET", "/_control/requests", "")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Ask moto (through the server) an IAM question directly, as a raw Query call.
pub fn iam_query(url: &str, params: &str) -> String {
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

pub fn bedkey(sb: &Sandbox, url: &str) -> assert_cmd::Command {
    let mut cmd = sb.bedkey_with_env_credentials();
    cmd.env("AWS_ENDPOINT_URL_IAM", url)
        .env("AWS_ENDPOINT_URL_STS", url)
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", url)
        .env("AWS_ENDPOINT_URL_ORGANIZATIONS", url)
        .env("AWS_ENDPOINT_URL_CLOUDTRAIL", url);
    cmd
}

/// Create the sandbox's encrypted file store by importing a first key into it.
pub fn start_file_store(sb: &Sandbox) {
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
pub fn break_store_during_iam_create(
    sb: &Sandbox,
    url: &str,
    args: &[&str],
) -> std::process::Output {
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

/// A fake Bedrock control plane on loopback: answers each request from a script of
/// (status, error type, message) by the bearer key it carries.
pub fn fake_bedrock(answers: Vec<(String, u16, &'static str, &'static str)>) -> String {
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

/// bedkey with `args` against the server, running while the test goes on.
pub fn in_background(sb: &Sandbox, url: &str, args: &[&str]) -> Child {
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
pub fn wait_for_action(url: &str, action: &str) {
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
pub fn run_ok(sb: &Sandbox, url: &str, args: &[&str]) {
    ok(&bedkey(sb, url).args(args).output().unwrap());
}

/// `rotate --secret-id SECRET` in us-east-1, with `extra` flags.
pub fn rotate_from_secret(
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
pub fn assert_no_debug_text(err: &str) {
    for debug in ["{", "Some(", "StatusCode(", "Response {"] {
        assert!(!err.contains(debug), "debug text {debug:?} in: {err}");
    }
}

pub const CUSTOM_POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "bedrock:CallWithBearerToken", "Resource": "*"},
    {"Effect": "Allow", "Action": "bedrock:InvokeModel", "Resource": "arn:aws:bedrock:*::foundation-model/anthropic.*"}]}"#;

pub fn percent(text: &str) -> String {
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
pub fn secrets_call(url: &str, target: &str, body: &str) -> (u16, String) {
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
pub fn secret_value(url: &str, id: &str) -> serde_json::Value {
    let (status, body) = secrets_call(url, "GetSecretValue", &format!(r#"{{"SecretId": "{id}"}}"#));
    assert_eq!(status, 200, "{body}");
    let out: serde_json::Value = serde_json::from_str(&body).unwrap();
    let text = out["SecretString"].as_str().unwrap();
    serde_json::from_str(text).unwrap_or(serde_json::Value::String(text.to_string()))
}

pub fn status_of(url: &str, user: &str, id: &str) -> Option<String> {
    credentials_of(url, user)
        .iter()
        .find(|c| c["id"] == id)
        .map(|c| c["status"].as_str().unwrap().to_string())
}

/// The IAM user's tags, as moto lists them (raw XML).
pub fn user_tags(url: &str, user: &str) -> String {
    iam_query(url, &format!("Action=ListUserTags&UserName={user}"))
}

/// A key as a team's admin starts it: made in its own sandbox, then published to a
/// secret of its own.
pub struct Published {
    pub admin: Sandbox,
    pub name: String,
    pub user: String,
    pub secret: String,
}

/// Make a key `label` (region us-east-1) and publish it to `bedrock/NAME`.
pub fn published(url: &str, label: &str) -> Published {
    let admin = Sandbox::new();
    let name = admin.name(label);
    let user = format!("bedkey-{name}");
    let secret = format!("bedrock/{name}");
    run_ok(&admin, url, &["create", &name, "--region", "us-east-1"]);
    run_ok(&admin, url, &["publish", &name, "--secret-id", &secret]);
    Published {
        admin,
        name,
        user,
        secret,
    }
}

/// The inline policy `bedkey-NAME` of `user`, as IAM holds it (its document
/// URL-decoded), and the document's text.
pub fn inline_policy(url: &str, user: &str, name: &str) -> (serde_json::Value, String) {
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
    let doc = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (doc, text)
}
