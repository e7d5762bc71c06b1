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
use bedkey::error::{Error, Result};

impl Run for Exec {
    fn run(&self, ctx: &Context) -> Result<()> {
        let name = self.name.as_deref().unwrap_or("default");
        let (program, args) = self
            .command
            .split_first()
            .ok_or_else(|| Error::usage("no command given after --"))?;
        if self.proxy {
            return proxied(ctx, name, program, args);
        }
        let key = ctx.load_key(name)?;
        let mut command = Command::new(program);
        command.args(args);
        for (var, value) in key.vars() {
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
fn proxied(ctx: &Context, name: &str, program: &str, args: &[String]) -> Result<()> {
    let serving = super::proxy::prepare(ctx, name, SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let vars = serving.vars(&serving.trust.ca);
    ctx.out
        .detail(format_args!("serving key '{name}' on {}", serving.endpoint));
    let mut command = tokio::process::Command::new(program);
    command.args(args).envs(vars);
    command.env_remove(bedkey::store::PASSPHRASE_VAR);
    #[cfg(unix)]
    // SAFETY: setrlimit is async-signal-safe, as a pre_exec hook must be.
    unsafe {
        command.pre_exec(|| {
            crate::process::restore_core_limit();
            Ok(())
        });
    }
    let super::proxy::Serving { proxy, trust, .. } = serving;
    let runtime = super::proxy::runtime()?;
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
        let status = signals.forward_until_exit(&mut child).await;
        let _ = stop.send(());
        let _ = server.await;
        status.map_err(|e| Error::failure(format!("lost track of '{program}': {e}")))
    });
    runtime.shutdown_background();
    drop(trust);
    let status = status?;
    std::process::exit(exit_code(status));
}

/// The signals a service manager or a terminal sends, passed on to the child.
#[cfg(unix)]
struct Signals([(tokio::signal::unix::Signal, libc::c_int); 6]);

#[cfg(unix)]
impl Signals {
    fn listen() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals([
            (signal(SignalKind::interrupt())?, libc::SIGINT),
            (signal(SignalKind::terminate())?, libc::SIGTERM),
            (signal(SignalKind::hangup())?, libc::SIGHUP),
            (signal(SignalKind::quit())?, libc::SIGQUIT),
            // By default these would end bedkey and leave the child behind.
            (signal(SignalKind::user_defined1())?, libc::SIGUSR1),
            (signal(SignalKind::user_defined2())?, libc::SIGUSR2),
        ]))
    }

    async fn forward_until_exit(
        mut self,
        child: &mut tokio::process::Child,
    ) -> std::io::Result<std::process::ExitStatus> {
        let [int, term, hup, quit, usr1, usr2] = &mut self.0;
        loop {
            let sig = tokio::select! {
                status = child.wait() => return status,
                _ = int.0.recv() => int.1,
                _ = term.0.recv() => term.1,
                _ = hup.0.recv() => hup.1,
                _ = quit.0.recv() => quit.1,
                _ = usr1.0.recv() => usr1.1,
                _ = usr2.0.recv() => usr2.1,
            };
            let from_terminal = [libc::SIGINT, libc::SIGQUIT, libc::SIGHUP].contains(&sig);
            if from_terminal && terminal_sent_it_to_us_both() {
                continue;
            }
            if let Some(pid) = child.id() {
                // SAFETY: signalling our own child, which has not been reaped yet.
                unsafe { libc::kill(pid as libc::pid_t, sig) };
            }
        }
    }
}

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

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn listen() -> std::io::Result<Signals> {
        Ok(Signals)
    }

    async fn forward_until_exit(
        self,
        child: &mut tokio::process::Child,
    ) -> std::io::Result<std::process::ExitStatus> {
        // Ctrl-C reaches the child too (same console).
        child.wait().await
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
