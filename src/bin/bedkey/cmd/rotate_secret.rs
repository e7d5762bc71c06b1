//! `bedkey rotate --secret-id ID`: rotate the key a secret holds, from the secret
//! alone (its `iam_user` and `credential_id`), with no local bedkey state: what a
//! scheduled CI job runs. The secret is where the new key goes, and every other
//! secret the IAM user names that holds the old key gets it too; the old credential
//! stays active for the grace period and is retired by the next run once due, and
//! never while a named secret still holds it.

use bedkey::error::{Error, Result};
use bedkey::iam::{Created, Iam, MAX_KEYS_PER_USER};
use bedkey::lifecycle::copies;
use bedkey::secret::Secret;
use bedkey::secrets::{self, About, Secrets};
use bedkey::time;
use bedkey::token::{self, Decoded};

use crate::cli::Rotate;
use crate::cmd::Context;
use crate::cmd::publish::Target;
use crate::cmd::rotate::retire_old;

pub fn run(ctx: &Context, rotate: &Rotate, id: &str) -> Result<()> {
    let target = Target::resolve(ctx, id, &rotate.secret, None)?;
    let (value, arn) = ctx.block_on(read(&target))??;
    let (about, claims) = claims(&value, id)?;
    let grace = match &rotate.grace {
        Some(text) => crate::cmd::rotate::parse_grace(text)?,
        None => 2 * 3600,
    };
    let held = crate::process::hold_signals();
    let (iam, created, others) = ctx.block_on(make_new(ctx, &target, &claims, &about, &arn))??;
    let Claims { user, old_id, .. } = claims;
    // The retirement is recorded even when it is meant to happen now: if another
    // secret still holds the old key, the next run finishes it. Named on the user, so
    // that the next run retires this one and nothing else.
    let tag = [(bedkey::iam::RETIRING_TAG.to_string(), old_id.clone())];
    ctx.block_on(iam.tag_user(&user, &tag))??;
    let retiring = Some(
        serde_json::json!({"credential_id": old_id, "after": time::rfc3339(time::now() + grace)}),
    );
    let new_about = About {
        expires_at: created.remote.expires.map(time::rfc3339),
        credential_id: Some(created.remote.id.clone()),
        retiring,
        ..about
    };
    match ctx.block_on(write_new(&target, &arn, id, &old_id, &created, &new_about))? {
        Ok(()) => {}
        Err(Unwritten::Raced(raced)) => {
            let surplus = &created.remote.id;
            return Err(match ctx.block_on(iam.delete_credential(&user, surplus))? {
                Ok(_) => raced,
                Err(e) => e.context(format!(
                    "another rotation changed {arn} meanwhile, and deleting this run's surplus credential {surplus} failed"
                )),
            });
        }
        Err(Unwritten::Failed(failed)) => {
            return Err(not_written(ctx, &arn, &user, &created, failed));
        }
    }
    drop(held);
    // Every other secret of this user that held the old key gets the new one.
    let profile = target.profile.as_deref();
    let behind = ctx.block_on(async {
        let found = copies::holding(&others, &old_id, profile).await;
        let mut behind =
            copies::overwrite(&found.holding, &created.secret, &new_about, profile).await;
        behind.extend(found.unknown);
        behind
    })?;
    if !behind.is_empty() {
        ctx.out.warn(format_args!(
            "the old key stays in {}: its credential {old_id} stays active until they hold the new key (the next run writes them again)",
            copies::describe(&behind)
        ));
    }
    let retired = grace == 0 && behind.is_empty();
    if retired {
        ctx.block_on(retire_old(&iam, &user, &old_id))??;
    }
    ctx.out.note(format_args!(
        "rotated the key in {arn}: new credential {} of {user} is its AWSCURRENT value; old credential {old_id} {}",
        created.remote.id,
        if retired {
            "deleted".to_string()
        } else if grace == 0 {
            "stays active (other secrets still hold it)".to_string()
        } else {
            format!("stays active for {} (the next run retires it)", time::human(grace))
        }
    ));
    Ok(())
}

/// The new key did not reach the secret, or not for sure: hand it over, and say what
/// to do without ever suggesting the deletion of a key the secret may hold.
fn not_written(
    ctx: &Context,
    arn: &str,
    user: &str,
    created: &Created,
    failed: secrets::NotWritten,
) -> Error {
    let details =
        serde_json::json!({"secret": arn, "user": user, "new_credential_id": created.remote.id});
    match failed.holds_it {
        Some(_) => {
            ctx.out.hand_over(
                &created.secret,
                "IAM made the new key (the secret still holds the old one, which works)",
                details,
            );
            failed
                .error
                .context(format!("writing the new key to {arn}"))
                .with_hint(format!(
                    "write the key printed into the secret's bedrock_api_key, or delete credential {} and run this again",
                    created.remote.id
                ))
        }
        None => {
            ctx.out.hand_over(
                &created.secret,
                "IAM made the new key, and the secret may or may not hold it (both keys work)",
                details,
            );
            failed
                .error
                .context(format!(
                    "writing the new key to {arn}, which could not be read back to check"
                ))
                .with_hint(format!(
                    "read the secret (`aws secretsmanager get-secret-value --secret-id {arn}`): if its credential_id is not {}, write the key printed into its bedrock_api_key",
                    created.remote.id
                ))
        }
    }
}

/// Why the new key is not in the secret.
enum Unwritten {
    /// Another rotation changed the secret meanwhile: this run's credential is
    /// surplus, and the secret stays as that run left it.
    Raced(Error),
    Failed(secrets::NotWritten),
}

/// Write the new key into the secret, unless another rotation changed it meanwhile
/// (two schedulers, a person). A reply lost after the write took effect is a write.
async fn write_new(
    target: &Target,
    arn: &str,
    id: &str,
    old_id: &str,
    created: &Created,
    new_about: &About,
) -> Result<(), Unwritten> {
    let unknown = |error| {
        Unwritten::Failed(secrets::NotWritten {
            error,
            holds_it: Some(false),
        })
    };
    let (client, _) = Secrets::connect(target.profile.as_deref(), &target.region)
        .await
        .map_err(unknown)?;
    let current = client.read(arn).await.map_err(unknown)?;
    let now_names = current
        .as_ref()
        .and_then(|r| secrets::parse(&r.value, id).ok())
        .and_then(|(_, a)| a.credential_id);
    if now_names.as_deref() != Some(old_id) {
        return Err(Unwritten::Raced(Error::failure(format!(
            "another rotation changed {arn} meanwhile; this run's new credential {} was deleted and the secret left as it is",
            created.remote.id
        ))));
    }
    let text = current.map(|r| bedkey::secret::ExposeSecret::expose_secret(&r.value).to_string());
    let value = secrets::value(text.as_deref(), &created.secret, new_about, false);
    // The secret was tagged when it was published: a CI role needs no TagResource.
    client
        .write_checked(arn, &value, None, None, &created.secret)
        .await
        .map(|_| ())
        .map_err(Unwritten::Failed)
}

/// What a secret says its key is: the IAM user, the credential, and the alias inside
/// the key itself, which IAM must agree with before anything changes.
struct Claims {
    user: String,
    old_id: String,
    alias: String,
    key: Secret,
}

fn claims(value: &Secret, id: &str) -> Result<(About, Claims)> {
    let (key, about) = secrets::parse(value, id)?;
    let (Some(user), Some(old_id)) = (about.iam_user.clone(), about.credential_id.clone()) else {
        return Err(Error::usage(format!(
            "secret {id} does not say which IAM user and credential its key is (no iam_user, credential_id)"
        ))
        .with_hint("publish the key with `bedkey publish`, which writes them"));
    };
    // The name comes from the secret, not a flag: say so.
    bedkey::policy::check_user(&user).map_err(|e| {
        Error::usage(format!(
            "secret {id} names an IAM user bedkey cannot use: {}",
            e.message()
        ))
        .with_hint("publish the key again with `bedkey publish` from the home that made it")
    })?;
    let Ok(Decoded::LongTerm(long)) =
        token::decode(bedkey::secret::ExposeSecret::expose_secret(&key))
    else {
        return Err(Error::usage(format!(
            "secret {id} holds a short-term key: there is nothing to rotate"
        )));
    };
    let claims = Claims {
        user,
        old_id,
        alias: long.alias,
        key,
    };
    Ok((about, claims))
}

/// Retire what the last run left, once its grace period is over; before, no rotation
/// (IAM's two-key limit). The secret's word is checked against the user's tag, and
/// every other secret the user names that still holds the retiring credential first
/// gets the current key: none is left holding a deleted one.
async fn retire_due(
    iam: &Iam,
    claims: &Claims,
    about: &About,
    tagged: Option<&str>,
    others: &[String],
    existing: &[bedkey::iam::Remote],
    profile: Option<&str>,
) -> Result<()> {
    let Some(r) = &about.retiring else {
        return Ok(());
    };
    let user = &claims.user;
    let id = r
        .get("credential_id")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let after = r
        .get("after")
        .and_then(|v| v.as_str())
        .and_then(|t| time::parse_instant(t).ok())
        .unwrap_or(i64::MAX);
    // Retired already (the last run did it at once), or never this user's.
    if id.is_empty() || id == claims.old_id || !existing.iter().any(|c| c.id == id) {
        return Ok(());
    }
    if after > time::now() {
        return Err(Error::failure(format!(
            "the last rotation's old credential {id} stays active until {}, and IAM allows two keys a user",
            time::rfc3339(after)
        ))
        .with_hint("run this again after then"));
    }
    // The secret's word is not enough: the user must name it as retiring too.
    if tagged != Some(id) {
        return Err(Error::failure(format!(
            "the secret asks to retire credential {id}, which IAM user {user} does not name as retiring (tag {}); nothing was changed",
            bedkey::iam::RETIRING_TAG
        )));
    }
    let found = copies::holding(others, id, profile).await;
    let mut behind = copies::overwrite(&found.holding, &claims.key, about, profile).await;
    behind.extend(found.unknown);
    if !behind.is_empty() {
        return Err(Error::failure(format!(
            "the old credential {id} is not retired: it may still be the key of {}; nothing else was changed",
            copies::describe(&behind)
        ))
        .with_hint("give this job read and write access to those secrets, or write the current key there, then run this again"));
    }
    retire_old(iam, user, id).await
}

async fn read(target: &Target) -> Result<(Secret, String)> {
    let (client, _) = Secrets::connect(target.profile.as_deref(), &target.region).await?;
    let read = client.read(&target.id).await?.ok_or_else(|| {
        Error::failure(format!(
            "no secret {} with a current value in {}",
            target.id, target.region
        ))
    })?;
    Ok((read.value, read.arn))
}

/// Retire what a previous run left due, check there is room, and make the new
/// credential (swept up if the call fails). Returns the client, the new credential,
/// and the other secrets the user names.
async fn make_new(
    ctx: &Context,
    target: &Target,
    claims: &Claims,
    about: &About,
    arn: &str,
) -> Result<(Iam, Created, Vec<String>)> {
    let Claims {
        user,
        old_id,
        alias,
        ..
    } = claims;
    let iam = ctx.iam().await?;
    let tags = iam.user_tags(user).await?;
    let tag = |key: &str| tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let mut named = bedkey::iam::tagged_secrets(&tags);
    if !named.iter().any(|s| s == arn) {
        return Err(Error::failure(format!(
            "IAM user {user} does not name this secret (no {}:… tag is {arn}): bedkey rotates from a secret only the user its key was published for; nothing was changed",
            bedkey::iam::SECRET_TAG
        ))
        .with_hint("publish the key again with `bedkey publish` from the home that made it"));
    }
    named.retain(|s| s != arn);
    let existing = iam.credentials(user).await?;
    let Some(old) = existing.iter().find(|c| c.id == *old_id) else {
        return Err(Error::failure(format!(
            "IAM user {user} has no credential {old_id}, which the secret names; nothing was changed"
        )));
    };
    // The credential's own alias: a user's keys differ in alias, so a secret whose
    // credential_id was changed to another key of the same user is caught too.
    if old.alias.as_deref() != Some(alias.as_str()) {
        return Err(Error::failure(format!(
            "the key in the secret is not credential {old_id} of {user} (its alias differs): the secret's iam_user or credential_id was changed; nothing was changed"
        ))
        .with_hint("publish the key again with `bedkey publish` from the home that made it"));
    }
    let old = old.clone();
    let profile = target.profile.as_deref();
    retire_due(
        &iam,
        claims,
        about,
        tag(bedkey::iam::RETIRING_TAG).as_deref(),
        &named,
        &existing,
        profile,
    )
    .await?;
    // Listed again: a retirement above may have made room.
    let existing = iam.credentials(user).await?;
    if existing.len() >= MAX_KEYS_PER_USER {
        let other: Vec<&str> = existing
            .iter()
            .filter(|c| c.id != *old_id)
            .map(|c| c.id.as_str())
            .collect();
        return Err(Error::failure(format!(
            "IAM user {user} has a second credential ({}) besides the secret's: no room for a new one; nothing was changed",
            other.join(", ")
        )));
    }
    let days = old.expires.map(|at| {
        (at.saturating_sub(old.created) as f64 / 86_400.0)
            .round()
            .clamp(1.0, 36_600.0) as i64
    });
    match iam.create_credential(user, days).await {
        Ok(created) => Ok((iam, created, named)),
        Err(e) if !bedkey::iam::may_have_acted(&e) => Err(e),
        Err(e) => {
            let sweep = iam.sweep_after_failed_create(user, &existing).await;
            Err(bedkey::lifecycle::create::lost_create(e, sweep, user, &[]))
        }
    }
}
