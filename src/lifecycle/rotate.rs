//! `rotate`'s flow: the grace period, the new credential made beside the old one,
//! every secret written the new key, and the old credential retired only once no
//! copy of it is left in a secret.

use crate::config::{Config, KeyMeta, Publication, Retirement, policy_name};
use crate::error::{Error, Result};
use crate::iam::{Created, Iam, MAX_KEYS_PER_USER, Remote};
use crate::lifecycle::Notice;
use crate::lifecycle::copies;
use crate::lifecycle::publish::{self, Target};
use crate::secret::{ExposeSecret, Secret};
use crate::secrets::{self, Secrets};
use crate::time;

/// The grace period a published key's old credential keeps after a rotation: twice
/// `BEDKEY_SHARED_TTL`'s default, so every teammate's cached copy is read again first.
pub const DEFAULT_GRACE: i64 = 2 * 3600;

/// The longest grace period: a retirement must not block rotation for good.
const MAX_GRACE: i64 = 30 * 86_400;

/// `--grace`: 0 to 30 days.
pub fn parse_grace(text: &str) -> Result<i64> {
    let secs = time::parse_duration(text)
        .map_err(|e| e.context("--grace"))?
        .as_secs();
    if secs > MAX_GRACE as u64 {
        return Err(Error::usage(format!(
            "--grace {text} is out of range: 0s to 30d"
        )));
    }
    Ok(secs as i64)
}

/// The lifetime of a credential in whole days (for a new one made to replace it),
/// None for one that never expires.
pub fn lifetime_days(created: i64, expires: Option<i64>) -> Option<i64> {
    expires.map(|at| {
        (at.saturating_sub(created) as f64 / 86_400.0)
            .round()
            .clamp(1.0, 36_600.0) as i64
    })
}

/// Where a key's retirement stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Retiring {
    /// No old credential waits.
    Nothing,
    /// Its grace period runs until the retirement's `due`.
    Waiting(Retirement),
    /// Its grace period is over (or cut short): retire it now.
    Due(Retirement),
}

/// Where the retirement `meta` records stands at `now`; `now_anyway` cuts the grace
/// period short (`--finish --grace 0`).
pub fn retiring(meta: &KeyMeta, now: i64, now_anyway: bool) -> Retiring {
    match meta.retiring.clone() {
        None => Retiring::Nothing,
        Some(r) if r.due > now && !now_anyway => Retiring::Waiting(r),
        Some(r) => Retiring::Due(r),
    }
}

/// The key being rotated, as its metadata names it.
pub struct Rotation<'a> {
    pub name: &'a str,
    pub meta: KeyMeta,
    pub user: String,
    pub old_id: String,
    /// The new key lives as long as the old one did (in days).
    pub days: Option<i64>,
}

/// Before an old credential goes: every secret the key was published to holds the
/// current key. bedkey's record first, then the secrets themselves: a copy written
/// back by hand (or by an old home) would be left holding a deleted key.
pub async fn check_copies(
    iam: &Iam,
    name: &str,
    meta: &KeyMeta,
    current: &Secret,
    retiring: &str,
    profile: Option<&str>,
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
    for p in &meta.published {
        let (client, _) = Secrets::connect(p.profile.as_deref().or(profile), &p.region).await?;
        let read = client.read(&p.secret).await?;
        let holds = read
            .and_then(|r| secrets::parse(&r.value, &p.secret).ok())
            .map(|(k, _)| k);
        if holds.is_none_or(|k| k.expose_secret() != current.expose_secret()) {
            return Err(behind(p));
        }
    }
    // Secrets the key was published to from elsewhere, named on its IAM user: those
    // that still hold the retiring credential get the current key first.
    let user = meta.user.as_deref().unwrap_or_default();
    let tags = iam.user_tags(user).await?;
    let others: Vec<String> = crate::iam::tagged_secrets(&tags)
        .into_iter()
        .filter(|arn| !meta.published.iter().any(|p| p.secret == *arn))
        .collect();
    let found = copies::holding(&others, retiring, profile).await;
    let about = about_retiring(name, meta);
    let mut left = copies::overwrite(&found.holding, current, &about, profile).await;
    left.extend(found.unknown);
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

/// Forget the retirement the key records (done, or its credential gone).
pub fn clear_retiring(config: &Config, name: &str) -> Result<KeyMeta> {
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
pub fn publish_command(name: &str, p: &Publication) -> String {
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

/// What a published value of key `name` says, with the retirement it records.
fn about_retiring(name: &str, meta: &KeyMeta) -> secrets::About {
    let mut about = publish::about(name, meta);
    about.retiring = meta.retiring.as_ref().map(
        |r| serde_json::json!({"credential_id": r.credential_id, "after": time::rfc3339(r.due)}),
    );
    about
}

/// Write the new key to every secret the key was published to, as the new
/// `AWSCURRENT`, saying which old credential retires when. A failure leaves the old
/// credential active and says how to resume.
pub async fn publish_all(
    notice: &dyn Fn(Notice),
    config: &Config,
    t: &Rotation<'_>,
    created: &Created,
    updated: &KeyMeta,
    profile: Option<&str>,
) -> Result<()> {
    for p in &updated.published {
        let target = Target {
            id: p.secret.clone(),
            region: p.region.clone(),
            profile: p.profile.clone().or_else(|| profile.map(str::to_string)),
        };
        let about = about_retiring(t.name, updated);
        let written = publish::write(
            notice,
            &target,
            &created.secret,
            &about,
            p.raw,
            None,
            updated,
        )
        .await;
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
        publish::record(
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
pub async fn make_new(iam: &Iam, t: &Rotation<'_>) -> Result<Created> {
    let (name, user, old_id) = (t.name, &t.user, &t.old_id);
    let service = t.meta.service;
    let existing = iam.credentials(service, user).await?;
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
    crate::lifecycle::create::replacement(iam, service, user, t.days, &existing).await
}

/// The user holds a second credential: no room for a third.
pub fn no_room(user: &str, old_id: &str, existing: &[Remote]) -> Error {
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

/// Deactivate, then delete, an old credential (one already gone is fine); a failure
/// says how to finish.
pub async fn retire_old(iam: &Iam, user: &str, old_id: &str) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{KeyKind, Origin};
    use crate::store::Backend;

    fn meta(retiring: Option<Retirement>) -> KeyMeta {
        let mut m = KeyMeta::imported(
            KeyKind::LongTerm,
            Backend::File,
            &crate::secret::secret("ABSK…"),
            None,
            None,
        );
        m.origin = Origin::Iam;
        m.retiring = retiring;
        m
    }

    #[test]
    fn grace_is_zero_to_thirty_days() {
        assert_eq!(parse_grace("0").unwrap(), 0);
        assert_eq!(parse_grace("2h").unwrap(), 7200);
        assert_eq!(parse_grace("30d").unwrap(), MAX_GRACE);
        assert!(parse_grace("31d").is_err());
        assert!(parse_grace("soon").is_err());
    }

    #[test]
    fn a_new_credential_lives_as_long_as_the_old_did() {
        assert_eq!(lifetime_days(0, Some(30 * 86_400)), Some(30));
        assert_eq!(lifetime_days(0, Some(30 * 86_400 + 3600)), Some(30));
        assert_eq!(lifetime_days(0, Some(60)), Some(1), "never less than a day");
        assert_eq!(
            lifetime_days(0, None),
            None,
            "never expires: neither does the new"
        );
    }

    #[test]
    fn a_retirement_waits_for_its_grace_period_unless_cut_short() {
        let r = Retirement {
            credential_id: "C0".into(),
            due: 100,
        };
        assert_eq!(retiring(&meta(None), 50, false), Retiring::Nothing);
        assert_eq!(
            retiring(&meta(Some(r.clone())), 50, false),
            Retiring::Waiting(r.clone())
        );
        assert_eq!(
            retiring(&meta(Some(r.clone())), 50, true),
            Retiring::Due(r.clone())
        );
        assert_eq!(
            retiring(&meta(Some(r.clone())), 100, false),
            Retiring::Due(r)
        );
    }

    #[test]
    fn the_resume_command_names_the_secret_as_it_was_published() {
        let p = Publication {
            secret: "arn:aws:secretsmanager:us-gov-west-1:1:secret:s".into(),
            region: "us-gov-west-1".into(),
            profile: Some("gov".into()),
            raw: true,
            ..Publication::default()
        };
        assert_eq!(
            publish_command("team", &p),
            "`bedkey publish team --secret-id arn:aws:secretsmanager:us-gov-west-1:1:secret:s --secret-region us-gov-west-1 --secret-profile gov --raw`"
        );
    }
}
