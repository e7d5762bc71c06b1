//! `bedkey exec --proxy` and `bedkey proxy`, with real consumers: boto3 (and plain
//! HTTPS from Python) as the long-running program, a TLS stand-in for Bedrock that
//! records every Authorization header it gets and accepts only keys that work.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::bedrock::{Bedrock, boto3};
use crate::support::*;
use serde_json::Value;

const CLIENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/server/bedrock_client.py"
);

/// A process a test started, killed and reaped however the test ends: a failed
/// assertion must not leave a proxy running.
struct Background(std::process::Child);

impl std::ops::Deref for Background {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Background {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn json_line(out: &std::process::Output) -> Value {
    let text = stdout(out);
    let last = text
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no output; stderr: {}", stderr(out)));
    serde_json::from_str(last).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// The checks every boto3 run through the proxy shares.
fn assert_proxied_calls(result: &Value, bedrock: &Bedrock, region: &str) {
    let token = result["token"].as_str().unwrap();
    assert!(token.starts_with("bedkey-local-"), "{token}");
    assert_eq!(result["region"], region);
    assert_eq!(result["model"], "amazon.nova-lite-v1:0");
    assert_eq!(result["invoke"]["received"], 61);
    assert_eq!(
        result["stream"],
        serde_json::json!([
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ])
    );
    assert_eq!(result["wrong_token"][0], 401, "{result}");
    assert_eq!(result["no_token"][0], 401, "{result}");
    let seen = bedrock.seen();
    assert!(!seen.is_empty());
    for (path, auth, accepted) in &seen {
        assert!(accepted, "Bedrock got a key it refused for {path}");
        assert!(
            !auth.contains("bedkey-local"),
            "a local token reached Bedrock"
        );
    }
}

#[test]
fn boto3_under_exec_proxy_keeps_working_after_its_key_expires() {
    if !boto3() {
        return;
    }
    let sb = Sandbox::new();
    let name = sb.name("px");
    // An 8-second key, refreshed when 4 s remain: a 12-second run outlives two.
    sb.short_term(&name, "8s", "eu-west-3");
    let bedrock = Bedrock::start(&sb, &[], true);
    let out = bedrock
        .bedkey(&sb)
        .env("BEDKEY_MIN_TTL", "4s")
        .args([
            "exec", &name, "--proxy", "--", "python3", CLIENT, "calls", "12",
        ])
        .timeout(Duration::from_secs(90))
        .output()
        .unwrap();
    ok(&out);
    let result = json_line(&out);
    assert_proxied_calls(&result, &bedrock, "eu-west-3");
    assert!(result["converse_calls"].as_u64().unwrap() > 20, "{result}");
    let keys: std::collections::HashSet<_> = bedrock.seen().into_iter().map(|s| s.1).collect();
    assert!(keys.len() >= 2, "Bedrock saw {} key(s)", keys.len());
    // The refreshed key was written back: `env` now loads the one the proxy used last.
    let last = bedrock.seen().last().unwrap().1.clone();
    assert_eq!(format!("Bearer {}", sb.loaded_key(&name)), last);
}

/// Whether the JS SDK is installed in tests/node (scripts/install-test-deps does it
/// where Node is).
fn js_sdk() -> bool {
    let ok = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/node/node_modules/@aws-sdk/client-bedrock-runtime"
    ))
    .exists();
    if !ok {
        assert!(!required("BEDKEY_TEST_NODE"), "the JS SDK is missing");
        eprintln!("skipped: the JS SDK is not installed (scripts/install-test-deps)");
    }
    ok
}

#[test]
fn the_js_sdk_under_exec_proxy_converses_and_streams() {
    if !js_sdk() || !boto3() {
        return;
    }
    let sb = Sandbox::new();
    let name = sb.name("pxjs");
    sb.short_term(&name, "1h", "sa-east-1");
    let bedrock = Bedrock::start(&sb, &[], true);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/converse.mjs");
    let out = bedrock
        .bedkey(&sb)
        .args(["exec", &name, "--proxy", "--", "node", script])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    ok(&out);
    let result = json_line(&out);
    assert_eq!(result["region"], "sa-east-1");
    assert_eq!(result["text"], "hello");
    assert_eq!(result["stream"].as_array().unwrap().len(), 7, "{result}");
    let seen = bedrock.seen();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter()
            .all(|s| s.2 && s.1.starts_with("Bearer bedrock-api-key-"))
    );
}

#[test]
fn exec_proxy_serves_a_long_term_key_in_its_region() {
    if !boto3() {
        return;
    }
    let sb = Sandbox::new();
    let name = sb.name("pxlt");
    let key = long_term_key("BedrockAPIKey-px-at-123456789012");
    ok(&sb.import(&name, &key, &["--region", "ap-northeast-1"]));
    let bedrock = Bedrock::start(&sb, &[&key], true);
    let out = bedrock
        .bedkey(&sb)
        .args([
            "exec", &name, "--proxy", "--", "python3", CLIENT, "calls", "0",
        ])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    ok(&out);
    assert_proxied_calls(&json_line(&out), &bedrock, "ap-northeast-1");
    assert!(
        bedrock
            .seen()
            .iter()
            .all(|s| s.1 == format!("Bearer {key}"))
    );
}

#[test]
fn a_long_term_key_without_a_region_needs_one() {
    let sb = Sandbox::new();
    let name = sb.name("pxnr");
    ok(&sb.import(
        &name,
        &long_term_key("BedrockAPIKey-nr-at-123456789012"),
        &[],
    ));
    let out = sb
        .bedkey()
        .args(["exec", &name, "--proxy", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--region"), "{}", stderr(&out));
    let out = sb
        .bedkey()
        .args([
            "--region",
            "us-west-2",
            "exec",
            &name,
            "--proxy",
            "--",
            "sh",
            "-c",
            "echo $AWS_REGION",
        ])
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(stdout(&out).trim(), "us-west-2");
}

#[test]
fn the_child_gets_the_endpoint_a_local_token_and_trust_but_never_the_key() {
    let sb = Sandbox::new();
    let name = sb.name("pxenv");
    sb.short_term(&name, "1h", "us-east-2");
    let out = sb
        .bedkey()
        .args(["exec", &name, "--proxy", "--", "env"])
        .output()
        .unwrap();
    ok(&out);
    let env: std::collections::HashMap<String, String> = stdout(&out)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let endpoint = &env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"];
    assert!(endpoint.starts_with("https://127.0.0.1:"), "{endpoint}");
    for var in [
        "AWS_ENDPOINT_URL_BEDROCK",
        "ANTHROPIC_BEDROCK_BASE_URL",
        "AWS_BEDROCK_RUNTIME_ENDPOINT",
    ] {
        assert_eq!(&env[var], endpoint, "{var}");
    }
    assert_eq!(env["AWS_REGION"], "us-east-2");
    assert_eq!(env["AWS_DEFAULT_REGION"], "us-east-2");
    assert!(env["AWS_BEARER_TOKEN_BEDROCK"].starts_with("bedkey-local-"));
    assert!(!stdout(&out).contains(&sb.loaded_key(&name)));
    assert!(!env.contains_key("BEDKEY_PASSPHRASE"));
    let bundle = Path::new(&env["AWS_CA_BUNDLE"]);
    assert_eq!(env["SSL_CERT_FILE"], env["AWS_CA_BUNDLE"]);
    assert_eq!(env["REQUESTS_CA_BUNDLE"], env["AWS_CA_BUNDLE"]);
    let ca = Path::new(&env["NODE_EXTRA_CA_CERTS"]);
    assert_eq!(bundle.parent(), ca.parent());
    // The CA and the bundle were in a private directory, gone once the child exited.
    assert!(!bundle.parent().unwrap().exists());
}

#[cfg(unix)]
#[test]
fn the_local_ca_is_private_name_constrained_and_in_the_bundle() {
    if !boto3() {
        return;
    }
    let sb = Sandbox::new();
    let name = sb.name("pxca");
    sb.short_term(&name, "1h", "us-east-1");
    // The child inspects the files while they exist.
    let script = r#"
import os, stat, sys
from cryptography import x509
ca_path, bundle_path = os.environ["NODE_EXTRA_CA_CERTS"], os.environ["AWS_CA_BUNDLE"]
print(oct(stat.S_IMODE(os.stat(os.path.dirname(ca_path)).st_mode)))
ca = x509.load_pem_x509_certificate(open(ca_path, "rb").read())
nc = ca.extensions.get_extension_for_class(x509.NameConstraints)
print(nc.critical, sorted(str(n.value) for n in nc.value.permitted_subtrees))
bundle = open(bundle_path).read()
print(bundle.count("BEGIN CERTIFICATE") > 1, open(ca_path).read() in bundle)
"#;
    let out = sb
        .bedkey()
        .args(["exec", &name, "--proxy", "--", "python3", "-c", script])
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(stdout(&out), "0o700\nTrue ['localhost']\nTrue True\n");
}

#[cfg(unix)]
#[test]
fn exec_proxy_forwards_signals_and_exits_as_the_child_did() {
    let sb = Sandbox::new();
    let name = sb.name("pxsig");
    sb.short_term(&name, "1h", "us-east-1");
    // The child says it is ready, then exits 42 on SIGTERM.
    let ready = sb.path().join("ready");
    let script = format!(
        "trap 'exit 42' TERM; touch {}; while :; do sleep 0.1; done",
        ready.display()
    );
    let mut bedkey = Background(
        sb.command(bedkey_bin())
            .args(["exec", &name, "--proxy", "--", "sh", "-c", &script])
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while !ready.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "child never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    unsafe { libc::kill(bedkey.id() as i32, libc::SIGTERM) };
    let status = bedkey.wait().unwrap();
    assert_eq!(status.code(), Some(42));

    // A child killed by a signal: 128 + its number, as a shell reports it.
    let out = sb
        .bedkey()
        .args(["exec", &name, "--proxy", "--", "sh", "-c", "kill -KILL $$"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(137));
}

#[cfg(unix)]
#[cfg(target_os = "linux")]
#[test]
fn a_child_under_exec_proxy_ends_when_bedkey_is_killed() {
    let sb = Sandbox::new();
    let name = sb.name("pxorphan");
    sb.short_term(&name, "1h", "us-east-1");
    let pidfile = sb.path().join("child.pid");
    let mut bedkey = Background(
        sb.command(bedkey_bin())
            .args(["-q", "exec", &name, "--proxy", "--", "sh", "-c"])
            .arg(format!("echo $$ > '{}'; exec sleep 300", pidfile.display()))
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    let child: i32 = loop {
        if let Some(pid) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            break pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the child did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    bedkey.kill().unwrap();
    bedkey.wait().unwrap();
    // Gone, or a zombie waiting for a reaper: either way not running.
    let running = || {
        std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    };
    let killed = Instant::now();
    while running() && killed.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left = running();
    if left {
        unsafe { libc::kill(child, libc::SIGKILL) };
    }
    assert!(!left, "the child kept running after bedkey was killed");
}

#[test]
fn exec_proxy_gives_the_child_its_own_core_limit_back() {
    let sb = Sandbox::new();
    let name = sb.name("pxcore");
    sb.short_term(&name, "1h", "us-east-1");
    let out = sb
        .command("bash")
        .args([
            "-c",
            &format!(
                "ulimit -c unlimited; exec '{}' exec {name} --proxy -- bash -c 'ulimit -c'",
                bedkey_bin().display()
            ),
        ])
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(stdout(&out).trim(), "unlimited");
}

#[test]
fn proxy_writes_an_env_file_for_a_child_started_elsewhere_and_stops_on_sigterm() {
    if !boto3() {
        return;
    }
    let sb = Sandbox::new();
    let name = sb.name("pxsvc");
    sb.short_term(&name, "1h", "ca-central-1");
    let bedrock = Bedrock::start(&sb, &[], true);
    let env_file = sb.path().join("bedrock.env");
    let ca_file = sb.path().join("certs/bedkey-ca.pem");
    std::fs::create_dir_all(ca_file.parent().unwrap()).unwrap();
    // Relative paths: the variables must name the files absolutely all the same.
    let mut proxy = Background(
        bedrock
            .command(&sb)
            .current_dir(sb.path())
            .args([
                "proxy",
                &name,
                "--env-file",
                "bedrock.env",
                "--ca-file",
                "certs/bedkey-ca.pem",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while !env_file.exists() {
        assert!(started.elapsed() < Duration::from_secs(20), "no env file");
        std::thread::sleep(Duration::from_millis(50));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&env_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let text = std::fs::read_to_string(&env_file).unwrap();
    let vars: Vec<(String, String)> = text
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=value");
            (k.to_string(), v.to_string())
        })
        .collect();
    assert!(
        std::fs::read_to_string(&ca_file)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    let node_ca = vars
        .iter()
        .find(|(k, _)| k == "NODE_EXTRA_CA_CERTS")
        .unwrap();
    assert_eq!(Path::new(&node_ca.1), ca_file);

    // A separate program, with nothing but the env file (and the stand-in's address
    // for the stream handshake).
    let out = sb
        .command("python3")
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .env("STANDIN", &bedrock.url)
        .env("STANDIN_CA", &bedrock.ca)
        .args([CLIENT, "calls", "0"])
        .output()
        .unwrap();
    ok(&out);
    assert_proxied_calls(&json_line(&out), &bedrock, "ca-central-1");

    let bundle = vars
        .iter()
        .find(|(k, _)| k == "AWS_CA_BUNDLE")
        .unwrap()
        .1
        .clone();
    assert!(Path::new(&bundle).exists());
    #[cfg(unix)]
    unsafe {
        libc::kill(proxy.id() as i32, libc::SIGTERM)
    };
    let stopped = Instant::now();
    let status = proxy.wait().unwrap();
    assert!(stopped.elapsed() < Duration::from_secs(12));
    assert_eq!(status.code(), Some(0));
    assert!(!Path::new(&bundle).exists(), "trust files left behind");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut proxy.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!err.contains(&sb.loaded_key(&name)));
}

/// `bedkey proxy` started with `args` (which write the env file `env_file`), and the
/// variables it wrote there once it did.
fn proxy_with_env_file(
    mut command: std::process::Command,
    args: &[&str],
    env_file: &Path,
) -> (Background, Vec<(String, String)>) {
    let proxy = Background(
        command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while !env_file.exists() {
        assert!(started.elapsed() < Duration::from_secs(20), "no env file");
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(env_file).unwrap();
    let vars = text
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=value");
            (k.to_string(), v.to_string())
        })
        .collect();
    (proxy, vars)
}

#[test]
fn ipv6_loopback_and_a_temp_dir_with_a_space_work_end_to_end() {
    if !boto3() {
        return;
    }
    let sb = Sandbox::new();
    let name = sb.name("pxv6");
    sb.short_term(&name, "1h", "eu-west-1");
    let bedrock = Bedrock::start(&sb, &[], true);
    let tmp = sb.path().join("temp dir");
    std::fs::create_dir_all(&tmp).unwrap();
    let env_file = sb.path().join("v6.env");
    let mut command = bedrock.command(&sb);
    command.env("TMPDIR", &tmp);
    let (_proxy, vars) = proxy_with_env_file(
        command,
        &[
            "proxy",
            &name,
            "--listen",
            "[::1]:0",
            "--env-file",
            env_file.to_str().unwrap(),
        ],
        &env_file,
    );
    let var = |k: &str| vars.iter().find(|(n, _)| n == k).unwrap().1.clone();
    assert!(
        var("AWS_ENDPOINT_URL_BEDROCK_RUNTIME").starts_with("https://[::1]:"),
        "{vars:?}"
    );
    assert!(var("AWS_CA_BUNDLE").contains("temp dir"), "{vars:?}");
    let out = sb
        .command("python3")
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .env("STANDIN", &bedrock.url)
        .env("STANDIN_CA", &bedrock.ca)
        .args([CLIENT, "calls", "0"])
        .output()
        .unwrap();
    ok(&out);
    assert_proxied_calls(&json_line(&out), &bedrock, "eu-west-1");

    // --output json with the same temp dir: one object, its paths as they are.
    let mut json = Background(
        sb.command(bedkey_bin())
            .env("TMPDIR", &tmp)
            .args(["proxy", &name, "--listen", "[::1]:0", "--output", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut text = String::new();
    let mut reader = BufReader::new(json.stdout.take().unwrap());
    while !text.trim_end().ends_with('}') || text.matches('{').count() > text.matches('}').count() {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "ended: {text}");
        text.push_str(&line);
    }
    let object: Value = serde_json::from_str(&text).unwrap();
    assert!(
        object["endpoint"]
            .as_str()
            .unwrap()
            .starts_with("https://[::1]:"),
        "{object}"
    );
    assert!(
        object["vars"]["AWS_CA_BUNDLE"]
            .as_str()
            .unwrap()
            .contains("temp dir")
    );
}

#[test]
fn proxy_prints_the_variables_when_no_env_file_is_given() {
    let sb = Sandbox::new();
    let name = sb.name("pxprint");
    sb.short_term(&name, "1h", "us-east-1");
    let mut proxy = Background(
        sb.command(bedkey_bin())
            .args(["proxy", &name])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(proxy.stdout.take().unwrap()).lines();
    let first: Vec<String> = (0..11).map(|_| lines.next().unwrap().unwrap()).collect();
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert!(
        first[0].starts_with("AWS_BEARER_TOKEN_BEDROCK=bedkey-local-"),
        "{first:?}"
    );
    assert!(
        first
            .iter()
            .any(|l| l.starts_with("AWS_ENDPOINT_URL_BEDROCK_RUNTIME=https://127.0.0.1:"))
    );
}

#[test]
fn a_port_in_use_is_exit_2_naming_the_address() {
    let sb = Sandbox::new();
    let name = sb.name("pxport");
    sb.short_term(&name, "1h", "us-east-1");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = sb
        .bedkey()
        .args(["proxy", &name, "--listen", &addr])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(&addr), "{}", stderr(&out));
    assert!(stderr(&out).contains("in use"), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).lines().count(),
        1 + stderr(&out).matches("hint:").count()
    );

    for bad in ["0.0.0.0:8443", "nonsense", "127.0.0.1:99999"] {
        let out = sb
            .bedkey()
            .args(["proxy", &name, "--listen", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
    }
}

#[test]
fn bedrock_unreachable_is_a_502_with_one_line_and_the_proxy_keeps_serving() {
    if !boto3() {
        return;
    }
    let sb = Sandbox::new();
    let name = sb.name("pxdown");
    sb.short_term(&name, "1h", "us-east-1");
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = sb
        .bedkey_with_env_credentials()
        .env(
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            format!("https://127.0.0.1:{port}"),
        )
        .args([
            "exec", &name, "--proxy", "--", "python3", CLIENT, "raw", "2",
        ])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    ok(&out);
    let result = json_line(&out);
    for r in result["results"].as_array().unwrap() {
        assert_eq!(r[0], 502, "{result}");
        let message = r[1].as_str().unwrap();
        assert!(message.contains("cannot reach Bedrock"), "{message}");
        assert!(
            !message.contains('\n') && !message.contains('{'),
            "{message}"
        );
    }
}

#[test]
fn with_credentials_gone_the_cached_key_serves_until_it_expires_then_502() {
    if !boto3() {
        return;
    }
    let sb = Sandbox::new();
    let name = sb.name("pxgone");
    std::fs::write(
        sb.path().join(".aws/credentials"),
        format!("[gone]\naws_access_key_id = {AKID}\naws_secret_access_key = {SECRET}\n"),
    )
    .unwrap();
    ok(&sb
        .bedkey()
        .args([
            "create",
            &name,
            "--short-term",
            "--expires",
            "6s",
            "--region",
            "us-east-1",
            "--profile",
            "gone",
        ])
        .output()
        .unwrap());
    let bedrock = Bedrock::start(&sb, &[], true);
    let out = bedrock
        .bedkey(&sb)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("BEDKEY_MIN_TTL", "3s")
        .env("REMOVE_CREDS", "1")
        .args([
            "exec",
            &name,
            "--proxy",
            "--",
            "python3",
            CLIENT,
            "until-502",
            "30",
        ])
        .timeout(Duration::from_secs(90))
        .output()
        .unwrap();
    ok(&out);
    let result = json_line(&out);
    assert!(
        result["ok_after_removal"].as_u64().unwrap() >= 3,
        "{result}"
    );
    assert_eq!(result["status"], 502, "{result}");
    let message = result["message"].as_str().unwrap();
    assert!(message.contains("no working key"), "{message}");
    assert!(
        message.to_lowercase().contains("credential") || message.contains("profile"),
        "{message}"
    );
    assert!(
        bedrock.seen().iter().all(|s| s.2),
        "an expired key reached Bedrock"
    );
    assert!(stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[test]
fn two_hundred_requests_at_once_are_all_answered_and_share_each_refresh() {
    if !boto3() {
        return;
    }
    let sb = Sandbox::new();
    let name = sb.name("pxburst");
    // A 6-second key refreshed when 3 s remain: rounds of 200 requests for 5 s cross
    // the moment it falls due.
    sb.short_term(&name, "6s", "us-east-1");
    let bedrock = Bedrock::start(&sb, &[], true);
    let out = bedrock
        .bedkey(&sb)
        .env("BEDKEY_MIN_TTL", "3s")
        .args([
            "-v", "exec", &name, "--proxy", "--", "python3", CLIENT, "burst", "200", "5",
        ])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    ok(&out);
    let result = json_line(&out);
    let rounds = result["rounds"].as_u64().unwrap();
    assert_eq!(
        result["statuses"],
        serde_json::json!({"200": 200 * rounds}),
        "{}",
        stderr(&out)
    );
    assert!(
        bedrock.seen().iter().all(|s| s.2),
        "Bedrock got a key it refused"
    );
    // Every load is told under -v: one a refresh, plus the periodic looks. Requests
    // each loading for themselves would make hundreds.
    let loads = stderr(&out).matches("loaded key").count();
    let refreshes = stderr(&out).matches("refreshed short-term key").count();
    assert!(refreshes >= 1, "{}", stderr(&out));
    assert!(loads <= 4, "{loads} loads: {}", stderr(&out));
}

#[test]
fn odd_methods_and_heads_over_8_kib_are_refused_a_broken_body_is_the_clients_fault_and_bearer_is_any_case()
 {
    if !boto3() {
        return;
    }
    let sb = Sandbox::new();
    let name = sb.name("pxodd");
    sb.short_term(&name, "1h", "us-east-1");
    let bedrock = Bedrock::start(&sb, &[], true);
    let out = bedrock
        .bedkey(&sb)
        .args([
            "exec", &name, "--proxy", "--", "python3", CLIENT, "odd", "0",
        ])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    ok(&out);
    let result = json_line(&out);
    assert_eq!(result["trace"], 405, "{result}");
    assert_eq!(result["options"], 405, "{result}");
    assert_eq!(result["lowercase_bearer"], 200, "{result}");
    assert_eq!(result["broken_chunk"], 400, "{result}");
    // Request heads up to 8 KiB pass; a larger one is refused and goes nowhere.
    assert_eq!(result["head_6k"], 200, "{result}");
    assert_eq!(result["head_9k"], 431, "{result}");
    // Only the two good requests reached Bedrock.
    assert_eq!(bedrock.seen().len(), 2, "{:?}", bedrock.seen());
}

#[test]
fn over_http2_every_answer_of_the_proxys_own_reaches_the_client() {
    // curl over HTTP/2, ten fresh connections a case, the body streamed: a refusal
    // the proxy gives while a body is still coming must arrive as its status, not as
    // a stream reset (which curl takes for a failure).
    let sb = Sandbox::new();
    let name = sb.name("pxh2");
    sb.short_term(&name, "1h", "us-east-1");
    for (file, size) in [("small", 40), ("large", 200_000), ("huge", 8_000_000)] {
        std::fs::write(sb.path().join(file), vec![b'a'; size]).unwrap();
    }
    let tries = r#"
        try() { for i in 1 2 3 4 5 6 7 8 9 10; do
            curl -s -o /dev/null -w '%{http_code} ' --http2 --cacert "$NODE_EXTRA_CA_CERTS" \
                -X "$1" -H "Authorization: Bearer $2" --data-binary "@$3" \
                "$AWS_ENDPOINT_URL_BEDROCK_RUNTIME/model/amazon.nova-lite-v1:0/converse"
        done; echo; }
        try POST wrong small; try POST wrong large; try POST wrong huge
        try OPTIONS "$AWS_BEARER_TOKEN_BEDROCK" large
        try POST "$AWS_BEARER_TOKEN_BEDROCK" large
    "#;
    // Bedrock where nothing listens: the right token's requests end in a 502.
    let out = sb
        .bedkey()
        .current_dir(sb.path())
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:9")
        .env("AWS_ENDPOINT_URL_BEDROCK", "http://127.0.0.1:9")
        .args(["-q", "exec", &name, "--proxy", "--", "sh", "-c", tries])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    ok(&out);
    let lines: Vec<String> = stdout(&out).lines().map(|l| l.trim().to_string()).collect();
    let want = |code: &str| [code; 10].join(" ");
    assert_eq!(
        lines,
        vec![
            want("401"),
            want("401"),
            want("401"),
            want("405"),
            want("502")
        ],
        "wrong token (40 B, 200 kB, 8 MB), OPTIONS, Bedrock down"
    );
}

#[cfg(unix)]
#[test]
fn env_and_ca_files_must_be_regular_files_and_different() {
    let sb = Sandbox::new();
    let name = sb.name("pxfiles");
    sb.short_term(&name, "1h", "us-east-1");
    let target = sb.path().join("precious");
    std::fs::write(&target, "keep me").unwrap();
    let link = sb.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let fifo = sb.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (flag, path) in [
        ("--env-file", &link),
        ("--ca-file", &link),
        ("--env-file", &fifo),
        ("--ca-file", &sb.path().to_path_buf()),
    ] {
        let out = sb
            .bedkey()
            .args(["proxy", &name, flag])
            .arg(path)
            .timeout(Duration::from_secs(20))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{flag} {}: {}",
            path.display(),
            stderr(&out)
        );
        assert!(stderr(&out).contains(flag), "{}", stderr(&out));
    }
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    let out = sb
        .bedkey()
        .current_dir(sb.path())
        .args(["proxy", &name, "--env-file", "same", "--ca-file", "./same"])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!sb.path().join("same").exists());
    // The same file through `..` or a symlinked directory.
    std::fs::create_dir(sb.path().join("d")).unwrap();
    std::os::unix::fs::symlink(sb.path().join("d"), sb.path().join("dl")).unwrap();
    for (env, ca) in [("x", "d/../x"), ("d/x", "dl/x")] {
        let out = sb
            .bedkey()
            .current_dir(sb.path())
            .args(["proxy", &name, "--env-file", env, "--ca-file", ca])
            .timeout(Duration::from_secs(20))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{env} {ca}: {}", stderr(&out));
    }
    // A refused run writes nothing: a CA path a dotenv line cannot hold.
    std::fs::write(sb.path().join("pre.pem"), "precious").unwrap();
    let out = sb
        .bedkey()
        .current_dir(sb.path())
        .args([
            "proxy",
            &name,
            "--env-file",
            "e.env",
            "--ca-file",
            "c$d.pem",
        ])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--ca-file"), "{}", stderr(&out));
    assert!(!sb.path().join("c$d.pem").exists());
    assert!(!sb.path().join("e.env").exists());
}

#[test]
fn an_unspecified_listen_address_is_refused_in_any_spelling() {
    let sb = Sandbox::new();
    let name = sb.name("pxany");
    sb.short_term(&name, "1h", "us-east-1");
    for addr in [
        "0.0.0.0:0",
        "[::]:0",
        "[::ffff:0.0.0.0]:0",
        "255.255.255.255:0",
        "224.0.0.1:0",
    ] {
        let out = sb
            .bedkey()
            .args(["proxy", &name, "--listen", addr])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{addr}: {}", stderr(&out));
    }
}

#[test]
fn a_missing_runtime_dir_falls_back_to_the_temp_dir() {
    let sb = Sandbox::new();
    let name = sb.name("pxrun");
    sb.short_term(&name, "1h", "us-east-1");
    let out = sb
        .bedkey()
        .env("XDG_RUNTIME_DIR", sb.path().join("not-there"))
        .args([
            "exec",
            &name,
            "--proxy",
            "--",
            "sh",
            "-c",
            "test -s \"$AWS_CA_BUNDLE\"",
        ])
        .output()
        .unwrap();
    ok(&out);
}

#[cfg(unix)]
#[test]
fn proxy_drains_requests_in_flight_and_a_second_signal_ends_the_wait() {
    if !boto3() {
        return;
    }
    let sb = Sandbox::new();
    let name = sb.name("pxdrain");
    sb.short_term(&name, "1h", "us-east-1");
    let bedrock = Bedrock::start(&sb, &[], true);
    let env_file = sb.path().join("drain.env");
    let mut proxy = Background(
        bedrock
            .command(&sb)
            .args(["proxy", &name, "--env-file"])
            .arg(&env_file)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while !env_file.exists() {
        assert!(started.elapsed() < Duration::from_secs(20), "no env file");
        std::thread::sleep(Duration::from_millis(50));
    }
    let vars: Vec<(String, String)> = std::fs::read_to_string(&env_file)
        .unwrap()
        .lines()
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .unwrap()
        })
        .collect();
    // A stream in flight: the stand-in holds it after the first event.
    let mut client = Background(
        sb.command("python3")
            .envs(vars.iter().map(|(k, v)| (k, v)))
            .args([CLIENT, "hold", "30"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(client.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "first");
    unsafe { libc::kill(proxy.id() as i32, libc::SIGTERM) };
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        proxy.try_wait().unwrap().is_none(),
        "stopped without waiting for the stream"
    );
    let hurried = Instant::now();
    unsafe { libc::kill(proxy.id() as i32, libc::SIGQUIT) };
    let status = proxy.wait().unwrap();
    assert!(hurried.elapsed() < Duration::from_secs(5));
    assert_eq!(status.code(), Some(0));
    assert!(!env_file.exists(), "the env file outlived the proxy");
    let _ = client.kill();
    let _ = client.wait();
}

#[test]
fn proxy_prints_one_json_object_with_output_json() {
    let sb = Sandbox::new();
    let name = sb.name("pxjson");
    sb.short_term(&name, "1h", "eu-central-1");
    let mut proxy = Background(
        sb.command(bedkey_bin())
            .args(["--output", "json", "proxy", &name])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut text = String::new();
    let mut lines = BufReader::new(proxy.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        text.push_str(&line);
        if line == "}" {
            break;
        }
    }
    let _ = proxy.kill();
    let _ = proxy.wait();
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}"));
    assert_eq!(v["name"], name.as_str());
    assert_eq!(v["region"], "eu-central-1");
    let endpoint = v["endpoint"].as_str().unwrap();
    assert_eq!(v["vars"]["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"], endpoint);
    assert_eq!(v["vars"]["NODE_EXTRA_CA_CERTS"], v["ca_file"]);
    assert!(
        v["vars"]["AWS_BEARER_TOKEN_BEDROCK"]
            .as_str()
            .unwrap()
            .starts_with("bedkey-local-")
    );
}
