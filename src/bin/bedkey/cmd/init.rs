//! `bedkey init SHELL`: profile code that refreshes the key only when it nears expiry.

use crate::cli::Init;
use crate::cmd::{Context, Run};
use crate::output::stdout_line;
use bedkey::config::check_name;
use bedkey::error::Result;
use bedkey::shell;

impl Run for Init {
    fn run(&self, ctx: &Context) -> Result<()> {
        check_name(&self.name)?;
        stdout_line(shell::init_script(self.shell.into(), &self.name, &globals(ctx)).trim_end())
    }
}

/// The global flags this command line gave that decide which key `env` loads and
/// how: the hook must load at every prompt the key this command line names. Values
/// from `BEDKEY_CONFIG_DIR` and `BEDKEY_STORE` are the shell's own already.
fn globals(ctx: &Context) -> Vec<String> {
    let g = &ctx.global;
    let mut flags = Vec::new();
    if let Some(dir) = g
        .config_dir
        .as_ref()
        .filter(|_| crate::cli::given("--config-dir"))
    {
        flags.extend(["--config-dir".to_string(), dir.display().to_string()]);
    }
    if crate::cli::given("--store")
        && let Some(value) = clap::ValueEnum::to_possible_value(&g.store)
    {
        flags.extend(["--store".to_string(), value.get_name().to_string()]);
    }
    if let Some(profile) = &g.profile {
        flags.extend(["--profile".to_string(), profile.clone()]);
    }
    if let Some(region) = &g.region {
        flags.extend(["--region".to_string(), region.clone()]);
    }
    flags
}
