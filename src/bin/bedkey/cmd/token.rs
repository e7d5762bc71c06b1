//! `bedkey token`: mint a short-term key and print it; nothing is stored.

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
