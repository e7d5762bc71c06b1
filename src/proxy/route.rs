//! Where a request goes: the runtime, the control plane or Mantle of Bedrock in one
//! region, and nowhere else.

use std::borrow::Cow;

use http::Uri;
use http::uri::{Authority, PathAndQuery, Scheme};

use crate::error::{Error, Result};
use crate::service::Service;

/// One Bedrock endpoint: a scheme, a host and an optional path prefix.
#[derive(Debug, Clone)]
pub struct Upstream {
    scheme: Scheme,
    authority: Authority,
    prefix: String,
    url: String,
}

impl Upstream {
    pub fn parse(url: &str) -> Result<Upstream> {
        let bad = |why: &str| Error::usage(format!("bad Bedrock endpoint {url}: {why}"));
        check_scheme(url)?;
        let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        let scheme = uri.scheme().cloned().ok_or_else(|| bad("no scheme"))?;
        if scheme != Scheme::HTTPS && scheme != Scheme::HTTP {
            return Err(bad("only https:// is supported"));
        }
        let authority = uri.authority().cloned().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user names are not supported"));
        }
        if uri.query().is_some() {
            return Err(bad("a query is not supported"));
        }
        let prefix = uri.path().trim_end_matches('/').to_string();
        Ok(Upstream {
            url: format!("{scheme}://{authority}{prefix}"),
            scheme,
            authority,
            prefix,
        })
    }

    /// This endpoint's URL for a request's path and query.
    pub fn uri(&self, path_and_query: &str) -> Result<Uri> {
        let path = format!("{}{}", self.prefix, path_and_query);
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(
                PathAndQuery::try_from(path)
                    .map_err(|_| Error::usage("a request path that is not a URL path"))?,
            )
            .build()
            .map_err(|_| Error::usage("a request path that is not a URL path"))
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Where the endpoint sends requests: Bedrock's hosts, or Claude Platform's one.
#[derive(Debug, Clone)]
pub enum Upstreams {
    Bedrock(BedrockHosts),
    /// Claude Platform on AWS: every path to its one host.
    Platform(Upstream),
}

/// Bedrock's three hosts in one region: the runtime, the control plane and Mantle
/// (or why there is no Mantle: a partition that does not offer it).
#[derive(Debug, Clone)]
pub struct BedrockHosts {
    pub runtime: Upstream,
    pub control: Upstream,
    pub mantle: Result<Upstream, String>,
}

/// Where one request goes: the host, and the path and query to ask it for.
pub struct Route<'u, 't> {
    pub upstream: &'u Upstream,
    pub target: Cow<'t, str>,
}

/// The prefix of the local endpoint's paths that go to Mantle (removed on the way).
pub const MANTLE_PREFIX: &str = "/mantle";

impl Upstreams {
    /// The hosts of `region`, or what `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`,
    /// `AWS_ENDPOINT_URL_BEDROCK`, `AWS_ENDPOINT_URL_BEDROCK_MANTLE` (then
    /// `AWS_ENDPOINT_URL`) say, as the SDKs read them.
    pub fn for_region(region: &str) -> Result<Upstreams> {
        let runtime = runtime_url(region);
        let control = control_url(region);
        let mantle = match mantle_url(region) {
            Some(url) => Ok(Upstream::parse(&url)?),
            None => Err(no_mantle(region)),
        };
        Ok(Upstreams::Bedrock(BedrockHosts {
            runtime: Upstream::parse(&runtime)?,
            control: Upstream::parse(&control)?,
            mantle,
        }))
    }

    /// Where a key of `service` is sent in `region`.
    pub fn for_service(service: Service, region: &str) -> Result<Upstreams> {
        match service {
            Service::Bedrock => Upstreams::for_region(region),
            _ => {
                let url = service.api_url(region).ok_or_else(|| {
                    Error::usage(format!(
                        "{} is not offered in {region} (partition {})",
                        service.title(),
                        crate::region::partition(region)
                    ))
                    .with_hint(format!(
                        "use a commercial region, or set {}",
                        crate::service::PLATFORM_ENDPOINT_VAR
                    ))
                })?;
                Ok(Upstreams::Platform(Upstream::parse(&url)?))
            }
        }
    }

    /// Whose hosts these are, for messages.
    pub fn title(&self) -> &'static str {
        match self {
            Upstreams::Bedrock(_) => "Bedrock",
            Upstreams::Platform(_) => Service::ClaudePlatform.title(),
        }
    }

    /// The hosts, for `-v`.
    pub fn describe(&self) -> String {
        match self {
            Upstreams::Bedrock(b) => format!(
                "runtime {}, control plane {}, Mantle {}",
                b.runtime.url(),
                b.control.url(),
                b.mantle.as_ref().map_or("not offered", |m| m.url())
            ),
            Upstreams::Platform(p) => format!("Claude Platform on AWS {}", p.url()),
        }
    }

    /// Where a request for `target` (its path and query) goes: everything under
    /// `/mantle` to Mantle with the prefix removed; inference (`/model/…`),
    /// asynchronous invocation, guardrail application and the OpenAI- and
    /// Anthropic-compatible paths to the runtime; the rest to the control plane. A
    /// Mantle path where Mantle is not offered is an error that says so.
    pub fn pick<'u, 't>(&'u self, target: &'t str) -> std::result::Result<Route<'u, 't>, &'u str> {
        match self {
            Upstreams::Bedrock(hosts) => hosts.pick(target),
            Upstreams::Platform(upstream) => Ok(Route {
                upstream,
                target: Cow::Borrowed(target),
            }),
        }
    }
}

impl BedrockHosts {
    fn pick<'u, 't>(&'u self, target: &'t str) -> std::result::Result<Route<'u, 't>, &'u str> {
        if let Some(rest) = under(target, MANTLE_PREFIX) {
            let upstream = self.mantle.as_ref().map_err(String::as_str)?;
            // `/mantle` or `/mantle?x` alone is Mantle's root.
            let target = if rest.starts_with('/') {
                Cow::Borrowed(rest)
            } else {
                Cow::Owned(format!("/{rest}"))
            };
            return Ok(Route { upstream, target });
        }
        let path = target.split('?').next().unwrap_or(target);
        let upstream = if is_runtime(path) {
            &self.runtime
        } else {
            &self.control
        };
        Ok(Route {
            upstream,
            target: Cow::Borrowed(target),
        })
    }
}

/// What follows `prefix` in `target` when `prefix` is a whole first segment of its
/// path (`/mantle/v1` and `/mantle?x`, not `/mantlex`).
fn under<'a>(target: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = target.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')).then_some(rest)
}

/// The runtime's URL in `region`, or its override.
pub fn runtime_url(region: &str) -> String {
    crate::region::endpoint_override("AWS_ENDPOINT_URL_BEDROCK_RUNTIME").unwrap_or_else(|| {
        format!(
            "https://bedrock-runtime.{region}.{}",
            crate::region::dns_suffix(region)
        )
    })
}

/// The control plane's URL in `region`, or its override.
pub fn control_url(region: &str) -> String {
    crate::region::endpoint_override("AWS_ENDPOINT_URL_BEDROCK").unwrap_or_else(|| {
        format!(
            "https://bedrock.{region}.{}",
            crate::region::dns_suffix(region)
        )
    })
}

/// Why a region has no Mantle host.
pub fn no_mantle(region: &str) -> String {
    format!(
        "Bedrock's Mantle endpoint is not offered in {region} (partition {})",
        crate::region::partition(region)
    )
}

/// Mantle's URL in `region` (`AWS_ENDPOINT_URL_BEDROCK_MANTLE` first), or None where
/// it is not offered and not overridden.
pub fn mantle_url(region: &str) -> Option<String> {
    crate::region::endpoint_override("AWS_ENDPOINT_URL_BEDROCK_MANTLE")
        .or_else(|| crate::region::mantle_host(region).map(|host| format!("https://{host}")))
}

fn is_runtime(path: &str) -> bool {
    path.starts_with("/model/")
        || path.starts_with("/guardrail/")
        || ["/async-invoke", "/openai", "/anthropic"]
            .iter()
            .any(|prefix| under(path, prefix).is_some())
}

/// The key goes in a header: over plain HTTP anyone on the path reads it. Only a
/// loopback address (a local test server) may be plain.
pub fn check_scheme(url: &str) -> Result<()> {
    // Schemes are case-insensitive: `HTTP://` is as plain as `http://`.
    let Some(rest) = url
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("http://"))
        .map(|_| &url[7..])
    else {
        return Ok(());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // `http://user@host`: the host is after the last `@`.
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(
            Error::usage(format!("refusing to send the key in clear text to {url}")).with_hint(
                "use an https:// endpoint (plain http is allowed only for 127.0.0.1 or localhost)",
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planes(region: &str) -> Upstreams {
        let suffix = crate::region::dns_suffix(region);
        Upstreams::Bedrock(BedrockHosts {
            runtime: Upstream::parse(&format!("https://bedrock-runtime.{region}.{suffix}"))
                .unwrap(),
            control: Upstream::parse(&format!("https://bedrock.{region}.{suffix}")).unwrap(),
            mantle: crate::region::mantle_host(region)
                .map(|h| Upstream::parse(&format!("https://{h}")).unwrap())
                .ok_or_else(|| "no Mantle here".to_string()),
        })
    }

    #[test]
    fn a_claude_platform_key_sends_every_path_to_the_platform_host() {
        let p = Upstreams::for_service(Service::ClaudePlatform, "us-east-1").unwrap();
        for target in [
            "/v1/messages?beta=true",
            "/mantle/v1/models",
            "/model/x/converse",
        ] {
            assert_eq!(
                sent(&p, target),
                format!("https://aws-external-anthropic.us-east-1.api.aws{target}")
            );
        }
        let err = Upstreams::for_service(Service::ClaudePlatform, "cn-north-1").unwrap_err();
        assert!(
            err.message().contains("not offered in cn-north-1"),
            "{}",
            err.message()
        );
    }

    /// The URL a request for `target` is sent to.
    fn sent(p: &Upstreams, target: &str) -> String {
        let route = p.pick(target).unwrap();
        route.upstream.uri(&route.target).unwrap().to_string()
    }

    #[test]
    fn inference_goes_to_the_runtime_and_the_rest_to_the_control_plane() {
        let p = planes("us-east-1");
        for path in [
            "/model/amazon.nova-lite-v1:0/converse",
            "/model/x/invoke-with-response-stream",
            "/async-invoke",
            "/async-invoke/arn%3Aaws",
            "/async-invoke?maxResults=1",
            "/guardrail/abc/version/1/apply",
            "/openai/v1/chat/completions",
            "/openai/v1/responses?x=1",
            "/anthropic/v1/messages",
            "/openai",
        ] {
            assert_eq!(
                sent(&p, path),
                format!("https://bedrock-runtime.us-east-1.amazonaws.com{path}"),
                "{path}"
            );
        }
        for path in [
            "/foundation-models",
            "/inference-profiles?type=SYSTEM_DEFINED",
            "/guardrails",
            "/async-invokes",
            "/openaix",
            "/anthropics/v1",
            "/v1/models",
            "/",
        ] {
            assert_eq!(
                sent(&p, path),
                format!("https://bedrock.us-east-1.amazonaws.com{path}"),
                "{path}"
            );
        }
    }

    #[test]
    fn the_mantle_prefix_goes_to_mantle_without_it() {
        let p = planes("us-west-2");
        for (path, upstream) in [
            ("/mantle/v1/chat/completions", "/v1/chat/completions"),
            ("/mantle/v1/models?limit=2", "/v1/models?limit=2"),
            ("/mantle/openai/v1/responses", "/openai/v1/responses"),
            (
                "/mantle/anthropic/v1/messages?beta=true",
                "/anthropic/v1/messages?beta=true",
            ),
            ("/mantle", "/"),
            ("/mantle?x=1", "/?x=1"),
            ("/mantle/", "/"),
        ] {
            assert_eq!(
                sent(&p, path),
                format!("https://bedrock-mantle.us-west-2.api.aws{upstream}"),
                "{path}"
            );
        }
        // Not the prefix: a path that only starts with the same letters.
        assert_eq!(
            sent(&p, "/mantlex/v1"),
            "https://bedrock.us-west-2.amazonaws.com/mantlex/v1"
        );
    }

    #[test]
    fn a_mantle_path_where_mantle_is_not_offered_says_so() {
        let p = planes("cn-north-1");
        assert_eq!(p.pick("/mantle/v1/models").err(), Some("no Mantle here"));
        assert!(p.pick("/model/x/converse").is_ok());
    }

    #[test]
    fn china_and_govcloud_use_their_partitions_hosts() {
        assert_eq!(
            sent(&planes("cn-north-1"), "/model/m/converse"),
            "https://bedrock-runtime.cn-north-1.amazonaws.com.cn/model/m/converse"
        );
        assert_eq!(
            sent(&planes("us-gov-west-1"), "/foundation-models"),
            "https://bedrock.us-gov-west-1.amazonaws.com/foundation-models"
        );
    }

    #[test]
    fn an_endpoint_prefix_is_kept_and_a_request_cannot_change_the_host() {
        let u = Upstream::parse("https://example.com/base/").unwrap();
        assert_eq!(
            u.uri("/model/x/converse?a=1").unwrap().to_string(),
            "https://example.com/base/model/x/converse?a=1"
        );
        // An absolute-form target's host is never used: only its path reaches here.
        assert_eq!(
            u.uri("//evil.example/x")
                .unwrap()
                .authority()
                .unwrap()
                .as_str(),
            "example.com"
        );
    }

    #[test]
    fn plain_http_is_refused_except_to_loopback() {
        for ok in [
            "https://bedrock.example.com",
            "http://127.0.0.1:8080",
            "http://localhost:1/x",
            "http://[::1]:9",
            "http://127.9.9.9",
        ] {
            assert!(check_scheme(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://bedrock.example.com",
            "http://10.0.0.1:80",
            "http://127.0.0.1.evil.example",
            "http://localhost.evil.example/",
            "Http://192.0.2.2:18080",
            "HTTP://bedrock.example.com",
            "http://127.0.0.1:9@192.0.2.2",
            "http://localhost@evil.example/",
        ] {
            assert_eq!(
                check_scheme(bad).unwrap_err().kind(),
                crate::error::Kind::Usage,
                "{bad}"
            );
        }
    }

    #[test]
    fn plain_http_is_refused_off_loopback() {
        assert!(Upstream::parse("http://bedrock.example.com").is_err());
        assert!(Upstream::parse("HTTP://10.0.0.1:80").is_err());
        assert!(Upstream::parse("http://127.0.0.1:9000").is_ok());
        assert!(Upstream::parse("https://user@bedrock.example.com").is_err());
    }
}
