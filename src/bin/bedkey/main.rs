//! bedkey: a command-line credential manager for Amazon Bedrock API keys.

// The binary is where bedkey speaks: stdin, stdout and stderr are its own.
#![allow(clippy::disallowed_methods)]
#![warn(clippy::too_many_lines)]

mod cli;
mod cmd;
mod output;
mod process;
mod prompt;
mod serve;

use std::process::ExitCode;

fn main() -> ExitCode {
    process::harden();
    // A panic is a bug; its message could hold data, so users see one line instead.
    std::panic::set_hook(Box::new(|info| {
        // The file as its crate names it (`aws-smithy-types-1.9.3/src/endpoint.rs`),
        // not the path of the machine it was built on.
        let at = info
            .location()
            .map(|l| {
                let file = l.file();
                let short = file
                    .rfind("/src/")
                    .map(|i| &file[file[..i].rfind('/').map_or(0, |j| j + 1)..])
                    .unwrap_or(file);
                format!(" at {short}:{}", l.line())
            })
            .unwrap_or_default();
        output::stderr_line(&format!(
            "bedkey: error: internal error{at}; please report it"
        ));
    }));
    let outcome = std::panic::catch_unwind(|| match cli::parse() {
        Ok(cli) => cmd::dispatch(cli),
        Err(e) => Err(e),
    });
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => output::report(&e),
        Err(_) => ExitCode::FAILURE,
    }
}
