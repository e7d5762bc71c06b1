//! Faults and hostile input, end to end with the real binary: each test reproduces
//! something a red-team pass or a first run found, and checks what the user sees.
//! Most are about Unix mechanisms (signals, modes, symlinks, credential scripts); on
//! Windows the helpers they share go unused.
#![cfg_attr(not(unix), allow(unused_imports, dead_code))]

use std::process::Stdio;

use crate::support::*;

/// The official generator's key from the shared test vector.
fn vector_key() -> String {
    let vector = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/short-term-a.txt"
    ))
    .unwrap();
    vector
        .lines()
        .find_map(|l| l.strip_prefix("key="))
        .unwrap()
        .to_string()
}

/// A short-term key made from a (doctored) presigned URL.
fn short_term_key(url: &str) -> String {
    use base64::Engine as _;
    format!(
        "bedrock-api-key-{}",
        base64::engine::general_purpose::STANDARD.encode(url)
    )
}

/// A short-term entry `name` minted with a profile `profile` whose credentials
/// expire `seconds` from now; returns the profile's script, for the test to change.
#[cfg(unix)]
fn short_term_entry(sb: &Sandbox, name: &str, profile: &str, seconds: i64) -> std::path::PathBuf {
    let script = sb.script_profile(profile, &session_credentials(&rfc3339_from_now(seconds)));
    ok(&sb
        .bedkey()
        .args(["--profile", profile, "create", name, "--short-term"])
        .output()
        .unwrap());
    script
}

#[cfg(unix)]
#[test]
fn a_credential_helper_never_inherits_the_passphrase() {
    let sb = Sandbox::new();
    let seen = sb.path().join("helper-env.txt");
    sb.script_profile(
        "helper",
        &format!(
            "env > '{}'\n{}",
            seen.display(),
            session_credentials(&rfc3339_from_now(3600))
        ),
    );
    let name = sb.name("helper");
    ok(&sb
        .bedkey()
        .args([
            "--store",
            "file",
            "--profile",
            "helper",
            "create",
            &name,
            "--short-term",
        ])
        .output()
        .unwrap());
    let env = std::fs::read_to_string(&seen).expect("the helper ran");
    assert!(!env.contains("BEDKEY_PASSPHRASE"), "{env}");
    assert!(!env.contains(PASSPHRASE), "{env}");
}

#[cfg(unix)]
#[test]
fn a_still_valid_short_term_key_is_used_when_refreshing_fails() {
    let sb = Sandbox::new();
    let name = sb.name("stalevalid");
    // Credentials that expire in two minutes cap the key at two minutes: inside the
    // five-minute margin, so every load wants to refresh it.
    let script = short_term_entry(&sb, &name, "brief", 120);
    let cached = sb.keys_json()["keys"][&name]["masked"].clone();
    std::fs::write(&script, "#!/bin/sh\necho 'no session' >&2\nexit 1\n").unwrap();
    let out = sb
        .bedkey()
        .args(["env", &name, "--shell", "json"])
        .output()
        .unwrap();
    ok(&out);
    let err = stderr(&out);
    assert!(err.contains("could not refresh short-term key"), "{err}");
    assert!(err.contains("using the cached key"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let vars: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        vars["AWS_BEARER_TOKEN_BEDROCK"]
            .as_str()
            .unwrap()
            .starts_with("bedrock-api-key-")
    );
    assert_eq!(sb.keys_json()["keys"][&name]["masked"], cached);

    // exec runs the program too.
    let out = sb
        .bedkey()
        .args(["exec", &name, "--", "true"])
        .output()
        .unwrap();
    ok(&out);
}

#[cfg(unix)]
#[test]
fn an_expired_short_term_key_that_cannot_be_refreshed_is_an_error() {
    let sb = Sandbox::new();
    let name = sb.name("dead");
    let script = short_term_entry(&sb, &name, "tiny", 2);
    std::fs::write(&script, "#!/bin/sh\nexit 1\n").unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let out = sb.bedkey().args(["env", &name]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[cfg(unix)]
#[test]
fn a_hanging_credential_source_never_hangs_a_shell_start() {
    let sb = Sandbox::new();
    let name = sb.name("hang");
    let script = short_term_entry(&sb, &name, "slow", 120);
    std::fs::write(&script, "#!/bin/sh\nexec sleep 120\n").unwrap();
    let mut child = sb
        .command(bedkey_bin())
        .args(["env", &name])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Not a timing assertion: a generous bound that only a hang would cross.
    let finished =
        wait_timeout::ChildExt::wait_timeout(&mut child, std::time::Duration::from_secs(60))
            .unwrap();
    if finished.is_none() {
        let _ = child.kill();
        panic!("bedkey env hung on a credential source that never answers");
    }
    let out = child.wait_with_output().unwrap();
    ok(&out);
    assert!(
        stderr(&out).contains("took more than 5s"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("bedrock-api-key-"));
}

#[test]
fn a_short_lifetime_is_not_minted_again_on_every_use() {
    let sb = Sandbox::new();
    let name = sb.name("brief");
    ok(&sb
        .bedkey_with_env_credentials()
        .args([
            "create",
            &name,
            "--short-term",
            "--expires",
            "60",
            "--region",
            "us-east-1",
        ])
        .output()
        .unwrap());
    // The default 5-minute margin is capped at half of the 60 s lifetime.
    for _ in 0..2 {
        let out = sb
            .bedkey_with_env_credentials()
            .args(["env", &name])
            .output()
            .unwrap();
        ok(&out);
        assert!(!stderr(&out).contains("refreshed"), "{}", stderr(&out));
    }
}

#[test]
fn an_out_of_range_min_ttl_is_a_usage_error() {
    let sb = Sandbox::new();
    let name = sb.name("ttl");
    ok(&sb.import(
        &name,
        &long_term_key("BedrockAPIKey-t-at-123456789012"),
        &["--region", "us-east-1"],
    ));
    for bad in ["18446744073709551615", "13h", "99999999999999999999"] {
        let out = sb
            .bedkey()
            .env("BEDKEY_MIN_TTL", bad)
            .args(["env", &name])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert!(stderr(&out).contains("BEDKEY_MIN_TTL"), "{bad}");
    }
}

#[cfg(unix)]
#[test]
fn a_full_or_closed_stderr_never_aborts_a_command_that_worked() {
    let sb = Sandbox::new();
    let name = sb.name("full");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    // No region: import warns on stderr, which cannot be written.
    let out = sb
        .command(bedkey_bin())
        .args(["import", &name])
        .stdin(Stdio::piped())
        .stderr(full)
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(long_term_key("BedrockAPIKey-f-at-123456789012").as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "killed by a signal: {:?}",
        out.status
    );
    assert_eq!(sb.keys_json()["keys"][&name]["kind"], "long-term");

    // A reader that goes away early (`| head -1`) is not an error.
    ok(&sb.import(
        &sb.name("second"),
        &long_term_key("BedrockAPIKey-g-at-123456789012"),
        &["--region", "us-east-1"],
    ));
    let out = sb
        .command("bash")
        .args([
            "-c",
            &format!(
                "set -o pipefail; '{}' list | head -1",
                bedkey_bin().display()
            ),
        ])
        .output()
        .unwrap();
    ok(&out);
}

#[test]
fn import_refuses_input_far_longer_than_a_key() {
    let sb = Sandbox::new();
    let name = sb.name("huge");
    let huge = format!("ABSK{}", "A".repeat(100 * 1024 * 1024));
    let out = sb
        .bedkey()
        .args(["import", &name])
        .write_stdin(huge)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("longer than 16 KiB"),
        "{}",
        stderr(&out)
    );
    assert!(sb.forgot(&name));
}

#[test]
fn a_key_with_escape_sequences_in_it_is_malformed_and_never_echoed() {
    let sb = Sandbox::new();
    let url = key_url(&vector_key());
    let evil_url = url.replace("us-west-2", "%1B%5D52%3Bc%3BZXZpbA%3D%3D%07%24%28id%29");
    let evil = short_term_key(&evil_url);
    for args in [vec!["inspect", "-"], vec!["import", "evil"]] {
        let out = sb
            .bedkey()
            .args(&args)
            .write_stdin(evil.clone())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let all = [out.stdout.clone(), out.stderr.clone()].concat();
        assert!(
            !all.contains(&0x1b),
            "{args:?}: an escape reached the terminal"
        );
        assert!(!String::from_utf8_lossy(&all).contains("$(id)"), "{args:?}");
    }
    assert!(sb.forgot("evil"));
}

#[test]
fn a_key_signed_in_year_9999_is_called_malformed() {
    let sb = Sandbox::new();
    let url = key_url(&vector_key());
    let late = url
        .replace("20250715T050000Z", "99991231T235959Z")
        .replace("%2F20250715%2F", "%2F99991231%2F");
    let late = short_term_key(&late);
    let out = sb
        .bedkey()
        .args(["inspect", "-"])
        .write_stdin(late)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("not a valid Bedrock API key"), "{err}");
    assert!(!err.contains("is not a date"), "{err}");
}

#[test]
fn names_that_look_like_flags_are_refused_but_old_ones_can_be_removed() {
    let sb = Sandbox::new();
    let key = long_term_key("BedrockAPIKey-d-at-123456789012");
    let out = sb
        .bedkey()
        .args(["import", "--", "-x"])
        .write_stdin(key.clone())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("must not start with '-'"),
        "{}",
        stderr(&out)
    );
    let out = sb
        .bedkey_with_env_credentials()
        .args([
            "create",
            "--short-term",
            "--region",
            "us-east-1",
            "--",
            "-y",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // A key an older bedkey stored under such a name goes with `remove -- -x`.
    let legacy = sb.name("legacy");
    ok(&sb.import(&legacy, &key, &["--region", "us-east-1"]));
    let path = sb.path().join("bedkey/keys.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace(&format!("\"{legacy}\""), "\"-x\"")).unwrap();
    let out = sb
        .bedkey()
        .args(["remove", "--yes", "--force", "--", "-x"])
        .output()
        .unwrap();
    ok(&out);
    assert!(sb.keys_json()["keys"].get("-x").is_none());
}

#[test]
fn a_missing_argument_is_named_in_the_error() {
    let sb = Sandbox::new();
    let out = sb.bedkey().args(["remove"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with(
            "bedkey: error: the following required arguments were not provided: <NAME>"
        ),
        "{err}"
    );
    assert!(err.lines().count() <= 3, "{err}");
}

#[cfg(unix)]
#[test]
fn github_env_is_created_private_even_under_umask_000() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let name = sb.name("gh");
    ok(&sb.import(
        &name,
        &long_term_key("BedrockAPIKey-h-at-123456789012"),
        &["--region", "us-east-1"],
    ));
    let github_env = sb.path().join("github_env");
    let out = sb
        .command("sh")
        .args([
            "-c",
            &format!(
                "umask 000; exec '{}' env {name} --shell github",
                bedkey_bin().display()
            ),
        ])
        .env("GITHUB_ENV", &github_env)
        .env("GITHUB_ACTIONS", "true")
        .output()
        .unwrap();
    ok(&out);
    let mode = std::fs::metadata(&github_env).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[cfg(unix)]
#[test]
fn lock_files_are_never_followed_and_the_config_dir_must_be_yours() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let dir = sb.path().join("bedkey");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let victim = sb.path().join("victim");
    std::fs::write(&victim, "mine").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("keys.lock")).unwrap();
    let name = sb.name("link");
    let out = sb.import(
        &name,
        &long_term_key("BedrockAPIKey-l-at-123456789012"),
        &["--region", "us-east-1"],
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
    let mode = std::fs::metadata(&victim).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644, "the link's target was chmod'ed");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "mine");
    std::fs::remove_file(dir.join("keys.lock")).unwrap();

    // Writable by everyone: refused, and doctor says so.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = sb.bedkey().args(["list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("writable by every user"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("chmod 700"), "{}", stderr(&out));
    let out = sb.bedkey().args(["doctor"]).output().unwrap();
    assert!(
        stdout(&out).contains("writable by every user"),
        "{}",
        stdout(&out)
    );

    // Writable by the group (umask 002): a warning only.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o770)).unwrap();
    let out = sb.bedkey().args(["list"]).output().unwrap();
    ok(&out);
    assert!(
        stderr(&out).contains("writable by its group"),
        "{}",
        stderr(&out)
    );

    // A symlinked config dir (a dotfile manager's) is fine when its target is.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let linked = sb.path().join("linked");
    std::os::unix::fs::symlink(&dir, &linked).unwrap();
    let out = sb
        .bedkey()
        .env("BEDKEY_CONFIG_DIR", &linked)
        .args(["list"])
        .output()
        .unwrap();
    ok(&out);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[cfg(unix)]
#[test]
fn a_held_config_lock_delays_no_shell_start_with_a_fresh_key() {
    let sb = Sandbox::new();
    let name = sb.name("locked");
    ok(&sb.import(
        &name,
        &long_term_key("BedrockAPIKey-k-at-123456789012"),
        &["--region", "us-east-1"],
    ));
    // Another process holds the lock for as long as this test wants.
    let lock = sb.path().join("bedkey/keys.lock");
    let mut holder = std::process::Command::new("flock")
        .args([lock.to_str().unwrap(), "sleep", "120"])
        .spawn()
        .expect("flock (util-linux)");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = sb.bedkey().args(["env", &name]).output().unwrap();
    let _ = holder.kill();
    let _ = holder.wait();
    ok(&out);
}

#[cfg(unix)]
#[test]
fn a_refresh_blocked_by_a_held_lock_names_the_lock_when_the_key_is_dead() {
    let sb = Sandbox::new();
    let name = sb.name("blocked");
    sb.script_profile("tiny", &session_credentials(&rfc3339_from_now(2)));
    ok(&sb
        .bedkey()
        .args(["--profile", "tiny", "create", &name, "--short-term"])
        .output()
        .unwrap());
    std::thread::sleep(std::time::Duration::from_secs(3));
    let lock = sb.path().join("bedkey/keys.lock");
    let mut holder = std::process::Command::new("flock")
        .args([lock.to_str().unwrap(), "sleep", "120"])
        .spawn()
        .expect("flock (util-linux)");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = sb.bedkey().args(["env", &name]).output().unwrap();
    let _ = holder.kill();
    let _ = holder.wait();
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("keys.lock"), "{err}");
    assert!(err.contains("held by"), "{err}");
}

#[cfg(unix)]
#[test]
fn remove_force_forgets_a_key_whose_store_is_gone() {
    let sb = Sandbox::new();
    let name = sb.name("gone");
    ok(&sb
        .bedkey()
        .args(["--store", "file", "import", &name, "--region", "us-east-1"])
        .write_stdin(long_term_key("BedrockAPIKey-r-at-123456789012"))
        .output()
        .unwrap());
    // The store cannot be opened any more: the passphrase is lost.
    let out = sb
        .bedkey()
        .env("BEDKEY_PASSPHRASE", "forgotten")
        .args(["remove", &name, "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    let out = sb
        .bedkey()
        .env("BEDKEY_PASSPHRASE", "forgotten")
        .args(["remove", &name, "--yes", "--force"])
        .output()
        .unwrap();
    ok(&out);
    assert!(
        stderr(&out).contains("may still be there"),
        "{}",
        stderr(&out)
    );
    assert!(sb.forgot(&name));
}

#[test]
fn a_key_without_a_region_is_warned_about_at_import_and_at_env() {
    let sb = Sandbox::new();
    let name = sb.name("noregion");
    let out = sb.import(
        &name,
        &long_term_key("BedrockAPIKey-n-at-123456789012"),
        &[],
    );
    ok(&out);
    assert!(stderr(&out).contains("--region"), "{}", stderr(&out));
    let out = sb.bedkey().args(["env", &name]).output().unwrap();
    ok(&out);
    assert!(stderr(&out).contains("AWS_REGION"), "{}", stderr(&out));
    let out = sb
        .bedkey()
        .env("AWS_REGION", "us-east-1")
        .args(["env", &name])
        .output()
        .unwrap();
    ok(&out);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

/// A stand-in for EC2 instance metadata that refuses every request, as an instance
/// without a role (or a corporate proxy) does.
fn refusing_metadata_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            use std::io::{Read, Write};
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\nConnection: close\r\n\r\nForbidden",
            );
        }
    });
    url
}

#[test]
fn no_credentials_and_a_refusing_metadata_endpoint_is_a_readable_error() {
    let sb = Sandbox::new();
    let imds = refusing_metadata_endpoint();
    for args in [vec!["token", "--region", "us-east-1"], vec!["doctor"]] {
        let out = sb
            .bedkey()
            .env_remove("AWS_EC2_METADATA_DISABLED")
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds)
            .args(&args)
            .output()
            .unwrap();
        let text = format!("{}{}", stdout(&out), stderr(&out));
        for debug in ["{", "Some(", "StatusCode(", "ProviderError(", "raw:"] {
            assert!(!text.contains(debug), "{args:?}: {debug:?} in {text}");
        }
        if args[0] == "token" {
            assert_eq!(out.status.code(), Some(4), "{text}");
            assert!(stderr(&out).lines().count() <= 3, "{text}");
            assert!(stderr(&out).contains("hint:"), "{text}");
        }
    }
}

#[cfg(unix)]
#[test]
fn exec_gives_the_program_its_own_core_limit_back() {
    let sb = Sandbox::new();
    let name = sb.name("limits");
    ok(&sb.import(
        &name,
        &long_term_key("BedrockAPIKey-c-at-123456789012"),
        &["--region", "us-east-1"],
    ));
    let out = sb
        .command("bash")
        .args([
            "-c",
            &format!(
                "ulimit -c unlimited; exec '{}' exec {name} -- bash -c 'ulimit -c'",
                bedkey_bin().display()
            ),
        ])
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(stdout(&out).trim(), "unlimited");
}

#[cfg(target_os = "linux")]
#[test]
fn the_passphrase_is_gone_from_the_process_environment() {
    let sb = Sandbox::new();
    // import waits for its key on stdin, which this test holds open.
    let mut child = sb
        .command(bedkey_bin())
        .args(["--store", "file", "import", &sb.name("environ")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let environ = format!("/proc/{}/environ", child.id());
    // Wait until bedkey runs (not the exec in between): its environment loses a
    // variable once `harden` has run.
    let mut seen = String::new();
    for _ in 0..200 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        seen = String::from_utf8_lossy(&std::fs::read(&environ).unwrap_or_default()).into_owned();
        if seen.contains("BEDKEY_CONFIG_DIR") && !seen.contains(PASSPHRASE) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.contains("BEDKEY_CONFIG_DIR"),
        "never read the environment"
    );
    assert!(
        !seen.contains(PASSPHRASE),
        "the passphrase is readable in {environ}"
    );
}

#[test]
fn man_and_completions_into_a_closed_or_full_stdout_never_panic() {
    let sb = Sandbox::new();
    let out = sb
        .command("bash")
        .args([
            "-c",
            &format!(
                "set -o pipefail; '{b}' man | head -1 >/dev/null && '{b}' completions bash | head -1 >/dev/null",
                b = bedkey_bin().display()
            ),
        ])
        .output()
        .unwrap();
    ok(&out);
    #[cfg(unix)]
    {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = sb
            .command(bedkey_bin())
            .args(["completions", "bash"])
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(!stderr(&out).contains("internal error"), "{}", stderr(&out));
    }
}

#[test]
fn a_tampered_key_list_is_an_error_not_a_panic() {
    let sb = Sandbox::new();
    let name = sb.name("tampered");
    ok(&sb.import(
        &name,
        &long_term_key("BedrockAPIKey-z-at-123456789012"),
        &["--region", "us-east-1"],
    ));
    let path = sb.path().join("bedkey/keys.json");
    let mut json = sb.keys_json();
    json["keys"][&name]["expires"] = serde_json::json!(i64::MIN);
    json["keys"][&name]["created"] = serde_json::json!(i64::MIN);
    std::fs::write(&path, json.to_string()).unwrap();
    for args in [vec!["list"], vec!["doctor"], vec!["env", name.as_str()]] {
        let out = sb.bedkey().args(&args).output().unwrap();
        assert!(
            !stderr(&out).contains("internal error"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // A region that would run code in a shell that sources the output.
    json["keys"][&name]["region"] = serde_json::json!("us-east-1$(touch pwned)");
    std::fs::write(&path, json.to_string()).unwrap();
    let out = sb
        .bedkey()
        .args(["env", &name, "--shell", "dotenv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("keys.json"), "{}", stderr(&out));
}

#[test]
fn timeouts_in_the_environment_are_checked_like_flags() {
    let sb = Sandbox::new();
    for (var, value) in [
        ("BEDKEY_AWS_TIMEOUT", "abc"),
        ("BEDKEY_AWS_TIMEOUT", "0"),
        ("BEDKEY_KEYRING_TIMEOUT", "abc"),
        ("BEDKEY_KEYRING_TIMEOUT", "0"),
    ] {
        let out = sb.bedkey().env(var, value).args(["list"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        assert!(stderr(&out).contains(var), "{}", stderr(&out));
    }
}

#[test]
fn an_empty_endpoint_variable_is_unset_not_a_panic() {
    let sb = Sandbox::new();
    for var in [
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_IAM",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    ] {
        // Nothing answers at the real endpoints here: the call fails, but plainly.
        for args in [
            vec!["audit"],
            vec![
                "pull",
                "p",
                "--secret-id",
                "s",
                "--secret-region",
                "us-east-1",
            ],
        ] {
            let out = sb
                .bedkey_with_env_credentials()
                .env(var, "")
                .env("BEDKEY_AWS_TIMEOUT", "2")
                .env("HTTPS_PROXY", "http://127.0.0.1:9")
                .args(&args)
                .timeout(std::time::Duration::from_secs(60))
                .output()
                .unwrap();
            let err = stderr(&out);
            assert!(!err.contains("internal error"), "{var} {args:?}: {err}");
            assert!(!err.contains(".cargo"), "{var} {args:?}: {err}");
            assert!(
                matches!(out.status.code(), Some(1 | 4)),
                "{var} {args:?}: {err}"
            );
        }
    }
}

/// Run `script` (sh) in a user and mount namespace of its own, where it may mount a
/// small tmpfs; None where the kernel allows no such namespace.
#[cfg(target_os = "linux")]
fn in_own_mounts(sb: &Sandbox, script: &str) -> Option<std::process::Output> {
    let probe = std::process::Command::new("unshare")
        .args(["-rm", "true"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: no user and mount namespaces here");
        return None;
    }
    Some(
        sb.command("unshare")
            .args(["-rm", "sh", "-c", script])
            .env("BEDKEY", bedkey_bin())
            .env("BEDKEY_STORE", "file")
            .output()
            .unwrap(),
    )
}

#[cfg(target_os = "linux")]
#[test]
fn on_a_full_disk_remove_hints_what_works() {
    let sb = Sandbox::new();
    let disk = sb.path().join("disk");
    std::fs::create_dir_all(&disk).unwrap();
    let key = long_term_key("BedrockAPIKey-full-at-123456789012");
    std::fs::write(sb.path().join("key"), &key).unwrap();
    let script = format!(
        r#"set -u
        mount -t tmpfs -o size=256k tmpfs '{disk}' || exit 99
        export BEDKEY_CONFIG_DIR='{disk}/bedkey'
        "$BEDKEY" import full < '{key}' 2>/dev/null || exit 98
        dd if=/dev/zero of='{disk}/fill' bs=4k 2>/dev/null
        "$BEDKEY" remove full --yes; echo "remove=$?"
        "$BEDKEY" remove full --yes --force; echo "force=$?"
        rm '{disk}/fill'
        "$BEDKEY" remove full --yes; echo "freed=$?"
        "#,
        disk = disk.display(),
        key = sb.path().join("key").display()
    );
    let Some(out) = in_own_mounts(&sb, &script) else {
        return;
    };
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(
        text.contains("remove=1") || text.contains("remove=5"),
        "{text}{err}"
    );
    assert!(err.contains("the disk is full"), "{err}");
    assert!(!err.contains("--force"), "a hint that fails too: {err}");
    assert!(text.contains("freed=0"), "{text}{err}");
}
