//! `bedkey pull NAME --secret-id ID`: a shared key entry. The key is read from a
//! secret in AWS Secrets Manager now and cached in the local store; `env` and `exec`
//! read it again when the copy is older than `BEDKEY_SHARED_TTL` or about to expire.
//! `bedkey pull NAME` alone reads it again now.

use std::time::Instant;

use serde::Serialize;

use bedkey::config::{KeyMeta, Origin, SharedFrom, check_name};
use bedkey::error::{Error, Result};
use bedkey::keys::{self, Loaded};
use bedkey::secrets::{self, Secrets};
use bedkey::time;

use crate::cli::Pull;
use crate::cmd::{Context, Run};

#[derive(Serialize)]
struct Json<'a> {
    name: &'a str,
    kind: &'static str,
    secret: &'a str,
    region: Option<&'a str>,
    expires_at: Option<String>,
    key: &'a str,
}

impl Run for Pull {
    fn run(&self, ctx: &Context) -> Result<()> {
        check_name(&self.name)?;
        let key = match &self.secret_id {
            Some(id) => self.first_pull(ctx, id)?,
            None => ctx.with_loader(bedkey::aws::operation_timeout(), |loader, config| {
                let meta = config.load()?.get(&self.name)?.clone();
                let backend = ctx.open_store(meta.store, config)?;
                if meta.origin == Origin::Iam && !meta.published.is_empty() {
                    // A key this home published: take in a key rotated in its secrets.
                    return loader
                        .read_published(&self.name, backend.as_ref(), Instant::now())
                        .map_err(|u| u.error.context(format!("reading {}", u.secret)));
                }
                loader.read_again(&self.name, backend.as_ref(), Instant::now())
            })?,
        };
        if key.meta.origin == Origin::Iam {
            return self.report_published(ctx, &key);
        }
        let from = key.meta.shared.as_ref().map_or("", |s| s.secret.as_str());
        if ctx.out.json() {
            return ctx.out.print_json(&Json {
                name: &self.name,
                kind: key.meta.kind.as_str(),
                secret: from,
                region: key.meta.region.as_deref(),
                expires_at: key.meta.expires.map(time::rfc3339),
                key: &key.meta.masked,
            });
        }
        ctx.out.note(format_args!(
            "pulled {} key '{}' ({}) from {from}; `bedkey env {}` loads it and reads the secret again after {}",
            key.meta.kind.as_str(),
            self.name,
            key.meta.masked,
            self.name,
            time::human(bedkey::settings::shared_ttl()?)
        ));
        Ok(())
    }
}

impl Pull {
    /// `pull NAME` of a key this home published: what its secrets hold now.
    fn report_published(&self, ctx: &Context, key: &Loaded) -> Result<()> {
        crate::cmd::tell(&ctx.out, key);
        if ctx.out.json() {
            return ctx.out.print_json(&serde_json::json!({
                "name": self.name,
                "kind": key.meta.kind.as_str(),
                "published_to": key.meta.published.iter().map(|p| &p.secret).collect::<Vec<_>>(),
                "credential_id": key.meta.credential_id,
                "adopted": key.warnings.iter().any(|w| matches!(w, keys::Warning::Adopted { .. })),
                "key": key.meta.masked,
            }));
        }
        if key.warnings.is_empty() {
            ctx.out.note(format_args!(
                "key '{}' ({}) is what its secrets hold: nothing to take in",
                self.name, key.meta.masked
            ));
        }
        Ok(())
    }

    /// A new shared entry: read the secret, check it holds a key, store it.
    fn first_pull(&self, ctx: &Context, id: &str) -> Result<Loaded> {
        let config = ctx.config()?;
        keys::ensure_free(&config, &self.name)?;
        let target = ctx.secret_target(id, &self.secret, None)?;
        let read = ctx.block_on(async {
            let (client, source) =
                Secrets::connect(target.profile.as_deref(), &target.region).await?;
            ctx.out.detail(format_args!(
                "Secrets Manager in {} with {source}",
                target.region
            ));
            client.read(&target.id).await
        })??;
        let read = read.ok_or_else(|| {
            Error::failure(format!(
                "no secret {id} with a current value in {}",
                target.region
            ))
            .with_hint("check the name, --secret-region and --secret-profile")
        })?;
        let (key, about) = secrets::parse(&read.value, id)?;
        let (kind, expires) = keys::kind_and_expiry(&key, &about)?;
        if let Some(at) = expires.filter(|at| *at <= time::now()) {
            return Err(Error::usage(format!(
                "the key in {id} expired at {}; nothing was stored",
                time::rfc3339(at)
            )));
        }
        let backend = ctx.new_key_store(&config)?;
        backend.ready()?;
        let from = SharedFrom {
            secret: read.arn,
            region: target.region,
            profile: self.secret.secret_profile.clone(),
            read_at: time::now(),
        };
        let meta = KeyMeta {
            workspace: about.workspace_id,
            ..KeyMeta::shared(kind, backend.backend(), &key, expires, about.region, from)
        };
        keys::add(&config, backend.as_ref(), &self.name, &key, meta.clone())?;
        ctx.warn_if_volatile(meta.store);
        Ok(Loaded::new(&self.name, meta, key))
    }
}
