//! Where a request goes: the runtime or the control plane of Bedrock in one region,
//! and nowhere else.

use http::Uri;
use http::uri::{Authority, PathAndQuery, Scheme};

use crate::error::{Error, Result};

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

/// Bedrock's two planes in one region.
#[derive(Debug, Clone)]
pub struct Upstreams {
    pub runtime: Upstream,
    pub control: Upstream,
}

impl Upstreams {
    /// The planes of `region`, or what `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`,
    /// `AWS_ENDPOINT_URL_BEDROCK` (then `AWS_ENDPOINT_URL`) say, as the SDKs read them.
    pub fn for_region(region: &str) -> Result<Upstreams> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let global = var("AWS_ENDPOINT_URL");
        let suffix = crate::region::dns_suffix(region);
        let runtime = var("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
            .or_else(|| global.clone())
            .unwrap_or_else(|| format!("https://bedrock-runtime.{region}.{suffix}"));
        let control = var("AWS_ENDPOINT_URL_BEDROCK")
            .or(global)
            .unwrap_or_else(|| format!("https://bedrock.{region}.{suffix}"));
        Ok(Upstreams {
            runtime: Upstream::parse(&runtime)?,
            control: Upstream::parse(&control)?,
        })
    }

    /// The plane a path belongs to: inference (`/model/…`), asynchronous invocation
    /// and guardrail application are the runtime's; the rest is the control plane's.
    pub fn pick(&self, path: &str) -> &Upstream {
        if is_runtime(path) {
            &self.runtime
        } else {
            &self.control
        }
    }
}

fn is_runtime(path: &str) -> bool {
    path.starts_with("/model/")
        || path.starts_with("/guardrail/")
        || path == "/async-invoke"
        || path.starts_with("/async-invoke/")
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
        Upstreams {
            runtime: Upstream::parse(&format!("https://bedrock-runtime.{region}.{suffix}"))
                .unwrap(),
            control: Upstream::parse(&format!("https://bedrock.{region}.{suffix}")).unwrap(),
        }
    }

    #[test]
    fn inference_goes_to_the_runtime_and_the_rest_to_the_control_plane() {
        let p = planes("us-east-1");
        for path in [
            "/model/amazon.nova-lite-v1:0/converse",
            "/model/x/invoke-with-response-stream",
            "/async-invoke",
            "/async-invoke/arn%3Aaws",
            "/guardrail/abc/version/1/apply",
        ] {
            assert_eq!(
                p.pick(path).url(),
                "https://bedrock-runtime.us-east-1.amazonaws.com",
                "{path}"
            );
        }
        for path in [
            "/foundation-models",
            "/inference-profiles",
            "/guardrails",
            "/async-invokes",
            "/",
        ] {
            assert_eq!(
                p.pick(path).url(),
                "https://bedrock.us-east-1.amazonaws.com",
                "{path}"
            );
        }
    }

    #[test]
    fn china_and_govcloud_use_their_partitions_hosts() {
        assert_eq!(
            planes("cn-north-1").runtime.url(),
            "https://bedrock-runtime.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            planes("us-gov-west-1").control.url(),
            "https://bedrock.us-gov-west-1.amazonaws.com"
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
