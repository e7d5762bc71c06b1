//! `bedkey exec NAME -- CMD`: run a command with the key in its environment. On Unix
//! bedkey replaces itself with the command, so signals and the exit status are the
//! command's own.

use std::process::Command;

use crate::cli::Exec;
use crate::cmd::{Context, Run};
use bedkey::error::{Error, Result};

impl Run for Exec {
    fn run(&self, ctx: &Context) -> Result<()> {
        let name = self.name.as_deref().unwrap_or("default");
        let key = ctx.load_key(name)?;
        let (program, args) = self
            .command
            .split_first()
            .ok_or_else(|| Error::usage("no command given after --"))?;
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
