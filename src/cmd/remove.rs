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

/// Delete a key's secret and metadata, under the lock. With `force`, a store that
/// cannot be reached does not stop it: the metadata goes, and what may be left in
/// the store comes back as a warning.
pub fn forget(config: &crate::config::Config, name: &str, force: bool) -> Result<Option<String>> {
    let locked = config.lock()?;
    let mut keys = locked.load()?;
    let meta = keys.get(name)?.clone();
    let deleted = store::open(meta.store, config.dir()).and_then(|s| s.delete(name));
    let left = match deleted {
        Ok(_) => None,
        Err(e) if force => Some(format!(
            "the {} store could not be reached ({}), so its secret for '{name}' may still be there; {}",
            meta.store.as_str(),
            e.message(),
            by_hand(meta.store, name)
        )),
        Err(e) => {
            return Err(e.with_hint(format!(
                "`bedkey remove {name} --force` forgets the key anyway"
            )));
        }
    };
    keys.keys.remove(name);
    locked.save(&keys)?;
    Ok(left)
}

/// How to remove a secret by hand once its store is back.
fn by_hand(backend: store::Backend, name: &str) -> String {
    match backend {
        store::Backend::Keyring => format!(
            "remove it later with `secret-tool clear service bedkey username {name}` (Linux) or your keychain's tool"
        ),
        store::Backend::Keyutils => {
            format!("it goes at reboot, or now with `keyctl purge -s user keyring:{name}@bedkey`")
        }
        store::Backend::File => "it stays, encrypted, in secrets.age in the config dir".to_string(),
    }
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
        if let Some(left) = forget(&config, &self.name, self.force)? {
            ctx.out.warn(left);
        }
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
