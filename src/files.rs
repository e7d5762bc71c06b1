//! bedkey's private files: opened without following symbolic links, locked with a
//! bounded wait, and checked for owners and modes that would let another user change
//! what bedkey reads.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Options that open `path` itself, never what a symlink there points to.
fn no_follow() -> OpenOptions {
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    options
}

/// Read a whole file that must not be a symlink.
pub fn read_no_follow(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    no_follow()
        .read(true)
        .open(path)?
        .read_to_string(&mut text)?;
    Ok(text)
}

/// Read a whole binary file that must not be a symlink.
pub fn read_bytes_no_follow(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    no_follow().read(true).open(path)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// An I/O error in words, with a symlink refused by O_NOFOLLOW said as such.
pub fn describe(e: &std::io::Error) -> String {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ELOOP) {
        return "it is a symbolic link, which bedkey does not follow for its own files".to_string();
    }
    e.to_string()
}

/// Write a private (0600) file by writing a temp file beside it and renaming it over.
/// A symlink at `path` is replaced, never followed.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically_with_mode(path, bytes, 0o600)
}

/// [`write_atomically`] with another mode (a public CA certificate: 0644). The mode
/// is set on the temp file's own descriptor before the rename: a chmod of `path`
/// afterwards would follow whatever symlink was put there meanwhile.
pub fn write_atomically_with_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let fail = |e: &std::io::Error| {
        let error = Error::failure(format!("writing {}: {e}", path.display()));
        if e.kind() == std::io::ErrorKind::StorageFull {
            error.with_hint(DISK_FULL)
        } else {
            error
        }
    };
    // tempfile creates the file 0600 on Unix.
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail(&e))?;
    #[cfg(unix)]
    if mode != 0o600 {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| fail(&e))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    tmp.write_all(bytes).map_err(|e| fail(&e))?;
    tmp.as_file().sync_all().map_err(|e| fail(&e))?;
    tmp.persist(path).map_err(|e| fail(&e.error))?;
    Ok(())
}

/// What to do when the disk is full; nothing else (`--force` included) can work.
pub const DISK_FULL: &str = "the disk is full: free some space, then run the same command again";

/// Check a path bedkey is told to write (an `--env-file`, a `--ca-file`): it may be
/// missing or a regular file. A symlink, a device (`/dev/null`), a FIFO or a directory
/// is refused (exit 2): writing atomically renames over the path, which would replace
/// that file rather than write to it.
pub fn check_replaceable(path: &Path, flag: &str) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::usage(format!("{flag} {}: {e}", path.display()))),
        Ok(meta) if meta.file_type().is_file() => Ok(()),
        Ok(meta) => {
            let what = if meta.file_type().is_symlink() {
                "a symlink"
            } else if meta.is_dir() {
                "a directory"
            } else {
                "not a regular file"
            };
            Err(Error::usage(format!(
                "{flag} {} is {what}: bedkey writes only regular files, replacing them whole",
                path.display()
            ))
            .with_hint("name a new file, or a regular file bedkey may replace"))
        }
    }
}

/// Open (creating, 0600) and exclusively lock `path`, waiting at most `wait` for
/// another process. `on_wait` is told once, after a second, what holds it. The holder
/// writes its process id into the file so that a waiter can name it.
pub fn lock_file(path: &Path, wait: Duration, on_wait: Option<&dyn Fn(&str)>) -> Result<File> {
    let mut options = no_follow();
    options.create(true).truncate(false).read(true).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| Error::store(format!("opening {}: {}", path.display(), describe(&e))))?;
    let started = Instant::now();
    let mut told = false;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::failure(format!("locking {}: {e}", path.display())));
            }
        }
        let waited = started.elapsed();
        if waited >= wait {
            return Err(Error::failure(format!(
                "{} is held by {} for more than {}s",
                path.display(),
                holder(&mut file),
                wait.as_secs_f64().ceil()
            ))
            .with_hint("wait for it to finish, or stop it; bedkey changed nothing"));
        }
        if !told && waited >= Duration::from_secs(1) {
            told = true;
            if let Some(say) = on_wait {
                say(&format!(
                    "waiting for {} (held by {})",
                    path.display(),
                    holder(&mut file)
                ));
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    // Leave our id for whoever waits next. Only the holder writes, so no one reads a
    // half-written id for long; a stale id is only ever shown, never acted on.
    let _ = file
        .set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| write!(file, "{}", std::process::id()));
    Ok(file)
}

fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file
        .rewind()
        .and_then(|_| file.take(32).read_to_string(&mut text));
    // The id is the last bedkey holder's; another program may hold it now.
    match text.trim().parse::<u32>() {
        Ok(pid) if alive(pid) => format!("bedkey process {pid}"),
        _ => "another process".to_string(),
    }
}

#[cfg(unix)]
fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid == std::process::id() || (pid != 0 && unsafe { libc::kill(pid as libc::pid_t, 0) } == 0)
}

#[cfg(not(unix))]
fn alive(_pid: u32) -> bool {
    true
}

/// Refuse `path` (exit 5) when another user owns it or anyone may write it; a
/// warning when its group may. Symlinks are judged by what they point to (dotfile
/// managers link config dirs). A missing path is fine.
#[cfg(unix)]
pub fn check(path: &Path) -> Result<Option<String>> {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::store(format!("checking {}: {e}", path.display()))),
    };
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    let mode = meta.mode() & 0o777;
    let fix = if meta.is_dir() {
        "chmod 700"
    } else {
        "chmod 600"
    };
    if meta.uid() != me {
        return Err(Error::store(format!(
            "{} belongs to another user (uid {}): bedkey will not trust it",
            path.display(),
            meta.uid()
        ))
        .with_hint(format!(
            "use a config dir of your own (--config-dir), or `chown` it to yourself and `{fix}` it"
        )));
    }
    if mode & 0o002 != 0 {
        return Err(Error::store(format!(
            "{} is writable by every user (mode {mode:o}): bedkey will not trust it",
            path.display()
        ))
        .with_hint(format!("run `{fix} {}`", path.display())));
    }
    if mode & 0o020 != 0 {
        return Ok(Some(format!(
            "{} is writable by its group (mode {mode:o}); `{fix} {}` keeps it yours",
            path.display(),
            path.display()
        )));
    }
    Ok(None)
}

#[cfg(not(unix))]
pub fn check(_path: &Path) -> Result<Option<String>> {
    Ok(None)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_symlinked_lock_file_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "precious").unwrap();
        let link = dir.path().join("keys.lock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = lock_file(&link, Duration::from_secs(1), None).unwrap_err();
        assert!(e.message().contains("symbolic link"), "{}", e.message());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
        // A dangling link is not followed into creating its target either.
        let dangling = dir.path().join("secrets.lock");
        std::os::unix::fs::symlink(dir.path().join("made"), &dangling).unwrap();
        assert!(lock_file(&dangling, Duration::from_secs(1), None).is_err());
        assert!(!dir.path().join("made").exists());
    }

    #[test]
    fn a_held_lock_times_out_naming_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.lock");
        let _held = lock_file(&path, Duration::from_secs(1), None).unwrap();
        let told = std::sync::Mutex::new(Vec::new());
        let say = |s: &str| told.lock().unwrap().push(s.to_string());
        let e = lock_file(&path, Duration::from_millis(1200), Some(&say)).unwrap_err();
        let pid = std::process::id().to_string();
        assert!(e.message().contains(&pid), "{}", e.message());
        let told = told.lock().unwrap();
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(told[0].starts_with("waiting for"), "{told:?}");
    }

    #[test]
    fn a_file_written_with_a_mode_never_changes_the_mode_of_what_a_symlink_names() {
        use std::os::unix::fs::PermissionsExt;
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "private").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        let path = dir.path().join("ca.pem");
        // Another process keeps putting a symlink to the victim where the file goes.
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let racer = {
            let (stop, path, victim) = (stop.clone(), path.clone(), victim.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = std::fs::remove_file(&path);
                    let _ = std::os::unix::fs::symlink(&victim, &path);
                }
            })
        };
        for _ in 0..300 {
            let _ = write_atomically_with_mode(&path, b"public", 0o644);
        }
        stop.store(true, Ordering::Relaxed);
        racer.join().unwrap();
        let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "private");
        // Written alone, the file has the mode asked for.
        let _ = std::fs::remove_file(&path);
        write_atomically_with_mode(&path, b"public", 0o644).unwrap();
        let mode = std::fs::symlink_metadata(&path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o644);
    }

    #[test]
    fn modes_decide_trust() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d");
        std::fs::create_dir(&p).unwrap();
        let set =
            |mode| std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        set(0o700);
        assert_eq!(check(&p).unwrap(), None);
        set(0o770);
        assert!(check(&p).unwrap().unwrap().contains("group"));
        set(0o777);
        let e = check(&p).unwrap_err();
        assert_eq!(e.kind(), crate::error::Kind::Store);
        assert!(e.message().contains("every user"), "{}", e.message());
        // A symlink to a good dir is fine.
        set(0o700);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert_eq!(check(&link).unwrap(), None);
        assert_eq!(check(&dir.path().join("missing")).unwrap(), None);
    }
}
