//! `bedkey rotate --secret-id ID`: rotate the key a secret holds, from the secret
//! alone (its `iam_user` and `credential_id`), with no local bedkey state: what a
//! scheduled CI job runs. The secret is where the new key goes, and every other
//! secret the IAM user names that holds the old key gets it too; the old credential
//! stays active for the grace period and is retired by the next run once due, and
//! never while a named secret still holds it.

use bedkey::error::{Error, Result};
use bedkey::iam::Created;
use bedkey::lifecycle::copies;
use bedkey::lifecycle::rotate::{DEFAULT_GRACE, parse_grace, retire_old};
use bedkey::lifecycle::rotate_secret::{self, Claims, Unwritten, claims, read, write_new};
use bedkey::secrets::{self, About};
use bedkey::time;

use crate::cli::Rotate;
use crate::cmd::Context;

pub fn run(ctx: &Context, rotate: &Rotate, id: &str) -> Result<()> {
    let target = ctx.secret_target(id, &rotate.secret, None)?;
    let (value, arn) = ctx.block_on(read(&target))??;
    let (about, claims) = claims(&value, id)?;
    let grace = match &rotate.grace {
        Some(text) => parse_grace(text)?,
        None => DEFAULT_GRACE,
    };
    let held = crate::process::hold_signals();
    let (iam, created, others) = ctx.block_on(async {
        let iam = ctx.iam().await?;
        rotate_secret::make_new(iam, &target, &claims, &about, &arn).await
    })??;
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
