//! A stored key in use: its secret from the store, short-term keys refreshed when
//! they run low, and the variables that carry it to a program. Nothing here speaks
//! to a person: what one should hear about a key comes back as [`Warning`]s.

use std::time::{Duration, Instant};

use crate::config::{
    Config, KeyKind, KeyMeta, Keys, Origin, Publication, Retirement, Source, check_name,
    check_new_name,
};
use crate::error::{Error, Result};
use crate::secret::{ExposeSecret, Secret};
use crate::secrets::{self, About, Secrets};
use crate::service::Service;
use crate::shell::KEY_VAR;
use crate::store::{Backend, SecretStore};
use crate::time;
use crate::token::{self, Decoded, Minted};

/// All the time a shell start gives bedkey to refresh a key: waiting for the lock
/// and minting together. Past it, a cached key that still works is used.
pub const SHELL_BUDGET: Duration = Duration::from_secs(5);

/// What a person should hear about a key just loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// A new short-term key was minted (a note, not a problem).
    Refreshed {
        expires_at: i64,
    },
    /// A refresh was due but failed; the cached key, still valid, is used.
    Stale {
        why: String,
        expires_at: i64,
    },
    /// A long-term key expires within a week.
    Expiring {
        expires_at: i64,
    },
    Expired {
        expires_at: i64,
    },
    /// No region with the key, and none in the environment: SDKs will not start.
    NoRegion,
    /// A Claude Platform key with no workspace: Anthropic's SDK will not start.
    NoWorkspace,
    /// A shared or published key's secret could not be read again; the copy read
    /// at `read_at` (if ever), still valid, is used.
    Unshared {
        why: String,
        secret: String,
        read_at: Option<i64>,
    },
    /// A published key was rotated from its secret (`rotate --secret-id`): the key
    /// the secret holds now is this key.
    Adopted {
        secret: String,
        credential_id: String,
    },
}

impl Warning {
    /// Only news, not a problem.
    pub fn is_note(&self) -> bool {
        matches!(self, Warning::Refreshed { .. } | Warning::Adopted { .. })
    }

    /// The sentence for key `name` of `meta`, as of `now`.
    pub fn message(&self, name: &str, meta: &KeyMeta, now: i64) -> String {
        let when = |at: i64| format!("{} ({})", time::relative(at, now), time::rfc3339(at));
        let remedy = match (meta.kind, meta.origin) {
            (KeyKind::LongTerm, Origin::Iam) => format!("`bedkey rotate {name}` makes a new one"),
            (_, Origin::Shared) => {
                format!("its owner rotates it; `bedkey pull {name}` reads the secret again")
            }
            _ => "make a new one and `bedkey import` it".to_string(),
        };
        match self {
            Warning::Refreshed { expires_at } => format!(
                "refreshed short-term key '{name}' (valid until {}, {})",
                time::rfc3339(*expires_at),
                time::relative(*expires_at, now)
            ),
            Warning::Stale { why, expires_at } => format!(
                "could not refresh short-term key '{name}' ({why}); using the cached key, valid {} more",
                time::human(expires_at - now)
            ),
            Warning::Expiring { expires_at } => {
                format!("key '{name}' expires {}: {remedy}", when(*expires_at))
            }
            Warning::Expired { expires_at } => {
                format!("key '{name}' expired {}: {remedy}", when(*expires_at))
            }
            Warning::Unshared {
                why,
                secret,
                read_at,
            } => format!(
                "could not read {} key '{name}' again from {secret} ({why}); using the copy {}",
                if meta.origin == Origin::Shared {
                    "shared"
                } else {
                    "published"
                },
                match read_at {
                    Some(at) => format!("read {}", time::relative(*at, now)),
                    None => "stored here".to_string(),
                }
            ),
            Warning::Adopted {
                secret,
                credential_id,
            } => format!(
                "key '{name}' was rotated from {secret}: now using its credential {credential_id}"
            ),
            Warning::NoWorkspace => format!(
                "Claude Platform key '{name}' has no workspace: Anthropic's SDK refuses to start without ANTHROPIC_AWS_WORKSPACE_ID; `bedkey set {name} --workspace-id ID` records one"
            ),
            Warning::NoRegion => format!(
                "key '{name}' has no region and neither AWS_REGION nor AWS_DEFAULT_REGION is set: {} will refuse to start; `bedkey set {name} --region REGION` records one",
                match meta.service {
                    Service::ClaudePlatform => "Anthropic's AnthropicAWS client",
                    _ => "boto3, the AWS CLI and the SDKs",
                }
            ),
        }
    }
}

pub struct Loaded {
    pub name: String,
    pub meta: KeyMeta,
    pub secret: Secret,
    pub warnings: Vec<Warning>,
    /// When the key stops working, if it does: a short-term key's own expiry, else
    /// what the metadata says.
    pub expires_at: Option<i64>,
    /// When a load would do work for it: mint a short-term key again, or read a
    /// shared or published key's secret again. None when only a change in its store
    /// would change it.
    pub refresh_at: Option<i64>,
}

impl Loaded {
    pub fn new(name: &str, meta: KeyMeta, secret: Secret) -> Loaded {
        let expires_at = match token::decode(secret.expose_secret()) {
            Ok(Decoded::ShortTerm(st)) => Some(st.expires_at()),
            _ => meta.expires,
        };
        Loaded {
            name: name.to_string(),
            meta,
            secret,
            warnings: Vec::new(),
            expires_at,
            refresh_at: None,
        }
    }

    /// Work out when a load would next do work for this key, with the loader's TTLs.
    pub(crate) fn due(mut self, min_ttl: i64, shared_ttl: i64) -> Loaded {
        self.refresh_at = match self.meta.origin {
            Origin::Minted => self.expires_at.map(|at| {
                at.saturating_sub(refresh_margin(
                    min_ttl,
                    self.meta.lifetime,
                    Some(&self.secret),
                ))
            }),
            _ => self.read_again_at(min_ttl, shared_ttl),
        };
        self
    }

    /// Whether this load minted a new short-term key.
    pub fn refreshed(&self) -> bool {
        self.warnings
            .iter()
            .any(|w| matches!(w, Warning::Refreshed { .. }))
    }

    /// When a load would read a secret again (a shared key's, or a published key's):
    /// its copy grows older than `shared_ttl`, or the key nears its expiry. None for
    /// keys no load changes unless their store does (short-term keys fall due by
    /// their own expiry).
    fn read_again_at(&self, min_ttl: i64, shared_ttl: i64) -> Option<i64> {
        // Saturating: keys.json is the user's file, and its numbers may be anything.
        let expiring = self.meta.expires.map(|at| at.saturating_sub(min_ttl));
        let read = match self.meta.origin {
            Origin::Shared => self.meta.shared.as_ref().map(|s| s.read_at),
            Origin::Iam if !self.meta.published.is_empty() => self
                .meta
                .published
                .iter()
                .map(|p| p.read_at.unwrap_or(0))
                .min(),
            _ => return None,
        };
        [read.map(|at| at.saturating_add(shared_ttl)), expiring]
            .into_iter()
            .flatten()
            .min()
    }

    /// The region the key is used in: its own, else the environment's.
    pub fn region(&self) -> Option<String> {
        self.meta
            .region
            .clone()
            .or_else(|| crate::region::from_env().map(|(r, _)| r))
    }

    /// `AWS_BEARER_TOKEN_BEDROCK`, and the region for keys that have one (both
    /// spellings: boto3 reads only `AWS_DEFAULT_REGION`, the Rust and JS SDKs only
    /// `AWS_REGION`).
    pub fn vars(&self) -> Vec<(&'static str, &str)> {
        let mut vars = vec![(KEY_VAR, self.secret.expose_secret())];
        if let Some(region) = &self.meta.region {
            vars.extend(crate::region::VARS.map(|var| (var, region.as_str())));
        }
        vars
    }

    /// Expiry and region warnings, as of `now`.
    fn check(&mut self, now: i64) {
        if self.meta.region.is_none() && crate::region::from_env().is_none() {
            self.warnings.push(Warning::NoRegion);
        }
        if self.meta.service == Service::ClaudePlatform
            && self.meta.workspace.is_none()
            && std::env::var_os(crate::service::WORKSPACE_VAR).is_none()
        {
            self.warnings.push(Warning::NoWorkspace);
        }
        let (Some(expires_at), false) = (self.expires_at, self.refreshed()) else {
            return;
        };
        if self
            .warnings
            .iter()
            .any(|w| matches!(w, Warning::Stale { .. } | Warning::Unshared { .. }))
        {
            return;
        }
        if expires_at <= now {
            self.warnings.push(Warning::Expired { expires_at });
        } else if self.meta.kind == KeyKind::LongTerm
            && expires_at.saturating_sub(now) < crate::config::WARN_BEFORE
        {
            self.warnings.push(Warning::Expiring { expires_at });
        }
    }
}

/// Refresh when less than this remains: `min_ttl`, but never more than half the key's
/// lifetime, or a short-lived key would be minted again on every use.
pub fn refresh_margin(min_ttl: i64, lifetime: Option<u64>, cached: Option<&Secret>) -> i64 {
    let lifetime = lifetime
        .map(|l| l.min(token::MAX_LIFETIME.as_secs()) as i64)
        .or_else(|| {
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

/// Seconds a short-term key has left; None for anything else.
fn seconds_left(secret: &Secret, now: i64) -> Option<i64> {
    match token::decode(secret.expose_secret()) {
        Ok(Decoded::ShortTerm(st)) => Some(st.expires_at() - now),
        _ => None,
    }
}

/// Makes a new key for a short-term recipe. [`AwsMinter`] asks the AWS credential
/// chain; tests give a fake.
pub trait Minter {
    /// Mint a key of `service` for `profile` (None: the default chain) in `region`,
    /// within `budget`.
    fn mint(
        &self,
        service: crate::service::Service,
        profile: Option<&str>,
        region: Option<&str>,
        lifetime: Duration,
        budget: Duration,
    ) -> Result<Minted>;
}

pub struct AwsMinter;

impl Minter for AwsMinter {
    fn mint(
        &self,
        service: crate::service::Service,
        profile: Option<&str>,
        region: Option<&str>,
        lifetime: Duration,
        budget: Duration,
    ) -> Result<Minted> {
        let minting = crate::aws::mint(service, profile, region, lifetime);
        crate::aws::block_on(async { tokio::time::timeout(budget, minting).await })?.map_err(
            |_| {
                Error::credentials(format!(
                    "minting a new key took more than {}s",
                    budget.as_secs_f64().round()
                ))
            },
        )?
    }
}

/// Reads a shared or published key's secret. [`AwsReader`] asks Secrets Manager;
/// tests give a fake.
pub trait Reader {
    fn read(&self, from: Source<'_>, budget: Duration) -> Result<(Secret, About)>;
}

pub struct AwsReader;

impl Reader for AwsReader {
    fn read(&self, from: Source<'_>, budget: Duration) -> Result<(Secret, About)> {
        let reading = async {
            let (client, _) = Secrets::connect(from.profile, from.region).await?;
            let read = client.read(from.secret).await?.ok_or_else(|| {
                Error::failure(format!(
                    "secret {} has no current value any more",
                    from.secret
                ))
            })?;
            secrets::parse(&read.value, from.secret)
        };
        crate::aws::block_on(async { tokio::time::timeout(budget, reading).await })?.map_err(
            |_| {
                Error::failure(format!(
                    "Secrets Manager did not answer within {}s",
                    budget.as_secs_f64().round()
                ))
            },
        )?
    }
}

/// Opens the store a key was kept in.
pub type OpenStore<'a> = dyn Fn(Backend) -> Result<Box<dyn SecretStore>> + 'a;

/// Loads keys by name: what `env`, `exec` and anything long-running use.
pub struct Loader<'a> {
    config: &'a Config,
    open: &'a OpenStore<'a>,
    minter: &'a dyn Minter,
    reader: &'a dyn Reader,
    /// `BEDKEY_MIN_TTL`, in seconds.
    min_ttl: i64,
    /// `BEDKEY_SHARED_TTL`, in seconds.
    shared_ttl: i64,
    /// Time for a refresh, lock and minting included.
    budget: Duration,
}

impl<'a> Loader<'a> {
    /// The loader every command and the proxy use: keys of `config`, their stores
    /// opened with `open`, short-term keys minted from the AWS credential chain and
    /// secrets read from Secrets Manager, with the settings in effect; a refresh gets
    /// `budget`.
    pub fn new(
        config: &'a Config,
        open: &'a OpenStore<'a>,
        budget: Duration,
    ) -> Result<Loader<'a>> {
        Ok(Loader {
            config,
            open,
            minter: &AwsMinter,
            reader: &AwsReader,
            min_ttl: crate::settings::min_ttl()?,
            shared_ttl: crate::settings::shared_ttl()?,
            budget,
        })
    }

    /// Mint with `minter` instead (tests).
    pub fn minting_with(mut self, minter: &'a dyn Minter) -> Loader<'a> {
        self.minter = minter;
        self
    }

    /// Read secrets with `reader` instead (tests).
    pub fn reading_with(mut self, reader: &'a dyn Reader) -> Loader<'a> {
        self.reader = reader;
        self
    }

    /// Refresh a short-term key when less than `seconds` remain, not the setting's.
    pub fn min_ttl(mut self, seconds: i64) -> Loader<'a> {
        self.min_ttl = seconds;
        self
    }

    /// The settings this loader uses: (`min_ttl`, `shared_ttl`), in seconds.
    pub fn ttls(&self) -> (i64, i64) {
        (self.min_ttl, self.shared_ttl)
    }
}

impl Loader<'_> {
    /// Load a key, refreshing a short-term recipe whose cached key runs low. A fresh
    /// cached key is used as it is: no credential chain, no network, no lock. When a
    /// refresh fails, a cached key that still works is used all the same (with a
    /// [`Warning::Stale`]); only an expired one is an error.
    pub fn load(&self, name: &str) -> Result<Loaded> {
        let started = Instant::now();
        check_name(name)?;
        let meta = self.config.load()?.get(name)?.clone();
        // Its region goes into shells: keys.json is checked like a flag.
        if let Some(region) = &meta.region {
            crate::region::checked(region)
                .map_err(|e| e.context(format!("key '{name}' in keys.json")))?;
        }
        let backend = (self.open)(meta.store)?;
        let cached = backend.get(name)?;
        let mut key = match meta.origin {
            Origin::Minted => self.short_term(name, meta, backend.as_ref(), cached, started)?,
            Origin::Shared => self.shared(name, meta, backend.as_ref(), cached, started)?,
            Origin::Iam if !meta.published.is_empty() => {
                let secret = cached.ok_or_else(|| missing_secret(name, &meta))?;
                self.published(name, meta, backend.as_ref(), secret, started)
            }
            _ => {
                let secret = cached.ok_or_else(|| missing_secret(name, &meta))?;
                Loaded::new(name, meta, secret)
            }
        };
        key.check(time::now());
        Ok(key.due(self.min_ttl, self.shared_ttl))
    }

    fn short_term(
        &self,
        name: &str,
        meta: KeyMeta,
        backend: &dyn SecretStore,
        cached: Option<Secret>,
        started: Instant,
    ) -> Result<Loaded> {
        let left = cached.as_ref().and_then(|s| seconds_left(s, time::now()));
        let margin = refresh_margin(self.min_ttl, meta.lifetime, cached.as_ref());
        if let (Some(secret), Some(left)) = (&cached, left)
            && left > margin
        {
            return Ok(Loaded::new(name, meta, secret.clone()));
        }
        match self.refresh(name, backend, margin, started) {
            Ok(fresh) => Ok(fresh),
            Err(e) => match (cached, left) {
                (Some(secret), Some(left)) if left > 0 => {
                    let mut key = Loaded::new(name, meta, secret);
                    key.warnings.push(Warning::Stale {
                        why: e.message().to_string(),
                        expires_at: time::now() + left,
                    });
                    Ok(key)
                }
                _ => Err(e),
            },
        }
    }

    /// A shared key: the cached copy while it is younger than the shared TTL and not
    /// about to expire; else the secret read again. When that fails, a cached copy
    /// that still works is used (with a [`Warning::Unshared`]).
    fn shared(
        &self,
        name: &str,
        meta: KeyMeta,
        backend: &dyn SecretStore,
        cached: Option<Secret>,
        started: Instant,
    ) -> Result<Loaded> {
        let now = time::now();
        let read_at = meta.shared.as_ref().map_or(0, |s| s.read_at);
        let expiring = meta
            .expires
            .is_some_and(|at| at.saturating_sub(now) <= self.min_ttl);
        if let Some(secret) = &cached
            && now - read_at < self.shared_ttl
            && !expiring
        {
            return Ok(Loaded::new(name, meta, secret.clone()));
        }
        match self.read_again(name, backend, started) {
            Ok(fresh) => Ok(fresh),
            Err(e) => match cached {
                Some(secret) if meta.expires.is_none_or(|at| at > now) => {
                    let from = meta
                        .shared
                        .as_ref()
                        .map_or(String::new(), |s| s.secret.clone());
                    let read_at = meta.shared.as_ref().map(|s| s.read_at);
                    let mut key = Loaded::new(name, meta, secret);
                    key.warnings.push(Warning::Unshared {
                        why: e.message().to_string(),
                        secret: from,
                        read_at,
                    });
                    Ok(key)
                }
                _ => Err(e),
            },
        }
    }

    /// Read a shared key's secret now and cache what it holds (`pull NAME`).
    pub fn read_again(
        &self,
        name: &str,
        backend: &dyn SecretStore,
        started: Instant,
    ) -> Result<Loaded> {
        let remaining = || self.budget.saturating_sub(started.elapsed());
        let meta = self.config.load()?.get(name)?.clone();
        let from = meta.shared.clone().ok_or_else(|| {
            Error::usage(format!(
                "key '{name}' is not shared: it was not pulled from a secret"
            ))
            .with_hint("`bedkey pull OTHER-NAME --secret-id ID` makes a shared entry")
        })?;
        // The network first, outside the lock.
        let (key, about) = self.reader.read(from.source(), remaining())?;
        let (kind, expires) = kind_and_expiry(&key, &about)?;
        let config = self.config.waiting_at_most(remaining());
        config.update(|keys: &mut Keys| {
            let mut meta = keys.get(name)?.clone();
            if backend
                .get(name)?
                .is_none_or(|old| old.expose_secret() != key.expose_secret())
            {
                backend.set(name, &key)?;
            }
            meta.kind = kind;
            meta.expires = expires;
            meta.region = about.region.clone().or(meta.region);
            // The secret says which workspace, if any: none is none.
            meta.workspace = about.workspace_id.clone();
            meta.now_holds(&key);
            if let Some(shared) = &mut meta.shared {
                shared.read_at = time::now();
            }
            keys.keys.insert(name.to_string(), meta.clone());
            Ok(Loaded::new(name, meta, key))
        })
    }

    /// A key this home made and published: its secrets are read again on the
    /// shared key's rule (older than `BEDKEY_SHARED_TTL`, or the key about to expire),
    /// so that a rotation from a secret (`rotate --secret-id`, a scheduled job) reaches
    /// this home too. Whatever stops a re-read, the key held here is used.
    fn published(
        &self,
        name: &str,
        meta: KeyMeta,
        backend: &dyn SecretStore,
        secret: Secret,
        started: Instant,
    ) -> Loaded {
        let now = time::now();
        let expiring = meta
            .expires
            .is_some_and(|at| at.saturating_sub(now) <= self.min_ttl);
        let due = meta
            .published
            .iter()
            .any(|p| expiring || now - p.read_at.unwrap_or(0) >= self.shared_ttl);
        if !due {
            return Loaded::new(name, meta, secret);
        }
        match self.read_published(name, backend, started) {
            Ok(key) => key,
            Err(unread) => {
                let mut key = Loaded::new(name, meta, secret);
                key.warnings.push(Warning::Unshared {
                    why: unread.error.message().to_string(),
                    secret: unread.secret,
                    read_at: unread.read_at,
                });
                key
            }
        }
    }

    /// Read every secret key `name` is published to, and take in a key rotated in one
    /// of them (see [`rotated_in_secret`]). Returns the key as it stands after, or
    /// the first failure with the publication it concerns.
    pub fn read_published(
        &self,
        name: &str,
        backend: &dyn SecretStore,
        started: Instant,
    ) -> std::result::Result<Loaded, Box<Unread>> {
        let remaining = || self.budget.saturating_sub(started.elapsed());
        let unread = |error: Error, p: Option<&Publication>| {
            Box::new(Unread {
                error,
                secret: p.map(|p| p.secret.clone()).unwrap_or_default(),
                read_at: p.and_then(|p| p.read_at),
            })
        };
        let meta = self
            .config
            .load()
            .and_then(|k| k.get(name).cloned())
            .map_err(|e| unread(e, None))?;
        // The network first, outside the lock.
        let mut read = Vec::new();
        for p in &meta.published {
            match self.reader.read(p.source(), remaining()) {
                Ok(held) => read.push((p.secret.clone(), held)),
                Err(e) => return Err(unread(e, Some(p))),
            }
        }
        let config = self.config.waiting_at_most(remaining());
        config
            .update(|keys: &mut Keys| {
                let mut meta = keys.get(name)?.clone();
                let mut warnings = Vec::new();
                for (secret, (key, about)) in &read {
                    let Some(at) = meta.published.iter().position(|p| p.secret == *secret) else {
                        continue;
                    };
                    let known = meta.published[at].credential_id.clone();
                    if let Some(id) = rotated_in_secret(&meta, known.as_deref(), key, about) {
                        adopt(&mut meta, backend, name, key, about, &id)?;
                        meta.published[at].credential_id = Some(id.clone());
                        warnings.push(Warning::Adopted {
                            secret: secret.clone(),
                            credential_id: id,
                        });
                    }
                    meta.published[at].read_at = Some(time::now());
                }
                keys.keys.insert(name.to_string(), meta.clone());
                let secret = backend
                    .get(name)?
                    .ok_or_else(|| missing_secret(name, &meta))?;
                let mut loaded = Loaded::new(name, meta, secret);
                loaded.warnings = warnings;
                Ok(loaded)
            })
            .map_err(|e| unread(e, None))
    }

    /// Mint a new key under the config lock: of several processes refreshing at
    /// once, the first mints and the others find its fresh key. The lock is held
    /// while minting on purpose, and waiting for it counts against the budget.
    fn refresh(
        &self,
        name: &str,
        backend: &dyn SecretStore,
        margin: i64,
        started: Instant,
    ) -> Result<Loaded> {
        let remaining = || self.budget.saturating_sub(started.elapsed());
        let config = self.config.waiting_at_most(remaining());
        config.update(|keys: &mut Keys| {
            let mut meta = keys.get(name)?.clone();
            if let Some(secret) = backend.get(name)?
                && seconds_left(&secret, time::now()).is_some_and(|left| left > margin)
            {
                return Ok(Loaded::new(name, meta, secret));
            }
            // keys.json is not trusted to hold a lifetime in range.
            let lifetime = Duration::from_secs(
                meta.lifetime
                    .unwrap_or(u64::MAX)
                    .clamp(1, token::MAX_LIFETIME.as_secs()),
            );
            let minted = self.minter.mint(
                meta.service,
                meta.profile.as_deref(),
                meta.region.as_deref(),
                lifetime,
                remaining(),
            )?;
            backend.set(name, &minted.key)?;
            meta.expires = Some(minted.expires_at);
            meta.now_holds(&minted.key);
            meta.region = Some(minted.region.clone());
            keys.keys.insert(name.to_string(), meta.clone());
            let mut key = Loaded::new(name, meta, minted.key);
            key.warnings.push(Warning::Refreshed {
                expires_at: minted.expires_at,
            });
            Ok(key)
        })
    }
}

/// A published key's secret that could not be read again.
pub struct Unread {
    pub error: Error,
    /// The secret (empty when the failure was not a secret's).
    pub secret: String,
    pub read_at: Option<i64>,
}

/// The credential of a newer key of this key's IAM user in a secret it is published
/// to: one rotated from the secret (`rotate --secret-id`) since bedkey last wrote or
/// read it (`known`, what the secret held then). Neither this key's own credential
/// nor the one it is retiring: a stale copy written back is not newer. None when the
/// secret holds nothing newer, or when bedkey never knew what it held.
pub fn rotated_in_secret(
    meta: &KeyMeta,
    known: Option<&str>,
    held: &Secret,
    about: &About,
) -> Option<String> {
    let Ok(Decoded::LongTerm(key)) = token::decode(held.expose_secret()) else {
        return None;
    };
    let user = meta.user.as_deref()?;
    let id = about.credential_id.as_deref()?;
    let own_account = meta.alias.as_ref().and_then(|a| {
        token::LongTerm {
            service: meta.service,
            alias: a.clone(),
        }
        .account()
        .map(str::to_string)
    });
    let same_account = own_account.is_none_or(|a| key.account() == Some(a.as_str()));
    let retiring = meta.retiring.as_ref().map(|r| r.credential_id.as_str());
    let newer = key.is_of_user(user)
        && same_account
        && meta.credential_id.as_deref() != Some(id)
        && retiring != Some(id)
        && known.is_some_and(|k| k != id);
    newer.then(|| id.to_string())
}

/// Take a key rotated in a secret as this key: stored here, its credential, alias and
/// expiry recorded, and the credential it retires (the one this home held) with it.
fn adopt(
    meta: &mut KeyMeta,
    backend: &dyn SecretStore,
    name: &str,
    key: &Secret,
    about: &About,
    id: &str,
) -> Result<()> {
    let expires = about
        .expires_at
        .as_deref()
        .map(time::parse_instant)
        .transpose()?;
    backend.set(name, key)?;
    let old = meta.credential_id.replace(id.to_string());
    if let Ok(Decoded::LongTerm(l)) = token::decode(key.expose_secret()) {
        meta.alias = Some(l.alias);
    }
    // The secret says when the credential it replaced retires: that is this home's.
    let retiring = about.retiring.as_ref().and_then(|r| {
        let id = r.get("credential_id")?.as_str()?;
        let due = r
            .get("after")?
            .as_str()
            .and_then(|t| time::parse_instant(t).ok())?;
        (Some(id) == old.as_deref()).then(|| Retirement {
            credential_id: id.to_string(),
            due,
        })
    });
    if let Some(r) = retiring {
        meta.retiring = Some(r);
    }
    if let (Some(new), Some(old)) = (expires, meta.expires) {
        // Same lifetime as the key it replaced: keeps `rotate`'s choice of days.
        meta.created = new - (old - meta.created);
    }
    meta.expires = expires;
    meta.now_holds(key);
    Ok(())
}

/// A key's kind and expiry: a short-term key's own, else what its secret says.
pub fn kind_and_expiry(key: &Secret, about: &About) -> Result<(KeyKind, Option<i64>)> {
    match token::decode(key.expose_secret())? {
        Decoded::ShortTerm(st) => Ok((KeyKind::ShortTerm, Some(st.expires_at()))),
        Decoded::LongTerm(_) => {
            let expires = about
                .expires_at
                .as_deref()
                .map(time::parse_instant)
                .transpose()?;
            Ok((KeyKind::LongTerm, expires))
        }
    }
}

fn missing_secret(name: &str, meta: &KeyMeta) -> Error {
    // The command that brings the key back, for the way it came.
    let hint = match meta.origin {
        Origin::Iam => {
            format!("`bedkey rotate {name}` makes it a new key (the lost one cannot be read again)")
        }
        Origin::Shared => format!("`bedkey pull {name}` reads it from its secret again"),
        Origin::Imported | Origin::Minted => {
            format!("`bedkey remove {name}`, then `bedkey import {name}` stores it again")
        }
    };
    Error::store(format!(
        "key '{name}' is listed but its secret is missing from the {} store",
        meta.store.as_str()
    ))
    .with_hint(hint)
}

/// What a key brought in (`import`) is, with what the flags said checked against it.
pub struct Classified {
    pub kind: KeyKind,
    pub expires: Option<i64>,
    pub region: Option<String>,
}

/// A short-term key carries its region and expiry, which the flags may not
/// contradict; a long-term key takes them from the flags.
pub fn classify(key: &Secret, expires: Option<i64>, region: Option<String>) -> Result<Classified> {
    let Decoded::ShortTerm(st) = token::decode(key.expose_secret())? else {
        return Ok(Classified {
            kind: KeyKind::LongTerm,
            expires,
            region,
        });
    };
    if expires.is_some() {
        return Err(Error::usage(
            "a short-term key carries its own expiry: drop --days/--expires-at",
        ));
    }
    if let Some(r) = &region
        && *r != st.region
    {
        return Err(Error::usage(format!(
            "this key was signed for {}, not {r}: it works only there",
            st.region
        )));
    }
    if st.expires_at() <= time::now() {
        return Err(Error::usage(format!(
            "this key expired at {}",
            time::rfc3339(st.expires_at())
        )));
    }
    Ok(Classified {
        kind: KeyKind::ShortTerm,
        expires: Some(st.expires_at()),
        region: Some(st.region),
    })
}

/// Refuse a name that is taken, before any work is done for it.
pub fn ensure_free(config: &Config, name: &str) -> Result<()> {
    check_new_name(name)?;
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
/// Without its metadata the secret would be unreachable, so a failed save takes it
/// back.
pub fn add(
    config: &Config,
    backend: &dyn SecretStore,
    name: &str,
    secret: &Secret,
    meta: KeyMeta,
) -> Result<()> {
    check_new_name(name)?;
    config.update_or_undo(
        |keys| {
            if keys.keys.contains_key(name) {
                return Err(Error::usage(format!("a key named '{name}' exists already")));
            }
            backend.set(name, secret)?;
            keys.keys.insert(name.to_string(), meta);
            Ok(())
        },
        |_| {
            let _ = backend.delete(name);
        },
    )
}

/// Put `secret` in place of key `name`'s, and change its metadata with `change`,
/// under the lock. If the metadata cannot be saved, the old secret goes back.
pub fn replace(
    config: &Config,
    backend: &dyn SecretStore,
    name: &str,
    secret: &Secret,
    change: impl FnOnce(&mut KeyMeta),
) -> Result<KeyMeta> {
    config
        .update_or_undo(
            |keys| {
                let mut meta = keys.get(name)?.clone();
                let previous = backend.get(name)?;
                backend.set(name, secret)?;
                change(&mut meta);
                meta.now_holds(secret);
                keys.keys.insert(name.to_string(), meta.clone());
                Ok((meta, previous))
            },
            |(_, previous)| {
                if let Some(old) = previous {
                    let _ = backend.set(name, old);
                }
            },
        )
        .map(|(meta, _)| meta)
}

/// Delete a key's secret and metadata, under the lock. With `force`, a store that
/// cannot be reached does not stop it: the metadata goes, and what may be left in
/// the store comes back as a sentence for the person.
pub fn forget(
    config: &Config,
    open: &OpenStore,
    name: &str,
    force: bool,
) -> Result<Option<String>> {
    config.update(|keys| {
        let meta = keys.get(name)?.clone();
        let left = match open(meta.store).and_then(|s| s.delete(name)) {
            Ok(_) => None,
            Err(e) if force => Some(format!(
                "the {} store could not be reached ({}), so its secret for '{name}' may still be there; {}",
                meta.store.as_str(),
                e.message(),
                meta.store.remove_by_hand(name)
            )),
            // A hint of the store's own (a full disk) says what works; --force would
            // fail the same way.
            Err(e) if e.hint().is_some() => return Err(e),
            Err(e) => {
                return Err(e.with_hint(format!(
                    "`bedkey remove {name} --force` forgets the key anyway"
                )));
            }
        };
        keys.keys.remove(name);
        Ok(left)
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::secret::secret;

    /// A store in memory, shared by every handle opened on it.
    #[derive(Clone, Default)]
    struct Memory(Arc<Mutex<HashMap<String, String>>>);

    impl SecretStore for Memory {
        fn backend(&self) -> Backend {
            Backend::File
        }
        fn get(&self, name: &str) -> Result<Option<Secret>> {
            Ok(self.0.lock().unwrap().get(name).cloned().map(secret))
        }
        fn set(&self, name: &str, value: &Secret) -> Result<()> {
            let value = value.expose_secret().to_string();
            self.0.lock().unwrap().insert(name.to_string(), value);
            Ok(())
        }
        fn delete(&self, name: &str) -> Result<bool> {
            Ok(self.0.lock().unwrap().remove(name).is_some())
        }
    }

    /// Mints real keys (dummy credentials) signed `age` seconds ago, or fails.
    struct Fake {
        age: i64,
        lifetime: i64,
        fail: Option<&'static str>,
        calls: Mutex<usize>,
    }

    impl Fake {
        fn new(age: i64, lifetime: i64) -> Fake {
            Fake {
                age,
                lifetime,
                fail: None,
                calls: Mutex::new(0),
            }
        }

        fn key(&self) -> Minted {
            let creds = aws_credential_types::Credentials::new(
                "AKIAIOSFODNN7EXAMPLE",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                None,
                None,
                "test",
            );
            let signed_at = time::now() - self.age;
            let key = token::mint(
                crate::service::Service::Bedrock,
                &creds,
                "us-east-1",
                Duration::from_secs(self.lifetime as u64),
                token::system_time(signed_at),
            )
            .unwrap();
            Minted {
                key,
                region: "us-east-1".into(),
                signed_at,
                expires_at: signed_at + self.lifetime,
                capped_by_credentials: false,
                source: "test".into(),
            }
        }
    }

    impl Minter for Fake {
        fn mint(
            &self,
            _: crate::service::Service,
            _: Option<&str>,
            _: Option<&str>,
            _: Duration,
            _: Duration,
        ) -> Result<Minted> {
            *self.calls.lock().unwrap() += 1;
            match self.fail {
                Some(why) => Err(Error::credentials(why)),
                None => Ok(self.key()),
            }
        }
    }

    /// A config dir holding one short-term recipe `k`, its cached key minted by `cached`.
    fn recipe(cached: &Fake, lifetime: u64) -> (tempfile::TempDir, Config, Memory) {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::new(Some(dir.path())).unwrap();
        let memory = Memory::default();
        let minted = cached.key();
        let meta = KeyMeta::minted(Backend::File, &minted, None, lifetime);
        add(&config, &memory, "k", &minted.key, meta).unwrap();
        (dir, config, memory)
    }

    fn load(config: &Config, memory: &Memory, minter: &Fake, min_ttl: i64) -> Result<Loaded> {
        let open = |_: Backend| Ok(Box::new(memory.clone()) as Box<dyn SecretStore>);
        Loader::new(config, &open, SHELL_BUDGET)
            .unwrap()
            .minting_with(minter)
            .min_ttl(min_ttl)
            .load("k")
    }

    #[test]
    fn only_a_newer_key_of_the_same_user_in_a_secret_is_taken_in() {
        let key = |alias: &str| secret(format!("ABSK{}", base64_of(&format!("{alias}:s3cr3t"))));
        let mut meta = KeyMeta::imported(
            KeyKind::LongTerm,
            Backend::File,
            &key("u-at-123456789012"),
            None,
            None,
        );
        meta.origin = Origin::Iam;
        meta.user = Some("u".into());
        meta.credential_id = Some("C1".into());
        meta.alias = Some("u-at-123456789012".into());
        let about = |id: &str| About {
            credential_id: Some(id.into()),
            ..About::default()
        };
        let newer = key("u+1-at-123456789012");
        // Rotated from the secret since bedkey wrote C1 there: taken in.
        assert_eq!(
            rotated_in_secret(&meta, Some("C1"), &newer, &about("C2")).as_deref(),
            Some("C2")
        );
        // What bedkey last knew the secret held, or its own key: nothing new.
        assert_eq!(
            rotated_in_secret(&meta, Some("C2"), &newer, &about("C2")),
            None
        );
        assert_eq!(
            rotated_in_secret(&meta, Some("C1"), &newer, &about("C1")),
            None
        );
        // Never knew what it held: no claim that it is newer.
        assert_eq!(rotated_in_secret(&meta, None, &newer, &about("C2")), None);
        // Another user's key, or another account's.
        let other = key("v+1-at-123456789012");
        assert_eq!(
            rotated_in_secret(&meta, Some("C1"), &other, &about("C2")),
            None
        );
        let elsewhere = key("u+1-at-210987654321");
        assert_eq!(
            rotated_in_secret(&meta, Some("C1"), &elsewhere, &about("C2")),
            None
        );
        // A stale copy written back: the credential this key is retiring.
        meta.retiring = Some(Retirement {
            credential_id: "C0".into(),
            due: 0,
        });
        assert_eq!(
            rotated_in_secret(&meta, Some("C1"), &newer, &about("C0")),
            None
        );
    }

    fn base64_of(text: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn a_fresh_key_is_used_without_minting() {
        let (_d, config, memory) = recipe(&Fake::new(0, 3600), 3600);
        let minter = Fake::new(0, 3600);
        let key = load(&config, &memory, &minter, 300).unwrap();
        assert!(!key.refreshed());
        assert!(key.warnings.is_empty(), "{:?}", key.warnings);
        assert_eq!(*minter.calls.lock().unwrap(), 0);
    }

    #[test]
    fn a_key_inside_the_margin_is_refreshed_and_stored() {
        // 3600 s key signed 3500 s ago: 100 s left, margin 300 s.
        let (_d, config, memory) = recipe(&Fake::new(3500, 3600), 3600);
        let minter = Fake::new(0, 3600);
        let key = load(&config, &memory, &minter, 300).unwrap();
        assert!(key.refreshed());
        assert!(matches!(key.warnings[0], Warning::Refreshed { .. }));
        assert_eq!(*minter.calls.lock().unwrap(), 1);
        let stored = memory.get("k").unwrap().unwrap();
        assert_eq!(stored.expose_secret(), key.secret.expose_secret());
        let meta = config.load().unwrap().get("k").unwrap().clone();
        assert_eq!(meta.masked, token::mask(key.secret.expose_secret()));
    }

    #[test]
    fn a_stale_but_valid_key_is_used_when_refreshing_fails() {
        let (_d, config, memory) = recipe(&Fake::new(3500, 3600), 3600);
        let before = memory.get("k").unwrap().unwrap();
        let mut minter = Fake::new(0, 3600);
        minter.fail = Some("no credentials");
        let key = load(&config, &memory, &minter, 300).unwrap();
        assert!(!key.refreshed());
        assert_eq!(key.secret.expose_secret(), before.expose_secret());
        let Warning::Stale { why, .. } = &key.warnings[0] else {
            panic!("{:?}", key.warnings)
        };
        assert!(why.contains("no credentials"));
    }

    #[test]
    fn an_expired_key_that_cannot_be_refreshed_is_an_error() {
        let (_d, config, memory) = recipe(&Fake::new(4000, 3600), 3600);
        let mut minter = Fake::new(0, 3600);
        minter.fail = Some("no credentials");
        let e = load(&config, &memory, &minter, 300).err().unwrap();
        assert_eq!(e.kind(), crate::error::Kind::Credentials);
    }

    #[test]
    fn the_margin_is_capped_at_half_the_lifetime() {
        // A 60 s recipe, 20 s old: 40 s left. With a 300 s minimum it would refresh
        // on every use; capped at 30 s it does not.
        let (_d, config, memory) = recipe(&Fake::new(20, 60), 60);
        let minter = Fake::new(0, 60);
        let key = load(&config, &memory, &minter, 300).unwrap();
        assert!(!key.refreshed());
        assert_eq!(refresh_margin(300, Some(60), None), 30);
        assert_eq!(refresh_margin(300, Some(43_200), None), 300);
    }

    #[test]
    fn a_long_term_key_near_expiry_warns_and_one_without_secret_is_a_store_error() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::new(Some(dir.path())).unwrap();
        let memory = Memory::default();
        let key = secret("ABSKQmVkcm9ja0FQSUtleS14LWF0LTEyMzQ1Njc4OTAxMjpzZWNyZXQ=");
        let meta = KeyMeta::imported(
            KeyKind::LongTerm,
            Backend::File,
            &key,
            Some(time::now() + 3600),
            Some("us-east-1".into()),
        );
        add(&config, &memory, "k", &key, meta).unwrap();
        let loaded = load(&config, &memory, &Fake::new(0, 1), 300).unwrap();
        assert!(matches!(loaded.warnings[..], [Warning::Expiring { .. }]));
        memory.delete("k").unwrap();
        let e = load(&config, &memory, &Fake::new(0, 1), 300).err().unwrap();
        assert_eq!(e.kind(), crate::error::Kind::Store);
    }
}
