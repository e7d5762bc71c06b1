//! `rotate` and `revoke` of long-term keys through IAM.

use crate::support::iam::*;
use crate::support::*;

#[test]
fn rotate_hands_over_the_new_key_and_keeps_the_old_one_when_storing_fails() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("rotlost");
    let user = format!("bedkey-{name}");
    run_ok(&sb, url, &["--store", "file", "create", &name]);
    let old = sb.loaded_key(&name);
    control(url, "POST", "/_control/reset", "{}");
    let out = break_store_during_iam_create(&sb, url, &["rotate", &name]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stdout(&out).trim().starts_with("ABSK"),
        "the new key reaches the user"
    );
    let err = stderr(&out);
    assert!(err.contains("the old one is untouched"), "{err}");
    let held = credentials_of(url, &user);
    assert_eq!(held.len(), 2);
    assert!(held.iter().all(|c| c["status"] == "Active"), "{held:?}");
    // With the store back, the stored key is still the old, working one.
    assert_eq!(sb.loaded_key(&name), old);

    // The hint works as printed, at the two-key limit: delete the new credential
    // (here through the same IAM API the AWS CLI would call), then rotate again.
    let hint = err.lines().find(|l| l.starts_with("hint:")).unwrap();
    let new_id = hint
        .split("--service-specific-credential-id ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap()
        .trim();
    assert!(hint.contains(&format!("`bedkey rotate {name}`")), "{hint}");
    iam_query(
        url,
        &format!(
            "Action=DeleteServiceSpecificCredential&UserName={user}&ServiceSpecificCredentialId={new_id}"
        ),
    );
    run_ok(&sb, url, &["rotate", &name]);
    assert_ne!(sb.loaded_key(&name), old);
    assert_eq!(credentials_of(url, &user).len(), 1);
}

#[test]
fn rotate_stores_a_new_credential_then_deletes_the_old_one() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("rot");
    let user = format!("bedkey-{name}");
    run_ok(&sb, url, &["create", &name, "--days", "20"]);
    let old_key = sb.loaded_key(&name);
    let old_id = credentials_of(url, &user)[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    control(url, "POST", "/_control/reset", "{}");

    let out = bedkey(&sb, url)
        .args(["rotate", &name, "--output", "json"])
        .output()
        .unwrap();
    ok(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["old_credential_id"], old_id.as_str());
    let held = credentials_of(url, &user);
    assert_eq!(held.len(), 1, "the old credential is deleted");
    assert_eq!(held[0]["id"], json["new_credential_id"]);
    let new_key = sb.loaded_key(&name);
    assert_ne!(old_key, new_key);
    // Order: create, then (after storing) deactivate, then delete.
    let calls = actions(url);
    let at = |a: &str| {
        calls
            .iter()
            .position(|c| c == a)
            .unwrap_or_else(|| panic!("{a} in {calls:?}"))
    };
    assert!(at("CreateServiceSpecificCredential") < at("UpdateServiceSpecificCredential"));
    assert!(at("UpdateServiceSpecificCredential") < at("DeleteServiceSpecificCredential"));
    let meta = &sb.keys_json()["keys"][&name];
    assert_eq!(meta["credential_id"], json["new_credential_id"]);
}

#[test]
fn rotate_keeps_the_old_key_when_iam_fails_and_refuses_imported_keys() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("keep");
    run_ok(&sb, url, &["create", &name]);
    let before = sb.loaded_key(&name);
    control(
        url,
        "POST",
        "/_control/fail",
        r#"{"action": "CreateServiceSpecificCredential", "code": "ServiceFailure", "status": 500, "times": 5}"#,
    );
    let out = bedkey(&sb, url).args(["rotate", &name]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let after = sb.loaded_key(&name);
    assert_eq!(before, after, "the stored key still works");
    assert_eq!(
        credentials_of(url, &format!("bedkey-{name}"))[0]["status"],
        "Active"
    );

    let imported = sb.name("imported");
    ok(&sb.import(
        &imported,
        &long_term_key("BedrockAPIKey-q-at-123456789012"),
        &[],
    ));
    let out = bedkey(&sb, url)
        .args(["rotate", &imported])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("was imported"), "{}", stderr(&out));
}

#[test]
fn revoke_deletes_the_credential_and_forgets_even_when_iam_already_lost_it() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("rev");
    let user = format!("bedkey-{name}");
    run_ok(&sb, url, &["create", &name]);
    let out = bedkey(&sb, url).args(["revoke", &name]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "off a terminal it needs --yes");
    assert_eq!(credentials_of(url, &user).len(), 1);
    run_ok(&sb, url, &["revoke", &name, "--yes"]);
    assert!(credentials_of(url, &user).is_empty());
    assert!(sb.forgot(&name));

    let gone = sb.name("gone");
    run_ok(&sb, url, &["create", &gone]);
    let id = credentials_of(url, &format!("bedkey-{gone}"))[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    control(url, "DELETE", &format!("/_control/credentials/{id}"), "");
    let out = bedkey(&sb, url)
        .args(["revoke", &gone, "--yes"])
        .output()
        .unwrap();
    ok(&out);
    assert!(stderr(&out).contains("already gone"), "{}", stderr(&out));
    assert!(sb.forgot(&gone));
}

#[test]
fn a_lost_reply_during_rotate_leaves_no_orphan_and_the_old_key_works() {
    let Some((url, _turn)) = server() else { return };
    let sb = Sandbox::new();
    let name = sb.name("rotlost");
    let user = format!("bedkey-{name}");
    run_ok(&sb, url, &["create", &name]);
    let old = sb.loaded_key(&name);
    control(
        url,
        "POST",
        "/_control/fail",
        r#"{"action": "CreateServiceSpecificCredential", "mode": "drop_after", "times": 1}"#,
    );
    let out = bedkey(&sb, url).args(["rotate", &name]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bedkey deleted it"),
        "{}",
        stderr(&out)
    );
    assert_eq!(credentials_of(url, &user).len(), 1, "an orphan is left");
    assert_eq!(sb.loaded_key(&name), old);
    // Nothing is in the way of the next rotation.
    run_ok(&sb, url, &["rotate", &name]);
    assert_ne!(sb.loaded_key(&name), old);
}
