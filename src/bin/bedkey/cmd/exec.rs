//! `bedkey exec NAME -- CMD`: run a command with the key in its environment. On Unix
//! bedkey replaces itself with the command, so signals and the exit status are the
//! command's own.
//!
//! With `--proxy` the command gets a local endpoint and token instead (see
//! `cmd::proxy`), and bedkey stays its parent: it serves the endpoint, forwards
//! signals, and exits with the command's status.

use std::net::SocketAddr;
use std::process::Command;

use crate::cli::Exec;
use crate::cmd::{Context, Run};
use crate::process::Signals;
use bedkey::error::{Error, Result};

impl Run for Exec {
    fn run(&self, ctx: &Context) -> Result<()> {
        let name = self.name.as_deref().unwrap_or("default");
        let (program, args) = self
            .command
            .split_first()
            .ok_or_else(|| Error::usage("no command given after --"))?;
        if self.proxy {
            return proxied(ctx, name, &self.clients, program, args);
        }
        let key = ctx.load_key(name)?;
        let mut command = Command::new(program);
        command.args(args);
        for (var, value) in ctx.key_vars(&key, &self.clients)? {
            command.env(var, value);
        }
        // The child gets one key, not the means to open every other.
        command.env_remove(bedkey::store::PASSPHRASE_VAR);
        run(command, program)
    }
}

fn not_started(program: &str, e: std::io::Error) -> Error {
    let e = Error::failure(format!("cannot run '{program}': {e}"));
    if program.contains(['/', '\\']) {
        e
    } else {
        e.with_hint("is it installed and on PATH?")
    }
}

#[cfg(unix)]
fn run(mut command: Command, program: &str) -> Result<()> {
    use std::os::unix::process::CommandExt;
    // The program gets the core-file limit bedkey started with, not bedkey's own 0.
    crate::process::restore_core_limit();
    // exec only returns on failure.
    let e = command.exec();
    Err(not_started(program, e))
}

#[cfg(not(unix))]
fn run(mut command: Command, program: &str) -> Result<()> {
    // Ctrl-C reaches the child too (same console); bedkey just waits for it.
    let status = command.status().map_err(|e| not_started(program, e))?;
    std::process::exit(status.code().unwrap_or(1));
}

/// Run the command against a local endpoint that holds the key, until it exits.
fn proxied(
    ctx: &Context,
    name: &str,
    clients: &crate::cli::ClientFlags,
    program: &str,
    args: &[String],
) -> Result<()> {
    let serving = crate::serve::prepare(ctx, name, SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let vars = serving.vars(&serving.trust.ca, clients)?;
    ctx.out
        .detail(format_args!("serving key '{name}' on {}", serving.endpoint));
    let mut command = tokio::process::Command::new(program);
    // The real key, if the parent's environment holds it anywhere (an earlier
    // `eval "$(bedkey env --for openai)"`), is not the child's to have; nor is a
    // generic base URL naming a Bedrock host left by the same, which without its key
    // only sends the program past the proxy.
    for (name, value) in std::env::vars_os() {
        if leftover(&name, &value, &serving.key)
            && !vars.iter().any(|(set, _)| name.to_str() == Some(*set))
        {
            command.env_remove(&name);
        }
    }
    command.args(args).envs(vars);
    command.env_remove(bedkey::store::PASSPHRASE_VAR);
    #[cfg(unix)]
    {
        // Forked from this (the main) thread, which lives as long as bedkey: the
        // parent-death signal fires when the forking thread ends, not the process.
        let parent = std::process::id();
        // SAFETY: setrlimit, prctl, getppid and kill are async-signal-safe, as a
        // pre_exec hook must be.
        unsafe {
            command.pre_exec(move || {
                crate::process::restore_core_limit();
                crate::process::die_with_parent(parent);
                Ok(())
            });
        }
    }
    let crate::serve::Serving { proxy, trust, .. } = serving;
    let runtime = crate::serve::runtime()?;
    let status = runtime.block_on(async {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(proxy.serve(
            async {
                let _ = stopped.await;
            },
            std::future::pending(),
        ));
        // Listening before the child starts: no signal may end bedkey without it.
        let signals =
            Signals::listen().map_err(|e| Error::failure(format!("cannot handle signals: {e}")))?;
        let mut child = command.spawn().map_err(|e| not_started(program, e))?;
        let status = forward_until_exit(signals, &mut child).await;
        let _ = stop.send(());
        let _ = server.await;
        status.map_err(|e| Error::failure(format!("lost track of '{program}': {e}")))
    });
    runtime.shutdown_background();
    drop(trust);
    let status = status?;
    std::process::exit(exit_code(status));
}

/// Whether a variable of bedkey's own environment is a leftover of the key used
/// directly: the key itself, or a generic base URL naming a Bedrock host.
fn leftover(name: &std::ffi::OsStr, value: &std::ffi::OsStr, key: &bedkey::secret::Secret) -> bool {
    let value = value.to_str().unwrap_or_default();
    let bedrock_base = ["OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"]
        .contains(&name.to_str().unwrap_or_default())
        && (value.contains("bedrock-runtime") || value.contains("bedrock-mantle"));
    bedrock_base || value == bedkey::secret::ExposeSecret::expose_secret(key)
}

/// Wait for the child, passing on the signals a service manager or a terminal sends
/// (see [`Signals`]).
async fn forward_until_exit(
    mut signals: Signals,
    child: &mut tokio::process::Child,
) -> std::io::Result<std::process::ExitStatus> {
    loop {
        let sig = tokio::select! {
            status = child.wait() => return status,
            sig = signals.next() => sig,
        };
        forward(child, sig);
    }
}

#[cfg(unix)]
fn forward(child: &tokio::process::Child, sig: crate::process::SignalNumber) {
    let from_terminal = [libc::SIGINT, libc::SIGQUIT, libc::SIGHUP].contains(&sig);
    if from_terminal && terminal_sent_it_to_us_both() {
        return;
    }
    if let Some(pid) = child.id() {
        // SAFETY: signalling our own child, which has not been reaped yet.
        unsafe { libc::kill(pid as libc::pid_t, sig) };
    }
}

/// Ctrl-C reaches the child too (same console).
#[cfg(not(unix))]
fn forward(_child: &tokio::process::Child, _sig: crate::process::SignalNumber) {}

/// Whether bedkey runs in its terminal's foreground process group, where Ctrl-C,
/// Ctrl-\ and a hang-up reach every process, the child included: forwarding those
/// would deliver them twice.
#[cfg(unix)]
fn terminal_sent_it_to_us_both() -> bool {
    // SAFETY: plain queries on this process's own descriptors.
    unsafe {
        let group = libc::getpgrp();
        (0..3).any(|fd| libc::isatty(fd) == 1 && libc::tcgetpgrp(fd) == group)
    }
}

/// The child's exit code, or 128+N when signal N ended it (as shells report it).
fn exit_code(status: std::process::ExitStatus) -> i32 {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return 128 + sig;
        }
    }
    status.code().unwrap_or(1)
}
