//! The TLS stand-in for Bedrock (`tests/server/bedrock_server.py`) as tests use it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command as Std, Stdio};

use serde_json::Value;

use super::*;

const SERVER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/server/bedrock_server.py"
);

/// The TLS stand-in for Bedrock; stops when dropped.
pub struct Bedrock {
    child: Child,
    pub url: String,
    pub ca: PathBuf,
    pub log: PathBuf,
}

impl Bedrock {
    /// Accepting the keys in `keys`, and any unexpired short-term key when
    /// `short_term`.
    pub fn start(sb: &Sandbox, keys: &[&str], short_term: bool) -> Bedrock {
        Bedrock::start_with(sb, keys, short_term, true)
    }

    /// As `start`; with `hold` false, streams are sent whole (for a client that
    /// cannot tell the stand-in to go on, such as Claude Code).
    pub fn start_with(sb: &Sandbox, keys: &[&str], short_term: bool, hold: bool) -> Bedrock {
        let ca = sb.path().join("bedrock-ca.pem");
        let log = sb.path().join("bedrock.log");
        let expect = sb.path().join("bedrock-keys");
        std::fs::write(&expect, keys.join("\n")).unwrap();
        let mut child = Std::new("python3")
            .arg(SERVER)
            .arg("--cert")
            .arg(&ca)
            .arg("--log")
            .arg(&log)
            .arg("--expect-key-file")
            .arg(&expect)
            .args(short_term.then_some("--accept-short-term"))
            .args((!hold).then_some("--no-hold"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .expect("stand-in started")
            .to_string();
        Bedrock {
            child,
            url,
            ca,
            log,
        }
    }

    /// Every request it got: (path, Authorization, accepted).
    pub fn seen(&self) -> Vec<(String, String, bool)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                (
                    v["path"].as_str().unwrap().to_string(),
                    v["authorization"].as_str().unwrap().to_string(),
                    v["accepted"].as_bool().unwrap(),
                )
            })
            .collect()
    }

    /// Every request it got, whole: method, host (runtime, control or mantle when the
    /// request came through `with_hosts`' endpoints), path, both key headers.
    pub fn requests(&self) -> Vec<Request> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                Request {
                    method: text("method"),
                    host: text("host"),
                    path: text("path"),
                    authorization: text("authorization"),
                    x_api_key: text("x_api_key"),
                    workspace: text("workspace"),
                    accepted: v["accepted"].as_bool().unwrap(),
                }
            })
            .collect()
    }

    /// `command` with one endpoint per host (`/host-runtime`, `/host-control`,
    /// `/host-mantle`, `/host-platform`), so the stand-in answers each host's operations only and
    /// records which host each request reached.
    pub fn with_hosts(&self, sb: &Sandbox) -> Std {
        let mut cmd = self.command(sb);
        cmd.env(
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            format!("{}/host-runtime", self.url),
        )
        .env(
            "AWS_ENDPOINT_URL_BEDROCK",
            format!("{}/host-control", self.url),
        )
        .env(
            "AWS_ENDPOINT_URL_BEDROCK_MANTLE",
            format!("{}/host-mantle", self.url),
        )
        .env(
            "AWS_ENDPOINT_URL_AWS_EXTERNAL_ANTHROPIC",
            format!("{}/host-platform", self.url),
        );
        cmd
    }

    /// bedkey pointed at this stand-in (both planes) and trusting its CA, with AWS
    /// credentials in its environment.
    pub fn command(&self, sb: &Sandbox) -> Std {
        let mut cmd = sb.command(bedkey_bin());
        cmd.env("AWS_ACCESS_KEY_ID", AKID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &self.url)
            .env("AWS_ENDPOINT_URL_BEDROCK", &self.url)
            .env("AWS_CA_BUNDLE", &self.ca)
            .env("STANDIN", &self.url)
            .env("STANDIN_CA", &self.ca);
        cmd
    }

    pub fn bedkey(&self, sb: &Sandbox) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.command(sb))
    }
}

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub host: String,
    pub path: String,
    pub authorization: String,
    pub x_api_key: String,
    /// `anthropic-workspace-id`, empty when none was sent.
    pub workspace: String,
    pub accepted: bool,
}

impl Drop for Bedrock {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether Python with boto3 (from the IAM test server's requirements) is here.
pub fn boto3() -> bool {
    let ok = Std::new("python3")
        .args(["-c", "import boto3, cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(!required("BEDKEY_TEST_IAM_SERVER"), "boto3 is missing");
        eprintln!("skipped: python3 with boto3 is not installed");
    }
    ok
}
