//! `bedkey import`: store a key made elsewhere. The key comes from stdin or a hidden
//! prompt, never from an argument, where shell history and `ps` would see it.

use serde::Serialize;

use bedkey::config::KeyMeta;
use bedkey::error::{Error, Result};
use bedkey::keys;
use bedkey::policy;
use bedkey::service::Service;
use bedkey::time;

use crate::cli::Import;
use crate::cmd::{Context, Run};
use crate::prompt;

#[derive(Serialize)]
struct Json<'a> {
    name: &'a str,
    kind: &'static str,
    service: &'static str,
    store: &'static str,
    key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'a str>,
    expires_at: Option<String>,
}

/// Whether the SDKs the key is loaded into would find a region of their own here:
/// in the environment or the AWS profile.
fn region_in_effect(ctx: &Context) -> bool {
    ctx.block_on(bedkey::region::resolve(None, ctx.global.profile.as_deref()))
        .is_ok_and(|r| r.is_ok())
}

impl Import {
    /// Refuse a key given as the name and check the expiry flags, before reading the
    /// key. Returns the expiry they give.
    fn check_flags(&self) -> Result<Option<i64>> {
        if self.name.len() > 20 && bedkey::service::Service::of_key(&self.name).is_some() {
            return Err(Error::usage(
                "that looks like a key: bedkey never takes a key from the command line",
            )
            .with_hint("give a name, then paste the key at the prompt or pipe it: `pbpaste | bedkey import NAME`"));
        }
        let expires = match (&self.expires_at, self.days) {
            (Some(at), _) => Some(time::parse_instant(at)?),
            (None, Some(days)) => Some(time::now() + policy::check_days(days)? * 86_400),
            (None, None) => None,
        };
        if let Some(id) = &self.workspace_id {
            bedkey::service::workspace_id(id)?;
            if self
                .service
                .is_some_and(|s| Service::from(s) != Service::ClaudePlatform)
            {
                return Err(Error::usage(
                    "--workspace-id: only Claude Platform keys have a workspace",
                ));
            }
        }
        Ok(expires)
    }

    /// The key's service is its prefix's: a `--service` that says otherwise, or a
    /// workspace for a Bedrock key, is refused before anything is stored.
    fn check_service(&self, key: &bedkey::secret::Secret) -> Result<Service> {
        use bedkey::secret::ExposeSecret;
        let service =
            Service::of_key(key.expose_secret().trim()).map_or(Service::Bedrock, |(s, ..)| s);
        if let Some(flag) = self.service.map(Service::from)
            && flag != service
        {
            return Err(Error::usage(format!(
                "--service {}: the key is a {} key",
                flag.name(),
                service.title()
            )));
        }
        if self.workspace_id.is_some() && service != Service::ClaudePlatform {
            return Err(Error::usage(format!(
                "--workspace-id: the key is a {} key, and only Claude Platform keys have a workspace",
                service.title()
            )));
        }
        Ok(service)
    }

    fn report(&self, ctx: &Context, meta: &KeyMeta) -> Result<()> {
        if meta.region.is_none() && !region_in_effect(ctx) {
            ctx.out.warn(format_args!(
                "key '{}' has no region, and none is set here: boto3, the AWS CLI and the SDKs will need AWS_REGION (or `bedkey set {} --region REGION`)",
                self.name, self.name
            ));
        }
        if ctx.out.json() {
            return ctx.out.print_json(&Json {
                name: &self.name,
                kind: meta.kind.as_str(),
                service: meta.service.name(),
                store: meta.store.as_str(),
                key: &meta.masked,
                region: meta.region.as_deref(),
                expires_at: meta.expires.map(time::rfc3339),
            });
        }
        let expiry = match meta.expires {
            Some(at) => format!(
                "; it expires {} ({})",
                time::relative(at, time::now()),
                time::rfc3339(at)
            ),
            None => String::new(),
        };
        if meta.service == Service::ClaudePlatform && meta.workspace.is_none() {
            ctx.out.warn(format_args!(
                "Claude Platform key '{}' has no workspace: Anthropic's SDK needs one (`bedkey set {} --workspace-id ID`)",
                self.name, self.name
            ));
        }
        let service = match meta.service {
            Service::Bedrock => String::new(),
            other => format!(" {}", other.title()),
        };
        ctx.out.note(format_args!(
            "stored {}{service} key '{}' ({}) in the {} store{expiry}",
            meta.kind.as_str(),
            self.name,
            meta.masked,
            meta.store.as_str(),
        ));
        Ok(())
    }
}

impl Run for Import {
    fn run(&self, ctx: &Context) -> Result<()> {
        let expires = self.check_flags()?;
        let config = ctx.config()?;
        keys::ensure_free(&config, &self.name)?;
        let region = ctx
            .global
            .region
            .as_deref()
            .map(bedkey::region::checked)
            .transpose()?;
        let key = prompt::read_secret("Paste the API key (input is hidden): ")?;
        let found = keys::classify(&key, expires, region)?;
        self.check_service(&key)?;
        let backend = ctx.new_key_store(&config)?;
        backend.ready()?;
        let meta = KeyMeta {
            workspace: self.workspace_id.clone(),
            ..KeyMeta::imported(
                found.kind,
                backend.backend(),
                &key,
                found.expires,
                found.region,
            )
        };
        keys::add(&config, backend.as_ref(), &self.name, &key, meta.clone())?;
        ctx.warn_if_volatile(meta.store);
        self.report(ctx, &meta)
    }
}
