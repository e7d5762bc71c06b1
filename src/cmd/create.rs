//! `bedkey create NAME --short-term`: a recipe that mints short-term keys from the
//! AWS credential chain; the key minted now is cached and refreshed on use.

use serde::Serialize;

use crate::cli::Create;
use crate::cmd::token::{lifetime, mint};
use crate::cmd::{Context, Run};
use crate::config::{KeyKind, KeyMeta, Origin};
use crate::error::Result;
use crate::keys;
use crate::secret::{ExposeSecret, mask};
use crate::store;
use crate::time;

#[derive(Serialize)]
struct Json<'a> {
    name: &'a str,
    kind: &'static str,
    store: &'static str,
    key: &'a str,
    region: &'a str,
    expires_at: String,
    lifetime_seconds: u64,
}

impl Run for Create {
    fn run(&self, ctx: &Context) -> Result<()> {
        let config = ctx.config()?;
        keys::ensure_free(&config, &self.name)?;
        let wanted = lifetime(&self.expires)?;
        // Pick the store before minting: a key with nowhere to go is not worth making.
        let backend = store::choose(ctx.global.store, config.dir())?;
        let g = &ctx.global;
        let minted =
            ctx.block_on(mint(ctx, g.profile.as_deref(), g.region.as_deref(), wanted))??;
        let meta = KeyMeta {
            kind: KeyKind::ShortTerm,
            origin: Origin::Minted,
            store: backend.backend(),
            masked: mask(minted.key.expose_secret()),
            created: time::now(),
            expires: Some(minted.expires_at),
            region: Some(minted.region.clone()),
            profile: g.profile.clone(),
            lifetime: Some(wanted.as_secs()),
            user: None,
            credential_id: None,
            alias: None,
        };
        keys::add(
            &config,
            backend.as_ref(),
            &self.name,
            &minted.key,
            meta.clone(),
        )?;
        store::warn_if_volatile(meta.store, &ctx.out);
        if ctx.out.json() {
            return ctx.out.print_json(&Json {
                name: &self.name,
                kind: "short-term",
                store: meta.store.as_str(),
                key: &meta.masked,
                region: &minted.region,
                expires_at: time::rfc3339(minted.expires_at),
                lifetime_seconds: wanted.as_secs(),
            });
        }
        ctx.out.note(format_args!(
            "created short-term key '{}' for {} in the {} store; `bedkey env {}` loads it and mints a new one when less than {} remains",
            self.name,
            minted.region,
            meta.store.as_str(),
            self.name,
            time::human(keys::min_ttl()?),
        ));
        Ok(())
    }
}
