use clap::CommandFactory;

use crate::cli::Cli;
use crate::cmd::{Context, Run};
use bedkey::error::{Error, Result};

pub struct Man;

impl Run for Man {
    fn run(&self, _ctx: &Context) -> Result<()> {
        let page = clap_mangen::Man::new(Cli::command());
        page.render(&mut std::io::stdout())
            .map_err(|e| Error::failure(format!("cannot write the man page: {e}")))
    }
}
