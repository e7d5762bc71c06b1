//! `bedkey rotate NAME`: a new IAM credential for the same user, stored, then the old
//! one deactivated and deleted. At every step the stored key works: the old credential
//! is only touched once the new one is safely stored. Three phases: preflight and
//! make the new credential, store it, retire the old one.

use serde::Serialize;

use bedkey::config::{Config, KeyMeta, Publication, Retirement, check_name, policy_name};
use bedkey::error::{Error, Result};
use bedkey::iam::{Created, Iam, MAX_KEYS_PER_USER, Remote};
use bedkey::keys;
use bedkey::lifecycle::copies;
use bedkey::secret::ExposeSecret;
use bedkey::secrets::{self, Secrets};
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

/// The grace period a published key's old credential keeps after a rotation: twice
/// `BEDKEY_SHARED_TTL`'s default, so every teammate's cached copy is read again first.
const DEFAULT_GRACE: i64 = 2 * 3600;

/// The longest grace period: a retirement must not block rotation for good.
const MAX_GRACE: i64 = 30 * 86_400;

impl Rotate {
    fn grace(&self, published: bool) -> Result<i64> {
        match &self.grace {
            Some(text) => parse_grace(text),
            None if published => Ok(DEFAULT_GRACE),
            None => Ok(0),
        }
    }
}

/// `--grace`: 0 to 30 days.
pub(crate) fn parse_grace(text: &str) -> Result<i64> {
    let secs = bedkey::time::parse_duration(text)
        .map_err(|e| e.context("--grace"))?
        .as_secs();
    if secs > MAX_GRACE as u64 {
        return Err(Error::usage(format!(
            "--grace {text} is out of range: 0s to 30d"
        )));
    }
    Ok(secs as i64)
}

impl Run for Rotate {
    fn run(&self, ctx: &Context) -> Result<()> {
        if let Some(id) = &self.secret_id {
            return crate::cmd::rotate_secret::run(ctx, self, id);
        }
        let name = self.name.as_deref().unwrap_or_default();
        check_name(name)?;
        if let Some(text) = &self.grace {
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
        let now_anyway = self.finish && self.grace.is_some() && self.grace(false)? == 0;
        let meta = finish_due(ctx, &config, name, &user, meta, self.finish, now_anyway)?;
        if self.finish {
            return Ok(());
        }
        let grace = self.grace(!meta.published.is_empty())?;
        let target = Target {
            name,
            user,
            old_id,
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
        let updated = store_new(ctx, &config, backend.as_ref(), &target, &created, grace)?;
        drop(held);
        publish_all(ctx, &config, &target, &created, &updated)?;
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
        report(ctx, &target, &created, &updated, grace)
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
    let Some(retiring) = meta.retiring.clone() else {
        if finishing {
            ctx.out.note(format_args!(
                "key '{name}' has no old credential waiting to be retired"
            ));
        }
        return Ok(meta);
    };
    let now = time::now();
    if retiring.due > now && !now_anyway {
        return not_yet_due(ctx, config, name, user, meta, &retiring, finishing);
    }
    check_secrets_hold_current(ctx, config, name, &meta, &retiring.credential_id)?;
    ctx.block_on(async {
        let iam = ctx.iam().await?;
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
        let listed = ctx.iam().await?.credentials(user).await?;
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

/// Before an old credential goes: every secret the key was published to holds the
/// current key. bedkey's record first, then the secrets themselves: a copy written
/// back by hand (or by an old home) would be left holding a deleted key.
fn check_secrets_hold_current(
    ctx: &Context,
    config: &Config,
    name: &str,
    meta: &KeyMeta,
    retiring: &str,
) -> Result<()> {
    let behind = |p: &Publication| {
        Error::failure(format!(
            "secret {} does not hold the current key, so the old credential {retiring} stays active",
            p.secret
        ))
        .with_hint(publish_command(name, p))
    };
    if let Some(p) = meta
        .published
        .iter()
        .find(|p| p.credential_id != meta.credential_id)
    {
        return Err(behind(p));
    }
    let current = ctx
        .open_store(meta.store, config)?
        .get(name)?
        .ok_or_else(|| Error::store(format!("key '{name}' has no secret in its store")))?;
    for p in &meta.published {
        let holds = ctx.block_on(async {
            let profile = p.profile.as_deref().or(ctx.global.profile.as_deref());
            let (client, _) = Secrets::connect(profile, &p.region).await?;
            let read = client.read(&p.secret).await?;
            Ok::<_, Error>(
                read.and_then(|r| secrets::parse(&r.value, &p.secret).ok())
                    .map(|(k, _)| k),
            )
        })??;
        if holds.is_none_or(|k| k.expose_secret() != current.expose_secret()) {
            return Err(behind(p));
        }
    }
    // Secrets the key was published to from elsewhere, named on its IAM user: those
    // that still hold the retiring credential get the current key first.
    let user = meta.user.as_deref().unwrap_or_default();
    let profile = ctx.global.profile.as_deref();
    let left = ctx.block_on(async {
        let tags = ctx.iam().await?.user_tags(user).await?;
        let others: Vec<String> = bedkey::iam::tagged_secrets(&tags)
            .into_iter()
            .filter(|arn| !meta.published.iter().any(|p| p.secret == *arn))
            .collect();
        let found = copies::holding(&others, retiring, profile).await;
        let mut about = crate::cmd::publish::about(name, meta);
        about.retiring = meta.retiring.as_ref().map(|r| {
            serde_json::json!({"credential_id": r.credential_id, "after": time::rfc3339(r.due)})
        });
        let mut left = copies::overwrite(&found.holding, &current, &about, profile).await;
        left.extend(found.unknown);
        Ok::<_, Error>(left)
    })??;
    if !left.is_empty() {
        return Err(Error::failure(format!(
            "the old credential {retiring} stays active: it may still be the key of {}",
            copies::describe(&left)
        ))
        .with_hint(format!(
            "give this home access to those secrets, or write the current key there, then `bedkey rotate {name} --finish`"
        )));
    }
    Ok(())
}

fn clear_retiring(config: &Config, name: &str) -> Result<KeyMeta> {
    config.update(|keys| {
        let meta = keys
            .keys
            .get_mut(name)
            .ok_or_else(|| Error::no_such_key(name))?;
        meta.retiring = None;
        Ok(meta.clone())
    })
}

/// The command that writes the current key to a secret again.
fn publish_command(name: &str, p: &Publication) -> String {
    let mut command = format!(
        "`bedkey publish {name} --secret-id {} --secret-region {}",
        p.secret, p.region
    );
    if let Some(profile) = &p.profile {
        command.push_str(&format!(" --secret-profile {profile}"));
    }
    if p.raw {
        command.push_str(" --raw");
    }
    command.push('`');
    command
}

/// Write the new key to every secret the key was published to, as the new
/// `AWSCURRENT`, saying which old credential retires when. A failure leaves the old
/// credential active and says how to resume.
fn publish_all(
    ctx: &Context,
    config: &Config,
    t: &Target<'_>,
    created: &Created,
    updated: &KeyMeta,
) -> Result<()> {
    for p in &updated.published {
        let target = crate::cmd::publish::Target {
            id: p.secret.clone(),
            region: p.region.clone(),
            profile: p.profile.clone().or_else(|| ctx.global.profile.clone()),
        };
        let mut about = crate::cmd::publish::about(t.name, updated);
        about.retiring = updated.retiring.as_ref().map(|r| {
            serde_json::json!({"credential_id": r.credential_id, "after": time::rfc3339(r.due)})
        });
        let written = ctx.block_on(crate::cmd::publish::write(
            ctx,
            &target,
            &created.secret,
            &about,
            p.raw,
            None,
            updated,
        ))?;
        if let Err(e) = written {
            return Err(e
                .context(format!(
                    "the new key is stored, but writing it to {} failed; the old credential {} stays active",
                    p.secret, t.old_id
                ))
                .with_hint(format!(
                    "resume with {}; the old credential retires with `bedkey rotate {} --finish`",
                    publish_command(t.name, p),
                    t.name
                )));
        }
        crate::cmd::publish::record(
            config,
            t.name,
            Publication {
                at: time::now(),
                credential_id: Some(created.remote.id.clone()),
                read_at: Some(time::now()),
                ..p.clone()
            },
        )?;
    }
    Ok(())
}

/// Check IAM still holds the old credential and has room for a new one, renew a
/// scoped key's policy, and make the new credential (swept up if the call fails).
async fn make_new(ctx: &Context, t: &Target<'_>) -> Result<(Iam, Created)> {
    let (name, user, old_id) = (t.name, &t.user, &t.old_id);
    let iam = ctx.iam().await?;
    let existing = iam.credentials(user).await?;
    if !existing.iter().any(|c| c.id == *old_id) {
        let hint = if t.meta.published.is_empty() {
            format!("`bedkey remove {name}` forgets it; `bedkey create {name}` makes a new one")
        } else {
            format!(
                "if it was rotated from its secret, `bedkey pull {name}` takes the secret's key into this home"
            )
        };
        return Err(Error::failure(format!(
            "IAM user {user} no longer has credential {old_id}: the key was deleted outside bedkey"
        ))
        .with_hint(hint));
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
        Err(e) if !bedkey::iam::may_have_acted(&e) => Err(e),
        Err(e) => {
            let sweep = iam.sweep_after_failed_create(user, &existing).await;
            Err(bedkey::lifecycle::create::lost_create(e, sweep, user, &[]))
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
    grace: i64,
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

/// Deactivate, then delete, an old credential (one already gone is fine); a failure
/// says how to finish.
pub(crate) async fn retire_old(iam: &Iam, user: &str, old_id: &str) -> Result<()> {
    let finish = format!(
        "finish with: aws iam delete-service-specific-credential --user-name {user} --service-specific-credential-id {old_id}"
    );
    if let Err(e) = iam.deactivate(user, old_id).await {
        if e.code() == Some("NoSuchEntity") {
            return Ok(());
        }
        return Err(e
            .context("the new key is stored, but deactivating the old credential failed")
            .with_hint(&finish));
    }
    iam.delete_credential(user, old_id).await.map_err(|e| {
        e.context(
            "the new key is stored and the old credential is inactive, but deleting it failed",
        )
        .with_hint(&finish)
    })?;
    Ok(())
}

fn report(
    ctx: &Context,
    t: &Target<'_>,
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
