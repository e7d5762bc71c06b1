//! `bedkey rotate NAME`: a new IAM credential for the same user, stored, then the old
//! one deactivated and deleted. At every step the stored key works: the old credential
//! is only touched once the new one is safely stored. Three phases: preflight and
//! make the new credential, store it, retire the old one.

use serde::Serialize;

use bedkey::config::{Config, KeyMeta, check_name, policy_name};
use bedkey::error::{Error, Result};
use bedkey::iam::{Created, Iam, MAX_KEYS_PER_USER, Remote};
use bedkey::keys;
use bedkey::store::SecretStore;
use bedkey::time;

use crate::cli::Rotate;
use crate::cmd::{Context, Run};

#[derive(Serialize)]
struct Json<'a> {
    name: &'a str,
    user: &'a str,
    old_credential_id: &'a str,
    new_credential_id: &'a str,
    key: &'a str,
    expires_at: Option<String>,
}

/// The key being rotated, as its metadata names it.
struct Target<'a> {
    name: &'a str,
    meta: KeyMeta,
    user: String,
    old_id: String,
    /// The new key lives as long as the old one did (in days).
    days: Option<i64>,
}

impl Run for Rotate {
    fn run(&self, ctx: &Context) -> Result<()> {
        check_name(&self.name)?;
        let config = ctx.config()?;
        // One IAM change at a time: a second rotate waits, then sees this one's result.
        let _iam = config.iam_lock()?;
        let meta = config.load()?.get(&self.name)?.clone();
        let (user, old_id) = meta.iam_identity(&self.name, "rotate")?;
        let target = Target {
            name: &self.name,
            user: user.to_string(),
            old_id: old_id.to_string(),
            days: meta.expires.map(|at| {
                (at.saturating_sub(meta.created) as f64 / 86_400.0)
                    .round()
                    .clamp(1.0, 36_600.0) as i64
            }),
            meta,
        };
        // The new key must have somewhere to go before IAM makes it.
        let backend = ctx.open_store(target.meta.store, &config)?;
        backend.ready()?;
        let held = crate::process::hold_signals();
        let (iam, created) = ctx.block_on(make_new(ctx, &target))??;
        let updated = store_new(ctx, &config, backend.as_ref(), &target, &created)?;
        drop(held);
        ctx.block_on(retire_old(&iam, &target))??;
        report(ctx, &target, &created, &updated)
    }
}

/// Check IAM still holds the old credential and has room for a new one, renew a
/// scoped key's policy, and make the new credential (swept up if the call fails).
async fn make_new(ctx: &Context, t: &Target<'_>) -> Result<(Iam, Created)> {
    let (name, user, old_id) = (t.name, &t.user, &t.old_id);
    let iam = ctx.iam().await?;
    let existing = iam.credentials(user).await?;
    if !existing.iter().any(|c| c.id == *old_id) {
        return Err(Error::failure(format!(
            "IAM user {user} no longer has credential {old_id}: the key was deleted outside bedkey"
        ))
        .with_hint(format!(
            "`bedkey remove {name}` forgets it; `bedkey create {name}` makes a new one"
        )));
    }
    if existing.len() >= MAX_KEYS_PER_USER {
        return Err(no_room(user, old_id, &existing));
    }
    if let Some(scope) = &t.meta.scope {
        // Renew the policy's expiry condition for the new key first.
        let account = iam.account().await?;
        let until = t.days.map(|d| time::rfc3339(time::now() + d * 86_400));
        let doc = scope.document(&account, t.meta.region.as_deref(), until.as_deref())?;
        iam.put_inline_policy(user, &policy_name(name), &doc.to_string())
            .await?;
    }
    match iam.create_credential(user, t.days).await {
        Ok(created) => Ok((iam, created)),
        Err(e) => {
            let sweep = iam.sweep_after_failed_create(user, &existing).await;
            Err(crate::cmd::create::lost_create(e, sweep, user, &[]))
        }
    }
}

fn no_room(user: &str, old_id: &str, existing: &[Remote]) -> Error {
    let other: Vec<&str> = existing
        .iter()
        .filter(|c| c.id != old_id)
        .map(|c| c.id.as_str())
        .collect();
    Error::failure(format!(
        "IAM user {user} has a second credential ({}) besides this key's: no room for a new one; nothing was changed",
        other.join(", ")
    ))
    .with_hint(format!(
        "delete it first: aws iam delete-service-specific-credential --user-name {user} --service-specific-credential-id {}",
        other[0]
    ))
}

/// Store the new key in place of the old one. Any failure from here on must hand the
/// new key to the person: AWS never shows it again.
fn store_new(
    ctx: &Context,
    config: &Config,
    backend: &dyn SecretStore,
    t: &Target<'_>,
    created: &Created,
) -> Result<KeyMeta> {
    let stored = keys::replace(config, backend, t.name, &created.secret, |meta| {
        meta.credential_id = Some(created.remote.id.clone());
        meta.alias = created.remote.alias.clone();
        meta.created = created.remote.created;
        meta.expires = created.remote.expires;
    });
    stored.map_err(|e| {
        let details = serde_json::json!({
            "name": t.name,
            "user": t.user,
            "old_credential_id": t.old_id,
            "new_credential_id": created.remote.id,
            "expires_at": created.remote.expires.map(time::rfc3339),
        });
        ctx.out.hand_over(
            &created.secret,
            "IAM made the new key (the old one is untouched and still stored)",
            details,
        );
        // At the two-key limit a plain rerun cannot work: the new credential must go
        // first.
        e.context(format!("storing the new key for '{}'", t.name))
            .with_hint(format!(
                "the old key still works; to retry once the store works: `aws iam delete-service-specific-credential --user-name {} --service-specific-credential-id {}` then `bedkey rotate {}`",
                t.user, created.remote.id, t.name
            ))
    })
}

/// Deactivate, then delete, the old credential; a failure says how to finish.
async fn retire_old(iam: &Iam, t: &Target<'_>) -> Result<()> {
    let (user, old_id) = (&t.user, &t.old_id);
    let finish = format!(
        "finish with: aws iam delete-service-specific-credential --user-name {user} --service-specific-credential-id {old_id}"
    );
    iam.deactivate(user, old_id).await.map_err(|e| {
        e.context("the new key is stored, but deactivating the old credential failed")
            .with_hint(&finish)
    })?;
    iam.delete_credential(user, old_id).await.map_err(|e| {
        e.context(
            "the new key is stored and the old credential is inactive, but deleting it failed",
        )
        .with_hint(&finish)
    })?;
    Ok(())
}

fn report(ctx: &Context, t: &Target<'_>, created: &Created, updated: &KeyMeta) -> Result<()> {
    if ctx.out.json() {
        return ctx.out.print_json(&Json {
            name: t.name,
            user: &t.user,
            old_credential_id: &t.old_id,
            new_credential_id: &created.remote.id,
            key: &updated.masked,
            expires_at: updated.expires.map(time::rfc3339),
        });
    }
    ctx.out.note(format_args!(
        "rotated key '{}': new credential {} ({}) stored, old credential {} deleted",
        t.name, created.remote.id, updated.masked, t.old_id
    ));
    Ok(())
}
