//! `bedkey list`: one row a key, from the metadata alone (the store is not opened,
//! so listing never prompts or waits for a keyring).

use serde::Serialize;

use crate::cli::List;
use crate::cmd::{Context, Run};
use crate::config::{KeyKind, KeyMeta, Origin};
use crate::error::Result;
use crate::keys::WARN_BEFORE;
use crate::output::stdout_line;
use crate::time;

#[derive(Serialize)]
pub struct Row {
    pub name: String,
    pub kind: &'static str,
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
}

pub fn status(meta: &KeyMeta, now: i64) -> &'static str {
    let expired = meta.expires.is_some_and(|at| at <= now);
    match (meta.origin, meta.kind) {
        (Origin::Minted, _) if expired => "stale (refreshes on use)",
        (Origin::Minted, _) => "fresh",
        _ if expired => "expired",
        (_, KeyKind::LongTerm) if meta.expires.is_some_and(|at| at - now < WARN_BEFORE) => {
            "expires soon"
        }
        _ => "ok",
    }
}

pub fn row(name: &str, meta: &KeyMeta, now: i64) -> Row {
    Row {
        name: name.to_string(),
        kind: meta.kind.as_str(),
        origin: meta.origin,
        region: meta.region.clone(),
        store: meta.store.as_str(),
        created: time::rfc3339(meta.created),
        expires_at: meta.expires.map(time::rfc3339),
        status: status(meta, now),
        key: meta.masked.clone(),
        user: meta.user.clone(),
        credential_id: meta.credential_id.clone(),
    }
}

#[derive(Serialize)]
struct Json {
    keys: Vec<Row>,
}

/// Print rows as aligned columns.
pub fn table(rows: &[Vec<String>]) -> Result<()> {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}", w = *w))
            .collect();
        stdout_line(line.join("  ").trim_end())?;
    }
    Ok(())
}

impl Run for List {
    fn run(&self, ctx: &Context) -> Result<()> {
        let keys = ctx.config()?.load()?;
        let now = time::now();
        let rows: Vec<Row> = keys.keys.iter().map(|(n, m)| row(n, m, now)).collect();
        if ctx.out.json() {
            return ctx.out.print_json(&Json { keys: rows });
        }
        if rows.is_empty() {
            ctx.out
                .note("no keys yet: `bedkey create` or `bedkey import` adds one");
            return Ok(());
        }
        let mut cells = vec![
            [
                "NAME", "KIND", "REGION", "EXPIRES", "STATUS", "KEY", "STORE",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for (r, meta) in rows.iter().zip(keys.keys.values()) {
            let expires = match meta.expires {
                Some(at) => format!("{} ({})", &time::rfc3339(at)[..16], time::relative(at, now)),
                None => "never".to_string(),
            };
            cells.push(vec![
                r.name.clone(),
                r.kind.to_string(),
                r.region.clone().unwrap_or_else(|| "-".into()),
                expires,
                r.status.to_string(),
                r.key.clone(),
                r.store.to_string(),
            ]);
        }
        table(&cells)
    }
}
