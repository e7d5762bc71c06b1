//! `bedkey create`: a long-term key through IAM (user, policy, credential, store),
//! or with `--short-term` a recipe that mints short-term keys and refreshes them.

use serde::Serialize;
use serde_json::Value;

use bedkey::aws;
use bedkey::config::{KeyMeta, policy_name};
use bedkey::error::{Error, Result};
use bedkey::iam::{BEDROCK, Iam, MAX_KEYS_PER_USER, Remote, Sweep, TIMED_OUT, USER_PATH};
use bedkey::keys;
use bedkey::policy::{self, LIMITED_ACCESS, Scope};
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

/// Everything `create` will ask of IAM, checked before the first call.
struct Plan {
    user: String,
    days: Option<i64>,
    managed: Vec<String>,
    scope: Option<Scope>,
    region: Option<String>,
    /// `--policy-file`: the managed policy's name and its (checked) document.
    custom: Option<(String, String)>,
    /// `--tag`s for the user.
    tags: Vec<(String, String)>,
}

impl Plan {
    fn expires_rfc3339(&self, from: i64) -> Option<String> {
        self.days.map(|d| time::rfc3339(from + d * 86_400))
    }

    fn document(&self, account: &str, from: i64) -> Result<Option<Value>> {
        self.scope
            .as_ref()
            .map(|s| {
                s.document(
                    account,
                    self.region.as_deref(),
                    self.expires_rfc3339(from).as_deref(),
                )
            })
            .transpose()
    }
}

#[derive(Serialize)]
struct CreatedJson<'a> {
    name: &'a str,
    kind: &'static str,
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
    fn custom_policy(&self) -> Result<Option<(String, String)>> {
        let Some(file) = &self.policy_file else {
            return Ok(None);
        };
        let shown = file.display().to_string();
        let text = read_policy_file(file, &shown)?;
        let document = policy::check_document(&text, &shown)?;
        let name = self
            .policy_name
            .clone()
            .unwrap_or_else(|| policy_name(&self.name));
        policy::check_policy_name(&name)?;
        Ok(Some((name, document)))
    }

    fn plan(&self, ctx: &Context) -> Result<Plan> {
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
        let scope = (!self.allow_models.is_empty()).then(|| Scope {
            models: self.allow_models.clone(),
            source_ips: self.source_ips.clone(),
        });
        if let Some(s) = &scope {
            s.check()?;
        }
        let custom = self.custom_policy()?;
        let tags = policy::parse_tags(&self.tags)?;
        let managed = if self.policies.is_empty() && custom.is_none() {
            vec![LIMITED_ACCESS.to_string()]
        } else {
            self.policies.clone()
        };
        // A long-term key works in every region; one is recorded (and exported) only
        // when the user has one.
        let g = &ctx.global;
        let region = match &g.region {
            Some(r) => Some(aws::checked_region(r)?),
            None => ctx
                .block_on(aws::region(None, g.profile.as_deref()))?
                .ok()
                .map(|(r, _)| r),
        };
        let plan = Plan {
            user,
            days,
            managed,
            scope,
            region,
            custom,
            tags,
        };
        // Build the policy once now, with an account id of the real length, so that
        // one too large for IAM is refused before any call.
        plan.document("000000000000", time::now())?;
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
        let created = ctx.block_on(self.make(ctx, &plan))??;

        let meta = KeyMeta::iam(
            backend.backend(),
            &created.secret,
            &created.remote,
            plan.region.clone(),
            plan.scope.clone(),
        );
        if let Err(e) = keys::add(
            &config,
            backend.as_ref(),
            &self.name,
            &created.secret,
            meta.clone(),
        ) {
            return Err(reveal(ctx, &self.name, &created, plan.region.as_deref(), e));
        }
        ctx.warn_if_volatile(meta.store);
        if ctx.out.json() {
            return ctx.out.print_json(&CreatedJson {
                name: &self.name,
                kind: "long-term",
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
        ctx.out.note(format_args!(
            "created long-term key '{}' ({}) for IAM user {}; it {expiry}; stored in the {} store",
            self.name,
            meta.masked,
            created.remote.user,
            meta.store.as_str()
        ));
        Ok(())
    }

    /// The IAM calls. Nothing changes when the user is at the two-key limit;
    /// after a failure midway, the error says what IAM holds now.
    async fn make(&self, ctx: &Context, plan: &Plan) -> Result<bedkey::iam::Created> {
        let iam = ctx.iam().await?;
        // A custom policy's name is checked before anything changes.
        let custom_arn = match &plan.custom {
            Some((name, _)) => {
                let (account, partition) = iam.identity().await?;
                let arn = bedkey::iam::policy_arn(&partition, &account, name);
                iam.policy_exists(&arn, &self.name).await?;
                Some(arn)
            }
            None => None,
        };
        let mut done = Vec::new();
        let before = self.ensure_user(ctx, &iam, plan, &mut done).await?;
        let user = &plan.user;
        self.apply_policies(ctx, &iam, plan, custom_arn.as_deref(), &mut done)
            .await
            .map_err(|e| midway(e, user, &done))?;
        match iam.create_credential(user, plan.days).await {
            Ok(created) => Ok(created),
            Err(e) if !bedkey::iam::may_have_acted(&e) => Err(midway(e, user, &done)),
            Err(e) => {
                let sweep = iam.sweep_after_failed_create(user, &before).await;
                Err(lost_create(e, sweep, user, &done))
            }
        }
    }

    /// Make the user, or find it with room for a key; tag it. Returns its
    /// credentials before: after a failed create, any others are ours.
    async fn ensure_user(
        &self,
        ctx: &Context,
        iam: &Iam,
        plan: &Plan,
        done: &mut Vec<Done>,
    ) -> Result<Vec<Remote>> {
        let user = &plan.user;
        let before = if iam.user_exists(user).await? {
            let existing = iam.credentials(user).await?;
            if existing.len() >= MAX_KEYS_PER_USER {
                return Err(at_limit(&self.name, user, &existing));
            }
            ctx.out
                .detail(format_args!("using the existing IAM user {user}"));
            existing
        } else {
            iam.create_user(user).await?;
            done.push(Done::User(user.clone()));
            Vec::new()
        };
        iam.tag_user(user, &plan.tags)
            .await
            .map_err(|e| midway(e, user, done))?;
        Ok(before)
    }

    /// The scoped inline policy, or the custom managed policy and the `--policy` ARNs
    /// (by default AmazonBedrockLimitedAccess), attached where not yet.
    async fn apply_policies(
        &self,
        ctx: &Context,
        iam: &Iam,
        plan: &Plan,
        custom_arn: Option<&str>,
        done: &mut Vec<Done>,
    ) -> Result<()> {
        let user = &plan.user;
        if plan.scope.is_some() {
            let account = iam.account().await?;
            let doc = plan.document(&account, time::now())?.unwrap_or_default();
            let wider = iam.attached_policies(user).await?;
            if !wider.is_empty() {
                ctx.out.warn(format_args!(
                    "IAM user {user} also has {}: this key can do what those allow too, not only --allow-model; detach them or use a new --user",
                    wider.join(", ")
                ));
            }
            let name = policy_name(&self.name);
            if let Err(e) = iam.put_inline_policy(user, &name, &doc.to_string()).await {
                // A lost reply may hide a policy that was put all the same.
                done.push(Done::MaybeInline(name));
                return Err(e);
            }
            done.push(Done::Inline(name));
            return Ok(());
        }
        let mut wanted = plan.managed.clone();
        if let (Some((name, document)), Some(arn)) = (&plan.custom, custom_arn) {
            let (arn, new) = iam.ensure_policy(arn, name, document, &self.name).await?;
            done.push(Done::Policy(arn.clone(), new));
            wanted.push(arn);
        }
        let attached = iam.attached_policies(user).await?;
        for arn in wanted.iter().filter(|a| !attached.contains(a)) {
            if let Err(e) = iam.attach_policy(user, arn).await {
                done.push(Done::MaybeManaged(arn.clone()));
                return Err(e);
            }
            done.push(Done::Managed(arn.clone()));
        }
        Ok(())
    }

    fn print_plan(&self, ctx: &Context, plan: &Plan) -> Result<()> {
        // Read-only: the account fills the policy's inference-profile ARNs.
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
        let user = &plan.user;
        let document = plan.document(&account, time::now())?;
        let mut calls = self.planned_calls(plan, document.is_some());
        // The scoped inline policy, or the custom one from --policy-file.
        let document = document.or_else(|| {
            plan.custom
                .as_ref()
                .and_then(|(_, doc)| serde_json::from_str(doc).ok())
        });
        calls.push(format!(
            "CreateServiceSpecificCredential {user} {BEDROCK} {}",
            match plan.days {
                Some(d) => format!("--credential-age-days {d}"),
                None => "(no expiry)".to_string(),
            }
        ));
        calls.push(format!("store the key as '{}'", self.name));
        if ctx.out.json() {
            return ctx.out.print_json(&DryRunJson {
                dry_run: true,
                name: &self.name,
                user,
                calls,
                policy: document,
            });
        }
        stdout_line(&format!(
            "bedkey create {} would (nothing is changed by --dry-run):",
            self.name
        ))?;
        for (i, call) in calls.iter().enumerate() {
            stdout_line(&format!("  {}. {}", i + 1, crate::output::printable(call)))?;
        }
        if let Some(doc) = document {
            let name = plan
                .custom
                .as_ref()
                .map_or_else(|| policy_name(&self.name), |(n, _)| n.clone());
            stdout_line(&format!("policy {name}:"))?;
            stdout_line(&serde_json::to_string_pretty(&doc).unwrap_or_default())?;
        }
        Ok(())
    }

    /// The IAM calls before the key's own, in words, for `--dry-run`.
    fn planned_calls(&self, plan: &Plan, inline: bool) -> Vec<String> {
        let user = &plan.user;
        let mut calls = vec![
            format!("GetUser {user}; if missing, CreateUser {user} --path {USER_PATH}"),
            format!("ListServiceSpecificCredentials {user} {BEDROCK} (stop if it has 2 already)"),
        ];
        if !plan.tags.is_empty() {
            let tags: Vec<String> = plan.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            calls.push(format!("TagUser {user} {}", tags.join(" ")));
        }
        if inline {
            calls.push(format!("PutUserPolicy {user} {}", policy_name(&self.name)));
            return calls;
        }
        if let Some((name, _)) = &plan.custom {
            calls.push("GetCallerIdentity (the account and partition)".to_string());
            calls.push(format!(
                "CreatePolicy {name} --path {USER_PATH} --tags {}={} (if it exists and carries that tag: CreatePolicyVersion --set-as-default, deleting the oldest non-default version at five)",
                bedkey::iam::NAME_TAG,
                self.name
            ));
            calls.push(format!("AttachUserPolicy {user} {name} (if not attached)"));
        }
        for arn in &plan.managed {
            calls.push(format!("AttachUserPolicy {user} {arn} (if not attached)"));
        }
        calls
    }

    fn short_term(&self, ctx: &Context) -> Result<()> {
        let config = ctx.config()?;
        keys::ensure_free(&config, &self.name)?;
        let wanted = token::lifetime(self.expires.as_deref().unwrap_or("12h"))?;
        let backend = ctx.new_key_store(&config)?;
        backend.ready()?;
        let g = &ctx.global;
        let minted = ctx.block_on(token::mint_from_aws(
            g.profile.as_deref(),
            g.region.as_deref(),
            wanted,
        ))??;
        ctx.out.detail(&minted.source);
        let meta = KeyMeta::minted(
            backend.backend(),
            &minted,
            g.profile.clone(),
            wanted.as_secs(),
        );
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
                store: meta.store.as_str(),
                key: &meta.masked,
                region: &minted.region,
                expires_at: time::rfc3339(minted.expires_at),
                lifetime_seconds: wanted.as_secs(),
            });
        }
        ctx.out.note(format_args!(
            "created short-term key '{}' for {} in the {} store; `bedkey env {}` loads it and mints a new one when less than {} remains",
            self.name,
            minted.region,
            meta.store.as_str(),
            self.name,
            time::human(keys::refresh_margin(keys::min_ttl()?, Some(wanted.as_secs()), None)),
        ));
        Ok(())
    }
}

#[derive(Serialize)]
struct ShortJson<'a> {
    name: &'a str,
    kind: &'static str,
    store: &'static str,
    key: &'a str,
    region: &'a str,
    expires_at: String,
    lifetime_seconds: u64,
}

/// What a create run has changed in IAM so far.
pub(crate) enum Done {
    User(String),
    Inline(String),
    Managed(String),
    /// A customer-managed policy: its ARN, and whether it is new (else a new version).
    Policy(String, bool),
    /// A call that failed, whose reply may have been lost after IAM acted.
    MaybeInline(String),
    MaybeManaged(String),
}

/// The create call failed: say what the sweep for a credential IAM made anyway found,
/// then what else IAM holds.
pub(crate) fn lost_create(err: Error, sweep: Sweep, user: &str, done: &[Done]) -> Error {
    let held = holdings(user, done)
        .map(|h| format!("; IAM also has {h}"))
        .unwrap_or_default();
    // What IAM holds is not known for sure: say so, and how to look and tidy up.
    let unsure = |what: String| {
        Error::new(err.kind(), format!("{}; {what}{held}", err.message())).with_hint(format!(
            "check with `aws iam list-service-specific-credentials --user-name {user} --service-name {BEDROCK}` and delete any credential whose key you do not hold with `{}`; then run the same command again",
            delete_command(user, "ID")
        ))
    };
    match sweep {
        // No answer: IAM may still act after the sweep looked.
        Sweep::Clean { deleted } if deleted.is_empty() && err.code() == Some(TIMED_OUT) => {
            unsure("IAM has made no key so far, but may still (look again in a minute)".into())
        }
        Sweep::Clean { deleted } if deleted.is_empty() => midway(err, user, done),
        Sweep::Clean { deleted } => {
            let e = Error::new(
                err.kind(),
                format!(
                    "{}; IAM made key {} anyway, but its secret was lost with the reply, so bedkey deleted it",
                    err.message(),
                    deleted.join(", ")
                ),
            );
            midway(e, user, done)
        }
        Sweep::Left { deleted, left, error } => Error::new(
            err.kind(),
            format!(
                "{}; IAM made key {left} anyway, its secret was lost with the reply, and deleting it failed ({}){}{held}",
                err.message(),
                error.message(),
                if deleted.is_empty() { String::new() } else { format!(" (deleted {})", deleted.join(", ")) }
            ),
        )
        .with_hint(format!(
            "delete it with `{}`, then run the same command again",
            delete_command(user, &left)
        )),
        Sweep::Ambiguous(ids) => unsure(format!(
            "IAM now has new keys {} for {user}, one of them perhaps another run's, so bedkey deleted none",
            ids.join(", ")
        )),
        Sweep::Unknown(list_error) => unsure(format!(
            "IAM may have made the key anyway and could not be listed to check ({})",
            list_error.message()
        )),
    }
}

fn delete_command(user: &str, id: &str) -> String {
    format!(
        "aws iam delete-service-specific-credential --user-name {user} --service-specific-credential-id {id}"
    )
}

/// A policy file: a regular file (not a FIFO or a device), read up to a bound well
/// above IAM's 6,144 characters, so that `/dev/zero` cannot eat the memory.
fn read_policy_file(file: &std::path::Path, shown: &str) -> Result<String> {
    use std::io::Read;
    const MAX_BYTES: u64 = 64 * 1024;
    let bad = |e: &dyn std::fmt::Display| Error::usage(format!("cannot read {shown}: {e}"));
    let meta = std::fs::metadata(file).map_err(|e| bad(&e))?;
    if !meta.is_file() {
        return Err(Error::usage(format!("{shown} is not a regular file")));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| bad(&e))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(Error::usage(format!(
            "{shown} is larger than 64 KiB: not a policy IAM would take"
        )));
    }
    String::from_utf8(bytes).map_err(|_| Error::usage(format!("{shown} is not UTF-8 text")))
}

/// What a create run has made in IAM so far, in words; None when nothing.
fn holdings(user: &str, done: &[Done]) -> Option<String> {
    let has: Vec<String> = done
        .iter()
        .map(|d| match d {
            Done::User(u) => format!("user {u} (new)"),
            Done::Inline(p) => format!("inline policy {p} on {user}"),
            Done::Managed(a) => format!("{a} attached to {user}"),
            Done::Policy(a, true) => format!("policy {a} (new)"),
            Done::Policy(a, false) => format!("a new default version of policy {a}"),
            Done::MaybeInline(p) => format!("perhaps inline policy {p} on {user}"),
            Done::MaybeManaged(a) => format!("perhaps {a} attached to {user}"),
        })
        .collect();
    (!has.is_empty()).then(|| has.join(", "))
}

/// An error midway: say what IAM holds now, how to finish, and how to undo.
fn midway(err: Error, user: &str, done: &[Done]) -> Error {
    let Some(held) = holdings(user, done) else {
        return err
            .with_hint("nothing was changed in IAM; fix the cause and run the same command again");
    };
    let mut undo = Vec::new();
    for d in done {
        match d {
            Done::User(_) => {}
            Done::Inline(p) | Done::MaybeInline(p) => undo.push(format!(
                "aws iam delete-user-policy --user-name {user} --policy-name {p}"
            )),
            Done::Managed(a) | Done::MaybeManaged(a) => undo.push(format!(
                "aws iam detach-user-policy --user-name {user} --policy-arn {a}"
            )),
            Done::Policy(a, true) => undo.push(format!("aws iam delete-policy --policy-arn {a}")),
            Done::Policy(_, false) => {}
        }
    }
    if done.iter().any(|d| matches!(d, Done::User(_))) {
        undo.push(format!("aws iam delete-user --user-name {u}", u = user));
    }
    let message = format!("{}; IAM now has {held}, and no key", err.message());
    Error::new(err.kind(), message).with_hint(format!(
        "run the same command again to finish (it reuses what exists), or undo: {}",
        undo.join("; ")
    ))
}

fn at_limit(name: &str, user: &str, existing: &[Remote]) -> Error {
    let listed: Vec<String> = existing
        .iter()
        .map(|c| {
            format!(
                "{} ({}, created {}, {})",
                c.id,
                c.status,
                time::prefix(&time::rfc3339(c.created), 10),
                match c.expires {
                    Some(at) => format!("expires {}", time::prefix(&time::rfc3339(at), 10)),
                    None => "no expiry".to_string(),
                }
            )
        })
        .collect();
    Error::failure(format!(
        "IAM user {user} has {} Bedrock API keys already, the most IAM allows: {}; nothing was changed",
        existing.len(),
        listed.join("; ")
    ))
    .with_hint(format!(
        "`bedkey rotate {name}` replaces a key bedkey manages, `bedkey revoke NAME` deletes one; or pick another user with --user"
    ))
}

/// Storing failed after IAM made the key: hand it over, and fail with the import
/// command that stores it later, as it must be typed.
fn reveal(
    ctx: &Context,
    name: &str,
    created: &bedkey::iam::Created,
    region: Option<&str>,
    err: Error,
) -> Error {
    let details = serde_json::json!({
        "name": name,
        "kind": "long-term",
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
    err.context(format!("storing new key '{name}'"))
        .with_hint(format!(
            "the key printed works; store it later with `{import}` (paste it)"
        ))
}
