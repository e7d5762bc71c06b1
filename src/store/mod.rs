//! The secure store: where secrets live. Metadata lives in [`crate::config`].
//!
//! Three backends sit behind [`SecretStore`]:
//! - `keyring`: the OS keyring (macOS Keychain, Windows Credential Manager, Secret
//!   Service on Linux and the BSDs);
//! - `keyutils`: the Linux kernel keyring, for headless Linux; gone at reboot;
//! - `file`: an age-encrypted file, for headless machines that must keep keys.
//!
//! `auto` picks the first that works, in that order, and says why the others did not.

mod file;
mod keyring;

use std::path::Path;

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::secret::Secret;

pub use self::file::PASSPHRASE_VAR;

/// A concrete backend, as recorded with each key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    Keyring,
    Keyutils,
    File,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Keyring => "keyring",
            Backend::Keyutils => "keyutils",
            Backend::File => "file",
        }
    }
}

/// What `--store` / `BEDKEY_STORE` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Choice {
    Auto,
    Keyring,
    Keyutils,
    File,
}

pub trait SecretStore {
    fn backend(&self) -> Backend;
    /// The secret stored under `name`, if any.
    fn get(&self, name: &str) -> Result<Option<Secret>>;
    fn set(&self, name: &str, secret: &Secret) -> Result<()>;
    /// Remove the secret; `Ok(false)` when there was none.
    fn delete(&self, name: &str) -> Result<bool>;
}

/// Open the backend a key was stored in.
pub fn open(backend: Backend, config_dir: &Path) -> Result<Box<dyn SecretStore>> {
    match backend {
        Backend::Keyring => Ok(Box::new(keyring::Keyring::os()?)),
        Backend::Keyutils => Ok(Box::new(keyring::Keyring::keyutils()?)),
        Backend::File => Ok(Box::new(file::FileStore::new(config_dir))),
    }
}

/// Why a backend can or cannot be used here, for `auto` and `doctor`.
pub struct Probe {
    pub usable: bool,
    pub reason: String,
}

/// Try a backend without changing anything: one read of an entry that does not exist.
pub fn probe(backend: Backend, config_dir: &Path) -> Probe {
    let outcome = open(backend, config_dir).and_then(|s| match backend {
        // The file store needs nothing but a passphrase to be usable.
        Backend::File => file::FileStore::new(config_dir).check(),
        _ => s.get("bedkey-probe").map(|_| ()),
    });
    let (usable, reason) = match outcome {
        Ok(()) => (true, describe(backend).to_string()),
        Err(e) => (false, e.message().to_string()),
    };
    Probe { usable, reason }
}

fn describe(backend: Backend) -> &'static str {
    match backend {
        Backend::Keyring if cfg!(target_os = "macos") => "macOS Keychain answers",
        Backend::Keyring if cfg!(windows) => "Windows Credential Manager answers",
        Backend::Keyring => "a Secret Service answers on the D-Bus session",
        Backend::Keyutils => "the kernel keyring answers (keys do not survive a reboot)",
        Backend::File => "the passphrase is set",
    }
}

/// The backend new keys go to. `auto`: the OS keyring, else (Linux) the kernel
/// keyring with a warning, else an error naming the alternatives.
pub fn choose(choice: Choice, config_dir: &Path) -> Result<Box<dyn SecretStore>> {
    let explicit = match choice {
        Choice::Keyring => Some(Backend::Keyring),
        Choice::Keyutils => Some(Backend::Keyutils),
        Choice::File => Some(Backend::File),
        Choice::Auto => None,
    };
    if let Some(backend) = explicit {
        return open(backend, config_dir);
    }
    let keyring = probe(Backend::Keyring, config_dir);
    if keyring.usable {
        return open(Backend::Keyring, config_dir);
    }
    if cfg!(target_os = "linux") {
        let keyutils = probe(Backend::Keyutils, config_dir);
        if keyutils.usable {
            return open(Backend::Keyutils, config_dir);
        }
        return Err(Error::store(format!(
            "no secure store: OS keyring: {}; kernel keyring: {}",
            keyring.reason, keyutils.reason
        ))
        .with_hint(format!(
            "use --store file (an encrypted file; set {PASSPHRASE_VAR}), or start a \
             Secret Service (gnome-keyring, KeePassXC); `bedkey doctor` explains"
        )));
    }
    Err(Error::store(format!("no secure store: OS keyring: {}", keyring.reason))
        .with_hint(format!(
            "use --store file (an encrypted file; set {PASSPHRASE_VAR}); `bedkey doctor` explains"
        )))
}

/// Warn when a key goes somewhere it will not outlive a reboot.
pub fn warn_if_volatile(backend: Backend, out: &crate::output::Printer) {
    if backend == Backend::Keyutils {
        out.warn(
            "stored in the kernel keyring: it is lost at reboot (use --store file to keep keys)",
        );
    }
}
