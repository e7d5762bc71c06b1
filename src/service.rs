//! The AWS services whose API keys bedkey knows: each a small description that every
//! command reads (how its keys look, how a short-term one is signed, which IAM
//! service and policy make a long-term one, where its API is, what `env` prints),
//! instead of one service's constants spread through the code. IAM calls these
//! "API keys for AWS services"; one more service is one more entry here.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A service a key belongs to. Stored in the key's metadata; absent means Bedrock,
/// which every key made before services were known is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    #[default]
    Bedrock,
    /// Claude Platform on AWS.
    ClaudePlatform,
    /// CloudWatch's keys: listed by `audit`, not made or kept by bedkey.
    Cloudwatch,
    /// CloudWatch Logs' keys: listed by `audit`, not made or kept by bedkey.
    Logs,
}

/// How a service's short-term keys are made: a SigV4 query-presigned
/// `POST https://HOST/?Action=CallWithBearerToken`, without `https://`, with
/// `&Version=1`, base64'd and prefixed.
pub struct Presign {
    pub prefix: &'static str,
    pub host: &'static str,
    /// The SigV4 service name in the credential scope.
    pub signing_name: &'static str,
}

/// What bedkey knows of one service.
pub struct Description {
    /// The name on the command line, in metadata and in JSON.
    pub name: &'static str,
    /// The name people know it by.
    pub title: &'static str,
    /// `ServiceName` of IAM's service-specific credentials.
    pub iam: &'static str,
    /// A long-term key's prefix (base64 framing bytes before `ALIAS:SECRET`).
    pub long_term_prefix: &'static str,
    pub short_term: Option<Presign>,
    /// The AWS-managed policy `create` attaches unless told otherwise.
    pub default_policy: &'static str,
    /// The prefix of the IAM users the console makes for its keys.
    pub console_user_prefix: Option<&'static str>,
    /// The variable `env` hands the key over in (the one the service's clients read).
    pub key_var: &'static str,
    /// And its workspace, for a service whose keys have one.
    pub workspace_var: Option<&'static str>,
}

const BEDROCK: Description = Description {
    name: "bedrock",
    title: "Bedrock",
    iam: "bedrock.amazonaws.com",
    long_term_prefix: "ABSK",
    short_term: Some(Presign {
        prefix: "bedrock-api-key-",
        host: "bedrock.amazonaws.com",
        signing_name: "bedrock",
    }),
    default_policy: "AmazonBedrockLimitedAccess",
    console_user_prefix: Some("BedrockAPIKey-"),
    key_var: "AWS_BEARER_TOKEN_BEDROCK",
    workspace_var: None,
};

const CLAUDE_PLATFORM: Description = Description {
    name: "claude-platform",
    title: "Claude Platform on AWS",
    iam: "aws-external-anthropic.amazonaws.com",
    long_term_prefix: "AEAA",
    short_term: Some(Presign {
        prefix: "aws-external-anthropic-api-key-",
        host: "aws-external-anthropic.amazonaws.com",
        signing_name: "aws-external-anthropic",
    }),
    default_policy: "AnthropicInferenceAccess",
    console_user_prefix: Some("AeaApiKey-"),
    key_var: PLATFORM_KEY_VAR,
    workspace_var: Some(WORKSPACE_VAR),
};

const CLOUDWATCH: Description = Description {
    name: "cloudwatch",
    title: "CloudWatch",
    iam: "cloudwatch.amazonaws.com",
    long_term_prefix: "",
    short_term: None,
    default_policy: "",
    console_user_prefix: None,
    key_var: "",
    workspace_var: None,
};

const LOGS: Description = Description {
    name: "logs",
    title: "CloudWatch Logs",
    iam: "logs.amazonaws.com",
    long_term_prefix: "",
    short_term: None,
    default_policy: "",
    console_user_prefix: None,
    key_var: "",
    workspace_var: None,
};

impl Service {
    /// Every service `audit` lists.
    pub const ALL: [Service; 4] = [
        Service::Bedrock,
        Service::ClaudePlatform,
        Service::Cloudwatch,
        Service::Logs,
    ];
    /// The services whose keys bedkey makes and keeps.
    pub const KEPT: [Service; 2] = [Service::Bedrock, Service::ClaudePlatform];

    pub fn describe(self) -> &'static Description {
        match self {
            Service::Bedrock => &BEDROCK,
            Service::ClaudePlatform => &CLAUDE_PLATFORM,
            Service::Cloudwatch => &CLOUDWATCH,
            Service::Logs => &LOGS,
        }
    }

    pub fn name(self) -> &'static str {
        self.describe().name
    }

    pub fn title(self) -> &'static str {
        self.describe().title
    }

    /// The ARN of the AWS-managed policy `create` attaches by default.
    pub fn default_policy_arn(self) -> String {
        format!("arn:aws:iam::aws:policy/{}", self.describe().default_policy)
    }

    /// The IAM actions that use a key of this service as a bearer token: what a
    /// policy denies to stop its keys (`guard`, `revoke --leaked`). CloudWatch's and
    /// Logs' keys have none that bedkey knows.
    pub fn bearer_actions(self) -> &'static [&'static str] {
        match self {
            Service::Bedrock => &[
                "bedrock:CallWithBearerToken",
                "bedrock-mantle:CallWithBearerToken",
            ],
            Service::ClaudePlatform => &["aws-external-anthropic:CallWithBearerToken"],
            Service::Cloudwatch | Service::Logs => &[],
        }
    }

    pub fn is_bedrock(&self) -> bool {
        *self == Service::Bedrock
    }

    /// The service of a key, from its prefix, and the rest of the key after it.
    pub fn of_key(key: &str) -> Option<(Service, Kind, &str)> {
        Service::KEPT.into_iter().find_map(|s| {
            let d = s.describe();
            if let Some(rest) = d
                .short_term
                .as_ref()
                .and_then(|p| key.strip_prefix(p.prefix))
            {
                return Some((s, Kind::ShortTerm, rest));
            }
            key.strip_prefix(d.long_term_prefix)
                .map(|rest| (s, Kind::LongTerm, rest))
        })
    }

    /// Claude Platform's API endpoint in `region`
    /// (`aws-external-anthropic.REGION.api.aws`, in the commercial partition), or
    /// its override `AWS_ENDPOINT_URL_AWS_EXTERNAL_ANTHROPIC`. None for a region
    /// where it is not offered, and for the other services (Bedrock has several
    /// hosts, which `proxy::route` picks between).
    pub fn api_url(self, region: &str) -> Option<String> {
        if self != Service::ClaudePlatform {
            return None;
        }
        crate::region::endpoint_override(PLATFORM_ENDPOINT_VAR).or_else(|| {
            (crate::region::partition(region) == "aws")
                .then(|| format!("https://aws-external-anthropic.{region}.api.aws"))
        })
    }
}

/// The endpoint override for Claude Platform on AWS, named as the SDKs name
/// service-specific overrides (`AWS_ENDPOINT_URL_` and the signing name).
pub const PLATFORM_ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL_AWS_EXTERNAL_ANTHROPIC";

/// What Anthropic's clients for Claude Platform on AWS read: the SDK's `AnthropicAWS`
/// (anthropic 2.15.0), LiteLLM's platform provider and Claude Code (with
/// [`PLATFORM_MODE_VAR`]).
pub const PLATFORM_KEY_VAR: &str = "ANTHROPIC_AWS_API_KEY";
pub const WORKSPACE_VAR: &str = "ANTHROPIC_AWS_WORKSPACE_ID";
pub const PLATFORM_BASE_VAR: &str = "ANTHROPIC_AWS_BASE_URL";
pub const PLATFORM_MODE_VAR: &str = "CLAUDE_CODE_USE_ANTHROPIC_AWS";

/// Which kind a key's prefix says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ShortTerm,
    LongTerm,
}

/// A Claude Platform workspace id, as `--workspace-id` gives it.
pub fn workspace_id(text: &str) -> Result<String> {
    // A key would pass the character test, and a workspace id is stored and sent in
    // the clear: refuse one that looks like a key.
    if text.len() > 20 && Service::of_key(text).is_some() {
        return Err(Error::usage(
            "--workspace-id: that looks like an API key, not a workspace id",
        ));
    }
    let ok = (1..=128).contains(&text.len())
        && text
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
    if ok {
        Ok(text.to_string())
    } else {
        Err(Error::usage(format!(
            "--workspace-id {text}: not a workspace id (1 to 128 of A-Z a-z 0-9 _ -)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_prefix_names_its_service_and_kind() {
        let of = |k: &str| Service::of_key(k).map(|(s, kind, _)| (s, kind));
        assert_eq!(of("ABSKxx"), Some((Service::Bedrock, Kind::LongTerm)));
        assert_eq!(
            of("bedrock-api-key-xx"),
            Some((Service::Bedrock, Kind::ShortTerm))
        );
        assert_eq!(
            of("AEAAxx"),
            Some((Service::ClaudePlatform, Kind::LongTerm))
        );
        assert_eq!(
            of("aws-external-anthropic-api-key-xx"),
            Some((Service::ClaudePlatform, Kind::ShortTerm))
        );
        assert_eq!(of("AKIAxx"), None);
        assert_eq!(of(""), None);
    }

    #[test]
    fn metadata_without_a_service_is_bedrock_and_bedrock_is_not_written() {
        #[derive(Serialize, Deserialize)]
        struct Meta {
            #[serde(default, skip_serializing_if = "Service::is_bedrock")]
            service: Service,
        }
        let old: Meta = serde_json::from_str("{}").unwrap();
        assert_eq!(old.service, Service::Bedrock);
        assert_eq!(serde_json::to_string(&old).unwrap(), "{}");
        let cp = Meta {
            service: Service::ClaudePlatform,
        };
        assert_eq!(
            serde_json::to_string(&cp).unwrap(),
            r#"{"service":"claude-platform"}"#
        );
    }

    #[test]
    fn workspace_ids_are_checked() {
        assert!(workspace_id("wrkspc_01AbC-9").is_ok());
        assert!(workspace_id(&"a".repeat(128)).is_ok());
        let key = format!("AEAA{}", "QWVhQXBpS2V5".repeat(8));
        assert!(workspace_id(&key).is_err());
        for bad in ["", "a b", "a/b", "ä", &"a".repeat(129), "a\u{1b}"] {
            assert!(workspace_id(bad).is_err(), "{bad}");
        }
    }
}
