//! The entry points of bedkey's parsers of untrusted input: what a fuzzer feeds
//! (`fuzz/`, `scripts/fuzz`) and what the test suite replays from the committed
//! corpus on every run. Each takes any bytes and must not panic; where a parser has
//! a property (what it accepts reads back the same), it is asserted here, so a
//! fuzzer finds its breaking too.

use crate::secret::{ExposeSecret, secret};

/// Bytes as text, the way each parser receives it (lossy: every input is a string).
fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// A key of either kind (`inspect`, `import`, a secret's value, keys in messages).
pub fn key(data: &[u8]) {
    let text = text(data);
    match crate::token::decode(&text) {
        Ok(crate::token::Decoded::ShortTerm(st)) => {
            assert!((1..=43_200).contains(&st.lifetime));
            assert!(crate::region::checked(&st.region).is_ok(), "{}", st.region);
            assert!(!st.access_key_id.is_empty());
        }
        Ok(crate::token::Decoded::LongTerm(lt)) => {
            let _ = lt.account();
            let _ = lt.is_of_user(&lt.alias);
        }
        Err(e) => assert_eq!(e.kind(), crate::error::Kind::Usage),
    }
    // Masking never shows more than a key's first and last characters.
    let masked = crate::token::mask(&text);
    assert!(masked.chars().count() <= 21, "{masked}");
    let _ = crate::token::redact_keys(&text);
}

/// A key brought in with `import`, with and without the flags that may contradict it.
pub fn import(data: &[u8]) {
    let key = secret(text(data));
    for (expires, region) in [
        (None, None),
        (Some(4_102_444_800), None),
        (None, Some("us-east-1".to_string())),
    ] {
        if let Ok(found) = crate::keys::classify(&key, expires, region)
            && let Some(r) = &found.region
        {
            assert!(crate::region::checked(r).is_ok(), "{r}");
        }
    }
}

/// A secret's value (`pull`, the re-reads of shared and published keys).
pub fn secret_value(data: &[u8]) {
    let value = secret(text(data));
    if let Ok((key, about)) = crate::secrets::parse(&value, "fuzz") {
        assert!(crate::token::decode(key.expose_secret()).is_ok());
        if let Some(r) = &about.region {
            assert!(crate::region::checked(r).is_ok(), "{r}");
        }
        // What bedkey writes back from it reads the same.
        let again = crate::secrets::value(Some(value.expose_secret()), &key, &about, false);
        let (key2, _) = crate::secrets::parse(&again, "fuzz").expect("bedkey's own value");
        assert_eq!(key2.expose_secret(), key.expose_secret());
    }
}

/// A policy file (`create --policy-file`).
pub fn policy(data: &[u8]) {
    if let Ok(compact) = crate::policy::check_document(&text(data), "fuzz") {
        // The document sent is one the check accepts as it is.
        assert_eq!(
            crate::policy::check_document(&compact, "fuzz").ok(),
            Some(compact)
        );
    }
}

/// The key list, keys.json (a person may edit it).
pub fn keys_json(data: &[u8]) {
    if let Ok(keys) = crate::config::parse_keys(&text(data)) {
        let written = serde_json::to_string(&keys).expect("bedkey's own format");
        assert_eq!(crate::config::parse_keys(&written).ok(), Some(keys));
    }
}

/// A request to the proxy: its target (before the first newline) is routed, and the
/// rest is its Authorization header, checked against a local token.
pub fn request(data: &[u8]) {
    let (target, auth) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b""[..]),
    };
    let upstreams = crate::proxy::Upstreams::Bedrock(crate::proxy::route::BedrockHosts {
        runtime: crate::proxy::route::Upstream::parse(
            "https://bedrock-runtime.us-east-1.amazonaws.com",
        )
        .expect("a fixed URL"),
        control: crate::proxy::route::Upstream::parse("https://bedrock.us-east-1.amazonaws.com")
            .expect("a fixed URL"),
        mantle: Ok(crate::proxy::route::Upstream::parse(
            "https://bedrock-mantle.us-east-1.api.aws",
        )
        .expect("a fixed URL")),
    });
    let target = text(target);
    if let Ok(uri) = target.parse::<http::Uri>() {
        let query = uri.path_and_query().map_or("/", |p| p.as_str());
        let route = upstreams.pick(query).expect("Mantle is offered here");
        if let Ok(sent) = route.upstream.uri(&route.target) {
            // Whatever the request says, it goes to one of the three hosts.
            let host = sent.authority().map(|a| a.as_str()).unwrap_or_default();
            assert!(
                [
                    "bedrock-runtime.us-east-1.amazonaws.com",
                    "bedrock.us-east-1.amazonaws.com",
                    "bedrock-mantle.us-east-1.api.aws"
                ]
                .contains(&host),
                "{host}"
            );
        }
    }
    let expected = http::HeaderValue::from_static("Bearer bedkey-local-0123456789abcdef");
    let mut headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_bytes(auth) {
        headers.insert(http::header::AUTHORIZATION, value);
    }
    let token = &expected.as_bytes()[7..];
    if let Ok(value) = http::HeaderValue::from_bytes(auth) {
        let mut as_api_key = http::HeaderMap::new();
        as_api_key.insert("x-api-key", value.clone());
        if crate::proxy::forward::presented(&as_api_key, &expected).is_some() {
            assert_eq!(auth, token, "x-api-key is the token exactly");
        }
        // Both headers, even both right, are never let through.
        as_api_key.insert(http::header::AUTHORIZATION, value);
        assert_eq!(
            crate::proxy::forward::presented(&as_api_key, &expected),
            None
        );
    }
    if crate::proxy::forward::presented(&headers, &expected).is_some() {
        let given = auth.to_ascii_lowercase();
        assert_eq!(given, expected.as_bytes().to_ascii_lowercase());
        assert_eq!(
            &auth[7..],
            &expected.as_bytes()[7..],
            "the token itself is exact"
        );
    }
}

/// Durations (`--expires`, `--grace`, `BEDKEY_MIN_TTL`), instants (`--expires-at`) and
/// region names (`--region`, a key's scope, a secret's field).
pub fn duration_and_region(data: &[u8]) {
    let text = text(data);
    if let Ok(d) = crate::time::parse_duration(&text) {
        let _ = d.as_secs();
    }
    if let Ok(at) = crate::time::parse_instant(&text) {
        let _ = crate::time::rfc3339(at);
    }
    let _ = crate::token::lifetime(&text);
    if let Ok(r) = crate::region::checked(&text) {
        assert!(!r.starts_with('-') && r.len() <= 32, "{r}");
    }
}

/// A fuzz target: any bytes in, a panic only for a bug.
pub type Target = fn(&[u8]);

/// Every target by name, as `fuzz/` and the corpus directories name them.
pub const TARGETS: &[(&str, Target)] = &[
    ("key", key),
    ("import", import),
    ("secret_value", secret_value),
    ("policy", policy),
    ("keys_json", keys_json),
    ("request", request),
    ("duration_and_region", duration_and_region),
];

#[cfg(test)]
mod tests {
    use std::path::Path;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn every_input_in_the_committed_corpus_replays_cleanly() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
        for (name, target) in TARGETS {
            let dir = root.join(name);
            let mut replayed = 0;
            for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
                let path = entry.unwrap().path();
                target(&std::fs::read(&path).unwrap());
                replayed += 1;
            }
            assert!(replayed > 0, "no corpus for {name}");
        }
        // And no corpus without its target.
        for entry in std::fs::read_dir(&root).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                TARGETS.iter().any(|(n, _)| *n == name),
                "corpus of no target: {name}"
            );
        }
    }

    proptest! {
        #[test]
        fn no_bytes_make_a_parser_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
            for (_, target) in TARGETS {
                target(&data);
            }
        }

        #[test]
        fn text_near_the_formats_makes_no_parser_panic(
            data in "(ABSK|bedrock-api-key-|\\{\"bedrock_api_key\": \"|/model/|[0-9]{1,5}[smhd]?)[ -~]{0,80}"
        ) {
            for (_, target) in TARGETS {
                target(data.as_bytes());
            }
        }

        #[test]
        fn a_minted_key_decodes_to_what_it_was_signed_with(
            region in "(us|eu|ap|ca|sa)-(east|west|central|south|north|southeast|northeast)-[1-9]",
            lifetime in 1u64..=43_200,
            signed_at in 1_500_000_000i64..4_000_000_000,
            token in prop::option::of("[A-Za-z0-9+/=]{16,400}"),
        ) {
            let creds = aws_credential_types::Credentials::new(
                "AKIAIOSFODNN7EXAMPLE",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                token.clone(),
                None,
                "proptest",
            );
            let key = crate::token::mint(
                crate::service::Service::Bedrock,
                &creds,
                &region,
                std::time::Duration::from_secs(lifetime),
                crate::token::system_time(signed_at),
            )
            .unwrap();
            // Decoding checks a key signed far ahead of the clock; these are not.
            if signed_at <= crate::time::now() {
                let crate::token::Decoded::ShortTerm(st) =
                    crate::token::decode(key.expose_secret()).unwrap()
                else {
                    panic!("not short-term")
                };
                prop_assert_eq!(st.region, region);
                prop_assert_eq!(st.lifetime, lifetime as i64);
                prop_assert_eq!(st.signed_at, signed_at);
                prop_assert_eq!(st.session_token, token.is_some());
            }
        }

        #[test]
        fn region_shaped_names_are_regions_and_flags_never_are(
            region in "[a-z]{2}(-[a-z]{1,10}){1,3}-[0-9]{1,2}",
            flag in "-{1,2}[a-z0-9-]{0,12}",
        ) {
            // Region names are at most 32 characters.
            prop_assume!(region.len() <= 32);
            prop_assert!(crate::region::checked(&region).is_ok());
            prop_assert!(crate::region::checked(&flag).is_err());
        }

        #[test]
        fn durations_read_back_in_seconds(n in 0u64..1_000_000, unit in "(|s|m|h|d)") {
            let scale = match unit.as_str() { "m" => 60, "h" => 3600, "d" => 86_400, _ => 1 };
            let d = crate::time::parse_duration(&format!("{n}{unit}")).unwrap();
            prop_assert_eq!(d.as_secs(), n * scale);
        }

        #[test]
        fn a_users_keys_are_its_own_whatever_its_name(
            user in "[A-Za-z0-9_+=,.@-]{1,64}",
            n in 1u32..100,
            account in "[0-9]{12}",
        ) {
            let first = crate::token::LongTerm { service: crate::service::Service::Bedrock, alias: format!("{user}-at-{account}") };
            let later = crate::token::LongTerm { service: crate::service::Service::Bedrock, alias: format!("{user}+{n}-at-{account}") };
            prop_assert!(first.is_of_user(&user));
            prop_assert!(later.is_of_user(&user));
            prop_assert_eq!(later.account(), Some(account.as_str()));
            prop_assert!(first.same_user(&later));
        }

        #[test]
        fn a_written_secret_value_reads_back(
            region in prop::option::of("(us|eu)-(east|west)-[1-2]"),
            name in prop::option::of("[A-Za-z0-9._-]{1,64}"),
            other in "[ -~]{0,40}",
        ) {
            let key = secret("ABSKQmVkcm9ja0FQSUtleS14LWF0LTEyMzQ1Njc4OTAxMjpzZWNyZXQ=");
            let about = crate::secrets::About { region, name, ..Default::default() };
            let existing = serde_json::json!({"note": other}).to_string();
            let value = crate::secrets::value(Some(&existing), &key, &about, false);
            let (read, read_about) = crate::secrets::parse(&value, "s").unwrap();
            prop_assert_eq!(read.expose_secret(), key.expose_secret());
            prop_assert_eq!(read_about.region, about.region);
            prop_assert_eq!(read_about.name, about.name);
        }
    }
}
