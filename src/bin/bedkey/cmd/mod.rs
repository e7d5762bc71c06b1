//! One module a subcommand. Each implements [`Run`]; `dispatch` picks one.

mod audit;
mod completions;
mod create;
mod doctor;
mod env;
mod exec;
mod guard;
mod import;
mod init;
mod inspect;
mod list;
mod man;
mod proxy;
mod publish;
mod pull;
mod remove;
mod revoke;
mod rotate;
mod schedule;
mod set;
mod token;
mod verify;
mod version;

use bedkey::config::Config;
use bedkey::error::Result;
use bedkey::iam::Iam;
use bedkey::keys::{self, Loaded, Loader};
use bedkey::store::{self, Access, Backend, SecretStore};

use crate::cli::{Cli, Command, Global};
use crate::output::Printer;

/// What every command gets: the global flags and a way to speak, and the library's
/// pieces as a command at a terminal uses them.
pub struct Context {
    pub global: Global,
    pub out: Printer,
}

impl Context {
    /// The metadata file's home: `--config-dir`, `BEDKEY_CONFIG_DIR`, or the platform's,
    /// refused when another user could change it. A writer waits up to a minute for
    /// another bedkey process, saying so after a second.
    pub fn config(&self) -> Result<Config> {
        let config = Config::new(self.global.config_dir.as_deref())?;
        for warning in config.check_ownership()? {
            self.out.warn(warning);
        }
        Ok(config.with_lock_wait(std::time::Duration::from_secs(60), Some(self.out.noter())))
    }

    /// What opening a store takes here: the passphrase from `BEDKEY_PASSPHRASE` or the
    /// terminal, and keyring writes that wait for an unlock prompt at a terminal.
    pub fn access(&self) -> Access {
        Access::new(
            std::sync::Arc::new(crate::prompt::TerminalPassphrase),
            crate::prompt::on_terminal(),
        )
    }

    /// The store a key was kept in.
    pub fn open_store(&self, backend: Backend, config: &Config) -> Result<Box<dyn SecretStore>> {
        store::open(backend, config.dir(), &self.access())
    }

    /// The store new keys go to (`--store`).
    pub fn new_key_store(&self, config: &Config) -> Result<Box<dyn SecretStore>> {
        store::choose(self.global.store.into(), config.dir(), &self.access())
    }

    /// Once a key is stored: warn when its store forgets it at reboot.
    pub fn warn_if_volatile(&self, backend: Backend) {
        if backend.lost_at_reboot() {
            self.out.warn(
                "stored in the kernel keyring: it is lost at reboot (use --store file to keep keys)",
            );
        }
    }

    /// Forget a key (secret, then metadata); with `force`, even when its store cannot
    /// be reached, saying what may be left there.
    pub fn forget_key(&self, config: &Config, name: &str, force: bool) -> Result<()> {
        let access = self.access();
        let open = |b: Backend| store::open(b, config.dir(), &access);
        if let Some(left) = keys::forget(config, &open, name, force)? {
            self.out.warn(left);
        }
        Ok(())
    }

    /// The secret `id` names, with this command line's flags.
    pub fn secret_target(
        &self,
        id: &str,
        flags: &crate::cli::SecretFlags,
        key_region: Option<&str>,
    ) -> Result<bedkey::lifecycle::publish::Target> {
        let g = &self.global;
        self.block_on(bedkey::lifecycle::publish::Target::resolve(
            id,
            flags.secret_region.as_deref(),
            flags.secret_profile.as_deref(),
            g.profile.as_deref(),
            g.region.as_deref(),
            key_region,
        ))?
    }

    /// Say what a library flow had to say as it went.
    pub fn tell(&self, notice: bedkey::lifecycle::Notice) {
        use bedkey::lifecycle::Notice;
        match notice {
            Notice::Detail(text) => self.out.detail(text),
            Notice::Note(text) => self.out.note(text),
            Notice::Warning(text) => self.out.warn(text),
        }
    }

    /// The variables that hand `key` to a program: `key.vars()`, or with `--for` those
    /// of each set asked for.
    pub fn key_vars(
        &self,
        key: &bedkey::keys::Loaded,
        flags: &crate::cli::ClientFlags,
    ) -> Result<Vec<(&'static str, String)>> {
        use bedkey::secret::ExposeSecret;
        if key.meta.service != bedkey::service::Service::Bedrock {
            return bedkey::clients::platform(
                &flags.sets().unwrap_or_default(),
                flags.endpoint.map(Into::into),
                key.secret.expose_secret(),
                key.region().as_deref(),
                key.meta.workspace.as_deref(),
            );
        }
        match flags.sets() {
            None => Ok(key
                .vars()
                .into_iter()
                .map(|(n, v)| (n, v.to_string()))
                .collect()),
            Some(sets) => bedkey::clients::direct(
                &sets,
                flags.surface(),
                key.secret.expose_secret(),
                key.region().as_deref(),
            ),
        }
    }

    /// Run AWS work: a runtime is made only by the commands that talk to AWS.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> Result<F::Output> {
        bedkey::aws::block_on(future)
    }

    /// An IAM client for `--profile` and `--region`; `-v` says whose credentials.
    pub async fn iam(&self) -> Result<Iam> {
        let g = &self.global;
        let (iam, source) = Iam::connect(g.profile.as_deref(), g.region.as_deref()).await?;
        self.out.detail(format_args!("IAM with {source}"));
        Ok(iam)
    }

    /// A key loader as this command line sets it up, refreshing within `budget`.
    pub fn with_loader<T>(
        &self,
        budget: std::time::Duration,
        use_it: impl FnOnce(&Loader, &Config) -> Result<T>,
    ) -> Result<T> {
        let config = self.config()?;
        let access = self.access();
        let open = |b: Backend| store::open(b, config.dir(), &access);
        let loader = Loader::new(&config, &open, budget)?;
        use_it(&loader, &config)
    }

    /// Load a key as `env` and `exec` do (refreshed within the shell budget), and
    /// tell the person what they should know about it.
    pub fn load_key(&self, name: &str) -> Result<Loaded> {
        self.load_key_lasting(name, None)
    }

    /// `load_key`, refreshing a short-term key that has less than `min_ttl` seconds
    /// left (or `BEDKEY_MIN_TTL`, if that is more).
    pub fn load_key_lasting(&self, name: &str, min_ttl: Option<i64>) -> Result<Loaded> {
        let config = self.config()?;
        let access = self.access();
        let open = |b: Backend| store::open(b, config.dir(), &access);
        let mut loader = Loader::new(&config, &open, keys::SHELL_BUDGET)?;
        if let Some(secs) = min_ttl {
            let wanted = secs.max(loader.ttls().0);
            loader = loader.min_ttl(wanted);
        }
        let key = loader.load(name)?;
        tell(&self.out, &key);
        Ok(key)
    }
}

/// What a person should know about a key just loaded: notes and warnings.
pub fn tell(out: &Printer, key: &Loaded) {
    let now = bedkey::time::now();
    for warning in &key.warnings {
        let text = warning.message(&key.name, &key.meta, now);
        if warning.is_note() {
            out.note(text);
        } else {
            out.warn(text);
        }
    }
}

pub trait Run {
    fn run(&self, ctx: &Context) -> Result<()>;
}

pub fn dispatch(cli: Cli) -> Result<()> {
    // Settings from the environment are checked like flags: wrong is exit 2, not ignored.
    bedkey::settings::check()?;
    if cli.global.output == crate::cli::Output::Csv && !matches!(cli.command, Command::Audit(_)) {
        return Err(bedkey::error::Error::usage(
            "--output csv is for `bedkey audit`; other commands print text or json",
        ));
    }
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
        Command::Proxy(c) => c.run(&ctx),
        Command::List(c) => c.run(&ctx),
        Command::Remove(c) => c.run(&ctx),
        Command::Set(c) => c.run(&ctx),
        Command::Revoke(c) if c.leaked => revoke::Leaked(c).run(&ctx),
        Command::Revoke(c) => revoke::Revoke(c).run(&ctx),
        Command::Rotate(c) => c.run(&ctx),
        Command::Verify(c) => c.run(&ctx),
        Command::Audit(c) => c.run(&ctx),
        Command::Guard(c) => c.run(&ctx),
        Command::Schedule(c) => c.run(&ctx),
        Command::Publish(c) => c.run(&ctx),
        Command::Pull(c) => c.run(&ctx),
        Command::Init(c) => c.run(&ctx),
        Command::Doctor => doctor::Doctor.run(&ctx),
        Command::Completions(c) => c.run(&ctx),
        Command::Man => man::Man.run(&ctx),
        Command::Version => version::Version.run(&ctx),
    }
}
