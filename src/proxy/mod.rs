//! A local HTTPS endpoint for long-running programs: it holds the real key, keeps it
//! fresh, and puts it on each request it sends on to Bedrock. The program holds only
//! a random local token, worthless anywhere else.
//!
//! - [`ca`]: the per-run CA, its server certificate, and the files clients trust
//! - [`route`]: which Bedrock host (runtime, control plane, Mantle) a request goes to
//! - [`holder`]: the current key, refreshed as `env` refreshes it
//! - [`forward`]: one request checked, sent on, and streamed back
//!
//! What a program under the endpoint is given is [`crate::clients::Local`]'s.
//!
//! Nothing here prints: what happens comes back through the `on_*` callbacks.

mod activity;
pub mod ca;
pub mod forward;
pub mod holder;
mod pool;
pub mod route;

use std::future::Future;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::CertificateDer;

use crate::error::{Error, Result};
use crate::secret::{ExposeSecret, Secret, secret};

pub use ca::{LocalCa, TrustFiles};
pub use forward::{OnRequest, RequestEvent};
pub use holder::{Holder, KeyEvent, KeySource, OnKeyEvent};
pub use route::Upstreams;

/// Requests in flight may finish for this long once the proxy is told to stop.
pub const GRACE: Duration = Duration::from_secs(10);
/// Connecting to Bedrock; the rest of a call is bounded by [`forward::IDLE_TIMEOUT`].
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A new local token: 32 random bytes, in a form no AWS key has.
pub fn local_token() -> Result<Secret> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| Error::failure("cannot make a random token"))?;
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    Ok(secret(format!("bedkey-local-{text}")))
}

/// Bind the listener now, so that a port in use is the command's error (exit 2).
pub fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr).map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::AddrInUse {
            "the address is in use".to_string()
        } else {
            e.to_string()
        };
        Error::usage(format!("cannot listen on {addr}: {why}"))
    })
}

/// `--listen`: `IP:PORT`, `localhost:PORT` or just `PORT` (on 127.0.0.1). An
/// unspecified address (0.0.0.0) is refused: the certificate must name the address
/// clients use.
pub fn parse_listen(text: &str) -> Result<SocketAddr> {
    let bad = |why: &str| {
        Error::usage(format!("--listen {text}: {why}"))
            .with_hint("give IP:PORT (127.0.0.1:8443, or a bridge address such as 172.17.0.1:8443)")
    };
    let addr = if let Ok(port) = text.parse::<u16>() {
        SocketAddr::from(([127, 0, 0, 1], port))
    } else if let Some(port) = text.strip_prefix("localhost:") {
        let port = port.parse::<u16>().map_err(|_| bad("not a port"))?;
        SocketAddr::from(([127, 0, 0, 1], port))
    } else {
        text.parse::<SocketAddr>()
            .map_err(|_| bad("not an address and port"))?
    };
    // `[::ffff:0.0.0.0]` is 0.0.0.0 by another name: judge the IPv4 address.
    let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
    if addr.ip().is_unspecified() {
        return Err(bad(
            "an unspecified address cannot be named in the certificate",
        ));
    }
    let ip = addr.ip();
    if ip.is_multicast() || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast()) {
        return Err(bad(
            "no client can connect to a broadcast or multicast address",
        ));
    }
    Ok(addr)
}

/// The endpoint's URL for clients.
pub fn endpoint(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V6(ip) => format!("https://[{ip}]:{}", addr.port()),
        IpAddr::V4(ip) => format!("https://{ip}:{}", addr.port()),
    }
}

/// Everything the endpoint serves with.
pub struct Proxy {
    pub listener: TcpListener,
    pub ca: Arc<LocalCa>,
    pub upstreams: Upstreams,
    /// Trusted for Bedrock: see [`ca::upstream_roots`].
    pub roots: Vec<CertificateDer<'static>>,
    pub holder: Arc<Holder>,
    pub token: Secret,
    pub on_request: Arc<OnRequest>,
}

/// How far a stop has come: every accept loop watches it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    /// Accept no more; let requests in flight finish, for [`GRACE`] at most.
    Stopping,
    /// Stop waiting for them.
    Hurrying,
}

/// What every accept loop serves with; each makes its own pooled client from it.
struct Shared {
    acceptor: tokio_rustls::TlsAcceptor,
    /// Client connections closed so far, by every worker.
    closed: Arc<std::sync::atomic::AtomicUsize>,
    upstreams: Upstreams,
    roots: Vec<CertificateDer<'static>>,
    holder: Arc<Holder>,
    expected: HeaderValue,
    on_request: Arc<OnRequest>,
}

/// Accept loops, one a thread, each on a single-threaded runtime of its own (as
/// nginx runs a worker a core): a request, its upstream connection and its answer
/// stay on one thread, with no hand-off between threads. At most this many.
const MAX_WORKERS: usize = 4;

fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_WORKERS))
}

impl Proxy {
    /// Serve until `stop` completes; then stop accepting and let requests in flight
    /// finish, for [`GRACE`] at most, or until `hurry` completes (a second Ctrl-C).
    /// Must run inside a Tokio runtime, whose thread serves as one of the workers
    /// (a current-thread runtime suits it best); the others get threads of their own.
    pub async fn serve(
        self,
        stop: impl Future<Output = ()>,
        hurry: impl Future<Output = ()>,
    ) -> Result<()> {
        let mut expected = HeaderValue::try_from(format!("Bearer {}", self.token.expose_secret()))
            .map_err(|_| Error::failure("the local token is not a header value"))?;
        expected.set_sensitive(true);
        let closed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let shared = Arc::new(Shared {
            acceptor: tokio_rustls::TlsAcceptor::from(self.ca.server_config()),
            closed: closed.clone(),
            upstreams: self.upstreams,
            roots: self.roots,
            holder: self.holder.clone(),
            expected,
            on_request: self.on_request,
        });
        let (phase, _) = tokio::sync::watch::channel(Phase::Serving);
        let threads = (1..workers())
            .map(|_| spawn_worker(&self.listener, &shared, &phase))
            .collect::<Result<Vec<_>>>()?;
        let fresh = tokio::spawn(self.holder.keep_fresh());
        let giving_back = tokio::spawn(give_back_after_bursts(closed));
        let here = accept_loop(self.listener, shared, phase.subscribe());
        tokio::pin!(here, stop, hurry);
        let mut served = tokio::select! {
            served = &mut here => Some(served),
            () = &mut stop => None,
        };
        let _ = phase.send(Phase::Stopping);
        let mut hurried = false;
        if served.is_none() {
            served = Some(tokio::select! {
                served = &mut here => served,
                () = &mut hurry => {
                    hurried = true;
                    let _ = phase.send(Phase::Hurrying);
                    here.await
                }
            });
        }
        fresh.abort();
        giving_back.abort();
        // The other workers end within GRACE of the stop, or at once when hurried;
        // joining them blocks, so on the blocking pool.
        let joining = tokio::task::spawn_blocking(move || {
            threads
                .into_iter()
                .map(|t| {
                    t.join()
                        .unwrap_or_else(|_| Err(Error::failure("a proxy worker failed")))
                })
                .collect::<Result<Vec<()>>>()
        });
        tokio::pin!(joining);
        let joined = if hurried {
            joining.await
        } else {
            tokio::select! {
                joined = &mut joining => joined,
                () = &mut hurry => {
                    let _ = phase.send(Phase::Hurrying);
                    joining.await
                }
            }
        }
        .map_err(|_| Error::failure("a proxy worker failed"))?;
        served.unwrap_or(Ok(()))?;
        joined.map(|_| ())
    }
}

/// A worker of its own thread and single-threaded runtime, on a copy of the listener.
fn spawn_worker(
    listener: &TcpListener,
    shared: &Arc<Shared>,
    phase: &tokio::sync::watch::Sender<Phase>,
) -> Result<std::thread::JoinHandle<Result<()>>> {
    let failed = |e: std::io::Error| Error::failure(format!("cannot start a proxy worker: {e}"));
    let listener = listener.try_clone().map_err(failed)?;
    let (shared, phase) = (shared.clone(), phase.subscribe());
    std::thread::Builder::new()
        .name("bedkey-proxy".into())
        .spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(failed)?
                .block_on(accept_loop(listener, shared, phase))
        })
        .map_err(failed)
}

/// One worker: accept connections and serve them on this thread's runtime, until the
/// phase says stop; then let those in flight finish, for [`GRACE`] at most.
async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut phase: tokio::sync::watch::Receiver<Phase>,
) -> Result<()> {
    let listen_error = |e: std::io::Error| Error::failure(format!("cannot use the listener: {e}"));
    listener.set_nonblocking(true).map_err(listen_error)?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(listen_error)?;
    let forwarder = Arc::new(forward::Forwarder {
        pool: pool::Pool::new(connector(shared.roots.clone())?),
        upstreams: shared.upstreams.clone(),
        holder: shared.holder.clone(),
        expected: shared.expected.clone(),
        on_request: shared.on_request.clone(),
    });
    // Ended with this worker's runtime.
    let pool = forwarder.pool.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(pool::SWEEP_EVERY).await;
            pool.sweep();
        }
    });
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(_) => {
                    // Out of descriptors, say: wait rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = until(&mut phase, |p| p != Phase::Serving) => break,
        };
        serve_connection(tcp, &shared, &forwarder, &graceful);
    }
    drop(listener);
    tokio::select! {
        _ = tokio::time::timeout(GRACE, graceful.shutdown()) => {}
        () = until(&mut phase, |p| p == Phase::Hurrying) => {}
    }
    Ok(())
}

/// Wait until the phase is one `done` likes (or its sender is gone).
async fn until(phase: &mut tokio::sync::watch::Receiver<Phase>, done: impl Fn(Phase) -> bool) {
    // The guard `wait_for` returns is dropped here, never held across an await.
    let _ = phase.wait_for(|p| done(*p)).await.map(|p| *p);
}

/// A connection that carries no request for this long is closed (nginx closes idle
/// keep-alive connections after 75 s): anyone on the machine can connect, and open,
/// idle connections would otherwise use up the proxy's file descriptors.
pub const IDLE_CONNECTION: Duration = Duration::from_secs(60);

/// One client connection: TLS, then HTTP/1.1 or HTTP/2 as the client chose (the JS
/// SDK speaks only HTTP/2 to the runtime), each request through the forwarder, until
/// the client closes it or it sits idle for [`IDLE_CONNECTION`].
fn serve_connection(
    tcp: tokio::net::TcpStream,
    shared: &Shared,
    forwarder: &Arc<forward::Forwarder>,
    graceful: &hyper_util::server::graceful::GracefulShutdown,
) {
    let _ = tcp.set_nodelay(true);
    let acceptor = shared.acceptor.clone();
    let forwarder = forwarder.clone();
    let watcher = graceful.watcher();
    let closed = Closed(shared.closed.clone());
    tokio::spawn(async move {
        // Counted however the connection ends.
        let _closed = closed;
        let Ok(Ok(tls)) = tokio::time::timeout(GRACE, acceptor.accept(tcp)).await else {
            return;
        };
        let activity = Arc::new(activity::Activity::new());
        let seen = activity.clone();
        let service = hyper::service::service_fn(move |request| {
            let forwarder = forwarder.clone();
            let busy = seen.begin();
            async move {
                let response = forwarder.handle(request).await?;
                Ok::<_, std::convert::Infallible>(response.map(|body| busy.carried_by(body)))
            }
        });
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(60))
            .max_buf_size(CLIENT_READ_MAX);
        builder.http2().timer(TokioTimer::new());
        let connection = watcher.watch(builder.serve_connection(TokioIo::new(tls), service));
        tokio::pin!(connection);
        loop {
            tokio::select! {
                _ = &mut connection => return,
                () = tokio::time::sleep(IDLE_CONNECTION / 4) => {
                    if activity.idle_for() >= IDLE_CONNECTION {
                        // Dropped: closed, with no request in flight to lose.
                        return;
                    }
                }
            }
        }
    });
}

/// A client connection's read buffer, at most: hyper's smallest, and so the largest
/// request head the proxy takes (431 beyond; nginx takes lines up to 8 KiB). Left
/// to grow, hyper doubles a buffer that still holds a few bytes when it reads again:
/// most client connections held 16 KiB (nearly 3 MB at 256 connections).
const CLIENT_READ_MAX: usize = 8192;

/// Counts a client connection closed when dropped.
struct Closed(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Closed {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How often the proxy looks whether connections closed since it last gave memory
/// back.
const GIVE_BACK_EVERY: Duration = Duration::from_secs(5);

/// After a burst of connections ends, hand the memory they used back to the system.
/// The allocator keeps freed memory for reuse, and a burst's leftovers, scattered
/// among what is still live, are not reused well by the next burst: without this the
/// resident size grows with every burst of a few hundred connections (30 MB, then
/// 35, at 256 connections). Once a few seconds, and only when connections closed.
async fn give_back_after_bursts(closed: Arc<std::sync::atomic::AtomicUsize>) {
    let mut seen = 0;
    loop {
        tokio::time::sleep(GIVE_BACK_EVERY).await;
        let now = closed.load(std::sync::atomic::Ordering::Relaxed);
        if now != seen {
            seen = now;
            give_back_memory();
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn give_back_memory() {
    // SAFETY: malloc_trim only releases free memory of glibc's own arenas; it takes
    // no pointer and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators (musl's, macOS's, Windows') give memory back themselves.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn give_back_memory() {}

/// How connections to Bedrock are made: TCP (with a timeout), then TLS with the
/// roots the proxy trusts (plain HTTP only for a loopback endpoint, checked where
/// endpoints are read).
fn connector(roots: Vec<CertificateDer<'static>>) -> Result<forward::ProxyClientConnector> {
    let mut store = rustls::RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(roots);
    if added == 0 {
        return Err(Error::failure(
            "no usable TLS root certificate to trust Bedrock with",
        ));
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::failure(format!("cannot set up TLS: {e}")))?
    .with_root_certificates(store)
    .with_no_client_auth();
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http.set_nodelay(true);
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http))
}
