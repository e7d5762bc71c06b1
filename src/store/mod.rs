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
#[cfg(any(target_os = "macos", windows))]
mod keyring;
#[cfg(target_os = "linux")]
mod keyutils;
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
mod secret_service;

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::secret::Secret;

pub use self::file::{FILE as FILE_STORE_NAME, PASSPHRASE_VAR};

/// A concrete backend, as recorded with each key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    Keyring,
    Keyutils,
    File,
}

impl Backend {
    /// Every backend this platform has, in the order `auto` tries the first two
    /// (the file store needs a passphrase, so `auto` never picks it).
    pub fn here() -> Vec<Backend> {
        let mut all = vec![Backend::Keyring];
        if cfg!(target_os = "linux") {
            all.push(Backend::Keyutils);
        }
        all.push(Backend::File);
        all
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Keyring => "keyring",
            Backend::Keyutils => "keyutils",
            Backend::File => "file",
        }
    }

    /// Whether what it holds is gone at reboot (the kernel keyring).
    pub fn lost_at_reboot(self) -> bool {
        self == Backend::Keyutils
    }

    /// How to remove key `name`'s secret by hand, once the store is back.
    pub fn remove_by_hand(self, name: &str) -> String {
        match self {
            Backend::Keyring => format!(
                "remove it later with `secret-tool clear service bedkey username {name}` (Linux) or your keychain's tool"
            ),
            Backend::Keyutils => format!(
                "it goes at reboot, or now with `keyctl purge -s user keyring:{name}@bedkey`"
            ),
            Backend::File => "it stays, encrypted, in secrets.age in the config dir".to_string(),
        }
    }

    /// What a working backend is, in words, for `doctor`.
    fn works(self) -> &'static str {
        match self {
            Backend::Keyring if cfg!(target_os = "macos") => "macOS Keychain answers",
            Backend::Keyring if cfg!(windows) => "Windows Credential Manager answers",
            Backend::Keyring => "a Secret Service answers on the D-Bus session",
            Backend::Keyutils => "the kernel keyring answers (keys do not survive a reboot)",
            Backend::File => "the passphrase is set",
        }
    }
}

/// What `--store` / `BEDKEY_STORE` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    Auto,
    Keyring,
    Keyutils,
    File,
}

/// Where the file store's passphrase comes from. The library never asks anyone:
/// a program implements this (bedkey's binary reads `BEDKEY_PASSPHRASE`, else asks at
/// the terminal).
pub trait Passphrase: Send + Sync {
    /// The passphrase for the file at `path`; `creating` when the file is new (a
    /// person is asked twice).
    fn passphrase(&self, path: &Path, creating: bool) -> Result<Secret>;
    /// Whether a passphrase can be had at all, without asking now.
    fn available(&self) -> bool;
}

/// A passphrase known in advance: for tests and for programs that hold one.
pub struct FixedPassphrase(pub Secret);

impl Passphrase for FixedPassphrase {
    fn passphrase(&self, _path: &Path, _creating: bool) -> Result<Secret> {
        Ok(self.0.clone())
    }
    fn available(&self) -> bool {
        true
    }
}

/// Asks once, then remembers, for a process that opens the file store again and
/// again (the proxy refreshing a key), so that nobody is asked in the middle of a run.
pub struct RememberedPassphrase {
    inner: std::sync::Arc<dyn Passphrase>,
    known: std::sync::Mutex<Option<Secret>>,
}

impl RememberedPassphrase {
    pub fn new(inner: std::sync::Arc<dyn Passphrase>) -> RememberedPassphrase {
        RememberedPassphrase {
            inner,
            known: std::sync::Mutex::new(None),
        }
    }
}

impl Passphrase for RememberedPassphrase {
    fn passphrase(&self, path: &Path, creating: bool) -> Result<Secret> {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = known.as_ref() {
            return Ok(p.clone());
        }
        let p = self.inner.passphrase(path, creating)?;
        *known = Some(p.clone());
        Ok(p)
    }
    fn available(&self) -> bool {
        self.known.lock().is_ok_and(|k| k.is_some()) || self.inner.available()
    }
}

/// No passphrase: the file store cannot be used.
pub struct NoPassphrase;

impl Passphrase for NoPassphrase {
    fn passphrase(&self, _path: &Path, _creating: bool) -> Result<Secret> {
        Err(Error::store(format!(
            "the file store needs a passphrase: {PASSPHRASE_VAR} is not set"
        )))
    }
    fn available(&self) -> bool {
        false
    }
}

/// What opening a store takes besides the config dir: the file store's passphrase,
/// and how long a keyring call may wait (writes may wait for a person to unlock it).
#[derive(Clone)]
pub struct Access {
    pub passphrase: Arc<dyn Passphrase>,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
}

impl Access {
    /// gh's 3 s for every call, or `BEDKEY_KEYRING_TIMEOUT` (seconds); `patient`
    /// writes wait a minute, for an unlock prompt.
    pub fn new(passphrase: Arc<dyn Passphrase>, patient: bool) -> Access {
        Access {
            passphrase,
            read_timeout: timeout(false),
            write_timeout: timeout(patient),
        }
    }
}

pub trait SecretStore {
    fn backend(&self) -> Backend;
    /// The secret stored under `name`, if any.
    fn get(&self, name: &str) -> Result<Option<Secret>>;
    fn set(&self, name: &str, secret: &Secret) -> Result<()>;
    /// Remove the secret; `Ok(false)` when there was none.
    fn delete(&self, name: &str) -> Result<bool>;
    /// Check, before any work that cannot be undone (an IAM call), that the store
    /// will take a write: reachable, unlocked, passphrase known and right.
    fn ready(&self) -> Result<()> {
        self.get("bedkey-probe").map(|_| ())
    }
    /// Whether the store would work now, for `auto` and `doctor`, changing nothing
    /// that stays: locked, missing and refused are errors that say which.
    fn probe(&self) -> Result<()> {
        self.ready()
    }
}

/// Open the backend a key was stored in.
pub fn open(backend: Backend, config_dir: &Path, access: &Access) -> Result<Box<dyn SecretStore>> {
    match backend {
        Backend::Keyring => os_keyring(access),
        Backend::Keyutils => kernel_keyring(access),
        Backend::File => Ok(Box::new(file::FileStore::new(
            config_dir,
            access.passphrase.clone(),
        ))),
    }
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn os_keyring(access: &Access) -> Result<Box<dyn SecretStore>> {
    Ok(Box::new(secret_service::SecretServiceStore::new(access)))
}

#[cfg(any(target_os = "macos", windows))]
fn os_keyring(access: &Access) -> Result<Box<dyn SecretStore>> {
    Ok(Box::new(keyring::Keyring::os(access)))
}

#[cfg(not(any(unix, windows)))]
fn os_keyring(_access: &Access) -> Result<Box<dyn SecretStore>> {
    Err(Error::store("this platform has no OS keyring bedkey knows"))
}

#[cfg(all(unix, any(target_os = "ios", target_os = "android")))]
fn os_keyring(_access: &Access) -> Result<Box<dyn SecretStore>> {
    Err(Error::store("this platform has no OS keyring bedkey knows"))
}

#[cfg(target_os = "linux")]
fn kernel_keyring(access: &Access) -> Result<Box<dyn SecretStore>> {
    Ok(Box::new(keyutils::KeyutilsStore::new(access)))
}

#[cfg(not(target_os = "linux"))]
fn kernel_keyring(_access: &Access) -> Result<Box<dyn SecretStore>> {
    Err(Error::store(
        "the kernel keyring (keyutils) exists only on Linux",
    ))
}

/// How long a keyring call may wait (a bad value was refused at start).
fn timeout(patient: bool) -> Duration {
    crate::settings::keyring_timeout(patient).unwrap_or(Duration::from_secs(if patient {
        60
    } else {
        3
    }))
}

/// Run a keyring call on a worker thread with a deadline: a locked, absent or hung
/// keyring (zbus has no connect timeout of its own) must fail fast, never hang a
/// shell start. A worker that misses the deadline is left behind; the process exits
/// anyway.
fn with_deadline<T: Send + 'static>(
    who: &str,
    hint: &str,
    timeout: Duration,
    call: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(call());
    });
    rx.recv_timeout(timeout).map_err(|_| {
        Error::store(format!(
            "{who} did not answer within {}s",
            timeout.as_secs_f64()
        ))
        .with_hint(hint)
    })
}

/// A secret as a store handed it back: text, or a store error naming `who`. (Used by
/// the Linux stores, which hand back bytes.)
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn text_secret(bytes: Vec<u8>, who: &str) -> Result<Secret> {
    String::from_utf8(bytes)
        .map(crate::secret::secret)
        .map_err(|_| {
            Error::store(format!(
                "{who} holds a secret for this key that is not text"
            ))
        })
}

/// Why a backend can or cannot be used here, for `auto` and `doctor`.
pub struct Probe {
    pub usable: bool,
    pub reason: String,
}

/// Try a backend without changing anything: one read of an entry that does not exist.
pub fn probe(backend: Backend, config_dir: &Path, access: &Access) -> Probe {
    let outcome = open(backend, config_dir, access).and_then(|s| match backend {
        // The file store needs nothing but a passphrase to be usable.
        Backend::File => file::FileStore::new(config_dir, access.passphrase.clone()).check(),
        _ => s.probe(),
    });
    let (usable, reason) = match outcome {
        Ok(()) => (true, backend.works().to_string()),
        Err(e) => (false, e.message().to_string()),
    };
    Probe { usable, reason }
}

/// The backend new keys go to. `auto`: the OS keyring, else (Linux) the kernel
/// keyring with a warning, else an error naming the alternatives.
pub fn choose(choice: Choice, config_dir: &Path, access: &Access) -> Result<Box<dyn SecretStore>> {
    let explicit = match choice {
        Choice::Keyring => Some(Backend::Keyring),
        Choice::Keyutils => Some(Backend::Keyutils),
        Choice::File => Some(Backend::File),
        Choice::Auto => None,
    };
    if let Some(backend) = explicit {
        return open(backend, config_dir, access);
    }
    let keyring = probe(Backend::Keyring, config_dir, access);
    if keyring.usable {
        return open(Backend::Keyring, config_dir, access);
    }
    if cfg!(target_os = "linux") {
        let keyutils = probe(Backend::Keyutils, config_dir, access);
        if keyutils.usable {
            return open(Backend::Keyutils, config_dir, access);
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
