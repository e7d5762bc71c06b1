//! IAM, through aws-sdk-iam: users, their policies, and the service-specific
//! credentials that are long-term API keys (Bedrock's, Claude Platform's, …: the
//! service is always the caller's to name).
//!
//! The SDK retries throttling and transient errors with backoff (standard mode, 3
//! attempts); what is left becomes one line with the contract's exit code.

use aws_config::BehaviorVersion;
use aws_config::Region;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::StatusType;

use crate::aws;
use crate::error::{Error, Result};
use crate::secret::{Secret, secret};
use crate::service::Service;

pub use crate::aws::TIMED_OUT;

/// The tag bedkey puts on what it makes for a key, naming the key.
pub const NAME_TAG: &str = "bedkey:name";
/// On an IAM user: a secret its key was published to, one tag per secret
/// (`bedkey:secret:HASH`, HASH from the secret's ARN; older bedkeys wrote one
/// `bedkey:secret`). `rotate --secret-id` acts only on a user that names the secret,
/// so that whoever can write a secret cannot point a rotation at another user, and
/// retires no credential another named secret still holds.
pub const SECRET_TAG: &str = "bedkey:secret";

/// The user tag that names secret `arn` as holding a key of `service`:
/// `bedkey:secret:` and 8 hex digits of a SHA-256 (a tag value holds 256 characters,
/// so one tag holds one ARN). Bedrock's hashes the ARN alone, as tags written before
/// services were known do; another service's hashes its name with the ARN, so that a
/// secret published for one service's credential cannot be rewritten to rotate the
/// same user's credential of another (the first credential of each has the same
/// alias).
pub fn secret_tag(arn: &str, service: Service) -> String {
    use sha2::Digest;
    let digest = match service {
        Service::Bedrock => sha2::Sha256::digest(arn.as_bytes()),
        other => sha2::Sha256::digest(format!("{}:{arn}", other.name()).as_bytes()),
    };
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{SECRET_TAG}:{hex}")
}

/// Whether a user's tags name secret `arn` as holding a key of `service` (an older
/// bedkey's one `bedkey:secret` tag named Bedrock's).
pub fn names_secret(tags: &[(String, String)], arn: &str, service: Service) -> bool {
    let tag = secret_tag(arn, service);
    tags.iter().any(|(key, value)| {
        value == arn && (*key == tag || (service == Service::Bedrock && key == SECRET_TAG))
    })
}

/// The secrets a user's tags name, in tag order.
pub fn tagged_secrets(tags: &[(String, String)]) -> Vec<String> {
    let mut arns: Vec<String> = Vec::new();
    for (key, value) in tags {
        let ours = key == SECRET_TAG
            || key
                .strip_prefix(SECRET_TAG)
                .is_some_and(|r| r.starts_with(':'));
        if ours && !arns.contains(value) {
            arns.push(value.clone());
        }
    }
    arns
}
/// On an IAM user: the credential a rotation left to retire after its grace period.
pub const RETIRING_TAG: &str = "bedkey:retiring";
/// IAM keeps at most five versions of a managed policy.
const MAX_POLICY_VERSIONS: usize = 5;

/// IAM allows a user two service-specific credentials per service.
pub const MAX_KEYS_PER_USER: usize = 2;
/// Users bedkey creates live under this path, so `list --remote` can find them.
pub const USER_PATH: &str = "/bedkey/";

#[derive(Clone)]
pub struct Iam {
    client: aws_sdk_iam::Client,
    sts: aws_sdk_sts::Client,
    /// What the clients were built from: endpoints, timeouts, region, credentials;
    /// another account's clients (`audit --org`) are built from it too.
    config: aws_config::SdkConfig,
}

/// A service-specific credential as IAM lists it (never with its secret).
#[derive(Clone, Debug)]
pub struct Remote {
    /// The service asked for: a listing is always of one.
    pub service: Service,
    pub id: String,
    pub user: String,
    pub status: String,
    pub created: i64,
    pub expires: Option<i64>,
    pub alias: Option<String>,
}

/// Whether a failed call may have taken effect all the same: no answer, an answer
/// that could not be read, or a failure on AWS's side. A definite refusal
/// (`LimitExceeded`, `AccessDenied`, …) changed nothing, and nothing must be swept up
/// after it: what appeared meanwhile is another run's.
pub fn may_have_acted(err: &Error) -> bool {
    matches!(
        err.code(),
        None | Some(
            TIMED_OUT
                | "ServiceFailure"
                | "InternalFailure"
                | "ServiceUnavailable"
                | "InternalServiceError"
        )
    )
}

/// How often, and how far apart, a failed create's leftovers are looked for.
const SWEEP_LISTINGS: usize = 3;
const SWEEP_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// What [`Iam::sweep_after_failed_create`] found.
pub enum Sweep {
    /// IAM holds no credential the failed create made (any it made are deleted).
    Clean { deleted: Vec<String> },
    /// One could not be deleted: it is still in IAM, with no one holding its key.
    Left {
        deleted: Vec<String>,
        left: String,
        error: Error,
    },
    /// IAM could not be listed: what it holds is unknown.
    Unknown(Error),
    /// Several credentials appeared since: one may be another run's, so none was
    /// deleted.
    Ambiguous(Vec<String>),
}

/// A credential just created: the only moment AWS shows its secret.
pub struct Created {
    pub secret: Secret,
    pub remote: Remote,
}

impl Iam {
    /// An IAM client with bedkey's credentials. IAM is global: the region only picks
    /// the partition, so without one we use us-east-1. `AWS_ENDPOINT_URL_IAM` /
    /// `AWS_ENDPOINT_URL_STS` (or the profile's endpoint settings) are honoured.
    /// Also returns where the credentials came from, masked, for the caller to show.
    pub async fn connect(profile: Option<&str>, region: Option<&str>) -> Result<(Iam, String)> {
        let resolved = aws::credentials(profile).await?;
        let region = match crate::region::resolve(region, profile).await {
            Ok((r, _)) if crate::region::partition(&r) != "aws" => r,
            _ => "us-east-1".to_string(),
        };
        let source = format!(
            "{} from {}",
            crate::token::mask(resolved.credentials.access_key_id()),
            resolved.source
        );
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(aws::timeouts())
            .credentials_provider(resolved.credentials)
            .region(Region::new(region));
        if let Some(p) = profile {
            loader = loader.profile_name(p);
        }
        let config = loader.load().await;
        Ok((Iam::from_config(config), source))
    }

    fn from_config(config: aws_config::SdkConfig) -> Iam {
        Iam {
            client: aws_sdk_iam::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
            config,
        }
    }

    /// The configuration the clients were built from, for other services' clients
    /// with the same credentials, endpoints and timeouts.
    pub fn sdk_config(&self) -> &aws_config::SdkConfig {
        &self.config
    }

    /// The same endpoints and timeouts with other credentials: a role assumed in
    /// another account.
    pub fn with_credentials(&self, credentials: aws_credential_types::Credentials) -> Iam {
        let config = self
            .config
            .to_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
            )
            .build();
        Iam::from_config(config)
    }

    /// Temporary credentials of role `arn` for the shortest time STS gives (15
    /// minutes), named `session` in the account's CloudTrail.
    pub async fn assume_role(
        &self,
        arn: &str,
        session: &str,
    ) -> Result<aws_credential_types::Credentials> {
        let out = self
            .sts
            .assume_role()
            .role_arn(arn)
            .role_session_name(session)
            .duration_seconds(900)
            .customize()
            .interceptor(WholeReply("</AssumeRoleResponse>"))
            .send()
            .await
            .map_err(|e| aws::service_error("STS", "AssumeRole", e))?;
        let c = out
            .credentials()
            .ok_or_else(|| Error::failure("STS answered AssumeRole without credentials"))?;
        Ok(aws_credential_types::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            std::time::SystemTime::try_from(*c.expiration()).ok(),
            "assumed role",
        ))
    }

    /// The account an access key id belongs to (`sts:GetAccessKeyInfo`, which any
    /// credentials may call).
    pub async fn account_of_key(&self, access_key_id: &str) -> Result<String> {
        let out = self
            .sts
            .get_access_key_info()
            .access_key_id(access_key_id)
            .customize()
            .interceptor(WholeReply("</GetAccessKeyInfoResponse>"))
            .send()
            .await
            .map_err(|e| aws::service_error("STS", "GetAccessKeyInfo", e))?;
        out.account()
            .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_string)
            .ok_or_else(|| Error::failure("STS answered GetAccessKeyInfo without an account"))
    }

    /// The IAM user an access key (`AKIA…`) of this account belongs to, or None when
    /// IAM has no such key.
    pub async fn user_of_access_key(&self, access_key_id: &str) -> Result<Option<String>> {
        match self
            .client
            .get_access_key_last_used()
            .access_key_id(access_key_id)
            .customize()
            .interceptor(WholeReply("</GetAccessKeyLastUsedResponse>"))
            .send()
            .await
        {
            Ok(out) => Ok(out.user_name().map(str::to_string)),
            Err(e) if e.code() == Some("NoSuchEntity") => Ok(None),
            Err(e) => Err(error("GetAccessKeyLastUsed", e)),
        }
    }

    /// The user's IAM access keys: id and status.
    pub async fn access_keys(&self, user: &str) -> Result<Vec<(String, String)>> {
        let mut all = Vec::new();
        let mut marker = None;
        let mut seen = std::collections::HashSet::new();
        loop {
            let out = self
                .client
                .list_access_keys()
                .user_name(user)
                .set_marker(marker)
                .customize()
                .interceptor(WholeReply("</ListAccessKeysResponse>"))
                .send()
                .await
                .map_err(|e| error("ListAccessKeys", e))?;
            for k in out.access_key_metadata() {
                match (k.access_key_id(), k.status()) {
                    (Some(id), Some(status)) => {
                        all.push((id.to_string(), status.as_str().to_string()))
                    }
                    _ => {
                        return Err(Error::failure(
                            "IAM answered ListAccessKeys with a reply bedkey could not read (a key without its id or status)",
                        ));
                    }
                }
            }
            marker = match next_page(
                "ListAccessKeys",
                out.is_truncated(),
                out.marker(),
                &mut seen,
            )? {
                Some(m) => Some(m),
                None => return Ok(all),
            };
        }
    }

    pub async fn deactivate_access_key(&self, user: &str, id: &str) -> Result<()> {
        self.client
            .update_access_key()
            .user_name(user)
            .access_key_id(id)
            .status(StatusType::Inactive)
            .send()
            .await
            .map_err(|e| error("UpdateAccessKey", e))?;
        Ok(())
    }

    /// Delete an access key; `Ok(false)` when IAM had none of that id.
    pub async fn delete_access_key(&self, user: &str, id: &str) -> Result<bool> {
        match self
            .client
            .delete_access_key()
            .user_name(user)
            .access_key_id(id)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("NoSuchEntity") => Ok(false),
            Err(e) => Err(error("DeleteAccessKey", e)),
        }
    }

    /// An inline policy's document (decoded), or None when there is none.
    pub async fn inline_policy(&self, owner: &Principal, name: &str) -> Result<Option<String>> {
        let document = match owner {
            Principal::User(user) => {
                match self
                    .client
                    .get_user_policy()
                    .user_name(user)
                    .policy_name(name)
                    .customize()
                    .interceptor(WholeReply("</GetUserPolicyResponse>"))
                    .send()
                    .await
                {
                    Ok(out) => out.policy_document().to_string(),
                    Err(e) if e.code() == Some("NoSuchEntity") => return Ok(None),
                    Err(e) => return Err(error("GetUserPolicy", e)),
                }
            }
            Principal::Role(role) => {
                match self
                    .client
                    .get_role_policy()
                    .role_name(role)
                    .policy_name(name)
                    .customize()
                    .interceptor(WholeReply("</GetRolePolicyResponse>"))
                    .send()
                    .await
                {
                    Ok(out) => out.policy_document().to_string(),
                    Err(e) if e.code() == Some("NoSuchEntity") => return Ok(None),
                    Err(e) => return Err(error("GetRolePolicy", e)),
                }
            }
        };
        Ok(Some(decode_document(&document)))
    }

    /// Write an inline policy of a user or a role.
    pub async fn put_policy_of(&self, owner: &Principal, name: &str, document: &str) -> Result<()> {
        match owner {
            Principal::User(user) => self.put_inline_policy(user, name, document).await,
            Principal::Role(role) => {
                self.client
                    .put_role_policy()
                    .role_name(role)
                    .policy_name(name)
                    .policy_document(document)
                    .send()
                    .await
                    .map_err(|e| error("PutRolePolicy", e))?;
                Ok(())
            }
        }
    }

    /// Users, groups and the account's own managed policies, with every policy
    /// document: what `broad-policy` is judged on, in one paginated call.
    pub async fn authorization_details(&self) -> Result<crate::authz::Details> {
        use aws_sdk_iam::types::EntityType;
        let mut details = crate::authz::Details::default();
        let mut marker = None;
        let mut seen = std::collections::HashSet::new();
        loop {
            let out = self
                .client
                .get_account_authorization_details()
                .filter(EntityType::User)
                .filter(EntityType::Group)
                .filter(EntityType::LocalManagedPolicy)
                .set_marker(marker)
                .customize()
                .interceptor(WholeReply("</GetAccountAuthorizationDetailsResponse>"))
                .send()
                .await
                .map_err(|e| error("GetAccountAuthorizationDetails", e))?;
            for u in out.user_detail_list() {
                let Some(name) = u.user_name() else { continue };
                details.users.insert(
                    name.to_string(),
                    holder(
                        u.user_policy_list(),
                        u.attached_managed_policies(),
                        u.group_list(),
                    ),
                );
            }
            for g in out.group_detail_list() {
                let Some(name) = g.group_name() else { continue };
                details.groups.insert(
                    name.to_string(),
                    holder(g.group_policy_list(), g.attached_managed_policies(), &[]),
                );
            }
            for p in out.policies() {
                let (Some(arn), Some(doc)) = (
                    p.arn(),
                    p.policy_version_list()
                        .iter()
                        .find(|v| v.is_default_version())
                        .and_then(|v| v.document()),
                ) else {
                    continue;
                };
                details
                    .policies
                    .insert(arn.to_string(), decode_document(doc));
            }
            marker = match next_page(
                "GetAccountAuthorizationDetails",
                out.is_truncated(),
                out.marker(),
                &mut seen,
            )? {
                Some(m) => Some(m),
                None => return Ok(details),
            };
        }
    }

    /// The account the credentials belong to.
    pub async fn account(&self) -> Result<String> {
        let out = self
            .sts
            .get_caller_identity()
            .customize()
            .interceptor(WholeReply("</GetCallerIdentityResponse>"))
            .send()
            .await
            .map_err(|e| aws::service_error("STS", "GetCallerIdentity", e))?;
        out.account().map(str::to_string).ok_or_else(|| {
            Error::failure("STS did not say which account the credentials belong to")
        })
    }

    /// The account and partition (`aws`, `aws-cn`, `aws-us-gov`) of the credentials.
    pub async fn identity(&self) -> Result<(String, String)> {
        let out = self
            .sts
            .get_caller_identity()
            .customize()
            .interceptor(WholeReply("</GetCallerIdentityResponse>"))
            .send()
            .await
            .map_err(|e| aws::service_error("STS", "GetCallerIdentity", e))?;
        let account = out.account().unwrap_or_default().to_string();
        let partition = out
            .arn()
            .and_then(|a| a.split(':').nth(1))
            .filter(|p| !p.is_empty())
            .unwrap_or("aws")
            .to_string();
        if account.is_empty() {
            return Err(Error::failure(
                "STS did not say which account the credentials belong to",
            ));
        }
        Ok((account, partition))
    }

    /// Create customer-managed policy `name` under bedkey's path, tagged as bedkey's
    /// for key `key`, or give an existing one a new default version (deleting the
    /// oldest non-default version at IAM's limit of five). A policy of that name that
    /// bedkey did not make is refused. Returns its ARN and whether it was new.
    pub async fn ensure_policy(
        &self,
        arn: &str,
        name: &str,
        document: &str,
        key: &str,
    ) -> Result<(String, bool)> {
        if self.policy_exists(arn, key).await? {
            self.new_default_version(arn, document).await?;
            return Ok((arn.to_string(), false));
        }
        let out = self
            .client
            .create_policy()
            .policy_name(name)
            .path(USER_PATH)
            .policy_document(document)
            .tags(tag(NAME_TAG, key)?)
            .send()
            .await
            .map_err(|e| error("CreatePolicy", e))?;
        let made = out.policy().and_then(|p| p.arn()).unwrap_or(arn);
        Ok((made.to_string(), true))
    }

    /// Whether managed policy `arn` exists for key `key`. One that exists without
    /// bedkey's tag is refused (bedkey changes only what it made), and so is one that
    /// bedkey made for another key: a new version would change that key's rights.
    pub async fn policy_exists(&self, arn: &str, key: &str) -> Result<bool> {
        let out = match self.client.get_policy().policy_arn(arn).send().await {
            Err(e) if e.code() == Some("NoSuchEntity") => return Ok(false),
            Err(e) => return Err(error("GetPolicy", e)),
            Ok(out) => out,
        };
        let tags = out.policy().map(|p| p.tags()).unwrap_or_default();
        match tags.iter().find(|t| t.key() == NAME_TAG).map(|t| t.value()) {
            Some(owner) if owner == key => Ok(true),
            Some(owner) => Err(Error::failure(format!(
                "IAM policy {arn} is the policy of key '{owner}' ({NAME_TAG}={owner}); nothing was changed"
            ))
            .with_hint("pick another name with --policy-name")),
            None => Err(Error::failure(format!(
                "IAM policy {arn} exists and bedkey did not make it (it has no {NAME_TAG} tag); nothing was changed"
            ))
            .with_hint("pick another name with --policy-name")),
        }
    }

    async fn new_default_version(&self, arn: &str, document: &str) -> Result<()> {
        let versions = self
            .client
            .list_policy_versions()
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| error("ListPolicyVersions", e))?;
        let mut old: Vec<_> = versions
            .versions()
            .iter()
            .filter(|v| !v.is_default_version())
            .filter_map(|v| Some((v.create_date()?.secs(), v.version_id()?.to_string())))
            .collect();
        if versions.versions().len() >= MAX_POLICY_VERSIONS {
            old.sort();
            if let Some((_, oldest)) = old.first() {
                self.client
                    .delete_policy_version()
                    .policy_arn(arn)
                    .version_id(oldest)
                    .send()
                    .await
                    .map_err(|e| error("DeletePolicyVersion", e))?;
            }
        }
        self.client
            .create_policy_version()
            .policy_arn(arn)
            .policy_document(document)
            .set_as_default(true)
            .send()
            .await
            .map_err(|e| error("CreatePolicyVersion", e))?;
        Ok(())
    }

    /// The user's tags.
    pub async fn user_tags(&self, user: &str) -> Result<Vec<(String, String)>> {
        let out = self
            .client
            .list_user_tags()
            .user_name(user)
            .customize()
            .interceptor(WholeReply("</ListUserTagsResponse>"))
            .send()
            .await
            .map_err(|e| error("ListUserTags", e))?;
        Ok(out
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect())
    }

    /// Add tags to a user (existing ones of the same key are replaced).
    pub async fn tag_user(&self, user: &str, tags: &[(String, String)]) -> Result<()> {
        if tags.is_empty() {
            return Ok(());
        }
        let mut call = self.client.tag_user().user_name(user);
        for (k, v) in tags {
            call = call.tags(tag(k, v)?);
        }
        call.send().await.map_err(|e| error("TagUser", e))?;
        Ok(())
    }

    pub async fn user_exists(&self, user: &str) -> Result<bool> {
        match self.client.get_user().user_name(user).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("NoSuchEntity") => Ok(false),
            Err(e) => Err(error("GetUser", e)),
        }
    }

    pub async fn create_user(&self, user: &str) -> Result<()> {
        self.client
            .create_user()
            .user_name(user)
            .path(USER_PATH)
            .send()
            .await
            .map_err(|e| error("CreateUser", e))?;
        Ok(())
    }

    pub async fn attached_policies(&self, user: &str) -> Result<Vec<String>> {
        let policies = self
            .client
            .list_attached_user_policies()
            .user_name(user)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| error("ListAttachedUserPolicies", e))?;
        Ok(policies
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect())
    }

    pub async fn attach_policy(&self, user: &str, arn: &str) -> Result<()> {
        self.client
            .attach_user_policy()
            .user_name(user)
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| error("AttachUserPolicy", e))?;
        Ok(())
    }

    pub async fn put_inline_policy(&self, user: &str, name: &str, document: &str) -> Result<()> {
        self.client
            .put_user_policy()
            .user_name(user)
            .policy_name(name)
            .policy_document(document)
            .send()
            .await
            .map_err(|e| error("PutUserPolicy", e))?;
        Ok(())
    }

    /// Delete an inline policy; `Ok(false)` when there was none.
    pub async fn delete_inline_policy(&self, user: &str, name: &str) -> Result<bool> {
        match self
            .client
            .delete_user_policy()
            .user_name(user)
            .policy_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("NoSuchEntity") => Ok(false),
            Err(e) => Err(error("DeleteUserPolicy", e)),
        }
    }

    /// Every API key of `service` in the account: one paginated listing with
    /// `AllUsers`. `progress` hears the count so far after each page.
    pub async fn all_credentials(
        &self,
        service: Service,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<Remote>> {
        let mut all = Vec::new();
        let mut marker = None;
        let mut seen = std::collections::HashSet::new();
        loop {
            let out = self
                .client
                .list_service_specific_credentials()
                .all_users(true)
                .service_name(service.describe().iam)
                .max_items(1000)
                .set_marker(marker)
                .customize()
                .interceptor(WholeReply(LISTING_END))
                .send()
                .await
                .map_err(|e| error("ListServiceSpecificCredentials", e))?;
            all.extend(listed(service, out.service_specific_credentials())?);
            progress(all.len());
            marker = match next_page(
                "ListServiceSpecificCredentials",
                out.is_truncated(),
                out.marker(),
                &mut seen,
            )? {
                Some(m) => Some(m),
                None => return Ok(all),
            };
        }
    }

    /// The user's API keys of `service`.
    pub async fn credentials(&self, service: Service, user: &str) -> Result<Vec<Remote>> {
        let mut all = Vec::new();
        let mut marker = None;
        let mut seen = std::collections::HashSet::new();
        loop {
            let out = self
                .client
                .list_service_specific_credentials()
                .user_name(user)
                .service_name(service.describe().iam)
                .set_marker(marker)
                .customize()
                .interceptor(WholeReply(LISTING_END))
                .send()
                .await
                .map_err(|e| error("ListServiceSpecificCredentials", e))?;
            all.extend(listed(service, out.service_specific_credentials())?);
            marker = match next_page(
                "ListServiceSpecificCredentials",
                out.is_truncated(),
                out.marker(),
                &mut seen,
            )? {
                Some(m) => Some(m),
                None => return Ok(all),
            };
        }
    }

    /// Make a credential. Sent once, never retried: a retry after a lost reply makes a
    /// second credential, and IAM shows each secret only in the reply. After any
    /// failure the caller runs [`Iam::sweep_after_failed_create`].
    pub async fn create_credential(
        &self,
        service: Service,
        user: &str,
        days: Option<i64>,
    ) -> Result<Created> {
        let once = aws_sdk_iam::config::Builder::default()
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled());
        let out = self
            .client
            .create_service_specific_credential()
            .user_name(user)
            .service_name(service.describe().iam)
            .set_credential_age_days(days.map(|d| d as i32))
            .customize()
            .config_override(once)
            .send()
            .await
            .map_err(|e| error("CreateServiceSpecificCredential", e))?;
        let c = out
            .service_specific_credential()
            .ok_or_else(|| unreadable("it holds no credential (cut short?)"))?;
        let value = c
            .service_credential_secret()
            .ok_or_else(|| unreadable("it holds no ServiceCredentialSecret (cut short?)"))?;
        Ok(Created {
            secret: secret(value),
            remote: Remote {
                service,
                id: c.service_specific_credential_id().to_string(),
                user: c.user_name().to_string(),
                status: c.status().as_str().to_string(),
                created: c.create_date().secs(),
                expires: c.expiration_date().map(|d| d.secs()),
                alias: c.service_credential_alias().map(str::to_string),
            },
        })
    }

    pub async fn deactivate(&self, user: &str, id: &str) -> Result<()> {
        self.client
            .update_service_specific_credential()
            .user_name(user)
            .service_specific_credential_id(id)
            .status(StatusType::Inactive)
            .send()
            .await
            .map_err(|e| error("UpdateServiceSpecificCredential", e))?;
        Ok(())
    }

    /// Delete a credential; `Ok(false)` when IAM had no such credential (or user).
    pub async fn delete_credential(&self, user: &str, id: &str) -> Result<bool> {
        match self
            .client
            .delete_service_specific_credential()
            .user_name(user)
            .service_specific_credential_id(id)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("NoSuchEntity") => Ok(false),
            Err(e) => Err(error("DeleteServiceSpecificCredential", e)),
        }
    }

    /// After a create that failed, timed out or answered garbage: IAM may have made the
    /// credential all the same, and its secret is lost. Find every credential of `user`
    /// that was not in `before` (listing a few times, as IAM is eventually consistent),
    /// deactivate and delete it, and say what was found.
    pub async fn sweep_after_failed_create(
        &self,
        service: Service,
        user: &str,
        before: &[Remote],
    ) -> Sweep {
        let mut found = Vec::new();
        for attempt in 0..SWEEP_LISTINGS {
            if attempt > 0 {
                tokio::time::sleep(SWEEP_PAUSE).await;
            }
            match self.credentials(service, user).await {
                Ok(now) => {
                    found = now
                        .into_iter()
                        .filter(|c| !before.iter().any(|b| b.id == c.id))
                        .collect();
                    if !found.is_empty() {
                        break;
                    }
                }
                Err(e) => return Sweep::Unknown(e),
            }
        }
        // One create makes one credential. More means another run (another machine,
        // the console) made one for this user meanwhile: which is whose cannot be told,
        // so none is deleted.
        if found.len() > 1 {
            return Sweep::Ambiguous(found.into_iter().map(|c| c.id).collect());
        }
        let mut deleted = Vec::new();
        for c in found {
            let gone = match self.deactivate(user, &c.id).await {
                Ok(()) => self.delete_credential(user, &c.id).await,
                Err(e) => Err(e),
            };
            match gone {
                Ok(_) => deleted.push(c.id),
                Err(e) => {
                    return Sweep::Left {
                        deleted,
                        left: c.id,
                        error: e,
                    };
                }
            }
        }
        Sweep::Clean { deleted }
    }

    /// Users under bedkey's path.
    pub async fn bedkey_users(&self) -> Result<Vec<String>> {
        let users = self
            .client
            .list_users()
            .path_prefix(USER_PATH)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| error("ListUsers", e))?;
        Ok(users.iter().map(|u| u.user_name().to_string()).collect())
    }
}

/// Whose inline policy: a user's or a role's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    User(String),
    Role(String),
}

/// A user's or group's policies as the authorization details list them.
fn holder(
    inline: &[aws_sdk_iam::types::PolicyDetail],
    attached: &[aws_sdk_iam::types::AttachedPolicy],
    groups: &[String],
) -> crate::authz::Holder {
    crate::authz::Holder {
        inline: inline
            .iter()
            .filter_map(|p| {
                Some((
                    p.policy_name()?.to_string(),
                    decode_document(p.policy_document()?),
                ))
            })
            .collect(),
        attached: attached
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect(),
        groups: groups.to_vec(),
    }
}

/// IAM hands policy documents back URL-encoded; a document that is not (a server
/// that sends it plain) is kept as it is.
fn decode_document(text: &str) -> String {
    if text.trim_start().starts_with('{') {
        return text.to_string();
    }
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|d| d.into_owned())
        .unwrap_or_else(|_| text.to_string())
}

/// The marker of the next page of a listing, or None at its end. IAM must give a new
/// marker whenever it says there is more: one missing or seen before would page
/// forever.
fn next_page(
    operation: &str,
    truncated: bool,
    marker: Option<&str>,
    seen: &mut std::collections::HashSet<String>,
) -> Result<Option<String>> {
    if !truncated {
        return Ok(None);
    }
    match marker.filter(|m| !m.is_empty()) {
        Some(m) if seen.insert(m.to_string()) => Ok(Some(m.to_string())),
        Some(_) => Err(Error::failure(format!(
            "IAM answered {operation} with a marker it gave before: the listing would never end"
        ))),
        None => Err(Error::failure(format!(
            "IAM answered {operation} with more to come but no marker: the rest cannot be listed"
        ))),
    }
}

fn unreadable(why: &str) -> Error {
    Error::failure(format!(
        "IAM answered CreateServiceSpecificCredential with a reply bedkey could not read: {why}"
    ))
}

fn tag(key: &str, value: &str) -> Result<aws_sdk_iam::types::Tag> {
    aws_sdk_iam::types::Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| Error::usage(format!("tag {key}: {e}")))
}

/// The ARN of bedkey's managed policy `name` in `account` of `partition`.
pub fn policy_arn(partition: &str, account: &str, name: &str) -> String {
    format!("arn:{partition}:iam::{account}:policy{USER_PATH}{name}")
}

/// How a listing's XML ends when it arrived whole.
const LISTING_END: &str = "</ListServiceSpecificCredentialsResponse>";

/// Refuses a successful reply whose XML does not end with its closing element: a
/// body cut short with a matching length parses as a shorter list, which for a
/// listing would pass for the whole (an audit that misses keys, a sweep that misses
/// an orphan).
#[derive(Debug)]
struct WholeReply(&'static str);

impl aws_smithy_runtime_api::client::interceptors::Intercept for WholeReply {
    fn name(&self) -> &'static str {
        "WholeReply"
    }

    fn read_after_deserialization(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef<'_>,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> std::result::Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let response = context.response();
        let Some(body) = response.body().bytes() else {
            return Ok(());
        };
        let whole = String::from_utf8_lossy(body).trim_end().ends_with(self.0);
        if response.status().is_success() && !whole {
            return Err("it was cut short".into());
        }
        Ok(())
    }
}

/// A page of a listing, each member checked: a reply cut short can parse into a
/// member with no id or status, which must not pass for a complete list.
fn listed(
    service: Service,
    page: &[aws_sdk_iam::types::ServiceSpecificCredentialMetadata],
) -> Result<Vec<Remote>> {
    page.iter()
        .map(|c| {
            let whole = !c.service_specific_credential_id().is_empty()
                && !c.user_name().is_empty()
                && matches!(c.status().as_str(), "Active" | "Inactive" | "Expired");
            if whole {
                Ok(remote(service, c))
            } else {
                Err(Error::failure(
                    "IAM answered ListServiceSpecificCredentials with a reply bedkey could not read (a credential without its id, user or status)",
                ))
            }
        })
        .collect()
}

/// A credential as a listing describes it.
fn remote(service: Service, c: &aws_sdk_iam::types::ServiceSpecificCredentialMetadata) -> Remote {
    Remote {
        service,
        id: c.service_specific_credential_id().to_string(),
        user: c.user_name().to_string(),
        status: c.status().as_str().to_string(),
        created: c.create_date().secs(),
        expires: c.expiration_date().map(|d| d.secs()),
        alias: c.service_credential_alias().map(str::to_string),
    }
}

/// One line for an IAM failure, with the exit code of what the caller can do.
pub fn error<E, R>(operation: &str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    aws::service_error("IAM", operation, err)
}
