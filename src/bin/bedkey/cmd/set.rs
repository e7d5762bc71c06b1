//! `bedkey set NAME [--region R] [--expires-at DATE | --days N] [--workspace-id ID]`:
//! change what bedkey records about a stored key, never its secret: a region for a
//! key imported without one, an expiry the console showed, a Claude Platform key's
//! workspace. A short-term key carries its region and expiry itself.

use serde::Serialize;

use bedkey::config::{KeyKind, check_name};
use bedkey::error::{Error, Result};
use bedkey::policy;
use bedkey::service::Service;
use bedkey::time;

use crate::cli::Set;
use crate::cmd::{Context, Run};

#[derive(Serialize)]
struct Json<'a> {
    name: &'a str,
    region: Option<&'a str>,
    expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    workspace_id: Option<&'a str>,
}

impl Run for Set {
    fn run(&self, ctx: &Context) -> Result<()> {
        check_name(&self.name)?;
        let region = ctx
            .global
            .region
            .as_deref()
            .map(bedkey::region::checked)
            .transpose()?;
        let expires = match (&self.expires_at, self.days) {
            (Some(at), _) => Some(time::parse_instant(at)?),
            (None, Some(days)) => Some(time::now() + policy::check_days(days)? * 86_400),
            (None, None) => None,
        };
        let workspace = self
            .workspace_id
            .as_deref()
            .map(bedkey::service::workspace_id)
            .transpose()?;
        if region.is_none() && expires.is_none() && workspace.is_none() {
            return Err(Error::usage("nothing to set")
                .with_hint("give --region, --expires-at, --days or --workspace-id"));
        }
        let config = ctx.config()?;
        let meta = config.update(|keys| {
            let meta = keys
                .keys
                .get_mut(&self.name)
                .ok_or_else(|| Error::no_such_key(&self.name))?;
            if workspace.is_some() && meta.service != Service::ClaudePlatform {
                return Err(Error::usage(format!(
                    "key '{}' is a {} key: only Claude Platform keys have a workspace",
                    self.name,
                    meta.service.title()
                )));
            }
            if meta.kind == KeyKind::ShortTerm && (region.is_some() || expires.is_some()) {
                return Err(Error::usage(format!(
                    "key '{}' is short-term: its region and expiry are the key's own",
                    self.name
                )));
            }
            if let Some(r) = &region {
                meta.region = Some(r.clone());
            }
            if let Some(at) = expires {
                meta.expires = Some(at);
            }
            if let Some(w) = &workspace {
                meta.workspace = Some(w.clone());
            }
            Ok(meta.clone())
        })?;
        if ctx.out.json() {
            return ctx.out.print_json(&Json {
                name: &self.name,
                region: meta.region.as_deref(),
                expires_at: meta.expires.map(time::rfc3339),
                workspace_id: meta.workspace.as_deref(),
            });
        }
        let workspace = match &meta.workspace {
            Some(w) => format!(", workspace {w}"),
            None => String::new(),
        };
        ctx.out.note(format_args!(
            "key '{}': region {}, expires {}{workspace}",
            self.name,
            meta.region.as_deref().unwrap_or("-"),
            meta.expires.map_or("unknown".to_string(), time::rfc3339)
        ));
        Ok(())
    }
}
