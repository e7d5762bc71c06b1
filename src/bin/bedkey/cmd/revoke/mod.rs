//! `bedkey revoke NAME`: delete the key's IAM credential, then forget the key. A
//! credential already gone from IAM is not an error: the key is forgotten all the same.
//! `bedkey revoke --leaked` is incident response for a key read from stdin: see
//! [`leaked`].

mod leaked;

pub use leaked::Leaked;

use serde::Serialize;

use bedkey::config::{check_name, policy_name};
use bedkey::error::{Error, Result};

use crate::cli::Revoke as Args;
use crate::cmd::{Context, Run};
use crate::prompt;

pub struct Revoke<'a>(pub &'a Args);

#[derive(Serialize)]
struct Json<'a> {
    name: &'a str,
    credential_id: &'a str,
    deleted_in_iam: bool,
    removed: bool,
    /// Secrets that still hold the revoked key.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    still_in_secrets: Vec<String>,
}

impl Run for Revoke<'_> {
    fn run(&self, ctx: &Context) -> Result<()> {
        let a = self.0;
        // clap's `requires` does not hold these when NAME is given: a dry run must
        // never be taken for a revoke.
        if a.dry_run
            || a.delete
            || a.credential_id.is_some()
            || a.role.is_some()
            || a.org
            || crate::cli::given("--org-role")
        {
            return Err(Error::usage(
                "--dry-run, --delete, --credential-id, --role, --org and --org-role go with --leaked; `bedkey revoke NAME` deletes the key's credential",
            ));
        }
        let name = self.0.name.as_deref().unwrap_or_default();
        check_name(name)?;
        let config = ctx.config()?;
        let _iam = config.iam_lock()?;
        let meta = config.load()?.get(name)?.clone();
        let (user, id) = meta.iam_identity(name, "revoke")?;
        prompt::confirmed(
            self.0.yes,
            &format!(
                "Delete IAM credential {id} of {user} and forget key '{name}'? Programs using it will stop working."
            ),
        )?;
        let deleted = ctx.block_on(async {
            let iam = ctx.iam().await?;
            let deleted = iam.delete_credential(user, id).await?;
            if meta.scope.is_some() {
                // The key's own least-privilege policy goes with it.
                iam.delete_inline_policy(user, &policy_name(name))
                    .await
                    .map_err(|e| {
                        e.context(format!(
                            "IAM credential {id} is deleted, but its inline policy is not"
                        ))
                        .with_hint(format!("run `bedkey revoke {name}` again to finish"))
                    })?;
            }
            Ok::<_, Error>(deleted)
        })??;
        ctx.forget_key(&config, name, self.0.force).map_err(|e| {
            e.context(format!(
                "IAM credential {id} is deleted, but key '{name}' could not be forgotten"
            ))
        })?;
        if ctx.out.json() {
            return ctx.out.print_json(&Json {
                name,
                credential_id: id,
                deleted_in_iam: deleted,
                removed: true,
                still_in_secrets: meta.published.iter().map(|p| p.secret.clone()).collect(),
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
        // bedkey deletes no secret: others may read it, or it holds more than the key.
        let holding: Vec<&str> = meta.published.iter().map(|p| p.secret.as_str()).collect();
        if !holding.is_empty() {
            ctx.out.warn(format_args!(
                "these secrets still hold the revoked key: {}; delete or overwrite them",
                holding.join(", ")
            ));
        }
        Ok(())
    }
}
