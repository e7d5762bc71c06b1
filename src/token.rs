//! API keys (Bedrock's and Claude Platform's): minting short-term keys and reading
//! either kind offline.
//!
//! A short-term key is a SigV4 query-presigned `POST https://HOST/
//! ?Action=CallWithBearerToken`, without `https://`, with `&Version=1`, base64'd and
//! prefixed, HOST and the prefix being the service's ([`crate::service`]). We
//! reproduce AWS's official generators byte for byte, including where the session
//! token sits in the query.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::error::{Error, Result};
use crate::secret::{Secret, secret};
use crate::service::{Kind, Service};

/// The longest a short-term key may live: 12 hours.
pub const MAX_LIFETIME: Duration = Duration::from_secs(43_200);

const ACTION: &str = "Action=CallWithBearerToken";

/// SigV4's unreserved set: everything else in a query value is percent-encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Sign a short-term key of `service` valid for `lifetime` from `signed_at`, in
/// `region`.
///
/// The caller has already capped `lifetime` at the credentials' own expiry and checked
/// it is within 1 s..=12 h.
pub fn mint(
    service: Service,
    credentials: &Credentials,
    region: &str,
    lifetime: Duration,
    signed_at: SystemTime,
) -> Result<Secret> {
    let Some(presign) = &service.describe().short_term else {
        return Err(Error::usage(format!(
            "{} has no short-term keys",
            service.title()
        )));
    };
    let host = presign.host;
    let identity: Identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(lifetime);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(presign.signing_name)
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|e| Error::failure(format!("cannot sign a key: {e}")))?
        .into();
    let url = format!("https://{host}/?{ACTION}");
    let request = SignableRequest::new(
        "POST",
        &url,
        std::iter::once(("host", host)),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| Error::failure(format!("cannot sign a key: {e}")))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| Error::failure(format!("cannot sign a key: {e}")))?
        .into_parts();
    let (_, query) = instructions.into_parts();
    let mut presigned = format!("{host}/?{ACTION}");
    for (name, value) in in_official_order(query) {
        presigned.push('&');
        presigned.push_str(name);
        presigned.push('=');
        presigned.extend(utf8_percent_encode(&value, QUERY_VALUE));
    }
    presigned.push_str("&Version=1");
    Ok(secret(format!(
        "{}{}",
        presign.prefix,
        STANDARD.encode(presigned)
    )))
}

/// aws-sigv4 appends the session token after the signature; the official generator
/// puts it just before. Order does not change validity, but matching it keeps keys
/// identical byte for byte.
fn in_official_order(
    mut query: Vec<(&'static str, Cow<'static, str>)>,
) -> Vec<(&'static str, Cow<'static, str>)> {
    if let Some(token_at) = query.iter().position(|(n, _)| *n == "X-Amz-Security-Token")
        && let Some(signature_at) = query.iter().position(|(n, _)| *n == "X-Amz-Signature")
        && token_at > signature_at
    {
        let token = query.remove(token_at);
        query.insert(signature_at, token);
    }
    query
}

/// A freshly minted key and what it is good for.
pub struct Minted {
    pub key: Secret,
    pub region: String,
    pub signed_at: i64,
    pub expires_at: i64,
    /// Set when the credentials expire before the lifetime asked for.
    pub capped_by_credentials: bool,
    /// Where the credentials and region came from (masked), for `-v`.
    pub source: String,
}

/// Parse and check a lifetime: 1 s to 12 h, whole seconds.
pub fn lifetime(text: &str) -> Result<Duration> {
    let d = crate::time::parse_duration(text)?;
    if d < Duration::from_secs(1) || d > MAX_LIFETIME {
        return Err(Error::usage(format!(
            "--expires {text} is out of range: a short-term key lives 1s to 12h"
        )));
    }
    if d.subsec_nanos() != 0 {
        return Err(Error::usage(format!("--expires {text}: use whole seconds")));
    }
    Ok(d)
}

/// What a key says about itself, read without any network call or secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    ShortTerm(ShortTerm),
    LongTerm(LongTerm),
}

impl Decoded {
    /// The service the key is for.
    pub fn service(&self) -> Service {
        match self {
            Decoded::ShortTerm(st) => st.service,
            Decoded::LongTerm(lt) => lt.service,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortTerm {
    pub service: Service,
    pub region: String,
    /// Seconds since the epoch.
    pub signed_at: i64,
    pub lifetime: i64,
    /// Masked: `AKIA…MPLE`.
    pub access_key_id: String,
    /// The signing access key id whole: an identifier, not a secret (CloudTrail and
    /// the console show it), which only `revoke --leaked` needs, to find what signed
    /// the key.
    pub signer: String,
    pub session_token: bool,
}

impl ShortTerm {
    pub fn expires_at(&self) -> i64 {
        self.signed_at + self.lifetime
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongTerm {
    pub service: Service,
    /// The credential alias AWS puts before the `:` (`BedrockAPIKey-…-at-ACCOUNT`).
    pub alias: String,
}

impl LongTerm {
    /// The account id in the alias, when it has one.
    pub fn account(&self) -> Option<&str> {
        alias_parts(&self.alias).map(|(_, account)| account)
    }

    /// Whether the key is a credential of IAM user `user`. AWS documents the alias only
    /// as the user name and a suffix: real keys read `USER-at-ACCOUNT`, and a user's
    /// later credentials `USER+N-at-ACCOUNT`. User names may hold `+` and `-at-`
    /// themselves, so the known name is matched, never stripped out of the alias.
    pub fn is_of_user(&self, user: &str) -> bool {
        alias_parts(&self.alias).is_some_and(|(name, _)| name_is(name, user))
    }

    /// The IAM user names the alias may stand for, likeliest first: the name part
    /// without a `+N` marker, then with it (a user name may hold `+DIGITS` itself).
    pub fn user_candidates(&self) -> Vec<String> {
        let Some((name, _)) = alias_parts(&self.alias) else {
            return Vec::new();
        };
        let mut names = Vec::new();
        if let Some((base, n)) = name.rsplit_once('+')
            && !base.is_empty()
            && !n.is_empty()
            && n.bytes().all(|c| c.is_ascii_digit())
        {
            names.push(base.to_string());
        }
        names.push(name.to_string());
        names
    }

    /// Whether two keys are credentials of one IAM user of one account, when no user
    /// name is known (an imported key): each alias's name part, with a `+N` marker or
    /// without, must be the other's.
    pub fn same_user(&self, other: &LongTerm) -> bool {
        match (alias_parts(&self.alias), alias_parts(&other.alias)) {
            (Some((a, at_a)), Some((b, at_b))) => at_a == at_b && (name_is(a, b) || name_is(b, a)),
            _ => false,
        }
    }
}

/// An alias split at the last `-at-` that twelve digits follow: the name part and
/// the account. Whatever follows the account (a per-credential suffix) is ignored.
fn alias_parts(alias: &str) -> Option<(&str, &str)> {
    alias.rmatch_indices("-at-").find_map(|(at, _)| {
        let rest = &alias.as_bytes()[at + 4..];
        let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        (digits == 12).then(|| (&alias[..at], &alias[at + 4..at + 16]))
    })
}

/// Whether an alias's name part names `user`: the name itself or `user+DIGITS`. IAM
/// user names are unique regardless of case.
fn name_is(name: &str, user: &str) -> bool {
    if name.eq_ignore_ascii_case(user) {
        return true;
    }
    name.len() > user.len()
        && name.is_char_boundary(user.len())
        && name[..user.len()].eq_ignore_ascii_case(user)
        && name[user.len()..]
            .strip_prefix('+')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
}

/// Read a key of either kind and of any service bedkey keeps; anything else is a
/// usage error that says what is wrong.
pub fn decode(key: &str) -> Result<Decoded> {
    let key = key.trim();
    // Named for the service its prefix says: "not a valid Bedrock API key: …".
    let titled = |service: Service| {
        move |e: Error| {
            let why = e.message().strip_prefix(MALFORMED).unwrap_or(e.message());
            Error::usage(format!("not a valid {} API key{why}", service.title()))
        }
    };
    match Service::of_key(key) {
        Some((service, Kind::ShortTerm, body)) => decode_short_term(service, body)
            .map(Decoded::ShortTerm)
            .map_err(titled(service)),
        Some((service, Kind::LongTerm, body)) => decode_long_term(service, body)
            .map(Decoded::LongTerm)
            .map_err(titled(service)),
        None => Err(malformed(
            "it starts with none of 'bedrock-api-key-' or 'ABSK' (Bedrock, short- and \
             long-term), 'aws-external-anthropic-api-key-' or 'AEAA' (Claude Platform)",
        )),
    }
}

const MALFORMED: &str = "not a valid API key";

fn malformed(why: impl std::fmt::Display) -> Error {
    Error::usage(format!("{MALFORMED}: {why}"))
}

/// A presigned URL's query, parameter by parameter, percent-decoded.
struct Query<'a>(Vec<(&'a str, String)>);

impl<'a> Query<'a> {
    fn parse(query: &'a str) -> Result<Query<'a>> {
        let mut params = Vec::new();
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| malformed(format!("parameter {name} is not valid text")))?;
            params.push((name, value.into_owned()));
        }
        Ok(Query(params))
    }

    fn get(&self, name: &str) -> Result<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| malformed(format!("it has no {name} (truncated?)")))
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| *n == name)
    }
}

fn decode_short_term(service: Service, body: &str) -> Result<ShortTerm> {
    let presign = service
        .describe()
        .short_term
        .as_ref()
        .ok_or_else(|| malformed("its service has no short-term keys"))?;
    let bytes = STANDARD.decode(body).map_err(|_| {
        malformed(format!(
            "the part after '{}' is not valid base64",
            presign.prefix
        ))
    })?;
    let url = String::from_utf8(bytes).map_err(|_| malformed("it does not decode to text"))?;
    let host = presign.host;
    let query = url
        .strip_prefix(&format!("{host}/?"))
        .ok_or_else(|| malformed(format!("it does not decode to a {host} request")))?;
    let q = Query::parse(query)?;
    if q.get("Action")? != "CallWithBearerToken" {
        return Err(malformed("its Action is not CallWithBearerToken"));
    }
    if q.get("X-Amz-Algorithm")? != "AWS4-HMAC-SHA256" {
        return Err(malformed("its X-Amz-Algorithm is not AWS4-HMAC-SHA256"));
    }
    let signature = q.get("X-Amz-Signature")?;
    if signature.len() != 64 || !signature.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(malformed(
            "its X-Amz-Signature is not 64 hex digits (truncated?)",
        ));
    }
    if q.get("Version")? != "1" {
        return Err(malformed("its Version is not 1"));
    }
    let (access_key_id, region) = credential_scope(&q, presign.signing_name)?;
    let signed_at = crate::time::parse_amz_date(q.get("X-Amz-Date")?)
        .ok_or_else(|| malformed("its X-Amz-Date is not a date"))?;
    let lifetime: i64 = q
        .get("X-Amz-Expires")?
        .parse()
        .ok()
        .filter(|s| (1..=MAX_LIFETIME.as_secs() as i64).contains(s))
        .ok_or_else(|| malformed("its X-Amz-Expires is not 1 to 43200 seconds"))?;
    // Signed more than a day ahead of this clock (skew aside), or so late that its
    // expiry cannot be written: not a key AWS made.
    if signed_at > crate::time::now() + 86_400
        || crate::time::parse_instant(&crate::time::rfc3339(signed_at + lifetime)).is_err()
    {
        return Err(malformed("its X-Amz-Date is out of range"));
    }
    Ok(ShortTerm {
        service,
        region,
        signed_at,
        lifetime,
        access_key_id: mask(access_key_id),
        signer: access_key_id.to_string(),
        session_token: q.has("X-Amz-Security-Token"),
    })
}

/// `AKID/20250715/us-west-2/bedrock/aws4_request`: the access key id and the region.
/// Every field is checked as strictly as the same value given as a flag: a key is
/// input, and its region reaches shells.
fn credential_scope<'q>(q: &'q Query, signing_name: &str) -> Result<(&'q str, String)> {
    let credential: Vec<&str> = q.get("X-Amz-Credential")?.split('/').collect();
    let [access_key_id, date, region, name, "aws4_request"] = credential[..] else {
        return Err(malformed(format!(
            "its X-Amz-Credential is not KEY/DATE/REGION/{signing_name}/aws4_request"
        )));
    };
    if name != signing_name {
        return Err(malformed(format!(
            "its X-Amz-Credential is signed for {name}, not {signing_name}"
        )));
    }
    if crate::region::checked(region).is_err() {
        return Err(malformed(
            "the region in its X-Amz-Credential is not a region name",
        ));
    }
    if !(16..=128).contains(&access_key_id.len())
        || !access_key_id
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return Err(malformed(
            "its X-Amz-Credential does not start with an access key id",
        ));
    }
    if date.len() != 8 || !q.get("X-Amz-Date")?.starts_with(date) {
        return Err(malformed(
            "the date in its X-Amz-Credential is not its X-Amz-Date's",
        ));
    }
    Ok((access_key_id, region.to_string()))
}

fn decode_long_term(service: Service, body: &str) -> Result<LongTerm> {
    let prefix = service.describe().long_term_prefix;
    let bytes = STANDARD
        .decode(body)
        .map_err(|_| malformed(format!("the part after '{prefix}' is not valid base64")))?;
    // The decoded form is `alias:secret`: only the alias is read, the rest is dropped.
    let Some(colon) = bytes.iter().position(|&b| b == b':') else {
        return Err(malformed("it does not decode to ALIAS:SECRET"));
    };
    // IAM makes aliases from user names (`[\w+=,.@-]`) and an account id.
    let alias = std::str::from_utf8(&bytes[..colon])
        .ok()
        .filter(|a| {
            (1..=200).contains(&a.len())
                && a.bytes().all(|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, b'_' | b'+' | b'=' | b',' | b'.' | b'@' | b'-')
                })
        })
        .ok_or_else(|| malformed("its alias is not readable"))?;
    if colon + 1 >= bytes.len() {
        return Err(malformed("it has no secret after the alias (truncated?)"));
    }
    Ok(LongTerm {
        service,
        alias: alias.to_string(),
    })
}

/// `ABSK…WXYZ`, `bedrock-api-key-…WXYZ`, `AKIA…WXYZ`, `AEAA…WXYZ`: enough to tell keys apart,
/// never enough to use one.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 12 {
        return "…".to_string();
    }
    let shown = match Service::of_key(value) {
        Some((service, Kind::ShortTerm, _)) => service
            .describe()
            .short_term
            .as_ref()
            .map_or(4, |p| p.prefix.len()),
        _ => 4,
    };
    let head: String = chars[..shown].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// Mask anything in `text` that looks like an API key of a service bedkey keeps. A last line of defence
/// for messages that quote user input (clap echoes unexpected arguments).
pub fn redact_keys(text: &str) -> String {
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let prefixes: Vec<&str> = Service::KEPT
        .iter()
        .flat_map(|s| {
            let d = s.describe();
            [
                Some(d.long_term_prefix),
                d.short_term.as_ref().map(|p| p.prefix),
            ]
        })
        .flatten()
        .collect();
    while let Some(at) = prefixes.iter().filter_map(|p| rest.find(p)).min() {
        let end = rest[at..]
            .find(|c| !is_key_char(c))
            .map_or(rest.len(), |e| at + e);
        out.push_str(&rest[..at]);
        let word = &rest[at..end];
        // A prefix alone, or with a few characters after it, is text about keys
        // (an error naming the prefixes), not a key.
        let prefix = prefixes
            .iter()
            .filter(|p| word.starts_with(**p))
            .map(|p| p.len())
            .max()
            .unwrap_or(0);
        if word.len() >= 20 && word.len() >= prefix + 8 {
            out.push_str(&mask(word));
        } else {
            out.push_str(word);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Seconds since the epoch as a `SystemTime`.
pub fn system_time(secs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::ExposeSecret;

    /// A vector file: `name=value` lines, `#` comments.
    struct Vector {
        fields: std::collections::HashMap<String, String>,
    }

    impl Vector {
        fn load(text: &str) -> Vector {
            let fields = text
                .lines()
                .filter(|l| !l.starts_with('#') && l.contains('='))
                .map(|l| {
                    let (k, v) = l.split_once('=').unwrap();
                    (k.to_string(), v.to_string())
                })
                .collect();
            Vector { fields }
        }

        fn get(&self, k: &str) -> &str {
            &self.fields[k]
        }

        fn mint(&self) -> String {
            let token = Some(self.get("session_token"))
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            let creds = Credentials::new(
                self.get("access_key_id"),
                self.get("secret_access_key"),
                token,
                None,
                "test",
            );
            let at = crate::time::parse_instant(self.get("signed_at")).unwrap();
            let lifetime = Duration::from_secs(self.get("expires_seconds").parse().unwrap());
            // The service is the one the expected key is for.
            let (service, _, _) = Service::of_key(self.get("key")).unwrap();
            mint(
                service,
                &creds,
                self.get("region"),
                lifetime,
                system_time(at),
            )
            .unwrap()
            .expose_secret()
            .to_string()
        }
    }

    #[test]
    fn reproduces_the_official_generator_vector_a() {
        let v = Vector::load(include_str!("../tests/vectors/short-term-a.txt"));
        assert_eq!(v.mint(), v.get("key"));
    }

    #[test]
    fn reproduces_the_official_generator_vector_b() {
        let v = Vector::load(include_str!("../tests/vectors/short-term-b.txt"));
        assert_eq!(v.mint(), v.get("key"));
    }

    #[test]
    fn reproduces_the_official_generator_with_a_session_token() {
        let v = Vector::load(include_str!("../tests/vectors/short-term-session.txt"));
        assert_eq!(v.mint(), v.get("key"));
    }

    #[test]
    fn reproduces_the_claude_platform_generator_at_every_vector() {
        for text in [
            include_str!("../tests/vectors/claude-platform-a.txt"),
            include_str!("../tests/vectors/claude-platform-session.txt"),
            include_str!("../tests/vectors/claude-platform-short.txt"),
            include_str!("../tests/vectors/claude-platform-gov.txt"),
        ] {
            let v = Vector::load(text);
            assert_eq!(v.mint(), v.get("key"), "{}", v.get("region"));
            let Decoded::ShortTerm(st) = decode(v.get("key")).unwrap() else {
                panic!("not short-term")
            };
            assert_eq!(st.service, Service::ClaudePlatform);
            assert_eq!(st.region, v.get("region"));
            assert_eq!(st.lifetime.to_string(), v.get("expires_seconds"));
        }
    }

    #[test]
    fn a_key_signed_for_another_service_than_its_prefix_says_is_refused() {
        // A Bedrock presigned URL under Claude Platform's prefix: its host is wrong.
        let v = Vector::load(include_str!("../tests/vectors/short-term-a.txt"));
        let body = v.get("key").strip_prefix("bedrock-api-key-").unwrap();
        let err = decode(&format!("aws-external-anthropic-api-key-{body}")).unwrap_err();
        assert!(
            err.message()
                .contains("aws-external-anthropic.amazonaws.com request")
        );
        // The right host, but a scope signed for bedrock.
        let url = String::from_utf8(STANDARD.decode(body).unwrap())
            .unwrap()
            .replace(
                "bedrock.amazonaws.com/",
                "aws-external-anthropic.amazonaws.com/",
            );
        let err = decode(&format!(
            "aws-external-anthropic-api-key-{}",
            STANDARD.encode(url)
        ))
        .unwrap_err();
        assert!(
            err.message().contains("signed for bedrock"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn claude_platform_long_term_keys_are_read_as_public_decoders_read_them() {
        let key = format!(
            "AEAA{}",
            STANDARD.encode("AeaApiKey-ab12-at-123456789012:c2VjcmV0c2VjcmV0")
        );
        let Decoded::LongTerm(lt) = decode(&key).unwrap() else {
            panic!("not long-term")
        };
        assert_eq!(lt.service, Service::ClaudePlatform);
        assert_eq!(lt.account(), Some("123456789012"));
        assert!(lt.is_of_user("AeaApiKey-ab12"));
        // A framing not seen in real keys is a clear error, not a wrong answer.
        let err = decode("AEAA\u{1}\u{2}garbage").unwrap_err();
        assert!(
            err.message().contains("not valid base64"),
            "{}",
            err.message()
        );
        let err = decode(&format!("AEAA{}", STANDARD.encode([0u8, 1, 2, 3, 4, 5]))).unwrap_err();
        assert!(err.message().contains("ALIAS:SECRET"), "{}", err.message());
        assert_eq!(mask(&key), format!("AEAA…{}", &key[key.len() - 4..]));
        // Text that names the prefixes is left alone.
        let about = "starts with none of 'aws-external-anthropic-api-key-' or 'AEAA'";
        assert_eq!(redact_keys(about), about);
        assert_eq!(
            redact_keys(&format!("got '{key}'")),
            format!("got '{}'", mask(&key))
        );
    }

    #[test]
    fn decodes_what_it_mints() {
        let v = Vector::load(include_str!("../tests/vectors/short-term-session.txt"));
        let Decoded::ShortTerm(st) = decode(&v.mint()).unwrap() else {
            panic!("not short-term")
        };
        assert_eq!(st.region, v.get("region"));
        assert_eq!(
            st.signed_at,
            crate::time::parse_instant(v.get("signed_at")).unwrap()
        );
        assert_eq!(st.lifetime.to_string(), v.get("expires_seconds"));
        assert!(st.session_token);
        assert_eq!(st.access_key_id, mask(v.get("access_key_id")));
    }

    #[test]
    fn decodes_the_vector_without_a_session_token() {
        let v = Vector::load(include_str!("../tests/vectors/short-term-a.txt"));
        let Decoded::ShortTerm(st) = decode(v.get("key")).unwrap() else {
            panic!("not short-term")
        };
        assert_eq!(st.region, "us-west-2");
        assert_eq!(st.expires_at() - st.signed_at, 43_200);
        assert!(!st.session_token);
        assert_eq!(st.access_key_id, "AKIA…MPLE");
    }

    #[test]
    fn long_term_keys_reveal_only_their_alias() {
        let key = format!(
            "ABSK{}",
            STANDARD.encode("BedrockAPIKey-abcd-at-123456789012:c2VjcmV0c2VjcmV0")
        );
        let Decoded::LongTerm(lt) = decode(&key).unwrap() else {
            panic!("not long-term")
        };
        assert_eq!(lt.alias, "BedrockAPIKey-abcd-at-123456789012");
        assert_eq!(lt.account(), Some("123456789012"));
        assert!(!format!("{lt:?}").contains("c2VjcmV0"));
    }

    fn long(alias: &str) -> LongTerm {
        LongTerm {
            service: Service::Bedrock,
            alias: alias.to_string(),
        }
    }

    #[test]
    fn a_users_later_credentials_carry_a_plus_marker_and_still_name_the_user() {
        let first = long("BedrockAPIKey-ab12-at-123456789012");
        let second = long("BedrockAPIKey-ab12+1-at-123456789012");
        for key in [&first, &second] {
            assert!(key.is_of_user("BedrockAPIKey-ab12"));
            assert!(
                key.is_of_user("bedrockapikey-AB12"),
                "IAM names ignore case"
            );
            assert_eq!(key.account(), Some("123456789012"));
        }
        assert!(first.same_user(&second) && second.same_user(&first));
        assert!(!second.is_of_user("BedrockAPIKey-ab"));
        assert!(!first.is_of_user("BedrockAPIKey-ab12+1"));
        // Another account, another user.
        assert!(!first.same_user(&long("BedrockAPIKey-ab12+1-at-210987654321")));
        assert!(!first.same_user(&long("BedrockAPIKey-ab123-at-123456789012")));
    }

    #[test]
    fn names_with_plus_and_at_are_matched_not_stripped() {
        // A user named `a+1` is not user `a`'s second key, unless the name is unknown.
        let key = long("a+1-at-123456789012");
        assert!(key.is_of_user("a+1"));
        assert!(key.is_of_user("a"));
        assert!(!long("a+1-at-123456789012").is_of_user("a+"));
        assert!(!long("a+x-at-123456789012").is_of_user("a"));
        // `-at-` inside a user name: the last one before twelve digits is the account's.
        let odd = long("svc-at-home+2-at-123456789012");
        assert!(odd.is_of_user("svc-at-home"));
        assert_eq!(odd.account(), Some("123456789012"));
        let digits = long("x-at-999999999999-at-123456789012");
        assert!(digits.is_of_user("x-at-999999999999"));
        assert_eq!(digits.account(), Some("123456789012"));
    }

    #[test]
    fn a_suffix_after_the_account_is_ignored() {
        let key = long("BedrockAPIKey-ab12-at-123456789012-v2x9");
        assert!(key.is_of_user("BedrockAPIKey-ab12"));
        assert_eq!(key.account(), Some("123456789012"));
        assert!(key.same_user(&long("BedrockAPIKey-ab12+1-at-123456789012+k")));
        // Thirteen digits are not an account.
        assert_eq!(long("u-at-1234567890123").account(), None);
        assert!(!long("u-at-1234567890123").is_of_user("u"));
        assert_eq!(long("no-account-here").account(), None);
    }

    fn reason(key: &str) -> String {
        let e = decode(key).unwrap_err();
        assert_eq!(e.kind(), crate::error::Kind::Usage);
        e.message().to_string()
    }

    fn short(url: &str) -> String {
        format!("bedrock-api-key-{}", STANDARD.encode(url))
    }

    #[test]
    fn malformed_keys_say_what_is_wrong() {
        let v = Vector::load(include_str!("../tests/vectors/short-term-a.txt"));
        let good = v.get("key");
        assert!(reason("sk-ant-123").contains("starts with none of"));
        assert!(reason("bedrock-api-key-***").contains("not valid base64"));
        assert!(reason(&good[..good.len() - 41]).contains("base64"));
        assert!(reason(&good[..good.len() - 40]).contains("truncated"));
        let url = String::from_utf8(STANDARD.decode(&good[16..]).unwrap()).unwrap();
        let cut = &url[..url.find("&X-Amz-Signature").unwrap()];
        assert!(reason(&short(cut)).contains("no X-Amz-Signature"));
        assert!(
            reason(&short(
                &url.replace("bedrock.amazonaws.com", "evil.example")
            ))
            .contains("request")
        );
        assert!(reason(&short(&url.replace("&Version=1", ""))).contains("no Version"));
        assert!(
            reason(&short(
                &url.replace("X-Amz-Expires=43200", "X-Amz-Expires=99999")
            ))
            .contains("X-Amz-Expires")
        );
        assert!(
            reason(&short(&url.replace("20250715T050000Z", "yesterday"))).contains("X-Amz-Date")
        );
        assert!(
            reason(&format!("ABSK{}", STANDARD.encode("no-colon-here"))).contains("ALIAS:SECRET")
        );
        assert!(reason("ABSK!!!").contains("base64"));
    }

    #[test]
    fn text_hidden_in_a_key_makes_it_malformed() {
        let v = Vector::load(include_str!("../tests/vectors/short-term-a.txt"));
        let url = String::from_utf8(STANDARD.decode(&v.get("key")[16..]).unwrap()).unwrap();
        // An OSC 52 clipboard write, a command substitution, a newline: as the region.
        for evil in [
            "%1B%5D52%3Bc%3BZXZpbA%3D%3D%07",
            "%24%28id%29",
            "us-west-2%0Aexport",
        ] {
            let bad = url.replace("us-west-2", evil);
            assert!(reason(&short(&bad)).contains("region"), "{evil}");
        }
        let bad = url.replace("AKIAIOSFODNN7EXAMPLE", "AKIA%1B%5B2J");
        assert!(reason(&short(&bad)).contains("access key id"));
        let alias = "BedrockAPIKey-\u{1b}]52;c;ZXZpbA==\u{7}-at-123456789012";
        let key = format!("ABSK{}", STANDARD.encode(format!("{alias}:c2VjcmV0")));
        assert!(reason(&key).contains("alias"));
    }

    #[test]
    fn a_key_signed_in_the_future_is_malformed() {
        let v = Vector::load(include_str!("../tests/vectors/short-term-a.txt"));
        let url = String::from_utf8(STANDARD.decode(&v.get("key")[16..]).unwrap()).unwrap();
        let ahead = url
            .replace("20250715T050000Z", "99991231T000000Z")
            .replace("%2F20250715%2F", "%2F99991231%2F");
        assert!(reason(&short(&ahead)).contains("out of range"));
    }

    #[test]
    fn a_key_signed_at_the_end_of_time_is_malformed_not_a_date_error() {
        let v = Vector::load(include_str!("../tests/vectors/short-term-a.txt"));
        let url = String::from_utf8(STANDARD.decode(&v.get("key")[16..]).unwrap()).unwrap();
        let late = url
            .replace("20250715T050000Z", "99991231T235959Z")
            .replace("%2F20250715%2F", "%2F99991231%2F");
        let why = reason(&short(&late));
        assert!(why.starts_with("not a valid Bedrock API key"), "{why}");
        assert!(why.contains("out of range"), "{why}");
    }

    #[test]
    fn lifetimes_within_bounds_are_accepted() {
        assert_eq!(lifetime("1").unwrap().as_secs(), 1);
        assert_eq!(lifetime("1s").unwrap().as_secs(), 1);
        assert_eq!(lifetime("900").unwrap().as_secs(), 900);
        assert_eq!(lifetime("15m").unwrap().as_secs(), 900);
        assert_eq!(lifetime("12h").unwrap().as_secs(), 43_200);
        assert_eq!(lifetime("43200s").unwrap().as_secs(), 43_200);
    }

    #[test]
    fn lifetimes_out_of_bounds_are_usage_errors() {
        for bad in ["0", "0s", "43201", "12h1s", "13h", "1d", "500ms", "1500ms"] {
            let e = lifetime(bad).unwrap_err();
            assert_eq!(e.kind(), crate::error::Kind::Usage, "{bad}");
        }
    }

    #[test]
    fn session_token_moves_before_the_signature() {
        let q = vec![
            ("X-Amz-Date", Cow::Borrowed("d")),
            ("X-Amz-Signature", Cow::Borrowed("s")),
            ("X-Amz-Security-Token", Cow::Borrowed("t")),
        ];
        let names: Vec<_> = in_official_order(q).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            ["X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Signature"]
        );
    }

    #[test]
    fn keys_inside_messages_are_masked() {
        let text = "unexpected argument 'ABSKQmVkcm9ja0FQSUtleS1hMi1hdC0xMjM0NTY3OD=' found";
        assert_eq!(redact_keys(text), "unexpected argument 'ABSK…3OD=' found");
        assert_eq!(redact_keys("no key named 'ABSK'"), "no key named 'ABSK'");
        assert_eq!(redact_keys("plain"), "plain");
    }

    #[test]
    fn mask_keeps_only_the_ends() {
        assert_eq!(mask("ABSKQmVkcm9ja0FQSUtleS1WXYZ"), "ABSK…WXYZ");
        assert_eq!(mask("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        assert_eq!(mask("short"), "…");
        assert_eq!(
            mask("bedrock-api-key-YmVkcm9jaMQ=="),
            "bedrock-api-key-…MQ=="
        );
    }
}
