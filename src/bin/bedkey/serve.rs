//! The local endpoint as `exec --proxy` and `proxy` both set it up: bound, its key
//! loaded (and kept loadable from the store), its CA and trust files made, and what
//! its person hears about keys and requests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bedkey::config::{Config, Fingerprint, KeyKind};
use bedkey::error::{Error, Result};
use bedkey::keys::{self, Loaded, Loader};
use bedkey::proxy::{self, KeyEvent, KeySource, LocalCa, RequestEvent, TrustFiles, Upstreams};
use bedkey::store::{self, Access, Backend, RememberedPassphrase};

use crate::cli::ClientFlags;
use crate::cmd::Context;
use crate::output::{Printer, printable};

/// The endpoint, ready to serve, and what a client needs to use it.
pub struct Serving {
    pub proxy: proxy::Proxy,
    pub ca: Arc<LocalCa>,
    pub trust: TrustFiles,
    pub endpoint: String,
    pub addr: SocketAddr,
    pub region: String,
    /// The key as first loaded: a variable of the parent's that holds it is not
    /// passed on to a child (it gets the local token instead).
    pub key: bedkey::secret::Secret,
    pub service: bedkey::service::Service,
    pub workspace: Option<String>,
}

impl Serving {
    /// The client's variables, with those of the `--for` sets asked for; `node_ca` is
    /// the CA file `NODE_EXTRA_CA_CERTS` names.
    pub fn vars(&self, node_ca: &Path, flags: &ClientFlags) -> Result<Vec<(&'static str, String)>> {
        use bedkey::secret::ExposeSecret;
        let bundle = self.trust.bundle.display().to_string();
        let ca = node_ca.display().to_string();
        bedkey::clients::Local {
            endpoint: &self.endpoint,
            token: self.proxy.token.expose_secret(),
            region: &self.region,
            bundle: &bundle,
            ca: &ca,
        }
        .vars(
            self.service,
            self.workspace.as_deref(),
            &flags.sets().unwrap_or_default(),
            flags.endpoint.map(Into::into),
        )
    }
}

/// Bind, load the key, make the CA and its files: everything that can fail before a
/// single request is served fails here, as the command's own error.
pub fn prepare(ctx: &Context, name: &str, listen: SocketAddr) -> Result<Serving> {
    let listener = proxy::bind(listen)?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::failure(format!("cannot use the listener: {e}")))?;
    let source = Arc::new(StoreSource::new(ctx, name)?);
    let mut first = source.load()?;
    // The region is settled below, with an error of its own if there is none.
    first
        .warnings
        .retain(|w| !matches!(w, bedkey::keys::Warning::NoRegion));
    crate::cmd::tell(&ctx.out, &first);
    let region = region_for(ctx, &first)?;
    let upstreams = Upstreams::for_service(first.meta.service, &region)?;
    let roots = proxy::ca::upstream_roots()?;
    let extra = (addr.ip() != std::net::IpAddr::from([127, 0, 0, 1])).then_some(addr.ip());
    let ca = Arc::new(LocalCa::new(extra)?);
    let trust = TrustFiles::write(&ca, &roots)?;
    ctx.out.detail(format_args!(
        "CA and trust bundle in {}",
        trust.dir().display()
    ));
    ctx.out.detail(upstreams.describe());

    let holder = Arc::new(proxy::Holder::new(
        source,
        &first,
        key_events(ctx.out.clone()),
    )?);
    Ok(Serving {
        proxy: proxy::Proxy {
            listener,
            ca: ca.clone(),
            upstreams,
            roots,
            holder,
            token: proxy::local_token()?,
            on_request: request_events(ctx.out.clone()),
        },
        ca,
        trust,
        endpoint: proxy::endpoint(addr),
        key: first.secret.clone(),
        service: first.meta.service,
        workspace: first.meta.workspace.clone(),
        addr,
        region,
    })
}

/// What the person running the proxy hears about the key: each load under -v, its
/// warnings, and failed loads.
fn key_events(out: Printer) -> Arc<proxy::OnKeyEvent> {
    Arc::new(move |event: KeyEvent<'_>| match event {
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
    })
}

/// What they hear about requests: each one under -v, failures as warnings. Anyone on
/// the machine can knock, so only the first refusal is a warning and the rest are
/// shown with -v: nobody can flood the log.
fn request_events(out: Printer) -> Arc<proxy::OnRequest> {
    let refused_before = std::sync::atomic::AtomicBool::new(false);
    Arc::new(move |event: RequestEvent<'_>| match event {
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
        } => {
            let text = format!(
                "{method} {}: answered {}: {why}",
                printable(path),
                status.as_u16()
            );
            let refusal = status.is_client_error();
            if refusal && refused_before.swap(true, std::sync::atomic::Ordering::Relaxed) {
                out.detail(text);
            } else if refusal {
                out.warn(format!("{text} (further refusals are shown with -v)"));
            } else {
                out.warn(text);
            }
        }
    })
}

/// The region requests go to: a short-term key's own (it works nowhere else), a
/// long-term key's, or `--region` / `AWS_REGION` for a long-term key that has none.
fn region_for(ctx: &Context, key: &Loaded) -> Result<String> {
    let asked = ctx
        .global
        .region
        .clone()
        .or_else(|| bedkey::region::from_env().map(|(r, _)| r));
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
                "key '{}' has no region, and the proxy must know where {} is",
                key.name,
                match key.meta.service {
                    bedkey::service::Service::Bedrock => "Bedrock",
                    other => other.title(),
                }
            ))
            .with_hint("add --region REGION"));
        }
    };
    bedkey::region::checked(&region)
}

/// The proxy's key, loaded as `env` loads it, from a thread of the proxy's. A file
/// store's passphrase is asked once, at start.
struct StoreSource {
    config_dir: Option<PathBuf>,
    access: Access,
    name: String,
    /// The config dir as the last load found it, and when a load would next read a
    /// secret again: until either changes, a load would give the same key.
    seen: std::sync::Mutex<Option<(Fingerprint, Option<i64>)>>,
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
            seen: std::sync::Mutex::new(None),
        })
    }
}

impl KeySource for StoreSource {
    fn load(&self) -> Result<Loaded> {
        let config = Config::new(self.config_dir.as_deref())?;
        // Taken before the load: a change during it shows at the next look.
        let before = config.fingerprint();
        let open = |b: Backend| store::open(b, config.dir(), &self.access);
        let loaded = Loader::new(&config, &open, keys::SHELL_BUDGET)?.load(&self.name)?;
        // A short-term key's refresh the holder keeps the time of; the rest is when a
        // secret is due to be read again.
        let again = (loaded.meta.origin != bedkey::config::Origin::Minted)
            .then_some(loaded.refresh_at)
            .flatten();
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some((before, again));
        Ok(loaded)
    }

    fn changed(&self) -> bool {
        let Ok(config) = Config::new(self.config_dir.as_deref()) else {
            return true;
        };
        match &*self.seen.lock().unwrap_or_else(|p| p.into_inner()) {
            Some((seen, again)) => {
                *seen != config.fingerprint() || again.is_some_and(|at| at <= bedkey::time::now())
            }
            None => true,
        }
    }
}

/// The runtime of the command's own thread: one of the proxy's workers (the others
/// get threads and runtimes of their own, see `Proxy::serve`), and the child and its
/// signals for `exec --proxy`.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::failure(format!("cannot start the async runtime: {e}")))
}
