//! `bedkey publish NAME --secret-id ID`: write a long-term key to a secret in AWS
//! Secrets Manager (made when missing), as bedkey's JSON or `--raw`, and remember it:
//! `rotate` writes the next key there too.

use serde::Serialize;

use bedkey::config::{KeyKind, Publication, check_name};
use bedkey::error::{Error, Result};
use bedkey::lifecycle::publish;
use bedkey::time;

use crate::cli::Publish;
use crate::cmd::{Context, Run};

#[derive(Serialize)]
struct Json<'a> {
    name: &'a str,
    secret: &'a str,
    region: &'a str,
    raw: bool,
}

impl Publish {
    /// Only a long-term key this home owns is published.
    fn publishable(&self, meta: &bedkey::config::KeyMeta) -> Result<()> {
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
        Ok(())
    }
}

/// Name the secret on the key's IAM user; publishing stands without it, with a warning.
fn bind(ctx: &Context, meta: &bedkey::config::KeyMeta, arn: &str) -> Result<()> {
    let bound = ctx.block_on(async {
        let iam = ctx.iam().await?;
        Ok::<_, Error>(publish::bind_user(&iam, meta, arn).await)
    })?;
    match bound {
        Ok(Some(warning)) => ctx.tell(warning),
        Ok(None) => {}
        Err(e) => ctx.out.warn(format_args!(
            "IAM could not be reached to tag the key's user with this secret ({}): `bedkey rotate --secret-id` will refuse it",
            e.message()
        )),
    }
    Ok(())
}

impl Run for Publish {
    fn run(&self, ctx: &Context) -> Result<()> {
        check_name(&self.name)?;
        let config = ctx.config()?;
        let meta = config.load()?.get(&self.name)?.clone();
        self.publishable(&meta)?;
        let target = ctx.secret_target(&self.secret_id, &self.secret, meta.region.as_deref())?;
        let key = ctx
            .open_store(meta.store, &config)?
            .get(&self.name)?
            .ok_or_else(|| {
                Error::store(format!("key '{}' has no secret in its store", self.name))
            })?;
        let about = publish::about(&self.name, &meta);
        let arn = ctx.block_on(publish::write(
            &|n| ctx.tell(n),
            &target,
            &key,
            &about,
            self.raw,
            self.kms_key_id.as_deref(),
            &meta,
        ))??;
        bind(ctx, &meta, &arn)?;
        publish::record(
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
