//! The job as a launchd agent (`~/Library/LaunchAgents/dev.bedkey.rotate.plist`): a
//! property list whose `ProgramArguments` are the words themselves (no shell, so no
//! quoting beyond XML's), with `StartCalendarInterval` for the period.

use std::path::{Path, PathBuf};

use super::{Every, Job, RUN_HOUR, check_printable, xml_text};
use crate::error::Result;

pub const LABEL: &str = "dev.bedkey.rotate";

pub fn agent_path(home: &Path) -> PathBuf {
    home.join("Library")
        .join("LaunchAgents")
        .join(format!("{LABEL}.plist"))
}

fn interval(hour: Option<u32>, minute: u32, weekday: Option<u32>) -> String {
    let mut s = String::from("    <dict>\n");
    if let Some(w) = weekday {
        s.push_str(&format!("      <key>Weekday</key><integer>{w}</integer>\n"));
    }
    if let Some(h) = hour {
        s.push_str(&format!("      <key>Hour</key><integer>{h}</integer>\n"));
    }
    s.push_str(&format!(
        "      <key>Minute</key><integer>{minute}</integer>\n    </dict>\n"
    ));
    s
}

/// The calendar entries of a period: launchd runs a job missed while asleep at wake.
fn calendar(every: Every) -> String {
    match every {
        Every::Minutes(m) => (0..60)
            .step_by(m as usize)
            .map(|min| interval(None, min, None))
            .collect(),
        Every::Hours(h) => (0..24)
            .step_by(h as usize)
            .map(|hour| interval(Some(hour), 0, None))
            .collect(),
        Every::Day => interval(Some(RUN_HOUR), 0, None),
        Every::Week => interval(Some(RUN_HOUR), 0, Some(1)),
    }
}

/// The agent's property list. Its output goes to `log` (the job writes its own
/// log too; this catches what happens before it can).
pub fn plist(job: &Job, every: Every, log: &Path) -> Result<String> {
    let mut words = vec![job.program.to_string_lossy().to_string()];
    words.extend(job.args.iter().cloned());
    for w in &words {
        check_printable("an argument of the job", w)?;
    }
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <!-- Made by `bedkey schedule install`; `bedkey schedule remove` takes it away. -->\n\
         <plist version=\"1.0\">\n<dict>\n",
    );
    out.push_str(&format!("  <key>Label</key>\n  <string>{LABEL}</string>\n"));
    out.push_str("  <key>ProgramArguments</key>\n  <array>\n");
    for w in &words {
        out.push_str(&format!("    <string>{}</string>\n", xml_text(w)));
    }
    out.push_str("  </array>\n");
    if !job.env.is_empty() {
        out.push_str("  <key>EnvironmentVariables</key>\n  <dict>\n");
        for (k, v) in &job.env {
            check_printable(k, v)?;
            out.push_str(&format!(
                "    <key>{}</key>\n    <string>{}</string>\n",
                xml_text(k),
                xml_text(v)
            ));
        }
        out.push_str("  </dict>\n");
    }
    out.push_str("  <key>StartCalendarInterval</key>\n  <array>\n");
    out.push_str(&calendar(every));
    out.push_str("  </array>\n");
    let log = xml_text(&log.to_string_lossy());
    out.push_str(&format!(
        "  <key>StandardOutPath</key>\n  <string>{log}</string>\n  <key>StandardErrorPath</key>\n  <string>{log}</string>\n"
    ));
    out.push_str("  <key>ProcessType</key>\n  <string>Background</string>\n</dict>\n</plist>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_xml_escaped_not_shell_quoted() {
        let job = Job {
            program: "/Users/a b/bin/bedkey".into(),
            args: vec!["--config-dir".into(), "/x/<&\"'%>".into()],
            env: vec![("AWS_CONFIG_FILE".into(), "/a&b".into())],
        };
        let text = plist(&job, Every::Hours(12), Path::new("/tmp/log")).unwrap();
        assert!(text.contains("<string>/Users/a b/bin/bedkey</string>"));
        assert!(text.contains("<string>/x/&lt;&amp;&quot;&apos;%&gt;</string>"));
        assert!(text.contains("<key>Hour</key><integer>12</integer>"));
        assert!(text.contains("<string>/a&amp;b</string>"));
    }
}
