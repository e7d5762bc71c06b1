//! The key the proxy sends, kept fresh: refreshed before it runs low, exactly as
//! `env` would refresh it (through the same loader, so the store is written back),
//! with one refresh serving every request that waits for it, and the store looked at
//! again at least once a minute so that a rotation elsewhere reaches the proxy.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::HeaderValue;

use crate::config::Origin;
use crate::error::{Error, Result};
use crate::keys::{self, Loaded};
use crate::secret::ExposeSecret;
use crate::time;

/// Loads the key by name, as `env` does. Blocking; called off the async threads.
pub trait KeySource: Send + Sync + 'static {
    fn load(&self) -> Result<Loaded>;

    /// Whether a load now could give anything but the key held: its store changed, or
    /// a secret is due to be read again. Cheap: asked at every look, so that a key
    /// that costs work to read (a file store's scrypt) is read only when needed.
    fn changed(&self) -> bool {
        true
    }
}

/// What the holder tells its owner.
pub enum KeyEvent<'a> {
    /// A load finished: a refresh, a re-read or just a look (see its warnings).
    Loaded(&'a Loaded),
    /// A load failed; the key held before (if any) is still used while it works.
    Failed(&'a Error),
}

/// Look at the store again at least this often.
pub const RECHECK: Duration = Duration::from_secs(60);
/// After a failed refresh, wait this long before the next try.
const RETRY: Duration = Duration::from_secs(10);

pub(super) struct Key {
    /// `Bearer <key>`, for `Authorization`.
    pub header: HeaderValue,
    /// The key alone, for `x-api-key`.
    pub api_key: HeaderValue,
    expires_at: Option<i64>,
    /// When a short-term key should be refreshed.
    due_at: Option<i64>,
}

impl Key {
    fn from(loaded: &Loaded) -> Result<Key> {
        let mut header = HeaderValue::try_from(format!("Bearer {}", loaded.secret.expose_secret()))
            .map_err(|_| {
                Error::usage(format!(
                    "key '{}' holds characters a header cannot",
                    loaded.name
                ))
            })?;
        header.set_sensitive(true);
        // Checked above: the same bytes made a header value with a prefix.
        let mut api_key = HeaderValue::from_bytes(&header.as_bytes()["Bearer ".len()..])
            .map_err(|_| Error::usage(format!("key '{}' is not a header value", loaded.name)))?;
        api_key.set_sensitive(true);
        let expires_at = loaded.expires_at;
        // A short-term key must be refreshed by then; other kinds only change in the
        // store, which the holder looks at again.
        let due_at = match loaded.meta.origin {
            Origin::Minted => loaded.refresh_at,
            _ => None,
        };
        Ok(Key {
            header,
            api_key,
            expires_at,
            due_at,
        })
    }

    /// Whether the key still works for a request sent now. Its last second does not
    /// count: `now` is whole seconds, and a request takes time to arrive, so a key
    /// forwarded then reaches Bedrock expired (a 403 the client cannot act on, where
    /// the proxy's 502 says what is wrong).
    fn works(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|at| at > now.saturating_add(1))
    }

    fn due(&self, now: i64) -> bool {
        self.due_at.is_some_and(|at| at <= now) || !self.works(now)
    }
}

struct State {
    key: Option<Arc<Key>>,
    /// When the last load ended.
    checked: Instant,
    /// No new refresh before this, after one failed.
    retry_at: Instant,
    /// Why the last load failed, for a request that finds no working key.
    failed: Option<String>,
}

pub type OnKeyEvent = dyn Fn(KeyEvent<'_>) + Send + Sync;

pub struct Holder {
    source: Arc<dyn KeySource>,
    state: Mutex<State>,
    /// Held by the one load in progress; the others wait for it and use its result.
    loading: tokio::sync::Mutex<()>,
    on_event: Arc<OnKeyEvent>,
    /// How often the store is looked at again: [`RECHECK`] but in tests.
    recheck: Duration,
    /// The service of the key the endpoint started with, whose hosts it serves: a
    /// key of another service in its place (a secret rewritten) is not sent there.
    service: crate::service::Service,
}

impl Holder {
    /// Start with a key already loaded (the command loaded it before starting, to
    /// report a missing key as the command's own error).
    pub fn new(
        source: Arc<dyn KeySource>,
        first: &Loaded,
        on_event: Arc<OnKeyEvent>,
    ) -> Result<Holder> {
        let key = Key::from(first)?;
        let now = Instant::now();
        Ok(Holder {
            source,
            state: Mutex::new(State {
                key: Some(Arc::new(key)),
                checked: now,
                retry_at: now,
                failed: None,
            }),
            loading: tokio::sync::Mutex::new(()),
            on_event,
            recheck: RECHECK,
            service: first.meta.service,
        })
    }

    /// Look at the store again this often instead of every [`RECHECK`].
    pub fn recheck_every(mut self, every: Duration) -> Holder {
        self.recheck = every;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The held key if it needs no load now.
    fn ready(&self) -> Option<Arc<Key>> {
        let state = self.lock();
        let key = state.key.as_ref()?;
        let now = time::now();
        let backing_off = Instant::now() < state.retry_at;
        (!key.due(now) || (backing_off && key.works(now))).then(|| key.clone())
    }

    /// The key to send now: the held one, or a fresh one when it is due. The reason
    /// when there is no working key.
    pub(super) async fn current(&self) -> std::result::Result<Arc<Key>, String> {
        if let Some(key) = self.ready() {
            return Ok(key);
        }
        {
            let _one = self.loading.lock().await;
            // Whoever held the lock before may have loaded it already.
            if let Some(key) = self.ready() {
                return Ok(key);
            }
            let backing_off = Instant::now() < self.lock().retry_at;
            if !backing_off {
                self.load().await;
            }
        }
        let state = self.lock();
        match &state.key {
            Some(key) if key.works(time::now()) => Ok(key.clone()),
            _ => Err(state
                .failed
                .clone()
                .unwrap_or_else(|| "the key has expired".to_string())),
        }
    }

    /// Load through the source on a thread of its own (the loader blocks, and may
    /// start a runtime of its own to mint), then keep what it gave.
    async fn load(&self) {
        let source = self.source.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = tx.send(source.load());
        });
        let loaded = rx
            .await
            .unwrap_or_else(|_| Err(Error::failure("loading the key stopped unexpectedly")));
        let now = Instant::now();
        let event = {
            let mut state = self.lock();
            state.checked = now;
            let service = self.service;
            let same_service = |l: Loaded| {
                if l.meta.service == service {
                    Ok(l)
                } else {
                    Err(Error::failure(format!(
                        "key '{}' is now a {} key; this endpoint serves {} (start it again)",
                        l.name,
                        l.meta.service.title(),
                        service.title()
                    )))
                }
            };
            match loaded
                .and_then(same_service)
                .and_then(|l| Key::from(&l).map(|k| (l, k)))
            {
                Ok((loaded, key)) => {
                    // The loader hands back a cached key when it cannot refresh one: try
                    // again later rather than on every request.
                    let stale = key.due(time::now());
                    state.retry_at = if stale { now + RETRY } else { now };
                    state.failed = loaded.warnings.iter().find_map(|w| match w {
                        keys::Warning::Stale { why, .. } | keys::Warning::Unshared { why, .. } => {
                            Some(why.clone())
                        }
                        _ => None,
                    });
                    state.key = Some(Arc::new(key));
                    Ok(loaded)
                }
                Err(e) => {
                    state.retry_at = now + RETRY;
                    state.failed = Some(e.message().to_string());
                    // A key removed from bedkey (`remove`, `revoke`) is gone, not
                    // unreachable: stop using the one held.
                    if e.kind() == crate::error::Kind::NoSuchKey {
                        state.key = None;
                    }
                    Err(e)
                }
            }
        };
        match &event {
            Ok(loaded) => (self.on_event)(KeyEvent::Loaded(loaded)),
            Err(e) => (self.on_event)(KeyEvent::Failed(e)),
        }
    }

    /// Keep the key fresh without a request having to wait: load when a short-term
    /// key falls due, and at least every [`RECHECK`]. Runs until the task is dropped.
    pub async fn keep_fresh(self: Arc<Self>) {
        loop {
            let wait = {
                let state = self.lock();
                let since = state.checked.elapsed();
                let mut wait = self.recheck.saturating_sub(since);
                if let Some(due_at) = state.key.as_ref().and_then(|k| k.due_at) {
                    let until_due = Duration::from_secs((due_at - time::now()).max(0) as u64);
                    let until_retry = state.retry_at.saturating_duration_since(Instant::now());
                    wait = wait.min(until_due.max(until_retry));
                }
                wait
            };
            tokio::time::sleep(wait.max(Duration::from_millis(100))).await;
            let _one = self.loading.lock().await;
            let (fresh_enough, backing_off) = {
                let state = self.lock();
                (
                    state.checked.elapsed() < self.recheck
                        && state.key.as_ref().is_some_and(|k| !k.due(time::now())),
                    Instant::now() < state.retry_at,
                )
            };
            if fresh_enough || backing_off {
                continue;
            }
            let due = self.lock().key.as_ref().is_none_or(|k| k.due(time::now()));
            if due || self.source.changed() {
                self.load().await;
            } else {
                // Nothing to read: this look is done.
                self.lock().checked = Instant::now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeyMeta;
    use crate::store::Backend;
    use crate::token::{self, Minted};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A real short-term key (dummy credentials) signed `age` seconds ago.
    fn loaded(age: i64, lifetime: i64) -> Loaded {
        let creds =
            aws_credential_types::Credentials::new("AKIDTEST", "secret", None, None, "test");
        let signed_at = time::now() - age;
        let key = token::mint(
            crate::service::Service::Bedrock,
            &creds,
            "us-east-1",
            Duration::from_secs(lifetime as u64),
            token::system_time(signed_at),
        )
        .unwrap();
        let minted = Minted {
            key: key.clone(),
            region: "us-east-1".into(),
            signed_at,
            expires_at: signed_at + lifetime,
            capped_by_credentials: false,
            source: "test".into(),
        };
        let meta = KeyMeta::minted(Backend::File, &minted, None, lifetime as u64);
        Loaded::new("k", meta, key).due(300, 3600)
    }

    /// Counts its loads; each takes a while and gives a fresh hour-long key.
    struct Slow(AtomicUsize, Option<&'static str>);

    impl KeySource for Slow {
        fn load(&self) -> Result<Loaded> {
            self.0.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
            match self.1 {
                Some("gone") => Err(Error::new(
                    crate::error::Kind::NoSuchKey,
                    "no key named 'k'",
                )),
                Some(why) => Err(Error::credentials(why)),
                None => Ok(loaded(0, 3600)),
            }
        }
    }

    fn holder(source: Arc<Slow>, first: &Loaded) -> Arc<Holder> {
        Arc::new(Holder::new(source, first, Arc::new(|_: KeyEvent<'_>| {})).unwrap())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_hundred_requests_for_a_due_key_share_one_load() {
        let source = Arc::new(Slow(AtomicUsize::new(0), None));
        // 100 s left, under the 300 s margin: due.
        let first = loaded(3500, 3600);
        let holder = holder(source.clone(), &first);
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let holder = holder.clone();
                tokio::spawn(async move { holder.current().await.map(|k| k.header.clone()) })
            })
            .collect();
        let mut headers = std::collections::HashSet::new();
        for task in tasks {
            headers.insert(task.await.unwrap().unwrap());
        }
        assert_eq!(source.0.load(Ordering::SeqCst), 1);
        assert_eq!(headers.len(), 1, "every request got the refreshed key");
    }

    #[tokio::test]
    async fn a_key_removed_from_bedkey_is_no_longer_used() {
        let source = Arc::new(Slow(AtomicUsize::new(0), Some("gone")));
        // Due, and still working: a refresh that fails for credentials keeps it, but
        // one that finds the key gone does not.
        let first = loaded(3500, 3600);
        let holder = holder(source.clone(), &first);
        let err = holder.current().await.err().expect("no key");
        assert!(err.contains("no key named"), "{err}");
        assert!(holder.current().await.is_err());
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_the_working_key_and_does_not_retry_at_once() {
        let source = Arc::new(Slow(AtomicUsize::new(0), Some("no credentials")));
        let first = loaded(3500, 3600);
        let holder = holder(source.clone(), &first);
        for _ in 0..5 {
            assert!(holder.current().await.is_ok());
        }
        assert_eq!(source.0.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_expired_key_with_no_refresh_is_refused_with_the_reason() {
        let source = Arc::new(Slow(AtomicUsize::new(0), Some("no credentials found")));
        let first = loaded(3700, 3600);
        let holder = holder(source.clone(), &first);
        let why = holder.current().await.err().unwrap();
        assert!(why.contains("no credentials found"), "{why}");
    }

    /// Hands out a different fresh key on each load, as a store does after a rotation.
    struct Rotating(AtomicUsize);

    impl KeySource for Rotating {
        fn load(&self) -> Result<Loaded> {
            let n = self.0.fetch_add(1, Ordering::SeqCst) as i64;
            // Another lifetime makes another key, whatever the clock says.
            Ok(loaded(0, 3000 + n))
        }
    }

    #[tokio::test]
    async fn a_key_changed_in_the_store_reaches_the_proxy_at_the_next_look() {
        let source = Arc::new(Rotating(AtomicUsize::new(0)));
        let first = loaded(0, 3600);
        let holder = Arc::new(
            Holder::new(source.clone(), &first, Arc::new(|_: KeyEvent<'_>| {}))
                .unwrap()
                .recheck_every(Duration::from_millis(300)),
        );
        let before = holder.current().await.unwrap().header.clone();
        let looking = tokio::spawn(holder.clone().keep_fresh());
        tokio::time::sleep(Duration::from_millis(800)).await;
        looking.abort();
        assert!(
            source.0.load(Ordering::SeqCst) >= 1,
            "the store was not looked at"
        );
        assert_ne!(holder.current().await.unwrap().header, before);
    }

    /// A source whose store never changes: counts the loads it is asked for.
    struct Unchanged(AtomicUsize);

    impl KeySource for Unchanged {
        fn load(&self) -> Result<Loaded> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(loaded(0, 3600))
        }
        fn changed(&self) -> bool {
            false
        }
    }

    #[tokio::test]
    async fn an_unchanged_store_is_not_read_at_each_look() {
        let source = Arc::new(Unchanged(AtomicUsize::new(0)));
        let holder = Arc::new(
            Holder::new(
                source.clone(),
                &loaded(0, 3600),
                Arc::new(|_: KeyEvent<'_>| {}),
            )
            .unwrap()
            .recheck_every(Duration::from_millis(150)),
        );
        let looking = tokio::spawn(holder.clone().keep_fresh());
        tokio::time::sleep(Duration::from_millis(900)).await;
        looking.abort();
        assert_eq!(source.0.load(Ordering::SeqCst), 0);
        assert!(holder.current().await.is_ok());
    }

    #[tokio::test]
    async fn a_fresh_key_is_used_without_loading() {
        let source = Arc::new(Slow(AtomicUsize::new(0), None));
        let holder = holder(source.clone(), &loaded(0, 3600));
        assert!(holder.current().await.is_ok());
        assert_eq!(source.0.load(Ordering::SeqCst), 0);
    }
}
