//! `bedkey remove NAME`: forget a key locally: its secret, then its metadata. An IAM
//! credential behind it is left alone (`bedkey revoke` deletes that too).

use serde::Serialize;

use bedkey::config::{Origin, check_name};
use bedkey::error::Result;

use crate::cli::Remove;
use crate::cmd::{Context, Run};
use crate::prompt;

#[derive(Serialize)]
struct Json<'a> {
    name: &'a str,
    removed: bool,
}

impl Run for Remove {
    fn run(&self, ctx: &Context) -> Result<()> {
        check_name(&self.name)?;
        let config = ctx.config()?;
        let meta = config.load()?.get(&self.name)?.clone();
        let question = if meta.origin == Origin::Iam {
            format!(
                "Forget key '{}'? Its IAM credential stays active (`bedkey revoke` deletes it).",
                self.name
            )
        } else {
            format!("Forget key '{}'?", self.name)
        };
        prompt::confirmed(self.yes, &question)?;
        ctx.forget_key(&config, &self.name, self.force)?;
        if ctx.out.json() {
            return ctx.out.print_json(&Json {
                name: &self.name,
                removed: true,
            });
        }
        ctx.out.note(format_args!("removed key '{}'", self.name));
        Ok(())
    }
}
