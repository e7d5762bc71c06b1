//! An AWS Organization's accounts (`ListAccounts`, from the management account or a
//! delegated administrator), and a way into each: `AssumeRole` of a role every
//! account has (by default the one Organizations makes, `OrganizationAccountAccessRole`).

use aws_sdk_organizations::error::ProvideErrorMetadata;

use crate::error::{Error, Result};
use crate::iam::Iam;

/// The role Organizations makes in every account it creates.
pub const DEFAULT_ROLE: &str = "OrganizationAccountAccessRole";
/// The session name an audit's AssumeRole carries, so that the account's CloudTrail
/// says who looked.
pub const AUDIT_SESSION: &str = "bedkey-audit";
/// The session name of `revoke --leaked`.
pub const REVOKE_SESSION: &str = "bedkey-revoke";

/// One account of the organization.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: String,
    pub name: String,
    /// `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`: only an active one can be entered.
    pub status: String,
}

/// Every account of the caller's organization, in the order Organizations lists them.
pub async fn accounts(iam: &Iam) -> Result<Vec<Account>> {
    let client = aws_sdk_organizations::Client::new(iam.sdk_config());
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    let mut seen = std::collections::HashSet::new();
    loop {
        let out = client
            .list_accounts()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| {
                let code = e.code().map(str::to_string);
                let err = crate::aws::service_error("Organizations", "ListAccounts", e);
                match code.as_deref() {
                    Some("AWSOrganizationsNotInUseException") => err.with_hint(
                        "these credentials' account is in no organization; audit one account without --org",
                    ),
                    Some("AccessDeniedException") => err.with_hint(
                        "run from the management account or a delegated administrator, with organizations:ListAccounts",
                    ),
                    _ => err,
                }
            })?;
        for a in out.accounts() {
            let Some(id) = a.id().filter(|id| is_account_id(id)) else {
                return Err(Error::failure(
                    "Organizations answered ListAccounts with an account without a 12-digit id",
                ));
            };
            all.push(Account {
                id: id.to_string(),
                name: a.name().unwrap_or_default().to_string(),
                status: a
                    .state()
                    .map(|s| s.as_str().to_string())
                    .or_else(|| {
                        #[allow(deprecated)]
                        a.status().map(|s| s.as_str().to_string())
                    })
                    .unwrap_or_else(|| "ACTIVE".to_string()),
            });
        }
        token = match out.next_token().filter(|t| !t.is_empty()) {
            None => return Ok(all),
            Some(t) if seen.insert(t.to_string()) => Some(t.to_string()),
            Some(_) => {
                return Err(Error::failure(
                    "Organizations answered ListAccounts with a page token it gave before: the listing would never end",
                ));
            }
        };
    }
}

pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// The ARN of role `role` (a name, or a path and name) in `account`.
pub fn role_arn(partition: &str, account: &str, role: &str) -> String {
    let role = role.trim_start_matches('/');
    format!("arn:{partition}:iam::{account}:role/{role}")
}

/// A role name as `--role` takes it: IAM's characters, an optional path.
pub fn check_role_name(role: &str) -> Result<()> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.len() <= 64
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
    };
    let mut parts: Vec<&str> = role.trim_start_matches('/').split('/').collect();
    let name = parts.pop().unwrap_or("");
    if role.len() > 512 || !name_ok(name) || !parts.iter().all(|p| name_ok(p)) {
        return Err(Error::usage(format!(
            "'{role}' is not an IAM role name (letters, digits and +=,.@_-, up to 64; a path may come first)"
        )));
    }
    Ok(())
}

/// IAM in `account`: the caller's own when it is the caller's account, else through
/// role `role` there.
pub async fn enter(
    iam: &Iam,
    own_account: &str,
    partition: &str,
    account: &str,
    role: &str,
    session: &str,
    role_flag: &str,
) -> Result<Iam> {
    if account == own_account {
        return Ok(iam.clone());
    }
    let arn = role_arn(partition, account, role);
    let credentials = iam.assume_role(&arn, session).await.map_err(|e| {
        let hint = format!(
            "deploy role {role} in account {account}, trusting this account (docs/team.md), or name another with {role_flag}"
        );
        e.context(format!("cannot enter account {account} as {role}"))
            .with_hint(hint)
    })?;
    Ok(iam.with_credentials(credentials))
}

/// Parse `--accounts`/`--skip` values: 12-digit ids, comma-separated or repeated.
pub fn parse_ids(values: &[String], flag: &str) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for value in values {
        if value.trim().is_empty() {
            return Err(Error::usage(format!(
                "{flag} needs at least one account id"
            )));
        }
        for id in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if !is_account_id(id) {
                return Err(Error::usage(format!(
                    "{flag}: '{id}' is not a 12-digit AWS account id"
                )));
            }
            if !ids.iter().any(|i| i == id) {
                ids.push(id.to_string());
            }
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_and_account_ids_are_checked() {
        assert!(check_role_name("OrganizationAccountAccessRole").is_ok());
        assert!(check_role_name("security/bedkey-audit").is_ok());
        for bad in ["", "a b", "x/", "role:1", &"r".repeat(65)] {
            assert!(check_role_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            role_arn("aws", "111122223333", "/sec/r"),
            "arn:aws:iam::111122223333:role/sec/r"
        );
        assert_eq!(
            parse_ids(
                &["111122223333, 444455556666".into(), "111122223333".into()],
                "--accounts"
            )
            .unwrap(),
            ["111122223333", "444455556666"]
        );
        assert!(parse_ids(&["12345".into()], "--skip").is_err());
    }
}
