//! Each secure store for real: the Secret Service (gnome-keyring in the test
//! script's private D-Bus session), the kernel keyring (inside `keyctl session`), and
//! the encrypted file. The store tests run when `scripts/test` promises the store
//! (`BEDKEY_TEST_SECRET_SERVICE=1`, `BEDKEY_TEST_KEYUTILS=1`) and must pass then.

use std::process::Command as Std;
#[cfg(unix)]
use std::process::Stdio;
#[cfg(unix)]
use std::time::{Duration, Instant};

use crate::support::*;

fn skip(var: &str) -> bool {
    if required(var) {
        return false;
    }
    eprintln!("skipped: {var} is not set (scripts/test sets it)");
    true
}

#[test]
fn secret_service_holds_the_secret_where_secret_tool_finds_it() {
    if skip("BEDKEY_TEST_SECRET_SERVICE") {
        return;
    }
    let sb = Sandbox::new();
    let name = sb.name("ss");
    let key = long_term_key("BedrockAPIKey-c1-at-123456789012");
    let out = sb
        .bedkey()
        .args(["--store", "keyring"])
        .args(["import", &name])
        .write_stdin(key.clone())
        .output()
        .unwrap();
    ok(&out);
    let looked_up = Std::new("secret-tool")
        .args(["lookup", "service", "bedkey", "username", &name])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(looked_up.stdout).unwrap(), key);
    assert_eq!(sb.keys_json()["keys"][&name]["store"], "keyring");

    ok(&sb
        .bedkey()
        .args(["remove", &name, "--yes"])
        .output()
        .unwrap());
    let looked_up = Std::new("secret-tool")
        .args(["lookup", "service", "bedkey", "username", &name])
        .output()
        .unwrap();
    assert!(
        looked_up.stdout.is_empty(),
        "the secret is gone from the keyring"
    );
}

#[test]
fn auto_picks_the_secret_service_when_one_answers() {
    if skip("BEDKEY_TEST_SECRET_SERVICE") {
        return;
    }
    let sb = Sandbox::new();
    let name = sb.name("auto");
    let out = sb
        .bedkey()
        .env("BEDKEY_STORE", "auto")
        .args(["import", &name])
        .write_stdin(long_term_key("BedrockAPIKey-c2-at-123456789012"))
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(sb.keys_json()["keys"][&name]["store"], "keyring");
    let doctor = sb
        .bedkey()
        .env("BEDKEY_STORE", "auto")
        .args(["doctor", "--output", "json"])
        .output()
        .unwrap();
    ok(&doctor);
    let report: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    assert_eq!(report["new_keys_go_to"], "keyring");
    assert_eq!(report["stores"][0]["usable"], true);
}

#[test]
fn kernel_keyring_round_trips_and_warns_it_does_not_survive_a_reboot() {
    if skip("BEDKEY_TEST_KEYUTILS") {
        return;
    }
    let sb = Sandbox::new();
    let name = sb.name("ku");
    let key = long_term_key("BedrockAPIKey-c3-at-123456789012");
    let out = sb
        .bedkey()
        .args(["--store", "keyutils", "import", &name])
        .write_stdin(key.clone())
        .output()
        .unwrap();
    ok(&out);
    assert!(stderr(&out).contains("lost at reboot"), "{}", stderr(&out));
    let env = sb
        .bedkey()
        .args(["env", &name, "--shell", "json"])
        .output()
        .unwrap();
    ok(&env);
    assert!(stdout(&env).contains(&key));
    // The kernel holds it under our description, in the session keyring.
    let found = Std::new("keyctl")
        .args(["search", "@s", "user", &format!("keyring:{name}@bedkey")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{}",
        String::from_utf8_lossy(&found.stderr)
    );
    ok(&sb
        .bedkey()
        .args(["remove", &name, "--yes"])
        .output()
        .unwrap());
    let found = Std::new("keyctl")
        .args(["search", "@s", "user", &format!("keyring:{name}@bedkey")])
        .output()
        .unwrap();
    assert!(!found.status.success());
}

#[test]
fn auto_falls_back_to_the_kernel_keyring_without_a_secret_service() {
    if skip("BEDKEY_TEST_KEYUTILS") {
        return;
    }
    let sb = Sandbox::new();
    let name = sb.name("fallback");
    let out = sb
        .bedkey()
        .env("BEDKEY_STORE", "auto")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", sb.path().join("no-bus").display()),
        )
        .args(["import", &name])
        .write_stdin(long_term_key("BedrockAPIKey-c4-at-123456789012"))
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(sb.keys_json()["keys"][&name]["store"], "keyutils");
    assert!(stderr(&out).contains("lost at reboot"));
}

#[test]
fn file_store_keeps_keys_encrypted_and_refuses_a_wrong_passphrase() {
    let sb = Sandbox::new();
    let name = sb.name("file");
    let key = long_term_key("BedrockAPIKey-c5-at-123456789012");
    ok(&sb
        .bedkey()
        .args(["--store", "file", "import", &name])
        .write_stdin(key.clone())
        .output()
        .unwrap());
    let sealed = std::fs::read(sb.path().join("bedkey/secrets.age")).unwrap();
    assert!(sealed.starts_with(b"age-encryption.org/v1"));
    assert!(!String::from_utf8_lossy(&sealed).contains(&key[4..]));

    let out = sb
        .bedkey()
        .env("BEDKEY_PASSPHRASE", "wrong")
        .args(["env", &name])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(
        stderr(&out).contains("wrong passphrase"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());

    let out = sb
        .bedkey()
        .env_remove("BEDKEY_PASSPHRASE")
        .args(["env", &name])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(stderr(&out).contains("BEDKEY_PASSPHRASE"));
}

/// A D-Bus socket that accepts connections and never says a word.
#[cfg(unix)]
fn silent_bus(sb: &Sandbox) -> String {
    let path = sb.path().join("silent-bus");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    format!("unix:path={}", path.display())
}

#[cfg(unix)]
#[test]
fn a_hung_keyring_fails_within_seconds_with_exit_5() {
    let sb = Sandbox::new();
    let mut child = sb
        .command(bedkey_bin())
        .env("DBUS_SESSION_BUS_ADDRESS", silent_bus(&sb))
        .env("BEDKEY_KEYRING_TIMEOUT", "1")
        .args(["--store", "keyring", "import", &sb.name("hung")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(long_term_key("BedrockAPIKey-c6-at-123456789012").as_bytes())
        .unwrap();
    // Not a timing assertion: a generous bound that only a hang would break.
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("bedkey hung on a silent keyring");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("did not answer within 1s"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert!(!sb.path().join("bedkey/keys.json").exists());
}

#[test]
fn no_session_bus_is_a_clear_store_error() {
    let sb = Sandbox::new();
    let out = sb
        .bedkey()
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", sb.path().join("none").display()),
        )
        .args(["--store", "keyring", "import", &sb.name("nobus")])
        .write_stdin(long_term_key("BedrockAPIKey-c7-at-123456789012"))
        .output()
        .unwrap();
    if cfg!(target_os = "linux") {
        assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.starts_with("bedkey: error: the Secret Service cannot be reached"),
            "{err}"
        );
        assert!(err.contains("hint: start a Secret Service"), "{err}");
        assert_eq!(err.lines().count(), 2, "{err}");
    }
}

#[test]
fn a_key_lost_from_the_kernel_keyring_says_the_commands_that_bring_it_back() {
    if skip("BEDKEY_TEST_KEYUTILS") {
        return;
    }
    let sb = Sandbox::new();
    let name = sb.name("kulost");
    let key = long_term_key("BedrockAPIKey-c4-at-123456789012");
    ok(&sb
        .bedkey()
        .args(["--store", "keyutils", "import", &name])
        .write_stdin(key.clone())
        .output()
        .unwrap());
    // What a reboot does to the kernel keyring.
    let purged = Std::new("keyctl")
        .args(["purge", "-s", "user", &format!("keyring:{name}@bedkey")])
        .output()
        .unwrap();
    assert!(purged.status.success());
    let out = sb.bedkey().args(["env", &name]).output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let hint = stderr(&out)
        .lines()
        .find_map(|l| l.strip_prefix("hint: "))
        .unwrap()
        .to_string();
    // One way, in order: not two alternatives, one of which (import alone) is refused.
    assert!(hint.contains("`, then `"), "{hint}");
    // Every command in the hint works as given, in order.
    let commands: Vec<&str> = hint.split('`').skip(1).step_by(2).collect();
    assert_eq!(commands.len(), 2, "{hint}");
    for command in commands {
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        let out = sb
            .bedkey()
            .args(["--store", "keyutils"])
            .args(&args)
            .args(if args[0] == "remove" {
                &["--yes"][..]
            } else {
                &[][..]
            })
            .write_stdin(key.clone())
            .output()
            .unwrap();
        ok(&out);
    }
    assert!(stdout(&sb.bedkey().args(["env", &name]).output().unwrap()).contains(&key));
}
