//! `bedkey schedule install | status | remove`: the user's own job that runs
//! `bedkey rotate --due --notify` (a systemd user timer, a launchd agent, a Task
//! Scheduler task). `install` writes the job's files (the library renders them),
//! hands them to the service manager, and records what it made; where no manager
//! answers, the files stay, with how to enable them. `remove` takes away what the
//! record names.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use serde::Serialize;

use bedkey::config::Config;
use bedkey::error::{Error, Result};
use bedkey::schedule::{self, Every, Job, Record, Scheduler, launchd, systemd, task_scheduler};
use bedkey::store::Backend;
use bedkey::time;

use crate::cli::{Schedule, ScheduleAction};
use crate::cmd::{Context, Run};
use crate::output::stdout_line;

/// A service manager's command may take this long.
const MANAGER_TIMEOUT: Duration = Duration::from_secs(10);

impl Run for Schedule {
    fn run(&self, ctx: &Context) -> Result<()> {
        match &self.action {
            ScheduleAction::Install { every, within } => install(ctx, every, within),
            ScheduleAction::Status => status(ctx),
            ScheduleAction::Remove => remove(ctx),
        }
    }
}

/// Run a service manager's command, bounded in time: whether it succeeded, and what
/// it said.
fn manager(program: &str, args: &[&str]) -> (bool, String) {
    use std::process::{Command, Stdio};
    let spawned = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return (false, format!("{program}: {e}")),
    };
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > MANAGER_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return (false, format!("{program} did not answer within 10 s"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return (false, format!("{program}: {e}")),
        }
    }
    match child.wait_with_output() {
        Ok(out) => {
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            (out.status.success(), said.trim().to_string())
        }
        Err(e) => (false, format!("{program}: {e}")),
    }
}

/// The job's command line: this bedkey, with this shell's config dir, store and
/// profile written in (never guessed later), and never a passphrase.
fn job(ctx: &Context, config: &Config, within: &str) -> Result<Job> {
    let program = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| Error::failure(format!("cannot tell where this bedkey is: {e}")))?;
    let store = ctx
        .global
        .store
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_else(|| "auto".to_string());
    // The job starts elsewhere, so the dir is absolute, and exactly this one: a name
    // that is not UTF-8 cannot be written into every format unchanged.
    let dir = std::path::absolute(config.dir())
        .map_err(|e| Error::failure(format!("cannot tell where the config dir is: {e}")))?;
    let dir = dir.to_str().ok_or_else(|| {
        Error::usage("the config dir's path is not UTF-8, which a scheduled job's file cannot carry unchanged")
    })?;
    let program = program.to_str().map(std::path::PathBuf::from).ok_or_else(|| {
        Error::usage("this bedkey's path is not UTF-8, which a scheduled job's file cannot carry unchanged")
    })?;
    let mut args = vec![
        "--config-dir".to_string(),
        dir.to_string(),
        "--store".to_string(),
        store,
    ];
    let profile = ctx
        .global
        .profile
        .clone()
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()));
    if let Some(p) = profile {
        args.extend(["--profile".to_string(), p]);
    }
    args.extend(
        ["rotate", "--due", "--notify", "--within", within]
            .iter()
            .map(|s| s.to_string()),
    );
    Ok(Job {
        program,
        args,
        env: schedule::carried_env(),
    })
}

/// What the job will not be able to do unattended, said before it is installed:
/// stores it cannot open, credentials it will not have, a window that misses keys or
/// rotates them every run.
fn warn_unattended(
    ctx: &Context,
    config: &Config,
    job: &Job,
    every: Every,
    within: i64,
) -> Result<()> {
    let keys = config.load()?.keys;
    if within < every.secs() {
        ctx.out.warn(format_args!(
            "the window is shorter than the time between runs ({}): a key may expire between two runs without ever being due; make --within at least --every",
            every.text()
        ));
    }
    for (name, m) in &keys {
        let lifetime = m.expires.map(|e| e - m.created);
        if m.origin == bedkey::config::Origin::Iam
            && m.shared.is_none()
            && lifetime.is_some_and(|l| l <= within)
        {
            ctx.out.warn(format_args!(
                "key '{name}' lives {}, no longer than the window: every run would rotate it again; choose a shorter --within",
                time::human(lifetime.unwrap_or_default())
            ));
        }
    }
    let keyring: Vec<&str> = keys
        .iter()
        .filter(|(_, m)| m.store == Backend::Keyutils)
        .map(|(n, _)| n.as_str())
        .collect();
    if !keyring.is_empty() {
        ctx.out.warn(format_args!(
            "{} in a login session's kernel keyring, which the job does not share: it reminds you of them instead of rotating them",
            keyring.join(", ")
        ));
    }
    let filed: Vec<&str> = keys
        .iter()
        .filter(|(_, m)| m.store == Backend::File)
        .map(|(n, _)| n.as_str())
        .collect();
    if !filed.is_empty() || job.args.iter().any(|a| a == "file") {
        ctx.out.warn(format_args!(
            "the job cannot open the file store unattended (a passphrase is never written into a job){}: it will report them in its log and in `bedkey schedule status`",
            if filed.is_empty() {
                String::new()
            } else {
                format!(", so it cannot rotate {}", filed.join(", "))
            }
        ));
    }
    let env_credentials = std::env::var_os("AWS_ACCESS_KEY_ID").is_some();
    if env_credentials && !job.args.iter().any(|a| a == "--profile") {
        ctx.out.warn(
            "this shell's AWS credentials come from its environment, which the job does not get (credentials are never written into it); give it a profile: `bedkey --profile P schedule install`",
        );
    }
    Ok(())
}

fn install(ctx: &Context, every: &str, within: &str) -> Result<()> {
    let every = Every::parse(every)?;
    let window = schedule::parse_window(within)?;
    let scheduler = Scheduler::here()?;
    let config = ctx.config()?;
    config.ensure_dir()?;
    let job = job(ctx, &config, within)?;
    warn_unattended(ctx, &config, &job, every, window)?;
    if schedule::read_record(config.dir()).ok().flatten().is_some() {
        ctx.out.note("a job was installed already: it is replaced");
    }
    #[cfg(unix)]
    if unsafe { libc::geteuid() } == 0 {
        ctx.out.warn(
            "running as root: the job is root's own; install it as the user whose keys it rotates",
        );
    }
    let (files, enabled) = match scheduler {
        Scheduler::Systemd => install_systemd(ctx, &job, every)?,
        Scheduler::Launchd => install_launchd(ctx, &config, &job, every)?,
        Scheduler::TaskScheduler => install_task(ctx, &config, &job, every)?,
    };
    let record = Record {
        scheduler,
        files: files.clone(),
        every: every.text(),
        within: within.to_string(),
        installed_at: time::rfc3339(time::now()),
        job,
        enabled,
    };
    schedule::write_json(&config.dir().join(schedule::RECORD_FILE), &record)?;
    if ctx.out.json() {
        return ctx.out.print_json(&record);
    }
    stdout_line(&format!(
        "installed {} that runs `bedkey rotate --due --notify --within {within}` {} (local time; a missed run happens as soon as it can){}",
        scheduler.title(),
        every.describe(),
        if enabled {
            ""
        } else {
            " (files only: enable it as said above)"
        }
    ))?;
    for f in &files {
        stdout_line(&format!("  {}", f.display()))?;
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::failure(format!("cannot make {}: {e}", parent.display())))?;
    }
    bedkey::files::write_atomically(path, bytes)
}

fn install_systemd(ctx: &Context, job: &Job, every: Every) -> Result<(Vec<PathBuf>, bool)> {
    let dir = systemd::unit_dir()
        .ok_or_else(|| Error::failure("no home directory for the systemd user units"))?;
    let mut files = Vec::new();
    for (name, text) in systemd::units(job, every)? {
        let path = dir.join(name);
        write_file(&path, text.as_bytes())?;
        files.push(path);
    }
    let timer = systemd::timer_name();
    let (reloaded, said) = manager("systemctl", &["--user", "daemon-reload"]);
    let (enabled, said) = if reloaded {
        manager("systemctl", &["--user", "enable", "--now", &timer])
    } else {
        (false, said)
    };
    if !enabled {
        ctx.out.note(format_args!(
            "no systemd user manager answered ({}); the units are written: enable them with `systemctl --user daemon-reload && systemctl --user enable --now {timer}`",
            first_line(&said)
        ));
        return Ok((files, false));
    }
    // loginctl takes a uid as well as a name, and the uid is always known.
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(uid);
    let (_, linger) = manager(
        "loginctl",
        &["show-user", &user, "--property=Linger", "--value"],
    );
    if linger.trim() == "no" {
        ctx.out.note(format_args!(
            "lingering is off, so the timer runs only while you are logged in (a missed run happens at the next login); `loginctl enable-linger {user}` lets it run always"
        ));
    }
    Ok((files, true))
}

#[cfg(unix)]
fn uid() -> String {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }.to_string()
}

#[cfg(not(unix))]
fn uid() -> String {
    String::new()
}

fn install_launchd(
    ctx: &Context,
    config: &Config,
    job: &Job,
    every: Every,
) -> Result<(Vec<PathBuf>, bool)> {
    let home = dirs::home_dir().ok_or_else(|| Error::failure("no home directory"))?;
    let path = launchd::agent_path(&home);
    let text = launchd::plist(job, every, &config.dir().join("launchd.log"))?;
    write_file(&path, text.as_bytes())?;
    let domain = format!("gui/{}", uid());
    // A job installed before is replaced: out first, then in again.
    let _ = manager(
        "launchctl",
        &["bootout", &format!("{domain}/{}", launchd::LABEL)],
    );
    let (enabled, said) = manager(
        "launchctl",
        &["bootstrap", &domain, &path.to_string_lossy()],
    );
    if !enabled {
        ctx.out.note(format_args!(
            "launchd did not take the agent ({}); load it with `launchctl bootstrap {domain} {}`",
            first_line(&said),
            path.display()
        ));
    }
    Ok((vec![path], enabled))
}

fn install_task(
    ctx: &Context,
    config: &Config,
    job: &Job,
    every: Every,
) -> Result<(Vec<PathBuf>, bool)> {
    let path = config
        .dir()
        .join(format!("{}.xml", task_scheduler::TASK_NAME));
    write_file(&path, &task_scheduler::task_xml(job, every)?)?;
    if !job.env.is_empty() {
        ctx.out.note(
            "Task Scheduler gives a task no environment of its own: the job sees the user's, not this shell's AWS_* settings",
        );
    }
    let (enabled, said) = manager(
        "schtasks",
        &[
            "/Create",
            "/TN",
            task_scheduler::TASK_NAME,
            "/XML",
            &path.to_string_lossy(),
            "/F",
        ],
    );
    if !enabled {
        ctx.out.note(format_args!(
            "Task Scheduler did not take the task ({}); import it with `schtasks /Create /TN {} /XML \"{}\" /F`",
            first_line(&said),
            task_scheduler::TASK_NAME,
            path.display()
        ));
    }
    Ok((vec![path], enabled))
}

fn first_line(text: &str) -> &str {
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() { "no answer" } else { line }
}

/// What the service manager says of the job now.
fn manager_state(record: &Record) -> String {
    let (ok, said) = match record.scheduler {
        Scheduler::Systemd => manager(
            "systemctl",
            &["--user", "is-enabled", &systemd::timer_name()],
        ),
        Scheduler::Launchd => manager(
            "launchctl",
            &["print", &format!("gui/{}/{}", uid(), launchd::LABEL)],
        ),
        Scheduler::TaskScheduler => {
            manager("schtasks", &["/Query", "/TN", task_scheduler::TASK_NAME])
        }
    };
    match (ok, record.scheduler) {
        (true, Scheduler::Systemd) => first_line(&said).to_string(),
        (true, _) => "loaded".to_string(),
        (false, _) => format!("not loaded ({})", first_line(&said)),
    }
}

#[derive(Serialize)]
struct StatusJson<'a> {
    installed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    job: Option<&'a Record>,
    #[serde(skip_serializing_if = "Option::is_none")]
    manager: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_run: Option<&'a schedule::RunState>,
}

fn status(ctx: &Context) -> Result<()> {
    let config = ctx.config()?;
    let record = schedule::read_record(config.dir())?;
    let state = schedule::read_state(config.dir())?;
    let manager = record.as_ref().map(manager_state);
    if ctx.out.json() {
        return ctx.out.print_json(&StatusJson {
            installed: record.is_some(),
            job: record.as_ref(),
            manager,
            last_run: state.as_ref(),
        });
    }
    match &record {
        None => stdout_line("no scheduled job (`bedkey schedule install` makes one)")?,
        Some(r) => {
            stdout_line(&format!(
                "job: {} every {}, keys due within {} (installed {})",
                r.scheduler.title(),
                r.every,
                r.within,
                time::prefix(&r.installed_at, 10)
            ))?;
            stdout_line(&format!(
                "service manager: {}",
                manager.as_deref().unwrap_or("?")
            ))?;
            for f in &r.files {
                let there = if f.exists() { "" } else { " (missing)" };
                stdout_line(&format!("  {}{there}", f.display()))?;
            }
        }
    }
    match &state {
        None => stdout_line("last run: none yet")?,
        Some(s) => {
            stdout_line(&format!("last run: {} ({})", s.ran_at, s.outcome))?;
            for k in &s.keys {
                stdout_line(&format!("  {} {}: {}", k.outcome, k.name, k.detail))?;
            }
        }
    }
    stdout_line(&format!(
        "log: {}",
        config.dir().join(schedule::LOG_FILE).display()
    ))
}

/// Where install writes the job's files for `scheduler`.
fn expected_files(config: &Config, scheduler: Scheduler) -> Vec<PathBuf> {
    match scheduler {
        Scheduler::Systemd => systemd::unit_dir()
            .map(|d| systemd::paths(&d))
            .unwrap_or_default(),
        Scheduler::Launchd => dirs::home_dir()
            .map(|h| vec![launchd::agent_path(&h)])
            .unwrap_or_default(),
        Scheduler::TaskScheduler => vec![
            config
                .dir()
                .join(format!("{}.xml", task_scheduler::TASK_NAME)),
        ],
    }
}

fn remove(ctx: &Context) -> Result<()> {
    let config = ctx.config()?;
    let Some(record) = schedule::read_record(config.dir())? else {
        ctx.out
            .note("no scheduled job was installed here; nothing to remove");
        return Ok(());
    };
    match record.scheduler {
        Scheduler::Systemd => {
            let _ = manager(
                "systemctl",
                &["--user", "disable", "--now", &systemd::timer_name()],
            );
        }
        Scheduler::Launchd => {
            let _ = manager(
                "launchctl",
                &["bootout", &format!("gui/{}/{}", uid(), launchd::LABEL)],
            );
        }
        Scheduler::TaskScheduler => {
            let _ = manager(
                "schtasks",
                &["/Delete", "/TN", task_scheduler::TASK_NAME, "/F"],
            );
        }
    }
    // Only the files install writes, where it writes them: a record changed by
    // someone else cannot point remove at anything else.
    let expected = expected_files(&config, record.scheduler);
    let mut removed = Vec::new();
    for f in &record.files {
        if !schedule::is_ours(f, &expected) {
            if f.exists() {
                ctx.out.warn(format_args!(
                    "left {}: not a job file bedkey wrote",
                    f.display()
                ));
            }
            continue;
        }
        match std::fs::remove_file(f) {
            Ok(()) => {
                if !ctx.out.json() {
                    stdout_line(&format!("removed {}", f.display()))?;
                }
                removed.push(f.clone());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::failure(format!(
                    "cannot remove {}: {e}",
                    f.display()
                )));
            }
        }
    }
    if record.scheduler == Scheduler::Systemd {
        let _ = manager("systemctl", &["--user", "daemon-reload"]);
    }
    std::fs::remove_file(config.dir().join(schedule::RECORD_FILE))
        .map_err(|e| Error::failure(format!("cannot remove the job's record: {e}")))?;
    if ctx.out.json() {
        return ctx.out.print_json(&serde_json::json!({"removed": removed}));
    }
    ctx.out
        .note(format_args!("removed {}", record.scheduler.title()));
    Ok(())
}
