//! What an IAM user may do, as far as the audit needs to know: whether any of its
//! own or its groups' policies makes a key of that user more than an API key (a
//! `broad-policy` finding). The documents come from one paginated
//! `GetAccountAuthorizationDetails`; nothing here calls AWS.

use std::collections::BTreeMap;

use serde_json::Value;

/// AWS-managed policies that are broad by what they are for.
const BROAD_MANAGED: [&str; 3] = ["AdministratorAccess", "PowerUserAccess", "IAMFullAccess"];

/// IAM actions through which a holder can give itself or others more rights, or new
/// credentials: an allow that reaches any of them makes a key a way into the account.
const ESCALATING: [&str; 19] = [
    "iam:CreateUser",
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:CreateServiceSpecificCredential",
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:CreateRole",
    "iam:AttachUserPolicy",
    "iam:AttachGroupPolicy",
    "iam:AttachRolePolicy",
    "iam:PutUserPolicy",
    "iam:PutGroupPolicy",
    "iam:PutRolePolicy",
    "iam:AddUserToGroup",
    "iam:UpdateAssumeRolePolicy",
    "iam:PassRole",
    "iam:CreateGroup",
];

/// A user's or a group's policies.
#[derive(Clone, Debug, Default)]
pub struct Holder {
    /// Inline policies: name and document.
    pub inline: Vec<(String, String)>,
    /// Attached managed policies, by ARN.
    pub attached: Vec<String>,
    /// The groups a user is in (none for a group).
    pub groups: Vec<String>,
}

/// An account's users, groups and own managed policies (ARN to default document).
#[derive(Clone, Debug, Default)]
pub struct Details {
    pub users: BTreeMap<String, Holder>,
    pub groups: BTreeMap<String, Holder>,
    pub policies: BTreeMap<String, String>,
}

impl Details {
    /// Why user `user` is broadly allowed, one reason a policy, or nothing. A user the
    /// details do not know (deleted meanwhile) is judged on nothing.
    pub fn broad(&self, user: &str) -> Vec<String> {
        let Some(holder) = self.users.get(user) else {
            return Vec::new();
        };
        let mut reasons = self.broad_holder(holder, "");
        for group in &holder.groups {
            if let Some(g) = self.groups.get(group) {
                reasons.extend(self.broad_holder(g, &format!("group {group}: ")));
            }
        }
        reasons
    }

    fn broad_holder(&self, holder: &Holder, whose: &str) -> Vec<String> {
        let mut reasons = Vec::new();
        for (name, document) in &holder.inline {
            if let Some(why) = broad_document(document) {
                reasons.push(format!("{whose}inline policy {name} {why}"));
            }
        }
        for arn in &holder.attached {
            let name = arn.rsplit('/').next().unwrap_or(arn);
            let aws_managed = arn.split(':').nth(4) == Some("aws");
            if aws_managed && BROAD_MANAGED.contains(&name) {
                reasons.push(format!("{whose}{name} is attached"));
            } else if let Some(why) = self.policies.get(arn).and_then(|d| broad_document(d)) {
                reasons.push(format!("{whose}policy {name} {why}"));
            }
        }
        reasons
    }
}

/// Why a policy document is broad, or None: an allow of `*` (or `SERVICE:*` for IAM),
/// a `NotAction` allow, or an allow that reaches an escalating IAM action. Resource
/// and Condition are not weighed: a narrowed grant of these is still worth a look.
/// A document that is not JSON is judged on nothing (IAM would not hold one).
pub fn broad_document(document: &str) -> Option<String> {
    let value: Value = serde_json::from_str(document).ok()?;
    let statements: Vec<&Value> = match value.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return None,
    };
    for s in statements {
        if s.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        if s.get("NotAction").is_some() {
            return Some("allows NotAction".to_string());
        }
        for action in strings(s.get("Action")) {
            if action == "*" || action.eq_ignore_ascii_case("*:*") {
                return Some("allows every action (*)".to_string());
            }
            if let Some(hit) = ESCALATING.iter().find(|a| glob(action, a)) {
                return Some(format!("allows {hit} ({action})"));
            }
        }
    }
    None
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// IAM's action matching: case-insensitive, `*` any run of characters, `?` one.
fn glob(pattern: &str, action: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let a: Vec<char> = action.to_ascii_lowercase().chars().collect();
    // Iterative wildcard match with one backtrack point.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < a.len() {
        if i < p.len() && (p[i] == '?' || p[i] == a[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(statement: &str) -> String {
        format!(r#"{{"Version":"2012-10-17","Statement":[{statement}]}}"#)
    }

    #[test]
    fn broad_documents_are_named_for_what_makes_them_broad() {
        let cases = [
            (
                r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#,
                "every action",
            ),
            (
                r#"{"Effect":"Allow","NotAction":"s3:*","Resource":"*"}"#,
                "NotAction",
            ),
            (
                r#"{"Effect":"Allow","Action":["iam:Create*"],"Resource":"*"}"#,
                "iam:CreateUser",
            ),
            (
                r#"{"Effect":"Allow","Action":"IAM:*","Resource":"*"}"#,
                "iam:",
            ),
            (
                r#"{"Effect":"Allow","Action":"iam:PassRole","Resource":"arn:aws:iam::1:role/x"}"#,
                "iam:PassRole",
            ),
            (
                r#"{"Effect":"Allow","Action":"iam:Put?serPolicy","Resource":"*"}"#,
                "iam:PutUserPolicy",
            ),
        ];
        for (statement, said) in cases {
            let why = broad_document(&doc(statement)).unwrap_or_else(|| panic!("{statement}"));
            assert!(why.contains(said), "{statement}: {why}");
        }
    }

    #[test]
    fn narrow_documents_and_denies_are_not_broad() {
        for statement in [
            r#"{"Effect":"Allow","Action":["bedrock:InvokeModel*","bedrock:CallWithBearerToken"],"Resource":"*"}"#,
            r#"{"Effect":"Allow","Action":"iam:Get*","Resource":"*"}"#,
            r#"{"Effect":"Allow","Action":"iam:List*","Resource":"*"}"#,
            r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#,
            r#"{"Effect":"Deny","NotAction":"bedrock:*","Resource":"*"}"#,
        ] {
            assert_eq!(broad_document(&doc(statement)), None, "{statement}");
        }
        assert_eq!(broad_document("not json"), None);
    }

    #[test]
    fn a_user_is_broad_through_its_groups_and_managed_policies() {
        let mut d = Details::default();
        d.users.insert(
            "alice".into(),
            Holder {
                groups: vec!["admins".into()],
                attached: vec!["arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess".into()],
                ..Holder::default()
            },
        );
        d.groups.insert(
            "admins".into(),
            Holder {
                attached: vec!["arn:aws:iam::aws:policy/AdministratorAccess".into()],
                ..Holder::default()
            },
        );
        d.users.insert(
            "bob".into(),
            Holder {
                attached: vec!["arn:aws:iam::111122223333:policy/mine".into()],
                ..Holder::default()
            },
        );
        d.policies.insert(
            "arn:aws:iam::111122223333:policy/mine".into(),
            doc(r#"{"Effect":"Allow","Action":"iam:AttachUserPolicy","Resource":"*"}"#),
        );
        assert_eq!(
            d.broad("alice"),
            ["group admins: AdministratorAccess is attached"]
        );
        assert_eq!(
            d.broad("bob"),
            ["policy mine allows iam:AttachUserPolicy (iam:AttachUserPolicy)"]
        );
        // A customer policy named like an AWS one is judged by its document.
        d.users.insert(
            "carol".into(),
            Holder {
                attached: vec!["arn:aws:iam::111122223333:policy/AdministratorAccess".into()],
                ..Holder::default()
            },
        );
        assert!(d.broad("carol").is_empty());
        assert!(d.broad("nobody").is_empty());
    }
}
