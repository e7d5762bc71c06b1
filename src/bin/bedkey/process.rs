//! What bedkey does to its own process before it touches a secret: no core dumps
//! (a dump would hold every key in memory), the file store's passphrase taken out of
//! the environment (so no helper the AWS SDK starts inherits it), and a terminal
//! whose echo a signal at a hidden prompt cannot leave switched off.

use std::sync::OnceLock;

use bedkey::secret::{Secret, secret};

/// The core-file limit bedkey started with, given back to a program `exec` starts.
#[cfg(unix)]
static CORE_LIMIT: OnceLock<libc::rlimit> = OnceLock::new();

/// `BEDKEY_PASSPHRASE` as it was at start; `None` when unset.
static PASSPHRASE: OnceLock<Option<Secret>> = OnceLock::new();

/// Run first thing in `main`, while the process has a single thread.
pub fn harden() {
    no_core_dumps();
    let taken = bedkey::settings::passphrase().map(secret);
    scrub(bedkey::store::PASSPHRASE_VAR);
    // SAFETY: no other thread exists yet (the runtime and keyring workers start
    // later), so nothing can read the environment while it changes.
    unsafe { std::env::remove_var(bedkey::store::PASSPHRASE_VAR) };
    // An endpoint variable set but empty means "unset" to a person (as to the AWS
    // CLI); the SDK would take it for a URL and fail on it.
    for (name, value) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_ENDPOINT_URL") && value.is_empty() {
            // SAFETY: as above, still one thread.
            unsafe { std::env::remove_var(&name) };
        }
    }
    let _ = PASSPHRASE.set(taken);
}

/// Overwrite the value of `name` where the kernel put the environment, so that it is
/// gone from `/proc/PID/environ` and from memory, not only from `std::env`.
#[cfg(target_os = "linux")]
fn scrub(name: &str) {
    unsafe extern "C" {
        static mut environ: *mut *mut libc::c_char;
    }
    let prefix = format!("{name}=");
    // SAFETY: single-threaded start; `environ` is a NULL-terminated array of
    // NUL-terminated strings that this process may write.
    unsafe {
        let mut entry = environ;
        if entry.is_null() {
            return;
        }
        while !(*entry).is_null() {
            let text = std::ffi::CStr::from_ptr(*entry).to_bytes();
            if text.starts_with(prefix.as_bytes()) {
                for i in prefix.len()..text.len() {
                    *(*entry).add(i) = 0;
                }
            }
            entry = entry.add(1);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn scrub(_name: &str) {}

/// The passphrase from the environment at start, if there was one.
pub fn env_passphrase() -> Option<&'static Secret> {
    PASSPHRASE.get().and_then(Option::as_ref)
}

#[cfg(unix)]
fn no_core_dumps() {
    // SAFETY: plain system calls on this process with valid pointers.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_CORE, &mut limit) == 0 {
            let _ = CORE_LIMIT.set(limit);
            // Only the soft limit: the hard one stays, so a child can have its own back.
            let off = libc::rlimit {
                rlim_cur: 0,
                rlim_max: limit.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &off);
        }
        // Also keeps other processes of the same user from ptrace-reading memory.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

#[cfg(not(unix))]
fn no_core_dumps() {}

/// Give the core-file limit back, just before bedkey becomes another program.
/// (`execve` makes the new program dumpable again by itself.)
#[cfg(unix)]
pub fn restore_core_limit() {
    if let Some(limit) = CORE_LIMIT.get() {
        // SAFETY: a valid rlimit for this process.
        unsafe { libc::setrlimit(libc::RLIMIT_CORE, limit) };
    }
}

/// In a child just forked (a `pre_exec` hook): be sent SIGTERM when bedkey dies, even
/// by SIGKILL, so that a program under `exec --proxy` does not run on against an
/// endpoint that is gone. If bedkey (`parent`) died before this, end now. Linux only;
/// elsewhere the child outlives a killed bedkey (docs/long-running.md says so).
#[cfg(unix)]
pub fn die_with_parent(parent: u32) {
    #[cfg(target_os = "linux")]
    // SAFETY: async-signal-safe calls on this process only.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
        if libc::getppid() as u32 != parent {
            libc::kill(libc::getpid(), libc::SIGTERM);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = parent;
}

/// While it lives, SIGINT, SIGTERM and SIGHUP wait: from the moment AWS may make a
/// key until it is stored or handed over, a signal must not lose it. They take effect
/// when the guard drops.
pub struct SignalsHeld {
    #[cfg(unix)]
    previous: libc::sigset_t,
}

pub fn hold_signals() -> SignalsHeld {
    #[cfg(unix)]
    // SAFETY: valid sigset_t values for this thread's mask; threads started while it
    // is held (the runtime's, the keyring's) inherit it.
    unsafe {
        let mut held: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut held);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut held, sig);
        }
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &held, &mut previous);
        SignalsHeld { previous }
    }
    #[cfg(not(unix))]
    SignalsHeld {}
}

impl Drop for SignalsHeld {
    fn drop(&mut self) {
        #[cfg(unix)]
        // SAFETY: restoring the mask saved above.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut());
        }
    }
}

/// Run `read` (a hidden prompt) so that, whatever signal ends the process meanwhile
/// (Ctrl-C, a closed terminal), the terminal's settings are put back first.
#[cfg(unix)]
pub fn with_terminal_restored<T>(read: impl FnOnce() -> T) -> T {
    use std::os::fd::AsRawFd;
    let Ok(tty) = std::fs::File::open("/dev/tty") else {
        return read();
    };
    let fd = tty.as_raw_fd();
    // SAFETY: `saved` is written by tcgetattr before it is used.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return read();
    }
    let guard = terminal::Guard::install(fd, saved);
    let out = read();
    drop(guard);
    drop(tty);
    out
}

#[cfg(not(unix))]
pub fn with_terminal_restored<T>(read: impl FnOnce() -> T) -> T {
    read()
}

#[cfg(unix)]
mod terminal {
    use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

    const SIGNALS: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

    // What the handler needs, readable from a signal handler without locks.
    static FD: AtomicI32 = AtomicI32::new(-1);
    static ARMED: AtomicBool = AtomicBool::new(false);
    static mut SAVED: std::mem::MaybeUninit<libc::termios> = std::mem::MaybeUninit::uninit();

    pub struct Guard {
        previous: Vec<(libc::c_int, libc::sigaction)>,
    }

    extern "C" fn on_signal(sig: libc::c_int) {
        // Only async-signal-safe calls: tcsetattr, signal, raise.
        if ARMED.swap(false, Ordering::SeqCst) {
            // SAFETY: SAVED was written before ARMED was set.
            unsafe {
                let saved = &*std::ptr::addr_of!(SAVED);
                libc::tcsetattr(FD.load(Ordering::SeqCst), libc::TCSANOW, saved.as_ptr());
            }
        }
        // Die of the same signal, as if we had not caught it: the shell sees 130 for
        // Ctrl-C.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }

    impl Guard {
        pub fn install(fd: libc::c_int, saved: libc::termios) -> Guard {
            // SAFETY: written while no handler is armed; handlers read it only after.
            unsafe { (*std::ptr::addr_of_mut!(SAVED)).write(saved) };
            FD.store(fd, Ordering::SeqCst);
            ARMED.store(true, Ordering::SeqCst);
            let mut previous = Vec::new();
            for sig in SIGNALS {
                // SAFETY: a zeroed sigaction with a valid handler and empty mask.
                unsafe {
                    let mut action: libc::sigaction = std::mem::zeroed();
                    action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
                    libc::sigemptyset(&mut action.sa_mask);
                    let mut old: libc::sigaction = std::mem::zeroed();
                    if libc::sigaction(sig, &action, &mut old) == 0 {
                        previous.push((sig, old));
                    }
                }
            }
            Guard { previous }
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            ARMED.store(false, Ordering::SeqCst);
            for (sig, old) in &self.previous {
                // SAFETY: putting back what sigaction gave us.
                unsafe { libc::sigaction(*sig, old, std::ptr::null_mut()) };
            }
        }
    }
}

/// A signal's number, as `kill` takes it.
pub type SignalNumber = i32;

/// The signals bedkey catches while it serves or runs another program: INT, TERM,
/// HUP and QUIT, and USR1 and USR2 (which by default would end bedkey without its
/// clean-up). On Windows, Ctrl-C. Listening starts at `listen`, so nothing arriving
/// after it ends bedkey unawares.
pub struct Signals {
    #[cfg(unix)]
    streams: Vec<(tokio::signal::unix::Signal, SignalNumber)>,
}

impl Signals {
    /// Start catching them. Must run inside a Tokio runtime.
    pub fn listen() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let kinds = [
                (SignalKind::interrupt(), libc::SIGINT),
                (SignalKind::terminate(), libc::SIGTERM),
                (SignalKind::hangup(), libc::SIGHUP),
                (SignalKind::quit(), libc::SIGQUIT),
                (SignalKind::user_defined1(), libc::SIGUSR1),
                (SignalKind::user_defined2(), libc::SIGUSR2),
            ];
            let mut streams = Vec::with_capacity(kinds.len());
            for (kind, number) in kinds {
                streams.push((signal(kind)?, number));
            }
            Ok(Signals { streams })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next one caught.
    pub async fn next(&mut self) -> SignalNumber {
        #[cfg(unix)]
        {
            std::future::poll_fn(|cx| {
                for (stream, number) in self.streams.iter_mut() {
                    if stream.poll_recv(cx).is_ready() {
                        return std::task::Poll::Ready(*number);
                    }
                }
                std::task::Poll::Pending
            })
            .await
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            2 // SIGINT's number, for what Ctrl-C is
        }
    }
}

/// Whether a signal asks a service to stop (USR1 and USR2 do not).
pub fn asks_to_stop(signal: SignalNumber) -> bool {
    #[cfg(unix)]
    {
        ![libc::SIGUSR1, libc::SIGUSR2].contains(&signal)
    }
    #[cfg(not(unix))]
    {
        let _ = signal;
        true
    }
}
