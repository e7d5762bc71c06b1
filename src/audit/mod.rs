//! An account's API keys (of every service IAM makes them for) judged: which never
//! expire, which are old, which the console made, which no bedkey here manages,
//! whose users hold access keys or broad policies. `bedkey audit` shows the findings;
//! every rule is the same for every service. [`account`] reads one account.

pub mod account;

use serde::Serialize;

use crate::iam::Remote;

/// Keys older than this many days are reported, unless told otherwise.
pub const DEFAULT_MAX_AGE_DAYS: i64 = 90;
/// Whether the console made the user: it names them after the service
/// (`BedrockAPIKey-…`, `AeaApiKey-…`), whichever service the key is for.
pub fn console_made(user: &str) -> bool {
    crate::service::Service::ALL
        .iter()
        .filter_map(|s| s.describe().console_user_prefix)
        .any(|prefix| user.starts_with(prefix))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finding {
    NeverExpires,
    OlderThan(i64),
    Expired,
    Inactive,
    ConsoleMade,
    NotManagedHere,
    /// A console-made user that also holds IAM access keys: a pivot from an API key's
    /// user to the account.
    PhantomAccessKey,
    /// The key's user may do far more than use the key (see [`crate::authz`]).
    BroadPolicy,
}

impl Finding {
    pub fn name(self) -> String {
        match self {
            Finding::NeverExpires => "never-expires".to_string(),
            Finding::OlderThan(days) => format!("older-than-{days}"),
            Finding::Expired => "expired".to_string(),
            Finding::Inactive => "inactive".to_string(),
            Finding::ConsoleMade => "console-made".to_string(),
            Finding::NotManagedHere => "not-managed-here".to_string(),
            Finding::PhantomAccessKey => "phantom-access-key".to_string(),
            Finding::BroadPolicy => "broad-policy".to_string(),
        }
    }

    /// What `--strict` fails on; the rest inform.
    pub fn is_strict(self) -> bool {
        matches!(
            self,
            Finding::NeverExpires
                | Finding::OlderThan(_)
                | Finding::ConsoleMade
                | Finding::PhantomAccessKey
                | Finding::BroadPolicy
        )
    }
}

/// An account that could not be read, wholly or in part, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    pub account: String,
    pub reason: String,
}

/// One credential as the audit reports it.
#[derive(Clone, Debug, Serialize)]
pub struct Audited {
    /// The AWS account the credential is in.
    pub account: String,
    /// `bedrock`, `claude-platform`, `cloudwatch` or `logs`.
    pub service: &'static str,
    pub user: String,
    pub credential_id: String,
    pub status: String,
    pub created: String,
    pub expires: Option<String>,
    pub age_days: i64,
    pub findings: Vec<String>,
    /// Why a user-level finding was made: the access keys a console-made user holds,
    /// the policies that make it broad.
    pub reasons: Vec<String>,
    pub managed_here: bool,
    /// Whether a finding `--strict` fails on is among them.
    #[serde(skip)]
    pub strict: bool,
}

/// Counts over the whole account.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Accounts read, and accounts that could not be read (wholly or in part).
    pub accounts: usize,
    pub accounts_failed: usize,
    pub credentials: usize,
    pub users: usize,
    pub active: usize,
    pub managed_here: usize,
    /// How many credentials have each finding.
    pub findings: std::collections::BTreeMap<String, usize>,
    /// How many have a finding `--strict` fails on.
    pub strict_failures: usize,
}

/// What the audit learnt about a credential's user beyond the credential.
#[derive(Clone, Debug, Default)]
pub struct UserFacts {
    /// How many IAM access keys the user holds (asked only of console-made users).
    pub access_keys: usize,
    /// Why its policies are broad, if they are.
    pub broad: Vec<String>,
}

/// Judge one credential of `account` as of `now`; `managed_here` when a local key
/// holds it.
pub fn assess(
    account: &str,
    c: &Remote,
    now: i64,
    max_age_days: i64,
    managed_here: bool,
    user: &UserFacts,
) -> Audited {
    let age_days = (now - c.created).max(0) / 86_400;
    let mut findings = Vec::new();
    match c.expires {
        None => findings.push(Finding::NeverExpires),
        Some(at) if at <= now => findings.push(Finding::Expired),
        Some(_) => {}
    }
    if age_days > max_age_days {
        findings.push(Finding::OlderThan(max_age_days));
    }
    if c.status == "Inactive" {
        findings.push(Finding::Inactive);
    }
    if c.status == "Expired" && !findings.contains(&Finding::Expired) {
        findings.push(Finding::Expired);
    }
    let mut reasons = Vec::new();
    if console_made(&c.user) {
        findings.push(Finding::ConsoleMade);
        if user.access_keys > 0 {
            findings.push(Finding::PhantomAccessKey);
            reasons.push(format!(
                "{} holds {} IAM access key{}",
                c.user,
                user.access_keys,
                if user.access_keys == 1 { "" } else { "s" }
            ));
        }
    }
    if !user.broad.is_empty() {
        findings.push(Finding::BroadPolicy);
        reasons.extend(user.broad.iter().cloned());
    }
    if !managed_here {
        findings.push(Finding::NotManagedHere);
    }
    Audited {
        account: account.to_string(),
        service: c.service.name(),
        user: c.user.clone(),
        credential_id: c.id.clone(),
        status: c.status.clone(),
        created: crate::time::rfc3339(c.created),
        expires: c.expires.map(crate::time::rfc3339),
        age_days,
        strict: findings.iter().any(|f| f.is_strict()),
        findings: findings.iter().map(|f| f.name()).collect(),
        reasons,
        managed_here,
    }
}

pub fn summarize(audited: &[Audited]) -> Summary {
    let mut s = Summary {
        credentials: audited.len(),
        ..Summary::default()
    };
    let mut users = std::collections::HashSet::new();
    let mut accounts = std::collections::HashSet::new();
    for a in audited {
        users.insert((a.account.as_str(), a.user.as_str()));
        accounts.insert(a.account.as_str());
        s.active += usize::from(a.status == "Active");
        s.managed_here += usize::from(a.managed_here);
        s.strict_failures += usize::from(a.strict);
        for f in &a.findings {
            *s.findings.entry(f.clone()).or_default() += 1;
        }
    }
    s.users = users.len();
    s.accounts = accounts.len();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn cred(user: &str, status: &str, created: i64, expires: Option<i64>) -> Remote {
        Remote {
            service: crate::service::Service::Bedrock,
            id: "ACCAEXAMPLE".into(),
            user: user.into(),
            status: status.into(),
            created,
            expires,
            alias: None,
        }
    }

    #[test]
    fn findings_follow_the_contract() {
        let now = 1_000 * DAY;
        let fresh = assess(
            "111122223333",
            &cred("bedkey-a", "Active", now - DAY, Some(now + DAY)),
            now,
            90,
            true,
            &UserFacts::default(),
        );
        assert!(fresh.findings.is_empty(), "{:?}", fresh.findings);
        assert!(!fresh.strict);

        let forever = assess(
            "111122223333",
            &cred("BedrockAPIKey-x1", "Active", now - 200 * DAY, None),
            now,
            90,
            false,
            &UserFacts::default(),
        );
        assert_eq!(
            forever.findings,
            [
                "never-expires",
                "older-than-90",
                "console-made",
                "not-managed-here"
            ]
        );
        assert_eq!(forever.age_days, 200);
        assert!(forever.strict);

        let dead = assess(
            "111122223333",
            &cred("u", "Expired", now - 10 * DAY, Some(now - DAY)),
            now,
            90,
            true,
            &UserFacts::default(),
        );
        assert_eq!(dead.findings, ["expired"]);
        assert!(!dead.strict, "expired only informs");
        let off = assess(
            "111122223333",
            &cred("u", "Inactive", now - 10 * DAY, Some(now + DAY)),
            now,
            30,
            true,
            &UserFacts::default(),
        );
        assert_eq!(off.findings, ["inactive"]);
        let old = assess(
            "111122223333",
            &cred("u", "Active", now - 31 * DAY, Some(now + DAY)),
            now,
            30,
            true,
            &UserFacts::default(),
        );
        assert_eq!(old.findings, ["older-than-30"]);

        let summary = summarize(&[fresh, forever, dead, off, old]);
        assert_eq!(summary.credentials, 5);
        assert_eq!(summary.users, 3);
        assert_eq!(summary.strict_failures, 2);
        assert_eq!(summary.findings["never-expires"], 1);
    }

    #[test]
    fn users_the_console_made_for_either_service_are_console_made() {
        let now = 1_000 * DAY;
        for user in ["BedrockAPIKey-x1", "AeaApiKey-ab12"] {
            let a = assess(
                "111122223333",
                &cred(user, "Active", now - DAY, Some(now + DAY)),
                now,
                90,
                true,
                &UserFacts::default(),
            );
            assert!(a.findings.contains(&"console-made".to_string()), "{user}");
            assert!(a.strict);
        }
        let a = assess(
            "111122223333",
            &cred("alice", "Active", now - DAY, Some(now + DAY)),
            now,
            90,
            true,
            &UserFacts::default(),
        );
        assert!(a.findings.is_empty());
    }

    #[test]
    fn a_phantom_user_with_access_keys_and_a_broad_user_fail_strict() {
        let now = 1_000 * DAY;
        let facts = UserFacts {
            access_keys: 2,
            broad: vec!["AdministratorAccess is attached".into()],
        };
        let a = assess(
            "111122223333",
            &cred("BedrockAPIKey-x1", "Active", now - DAY, Some(now + DAY)),
            now,
            90,
            true,
            &facts,
        );
        assert_eq!(
            a.findings,
            ["console-made", "phantom-access-key", "broad-policy"]
        );
        assert_eq!(
            a.reasons,
            [
                "BedrockAPIKey-x1 holds 2 IAM access keys",
                "AdministratorAccess is attached"
            ]
        );
        // Access keys of a user bedkey or a person made are no phantom's.
        let own = assess(
            "111122223333",
            &cred("alice", "Active", now - DAY, Some(now + DAY)),
            now,
            90,
            true,
            &UserFacts {
                access_keys: 1,
                broad: Vec::new(),
            },
        );
        assert!(own.findings.is_empty());
        assert!(!own.strict);
    }
}
