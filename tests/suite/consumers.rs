//! The programs bedkey exists for: boto3 reads the variables `bedkey exec` sets and
//! sends the key as a bearer token, without any region of its own. botocore only
//! sends bearer tokens over HTTPS, so the stand-in Bedrock endpoint serves TLS on
//! 127.0.0.1 with a self-signed certificate given to boto3 through AWS_CA_BUNDLE.

use crate::support::bedrock::{Bedrock, boto3};
use crate::support::*;

/// Run boto3 under `bedkey exec NAME` against a TLS stand-in for Bedrock that accepts
/// only `key`; returns what the script printed: boto3's region and a model id.
fn boto3_through_exec(sb: &Sandbox, name: &str, key: &str) -> String {
    let bedrock = Bedrock::start(sb, &[key], false);
    // No AWS credentials and no region of boto3's own: only what bedkey sets.
    let script = "import boto3; c = boto3.client('bedrock'); \
                  r = c.list_foundation_models(); \
                  print(c.meta.region_name, r['modelSummaries'][0]['modelId'])";
    let out = sb
        .bedkey()
        .env("AWS_ENDPOINT_URL_BEDROCK", &bedrock.url)
        .env("AWS_CA_BUNDLE", &bedrock.ca)
        .args(["exec", name, "--", "python3", "-c", script])
        .output()
        .unwrap();
    ok(&out);
    let seen = bedrock.seen();
    assert!(
        seen.iter()
            .any(|(_, auth, accepted)| *accepted && *auth == format!("Bearer {key}")),
        "{seen:?}"
    );
    stdout(&out).trim().to_string()
}

#[test]
fn boto3_uses_a_stored_long_term_key_and_its_region() {
    if !boto3() {
        return;
    }
    let sb = Sandbox::new();
    let name = sb.name("boto");
    let key = long_term_key("BedrockAPIKey-boto-at-123456789012");
    ok(&sb.import(&name, &key, &["--region", "eu-central-1"]));
    assert_eq!(
        boto3_through_exec(&sb, &name, &key),
        "eu-central-1 amazon.nova-lite-v1:0"
    );
}

#[test]
fn boto3_uses_a_minted_short_term_key_in_the_region_it_was_signed_for() {
    if !boto3() {
        return;
    }
    let sb = Sandbox::new();
    let name = sb.name("botost");
    sb.short_term(&name, "1h", "ap-southeast-2");
    let key = sb.loaded_key(&name);
    let key = key.as_str();
    assert_eq!(
        boto3_through_exec(&sb, &name, key),
        "ap-southeast-2 amazon.nova-lite-v1:0"
    );
}
