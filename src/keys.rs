//! A stored key in use: its secret from the store, short-term keys refreshed when
//! they run low, and the variables that carry it to a program.

use std::time::Duration;

use crate::cmd::Context;
use crate::config::{Config, KeyKind, KeyMeta, Origin, check_name};
use crate::error::{Error, Result};
use crate::secret::{ExposeSecret, Secret, mask};
use crate::shell::KEY_VAR;
use crate::store;
use crate::time;
use crate::token::{self, Decoded};

pub const MIN_TTL_VAR: &str = "BEDKEY_MIN_TTL";
const DEFAULT_MIN_TTL: Duration = Duration::from_secs(300);
/// Long-term keys closer than this to expiry get a warning on every load.
pub const WARN_BEFORE: i64 = 7 * 86_400;

/// All the time a shell start gives bedkey to refresh a key: waiting for the lock
/// and minting together. Past it, a cached key that still works is used.
pub const SHELL_BUDGET: Duration = Duration::from_secs(5);

pub struct Loaded {
    pub name: String,
    pub meta: KeyMeta,
    pub secret: Secret,
    /// Set when this load minted a new short-term key.
    pub refreshed: bool,
    /// Set when a refresh was due but failed, and the cached key, still valid, is used:
    /// why it failed.
    pub stale: Option<String>,
}

impl Loaded {
    /// When the key stops working, if it does: from the key itself for short-term
    /// keys, from the metadata for long-term ones.
    pub fn expires_at(&self) -> Option<i64> {
        match token::decode(self.secret.expose_secret()) {
            Ok(Decoded::ShortTerm(st)) => Some(st.expires_at()),
            _ => self.meta.expires,
        }
    }

    /// `AWS_BEARER_TOKEN_BEDROCK`, and the region for keys that have one (both
    /// spellings: boto3 reads only `AWS_DEFAULT_REGION`, the Rust and JS SDKs only
    /// `AWS_REGION`).
    pub fn vars(&self) -> Vec<(&'static str, &str)> {
        let mut vars = vec![(KEY_VAR, self.secret.expose_secret())];
        if let Some(region) = &self.meta.region {
            vars.push(("AWS_REGION", region));
            vars.push(("AWS_DEFAULT_REGION", region));
        }
        vars
    }
}

/// `BEDKEY_MIN_TTL`: refresh a short-term key when less than this remains.
/// 0 s to 12 h: more than a key's longest life means nothing.
pub fn min_ttl() -> Result<i64> {
    match std::env::var(MIN_TTL_VAR) {
        Ok(v) if !v.is_empty() => {
            let d = time::parse_duration(&v).map_err(|e| e.context(MIN_TTL_VAR))?;
            if d > token::MAX_LIFETIME {
                return Err(Error::usage(format!(
                    "{MIN_TTL_VAR}={v} is out of range: 0s to 12h"
                )));
            }
            Ok(d.as_secs() as i64)
        }
        _ => Ok(DEFAULT_MIN_TTL.as_secs() as i64),
    }
}

/// Seconds a short-term key has left; None for anything else.
fn seconds_left(secret: &Secret, now: i64) -> Option<i64> {
    match token::decode(secret.expose_secret()) {
        Ok(Decoded::ShortTerm(st)) => Some(st.expires_at() - now),
        _ => None,
    }
}

/// Load a key by name, refreshing a short-term recipe whose cached key runs low.
/// A fresh cached key is used as it is: no credential chain, no network. A refresh
/// gets [`SHELL_BUDGET`]; when it fails, a cached key that still works is used all
/// the same (`stale` says why), and only an expired one is an error.
pub fn load(ctx: &Context, name: &str) -> Result<Loaded> {
    let started = std::time::Instant::now();
    check_name(name)?;
    let config = ctx.config()?;
    let meta = config.load()?.get(name)?.clone();
    let min_ttl = min_ttl()?;
    let backend = store::open(meta.store, config.dir())?;
    let cached = backend.get(name)?;
    let loaded = |meta: KeyMeta, secret: Secret| Loaded {
        name: name.to_string(),
        meta,
        secret,
        refreshed: false,
        stale: None,
    };
    if meta.origin != Origin::Minted {
        let secret = cached.ok_or_else(|| missing_secret(name, &meta))?;
        return Ok(loaded(meta, secret));
    }
    let now = time::now();
    let left = cached.as_ref().and_then(|s| seconds_left(s, now));
    let margin = refresh_margin(min_ttl, meta.lifetime, cached.as_ref());
    if let (Some(secret), Some(left)) = (&cached, left)
        && left > margin
    {
        return Ok(loaded(meta, secret.clone()));
    }
    let budget = SHELL_BUDGET.saturating_sub(started.elapsed());
    let config = config.with_lock_wait(budget, None);
    match refresh(ctx, &config, backend.as_ref(), name, margin, started) {
        Ok(fresh) => Ok(fresh),
        Err(e) => match (cached, left) {
            (Some(secret), Some(left)) if left > 0 => {
                let mut key = loaded(meta, secret);
                key.stale = Some(e.message().to_string());
                Ok(key)
            }
            _ => Err(e),
        },
    }
}

/// Refresh when less than this remains: `BEDKEY_MIN_TTL`, but never more than half
/// the key's lifetime, or a short-lived key would be minted again on every use.
pub fn refresh_margin(min_ttl: i64, lifetime: Option<u64>, cached: Option<&Secret>) -> i64 {
    let lifetime = lifetime.map(|l| l as i64).or_else(|| {
        cached.and_then(|s| match token::decode(s.expose_secret()) {
            Ok(Decoded::ShortTerm(st)) => Some(st.lifetime),
            _ => None,
        })
    });
    match lifetime {
        Some(l) => min_ttl.min(l / 2),
        None => min_ttl,
    }
}

fn missing_secret(name: &str, meta: &KeyMeta) -> Error {
    Error::store(format!(
        "key '{name}' is listed but its secret is missing from the {} store",
        meta.store.as_str()
    ))
    .with_hint(format!(
        "`bedkey remove {name}` forgets it; `bedkey import {name}` stores it again"
    ))
}

/// Mint a new key for a short-term recipe, under the config lock: of several bedkey
/// processes refreshing at once, the first mints and the others find its fresh key.
///
/// The lock is held while minting on purpose: that is what makes one process mint and
/// the others wait for its key. Credential providers have their own timeouts.
fn refresh(
    ctx: &Context,
    config: &Config,
    backend: &dyn store::SecretStore,
    name: &str,
    min_ttl: i64,
    started: std::time::Instant,
) -> Result<Loaded> {
    let locked = config.lock()?;
    let mut keys = locked.load()?;
    let mut meta = keys.get(name)?.clone();
    if let Some(secret) = backend.get(name)?
        && seconds_left(&secret, time::now()).is_some_and(|left| left > min_ttl)
    {
        return Ok(Loaded {
            name: name.to_string(),
            meta,
            secret,
            refreshed: false,
            stale: None,
        });
    }
    let lifetime = Duration::from_secs(meta.lifetime.unwrap_or(token::MAX_LIFETIME.as_secs()));
    let budget = SHELL_BUDGET.saturating_sub(started.elapsed());
    let minting = crate::cmd::token::mint(
        ctx,
        meta.profile.as_deref(),
        meta.region.as_deref(),
        lifetime,
    );
    let minted = ctx
        .block_on(async { tokio::time::timeout(budget, minting).await })?
        .map_err(|_| {
            Error::credentials(format!(
                "minting a new key took more than {}s",
                SHELL_BUDGET.as_secs()
            ))
        })??;
    backend.set(name, &minted.key)?;
    meta.expires = Some(minted.expires_at);
    meta.masked = mask(minted.key.expose_secret());
    meta.region = Some(minted.region.clone());
    keys.keys.insert(name.to_string(), meta.clone());
    locked.save(&keys)?;
    Ok(Loaded {
        name: name.to_string(),
        meta,
        secret: minted.key,
        refreshed: true,
        stale: None,
    })
}

/// The warnings a load deserves: refreshed, expiring soon, expired.
pub fn warn_about(ctx: &Context, key: &Loaded) {
    let now = time::now();
    let has_region_var = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|r| !r.is_empty()));
    if key.meta.region.is_none() && !has_region_var {
        ctx.out.warn(format_args!(
            "key '{}' has no region and neither AWS_REGION nor AWS_DEFAULT_REGION is set: boto3, the AWS CLI and the SDKs will refuse to start; set AWS_REGION",
            key.name
        ));
    }
    if let Some(why) = &key.stale {
        let at = key.expires_at().unwrap_or(now);
        ctx.out.warn(format_args!(
            "could not refresh short-term key '{}' ({why}); using the cached key, valid {} more",
            key.name,
            time::human(at - now)
        ));
        return;
    }
    if key.refreshed {
        if let Some(at) = key.expires_at() {
            ctx.out.note(format_args!(
                "refreshed short-term key '{}' (valid until {}, {})",
                key.name,
                time::rfc3339(at),
                time::relative(at, now)
            ));
        }
        return;
    }
    let Some(at) = key.expires_at() else { return };
    let hint = match (key.meta.kind, key.meta.origin) {
        (KeyKind::LongTerm, Origin::Iam) => format!("`bedkey rotate {}` makes a new one", key.name),
        _ => "make a new one and `bedkey import` it".to_string(),
    };
    if at <= now {
        ctx.out.warn(format_args!(
            "key '{}' expired {} ({}): {hint}",
            key.name,
            time::relative(at, now),
            time::rfc3339(at)
        ));
    } else if key.meta.kind == KeyKind::LongTerm && at - now < WARN_BEFORE {
        ctx.out.warn(format_args!(
            "key '{}' expires {} ({}): {hint}",
            key.name,
            time::relative(at, now),
            time::rfc3339(at)
        ));
    }
}

/// Refuse a name that is taken, before any work is done for it.
pub fn ensure_free(config: &Config, name: &str) -> Result<()> {
    crate::config::check_new_name(name)?;
    if config.load()?.keys.contains_key(name) {
        return Err(
            Error::usage(format!("a key named '{name}' exists already")).with_hint(format!(
                "pick another name, or `bedkey remove {name}` first"
            )),
        );
    }
    Ok(())
}

/// Store a new key's secret and record its metadata, both under the config lock so
/// that two processes adding the same name cannot overwrite each other's secret.
pub fn add(
    config: &Config,
    backend: &dyn store::SecretStore,
    name: &str,
    secret: &Secret,
    meta: KeyMeta,
) -> Result<()> {
    crate::config::check_new_name(name)?;
    let locked = config.lock()?;
    let mut keys = locked.load()?;
    if keys.keys.contains_key(name) {
        return Err(Error::usage(format!("a key named '{name}' exists already")));
    }
    backend.set(name, secret)?;
    keys.keys.insert(name.to_string(), meta);
    if let Err(e) = locked.save(&keys) {
        // Without its metadata the secret would be unreachable: take it back.
        let _ = backend.delete(name);
        return Err(e);
    }
    Ok(())
}
