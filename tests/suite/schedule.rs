//! Keys that never expire unnoticed: `rotate --due` against the IAM test server
//! (inside and outside the window, published, imported, a failure among them, two
//! runs at once), its notifications through a stand-in notification service on the
//! tests' private D-Bus, and `schedule install | status | remove` for systemd (units
//! `systemd-analyze verify` accepts, paths that need systemd's quoting), launchd and
//! Task Scheduler (files parsed back word for word), with recording stand-ins for
//! `systemctl`, `loginctl`, `launchctl` and `schtasks` on PATH.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::support::iam::*;
use crate::support::*;

const DAY: i64 = 86_400;

fn meta(sb: &Sandbox, name: &str) -> serde_json::Value {
    sb.keys_json()["keys"][name].clone()
}

fn due(sb: &Sandbox, url: &str, extra: &[&str]) -> std::process::Output {
    bedkey(sb, url)
        .args(["rotate", "--due"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn rotate_due_rotates_the_keys_bedkey_made_and_reports_the_rest() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let (soon, later, console) = (sb.name("soon"), sb.name("later"), sb.name("console"));
    run_ok(
        &sb,
        url,
        &["create", &soon, "--days", "3", "--region", "us-east-1"],
    );
    run_ok(
        &sb,
        url,
        &["create", &later, "--days", "30", "--region", "us-east-1"],
    );
    let key = long_term_key(&format!("BedrockAPIKey-{console}-at-123456789012"));
    ok(&sb.import(&console, &key, &["--days", "2"]));
    let before = meta(&sb, &soon)["credential_id"].clone();

    let out = due(&sb, url, &[]);
    ok(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{soon}: rotated"))),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{console}: expires"))
                && l.contains("made in the console")),
        "{text}"
    );
    assert!(!text.contains(&later));
    let after = meta(&sb, &soon);
    assert_ne!(after["credential_id"], before);
    // The lifetime it was made with: three days.
    let lifetime = after["expires"].as_i64().unwrap() - after["created"].as_i64().unwrap();
    assert!(
        (3 * DAY - 5..=3 * DAY + 5).contains(&lifetime),
        "{lifetime}"
    );
    assert_eq!(credentials_of(url, &format!("bedkey-{soon}")).len(), 1);

    // The run is recorded: the state file, the log, `schedule status`.
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(sb.path().join("bedkey/rotation-state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["outcome"], "ok");
    assert_eq!(state["keys"].as_array().unwrap().len(), 2);
    let log = std::fs::read_to_string(sb.path().join("bedkey/rotation.log")).unwrap();
    assert!(
        log.contains(&format!("rotated {soon}"))
            && log.contains(&format!("renew-by-hand {console}")),
        "{log}"
    );
    let status = sb.bedkey().args(["schedule", "status"]).output().unwrap();
    ok(&status);
    assert!(
        stdout(&status).contains("last run:") && stdout(&status).contains("(ok)"),
        "{}",
        stdout(&status)
    );

    // JSON: the run's state.
    let out = due(&sb, url, &["--output", "json", "--within", "1d"]);
    ok(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["outcome"], "ok", "{json}");

    // Nothing is due now: one line says so, and the soon key stays as it is.
    let out = due(&sb, url, &["--within", "1d"]);
    ok(&out);
    assert_eq!(stdout(&out).trim(), "no key expires within 1d");
    assert_eq!(meta(&sb, &soon)["credential_id"], after["credential_id"]);
}

#[test]
fn rotate_due_goes_on_after_a_failure_and_exits_1() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let (a, b) = (sb.name("a-first"), sb.name("b-second"));
    for n in [&a, &b] {
        run_ok(
            &sb,
            url,
            &["create", n, "--days", "2", "--region", "us-east-1"],
        );
    }
    control(
        url,
        "POST",
        "/_control/fail",
        r#"{"action": "CreateServiceSpecificCredential", "code": "LimitExceeded", "status": 409, "message": "quota", "times": 1}"#,
    );
    let out = due(&sb, url, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("{a}: expires")) && text.contains("rotating it failed"),
        "{text}"
    );
    assert!(text.contains(&format!("{b}: rotated")), "{text}");
    assert!(
        stderr(&out).contains("1 of 2 key(s) due for rotation could not be rotated"),
        "{}",
        stderr(&out)
    );
    let state = std::fs::read_to_string(sb.path().join("bedkey/rotation-state.json")).unwrap();
    assert!(state.contains("\"failed\""), "{state}");
}

#[test]
fn two_due_runs_at_once_rotate_each_key_once() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let names = [sb.name("one"), sb.name("two")];
    for n in &names {
        run_ok(
            &sb,
            url,
            &["create", n, "--days", "2", "--region", "us-east-1"],
        );
    }
    let first = in_background(&sb, url, &["rotate", "--due"]);
    let second = in_background(&sb, url, &["rotate", "--due"]);
    for child in [first, second] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let creates = actions(url)
        .iter()
        .filter(|a| *a == "CreateServiceSpecificCredential")
        .count();
    assert_eq!(creates, 4, "two made by create, two by one of the runs");
    for n in &names {
        assert_eq!(credentials_of(url, &format!("bedkey-{n}")).len(), 1);
    }
}

#[test]
fn rotate_due_reaches_a_published_keys_secret_and_a_secret_alone() {
    let Some((url, _turn)) = server() else { return };
    let team = published(url, "due");
    let out = due(&team.admin, url, &["--within", "31d"]);
    ok(&out);
    let id = meta(&team.admin, &team.name)["credential_id"].clone();
    assert_eq!(secret_value(url, &team.secret)["credential_id"], id);

    // From the secret alone (a scheduled CI job): only when due.
    let team = published(url, "ci");
    let id = meta(&team.admin, &team.name)["credential_id"].clone();
    let ci = Sandbox::new();
    let out = rotate_from_secret(&ci, url, &team.secret, &["--due"]);
    ok(&out);
    assert!(stdout(&out).contains("nothing is due"), "{}", stdout(&out));
    assert_eq!(secret_value(url, &team.secret)["credential_id"], id);
    let out = rotate_from_secret(
        &ci,
        url,
        &team.secret,
        &["--due", "--within", "31d", "--grace", "1s"],
    );
    ok(&out);
    assert!(stdout(&out).contains("rotated"), "{}", stdout(&out));
    assert_ne!(secret_value(url, &team.secret)["credential_id"], id);
    assert_eq!(
        credentials_of(url, &team.user).len(),
        2,
        "the old one in its grace period"
    );
    // Once the grace period is over, a run with nothing due retires the old one.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let out = rotate_from_secret(&ci, url, &team.secret, &["--due"]);
    ok(&out);
    assert!(
        stdout(&out).contains("retired the last rotation's old credential"),
        "{}",
        stdout(&out)
    );
    assert_eq!(credentials_of(url, &team.user).len(), 1);

    // A second run while the old credential is in its grace period: rotated recently.
    let team = published(url, "grace");
    let out = rotate_from_secret(&ci, url, &team.secret, &["--due", "--within", "31d"]);
    ok(&out);
    let out = rotate_from_secret(&ci, url, &team.secret, &["--due", "--within", "31d"]);
    ok(&out);
    assert!(
        stdout(&out).contains("rotated recently"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_key_it_can_only_report_is_a_desktop_notification() {
    let sb = Sandbox::new();
    let name = sb.name("remind");
    ok(&sb.import(
        &name,
        &long_term_key(&format!("{name}-at-123456789012")),
        &["--days", "2"],
    ));
    let record = sb.path().join("notifications.jsonl");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/server/notifications.py");
    let mut standin = sb
        .command("python3")
        .args([script, record.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(standin.stdout.take().unwrap()),
        &mut ready,
    )
    .unwrap();
    assert_eq!(ready.trim(), "ready");

    let out = sb
        .bedkey()
        .args(["rotate", "--due", "--notify"])
        .output()
        .unwrap();
    ok(&out);
    let sent = std::fs::read_to_string(&record).unwrap();
    let note: serde_json::Value = serde_json::from_str(sent.lines().next().unwrap()).unwrap();
    assert_eq!(note["app_name"], "bedkey");
    assert!(note["summary"].as_str().unwrap().contains(&name), "{note}");
    assert!(
        note["body"].as_str().unwrap().contains("imported"),
        "{note}"
    );
    drop(standin.stdin.take());
    standin.wait().unwrap();

    // No desktop: the log says so, and the run still succeeds.
    let out = sb
        .bedkey()
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .args(["rotate", "--due", "--notify"])
        .output()
        .unwrap();
    ok(&out);
    let log = std::fs::read_to_string(sb.path().join("bedkey/rotation.log")).unwrap();
    assert!(log.contains(&format!("not-notified {name}")), "{log}");
    // Without --notify, nothing is shown.
    let before = std::fs::read_to_string(&record).unwrap();
    ok(&sb.bedkey().args(["rotate", "--due"]).output().unwrap());
    assert_eq!(std::fs::read_to_string(&record).unwrap(), before);
}

/// Recording stand-ins for the service managers, in `dir`: each appends its name
/// and arguments to `dir/calls`; `systemctl` exits `systemctl_exit`.
fn standins(dir: &Path, systemctl_exit: i32) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for (name, body) in [
        (
            "systemctl",
            format!("[ \"$1 $2\" = \"--user is-enabled\" ] && echo enabled\nexit {systemctl_exit}"),
        ),
        ("loginctl", "echo no".to_string()),
        ("launchctl", "exit 0".to_string()),
        ("schtasks", "exit 0".to_string()),
    ] {
        let path = dir.join(name);
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\necho \"{name} $*\" >> \"{}\"\n{body}\n",
                dir.join("calls").display()
            ),
        )
        .unwrap();
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&path, perms).unwrap();
    }
    dir.to_path_buf()
}

/// bedkey copied to a directory whose name needs systemd's quoting: a space, a
/// specifier (`%h`) and a `$` (a quote or a backslash systemd refuses in a program's
/// path; the config dir below has them, as an argument).
fn odd_copy(sb: &Sandbox) -> PathBuf {
    let dir = sb.path().join("my tools %h $HOME");
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("bedkey");
    std::fs::copy(bedkey_bin(), &copy).unwrap();
    copy
}

fn with_standins(sb: &Sandbox, program: &Path, bin: &Path) -> std::process::Command {
    let mut cmd = sb.command(program);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    cmd.env("PATH", path);
    cmd
}

#[test]
fn schedule_install_writes_units_systemd_accepts_and_remove_leaves_nothing() {
    let sb = Sandbox::new();
    let bin = standins(&sb.path().join("standins"), 0);
    let copy = odd_copy(&sb);
    let config = sb.path().join("cfg 100% \"x\" $PATH");
    let name = sb.name("laptop");
    ok(&sb.import(
        &name,
        &long_term_key(&format!("{name}-at-123456789012")),
        &["--days", "20"],
    ));
    let out = with_standins(&sb, &copy, &bin)
        .env("BEDKEY_CONFIG_DIR", &config)
        .args([
            "--profile",
            "work",
            "schedule",
            "install",
            "--every",
            "12h",
            "--within",
            "10d",
        ])
        .output()
        .unwrap();
    ok(&out);
    assert!(
        stderr(&out).contains("lingering is off"),
        "{}",
        stderr(&out)
    );
    let units = sb.path().join(".config/systemd/user");
    let service = std::fs::read_to_string(units.join("bedkey-rotate.service")).unwrap();
    let timer = std::fs::read_to_string(units.join("bedkey-rotate.timer")).unwrap();
    assert!(
        timer.contains("OnCalendar=*-*-* 00/12:00:00") && timer.contains("Persistent=true"),
        "{timer}"
    );
    assert!(
        service.contains("%%h $HOME/bedkey")
            && service.contains("$$PATH")
            && service.contains("100%%"),
        "{service}"
    );
    assert!(
        service.contains("rotate --due --notify --within 10d"),
        "{service}"
    );
    assert!(service.contains("--profile work"), "{service}");
    assert!(!service.contains(super::support::PASSPHRASE), "{service}");

    // systemd itself reads the units back: the ExecStart binary (whose path holds a
    // space, a quote, %h and $) must resolve to the copy, or verify fails.
    let runtime = sb.path().join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    let mut perms = std::fs::metadata(&runtime).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
    std::fs::set_permissions(&runtime, perms).unwrap();
    let verify = sb
        .command("systemd-analyze")
        .env("XDG_RUNTIME_DIR", &runtime)
        .args(["verify", "--user"])
        .arg(units.join("bedkey-rotate.service"))
        .arg(units.join("bedkey-rotate.timer"))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}{}",
        stdout(&verify),
        stderr(&verify)
    );
    assert!(
        !stderr(&verify).contains("Unbalanced"),
        "{}",
        stderr(&verify)
    );

    let calls = std::fs::read_to_string(bin.join("calls")).unwrap();
    assert!(calls.contains("systemctl --user daemon-reload"), "{calls}");
    assert!(
        calls.contains("systemctl --user enable --now bedkey-rotate.timer"),
        "{calls}"
    );

    // list says when the job rotates each key; doctor and status see the job.
    let list = with_standins(&sb, &copy, &bin)
        .env("BEDKEY_CONFIG_DIR", &config)
        .args(["list", "--output", "json"])
        .output()
        .unwrap();
    ok(&list);
    assert!(stdout(&list).is_empty() || stdout(&list).contains("keys"));
    let doctor = with_standins(&sb, &copy, &bin)
        .env("BEDKEY_CONFIG_DIR", &config)
        .arg("doctor")
        .output()
        .unwrap();
    assert!(
        stdout(&doctor).contains("a systemd user timer every 12h"),
        "{}",
        stdout(&doctor)
    );
    let status = with_standins(&sb, &copy, &bin)
        .env("BEDKEY_CONFIG_DIR", &config)
        .args(["schedule", "status"])
        .output()
        .unwrap();
    ok(&status);
    assert!(
        stdout(&status).contains("service manager: enabled"),
        "{}",
        stdout(&status)
    );

    let out = with_standins(&sb, &copy, &bin)
        .env("BEDKEY_CONFIG_DIR", &config)
        .args(["schedule", "remove"])
        .output()
        .unwrap();
    ok(&out);
    assert!(!units.join("bedkey-rotate.service").exists());
    assert!(!units.join("bedkey-rotate.timer").exists());
    assert!(!config.join("schedule.json").exists());
    let calls = std::fs::read_to_string(bin.join("calls")).unwrap();
    assert!(
        calls.contains("systemctl --user disable --now bedkey-rotate.timer"),
        "{calls}"
    );
}

#[test]
fn list_shows_when_the_job_rotates_each_key() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let bin = standins(&sb.path().join("standins"), 0);
    let (made, brought) = (sb.name("made"), sb.name("brought"));
    run_ok(
        &sb,
        url,
        &["create", &made, "--days", "30", "--region", "us-east-1"],
    );
    ok(&sb.import(
        &brought,
        &long_term_key(&format!("{brought}-at-123456789012")),
        &["--days", "20"],
    ));
    ok(&with_standins(&sb, &bedkey_bin(), &bin)
        .args(["schedule", "install"])
        .output()
        .unwrap());
    let out = sb
        .bedkey()
        .args(["list", "--output", "json"])
        .output()
        .unwrap();
    ok(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = |n: &str| {
        json["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == n)
            .unwrap()
            .clone()
    };
    let expires = time_of(row(&made)["expires_at"].as_str().unwrap());
    let rotates = time_of(row(&made)["rotates"].as_str().unwrap());
    // The first daily run once it is within 7 days of its expiry.
    assert!(
        rotates >= expires - 7 * DAY && rotates < expires - 6 * DAY,
        "{rotates} {expires}"
    );
    assert_eq!(row(&brought)["rotates"], "by hand");
    // A key inside the window already goes at the next run, never in the past.
    let soon = sb.name("soon");
    run_ok(
        &sb,
        url,
        &["create", &soon, "--days", "3", "--region", "us-east-1"],
    );
    let out = sb
        .bedkey()
        .args(["list", "--output", "json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let next = json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == soon.as_str())
        .unwrap()["rotates"]
        .clone();
    let now = time_of("now");
    let at = time_of(next.as_str().unwrap());
    assert!(at >= now && at <= now + DAY, "{next}");
    let out = sb.bedkey().arg("list").output().unwrap();
    assert!(
        stdout(&out).contains("ROTATED BY THE JOB") && stdout(&out).contains("no: renew by hand"),
        "{}",
        stdout(&out)
    );
}

fn time_of(text: &str) -> i64 {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", text, "+%s"])
        .output()
        .unwrap();
    stdout(&out).trim().parse().unwrap()
}

#[test]
fn schedule_install_without_a_user_manager_writes_the_files_and_says_how() {
    let sb = Sandbox::new();
    let bin = standins(&sb.path().join("standins"), 1);
    let out = with_standins(&sb, &bedkey_bin(), &bin)
        .args(["schedule", "install"])
        .output()
        .unwrap();
    ok(&out);
    assert!(
        stderr(&out).contains("systemctl --user enable --now bedkey-rotate.timer"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("files only"), "{}", stdout(&out));
    assert!(
        sb.path()
            .join(".config/systemd/user/bedkey-rotate.timer")
            .exists()
    );
    let record = std::fs::read_to_string(sb.path().join("bedkey/schedule.json")).unwrap();
    assert!(record.contains("\"enabled\": false"), "{record}");
}

/// Python, asked to read a file back: prints what it found as JSON.
fn python(code: &str, file: &Path) -> serde_json::Value {
    let out = std::process::Command::new("python3")
        .args(["-c", code])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn launchd_and_task_scheduler_files_keep_every_word() {
    let sb = Sandbox::new();
    let bin = standins(&sb.path().join("standins"), 0);
    let config = sb.path().join("cfg & <x> \"q\" 'a' \\ end\\");
    let expected = |exe: &str| {
        serde_json::json!([
            exe,
            "--config-dir",
            config.to_str().unwrap(),
            "--store",
            store_under_test(),
            "rotate",
            "--due",
            "--notify",
            "--within",
            "7d"
        ])
    };
    let exe = std::fs::canonicalize(bedkey_bin()).unwrap();
    let exe = exe.to_str().unwrap();

    let out = with_standins(&sb, &bedkey_bin(), &bin)
        .env("BEDKEY_CONFIG_DIR", &config)
        .env("BEDKEY_SCHEDULER", "launchd")
        .args(["schedule", "install", "--every", "6h"])
        .output()
        .unwrap();
    ok(&out);
    let plist = sb
        .path()
        .join("Library/LaunchAgents/dev.bedkey.rotate.plist");
    let read = python(
        "import json, plistlib, sys; p = plistlib.load(open(sys.argv[1], 'rb')); print(json.dumps(p))",
        &plist,
    );
    assert_eq!(read["ProgramArguments"], expected(exe));
    assert_eq!(read["StartCalendarInterval"].as_array().unwrap().len(), 4);
    assert_eq!(read["Label"], "dev.bedkey.rotate");
    let calls = std::fs::read_to_string(bin.join("calls")).unwrap();
    assert!(calls.contains("launchctl bootstrap gui/"), "{calls}");
    ok(&with_standins(&sb, &bedkey_bin(), &bin)
        .env("BEDKEY_CONFIG_DIR", &config)
        .env("BEDKEY_SCHEDULER", "launchd")
        .args(["schedule", "remove"])
        .output()
        .unwrap());
    assert!(!plist.exists());
    assert!(
        std::fs::read_to_string(bin.join("calls"))
            .unwrap()
            .contains("launchctl bootout gui/")
    );

    let out = with_standins(&sb, &bedkey_bin(), &bin)
        .env("BEDKEY_CONFIG_DIR", &config)
        .env("BEDKEY_SCHEDULER", "task-scheduler")
        .args(["schedule", "install", "--every", "7d"])
        .output()
        .unwrap();
    ok(&out);
    let xml = config.join("bedkey-rotate.xml");
    // The arguments split back as the C runtime (CommandLineToArgvW) splits them.
    let read = python(
        r#"
import json, sys, xml.etree.ElementTree as ET
ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
root = ET.fromstring(open(sys.argv[1], "rb").read().decode("utf-16"))
line = root.find("t:Actions/t:Exec/t:Arguments", ns).text
def split(s):
    args, cur, i, quoted, any_ = [], "", 0, False, False
    while i < len(s):
        c = s[i]
        if c == "\\":
            n = 0
            while i < len(s) and s[i] == "\\": n += 1; i += 1
            if i < len(s) and s[i] == '"':
                cur += "\\" * (n // 2)
                if n % 2: cur += '"'; i += 1
            else:
                cur += "\\" * n
            any_ = True
            continue
        if c == '"': quoted = not quoted; any_ = True
        elif c in " \t" and not quoted:
            if any_ or cur: args.append(cur)
            cur, any_ = "", False
        else: cur += c; any_ = True
        i += 1
    if any_ or cur: args.append(cur)
    return args
print(json.dumps({"command": root.find("t:Actions/t:Exec/t:Command", ns).text,
                  "args": split(line),
                  "weekly": root.find("t:Triggers/t:CalendarTrigger/t:ScheduleByWeek", ns) is not None,
                  "catch_up": root.find("t:Settings/t:StartWhenAvailable", ns).text}))
"#,
        &xml,
    );
    let mut words = vec![serde_json::json!(read["command"])];
    words.extend(read["args"].as_array().unwrap().iter().cloned());
    assert_eq!(serde_json::Value::Array(words), expected(exe));
    assert_eq!(read["weekly"], true);
    assert_eq!(read["catch_up"], "true");
    assert!(
        std::fs::read_to_string(bin.join("calls"))
            .unwrap()
            .contains("schtasks /Create /TN bedkey-rotate /XML")
    );
    ok(&with_standins(&sb, &bedkey_bin(), &bin)
        .env("BEDKEY_CONFIG_DIR", &config)
        .env("BEDKEY_SCHEDULER", "task-scheduler")
        .args(["schedule", "remove"])
        .output()
        .unwrap());
    assert!(!xml.exists());
    assert!(
        std::fs::read_to_string(bin.join("calls"))
            .unwrap()
            .contains("schtasks /Delete /TN bedkey-rotate /F")
    );

    // Task Scheduler would expand a %: refused, nothing written.
    let percent = sb.path().join("100% sure");
    let out = with_standins(&sb, &bedkey_bin(), &bin)
        .env("BEDKEY_CONFIG_DIR", &percent)
        .env("BEDKEY_SCHEDULER", "task-scheduler")
        .args(["schedule", "install"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!percent.join("bedkey-rotate.xml").exists());
}

#[test]
fn bad_periods_and_flags_are_usage_errors() {
    let sb = Sandbox::new();
    let bin = standins(&sb.path().join("standins"), 0);
    for args in [
        vec!["schedule", "install", "--every", "5h"],
        vec!["schedule", "install", "--every", "2d"],
        vec!["schedule", "install", "--every", "1m"],
        vec!["schedule", "install", "--within", "400d"],
        vec!["rotate", "--due", "some-key"],
        vec!["rotate", "--within", "3d"],
        vec!["rotate", "--due", "--within", "soon"],
        vec!["rotate", "--due", "--finish"],
        vec!["rotate", "--due", "--within", "7"],
        vec!["rotate", "some-key", "--notify"],
    ] {
        let out = with_standins(&sb, &bedkey_bin(), &bin)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let out = with_standins(&sb, &bedkey_bin(), &bin)
        .env("BEDKEY_SCHEDULER", "cron")
        .args(["schedule", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!sb.path().join(".config/systemd").exists());
}

#[test]
fn a_due_run_never_prints_a_key_and_takes_back_one_it_cannot_store() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    start_file_store(&sb);
    let name = sb.name("unstored");
    run_ok(
        &sb,
        url,
        &[
            "--store",
            "file",
            "create",
            &name,
            "--days",
            "2",
            "--region",
            "us-east-1",
        ],
    );
    let before = sb.loaded_key(&name);
    // The request log forgets the create above: the store breaks during the due run's.
    control(url, "POST", "/_control/reset", "{}");
    let out = break_store_during_iam_create(&sb, url, &["rotate", "--due"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!printed.contains("ABSK"), "{printed}");
    assert!(printed.contains("deleted again"), "{printed}");
    assert_eq!(credentials_of(url, &format!("bedkey-{name}")).len(), 1);
    assert_eq!(sb.loaded_key(&name), before);
}

#[test]
fn schedule_remove_deletes_only_the_files_install_wrote() {
    let sb = Sandbox::new();
    let bin = standins(&sb.path().join("standins"), 0);
    ok(&with_standins(&sb, &bedkey_bin(), &bin)
        .args(["schedule", "install"])
        .output()
        .unwrap());
    // A record changed to name other files.
    let precious = sb.path().join(".bashrc");
    std::fs::write(&precious, "precious").unwrap();
    let record_path = sb.path().join("bedkey/schedule.json");
    let mut record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record_path).unwrap()).unwrap();
    record["files"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!(precious));
    std::fs::write(&record_path, record.to_string()).unwrap();
    let out = with_standins(&sb, &bedkey_bin(), &bin)
        .args(["schedule", "remove"])
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "precious");
    assert!(
        stderr(&out).contains("not a job file bedkey wrote"),
        "{}",
        stderr(&out)
    );
    assert!(
        !sb.path()
            .join(".config/systemd/user/bedkey-rotate.timer")
            .exists()
    );

    // A variable that is not UTF-8 stops nothing; a relative config dir is written
    // absolute.
    let out = with_standins(&sb, &bedkey_bin(), &bin)
        .current_dir(sb.path())
        .env("UNRELATED", std::ffi::OsStr::from_bytes(b"\xff"))
        .env("BEDKEY_CONFIG_DIR", "relative-cfg")
        .args(["schedule", "install"])
        .output()
        .unwrap();
    ok(&out);
    let service =
        std::fs::read_to_string(sb.path().join(".config/systemd/user/bedkey-rotate.service"))
            .unwrap();
    assert!(
        service.contains(&format!(
            "--config-dir {}/relative-cfg",
            sb.path().display()
        )),
        "{service}"
    );
}
