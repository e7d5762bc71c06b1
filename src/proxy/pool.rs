//! Kept-alive HTTP/1.1 connections to Bedrock, one pool a worker.
//!
//! A request takes an idle connection to its upstream or, when none is idle, opens
//! one; the connection comes back once its answer has been read to the end. Unlike
//! hyper-util's pooled client, a request that finds nothing idle does not also wait
//! for a connection to come back and then keep the one it opened as a spare: under
//! load that opened more connections than requests in flight (up to 340 for 256
//! clients), each holding about 30 KB. A request sent on a kept connection that
//! turns out to be closed is sent again on a new one, as hyper-util's client does.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request, Response, Uri, header};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{Builder, SendRequest};
use tower_service::Service;

use super::forward::{BoxError, ProxyBody, ProxyClientConnector};

/// Idle connections a worker keeps, at most (nginx's `keepalive` is the same idea):
/// without a bound, bursts that land unevenly on the workers leave each with a pool
/// as large as the largest burst it ever saw.
pub const MAX_IDLE: usize = 128;

/// An idle connection unused for this long is closed.
pub const IDLE_FOR: Duration = Duration::from_secs(60);

/// The connections returned last that stay for [`IDLE_FOR`]; the others a burst
/// leaves behind are closed once unused for [`SURPLUS_FOR`], so that a pool sized
/// for a burst does not keep its memory (30 KB a connection) for a minute after.
const WARM: usize = 8;
const SURPLUS_FOR: Duration = Duration::from_secs(3);

/// How often idle connections are looked over.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// How much is read from Bedrock at a time. Bedrock answers small JSON or streams of
/// small events: reading them 4 KiB at a time costs nothing, and a kept connection
/// then holds 4 KiB instead of 8 to 16.
const READ: usize = 4096;

/// Where a connection goes.
#[derive(Clone, PartialEq, Eq)]
struct Origin {
    scheme: Scheme,
    authority: Authority,
}

struct Kept {
    origin: Origin,
    sender: SendRequest<ProxyBody>,
    since: Instant,
}

impl Kept {
    /// How long it has been idle at `now`, while it is still worth keeping at all:
    /// open, and idle for less than [`IDLE_FOR`].
    fn idle_at(&self, now: Instant) -> Option<Duration> {
        let unused = now.saturating_duration_since(self.since);
        (!self.sender.is_closed() && unused < IDLE_FOR).then_some(unused)
    }
}

pub struct Pool {
    connector: ProxyClientConnector,
    idle: Mutex<Vec<Kept>>,
    max_idle: usize,
}

impl Pool {
    pub fn new(connector: ProxyClientConnector) -> Arc<Pool> {
        Pool::with_max_idle(connector, MAX_IDLE)
    }

    fn with_max_idle(connector: ProxyClientConnector, max_idle: usize) -> Arc<Pool> {
        Arc::new(Pool {
            connector,
            idle: Mutex::new(Vec::new()),
            max_idle,
        })
    }

    /// Send `request` (its URI absolute) and give back the answer's head; its body
    /// returns the connection to the pool when read to the end.
    pub async fn send(
        self: &Arc<Self>,
        mut request: Request<ProxyBody>,
    ) -> Result<Response<Pooled>, BoxError> {
        let uri = request.uri().clone();
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return Err("the upstream URL has no scheme or host".into());
        };
        let origin = Origin {
            scheme: scheme.clone(),
            authority: authority.clone(),
        };
        if !request.headers().contains_key(header::HOST) {
            let host = HeaderValue::from_str(&host_header(&origin))?;
            request.headers_mut().insert(header::HOST, host);
        }
        // HTTP/1.1 to an origin server: the request line carries the path only.
        *request.uri_mut() = uri
            .path_and_query()
            .map_or_else(|| Uri::from_static("/"), |p| Uri::from(p.clone()));

        while let Some(mut sender) = self.take(&origin) {
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.pooled(response, sender, origin)),
                Err(mut failed) => match failed.take_message() {
                    // Not sent: the connection had closed. Another one, or a new one.
                    Some(back) => request = back,
                    None => return Err(failed.into_error().into()),
                },
            }
        }
        // Boxed: a connection is made rarely, and its future would otherwise make
        // every request in flight 1 KB larger.
        let mut sender = Box::pin(self.connect(uri)).await?;
        match sender.try_send_request(request).await {
            Ok(response) => Ok(self.pooled(response, sender, origin)),
            Err(failed) => Err(failed.into_error().into()),
        }
    }

    async fn connect(&self, uri: Uri) -> Result<SendRequest<ProxyBody>, BoxError> {
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx)).await?;
        let io = connector.call(uri).await?;
        let (sender, connection) = Builder::new()
            .read_buf_exact_size(Some(READ))
            .handshake(io)
            .await?;
        tokio::spawn(async move {
            // Its errors reach the request (or body) it was serving.
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// The idle connection to `origin` returned last, if one is still open and young.
    fn take(&self, origin: &Origin) -> Option<SendRequest<ProxyBody>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        // The newest first; `remove` keeps the rest in the order they came back.
        while let Some(at) = idle.iter().rposition(|kept| kept.origin == *origin) {
            let kept = idle.remove(at);
            if kept.idle_at(now).is_some() {
                return Some(kept.sender);
            }
        }
        None
    }

    fn give_back(&self, origin: Origin, sender: SendRequest<ProxyBody>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        // Beyond the bound the sender is dropped, and with it the connection.
        if idle.len() < self.max_idle {
            idle.push(Kept {
                origin,
                sender,
                since: Instant::now(),
            });
        }
    }

    /// Close the idle connections that Bedrock closed, that are too old, or that a
    /// burst left over; until then each holds its buffers.
    pub fn sweep(&self) {
        self.sweep_at(Instant::now());
    }

    fn sweep_at(&self, now: Instant) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let surplus = idle.len().saturating_sub(WARM);
        let mut at = 0;
        idle.retain(|kept| {
            let warm = at >= surplus;
            at += 1;
            kept.idle_at(now)
                .is_some_and(|unused| warm || unused < SURPLUS_FOR)
        });
    }

    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.idle.lock().unwrap().len()
    }

    fn pooled(
        self: &Arc<Self>,
        response: Response<Incoming>,
        sender: SendRequest<ProxyBody>,
        origin: Origin,
    ) -> Response<Pooled> {
        response.map(|body| {
            let mut pooled = Pooled {
                body,
                back: Some(Back {
                    pool: self.clone(),
                    origin,
                    sender,
                }),
            };
            // An empty body is never read: the connection is free already.
            pooled.give_back_if_done();
            pooled
        })
    }
}

/// `Host` as HTTP clients send it: the port only when it is not the scheme's own.
fn host_header(origin: &Origin) -> String {
    let default = if origin.scheme == Scheme::HTTPS {
        443
    } else {
        80
    };
    match origin.authority.port_u16() {
        Some(port) if port != default => format!("{}:{port}", origin.authority.host()),
        _ => origin.authority.host().to_string(),
    }
}

struct Back {
    pool: Arc<Pool>,
    origin: Origin,
    sender: SendRequest<ProxyBody>,
}

/// An answer's body; read to the end, it returns its connection to the pool.
/// Dropped before that, the connection is closed (HTTP/1.1 cannot skip the rest).
pub struct Pooled {
    body: Incoming,
    back: Option<Back>,
}

impl Pooled {
    fn give_back_if_done(&mut self) {
        if self.body.is_end_stream() {
            self.give_back();
        }
    }

    fn give_back(&mut self) {
        if let Some(back) = self.back.take() {
            back.pool.give_back(back.origin, back.sender);
        }
    }
}

impl Body for Pooled {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        match &frame {
            // hyper's server stops polling once a body says it has ended, so the
            // connection goes back with the last frame, not after it.
            Poll::Ready(Some(Ok(_))) => this.give_back_if_done(),
            Poll::Ready(None) => this.give_back(),
            Poll::Ready(Some(Err(_))) => this.back = None,
            Poll::Pending => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Empty, Full};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn connector() -> ProxyClientConnector {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.enforce_http(false);
        hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http)
    }

    /// An HTTP/1.1 server on loopback answering every request with `answer` after
    /// `delay`; counts the connections it accepted and the `Host` headers it saw.
    async fn server(
        answer: &'static str,
        delay: Duration,
    ) -> (String, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let hosts = Arc::new(Mutex::new(Vec::new()));
        let (count, seen) = (accepted.clone(), hosts.clone());
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                let seen = seen.clone();
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let host = request.headers()[header::HOST].to_str().unwrap().to_owned();
                    seen.lock().unwrap().push(host);
                    async move {
                        tokio::time::sleep(delay).await;
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                            Bytes::from_static(answer.as_bytes()),
                        )))
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service),
                );
            }
        });
        (url, accepted, hosts)
    }

    fn get(url: &str) -> Request<ProxyBody> {
        let mut request = Request::new(Empty::new().map_err(|e| match e {}).boxed());
        *request.uri_mut() = format!("{url}/model/m/converse").parse().unwrap();
        request
    }

    async fn text(response: Response<Pooled>) -> String {
        let body = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_connection_read_to_the_end_is_used_again_with_the_host_sent() {
        let (url, accepted, hosts) = server("ok", Duration::ZERO).await;
        let pool = Pool::new(connector());
        for _ in 0..3 {
            assert_eq!(text(pool.send(get(&url)).await.unwrap()).await, "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        let port = url.rsplit(':').next().unwrap();
        assert_eq!(*hosts.lock().unwrap(), vec![format!("127.0.0.1:{port}"); 3]);
    }

    #[tokio::test]
    async fn the_connection_returns_with_the_last_frame_not_after_it() {
        // hyper's server, passing an answer on, stops at the frame after which the
        // body says it has ended and never asks for the end itself.
        let (url, accepted, _) = server("ok", Duration::ZERO).await;
        let pool = Pool::new(connector());
        for _ in 0..2 {
            let mut body = pool.send(get(&url)).await.unwrap().into_body();
            let frame = body.frame().await.unwrap().unwrap();
            assert_eq!(frame.into_data().unwrap(), "ok");
            assert!(body.is_end_stream());
            assert_eq!(pool.idle_count(), 1);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn requests_at_once_open_one_connection_each_and_no_spare() {
        let (url, accepted, _) = server("ok", Duration::from_millis(100)).await;
        let pool = Pool::new(connector());
        for _ in 0..2 {
            let calls: Vec<_> = (0..8).map(|_| pool.send(get(&url))).collect();
            for response in futures_util::future::join_all(calls).await {
                assert_eq!(text(response.unwrap()).await, "ok");
            }
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 8);
        assert_eq!(pool.idle_count(), 8);
    }

    #[tokio::test]
    async fn an_answer_dropped_unread_takes_its_connection_with_it() {
        let (url, accepted, _) = server("a longer answer", Duration::ZERO).await;
        let pool = Pool::new(connector());
        let unread = pool.send(get(&url)).await.unwrap();
        drop(unread);
        assert_eq!(
            text(pool.send(get(&url)).await.unwrap()).await,
            "a longer answer"
        );
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_pool_keeps_no_more_idle_connections_than_its_bound() {
        let (url, accepted, _) = server("ok", Duration::from_millis(50)).await;
        let pool = Pool::with_max_idle(connector(), 2);
        let calls: Vec<_> = (0..5).map(|_| pool.send(get(&url))).collect();
        for response in futures_util::future::join_all(calls).await {
            text(response.unwrap()).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 5);
        assert_eq!(pool.idle_count(), 2);
    }

    #[tokio::test]
    async fn a_burst_leaves_a_few_connections_warm_and_closes_the_rest_soon() {
        let (url, _, _) = server("ok", Duration::from_millis(50)).await;
        let pool = Pool::new(connector());
        let calls: Vec<_> = (0..WARM + 4).map(|_| pool.send(get(&url))).collect();
        for response in futures_util::future::join_all(calls).await {
            text(response.unwrap()).await;
        }
        pool.sweep();
        assert_eq!(pool.idle_count(), WARM + 4, "all are young");
        pool.sweep_at(Instant::now() + SURPLUS_FOR);
        assert_eq!(pool.idle_count(), WARM);
        pool.sweep_at(Instant::now() + IDLE_FOR);
        assert_eq!(pool.idle_count(), 0);
    }

    /// A server that answers one request on each connection as if keeping it alive,
    /// then closes it: the next request finds a dead connection in the pool.
    async fn closing_server() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (mut tcp, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if tcp.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let _ = tcp
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await;
                });
            }
        });
        (url, accepted)
    }

    #[tokio::test]
    async fn a_kept_connection_the_server_closed_is_replaced_not_an_error() {
        let (url, accepted) = closing_server().await;
        let pool = Pool::new(connector());
        for _ in 0..3 {
            assert_eq!(text(pool.send(get(&url)).await.unwrap()).await, "ok");
            // The close reaches the connection's task.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
        pool.sweep();
        assert_eq!(pool.idle_count(), 0, "closed connections are swept");
    }

    #[tokio::test]
    async fn nothing_listening_is_an_error_that_says_so() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let pool = Pool::new(connector());
        let e = pool.send(get(&url)).await.err().unwrap();
        assert_eq!(crate::aws::what_happened(&*e), "the connection was refused");
    }
}
