//! bedkey at a real terminal: a pseudo-terminal from util-linux's `script`, with
//! input typed only after each prompt appears, as a person would. Prompts must
//! hide what is typed, and questions must honour the answer.
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::*;

/// bedkey with `args`, quoted for a shell.
fn bedkey_line(args: &[&str]) -> String {
    let mut line = format!("'{}'", bedkey_bin().display());
    for a in args {
        line.push_str(&format!(" '{}'", a.replace('\'', r"'\''")));
    }
    line
}

struct Terminal {
    child: Child,
    keyboard: ChildStdin,
    screen: Arc<Mutex<String>>,
}

impl Terminal {
    /// Run bedkey with `args` on a terminal; `ask_passphrase` drops
    /// `BEDKEY_PASSPHRASE`, so the file store asks for it.
    fn open(sb: &Sandbox, ask_passphrase: bool, args: &[&str]) -> Option<Terminal> {
        Terminal::run(sb, ask_passphrase, &bedkey_line(args))
    }

    /// Run a shell command line on a terminal.
    fn run(sb: &Sandbox, ask_passphrase: bool, line: &str) -> Option<Terminal> {
        let mut command = sb.command("script");
        if ask_passphrase {
            command.env_remove("BEDKEY_PASSPHRASE");
        }
        let mut child = command
            .args(["-qec", line, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| eprintln!("skipped: no `script` for a pseudo-terminal: {e}"))
            .ok()?;
        let keyboard = child.stdin.take().unwrap();
        let mut out = child.stdout.take().unwrap();
        let screen = Arc::new(Mutex::new(String::new()));
        let shared = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                shared
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Some(Terminal {
            child,
            keyboard,
            screen,
        })
    }

    /// Wait until `text` has appeared `times` times on the screen, then type `line`.
    fn answer(&mut self, text: &str, times: usize, line: &str) {
        self.wait_for(text, times);
        writeln!(self.keyboard, "{line}").unwrap();
    }

    /// Wait until `text` has appeared `times` times, and a moment more for the
    /// program to switch echo off after writing its prompt.
    fn wait_for(&self, text: &str, times: usize) {
        let started = Instant::now();
        while self.screen.lock().unwrap().matches(text).count() < times {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "never saw {text:?} on: {}",
                self.screen.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    fn close(mut self) -> (Option<i32>, String) {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
                panic!("bedkey did not finish: {}", self.screen.lock().unwrap());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        std::thread::sleep(Duration::from_millis(50));
        (status.code(), self.screen.lock().unwrap().clone())
    }
}

#[test]
fn import_at_a_terminal_hides_the_key_and_the_new_passphrase() {
    let sb = Sandbox::new();
    let name = sb.name("typed");
    let key = long_term_key("BedrockAPIKey-t1-at-123456789012");
    let Some(mut term) = Terminal::open(
        &sb,
        true,
        &["--store", "file", "import", &name, "--days", "9"],
    ) else {
        return;
    };
    term.answer("Paste the API key (input is hidden):", 1, &key);
    term.answer(
        "New passphrase for bedkey's encrypted file:",
        1,
        "typed passphrase",
    );
    term.answer("Same passphrase again:", 1, "typed passphrase");
    let (code, screen) = term.close();
    assert_eq!(code, Some(0), "{screen}");
    assert!(!screen.contains(&key[4..]), "the key was echoed: {screen}");
    assert!(
        !screen.contains("typed passphrase"),
        "the passphrase was echoed: {screen}"
    );
    assert!(
        screen.contains(&format!("stored long-term key '{name}'")),
        "{screen}"
    );

    let out = sb
        .bedkey()
        .env("BEDKEY_PASSPHRASE", "typed passphrase")
        .args(["env", &name, "--shell", "json"])
        .output()
        .unwrap();
    ok(&out);
    assert!(stdout(&out).contains(&key));
}

#[test]
fn mismatched_new_passphrases_store_nothing() {
    let sb = Sandbox::new();
    let name = sb.name("mismatch");
    let key = long_term_key("BedrockAPIKey-t2-at-123456789012");
    let Some(mut term) = Terminal::open(&sb, true, &["--store", "file", "import", &name]) else {
        return;
    };
    term.answer("(input is hidden):", 1, &key);
    term.answer("New passphrase", 1, "one passphrase");
    term.answer("Same passphrase again:", 1, "another passphrase");
    let (code, screen) = term.close();
    assert_eq!(code, Some(5), "{screen}");
    assert!(
        screen.contains("the passphrases differ; nothing was stored"),
        "{screen}"
    );
    assert!(!sb.path().join("bedkey/secrets.age").exists());
    assert!(sb.forgot(&name));
}

#[test]
fn remove_at_a_terminal_asks_and_honours_the_answer() {
    let sb = Sandbox::new();
    let name = sb.name("asked");
    ok(&sb.import(
        &name,
        &long_term_key("BedrockAPIKey-t3-at-123456789012"),
        &[],
    ));

    let Some(mut term) = Terminal::open(&sb, false, &["remove", &name]) else {
        return;
    };
    term.answer(&format!("Forget key '{name}'? [y/N]"), 1, "n");
    let (code, screen) = term.close();
    assert_eq!(code, Some(130), "{screen}");
    assert!(screen.contains("cancelled; nothing changed"), "{screen}");
    ok(&sb.bedkey().args(["env", &name]).output().unwrap());

    let mut term = Terminal::open(&sb, false, &["remove", &name]).unwrap();
    term.answer(&format!("Forget key '{name}'? [y/N]"), 1, "y");
    let (code, screen) = term.close();
    assert_eq!(code, Some(0), "{screen}");
    assert!(sb.forgot(&name));
}

/// A shell script in the sandbox running `body`: a terminal session with more than
/// bedkey in it.
fn session_script(sb: &Sandbox, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = sb.path().join("session.sh");
    std::fs::write(&path, format!("#!/bin/bash\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

#[test]
fn ctrl_c_at_a_hidden_prompt_gives_the_terminal_its_echo_back() {
    let sb = Sandbox::new();
    let name = sb.name("ctrlc");
    // The shell survives the Ctrl-C (a trap, reset for bedkey by exec), then shows
    // bedkey's status and the terminal's settings.
    let script = session_script(
        &sb,
        &format!(
            "trap : INT\n{}\necho \"status=$?\"\nstty -a",
            bedkey_line(&["import", &name])
        ),
    );
    let Some(mut term) = Terminal::run(&sb, false, &script) else {
        return;
    };
    term.wait_for("Paste the API key (input is hidden):", 1);
    // Ctrl-C, as typed: the terminal turns it into SIGINT.
    use std::io::Write as _;
    term.keyboard.write_all(b"\x03").unwrap();
    let (_, screen) = term.close();
    assert!(screen.contains("status=130"), "{screen}");
    let settings: Vec<&str> = screen
        .split("status=130")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    assert!(settings.contains(&"echo"), "echo is still off: {screen}");
    assert!(!settings.contains(&"-echo"), "echo is still off: {screen}");
    assert!(sb.forgot(&name));
}

#[test]
fn no_core_file_can_be_written_while_a_secret_is_being_typed() {
    let sb = Sandbox::new();
    let name = sb.name("nocore");
    let script = session_script(
        &sb,
        &format!("ulimit -c unlimited\n{}", bedkey_line(&["import", &name])),
    );
    let Some(mut term) = Terminal::run(&sb, false, &script) else {
        return;
    };
    // Wait for the prompt, then find bedkey by its unique argument.
    term.wait_for("Paste the API key (input is hidden):", 1);
    let pid = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .find(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                c.contains(&name) && c.contains("bedkey") && !c.contains("session.sh")
            })
        })
        .map(|e| e.path())
        .expect("bedkey is running");
    let limits = std::fs::read_to_string(pid.join("limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(fields[4], "0", "soft core limit: {core}");
    use std::io::Write as _;
    term.keyboard.write_all(b"\x03").unwrap();
    let _ = term.close();
}
