//! `bedkey revoke NAME`: delete the key's IAM credential, then forget the key. A
//! credential already gone from IAM is not an error: the key is forgotten all the same.

use serde::Serialize;

use crate::cli::Remove;
use crate::cmd::remove::{confirmed, forget};
use crate::cmd::{Context, Run};
use crate::config::{KeyMeta, Origin, check_name};
use crate::error::{Error, Result};
use crate::iam::Iam;

pub struct Revoke<'a>(pub &'a Remove);

#[derive(Serialize)]
struct Json<'a> {
    name: &'a str,
    credential_id: &'a str,
    deleted_in_iam: bool,
    removed: bool,
}

/// The IAM user and credential id of a key bedkey made; anything else is refused.
pub fn iam_identity<'m>(name: &str, meta: &'m KeyMeta, verb: &str) -> Result<(&'m str, &'m str)> {
    match (meta.origin, meta.user.as_deref(), meta.credential_id.as_deref()) {
        (Origin::Iam, Some(user), Some(id)) => Ok((user, id)),
        (origin, _, _) => Err(Error::usage(format!(
            "key '{name}' was {}: bedkey did not make an IAM credential for it, so it cannot {verb} it",
            match origin {
                Origin::Imported => "imported",
                Origin::Minted => "minted from AWS credentials (short-term)",
                Origin::Iam => "made through IAM but its record is incomplete",
            }
        ))
        .with_hint(format!("`bedkey remove {name}` forgets it locally"))),
    }
}

impl Run for Revoke<'_> {
    fn run(&self, ctx: &Context) -> Result<()> {
        let name = &self.0.name;
        check_name(name)?;
        let config = ctx.config()?;
        let meta = config.load()?.get(name)?.clone();
        let (user, id) = iam_identity(name, &meta, "revoke")?;
        confirmed(
            self.0.yes,
            &format!(
                "Delete IAM credential {id} of {user} and forget key '{name}'? Programs using it will stop working."
            ),
        )?;
        let deleted = ctx.block_on(async {
            let iam = Iam::connect(ctx, ctx.global.profile.as_deref()).await?;
            let deleted = iam.delete_credential(user, id).await?;
            if meta.scope.is_some() {
                // The key's own least-privilege policy goes with it.
                iam.delete_inline_policy(user, &format!("bedkey-{name}"))
                    .await?;
            }
            Ok::<_, Error>(deleted)
        })??;
        if let Some(left) = forget(&config, name, self.0.force)? {
            ctx.out.warn(left);
        }
        if ctx.out.json() {
            return ctx.out.print_json(&Json {
                name,
                credential_id: id,
                deleted_in_iam: deleted,
                removed: true,
            });
        }
        if deleted {
            ctx.out.note(format_args!(
                "deleted IAM credential {id} of {user} and forgot key '{name}' (the IAM user stays)"
            ));
        } else {
            ctx.out.note(format_args!(
                "IAM credential {id} of {user} was already gone; forgot key '{name}'"
            ));
        }
        Ok(())
    }
}
