//! `bedkey create`: a long-term key through IAM (user, policy, credential, store),
//! or with `--short-term` a recipe that mints short-term keys and refreshes them.

use serde::Serialize;
use serde_json::Value;

use bedkey::config::{KeyMeta, policy_name};
use bedkey::error::{Error, Result};
use bedkey::keys;
use bedkey::lifecycle::create::{CustomPolicy, Plan};
use bedkey::policy::{self, Scope};
use bedkey::service::Service;
use bedkey::time;
use bedkey::token;

use crate::cli::Create;
use crate::cmd::{Context, Run};
use crate::output::stdout_line;

impl Run for Create {
    fn run(&self, ctx: &Context) -> Result<()> {
        if self.short_term {
            self.short_term(ctx)
        } else {
            self.long_term(ctx)
        }
    }
}

#[derive(Serialize)]
struct CreatedJson<'a> {
    name: &'a str,
    kind: &'static str,
    service: &'static str,
    store: &'static str,
    key: &'a str,
    user: &'a str,
    credential_id: &'a str,
    created: String,
    expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'a str>,
}

#[derive(Serialize)]
struct DryRunJson<'a> {
    dry_run: bool,
    name: &'a str,
    user: &'a str,
    calls: Vec<String>,
    policy: Option<Value>,
}

impl Create {
    /// `--policy-file`, read and checked as IAM would, with its policy's name.
    fn custom_policy(&self) -> Result<Option<CustomPolicy>> {
        let Some(file) = &self.policy_file else {
            return Ok(None);
        };
        let shown = file.display().to_string();
        let text = policy::read_file(file, &shown)?;
        let document = policy::check_document(&text, &shown)?;
        let name = self
            .policy_name
            .clone()
            .unwrap_or_else(|| policy_name(&self.name));
        policy::check_policy_name(&name)?;
        Ok(Some(CustomPolicy { name, document }))
    }

    /// The service, with the flags that belong to another refused.
    fn service(&self) -> Result<Service> {
        let service = self.service.map_or(Service::Bedrock, Service::from);
        if service != Service::Bedrock {
            let bedrock_only = [
                (!self.allow_models.is_empty(), "--allow-model"),
                (!self.allow_mantle_models.is_empty(), "--allow-mantle-model"),
                (!self.source_ips.is_empty(), "--source-ip"),
            ];
            if let Some((_, flag)) = bedrock_only.iter().find(|(given, _)| *given) {
                return Err(Error::usage(format!(
                    "{flag} scopes a Bedrock key's policy; it cannot be used with --service {}",
                    service.name()
                ))
                .with_hint("give the key's rights with --policy ARN or --policy-file FILE"));
            }
        }
        if let Some(id) = &self.workspace_id {
            bedkey::service::workspace_id(id)?;
            if service != Service::ClaudePlatform {
                return Err(Error::usage(
                    "--workspace-id: only Claude Platform keys have a workspace (add --service claude-platform)",
                ));
            }
        }
        Ok(service)
    }

    fn plan(&self, ctx: &Context) -> Result<Plan> {
        let service = self.service()?;
        let user = self
            .user
            .clone()
            .unwrap_or_else(|| format!("bedkey-{}", self.name));
        policy::check_user(&user)?;
        let days = if self.no_expiry {
            None
        } else {
            Some(policy::check_days(self.days.unwrap_or(30))?)
        };
        for arn in &self.policies {
            policy::check_policy_arn(arn)?;
        }
        let scoped = !self.allow_models.is_empty() || !self.allow_mantle_models.is_empty();
        let scope = scoped.then(|| Scope {
            models: self.allow_models.clone(),
            mantle_models: self.allow_mantle_models.clone(),
            source_ips: self.source_ips.clone(),
        });
        if let Some(s) = &scope {
            s.check()?;
        }
        let custom = self.custom_policy()?;
        let tags = policy::parse_tags(&self.tags)?;
        let managed = if self.policies.is_empty() && custom.is_none() {
            vec![service.default_policy_arn()]
        } else {
            self.policies.clone()
        };
        // A long-term key works in every region; one is recorded (and exported) only
        // when the user has one.
        let g = &ctx.global;
        let region = match &g.region {
            Some(r) => Some(bedkey::region::checked(r)?),
            None => ctx
                .block_on(bedkey::region::resolve(None, g.profile.as_deref()))?
                .ok()
                .map(|(r, _)| r),
        };
        let plan = Plan {
            name: self.name.clone(),
            service,
            user,
            days,
            managed,
            scope,
            region,
            custom,
            tags,
        };
        plan.check()?;
        Ok(plan)
    }

    fn long_term(&self, ctx: &Context) -> Result<()> {
        let config = ctx.config()?;
        keys::ensure_free(&config, &self.name)?;
        let plan = self.plan(ctx)?;
        if self.dry_run {
            return self.print_plan(ctx, &plan);
        }
        // A key with nowhere to go is not worth making: the store must be ready to take
        // it (passphrase asked, keyring unlocked) before IAM makes anything.
        let backend = ctx.new_key_store(&config)?;
        backend.ready()?;
        // One IAM change at a time for this config: a second `create` of the name
        // waits, then finds it taken before any call.
        let _iam = config.iam_lock()?;
        keys::ensure_free(&config, &self.name)?;
        // From here until the key is stored or handed over, signals wait.
        let _held = crate::process::hold_signals();
        let created = ctx.block_on(async {
            let iam = ctx.iam().await?;
            bedkey::lifecycle::create::make(&iam, &plan, &|n| ctx.tell(n)).await
        })??;

        let meta = KeyMeta {
            workspace: self.workspace_id.clone(),
            ..KeyMeta::iam(
                backend.backend(),
                &created.secret,
                &created.remote,
                plan.region.clone(),
                plan.scope.clone(),
            )
        };
        if let Err(e) = keys::add(
            &config,
            backend.as_ref(),
            &self.name,
            &created.secret,
            meta.clone(),
        ) {
            return Err(reveal(ctx, &self.name, &created, &meta, e));
        }
        ctx.warn_if_volatile(meta.store);
        if ctx.out.json() {
            return ctx.out.print_json(&CreatedJson {
                name: &self.name,
                kind: "long-term",
                service: meta.service.name(),
                store: meta.store.as_str(),
                key: &meta.masked,
                user: &created.remote.user,
                credential_id: &created.remote.id,
                created: time::rfc3339(created.remote.created),
                expires_at: created.remote.expires.map(time::rfc3339),
                region: meta.region.as_deref(),
            });
        }
        let expiry = match created.remote.expires {
            Some(at) => format!(
                "expires {} ({})",
                time::relative(at, time::now()),
                time::rfc3339(at)
            ),
            None => "never expires".to_string(),
        };
        self.warn_without_workspace(ctx, &meta);
        ctx.out.note(format_args!(
            "created long-term {}key '{}' ({}) for IAM user {}; it {expiry}; stored in the {} store",
            service_words(&meta),
            self.name,
            meta.masked,
            created.remote.user,
            meta.store.as_str()
        ));
        Ok(())
    }

    /// `--dry-run`: the plan's own steps in words, and the policy. Read-only: the
    /// account fills a scoped policy's inference-profile ARNs.
    fn print_plan(&self, ctx: &Context, plan: &Plan) -> Result<()> {
        let account = match &plan.scope {
            Some(_) => match ctx.block_on(async { ctx.iam().await?.account().await })? {
                Ok(a) => a,
                Err(e) => {
                    ctx.out
                        .note(format_args!("account shown as '*': {}", e.message()));
                    "*".to_string()
                }
            },
            None => String::new(),
        };
        let calls = plan.calls();
        let policy = plan.shown_policy(&account)?;
        if ctx.out.json() {
            return ctx.out.print_json(&DryRunJson {
                dry_run: true,
                name: &self.name,
                user: &plan.user,
                calls,
                policy: policy.map(|(_, doc)| doc),
            });
        }
        stdout_line(&format!(
            "bedkey create {} would (nothing is changed by --dry-run):",
            self.name
        ))?;
        for (i, call) in calls.iter().enumerate() {
            stdout_line(&format!("  {}. {}", i + 1, crate::output::printable(call)))?;
        }
        if let Some((name, doc)) = policy {
            stdout_line(&format!("policy {name}:"))?;
            stdout_line(&serde_json::to_string_pretty(&doc).unwrap_or_default())?;
        }
        Ok(())
    }

    fn warn_without_workspace(&self, ctx: &Context, meta: &KeyMeta) {
        if meta.service != Service::ClaudePlatform {
            return;
        }
        if meta.workspace.is_none() {
            ctx.out.warn(format_args!(
                "Claude Platform key '{}' has no workspace: Anthropic's SDK needs one (`bedkey set {} --workspace-id ID`)",
                self.name, self.name
            ));
        }
        if meta.region.is_none() {
            ctx.out.warn(format_args!(
                "Claude Platform key '{}' has no region: Anthropic's SDK finds the platform by AWS_REGION (`bedkey set {} --region REGION`)",
                self.name, self.name
            ));
        }
    }

    fn short_term(&self, ctx: &Context) -> Result<()> {
        let service = self.service()?;
        let config = ctx.config()?;
        keys::ensure_free(&config, &self.name)?;
        let wanted = token::lifetime(self.expires.as_deref().unwrap_or("12h"))?;
        let backend = ctx.new_key_store(&config)?;
        backend.ready()?;
        let g = &ctx.global;
        let minted = ctx.block_on(bedkey::aws::mint(
            service,
            g.profile.as_deref(),
            g.region.as_deref(),
            wanted,
        ))??;
        ctx.out.detail(&minted.source);
        let meta = KeyMeta {
            workspace: self.workspace_id.clone(),
            ..KeyMeta::minted(
                backend.backend(),
                &minted,
                g.profile.clone(),
                wanted.as_secs(),
            )
        };
        keys::add(
            &config,
            backend.as_ref(),
            &self.name,
            &minted.key,
            meta.clone(),
        )?;
        ctx.warn_if_volatile(meta.store);
        if ctx.out.json() {
            return ctx.out.print_json(&ShortJson {
                name: &self.name,
                kind: "short-term",
                service: meta.service.name(),
                store: meta.store.as_str(),
                key: &meta.masked,
                region: &minted.region,
                expires_at: time::rfc3339(minted.expires_at),
                lifetime_seconds: wanted.as_secs(),
            });
        }
        self.warn_without_workspace(ctx, &meta);
        ctx.out.note(format_args!(
            "created short-term {}key '{}' for {} in the {} store; `bedkey env {}` loads it and mints a new one when less than {} remains",
            service_words(&meta),
            self.name,
            minted.region,
            meta.store.as_str(),
            self.name,
            time::human(keys::refresh_margin(bedkey::settings::min_ttl()?, Some(wanted.as_secs()), None)),
        ));
        Ok(())
    }
}

#[derive(Serialize)]
struct ShortJson<'a> {
    name: &'a str,
    kind: &'static str,
    service: &'static str,
    store: &'static str,
    key: &'a str,
    region: &'a str,
    expires_at: String,
    lifetime_seconds: u64,
}

/// Storing failed after IAM made the key: hand it over, and fail with the import
/// command that stores it later, as it must be typed.
fn reveal(
    ctx: &Context,
    name: &str,
    created: &bedkey::iam::Created,
    meta: &KeyMeta,
    err: Error,
) -> Error {
    let region = meta.region.as_deref();
    let details = serde_json::json!({
        "name": name,
        "kind": "long-term",
        "service": meta.service.name(),
        "workspace_id": meta.workspace,
        "user": created.remote.user,
        "credential_id": created.remote.id,
        "created": time::rfc3339(created.remote.created),
        "expires_at": created.remote.expires.map(time::rfc3339),
        "region": region,
    });
    ctx.out
        .hand_over(&created.secret, "IAM made the key", details);
    let mut import = format!("bedkey import {name}");
    if let Some(at) = created.remote.expires {
        import.push_str(&format!(" --expires-at {}", time::rfc3339(at)));
    }
    if let Some(r) = region {
        import.push_str(&format!(" --region {r}"));
    }
    if let Some(w) = &meta.workspace {
        import.push_str(&format!(" --workspace-id {w}"));
    }
    err.context(format!("storing new key '{name}'"))
        .with_hint(format!(
            "the key printed works; store it later with `{import}` (paste it)"
        ))
}

/// "Claude Platform on AWS " for a key of that service; nothing for Bedrock's.
fn service_words(meta: &KeyMeta) -> String {
    match meta.service {
        Service::Bedrock => String::new(),
        other => format!("{} ", other.title()),
    }
}
