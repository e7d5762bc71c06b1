//! `bedkey rotate NAME`: a new IAM credential for the same user, stored, then the old
//! one deactivated and deleted. At every step the stored key works: the old credential
//! is only touched once the new one is safely stored. Three phases: preflight and
//! make the new credential, store it, retire the old one.

mod due;
mod from_secret;

use serde::Serialize;

use bedkey::config::{Config, KeyMeta, Retirement, check_name};
use bedkey::error::{Error, Result};
use bedkey::iam::Created;
use bedkey::keys;
use bedkey::lifecycle::rotate::{
    self, DEFAULT_GRACE, Retiring, Rotation, clear_retiring, parse_grace, retire_old,
};
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

impl Rotate {
    fn grace(&self, published: bool) -> Result<i64> {
        match &self.grace {
            Some(text) => parse_grace(text),
            None if published => Ok(DEFAULT_GRACE),
            None => Ok(0),
        }
    }
}

impl Run for Rotate {
    fn run(&self, ctx: &Context) -> Result<()> {
        // clap's `requires` does not hold these when NAME is given: checked here.
        if !self.due && (self.within.is_some() || self.notify) {
            return Err(Error::usage("--within and --notify go with --due"));
        }
        if let Some(id) = &self.secret_id {
            if self.due {
                return due::from_secret(ctx, self, id);
            }
            return from_secret::run(ctx, self, id);
        }
        if self.due {
            return due::run(ctx, self);
        }
        let name = self.name.as_deref().unwrap_or_default();
        rotate_named(ctx, self, name, true).map(|_| ())
    }
}

/// Rotate key `name` as `rotate NAME` does; `speak` says whether to report it (a
/// `--due` run says one line a key of its own). Returns the new key's expiry.
fn rotate_named(ctx: &Context, this: &Rotate, name: &str, speak: bool) -> Result<Option<i64>> {
    check_name(name)?;
    if let Some(text) = &this.grace {
        parse_grace(text)?;
    }
    let config = ctx.config()?;
    // One IAM change at a time: a second rotate waits, then sees this one's result.
    let _iam = config.iam_lock()?;
    let meta = config.load()?.get(name)?.clone();
    meta.iam_identity(name, "rotate")?;
    let meta = reconcile(ctx, &config, name, meta)?;
    let (user, old_id) = meta.iam_identity(name, "rotate")?;
    let (user, old_id) = (user.to_string(), old_id.to_string());
    // `--finish --grace 0`: retire now, whatever the grace period said.
    let now_anyway = this.finish && this.grace.is_some() && this.grace(false)? == 0;
    let meta = finish_due(ctx, &config, name, &user, meta, this.finish, now_anyway)?;
    if this.finish {
        return Ok(None);
    }
    let grace = this.grace(!meta.published.is_empty())?;
    let target = Rotation {
        name,
        user,
        old_id,
        days: rotate::lifetime_days(meta.created, meta.expires),
        meta,
    };
    // The new key must have somewhere to go before IAM makes it.
    let backend = ctx.open_store(target.meta.store, &config)?;
    backend.ready()?;
    let held = crate::process::hold_signals();
    let (iam, created) = ctx.block_on(async {
        let iam = ctx.iam().await?;
        let created = rotate::make_new(&iam, &target).await?;
        Ok::<_, Error>((iam, created))
    })??;
    let updated = match store_new(
        ctx,
        &config,
        backend.as_ref(),
        &target,
        &created,
        grace,
        speak,
    ) {
        Ok(updated) => updated,
        Err(e) if !speak => return Err(take_back(ctx, &iam, &target, &created, e)),
        Err(e) => return Err(e),
    };
    drop(held);
    let profile = ctx.global.profile.as_deref();
    ctx.block_on(rotate::publish_all(
        &|n| ctx.tell(n),
        &config,
        &target,
        &created,
        &updated,
        profile,
    ))??;
    if grace > 0 && !updated.published.is_empty() {
        // The secrets say which credential retires; the user must say so too, or
        // `rotate --secret-id` will not retire it.
        let tag = [(bedkey::iam::RETIRING_TAG.to_string(), target.old_id.clone())];
        ctx.block_on(iam.tag_user(&target.user, &tag))??;
    }
    if grace == 0 {
        ctx.block_on(retire_old(&iam, &target.user, &target.old_id))??;
        clear_retiring(&config, name)?;
    }
    if speak {
        report(ctx, &target, &created, &updated, grace)?;
    }
    Ok(updated.expires)
}

/// A `--due` run prints no key into a log: when the new key cannot be stored, its
/// credential goes again, and the old key, untouched and still stored, keeps working.
fn take_back(
    ctx: &Context,
    iam: &bedkey::iam::Iam,
    target: &Rotation<'_>,
    created: &Created,
    e: Error,
) -> Error {
    let name = target.name;
    let gone = ctx.block_on(async {
        iam.deactivate(&target.user, &created.remote.id).await?;
        iam.delete_credential(&target.user, &created.remote.id)
            .await
    });
    match gone {
        Ok(Ok(_)) => e.with_hint(format!(
            "the new credential {} was deleted again; the old key still works. Run `bedkey rotate {name}` at a terminal",
            created.remote.id
        )),
        _ => e.with_hint(format!(
            "the new credential {} of {} could not be deleted: delete it (`aws iam delete-service-specific-credential`), then run `bedkey rotate {name}`",
            created.remote.id, target.user
        )),
    }
}

/// A published key may have been rotated from one of its secrets (a scheduled
/// `rotate --secret-id`): start from the key the secrets hold now. A secret that
/// cannot be read is said, and this home's key is rotated.
fn reconcile(ctx: &Context, config: &Config, name: &str, meta: KeyMeta) -> Result<KeyMeta> {
    if meta.published.is_empty() {
        return Ok(meta);
    }
    let backend = ctx.open_store(meta.store, config)?;
    let read = ctx.with_loader(bedkey::aws::operation_timeout(), |loader, _| {
        Ok(loader.read_published(name, backend.as_ref(), std::time::Instant::now()))
    })?;
    match read {
        Ok(key) => {
            crate::cmd::tell(&ctx.out, &key);
            Ok(key.meta)
        }
        Err(unread) => {
            ctx.out.warn(format_args!(
                "could not read {} to see whether the key was rotated there ({}); rotating this home's key",
                unread.secret,
                unread.error.message()
            ));
            Ok(meta)
        }
    }
}

/// Retire the previous rotation's old credential when its grace period is over and
/// every secret holds the new key. Before it is due, a rotation cannot go on (IAM's
/// two-key limit); `--finish` just says when.
fn finish_due(
    ctx: &Context,
    config: &Config,
    name: &str,
    user: &str,
    meta: KeyMeta,
    finishing: bool,
    now_anyway: bool,
) -> Result<KeyMeta> {
    let retiring = match rotate::retiring(&meta, time::now(), now_anyway) {
        Retiring::Nothing => {
            if finishing {
                ctx.out.note(format_args!(
                    "key '{name}' has no old credential waiting to be retired"
                ));
            }
            return Ok(meta);
        }
        Retiring::Waiting(r) => return not_yet_due(ctx, config, name, user, meta, &r, finishing),
        Retiring::Due(r) => r,
    };
    let current = ctx
        .open_store(meta.store, config)?
        .get(name)?
        .ok_or_else(|| Error::store(format!("key '{name}' has no secret in its store")))?;
    let profile = ctx.global.profile.as_deref();
    ctx.block_on(async {
        let iam = ctx.iam().await?;
        rotate::check_copies(
            &iam,
            name,
            &meta,
            &current,
            &retiring.credential_id,
            profile,
        )
        .await?;
        retire_old(&iam, user, &retiring.credential_id).await
    })??;
    ctx.out.note(format_args!(
        "retired old credential {} of key '{name}'",
        retiring.credential_id
    ));
    clear_retiring(config, name)
}

/// A retirement whose grace period runs: `--finish` says when; a rotation cannot go
/// on (IAM's two-key limit). A credential deleted meanwhile is forgotten.
fn not_yet_due(
    ctx: &Context,
    config: &Config,
    name: &str,
    user: &str,
    meta: KeyMeta,
    retiring: &Retirement,
    finishing: bool,
) -> Result<KeyMeta> {
    let still_there = ctx.block_on(async {
        let listed = ctx.iam().await?.credentials(meta.service, user).await?;
        Ok::<_, Error>(listed.iter().any(|c| c.id == retiring.credential_id))
    })??;
    if !still_there {
        return clear_retiring(config, name);
    }
    let now = time::now();
    let when = format!(
        "{} ({})",
        time::rfc3339(retiring.due),
        time::relative(retiring.due, now)
    );
    if finishing {
        ctx.out.note(format_args!(
            "old credential {} of key '{name}' stays active until {when}",
            retiring.credential_id
        ));
        return Ok(meta);
    }
    Err(Error::failure(format!(
        "the last rotation's old credential {} stays active until {when}, and IAM allows two keys a user",
        retiring.credential_id
    ))
    .with_hint(format!(
        "run `bedkey rotate {name} --finish` then and rotate again, or retire it now with `bedkey rotate {name} --finish --grace 0`"
    )))
}

/// Store the new key in place of the old one. Any failure from here on must hand the
/// new key to the person: AWS never shows it again.
fn store_new(
    ctx: &Context,
    config: &Config,
    backend: &dyn SecretStore,
    t: &Rotation<'_>,
    created: &Created,
    grace: i64,
    hand_over: bool,
) -> Result<KeyMeta> {
    let stored = keys::replace(config, backend, t.name, &created.secret, |meta| {
        meta.credential_id = Some(created.remote.id.clone());
        meta.alias = created.remote.alias.clone();
        meta.created = created.remote.created;
        meta.expires = created.remote.expires;
        // Recorded before anything else can fail: the old credential is retired by
        // this run (no grace) or by a later `rotate --finish`.
        meta.retiring = Some(Retirement {
            credential_id: t.old_id.clone(),
            due: time::now() + grace,
        });
    });
    stored.map_err(|e| {
        if !hand_over {
            return e.context(format!("storing the new key for '{}'", t.name));
        }
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

fn report(
    ctx: &Context,
    t: &Rotation<'_>,
    created: &Created,
    updated: &KeyMeta,
    grace: i64,
) -> Result<()> {
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
    let old = if grace == 0 {
        format!("old credential {} deleted", t.old_id)
    } else {
        format!(
            "old credential {} stays active for {} (`bedkey rotate {} --finish` then)",
            t.old_id,
            time::human(grace),
            t.name
        )
    };
    let published = if updated.published.is_empty() {
        String::new()
    } else {
        format!("; written to {} secret(s)", updated.published.len())
    };
    ctx.out.note(format_args!(
        "rotated key '{}': new credential {} ({}) stored{published}, {old}",
        t.name, created.remote.id, updated.masked
    ));
    Ok(())
}
