use clap::CommandFactory;

use crate::cli::Cli;
use crate::cmd::{Context, Run};
use bedkey::error::{Error, Result};

pub struct Man;

impl Run for Man {
    fn run(&self, _ctx: &Context) -> Result<()> {
        let page = clap_mangen::Man::new(Cli::command());
        let mut text = Vec::new();
        page.render(&mut text)
            .map_err(|e| Error::failure(format!("cannot render the man page: {e}")))?;
        crate::output::stdout_bytes(&text)
    }
}
