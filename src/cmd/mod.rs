//! One module a subcommand. Each implements [`Run`]; `dispatch` picks one.

mod completions;
mod create;
mod doctor;
mod env;
mod exec;
mod import;
mod init;
mod inspect;
mod list;
mod man;
mod remove;
mod revoke;
mod rotate;
pub mod token;
mod verify;

use crate::cli::{Cli, Command, Global};
use crate::error::{Error, Result};
use crate::output::Printer;

/// What every command gets: the global flags and a way to speak.
pub struct Context {
    pub global: Global,
    pub out: Printer,
}

impl Context {
    /// The metadata file's home: `--config-dir`, `BEDKEY_CONFIG_DIR`, or the platform's,
    /// refused when another user could change it. A writer waits up to a minute for
    /// another bedkey process, saying so after a second.
    pub fn config(&self) -> Result<crate::config::Config> {
        let config = crate::config::Config::new(self.global.config_dir.as_deref())?;
        for warning in config.check_ownership()? {
            self.out.warn(warning);
        }
        Ok(config.with_lock_wait(std::time::Duration::from_secs(60), Some(self.out.noter())))
    }

    /// A single-threaded runtime, made only by the commands that talk to AWS, so that
    /// offline commands never pay for it.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> Result<F::Output> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::failure(format!("cannot start the async runtime: {e}")))?;
        let out = runtime.block_on(future);
        // Never wait for work left behind (a DNS lookup after a timeout): bedkey is done.
        runtime.shutdown_background();
        Ok(out)
    }
}

pub trait Run {
    fn run(&self, ctx: &Context) -> Result<()>;
}

pub fn dispatch(cli: Cli) -> Result<()> {
    let out = Printer::new(cli.global.output, cli.global.quiet, cli.global.verbose);
    let ctx = Context {
        global: cli.global,
        out,
    };
    match &cli.command {
        Command::Token(c) => c.run(&ctx),
        Command::Inspect(c) => c.run(&ctx),
        Command::Create(c) => c.run(&ctx),
        Command::Import(c) => c.run(&ctx),
        Command::Env(c) => c.run(&ctx),
        Command::Exec(c) => c.run(&ctx),
        Command::List(c) => c.run(&ctx),
        Command::Remove(c) => c.run(&ctx),
        Command::Revoke(c) => revoke::Revoke(c).run(&ctx),
        Command::Rotate(c) => c.run(&ctx),
        Command::Verify(c) => c.run(&ctx),
        Command::Init(c) => c.run(&ctx),
        Command::Doctor => doctor::Doctor.run(&ctx),
        Command::Completions(c) => c.run(&ctx),
        Command::Man => man::Man.run(&ctx),
    }
}
