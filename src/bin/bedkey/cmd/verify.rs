//! `bedkey verify [NAME]`: one live, read-only call with the key as a bearer token,
//! and what the answer means: Bedrock's ListFoundationModels (or with `--endpoint
//! mantle` Mantle's `GET /v1/models`), or for a Claude Platform key the platform's
//! `GET /v1/models`.

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

use crate::cli::{Verify, VerifyOn};
use crate::cmd::{Context, Run};
use bedkey::error::{Error, Kind, Result};
use bedkey::secret::ExposeSecret;
use bedkey::service::Service;
use bedkey::time;
use bedkey::token::{self, Decoded};

/// How long the call may take: 15 s, or less with `BEDKEY_AWS_TIMEOUT`.
fn timeout() -> Duration {
    bedkey::settings::aws_timeout()
        .map_or(Duration::from_secs(15), |d| d.min(Duration::from_secs(15)))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Verdict {
    /// Bedrock answered the call.
    Accepted,
    /// Authenticated, but the key's policy does not allow listing models (a key made
    /// with --allow-model): it works for what it allows.
    AcceptedScoped,
    Expired,
    /// The key is valid but its user may not use bearer tokens.
    Denied,
    WrongRegion,
    Rejected,
}

#[derive(Serialize)]
struct Json<'a> {
    name: &'a str,
    verdict: Verdict,
    region: &'a str,
    endpoint: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_status: Option<u16>,
    message: String,
}

/// Read Bedrock's answer: status, error type and message decide the verdict.
fn judge(status: u16, error_type: &str, message: &str) -> Verdict {
    let m = message.to_ascii_lowercase();
    let t = error_type.to_ascii_lowercase();
    if (200..300).contains(&status) {
        Verdict::Accepted
    } else if m.contains("expired") {
        Verdict::Expired
    } else if m.contains("region") || m.contains("credential should be scoped") {
        Verdict::WrongRegion
    } else if m.contains("callwithbearertoken") {
        Verdict::Denied
    } else if m.contains("invalid api key") || m.contains("authentication failed") {
        // An AccessDenied of the key itself, not of one call.
        Verdict::Rejected
    } else if status == 403 && (t.contains("accessdenied") || m.contains("not authorized")) {
        Verdict::AcceptedScoped
    } else {
        Verdict::Rejected
    }
}

fn explain(v: Verdict, service: Service) -> String {
    let (title, action) = match service {
        Service::ClaudePlatform => (
            "Claude Platform on AWS",
            "aws-external-anthropic:CallWithBearerToken",
        ),
        _ => ("Bedrock", "bedrock:CallWithBearerToken"),
    };
    match v {
        Verdict::Accepted => format!("accepted: {title} answered with this key"),
        Verdict::AcceptedScoped => {
            "accepted, but this key may not list models: its policy allows only some calls (a scoped key)".to_string()
        }
        Verdict::Expired => format!("expired: {title} refuses it"),
        Verdict::Denied => {
            format!("denied: the key is valid but its IAM user lacks {action}")
        }
        Verdict::WrongRegion => {
            "wrong region: a short-term key works only in the region it was signed for".to_string()
        }
        Verdict::Rejected => format!("rejected: {title} does not accept this key"),
    }
}

/// The endpoint to ask, and the path of its read-only call.
fn endpoint(service: Service, region: &str, on: VerifyOn) -> Result<(String, &'static str)> {
    let (url, path) = match (service, on) {
        (Service::ClaudePlatform, VerifyOn::Mantle) => {
            return Err(Error::usage(
                "--endpoint mantle: the key is for Claude Platform on AWS, not Bedrock",
            ));
        }
        (Service::ClaudePlatform, _) => (
            service.api_url(region).ok_or_else(|| {
                Error::usage(format!("Claude Platform on AWS is not offered in {region}"))
                    .with_hint(format!(
                        "set {} if you know its endpoint",
                        bedkey::service::PLATFORM_ENDPOINT_VAR
                    ))
            })?,
            "/v1/models",
        ),
        (_, VerifyOn::Bedrock) => (
            bedkey::proxy::route::control_url(region),
            "/foundation-models",
        ),
        (_, VerifyOn::Mantle) => (
            bedkey::proxy::route::mantle_url(region).ok_or_else(|| {
                Error::usage(bedkey::proxy::route::no_mantle(region))
                    .with_hint("set AWS_ENDPOINT_URL_BEDROCK_MANTLE if you know one")
            })?,
            "/v1/models",
        ),
    };
    let url = url.trim_end_matches('/').to_string();
    // Checked as the proxy checks its upstreams (no query, user name or fragment: the
    // path must land where it is meant to), since the key goes there.
    bedkey::proxy::route::check_scheme(&url)?;
    if url.contains('#') {
        return Err(Error::usage(format!(
            "bad endpoint {url}: a fragment is not supported"
        )));
    }
    bedkey::proxy::route::Upstream::parse(&url)?;
    Ok((url, path))
}

/// The call's headers besides the key: Claude Platform's API wants a version, and
/// its keys a workspace.
fn platform_headers(
    mut request: http::request::Builder,
    key: &bedkey::keys::Loaded,
) -> http::request::Builder {
    if key.meta.service == Service::ClaudePlatform {
        request = request.header("anthropic-version", "2023-06-01");
        let workspace = key
            .meta
            .workspace
            .clone()
            .or_else(|| std::env::var(bedkey::clients::WORKSPACE_VAR).ok());
        if let Some(w) = workspace.filter(|w| bedkey::service::workspace_id(w).is_ok()) {
            request = request.header("anthropic-workspace-id", w);
        }
    }
    request
}

async fn call(url: &str, key: &bedkey::keys::Loaded) -> Result<(u16, String, String)> {
    // AWS_CA_BUNDLE when set, as the AWS CLI has it; else the system's roots.
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(bedkey::proxy::ca::upstream_roots()?);
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::failure(format!("cannot set up TLS: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Empty<&[u8]>> = Client::builder(TokioExecutor::new()).build(connector);
    let title = key.meta.service.title();
    let request = platform_headers(http::Request::get(url), key)
        .header(
            "authorization",
            format!("Bearer {}", key.secret.expose_secret()),
        )
        .header("accept", "application/json")
        .header("user-agent", concat!("bedkey/", env!("CARGO_PKG_VERSION")))
        .body(Empty::new())
        .map_err(|e| Error::usage(format!("bad {title} endpoint {url}: {e}")))?;
    let fail =
        |e: &dyn std::fmt::Display| Error::failure(format!("cannot reach {title} at {url}: {e}"));
    let limit = timeout();
    let silent = format!("no answer within {}s", limit.as_secs());
    let response = tokio::time::timeout(limit, client.request(request))
        .await
        .map_err(|_| fail(&silent))?
        .map_err(|e| {
            // The innermost cause: "invalid peer certificate: UnknownIssuer", not
            // "client error (Connect)".
            let why = bedkey::aws::what_happened(&e);
            let error = fail(&why);
            if why.contains("certificate") {
                error.with_hint(
                    "set AWS_CA_BUNDLE to the CA file that signs the endpoint's certificate",
                )
            } else {
                error
            }
        })?;
    let status = response.status().as_u16();
    let error_type = response
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = tokio::time::timeout(limit, response.into_body().collect())
        .await
        .map_err(|_| fail(&silent))?
        .map_err(|e| fail(&e))?
        .to_bytes();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            // Bedrock's `message`; Mantle answers as OpenAI does, `error.message`.
            v.get("message")
                .or_else(|| v.get("Message"))
                .or_else(|| v.get("error").and_then(|e| e.get("message")))
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_default();
    Ok((status, error_type, message.chars().take(300).collect()))
}

impl Run for Verify {
    fn run(&self, ctx: &Context) -> Result<()> {
        let key = ctx.load_key(&self.name)?;
        let region = key_region(ctx, &key)?;
        let service = key.meta.service;
        if service != Service::Bedrock && crate::cli::given("--endpoint") {
            return Err(Error::usage(format!(
                "--endpoint picks a Bedrock host; the key is for {}, which has one",
                service.title()
            )));
        }
        let (url, path) = endpoint(service, &region, self.endpoint)?;
        let now = time::now();
        let (verdict, status, message) = match key.expires_at {
            Some(at) if at <= now => (
                Verdict::Expired,
                None,
                format!(
                    "the key expired {} (no call needed)",
                    time::relative(at, now)
                ),
            ),
            _ => {
                let target = format!("{url}{path}");
                ctx.out.detail(format_args!("GET {target}"));
                let (status, error_type, message) = ctx.block_on(call(&target, &key))??;
                not_about_the_key(status, &url, &message)?;
                (judge(status, &error_type, &message), Some(status), message)
            }
        };
        if ctx.out.json() {
            ctx.out.print_json(&Json {
                name: &self.name,
                verdict,
                region: &region,
                endpoint: &url,
                http_status: status,
                message: message.clone(),
            })?;
        } else if matches!(verdict, Verdict::Accepted | Verdict::AcceptedScoped) {
            crate::output::stdout_line(&format!(
                "key '{}' in {region}: {}",
                self.name,
                explain(verdict, service)
            ))?;
        }
        refusal(
            &self.name,
            &region,
            verdict,
            &message,
            (service, self.endpoint),
        )
    }
}

/// The region to ask: a short-term key names its own; a long-term key uses
/// `--region`, the recorded one, or the environment's.
fn key_region(ctx: &Context, key: &bedkey::keys::Loaded) -> Result<String> {
    let decoded = token::decode(key.secret.expose_secret())?;
    Ok(match (&decoded, &ctx.global.region, &key.meta.region) {
        (Decoded::ShortTerm(st), _, _) => st.region.clone(),
        (_, Some(r), _) => bedkey::region::checked(r)?,
        (_, None, Some(r)) => r.clone(),
        _ => {
            ctx.block_on(bedkey::region::resolve(None, ctx.global.profile.as_deref()))??
                .0
        }
    })
}

/// An answer that says nothing of the key (the server failed, throttled, or has no
/// such call: a wrong endpoint) is a failure of its own, exit 1, not a verdict.
fn not_about_the_key(status: u16, url: &str, message: &str) -> Result<()> {
    let what = match status {
        404 => "has no such API (is the endpoint right?)",
        429 => "is throttling requests; try again in a moment",
        500.. => "failed on its side",
        _ => return Ok(()),
    };
    let detail = if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    };
    Err(Error::failure(format!(
        "{url} answered {status}, which says nothing of the key: it {what}{detail}"
    )))
}

/// Ok for an accepted key; otherwise the verdict as an error (exit 4) with a remedy.
fn refusal(
    name: &str,
    region: &str,
    verdict: Verdict,
    message: &str,
    (service, on): (Service, VerifyOn),
) -> Result<()> {
    if matches!(verdict, Verdict::Accepted | Verdict::AcceptedScoped) {
        return Ok(());
    }
    let detail = if message.is_empty() {
        String::new()
    } else {
        format!(" ({message})")
    };
    let e = Error::new(
        Kind::Credentials,
        format!(
            "key '{name}' in {region}: {}{detail}",
            explain(verdict, service)
        ),
    );
    Err(match verdict {
        Verdict::Expired => e.with_hint(format!("`bedkey rotate {name}` makes a new one")),
        Verdict::Denied if service == Service::ClaudePlatform => e.with_hint(
            "attach AnthropicInferenceAccess or a policy allowing aws-external-anthropic:CallWithBearerToken",
        ),
        Verdict::Denied if on == VerifyOn::Mantle => e.with_hint(
            "attach AmazonBedrockMantleInferenceAccess or a policy allowing bedrock-mantle:CallWithBearerToken",
        ),
        Verdict::Denied => e.with_hint(
            "attach AmazonBedrockLimitedAccess or a policy allowing bedrock:CallWithBearerToken",
        ),
        Verdict::WrongRegion => e.with_hint("pass the key's own region with --region"),
        _ => e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_judged_by_status_and_message() {
        assert_eq!(judge(200, "", ""), Verdict::Accepted);
        assert_eq!(
            judge(403, "AccessDeniedException", "Bearer Token has expired"),
            Verdict::Expired
        );
        assert_eq!(
            judge(
                403,
                "AccessDeniedException",
                "User: arn:aws:iam::1:user/x is not authorized to perform: bedrock:CallWithBearerToken"
            ),
            Verdict::Denied
        );
        assert_eq!(
            judge(
                403,
                "AccessDeniedException",
                "User: arn:aws:iam::1:user/x is not authorized to perform: bedrock:ListFoundationModels"
            ),
            Verdict::AcceptedScoped
        );
        assert_eq!(
            judge(403, "", "Credential should be scoped to a valid region."),
            Verdict::WrongRegion
        );
        for unknown in [
            "Invalid API Key format: Must start with pre-defined prefix",
            "Authentication failed: Please make sure your API Key is valid.",
        ] {
            assert_eq!(
                judge(403, "AccessDeniedException", unknown),
                Verdict::Rejected
            );
        }
        assert_eq!(
            judge(403, "UnrecognizedClientException", "Invalid API Key format"),
            Verdict::Rejected
        );
        assert_eq!(judge(500, "", ""), Verdict::Rejected);
    }
}
