//! macOS Keychain, Windows Credential Manager and the Linux kernel keyring, through
//! keyring-core and one store crate a platform (the keyring 4 family). Every call
//! runs within the keyring deadline.

use std::sync::Arc;

use keyring_core::{CredentialStore, Entry, Error as KeyringError};

use super::{Backend, SecretStore, with_deadline};
use crate::error::{Error, Result};
use crate::secret::{ExposeSecret, Secret, secret};

/// Entries are (service "bedkey", user = key name).
const SERVICE: &str = "bedkey";

type MakeStore = fn() -> keyring_core::Result<Arc<CredentialStore>>;

pub struct Keyring {
    backend: Backend,
    read_timeout: std::time::Duration,
    write_timeout: std::time::Duration,
    make: MakeStore,
    /// Longest secret the store takes, in bytes of UTF-8.
    max_len: Option<usize>,
}

impl Keyring {
    #[cfg(target_os = "macos")]
    pub fn os(access: &super::Access) -> Keyring {
        Keyring {
            backend: Backend::Keyring,
            read_timeout: access.read_timeout,
            write_timeout: access.write_timeout,
            make: || {
                apple_native_keyring_store::keychain::Store::new()
                    .map(|s| s as Arc<CredentialStore>)
            },
            max_len: None,
        }
    }

    #[cfg(windows)]
    pub fn os(access: &super::Access) -> Keyring {
        Keyring {
            backend: Backend::Keyring,
            read_timeout: access.read_timeout,
            write_timeout: access.write_timeout,
            make: || windows_native_keyring_store::Store::new().map(|s| s as Arc<CredentialStore>),
            // Credential Manager: 2560 bytes of UTF-16 (keys are ASCII).
            max_len: Some(1280),
        }
    }

    fn name(&self) -> &'static str {
        "the OS keyring"
    }

    /// Run `op` on the entry for `name`, within the deadline.
    fn call<T: Send + 'static>(
        &self,
        name: &str,
        timeout: std::time::Duration,
        op: impl FnOnce(&Entry) -> keyring_core::Result<T> + Send + 'static,
    ) -> Result<keyring_core::Result<T>> {
        let make = self.make;
        let user = name.to_string();
        with_deadline(self.name(), &self.hint(), timeout, move || {
            make()
                .and_then(|store| store.build(SERVICE, &user, None))
                .and_then(|entry| op(&entry))
        })
    }

    fn hint(&self) -> String {
        "unlock the keyring, or use --store file; `bedkey doctor` explains".into()
    }

    fn error(&self, err: KeyringError) -> Error {
        // Never show a keyring error's payload: BadEncoding carries the secret's bytes.
        let why = match &err {
            KeyringError::NoStorageAccess(_) => "is locked or refused access".to_string(),
            KeyringError::PlatformFailure(e) => {
                format!("failed: {}", platform_reason(&e.to_string()))
            }
            KeyringError::NoDefaultStore => "is not available".to_string(),
            KeyringError::BadEncoding(_) | KeyringError::BadDataFormat(..) => {
                "holds a secret that is not text".to_string()
            }
            KeyringError::TooLong(what, max) => format!("refused a {what} longer than {max}"),
            KeyringError::Ambiguous(_) => "holds several entries for this key".to_string(),
            KeyringError::Invalid(what, why) => format!("refused the {what}: {why}"),
            KeyringError::NotSupportedByStore(what) => format!("cannot {what}"),
            other => format!("failed: {}", kind_name(other)),
        };
        Error::store(format!("{} {why}", self.name())).with_hint(self.hint())
    }
}

impl SecretStore for Keyring {
    fn backend(&self) -> Backend {
        self.backend
    }

    fn get(&self, name: &str) -> Result<Option<Secret>> {
        match self.call(name, self.read_timeout, |e| e.get_password())? {
            Ok(s) => Ok(Some(secret(s))),
            Err(KeyringError::NoEntry) => Ok(None),
            Err(e) => Err(self.error(e)),
        }
    }

    fn set(&self, name: &str, value: &Secret) -> Result<()> {
        if let Some(max) = self.max_len
            && value.expose_secret().len() > max
        {
            return Err(Error::store(format!(
                "the key is {} bytes, more than {} holds ({max})",
                value.expose_secret().len(),
                self.name()
            ))
            .with_hint(
                "use --store file, or mint with long-lived credentials (no session token)",
            ));
        }
        let value = value.clone();
        self.call(name, self.write_timeout, move |e| {
            e.set_password(value.expose_secret())
        })?
        .map_err(|e| self.error(e))
    }

    fn delete(&self, name: &str) -> Result<bool> {
        match self.call(name, self.write_timeout, |e| e.delete_credential())? {
            Ok(()) => Ok(true),
            Err(KeyringError::NoEntry) => Ok(false),
            Err(e) => Err(self.error(e)),
        }
    }
}

/// Platform errors from zbus are long; say which of the usual cases it is.
fn platform_reason(text: &str) -> String {
    if text.contains("ServiceUnknown") || text.contains("org.freedesktop.secrets") {
        "no Secret Service runs on the D-Bus session".to_string()
    } else if text.contains("No such file")
        || text.contains("DBUS_SESSION_BUS_ADDRESS")
        || text.contains("Address")
    {
        "no D-Bus session bus".to_string()
    } else {
        text.chars().take(160).collect()
    }
}

fn kind_name(err: &KeyringError) -> &'static str {
    match err {
        KeyringError::NoEntry => "no entry",
        KeyringError::BadStoreFormat(_) => "bad store format",
        _ => "unknown error",
    }
}
