//! `bedkey init SHELL`: profile code that refreshes the key only when it nears expiry.

use crate::cli::Init;
use crate::cmd::{Context, Run};
use crate::config::check_name;
use crate::error::Result;
use crate::output::stdout_line;
use crate::shell;

impl Run for Init {
    fn run(&self, _ctx: &Context) -> Result<()> {
        check_name(&self.name)?;
        stdout_line(shell::init_script(self.shell, &self.name).trim_end())
    }
}
