//! `bedkey rotate NAME`: a new IAM credential for the same user, stored, then the old
//! one deactivated and deleted. At every step the stored key works: the old credential
//! is only touched once the new one is safely stored.

use serde::Serialize;

use crate::cli::Rotate;
use crate::cmd::revoke::iam_identity;
use crate::cmd::{Context, Run};
use crate::config::{KeyMeta, check_name};
use crate::error::{Error, Result};
use crate::iam::Iam;
use crate::secret::{ExposeSecret, mask};
use crate::store;
use crate::time;

#[derive(Serialize)]
struct Json<'a> {
    name: &'a str,
    user: &'a str,
    old_credential_id: &'a str,
    new_credential_id: &'a str,
    key: &'a str,
    expires_at: Option<String>,
}

impl Run for Rotate {
    fn run(&self, ctx: &Context) -> Result<()> {
        let name = &self.name;
        check_name(name)?;
        let config = ctx.config()?;
        let meta = config.load()?.get(name)?.clone();
        let (user, old_id) = iam_identity(name, &meta, "rotate")?;
        let (user, old_id) = (user.to_string(), old_id.to_string());
        // Same lifetime as the key it replaces.
        let days = meta.expires.map(|at| {
            ((at - meta.created) as f64 / 86_400.0)
                .round()
                .clamp(1.0, 36_600.0) as i64
        });

        // The new key must have somewhere to go before IAM makes it.
        let backend = store::open(meta.store, config.dir())?;
        backend.ready()?;

        let (iam, created) = ctx.block_on(async {
            let iam = Iam::connect(ctx, ctx.global.profile.as_deref()).await?;
            let existing = iam.credentials(&user).await?;
            if !existing.iter().any(|c| c.id == old_id) {
                return Err(Error::failure(format!(
                    "IAM user {user} no longer has credential {old_id}: the key was deleted outside bedkey"
                ))
                .with_hint(format!("`bedkey remove {name}` forgets it; `bedkey create {name}` makes a new one")));
            }
            if existing.len() >= 2 {
                let other: Vec<&str> = existing.iter().filter(|c| c.id != old_id).map(|c| c.id.as_str()).collect();
                return Err(Error::failure(format!(
                    "IAM user {user} has a second credential ({}) besides this key's: no room for a new one; nothing was changed",
                    other.join(", ")
                ))
                .with_hint(format!(
                    "delete it first: aws iam delete-service-specific-credential --user-name {user} --service-specific-credential-id {}",
                    other[0]
                )));
            }
            if let Some(scope) = &meta.scope {
                // Renew the policy's expiry condition for the new key first.
                let account = iam.account().await?;
                let until = days.map(|d| time::rfc3339(time::now() + d * 86_400));
                let doc = scope.document(&account, meta.region.as_deref(), until.as_deref())?;
                iam.put_inline_policy(&user, &format!("bedkey-{name}"), &doc.to_string()).await?;
            }
            let created = iam.create_credential(&user, days).await?;
            Ok((iam, created))
        })??;

        // Store the new key in place of the old one, under the lock. Any failure from
        // here on must hand the new key to the user: AWS never shows it again.
        let stored = (|| -> Result<KeyMeta> {
            let locked = config.lock()?;
            let mut keys = locked.load()?;
            let mut updated = keys.get(name)?.clone();
            let previous = backend.get(name)?;
            backend.set(name, &created.secret)?;
            updated.credential_id = Some(created.remote.id.clone());
            updated.alias = created.remote.alias.clone();
            updated.created = created.remote.created;
            updated.expires = created.remote.expires;
            updated.masked = mask(created.secret.expose_secret());
            keys.keys.insert(name.to_string(), updated.clone());
            if let Err(e) = locked.save(&keys) {
                // Put the old key back, so that store and metadata agree again.
                return Err(match previous.map(|old| backend.set(name, &old)) {
                    Some(Ok(())) => e,
                    _ => e.context(
                        "the store now holds the new key but keys.json still names the old credential",
                    ),
                });
            }
            Ok(updated)
        })();
        let updated = match stored {
            Ok(updated) => updated,
            Err(e) => {
                let details = serde_json::json!({
                    "name": name,
                    "user": user,
                    "old_credential_id": old_id,
                    "new_credential_id": created.remote.id,
                    "expires_at": created.remote.expires.map(time::rfc3339),
                });
                ctx.out.hand_over(
                    &created.secret,
                    "IAM made the new key (the old one is untouched and still stored)",
                    details,
                );
                // At the two-key limit a plain rerun cannot work: the new credential
                // must go first.
                return Err(e.context(format!("storing the new key for '{name}'")).with_hint(format!(
                    "the old key still works; to retry once the store works: `aws iam delete-service-specific-credential --user-name {user} --service-specific-credential-id {}` then `bedkey rotate {name}`",
                    created.remote.id
                )));
            }
        };

        ctx.block_on(async {
            iam.deactivate(&user, &old_id).await.map_err(|e| {
                e.context("the new key is stored, but deactivating the old credential failed")
                    .with_hint(format!(
                        "finish with: aws iam delete-service-specific-credential --user-name {user} --service-specific-credential-id {old_id}"
                    ))
            })?;
            iam.delete_credential(&user, &old_id).await.map_err(|e| {
                e.context("the new key is stored and the old credential is inactive, but deleting it failed")
                    .with_hint(format!(
                        "finish with: aws iam delete-service-specific-credential --user-name {user} --service-specific-credential-id {old_id}"
                    ))
            })
        })??;

        if ctx.out.json() {
            return ctx.out.print_json(&Json {
                name,
                user: &user,
                old_credential_id: &old_id,
                new_credential_id: &created.remote.id,
                key: &updated.masked,
                expires_at: updated.expires.map(time::rfc3339),
            });
        }
        ctx.out.note(format_args!(
            "rotated key '{name}': new credential {} ({}) stored, old credential {old_id} deleted",
            created.remote.id, updated.masked
        ));
        Ok(())
    }
}
