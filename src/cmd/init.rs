//! `bedkey init SHELL`: profile code that refreshes the key only when it nears expiry.

use crate::cli::Init;
use crate::cmd::{Context, Run};
use crate::output::stdout_line;
use bedkey::config::check_name;
use bedkey::error::Result;
use bedkey::shell;

impl Run for Init {
    fn run(&self, _ctx: &Context) -> Result<()> {
        check_name(&self.name)?;
        stdout_line(shell::init_script(self.shell.into(), &self.name).trim_end())
    }
}
