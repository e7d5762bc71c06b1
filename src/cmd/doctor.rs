//! `bedkey doctor`: what bedkey would use and why: credentials, region, each store,
//! and keys that need attention. It reports problems; it does not fail on them.

use serde::Serialize;

use crate::aws;
use crate::cmd::list::status;
use crate::cmd::{Context, Run};
use crate::error::Result;
use crate::output::stdout_line;
use crate::secret::mask;
use crate::store::{self, Backend, Choice};
use crate::time;

pub struct Doctor;

#[derive(Serialize)]
struct Check {
    ok: bool,
    detail: String,
}

#[derive(Serialize)]
struct StoreCheck {
    store: &'static str,
    usable: bool,
    reason: String,
}

#[derive(Serialize)]
struct Attention {
    name: String,
    status: &'static str,
    expires_at: Option<String>,
}

#[derive(Serialize)]
struct Report {
    version: &'static str,
    config_dir: String,
    /// Whether the config dir and key list are yours alone.
    config_trust: Check,
    keys: usize,
    credentials: Check,
    region: Check,
    stores: Vec<StoreCheck>,
    /// The store new keys would go to.
    new_keys_go_to: Option<&'static str>,
    attention: Vec<Attention>,
}

impl Run for Doctor {
    fn run(&self, ctx: &Context) -> Result<()> {
        // Not ctx.config(): a config dir bedkey refuses is a finding here, not a failure.
        let config = crate::config::Config::new(ctx.global.config_dir.as_deref())?;
        let trust = match config.check_ownership() {
            Ok(w) if w.is_empty() => Check {
                ok: true,
                detail: "private to you".to_string(),
            },
            Ok(w) => Check {
                ok: true,
                detail: w.join("; "),
            },
            Err(e) => Check {
                ok: false,
                detail: e.message().to_string(),
            },
        };
        let g = &ctx.global;
        let (credentials, region) = ctx.block_on(async {
            let creds = match aws::credentials(g.profile.as_deref()).await {
                Ok(r) => Check {
                    ok: true,
                    detail: format!(
                        "{} from {}{}",
                        mask(r.credentials.access_key_id()),
                        r.source,
                        match r.expires_at() {
                            Some(at) => format!(", expire {}", time::relative(at, time::now())),
                            None => ", long-lived".to_string(),
                        }
                    ),
                },
                Err(e) => Check {
                    ok: false,
                    detail: e.message().to_string(),
                },
            };
            let region = match aws::region(g.region.as_deref(), g.profile.as_deref()).await {
                Ok((r, from)) => Check {
                    ok: true,
                    detail: format!("{r} from {from}"),
                },
                Err(e) => Check {
                    ok: false,
                    detail: e.message().to_string(),
                },
            };
            (creds, region)
        })?;

        let mut backends = vec![Backend::Keyring];
        if cfg!(target_os = "linux") {
            backends.push(Backend::Keyutils);
        }
        backends.push(Backend::File);
        let stores: Vec<StoreCheck> = backends
            .into_iter()
            .map(|b| {
                let p = store::probe(b, config.dir());
                StoreCheck {
                    store: b.as_str(),
                    usable: p.usable,
                    reason: p.reason,
                }
            })
            .collect();
        let usable = |name: &str| stores.iter().any(|s| s.store == name && s.usable);
        let new_keys_go_to = match g.store {
            Choice::Keyring => usable("keyring").then_some("keyring"),
            Choice::Keyutils => usable("keyutils").then_some("keyutils"),
            Choice::File => usable("file").then_some("file"),
            Choice::Auto => ["keyring", "keyutils"].into_iter().find(|s| usable(s)),
        };

        let keys = if trust.ok {
            config.load()?
        } else {
            crate::config::Keys::default()
        };
        let now = time::now();
        let attention: Vec<Attention> = keys
            .keys
            .iter()
            .filter_map(|(name, meta)| {
                let s = status(meta, now);
                matches!(s, "expired" | "expires soon").then(|| Attention {
                    name: name.clone(),
                    status: s,
                    expires_at: meta.expires.map(time::rfc3339),
                })
            })
            .collect();

        let report = Report {
            version: env!("CARGO_PKG_VERSION"),
            config_dir: config.dir().display().to_string(),
            config_trust: trust,
            keys: keys.keys.len(),
            credentials,
            region,
            stores,
            new_keys_go_to,
            attention,
        };
        if ctx.out.json() {
            return ctx.out.print_json(&report);
        }
        let mark = |ok: bool| {
            if ok {
                ctx.out.paint("ok", "32")
            } else {
                ctx.out.paint("--", "31")
            }
        };
        stdout_line(&format!("bedkey {}", report.version))?;
        stdout_line(&format!(
            "config       {} ({} keys)",
            report.config_dir, report.keys
        ))?;
        stdout_line(&format!(
            "config trust {} {}",
            mark(report.config_trust.ok),
            report.config_trust.detail
        ))?;
        stdout_line(&format!(
            "credentials  {} {}",
            mark(report.credentials.ok),
            report.credentials.detail
        ))?;
        stdout_line(&format!(
            "region       {} {}",
            mark(report.region.ok),
            report.region.detail
        ))?;
        for s in &report.stores {
            stdout_line(&format!(
                "store        {} {:<8} {}",
                mark(s.usable),
                s.store,
                s.reason
            ))?;
        }
        let choice = format!("{:?}", g.store).to_lowercase();
        match report.new_keys_go_to {
            Some(s) => stdout_line(&format!("new keys     go to {s} (--store {choice})"))?,
            None => stdout_line(&format!(
                "new keys     {} no usable store for --store {choice}",
                mark(false)
            ))?,
        }
        for a in &report.attention {
            stdout_line(&format!(
                "attention    key '{}' {} ({})",
                a.name,
                a.status,
                a.expires_at.as_deref().unwrap_or("-")
            ))?;
        }
        Ok(())
    }
}
