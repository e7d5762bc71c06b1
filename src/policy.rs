//! What a long-term key may do in IAM: checking `create`'s inputs before any AWS
//! call, and the least-privilege inline policy of `--allow-model`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

pub const LIMITED_ACCESS: &str = "arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess";
/// IAM's limit for one user's inline policies, whitespace not counted.
const INLINE_POLICY_MAX: usize = 2048;
const INVOKE: [&str; 2] = [
    "bedrock:InvokeModel",
    "bedrock:InvokeModelWithResponseStream",
];
/// Prefixes of AWS's cross-region (system) inference profiles: `us.anthropic.…`.
const GEO_PREFIXES: [&str; 8] = ["us", "eu", "apac", "global", "us-gov", "jp", "au", "ca"];

/// The longest `CredentialAgeDays` IAM takes.
pub const MAX_DAYS: i64 = 36_600;

/// `--days` as IAM takes it: 1 to 36600.
pub fn check_days(days: i64) -> Result<i64> {
    if (1..=MAX_DAYS).contains(&days) {
        Ok(days)
    } else {
        Err(Error::usage(format!(
            "--days {days} is out of range: 1 to {MAX_DAYS}"
        )))
    }
}

/// IAM's limit for a customer-managed policy document, whitespace not counted.
pub const MANAGED_POLICY_MAX: usize = 6144;

/// A policy document from a file, checked as IAM would before any call: JSON, an
/// object with `Version` and `Statement`, at most 6,144 characters besides
/// whitespace. Returns it compacted, as it will be sent.
pub fn check_document(text: &str, file: &str) -> Result<String> {
    let value = unique_json(text).map_err(|e| Error::usage(format!("{file} is not JSON: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err(Error::usage(format!(
            "{file} is not a policy document: not a JSON object"
        )));
    };
    if !matches!(
        object.get("Version").and_then(Value::as_str),
        Some("2012-10-17" | "2008-10-17")
    ) {
        return Err(Error::usage(format!(
            "{file} is not a policy document: its \"Version\" is not \"2012-10-17\""
        )));
    }
    let statements: Vec<&Value> = match object.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    let given = |s: &Value, a: &str, b: &str| {
        let present = |k: &str| {
            s.get(k).is_some_and(|v| {
                v.as_str().is_some() || v.as_array().is_some_and(|l| !l.is_empty())
            })
        };
        present(a) != present(b)
    };
    let effects_ok = statements.iter().all(|s| {
        matches!(
            s.get("Effect").and_then(Value::as_str),
            Some("Allow" | "Deny")
        ) && given(s, "Action", "NotAction")
            && given(s, "Resource", "NotResource")
            && s.get("Principal").is_none()
            && s.get("Condition").is_none_or(Value::is_object)
    });
    if statements.is_empty() || !effects_ok {
        return Err(Error::usage(format!(
            "{file} is not an identity policy: every statement needs \"Effect\" Allow or Deny, one of Action/NotAction, one of Resource/NotResource, and no Principal"
        )));
    }
    let compact = value.to_string();
    let counted = compact.chars().filter(|c| !c.is_whitespace()).count();
    if counted > MANAGED_POLICY_MAX {
        return Err(Error::usage(format!(
            "{file} is {counted} characters without whitespace; IAM takes {MANAGED_POLICY_MAX} for a managed policy"
        )));
    }
    Ok(compact)
}

/// A policy file: a regular file (not a FIFO or a device), read up to a bound well
/// above IAM's 6,144 characters, so that `/dev/zero` cannot eat the memory.
pub fn read_file(file: &std::path::Path, shown: &str) -> Result<String> {
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

/// JSON with no key twice in one object. serde_json keeps the last of two, another
/// reader (IAM) may keep the first: the document checked here and the one that takes
/// effect must be the same.
pub fn unique_json(text: &str) -> std::result::Result<Value, serde_json::Error> {
    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

    struct Unique;

    impl<'de> DeserializeSeed<'de> for Unique {
        type Value = Value;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Unique {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
            Ok(v.into())
        }
        fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
            Ok(v.into())
        }
        fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
            Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
        }
        fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
            Ok(Value::String(v.to_string()))
        }
        fn visit_unit<E>(self) -> std::result::Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
            let mut list = Vec::new();
            while let Some(v) = seq.next_element_seed(Unique)? {
                list.push(v);
            }
            Ok(Value::Array(list))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
            let mut object = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                if object.contains_key(&key) {
                    return Err(de::Error::custom(format_args!(
                        "\"{key}\" appears twice in one object"
                    )));
                }
                let value = map.next_value_seed(Unique)?;
                object.insert(key, value);
            }
            Ok(Value::Object(object))
        }
    }

    let mut reader = serde_json::Deserializer::from_str(text);
    let value = Unique.deserialize(&mut reader)?;
    reader.end()?;
    Ok(value)
}

/// Managed policy names: `[\w+=,.@-]{1,128}`.
pub fn check_policy_name(name: &str) -> Result<()> {
    check_iam_name(name, 128, "policy").map_err(|e| e.with_hint("name it with --policy-name"))
}

/// IAM's names: 1 to `max` letters, digits and `_+=,.@-`.
fn check_iam_name(name: &str, max: usize, what: &str) -> Result<()> {
    let ok = (1..=max).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"_+=,.@-".contains(&c));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "'{name}' is not an IAM {what} name: 1 to {max} of letters, digits and _+=,.@-"
        )))
    }
}

/// `KEY=VALUE` for an IAM tag: a key of 1 to 128 characters not starting with
/// `aws:`, a value of at most 256.
pub fn parse_tag(text: &str) -> Result<(String, String)> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(Error::usage(format!("--tag {text}: use KEY=VALUE")));
    };
    if key.is_empty() || key.chars().count() > 128 || key.to_ascii_lowercase().starts_with("aws:") {
        return Err(Error::usage(format!(
            "--tag {text}: a tag key is 1 to 128 characters and does not start with aws:"
        )));
    }
    if key.chars().chain(value.chars()).any(char::is_control) {
        return Err(Error::usage("--tag: a tag holds no control characters"));
    }
    if value.chars().count() > 256 {
        return Err(Error::usage(format!(
            "--tag {key}=…: a tag value is at most 256 characters"
        )));
    }
    Ok((key.to_string(), value.to_string()))
}

/// `--tag`s as IAM takes them: at most 50, each key once (keys are not case-sensitive).
pub fn parse_tags(texts: &[String]) -> Result<Vec<(String, String)>> {
    if texts.len() > 50 {
        return Err(Error::usage("--tag: IAM takes at most 50 tags a user"));
    }
    let tags = texts
        .iter()
        .map(|t| parse_tag(t))
        .collect::<Result<Vec<_>>>()?;
    let mut seen = std::collections::HashSet::new();
    if let Some((k, _)) = tags.iter().find(|(k, _)| !seen.insert(k.to_lowercase())) {
        return Err(Error::usage(format!("--tag {k} is given twice")));
    }
    Ok(tags)
}

/// IAM user names: `[\w+=,.@-]{1,64}`.
pub fn check_user(user: &str) -> Result<()> {
    check_iam_name(user, 64, "user").map_err(|e| e.with_hint("name the user with --user"))
}

/// A managed policy ARN: `arn:PARTITION:iam::aws|ACCOUNT:policy/PATH/NAME`.
pub fn check_policy_arn(arn: &str) -> Result<()> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && (parts[4] == "aws"
            || (parts[4].len() == 12 && parts[4].bytes().all(|c| c.is_ascii_digit())))
        && parts[5].strip_prefix("policy/").is_some_and(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"_+=,.@-/".contains(&c))
        });
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "'{arn}' is not a managed policy ARN (arn:aws:iam::aws:policy/NAME)"
        )))
    }
}

/// `203.0.113.0/24`, `2001:db8::/32`, or a single address.
pub fn check_cidr(cidr: &str) -> Result<()> {
    let bad = || {
        Error::usage(format!(
            "'{cidr}' is not an IP range: use CIDR notation (203.0.113.0/24) or an address"
        ))
    };
    let (addr, bits) = match cidr.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (cidr, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    if let Some(bits) = bits {
        let bits: u8 = bits.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if bits > max {
            return Err(bad());
        }
    }
    Ok(())
}

/// What `--allow-model` named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Model {
    /// `anthropic.claude-…-v1:0`: invoked directly, in the key's region.
    Foundation { id: String, region: Option<String> },
    /// `us.anthropic.…`, or its ARN: a cross-region profile over one foundation model.
    Profile {
        id: String,
        foundation: String,
        arn: Option<String>,
    },
    /// An application inference profile ARN: its models are whatever it routes to.
    Application { arn: String },
}

fn model_id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.contains('.')
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".:-_".contains(&c))
}

/// Read a model id, an inference-profile id, or either's ARN.
pub fn parse_model(text: &str) -> Result<Model> {
    let bad = || {
        Error::usage(format!(
            "'{text}' is not a Bedrock model or inference profile: use an id such as \
             anthropic.claude-sonnet-4-20250514-v1:0 or us.anthropic.claude-sonnet-4-20250514-v1:0, or an ARN"
        ))
    };
    if let Some(rest) = text.strip_prefix("arn:") {
        // arn:aws:bedrock:REGION:ACCOUNT:TYPE/ID
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let [partition, "bedrock", region, account, resource] = parts[..] else {
            return Err(bad());
        };
        if !partition.starts_with("aws") {
            return Err(bad());
        }
        let (kind, id) = resource.split_once('/').ok_or_else(bad)?;
        return match kind {
            "foundation-model" if model_id_ok(id) => Ok(Model::Foundation {
                id: id.to_string(),
                region: (!region.is_empty()).then(|| region.to_string()),
            }),
            "inference-profile" if model_id_ok(id) && !account.is_empty() => {
                let (_, foundation) = split_geo(id).ok_or_else(bad)?;
                Ok(Model::Profile {
                    id: id.to_string(),
                    foundation: foundation.to_string(),
                    arn: Some(text.to_string()),
                })
            }
            "application-inference-profile"
                if !id.is_empty() && id.bytes().all(|c| c.is_ascii_alphanumeric()) =>
            {
                Ok(Model::Application {
                    arn: text.to_string(),
                })
            }
            _ => Err(bad()),
        };
    }
    if !model_id_ok(text) {
        return Err(bad());
    }
    Ok(match split_geo(text) {
        Some((_, foundation)) => Model::Profile {
            id: text.to_string(),
            foundation: foundation.to_string(),
            arn: None,
        },
        None => Model::Foundation {
            id: text.to_string(),
            region: None,
        },
    })
}

/// `us.anthropic.claude…` → (`us`, `anthropic.claude…`).
fn split_geo(id: &str) -> Option<(&str, &str)> {
    let (geo, rest) = id.split_once('.')?;
    (GEO_PREFIXES.contains(&geo) && rest.contains('.')).then_some((geo, rest))
}

/// What a scoped key was made with, kept so `rotate` can renew its policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Runtime models and inference profiles (`--allow-model`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// Mantle's own model ids (`--allow-mantle-model`, e.g. `openai.gpt-oss-120b`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mantle_models: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_ips: Vec<String>,
}

/// Read one of Mantle's model ids (`openai.gpt-oss-120b`): the shape of a Bedrock
/// model id, since Mantle names models the same way.
pub fn parse_mantle_model(text: &str) -> Result<String> {
    if model_id_ok(text) && !text.starts_with("arn:") {
        Ok(text.to_string())
    } else {
        Err(Error::usage(format!(
            "'{text}' is not a Mantle model id: use an id such as openai.gpt-oss-120b"
        )))
    }
}

impl Scope {
    pub fn check(&self) -> Result<Vec<Model>> {
        for cidr in &self.source_ips {
            check_cidr(cidr)?;
        }
        for m in &self.mantle_models {
            parse_mantle_model(m)?;
        }
        self.models.iter().map(|m| parse_model(m)).collect()
    }

    /// The inline policy: bearer-token use, and invoking only these models, from
    /// these addresses, until `expires` (RFC 3339). `account` is the key owner's (or
    /// `*` when unknown); `region` pins directly invoked models (or `*`).
    pub fn document(
        &self,
        account: &str,
        region: Option<&str>,
        expires: Option<&str>,
    ) -> Result<Value> {
        let models = self.check()?;
        let mut condition = Map::new();
        if !self.source_ips.is_empty() {
            condition.insert(
                "IpAddress".into(),
                json!({ "aws:SourceIp": self.source_ips }),
            );
        }
        if let Some(at) = expires {
            condition.insert("DateLessThan".into(), json!({ "aws:CurrentTime": at }));
        }
        let with = |mut statement: Value, extra: Option<(&str, Value)>| {
            let mut c = condition.clone();
            if let Some((k, v)) = extra {
                c.insert(k.to_string(), v);
            }
            if !c.is_empty() {
                statement["Condition"] = Value::Object(c);
            }
            statement
        };

        let mut statements = Vec::new();
        if !models.is_empty() {
            let Resources {
                direct,
                profiles,
                behind_profiles,
            } = resources(&models, account, region.unwrap_or("*"));
            statements.push(with(
                json!({"Sid": "UseBearerToken", "Effect": "Allow",
                       "Action": "bedrock:CallWithBearerToken", "Resource": "*"}),
                None,
            ));
            let mut invoke: Vec<String> = direct;
            invoke.extend(profiles.iter().cloned());
            statements.push(with(
                json!({"Sid": "InvokeAllowedModels", "Effect": "Allow", "Action": INVOKE, "Resource": invoke}),
                None,
            ));
            if !profiles.is_empty() {
                statements.push(with(
                    json!({"Sid": "InvokeModelsBehindProfiles", "Effect": "Allow", "Action": INVOKE,
                           "Resource": behind_profiles}),
                    Some((
                        "StringLike",
                        json!({ "bedrock:InferenceProfileArn": profiles }),
                    )),
                ));
            }
        }
        if !self.mantle_models.is_empty() {
            // Mantle checks its own bearer-token action, and inference on a project
            // (every account has a default one) by the model asked for.
            statements.push(with(
                json!({"Sid": "UseBearerTokenOnMantle", "Effect": "Allow",
                       "Action": "bedrock-mantle:CallWithBearerToken", "Resource": "*"}),
                None,
            ));
            statements.push(with(
                json!({"Sid": "InferAllowedMantleModels", "Effect": "Allow",
                       "Action": "bedrock-mantle:CreateInference",
                       "Resource": format!("arn:aws:bedrock-mantle:{}:{account}:project/*", region.unwrap_or("*"))}),
                Some((
                    "StringEquals",
                    json!({ "bedrock-mantle:Model": self.mantle_models }),
                )),
            ));
        }
        let document = json!({"Version": "2012-10-17", "Statement": statements});
        let size = serde_json::to_string(&document)
            .map(|s| s.len())
            .unwrap_or(0);
        if size > INLINE_POLICY_MAX {
            return Err(Error::usage(format!(
                "the policy for these models is {size} characters; IAM takes {INLINE_POLICY_MAX} inline"
            ))
            .with_hint("allow fewer models per key, or attach a managed policy with --policy"));
        }
        Ok(document)
    }
}

/// The ARNs a scoped policy names: models invoked directly, inference profiles, and
/// the foundation models behind those profiles.
struct Resources {
    direct: Vec<String>,
    profiles: Vec<String>,
    behind_profiles: Vec<String>,
}

fn resources(models: &[Model], account: &str, region: &str) -> Resources {
    let mut r = Resources {
        direct: Vec::new(),
        profiles: Vec::new(),
        behind_profiles: Vec::new(),
    };
    for m in models {
        match m {
            Model::Foundation { id, region: at } => r.direct.push(format!(
                "arn:aws:bedrock:{}::foundation-model/{id}",
                at.as_deref().unwrap_or(region)
            )),
            Model::Profile {
                id,
                foundation,
                arn,
            } => {
                r.profiles.push(arn.clone().unwrap_or_else(|| {
                    format!("arn:aws:bedrock:*:{account}:inference-profile/{id}")
                }));
                r.behind_profiles
                    .push(format!("arn:aws:bedrock:*::foundation-model/{foundation}"));
            }
            Model::Application { arn } => {
                r.profiles.push(arn.clone());
                r.behind_profiles
                    .push("arn:aws:bedrock:*::foundation-model/*".to_string());
            }
        }
    }
    dedup(&mut r.direct);
    dedup(&mut r.behind_profiles);
    r
}

fn dedup(v: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    v.retain(|x| seen.insert(x.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_given_twice_in_one_object_is_refused_at_any_depth() {
        for bad in [
            r#"{"Version": "2012-10-17", "Version": "2008-10-17"}"#,
            r#"{"Statement": [{"Effect": "Allow", "Effect": "Deny"}]}"#,
            r#"{"a": {"b": {"c": 1, "c": 2}}}"#,
        ] {
            let e = unique_json(bad).unwrap_err();
            assert!(e.to_string().contains("appears twice"), "{bad}: {e}");
            assert!(check_document(bad, "p.json").is_err(), "{bad}");
        }
        // The same key in two objects is fine, and values read as serde_json reads them.
        let text = r#"{"a": {"k": 1}, "b": {"k": [true, null, 2.5, "x"]}}"#;
        assert_eq!(
            unique_json(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        assert!(unique_json(r#"{"a": 1} trailing"#).is_err());
    }

    #[test]
    fn policy_files_are_checked_as_iam_would() {
        let ok = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "bedrock:*", "Resource": "*"}]}"#;
        assert!(
            check_document(ok, "p.json")
                .unwrap()
                .starts_with("{\"Statement\"")
        );
        for bad in [
            "not json",
            "[]",
            r#"{"Statement": []}"#,
            r#"{"Version": "2012-10-17"}"#,
        ] {
            assert_eq!(
                check_document(bad, "p.json").unwrap_err().kind(),
                crate::error::Kind::Usage,
                "{bad}"
            );
        }
        // Whitespace does not count; characters do.
        let padded = format!(
            r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "bedrock:*", "Resource": "*"}}], "Sid": "{}"}}"#,
            " ".repeat(7000)
        );
        assert!(check_document(&padded, "p.json").is_ok());
        let long = format!(
            r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "bedrock:*", "Resource": "*"}}], "Sid": "{}"}}"#,
            "x".repeat(6200)
        );
        assert!(
            check_document(&long, "p.json")
                .unwrap_err()
                .message()
                .contains("6144")
        );
    }

    #[test]
    fn tags_are_key_equals_value() {
        assert_eq!(parse_tag("team=ml").unwrap(), ("team".into(), "ml".into()));
        assert_eq!(parse_tag("empty=").unwrap(), ("empty".into(), "".into()));
        assert_eq!(parse_tag("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        for bad in ["noequals", "=v", "aws:x=y"] {
            assert!(parse_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_names_follow_iam() {
        assert!(check_user("bedkey-default").is_ok());
        assert!(check_user("a+b=c,d.e@f_g-h").is_ok());
        for bad in ["", "a b", "a/b", "ü", &"x".repeat(65)] {
            assert!(check_user(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn policy_arns_are_checked() {
        assert!(check_policy_arn(LIMITED_ACCESS).is_ok());
        assert!(check_policy_arn("arn:aws:iam::123456789012:policy/team/BedrockUsers").is_ok());
        assert!(check_policy_arn("arn:aws-us-gov:iam::aws:policy/X").is_ok());
        for bad in [
            "AmazonBedrockLimitedAccess",
            "arn:aws:iam::aws:role/X",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::12345:policy/X",
            "arn:aws:iam::aws:policy/",
        ] {
            assert!(check_policy_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cidrs_are_checked() {
        for good in [
            "203.0.113.0/24",
            "203.0.113.7",
            "2001:db8::/32",
            "0.0.0.0/0",
        ] {
            assert!(check_cidr(good).is_ok(), "{good}");
        }
        for bad in [
            "203.0.113.0/33",
            "2001:db8::/129",
            "example.com",
            "1.2.3/24",
            "10.0.0.0/x",
        ] {
            assert!(check_cidr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn models_profiles_and_arns_are_told_apart() {
        assert_eq!(
            parse_model("anthropic.claude-3-5-haiku-20241022-v1:0").unwrap(),
            Model::Foundation {
                id: "anthropic.claude-3-5-haiku-20241022-v1:0".into(),
                region: None
            }
        );
        assert_eq!(
            parse_model("us.anthropic.claude-3-5-haiku-20241022-v1:0").unwrap(),
            Model::Profile {
                id: "us.anthropic.claude-3-5-haiku-20241022-v1:0".into(),
                foundation: "anthropic.claude-3-5-haiku-20241022-v1:0".into(),
                arn: None
            }
        );
        let arn = "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.meta.llama3-2-1b-instruct-v1:0";
        assert!(matches!(
            parse_model(arn).unwrap(),
            Model::Profile { arn: Some(_), .. }
        ));
        let app = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123";
        assert!(matches!(
            parse_model(app).unwrap(),
            Model::Application { .. }
        ));
        assert!(matches!(
            parse_model("arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-lite-v1:0")
                .unwrap(),
            Model::Foundation {
                region: Some(_),
                ..
            }
        ));
        for bad in [
            "claude",
            "anthropic claude",
            "arn:aws:s3:::x",
            "arn:aws:bedrock:us-east-1:1:agent/x",
            "",
        ] {
            assert!(parse_model(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_mantle_scope_allows_mantle_bearer_use_and_inference_on_the_named_models_only() {
        let scope = Scope {
            models: vec![],
            mantle_models: vec!["openai.gpt-oss-120b".into(), "openai.gpt-oss-20b".into()],
            source_ips: vec![],
        };
        let doc = scope
            .document(
                "123456789012",
                Some("us-west-2"),
                Some("2026-12-21T00:00:00Z"),
            )
            .unwrap();
        let statements = doc["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 2, "no runtime statement: {doc}");
        assert_eq!(
            statements[0]["Action"],
            "bedrock-mantle:CallWithBearerToken"
        );
        assert_eq!(statements[1]["Action"], "bedrock-mantle:CreateInference");
        assert_eq!(
            statements[1]["Resource"],
            "arn:aws:bedrock-mantle:us-west-2:123456789012:project/*"
        );
        assert_eq!(
            statements[1]["Condition"]["StringEquals"]["bedrock-mantle:Model"],
            json!(["openai.gpt-oss-120b", "openai.gpt-oss-20b"])
        );
        for s in statements {
            assert_eq!(
                s["Condition"]["DateLessThan"]["aws:CurrentTime"],
                "2026-12-21T00:00:00Z"
            );
        }
        // Both kinds at once: the runtime's statements, then Mantle's.
        let both = Scope {
            models: vec!["amazon.nova-lite-v1:0".into()],
            ..scope.clone()
        };
        let doc = both.document("*", None, None).unwrap();
        let sids: Vec<&str> = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap())
            .collect();
        assert_eq!(
            sids,
            [
                "UseBearerToken",
                "InvokeAllowedModels",
                "UseBearerTokenOnMantle",
                "InferAllowedMantleModels"
            ]
        );
        // Too many for IAM's inline limit: refused, not cut.
        let many = Scope {
            mantle_models: (0..120).map(|i| format!("openai.model-{i:03}")).collect(),
            ..scope.clone()
        };
        let err = many.document("123456789012", None, None).unwrap_err();
        assert!(
            err.message().contains("IAM takes 2048"),
            "{}",
            err.message()
        );
        for bad in [
            "gpt-oss",
            "arn:aws:bedrock-mantle:us-east-1:1:x",
            "openai.gpt oss",
            "",
        ] {
            assert!(parse_mantle_model(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_scoped_policy_allows_only_the_named_models() {
        let scope = Scope {
            models: vec![
                "us.anthropic.claude-3-5-haiku-20241022-v1:0".into(),
                "amazon.nova-lite-v1:0".into(),
            ],
            mantle_models: vec![],
            source_ips: vec!["203.0.113.0/24".into()],
        };
        let doc = scope
            .document(
                "123456789012",
                Some("us-east-1"),
                Some("2026-12-21T00:00:00Z"),
            )
            .unwrap();
        let statements = doc["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 3);
        assert_eq!(statements[0]["Action"], "bedrock:CallWithBearerToken");
        assert_eq!(
            statements[1]["Resource"],
            json!([
                "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0",
                "arn:aws:bedrock:*:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"
            ])
        );
        assert_eq!(
            statements[2]["Resource"],
            json!(["arn:aws:bedrock:*::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0"])
        );
        assert_eq!(
            statements[2]["Condition"]["StringLike"]["bedrock:InferenceProfileArn"],
            json!([
                "arn:aws:bedrock:*:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"
            ])
        );
        for s in statements {
            assert_eq!(s["Effect"], "Allow");
            assert_eq!(
                s["Condition"]["IpAddress"]["aws:SourceIp"],
                json!(["203.0.113.0/24"])
            );
            assert_eq!(
                s["Condition"]["DateLessThan"]["aws:CurrentTime"],
                "2026-12-21T00:00:00Z"
            );
        }
    }

    #[test]
    fn a_policy_without_profiles_ips_or_expiry_has_no_conditions() {
        let scope = Scope {
            models: vec!["amazon.nova-lite-v1:0".into()],
            mantle_models: vec![],
            source_ips: vec![],
        };
        let doc = scope.document("*", None, None).unwrap();
        let statements = doc["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 2);
        assert!(statements.iter().all(|s| s.get("Condition").is_none()));
        assert_eq!(
            statements[1]["Resource"],
            json!(["arn:aws:bedrock:*::foundation-model/amazon.nova-lite-v1:0"])
        );
    }

    #[test]
    fn too_many_models_for_an_inline_policy_is_a_usage_error() {
        let scope = Scope {
            models: (0..40)
                .map(|i| format!("us.anthropic.model-number-{i}-v1:0"))
                .collect(),
            mantle_models: vec![],
            source_ips: vec![],
        };
        assert!(scope.document("123456789012", None, None).is_err());
    }
}
