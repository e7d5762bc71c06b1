//! `bedkey remove NAME`: forget a key locally: its secret, then its metadata. An IAM
//! credential behind it is left alone (`bedkey revoke` deletes that too).

use serde::Serialize;

use crate::cli::Remove;
use crate::cmd::{Context, Run};
use crate::config::{Origin, check_name};
use crate::error::{Error, Result};
use crate::prompt;
use crate::store;

#[derive(Serialize)]
struct Json<'a> {
    name: &'a str,
    removed: bool,
}

/// Ask on a terminal; refuse off one without `--yes`.
pub fn confirmed(yes: bool, question: &str) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !prompt::on_terminal() {
        return Err(Error::usage("not on a terminal: pass --yes to confirm"));
    }
    if prompt::confirm(question)? {
        Ok(())
    } else {
        Err(Error::interrupted("cancelled; nothing changed"))
    }
}

/// Delete a key's secret and metadata, under the lock.
pub fn forget(config: &crate::config::Config, name: &str) -> Result<()> {
    let locked = config.lock()?;
    let mut keys = locked.load()?;
    let meta = keys.get(name)?.clone();
    store::open(meta.store, config.dir())?.delete(name)?;
    keys.keys.remove(name);
    locked.save(&keys)
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
        confirmed(self.yes, &question)?;
        forget(&config, &self.name)?;
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
