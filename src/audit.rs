//! An account's API keys (of every service IAM makes them for) judged: which never
//! expire, which are old, which the console made, which no bedkey here manages.
//! `bedkey audit` shows the findings; every rule is the same for every service.

use serde::Serialize;

use crate::iam::Remote;

/// Keys older than this many days are reported, unless told otherwise.
pub const DEFAULT_MAX_AGE_DAYS: i64 = 90;
/// Whether the console made the user: it names them after the service
/// (`BedrockAPIKey-…`, `AeaApiKey-…`), whichever service the key is for.
fn console_made(user: &str) -> bool {
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
        }
    }

    /// What `--strict` fails on; the rest inform.
    pub fn is_strict(self) -> bool {
        matches!(
            self,
            Finding::NeverExpires | Finding::OlderThan(_) | Finding::ConsoleMade
        )
    }
}

/// One credential as the audit reports it.
#[derive(Clone, Debug, Serialize)]
pub struct Audited {
    /// `bedrock`, `claude-platform`, `cloudwatch` or `logs`.
    pub service: &'static str,
    pub user: String,
    pub credential_id: String,
    pub status: String,
    pub created: String,
    pub expires: Option<String>,
    pub age_days: i64,
    pub findings: Vec<String>,
    pub managed_here: bool,
    /// Whether a finding `--strict` fails on is among them.
    #[serde(skip)]
    pub strict: bool,
}

/// Counts over the whole account.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub credentials: usize,
    pub users: usize,
    pub active: usize,
    pub managed_here: usize,
    /// How many credentials have each finding.
    pub findings: std::collections::BTreeMap<String, usize>,
    /// How many have a finding `--strict` fails on.
    pub strict_failures: usize,
}

/// Judge one credential as of `now`; `managed_here` when a local key holds it.
pub fn assess(c: &Remote, now: i64, max_age_days: i64, managed_here: bool) -> Audited {
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
    if console_made(&c.user) {
        findings.push(Finding::ConsoleMade);
    }
    if !managed_here {
        findings.push(Finding::NotManagedHere);
    }
    Audited {
        service: c.service.name(),
        user: c.user.clone(),
        credential_id: c.id.clone(),
        status: c.status.clone(),
        created: crate::time::rfc3339(c.created),
        expires: c.expires.map(crate::time::rfc3339),
        age_days,
        strict: findings.iter().any(|f| f.is_strict()),
        findings: findings.iter().map(|f| f.name()).collect(),
        managed_here,
    }
}

pub fn summarize(audited: &[Audited]) -> Summary {
    let mut s = Summary {
        credentials: audited.len(),
        ..Summary::default()
    };
    let mut users = std::collections::HashSet::new();
    for a in audited {
        users.insert(a.user.as_str());
        s.active += usize::from(a.status == "Active");
        s.managed_here += usize::from(a.managed_here);
        s.strict_failures += usize::from(a.strict);
        for f in &a.findings {
            *s.findings.entry(f.clone()).or_default() += 1;
        }
    }
    s.users = users.len();
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
            &cred("bedkey-a", "Active", now - DAY, Some(now + DAY)),
            now,
            90,
            true,
        );
        assert!(fresh.findings.is_empty(), "{:?}", fresh.findings);
        assert!(!fresh.strict);

        let forever = assess(
            &cred("BedrockAPIKey-x1", "Active", now - 200 * DAY, None),
            now,
            90,
            false,
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
            &cred("u", "Expired", now - 10 * DAY, Some(now - DAY)),
            now,
            90,
            true,
        );
        assert_eq!(dead.findings, ["expired"]);
        assert!(!dead.strict, "expired only informs");
        let off = assess(
            &cred("u", "Inactive", now - 10 * DAY, Some(now + DAY)),
            now,
            30,
            true,
        );
        assert_eq!(off.findings, ["inactive"]);
        let old = assess(
            &cred("u", "Active", now - 31 * DAY, Some(now + DAY)),
            now,
            30,
            true,
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
                &cred(user, "Active", now - DAY, Some(now + DAY)),
                now,
                90,
                true,
            );
            assert!(a.findings.contains(&"console-made".to_string()), "{user}");
            assert!(a.strict);
        }
        let a = assess(
            &cred("alice", "Active", now - DAY, Some(now + DAY)),
            now,
            90,
            true,
        );
        assert!(a.findings.is_empty());
    }
}
