//! Key metadata: everything about a key except its secret, in `keys.json` under the
//! config dir. Not secret, but private: the file is 0600, replaced atomically (temp
//! file + rename) and changed only under an exclusive lock, so concurrent bedkey
//! processes never corrupt it or lose each other's entries.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files;
use crate::secret::{ExposeSecret, Secret};
use crate::service::Service;
use crate::store::Backend;

const FILE: &str = "keys.json";
const LOCK: &str = "keys.lock";
const IAM_LOCK: &str = "iam.lock";
const DUE_LOCK: &str = "rotate-due.lock";
const VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyKind {
    LongTerm,
    ShortTerm,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::LongTerm => "long-term",
            KeyKind::ShortTerm => "short-term",
        }
    }
}

/// How the key came to bedkey, which decides what bedkey may do with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// Made by `bedkey create` through IAM: rotate and revoke work.
    Iam,
    /// Brought in by `bedkey import`: bedkey only stores and loads it.
    Imported,
    /// A short-term recipe: minted from AWS credentials, refreshed on use.
    Minted,
    /// Pulled from a secret in AWS Secrets Manager, read again on use.
    Shared,
}

/// A secret a key was published to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publication {
    /// The secret's ARN.
    pub secret: String,
    pub region: String,
    /// The profile it was written with (`--secret-profile`), if not the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Written as the bare key rather than bedkey's JSON.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub raw: bool,
    pub at: i64,
    /// The credential whose key the secret holds: behind the key's own after a
    /// rotation whose publishing failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    /// When the secret was last read, to see whether it was rotated from the secret
    /// (`rotate --secret-id`) since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<i64>,
}

impl Publication {
    /// Where to read it.
    pub fn source(&self) -> Source<'_> {
        Source {
            secret: &self.secret,
            region: &self.region,
            profile: self.profile.as_deref(),
        }
    }
}

/// A secret to read: its id, region and the profile to read it with.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    pub secret: &'a str,
    pub region: &'a str,
    pub profile: Option<&'a str>,
}

/// Where a shared key is read from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedFrom {
    /// The secret's ARN (or name, as given).
    pub secret: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// When the cached copy was last read.
    pub read_at: i64,
}

impl SharedFrom {
    /// Where to read it.
    pub fn source(&self) -> Source<'_> {
        Source {
            secret: &self.secret,
            region: &self.region,
            profile: self.profile.as_deref(),
        }
    }
}

/// An old credential kept active after a rotation, so that copies of the old key
/// keep working, until `due`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retirement {
    pub credential_id: String,
    pub due: i64,
}

/// One key's metadata. Times are seconds since the epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMeta {
    pub kind: KeyKind,
    /// The service the key is for: read from the key's prefix when it is stored.
    /// Metadata from before services were known has none, and is Bedrock's.
    #[serde(default, skip_serializing_if = "Service::is_bedrock")]
    pub service: Service,
    pub origin: Origin,
    pub store: Backend,
    /// `ABSK…WXYZ`: lets `list` tell keys apart without opening the store.
    pub masked: String,
    pub created: i64,
    /// None: never expires. For a short-term recipe, the cached key's expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Short-term recipe: the AWS profile to mint with (None: the default chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Short-term recipe: lifetime of each minted key, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<u64>,
    /// IAM: the user that owns the credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// IAM: `ServiceSpecificCredentialId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    /// IAM: `ServiceCredentialAlias`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// IAM, `--allow-model`: what the inline policy allows, so `rotate` can renew it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<crate::policy::Scope>,
    /// The secrets this key was published to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub published: Vec<Publication>,
    /// A shared key: the secret it comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<SharedFrom>,
    /// An old credential waiting to be retired after a rotation's grace period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retiring: Option<Retirement>,
    /// A Claude Platform key's workspace (`--workspace-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
}

/// Long-term keys closer than this to expiry are "expiring soon".
pub const WARN_BEFORE: i64 = 7 * 86_400;

/// Where a key stands, from its metadata alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// A short-term recipe whose cached key is still valid.
    Fresh,
    /// A short-term recipe whose cached key expired: the next use mints one.
    Stale,
    Ok,
    /// A long-term key expiring within [`WARN_BEFORE`].
    ExpiresSoon,
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Fresh => "fresh",
            Status::Stale => "stale (refreshes on use)",
            Status::Ok => "ok",
            Status::ExpiresSoon => "expires soon",
            Status::Expired => "expired",
        }
    }

    /// Whether a person should hear about it.
    pub fn needs_attention(self) -> bool {
        matches!(self, Status::Expired | Status::ExpiresSoon)
    }
}

impl KeyMeta {
    /// The key this entry now holds: its mask, and its service (a secret someone
    /// else writes may come to hold another service's key).
    pub fn now_holds(&mut self, secret: &Secret) {
        self.masked = crate::token::mask(secret.expose_secret());
        if let Some((service, ..)) = Service::of_key(secret.expose_secret()) {
            self.service = service;
        }
    }

    /// A long-term key IAM just made.
    pub fn iam(
        store: Backend,
        secret: &Secret,
        remote: &crate::iam::Remote,
        region: Option<String>,
        scope: Option<crate::policy::Scope>,
    ) -> KeyMeta {
        KeyMeta {
            user: Some(remote.user.clone()),
            credential_id: Some(remote.id.clone()),
            alias: remote.alias.clone(),
            scope,
            ..KeyMeta::blank(
                KeyKind::LongTerm,
                Origin::Iam,
                store,
                secret,
                remote.created,
                remote.expires,
                region,
            )
        }
    }

    /// A key made elsewhere and brought in.
    pub fn imported(
        kind: KeyKind,
        store: Backend,
        secret: &Secret,
        expires: Option<i64>,
        region: Option<String>,
    ) -> KeyMeta {
        // A long-term key's alias (not secret) lets `audit` tell its credential apart.
        let alias = match crate::token::decode(secret.expose_secret()) {
            Ok(crate::token::Decoded::LongTerm(lt)) => Some(lt.alias),
            _ => None,
        };
        KeyMeta {
            alias,
            ..KeyMeta::blank(
                kind,
                Origin::Imported,
                store,
                secret,
                crate::time::now(),
                expires,
                region,
            )
        }
    }

    /// A short-term recipe, with the key just minted for it.
    pub fn minted(
        store: Backend,
        minted: &crate::token::Minted,
        profile: Option<String>,
        lifetime: u64,
    ) -> KeyMeta {
        KeyMeta {
            profile,
            lifetime: Some(lifetime),
            ..KeyMeta::blank(
                KeyKind::ShortTerm,
                Origin::Minted,
                store,
                &minted.key,
                minted.signed_at,
                Some(minted.expires_at),
                Some(minted.region.clone()),
            )
        }
    }

    fn blank(
        kind: KeyKind,
        origin: Origin,
        store: Backend,
        secret: &Secret,
        created: i64,
        expires: Option<i64>,
        region: Option<String>,
    ) -> KeyMeta {
        KeyMeta {
            kind,
            service: Service::of_key(secret.expose_secret()).map_or(Service::Bedrock, |(s, ..)| s),
            origin,
            store,
            masked: crate::token::mask(secret.expose_secret()),
            created,
            expires,
            region,
            profile: None,
            lifetime: None,
            user: None,
            credential_id: None,
            alias: None,
            scope: None,
            published: Vec::new(),
            shared: None,
            retiring: None,
            workspace: None,
        }
    }

    /// A key pulled from a secret.
    pub fn shared(
        kind: KeyKind,
        store: Backend,
        secret: &Secret,
        expires: Option<i64>,
        region: Option<String>,
        from: SharedFrom,
    ) -> KeyMeta {
        KeyMeta {
            shared: Some(from),
            ..KeyMeta::blank(
                kind,
                Origin::Shared,
                store,
                secret,
                crate::time::now(),
                expires,
                region,
            )
        }
    }

    pub fn status(&self, now: i64) -> Status {
        let expired = self.expires.is_some_and(|at| at <= now);
        match (self.origin, self.kind) {
            (Origin::Minted, _) if expired => Status::Stale,
            (Origin::Minted, _) => Status::Fresh,
            _ if expired => Status::Expired,
            (_, KeyKind::LongTerm)
                if self
                    .expires
                    .is_some_and(|at| at.saturating_sub(now) < WARN_BEFORE) =>
            {
                Status::ExpiresSoon
            }
            _ => Status::Ok,
        }
    }

    /// The IAM user and credential id of a key bedkey made; anything else is refused,
    /// naming the `verb` that cannot be done to it.
    pub fn iam_identity(&self, name: &str, verb: &str) -> Result<(&str, &str)> {
        match (self.origin, self.user.as_deref(), self.credential_id.as_deref()) {
            (Origin::Iam, Some(user), Some(id)) => Ok((user, id)),
            (origin, _, _) => Err(Error::usage(format!(
                "key '{name}' was {}: bedkey did not make an IAM credential for it, so it cannot {verb} it",
                match origin {
                    Origin::Imported => "imported",
                    Origin::Minted => "minted from AWS credentials (short-term)",
                    Origin::Iam => "made through IAM but its record is incomplete",
                    Origin::Shared => "pulled from a secret (its owner rotates it)",
                }
            ))
            .with_hint(format!("`bedkey remove {name}` forgets it locally"))),
        }
    }
}

/// The name of the IAM policy bedkey makes for key `name` (the inline policy of
/// `--allow-model`).
pub fn policy_name(name: &str) -> String {
    format!("bedkey-{name}")
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keys {
    pub version: u32,
    pub keys: BTreeMap<String, KeyMeta>,
}

impl Keys {
    pub fn get(&self, name: &str) -> Result<&KeyMeta> {
        self.keys.get(name).ok_or_else(|| Error::no_such_key(name))
    }
}

/// A name for a new key: [`check_name`], and not starting with `-`, which would read
/// as a flag everywhere it is used.
pub fn check_new_name(name: &str) -> Result<()> {
    check_name(name)?;
    if name.starts_with('-') {
        return Err(Error::usage(format!(
            "'{name}' is not a key name: it must not start with '-'"
        )));
    }
    Ok(())
}

/// Key names: `[A-Za-z0-9._-]{1,64}`. They become keyring entries and file names.
/// (Older versions allowed a leading `-`: such keys can still be used and removed.)
pub fn check_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "'{}' is not a key name: use 1 to 64 letters, digits, '.', '_' or '-'",
            name.chars().take(70).collect::<String>()
        )))
    }
}

/// How long a writer waits for another bedkey process to release the lock.
const PERSON_WAIT: Duration = Duration::from_secs(60);

/// Told, once, what a writer is waiting for.
pub type OnWait = Box<dyn Fn(&str)>;

pub struct Config {
    dir: PathBuf,
    /// The longest `lock` waits for another process.
    wait: Duration,
    /// Called once when `lock` has waited a second, with what it waits for.
    on_wait: Option<OnWait>,
}

impl Config {
    /// `--config-dir`, else `BEDKEY_CONFIG_DIR` (both reach us through clap), else the
    /// platform's config dir (`~/.config/bedkey`, `~/Library/Application Support/bedkey`,
    /// `%APPDATA%\bedkey`).
    pub fn new(explicit: Option<&Path>) -> Result<Config> {
        let dir = match explicit {
            Some(d) => d.to_path_buf(),
            None => dirs::config_dir()
                .map(|d| d.join("bedkey"))
                .ok_or_else(|| {
                    Error::failure("cannot find the config dir")
                        .with_hint("set BEDKEY_CONFIG_DIR or pass --config-dir")
                })?,
        };
        Ok(Config {
            dir,
            wait: PERSON_WAIT,
            on_wait: None,
        })
    }

    /// Wait at most `wait` for the lock, calling `on_wait` once after a second.
    pub fn with_lock_wait(mut self, wait: Duration, on_wait: Option<OnWait>) -> Self {
        self.wait = wait;
        self.on_wait = on_wait;
        self
    }

    /// The same config dir, for a writer that waits at most `wait` and says nothing.
    pub fn waiting_at_most(&self, wait: Duration) -> Config {
        Config {
            dir: self.dir.clone(),
            wait,
            on_wait: None,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn file(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    /// Refuse a config dir or key list that another user could change (it decides
    /// which store and which AWS profile a key is loaded from); warn when only the
    /// group could. Returns the warnings.
    pub fn check_ownership(&self) -> Result<Vec<String>> {
        let mut warnings = Vec::new();
        for path in [self.dir.clone(), self.file()] {
            if let Some(w) = files::check(&path)? {
                warnings.push(w);
            }
        }
        Ok(warnings)
    }

    /// What the key list and the file store look like on disk (size, time, inode),
    /// to tell cheaply whether anything changed since: a rotation elsewhere replaces
    /// keys.json, and reading a file-store key costs a scrypt.
    pub fn fingerprint(&self) -> Fingerprint {
        let stamp = |name: &str| {
            std::fs::symlink_metadata(self.dir.join(name))
                .ok()
                .map(|m| {
                    #[cfg(unix)]
                    let inode = std::os::unix::fs::MetadataExt::ino(&m);
                    #[cfg(not(unix))]
                    let inode = 0;
                    (m.len(), m.modified().ok(), inode)
                })
        };
        Fingerprint([stamp(FILE), stamp(crate::store::FILE_STORE_NAME)])
    }

    /// Read the current keys. No lock: writers replace the file atomically, so a
    /// reader sees the old or the new file, never half of one.
    pub fn load(&self) -> Result<Keys> {
        let path = self.file();
        let text = match files::read_no_follow(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Keys {
                    version: VERSION,
                    keys: BTreeMap::new(),
                });
            }
            Err(e) => {
                return Err(Error::failure(format!(
                    "reading {}: {}",
                    path.display(),
                    files::describe(&e)
                )));
            }
        };
        parse_keys(&text).map_err(|e| e.context(path.display()))
    }

    /// Hold the config lock for a whole read-change-write. Dropping it unlocks.
    pub fn lock(&self) -> Result<Locked<'_>> {
        self.ensure_dir()?;
        let path = self.dir.join(LOCK);
        let file = files::lock_file(&path, self.wait, self.on_wait.as_deref())?;
        Ok(Locked {
            config: self,
            _file: file,
        })
    }

    /// Held by whatever changes IAM for this config's keys (create, rotate, revoke)
    /// for the whole change, so that two runs never race to make or retire the same
    /// credentials. Separate from the key list's lock: `env` never waits for IAM.
    pub fn iam_lock(&self) -> Result<File> {
        self.ensure_dir()?;
        files::lock_file(&self.dir.join(IAM_LOCK), self.wait, self.on_wait.as_deref())
    }

    /// Held by a `rotate --due` run for the whole run, waiting up to `wait` for
    /// another: the second run then finds the keys rotated and does nothing twice.
    pub fn due_lock(&self, wait: Duration) -> Result<File> {
        self.ensure_dir()?;
        files::lock_file(&self.dir.join(DUE_LOCK), wait, self.on_wait.as_deref())
    }

    /// Change the keys under the lock and save them: every writer goes through here.
    /// `change` may refuse by erring, and then nothing is written.
    pub fn update<T>(&self, change: impl FnOnce(&mut Keys) -> Result<T>) -> Result<T> {
        self.update_or_undo(change, |_| {})
    }

    /// [`Config::update`] for a change that also did something outside the file (a
    /// secret stored): when the file cannot be saved, `undo` takes that back, so the
    /// store and the metadata never disagree.
    pub fn update_or_undo<T>(
        &self,
        change: impl FnOnce(&mut Keys) -> Result<T>,
        undo: impl FnOnce(&T),
    ) -> Result<T> {
        let locked = self.lock()?;
        let before = locked.load()?;
        let mut keys = before.clone();
        let out = change(&mut keys)?;
        if keys == before {
            return Ok(out);
        }
        if let Err(e) = locked.save(&keys) {
            undo(&out);
            return Err(e);
        }
        Ok(out)
    }

    pub fn ensure_dir(&self) -> Result<()> {
        if self.dir.is_dir() {
            return Ok(());
        }
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&self.dir)
            .map_err(|e| Error::failure(format!("creating {}: {e}", self.dir.display())))
    }
}

/// See [`Config::fingerprint`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint([Option<(u64, Option<std::time::SystemTime>, u64)>; 2]);

/// A key list as keys.json holds it: bedkey's format, of a version it knows. The
/// file is input (a person may edit it): anything else is an error that says so.
pub fn parse_keys(text: &str) -> Result<Keys> {
    let keys: Keys = serde_json::from_str(text).map_err(|e| {
        Error::failure(format!("not valid: {e}"))
            .with_hint("fix or move the file; it holds no secrets")
    })?;
    if keys.version > VERSION {
        return Err(Error::failure(format!(
            "written by a newer bedkey (format {})",
            keys.version
        )));
    }
    Ok(keys)
}

/// The config while its lock is held.
pub struct Locked<'a> {
    config: &'a Config,
    _file: File,
}

impl Locked<'_> {
    pub fn load(&self) -> Result<Keys> {
        self.config.load()
    }

    pub fn save(&self, keys: &Keys) -> Result<()> {
        let path = self.config.file();
        let text = serde_json::to_string_pretty(keys)
            .map_err(|e| Error::failure(format!("encoding {}: {e}", path.display())))?;
        files::write_atomically(&path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> KeyMeta {
        KeyMeta {
            kind: KeyKind::LongTerm,
            service: Service::Bedrock,
            workspace: None,
            origin: Origin::Imported,
            store: Backend::File,
            masked: "ABSK…WXYZ".into(),
            created: 1,
            expires: None,
            region: Some("us-east-1".into()),
            profile: None,
            lifetime: None,
            user: None,
            credential_id: None,
            alias: None,
            scope: None,
            published: Vec::new(),
            shared: None,
            retiring: None,
        }
    }

    #[test]
    fn names_follow_the_contract() {
        for good in ["default", "a", "prod.eu-west_1", &"x".repeat(64)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "a/b", "ключ", &"x".repeat(65), "ABSK+x="] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn new_names_may_not_look_like_flags() {
        assert!(check_new_name("-x").is_err());
        assert!(check_new_name("--help").is_err());
        assert!(check_name("-x").is_ok(), "an old key stays usable");
        assert!(check_new_name("x-").is_ok());
    }

    #[test]
    fn a_missing_file_is_an_empty_list() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::new(Some(&dir.path().join("sub"))).unwrap();
        assert!(config.load().unwrap().keys.is_empty());
    }

    #[test]
    fn updates_round_trip_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::new(Some(dir.path())).unwrap();
        config
            .update(|k| {
                k.keys.insert("one".into(), meta());
                Ok(())
            })
            .unwrap();
        assert_eq!(config.load().unwrap().get("one").unwrap(), &meta());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(config.file())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_refused_update_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::new(Some(dir.path())).unwrap();
        let r: Result<()> = config.update(|k| {
            k.keys.insert("one".into(), meta());
            Err(Error::usage("no"))
        });
        assert!(r.is_err());
        assert!(config.load().unwrap().keys.is_empty());
    }

    #[test]
    fn concurrent_updates_lose_no_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let config = Config::new(Some(&path)).unwrap();
                    for j in 0..10 {
                        config
                            .update(|k| {
                                k.keys.insert(format!("k{i}-{j}"), meta());
                                Ok(())
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let config = Config::new(Some(&path)).unwrap();
        assert_eq!(config.load().unwrap().keys.len(), 80);
    }

    #[test]
    fn the_fingerprint_changes_when_the_key_list_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::new(Some(dir.path())).unwrap();
        let empty = config.fingerprint();
        assert_eq!(empty, config.fingerprint());
        config
            .update(|k| {
                k.keys.insert("one".into(), meta());
                Ok(())
            })
            .unwrap();
        let one = config.fingerprint();
        assert_ne!(one, empty);
        assert_eq!(one, config.fingerprint(), "reading changes nothing");
        config
            .update(|k| {
                k.keys.get_mut("one").unwrap().created = 2;
                Ok(())
            })
            .unwrap();
        assert_ne!(
            config.fingerprint(),
            one,
            "a rewrite of the same size is a change"
        );
    }

    #[test]
    fn unknown_names_are_no_such_key() {
        let keys = Keys::default();
        assert_eq!(
            keys.get("x").unwrap_err().kind(),
            crate::error::Kind::NoSuchKey
        );
    }
}
