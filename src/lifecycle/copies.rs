//! The copies of a key in secrets. A key published to several secrets (by this home
//! or another, recorded on its IAM user as `bedkey:secret:HASH` tags) has a copy in
//! each: before a credential is retired, every copy must hold the key that replaces
//! it, or whoever reads that secret is left with a deleted key.

use crate::error::{Error, Result};
use crate::secret::{ExposeSecret, Secret};
use crate::secrets::{self, About, Secrets};

/// A secret's value as read, and the key and fields it holds.
pub struct Copy {
    pub arn: String,
    pub value: Secret,
    pub key: Secret,
    pub about: About,
}

/// What reading the copies found.
#[derive(Default)]
pub struct Found {
    /// Copies that hold the credential asked about.
    pub holding: Vec<Copy>,
    /// Secrets that could not be read (or hold no key): whether they hold it is
    /// unknown.
    pub unknown: Vec<(String, Error)>,
}

/// Read each secret in `arns` (in the region its ARN names, with `profile`) and sort
/// out the ones whose copy is of credential `id`. A secret deleted meanwhile holds
/// nothing.
pub async fn holding(arns: &[String], id: &str, profile: Option<&str>) -> Found {
    let mut found = Found::default();
    for arn in arns {
        match read(arn, profile).await {
            Ok(Some(copy)) if copy.about.credential_id.as_deref() == Some(id) => {
                found.holding.push(copy)
            }
            Ok(_) => {}
            Err(e) => found.unknown.push((arn.clone(), e)),
        }
    }
    found
}

async fn read(arn: &str, profile: Option<&str>) -> Result<Option<Copy>> {
    let region = secrets::region_of(arn, None, None)?;
    let (client, _) = Secrets::connect(profile, &region).await?;
    let Some(read) = client.read(arn).await? else {
        return Ok(None);
    };
    let (key, about) = secrets::parse(&read.value, arn)?;
    Ok(Some(Copy {
        arn: read.arn,
        value: read.value,
        key,
        about,
    }))
}

/// Write `key` with `about` over each copy, keeping the fields of its value that
/// bedkey does not own (and a bare key bare). Returns the secrets that could not be
/// written, with why.
pub async fn overwrite(
    copies: &[Copy],
    key: &Secret,
    about: &About,
    profile: Option<&str>,
) -> Vec<(String, Error)> {
    let mut failed = Vec::new();
    for copy in copies {
        let raw = copy.value.expose_secret().trim() == copy.key.expose_secret();
        let about = About {
            // Each copy keeps its own name and region fields.
            name: copy.about.name.clone().or_else(|| about.name.clone()),
            region: copy.about.region.clone().or_else(|| about.region.clone()),
            ..about.clone()
        };
        let value = secrets::value(Some(copy.value.expose_secret()), key, &about, raw);
        let written = async {
            let region = secrets::region_of(&copy.arn, None, None)?;
            let (client, _) = Secrets::connect(profile, &region).await?;
            client
                .write_checked(&copy.arn, &value, None, None, key)
                .await
                .map_err(|f| f.error)
        };
        if let Err(e) = written.await {
            failed.push((copy.arn.clone(), e));
        }
    }
    failed
}

/// One line naming secrets and why each failed.
pub fn describe(failed: &[(String, Error)]) -> String {
    failed
        .iter()
        .map(|(arn, e)| format!("{arn} ({})", e.message()))
        .collect::<Vec<_>>()
        .join(", ")
}
