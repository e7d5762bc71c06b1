//! One request through the proxy: check the local token, pick the plane, put the
//! current key on, and pass the answer back as it arrives.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

use super::holder::Holder;
use super::route::Upstreams;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type ProxyBody = BoxBody<Bytes, BoxError>;
pub type ProxyClientConnector = hyper_rustls::HttpsConnector<HttpConnector>;

/// A stream may last long, but not in silence: no bytes either way for this long
/// ends a proxied call.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// What the proxy tells its owner about each request.
pub enum RequestEvent<'a> {
    /// Sent on; `status` is Bedrock's.
    Forwarded {
        method: &'a Method,
        path: &'a str,
        status: StatusCode,
    },
    /// Answered by the proxy itself: 401 (no local token), 405, or 502 (`why`).
    Answered {
        method: &'a Method,
        path: &'a str,
        status: StatusCode,
        why: &'a str,
    },
}

pub type OnRequest = dyn Fn(RequestEvent<'_>) + Send + Sync;

pub(super) struct Forwarder {
    pub client: Client<ProxyClientConnector, ProxyBody>,
    pub upstreams: Upstreams,
    pub holder: Arc<Holder>,
    /// `Bearer <local token>`: what a client must send.
    pub expected: HeaderValue,
    pub on_request: Arc<OnRequest>,
}

impl Forwarder {
    pub async fn handle(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<ProxyBody>, Infallible> {
        let method = request.method().clone();
        let target = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let path = request.uri().path().to_string();
        let answer = |status: StatusCode, kind: &str, why: &str| {
            (self.on_request)(RequestEvent::Answered {
                method: &method,
                path: &path,
                status,
                why,
            });
            Ok(error_response(status, kind, why))
        };

        if !self.authorized(request.headers()) {
            return answer(
                StatusCode::UNAUTHORIZED,
                "UnrecognizedClientException",
                "bedkey proxy: this request does not carry the local token it was given",
            );
        }
        if method == Method::CONNECT {
            return answer(
                StatusCode::METHOD_NOT_ALLOWED,
                "ValidationException",
                "bedkey proxy: not a general proxy, only Bedrock is served here",
            );
        }
        let key = match self.holder.current().await {
            Ok(key) => key,
            Err(why) => {
                return answer(
                    StatusCode::BAD_GATEWAY,
                    "BadGatewayException",
                    &format!("bedkey proxy: no working key: {}", one_line(&why)),
                );
            }
        };
        let upstream = self.upstreams.pick(&path);
        let uri = match upstream.uri(&target) {
            Ok(uri) => uri,
            Err(e) => return answer(StatusCode::BAD_REQUEST, "ValidationException", e.message()),
        };

        let (parts, body) = request.into_parts();
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers);
        for name in [
            header::HOST,
            header::AUTHORIZATION,
            header::PROXY_AUTHORIZATION,
            header::EXPECT,
            HeaderName::from_static("x-amz-security-token"),
        ] {
            headers.remove(name);
        }
        headers.insert(header::AUTHORIZATION, key.header.clone());
        let mut outgoing = Request::new(Idle::new(body).boxed());
        *outgoing.method_mut() = method.clone();
        *outgoing.uri_mut() = uri;
        *outgoing.headers_mut() = headers;

        let response = match tokio::time::timeout(IDLE_TIMEOUT, self.client.request(outgoing)).await
        {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => {
                let why = format!(
                    "bedkey proxy: cannot reach Bedrock at {}: {}",
                    upstream.url(),
                    crate::aws::reason(&e)
                );
                return answer(StatusCode::BAD_GATEWAY, "BadGatewayException", &why);
            }
            Err(_) => {
                let why = format!(
                    "bedkey proxy: Bedrock at {} did not answer within {}s",
                    upstream.url(),
                    IDLE_TIMEOUT.as_secs()
                );
                return answer(StatusCode::GATEWAY_TIMEOUT, "BadGatewayException", &why);
            }
        };
        (self.on_request)(RequestEvent::Forwarded {
            method: &method,
            path: &path,
            status: response.status(),
        });
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, Idle::new(body).boxed()))
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let mut given = headers.get_all(header::AUTHORIZATION).iter();
        match (given.next(), given.next()) {
            (Some(value), None) => same(value.as_bytes(), self.expected.as_bytes()),
            _ => false,
        }
    }
}

/// Equal, in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Headers about one connection, not the message (RFC 9110 §7.6.1), and those the
/// `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::try_from(n.trim()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
        header::PROXY_AUTHENTICATE,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An answer of the proxy's own, in the JSON shape AWS's services use, so that an
/// SDK shows its message: `An error occurred (BadGatewayException) …: <why>`.
pub(super) fn error_response(status: StatusCode, kind: &str, why: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({ "message": one_line(why) }).to_string();
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(kind) = HeaderValue::try_from(kind) {
        headers.insert("x-amzn-errortype", kind);
    }
    response
}

/// A body passed through frame by frame as it arrives, ended with an error when no
/// frame comes for [`IDLE_TIMEOUT`].
struct Idle<B> {
    inner: B,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl<B> Idle<B> {
    fn new(inner: B) -> Idle<B> {
        Idle {
            inner,
            timer: Box::pin(tokio::time::sleep(IDLE_TIMEOUT)),
        }
    }
}

impl<B> Body for Idle<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.timer
                    .as_mut()
                    .reset(tokio::time::Instant::now() + IDLE_TIMEOUT);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(format!(
                    "no bytes for {}s",
                    IDLE_TIMEOUT.as_secs()
                )
                .into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key(header::CONTENT_TYPE));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"Bearer abc", b"Bearer abc"));
        assert!(!same(b"Bearer abd", b"Bearer abc"));
        assert!(!same(b"Bearer ab", b"Bearer abc"));
    }
}
