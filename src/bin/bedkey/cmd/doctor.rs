//! `bedkey doctor`: what bedkey would use and why: credentials, region, each store,
//! and keys that need attention. It reports problems; it does not fail on them.
//! `gather` finds out, `render` shows.

use serde::Serialize;

use bedkey::aws;
use bedkey::config::{Config, Keys};
use bedkey::error::Result;
use bedkey::store::{self, Backend, Choice};
use bedkey::time;
use bedkey::token::mask;

use crate::cmd::{Context, Run};
use crate::output::stdout_line;

pub struct Doctor;

#[derive(Serialize)]
struct Check {
    ok: bool,
    detail: String,
}

impl Check {
    fn from(outcome: Result<String>) -> Check {
        match outcome {
            Ok(detail) => Check { ok: true, detail },
            Err(e) => Check {
                ok: false,
                detail: e.message().to_string(),
            },
        }
    }
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
    service: &'static str,
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
    /// How many keys each service has.
    services: std::collections::BTreeMap<&'static str, usize>,
    credentials: Check,
    region: Check,
    stores: Vec<StoreCheck>,
    /// The store new keys would go to.
    new_keys_go_to: Option<&'static str>,
    attention: Vec<Attention>,
    /// The scheduled rotation job: installed or not, and its last run.
    schedule: Check,
}

impl Run for Doctor {
    fn run(&self, ctx: &Context) -> Result<()> {
        let report = gather(ctx)?;
        if ctx.out.json() {
            return ctx.out.print_json(&report);
        }
        render(ctx, &report)
    }
}

fn gather(ctx: &Context) -> Result<Report> {
    // Not ctx.config(): a config dir bedkey refuses is a finding here, not a failure.
    let config = Config::new(ctx.global.config_dir.as_deref())?;
    let config_trust = Check::from(config.check_ownership().map(|w| {
        if w.is_empty() {
            privacy(config.dir())
        } else {
            w.join("; ")
        }
    }));
    let (credentials, region) = ctx.block_on(aws_checks(ctx))?;
    let stores = store_checks(ctx, &config);
    let new_keys_go_to = new_keys_go_to(ctx.global.store.into(), &stores);
    let keys = if config_trust.ok {
        config.load()?
    } else {
        Keys::default()
    };
    Ok(Report {
        version: env!("CARGO_PKG_VERSION"),
        config_dir: config.dir().display().to_string(),
        config_trust,
        keys: keys.keys.len(),
        services: keys.keys.values().fold(Default::default(), |mut n, m| {
            *n.entry(m.service.name()).or_default() += 1;
            n
        }),
        credentials,
        region,
        stores,
        new_keys_go_to,
        attention: attention(&keys),
        schedule: scheduled(&config, &keys),
    })
}

/// Whether the scheduled job is installed, and how its last run went; a job that
/// cannot open the file store unattended is a finding.
fn scheduled(config: &Config, keys: &Keys) -> Check {
    let record = bedkey::schedule::read_record(config.dir());
    let state = bedkey::schedule::read_state(config.dir());
    let (record, state) = match (record, state) {
        (Ok(r), Ok(s)) => (r, s),
        (Err(e), _) | (_, Err(e)) => return Check::from(Err(e)),
    };
    let Some(r) = record else {
        return Check {
            ok: true,
            detail: "no job (`bedkey schedule install` rotates keys before they expire)"
                .to_string(),
        };
    };
    let last = match &state {
        None => "no run yet".to_string(),
        Some(s) => format!("last run {} ({})", s.ran_at, s.outcome),
    };
    let filed = keys.keys.values().any(|m| m.store == Backend::File);
    let mut notes = Vec::new();
    if !r.enabled {
        notes.push("not enabled: its files are written, the service manager did not take it (`bedkey schedule status`)");
    }
    if filed {
        notes.push("it cannot open the file store unattended");
    }
    Check {
        ok: state.as_ref().is_none_or(|s| s.outcome == "ok") && notes.is_empty(),
        detail: format!(
            "{} every {}, {last}{}",
            r.scheduler.title(),
            r.every,
            notes.iter().map(|n| format!("; {n}")).collect::<String>()
        ),
    }
}

/// "private to you", or who else may read the config dir: it holds no secret, but
/// names every key, its IAM user and where it is kept.
fn privacy(dir: &std::path::Path) -> String {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(dir) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return format!(
                "yours, but others may read it (mode {mode:o}); `chmod 700 {}` keeps it private",
                dir.display()
            );
        }
    }
    let _ = dir;
    "private to you".to_string()
}

async fn aws_checks(ctx: &Context) -> (Check, Check) {
    let g = &ctx.global;
    let credentials = aws::credentials(g.profile.as_deref()).await.map(|r| {
        let expiry = match r.expires_at() {
            Some(at) => format!(", expire {}", time::relative(at, time::now())),
            None => ", long-lived".to_string(),
        };
        format!(
            "{} from {}{expiry}",
            mask(r.credentials.access_key_id()),
            r.source
        )
    });
    let region = bedkey::region::resolve(g.region.as_deref(), g.profile.as_deref())
        .await
        .map(|(r, from)| format!("{r} from {from}"));
    (Check::from(credentials), Check::from(region))
}

fn store_checks(ctx: &Context, config: &Config) -> Vec<StoreCheck> {
    let access = ctx.access();
    Backend::here()
        .into_iter()
        .map(|b| {
            let p = store::probe(b, config.dir(), &access);
            StoreCheck {
                store: b.as_str(),
                usable: p.usable,
                reason: p.reason,
            }
        })
        .collect()
}

fn new_keys_go_to(choice: Choice, stores: &[StoreCheck]) -> Option<&'static str> {
    let usable = |name: &str| stores.iter().any(|s| s.store == name && s.usable);
    match choice {
        Choice::Keyring => usable("keyring").then_some("keyring"),
        Choice::Keyutils => usable("keyutils").then_some("keyutils"),
        Choice::File => usable("file").then_some("file"),
        Choice::Auto => ["keyring", "keyutils"].into_iter().find(|s| usable(s)),
    }
}

fn attention(keys: &Keys) -> Vec<Attention> {
    let now = time::now();
    keys.keys
        .iter()
        .filter_map(|(name, meta)| {
            let status = meta.status(now);
            let no_workspace = meta.service == bedkey::service::Service::ClaudePlatform
                && meta.workspace.is_none();
            (status.needs_attention() || no_workspace).then(|| Attention {
                name: name.clone(),
                service: meta.service.name(),
                status: if status.needs_attention() {
                    status.as_str()
                } else {
                    "has no workspace (bedkey set NAME --workspace-id ID)"
                },
                expires_at: meta.expires.map(time::rfc3339),
            })
        })
        .collect()
}

fn render(ctx: &Context, report: &Report) -> Result<()> {
    let mark = |ok: bool| {
        if ok {
            ctx.out.paint("ok", "32")
        } else {
            ctx.out.paint("--", "31")
        }
    };
    let check = |label: &str, c: &Check| format!("{label:<12} {} {}", mark(c.ok), c.detail);
    stdout_line(&format!("bedkey {}", report.version))?;
    let services: Vec<String> = report
        .services
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    stdout_line(&format!(
        "config       {} ({} key{}{})",
        report.config_dir,
        report.keys,
        if report.keys == 1 { "" } else { "s" },
        // Only Bedrock's: no need to say so.
        if report.services.keys().all(|s| *s == "bedrock") {
            String::new()
        } else {
            format!(": {}", services.join(", "))
        }
    ))?;
    stdout_line(&check("config trust", &report.config_trust))?;
    stdout_line(&check("credentials", &report.credentials))?;
    stdout_line(&check("region", &report.region))?;
    for s in &report.stores {
        stdout_line(&format!(
            "store        {} {:<8} {}",
            mark(s.usable),
            s.store,
            s.reason
        ))?;
    }
    // Where the choice came from: the flag, BEDKEY_STORE, or neither.
    let value = format!("{:?}", ctx.global.store).to_lowercase();
    let choice = if crate::cli::given("--store") {
        format!("--store {value}")
    } else if bedkey::settings::store_from_env() {
        format!("BEDKEY_STORE={value}")
    } else {
        format!("the default, {value}")
    };
    match report.new_keys_go_to {
        Some(s) => stdout_line(&format!("new keys     go to {s} ({choice})"))?,
        None => stdout_line(&format!(
            "new keys     {} no usable store for {choice}",
            mark(false)
        ))?,
    }
    stdout_line(&check("schedule", &report.schedule))?;
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
