use clap::CommandFactory;

use crate::cli::{Cli, Completions};
use crate::cmd::{Context, Run};
use bedkey::error::Result;

impl Run for Completions {
    fn run(&self, _ctx: &Context) -> Result<()> {
        let mut cmd = Cli::command();
        // Rendered first: clap_complete panics on a failed write.
        let mut text = Vec::new();
        clap_complete::generate(self.shell, &mut cmd, "bedkey", &mut text);
        crate::output::stdout_bytes(&text)
    }
}
