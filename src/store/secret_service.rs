//! The Secret Service (gnome-keyring, KWallet, KeePassXC) over D-Bus, pure Rust.
//!
//! Items carry the attributes `service=bedkey username=NAME`, as the keyring crates
//! write them, so `secret-tool lookup service bedkey username NAME` finds them. The
//! session is "plain": the session bus is private to the user, anyone who could read
//! the traffic could ask the service for the secret directly, and skipping the
//! Diffie-Hellman exchange makes a lookup four times faster.

use std::collections::HashMap;

use secret_service::EncryptionType;
use secret_service::blocking::SecretService;

use super::{Backend, SecretStore, with_deadline};
use crate::error::{Error, Result};
use crate::secret::{ExposeSecret, Secret};

const SERVICE: &str = "bedkey";
const WHO: &str = "the Secret Service";
const HINT: &str =
    "unlock the keyring, or use --store keyutils or --store file; `bedkey doctor` explains";

pub struct SecretServiceStore {
    read_timeout: std::time::Duration,
    write_timeout: std::time::Duration,
}

impl SecretServiceStore {
    pub fn new(access: &super::Access) -> SecretServiceStore {
        SecretServiceStore {
            read_timeout: access.read_timeout,
            write_timeout: access.write_timeout,
        }
    }
}

fn attributes(name: &str) -> HashMap<&str, &str> {
    HashMap::from([("service", SERVICE), ("username", name)])
}

fn connect() -> Result<SecretService<'static>, secret_service::Error> {
    SecretService::connect(EncryptionType::Plain)
}

impl SecretStore for SecretServiceStore {
    fn backend(&self) -> Backend {
        Backend::Keyring
    }

    fn get(&self, name: &str) -> Result<Option<Secret>> {
        let name = name.to_string();
        let found = with_deadline(
            WHO,
            HINT,
            self.read_timeout,
            move || -> Result<Option<Vec<u8>>, _> {
                let ss = connect()?;
                let items = ss.search_items(attributes(&name))?;
                let Some(item) = items.unlocked.first().or(items.locked.first()) else {
                    return Ok(None);
                };
                item.ensure_unlocked()?;
                item.get_secret().map(Some)
            },
        )?
        .map_err(failure)?;
        found
            .map(|bytes| super::text_secret(bytes, WHO))
            .transpose()
    }

    fn set(&self, name: &str, value: &Secret) -> Result<()> {
        let name = name.to_string();
        let value = value.clone();
        with_deadline(WHO, HINT, self.write_timeout, move || -> Result<(), _> {
            let ss = connect()?;
            let collection = ss.get_default_collection()?;
            collection.ensure_unlocked()?;
            collection.create_item(
                &format!("bedkey: {name}"),
                attributes(&name),
                value.expose_secret().as_bytes(),
                true,
                "text/plain",
            )?;
            Ok(())
        })?
        .map_err(failure)
    }

    /// Reading an entry works on a locked collection (nothing is found); a write
    /// would need it unlocked. Say locked, absent or unreachable.
    fn probe(&self) -> Result<()> {
        let locked = with_deadline(WHO, HINT, self.read_timeout, || -> Result<bool, _> {
            connect()?.get_default_collection()?.is_locked()
        })?
        .map_err(failure)?;
        if locked {
            return Err(Error::store(format!(
                "{WHO} answers, but its default collection is locked"
            ))
            .with_hint(HINT));
        }
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        with_deadline(WHO, HINT, self.write_timeout, move || -> Result<bool, _> {
            let ss = connect()?;
            let items = ss.search_items(attributes(&name))?;
            let mut deleted = false;
            for item in items.unlocked.iter().chain(&items.locked) {
                item.ensure_unlocked()?;
                item.delete()?;
                deleted = true;
            }
            Ok(deleted)
        })?
        .map_err(failure)
    }
}

const ABSENT: &str =
    "start a Secret Service (gnome-keyring, KeePassXC), or use --store keyutils or --store file";

fn failure(err: secret_service::Error) -> Error {
    use secret_service::Error as E;
    let (why, hint) = match &err {
        E::Locked | E::Prompt | E::PromptDisconnected => (
            "is locked (unlocking was refused or needs a prompt)".to_string(),
            HINT,
        ),
        E::Unavailable => ("is not running on the D-Bus session".to_string(), ABSENT),
        E::NoResult => (
            "has no default collection (keyring) to store in".to_string(),
            HINT,
        ),
        E::Zbus(e) => {
            let text = e.to_string();
            if text.contains("ServiceUnknown") || text.contains("org.freedesktop.secrets") {
                ("is not running on the D-Bus session".to_string(), ABSENT)
            } else if text.contains("No such file")
                || text.contains("Address")
                || text.contains("connect")
            {
                (
                    "cannot be reached: no D-Bus session bus".to_string(),
                    ABSENT,
                )
            } else {
                (
                    format!("failed: {}", text.chars().take(160).collect::<String>()),
                    HINT,
                )
            }
        }
        other => (
            format!(
                "failed: {}",
                other.to_string().chars().take(160).collect::<String>()
            ),
            HINT,
        ),
    };
    Error::store(format!("{WHO} {why}")).with_hint(hint)
}
