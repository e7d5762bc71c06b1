//! The job as a Task Scheduler task (imported with `schtasks /Create /XML`): the
//! program in `Command`, the rest in `Arguments` as one command line, quoted as the
//! Microsoft C runtime (`CommandLineToArgvW`) splits it back, with a calendar trigger
//! that runs a missed start as soon as it can.

use super::{Every, Job, RUN_HOUR, check_printable, xml_text};
use crate::error::{Error, Result};

/// The task's name in Task Scheduler.
pub const TASK_NAME: &str = "bedkey-rotate";

/// One argument as the C runtime reads it back: quoted when it is empty or holds a
/// space, a tab or a quote; backslashes doubled only where a quote follows them.
pub fn quote_arg(arg: &str) -> String {
    if !arg.is_empty() && !arg.contains([' ', '\t', '"', '\n', '\u{b}']) {
        return arg.to_string();
    }
    let mut out = String::from("\"");
    let mut backslashes = 0;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.push_str(&"\\".repeat(backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            other => {
                out.push_str(&"\\".repeat(backslashes));
                out.push(other);
                backslashes = 0;
            }
        }
    }
    out.push_str(&"\\".repeat(backslashes * 2));
    out.push('"');
    out
}

/// The arguments as one command line.
pub fn command_line(args: &[String]) -> String {
    args.iter()
        .map(|a| quote_arg(a))
        .collect::<Vec<_>>()
        .join(" ")
}

fn trigger(every: Every) -> String {
    let start = |hour: u32| format!("2026-01-05T{hour:02}:00:00");
    match every {
        Every::Week => format!(
            "    <CalendarTrigger>\n      <StartBoundary>{}</StartBoundary>\n      <ScheduleByWeek><WeeksInterval>1</WeeksInterval><DaysOfWeek><Monday /></DaysOfWeek></ScheduleByWeek>\n    </CalendarTrigger>\n",
            start(RUN_HOUR)
        ),
        Every::Day => format!(
            "    <CalendarTrigger>\n      <StartBoundary>{}</StartBoundary>\n      <ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>\n    </CalendarTrigger>\n",
            start(RUN_HOUR)
        ),
        Every::Hours(_) | Every::Minutes(_) => {
            let interval = match every {
                Every::Hours(h) => format!("PT{h}H"),
                Every::Minutes(m) => format!("PT{m}M"),
                _ => unreachable!("matched above"),
            };
            format!(
                "    <CalendarTrigger>\n      <StartBoundary>{}</StartBoundary>\n      <Repetition><Interval>{interval}</Interval><Duration>P1D</Duration></Repetition>\n      <ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>\n    </CalendarTrigger>\n",
                start(0)
            )
        }
    }
}

/// The task's XML, as UTF-16 with its byte-order mark (what `schtasks /XML` reads).
/// Task Scheduler expands `%NAME%` in a command line and has no escape for it, so a
/// `%` anywhere is refused rather than risked.
pub fn task_xml(job: &Job, every: Every) -> Result<Vec<u8>> {
    let program = job.program.to_string_lossy().to_string();
    for w in std::iter::once(&program).chain(job.args.iter()) {
        check_printable("an argument of the job", w)?;
        if w.contains('%') {
            return Err(Error::usage(format!(
                "'{w}' holds a %, which Task Scheduler would read as a variable; choose a path without one"
            )));
        }
    }
    let text = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n\
         <!-- Made by `bedkey schedule install`; `bedkey schedule remove` takes it away. -->\n\
         <Task version=\"1.2\" xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\">\n\
         \x20 <RegistrationInfo>\n    <Description>bedkey: rotate API keys that expire soon, remind of the rest</Description>\n  </RegistrationInfo>\n\
         \x20 <Triggers>\n{}  </Triggers>\n\
         \x20 <Principals>\n    <Principal id=\"Author\">\n      <LogonType>InteractiveToken</LogonType>\n      <RunLevel>LeastPrivilege</RunLevel>\n    </Principal>\n  </Principals>\n\
         \x20 <Settings>\n    <StartWhenAvailable>true</StartWhenAvailable>\n    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>\n    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>\n    <ExecutionTimeLimit>PT1H</ExecutionTimeLimit>\n    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>\n  </Settings>\n\
         \x20 <Actions Context=\"Author\">\n    <Exec>\n      <Command>{}</Command>\n      <Arguments>{}</Arguments>\n    </Exec>\n  </Actions>\n\
         </Task>\n",
        trigger(every),
        xml_text(&program),
        xml_text(&command_line(&job.args))
    );
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_as_the_c_runtime_splits_them() {
        assert_eq!(quote_arg("rotate"), "rotate");
        assert_eq!(quote_arg(""), "\"\"");
        assert_eq!(quote_arg("C:\\Users\\A B\\cfg"), "\"C:\\Users\\A B\\cfg\"");
        assert_eq!(
            quote_arg("C:\\dir with space\\"),
            "\"C:\\dir with space\\\\\""
        );
        assert_eq!(quote_arg("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(quote_arg("a\\\"b"), "\"a\\\\\\\"b\"");
        assert_eq!(quote_arg("C:\\plain\\"), "C:\\plain\\");
    }

    #[test]
    fn a_percent_is_refused() {
        let job = Job {
            program: "C:\\bedkey.exe".into(),
            args: vec!["--config-dir".into(), "C:\\100%\\x".into()],
            env: Vec::new(),
        };
        assert!(task_xml(&job, Every::Day).is_err());
    }
}
