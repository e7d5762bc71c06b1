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
use hyper_util::client::legacy::connect::HttpConnector;

use super::holder::{Holder, Key};
use super::pool::Pool;
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
    pub pool: Arc<Pool>,
    pub upstreams: Upstreams,
    pub holder: Arc<Holder>,
    /// `Bearer <local token>`: what a client must send.
    pub expected: HeaderValue,
    pub on_request: Arc<OnRequest>,
}

/// Why the proxy answers a request itself instead of sending it on.
struct Refusal {
    status: StatusCode,
    kind: &'static str,
    why: String,
}

impl Refusal {
    fn new(status: StatusCode, kind: &'static str, why: impl Into<String>) -> Refusal {
        Refusal {
            status,
            kind,
            why: why.into(),
        }
    }
}

/// A request let through: the key to put on it and where it goes.
struct Admitted<'a> {
    key: Arc<Key>,
    uri: http::Uri,
    upstream: &'a str,
    presented: Presented,
}

/// What the proxy says of a request once its head is gone: the method and path.
struct Asked {
    method: Method,
    path: Box<str>,
}

impl Asked {
    fn of(parts: &http::request::Parts) -> Asked {
        Asked {
            method: parts.method.clone(),
            path: parts.uri.path().into(),
        }
    }
}

/// How much of a refused request's body is read (and dropped) before the answer, so
/// that a client that sends its whole body first sees the answer, not a reset.
const REFUSED_BODY_READ: usize = 64 * 1024;
/// And for how long at most.
const REFUSED_BODY_WAIT: Duration = Duration::from_secs(2);

impl Forwarder {
    pub async fn handle(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<ProxyBody>, Infallible> {
        let (parts, body) = request.into_parts();
        match self.admit(&parts).await {
            Ok(admitted) => Ok(self.forward(parts, body, admitted).await),
            Err(refusal) => Ok(self.refuse(&Asked::of(&parts), refusal, Some(body)).await),
        }
    }

    /// The checks a request must pass before anything is sent on: the local token,
    /// a Bedrock API method, a working key, a path that makes a URL.
    async fn admit(&self, parts: &http::request::Parts) -> Result<Admitted<'_>, Refusal> {
        let Some(presented) = presented(&parts.headers, &self.expected) else {
            return Err(Refusal::new(
                StatusCode::UNAUTHORIZED,
                "UnrecognizedClientException",
                "bedkey proxy: this request does not carry the local token it was given \
                 (once, as Authorization: Bearer or as x-api-key)",
            ));
        };
        // Bedrock's APIs use these; TRACE would echo the key back, CONNECT would make
        // this a general proxy.
        if !ALLOWED_METHODS.contains(&parts.method) {
            return Err(Refusal::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "ValidationException",
                format!("bedkey proxy: {} is not a Bedrock API method", parts.method),
            ));
        }
        let key = self.holder.current().await.map_err(|why| {
            Refusal::new(
                StatusCode::BAD_GATEWAY,
                "BadGatewayException",
                format!("bedkey proxy: no working key: {}", one_line(&why)),
            )
        })?;
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        if !plain_path(parts.uri.path()) {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                "bedkey proxy: a request path must be absolute, with no `.` or `..` segments",
            ));
        }
        let route = self.upstreams.pick(target).map_err(|why| {
            Refusal::new(
                StatusCode::BAD_GATEWAY,
                "BadGatewayException",
                format!("bedkey proxy: {why}"),
            )
        })?;
        let uri = route.upstream.uri(&route.target).map_err(|e| {
            Refusal::new(StatusCode::BAD_REQUEST, "ValidationException", e.message())
        })?;
        Ok(Admitted {
            key,
            uri,
            upstream: route.upstream.url(),
            presented,
        })
    }

    /// Send the request on with the key, and pass the answer back as it arrives.
    async fn forward(
        &self,
        parts: http::request::Parts,
        body: Incoming,
        admitted: Admitted<'_>,
    ) -> Response<ProxyBody> {
        let headers = upstream_headers(&parts.headers, &admitted);
        let asked = Asked::of(&parts);
        // The client's head is cut from the connection's read buffer, and keeps all of
        // it (8 KiB or more) alive while it lives: gone now, the buffer is reused for
        // the next request instead of a new one being made for every call in flight.
        drop(parts);
        // The client's body comes back if the call fails before it is used up, so that
        // the failure reaches the client as an answer (see `refuse`).
        let (returned, back) = tokio::sync::oneshot::channel();
        let body = Returning {
            inner: Some(body),
            back: Some(returned),
        };
        let mut outgoing = Request::new(Idle::new(body, Side::Client).boxed());
        *outgoing.method_mut() = asked.method.clone();
        *outgoing.uri_mut() = admitted.uri;
        *outgoing.headers_mut() = headers;

        let sent = tokio::time::timeout(IDLE_TIMEOUT, self.pool.send(outgoing)).await;
        let refusal = match sent {
            Ok(Ok(response)) => {
                (self.on_request)(RequestEvent::Forwarded {
                    method: &asked.method,
                    path: &asked.path,
                    status: response.status(),
                });
                let (mut head, body) = response.into_parts();
                strip_hop_by_hop(&mut head.headers);
                return Response::from_parts(head, Idle::new(body, Side::Bedrock).boxed());
            }
            Ok(Err(e)) if from_client(&*e) => Refusal::new(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                format!(
                    "bedkey proxy: the request's body could not be read: {}",
                    crate::aws::what_happened(&*e)
                ),
            ),
            Ok(Err(e)) => Refusal::new(
                StatusCode::BAD_GATEWAY,
                "BadGatewayException",
                format!(
                    "bedkey proxy: cannot reach {} at {}: {}",
                    self.upstreams.title(),
                    admitted.upstream,
                    crate::aws::what_happened(&*e)
                ),
            ),
            Err(_) => Refusal::new(
                StatusCode::GATEWAY_TIMEOUT,
                "GatewayTimeoutException",
                format!(
                    "bedkey proxy: {} at {} did not answer within {}s",
                    self.upstreams.title(),
                    admitted.upstream,
                    IDLE_TIMEOUT.as_secs()
                ),
            ),
        };
        // The connection that failed drops the body at once; a second is plenty.
        let body = tokio::time::timeout(Duration::from_secs(1), back)
            .await
            .ok()
            .and_then(Result::ok);
        self.refuse(&asked, refusal, body).await
    }

    /// Answer a request with the proxy's own error. Up to [`REFUSED_BODY_READ`] of the
    /// body is read first, and the rest is dropped only once the answer is sent: over
    /// HTTP/2 that ends the stream with NO_ERROR after the answer, where dropping it
    /// first would reset the stream and the client would never see the answer.
    async fn refuse(
        &self,
        asked: &Asked,
        refusal: Refusal,
        body: Option<Incoming>,
    ) -> Response<ProxyBody> {
        (self.on_request)(RequestEvent::Answered {
            method: &asked.method,
            path: &asked.path,
            status: refusal.status,
            why: &refusal.why,
        });
        let rest = match body {
            Some(body) => read_a_little(body).await,
            None => None,
        };
        let mut response = error_response(refusal.status, refusal.kind, &refusal.why);
        if let Some(rest) = rest {
            let (head, answer) = response.into_parts();
            response = Response::from_parts(
                head,
                Holding {
                    answer,
                    held: Some(rest),
                }
                .boxed(),
            );
        }
        response
    }
}

/// The client's headers as they go upstream: hop-by-hop ones and anything that could
/// authenticate dropped, and the real key in the header the client used. The values
/// are copies, not shares of the client connection's read buffer (see `forward`).
fn upstream_headers(given: &HeaderMap, admitted: &Admitted) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(given.len() + 1);
    for (name, value) in given {
        let not_sent = [
            header::HOST,
            header::AUTHORIZATION,
            header::PROXY_AUTHORIZATION,
            header::EXPECT,
            X_API_KEY,
        ]
        .contains(name)
            || name == "x-amz-security-token";
        if not_sent {
            continue;
        }
        // A value hyper accepted is a valid one.
        if let Ok(mut copy) = HeaderValue::from_bytes(value.as_bytes()) {
            copy.set_sensitive(value.is_sensitive());
            headers.append(name.clone(), copy);
        }
    }
    strip_hop_by_hop(&mut headers);
    match admitted.presented {
        Presented::Bearer => headers.insert(header::AUTHORIZATION, admitted.key.header.clone()),
        Presented::ApiKey => headers.insert(X_API_KEY, admitted.key.api_key.clone()),
    };
    headers
}

/// The header a client put the local token in; the real key goes upstream in the
/// same one (the Anthropic SDKs send `x-api-key`, everything else `Authorization`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    Bearer,
    ApiKey,
}

pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// How a request carries the local token: one `Authorization: Bearer <token>` (the
/// scheme in any case, RFC 9110) as `expected` (`Bearer <token>`) has it, or one
/// `x-api-key: <token>`, compared in constant time. None for anything else, both
/// headers included (which one would the key replace?).
pub fn presented(headers: &HeaderMap, expected: &HeaderValue) -> Option<Presented> {
    const SCHEME: usize = "Bearer ".len();
    let expected = expected.as_bytes();
    let one = |name: &HeaderName| {
        let mut given = headers.get_all(name).iter();
        match (given.next(), given.next()) {
            (Some(value), None) => Some(Some(value.as_bytes())),
            (None, _) => Some(None),
            _ => None,
        }
    };
    match (one(&header::AUTHORIZATION)?, one(&X_API_KEY)?) {
        (Some(value), None) => (value.len() == expected.len()
            && value[..SCHEME].eq_ignore_ascii_case(&expected[..SCHEME])
            && same(&value[SCHEME..], &expected[SCHEME..]))
        .then_some(Presented::Bearer),
        (None, Some(value)) => same(value, &expected[SCHEME..]).then_some(Presented::ApiKey),
        _ => None,
    }
}

/// Whether a path is one Bedrock's APIs could have: absolute, with no dot segments,
/// plain or percent-encoded, nor any that a segment holds once decoded
/// (`..%2f..%2f`, `%2e%2e%5c`). An upstream behind a path prefix that decoded and
/// normalised them could otherwise be walked out of its prefix with the key on. An
/// encoded slash alone is fine: SDKs encode the `/` of an inference-profile ARN.
fn plain_path(path: &str) -> bool {
    path.starts_with('/')
        && path.split('/').all(|segment| {
            let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
            decoded
                .split(['/', '\\'])
                .all(|part| part != "." && part != "..")
        })
}

/// Bedrock's APIs use these; TRACE would echo the key back, CONNECT would make this a
/// general proxy.
const ALLOWED_METHODS: [Method; 6] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// Read and drop a refused request's body, up to [`REFUSED_BODY_READ`] bytes or
/// [`REFUSED_BODY_WAIT`]; what is left, if the body goes on, is returned to be held.
async fn read_a_little(mut body: Incoming) -> Option<Incoming> {
    let reading = async {
        let mut read = 0;
        while read <= REFUSED_BODY_READ {
            match body.frame().await {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len()),
                // Ended, or broken: nothing left to hold.
                Some(Err(_)) | None => return true,
            }
        }
        false
    };
    match tokio::time::timeout(REFUSED_BODY_WAIT, reading).await {
        Ok(true) => None,
        _ => Some(body),
    }
}

/// The proxy's answer, holding on to the rest of the request's body until the answer
/// is done with; then the rest is read and dropped for a while (bounded in time and
/// bytes, never kept), so that a client still uploading finishes cleanly rather than
/// see its stream reset, which some (curl 7.88) take as a failure despite the answer.
struct Holding {
    answer: ProxyBody,
    held: Option<Incoming>,
}

/// How long, and how much, of a refused request's body is read after the answer.
const DISCARD_FOR: Duration = Duration::from_secs(10);
const DISCARD_AT_MOST: usize = 256 * 1024 * 1024;

impl Drop for Holding {
    fn drop(&mut self) {
        let (Some(mut body), Ok(runtime)) =
            (self.held.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        runtime.spawn(async move {
            let discarding = async {
                let mut read = 0;
                while read <= DISCARD_AT_MOST {
                    match body.frame().await {
                        Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len()),
                        Some(Err(_)) | None => break,
                    }
                }
            };
            let _ = tokio::time::timeout(DISCARD_FOR, discarding).await;
        });
    }
}

impl Body for Holding {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.answer).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.answer.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.answer.size_hint()
    }
}

/// A client's body sent on to Bedrock that, when the call drops it before its end,
/// goes back to the handler to be held while the failure is answered.
struct Returning {
    inner: Option<Incoming>,
    back: Option<tokio::sync::oneshot::Sender<Incoming>>,
}

impl Body for Returning {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(SizeHint::default, Body::size_hint)
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        if let (Some(inner), Some(back)) = (self.inner.take(), self.back.take())
            && !inner.is_end_stream()
        {
            let _ = back.send(inner);
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

/// A body passed through frame by frame as it arrives, ended with an error when it
/// keeps the reader waiting for [`IDLE_TIMEOUT`] with no frame.
struct Idle<B> {
    inner: B,
    side: Side,
    /// Made the first time the body keeps its reader waiting: most bodies (a small
    /// request, a small answer) arrive whole and never need one, and setting a timer
    /// for each frame cost the proxy a good share of its time per request.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Whether the timer runs for the wait in progress.
    waiting: bool,
}

impl<B> Idle<B> {
    fn new(inner: B, side: Side) -> Idle<B> {
        Idle {
            inner,
            side,
            timer: None,
            waiting: false,
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
                this.waiting = false;
                let side = this.side;
                Poll::Ready(frame.map(|f| {
                    f.map_err(|e| match side {
                        Side::Client => Box::new(ClientBody(e.into())) as BoxError,
                        Side::Bedrock => e.into(),
                    })
                }))
            }
            Poll::Pending => {
                // The silence is timed from when the wait begins.
                let deadline = || tokio::time::Instant::now() + IDLE_TIMEOUT;
                let timer = match &mut this.timer {
                    Some(timer) => {
                        if !this.waiting {
                            timer.as_mut().reset(deadline());
                        }
                        timer
                    }
                    None => this
                        .timer
                        .insert(Box::pin(tokio::time::sleep_until(deadline()))),
                };
                this.waiting = true;
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(format!(
                        "no bytes for {}s",
                        IDLE_TIMEOUT.as_secs()
                    )
                    .into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
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

    /// A body of `frames`, each after `gap`, that then never ends.
    fn trickle(frames: usize, gap: Duration) -> Idle<impl Body<Data = Bytes, Error = Infallible>> {
        use futures_util::StreamExt;
        let frames = futures_util::stream::iter(0..frames)
            .then(move |_| async move {
                tokio::time::sleep(gap).await;
                Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"x")))
            })
            .chain(futures_util::stream::pending());
        Idle::new(
            http_body_util::StreamBody::new(Box::pin(frames)),
            Side::Bedrock,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_silent_for_the_idle_timeout_ends_with_an_error() {
        let mut body = trickle(1, Duration::ZERO);
        assert!(body.frame().await.unwrap().is_ok());
        let waiting = tokio::time::Instant::now();
        let almost = IDLE_TIMEOUT - Duration::from_secs(1);
        assert!(
            tokio::time::timeout(almost, body.frame()).await.is_err(),
            "still waiting"
        );
        let ended = body.frame().await.unwrap().unwrap_err();
        assert_eq!(ended.to_string(), "no bytes for 300s");
        assert!(waiting.elapsed() >= IDLE_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn each_frame_starts_the_idle_timeout_again() {
        // Three waits of two thirds of the timeout each: longer than it in all.
        let gap = IDLE_TIMEOUT * 2 / 3;
        let mut body = trickle(3, gap);
        for _ in 0..3 {
            assert!(body.frame().await.unwrap().is_ok());
        }
        let started = tokio::time::Instant::now();
        assert!(body.frame().await.unwrap().is_err());
        assert!(started.elapsed() >= IDLE_TIMEOUT);
    }

    #[test]
    fn a_broken_client_body_is_told_apart() {
        let e: BoxError = Box::new(ClientBody("bad chunk".into()));
        assert!(from_client(e.as_ref()));
        let e: BoxError = "refused".into();
        assert!(!from_client(e.as_ref()));
    }

    #[test]
    fn dot_segments_and_non_paths_are_not_plain() {
        for ok in [
            "/",
            "/model/a.b:0/converse",
            "/mantle/v1/models",
            "/x/.../y",
            "/a..b",
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.m/converse",
        ] {
            assert!(plain_path(ok), "{ok}");
        }
        for bad in [
            "*",
            "",
            "/mantle/../model",
            "/model/..",
            "/./x",
            "/%2e%2E/x",
            "/a/%2e",
            "x/y",
            "/v1/..%2f..%2fhost-control/foundation-models",
            "/%2e%2e%2fhost-control/x",
            "/a/%2E%2E%5Cb",
        ] {
            assert!(!plain_path(bad), "{bad}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"Bearer abc", b"Bearer abc"));
        assert!(!same(b"Bearer abd", b"Bearer abc"));
        assert!(!same(b"Bearer ab", b"Bearer abc"));
    }

    #[test]
    fn the_local_token_is_taken_in_either_header_but_not_in_both() {
        let expected = HeaderValue::from_static("Bearer bedkey-local-abc");
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.append(*name, HeaderValue::from_static(value));
            }
            presented(&headers, &expected)
        };
        assert_eq!(
            with(&[("authorization", "Bearer bedkey-local-abc")]),
            Some(Presented::Bearer)
        );
        assert_eq!(
            with(&[("authorization", "bearer bedkey-local-abc")]),
            Some(Presented::Bearer)
        );
        assert_eq!(
            with(&[("x-api-key", "bedkey-local-abc")]),
            Some(Presented::ApiKey)
        );
        for refused in [
            &[][..],
            &[("authorization", "Bearer bedkey-local-abd")][..],
            &[("authorization", "bedkey-local-abc")][..],
            &[("x-api-key", "Bearer bedkey-local-abc")][..],
            &[("x-api-key", "bedkey-local-ab")][..],
            &[
                ("authorization", "Bearer bedkey-local-abc"),
                ("x-api-key", "bedkey-local-abc"),
            ][..],
            &[
                ("authorization", "Bearer bedkey-local-abc"),
                ("authorization", "Bearer bedkey-local-abc"),
            ][..],
            &[
                ("x-api-key", "bedkey-local-abc"),
                ("x-api-key", "bedkey-local-abc"),
            ][..],
        ] {
            assert_eq!(with(refused), None, "{refused:?}");
        }
    }
}
