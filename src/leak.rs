//! Incident response for a leaked key (`bedkey revoke --leaked`): from the key alone,
//! find what makes it work and cut it off, saying each step as it happens.
//!
//! - A long-term key is an IAM credential: its alias names the user (REFERENCE §9),
//!   the user's listing gives the credential that carries exactly that alias, which
//!   is deactivated (and deleted with `--delete`).
//! - A short-term key cannot be revoked, only its signer cut: an IAM user's access key
//!   (`AKIA…`, found with `GetAccessKeyLastUsed`) is deactivated; a role session's
//!   role (`ASIA…`, found in CloudTrail, or named) gets an inline deny of its service's
//!   bearer-token actions for sessions issued before now (`aws:TokenIssueTime`).
//!
//! Every step reads before it writes, so running it twice does nothing the second
//! time; a write whose reply is lost is read back before it is called failed.

use serde::Serialize;
use serde_json::{Value, json};

use crate::error::{Error, Kind, Result};
use crate::iam::{Iam, Principal, may_have_acted};
use crate::service::Service;
use crate::token::{Decoded, LongTerm, ShortTerm};

/// The inline policy that denies a principal's older sessions.
pub const DENY_POLICY: &str = "bedkey-revoke-older-sessions";
/// Roles of IAM Identity Center, which account administrators cannot change.
const SSO_ROLE_PREFIX: &str = "AWSReservedSSO_";

/// One step, as it happens.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case", tag = "step", content = "text")]
pub enum Step {
    /// Something found out.
    Found(String),
    /// A change made.
    Did(String),
    /// A change `--dry-run` would make.
    Would(String),
    /// Nothing to do: done before.
    Already(String),
    /// Worth knowing, nothing to do here.
    Advice(String),
    /// What bedkey could not do and a person must.
    Left(String),
}

pub struct Options {
    pub dry_run: bool,
    pub delete: bool,
    /// Among credentials that share the key's alias, the one to act on.
    pub credential_id: Option<String>,
    /// The role whose session signed a short-term key, when CloudTrail does not say.
    pub role_arn: Option<String>,
}

/// The account a key belongs to: a long-term key's alias says; a short-term key's
/// signing access key is looked up (`sts:GetAccessKeyInfo`).
pub async fn account_of(iam: &Iam, key: &Decoded) -> Result<String> {
    match key {
        Decoded::LongTerm(lt) => lt.account().map(str::to_string).ok_or_else(|| {
            Error::usage(format!(
                "the key's alias ({}) names no account, so bedkey cannot tell where it lives",
                lt.alias
            ))
        }),
        Decoded::ShortTerm(st) => iam.account_of_key(&st.signer).await,
    }
}

/// Cut off `key` in the account `iam` is in. Steps go to `report` as they happen; the
/// result says whether anything is left for a person to do.
pub async fn respond(
    iam: &Iam,
    key: &Decoded,
    options: &Options,
    now: i64,
    report: &mut dyn FnMut(Step),
) -> Result<bool> {
    match key {
        Decoded::LongTerm(lt) => long_term(iam, lt, options, report).await,
        Decoded::ShortTerm(st) => short_term(iam, st, options, now, report).await,
    }
}

async fn long_term(
    iam: &Iam,
    lt: &LongTerm,
    options: &Options,
    report: &mut dyn FnMut(Step),
) -> Result<bool> {
    let service = lt.service;
    let account = lt.account().unwrap_or("?");
    let (users, listed) = users_of(iam, lt).await?;
    let matching: Vec<_> = listed
        .iter()
        .filter(|c| c.alias.as_deref() == Some(&lt.alias))
        .collect();
    // The user is the one whose credential carries the alias; when none does, the
    // likeliest name.
    let user = matching
        .first()
        .map_or_else(|| users[0].clone(), |c| c.user.clone());
    report(Step::Found(format!(
        "a long-term {} key of IAM user {user} in account {account}",
        service.title()
    )));
    let chosen = match (&options.credential_id, matching.as_slice()) {
        (_, []) => {
            report(Step::Already(format!(
                "no credential of {user} carries this key's alias any more: it was deleted"
            )));
            return Ok(false);
        }
        (Some(id), many) => match many.iter().find(|c| &c.id == id) {
            Some(c) => *c,
            None => {
                return Err(Error::usage(format!(
                    "--credential-id {id} is not one of the credentials that carry this key's alias: {}",
                    candidates(many)
                )));
            }
        },
        (None, [one]) => *one,
        (None, many) => {
            return Err(Error::failure(format!(
                "{} credentials carry this key's alias, so which one leaked cannot be told: {}",
                many.len(),
                candidates(many)
            ))
            .with_hint("pass --credential-id ID to cut one, or run once for each"));
        }
    };
    let user = chosen.user.clone();
    cut_credential(iam, &user, chosen, options, report).await?;
    aftermath(iam, &user, report).await;
    Ok(false)
}

/// What else the key's holder may hold: the user's IAM access keys, and the secrets
/// a bedkey published its keys to. Said, never changed.
async fn aftermath(iam: &Iam, user: &str, report: &mut dyn FnMut(Step)) {
    // Access keys of the key's user: whoever held the key may hold the user's
    // ways into the account too (the audit's phantom-access-key).
    match iam.access_keys(user).await {
        Ok(keys) if !keys.is_empty() => {
            let listed: Vec<String> = keys
                .iter()
                .map(|(id, s)| format!("{id} ({})", s.to_lowercase()))
                .collect();
            report(Step::Advice(format!(
                "{user} also holds IAM access keys {}: if they may have leaked with the key, deactivate them (`aws iam update-access-key --user-name {user} --access-key-id ID --status Inactive` in that account)",
                listed.join(", ")
            )));
        }
        Ok(_) => {}
        Err(e) => report(Step::Advice(format!(
            "{user}'s IAM access keys could not be listed: {e}"
        ))),
    }
    // Secrets a bedkey published it to: others read the key from there.
    match iam.user_tags(user).await {
        Ok(tags) => {
            for secret in crate::iam::tagged_secrets(&tags) {
                report(Step::Advice(format!(
                    "secret {secret} was published with a key of {user}: overwrite or delete it, and give its readers a new key"
                )));
            }
        }
        Err(e) => report(Step::Advice(format!(
            "the secrets {user}'s keys went to are unknown: {e}"
        ))),
    }
}

/// Deactivate the credential (and delete it with `--delete`), each only when needed.
async fn cut_credential(
    iam: &Iam,
    user: &str,
    chosen: &crate::iam::Remote,
    options: &Options,
    report: &mut dyn FnMut(Step),
) -> Result<()> {
    let service = chosen.service;
    let id = chosen.id.clone();
    if chosen.status == "Active" {
        if options.dry_run {
            report(Step::Would(format!("deactivate credential {id} of {user}")));
        } else {
            let result = iam.deactivate(user, &id).await;
            confirm(result, || async {
                let now = iam.credentials(service, user).await?;
                Ok(now.iter().any(|c| c.id == id && c.status != "Active"))
            })
            .await?;
            report(Step::Did(format!(
                "deactivated credential {id} of {user}: the key no longer works"
            )));
        }
    } else {
        report(Step::Already(format!(
            "credential {id} of {user} is {} already",
            chosen.status.to_lowercase()
        )));
    }
    if options.delete {
        if options.dry_run {
            report(Step::Would(format!("delete credential {id} of {user}")));
        } else {
            let deleted = match iam.delete_credential(user, &id).await {
                Err(e) if may_have_acted(&e) => match iam.credentials(service, user).await {
                    // The reply was lost; the listing says whether it took effect.
                    Ok(now) if !now.iter().any(|c| c.id == id) => Ok(true),
                    _ => Err(e),
                },
                other => other,
            };
            match deleted {
                Ok(true) => report(Step::Did(format!("deleted credential {id} of {user}"))),
                Ok(false) => report(Step::Already(format!(
                    "credential {id} of {user} is deleted already"
                ))),
                Err(e) => {
                    return Err(e
                        .context(format!(
                            "credential {id} is deactivated, but deleting it failed"
                        ))
                        .with_hint("run the same command again to finish"));
                }
            }
        }
    }
    Ok(())
}

/// Every user a long-term key's alias may name (`USER+1-at-…` is user `USER`'s
/// second credential or user `USER+1`'s first: IAM user names may hold `+`), with
/// all their credentials of the key's service: the credential that carries the alias
/// is looked for among them all. Users that do not exist are left out; none at all is
/// exit 3.
async fn users_of(iam: &Iam, lt: &LongTerm) -> Result<(Vec<String>, Vec<crate::iam::Remote>)> {
    let mut users = Vec::new();
    let mut all = Vec::new();
    for user in lt.user_candidates() {
        match iam.credentials(lt.service, &user).await {
            Ok(list) => {
                users.push(user);
                all.extend(list);
            }
            Err(e) if e.code() == Some("NoSuchEntity") => continue,
            Err(e) => return Err(e),
        }
    }
    if users.is_empty() {
        return Err(Error::new(
            Kind::NoSuchKey,
            format!(
                "account {} has no IAM user {}: the key's credential is not there",
                lt.account().unwrap_or("?"),
                lt.user_candidates().join(" or ")
            ),
        ));
    }
    Ok((users, all))
}

fn candidates(list: &[&crate::iam::Remote]) -> String {
    list.iter()
        .map(|c| {
            format!(
                "{} of {} ({}, made {})",
                c.id,
                c.user,
                c.status,
                crate::time::prefix(&crate::time::rfc3339(c.created), 10)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A write's result, read back when its reply was lost (`done` says whether the
/// change is in place): a lost reply after the change is success.
async fn confirm<F, Fut>(result: Result<()>, done: F) -> Result<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    match result {
        Ok(()) => Ok(()),
        Err(e) if may_have_acted(&e) => match done().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(e.with_hint("nothing was changed; run the same command again")),
            Err(_) => Err(e.with_hint(
                "whether it took effect is unknown; run the same command again (it is safe to)",
            )),
        },
        Err(e) => Err(e),
    }
}

async fn short_term(
    iam: &Iam,
    st: &ShortTerm,
    options: &Options,
    now: i64,
    report: &mut dyn FnMut(Step),
) -> Result<bool> {
    let signer = &st.signer;
    report(Step::Found(format!(
        "a short-term {} key signed by {signer} at {}, valid until {}",
        st.service.title(),
        crate::time::rfc3339(st.signed_at),
        crate::time::rfc3339(st.expires_at())
    )));
    if st.expires_at() <= now {
        report(Step::Already(
            "the key has expired: AWS refuses it already".to_string(),
        ));
        return Ok(false);
    }
    if !st.session_token {
        return user_access_key(iam, signer, options, report).await;
    }
    let principal = principal(iam, st, options, report).await?;
    match principal {
        Signer::Role(role) if role.starts_with(SSO_ROLE_PREFIX) => {
            report(Step::Left(format!(
                "the key was signed by a session of {role}, a role of IAM Identity Center, which takes no policy from the account: in IAM Identity Center, revoke the permission set's active sessions (an inline deny with aws:TokenIssueTime before now) or disable the user; the key stops working at {} at the latest",
                crate::time::rfc3339(st.expires_at())
            )));
            Ok(true)
        }
        Signer::Role(role) => {
            report(Step::Found(format!(
                "the signing session is of role {role}"
            )));
            deny_older_sessions(iam, &Principal::Role(role), st, options, now, report).await?;
            Ok(false)
        }
        Signer::User(user) => {
            report(Step::Found(format!(
                "the signing session is a GetSessionToken session of IAM user {user}, which has no role"
            )));
            deny_older_sessions(
                iam,
                &Principal::User(user.clone()),
                st,
                options,
                now,
                report,
            )
            .await?;
            report(Step::Advice(format!(
                "the access key of {user} that asked for the session still works; if it leaked too, deactivate it (`aws iam list-access-keys --user-name {user}`)"
            )));
            Ok(false)
        }
        Signer::Root => {
            report(Step::Left(
                "the key was signed by a session of the account's root user: sign in as root, delete its access keys and change its password; the key stops working when it expires".to_string(),
            ));
            Ok(true)
        }
    }
}

/// An IAM user's access key signed the key: deactivate it (delete with `--delete`).
async fn user_access_key(
    iam: &Iam,
    signer: &str,
    options: &Options,
    report: &mut dyn FnMut(Step),
) -> Result<bool> {
    let Some(user) = iam.user_of_access_key(signer).await? else {
        report(Step::Already(format!(
            "the account has no access key {signer} any more: it was deleted"
        )));
        return Ok(false);
    };
    report(Step::Found(format!(
        "access key {signer} is IAM user {user}'s"
    )));
    let status = iam
        .access_keys(&user)
        .await?
        .into_iter()
        .find(|(id, _)| id == signer)
        .map(|(_, status)| status);
    match status.as_deref() {
        None => {
            report(Step::Already(format!(
                "{user} holds access key {signer} no more: it was deleted"
            )));
            return Ok(false);
        }
        Some("Active") if options.dry_run => {
            report(Step::Would(format!(
                "deactivate access key {signer} of {user}"
            )));
        }
        Some("Active") => {
            let result = iam.deactivate_access_key(&user, signer).await;
            confirm(result, || async {
                let keys = iam.access_keys(&user).await?;
                Ok(keys.iter().any(|(id, s)| id == signer && s != "Active"))
            })
            .await?;
            report(Step::Did(format!(
                "deactivated access key {signer} of {user}: the key and every other request it signs are refused"
            )));
        }
        Some(_) => report(Step::Already(format!(
            "access key {signer} of {user} is inactive already"
        ))),
    }
    if options.delete {
        if options.dry_run {
            report(Step::Would(format!("delete access key {signer} of {user}")));
        } else if match iam.delete_access_key(&user, signer).await {
            Err(e) if may_have_acted(&e) => match iam.access_keys(&user).await {
                // The reply was lost; the listing says whether it took effect.
                Ok(keys) if !keys.iter().any(|(id, _)| id == signer) => true,
                _ => return Err(e),
            },
            other => other?,
        } {
            report(Step::Did(format!("deleted access key {signer} of {user}")));
        } else {
            report(Step::Already(format!(
                "access key {signer} of {user} is deleted already"
            )));
        }
    }
    let verb = if options.dry_run {
        "would stop"
    } else {
        "stop"
    };
    report(Step::Advice(format!(
        "programs that use access key {signer} of {user} {verb} working: give them a new one"
    )));
    Ok(false)
}

/// Who a session belongs to.
enum Signer {
    Role(String),
    /// A `GetSessionToken` (or federation) session of a user.
    User(String),
    Root,
}

/// The name in a role ARN (`arn:aws:iam::ACCOUNT:role/PATH/NAME`).
fn role_name(arn: &str) -> Result<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "iam", "", account, resource]
            if crate::org::is_account_id(account) && resource.starts_with("role/") =>
        {
            let name = resource.rsplit('/').next().unwrap_or_default();
            crate::org::check_role_name(name)?;
            Ok(name)
        }
        _ => Err(Error::usage(format!(
            "--role '{arn}' is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
        ))),
    }
}

/// Whose session signed the key: CloudTrail's answer; `--role` when CloudTrail has
/// none yet (said to be unverified), and refused when CloudTrail names another.
async fn principal(
    iam: &Iam,
    st: &ShortTerm,
    options: &Options,
    report: &mut dyn FnMut(Step),
) -> Result<Signer> {
    let found = signer_from_cloudtrail(iam, &st.signer, &st.region, report).await;
    let Some(arn) = &options.role_arn else {
        return found?.ok_or_else(|| {
            Error::failure(format!(
                "CloudTrail has no event of session {} yet: events arrive up to 15 minutes late, and a session that only signed keys makes none",
                st.signer
            ))
            .with_hint("name the role whose session signed the key: --role arn:aws:iam::ACCOUNT:role/NAME")
        });
    };
    let named = role_name(arn)?.to_string();
    match found {
        Ok(Some(Signer::Role(role))) if role == named => Ok(Signer::Role(role)),
        Ok(Some(other)) => Err(Error::failure(format!(
            "CloudTrail names {} as the session's, not role {named}; nothing was changed",
            match &other {
                Signer::Role(r) => format!("role {r}"),
                Signer::User(u) => format!("user {u}"),
                Signer::Root => "the root user".to_string(),
            }
        ))
        .with_hint("run again without --role to cut what CloudTrail names")),
        Ok(None) => {
            report(Step::Advice(format!(
                "CloudTrail has no event of the session yet, so --role {named} is taken as given, unverified"
            )));
            Ok(Signer::Role(named))
        }
        Err(e) => {
            report(Step::Advice(format!(
                "CloudTrail could not be asked ({}), so --role {named} is taken as given, unverified",
                e.message()
            )));
            Ok(Signer::Role(named))
        }
    }
}

/// The session's principal, from the events CloudTrail holds of its access key: in
/// the key's region, and in us-east-1, where global services (IAM, STS) log. None
/// when CloudTrail has no event of it.
async fn signer_from_cloudtrail(
    iam: &Iam,
    signer: &str,
    region: &str,
    report: &mut dyn FnMut(Step),
) -> Result<Option<Signer>> {
    let mut regions = vec![region.to_string()];
    if region != "us-east-1" && crate::region::partition(region) == "aws" {
        regions.push("us-east-1".to_string());
    }
    for r in &regions {
        let config = iam
            .sdk_config()
            .to_builder()
            .region(aws_config::Region::new(r.clone()))
            .build();
        let client = aws_sdk_cloudtrail::Client::new(&config);
        let out = client
            .lookup_events()
            .lookup_attributes(
                aws_sdk_cloudtrail::types::LookupAttribute::builder()
                    .attribute_key(aws_sdk_cloudtrail::types::LookupAttributeKey::AccessKeyId)
                    .attribute_value(signer)
                    .build()
                    .map_err(|e| Error::failure(e.to_string()))?,
            )
            .max_results(50)
            .send()
            .await
            .map_err(|e| crate::aws::service_error("CloudTrail", "LookupEvents", e))?;
        for event in out.events() {
            if let Some(found) = event.cloud_trail_event().and_then(principal_of) {
                report(Step::Found(format!(
                    "CloudTrail in {r} names the session's principal"
                )));
                return Ok(Some(found));
            }
        }
    }
    Ok(None)
}

/// A CloudTrail record's principal: `userIdentity` of an assumed role, a user's
/// session, or root.
fn principal_of(record: &str) -> Option<Signer> {
    let value: Value = serde_json::from_str(record).ok()?;
    let identity = value.get("userIdentity")?;
    let last = |arn: &str| arn.rsplit('/').next().map(str::to_string);
    match identity.get("type")?.as_str()? {
        "AssumedRole" => {
            let issuer = identity
                .pointer("/sessionContext/sessionIssuer/arn")?
                .as_str()?;
            Some(Signer::Role(last(issuer)?))
        }
        "IAMUser" => Some(Signer::User(last(identity.get("arn")?.as_str()?)?)),
        "FederatedUser" => {
            let issuer = identity
                .pointer("/sessionContext/sessionIssuer/arn")?
                .as_str()?;
            Some(Signer::User(last(issuer)?))
        }
        "Root" => Some(Signer::Root),
        _ => None,
    }
}

/// The `Sid` of the deny of older sessions for a service.
fn deny_sid(service: Service) -> String {
    let title: String = service
        .title()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("BedkeyDenyOlder{title}Sessions")
}

/// The deny statement's time in a document, when it has bedkey's statement for the
/// service.
/// Only a statement of exactly bedkey's shape counts: a Deny of the service's
/// bearer-token actions on every resource under the one `aws:TokenIssueTime`
/// condition. One with the Sid but anything else (an Allow, other actions, more
/// conditions: planted or edited) is rewritten, never trusted.
fn denied_before(document: &Value, sid: &str, service: Service) -> Option<i64> {
    let statement = match document.get("Statement")? {
        Value::Array(list) => list
            .iter()
            .find(|s| s.get("Sid").and_then(Value::as_str) == Some(sid))?,
        one @ Value::Object(_) => one,
        _ => return None,
    };
    let strings = |v: Option<&Value>| -> Option<Vec<String>> {
        let mut list: Vec<String> = match v? {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<_>>()?,
            _ => return None,
        };
        list.sort();
        Some(list)
    };
    let mut wanted: Vec<String> = service
        .bearer_actions()
        .iter()
        .map(|a| a.to_string())
        .collect();
    wanted.sort();
    let object = statement.as_object()?;
    let shaped = statement.get("Sid").and_then(Value::as_str) == Some(sid)
        && statement.get("Effect").and_then(Value::as_str) == Some("Deny")
        && strings(statement.get("Action"))? == wanted
        && strings(statement.get("Resource"))? == ["*"]
        && object.keys().all(|k| {
            matches!(
                k.as_str(),
                "Sid" | "Effect" | "Action" | "Resource" | "Condition"
            )
        });
    let condition = statement.get("Condition")?.as_object()?;
    let by_time = condition.get("DateLessThan")?.as_object()?;
    if !shaped || condition.len() != 1 || by_time.len() != 1 {
        return None;
    }
    by_time
        .get("aws:TokenIssueTime")?
        .as_str()
        .and_then(|t| crate::time::parse_instant(t).ok())
}

/// Deny the principal's sessions issued before now the key's bearer-token actions,
/// merged into bedkey's inline policy of that name (other statements kept).
async fn deny_older_sessions(
    iam: &Iam,
    owner: &Principal,
    st: &ShortTerm,
    options: &Options,
    now: i64,
    report: &mut dyn FnMut(Step),
) -> Result<()> {
    let whose = match owner {
        Principal::Role(r) => format!("role {r}"),
        Principal::User(u) => format!("user {u}"),
    };
    let sid = deny_sid(st.service);
    let existing = iam.inline_policy(owner, DENY_POLICY).await?;
    let mut document: Value = match &existing {
        Some(text) => serde_json::from_str(text).map_err(|_| {
            Error::failure(format!(
                "the inline policy {DENY_POLICY} of {whose} is not JSON; bedkey will not overwrite it"
            ))
        })?,
        None => json!({"Version": "2012-10-17", "Statement": []}),
    };
    if let Some(before) = denied_before(&document, &sid, st.service)
        && before > st.signed_at
    {
        report(Step::Already(format!(
            "{whose} denies {} keys of sessions issued before {} already",
            st.service.title(),
            crate::time::rfc3339(before)
        )));
        return Ok(());
    }
    let statement = json!({
        "Sid": sid,
        "Effect": "Deny",
        "Action": st.service.bearer_actions(),
        "Resource": "*",
        // A second past now: a session issued in this very second is older too.
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": crate::time::rfc3339(now + 1)}},
    });
    // One statement on its own is IAM's grammar too: made a list, kept.
    if let Some(one @ Value::Object(_)) = document.get_mut("Statement") {
        *one = Value::Array(vec![one.take()]);
    }
    let statements = match document.get_mut("Statement") {
        Some(Value::Array(list)) => list,
        _ => {
            return Err(Error::failure(format!(
                "the inline policy {DENY_POLICY} of {whose} has no statement list; bedkey will not overwrite it"
            )));
        }
    };
    statements.retain(|s| s.get("Sid").and_then(Value::as_str) != Some(sid.as_str()));
    statements.push(statement);
    let text = document.to_string();
    let said = format!(
        "deny {whose}'s sessions issued before {} the use of {} keys (inline policy {DENY_POLICY})",
        crate::time::rfc3339(now + 1),
        st.service.title()
    );
    if options.dry_run {
        report(Step::Would(said));
        return Ok(());
    }
    let result = iam.put_policy_of(owner, DENY_POLICY, &text).await;
    confirm(result, || async {
        let now_held = iam.inline_policy(owner, DENY_POLICY).await?;
        Ok(now_held
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|d| denied_before(&d, &sid, st.service))
            .is_some_and(|before| before > st.signed_at))
    })
    .await?;
    report(Step::Did(format!(
        "{}: the key is refused, and so is every key signed by an older session of {whose}",
        capitalize(&said)
    )));
    Ok(())
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudtrail_records_name_the_principal() {
        let role = r#"{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/dev/s","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/team/dev"}}}}"#;
        assert!(matches!(principal_of(role), Some(Signer::Role(r)) if r == "dev"));
        let user =
            r#"{"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice"}}"#;
        assert!(matches!(principal_of(user), Some(Signer::User(u)) if u == "alice"));
        assert!(matches!(
            principal_of(r#"{"userIdentity":{"type":"Root"}}"#),
            Some(Signer::Root)
        ));
        assert!(principal_of("not json").is_none());
        assert!(principal_of(r#"{"userIdentity":{"type":"AWSService"}}"#).is_none());
    }

    #[test]
    fn role_arns_are_checked() {
        assert_eq!(
            role_name("arn:aws:iam::111122223333:role/path/dev").unwrap(),
            "dev"
        );
        for bad in [
            "dev",
            "arn:aws:iam::1:role/dev",
            "arn:aws:iam::111122223333:user/dev",
        ] {
            assert!(role_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_a_deny_of_bedkeys_shape_counts_as_done() {
        let sid = deny_sid(Service::Bedrock);
        let ours = json!({"Sid": sid, "Effect": "Deny",
            "Action": ["bedrock-mantle:CallWithBearerToken", "bedrock:CallWithBearerToken"],
            "Resource": "*", "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2030-01-01T00:00:00Z"}}});
        let doc = json!({"Statement": [
            {"Sid": "Other", "Effect": "Deny", "Action": "s3:*", "Resource": "*"}, ours.clone()]});
        assert_eq!(
            denied_before(&doc, &sid, Service::Bedrock),
            crate::time::parse_instant("2030-01-01T00:00:00Z").ok()
        );
        assert!(
            denied_before(&json!({"Statement": ours.clone()}), &sid, Service::Bedrock).is_some()
        );
        assert_eq!(
            denied_before(
                &doc,
                &deny_sid(Service::ClaudePlatform),
                Service::ClaudePlatform
            ),
            None
        );
        // Planted or edited: the Sid alone proves nothing.
        let planted = |change: &dyn Fn(&mut Value)| {
            let mut s = ours.clone();
            change(&mut s);
            denied_before(&json!({"Statement": [s]}), &sid, Service::Bedrock)
        };
        assert_eq!(planted(&|s| s["Effect"] = json!("Allow")), None);
        assert_eq!(planted(&|s| s["Action"] = json!("s3:GetObject")), None);
        assert_eq!(
            planted(&|s| s["Action"] = json!("bedrock:CallWithBearerToken")),
            None
        );
        assert_eq!(
            planted(&|s| s["Resource"] = json!("arn:aws:bedrock:*:*:nothing")),
            None
        );
        assert_eq!(
            planted(&|s| s["Condition"]["Bool"] = json!({"aws:SecureTransport": "false"})),
            None
        );
        assert_eq!(planted(&|s| s["NotAction"] = json!("x:y")), None);
    }
}
