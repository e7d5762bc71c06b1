//! `bedkey inspect`: decode a key offline. Reads the argument, stdin (`-`),
//! `$AWS_BEARER_TOKEN_BEDROCK` or `$ANTHROPIC_AWS_API_KEY`; prints what the key says
//! about itself (its service and kind first), never the key.

use std::io::Read;

use serde::Serialize;

use crate::cli::Inspect;
use crate::cmd::{Context, Run};
use crate::output::stdout_line;
use bedkey::error::{Error, Result};
use bedkey::secret::{ExposeSecret, Secret, secret};
use bedkey::time;
use bedkey::token::{self, Decoded};

pub const ENV_VAR: &str = "AWS_BEARER_TOKEN_BEDROCK";
/// Where a Claude Platform key is, when no Bedrock key is set.
const PLATFORM_VAR: &str = bedkey::clients::PLATFORM_KEY_VAR;

fn read_key(arg: Option<&str>) -> Result<Secret> {
    match arg {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Error::usage(format!("cannot read a key from stdin: {e}")))?;
            if text.trim().is_empty() {
                return Err(Error::usage("no key given on stdin"));
            }
            Ok(secret(text.trim().to_string()))
        }
        Some(key) => Ok(secret(key.to_string())),
        None => [ENV_VAR, PLATFORM_VAR]
            .iter()
            .find_map(|var| std::env::var(var).ok().filter(|k| !k.trim().is_empty()))
            .map(|key| secret(key.trim().to_string()))
            .ok_or_else(|| {
                Error::usage(format!(
                    "no key given, and neither ${ENV_VAR} nor ${PLATFORM_VAR} is set"
                ))
                .with_hint("pass the key, or '-' to read it from stdin")
            }),
    }
}

#[derive(Serialize)]
struct Json {
    kind: &'static str,
    service: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seconds_left: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expired: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_token: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alias: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<String>,
}

impl Inspect {
    /// The argument, when it is not a key but the name of a stored one.
    fn stored_name(&self, ctx: &Context) -> Option<&str> {
        let name = self.key.as_deref().filter(|k| *k != "-")?;
        bedkey::config::check_name(name).ok()?;
        let config = bedkey::config::Config::new(ctx.global.config_dir.as_deref()).ok()?;
        config.load().ok()?.keys.contains_key(name).then_some(name)
    }
}

impl Run for Inspect {
    fn run(&self, ctx: &Context) -> Result<()> {
        let key = read_key(self.key.as_deref())?;
        let decoded = token::decode(key.expose_secret())
            .map_err(|e| match self.stored_name(ctx) {
                Some(name) => e.with_hint(format!(
                    "'{name}' is a stored key's name; inspect takes the key itself: `bedkey list` shows what bedkey knows of '{name}'"
                )),
                None => e,
            })?;
        let json = facts(decoded, time::now());
        if ctx.out.json() {
            return ctx.out.print_json(&json);
        }
        let rows = rows(&json, time::now())?;
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in rows {
            stdout_line(&format!("{k:width$}  {v}"))?;
        }
        Ok(())
    }
}

/// What a key says about itself, as of `now`.
fn facts(decoded: Decoded, now: i64) -> Json {
    let service = decoded.service().name();
    match decoded {
        Decoded::ShortTerm(st) => Json {
            kind: "short-term",
            service,
            region: Some(st.region.clone()),
            signed_at: Some(time::rfc3339(st.signed_at)),
            expires_at: Some(time::rfc3339(st.expires_at())),
            seconds_left: Some((st.expires_at() - now).max(0)),
            expired: Some(st.expires_at() <= now),
            access_key_id: Some(st.access_key_id.clone()),
            session_token: Some(st.session_token),
            alias: None,
            account: None,
        },
        Decoded::LongTerm(lt) => Json {
            kind: "long-term",
            service,
            account: lt.account().map(str::to_string),
            alias: Some(lt.alias),
            region: None,
            signed_at: None,
            expires_at: None,
            seconds_left: None,
            expired: None,
            access_key_id: None,
            session_token: None,
        },
    }
}

/// The facts as labelled lines for a person.
fn rows(json: &Json, now: i64) -> Result<Vec<(&'static str, String)>> {
    let mut rows: Vec<(&str, String)> = vec![
        ("service", json.service.to_string()),
        ("kind", json.kind.to_string()),
    ];
    if let (Some(signed), Some(expires), Some(left)) =
        (&json.signed_at, &json.expires_at, json.seconds_left)
    {
        let at = time::parse_instant(expires)?;
        rows.push(("region", json.region.clone().unwrap_or_default()));
        rows.push(("signed at", signed.clone()));
        rows.push(("expires at", expires.clone()));
        let status = if left > 0 {
            format!("{} left", time::human(left))
        } else {
            format!("expired {}", time::relative(at, now))
        };
        rows.push(("status", status));
        rows.push((
            "access key id",
            json.access_key_id.clone().unwrap_or_default(),
        ));
        let token = if json.session_token == Some(true) {
            "yes (temporary credentials)"
        } else {
            "no (long-lived access key)"
        };
        rows.push(("session token", token.to_string()));
    } else {
        rows.push(("alias", json.alias.clone().unwrap_or_default()));
        if let Some(account) = &json.account {
            rows.push(("account", account.clone()));
        }
        rows.push((
            "expires",
            "not recorded in the key (`bedkey list` shows what bedkey knows)".to_string(),
        ));
    }
    Ok(rows)
}
