//! `rotate --secret-id`'s flow, from the secret alone: what the secret claims, checked
//! against IAM (which only admins change); the retirement the last run left; the new
//! credential; the write that must not race another rotation.

use crate::error::{Error, Result};
use crate::iam::{Created, Iam, MAX_KEYS_PER_USER};
use crate::lifecycle::copies;
use crate::lifecycle::publish::Target;
use crate::lifecycle::rotate::{lifetime_days, retire_old};
use crate::secret::{ExposeSecret, Secret};
use crate::secrets::{self, About, Secrets};
use crate::time;
use crate::token::{self, Decoded};

/// Why the new key is not in the secret.
pub enum Unwritten {
    /// Another rotation changed the secret meanwhile: this run's credential is
    /// surplus, and the secret stays as that run left it.
    Raced(Error),
    Failed(secrets::NotWritten),
}

/// Write the new key into the secret, unless another rotation changed it meanwhile
/// (two schedulers, a person). A reply lost after the write took effect is a write.
pub async fn write_new(
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
    let text = current.map(|r| ExposeSecret::expose_secret(&r.value).to_string());
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
pub struct Claims {
    /// The key's service, from its prefix.
    pub service: crate::service::Service,
    pub user: String,
    pub old_id: String,
    pub alias: String,
    pub key: Secret,
}

pub fn claims(value: &Secret, id: &str) -> Result<(About, Claims)> {
    let (key, about) = secrets::parse(value, id)?;
    let (Some(user), Some(old_id)) = (about.iam_user.clone(), about.credential_id.clone()) else {
        return Err(Error::usage(format!(
            "secret {id} does not say which IAM user and credential its key is (no iam_user, credential_id)"
        ))
        .with_hint("publish the key with `bedkey publish`, which writes them"));
    };
    // The name comes from the secret, not a flag: say so.
    crate::policy::check_user(&user).map_err(|e| {
        Error::usage(format!(
            "secret {id} names an IAM user bedkey cannot use: {}",
            e.message()
        ))
        .with_hint("publish the key again with `bedkey publish` from the home that made it")
    })?;
    let Ok(Decoded::LongTerm(long)) = token::decode(ExposeSecret::expose_secret(&key)) else {
        return Err(Error::usage(format!(
            "secret {id} holds a short-term key: there is nothing to rotate"
        )));
    };
    let claims = Claims {
        service: long.service,
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
    existing: &[crate::iam::Remote],
    profile: Option<&str>,
) -> Result<()> {
    let Some((id, after)) = retirement(about) else {
        return Ok(());
    };
    let id = id.as_str();
    let user = &claims.user;
    // An unreadable time is never due.
    let after = after.unwrap_or(i64::MAX);
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
            crate::iam::RETIRING_TAG
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

pub async fn read(target: &Target) -> Result<(Secret, String)> {
    let (client, _) = Secrets::connect(target.profile.as_deref(), &target.region).await?;
    let read = client.read(&target.id).await?.ok_or_else(|| {
        Error::failure(format!(
            "no secret {} with a current value in {}",
            target.id, target.region
        ))
    })?;
    Ok((read.value, read.arn))
}

/// What every rotation from a secret checks first: the user names the secret for the
/// key's service, holds the secret's credential, and that credential carries the
/// key's own alias. Returns the user's tags, the other secrets it names, and its
/// credentials of the service.
async fn checked(
    iam: &Iam,
    claims: &Claims,
    arn: &str,
) -> Result<(Vec<(String, String)>, Vec<String>, Vec<crate::iam::Remote>)> {
    let Claims {
        user,
        old_id,
        alias,
        ..
    } = claims;
    let tags = iam.user_tags(user).await?;
    let mut named = crate::iam::tagged_secrets(&tags);
    if !crate::iam::names_secret(&tags, arn, claims.service) {
        return Err(Error::failure(format!(
            "IAM user {user} does not name this secret for a {} key (no {} tag is {arn}): bedkey rotates from a secret only the user and service its key was published for; nothing was changed",
            claims.service.title(),
            crate::iam::secret_tag(arn, claims.service)
        ))
        .with_hint("publish the key again with `bedkey publish` from the home that made it"));
    }
    named.retain(|s| s != arn);
    let service = claims.service;
    let existing = iam.credentials(service, user).await?;
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
    Ok((tags, named, existing))
}

/// `rotate --secret-id --due` with nothing due: retire what the last run left, once
/// its grace period is over (else the old credential would live until the next
/// rotation). Returns the credential retired, if any.
pub async fn retire_if_due(
    iam: &Iam,
    target: &Target,
    claims: &Claims,
    about: &About,
    arn: &str,
) -> Result<Option<String>> {
    let Some(id) = due_retirement(about) else {
        return Ok(None);
    };
    let (tags, named, existing) = checked(iam, claims, arn).await?;
    if !existing.iter().any(|c| c.id == id) || id == claims.old_id {
        return Ok(None);
    }
    let tagged = tags
        .iter()
        .find(|(k, _)| k == crate::iam::RETIRING_TAG)
        .map(|(_, v)| v.as_str());
    let profile = target.profile.as_deref();
    retire_due(iam, claims, about, tagged, &named, &existing, profile).await?;
    Ok(Some(id))
}

/// The retirement the last run left in the secret: the credential, and when it is
/// due (None when the time cannot be read).
fn retirement(about: &About) -> Option<(String, Option<i64>)> {
    let r = about.retiring.as_ref()?;
    let id = r
        .get("credential_id")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let after = r
        .get("after")
        .and_then(|v| v.as_str())
        .and_then(|t| time::parse_instant(t).ok());
    Some((id, after))
}

/// The credential the secret says retires, when its grace period is over.
pub fn due_retirement(about: &About) -> Option<String> {
    let (id, after) = retirement(about)?;
    (after? <= time::now() && !id.is_empty()).then_some(id)
}

/// When the retirement the last run left is due, if one waits.
pub fn retirement_pending(about: &About) -> Option<i64> {
    retirement(about)?.1.filter(|after| *after > time::now())
}

/// Retire what a previous run left due, check there is room, and make the new
/// credential (swept up if the call fails). Returns the client, the new credential,
/// and the other secrets the user names.
pub async fn make_new(
    iam: Iam,
    target: &Target,
    claims: &Claims,
    about: &About,
    arn: &str,
) -> Result<(Iam, Created, Vec<String>)> {
    let Claims { user, old_id, .. } = claims;
    let (tags, named, existing) = checked(&iam, claims, arn).await?;
    let tag = |key: &str| tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let service = claims.service;
    let old = existing
        .iter()
        .find(|c| c.id == *old_id)
        .cloned()
        .ok_or_else(|| Error::failure("the secret's credential is gone"))?;
    let profile = target.profile.as_deref();
    retire_due(
        &iam,
        claims,
        about,
        tag(crate::iam::RETIRING_TAG).as_deref(),
        &named,
        &existing,
        profile,
    )
    .await?;
    // Listed again: a retirement above may have made room.
    let existing = iam.credentials(service, user).await?;
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
    let days = lifetime_days(old.created, old.expires);
    let created =
        crate::lifecycle::create::replacement(&iam, service, user, days, &existing).await?;
    Ok((iam, created, named))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::secret;

    #[test]
    fn a_secret_must_name_a_user_and_credential_of_a_long_term_key() {
        use base64::Engine as _;
        let key = format!(
            "ABSK{}",
            base64::engine::general_purpose::STANDARD.encode("u+1-at-123456789012:s3cr3t")
        );
        let value = |user: &str| {
            secret(serde_json::json!({"bedrock_api_key": key, "iam_user": user, "credential_id": "ACCA1"}).to_string())
        };
        let (_, c) = claims(&value("u"), "s").unwrap();
        assert_eq!((c.user.as_str(), c.old_id.as_str()), ("u", "ACCA1"));
        assert_eq!(c.alias, "u+1-at-123456789012");
        let e = claims(&value("bad user!"), "s").err().unwrap();
        assert!(e.message().contains("names an IAM user"), "{}", e.message());
        assert!(!e.hint().unwrap().contains("--user"), "no flag of rotate's");
        let bare = secret(key.clone());
        assert!(
            claims(&bare, "s")
                .err()
                .unwrap()
                .message()
                .contains("iam_user")
        );
    }
}
