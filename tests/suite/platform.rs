//! Claude Platform on AWS keys beside Bedrock's: minting, IAM (create, rotate,
//! revoke, audit) through the test server with the platform's service name, import
//! and its checks, `env`/`exec`, publish and pull, and Anthropic's own client
//! (`AnthropicAWS`, from PyPI) direct and under `exec --proxy` against the TLS
//! stand-in for the platform's endpoint.

use base64::Engine as _;

use crate::support::bedrock::Bedrock;
use crate::support::iam::{self, credentials_of, iam_query, run_ok};
use crate::support::*;

const PLATFORM: &str = "aws-external-anthropic.amazonaws.com";
use crate::support::CLIENTS;

/// A long-term Claude Platform key as IAM makes them: `AEAA` + base64(`alias:secret`).
fn platform_key(alias: &str) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(format!("{alias}:s3cr3t+/{alias}"));
    format!("AEAA{body}")
}

fn json(out: &std::process::Output) -> serde_json::Value {
    ok(out);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

/// Exit 2, one line, and nothing stored.
fn refused(sb: &Sandbox, out: &std::process::Output, says: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
    let err = stderr(out);
    assert!(err.contains(says), "{err}");
    assert!(
        err.lines().next().unwrap().starts_with("bedkey: error: "),
        "{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("Error {"),
        "{err}"
    );
    // No key list at all, or an empty one.
    if sb.path().join("bedkey/keys.json").exists() {
        let keys = sb.keys_json();
        assert!(
            keys["keys"].as_object().is_none_or(|k| k.is_empty()),
            "{keys}"
        );
    }
}

#[test]
fn token_service_claude_platform_mints_a_platform_key_for_the_region() {
    let sb = Sandbox::new();
    let out = sb
        .bedkey_with_env_credentials()
        .args([
            "token",
            "--service",
            "claude-platform",
            "--region",
            "eu-central-1",
            "--expires",
            "15m",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    let j = json(&out);
    let key = j["key"].as_str().unwrap();
    assert!(key.starts_with("aws-external-anthropic-api-key-"), "{key}");
    assert_eq!(j["service"], "claude-platform");
    assert_eq!(j["region"], "eu-central-1");
    let url = key_url(key);
    assert!(
        url.starts_with("aws-external-anthropic.amazonaws.com/?Action=CallWithBearerToken&"),
        "{url}"
    );
    assert!(
        url.contains("%2Feu-central-1%2Faws-external-anthropic%2Faws4_request"),
        "{url}"
    );
    assert_eq!(key_param(key, "X-Amz-Expires").as_deref(), Some("900"));
    // inspect reads it back, service first.
    let out = sb.bedkey().args(["inspect", key]).output().unwrap();
    ok(&out);
    assert!(stdout(&out).starts_with("service"), "{}", stdout(&out));
    assert!(stdout(&out).contains("claude-platform"));
}

#[test]
fn bad_service_flags_are_usage_errors_and_store_nothing() {
    let sb = Sandbox::new();
    let bedrock = long_term_key("BedrockAPIKey-x-at-123456789012");
    let platform = platform_key("AeaApiKey-x-at-123456789012");
    let name = sb.name("bad");
    for (args, stdin, says) in [
        (
            vec!["token", "--service", "cloudwatch"],
            "",
            "invalid value 'cloudwatch'",
        ),
        (
            vec!["import", &name, "--service", "claude-platform"],
            bedrock.as_str(),
            "the key is a Bedrock key",
        ),
        (
            vec!["import", &name, "--service", "bedrock"],
            platform.as_str(),
            "the key is a Claude Platform on AWS key",
        ),
        (
            vec!["import", &name, "--workspace-id", "bad id!"],
            platform.as_str(),
            "not a workspace id",
        ),
        (
            vec!["import", &name, "--workspace-id", "wrk_1"],
            bedrock.as_str(),
            "only Claude Platform keys have a workspace",
        ),
        (
            vec![
                "create",
                &name,
                "--service",
                "claude-platform",
                "--allow-model",
                "m",
            ],
            "",
            "--allow-model scopes a Bedrock key",
        ),
        (
            vec!["create", &name, "--workspace-id", "wrk_1"],
            "",
            "only Claude Platform keys have a workspace",
        ),
    ] {
        let out = sb
            .bedkey_with_env_credentials()
            .args(&args)
            .write_stdin(stdin)
            .output()
            .unwrap();
        refused(&sb, &out, says);
    }
}

#[test]
fn an_imported_platform_key_gives_anthropics_aws_variables_and_refuses_bedrock_sets() {
    let sb = Sandbox::new();
    let name = sb.name("imp");
    let key = platform_key("AeaApiKey-ab12-at-123456789012");
    ok(&sb.import(
        &name,
        &key,
        &["--region", "us-east-1", "--workspace-id", "wrk_01"],
    ));
    let meta = &sb.keys_json()["keys"][&name];
    assert_eq!(meta["service"], "claude-platform");
    assert_eq!(meta["workspace"], "wrk_01");
    let out = sb
        .bedkey()
        .args(["env", &name, "--shell", "json"])
        .output()
        .unwrap();
    let vars = json(&out);
    assert_eq!(vars["ANTHROPIC_AWS_API_KEY"], key.as_str());
    assert_eq!(vars["ANTHROPIC_AWS_WORKSPACE_ID"], "wrk_01");
    assert_eq!(vars["AWS_REGION"], "us-east-1");
    assert!(vars.get("AWS_BEARER_TOKEN_BEDROCK").is_none(), "{vars}");
    let out = sb
        .bedkey()
        .args(["env", &name, "--shell", "json", "--for", "claude-code"])
        .output()
        .unwrap();
    assert_eq!(json(&out)["CLAUDE_CODE_USE_ANTHROPIC_AWS"], "1");
    for set in ["aws", "openai", "litellm"] {
        let out = sb
            .bedkey()
            .args(["env", &name, "--for", set])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{set}: {}", stderr(&out));
        assert!(stderr(&out).contains("Claude Platform"), "{}", stderr(&out));
    }
    // list shows the service; the token helper prints the key.
    let out = sb
        .bedkey()
        .args(["list", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(json(&out)["keys"][0]["service"], "claude-platform");
    let out = sb.bedkey().args(["token", &name]).output().unwrap();
    ok(&out);
    assert_eq!(stdout(&out).trim(), key);
}

#[test]
fn a_platform_key_without_a_workspace_is_warned_about_until_one_is_set() {
    let sb = Sandbox::new();
    let name = sb.name("nows");
    let key = platform_key("AeaApiKey-nows-at-123456789012");
    let out = sb.import(&name, &key, &["--region", "us-east-1"]);
    ok(&out);
    assert!(
        stderr(&out).contains("has no workspace"),
        "{}",
        stderr(&out)
    );
    let out = sb.bedkey().args(["env", &name]).output().unwrap();
    ok(&out);
    assert!(
        stderr(&out).contains("has no workspace"),
        "{}",
        stderr(&out)
    );
    let out = sb.bedkey().arg("doctor").output().unwrap();
    assert!(
        stdout(&out).contains(&format!("key '{name}' has no workspace")),
        "{}",
        stdout(&out)
    );
    let out = sb
        .bedkey()
        .args(["set", &name, "--workspace-id", "wrk_9"])
        .output()
        .unwrap();
    ok(&out);
    assert!(stderr(&out).contains("workspace wrk_9"), "{}", stderr(&out));
    let out = sb.bedkey().args(["env", &name]).output().unwrap();
    ok(&out);
    assert!(!stderr(&out).contains("workspace"), "{}", stderr(&out));
    assert!(stdout(&out).contains("wrk_9"));
}

#[test]
fn metadata_from_before_services_reads_as_bedrock_and_is_written_back_unchanged() {
    let sb = Sandbox::new();
    let name = sb.name("old");
    let key = long_term_key("BedrockAPIKey-old-at-123456789012");
    ok(&sb.import(&name, &key, &["--region", "us-east-1"]));
    let meta = &sb.keys_json()["keys"][&name];
    assert!(meta.get("service").is_none(), "{meta}");
    assert!(meta.get("workspace").is_none(), "{meta}");
    let out = sb
        .bedkey()
        .args(["env", &name, "--shell", "json"])
        .output()
        .unwrap();
    assert_eq!(json(&out)["AWS_BEARER_TOKEN_BEDROCK"], key.as_str());
}

#[test]
fn create_service_claude_platform_makes_the_platform_credential_with_its_policy() {
    let Some((url, _turn)) = iam::server() else {
        return;
    };
    let sb = Sandbox::new();
    let name = sb.name("cp");
    let user = format!("bedkey-{name}");
    let dry = iam::bedkey(&sb, url)
        .args(["create", &name, "--service", "claude-platform", "--dry-run"])
        .output()
        .unwrap();
    ok(&dry);
    assert!(stdout(&dry).contains(&format!(
        "CreateServiceSpecificCredential {user} {PLATFORM}"
    )));
    assert!(stdout(&dry).contains("AnthropicInferenceAccess"));
    assert!(
        credentials_of(url, &user).is_empty(),
        "a dry run made something"
    );

    let out = iam::bedkey(&sb, url)
        .args([
            "create",
            &name,
            "--service",
            "claude-platform",
            "--workspace-id",
            "wrk_team",
            "--region",
            "us-east-1",
            "--days",
            "7",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    let j = json(&out);
    assert_eq!(j["service"], "claude-platform");
    let held = credentials_of(url, &user);
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["service"], PLATFORM);
    let attached = iam_query(
        url,
        &format!("Action=ListAttachedUserPolicies&UserName={user}"),
    );
    assert!(
        attached.contains("arn:aws:iam::aws:policy/AnthropicInferenceAccess"),
        "{attached}"
    );
    assert!(
        !attached.contains("AmazonBedrockLimitedAccess"),
        "{attached}"
    );
    let vars = json(
        &sb.bedkey()
            .args(["env", &name, "--shell", "json"])
            .output()
            .unwrap(),
    );
    assert!(
        vars["ANTHROPIC_AWS_API_KEY"]
            .as_str()
            .unwrap()
            .starts_with("AEAA")
    );
    assert_eq!(vars["ANTHROPIC_AWS_WORKSPACE_ID"], "wrk_team");

    // The two-per-user limit is per service: a Bedrock key for the same user fits.
    run_ok(&sb, url, &["create", &sb.name("br"), "--user", &user]);
    run_ok(
        &sb,
        url,
        &[
            "create",
            &sb.name("cp2"),
            "--user",
            &user,
            "--service",
            "claude-platform",
        ],
    );
    let out = iam::bedkey(&sb, url)
        .args([
            "create",
            &sb.name("cp3"),
            "--user",
            &user,
            "--service",
            "claude-platform",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("has 2 Claude Platform on AWS API keys already"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn rotate_revoke_and_audit_of_platform_keys_beside_bedrock_keys() {
    let Some((url, _turn)) = iam::server() else {
        return;
    };
    let sb = Sandbox::new();
    let cp = sb.name("rcp");
    let br = sb.name("rbr");
    run_ok(
        &sb,
        url,
        &[
            "create",
            &cp,
            "--service",
            "claude-platform",
            "--workspace-id",
            "w1",
        ],
    );
    run_ok(&sb, url, &["create", &br]);
    let before = sb.keys_json()["keys"][&cp]["credential_id"].clone();
    run_ok(&sb, url, &["rotate", &cp]);
    let meta = sb.keys_json()["keys"][&cp].clone();
    assert_ne!(meta["credential_id"], before);
    assert_eq!(meta["service"], "claude-platform");
    assert_eq!(meta["workspace"], "w1");
    let user = format!("bedkey-{cp}");
    let held = credentials_of(url, &user);
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["service"], PLATFORM);
    assert_eq!(held[0]["id"], meta["credential_id"]);

    let audit = json(
        &iam::bedkey(&sb, url)
            .args(["audit", "--output", "json"])
            .output()
            .unwrap(),
    );
    let rows = audit["credentials"].as_array().unwrap();
    let of = |user: &str| rows.iter().find(|r| r["user"] == user).cloned();
    assert_eq!(of(&user).unwrap()["service"], "claude-platform");
    assert_eq!(of(&format!("bedkey-{br}")).unwrap()["service"], "bedrock");
    let only = json(
        &iam::bedkey(&sb, url)
            .args(["audit", "--service", "claude-platform", "--output", "json"])
            .output()
            .unwrap(),
    );
    assert!(
        only["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["service"] == "claude-platform"),
        "{only}"
    );

    run_ok(&sb, url, &["revoke", &cp, "--yes"]);
    assert!(credentials_of(url, &user).is_empty());
    assert_eq!(credentials_of(url, &format!("bedkey-{br}")).len(), 1);
}

#[test]
fn audit_lists_every_api_key_service_and_flags_console_users_of_either() {
    let Some((url, _turn)) = iam::server() else {
        return;
    };
    let sb = Sandbox::new();
    let tag = sb.name("aud");
    for (service, user) in [
        (PLATFORM, format!("AeaApiKey-{tag}")),
        ("logs.amazonaws.com", format!("logs-{tag}")),
        ("cloudwatch.amazonaws.com", format!("cw-{tag}")),
        ("bedrock.amazonaws.com", format!("BedrockAPIKey-{tag}")),
    ] {
        iam::control(
            url,
            "POST",
            "/_control/seed",
            &serde_json::json!({"user": user, "service": service, "age_days": 30}).to_string(),
        );
    }
    let audit = json(
        &iam::bedkey(&sb, url)
            .args(["audit", "--output", "json"])
            .output()
            .unwrap(),
    );
    let rows: Vec<&serde_json::Value> = audit["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["user"].as_str().unwrap().contains(&tag))
        .collect();
    let service_of = |prefix: &str| {
        rows.iter()
            .find(|r| r["user"].as_str().unwrap().starts_with(prefix))
            .map(|r| {
                (
                    r["service"].as_str().unwrap().to_string(),
                    r["findings"].clone(),
                )
            })
            .unwrap()
    };
    let (s, f) = service_of("AeaApiKey-");
    assert_eq!(s, "claude-platform");
    assert!(f.to_string().contains("console-made"), "{f}");
    assert_eq!(service_of("logs-").0, "logs");
    assert_eq!(service_of("cw-").0, "cloudwatch");
    let (s, f) = service_of("BedrockAPIKey-");
    assert_eq!(s, "bedrock");
    assert!(f.to_string().contains("console-made"));
    // --strict fails on the platform's console-made key alone.
    let out = iam::bedkey(&sb, url)
        .args(["audit", "--service", "claude-platform", "--strict"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn an_imported_console_key_is_managed_here_by_its_alias() {
    let Some((url, _turn)) = iam::server() else {
        return;
    };
    let sb = Sandbox::new();
    let user = format!("AeaApiKey-{}", sb.name("imp"));
    iam::control(
        url,
        "POST",
        "/_control/seed",
        &serde_json::json!({"user": user, "service": PLATFORM, "age_days": 30}).to_string(),
    );
    let alias = credentials_of(url, &user)[0]["alias"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&sb.import("console", &platform_key(&alias), &["--days", "30"]));
    let audit = json(
        &iam::bedkey(&sb, url)
            .args(["audit", "--service", "claude-platform", "--output", "json"])
            .output()
            .unwrap(),
    );
    let row = audit["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["user"] == user.as_str())
        .cloned()
        .unwrap();
    assert_eq!(row["managed_here"], true, "{row}");
}

#[test]
fn verify_of_a_platform_key_names_the_certificate_problem() {
    let (sb, name, _, bedrock) = stored_platform("vfy");
    let out = bedrock
        .with_hosts(&sb)
        .args(["verify", &name, "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(json(&out)["verdict"], "accepted");
    let seen = bedrock.requests();
    assert_eq!(seen.last().unwrap().path, "/v1/models");
    assert_eq!(seen.last().unwrap().host, "platform");
    assert_eq!(seen.last().unwrap().workspace, "w");
    // Not trusting the stand-in's CA: the reason, and what to do.
    let out = bedrock
        .with_hosts(&sb)
        .env_remove("AWS_CA_BUNDLE")
        .args(["verify", &name])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("cannot reach Claude Platform on AWS"), "{err}");
    assert!(err.contains("certificate"), "{err}");
    assert!(err.contains("AWS_CA_BUNDLE"), "{err}");
}

#[test]
fn a_published_platform_key_carries_its_service_and_workspace_to_a_teammate() {
    let Some((url, _turn)) = iam::server() else {
        return;
    };
    let (admin, name, secret) = published_platform(url, "pub", "wrk_shared");
    let value = iam::secret_value(url, &secret);
    assert_eq!(value["service"], "claude-platform");
    assert_eq!(value["workspace_id"], "wrk_shared");
    assert!(
        value["bedrock_api_key"]
            .as_str()
            .unwrap()
            .starts_with("AEAA")
    );

    let mate = Sandbox::new();
    run_ok(
        &mate,
        url,
        &[
            "pull",
            "team",
            "--secret-id",
            &secret,
            "--secret-region",
            "us-east-1",
        ],
    );
    let meta = &mate.keys_json()["keys"]["team"];
    assert_eq!(meta["service"], "claude-platform");
    assert_eq!(meta["workspace"], "wrk_shared");
    let vars = json(
        &mate
            .bedkey()
            .args(["env", "team", "--shell", "json"])
            .output()
            .unwrap(),
    );
    assert_eq!(vars["ANTHROPIC_AWS_API_KEY"], value["bedrock_api_key"]);
    assert_eq!(vars["ANTHROPIC_AWS_WORKSPACE_ID"], "wrk_shared");

    // Rotated through its secret: the new platform key reaches the secret.
    run_ok(&admin, url, &["rotate", &name, "--grace", "0"]);
    let rotated = iam::secret_value(url, &secret);
    assert_ne!(rotated["bedrock_api_key"], value["bedrock_api_key"]);
    assert_eq!(rotated["service"], "claude-platform");
}

#[test]
fn anthropics_aws_client_reaches_the_platform_with_the_real_key_and_workspace() {
    let Some(python) = crate::support::clients_python() else {
        return;
    };
    let run = format!("{CLIENTS}/run.py");
    for proxied in [false, true] {
        let sb = Sandbox::new();
        let name = sb.name("aws");
        let key = platform_key("AeaApiKey-py-at-123456789012");
        ok(&sb.import(
            &name,
            &key,
            &["--region", "us-east-1", "--workspace-id", "wrk_py"],
        ));
        let bedrock = Bedrock::start(&sb, &[&key], false);
        let mut cmd = bedrock.with_hosts(&sb);
        cmd.args(["exec", &name]);
        if proxied {
            cmd.arg("--proxy");
        } else {
            // Direct, the client trusts the stand-in as it would trust AWS.
            cmd.env("SSL_CERT_FILE", &bedrock.ca);
        }
        // A real key of another service left in the parent never reaches the child.
        cmd.env("ANTHROPIC_AWS_API_KEY", "AEAAleftover").args([
            "--",
            python.to_str().unwrap(),
            &run,
            "anthropic-aws",
        ]);
        let out = cmd.output().unwrap();
        let j = json(&out);
        assert_eq!(j["chat"], "hello", "{j}");
        assert_eq!(
            j["stream"],
            serde_json::json!(["first", " second", " third"])
        );
        let seen = bedrock.requests();
        assert_eq!(seen.len(), 2, "{seen:?}");
        for r in &seen {
            assert_eq!(r.host, "platform", "{r:?}");
            assert_eq!(r.path, "/v1/messages", "{r:?}");
            assert!(r.accepted, "{r:?}");
            assert_eq!(r.authorization, format!("Bearer {key}"), "{r:?}");
            assert_eq!(r.workspace, "wrk_py", "{r:?}");
        }
    }
}

#[test]
fn the_proxy_for_a_platform_key_refuses_a_wrong_token_and_bedrock_sets() {
    if !crate::support::bedrock::boto3() {
        return;
    }
    let (sb, name, key, bedrock) = stored_platform("pxw");
    let out = bedrock
        .with_hosts(&sb)
        .args(["exec", &name, "--proxy", "--for", "openai", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // The child's variables point at the local endpoint; a wrong key goes nowhere.
    let probe = r#"
import os, ssl, urllib.request, urllib.error
assert "AWS_BEARER_TOKEN_BEDROCK" not in os.environ
url = os.environ["ANTHROPIC_AWS_BASE_URL"] + "/v1/models"
ctx = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
for key in (os.environ["ANTHROPIC_AWS_API_KEY"], "bedkey-local-wrong"):
    req = urllib.request.Request(url, headers={"x-api-key": key,
        "anthropic-workspace-id": os.environ["ANTHROPIC_AWS_WORKSPACE_ID"]})
    try:
        print(urllib.request.urlopen(req, context=ctx).status)
    except urllib.error.HTTPError as e:
        print(e.code)
"#;
    let out = bedrock
        .with_hosts(&sb)
        .args(["exec", &name, "--proxy", "--", "python3", "-c", probe])
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(
        stdout(&out).split_whitespace().collect::<Vec<_>>(),
        ["200", "401"]
    );
    let seen = bedrock.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].host, "platform");
    assert_eq!(
        seen[0].x_api_key, key,
        "the real key goes in the header the client used"
    );
    assert_eq!(seen[0].workspace, "w");
}

/// A Claude Platform key imported as `label` (region us-east-1, workspace `w`), and the
/// stand-in taking it: (the sandbox, the name, the key, the stand-in).
fn stored_platform(label: &str) -> (Sandbox, String, String, Bedrock) {
    let sb = Sandbox::new();
    let name = sb.name(label);
    let key = platform_key(&format!("AeaApiKey-{label}-at-123456789012"));
    let flags = ["--region", "us-east-1", "--workspace-id", "w"];
    ok(&sb.import(&name, &key, &flags));
    let bedrock = Bedrock::start(&sb, &[&key], false);
    (sb, name, key, bedrock)
}

/// A Claude Platform key `label` (workspace `workspace`, region us-east-1) made in an
/// admin's sandbox and published to `platform/NAME`: (the admin, the name, the secret).
fn published_platform(url: &str, label: &str, workspace: &str) -> (Sandbox, String, String) {
    let admin = Sandbox::new();
    let name = admin.name(label);
    let secret = format!("platform/{name}");
    let create = [
        "create",
        &name,
        "--service",
        "claude-platform",
        "--workspace-id",
        workspace,
        "--region",
        "us-east-1",
    ];
    run_ok(&admin, url, &create);
    run_ok(&admin, url, &["publish", &name, "--secret-id", &secret]);
    (admin, name, secret)
}

/// Write `value` (a JSON object) as the new current value of secret `id`.
fn rewrite_secret(url: &str, id: &str, value: &serde_json::Value) {
    let body = serde_json::json!({"SecretId": id, "SecretString": value.to_string()});
    let (status, text) = iam::secrets_call(url, "PutSecretValue", &body.to_string());
    assert_eq!(status, 200, "{text}");
}

#[test]
fn a_platform_secret_rewritten_to_name_the_users_bedrock_key_rotates_nothing() {
    let Some((url, _turn)) = iam::server() else {
        return;
    };
    // One user with a Claude Platform key and a Bedrock key: their aliases are alike.
    let sb = Sandbox::new();
    let (cp, br) = (sb.name("mixc"), sb.name("mixb"));
    let user = format!("bedkey-{cp}");
    let secret = format!("platform/{cp}");
    run_ok(
        &sb,
        url,
        &[
            "create",
            &cp,
            "--service",
            "claude-platform",
            "--workspace-id",
            "w",
            "--region",
            "us-east-1",
        ],
    );
    run_ok(&sb, url, &["create", &br, "--user", &user]);
    run_ok(&sb, url, &["publish", &cp, "--secret-id", &secret]);
    let bedrock = credentials_of(url, &user)
        .into_iter()
        .find(|c| c["service"] == "bedrock.amazonaws.com")
        .unwrap();
    let alias = bedrock["alias"].as_str().unwrap();
    // Whoever can write the secret points it at the Bedrock credential.
    let mut value = iam::secret_value(url, &secret);
    value["bedrock_api_key"] = long_term_key(alias).into();
    value["credential_id"] = bedrock["id"].clone();
    value["service"] = "bedrock".into();
    rewrite_secret(url, &secret, &value);
    let ci = Sandbox::new();
    let out = iam::bedkey(&ci, url)
        .args([
            "rotate",
            "--secret-id",
            &secret,
            "--secret-region",
            "us-east-1",
            "--grace",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not name this secret for a Bedrock key"),
        "{}",
        stderr(&out)
    );
    let held = credentials_of(url, &user);
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(held.iter().any(|c| c["id"] == bedrock["id"]), "{held:?}");
}

#[test]
fn a_teammates_workspace_follows_the_secret_and_a_bedrock_key_has_none() {
    let Some((url, _turn)) = iam::server() else {
        return;
    };
    let (_admin, name, secret) = published_platform(url, "wsf", "w1");
    let mate = Sandbox::new();
    run_ok(
        &mate,
        url,
        &[
            "pull",
            "team",
            "--secret-id",
            &secret,
            "--secret-region",
            "us-east-1",
        ],
    );
    assert_eq!(mate.keys_json()["keys"]["team"]["workspace"], "w1");
    // The secret no longer names a workspace: neither does the teammate's key.
    let mut value = iam::secret_value(url, &secret);
    value.as_object_mut().unwrap().remove("workspace_id");
    rewrite_secret(url, &secret, &value);
    run_ok(&mate, url, &["pull", "team"]);
    assert!(mate.keys_json()["keys"]["team"].get("workspace").is_none());
    // A workspace beside a Bedrock key is not taken along.
    let bedrock = format!("bedrock/{name}");
    let key = long_term_key("bedkey-x-at-123456789012");
    let body = serde_json::json!({"Name": bedrock, "SecretString": serde_json::json!({"bedrock_api_key": key, "workspace_id": "w2", "region": "us-east-1"}).to_string()});
    assert_eq!(
        iam::secrets_call(url, "CreateSecret", &body.to_string()).0,
        200
    );
    run_ok(
        &mate,
        url,
        &[
            "pull",
            "br",
            "--secret-id",
            &bedrock,
            "--secret-region",
            "us-east-1",
        ],
    );
    assert!(mate.keys_json()["keys"]["br"].get("workspace").is_none());
}

#[test]
fn verify_refuses_a_bedrock_endpoint_flag_and_a_bent_override_and_tells_a_server_failure_apart() {
    let (sb, name, _, bedrock) = stored_platform("vbad");
    let out = bedrock
        .with_hosts(&sb)
        .args(["verify", &name, "--endpoint", "bedrock"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    for bent in ["?q=1", "#frag"] {
        let out = bedrock
            .with_hosts(&sb)
            .env(
                "AWS_ENDPOINT_URL_AWS_EXTERNAL_ANTHROPIC",
                format!("{}/host-platform{bent}", bedrock.url),
            )
            .args(["verify", &name])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bent}: {}", stderr(&out));
    }
    assert!(bedrock.requests().is_empty(), "a bent endpoint was called");
    // The control plane has no /v1/models: a 404 is the endpoint's fault, exit 1.
    let out = bedrock
        .with_hosts(&sb)
        .env(
            "AWS_ENDPOINT_URL_AWS_EXTERNAL_ANTHROPIC",
            format!("{}/host-control", bedrock.url),
        )
        .args(["verify", &name])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("says nothing of the key"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_short_term_platform_entry_mints_platform_keys_and_refreshes_them() {
    let sb = Sandbox::new();
    let name = sb.name("cpst");
    let out = sb
        .bedkey_with_env_credentials()
        .args([
            "create",
            &name,
            "--short-term",
            "--service",
            "claude-platform",
            "--workspace-id",
            "w",
            "--expires",
            "1h",
            "--region",
            "eu-west-1",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(json(&out)["service"], "claude-platform");
    let vars = json(
        &sb.bedkey_with_env_credentials()
            .args(["env", &name, "--shell", "json"])
            .output()
            .unwrap(),
    );
    let key = vars["ANTHROPIC_AWS_API_KEY"].as_str().unwrap();
    assert!(key.starts_with("aws-external-anthropic-api-key-"), "{key}");
    assert!(
        key_url(key).contains("%2Feu-west-1%2Faws-external-anthropic%2Faws4_request"),
        "{}",
        key_url(key)
    );
    assert_eq!(vars["ANTHROPIC_AWS_WORKSPACE_ID"], "w");
    assert_eq!(vars["AWS_REGION"], "eu-west-1");
    // A margin over half its hour: refreshed now, still a platform key.
    let out = sb
        .bedkey_with_env_credentials()
        .env("BEDKEY_MIN_TTL", "59m")
        .args(["env", &name, "--shell", "json"])
        .output()
        .unwrap();
    let again = json(&out);
    assert!(
        again["ANTHROPIC_AWS_API_KEY"]
            .as_str()
            .unwrap()
            .starts_with("aws-external-anthropic-api-key-")
    );
}

#[test]
fn create_service_claude_platform_takes_a_policy_file_and_tags() {
    let Some((url, _turn)) = iam::server() else {
        return;
    };
    let sb = Sandbox::new();
    let name = sb.name("cppf");
    let user = format!("bedkey-{name}");
    let file = sb.path().join("platform-policy.json");
    std::fs::write(
        &file,
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": ["aws-external-anthropic:CallWithBearerToken", "aws-external-anthropic:CreateInference"],
            "Resource": "*"}]}"#,
    )
    .unwrap();
    run_ok(
        &sb,
        url,
        &[
            "create",
            &name,
            "--service",
            "claude-platform",
            "--policy-file",
            file.to_str().unwrap(),
            "--tag",
            "team=ml",
        ],
    );
    let attached = iam_query(
        url,
        &format!("Action=ListAttachedUserPolicies&UserName={user}"),
    );
    assert!(attached.contains(&format!("bedkey-{name}")), "{attached}");
    assert!(!attached.contains("AnthropicInferenceAccess"), "{attached}");
    assert!(iam::user_tags(url, &user).contains("ml"));
    assert_eq!(credentials_of(url, &user)[0]["service"], PLATFORM);
}
