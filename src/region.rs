//! Regions: which names are regions, where the region in effect comes from, and the
//! partition and DNS suffix each belongs to.

use aws_config::meta::region::ProvideRegion;
use aws_config::profile::ProfileFileRegionProvider;

use crate::error::{Error, Result};

/// The variables the SDKs read the region from, in the order they are asked: boto3
/// reads only the second, the Rust and JS SDKs the first, so bedkey sets both.
pub const VARS: [&str; 2] = ["AWS_REGION", "AWS_DEFAULT_REGION"];

/// The region the environment names, unchecked, and the variable that names it.
pub fn from_env() -> Option<(String, &'static str)> {
    VARS.iter().find_map(|var| {
        std::env::var(var)
            .ok()
            .filter(|r| !r.is_empty())
            .map(|r| (r, *var))
    })
}

/// The region: `--region`, `AWS_REGION`, `AWS_DEFAULT_REGION`, then the profile's.
/// Returns it with where it came from. Instance metadata is not asked: a key's region
/// should be chosen, not guessed.
pub async fn resolve(explicit: Option<&str>, profile: Option<&str>) -> Result<(String, String)> {
    if let Some(r) = explicit {
        return Ok((checked(r)?, "--region".to_string()));
    }
    if let Some((r, var)) = from_env() {
        return Ok((checked(&r)?, var.to_string()));
    }
    let name = crate::profile::name(profile);
    let from_profile = ProfileFileRegionProvider::builder()
        .profile_name(&name)
        .build()
        .region()
        .await;
    match from_profile {
        Some(r) => Ok((checked(r.as_ref())?, format!("profile '{name}'"))),
        None => Err(Error::usage("no AWS region: an API key is bound to one")
            .with_hint("pass --region (e.g. --region us-east-1) or set AWS_REGION")),
    }
}

/// Region names are shaped `us-east-1`, `us-gov-west-1`, `eu-isoe-west-1`: a
/// two-letter area, words of lowercase letters, a number, joined by dashes. Anything
/// else (`--help`, `-x`, `x-`) would be signed into a key that never works, or read
/// as a flag where it is passed on.
pub fn checked(r: &str) -> Result<String> {
    let parts: Vec<&str> = r.split('-').collect();
    let word = |p: &&str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_lowercase());
    let ok = r.len() <= 32
        && parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1].iter().all(word)
        && (1..=2).contains(&parts[parts.len() - 1].len())
        && parts[parts.len() - 1].bytes().all(|c| c.is_ascii_digit());
    if ok {
        Ok(r.to_string())
    } else {
        Err(Error::usage(format!(
            "'{r}' is not an AWS region name (e.g. us-east-1)"
        )))
    }
}

/// The partition a region belongs to: `aws`, `aws-cn`, `aws-us-gov`, or an isolated
/// one.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-isof-") {
        "aws-iso-f"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("eu-isoe-") {
        "aws-iso-e"
    } else {
        "aws"
    }
}

/// The DNS suffix of a region's partition (its standard endpoints, not FIPS).
pub fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else if region.starts_with("us-isob-") {
        "sc2s.sgov.gov"
    } else if region.starts_with("us-isof-") {
        "csp.hci.ic.gov"
    } else if region.starts_with("us-iso-") {
        "c2s.ic.gov"
    } else if region.starts_with("eu-isoe-") {
        "cloud.adc-e.uk"
    } else {
        // aws and aws-us-gov share it.
        "amazonaws.com"
    }
}

/// An endpoint variable, as the SDKs read it: the service's own, then
/// `AWS_ENDPOINT_URL`; an empty one is as good as unset.
pub fn endpoint_override(var: &str) -> Option<String> {
    let read = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    read(var)
        .or_else(|| read("AWS_ENDPOINT_URL"))
        .map(|url| url.trim_end_matches('/').to_string())
}

/// Mantle's host in a region (`bedrock-mantle.REGION.api.aws`), in the partitions
/// that offer it: `aws` and `aws-us-gov`. None elsewhere (no host is known for China
/// or the isolated partitions).
pub fn mantle_host(region: &str) -> Option<String> {
    matches!(partition(region), "aws" | "aws-us-gov")
        .then(|| format!("bedrock-mantle.{region}.api.aws"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mantle_is_offered_in_the_commercial_and_govcloud_partitions_only() {
        assert_eq!(
            mantle_host("us-east-1").as_deref(),
            Some("bedrock-mantle.us-east-1.api.aws")
        );
        assert_eq!(
            mantle_host("us-gov-west-1").as_deref(),
            Some("bedrock-mantle.us-gov-west-1.api.aws")
        );
        for none in [
            "cn-north-1",
            "us-iso-east-1",
            "eu-isoe-west-1",
            "us-isob-east-1",
        ] {
            assert_eq!(mantle_host(none), None, "{none}");
        }
    }

    #[test]
    fn region_names_are_checked() {
        assert!(checked("us-east-1").is_ok());
        assert!(checked("us-gov-west-1").is_ok());
        for good in [
            "eu-isoe-west-1",
            "cn-northwest-1",
            "il-central-1",
            "ap-southeast-5",
        ] {
            assert!(checked(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "US-EAST-1",
            "useast1",
            "us east 1",
            "us-east-1\n",
            "--help",
            "-x",
            "--",
            "x-",
            "-1",
            "us-east-",
            "us--1",
            "u-east-1",
            "us-east-100",
            "us-1",
        ] {
            assert!(checked(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn partitions_and_their_dns_suffixes() {
        assert_eq!(partition("us-east-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(dns_suffix("cn-north-1"), "amazonaws.com.cn");
        assert_eq!(dns_suffix("us-gov-west-1"), "amazonaws.com");
    }
}
