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
        // Bedrock's APIs use these; TRACE would echo the key back, CONNECT would make
        // this a general proxy.
        if ![
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ]
        .contains(&method)
        {
            return answer(
                StatusCode::METHOD_NOT_ALLOWED,
                "ValidationException",
                &format!("bedkey proxy: {method} is not a Bedrock API method"),
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
        let mut outgoing = Request::new(Idle::new(body, Side::Client).boxed());
        *outgoing.method_mut() = method.clone();
        *outgoing.uri_mut() = uri;
        *outgoing.headers_mut() = headers;

        let response = match tokio::time::timeout(IDLE_TIMEOUT, self.client.request(outgoing)).await
        {
            Ok(Ok(response)) => response,
            Ok(Err(e)) if from_client(&e) => {
                let why = format!(
                    "bedkey proxy: the request's body could not be read: {}",
                    crate::aws::reason(&e)
                );
                return answer(StatusCode::BAD_REQUEST, "ValidationException", &why);
            }
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
                return answer(StatusCode::GATEWAY_TIMEOUT, "GatewayTimeoutException", &why);
            }
        };
        (self.on_request)(RequestEvent::Forwarded {
            method: &method,
            path: &path,
            status: response.status(),
        });
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(
            parts,
            Idle::new(body, Side::Bedrock).boxed(),
        ))
    }

    /// One `Authorization: Bearer <local token>` (the scheme in any case, RFC 9110).
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let mut given = headers.get_all(header::AUTHORIZATION).iter();
        let (Some(value), None) = (given.next(), given.next()) else {
            return false;
        };
        let (value, expected) = (value.as_bytes(), self.expected.as_bytes());
        const SCHEME: usize = "Bearer ".len();
        value.len() == expected.len()
            && value[..SCHEME].eq_ignore_ascii_case(&expected[..SCHEME])
            && same(&value[SCHEME..], &expected[SCHEME..])
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

/// Whose body a stream is: the client's request or Bedrock's answer.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Client,
    Bedrock,
}

/// A client's request body that broke (bad chunking, a dropped connection): the
/// client's fault, not Bedrock's.
#[derive(Debug)]
struct ClientBody(BoxError);

impl std::fmt::Display for ClientBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ClientBody {}

/// Whether a failed call failed on the client's body.
fn from_client(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if e.is::<ClientBody>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// A body passed through frame by frame as it arrives, ended with an error when no
/// frame comes for [`IDLE_TIMEOUT`].
struct Idle<B> {
    inner: B,
    side: Side,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl<B> Idle<B> {
    fn new(inner: B, side: Side) -> Idle<B> {
        Idle {
            inner,
            side,
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
                let side = this.side;
                Poll::Ready(frame.map(|f| {
                    f.map_err(|e| match side {
                        Side::Client => Box::new(ClientBody(e.into())) as BoxError,
                        Side::Bedrock => e.into(),
                    })
                }))
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
    fn a_broken_client_body_is_told_apart() {
        let e: BoxError = Box::new(ClientBody("bad chunk".into()));
        assert!(from_client(e.as_ref()));
        let e: BoxError = "refused".into();
        assert!(!from_client(e.as_ref()));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"Bearer abc", b"Bearer abc"));
        assert!(!same(b"Bearer abd", b"Bearer abc"));
        assert!(!same(b"Bearer ab", b"Bearer abc"));
    }
}
