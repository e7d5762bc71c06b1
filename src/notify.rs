//! Desktop notifications, for what a scheduled job must tell a person: Freedesktop
//! notifications over the session D-Bus on Linux (zbus, already in the tree for the
//! Secret Service), `osascript` on macOS (a crate that compiles Objective-C would
//! break the cross-build), a PowerShell toast on Windows. Each is bounded in time;
//! where there is no desktop, the error says so and the caller logs it.

use std::time::Duration;

use crate::error::{Error, Result};

/// How long a notification may take to be delivered.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Show `summary` with `body` from "bedkey".
pub fn notify(summary: &str, body: &str) -> Result<()> {
    platform::notify(summary, body)
}

#[cfg(all(unix, not(target_os = "macos")))]
mod platform {
    use super::*;

    pub fn notify(summary: &str, body: &str) -> Result<()> {
        let sent = crate::aws::block_on(async {
            tokio::time::timeout(TIMEOUT, send(summary, body)).await
        })?;
        match sent {
            Ok(result) => result,
            Err(_) => Err(Error::failure(
                "the desktop's notification service did not answer in time",
            )),
        }
    }

    async fn send(summary: &str, body: &str) -> Result<()> {
        let no_desktop =
            |e: zbus::Error| Error::failure(format!("no desktop session bus to notify on ({e})"));
        let connection = zbus::Connection::session().await.map_err(no_desktop)?;
        let hints: std::collections::HashMap<&str, zbus::zvariant::Value<'_>> =
            std::collections::HashMap::new();
        connection
            .call_method(
                Some("org.freedesktop.Notifications"),
                "/org/freedesktop/Notifications",
                Some("org.freedesktop.Notifications"),
                "Notify",
                &(
                    "bedkey",
                    0u32,
                    "dialog-warning",
                    summary,
                    body,
                    Vec::<&str>::new(),
                    hints,
                    -1i32,
                ),
            )
            .await
            .map_err(|e| Error::failure(format!("no desktop notification service ({e})")))?;
        Ok(())
    }
}

#[cfg(target_os = "macos")]
mod platform {
    use super::*;

    /// The texts go in as arguments of the script, never into its source.
    pub fn notify(summary: &str, body: &str) -> Result<()> {
        let mut cmd = std::process::Command::new("osascript");
        cmd.args([
            "-e",
            "on run argv",
            "-e",
            "display notification (item 2 of argv) with title \"bedkey\" subtitle (item 1 of argv)",
            "-e",
            "end run",
            summary,
            body,
        ]);
        super::run_bounded(cmd, "osascript")
    }
}

#[cfg(windows)]
mod platform {
    use super::*;

    /// A toast through the Windows Runtime from PowerShell; the texts travel in
    /// environment variables, never in the script's source.
    pub fn notify(summary: &str, body: &str) -> Result<()> {
        const SCRIPT: &str = "$ErrorActionPreference='Stop';\
            [Windows.UI.Notifications.ToastNotificationManager,Windows.UI.Notifications,ContentType=WindowsRuntime]|Out-Null;\
            $t=[Windows.UI.Notifications.ToastNotificationManager]::GetTemplateContent([Windows.UI.Notifications.ToastTemplateType]::ToastText02);\
            $n=$t.GetElementsByTagName('text');\
            $n.Item(0).AppendChild($t.CreateTextNode($env:BEDKEY_NOTE_TITLE))|Out-Null;\
            $n.Item(1).AppendChild($t.CreateTextNode($env:BEDKEY_NOTE_BODY))|Out-Null;\
            [Windows.UI.Notifications.ToastNotificationManager]::CreateToastNotifier('bedkey').Show([Windows.UI.Notifications.ToastNotification]::new($t))";
        let mut cmd = std::process::Command::new("powershell");
        cmd.args(["-NoProfile", "-NonInteractive", "-Command", SCRIPT])
            .env("BEDKEY_NOTE_TITLE", summary)
            .env("BEDKEY_NOTE_BODY", body);
        super::run_bounded(cmd, "powershell")
    }
}

/// Run a notifier program, waiting at most [`TIMEOUT`].
#[cfg(any(target_os = "macos", windows))]
fn run_bounded(mut cmd: std::process::Command, name: &str) -> Result<()> {
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::failure(format!("cannot run {name} to notify: {e}")))?;
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return if status.success() {
                Ok(())
            } else {
                Err(Error::failure(format!(
                    "{name} could not show a notification ({status})"
                )))
            };
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            return Err(Error::failure(format!(
                "{name} did not show a notification in time"
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
