//! `bedkey token`: mint a short-term key and print it; nothing is stored. With a
//! NAME, print that stored key instead, refreshed as `env` would: the helper form
//! that credential-helper settings run.

use serde::Serialize;

use bedkey::error::Result;
use bedkey::secret::ExposeSecret;
use bedkey::service::Service;
use bedkey::time;
use bedkey::token;

use crate::cli::Token;
use crate::cmd::{Context, Run};
use crate::output::stdout_line;

#[derive(Serialize)]
struct Json<'a> {
    key: &'a str,
    kind: &'static str,
    service: &'static str,
    region: &'a str,
    signed_at: String,
    expires_at: String,
    lifetime_seconds: i64,
    capped_by_credentials: bool,
}

impl Run for Token {
    fn run(&self, ctx: &Context) -> Result<()> {
        if let Some(name) = &self.name {
            return stored(ctx, name, self.min_ttl.as_deref());
        }
        let wanted = token::lifetime(&self.expires)?;
        let g = &ctx.global;
        // A credential helper that never answers gets the AWS operation timeout.
        let service = self.service.map_or(Service::Bedrock, Service::from);
        let minting = bedkey::aws::mint(service, g.profile.as_deref(), g.region.as_deref(), wanted);
        let limit = bedkey::aws::operation_timeout();
        let minted = ctx
            .block_on(async { tokio::time::timeout(limit, minting).await })?
            .map_err(|_| {
                bedkey::error::Error::credentials(format!(
                    "no AWS credentials within {}s: the credential source did not answer",
                    limit.as_secs()
                ))
            })??;
        ctx.out.detail(&minted.source);
        if minted.capped_by_credentials {
            ctx.out.note(format_args!(
                "the key expires at {} ({}), not after {}: the AWS credentials that sign it expire then",
                time::rfc3339(minted.expires_at),
                time::human(minted.expires_at - minted.signed_at),
                self.expires
            ));
        }
        ctx.out.mask_in_ci(&minted.key);
        if ctx.out.json() {
            ctx.out.print_json(&Json {
                key: minted.key.expose_secret(),
                kind: "short-term",
                service: service.name(),
                region: &minted.region,
                signed_at: time::rfc3339(minted.signed_at),
                expires_at: time::rfc3339(minted.expires_at),
                lifetime_seconds: minted.expires_at - minted.signed_at,
                capped_by_credentials: minted.capped_by_credentials,
            })
        } else {
            stdout_line(minted.key.expose_secret())
        }
    }
}

#[derive(Serialize)]
struct StoredJson<'a> {
    key: &'a str,
    name: &'a str,
    kind: &'static str,
    region: Option<&'a str>,
    expires_at: Option<String>,
}

/// `token NAME`: the stored key alone on stdout, never one with less than `min_ttl`
/// left. A short-term entry is refreshed with that margin (as `env` refreshes with
/// `BEDKEY_MIN_TTL`); a key that cannot last so long is exit 2, with nothing printed.
fn stored(ctx: &Context, name: &str, min_ttl: Option<&str>) -> Result<()> {
    let given = match min_ttl {
        Some(text) => {
            let d = time::parse_duration(text).map_err(|e| e.context("--min-ttl"))?;
            Some(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        }
        None => None,
    };
    let key = ctx.load_key_lasting(name, given)?;
    // A short-term entry is refreshed with at most half its lifetime left: a margin
    // over that would pass now and fail later, so it is refused now.
    if let (Some(secs), bedkey::config::Origin::Minted, Some(lifetime)) =
        (given, key.meta.origin, key.meta.lifetime)
        && secs > i64::try_from(lifetime / 2).unwrap_or(i64::MAX)
    {
        return Err(too_short(
            name,
            &key,
            key.expires_at.map_or(0, |at| at - time::now()),
            secs,
        ));
    }
    // Without --min-ttl, the margin `env` refreshes with: a helper never hands over a
    // key that is about to die.
    let wanted = match given {
        Some(secs) => secs,
        None => bedkey::settings::min_ttl()?,
    };
    if let Some(at) = key.expires_at {
        let left = at.saturating_sub(time::now());
        if left < wanted {
            return Err(too_short(name, &key, left, wanted));
        }
    }
    ctx.out.mask_in_ci(&key.secret);
    if ctx.out.json() {
        ctx.out.print_json(&StoredJson {
            key: key.secret.expose_secret(),
            name,
            kind: key.meta.kind.as_str(),
            region: key.meta.region.as_deref(),
            expires_at: key.expires_at.map(time::rfc3339),
        })
    } else {
        stdout_line(key.secret.expose_secret())
    }
}

/// Why a key cannot be promised for `wanted` seconds, and what would help.
fn too_short(
    name: &str,
    key: &bedkey::keys::Loaded,
    left: i64,
    wanted: i64,
) -> bedkey::error::Error {
    use bedkey::config::{KeyKind, Origin};
    let lifetime = key
        .meta
        .lifetime
        .map_or(0, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let error = if left <= 0 {
        bedkey::error::Error::usage(format!("key '{name}' has expired"))
    } else if key.meta.origin == Origin::Minted && wanted > lifetime / 2 {
        bedkey::error::Error::usage(format!(
            "key '{name}' cannot promise {}: it is refreshed with at most half its lifetime ({}) left",
            time::human(wanted),
            time::human(lifetime / 2)
        ))
    } else {
        bedkey::error::Error::usage(format!(
            "key '{name}' has {} left, less than the {} asked for",
            time::human(left),
            time::human(wanted)
        ))
    };
    match (key.meta.kind, key.meta.origin) {
        (KeyKind::LongTerm, Origin::Iam) => {
            error.with_hint(format!("rotate it: bedkey rotate {name}"))
        }
        (KeyKind::LongTerm, _) => error.with_hint("replace it with a newer key (bedkey import)"),
        (_, Origin::Minted) => {
            // It is refreshed with at most half its lifetime left (else every use would
            // mint): a longer margin needs a longer lifetime, up to 12h.
            let lifetime = key
                .meta
                .lifetime
                .map_or(0, |l| i64::try_from(l).unwrap_or(i64::MAX));
            let most = lifetime / 2;
            if wanted.saturating_mul(2) <= token::MAX_LIFETIME.as_secs() as i64 {
                error.with_hint(format!(
                    "a short-term entry is refreshed with at most half its lifetime ({}) left: \
                     ask for {} or less, or make it again with a lifetime of {} (bedkey remove {name}, then bedkey create {name} --short-term --expires ...)",
                    time::human(most),
                    time::human(most),
                    time::human(wanted.saturating_mul(2))
                ))
            } else {
                error.with_hint(format!(
                    "a short-term entry is refreshed with at most half its lifetime left, and lives 12h at most: ask for {} or less",
                    time::human(most)
                ))
            }
        }
        _ => error.with_hint("an imported short-term key cannot be refreshed: import a fresh one"),
    }
}
