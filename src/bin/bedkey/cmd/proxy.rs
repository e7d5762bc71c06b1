//! `bedkey proxy [NAME]`: a local HTTPS endpoint that holds a key, keeps it fresh and
//! puts it on each request it sends on to Bedrock, for programs started elsewhere (a
//! container, a service manager). `exec --proxy` uses the same pieces with a child.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bedkey::error::{Error, Result};
use bedkey::proxy;
use bedkey::secret::{ExposeSecret, Secret};

use crate::cli::Proxy;
use crate::cmd::{Context, Run};
use crate::output::printable;
use crate::serve::{Serving, prepare, runtime};

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
        let dotenv = publish(
            ctx,
            name,
            &serving,
            &self.clients,
            (env_file.as_deref(), ca_file.as_deref()),
        )?;
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
    clients: &crate::cli::ClientFlags,
    (env_file, ca_file): (Option<&Path>, Option<&Path>),
) -> Result<Secret> {
    let node_ca = ca_file.map_or_else(|| serving.trust.ca.clone(), Path::to_path_buf);
    let vars = serving.vars(&node_ca, clients)?;
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
