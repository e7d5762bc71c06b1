//! `bedkey token`: mint a short-term key and print it; nothing is stored. With a
//! NAME, print that stored key instead, refreshed as `env` would: the helper form
//! that credential-helper settings run.

use serde::Serialize;

use bedkey::error::Result;
use bedkey::secret::ExposeSecret;
use bedkey::time;
use bedkey::token;

use crate::cli::Token;
use crate::cmd::{Context, Run};
use crate::output::stdout_line;

#[derive(Serialize)]
struct Json<'a> {
    key: &'a str,
    kind: &'static str,
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
        let minting = bedkey::aws::mint(g.profile.as_deref(), g.region.as_deref(), wanted);
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
    let min_ttl = match min_ttl {
        Some(text) => {
            let d = time::parse_duration(text).map_err(|e| e.context("--min-ttl"))?;
            if d > token::MAX_LIFETIME {
                return Err(bedkey::error::Error::usage(format!(
                    "--min-ttl {text}: no Bedrock key is promised more than 12h"
                )));
            }
            Some(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        }
        None => None,
    };
    let key = ctx.load_key_lasting(name, min_ttl)?;
    if let (Some(secs), Some(at)) = (min_ttl, key.expires_at) {
        let left = at.saturating_sub(time::now());
        if left < secs {
            return Err(too_short(name, &key, left, secs));
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
    let error = bedkey::error::Error::usage(format!(
        "key '{name}' has {} left, less than --min-ttl {}",
        time::human(left.max(0)),
        time::human(wanted)
    ));
    match (key.meta.kind, key.meta.origin) {
        (KeyKind::LongTerm, Origin::Iam) => {
            error.with_hint(format!("rotate it: bedkey rotate {name}"))
        }
        (KeyKind::LongTerm, _) => error.with_hint("replace it with a newer key (bedkey import)"),
        (_, Origin::Minted) => error.with_hint(format!(
            "its lifetime is too short for that margin: bedkey create {name} --short-term --expires 12h --force"
        )),
        _ => error.with_hint("an imported short-term key cannot be refreshed: import a fresh one"),
    }
}
