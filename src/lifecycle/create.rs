//! `create`'s IAM flow: a plan checked before the first call, whose steps both run
//! (`make`) and describe themselves (`create --dry-run`), so the two cannot drift;
//! and what a failure midway means: what IAM holds now and how to undo it.

use serde_json::Value;

use crate::config::policy_name;
use crate::error::{Error, Result};
use crate::iam::{Created, Iam, MAX_KEYS_PER_USER, NAME_TAG, Remote, Sweep, USER_PATH};
use crate::lifecycle::Notice;
use crate::policy::Scope;
use crate::service::Service;
use crate::time;

/// A policy made from a file (`--policy-file`): its name and checked document.
#[derive(Clone, Debug)]
pub struct CustomPolicy {
    pub name: String,
    pub document: String,
}

/// Everything `create` will ask of IAM for key `name`, checked before the first call.
#[derive(Clone, Debug)]
pub struct Plan {
    pub name: String,
    /// The service the key is for.
    pub service: Service,
    pub user: String,
    /// `CredentialAgeDays`; None: the key never expires.
    pub days: Option<i64>,
    /// Managed policies to attach (by default the service's: AmazonBedrockLimitedAccess,
    /// AnthropicInferenceAccess).
    pub managed: Vec<String>,
    /// `--allow-model`: the least-privilege inline policy instead.
    pub scope: Option<Scope>,
    pub region: Option<String>,
    pub custom: Option<CustomPolicy>,
    /// `--tag`s for the user.
    pub tags: Vec<(String, String)>,
}

/// One step of a plan, in the order `make` takes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A custom policy's name is free, or bedkey's own for this key.
    CheckCustomPolicy,
    /// The user exists (made if missing), with room for a key.
    EnsureUser,
    TagUser,
    /// The scoped inline policy.
    PutInlinePolicy,
    /// The custom managed policy, made or given a new version.
    PutCustomPolicy,
    /// Attach what is not attached yet.
    AttachPolicies,
    CreateCredential,
}

impl Plan {
    /// A plan's checks that need no AWS: the scoped policy is built once with an
    /// account id of the real length, so one too large for IAM is refused first.
    pub fn check(&self) -> Result<()> {
        self.document("000000000000", time::now()).map(|_| ())
    }

    pub fn steps(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        if self.custom.is_some() {
            steps.push(Step::CheckCustomPolicy);
        }
        steps.push(Step::EnsureUser);
        if !self.tags.is_empty() {
            steps.push(Step::TagUser);
        }
        if self.scope.is_some() {
            steps.push(Step::PutInlinePolicy);
        } else {
            if self.custom.is_some() {
                steps.push(Step::PutCustomPolicy);
            }
            steps.push(Step::AttachPolicies);
        }
        steps.push(Step::CreateCredential);
        steps
    }

    /// The IAM calls of a step, in words, for `--dry-run`.
    pub fn describe(&self, step: &Step) -> Vec<String> {
        let user = &self.user;
        match step {
            Step::CheckCustomPolicy => {
                let name = self.custom.as_ref().map_or("", |c| c.name.as_str());
                vec![
                    "GetCallerIdentity (the account and partition)".to_string(),
                    format!(
                        "GetPolicy {name} (stop if it exists without {NAME_TAG}={})",
                        self.name
                    ),
                ]
            }
            Step::EnsureUser => vec![
                format!("GetUser {user}; if missing, CreateUser {user} --path {USER_PATH}"),
                format!(
                    "ListServiceSpecificCredentials {user} {} (stop if it has 2 already)",
                    self.service.describe().iam
                ),
            ],
            Step::TagUser => {
                let tags: Vec<String> = self.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                vec![format!("TagUser {user} {}", tags.join(" "))]
            }
            Step::PutInlinePolicy => {
                vec![format!("PutUserPolicy {user} {}", policy_name(&self.name))]
            }
            Step::PutCustomPolicy => {
                let name = self.custom.as_ref().map_or("", |c| c.name.as_str());
                vec![format!(
                    "CreatePolicy {name} --path {USER_PATH} --tags {NAME_TAG}={} (if it exists and carries that tag: CreatePolicyVersion --set-as-default, deleting the oldest non-default version at five)",
                    self.name
                )]
            }
            Step::AttachPolicies => self
                .custom
                .iter()
                .map(|c| c.name.clone())
                .chain(self.managed.iter().cloned())
                .map(|p| format!("AttachUserPolicy {user} {p} (if not attached)"))
                .collect(),
            Step::CreateCredential => vec![format!(
                "CreateServiceSpecificCredential {user} {} {}",
                self.service.describe().iam,
                match self.days {
                    Some(d) => format!("--credential-age-days {d}"),
                    None => "(no expiry)".to_string(),
                }
            )],
        }
    }

    /// Every call of the plan in words, and the store: what `--dry-run` prints.
    pub fn calls(&self) -> Vec<String> {
        let mut calls: Vec<String> = self.steps().iter().flat_map(|s| self.describe(s)).collect();
        let region = self
            .region
            .as_ref()
            .map_or(String::new(), |r| format!(" (region {r})"));
        calls.push(format!("store the key as '{}'{region}", self.name));
        calls
    }

    fn expires_rfc3339(&self, from: i64) -> Option<String> {
        self.days.map(|d| time::rfc3339(from + d * 86_400))
    }

    /// The scoped inline policy for `account`, for a key made at `from`.
    pub fn document(&self, account: &str, from: i64) -> Result<Option<Value>> {
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

    /// The policy `--dry-run` shows: the scoped one, or the custom one. With its name.
    pub fn shown_policy(&self, account: &str) -> Result<Option<(String, Value)>> {
        if let Some(doc) = self.document(account, time::now())? {
            return Ok(Some((policy_name(&self.name), doc)));
        }
        Ok(self.custom.as_ref().and_then(|c| {
            serde_json::from_str(&c.document)
                .ok()
                .map(|doc| (c.name.clone(), doc))
        }))
    }
}

/// What a create run has changed in IAM so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Done {
    User(String),
    Inline(String),
    Managed(String),
    /// A customer-managed policy: its ARN, and whether it is new (else a new version).
    Policy(String, bool),
    /// A call that failed, whose reply may have been lost after IAM acted.
    MaybeInline(String),
    MaybeManaged(String),
}

/// A run of a plan: what it found and did so far.
struct Run<'a> {
    iam: &'a Iam,
    plan: &'a Plan,
    notice: &'a dyn Fn(Notice),
    done: Vec<Done>,
    /// The user's credentials before: after a failed create, any others are ours.
    before: Vec<Remote>,
    custom_arn: Option<String>,
}

/// Carry out the plan: the IAM calls, step by step. Nothing changes when the user is
/// at the two-key limit; after a failure midway, the error says what IAM holds now.
pub async fn make(iam: &Iam, plan: &Plan, notice: &dyn Fn(Notice)) -> Result<Created> {
    let mut run = Run {
        iam,
        plan,
        notice,
        done: Vec::new(),
        before: Vec::new(),
        custom_arn: None,
    };
    for step in plan.steps() {
        if step == Step::CreateCredential {
            break;
        }
        let outcome = run.step(&step).await;
        if let Err(e) = outcome {
            // Before the user exists nothing is changed; from then on, say what is.
            return Err(match step {
                Step::CheckCustomPolicy | Step::EnsureUser if run.done.is_empty() => e,
                _ => midway(e, &plan.user, &run.done),
            });
        }
    }
    run.create().await
}

impl Run<'_> {
    async fn step(&mut self, step: &Step) -> Result<()> {
        let (iam, plan) = (self.iam, self.plan);
        let user = &plan.user;
        match step {
            Step::CheckCustomPolicy => {
                let custom = plan.custom.as_ref().expect("a custom policy step");
                let (account, partition) = iam.identity().await?;
                let arn = crate::iam::policy_arn(&partition, &account, &custom.name);
                iam.policy_exists(&arn, &plan.name).await?;
                self.custom_arn = Some(arn);
            }
            Step::EnsureUser => self.ensure_user().await?,
            Step::TagUser => iam.tag_user(user, &plan.tags).await?,
            Step::PutInlinePolicy => self.put_inline().await?,
            Step::PutCustomPolicy => {
                let custom = plan.custom.as_ref().expect("a custom policy step");
                let arn = self.custom_arn.clone().expect("checked first");
                let (arn, new) = iam
                    .ensure_policy(&arn, &custom.name, &custom.document, &plan.name)
                    .await?;
                self.done.push(Done::Policy(arn, new));
            }
            Step::AttachPolicies => self.attach().await?,
            Step::CreateCredential => {}
        }
        Ok(())
    }

    /// Make the user, or find it with room for a key.
    async fn ensure_user(&mut self) -> Result<()> {
        let (iam, user) = (self.iam, &self.plan.user);
        if iam.user_exists(user).await? {
            let existing = iam.credentials(self.plan.service, user).await?;
            if existing.len() >= MAX_KEYS_PER_USER {
                return Err(at_limit(&self.plan.name, user, &existing));
            }
            (self.notice)(Notice::Detail(format!(
                "using the existing IAM user {user}"
            )));
            self.before = existing;
        } else {
            iam.create_user(user).await?;
            self.done.push(Done::User(user.clone()));
        }
        Ok(())
    }

    async fn put_inline(&mut self) -> Result<()> {
        let (iam, plan) = (self.iam, self.plan);
        let user = &plan.user;
        let account = iam.account().await?;
        let doc = plan.document(&account, time::now())?.unwrap_or_default();
        let wider = iam.attached_policies(user).await?;
        if !wider.is_empty() {
            (self.notice)(Notice::Warning(format!(
                "IAM user {user} also has {}: this key can do what those allow too, not only --allow-model; detach them or use a new --user",
                wider.join(", ")
            )));
        }
        let name = policy_name(&plan.name);
        if let Err(e) = iam.put_inline_policy(user, &name, &doc.to_string()).await {
            // A lost reply may hide a policy that was put all the same.
            self.done.push(Done::MaybeInline(name));
            return Err(e);
        }
        self.done.push(Done::Inline(name));
        Ok(())
    }

    async fn attach(&mut self) -> Result<()> {
        let (iam, plan) = (self.iam, self.plan);
        let user = &plan.user;
        let mut wanted = plan.managed.clone();
        if let Some(Done::Policy(arn, _)) = self.done.iter().find(|d| matches!(d, Done::Policy(..)))
        {
            wanted.push(arn.clone());
        }
        let attached = iam.attached_policies(user).await?;
        for arn in wanted.iter().filter(|a| !attached.contains(a)) {
            if let Err(e) = iam.attach_policy(user, arn).await {
                self.done.push(Done::MaybeManaged(arn.clone()));
                return Err(e);
            }
            self.done.push(Done::Managed(arn.clone()));
        }
        Ok(())
    }

    /// The credential itself; after a failure that may have acted, sweep up after it.
    async fn create(&self) -> Result<Created> {
        let user = &self.plan.user;
        let service = self.plan.service;
        match self
            .iam
            .create_credential(service, user, self.plan.days)
            .await
        {
            Ok(created) => Ok(created),
            Err(e) if !crate::iam::may_have_acted(&e) => Err(midway(e, user, &self.done)),
            Err(e) => {
                let sweep = self
                    .iam
                    .sweep_after_failed_create(service, user, &self.before)
                    .await;
                Err(lost_create(service, e, sweep, user, &self.done))
            }
        }
    }
}

/// A rotation's new credential for `user`, who holds `existing`; after a failure that
/// may have acted, swept up after as `create` is.
pub async fn replacement(
    iam: &Iam,
    service: Service,
    user: &str,
    days: Option<i64>,
    existing: &[Remote],
) -> Result<Created> {
    match iam.create_credential(service, user, days).await {
        Ok(created) => Ok(created),
        Err(e) if !crate::iam::may_have_acted(&e) => Err(e),
        Err(e) => {
            let sweep = iam.sweep_after_failed_create(service, user, existing).await;
            Err(lost_create(service, e, sweep, user, &[]))
        }
    }
}

/// The create call failed: say what the sweep for a credential IAM made anyway found,
/// then what else IAM holds.
pub fn lost_create(service: Service, err: Error, sweep: Sweep, user: &str, done: &[Done]) -> Error {
    let iam_service = service.describe().iam;
    let held = holdings(user, done)
        .map(|h| format!("; IAM also has {h}"))
        .unwrap_or_default();
    // What IAM holds is not known for sure: say so, and how to look and tidy up.
    let unsure = |what: String| {
        Error::new(err.kind(), format!("{}; {what}{held}", err.message())).with_hint(format!(
            "check with `aws iam list-service-specific-credentials --user-name {user} --service-name {iam_service}` and delete any credential whose key you do not hold with `{}`; then run the same command again",
            delete_command(user, "ID")
        ))
    };
    match sweep {
        // No answer: IAM may still act after the sweep looked.
        Sweep::Clean { deleted }
            if deleted.is_empty() && err.code() == Some(crate::aws::TIMED_OUT) =>
        {
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

/// The AWS CLI command that deletes credential `id` of `user`.
pub fn delete_command(user: &str, id: &str) -> String {
    format!(
        "aws iam delete-service-specific-credential --user-name {user} --service-specific-credential-id {id}"
    )
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

/// The commands that undo what a create run did: newest first (a policy is detached
/// before it is deleted), the user last.
fn undo_commands(user: &str, done: &[Done]) -> Vec<String> {
    let mut undo = Vec::new();
    for d in done.iter().rev() {
        match d {
            Done::User(_) | Done::Policy(_, false) => {}
            Done::Inline(p) | Done::MaybeInline(p) => undo.push(format!(
                "aws iam delete-user-policy --user-name {user} --policy-name {p}"
            )),
            Done::Managed(a) | Done::MaybeManaged(a) => undo.push(format!(
                "aws iam detach-user-policy --user-name {user} --policy-arn {a}"
            )),
            Done::Policy(a, true) => undo.push(format!("aws iam delete-policy --policy-arn {a}")),
        }
    }
    if done.iter().any(|d| matches!(d, Done::User(_))) {
        undo.push(format!("aws iam delete-user --user-name {user}"));
    }
    undo
}

/// An error midway: say what IAM holds now, how to finish, and how to undo.
pub fn midway(err: Error, user: &str, done: &[Done]) -> Error {
    let Some(held) = holdings(user, done) else {
        return err
            .with_hint("nothing was changed in IAM; fix the cause and run the same command again");
    };
    let message = format!("{}; IAM now has {held}, and no key", err.message());
    Error::new(err.kind(), message).with_hint(format!(
        "run the same command again to finish (it reuses what exists), or undo: {}",
        undo_commands(user, done).join("; ")
    ))
}

/// The user has two credentials already: name them, change nothing.
pub fn at_limit(name: &str, user: &str, existing: &[Remote]) -> Error {
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
    let service = existing.first().map_or(Service::Bedrock, |c| c.service);
    Error::failure(format!(
        "IAM user {user} has {} {} API keys already, the most IAM allows: {}; nothing was changed",
        existing.len(),
        service.title(),
        listed.join("; ")
    ))
    .with_hint(format!(
        "`bedkey rotate {name}` replaces a key bedkey manages, `bedkey revoke NAME` deletes one; or pick another user with --user"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            name: "k".into(),
            service: Service::Bedrock,
            user: "bedkey-k".into(),
            days: Some(30),
            managed: vec![crate::policy::LIMITED_ACCESS.into()],
            scope: None,
            region: None,
            custom: None,
            tags: vec![],
        }
    }

    #[test]
    fn the_steps_follow_the_flags_and_end_with_the_credential() {
        assert_eq!(
            plan().steps(),
            [
                Step::EnsureUser,
                Step::AttachPolicies,
                Step::CreateCredential
            ]
        );
        let custom = Plan {
            custom: Some(CustomPolicy {
                name: "p".into(),
                document: "{}".into(),
            }),
            managed: vec![],
            tags: vec![("team".into(), "ml".into())],
            ..plan()
        };
        assert_eq!(
            custom.steps(),
            [
                Step::CheckCustomPolicy,
                Step::EnsureUser,
                Step::TagUser,
                Step::PutCustomPolicy,
                Step::AttachPolicies,
                Step::CreateCredential
            ]
        );
        let scoped = Plan {
            scope: Some(Scope {
                models: vec!["amazon.nova-lite-v1:0".into()],
                mantle_models: vec![],
                source_ips: vec![],
            }),
            ..plan()
        };
        assert_eq!(
            scoped.steps(),
            [
                Step::EnsureUser,
                Step::PutInlinePolicy,
                Step::CreateCredential
            ]
        );
    }

    #[test]
    fn the_dry_run_describes_each_step_it_will_take() {
        let calls = plan().calls();
        assert!(calls[0].starts_with("GetUser bedkey-k"));
        assert!(
            calls
                .iter()
                .any(|c| c.contains("AmazonBedrockLimitedAccess"))
        );
        assert!(calls[calls.len() - 2].contains("--credential-age-days 30"));
        assert_eq!(calls.last().unwrap(), "store the key as 'k'");
        let never = Plan {
            days: None,
            ..plan()
        };
        assert!(never.calls().iter().any(|c| c.ends_with("(no expiry)")));
    }

    #[test]
    fn a_failure_midway_says_what_iam_holds_and_undoes_the_newest_first() {
        let done = [
            Done::User("u".into()),
            Done::Policy("arn:p".into(), true),
            Done::MaybeManaged("arn:m".into()),
        ];
        let e = midway(Error::failure("AttachUserPolicy failed"), "u", &done);
        assert!(e.message().contains("user u (new)"), "{}", e.message());
        assert!(e.message().contains("perhaps arn:m attached to u"));
        let hint = e.hint().unwrap();
        let detach = hint.find("detach-user-policy").unwrap();
        let delete_policy = hint.find("delete-policy --policy-arn arn:p").unwrap();
        let delete_user = hint.find("delete-user --user-name u").unwrap();
        assert!(detach < delete_policy, "detached before deleted: {hint}");
        assert!(delete_policy < delete_user, "the user goes last: {hint}");
        // Nothing done: nothing to undo.
        let e = midway(Error::failure("x"), "u", &[]);
        assert!(e.hint().unwrap().starts_with("nothing was changed"));
    }

    #[test]
    fn a_lost_create_says_what_the_sweep_found() {
        let lost = || Error::failure("no answer").with_code(crate::aws::TIMED_OUT);
        let clean = |deleted: Vec<&str>| Sweep::Clean {
            deleted: deleted.into_iter().map(String::from).collect(),
        };
        let e = lost_create(Service::Bedrock, lost(), clean(vec![]), "u", &[]);
        assert!(e.message().contains("may still"), "{}", e.message());
        let e = lost_create(
            Service::Bedrock,
            Error::failure("500"),
            clean(vec!["C1"]),
            "u",
            &[],
        );
        assert!(e.message().contains("bedkey deleted it"), "{}", e.message());
        let e = lost_create(
            Service::Bedrock,
            Error::failure("500"),
            Sweep::Ambiguous(vec!["C1".into(), "C2".into()]),
            "u",
            &[],
        );
        assert!(e.message().contains("deleted none"), "{}", e.message());
        let e = lost_create(
            Service::Bedrock,
            Error::failure("500"),
            Sweep::Left {
                deleted: vec![],
                left: "C9".into(),
                error: Error::failure("denied"),
            },
            "u",
            &[],
        );
        assert!(
            e.hint()
                .unwrap()
                .contains("--service-specific-credential-id C9")
        );
    }
}
