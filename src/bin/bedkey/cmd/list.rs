//! `bedkey list`: one row a key, from the metadata alone (the store is not opened,
//! so listing never prompts or waits for a keyring).

use serde::Serialize;

use crate::cli::List;
use crate::cmd::{Context, Run};
use crate::output::stdout_line;
use bedkey::config::{KeyMeta, Origin};
use bedkey::error::Result;
use bedkey::time;

#[derive(Serialize)]
pub struct Row {
    pub name: String,
    pub kind: &'static str,
    pub service: &'static str,
    pub origin: Origin,
    pub region: Option<String>,
    pub store: &'static str,
    pub created: String,
    pub expires_at: Option<String>,
    pub status: &'static str,
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    /// A shared key: the secret it is read from, and when it was last read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_at: Option<String>,
    /// The secrets this key is published to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub published_to: Vec<String>,
    /// A Claude Platform key's workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// With a scheduled job: when the job will rotate it (about: its first run once
    /// the key is due), or `by hand` for a key it can only remind of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotates: Option<String>,
}

pub fn row(name: &str, meta: &KeyMeta, now: i64) -> Row {
    Row {
        name: name.to_string(),
        kind: meta.kind.as_str(),
        service: meta.service.name(),
        origin: meta.origin,
        region: meta.region.clone(),
        store: meta.store.as_str(),
        created: time::rfc3339(meta.created),
        expires_at: meta.expires.map(time::rfc3339),
        status: meta.status(now).as_str(),
        key: meta.masked.clone(),
        user: meta.user.clone(),
        credential_id: meta.credential_id.clone(),
        shared_from: meta.shared.as_ref().map(|s| s.secret.clone()),
        read_at: meta.shared.as_ref().map(|s| time::rfc3339(s.read_at)),
        published_to: meta.published.iter().map(|p| p.secret.clone()).collect(),
        workspace_id: meta.workspace.clone(),
        rotates: None,
    }
}

/// A key's rotation by the scheduled job, as `list` shows it: when (an estimate in
/// UTC), `by hand`, `by its publisher`, `too late` (the window is shorter than the
/// time between runs), or `not unattended` (a store the job cannot open).
fn rotates(meta: &KeyMeta, record: &bedkey::schedule::Record, now: i64) -> Option<String> {
    use bedkey::store::Backend;
    let expires = meta.expires?;
    if meta.kind != bedkey::config::KeyKind::LongTerm {
        return None;
    }
    if meta.shared.is_some() {
        return Some("by its publisher".to_string());
    }
    if matches!(meta.store, Backend::File | Backend::Keyutils) && meta.origin == Origin::Iam {
        return Some("not unattended".to_string());
    }
    match bedkey::schedule::rotates_at(meta, record, now) {
        Some(at) if at >= expires => Some("too late".to_string()),
        Some(at) => Some(time::rfc3339(at)),
        None => Some("by hand".to_string()),
    }
}

#[derive(Serialize)]
struct Json {
    keys: Vec<Row>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote: Option<Vec<RemoteRow>>,
    /// Local keys whose IAM credential no longer exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    gone_from_iam: Option<Vec<String>>,
}

#[derive(Serialize)]
struct RemoteRow {
    service: &'static str,
    credential_id: String,
    user: String,
    status: String,
    created: String,
    expires_at: Option<String>,
    /// The local key holding this credential's secret; None: no local secret.
    local_name: Option<String>,
}

/// IAM's view: the API-key credentials (of every service bedkey keeps) of every user bedkey made or manages keys for.
fn remote(ctx: &Context, keys: &bedkey::config::Keys) -> Result<(Vec<RemoteRow>, Vec<String>)> {
    let local: Vec<(&String, &KeyMeta)> = keys
        .keys
        .iter()
        .filter(|(_, m)| m.origin == Origin::Iam)
        .collect();
    let credentials = ctx.block_on(async {
        let iam = ctx.iam().await?;
        let mut users = iam.bedkey_users().await?;
        for (_, m) in &local {
            if let Some(u) = &m.user
                && !users.contains(u)
            {
                users.push(u.clone());
            }
        }
        let mut all = Vec::new();
        for user in users {
            for service in bedkey::service::Service::KEPT {
                match iam.credentials(service, &user).await {
                    Ok(c) => all.extend(c),
                    // A user deleted outside bedkey: its keys are gone too.
                    Err(e) if e.code() == Some("NoSuchEntity") => break,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(all)
    })??;
    let rows = credentials
        .iter()
        .map(|c| RemoteRow {
            service: c.service.name(),
            credential_id: c.id.clone(),
            user: c.user.clone(),
            status: c.status.clone(),
            created: time::rfc3339(c.created),
            expires_at: c.expires.map(time::rfc3339),
            local_name: local
                .iter()
                .find(|(_, m)| m.credential_id.as_deref() == Some(c.id.as_str()))
                .map(|(n, _)| (*n).clone()),
        })
        .collect();
    let gone = local
        .iter()
        .filter(|(_, m)| {
            !credentials
                .iter()
                .any(|c| Some(c.id.as_str()) == m.credential_id.as_deref())
        })
        .map(|(n, _)| (*n).clone())
        .collect();
    Ok((rows, gone))
}

impl Run for List {
    fn run(&self, ctx: &Context) -> Result<()> {
        let config = ctx.config()?;
        let keys = config.load()?;
        let job = bedkey::schedule::read_record(config.dir()).unwrap_or(None);
        if self.names {
            for name in keys.keys.keys() {
                stdout_line(name)?;
            }
            return Ok(());
        }
        let now = time::now();
        let rows: Vec<Row> = keys
            .keys
            .iter()
            .map(|(n, m)| Row {
                rotates: job.as_ref().and_then(|j| rotates(m, j, now)),
                ..row(n, m, now)
            })
            .collect();
        let remote = self.remote.then(|| remote(ctx, &keys)).transpose()?;
        if ctx.out.json() {
            let (remote, gone) = match remote {
                Some((r, g)) => (Some(r), Some(g)),
                None => (None, None),
            };
            return ctx.out.print_json(&Json {
                keys: rows,
                remote,
                gone_from_iam: gone,
            });
        }
        if rows.is_empty() {
            ctx.out
                .note("no keys yet: `bedkey create` or `bedkey import` adds one");
        } else {
            local_table(&rows, &keys, now, job.is_some())?;
        }
        let Some((remote, gone)) = remote else {
            return Ok(());
        };
        remote_table(&remote)?;
        for name in gone {
            ctx.out.warn(format_args!(
                "key '{name}': its IAM credential is gone; `bedkey remove {name}` forgets it"
            ));
        }
        Ok(())
    }
}

/// IAM's credentials for bedkey's users, and the local key that holds each.
fn remote_table(remote: &[RemoteRow]) -> Result<()> {
    stdout_line("")?;
    if remote.is_empty() {
        stdout_line("IAM: no API keys for bedkey's users")?;
    } else {
        let mut cells = vec![
            [
                "IAM CREDENTIAL",
                "SERVICE",
                "USER",
                "STATUS",
                "CREATED",
                "EXPIRES",
                "LOCAL KEY",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for r in remote {
            cells.push(vec![
                r.credential_id.clone(),
                r.service.to_string(),
                r.user.clone(),
                r.status.clone(),
                time::prefix(&r.created, 10).to_string(),
                r.expires_at
                    .as_deref()
                    .map_or("never".into(), |e| time::prefix(e, 10).to_string()),
                r.local_name
                    .clone()
                    .unwrap_or_else(|| "(no local secret)".into()),
            ]);
        }
        crate::output::table(&cells)?;
    }
    Ok(())
}

/// "shared from S (read 5m ago)", "published to S, T", or "-".
fn sharing(meta: &bedkey::config::KeyMeta, now: i64) -> String {
    if let Some(s) = &meta.shared {
        return format!(
            "shared from {} (read {})",
            s.secret,
            time::relative(s.read_at, now)
        );
    }
    if meta.published.is_empty() {
        return "-".to_string();
    }
    let to: Vec<&str> = meta.published.iter().map(|p| p.secret.as_str()).collect();
    format!("published to {}", to.join(", "))
}

fn local_table(rows: &[Row], keys: &bedkey::config::Keys, now: i64, job: bool) -> Result<()> {
    let mut header: Vec<String> = [
        "NAME", "KIND", "SERVICE", "REGION", "EXPIRES", "STATUS", "KEY", "STORE", "SHARING",
    ]
    .map(String::from)
    .to_vec();
    if job {
        header.push("ROTATED BY THE JOB".to_string());
    }
    let mut cells = vec![header];
    for (r, meta) in rows.iter().zip(keys.keys.values()) {
        let expires = match meta.expires {
            Some(at) => format!(
                "{} ({})",
                time::prefix(&time::rfc3339(at), 16),
                time::relative(at, now)
            ),
            // IAM said so for a key bedkey made; of a key brought in, nobody told.
            None if meta.origin == Origin::Iam => "never".to_string(),
            None => "unknown".to_string(),
        };
        let mut line = vec![
            r.name.clone(),
            r.kind.to_string(),
            r.service.to_string(),
            r.region.clone().unwrap_or_else(|| "-".into()),
            expires,
            r.status.to_string(),
            r.key.clone(),
            r.store.to_string(),
            sharing(meta, now),
        ];
        if job {
            line.push(match r.rotates.as_deref() {
                Some("by hand") => "no: renew by hand".to_string(),
                Some("by its publisher") => "no: its publisher does".to_string(),
                Some("not unattended") => "no: its store needs you".to_string(),
                Some("too late") => "no: it expires before the next run".to_string(),
                Some(at) => format!("~{}", time::prefix(at, 10)),
                None => "-".to_string(),
            });
        }
        cells.push(line);
    }
    crate::output::table(&cells)
}
