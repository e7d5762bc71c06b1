//! `bedkey proxy [NAME]`: a local HTTPS endpoint that holds a key, keeps it fresh and
//! puts it on each request it sends on to Bedrock, for programs started elsewhere (a
//! container, a service manager). `exec --proxy` uses the same pieces with a child.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bedkey::config::{Config, KeyKind};
use bedkey::error::{Error, Result};
use bedkey::keys::{self, AwsMinter, AwsReader, Loaded, Loader};
use bedkey::proxy::{self, KeyEvent, KeySource, LocalCa, RequestEvent, TrustFiles, Upstreams};
use bedkey::secret::{ExposeSecret, Secret};
use bedkey::store::{self, Access, Backend, RememberedPassphrase};

use crate::cli::Proxy;
use crate::cmd::{Context, Run};
use crate::output::printable;

impl Run for Proxy {
    fn run(&self, ctx: &Context) -> Result<()> {
        let name = self.name.as_deref().unwrap_or("default");
        let listen = match &self.listen {
            Some(text) => proxy::parse_listen(text)?,
            None => SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let serving = prepare(ctx, name, listen)?;
        if !listen.ip().is_loopback() {
            ctx.out.warn(format!(
                "serving on {listen}, off loopback: whoever can reach it and holds the token uses the key"
            ));
        }
        let node_ca = match &self.ca_file {
            Some(path) => {
                // Public, and read by a container that may run as another user.
                write_public(path, serving.ca.cert_pem().as_bytes())?;
                path.clone()
            }
            None => serving.trust.ca.clone(),
        };
        let vars = serving.vars(&node_ca);
        ctx.out.mask_in_ci(&serving.proxy.token);
        match &self.env_file {
            Some(path) => {
                let dotenv = dotenv(&vars)?;
                bedkey::files::write_atomically(path, dotenv.expose_secret().as_bytes())?;
                ctx.out.note(format!(
                    "wrote the client's variables to {}",
                    path.display()
                ));
            }
            None if ctx.out.json() => {
                let vars: serde_json::Map<String, serde_json::Value> = vars
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone().into()))
                    .collect();
                ctx.out.print_json(&serde_json::json!({
                    "name": name,
                    "endpoint": serving.endpoint,
                    "region": serving.region,
                    "ca_file": node_ca,
                    "vars": vars,
                }))?;
            }
            None => {
                crate::output::stdout_bytes(dotenv(&vars)?.expose_secret().as_bytes())?;
            }
        }
        ctx.out.note(format!(
            "serving key '{name}' on {} until Ctrl-C or SIGTERM",
            serving.endpoint
        ));
        let Serving { proxy, trust, .. } = serving;
        runtime()?.block_on(proxy.serve(stop_signal()))?;
        drop(trust);
        ctx.out.note("stopped");
        Ok(())
    }
}

/// The endpoint, ready to serve, and what a client needs to use it.
pub(crate) struct Serving {
    pub proxy: proxy::Proxy,
    pub ca: Arc<LocalCa>,
    pub trust: TrustFiles,
    pub endpoint: String,
    pub region: String,
}

impl Serving {
    /// The client's variables; `node_ca` is the CA file `NODE_EXTRA_CA_CERTS` names.
    pub fn vars(&self, node_ca: &Path) -> Vec<(&'static str, String)> {
        proxy::client_vars(
            &self.endpoint,
            &self.proxy.token,
            &self.region,
            &self.trust.bundle,
            node_ca,
        )
    }
}

/// Bind, load the key, make the CA and its files: everything that can fail before a
/// single request is served fails here, as the command's own error.
pub(crate) fn prepare(ctx: &Context, name: &str, listen: SocketAddr) -> Result<Serving> {
    let listener = proxy::bind(listen)?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::failure(format!("cannot use the listener: {e}")))?;
    let source = Arc::new(StoreSource::new(ctx, name)?);
    let first = source.load()?;
    super::tell(&ctx.out, &first);
    let region = region_for(ctx, &first)?;
    let upstreams = Upstreams::for_region(&region)?;
    let roots = proxy::ca::upstream_roots()?;
    let extra = (addr.ip() != std::net::IpAddr::from([127, 0, 0, 1])).then_some(addr.ip());
    let ca = Arc::new(LocalCa::new(extra)?);
    let trust = TrustFiles::write(&ca, &roots)?;
    ctx.out.detail(format_args!(
        "CA and trust bundle in {}",
        trust.dir().display()
    ));
    ctx.out.detail(format_args!(
        "runtime {}, control plane {}",
        upstreams.runtime.url(),
        upstreams.control.url()
    ));

    let out = ctx.out.clone();
    let on_key = move |event: KeyEvent<'_>| match event {
        KeyEvent::Loaded(key) => {
            out.detail(format_args!("loaded key '{}'", key.name));
            for warning in &key.warnings {
                let text = warning.message(&key.name, &key.meta, bedkey::time::now());
                if warning.is_note() {
                    out.detail(text);
                } else {
                    out.warn(text);
                }
            }
        }
        KeyEvent::Failed(e) => out.warn(format!(
            "cannot load key: {} (the key held is used while it works)",
            e.message()
        )),
    };
    let holder = Arc::new(proxy::Holder::new(
        source,
        &first,
        keys::min_ttl()?,
        Arc::new(on_key),
    )?);
    let out = ctx.out.clone();
    let on_request = move |event: RequestEvent<'_>| match event {
        RequestEvent::Forwarded {
            method,
            path,
            status,
        } => out.detail(format_args!(
            "{method} {} -> {}",
            printable(path),
            status.as_u16()
        )),
        RequestEvent::Answered {
            method,
            path,
            status,
            why,
        } => out.warn(format!(
            "{method} {}: answered {}: {why}",
            printable(path),
            status.as_u16()
        )),
    };
    Ok(Serving {
        proxy: proxy::Proxy {
            listener,
            ca: ca.clone(),
            upstreams,
            roots,
            holder,
            token: proxy::local_token()?,
            on_request: Arc::new(on_request),
        },
        ca,
        trust,
        endpoint: proxy::endpoint(addr),
        region,
    })
}

/// The region requests go to: a short-term key's own (it works nowhere else), a
/// long-term key's, or `--region` / `AWS_REGION` for a long-term key that has none.
fn region_for(ctx: &Context, key: &Loaded) -> Result<String> {
    let asked = ctx.global.region.clone().or_else(|| {
        ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|r| !r.is_empty()))
    });
    let region = match (&key.meta.region, asked) {
        (Some(own), Some(asked)) if key.meta.kind == KeyKind::ShortTerm && *own != asked => {
            return Err(Error::usage(format!(
                "key '{}' is a short-term key for {own}: it does not work in {asked}",
                key.name
            )));
        }
        (Some(own), None) => own.clone(),
        (_, Some(asked)) => asked,
        (None, None) => {
            return Err(Error::usage(format!(
                "key '{}' has no region, and the proxy must know where Bedrock is",
                key.name
            ))
            .with_hint("add --region REGION"));
        }
    };
    bedkey::aws::checked_region(&region)
}

/// The proxy's key, loaded as `env` loads it, from a thread of the proxy's. A file
/// store's passphrase is asked once, at start.
struct StoreSource {
    config_dir: Option<PathBuf>,
    access: Access,
    name: String,
    min_ttl: i64,
    shared_ttl: i64,
}

impl StoreSource {
    fn new(ctx: &Context, name: &str) -> Result<StoreSource> {
        // Checked once, as every command does; a failure here is the command's.
        ctx.config()?;
        let mut access = ctx.access();
        access.passphrase = Arc::new(RememberedPassphrase::new(access.passphrase));
        Ok(StoreSource {
            config_dir: ctx.global.config_dir.clone(),
            access,
            name: name.to_string(),
            min_ttl: keys::min_ttl()?,
            shared_ttl: keys::shared_ttl()?,
        })
    }
}

impl KeySource for StoreSource {
    fn load(&self) -> Result<Loaded> {
        let config = Config::new(self.config_dir.as_deref())?;
        let open = |b: Backend| store::open(b, config.dir(), &self.access);
        Loader {
            config: &config,
            open: &open,
            minter: &AwsMinter,
            reader: &AwsReader,
            min_ttl: self.min_ttl,
            shared_ttl: self.shared_ttl,
            budget: keys::SHELL_BUDGET,
        }
        .load(&self.name)
    }
}

/// Two worker threads: the proxy's work is small and the machine may be too.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::failure(format!("cannot start the async runtime: {e}")))
}

/// SIGINT, SIGTERM or SIGHUP (Ctrl-C elsewhere).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let kinds = [
            SignalKind::interrupt(),
            SignalKind::terminate(),
            SignalKind::hangup(),
        ];
        let mut streams: Vec<_> = kinds.into_iter().filter_map(|k| signal(k).ok()).collect();
        let waits = streams.iter_mut().map(|s| Box::pin(s.recv()));
        futures_select_all(waits).await;
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The first of several futures to finish.
#[cfg(unix)]
async fn futures_select_all<F: std::future::Future + Unpin>(futures: impl Iterator<Item = F>) {
    let mut futures: Vec<F> = futures.collect();
    std::future::poll_fn(|cx| {
        for f in futures.iter_mut() {
            if std::pin::Pin::new(f).poll(cx).is_ready() {
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// `KEY=value` lines, unquoted: docker's `--env-file` takes values literally, so a
/// value a dotenv reader would need quoted is refused instead.
fn dotenv(vars: &[(&'static str, String)]) -> Result<Secret> {
    let mut text = String::new();
    for (name, value) in vars {
        if value.is_empty()
            || value
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "\"'\\$#`".contains(c))
        {
            return Err(Error::usage(format!(
                "{name}={} cannot be written as a dotenv line",
                printable(value)
            ))
            .with_hint("set TMPDIR or XDG_RUNTIME_DIR to a path without spaces or quotes"));
        }
        text.push_str(&format!("{name}={value}\n"));
    }
    Ok(Secret::from(text))
}

fn write_public(path: &Path, bytes: &[u8]) -> Result<()> {
    bedkey::files::write_atomically(path, bytes)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::failure(format!("cannot make {} readable: {e}", path.display())))?;
    }
    Ok(())
}
