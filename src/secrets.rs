//! Team keys in AWS Secrets Manager: a long-term key written to a secret (`publish`),
//! read from one (`pull`), and the shape of the value both use.
//!
//! The value is a JSON object, `{"bedrock_api_key", "service", "region", "expires_at",
//! "name", "iam_user", "credential_id"}` (and a Claude Platform key's
//! `"workspace_id"`): what cross-partition setups already read (`bedrock_api_key`,
//! `region`), what an ECS task's `secrets` can inject field by field, and enough to
//! rotate the key from the secret alone. The key's field keeps its name for every
//! service, so that what reads it need not change; a value without `"service"` is
//! read by the key's prefix (Bedrock's, for every value written before). Fields of an
//! existing value that bedkey does not own are kept.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use serde_json::{Map, Value};

use crate::aws;
use crate::error::{Error, Result};
use crate::secret::{ExposeSecret, Secret, secret};
use crate::service::Service;
use crate::token::{self, Decoded};

/// The field that holds the key, as ECS `valueFrom: …:bedrock_api_key::` names it.
pub const KEY_FIELD: &str = "bedrock_api_key";
/// What a published value says besides the key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct About {
    /// The key's service: what the value says, checked against the key's prefix.
    pub service: Service,
    /// A Claude Platform key's workspace.
    pub workspace_id: Option<String>,
    pub region: Option<String>,
    /// RFC 3339.
    pub expires_at: Option<String>,
    pub name: Option<String>,
    pub iam_user: Option<String>,
    pub credential_id: Option<String>,
    /// An old credential that stays active until a time (rotation's grace period):
    /// `{"credential_id", "after"}`.
    pub retiring: Option<Value>,
}

/// The value to write: `about` and the key over `existing` when that is a JSON
/// object, else a fresh object. `raw`: the bare key.
pub fn value(existing: Option<&str>, key: &Secret, about: &About, raw: bool) -> Secret {
    if raw {
        return key.clone();
    }
    let mut object: Map<String, Value> = existing
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .and_then(|v| match v {
            Value::Object(o) => Some(o),
            _ => None,
        })
        .unwrap_or_default();
    let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
    object.insert(
        KEY_FIELD.into(),
        Value::String(key.expose_secret().to_string()),
    );
    object.insert("service".into(), Value::String(about.service.name().into()));
    match &about.workspace_id {
        Some(w) => object.insert("workspace_id".into(), Value::String(w.clone())),
        None => object.remove("workspace_id"),
    };
    object.insert("region".into(), text(&about.region));
    object.insert("expires_at".into(), text(&about.expires_at));
    object.insert("name".into(), text(&about.name));
    object.insert("iam_user".into(), text(&about.iam_user));
    object.insert("credential_id".into(), text(&about.credential_id));
    match &about.retiring {
        Some(r) => object.insert("retiring".into(), r.clone()),
        None => object.remove("retiring"),
    };
    secret(Value::Object(object).to_string())
}

/// A key read from a secret's value: bedkey's JSON, any JSON object with a
/// `bedrock_api_key` field, or a bare key. Anything else is a usage error (exit 2),
/// and so is a key that does not decode.
pub fn parse(value: &Secret, secret_id: &str) -> Result<(Secret, About)> {
    let text = value.expose_secret().trim();
    let not_a_key = || {
        Error::usage(format!(
            "secret {secret_id} holds no API key: neither a JSON object with \"{KEY_FIELD}\" nor a bare key"
        ))
    };
    let (key, about) = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(o)) => {
            let key = o
                .get(KEY_FIELD)
                .and_then(Value::as_str)
                .ok_or_else(not_a_key)?;
            for name in ["region", "expires_at", "service", "workspace_id"] {
                if o.get(name).is_some_and(|v| !v.is_string() && !v.is_null()) {
                    return Err(Error::usage(format!(
                        "secret {secret_id} has a \"{name}\" that is not text"
                    )));
                }
            }
            let field = |name: &str| o.get(name).and_then(Value::as_str).map(str::to_string);
            let about = About {
                // Checked against the key below.
                service: Service::default(),
                workspace_id: field("workspace_id"),
                region: field("region"),
                expires_at: field("expires_at"),
                name: field("name"),
                iam_user: field("iam_user"),
                credential_id: field("credential_id"),
                retiring: o.get("retiring").filter(|r| r.is_object()).cloned(),
            };
            (secret(key.trim().to_string()), about)
        }
        Ok(_) => return Err(not_a_key()),
        Err(_) if Service::of_key(text).is_some() => (secret(text.to_string()), About::default()),
        Err(_) => return Err(not_a_key()),
    };
    let decoded =
        token::decode(key.expose_secret()).map_err(|e| e.context(format!("secret {secret_id}")))?;
    let said = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("service").and_then(Value::as_str).map(str::to_string));
    let service = service_of(decoded.service(), said.as_deref(), secret_id)?;
    let about = About {
        service,
        // Only Claude Platform keys have a workspace: one beside another key is not
        // taken along.
        workspace_id: about
            .workspace_id
            .filter(|_| service == Service::ClaudePlatform),
        ..about
    };
    if let Some(w) = &about.workspace_id {
        crate::service::workspace_id(w).map_err(|e| e.context(format!("secret {secret_id}")))?;
    }
    if let Some(r) = &about.region {
        crate::region::checked(r).map_err(|e| e.context(format!("secret {secret_id}")))?;
    }
    if let Decoded::ShortTerm(st) = decoded {
        // A short-term key carries its own region.
        let region = Some(st.region);
        return Ok((key, About { region, ..about }));
    }
    Ok((key, about))
}

/// The service a value's key is for: its prefix's, which a `"service"` field must
/// agree with.
fn service_of(of_key: Service, said: Option<&str>, secret_id: &str) -> Result<Service> {
    match said {
        None => Ok(of_key),
        Some(name) if name == of_key.name() => Ok(of_key),
        Some(name) => Err(Error::usage(format!(
            "secret {secret_id} says its key is for \"{name}\", but it holds a {} key",
            of_key.title()
        ))),
    }
}

/// The region a secret lives in: an ARN's own (a conflicting `--secret-region` is a
/// usage error), else the flag, else `fallback` (the key's region, or the one in
/// effect).
pub fn region_of(secret_id: &str, flag: Option<&str>, fallback: Option<&str>) -> Result<String> {
    let from_arn = secret_id
        .strip_prefix("arn:")
        .and_then(|rest| rest.split(':').nth(2))
        .filter(|r| !r.is_empty());
    match (from_arn, flag) {
        (Some(a), Some(f)) if a != f => Err(Error::usage(format!(
            "--secret-region {f} conflicts with the secret's ARN, which is in {a}"
        ))),
        (Some(a), _) => crate::region::checked(a),
        (None, Some(f)) => crate::region::checked(f),
        (None, None) => fallback.map(crate::region::checked).unwrap_or_else(|| {
            Err(Error::usage("no region for the secret")
                .with_hint("pass --secret-region, or give the key a region"))
        }),
    }
}

/// A secret written: its ARN, and what went wrong around a write that took effect.
#[derive(Debug)]
pub struct Written {
    pub arn: String,
    /// The `bedkey:name` tag could not be set (a role without TagResource).
    pub untagged: Option<Error>,
    /// The write's reply was lost or unreadable, but the secret holds the value.
    pub reply_lost: Option<Error>,
}

impl Written {
    fn new(arn: &str) -> Written {
        Written {
            arn: arn.to_string(),
            untagged: None,
            reply_lost: None,
        }
    }
}

/// A write that failed, and whether the secret holds the key all the same: `None`
/// when it could not be read back to tell.
#[derive(Debug)]
pub struct NotWritten {
    pub error: Error,
    pub holds_it: Option<bool>,
}

/// Whether a secret's value holds `key`, in any shape bedkey reads.
pub fn holds(value: &Secret, secret_id: &str, key: &Secret) -> bool {
    parse(value, secret_id).is_ok_and(|(held, _)| held.expose_secret() == key.expose_secret())
}

/// A Secrets Manager client in one region, with a profile's credentials.
pub struct Secrets {
    client: aws_sdk_secretsmanager::Client,
}

/// A secret's value as read, with its ARN.
pub struct Read {
    pub arn: String,
    pub value: Secret,
}

impl Secrets {
    /// Honours `AWS_ENDPOINT_URL_SECRETS_MANAGER`. Returns where the credentials came
    /// from, for `-v`.
    pub async fn connect(profile: Option<&str>, region: &str) -> Result<(Secrets, String)> {
        let resolved = aws::credentials(profile).await?;
        let source = format!(
            "{} from {}",
            token::mask(resolved.credentials.access_key_id()),
            resolved.source
        );
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(aws::timeouts())
            .credentials_provider(resolved.credentials)
            .region(Region::new(region.to_string()));
        if let Some(p) = profile {
            loader = loader.profile_name(p);
        }
        let config = loader.load().await;
        Ok((
            Secrets {
                client: aws_sdk_secretsmanager::Client::new(&config),
            },
            source,
        ))
    }

    /// The current (`AWSCURRENT`) value; `None` when the secret, or any value of it,
    /// does not exist.
    pub async fn read(&self, secret_id: &str) -> Result<Option<Read>> {
        match self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
        {
            Ok(out) => {
                let value = out.secret_string().ok_or_else(|| {
                    Error::usage(format!(
                        "secret {secret_id} holds binary data, not a Bedrock API key"
                    ))
                })?;
                Ok(Some(Read {
                    arn: out.arn().unwrap_or(secret_id).to_string(),
                    value: secret(value),
                }))
            }
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(aws::service_error("Secrets Manager", "GetSecretValue", e)),
        }
    }

    /// Write `value` as the new `AWSCURRENT` (the old one becomes `AWSPREVIOUS`), making
    /// the secret when it is missing, and with `name` tag it `bedkey:name=NAME`. A
    /// tag that cannot be set does not undo the write: it comes back in
    /// [`Written::untagged`].
    pub async fn write(
        &self,
        secret_id: &str,
        value: &Secret,
        kms_key_id: Option<&str>,
        name: Option<&str>,
    ) -> Result<Written> {
        let tag = name.map(|name| {
            aws_sdk_secretsmanager::types::Tag::builder()
                .key(crate::iam::NAME_TAG)
                .value(name)
                .build()
        });
        let arn = match self.put(secret_id, value).await {
            Ok(arn) => arn,
            Err(e)
                if e.code() == Some("ResourceNotFoundException")
                    && !secret_id.starts_with("arn:") =>
            {
                let created = self
                    .client
                    .create_secret()
                    .name(secret_id)
                    .secret_string(value.expose_secret())
                    .set_kms_key_id(kms_key_id.map(str::to_string))
                    .set_tags(tag.map(|t| vec![t]))
                    .send()
                    .await
                    .map_err(|e| aws::service_error("Secrets Manager", "CreateSecret", e))?;
                return Ok(Written::new(created.arn().unwrap_or(secret_id)));
            }
            Err(e) => return Err(e),
        };
        let mut written = Written::new(&arn);
        if let Some(tag) = tag
            && let Err(e) = self
                .client
                .tag_resource()
                .secret_id(&arn)
                .tags(tag)
                .send()
                .await
        {
            written.untagged = Some(aws::service_error("Secrets Manager", "TagResource", e));
        }
        Ok(written)
    }

    /// [`Secrets::write`] `key` (in `value`), reading the secret back after a failure
    /// that may have taken effect all the same (a reply lost, late or unreadable): a
    /// secret that holds the key was written, whatever the reply said.
    pub async fn write_checked(
        &self,
        secret_id: &str,
        value: &Secret,
        kms_key_id: Option<&str>,
        name: Option<&str>,
        key: &Secret,
    ) -> std::result::Result<Written, NotWritten> {
        let error = match self.write(secret_id, value, kms_key_id, name).await {
            Ok(written) => return Ok(written),
            Err(e) if !crate::iam::may_have_acted(&e) => {
                return Err(NotWritten {
                    error: e,
                    holds_it: Some(false),
                });
            }
            Err(e) => e,
        };
        match self.read(secret_id).await {
            Ok(Some(read)) if holds(&read.value, secret_id, key) => Ok(Written {
                reply_lost: Some(error),
                ..Written::new(&read.arn)
            }),
            Ok(_) => Err(NotWritten {
                error,
                holds_it: Some(false),
            }),
            Err(_) => Err(NotWritten {
                error,
                holds_it: None,
            }),
        }
    }

    async fn put(&self, secret_id: &str, value: &Secret) -> Result<String> {
        let out = self
            .client
            .put_secret_value()
            .secret_id(secret_id)
            .secret_string(value.expose_secret())
            .send()
            .await
            .map_err(|e| aws::service_error("Secrets Manager", "PutSecretValue", e))?;
        Ok(out.arn().unwrap_or(secret_id).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ABSKQmVkcm9ja0FQSUtleS14LWF0LTEyMzQ1Njc4OTAxMjpzZWNyZXQ=";

    #[test]
    fn a_written_value_keeps_fields_bedkey_does_not_own() {
        let existing = r#"{"bedrock_api_key": "old", "owner": "ml-team", "region": "eu-west-1"}"#;
        let about = About {
            region: Some("us-east-1".into()),
            name: Some("shared".into()),
            ..About::default()
        };
        let v = value(Some(existing), &secret(KEY), &about, false);
        let json: Value = serde_json::from_str(v.expose_secret()).unwrap();
        assert_eq!(json["owner"], "ml-team");
        assert_eq!(json[KEY_FIELD], KEY);
        assert_eq!(json["region"], "us-east-1");
        assert_eq!(json["expires_at"], Value::Null);
        assert_eq!(
            value(Some(existing), &secret(KEY), &about, true).expose_secret(),
            KEY
        );
        let from_text = value(Some("not json"), &secret(KEY), &about, false);
        assert!(from_text.expose_secret().starts_with('{'));
    }

    #[test]
    fn values_are_read_in_every_shape_and_anything_else_is_refused() {
        let (k, about) = parse(
            &secret(format!(
                r#"{{"bedrock_api_key": "{KEY}", "region": "us-east-1"}}"#
            )),
            "s",
        )
        .unwrap();
        assert_eq!(k.expose_secret(), KEY);
        assert_eq!(about.region.as_deref(), Some("us-east-1"));
        let (k, about) = parse(&secret(format!("{KEY}\n")), "s").unwrap();
        assert_eq!(k.expose_secret(), KEY);
        assert_eq!(about, About::default());
        for bad in [
            "hello".to_string(),
            "[]".to_string(),
            r#"{"password": "x"}"#.to_string(),
            r#"{"bedrock_api_key": "ABSK!!"}"#.to_string(),
            format!(r#"{{"bedrock_api_key": "{KEY}", "region": "$(id)"}}"#),
        ] {
            let e = parse(&secret(bad.clone()), "s").err().unwrap();
            assert_eq!(e.kind(), crate::error::Kind::Usage, "{bad}");
            assert!(!e.message().contains("secret\""), "{bad}");
        }
    }

    #[test]
    fn a_value_names_its_service_which_must_be_the_keys() {
        let platform = format!(
            "AEAA{}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                "AeaApiKey-x-at-123456789012:c2VjcmV0"
            )
        );
        let about = About {
            service: Service::ClaudePlatform,
            workspace_id: Some("wrk_1".into()),
            ..About::default()
        };
        let v = value(None, &secret(platform.clone()), &about, false);
        let json: Value = serde_json::from_str(v.expose_secret()).unwrap();
        assert_eq!(json[KEY_FIELD], platform.as_str());
        assert_eq!(json["service"], "claude-platform");
        assert_eq!(json["workspace_id"], "wrk_1");
        let (_, read) = parse(&v, "s").unwrap();
        assert_eq!(read.service, Service::ClaudePlatform);
        assert_eq!(read.workspace_id.as_deref(), Some("wrk_1"));
        // Without the field (hand-written values, or bedkey's before): the prefix's.
        let (_, read) = parse(&secret(format!(r#"{{"bedrock_api_key": "{KEY}"}}"#)), "s").unwrap();
        assert_eq!(read.service, Service::Bedrock);
        let (_, read) = parse(
            &secret(format!(r#"{{"bedrock_api_key": "{platform}"}}"#)),
            "s",
        )
        .unwrap();
        assert_eq!(read.service, Service::ClaudePlatform);
        // A workspace beside a Bedrock key is not taken along.
        let (_, read) = parse(
            &secret(format!(
                r#"{{"bedrock_api_key": "{KEY}", "workspace_id": "w"}}"#
            )),
            "s",
        )
        .unwrap();
        assert_eq!(read.workspace_id, None);
        // A field that contradicts the key, or a bad workspace, is refused.
        for bad in [
            format!(r#"{{"bedrock_api_key": "{KEY}", "service": "claude-platform"}}"#),
            format!(r#"{{"bedrock_api_key": "{KEY}", "service": 7}}"#),
            format!(r#"{{"bedrock_api_key": "{platform}", "workspace_id": "a b"}}"#),
        ] {
            let e = parse(&secret(bad.clone()), "s").err().unwrap();
            assert_eq!(e.kind(), crate::error::Kind::Usage, "{bad}");
        }
    }

    #[test]
    fn an_arn_names_its_region_and_a_conflicting_flag_is_refused() {
        let arn = "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:team-AbCdEf";
        assert_eq!(
            region_of(arn, None, Some("us-east-1")).unwrap(),
            "us-gov-west-1"
        );
        assert_eq!(
            region_of(arn, Some("us-gov-west-1"), None).unwrap(),
            "us-gov-west-1"
        );
        assert!(region_of(arn, Some("us-east-1"), None).is_err());
        assert_eq!(
            region_of("team", Some("eu-west-1"), Some("us-east-1")).unwrap(),
            "eu-west-1"
        );
        assert_eq!(
            region_of("team", None, Some("us-east-1")).unwrap(),
            "us-east-1"
        );
        assert!(region_of("team", None, None).is_err());
    }
}
