//! `bedkey proxy [NAME]`: a local HTTPS endpoint that holds a key, keeps it fresh and
//! puts it on each request it sends on to Bedrock, for programs started elsewhere (a
//! container, a service manager). `exec --proxy` uses the same pieces with a child.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bedkey::config::{Config, Fingerprint, KeyKind};
use bedkey::error::{Error, Result};
use bedkey::keys::{self, AwsMinter, AwsReader, Loaded, Loader};
use bedkey::proxy::{self, KeyEvent, KeySource, LocalCa, RequestEvent, TrustFiles, Upstreams};
use bedkey::secret::{ExposeSecret, Secret};
use bedkey::store::{self, Access, Backend, RememberedPassphrase};

use crate::cli::Proxy;
use crate::cmd::{Context, Run};
use crate::output::{Printer, printable};

impl Run for Proxy {
    fn run(&self, ctx: &Context) -> Result<()> {
        let name = self.name.as_deref().unwrap_or("default");
        let listen = match &self.listen {
            Some(text) => proxy::parse_listen(text)?,
            None => SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let (env_file, ca_file) = self.output_files()?;
        let serving = prepare(ctx, name, listen)?;
        if !serving.addr.ip().is_loopback() {
            ctx.out.warn(format!(
                "serving on {}, off loopback: whoever can reach it and holds the token uses the key",
                serving.addr
            ));
        }
        let dotenv = publish(ctx, name, &serving, env_file.as_deref(), ca_file.as_deref())?;
        ctx.out.note(format!(
            "serving key '{name}' on {} until Ctrl-C or SIGTERM",
            serving.endpoint
        ));
        let Serving { proxy, trust, .. } = serving;
        runtime()?.block_on(serve_until_signalled(proxy))?;
        drop(trust);
        // The variables name a token and files that are gone now.
        if let Some(path) = &env_file
            && std::fs::read(path).is_ok_and(|b| b == dotenv.expose_secret().as_bytes())
        {
            let _ = std::fs::remove_file(path);
        }
        ctx.out.note("stopped");
        Ok(())
    }
}

impl Proxy {
    /// `--env-file` and `--ca-file`, checked before anything starts: absolute (a client
    /// started elsewhere reads them), regular files or new, and not one file.
    fn output_files(&self) -> Result<(Option<PathBuf>, Option<PathBuf>)> {
        let env_file = self.env_file.as_deref().map(absolute).transpose()?;
        let ca_file = self.ca_file.as_deref().map(absolute).transpose()?;
        if let Some(path) = &env_file {
            bedkey::files::check_replaceable(path, "--env-file")?;
        }
        if let Some(path) = &ca_file {
            bedkey::files::check_replaceable(path, "--ca-file")?;
        }
        if env_file.is_some() && env_file == ca_file {
            return Err(Error::usage("--env-file and --ca-file name the same file"));
        }
        Ok((env_file, ca_file))
    }
}

/// Tell the client how to reach the endpoint: the CA to `--ca-file`, the variables to
/// `--env-file` or stdout (dotenv lines, or one JSON object). Returns the dotenv text.
fn publish(
    ctx: &Context,
    name: &str,
    serving: &Serving,
    env_file: Option<&Path>,
    ca_file: Option<&Path>,
) -> Result<Secret> {
    let node_ca = ca_file.map_or_else(|| serving.trust.ca.clone(), Path::to_path_buf);
    let vars = serving.vars(&node_ca);
    // Checked before anything is written; one JSON object needs no dotenv lines.
    let dotenv = if env_file.is_none() && ctx.out.json() {
        Secret::from(String::new())
    } else {
        dotenv(&vars)?
    };
    if let Some(path) = ca_file {
        // Public, and read by a container that may run as another user.
        write_public(path, serving.ca.cert_pem().as_bytes())?;
    }
    ctx.out.mask_in_ci(&serving.proxy.token);
    match env_file {
        Some(path) => {
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
        None => crate::output::stdout_bytes(dotenv.expose_secret().as_bytes())?,
    }
    Ok(dotenv)
}

/// Serve until a stop signal; a second one ends the wait for requests in flight.
async fn serve_until_signalled(proxy: proxy::Proxy) -> Result<()> {
    let (signalled, _) = tokio::sync::watch::channel(0u32);
    let signalled = Arc::new(signalled);
    let mut first = signalled.subscribe();
    let mut second = signalled.subscribe();
    let signals = crate::process::Signals::listen()
        .map_err(|e| Error::failure(format!("cannot handle signals: {e}")))?;
    let counting = tokio::spawn(count_stop_signals(signals, signalled.clone()));
    let served = proxy
        .serve(
            async move {
                let _ = first.wait_for(|n| *n >= 1).await;
            },
            async move {
                let _ = second.wait_for(|n| *n >= 2).await;
            },
        )
        .await;
    counting.abort();
    served
}

/// The path a client will be told: absolute, with `..` and symlinked directories
/// resolved (the file itself may not exist yet), so that two spellings of one file
/// compare equal.
fn absolute(path: &Path) -> Result<PathBuf> {
    let bad = |e: &dyn std::fmt::Display| Error::usage(format!("{}: {e}", path.display()));
    let text = path.as_os_str().to_string_lossy();
    if text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR) {
        return Err(bad(&"names a directory, not a file"));
    }
    let full = std::path::absolute(path).map_err(|e| bad(&e))?;
    let (Some(dir), Some(name)) = (full.parent(), full.file_name()) else {
        return Err(bad(&"names no file"));
    };
    let dir = dir.canonicalize().map_err(|e| bad(&e))?;
    Ok(dir.join(name))
}

/// The endpoint, ready to serve, and what a client needs to use it.
pub(crate) struct Serving {
    pub proxy: proxy::Proxy,
    pub ca: Arc<LocalCa>,
    pub trust: TrustFiles,
    pub endpoint: String,
    pub addr: SocketAddr,
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
    let mut first = source.load()?;
    // The region is settled below, with an error of its own if there is none.
    first
        .warnings
        .retain(|w| !matches!(w, bedkey::keys::Warning::NoRegion));
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

    let holder = Arc::new(proxy::Holder::new(
        source,
        &first,
        keys::min_ttl()?,
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
                "key '{}' has no region, and the proxy must know where Bedrock is",
                key.name
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
    min_ttl: i64,
    shared_ttl: i64,
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
            min_ttl: keys::min_ttl()?,
            shared_ttl: keys::shared_ttl()?,
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
        let loaded = Loader {
            config: &config,
            open: &open,
            minter: &AwsMinter,
            reader: &AwsReader,
            min_ttl: self.min_ttl,
            shared_ttl: self.shared_ttl,
            budget: keys::SHELL_BUDGET,
        }
        .load(&self.name)?;
        let again = loaded.read_again_at(self.min_ttl, self.shared_ttl);
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

/// Two worker threads: the proxy's work is small and the machine may be too.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::failure(format!("cannot start the async runtime: {e}")))
}

/// Count the signals that stop the service: SIGINT, SIGTERM, SIGHUP and SIGQUIT (Ctrl-C
/// elsewhere). SIGUSR1 and SIGUSR2 are caught and ignored: by default they would end
/// bedkey without removing its files.
async fn count_stop_signals(
    mut signals: crate::process::Signals,
    count: Arc<tokio::sync::watch::Sender<u32>>,
) {
    loop {
        if crate::process::asks_to_stop(signals.next().await) {
            count.send_modify(|n| *n += 1);
        }
    }
}

/// `KEY=value` lines, unquoted: docker's `--env-file` takes values literally, so a
/// value a dotenv reader would need quoted is refused instead.
fn dotenv(vars: &[(&'static str, String)]) -> Result<Secret> {
    use bedkey::shell;
    if let Some((name, value)) = vars.iter().find(|(_, v)| !shell::env_file_plain(v)) {
        let hint = if *name == "NODE_EXTRA_CA_CERTS" {
            "choose a --ca-file path without quotes, backslashes, $ or #"
        } else {
            "set TMPDIR or XDG_RUNTIME_DIR to a path without quotes, backslashes, $ or #"
        };
        return Err(Error::usage(format!(
            "{name}={} cannot be written as a dotenv line",
            printable(value)
        ))
        .with_hint(hint));
    }
    // Unquoted, each checked above: written as they are.
    let lines: String = vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    Ok(Secret::from(lines))
}

/// Public, and read by a container that may run as another user: 0644.
fn write_public(path: &Path, bytes: &[u8]) -> Result<()> {
    bedkey::files::write_atomically_with_mode(path, bytes, 0o644)
}
