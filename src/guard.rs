//! The policy that enforces a rule on API keys across accounts: a service control
//! policy (or an IAM policy) that denies using them, denies long-term ones, or denies
//! making long-term ones that live longer than a number of days.

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::service::Service;

/// An SCP document holds at most this many characters.
pub const SCP_MAX: usize = 5_120;

/// What to deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deny {
    /// Every use of a key, and making long-term ones.
    All,
    /// Long-term keys: using them, and making them.
    LongTerm,
}

/// A guard's choices.
pub struct Guard {
    pub services: Vec<Service>,
    pub deny: Option<Deny>,
    pub max_age_days: Option<i64>,
    /// An IAM policy rather than an SCP (the limit of a managed policy applies).
    pub iam: bool,
}

/// A policy and what a reader must know about it.
pub struct Built {
    pub document: String,
    /// What the policy cannot do, for stderr.
    pub notes: Vec<String>,
}

/// The condition keys that tell a long-term key from a short-term one, by action
/// prefix; Claude Platform documents none.
fn token_type_key(action: &str) -> Option<String> {
    let prefix = action.split(':').next()?;
    matches!(prefix, "bedrock" | "bedrock-mantle").then(|| format!("{prefix}:BearerTokenType"))
}

/// `bedrock-mantle` as `BedrockMantle`, for a `Sid`.
fn title_case(prefix: &str) -> String {
    prefix
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn sid(text: &str) -> String {
    text.chars().filter(char::is_ascii_alphanumeric).collect()
}

/// A deny of making long-term keys of the named IAM services, under `condition`
/// (which the service names are added to).
fn deny_create(sid_text: &str, iam_names: &[&str], mut condition: Value) -> Value {
    condition["StringEquals"]["iam:ServiceSpecificCredentialServiceName"] = json!(iam_names);
    json!({
        "Sid": sid(sid_text),
        "Effect": "Deny",
        "Action": "iam:CreateServiceSpecificCredential",
        "Resource": "*",
        "Condition": condition,
    })
}

impl Guard {
    pub fn build(&self) -> Result<Built> {
        if self.deny.is_none() && self.max_age_days.is_none() {
            return Err(Error::usage(
                "say what to enforce: --deny all|long-term, --max-age DAYS, or both",
            ));
        }
        let iam_names: Vec<&str> = self.services.iter().map(|s| s.describe().iam).collect();
        let mut statements = Vec::new();
        let mut notes = Vec::new();
        if let Some(deny) = self.deny {
            statements.push(deny_create("DenyNewLongTermApiKeys", &iam_names, json!({})));
            for &service in &self.services {
                statements.extend(self.deny_use(service, deny, &mut notes));
            }
        }
        if let Some(days) = self.max_age_days {
            crate::policy::check_days(days)?;
            // A string, as IAM's grammar has condition values (moto's validator refuses
            // a bare number).
            statements.push(deny_create(
                "DenyLongLivedApiKeys",
                &iam_names,
                json!({"NumericGreaterThan": {"iam:ServiceSpecificCredentialAgeDays": days.to_string()}}),
            ));
            // A credential asked for with no age carries no age key, which the numeric
            // test above never matches: denied on its own.
            statements.push(deny_create(
                "DenyApiKeysThatNeverExpire",
                &iam_names,
                json!({"Null": {"iam:ServiceSpecificCredentialAgeDays": "true"}}),
            ));
            notes.push(format!(
                "keys made before this policy keep their lifetimes: `bedkey audit --max-age {days} --strict` finds those made more than {days} days ago (older-than-{days}) and those that never expire"
            ));
        }
        let document = serde_json::to_string_pretty(&json!({
            "Version": "2012-10-17",
            "Statement": statements,
        }))
        .map_err(|e| Error::failure(e.to_string()))?;
        self.check(&document)?;
        Ok(Built { document, notes })
    }

    /// The statements that deny using `service`'s keys (all, or the long-term ones).
    fn deny_use(&self, service: Service, deny: Deny, notes: &mut Vec<String>) -> Vec<Value> {
        let actions = service.bearer_actions();
        if actions.is_empty() {
            return Vec::new();
        }
        if deny == Deny::All {
            return vec![json!({
                "Sid": format!("Deny{}ApiKeys", sid(service.title())),
                "Effect": "Deny",
                "Action": actions,
                "Resource": "*",
            })];
        }
        let typed: Vec<Value> = actions
            .iter()
            .filter_map(|action| {
                let key = token_type_key(action)?;
                let prefix = action.split(':').next().unwrap_or_default();
                Some(json!({
                    "Sid": format!("DenyLongTerm{}Keys", title_case(prefix)),
                    "Effect": "Deny",
                    "Action": action,
                    "Resource": "*",
                    "Condition": {"StringEquals": {key: "LONG_TERM"}},
                }))
            })
            .collect();
        if typed.is_empty() {
            notes.push(format!(
                "{title} has no condition key that tells long-term keys from short-term ones: the policy stops new long-term {title} keys, but those that exist keep working until revoked (`bedkey audit --service {name}`)",
                title = service.title(),
                name = service.name()
            ));
        }
        typed
    }

    /// The same checks as a policy file's, then the limit of its kind.
    fn check(&self, document: &str) -> Result<()> {
        let compact = crate::policy::check_document(document, "the guard policy")
            .map_err(|e| Error::failure(format!("bedkey built an invalid policy: {e}")))?;
        let (limit, kind) = if self.iam {
            (crate::policy::MANAGED_POLICY_MAX, "a managed IAM policy")
        } else {
            (SCP_MAX, "a service control policy")
        };
        let counted = compact.chars().filter(|c| !c.is_whitespace()).count();
        if counted > limit {
            return Err(Error::usage(format!(
                "the policy is {counted} characters; {kind} holds {limit}: choose fewer services or controls"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(services: &[Service], deny: Option<Deny>, max_age: Option<i64>) -> Value {
        let built = Guard {
            services: services.to_vec(),
            deny,
            max_age_days: max_age,
            iam: false,
        }
        .build()
        .unwrap();
        serde_json::from_str(&built.document).unwrap()
    }

    #[test]
    fn deny_all_covers_both_bedrock_actions_and_new_keys() {
        let doc = build(&[Service::Bedrock], Some(Deny::All), None);
        let text = doc.to_string();
        assert!(text.contains("bedrock:CallWithBearerToken"));
        assert!(text.contains("bedrock-mantle:CallWithBearerToken"));
        assert!(text.contains("bedrock.amazonaws.com"));
        assert!(!text.contains("BearerTokenType"));
    }

    #[test]
    fn a_max_age_also_denies_keys_made_with_no_age() {
        let doc = build(&[Service::Bedrock, Service::ClaudePlatform], None, Some(30));
        let statements = doc["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 2);
        assert_eq!(
            statements[0]["Condition"]["NumericGreaterThan"]["iam:ServiceSpecificCredentialAgeDays"],
            "30"
        );
        assert_eq!(
            statements[1]["Condition"]["Null"]["iam:ServiceSpecificCredentialAgeDays"],
            "true"
        );
        assert_eq!(
            statements[1]["Condition"]["StringEquals"]["iam:ServiceSpecificCredentialServiceName"],
            json!([
                "bedrock.amazonaws.com",
                "aws-external-anthropic.amazonaws.com"
            ])
        );
    }

    #[test]
    fn nothing_to_enforce_is_a_usage_error() {
        let err = Guard {
            services: vec![Service::Bedrock],
            deny: None,
            max_age_days: None,
            iam: false,
        }
        .build()
        .err()
        .unwrap();
        assert_eq!(err.kind(), crate::error::Kind::Usage);
    }
}
