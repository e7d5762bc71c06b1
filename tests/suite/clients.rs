//! Every Bedrock surface, with the real clients at the versions the test script
//! installs (tests/clients/requirements.txt, tests/node/package-lock.json): the OpenAI
//! SDKs, the Anthropic SDK, LiteLLM and Claude Code, under `exec --proxy` and beside
//! `bedkey proxy`, against the TLS stand-in with one endpoint per host, so that each
//! request's host, path and key are checked. Streams are proved incremental by the
//! stand-in's hold: it sends the first event and waits until the client, having read
//! it, says go.
#![cfg(unix)]

use std::path::PathBuf;
use std::process::{Command as Std, Output};

use crate::support::bedrock::{Bedrock, Request};
use crate::support::*;
use crate::support::{CLIENTS, clients_python};

const NODE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node");

/// Claude Code's executable from the pinned npm install.
fn claude_code() -> Option<PathBuf> {
    let claude = PathBuf::from(NODE).join("node_modules/.bin/claude");
    let works = Std::new(&claude)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        return Some(claude);
    }
    assert!(!required("BEDKEY_TEST_NODE"), "Claude Code is missing");
    eprintln!("skipped: Claude Code is not installed (scripts/install-test-deps)");
    None
}

fn node_openai() -> bool {
    let ok = PathBuf::from(NODE).join("node_modules/openai").exists();
    if !ok {
        assert!(
            !required("BEDKEY_TEST_NODE"),
            "the openai npm package is missing"
        );
        eprintln!("skipped: the openai npm package is not installed");
    }
    ok
}

/// A long-term key stored as `name` (region us-east-1) and a stand-in that takes it.
struct Setup {
    sb: Sandbox,
    bedrock: Bedrock,
    name: String,
    key: String,
}

fn setup(label: &str, hold: bool) -> Setup {
    let sb = Sandbox::new();
    let name = sb.name(label);
    let key = long_term_key("BedrockAPIKey-cl-at-123456789012");
    ok(&sb.import(&name, &key, &["--region", "us-east-1"]));
    let bedrock = Bedrock::start_with(&sb, &[&key], false, hold);
    Setup {
        sb,
        bedrock,
        name,
        key,
    }
}

impl Setup {
    /// `bedkey exec NAME --proxy FLAGS -- PROGRAM ARGS`.
    fn under_proxy(&self, flags: &[&str], program: &str, args: &[&str]) -> Output {
        self.bedrock
            .with_hosts(&self.sb)
            .args(["exec", &self.name, "--proxy"])
            .args(flags)
            .arg("--")
            .arg(program)
            .args(args)
            .output()
            .unwrap()
    }

    /// Every request reached `host`, under one of `paths`, with the real key in the
    /// header `header` ("authorization" or "x-api-key"), and was accepted.
    fn assert_reached(&self, host: &str, paths: &[&str]) -> Vec<Request> {
        let seen: Vec<Request> = self
            .bedrock
            .requests()
            .into_iter()
            .filter(|r| r.path != "/go")
            .collect();
        assert!(!seen.is_empty(), "no request reached the stand-in");
        for r in &seen {
            assert_eq!(r.host, host, "{r:?}");
            assert!(paths.iter().any(|p| r.path.starts_with(p)), "{r:?}");
            assert!(r.accepted, "{r:?}");
            assert_eq!(r.authorization, format!("Bearer {}", self.key), "{r:?}");
        }
        seen
    }
}

fn json_of(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}\n{}", stdout(out), stderr(out));
    serde_json::from_str(stdout(out).lines().last().unwrap_or("")).unwrap_or_else(|e| {
        panic!("{e}: {}\n{}", stdout(out), stderr(out));
    })
}

fn assert_openai_calls(json: &serde_json::Value) {
    assert_eq!(json["chat"], "hello", "{json}");
    assert_eq!(
        json["stream"],
        serde_json::json!(["first", " second", " third"])
    );
    assert_eq!(json["responses"], "hello");
    assert_eq!(json["models"], serde_json::json!(["openai.gpt-oss-120b"]));
}

#[test]
fn the_openai_python_sdk_in_bedrock_mode_reaches_mantle_with_the_real_key() {
    let Some(python) = clients_python() else {
        return;
    };
    let s = setup("oabr", true);
    let out = s.under_proxy(
        &[],
        python.to_str().unwrap(),
        &[&format!("{CLIENTS}/run.py"), "openai-bedrock"],
    );
    assert_openai_calls(&json_of(&out));
    let seen = s.assert_reached("mantle", &["/openai/v1/"]);
    assert_eq!(seen.len(), 4, "{seen:?}");
}

#[test]
fn the_openai_python_sdk_with_for_openai_reaches_the_runtime_or_mantle() {
    let Some(python) = clients_python() else {
        return;
    };
    for (endpoint, host, path) in [
        ("runtime", "runtime", "/openai/v1/"),
        ("mantle", "mantle", "/v1/"),
    ] {
        let s = setup("oapl", true);
        let out = s.under_proxy(
            &["--for", "openai", "--endpoint", endpoint],
            python.to_str().unwrap(),
            &[&format!("{CLIENTS}/run.py"), "openai"],
        );
        assert_openai_calls(&json_of(&out));
        s.assert_reached(host, &[path]);
    }
}

#[test]
fn the_anthropic_sdk_reaches_messages_on_mantle_and_the_runtime() {
    let Some(python) = clients_python() else {
        return;
    };
    let run = format!("{CLIENTS}/run.py");
    for (flags, mode, host) in [
        (&[][..], "anthropic-mantle", "mantle"),
        (&["--for", "anthropic"][..], "anthropic", "runtime"),
        (
            &["--for", "anthropic", "--endpoint", "mantle"][..],
            "anthropic",
            "mantle",
        ),
    ] {
        let s = setup("anth", true);
        let out = s.under_proxy(flags, python.to_str().unwrap(), &[&run, mode]);
        let json = json_of(&out);
        assert_eq!(json["chat"], "hello", "{mode}: {json}");
        assert_eq!(
            json["stream"],
            serde_json::json!(["first", " second", " third"])
        );
        s.assert_reached(host, &["/anthropic/v1/messages"]);
    }
}

#[test]
fn litellm_bedrock_mantle_reaches_mantle_for_openai_and_claude_models() {
    let Some(python) = clients_python() else {
        return;
    };
    let s = setup("llm", true);
    let out = s.under_proxy(
        &["--for", "litellm"],
        python.to_str().unwrap(),
        &[&format!("{CLIENTS}/run.py"), "litellm"],
    );
    let json = json_of(&out);
    assert_eq!(json["chat"], "hello", "{json}");
    assert_eq!(json["claude"], "hello");
    assert_eq!(
        json["stream"],
        serde_json::json!(["first", " second", " third"])
    );
    let seen = s.assert_reached(
        "mantle",
        &["/v1/chat/completions", "/anthropic/v1/messages"],
    );
    assert!(
        seen.iter()
            .any(|r| r.path.starts_with("/anthropic/v1/messages"))
    );
}

#[test]
fn the_openai_npm_package_reaches_mantle_in_bedrock_mode_and_the_runtime_with_for_openai() {
    if !node_openai() {
        return;
    }
    let script = format!("{NODE}/openai.mjs");
    for (flags, mode, host, path) in [
        (&[][..], "bedrock", "mantle", "/openai/v1/"),
        (&["--for", "openai"][..], "plain", "runtime", "/openai/v1/"),
    ] {
        let s = setup("oajs", true);
        let out = s.under_proxy(flags, "node", &[&script, mode]);
        assert_openai_calls(&json_of(&out));
        s.assert_reached(host, &[path]);
    }
}

/// Claude Code run offline, as the tests may: its own HOME (the sandbox), no updates,
/// no telemetry, one retry, and a hard timeout.
fn claude_args(claude: &std::path::Path) -> Vec<String> {
    ["timeout", "-k", "5", "90"]
        .iter()
        .map(|s| s.to_string())
        .chain([claude.display().to_string(), "-p".into(), "hi".into()])
        .collect()
}

fn quiet_claude(cmd: &mut Std) -> &mut Std {
    cmd.env("DISABLE_AUTOUPDATER", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_ERROR_REPORTING", "1")
        .env("CLAUDE_CODE_MAX_RETRIES", "1")
        .env("API_TIMEOUT_MS", "15000")
        .stdin(std::process::Stdio::null())
}

#[test]
fn claude_code_trusts_the_local_ca_and_answers_through_the_proxy_in_bedrock_and_mantle_modes() {
    let Some(claude) = claude_code() else {
        return;
    };
    let args = claude_args(&claude);
    for (endpoint, host, path) in [
        ("runtime", "runtime", "/model/"),
        ("mantle", "mantle", "/anthropic/v1/messages"),
    ] {
        let s = setup("cc", false);
        let mut cmd = s.bedrock.with_hosts(&s.sb);
        quiet_claude(&mut cmd)
            .args([
                "exec",
                &s.name,
                "--proxy",
                "--for",
                "claude-code",
                "--endpoint",
                endpoint,
                "--",
            ])
            .args(&args);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{endpoint}: {}\n{}",
            stdout(&out),
            stderr(&out)
        );
        assert_eq!(
            stdout(&out).trim(),
            "first second third",
            "{}",
            stderr(&out)
        );
        let seen: Vec<Request> = s.bedrock.requests();
        assert!(
            seen.iter()
                .any(|r| r.host == host && r.path.starts_with(path)),
            "{seen:?}"
        );
        for r in &seen {
            // The inference-profile listing is the control plane's, in Bedrock mode.
            assert!(r.host == host || r.host == "control", "{r:?}");
            assert!(r.accepted, "{r:?}");
            assert_eq!(r.authorization, format!("Bearer {}", s.key));
        }
    }
}

#[test]
fn claude_code_beside_bedkey_proxy_uses_the_env_file_and_a_wrong_token_goes_nowhere() {
    let Some(claude) = claude_code() else {
        return;
    };
    let s = setup("ccpx", false);
    let env_file = s.sb.path().join("proxy.env");
    let mut proxy = s
        .bedrock
        .with_hosts(&s.sb)
        .args(["proxy", &s.name, "--for", "claude-code", "--env-file"])
        .arg(&env_file)
        .spawn()
        .unwrap();
    let vars = wait_for_env_file(&env_file);
    let run = |token: Option<&str>| {
        let mut cmd = s.sb.command("timeout");
        quiet_claude(&mut cmd).args(&claude_args(&claude)[1..]);
        for (k, v) in &vars {
            cmd.env(k, v);
        }
        if let Some(token) = token {
            cmd.env("AWS_BEARER_TOKEN_BEDROCK", token);
        }
        cmd.output().unwrap()
    };
    let out = run(None);
    assert_eq!(
        stdout(&out).trim(),
        "first second third",
        "{}",
        stderr(&out)
    );
    let before = s.bedrock.requests().len();
    assert!(before > 0);
    let out = run(Some("bedkey-local-wrong"));
    assert!(!out.status.success() || !stdout(&out).contains("first second third"));
    assert_eq!(
        s.bedrock.requests().len(),
        before,
        "a wrong token reached Bedrock"
    );
    unsafe { libc::kill(proxy.id() as i32, libc::SIGTERM) };
    assert!(proxy.wait().unwrap().success());
}

/// The variables `bedkey proxy --env-file` wrote, once it has.
fn wait_for_env_file(path: &std::path::Path) -> Vec<(String, String)> {
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.contains("NODE_EXTRA_CA_CERTS=")
        {
            return text
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("bedkey proxy wrote no env file");
}

/// A client of the local endpoint that sends what it is told: `probe.py PATH
/// HEADER=VALUE…` prints the status and body. The local token is in its
/// environment as AWS_BEARER_TOKEN_BEDROCK, and `$TOKEN` in a value stands for it.
const PROBE: &str = r#"
import os, ssl, sys, urllib.request, urllib.error
path, pairs = sys.argv[1], sys.argv[2:]
request = urllib.request.Request(os.environ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] + path)
for pair in pairs:
    name, value = pair.split("=", 1)
    request.add_header(name, value.replace("$TOKEN", os.environ["AWS_BEARER_TOKEN_BEDROCK"]))
context = ssl.create_default_context(cafile=os.environ["NODE_EXTRA_CA_CERTS"])
try:
    with urllib.request.urlopen(request, context=context) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
"#;

fn probe(s: &Setup, cmd: Std, path: &str, headers: &[&str]) -> String {
    let mut cmd = cmd;
    let out = cmd
        .args([
            "exec", &s.name, "--proxy", "--", "python3", "-c", PROBE, path,
        ])
        .args(headers)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn the_local_token_in_x_api_key_goes_upstream_as_the_real_key_in_x_api_key() {
    if !crate::support::bedrock::boto3() {
        return;
    }
    let s = setup("xkey", true);
    let answer = probe(
        &s,
        s.bedrock.with_hosts(&s.sb),
        "/mantle/v1/models",
        &["x-api-key=$TOKEN"],
    );
    assert!(answer.starts_with("200 "), "{answer}");
    let seen = s.bedrock.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].host, "mantle");
    assert_eq!(
        seen[0].x_api_key, s.key,
        "the real key, in the header the client used"
    );
    assert_eq!(seen[0].authorization, "", "and no other");
    // Both headers, or neither, or a wrong one: 401 from bedkey, and nothing sent on.
    for headers in [
        &["x-api-key=$TOKEN", "Authorization=Bearer $TOKEN"][..],
        &[][..],
        &["x-api-key=bedkey-local-wrong"][..],
        &["Authorization=$TOKEN"][..],
    ] {
        for path in [
            "/mantle/v1/models",
            "/openai/v1/models",
            "/model/m/converse",
        ] {
            let answer = probe(&s, s.bedrock.with_hosts(&s.sb), path, headers);
            assert!(answer.starts_with("401 "), "{headers:?} {path}: {answer}");
        }
    }
    // Paths with dot segments, and targets that are not paths, are refused too.
    for path in [
        "/mantle/../model/m/converse",
        "/model/%2e%2e/x",
        "/openai/./v1/models",
    ] {
        let answer = probe(&s, s.bedrock.with_hosts(&s.sb), path, &["x-api-key=$TOKEN"]);
        assert!(answer.starts_with("400 "), "{path}: {answer}");
    }
    assert_eq!(
        s.bedrock.requests().len(),
        1,
        "a refused request was sent on"
    );
}

#[test]
fn a_real_key_in_the_parents_environment_never_reaches_the_child() {
    let s = setup("parent", true);
    let out = s
        .bedrock
        .with_hosts(&s.sb)
        .env("OPENAI_API_KEY", &s.key)
        .env("SOME_OTHER_NAME", &s.key)
        .env("UNRELATED", "kept")
        .env(
            "OPENAI_BASE_URL",
            "https://bedrock-runtime.us-east-1.amazonaws.com/openai/v1",
        )
        .args(["exec", &s.name, "--proxy", "--", "env"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let env = stdout(&out);
    assert!(!env.contains(&s.key), "{env}");
    assert!(env.contains("UNRELATED=kept"));
    assert!(!env.contains("OPENAI_BASE_URL"), "{env}");
}

#[test]
fn a_mantle_request_where_mantle_is_not_offered_is_a_502_that_says_so() {
    if !crate::support::bedrock::boto3() {
        return;
    }
    let sb = Sandbox::new();
    let name = sb.name("cnmt");
    let key = long_term_key("BedrockAPIKey-cn-at-123456789012");
    ok(&sb.import(&name, &key, &["--region", "cn-north-1"]));
    let bedrock = Bedrock::start(&sb, &[&key], false);
    let s = Setup {
        sb,
        bedrock,
        name,
        key,
    };
    // The runtime and control plane are overridden; Mantle is not, and China has none.
    let answer = probe(
        &s,
        s.bedrock.command(&s.sb),
        "/mantle/v1/models",
        &["Authorization=Bearer $TOKEN"],
    );
    assert!(answer.starts_with("502 "), "{answer}");
    assert!(answer.contains("not offered in cn-north-1"), "{answer}");
    // The runtime still works there.
    let answer = probe(
        &s,
        s.bedrock.command(&s.sb),
        "/foundation-models",
        &["Authorization=Bearer $TOKEN"],
    );
    assert!(answer.starts_with("200 "), "{answer}");
}

#[test]
fn the_child_gets_every_bedrock_variable_and_the_generic_ones_only_when_asked() {
    let sb = Sandbox::new();
    let name = sb.name("pxvars");
    sb.short_term(&name, "1h", "us-east-1");
    let env_of = |flags: &[&str]| -> std::collections::BTreeMap<String, String> {
        let out = sb
            .bedkey()
            .args(["exec", &name, "--proxy"])
            .args(flags)
            .args(["--", "env"])
            .output()
            .unwrap();
        ok(&out);
        stdout(&out)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let env = env_of(&[]);
    let endpoint = &env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"];
    let token = &env["AWS_BEARER_TOKEN_BEDROCK"];
    for (var, value) in [
        (
            "AWS_ENDPOINT_URL_BEDROCK_MANTLE",
            format!("{endpoint}/mantle"),
        ),
        (
            "ANTHROPIC_BEDROCK_MANTLE_BASE_URL",
            format!("{endpoint}/mantle/anthropic"),
        ),
        ("BEDROCK_MANTLE_API_BASE", format!("{endpoint}/mantle/v1")),
        (
            "AWS_BEDROCK_BASE_URL",
            format!("{endpoint}/mantle/openai/v1"),
        ),
        ("BEDROCK_MANTLE_API_KEY", token.clone()),
        ("ANTHROPIC_AWS_API_KEY", token.clone()),
        ("CURL_CA_BUNDLE", env["AWS_CA_BUNDLE"].clone()),
    ] {
        assert_eq!(env.get(var), Some(&value), "{var}");
    }
    for generic in [
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "CLAUDE_CODE_USE_BEDROCK",
    ] {
        assert!(!env.contains_key(generic), "{generic} set unasked");
    }
    let env = env_of(&[
        "--for",
        "openai,anthropic,litellm,claude-code",
        "--endpoint",
        "mantle",
    ]);
    let endpoint = &env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"];
    assert_eq!(env["OPENAI_BASE_URL"], format!("{endpoint}/mantle/v1"));
    assert_eq!(
        env["ANTHROPIC_BASE_URL"],
        format!("{endpoint}/mantle/anthropic")
    );
    assert_eq!(env["OPENAI_API_KEY"], env["AWS_BEARER_TOKEN_BEDROCK"]);
    assert_eq!(env["BEDROCK_MANTLE_REGION"], "us-east-1");
    assert_eq!(env["CLAUDE_CODE_USE_MANTLE"], "1");
}

#[test]
fn verify_endpoint_mantle_makes_its_one_call_on_mantle() {
    if !crate::support::bedrock::boto3() {
        return;
    }
    let s = setup("vfmt", true);
    let out = s
        .bedrock
        .with_hosts(&s.sb)
        .args(["verify", &s.name, "--endpoint", "mantle"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("accepted"), "{}", stdout(&out));
    let seen = s.bedrock.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].host.as_str(), seen[0].path.as_str()),
        ("mantle", "/v1/models")
    );
    // A key Mantle does not take is rejected, exit 4.
    let other = s.sb.name("vfbad");
    ok(&s.sb.import(
        &other,
        &long_term_key("BedrockAPIKey-no-at-123456789012"),
        &["--region", "us-east-1"],
    ));
    let out = s
        .bedrock
        .with_hosts(&s.sb)
        .args(["verify", &other, "--endpoint", "mantle"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
}

#[test]
fn claude_code_reaches_claude_platform_through_the_proxy_with_the_real_key_and_workspace() {
    let Some(claude) = claude_code() else {
        return;
    };
    let sb = Sandbox::new();
    let name = sb.name("cccp");
    let body = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "AeaApiKey-cc-at-123456789012:c2VjcmV0",
    );
    let key = format!("AEAA{body}");
    ok(&sb.import(
        &name,
        &key,
        &["--region", "us-east-1", "--workspace-id", "wrk_cc"],
    ));
    let bedrock = Bedrock::start_with(&sb, &[&key], false, false);
    let mut cmd = bedrock.with_hosts(&sb);
    quiet_claude(&mut cmd)
        .args(["exec", &name, "--proxy", "--for", "claude-code", "--"])
        .args(claude_args(&claude));
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "first second third",
        "{}",
        stderr(&out)
    );
    let seen = bedrock.requests();
    assert!(
        seen.iter().any(|r| r.path.starts_with("/v1/messages")),
        "{seen:?}"
    );
    for r in &seen {
        assert_eq!(r.host, "platform", "{r:?}");
        assert!(r.accepted, "{r:?}");
        // Claude Code sends the key as x-api-key: the real key goes up in it.
        assert_eq!(r.x_api_key, key, "{r:?}");
        assert_eq!(r.workspace, "wrk_cc", "{r:?}");
    }
}
