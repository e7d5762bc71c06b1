//! `bedkey rotate --secret-id ID`: rotate the key a secret holds, from the secret
//! alone (its `iam_user` and `credential_id`), with no local bedkey state: what a
//! scheduled CI job runs. The secret is where the new key goes; the old credential
//! stays active for the grace period and is retired by the next run once due.

use bedkey::error::{Error, Result};
use bedkey::iam::{Created, Iam, MAX_KEYS_PER_USER};
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
    let (
        about,
        Claims {
            user,
            old_id,
            alias,
        },
    ) = claims(&value, id)?;
    let grace = match &rotate.grace {
        Some(text) => crate::cmd::rotate::parse_grace(text)?,
        None => 2 * 3600,
    };
    let held = crate::process::hold_signals();
    let (iam, created) = ctx.block_on(make_new(ctx, &user, &old_id, &alias, &about, &arn))??;
    if grace > 0 {
        // Named on the user, so that the next run retires this one and nothing else.
        let tag = [(bedkey::iam::RETIRING_TAG.to_string(), old_id.clone())];
        ctx.block_on(iam.tag_user(&user, &tag))??;
    }
    let retiring = (grace > 0).then(|| {
        serde_json::json!({"credential_id": old_id, "after": time::rfc3339(time::now() + grace)})
    });
    let new_about = About {
        expires_at: created.remote.expires.map(time::rfc3339),
        credential_id: Some(created.remote.id.clone()),
        retiring,
        ..about
    };
    let written = ctx.block_on(write_new(&target, &arn, id, &old_id, &created, &new_about))?;
    if let Ok(Err(raced)) = written {
        let surplus = &created.remote.id;
        return Err(match ctx.block_on(iam.delete_credential(&user, surplus))? {
            Ok(_) => raced,
            Err(e) => e.context(format!(
                "another rotation changed {arn} meanwhile, and deleting this run's surplus credential {surplus} failed"
            )),
        });
    }
    if let Err(e) = written {
        ctx.out.hand_over(
            &created.secret,
            "IAM made the new key (the secret still holds the old one, which works)",
            serde_json::json!({"secret": arn, "user": user, "new_credential_id": created.remote.id}),
        );
        return Err(e.context(format!("writing the new key to {arn}")).with_hint(format!(
            "write the key printed into the secret's bedrock_api_key, or delete credential {} and run this again",
            created.remote.id
        )));
    }
    drop(held);
    if grace == 0 {
        ctx.block_on(retire_old(&iam, &user, &old_id))??;
    }
    ctx.out.note(format_args!(
        "rotated the key in {arn}: new credential {} of {user} is its AWSCURRENT value; old credential {old_id} {}",
        created.remote.id,
        if grace == 0 {
            "deleted".to_string()
        } else {
            format!("stays active for {} (the next run retires it)", time::human(grace))
        }
    ));
    Ok(())
}

/// Write the new key into the secret, unless another rotation changed it meanwhile
/// (two schedulers, a person): then this run's credential is surplus (the inner
/// error), and the secret stays as that run left it.
async fn write_new(
    target: &Target,
    arn: &str,
    id: &str,
    old_id: &str,
    created: &Created,
    new_about: &About,
) -> Result<Result<String>> {
    let (client, _) = Secrets::connect(target.profile.as_deref(), &target.region).await?;
    let current = client.read(arn).await?;
    let now_names = current
        .as_ref()
        .and_then(|r| secrets::parse(&r.value, id).ok())
        .and_then(|(_, a)| a.credential_id);
    if now_names.as_deref() != Some(old_id) {
        return Ok(Err(Error::failure(format!(
            "another rotation changed {arn} meanwhile; this run's new credential {} was deleted and the secret left as it is",
            created.remote.id
        ))));
    }
    let text = current.map(|r| bedkey::secret::ExposeSecret::expose_secret(&r.value).to_string());
    let value = secrets::value(text.as_deref(), &created.secret, new_about, false);
    client
        .write(
            arn,
            &value,
            None,
            new_about.name.as_deref().unwrap_or_default(),
        )
        .await
        .map(Ok)
}

/// What a secret says its key is: the IAM user, the credential, and the alias inside
/// the key itself, which IAM must agree with before anything changes.
struct Claims {
    user: String,
    old_id: String,
    alias: String,
}

fn claims(value: &Secret, id: &str) -> Result<(About, Claims)> {
    let (key, about) = secrets::parse(value, id)?;
    let (Some(user), Some(old_id)) = (about.iam_user.clone(), about.credential_id.clone()) else {
        return Err(Error::usage(format!(
            "secret {id} does not say which IAM user and credential its key is (no iam_user, credential_id)"
        ))
        .with_hint("publish the key with `bedkey publish`, which writes them"));
    };
    bedkey::policy::check_user(&user)?;
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
    };
    Ok((about, claims))
}

/// Retire what the last run left, once its grace period is over; before, no rotation
/// (IAM's two-key limit).
async fn retire_due(
    iam: &Iam,
    user: &str,
    old_id: &str,
    about: &About,
    tagged: Option<&str>,
) -> Result<()> {
    if let Some(r) = &about.retiring {
        let id = r
            .get("credential_id")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let after = r
            .get("after")
            .and_then(|v| v.as_str())
            .and_then(|t| time::parse_instant(t).ok())
            .unwrap_or(i64::MAX);
        if !id.is_empty() && id != old_id {
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
            retire_old(iam, user, id).await?;
        }
    }
    Ok(())
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
/// credential (swept up if the call fails).
async fn make_new(
    ctx: &Context,
    user: &str,
    old_id: &str,
    alias: &str,
    about: &About,
    arn: &str,
) -> Result<(Iam, Created)> {
    let iam = ctx.iam().await?;
    let tags = iam.user_tags(user).await?;
    let tag = |key: &str| tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    if tag(bedkey::iam::SECRET_TAG).as_deref() != Some(arn) {
        return Err(Error::failure(format!(
            "IAM user {user} does not name this secret (its tag {} is not {arn}): bedkey rotates from a secret only the user its key was published for; nothing was changed",
            bedkey::iam::SECRET_TAG
        ))
        .with_hint("publish the key again with `bedkey publish` from the home that made it"));
    }
    let existing = iam.credentials(user).await?;
    let Some(old) = existing.iter().find(|c| c.id == old_id) else {
        return Err(Error::failure(format!(
            "IAM user {user} has no credential {old_id}, which the secret names; nothing was changed"
        )));
    };
    if old.alias.as_deref() != Some(alias) {
        return Err(Error::failure(format!(
            "the key in the secret is not credential {old_id} of {user} (its alias differs): the secret's iam_user or credential_id was changed; nothing was changed"
        ))
        .with_hint("publish the key again with `bedkey publish` from the home that made it"));
    }
    let old = old.clone();
    retire_due(
        &iam,
        user,
        old_id,
        about,
        tag(bedkey::iam::RETIRING_TAG).as_deref(),
    )
    .await?;
    // Listed again: a retirement above may have made room.
    let existing = iam.credentials(user).await?;
    if existing.len() >= MAX_KEYS_PER_USER {
        let other: Vec<&str> = existing
            .iter()
            .filter(|c| c.id != old_id)
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
        Ok(created) => Ok((iam, created)),
        Err(e) if !bedkey::iam::may_have_acted(&e) => Err(e),
        Err(e) => {
            let sweep = iam.sweep_after_failed_create(user, &existing).await;
            Err(crate::cmd::create::lost_create(e, sweep, user, &[]))
        }
    }
}
