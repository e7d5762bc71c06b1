//! The command line itself: usage errors, help, completions, man page.

use crate::support::*;

#[test]
fn unknown_commands_and_flags_exit_2_with_one_error_line() {
    let sb = Sandbox::new();
    for args in [
        vec!["tokn"],
        vec!["token", "--expire", "1h"],
        vec!["--output", "yaml", "token"],
    ] {
        let out = sb.bedkey().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        let lines: Vec<_> = err.lines().collect();
        assert!(lines[0].starts_with("bedkey: error: "), "{err}");
        assert!(lines.len() <= 2, "{err}");
        assert!(
            lines.get(1).is_none_or(|l| l.starts_with("hint: ")),
            "{err}"
        );
    }
}

#[test]
fn usage_hints_point_at_the_command_and_list_no_flag_as_required() {
    // The sandbox sets BEDKEY_STORE and BEDKEY_CONFIG_DIR: they are not required flags.
    let sb = Sandbox::new();
    let out = sb.bedkey().arg("remove").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("hint: usage: bedkey remove [OPTIONS] <NAME>"),
        "{err}"
    );
    assert!(
        !err.contains("--store") && !err.contains("--config-dir"),
        "{err}"
    );
    let out = sb
        .bedkey()
        .args(["env", "x", "--shell", "bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`bedkey env --help`"),
        "{}",
        stderr(&out)
    );
    let out = sb
        .bedkey()
        .args(["--output", "json", "env", "x", "--shell", "bogus"])
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("`bedkey env --help`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn inspect_of_a_stored_keys_name_says_it_takes_the_key() {
    let sb = Sandbox::new();
    let name = sb.name("named");
    ok(&sb.import(
        &name,
        &long_term_key("BedrockAPIKey-n1-at-123456789012"),
        &[],
    ));
    let out = sb.bedkey().args(["inspect", &name]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("'{name}' is a stored key's name")),
        "{}",
        stderr(&out)
    );
    // Not for anything else.
    let out = sb
        .bedkey()
        .args(["inspect", "nosuchname"])
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("stored key"), "{}", stderr(&out));
}

#[test]
fn help_and_version_succeed() {
    let sb = Sandbox::new();
    let out = sb.bedkey().arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).contains("token"));
    let out = sb.bedkey().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("bedkey "));
}

#[test]
fn completions_are_generated_for_each_shell() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = sb.bedkey().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = stdout(&out);
        assert!(text.contains("bedkey"), "{shell}");
        assert!(text.contains("inspect"), "{shell}");
    }
}

#[test]
fn bash_completions_are_valid_bash() {
    let sb = Sandbox::new();
    let out = sb.bedkey().args(["completions", "bash"]).output().unwrap();
    let file = sb.path().join("bedkey.bash");
    std::fs::write(&file, out.stdout).unwrap();
    if let Ok(status) = std::process::Command::new("bash")
        .arg("-n")
        .arg(&file)
        .status()
    {
        assert!(status.success());
    }
}

#[test]
fn completions_offer_stored_key_names_where_a_command_takes_one() {
    let sb = Sandbox::new();
    let name = sb.name("completed");
    ok(&sb.import(
        &name,
        &long_term_key("BedrockAPIKey-c9-at-123456789012"),
        &[],
    ));
    let bin_dir = bedkey_bin().parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let script = |shell: &str| {
        let out = sb.bedkey().args(["completions", shell]).output().unwrap();
        let file = sb.path().join(format!("bedkey.{shell}"));
        std::fs::write(&file, out.stdout).unwrap();
        file
    };
    let shell_runs = |shell: &str| {
        std::process::Command::new(shell)
            .arg("-c")
            .arg("exit 0")
            .output()
            .is_ok()
    };
    if shell_runs("bash") {
        let file = script("bash");
        // What bash does at <TAB>: the words so far, then the completion function.
        let complete = |words: &str| {
            let run = sb
                .command("bash")
                .env("PATH", &path)
                .arg("-c")
                .arg(format!(
                    "source '{}'; COMP_WORDS=({words} ''); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
                     COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; \
                     _bedkey_with_names bedkey '' \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                    file.display()
                ))
                .output()
                .unwrap();
            String::from_utf8_lossy(&run.stdout).into_owned()
        };
        assert!(
            complete("bedkey env").lines().any(|l| l == name),
            "{}",
            complete("bedkey env")
        );
        assert!(
            complete("bedkey --store file rotate")
                .lines()
                .any(|l| l == name)
        );
        // Not where a value or a new name goes, nor after the name.
        assert!(!complete("bedkey env --shell").contains(&name));
        assert!(!complete("bedkey create").contains(&name));
        assert!(!complete(&format!("bedkey env {name}")).contains(&name));
    }
    if shell_runs("fish") {
        let file = script("fish");
        let run = sb
            .command("fish")
            .env("PATH", &path)
            .arg("-c")
            .arg(format!(
                "source '{}'; complete -C 'bedkey verify '",
                file.display()
            ))
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&run.stdout);
        assert!(
            listed.lines().any(|l| l.split('\t').next() == Some(&name)),
            "{listed}"
        );
    }
    if shell_runs("zsh") {
        let file = script("zsh");
        let run = sb.command("zsh").arg("-n").arg(&file).output().unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
}

#[test]
fn man_page_is_roff_and_lists_the_commands() {
    let sb = Sandbox::new();
    let out = sb.bedkey().arg("man").output().unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.starts_with(".ie") || text.contains(".TH bedkey"),
        "{}",
        &text[..80]
    );
    assert!(text.contains("token"));
    assert!(text.contains("inspect"));
    // One page: no reference to sub-pages nobody produces; every command's flags here.
    assert!(!text.contains("bedkey\\-token(1)"), "sub-page reference");
    for section in [".SH COMMANDS", ".SH ENVIRONMENT", ".SH \"EXIT STATUS\""] {
        assert!(text.contains(section), "{section}");
    }
    for flag in [
        "\\-\\-secret\\-id",
        "\\-\\-allow\\-model",
        "\\-\\-env\\-file",
        "\\-\\-grace",
    ] {
        assert!(text.contains(flag), "{flag}");
    }
    let environment = &text[text.find(".SH ENVIRONMENT").unwrap()..];
    for var in [
        "BEDKEY_CONFIG_DIR",
        "BEDKEY_STORE",
        "BEDKEY_PASSPHRASE",
        "BEDKEY_MIN_TTL",
        "BEDKEY_SHARED_TTL",
        "BEDKEY_AWS_TIMEOUT",
        "BEDKEY_KEYRING_TIMEOUT",
    ] {
        assert!(environment.contains(var), "{var}");
    }
}

#[test]
fn version_names_the_commit_target_and_profile() {
    let sb = Sandbox::new();
    let out = sb.bedkey().arg("--version").output().unwrap();
    ok(&out);
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("bedkey {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    let out = sb
        .bedkey()
        .args(["version", "--output", "json"])
        .output()
        .unwrap();
    ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let commit = v["commit"].as_str().unwrap();
    // The commit of this checkout when git can tell it, else `unknown`.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8(o.stdout).unwrap().trim().to_string());
    assert_eq!(commit, head.as_deref().unwrap_or("unknown"));
    assert!(text.contains(commit));
    assert!(v["target"].as_str().unwrap().contains('-'));
    assert!(["debug", "release"].contains(&v["profile"].as_str().unwrap()));
}
