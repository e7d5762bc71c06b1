//! The Linux kernel keyring, through `linux-keyutils` directly: a key is added to the
//! session keyring and linked into the user's persistent keyring (so it outlives the
//! login session until the persistent keyring expires). When any step of a write
//! fails, what the write added is taken back: a failed `set` leaves no secret behind.
//!
//! Entries are `user` keys described `keyring:NAME@bedkey`, as the keyring crates
//! name them, so `keyctl search @s user keyring:NAME@bedkey` finds them.

use linux_keyutils::{Key, KeyError, KeyRing, KeyRingIdentifier};

use super::{Backend, SecretStore, with_deadline};
use crate::error::{Error, Result};
use crate::secret::{ExposeSecret, Secret, secret};

const WHO: &str = "the kernel keyring";
const HINT: &str = "run bedkey inside a session keyring (`keyctl session`), or use --store file";
/// The kernel's limit for a `user` key's payload.
const MAX_LEN: usize = 32_767;

/// How a write links a new key into the persistent keyring; a seam for the test of
/// what happens when that step fails.
type Link = fn(KeyRing, Key) -> std::result::Result<(), KeyError>;

pub struct KeyutilsStore {
    link: Link,
    timeout: std::time::Duration,
}

impl KeyutilsStore {
    pub fn new(access: &super::Access) -> KeyutilsStore {
        KeyutilsStore {
            link: |ring, key| ring.link_key(key),
            timeout: access.read_timeout,
        }
    }
}

fn description(name: &str) -> String {
    format!("keyring:{name}@bedkey")
}

fn session() -> std::result::Result<KeyRing, KeyError> {
    KeyRing::from_special_id(KeyRingIdentifier::Session, false)
}

/// The key now stored under `name`, if any.
fn find(ring: KeyRing, name: &str) -> std::result::Result<Option<Key>, KeyError> {
    match ring.search(&description(name)) {
        Ok(key) => Ok(Some(key)),
        Err(KeyError::KeyDoesNotExist | KeyError::KeyRevoked | KeyError::KeyExpired) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Add the secret, link it, and on any failure put back what was there before.
fn write(link: Link, name: &str, value: &[u8]) -> std::result::Result<(), KeyError> {
    let ring = session()?;
    let previous = find(ring, name)?.map(|k| k.read_to_vec()).transpose()?;
    // add_key updates a key of the same description in place, or makes a new one.
    let key = ring.add_key(&description(name), value)?;
    let linked = match KeyRing::get_persistent(KeyRingIdentifier::Session) {
        Ok(persistent) => link(persistent, key),
        // No persistent keyring on this kernel: the session keyring alone holds it.
        Err(KeyError::OperationNotSupported) => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(e) = linked {
        let undone = match previous {
            Some(old) => key.update(&old),
            None => key.invalidate(),
        };
        // Should the undo fail too, say nothing different: the write failed either way.
        let _ = undone;
        return Err(e);
    }
    Ok(())
}

impl SecretStore for KeyutilsStore {
    fn backend(&self) -> Backend {
        Backend::Keyutils
    }

    fn get(&self, name: &str) -> Result<Option<Secret>> {
        let name = name.to_string();
        let found = with_deadline(WHO, HINT, self.timeout, move || {
            let ring = session()?;
            find(ring, &name)?.map(|k| k.read_to_vec()).transpose()
        })?
        .map_err(failure)?;
        found
            .map(|bytes| super::text_secret(bytes, WHO))
            .transpose()
    }

    fn set(&self, name: &str, value: &Secret) -> Result<()> {
        if value.expose_secret().len() > MAX_LEN {
            return Err(Error::store(format!(
                "the key is {} bytes, more than {WHO} holds ({MAX_LEN})",
                value.expose_secret().len()
            )));
        }
        let (link, name, value) = (self.link, name.to_string(), value.clone());
        with_deadline(WHO, HINT, self.timeout, move || {
            write(link, &name, value.expose_secret().as_bytes())
        })?
        .map_err(failure)
    }

    fn delete(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        with_deadline(WHO, HINT, self.timeout, move || {
            let ring = session()?;
            match find(ring, &name)? {
                Some(key) => key.invalidate().map(|_| true),
                None => Ok(false),
            }
        })?
        .map_err(failure)
    }

    /// A real write and removal of a probe entry: reading alone can succeed where
    /// every write fails (no persistent keyring access outside a session keyring).
    fn ready(&self) -> Result<()> {
        let probe = "bedkey-probe";
        self.set(probe, &secret("probe"))?;
        self.delete(probe).map(|_| ())
    }
}

/// What each errno means here, so `doctor` can tell the cases apart.
fn failure(err: KeyError) -> Error {
    let why = match err {
        KeyError::AccessDenied | KeyError::PermissionDenied => {
            "refused access (is bedkey inside a session keyring?)".to_string()
        }
        KeyError::QuotaExceeded => {
            "is full: the user's key quota is used up (see /proc/key-users)".to_string()
        }
        KeyError::OperationNotSupported => "is not supported by this kernel".to_string(),
        KeyError::KeyringDoesNotExist => "has no session keyring here".to_string(),
        KeyError::KeyRevoked | KeyError::KeyExpired => {
            "holds a revoked or expired entry".to_string()
        }
        KeyError::OutOfMemory => "is out of memory".to_string(),
        other => format!("failed: {other:?}")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == ' ' || *c == ':')
            .collect(),
    };
    Error::store(format!("{WHO} {why}")).with_hint(HINT)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// These need a session keyring (the test script runs the suite inside one).
    fn kernel_keyring() -> bool {
        std::env::var("BEDKEY_TEST_KEYUTILS").is_ok_and(|v| v == "1")
    }

    #[test]
    fn a_failed_link_takes_the_new_secret_back() {
        // Off a session keyring (plain `cargo test`) there is nothing to test against;
        // `scripts/test` always sets the variable.
        if !kernel_keyring() {
            return;
        }
        let name = format!("unit-link-{}", std::process::id());
        let access =
            super::super::Access::new(std::sync::Arc::new(super::super::NoPassphrase), false);
        let failing = KeyutilsStore {
            link: |_, _| Err(KeyError::AccessDenied),
            timeout: access.read_timeout,
        };
        let e = failing.set(&name, &secret("ABSKnew")).unwrap_err();
        assert_eq!(e.kind(), crate::error::Kind::Store);
        assert!(e.message().contains("refused access"), "{}", e.message());
        assert!(KeyutilsStore::new(&access).get(&name).unwrap().is_none());

        // Over an existing secret, the old one is put back.
        let store = KeyutilsStore::new(&access);
        store.set(&name, &secret("ABSKold")).unwrap();
        assert!(failing.set(&name, &secret("ABSKnew")).is_err());
        assert_eq!(
            store.get(&name).unwrap().unwrap().expose_secret(),
            "ABSKold"
        );
        assert!(store.delete(&name).unwrap());
        assert!(store.get(&name).unwrap().is_none());
    }
}
