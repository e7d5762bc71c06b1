//! What every end-to-end test needs: a bedkey process with a clean, private
//! environment, so that nothing from the developer's machine (AWS credentials, a real
//! keyring, GitHub Actions variables) leaks into a test or out of one.
#![allow(dead_code)]

pub mod bedrock;
pub mod iam;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use base64::Engine as _;
use tempfile::TempDir;

pub const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
pub const PASSPHRASE: &str = "test passphrase";

/// The store the key tests run on: the real Secret Service when the test script has
/// started one (then it must work), else the encrypted file, which works anywhere.
pub fn store_under_test() -> &'static str {
    if required("BEDKEY_TEST_SECRET_SERVICE") {
        "keyring"
    } else {
        "file"
    }
}

/// Whether the test script promised this part (then its tests must run, not skip).
pub fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

/// Where the test script installs the real Python clients (tests/clients).
pub const CLIENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients");

/// The virtualenv's Python with the pinned clients, where the test script made it.
pub fn clients_python() -> Option<PathBuf> {
    let python = PathBuf::from(CLIENTS).join(".venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    assert!(
        !required("BEDKEY_TEST_CLIENTS"),
        "the Python clients are missing (scripts/install-test-deps)"
    );
    eprintln!("skipped: the Python clients are not installed (scripts/install-test-deps)");
    None
}

/// A long-term key as IAM makes them: `ABSK` + base64(`alias:secret`). The secret
/// is chosen so the base64 holds `+`, `/` and `=`.
pub fn long_term_key(alias: &str) -> String {
    let body = base64::engine::general_purpose::STANDARD
        .encode(format!("{alias}:\u{fb}\u{ff}secret>>?/+{alias}"));
    format!("ABSK{body}")
}

pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// A private home: config files, AWS files, bedkey's config dir.
pub struct Sandbox {
    pub dir: TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".aws")).unwrap();
        std::fs::write(dir.path().join(".aws/config"), "").unwrap();
        std::fs::write(dir.path().join(".aws/credentials"), "").unwrap();
        Sandbox { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn aws_config(&self, text: &str) {
        std::fs::write(self.path().join(".aws/config"), text).unwrap();
    }

    /// A command with no AWS credentials, instance metadata off, and every file
    /// bedkey could read inside the sandbox.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
        let mut cmd = std::process::Command::new(program);
        cmd.env_clear();
        // The D-Bus address reaches the test's private Secret Service; the kernel
        // session keyring is inherited without any variable.
        for keep in [
            "PATH",
            "SYSTEMROOT",
            "TMPDIR",
            "LANG",
            "DBUS_SESSION_BUS_ADDRESS",
        ] {
            if let Some(v) = std::env::var_os(keep) {
                cmd.env(keep, v);
            }
        }
        cmd.env("HOME", self.path())
            .env("USERPROFILE", self.path())
            .env("AWS_CONFIG_FILE", self.path().join(".aws/config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.path().join(".aws/credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("BEDKEY_CONFIG_DIR", self.path().join("bedkey"))
            .env("BEDKEY_STORE", store_under_test())
            .env("BEDKEY_PASSPHRASE", PASSPHRASE);
        cmd
    }

    /// bedkey in the sandbox.
    pub fn bedkey(&self) -> Command {
        Command::from_std(self.command(bedkey_bin()))
    }

    /// A key name no other test uses: tests share one keyring.
    pub fn name(&self, base: &str) -> String {
        let tag = self
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(['.', '_'], "");
        format!("{base}-{tag}")
    }

    pub fn keys_json(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.path().join("bedkey/keys.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// The key `bedkey env NAME` loads (asserting that it loads).
    pub fn loaded_key(&self, name: &str) -> String {
        let out = self
            .bedkey()
            .args(["env", name, "--shell", "json"])
            .output()
            .unwrap();
        ok(&out);
        let vars: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        vars["AWS_BEARER_TOKEN_BEDROCK"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Whether bedkey has no key by this name (`env` exits 3).
    pub fn forgot(&self, name: &str) -> bool {
        self.bedkey()
            .args(["env", name])
            .output()
            .unwrap()
            .status
            .code()
            == Some(3)
    }

    /// Import `key` under `name`, through stdin.
    pub fn import(&self, name: &str, key: &str, args: &[&str]) -> std::process::Output {
        self.bedkey()
            .args(["import", name])
            .args(args)
            .write_stdin(key.to_string())
            .output()
            .unwrap()
    }

    /// A short-term entry `name` for `region`, minted from static credentials.
    pub fn short_term(&self, name: &str, expires: &str, region: &str) {
        ok(&self
            .bedkey_with_env_credentials()
            .args([
                "create",
                name,
                "--short-term",
                "--expires",
                expires,
                "--region",
                region,
            ])
            .output()
            .unwrap());
    }

    /// bedkey with static credentials in the environment.
    pub fn bedkey_with_env_credentials(&self) -> Command {
        let mut cmd = self.bedkey();
        cmd.env("AWS_ACCESS_KEY_ID", AKID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET);
        cmd
    }

    /// A `credential_process` profile `name` (region us-east-1) added to the sandbox's
    /// AWS config, whose program is the shell script `body` (`session_credentials`
    /// writes the usual one). Returns the script, for a test to change its answer.
    #[cfg(unix)]
    pub fn script_profile(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let script = self.path().join(format!("creds-{name}.sh"));
        std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = std::fs::read_to_string(self.path().join(".aws/config")).unwrap();
        self.aws_config(&format!(
            "{config}\n[profile {name}]\ncredential_process = {}\nregion = us-east-1\n",
            script.display()
        ));
        script
    }

    /// A profile whose session credentials expire at `expiration` (RFC 3339): what
    /// SSO or assumed roles hand out.
    #[cfg(unix)]
    pub fn expiring_profile(&self, name: &str, expiration: &str) -> PathBuf {
        self.script_profile(name, &session_credentials(expiration))
    }
}

/// A shell line printing what a `credential_process` prints: session credentials
/// (with a session token holding `+`, `/` and `=`) that expire at `expiration`.
pub fn session_credentials(expiration: &str) -> String {
    format!(
        "echo '{{\"Version\": 1, \"AccessKeyId\": \"ASIAEXAMPLESESSION1\", \
         \"SecretAccessKey\": \"{SECRET}\", \"SessionToken\": \"FwoGZXIvYXdzE+/token==\", \
         \"Expiration\": \"{expiration}\"}}'"
    )
}

pub fn bedkey_bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("bedkey")
}

/// The query string a short-term key carries, decoded from base64.
pub fn key_url(key: &str) -> String {
    let key = key.trim();
    let body = key
        .strip_prefix("bedrock-api-key-")
        .or_else(|| key.strip_prefix("aws-external-anthropic-api-key-"))
        .expect("short-term key");
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap(),
    )
    .unwrap()
}

/// One query parameter of a short-term key.
pub fn key_param(key: &str, name: &str) -> Option<String> {
    key_url(key)
        .split('&')
        .find_map(|p| p.strip_prefix(&format!("{name}=")).map(str::to_string))
}

/// Assert a command succeeded, showing its exit code and stderr if not.
pub fn ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        stderr(out)
    );
}

pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// RFC 3339, `offset` seconds from now.
pub fn rfc3339_from_now(offset: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    aws_smithy_types::DateTime::from_secs(now + offset)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap()
}

/// A minimal HTTP/1.1 exchange with a loopback server: (status, body).
pub fn http(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
