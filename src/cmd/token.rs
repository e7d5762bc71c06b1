//! `bedkey token`: mint a short-term key and print it; nothing is stored.

use std::time::Duration;

use serde::Serialize;

use crate::aws;
use crate::cli::Token;
use crate::cmd::{Context, Run};
use crate::error::{Error, Result};
use crate::output::stdout_line;
use crate::secret::{ExposeSecret, Secret};
use crate::time;
use crate::token::{self, MAX_LIFETIME};

/// A freshly minted key and what it is good for.
pub struct Minted {
    pub key: Secret,
    pub region: String,
    pub signed_at: i64,
    pub expires_at: i64,
    /// Set when the credentials expire before the lifetime asked for.
    pub capped_by_credentials: bool,
}

/// Parse and check a lifetime: 1 s to 12 h.
pub fn lifetime(text: &str) -> Result<Duration> {
    let d = time::parse_duration(text)?;
    if d < Duration::from_secs(1) || d > MAX_LIFETIME {
        return Err(Error::usage(format!(
            "--expires {text} is out of range: a short-term key lives 1s to 12h"
        )));
    }
    if d.subsec_nanos() != 0 {
        return Err(Error::usage(format!("--expires {text}: use whole seconds")));
    }
    Ok(d)
}

/// Resolve credentials and region, then sign. Shared with short-term stored keys.
pub async fn mint(
    ctx: &Context,
    profile: Option<&str>,
    region: Option<&str>,
    wanted: Duration,
) -> Result<Minted> {
    let (region, region_source) = aws::region(region, profile).await?;
    let resolved = aws::credentials(profile).await?;
    ctx.out.detail(format_args!(
        "credentials: {} ({}), region {region} from {region_source}",
        resolved.source,
        crate::secret::mask(resolved.credentials.access_key_id())
    ));
    let signed_at = time::now();
    let mut lifetime = wanted.as_secs() as i64;
    let mut capped = false;
    if let Some(cred_expiry) = resolved.expires_at()
        && cred_expiry < signed_at + lifetime
    {
        lifetime = cred_expiry - signed_at;
        capped = true;
    }
    let key = token::mint(
        &resolved.credentials,
        &region,
        Duration::from_secs(lifetime as u64),
        token::system_time(signed_at),
    )?;
    Ok(Minted {
        key,
        region,
        signed_at,
        expires_at: signed_at + lifetime,
        capped_by_credentials: capped,
    })
}

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
        let wanted = lifetime(&self.expires)?;
        let g = &ctx.global;
        let minted =
            ctx.block_on(mint(ctx, g.profile.as_deref(), g.region.as_deref(), wanted))??;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_within_bounds_are_accepted() {
        assert_eq!(lifetime("1").unwrap().as_secs(), 1);
        assert_eq!(lifetime("1s").unwrap().as_secs(), 1);
        assert_eq!(lifetime("900").unwrap().as_secs(), 900);
        assert_eq!(lifetime("15m").unwrap().as_secs(), 900);
        assert_eq!(lifetime("12h").unwrap().as_secs(), 43_200);
        assert_eq!(lifetime("43200s").unwrap().as_secs(), 43_200);
    }

    #[test]
    fn lifetimes_out_of_bounds_are_usage_errors() {
        for bad in ["0", "0s", "43201", "12h1s", "13h", "1d", "500ms", "1500ms"] {
            let e = lifetime(bad).unwrap_err();
            assert_eq!(e.kind(), crate::error::Kind::Usage, "{bad}");
        }
    }
}
