//! `publish`'s flow: where a key's secret is, what its value says, the checks before
//! a secret is written over (never another user's key, another key's JSON, or a
//! newer key rotated there), the write itself, and what is remembered of it.

use crate::config::{Config, KeyMeta, Publication};
use crate::error::{Error, Result};
use crate::iam::Iam;
use crate::lifecycle::Notice;
use crate::secret::{ExposeSecret, Secret};
use crate::secrets::{self, About, Secrets};
use crate::time;

/// Where a key's secret lives and whose credentials write it.
#[derive(Clone, Debug)]
pub struct Target {
    pub id: String,
    pub region: String,
    pub profile: Option<String>,
}

impl Target {
    /// Secret `id`: its region is an ARN's own (a conflicting `secret_region` is a
    /// usage error), else `secret_region`, else the key's region, else the region in
    /// effect (`region`, the environment, the profile); its profile `secret_profile`,
    /// else `profile`.
    pub async fn resolve(
        id: &str,
        secret_region: Option<&str>,
        secret_profile: Option<&str>,
        profile: Option<&str>,
        region: Option<&str>,
        key_region: Option<&str>,
    ) -> Result<Target> {
        if id.trim().is_empty() || id.len() > 2048 {
            return Err(Error::usage("--secret-id needs a secret name or ARN"));
        }
        let profile = secret_profile.or(profile).map(str::to_string);
        let fallback = match key_region {
            Some(r) => Some(r.to_string()),
            None => crate::region::resolve(region, profile.as_deref())
                .await
                .ok()
                .map(|(r, _)| r),
        };
        let region = secrets::region_of(id, secret_region, fallback.as_deref())?;
        Ok(Target {
            id: id.to_string(),
            region,
            profile,
        })
    }
}

/// What a published value says about key `name`.
pub fn about(name: &str, meta: &KeyMeta) -> About {
    About {
        service: meta.service,
        workspace_id: meta.workspace.clone(),
        region: meta.region.clone(),
        expires_at: meta.expires.map(time::rfc3339),
        name: Some(name.to_string()),
        iam_user: meta.user.clone(),
        credential_id: meta.credential_id.clone(),
        retiring: None,
    }
}

/// Write `key` (with `about`) to the secret: a new `AWSCURRENT`, other fields of an
/// existing JSON value kept. A write whose reply was lost counts when the secret
/// holds the key; a tag that could not be set is a warning. Returns the secret's ARN.
pub async fn write(
    notice: &dyn Fn(Notice),
    target: &Target,
    key: &Secret,
    about: &About,
    raw: bool,
    kms_key_id: Option<&str>,
    meta: &KeyMeta,
) -> Result<String> {
    let (client, source) = Secrets::connect(target.profile.as_deref(), &target.region).await?;
    notice(Notice::Detail(format!(
        "Secrets Manager in {} with {source}",
        target.region
    )));
    let existing = client.read(&target.id).await?;
    let name = about.name.as_deref().unwrap_or_default();
    if let Some(read) = &existing {
        check_overwrite(
            &read.value,
            &target.id,
            name,
            key,
            about.iam_user.as_deref(),
        )?;
        check_not_newer(&read.value, &read.arn, name, meta)?;
    }
    let value = secrets::value(
        existing
            .as_ref()
            .map(|r| ExposeSecret::expose_secret(&r.value)),
        key,
        about,
        raw,
    );
    let written = client
        .write_checked(&target.id, &value, kms_key_id, Some(name), key)
        .await
        .map_err(|failed| match failed.holds_it {
            Some(_) => failed.error,
            None => failed.error.with_hint(
                "the secret could not be read back to see whether it took the key: run the same command again",
            ),
        })?;
    if let Some(e) = &written.reply_lost {
        notice(Notice::Detail(format!(
            "the reply to the write was lost ({}), but {} holds the key",
            e.message(),
            written.arn
        )));
    }
    if let Some(e) = &written.untagged {
        notice(Notice::Warning(format!(
            "{} holds the key but could not be tagged {}={name} ({})",
            written.arn,
            crate::iam::NAME_TAG,
            e.message()
        )));
    }
    Ok(written.arn)
}

/// A secret this key was published to that was rotated from the secret since
/// (`rotate --secret-id`) holds a newer key than this home's: writing this one over
/// it would hand the team an older key, or a deleted one.
fn check_not_newer(value: &Secret, arn: &str, name: &str, meta: &KeyMeta) -> Result<()> {
    let Some(p) = meta.published.iter().find(|p| p.secret == arn) else {
        return Ok(());
    };
    let Ok((held, about)) = secrets::parse(value, arn) else {
        return Ok(());
    };
    match crate::keys::rotated_in_secret(meta, p.credential_id.as_deref(), &held, &about) {
        Some(id) => Err(Error::failure(format!(
            "secret {arn} holds a newer key of this IAM user (credential {id}, rotated from the secret); bedkey will not replace it with this home's older one"
        ))
        .with_hint(format!("`bedkey pull {name}` takes the secret's key into this home"))),
        None => Ok(()),
    }
}

/// A secret that holds something else (a password, another key's JSON) is never
/// overwritten: only a JSON object for this key (or for none yet), or a bare key.
fn check_overwrite(
    value: &Secret,
    id: &str,
    name: &str,
    key: &Secret,
    user: Option<&str>,
) -> Result<()> {
    let text = ExposeSecret::expose_secret(value).trim();
    // A key of another IAM user is someone else's: a rotation of this key replaces
    // only a key of the same user.
    if let Ok((held, _)) = secrets::parse(value, id)
        && !same_user(&held, key, user)
    {
        return Err(Error::failure(format!(
            "secret {id} holds a Bedrock API key of another IAM user; bedkey will not overwrite it"
        ))
        .with_hint("pick another --secret-id, or empty that secret first"));
    }
    let refuse = |what: &str| {
        Err(Error::failure(format!(
            "secret {id} holds {what}; bedkey will not overwrite it"
        ))
        .with_hint("pick another --secret-id, or empty that secret first"))
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(o)) => match o.get("name").and_then(|n| n.as_str()) {
            Some(other) if other != name && o.contains_key(secrets::KEY_FIELD) => {
                refuse(&format!("the key '{other}'"))
            }
            _ => Ok(()),
        },
        Ok(_) => refuse("JSON that is not an object"),
        Err(_) if crate::token::decode(text).is_ok() => Ok(()),
        Err(_) => refuse("something that is not a Bedrock API key"),
    }
}

/// Whether `held` and `key` are keys of one IAM user of one account: by the user
/// bedkey knows for the key when it knows one, else by the aliases alone (a user's
/// keys differ in alias: later ones carry `+N`).
fn same_user(held: &Secret, key: &Secret, user: Option<&str>) -> bool {
    use crate::token::Decoded;
    let decode = |k: &Secret| crate::token::decode(ExposeSecret::expose_secret(k));
    match (decode(held), decode(key)) {
        (Ok(Decoded::LongTerm(h)), Ok(Decoded::LongTerm(k))) => match user {
            Some(u) => h.is_of_user(u) && h.account() == k.account(),
            None => h.same_user(&k),
        },
        (Ok(Decoded::ShortTerm(_)), Ok(Decoded::ShortTerm(_))) => true,
        _ => false,
    }
}

/// Tag the key's IAM user with the secret (`bedkey:secret:HASH`, one tag a secret):
/// `rotate --secret-id` acts only on a user that names its secret, and retires no
/// credential another named secret still holds. Without IAM rights here,
/// publishing still works, and the rotation from the secret alone is refused: the
/// warning to give says so.
pub async fn bind_user(iam: &Iam, meta: &KeyMeta, arn: &str) -> Option<Notice> {
    let user = meta.user.as_ref()?;
    let key = crate::iam::secret_tag(arn, meta.service);
    let tag = [(key.clone(), arn.to_string())];
    let e = iam.tag_user(user, &tag).await.err()?;
    Some(Notice::Warning(format!(
        "IAM user {user} could not be tagged {key}={arn} ({}): `bedkey rotate --secret-id` will refuse this secret",
        e.message()
    )))
}

/// Remember (or refresh) a publication of key `name`.
pub fn record(config: &Config, name: &str, publication: Publication) -> Result<()> {
    config.update(|keys| {
        let meta = keys
            .keys
            .get_mut(name)
            .ok_or_else(|| Error::no_such_key(name))?;
        meta.published.retain(|p| p.secret != publication.secret);
        meta.published.push(publication);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::secret;

    fn long(alias: &str) -> Secret {
        use base64::Engine as _;
        secret(format!(
            "ABSK{}",
            base64::engine::general_purpose::STANDARD.encode(format!("{alias}:s3cr3t"))
        ))
    }

    #[test]
    fn a_secret_is_written_over_only_with_a_key_of_the_same_user() {
        let mine = long("u+1-at-123456789012");
        let held = long("u-at-123456789012");
        assert!(check_overwrite(&held, "s", "team", &mine, Some("u")).is_ok());
        assert!(check_overwrite(&held, "s", "team", &mine, None).is_ok());
        let other = long("v-at-123456789012");
        assert!(check_overwrite(&other, "s", "team", &mine, Some("u")).is_err());
        let elsewhere = long("u-at-210987654321");
        assert!(check_overwrite(&elsewhere, "s", "team", &mine, Some("u")).is_err());
    }

    #[test]
    fn a_secret_holding_something_else_is_never_written_over() {
        let key = long("u-at-123456789012");
        for (value, why) in [
            ("hunter2", "not a Bedrock API key"),
            ("[1, 2]", "not an object"),
            (
                r#"{"bedrock_api_key": "x", "name": "other"}"#,
                "the key 'other'",
            ),
        ] {
            let e = check_overwrite(&secret(value), "s", "team", &key, Some("u")).unwrap_err();
            assert!(e.message().contains(why), "{value}: {}", e.message());
        }
        // A JSON object for this key, or for none yet, is fine.
        assert!(
            check_overwrite(&secret(r#"{"owner": "ml"}"#), "s", "team", &key, Some("u")).is_ok()
        );
    }
}
