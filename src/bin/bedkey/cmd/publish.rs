//! `bedkey publish NAME --secret-id ID`: write a long-term key to a secret in AWS
//! Secrets Manager (made when missing), as bedkey's JSON or `--raw`, and remember it:
//! `rotate` writes the next key there too.

use serde::Serialize;

use bedkey::config::{Config, KeyKind, KeyMeta, Publication, check_name};
use bedkey::error::{Error, Result};
use bedkey::secret::Secret;
use bedkey::secrets::{self, About, Secrets};
use bedkey::time;

use crate::cli::{Publish, SecretFlags};
use crate::cmd::{Context, Run};

#[derive(Serialize)]
struct Json<'a> {
    name: &'a str,
    secret: &'a str,
    region: &'a str,
    raw: bool,
}

/// Where a key's secret lives and whose credentials write it.
pub struct Target {
    pub id: String,
    pub region: String,
    pub profile: Option<String>,
}

impl Target {
    /// The secret's region and profile: see `SecretFlags`.
    pub fn resolve(
        ctx: &Context,
        id: &str,
        flags: &SecretFlags,
        key_region: Option<&str>,
    ) -> Result<Target> {
        if id.trim().is_empty() || id.len() > 2048 {
            return Err(Error::usage("--secret-id needs a secret name or ARN"));
        }
        let profile = flags
            .secret_profile
            .clone()
            .or_else(|| ctx.global.profile.clone());
        let fallback = match key_region {
            Some(r) => Some(r.to_string()),
            None => ctx
                .block_on(bedkey::region::resolve(
                    ctx.global.region.as_deref(),
                    profile.as_deref(),
                ))?
                .ok()
                .map(|(r, _)| r),
        };
        let region = secrets::region_of(id, flags.secret_region.as_deref(), fallback.as_deref())?;
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
    ctx: &Context,
    target: &Target,
    key: &Secret,
    about: &About,
    raw: bool,
    kms_key_id: Option<&str>,
    meta: &KeyMeta,
) -> Result<String> {
    let (client, source) = Secrets::connect(target.profile.as_deref(), &target.region).await?;
    ctx.out.detail(format_args!(
        "Secrets Manager in {} with {source}",
        target.region
    ));
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
            .map(|r| bedkey::secret::ExposeSecret::expose_secret(&r.value)),
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
        ctx.out.detail(format_args!(
            "the reply to the write was lost ({}), but {} holds the key",
            e.message(),
            written.arn
        ));
    }
    if let Some(e) = &written.untagged {
        ctx.out.warn(format_args!(
            "{} holds the key but could not be tagged {}={name} ({})",
            written.arn,
            bedkey::iam::NAME_TAG,
            e.message()
        ));
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
    match bedkey::keys::rotated_in_secret(meta, p.credential_id.as_deref(), &held, &about) {
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
    let text = bedkey::secret::ExposeSecret::expose_secret(value).trim();
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
        Err(_) if bedkey::token::decode(text).is_ok() => Ok(()),
        Err(_) => refuse("something that is not a Bedrock API key"),
    }
}

/// Whether `held` and `key` are keys of one IAM user of one account: by the user
/// bedkey knows for the key when it knows one, else by the aliases alone (a user's
/// keys differ in alias: later ones carry `+N`).
fn same_user(held: &Secret, key: &Secret, user: Option<&str>) -> bool {
    use bedkey::token::Decoded;
    let decode = |k: &Secret| bedkey::token::decode(bedkey::secret::ExposeSecret::expose_secret(k));
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
/// publishing still works, and the rotation from the secret alone is refused.
fn bind_user(ctx: &Context, meta: &KeyMeta, arn: &str) {
    let Some(user) = &meta.user else { return };
    let key = bedkey::iam::secret_tag(arn);
    let tagged = ctx.block_on(async {
        let tag = [(key.clone(), arn.to_string())];
        ctx.iam().await?.tag_user(user, &tag).await
    });
    if let Err(e) = tagged.and_then(|r| r) {
        ctx.out.warn(format_args!(
            "IAM user {user} could not be tagged {key}={arn} ({}): `bedkey rotate --secret-id` will refuse this secret",
            e.message()
        ));
    }
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

impl Run for Publish {
    fn run(&self, ctx: &Context) -> Result<()> {
        check_name(&self.name)?;
        let config = ctx.config()?;
        let meta = config.load()?.get(&self.name)?.clone();
        if meta.origin == bedkey::config::Origin::Shared {
            return Err(Error::usage(format!(
                "key '{}' was pulled from a secret: its owner publishes and rotates it",
                self.name
            ))
            .with_hint("a copy written back could undo the owner's next rotation"));
        }
        if meta.kind != KeyKind::LongTerm {
            return Err(Error::usage(format!(
                "key '{}' is short-term: it dies within 12 hours, so a copy in a secret would too",
                self.name
            ))
            .with_hint(
                "share an IAM role the team can assume instead, or publish a long-term key",
            ));
        }
        let target = Target::resolve(ctx, &self.secret_id, &self.secret, meta.region.as_deref())?;
        let key = ctx
            .open_store(meta.store, &config)?
            .get(&self.name)?
            .ok_or_else(|| {
                Error::store(format!("key '{}' has no secret in its store", self.name))
            })?;
        let about = about(&self.name, &meta);
        let arn = ctx.block_on(write(
            ctx,
            &target,
            &key,
            &about,
            self.raw,
            self.kms_key_id.as_deref(),
            &meta,
        ))??;
        bind_user(ctx, &meta, &arn);
        record(
            &config,
            &self.name,
            Publication {
                secret: arn.clone(),
                region: target.region.clone(),
                profile: self.secret.secret_profile.clone(),
                raw: self.raw,
                at: time::now(),
                credential_id: meta.credential_id.clone(),
                read_at: Some(time::now()),
            },
        )?;
        if ctx.out.json() {
            return ctx.out.print_json(&Json {
                name: &self.name,
                secret: &arn,
                region: &target.region,
                raw: self.raw,
            });
        }
        let rotation = if meta.origin == bedkey::config::Origin::Iam {
            format!("; `bedkey rotate {}` updates it there too", self.name)
        } else {
            String::new()
        };
        ctx.out.note(format_args!(
            "published key '{}' to {arn} as its AWSCURRENT value{rotation}",
            self.name
        ));
        Ok(())
    }
}
