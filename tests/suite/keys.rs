//! Stored keys end to end: import, create --short-term, env, exec, list, remove,
//! init. They run on the real Secret Service when the test script provides one, and
//! on the encrypted file store otherwise.

use std::process::Command as Std;

use crate::support::*;

#[test]
fn import_then_env_gives_back_the_same_key_and_region() {
    let sb = Sandbox::new();
    let name = sb.name("console");
    let key = long_term_key("BedrockAPIKey-a1-at-123456789012");
    ok(&sb.import(&name, &key, &["--days", "30", "--region", "eu-west-1"]));
    let out = sb
        .bedkey()
        .args(["env", &name, "--shell", "json"])
        .output()
        .unwrap();
    ok(&out);
    let vars: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(vars["AWS_BEARER_TOKEN_BEDROCK"], key.as_str());
    assert_eq!(vars["AWS_REGION"], "eu-west-1");
    assert_eq!(vars["AWS_DEFAULT_REGION"], "eu-west-1");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));

    // The metadata file holds no secret, and is private.
    let text = std::fs::read_to_string(sb.path().join("bedkey/keys.json")).unwrap();
    assert!(!text.contains(&key[4..]), "{text}");
    assert_eq!(sb.keys_json()["keys"][&name]["store"], store_under_test());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(sb.path().join("bedkey/keys.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn import_never_takes_a_key_from_the_command_line() {
    let sb = Sandbox::new();
    let key = long_term_key("BedrockAPIKey-a2-at-123456789012");
    let out = sb
        .bedkey()
        .args(["import", &key])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("never takes a key from the command line"),
        "{}",
        stderr(&out)
    );

    let out = sb
        .bedkey()
        .args(["import", "name", &key])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!stderr(&out).contains(&key[4..]), "{}", stderr(&out));

    let out = sb
        .bedkey()
        .args(["import", "--key", &key])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!sb.path().join("bedkey/keys.json").exists());
}

#[test]
fn import_rejects_bad_input_and_changes_nothing() {
    let sb = Sandbox::new();
    let name = sb.name("bad");
    let key = long_term_key("BedrockAPIKey-a3-at-123456789012");
    for (input, args, why) in [
        ("sk-not-a-bedrock-key", vec![], "not a valid API key"),
        ("", vec![], "no key"),
        (key.as_str(), vec!["--days", "0"], "out of range"),
        (key.as_str(), vec!["--days", "36601"], "out of range"),
        (
            key.as_str(),
            vec!["--expires-at", "next tuesday"],
            "not a date",
        ),
        (key.as_str(), vec!["--region", "Mars"], "not an AWS region"),
    ] {
        let out = sb.import(&name, input, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(why), "{args:?}: {}", stderr(&out));
    }
    let out = sb.import("no/slashes", &key, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!sb.path().join("bedkey/keys.json").exists());
}

#[test]
fn importing_a_taken_name_is_refused() {
    let sb = Sandbox::new();
    let name = sb.name("taken");
    let first = long_term_key("BedrockAPIKey-a4-at-123456789012");
    ok(&sb.import(&name, &first, &[]));
    let out = sb.import(
        &name,
        &long_term_key("BedrockAPIKey-a5-at-123456789012"),
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let out = sb
        .bedkey()
        .args(["env", &name, "--shell", "json"])
        .output()
        .unwrap();
    assert!(stdout(&out).contains(&first));
}

#[test]
fn imported_short_term_keys_keep_their_own_region_and_expiry() {
    let sb = Sandbox::new();
    let name = sb.name("st");
    let key = stdout(
        &sb.bedkey_with_env_credentials()
            .args(["token", "--region", "ap-south-1", "--expires", "2h"])
            .output()
            .unwrap(),
    );
    ok(&sb.import(&name, key.trim(), &[]));
    let meta = &sb.keys_json()["keys"][&name];
    assert_eq!(meta["kind"], "short-term");
    assert_eq!(meta["region"], "ap-south-1");
    let out = sb.import(&sb.name("st2"), key.trim(), &["--region", "us-east-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("signed for ap-south-1"));
}

#[test]
fn env_warns_on_stderr_when_a_key_expires_within_a_week() {
    let sb = Sandbox::new();
    let name = sb.name("soon");
    ok(&sb.import(
        &name,
        &long_term_key("BedrockAPIKey-a6-at-123456789012"),
        &["--days", "3"],
    ));
    let out = sb
        .bedkey()
        .args(["env", &name, "--shell", "posix"])
        .output()
        .unwrap();
    ok(&out);
    assert!(
        stderr(&out).contains("expires in 2d 23h") || stderr(&out).contains("expires in 3d"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).lines().all(|l| l.starts_with("export ")));

    let old = sb.name("old");
    ok(&sb.import(
        &old,
        &long_term_key("BedrockAPIKey-a7-at-123456789012"),
        &["--expires-at", "2020-01-01"],
    ));
    let out = sb.bedkey().args(["env", &old]).output().unwrap();
    ok(&out);
    assert!(stderr(&out).contains("expired"), "{}", stderr(&out));
}

#[test]
fn env_for_an_unknown_or_malformed_name_exits_3_or_2() {
    let sb = Sandbox::new();
    let out = sb.bedkey().args(["env", "nobody"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).starts_with("bedkey: error: no key named 'nobody'"));
    let out = sb.bedkey().args(["env", "not a name"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Evaluate `bedkey env` in a real shell and read the variables back.
fn eval_in(
    shell: &str,
    format: &str,
    script_tail: &str,
    sb: &Sandbox,
    name: &str,
) -> Option<String> {
    Std::new(shell).arg("-c").arg("exit 0").output().ok()?;
    let out = sb
        .bedkey()
        .args(["env", name, "--shell", format])
        .output()
        .unwrap();
    ok(&out);
    let file = sb.path().join(format!("env.{format}"));
    std::fs::write(&file, &out.stdout).unwrap();
    let script = match shell {
        "pwsh" => format!(". '{}'; {script_tail}", file.display()),
        _ => format!(". '{}'; {script_tail}", file.display()),
    };
    let flag = if shell == "pwsh" { "-Command" } else { "-c" };
    let run = Std::new(shell).arg(flag).arg(script).output().unwrap();
    assert!(
        run.status.success(),
        "{shell}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    Some(String::from_utf8(run.stdout).unwrap())
}

#[test]
fn env_output_is_evaluated_correctly_by_real_shells() {
    let sb = Sandbox::new();
    let name = sb.name("shells");
    let key = long_term_key("BedrockAPIKey-a8-at-123456789012");
    assert!(
        key.contains('+') || key.contains('/') || key.contains('='),
        "{key}"
    );
    ok(&sb.import(&name, &key, &["--region", "us-east-2"]));
    let expected = format!("{key}|us-east-2|us-east-2");
    let posix =
        "printf '%s|%s|%s' \"$AWS_BEARER_TOKEN_BEDROCK\" \"$AWS_REGION\" \"$AWS_DEFAULT_REGION\"";
    for shell in ["sh", "bash", "dash", "zsh"] {
        if let Some(seen) = eval_in(shell, "posix", posix, &sb, &name) {
            assert_eq!(seen, expected, "{shell}");
        }
    }
    let fish = "printf '%s|%s|%s' $AWS_BEARER_TOKEN_BEDROCK $AWS_REGION $AWS_DEFAULT_REGION";
    if let Some(seen) = eval_in("fish", "fish", fish, &sb, &name) {
        assert_eq!(seen, expected, "fish");
    }
    let pwsh = "Write-Host -NoNewline \"$($Env:AWS_BEARER_TOKEN_BEDROCK)|$($Env:AWS_REGION)|$($Env:AWS_DEFAULT_REGION)\"";
    if let Some(seen) = eval_in("pwsh", "powershell", pwsh, &sb, &name) {
        assert_eq!(seen, expected, "pwsh");
    }
    // dotenv as docker --env-file and python-dotenv read it: KEY=VALUE, no quotes needed.
    let out = sb
        .bedkey()
        .args(["env", &name, "--shell", "dotenv"])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out).lines().next().unwrap(),
        format!("AWS_BEARER_TOKEN_BEDROCK={key}")
    );
}

#[test]
fn env_for_github_actions_masks_and_appends_to_github_env() {
    let sb = Sandbox::new();
    let name = sb.name("gh");
    let key = long_term_key("BedrockAPIKey-a9-at-123456789012");
    ok(&sb.import(&name, &key, &["--region", "us-west-2"]));
    let github_env = sb.path().join("github_env");
    std::fs::write(&github_env, "EARLIER=1\n").unwrap();
    let out = sb
        .bedkey()
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_ENV", &github_env)
        .args(["env", &name, "--shell", "github"])
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(stdout(&out).trim(), format!("::add-mask::{key}"));
    let written = std::fs::read_to_string(&github_env).unwrap();
    assert!(written.starts_with("EARLIER=1\n"));
    assert!(
        written.contains(&format!(
            "AWS_BEARER_TOKEN_BEDROCK<<BEDKEY_EOF\n{key}\nBEDKEY_EOF\n"
        )),
        "{written}"
    );
    assert!(written.contains("AWS_DEFAULT_REGION<<BEDKEY_EOF\nus-west-2\n"));

    let out = sb
        .bedkey()
        .args(["env", &name, "--shell", "github"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "without GITHUB_ENV");
}

#[test]
fn exec_gives_the_child_the_key_and_passes_its_exit_code_back() {
    let sb = Sandbox::new();
    let name = sb.name("exec");
    let key = long_term_key("BedrockAPIKey-b1-at-123456789012");
    ok(&sb.import(&name, &key, &["--region", "sa-east-1"]));
    let (shell, script) = if cfg!(windows) {
        (
            "cmd",
            "/C echo %AWS_BEARER_TOKEN_BEDROCK% %AWS_DEFAULT_REGION% & exit 7",
        )
    } else {
        (
            "sh",
            "echo \"$AWS_BEARER_TOKEN_BEDROCK $AWS_DEFAULT_REGION\"; exit 7",
        )
    };
    let mut cmd = sb.bedkey();
    cmd.args(["exec", &name, "--", shell]);
    if !cfg!(windows) {
        cmd.arg("-c");
    }
    let out = cmd.arg(script).output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(stdout(&out).trim(), format!("{key} sa-east-1"));

    let out = sb
        .bedkey()
        .args(["exec", &name, "--", "no-such-program-here"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot run 'no-such-program-here'"));
}

#[cfg(unix)]
#[test]
fn exec_passes_signals_through() {
    let sb = Sandbox::new();
    let name = sb.name("sig");
    ok(&sb.import(
        &name,
        &long_term_key("BedrockAPIKey-b2-at-123456789012"),
        &[],
    ));
    let out = sb
        .bedkey()
        .args(["exec", &name, "--", "sh", "-c", "kill -TERM $$"])
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(15));
}

#[test]
fn list_shows_masked_keys_and_never_a_secret() {
    let sb = Sandbox::new();
    let name = sb.name("listed");
    let key = long_term_key("BedrockAPIKey-b3-at-123456789012");
    ok(&sb.import(&name, &key, &["--days", "30", "--region", "us-east-1"]));
    let out = sb.bedkey().arg("list").output().unwrap();
    ok(&out);
    let text = stdout(&out);
    assert!(text.starts_with("NAME"), "{text}");
    assert!(text.contains(&name));
    assert!(
        text.contains(&format!("ABSK…{}", &key[key.len() - 4..])),
        "{text}"
    );
    assert!(!text.contains(&key[4..20]));

    let out = sb
        .bedkey()
        .args(["list", "--output", "json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &json["keys"][0];
    assert_eq!(row["name"], name.as_str());
    assert_eq!(row["kind"], "long-term");
    assert_eq!(row["status"], "ok");
    assert!(row["expires_at"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn an_imported_key_of_unknown_expiry_says_so_until_set_records_it() {
    let sb = Sandbox::new();
    let name = sb.name("unknownexp");
    ok(&sb.import(
        &name,
        &long_term_key("BedrockAPIKey-b8-at-123456789012"),
        &[],
    ));
    let row = |sb: &Sandbox| {
        stdout(&sb.bedkey().arg("list").output().unwrap())
            .lines()
            .find(|l| l.starts_with(&name))
            .unwrap()
            .to_string()
    };
    let listed = row(&sb);
    assert!(listed.contains("unknown"), "{listed}");
    assert!(!listed.contains("never"), "{listed}");

    // `set` records what the console showed: a region and an expiry.
    let out = sb
        .bedkey()
        .args([
            "set",
            &name,
            "--region",
            "eu-west-3",
            "--expires-at",
            "2099-01-02",
        ])
        .output()
        .unwrap();
    ok(&out);
    let listed = row(&sb);
    assert!(
        listed.contains("eu-west-3") && listed.contains("2099-01-02"),
        "{listed}"
    );
    let json = sb.keys_json();
    assert_eq!(json["keys"][&name]["region"], "eu-west-3");
    ok(&sb
        .bedkey()
        .args(["set", &name, "--days", "10"])
        .output()
        .unwrap());
    assert!(!row(&sb).contains("2099"), "{}", row(&sb));
    // What a flag could not be is refused, and nothing changes.
    for bad in [
        vec!["--region", "--help"],
        vec!["--days", "0"],
        vec!["--expires-at", "soon"],
        vec![],
    ] {
        let before = sb.keys_json();
        let out = sb
            .bedkey()
            .args(["set", &name])
            .args(&bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
        assert_eq!(sb.keys_json(), before, "{bad:?}");
    }
    let out = sb
        .bedkey()
        .args(["set", "nosuch", "--days", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    // A short-term key's region and expiry are its own.
    let short = sb.name("setshort");
    sb.short_term(&short, "1h", "us-east-1");
    let out = sb
        .bedkey()
        .args(["set", &short, "--region", "us-west-2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn remove_asks_off_a_terminal_for_yes_and_then_forgets() {
    let sb = Sandbox::new();
    let name = sb.name("gone");
    ok(&sb.import(
        &name,
        &long_term_key("BedrockAPIKey-b4-at-123456789012"),
        &[],
    ));
    let out = sb.bedkey().args(["remove", &name]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--yes"));
    ok(&sb.bedkey().args(["env", &name]).output().unwrap());

    let out = sb
        .bedkey()
        .args(["remove", &name, "--yes", "--output", "json"])
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["removed"],
        true
    );
    assert!(sb.forgot(&name));
    assert_eq!(
        sb.bedkey()
            .args(["remove", &name, "--yes"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(3)
    );
}

#[test]
fn a_fresh_cached_short_term_key_is_reused_without_credentials() {
    let sb = Sandbox::new();
    let name = sb.name("cached");
    ok(&sb
        .bedkey_with_env_credentials()
        .args([
            "create",
            &name,
            "--short-term",
            "--expires",
            "1h",
            "--region",
            "eu-north-1",
        ])
        .output()
        .unwrap());
    // No credentials at all now: a fresh key must come from the cache alone.
    let first = sb
        .bedkey()
        .args(["env", &name, "--shell", "json"])
        .output()
        .unwrap();
    ok(&first);
    assert!(stderr(&first).is_empty(), "{}", stderr(&first));
    let second = sb
        .bedkey()
        .args(["env", &name, "--shell", "json"])
        .output()
        .unwrap();
    assert_eq!(first.stdout, second.stdout);
    let vars: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let key = vars["AWS_BEARER_TOKEN_BEDROCK"].as_str().unwrap();
    assert_eq!(key_param(key, "X-Amz-Expires").as_deref(), Some("3600"));
    assert_eq!(vars["AWS_REGION"], "eu-north-1");
    let meta = &sb.keys_json()["keys"][&name];
    assert_eq!(meta["kind"], "short-term");
    assert_eq!(meta["lifetime"], 3600);
}

#[cfg(unix)]
#[test]
fn a_stale_short_term_key_is_refreshed_and_says_so() {
    let sb = Sandbox::new();
    let name = sb.name("stale");
    short_then_long_credentials(&sb);
    // The first credentials expire in a minute: the cached key dies with them, well
    // inside the 5-minute refresh margin.
    ok(&sb
        .bedkey()
        .args(["--profile", "ci", "create", &name, "--short-term"])
        .output()
        .unwrap());
    let out = sb.bedkey().args(["env", &name]).output().unwrap();
    ok(&out);
    assert!(
        stderr(&out).contains("refreshed short-term key"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("bedrock-api-key-"));

    let out = sb
        .bedkey()
        .env("BEDKEY_MIN_TTL", "soon")
        .args(["env", &name])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("BEDKEY_MIN_TTL"));
}

/// A credential_process whose first answer expires in a minute and later ones in
/// two hours, logging each call: the key `create` caches is stale at once.
#[cfg(unix)]
fn short_then_long_credentials(sb: &Sandbox) -> std::path::PathBuf {
    let log = sb.path().join("calls.log");
    sb.script_profile(
        "ci",
        &format!(
            "echo call >> '{log}'\nif [ \"$(wc -l < '{log}')\" -le 1 ]; then exp='{short}'; else exp='{long}'; fi\n\
             printf '{{\"Version\":1,\"AccessKeyId\":\"ASIAEXAMPLE123456789\",\"SecretAccessKey\":\"{SECRET}\",\"SessionToken\":\"tok/en+==\",\"Expiration\":\"%s\"}}' \"$exp\"",
            log = log.display(),
            short = rfc3339_from_now(60),
            long = rfc3339_from_now(7200),
        ),
    );
    log
}

#[cfg(unix)]
#[test]
fn eight_concurrent_refreshes_mint_once_and_leave_one_consistent_entry() {
    let sb = Sandbox::new();
    let name = sb.name("race");
    let log = short_then_long_credentials(&sb);
    ok(&sb
        .bedkey()
        .args([
            "create",
            &name,
            "--short-term",
            "--expires",
            "1h",
            "--profile",
            "ci",
        ])
        .output()
        .unwrap());
    let stale = sb.keys_json()["keys"][&name]["expires"].as_i64().unwrap();

    let children: Vec<_> = (0..8)
        .map(|_| {
            sb.command(bedkey_bin())
                .args(["env", &name, "--shell", "json"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for o in &outs {
        ok(o);
    }
    let keys: std::collections::HashSet<_> = outs.iter().map(|o| o.stdout.clone()).collect();
    assert_eq!(keys.len(), 1, "all eight got the same key");
    let refreshed = outs
        .iter()
        .filter(|o| stderr(o).contains("refreshed"))
        .count();
    assert_eq!(refreshed, 1, "exactly one process minted");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap().lines().count(),
        2,
        "create + one refresh"
    );

    let meta = &sb.keys_json()["keys"][&name];
    assert!(meta["expires"].as_i64().unwrap() > stale + 3000);
    let vars: serde_json::Value = serde_json::from_slice(&outs[0].stdout).unwrap();
    let key = vars["AWS_BEARER_TOKEN_BEDROCK"].as_str().unwrap();
    assert_eq!(
        meta["masked"],
        format!("bedrock-api-key-…{}", &key[key.len() - 4..])
    );
    assert_eq!(key_param(key, "X-Amz-Expires").as_deref(), Some("3600"));
}

/// A bedkey on PATH that logs each call, then runs the real one; returns (PATH, log).
#[cfg(unix)]
fn counting_bedkey(sb: &Sandbox) -> (String, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let bin = sb.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = sb.path().join("bedkey-calls");
    std::fs::write(
        bin.join("bedkey"),
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            calls.display(),
            bedkey_bin().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(bin.join("bedkey"), std::fs::Permissions::from_mode(0o755)).unwrap();
    (
        format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        calls,
    )
}

#[cfg(unix)]
#[test]
fn init_calls_bedkey_only_when_the_key_nears_expiry() {
    if Std::new("bash").arg("-c").arg("exit 0").output().is_err() {
        return;
    }
    let sb = Sandbox::new();
    let name = sb.name("prompt");
    ok(&sb.import(
        &name,
        &long_term_key("BedrockAPIKey-b5-at-123456789012"),
        &["--days", "30"],
    ));
    let (path, calls) = counting_bedkey(&sb);
    let script = "eval \"$(bedkey init bash NAME)\"; __bedkey_refresh; __bedkey_refresh; \
                  printf '%s' \"$AWS_BEARER_TOKEN_BEDROCK\"; \
                  BEDKEY_KEY_EXPIRES_AT=1; __bedkey_refresh"
        .replace("NAME", &name);
    let run = sb
        .command("bash")
        .env("PATH", path)
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(String::from_utf8_lossy(&run.stdout).starts_with("ABSK"));
    let log = std::fs::read_to_string(&calls).unwrap();
    let lines: Vec<_> = log.lines().collect();
    // init, one env at start, none for two fresh prompts, one once the key is due.
    assert_eq!(lines.len(), 3, "{log}");
    assert!(lines[0].starts_with("init bash"));
    assert!(lines[1].starts_with(&format!("env {name}")));
    assert!(lines[2].starts_with(&format!("env {name}")));
}

#[cfg(unix)]
#[test]
fn init_backs_off_for_an_expired_key_instead_of_calling_at_every_prompt() {
    let sb = Sandbox::new();
    let name = sb.name("expiredprompt");
    ok(&sb.import(
        &name,
        &long_term_key("BedrockAPIKey-b6-at-123456789012"),
        &["--expires-at", "2020-01-01"],
    ));
    let (path, calls) = counting_bedkey(&sb);
    for (shell, script) in [
        (
            "bash",
            "set -u; eval \"$(bedkey init bash NAME)\"; __bedkey_refresh; __bedkey_refresh",
        ),
        (
            "zsh",
            "eval \"$(bedkey init zsh NAME)\"; __bedkey_refresh; __bedkey_refresh",
        ),
        (
            "fish",
            "bedkey init fish NAME | source; __bedkey_refresh; __bedkey_refresh",
        ),
    ] {
        if Std::new(shell).arg("-c").arg("exit 0").output().is_err() {
            continue;
        }
        let _ = std::fs::remove_file(&calls);
        let run = sb
            .command(shell)
            .env("PATH", &path)
            .arg("-c")
            .arg(script.replace("NAME", &name))
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let log = std::fs::read_to_string(&calls).unwrap();
        assert_eq!(
            log.lines().filter(|l| l.starts_with("env ")).count(),
            1,
            "{shell}: {log}"
        );
    }
}

#[cfg(unix)]
#[test]
fn init_passes_its_global_flags_to_the_hook_and_names_the_key_in_its_advice() {
    let sb = Sandbox::new();
    let name = sb.name("initflags");
    // A config dir of its own, with a space and a quote, given only as a flag.
    let dir = sb.path().join("other dir 'x'");
    let key = long_term_key("BedrockAPIKey-b7-at-123456789012");
    ok(&sb
        .bedkey()
        .arg("--config-dir")
        .arg(&dir)
        .args(["import", &name, "--days", "30"])
        .write_stdin(key.clone())
        .output()
        .unwrap());
    let bin_dir = bedkey_bin().parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    for (shell, script) in [
        (
            "bash",
            r#"eval "$(bedkey --config-dir "$D" init bash NAME)"; printf %s "$AWS_BEARER_TOKEN_BEDROCK""#,
        ),
        (
            "zsh",
            r#"eval "$(bedkey --config-dir "$D" init zsh NAME)"; printf %s "$AWS_BEARER_TOKEN_BEDROCK""#,
        ),
        (
            "fish",
            r#"bedkey --config-dir "$D" init fish NAME | source; printf %s "$AWS_BEARER_TOKEN_BEDROCK""#,
        ),
    ] {
        if Std::new(shell).arg("-c").arg("exit 0").output().is_err() {
            continue;
        }
        let run = sb
            .command(shell)
            .env("PATH", &path)
            .env("D", &dir)
            .env_remove("BEDKEY_CONFIG_DIR")
            .arg("-c")
            .arg(script.replace("NAME", &name))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&run.stdout),
            key,
            "{shell}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let text = stdout(
        &sb.bedkey()
            .arg("--config-dir")
            .arg(&dir)
            .args(["init", "bash", &name])
            .output()
            .unwrap(),
    );
    let advice = text.lines().nth(1).unwrap();
    assert!(advice.contains(&format!("init bash {name}")), "{advice}");
    assert!(advice.contains("--config-dir"), "{advice}");
}

#[test]
fn doctor_says_which_credentials_region_and_store_and_which_keys_need_attention() {
    let sb = Sandbox::new();
    let name = sb.name("due");
    ok(&sb.import(
        &name,
        &long_term_key("BedrockAPIKey-d1-at-123456789012"),
        &["--days", "2"],
    ));
    let out = sb
        .bedkey_with_env_credentials()
        .env("AWS_REGION", "us-west-2")
        .arg("doctor")
        .output()
        .unwrap();
    ok(&out);
    let text = stdout(&out);
    assert!(
        text.contains("credentials  ok AKIA…MPLE from environment"),
        "{text}"
    );
    assert!(
        text.contains("region       ok us-west-2 from AWS_REGION"),
        "{text}"
    );
    assert!(
        text.contains(&format!("attention    key '{name}' expires soon")),
        "{text}"
    );
    assert!(!text.contains(SECRET));

    // Problems are reported, not failed on.
    let out = sb
        .bedkey()
        .args(["doctor", "--output", "json"])
        .output()
        .unwrap();
    ok(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["credentials"]["ok"], false);
    assert!(
        report["credentials"]["detail"]
            .as_str()
            .unwrap()
            .contains("no AWS credentials")
    );
    assert_eq!(report["region"]["ok"], false);
    assert_eq!(report["keys"], 1);

    // One key is "1 key"; the store chosen by BEDKEY_STORE is called that; a config dir
    // others can read is not called private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = sb.path().join("bedkey");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let text = stdout(&sb.bedkey().arg("doctor").output().unwrap());
        assert!(text.contains("(1 key)"), "{text}");
        assert!(text.contains("BEDKEY_STORE="), "{text}");
        assert!(!text.contains("(--store"), "{text}");
        assert!(!text.contains("private to you"), "{text}");
        assert!(text.contains("others may read it (mode 755)"), "{text}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let text = stdout(
            &sb.bedkey()
                .args(["doctor", "--store", "file"])
                .output()
                .unwrap(),
        );
        assert!(
            text.contains("private to you") && text.contains("(--store file)"),
            "{text}"
        );
    }
}

/// `bedkey env NAME ARGS` as lines NAME=VALUE (dotenv), or the error.
fn env_lines(sb: &Sandbox, name: &str, args: &[&str]) -> std::process::Output {
    sb.bedkey()
        .args(["env", name, "--shell", "dotenv"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn env_for_prints_each_client_sets_variables_for_either_endpoint() {
    let sb = Sandbox::new();
    let name = sb.name("envfor");
    let key = long_term_key("BedrockAPIKey-ef-at-123456789012");
    ok(&sb.import(&name, &key, &["--region", "us-west-2"]));
    let lines = |args: &[&str]| {
        let out = env_lines(&sb, &name, args);
        ok(&out);
        stdout(&out)
    };
    // No --for: as always.
    assert_eq!(
        lines(&[]),
        format!(
            "AWS_BEARER_TOKEN_BEDROCK={key}\nAWS_REGION=us-west-2\nAWS_DEFAULT_REGION=us-west-2\n"
        )
    );
    assert_eq!(lines(&["--for", "aws"]), lines(&[]));
    assert_eq!(
        lines(&["--for", "openai"]),
        format!(
            "OPENAI_API_KEY={key}\nOPENAI_BASE_URL=https://bedrock-runtime.us-west-2.amazonaws.com/openai/v1\n"
        )
    );
    assert_eq!(
        lines(&["--for", "openai", "--endpoint", "mantle"]),
        format!(
            "OPENAI_API_KEY={key}\nOPENAI_BASE_URL=https://bedrock-mantle.us-west-2.api.aws/v1\n"
        )
    );
    assert_eq!(
        lines(&["--for", "anthropic", "--endpoint", "mantle"]),
        format!(
            "ANTHROPIC_API_KEY={key}\nANTHROPIC_BASE_URL=https://bedrock-mantle.us-west-2.api.aws/anthropic\n"
        )
    );
    assert_eq!(
        lines(&["--for", "litellm"]),
        format!("BEDROCK_MANTLE_API_KEY={key}\nBEDROCK_MANTLE_REGION=us-west-2\n")
    );
    assert_eq!(
        lines(&["--for", "claude-code"]),
        format!("{}CLAUDE_CODE_USE_BEDROCK=1\n", lines(&[]))
    );
    assert_eq!(
        lines(&["--for", "claude-code", "--endpoint", "mantle"]),
        format!("{}CLAUDE_CODE_USE_MANTLE=1\n", lines(&[]))
    );
    // Several sets: each once, in a fixed order, whatever the order asked.
    assert_eq!(
        lines(&["--for", "openai,aws", "--for", "openai"]),
        format!("{}{}", lines(&[]), lines(&["--for", "openai"]))
    );
    // An override in effect is what the base URLs name.
    let out = sb
        .bedkey()
        .env(
            "AWS_ENDPOINT_URL_BEDROCK_MANTLE",
            "https://mantle.example.com/",
        )
        .args([
            "env",
            &name,
            "--shell",
            "dotenv",
            "--for",
            "openai,litellm,claude-code",
            "--endpoint",
            "mantle",
        ])
        .output()
        .unwrap();
    ok(&out);
    let text = stdout(&out);
    assert!(
        text.contains("OPENAI_BASE_URL=https://mantle.example.com/v1\n"),
        "{text}"
    );
    assert!(
        text.contains("BEDROCK_MANTLE_API_BASE=https://mantle.example.com/v1\n"),
        "{text}"
    );
    assert!(
        text.contains("ANTHROPIC_BEDROCK_MANTLE_BASE_URL=https://mantle.example.com/anthropic\n"),
        "{text}"
    );
    // The aws set carries overrides to the clients' Bedrock modes, which read no
    // AWS_ENDPOINT_URL_* of their own.
    let out = sb
        .bedkey()
        .env(
            "AWS_ENDPOINT_URL_BEDROCK_MANTLE",
            "https://mantle.example.com",
        )
        .env(
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            "https://runtime.example.com",
        )
        .args(["env", &name, "--shell", "dotenv", "--for", "aws"])
        .output()
        .unwrap();
    ok(&out);
    let text = stdout(&out);
    for line in [
        "AWS_BEDROCK_BASE_URL=https://mantle.example.com/openai/v1\n",
        "ANTHROPIC_BEDROCK_MANTLE_BASE_URL=https://mantle.example.com/anthropic\n",
        "BEDROCK_MANTLE_API_BASE=https://mantle.example.com/v1\n",
        "ANTHROPIC_BEDROCK_BASE_URL=https://runtime.example.com\n",
        "AWS_BEDROCK_RUNTIME_ENDPOINT=https://runtime.example.com\n",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
}

#[test]
fn env_for_never_builds_a_url_from_a_region_or_endpoint_that_would_send_the_key_elsewhere() {
    let sb = Sandbox::new();
    let name = sb.name("envevil");
    let key = long_term_key("BedrockAPIKey-ev-at-123456789012");
    ok(&sb.import(&name, &key, &[]));
    for (var, value, args) in [
        ("AWS_REGION", "evil.example/#", &["--for", "openai"][..]),
        (
            "AWS_DEFAULT_REGION",
            "x@127.0.0.1:9/#",
            &["--for", "anthropic", "--endpoint", "mantle"][..],
        ),
        (
            "AWS_ENDPOINT_URL_BEDROCK_MANTLE",
            "http://evil.example",
            &["--for", "openai", "--endpoint", "mantle"][..],
        ),
        (
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            "http://evil.example",
            &["--for", "claude-code"][..],
        ),
        (
            "AWS_ENDPOINT_URL_BEDROCK_MANTLE",
            "javascript:alert(1)",
            &["--for", "litellm"][..],
        ),
    ] {
        let mut cmd = sb.bedkey();
        if var.starts_with("AWS_ENDPOINT_URL") {
            cmd.env("AWS_REGION", "us-east-1");
        }
        let out = cmd
            .env(var, value)
            .args(["env", &name])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{var}={value}: {}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty(), "{var}={value}");
        assert!(!stderr(&out).contains(&key));
    }
}

#[test]
fn env_for_refuses_a_set_a_key_cannot_serve_and_bad_flags() {
    let sb = Sandbox::new();
    let name = sb.name("envbad");
    let key = long_term_key("BedrockAPIKey-eb-at-123456789012");
    ok(&sb.import(&name, &key, &[]));
    let out = env_lines(&sb, &name, &["--for", "openai"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no region"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let china = sb.name("envcn");
    ok(&sb.import(&china, &key, &["--region", "cn-north-1"]));
    let out = env_lines(&sb, &china, &["--for", "litellm"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not offered in cn-north-1"),
        "{}",
        stderr(&out)
    );
    for args in [
        &["--for", "codex"][..],
        &["--endpoint", "mantle"][..],
        &["--for", "openai", "--endpoint", "control"][..],
        &["--for", ""][..],
    ] {
        let out = env_lines(&sb, &china, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn token_name_prints_the_stored_key_alone_and_keeps_its_min_ttl_promise() {
    let sb = Sandbox::new();
    let long = sb.name("tklong");
    let key = long_term_key("BedrockAPIKey-tk-at-123456789012");
    ok(&sb.import(&long, &key, &["--region", "us-east-1"]));
    let out = sb.bedkey().args(["token", &long]).output().unwrap();
    ok(&out);
    assert_eq!(stdout(&out), format!("{key}\n"));
    // A short-term entry of 1h: fresh enough for 20m, refreshed for 40m is beyond
    // half its lifetime (the refresh margin's cap), so it cannot be promised.
    let short = sb.name("tkshort");
    sb.short_term(&short, "1h", "us-east-1");
    let first = sb.loaded_key(&short);
    let out = sb
        .bedkey_with_env_credentials()
        .args(["token", &short, "--min-ttl", "20m"])
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(stdout(&out).trim(), first, "no refresh needed");
    let out = sb
        .bedkey_with_env_credentials()
        .args(["token", &short, "--min-ttl", "11h"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot promise 11h"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("ask for 30m or less"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
    // A long-term key promises what its expiry allows, days included; an expired one
    // is never handed over, even with no --min-ttl.
    let month = sb.name("tkmonth");
    ok(&sb.import(&month, &key, &["--region", "us-east-1", "--days", "30"]));
    ok(&sb
        .bedkey()
        .args(["token", &month, "--min-ttl", "2d"])
        .output()
        .unwrap());
    let out = sb
        .bedkey()
        .args(["token", &month, "--min-ttl", "31d"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("bedkey import"), "{}", stderr(&out));
    let gone = sb.name("tkgone");
    ok(&sb.import(
        &gone,
        &key,
        &[
            "--region",
            "us-east-1",
            "--expires-at",
            "2020-01-01T00:00:00Z",
        ],
    ));
    let out = sb.bedkey().args(["token", &gone]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("has expired"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    // Bad uses are usage errors.
    for args in [
        vec!["token", &long, "--min-ttl", "soon"],
        vec!["token", "--min-ttl", "1h"],
        vec!["token", &long, "--expires", "1h"],
    ] {
        let out = sb.bedkey().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let out = sb.bedkey().args(["token", "nosuchkey"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}
