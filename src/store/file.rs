//! An age-encrypted file (`secrets.age` in the config dir) holding a JSON map of
//! name → secret, sealed with a passphrase through age's scrypt recipient. For
//! headless machines that must keep keys across reboots. Never plaintext on disk.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use age::secrecy::SecretString as AgeSecret;

use super::{Backend, Passphrase, SecretStore};
use crate::error::{Error, Result};
use crate::secret::{ExposeSecret, Secret, secret};

pub const PASSPHRASE_VAR: &str = crate::settings::PASSPHRASE;
/// The file's name in the config dir.
pub const FILE: &str = "secrets.age";
const LOCK: &str = "secrets.lock";
/// scrypt cost 2^16 (about 0.2 s here): `env` reads this file on a shell start, so the
/// cost is fixed rather than age's default of about a second.
const WORK_FACTOR: u8 = 16;
/// Costs a file may have: what bedkey writes, up to age's own default (2^18, about a
/// second). A higher one is a tampered file: 2^22 would take half a minute and 4 GB
/// before even failing, so it is refused before any scrypt work.
const WORK_FACTORS: std::ops::RangeInclusive<u8> = WORK_FACTOR..=18;

pub struct FileStore {
    path: PathBuf,
    lock: PathBuf,
    source: Arc<dyn Passphrase>,
    /// Asked once a process, so that no prompt waits while a lock is held.
    passphrase: OnceLock<Secret>,
}

impl FileStore {
    pub fn new(config_dir: &Path, source: Arc<dyn Passphrase>) -> FileStore {
        FileStore {
            path: config_dir.join(FILE),
            lock: config_dir.join(LOCK),
            source,
            passphrase: OnceLock::new(),
        }
    }

    /// Usable when a passphrase can be had.
    pub fn check(&self) -> Result<()> {
        if self.source.available() {
            Ok(())
        } else {
            Err(Error::store(format!(
                "the file store needs a passphrase: {PASSPHRASE_VAR} is not set and there is no terminal to ask"
            )))
        }
    }

    fn passphrase(&self, creating: bool) -> Result<Secret> {
        if let Some(known) = self.passphrase.get() {
            return Ok(known.clone());
        }
        let given = self.source.passphrase(&self.path, creating)?;
        if given.expose_secret().is_empty() {
            return Err(Error::store("an empty passphrase protects nothing"));
        }
        Ok(self.passphrase.get_or_init(|| given).clone())
    }

    fn read(&self, passphrase: &Secret) -> Result<BTreeMap<String, String>> {
        let sealed = match crate::files::read_bytes_no_follow(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => {
                return Err(Error::store(format!(
                    "reading {}: {}",
                    self.path.display(),
                    crate::files::describe(&e)
                )));
            }
        };
        let bad = |what: &str| Error::store(format!("{} {what}", self.path.display()));
        let decryptor =
            age::Decryptor::new_buffered(&sealed[..]).map_err(|_| bad("is not an age file"))?;
        check_work_factor(&sealed).map_err(|why| bad(&why))?;
        let mut identity =
            age::scrypt::Identity::new(AgeSecret::from(passphrase.expose_secret().to_string()));
        identity.set_max_work_factor(*WORK_FACTORS.end());
        let mut reader = decryptor
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                    Error::store(format!(
                        "wrong passphrase for {} ({PASSPHRASE_VAR})",
                        self.path.display()
                    ))
                }
                age::DecryptError::ExcessiveWork { .. } => {
                    bad("is damaged: its scrypt cost is more than bedkey writes")
                }
                _ => bad("cannot be decrypted"),
            })?;
        let mut plain = Vec::new();
        reader
            .read_to_end(&mut plain)
            .map_err(|_| bad("is damaged"))?;
        let plain = secret(String::from_utf8(plain).map_err(|_| bad("is damaged"))?);
        serde_json::from_str(plain.expose_secret()).map_err(|_| bad("is damaged"))
    }

    fn write(&self, passphrase: &Secret, secrets: &BTreeMap<String, String>) -> Result<()> {
        let plain = secret(
            serde_json::to_string(secrets)
                .map_err(|e| Error::store(format!("encoding secrets: {e}")))?,
        );
        let mut recipient =
            age::scrypt::Recipient::new(AgeSecret::from(passphrase.expose_secret().to_string()));
        recipient.set_work_factor(WORK_FACTOR);
        let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as _))
            .map_err(|e| Error::store(format!("cannot encrypt: {e}")))?;
        let mut sealed = Vec::new();
        let mut writer = encryptor
            .wrap_output(&mut sealed)
            .map_err(|e| Error::store(format!("cannot encrypt: {e}")))?;
        writer
            .write_all(plain.expose_secret().as_bytes())
            .and_then(|_| writer.finish().map(|_| ()))
            .map_err(|e| Error::store(format!("cannot encrypt: {e}")))?;
        crate::files::write_atomically(&self.path, &sealed).map_err(|e| match e.hint() {
            Some(hint) => Error::store(e.message()).with_hint(hint),
            None => Error::store(e.message()),
        })
    }

    /// Read-change-write under the file's own lock.
    fn change(&self, f: impl FnOnce(&mut BTreeMap<String, String>) -> bool) -> Result<bool> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::store(format!("creating {}: {e}", dir.display())))?;
        }
        // A person waits up to a minute for another bedkey writing this file.
        let _lock = crate::files::lock_file(&self.lock, std::time::Duration::from_secs(60), None)?;
        let creating = !self.path.exists();
        let passphrase = self.passphrase(creating)?;
        let mut secrets = self.read(&passphrase)?;
        let changed = f(&mut secrets);
        if changed {
            self.write(&passphrase, &secrets)?;
        }
        Ok(changed)
    }
}

/// The scrypt cost in the file's header (`-> scrypt SALT N`), checked against
/// [`WORK_FACTORS`] before age spends any time on it.
fn check_work_factor(sealed: &[u8]) -> std::result::Result<(), String> {
    let header_end = sealed
        .windows(4)
        .position(|w| w == b"\n---")
        .unwrap_or(sealed.len().min(4096));
    // bedkey writes a header of one scrypt stanza, about 150 bytes. Anything larger
    // is refused here, before age's parser spends time on it.
    if header_end > 1024 {
        return Err("is damaged: its header is not one bedkey writes".to_string());
    }
    let header = String::from_utf8_lossy(&sealed[..header_end]);
    let stanzas: Vec<&str> = header.lines().filter(|l| l.starts_with("-> ")).collect();
    let [stanza] = stanzas[..] else {
        return Err("is damaged: its header is not one bedkey writes".to_string());
    };
    if !stanza.starts_with("-> scrypt ") {
        return Err("is damaged: it is not sealed with a passphrase".to_string());
    }
    let cost = stanza
        .split(' ')
        .nth(3)
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|n| WORK_FACTORS.contains(n));
    match cost {
        Some(_) => Ok(()),
        None => Err(format!(
            "is damaged: its scrypt cost is not one bedkey writes (2^{} to 2^{})",
            WORK_FACTORS.start(),
            WORK_FACTORS.end()
        )),
    }
}

impl SecretStore for FileStore {
    fn backend(&self) -> Backend {
        Backend::File
    }

    fn get(&self, name: &str) -> Result<Option<Secret>> {
        if !self.path.exists() {
            return Ok(None);
        }
        let passphrase = self.passphrase(false)?;
        Ok(self.read(&passphrase)?.remove(name).map(secret))
    }

    fn set(&self, name: &str, value: &Secret) -> Result<()> {
        let value = value.expose_secret().to_string();
        self.change(|m| {
            m.insert(name.to_string(), value);
            true
        })
        .map(|_| ())
    }

    fn delete(&self, name: &str) -> Result<bool> {
        if !self.path.exists() {
            return Ok(false);
        }
        self.change(|m| m.remove(name).is_some())
    }

    /// Get the passphrase now (asking twice for a new file) and prove it opens the
    /// file, so a later write cannot fail on it.
    fn ready(&self) -> Result<()> {
        let passphrase = self.passphrase(!self.path.exists())?;
        if self.path.exists() {
            self.read(&passphrase)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_store(dir: &Path) -> FileStore {
        FileStore::new(
            dir,
            Arc::new(super::super::FixedPassphrase(secret(
                "correct horse battery staple",
            ))),
        )
    }

    #[test]
    fn round_trip_and_nothing_in_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let store = file_store(dir.path());
        assert!(store.get("a").unwrap().is_none());
        store.set("a", &secret("ABSKfirst")).unwrap();
        store.set("b", &secret("ABSKsecond")).unwrap();
        assert_eq!(
            store.get("a").unwrap().unwrap().expose_secret(),
            "ABSKfirst"
        );
        let raw = std::fs::read(dir.path().join(FILE)).unwrap();
        assert!(raw.starts_with(b"age-encryption.org/v1"));
        assert!(!String::from_utf8_lossy(&raw).contains("ABSK"));
        assert!(store.delete("a").unwrap());
        assert!(!store.delete("a").unwrap());
        assert!(store.get("a").unwrap().is_none());
        assert_eq!(
            store.get("b").unwrap().unwrap().expose_secret(),
            "ABSKsecond"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_tampered_scrypt_cost_is_refused_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let store = file_store(dir.path());
        store.set("a", &secret("ABSKfirst")).unwrap();
        let path = dir.path().join(FILE);
        let sealed = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        assert!(sealed.contains(" 16\n"), "bedkey writes cost 16");
        for cost in ["22", "255", "x", "9"] {
            let line = sealed
                .lines()
                .find(|l| l.starts_with("-> scrypt "))
                .unwrap();
            let tampered_line = format!("{} {cost}", line.rsplit_once(' ').unwrap().0);
            let tampered = sealed.replacen(line, &tampered_line, 1);
            std::fs::write(&path, tampered).unwrap();
            let e = file_store(dir.path()).get("a").unwrap_err();
            assert_eq!(e.kind(), crate::error::Kind::Store, "{cost}");
            assert!(e.message().contains("damaged"), "{cost}: {}", e.message());
        }
    }

    #[test]
    fn a_header_bedkey_never_writes_is_refused_before_age_parses_it() {
        let many = format!("age-encryption.org/v1\n{}--- x\n", "-> x\n".repeat(8000));
        assert!(
            check_work_factor(many.as_bytes())
                .unwrap_err()
                .contains("header")
        );
        let two =
            "age-encryption.org/v1\n-> scrypt c2FsdA 16\nAAAA\n-> scrypt c2FsdA 16\nAAAA\n--- x\n";
        assert!(check_work_factor(two.as_bytes()).is_err());
        let one = "age-encryption.org/v1\n-> scrypt c2FsdA 16\nAAAA\n--- x\n";
        assert!(check_work_factor(one.as_bytes()).is_ok());
    }

    #[test]
    fn a_wrong_passphrase_is_a_store_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = file_store(dir.path());
        store.set("a", &secret("ABSKfirst")).unwrap();
        let e = store.read(&secret("wrong")).unwrap_err();
        assert_eq!(e.kind(), crate::error::Kind::Store);
        assert!(e.message().contains("wrong passphrase"), "{}", e.message());
    }
}
