//! Where bedkey's AWS credentials and region come from.
//!
//! The order is the AWS CLI's: an explicit `--profile` wins over credentials in the
//! environment; otherwise the standard chain (environment, shared files and
//! `AWS_PROFILE`, SSO, web identity, ECS/EKS, instance metadata). When the environment
//! holds credentials and no profile is named, we read them directly: the chain would
//! pick the same ones, and skipping its construction keeps `bedkey token` instant.

use std::time::{Duration, SystemTime};

use aws_config::profile::ProfileFileCredentialsProvider;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::timeout::TimeoutConfig;

use crate::error::Kind;

use crate::error::{Error, Result};

/// Credentials and where they were found, for `-v` and `doctor`.
pub struct Resolved {
    pub credentials: Credentials,
    pub source: String,
}

impl Resolved {
    /// When the credentials stop working, in seconds since the epoch, if they do.
    pub fn expires_at(&self) -> Option<i64> {
        self.credentials
            .expiry()
            .map(|t| match t.duration_since(SystemTime::UNIX_EPOCH) {
                Ok(d) => d.as_secs() as i64,
                Err(_) => 0,
            })
    }
}

fn env_has_credentials() -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY")
}

/// Resolve credentials; `profile` is an explicit `--profile` (or a stored key's).
pub async fn credentials(profile: Option<&str>) -> Result<Resolved> {
    let (result, source) = match profile {
        Some(name) => {
            let provider = ProfileFileCredentialsProvider::builder()
                .profile_name(name)
                .build();
            (
                provider.provide_credentials().await,
                format!("profile '{name}'"),
            )
        }
        None if env_has_credentials() => {
            let provider = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
            (
                provider.provide_credentials().await,
                "environment (AWS_ACCESS_KEY_ID)".to_string(),
            )
        }
        None => {
            let chain =
                aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                    .build()
                    .await;
            (
                chain.provide_credentials().await,
                format!(
                    "default credential chain (profile '{}')",
                    crate::profile::name(None)
                ),
            )
        }
    };
    let credentials = result.map_err(|e| credentials_error(e, profile))?;
    let resolved = Resolved {
        credentials,
        source,
    };
    if let Some(expires_at) = resolved.expires_at() {
        let now = crate::time::now();
        if expires_at <= now {
            return Err(Error::credentials(format!(
                "the AWS credentials from {} expired at {}",
                resolved.source,
                crate::time::rfc3339(expires_at)
            ))
            .with_hint("refresh them (for SSO: `aws sso login`) and try again"));
        }
    }
    Ok(resolved)
}

fn credentials_error(err: CredentialsError, profile: Option<&str>) -> Error {
    match err {
        CredentialsError::CredentialsNotLoaded(_) => {
            let looked = match profile {
                Some(p) => {
                    format!("looked in profile '{p}' of ~/.aws/config and ~/.aws/credentials")
                }
                None => format!(
                    "looked in the environment (AWS_ACCESS_KEY_ID), the shared files \
                     ~/.aws/credentials and ~/.aws/config (profile '{}'), web identity \
                     (AWS_WEB_IDENTITY_TOKEN_FILE), ECS/EKS container credentials and \
                     EC2 instance metadata",
                    crate::profile::name(None)
                ),
            };
            Error::credentials(format!("no AWS credentials found: {looked}"))
                .with_hint("run `aws configure` or `aws sso login`, or pass --profile")
        }
        CredentialsError::ProviderTimedOut(_) => Error::credentials(format!(
            "could not load AWS credentials: {} did not answer in time",
            source_name(profile)
        ))
        .with_hint(SIGN_IN_HINT),
        other => Error::credentials(format!(
            "could not load AWS credentials from {}: {}",
            source_name(profile),
            reason(&other)
        ))
        .with_hint(SIGN_IN_HINT),
    }
}

const SIGN_IN_HINT: &str =
    "sign in (`aws configure sso`, `aws sso login`), pass --profile, or set AWS_PROFILE";

fn source_name(profile: Option<&str>) -> String {
    match profile {
        Some(p) => format!("profile '{p}'"),
        None => format!(
            "the default credential chain (profile '{}')",
            crate::profile::name(None)
        ),
    }
}

/// An SDK error's causes in words, for a person: each level's own message, without
/// the Rust debug dumps (`Response { status: StatusCode(403) … }`) some levels carry.
pub fn reason(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = undebug(&e.to_string());
        let debugish = [
            "{",
            "}",
            "Some(",
            "StatusCode(",
            "Response",
            "ErrorMetadata",
        ]
        .iter()
        .any(|m| text.contains(m));
        let text = text.trim().trim_end_matches('.').to_string();
        if !debugish && !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    let joined = if parts.is_empty() {
        "an error AWS did not describe".to_string()
    } else {
        parts.join(": ")
    };
    joined.chars().take(240).collect()
}

/// What happened to a call that got no usable answer, in words: the connection
/// refused, closed, timed out, a TLS failure, a name not found, or else the innermost
/// cause's own message, without the layers that wrap it (`dispatch failure`,
/// `client error (Connect)`, `… interceptor encountered an error`).
pub fn what_happened(err: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = err;
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            let said = match io.kind() {
                K::ConnectionRefused => Some("the connection was refused"),
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => {
                    Some("the connection was closed")
                }
                K::UnexpectedEof => Some("the connection was closed before an answer"),
                K::TimedOut => Some("the connection timed out"),
                _ => None,
            };
            if let Some(said) = said {
                return said.to_string();
            }
        }
        if e.downcast_ref::<rustls::Error>().is_some() {
            return format!("TLS failed: {}", undebug(&e.to_string()));
        }
        let text = e.to_string();
        if text.contains("connection closed before message completed") {
            return "the connection was closed before the answer was complete".to_string();
        }
        if text.contains("failed to lookup address") || text.contains("Name or service not known") {
            return "its host name could not be resolved".to_string();
        }
        innermost = e;
        next = e.source();
    }
    let text = undebug(&innermost.to_string());
    let text = text.trim().trim_end_matches('.');
    let text = if text.is_empty() {
        "an error AWS did not describe"
    } else {
        text
    };
    text.chars().take(240).collect()
}

/// Debug-formatted enum values inside a message, as rustls's certificate errors
/// carry them (`invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))`),
/// reduced to the innermost name (`invalid peer certificate: CaUsedAsEndEntity`).
fn undebug(text: &str) -> String {
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out = text.to_string();
    loop {
        let bytes = out.as_bytes();
        // The first `Name(` whose Name starts with a capital letter.
        let found = (1..bytes.len()).find_map(|open| {
            if bytes[open] != b'(' || !ident(bytes[open - 1]) {
                return None;
            }
            let start = (0..open).rev().take_while(|&i| ident(bytes[i])).last()?;
            bytes[start].is_ascii_uppercase().then_some((start, open))
        });
        let Some((start, open)) = found else { break };
        let mut depth = 0;
        let Some(close) = (open..bytes.len()).find(|&i| {
            match bytes[i] {
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            }
            depth == 0
        }) else {
            break;
        };
        let inner = &out[open + 1..close];
        if inner.contains([',', '{', '"']) || inner.is_empty() {
            break;
        }
        out = format!("{}{}{}", &out[..start], inner, &out[close + 1..]);
    }
    out
}

/// Resolve credentials (`profile`, else the standard chain) and the region, then
/// sign a key of `service` for `wanted`, capped at the credentials' own expiry.
pub async fn mint(
    service: crate::service::Service,
    profile: Option<&str>,
    region: Option<&str>,
    wanted: Duration,
) -> Result<crate::token::Minted> {
    let (region, region_source) = crate::region::resolve(region, profile).await?;
    let resolved = credentials(profile).await?;
    let source = format!(
        "credentials: {} ({}), region {region} from {region_source}",
        resolved.source,
        crate::token::mask(resolved.credentials.access_key_id())
    );
    let signed_at = crate::time::now();
    let mut lifetime = wanted.as_secs() as i64;
    let mut capped = false;
    if let Some(cred_expiry) = resolved.expires_at()
        && cred_expiry < signed_at + lifetime
    {
        lifetime = cred_expiry - signed_at;
        capped = true;
    }
    let key = crate::token::mint(
        service,
        &resolved.credentials,
        &region,
        Duration::from_secs(lifetime as u64),
        crate::token::system_time(signed_at),
    )?;
    Ok(crate::token::Minted {
        key,
        region,
        signed_at,
        expires_at: signed_at + lifetime,
        capped_by_credentials: capped,
        source,
    })
}

/// Run `future` on a single-threaded runtime made for it: only what talks to AWS
/// pays for one. Work left behind (a DNS lookup after a timeout) is not waited for.
pub fn block_on<F: std::future::Future>(future: F) -> Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::failure(format!("cannot start the async runtime: {e}")))?;
    let out = runtime.block_on(future);
    runtime.shutdown_background();
    Ok(out)
}

/// 3 s to connect; 30 s for a whole call, retries included, or less with
/// `BEDKEY_AWS_TIMEOUT` (seconds, or a duration such as `5s`).
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_timeout(operation_timeout())
        .build()
}

pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// The operation timeout: `BEDKEY_AWS_TIMEOUT` may shorten it, never lengthen it (a
/// bad value was refused at start, by [`crate::settings::check`]).
pub fn operation_timeout() -> std::time::Duration {
    crate::settings::aws_timeout().unwrap_or(crate::settings::AWS_OPERATION_TIMEOUT)
}

/// What the caller can do about an AWS error code (the exit code's kind), and a hint.
fn classify(service: &str, code: &str) -> (Kind, Option<String>) {
    let kind = match code {
        "AccessDenied"
        | "AccessDeniedException"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "UnrecognizedClientException" => Kind::Credentials,
        "ValidationError" => Kind::Usage,
        _ => Kind::Failure,
    };
    let hint = match code {
        "AccessDenied" | "AccessDeniedException" if service == "IAM" => Some(
            "the AWS identity bedkey uses needs IAM rights on users and service-specific credentials; see docs/iam.md".to_string(),
        ),
        "AccessDenied" | "AccessDeniedException" => Some(
            match service {
                "Secrets Manager" => "the AWS identity bedkey uses needs rights on that secret; see docs/team.md",
                "Organizations" => "run from the management account or a delegated administrator, with organizations:ListAccounts",
                "CloudTrail" => "the identity needs cloudtrail:LookupEvents in the key's account, or name the role with --role ARN",
                "STS" => "the role must exist and trust the caller, and the caller needs sts rights on it; see docs/team.md",
                _ => "the AWS identity bedkey uses is not allowed this call; see docs/team.md",
            }
            .to_string(),
        ),
        "InvalidClientTokenId" | "SignatureDoesNotMatch" | "ExpiredToken" => {
            Some("refresh your AWS credentials (for SSO: `aws sso login`)".to_string())
        }
        "Throttling" | "ThrottlingException" => Some(format!(
            "{service} kept throttling after retries; try again in a minute"
        )),
        "LimitExceeded" => {
            Some("`bedkey list --remote` shows the user's credentials".to_string())
        }
        _ => None,
    };
    (kind, hint)
}

/// The code an [`Error`] carries when AWS did not answer in time: the call may still
/// take effect.
pub const TIMED_OUT: &str = "bedkey:TimedOut";

/// One line for a failed AWS call of `service` (IAM, Secrets Manager), with the exit
/// code of what the caller can do, the AWS error code attached (or [`TIMED_OUT`]).
pub fn service_error<E, R>(service: &str, operation: &str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = err.code().unwrap_or("").to_string();
    let message = err.message().unwrap_or("").to_string();
    let (kind, hint) = classify(service, &code);
    let text = match &err {
        SdkError::ServiceError(_) if code.is_empty() => format!(
            "{service} answered {operation} with a reply bedkey could not read: it had no error code"
        ),
        SdkError::ServiceError(_) if message.is_empty() => {
            format!("{service} {operation} failed: {code}")
        }
        SdkError::ServiceError(_) => format!("{service} {operation} failed: {code}: {message}"),
        SdkError::TimeoutError(_) => format!(
            "{service} did not answer {operation} within {}",
            crate::time::human(operation_timeout().as_secs() as i64)
        ),
        SdkError::DispatchFailure(d) if d.is_timeout() => format!(
            "{service} did not answer {operation} within {}",
            crate::time::human(operation_timeout().as_secs() as i64)
        ),
        SdkError::DispatchFailure(_) => format!(
            "cannot reach {service} for {operation}: {}",
            what_happened(&err)
        ),
        SdkError::ResponseError(_) => format!(
            "{service} answered {operation} with a reply bedkey could not read: {}",
            what_happened(&err)
        ),
        _ => format!("{service} {operation} failed: {}", what_happened(&err)),
    };
    let timed_out = matches!(&err, SdkError::TimeoutError(_))
        || matches!(&err, SdkError::DispatchFailure(d) if d.is_timeout());
    let mut e = Error::new(kind, text);
    if timed_out {
        e = e.with_code(TIMED_OUT);
    } else if !code.is_empty() {
        e = e.with_code(code);
    }
    // The SDK's error stays reachable for callers that want the chain; people see
    // only the line above.
    e = e.with_source(err);
    match hint {
        Some(h) => e.with_hint(h),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_wrapped_names_are_reduced_to_the_innermost() {
        assert_eq!(
            super::undebug("invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))"),
            "invalid peer certificate: CaUsedAsEndEntity"
        );
        assert_eq!(
            super::undebug("client error (Connect)"),
            "client error (Connect)"
        );
        assert_eq!(super::undebug("Some(x, y)"), "Some(x, y)");
    }
}
