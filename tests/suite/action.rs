//! The GitHub Action (`action.yml`): its shell steps run here against a stub of the
//! runner's environment (GITHUB_ENV, GITHUB_OUTPUT, GITHUB_PATH files, no OIDC token
//! variables), with the bedkey under test on PATH.

use std::path::{Path, PathBuf};

use crate::support::*;

const ACTION: &str = env!("CARGO_MANIFEST_DIR");

struct Runner {
    sb: Sandbox,
    env_file: PathBuf,
    output_file: PathBuf,
    path_file: PathBuf,
}

impl Runner {
    fn new() -> Runner {
        let sb = Sandbox::new();
        let env_file = sb.path().join("github_env");
        let output_file = sb.path().join("github_output");
        let path_file = sb.path().join("github_path");
        for f in [&env_file, &output_file, &path_file] {
            std::fs::write(f, "").unwrap();
        }
        Runner {
            sb,
            env_file,
            output_file,
            path_file,
        }
    }

    /// A step's script as the runner runs it: bash, the action's env, GITHUB_* set.
    fn step(&self, script: &str, env: &[(&str, &str)]) -> std::process::Output {
        let bin_dir = bedkey_bin().parent().unwrap().to_path_buf();
        let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
        let mut cmd = self.sb.command("bash");
        cmd.arg(Path::new(ACTION).join("action").join(script))
            .env("PATH", path)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_ENV", &self.env_file)
            .env("GITHUB_OUTPUT", &self.output_file)
            .env("GITHUB_PATH", &self.path_file)
            .env("GITHUB_ACTION_PATH", ACTION)
            .env("RUNNER_TEMP", self.sb.path())
            .env_remove("BEDKEY_STORE")
            .env_remove("BEDKEY_PASSPHRASE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn exported(&self) -> String {
        std::fs::read_to_string(&self.env_file).unwrap()
    }
}

#[test]
fn action_yml_runs_the_two_scripts_with_inputs_passed_through_env() {
    let yml = std::fs::read_to_string(Path::new(ACTION).join("action.yml")).unwrap();
    assert!(yml.contains("using: composite"));
    for script in ["install.sh", "mint.sh"] {
        assert!(
            yml.contains(&format!("\"$GITHUB_ACTION_PATH/action/{script}\"")),
            "{script}"
        );
    }
    // Inputs reach the scripts as variables, never pasted into a script's text.
    for line in yml.lines().filter(|l| l.trim_start().starts_with("run:")) {
        assert!(!line.contains("${{"), "{line}");
    }
    for input in ["region", "expires", "version"] {
        assert!(
            yml.contains(&format!("${{{{ inputs.{input} }}}}")),
            "{input}"
        );
    }
}

#[test]
fn without_aws_credentials_or_an_oidc_token_the_action_fails_with_one_line() {
    let runner = Runner::new();
    let out = runner.step(
        "mint.sh",
        &[("BEDKEY_REGION", "us-east-1"), ("BEDKEY_EXPIRES", "1h")],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with("::error title=bedkey::no AWS credentials"),
        "{text}"
    );
    assert!(text.contains("id-token: write"), "{text}");
    assert!(text.contains("configure-aws-credentials"), "{text}");
    assert_eq!(runner.exported(), "");

    // With an OIDC token available but no credentials, the other half of the advice.
    let out = runner.step(
        "mint.sh",
        &[
            ("BEDKEY_REGION", "us-east-1"),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "http://127.0.0.1:9/token"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "x"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out).lines().count(), 1);
    assert!(stdout(&out).contains("run aws-actions/configure-aws-credentials before this step"));
}

#[test]
fn with_credentials_the_action_masks_and_exports_a_key_and_its_region() {
    let runner = Runner::new();
    let out = runner.step(
        "mint.sh",
        &[
            ("AWS_ACCESS_KEY_ID", AKID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_REGION", "eu-north-1"),
            ("BEDKEY_EXPIRES", "30m"),
        ],
    );
    ok(&out);
    let exported = runner.exported();
    let key = exported
        .lines()
        .find_map(|l| l.strip_prefix("AWS_BEARER_TOKEN_BEDROCK="))
        .expect("key exported");
    assert!(key.starts_with("bedrock-api-key-"));
    assert_eq!(key_param(key, "X-Amz-Expires").as_deref(), Some("1800"));
    assert!(exported.contains("\nAWS_REGION=eu-north-1\nAWS_DEFAULT_REGION=eu-north-1\n"));
    // Masked before anything else could show it; never printed otherwise.
    let text = stdout(&out);
    assert!(text.starts_with(&format!("::add-mask::{key}\n")), "{text}");
    assert_eq!(text.matches(key).count(), 1);
    assert!(!stderr(&out).contains(key));
    let output = std::fs::read_to_string(&runner.output_file).unwrap();
    assert!(output.starts_with("expires-at=20"), "{output}");
}

#[test]
fn bad_inputs_fail_the_action_with_one_line() {
    let runner = Runner::new();
    let creds = [
        ("AWS_ACCESS_KEY_ID", AKID),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
    ];
    let mut env = creds.to_vec();
    env.extend([("BEDKEY_REGION", "us-east-1"), ("BEDKEY_EXPIRES", "13h")]);
    let out = runner.step("mint.sh", &env);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
    assert!(stdout(&out).contains("13h"), "{}", stdout(&out));

    let out = runner.step("mint.sh", &creds);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("no region"), "{}", stdout(&out));

    for version in [
        "1.0; rm -rf /",
        "x\n::add-mask::foo\n::set-output name=a::b",
    ] {
        let out = runner.step("install.sh", &[("BEDKEY_VERSION", version)]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
        assert!(stdout(&out).contains("not a release version"));
        assert!(!stdout(&out).contains("add-mask"));
    }
    // Plain HTTP only to 127.0.0.1 itself, not to a host behind a user part.
    let out = runner.step(
        "install.sh",
        &[
            ("BEDKEY_VERSION", "0.2.0"),
            (
                "BEDKEY_INSTALLER_GITHUB_BASE_URL",
                "http://127.0.0.1:1@example.com",
            ),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("https://"), "{}", stdout(&out));
    assert_eq!(std::fs::read_to_string(&runner.path_file).unwrap(), "");

    // An input that looks like a flag stays a value, and is refused as one.
    let mut env = creds.to_vec();
    env.extend([("BEDKEY_REGION", "us-east-1"), ("BEDKEY_EXPIRES", "--help")]);
    let out = runner.step("mint.sh", &env);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("--help"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("required"), "{}", stdout(&out));
    assert_eq!(runner.exported(), "");

    // A region input shaped like a flag is no region: nothing is exported.
    let mut env = creds.to_vec();
    env.extend([("BEDKEY_REGION", "--help"), ("BEDKEY_EXPIRES", "1h")]);
    let out = runner.step("mint.sh", &env);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("not an AWS region"),
        "{}",
        stdout(&out)
    );
    assert_eq!(runner.exported(), "");
}

#[cfg(unix)]
#[test]
fn on_windows_the_installer_url_reaches_powershell_intact() {
    use std::os::unix::fs::PermissionsExt;
    let runner = Runner::new();
    // A stand-in for powershell on PATH that records what it was given.
    let bin = runner.sb.path().join("stub-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let record = runner.sb.path().join("powershell.txt");
    std::fs::write(
        bin.join("powershell"),
        format!(
            "#!/bin/sh
{{ printf '%s\\n' \"$@\"; printf 'URL=%s\\n' \"$BEDKEY_INSTALLER_URL\"; }} > '{}'\n",
            record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        bin.join("powershell"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let mirror = "https://mirror.example/o'brien;$(id)";
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let _ = runner.step(
        "install.sh",
        &[
            ("RUNNER_OS", "Windows"),
            ("BEDKEY_VERSION", "0.2.0"),
            ("BEDKEY_INSTALLER_GITHUB_BASE_URL", mirror),
            ("PATH", &path),
        ],
    );
    let seen = std::fs::read_to_string(&record).unwrap();
    let url = format!("{mirror}/bedkey/bedkey/releases/download/v0.2.0/bedkey-installer.ps1");
    assert!(seen.contains(&format!("URL={url}\n")), "{seen}");
    // The command text PowerShell runs holds no part of the URL.
    let command = seen.lines().skip_while(|l| *l != "-Command").nth(1);
    assert_eq!(
        command,
        Some("irm $env:BEDKEY_INSTALLER_URL | iex"),
        "{seen}"
    );
}

#[cfg(unix)]
#[test]
fn the_project_scripts_wait_for_the_apt_lock() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    // A stand-in apt-get that records its arguments.
    let bin = sb.path().join("stub-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let record = sb.path().join("apt.txt");
    std::fs::write(
        bin.join("apt-get"),
        format!("#!/bin/sh\necho \"$*\" >> '{}'\n", record.display()),
    )
    .unwrap();
    std::fs::set_permissions(bin.join("apt-get"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = sb
        .command(Path::new(ACTION).join("scripts/apt-install"))
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .args(["pkg-a", "pkg-b"])
        .output()
        .unwrap();
    if !out.status.success() {
        // Not root and no passwordless sudo: nothing to check here.
        eprintln!("skipped: {}", stderr(&out));
        return;
    }
    let calls = std::fs::read_to_string(&record).unwrap();
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(lines.len(), 2, "{calls}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains("-o DPkg::Lock::Timeout=600")),
        "{calls}"
    );
    assert!(
        lines[1].contains("install") && lines[1].ends_with("pkg-a pkg-b"),
        "{calls}"
    );
    // Both scripts that install packages go through it.
    for script in ["scripts/install-test-deps", "scripts/cross-check"] {
        let text = std::fs::read_to_string(Path::new(ACTION).join(script)).unwrap();
        assert!(text.contains("apt-install"), "{script}");
        assert!(!text.contains("apt-get install"), "{script}");
    }
}
