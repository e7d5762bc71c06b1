//! `bedkey import`: store a key made elsewhere. The key comes from stdin or a hidden
//! prompt, never from an argument, where shell history and `ps` would see it.

use serde::Serialize;

use crate::aws;
use crate::cli::Import;
use crate::cmd::{Context, Run};
use crate::config::{KeyKind, KeyMeta, Origin};
use crate::error::{Error, Result};
use crate::keys;
use crate::prompt;
use crate::secret::{ExposeSecret, mask};
use crate::store;
use crate::time;
use crate::token::{self, Decoded};

pub const MAX_DAYS: i64 = 36_600;

#[derive(Serialize)]
struct Json<'a> {
    name: &'a str,
    kind: &'static str,
    store: &'static str,
    key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'a str>,
    expires_at: Option<String>,
}

/// Whether the SDKs the key is loaded into would find a region of their own here:
/// in the environment or the AWS profile.
fn region_in_effect(ctx: &Context) -> bool {
    ctx.block_on(aws::region(None, ctx.global.profile.as_deref()))
        .is_ok_and(|r| r.is_ok())
}

/// `--days` as IAM takes it: 1 to 36600.
pub fn check_days(days: i64) -> Result<i64> {
    if (1..=MAX_DAYS).contains(&days) {
        Ok(days)
    } else {
        Err(Error::usage(format!(
            "--days {days} is out of range: 1 to {MAX_DAYS}"
        )))
    }
}

impl Run for Import {
    fn run(&self, ctx: &Context) -> Result<()> {
        if self.name.starts_with(token::LONG_TERM_PREFIX) && self.name.len() > 20
            || self.name.starts_with(token::SHORT_TERM_PREFIX)
        {
            return Err(Error::usage(
                "that looks like a key: bedkey never takes a key from the command line",
            )
            .with_hint("give a name, then paste the key at the prompt or pipe it: `pbpaste | bedkey import NAME`"));
        }
        let config = ctx.config()?;
        keys::ensure_free(&config, &self.name)?;
        let region = ctx
            .global
            .region
            .as_deref()
            .map(aws::checked_region)
            .transpose()?;
        let expires = match (&self.expires_at, self.days) {
            (Some(at), _) => Some(time::parse_instant(at)?),
            (None, Some(days)) => Some(time::now() + check_days(days)? * 86_400),
            (None, None) => None,
        };
        let key = prompt::read_secret("Paste the Bedrock API key (input is hidden): ")?;
        let now = time::now();
        let (kind, expires, region) = match token::decode(key.expose_secret())? {
            Decoded::ShortTerm(st) => {
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
                if st.expires_at() <= now {
                    return Err(Error::usage(format!(
                        "this key expired at {}",
                        time::rfc3339(st.expires_at())
                    )));
                }
                (KeyKind::ShortTerm, Some(st.expires_at()), Some(st.region))
            }
            Decoded::LongTerm(_) => (KeyKind::LongTerm, expires, region),
        };
        let backend = store::choose(ctx.global.store, config.dir())?;
        backend.ready()?;
        let meta = KeyMeta {
            kind,
            origin: Origin::Imported,
            store: backend.backend(),
            masked: mask(key.expose_secret()),
            created: now,
            expires,
            region,
            profile: None,
            lifetime: None,
            user: None,
            credential_id: None,
            alias: None,
            scope: None,
        };
        keys::add(&config, backend.as_ref(), &self.name, &key, meta.clone())?;
        store::warn_if_volatile(meta.store, &ctx.out);
        if meta.region.is_none() && !region_in_effect(ctx) {
            ctx.out.warn(format_args!(
                "key '{}' has no region, and none is set here: boto3, the AWS CLI and the SDKs will need AWS_REGION (or `bedkey remove {}` and import it again with --region)",
                self.name, self.name
            ));
        }
        if ctx.out.json() {
            return ctx.out.print_json(&Json {
                name: &self.name,
                kind: kind.as_str(),
                store: meta.store.as_str(),
                key: &meta.masked,
                region: meta.region.as_deref(),
                expires_at: meta.expires.map(time::rfc3339),
            });
        }
        ctx.out.note(format_args!(
            "stored {} key '{}' ({}) in the {} store{}",
            kind.as_str(),
            self.name,
            meta.masked,
            meta.store.as_str(),
            match meta.expires {
                Some(at) => format!(
                    "; it expires {} ({})",
                    time::relative(at, now),
                    time::rfc3339(at)
                ),
                None => String::new(),
            }
        ));
        Ok(())
    }
}
