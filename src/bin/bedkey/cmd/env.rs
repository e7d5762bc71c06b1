//! `bedkey env`: the lines that load a key into a shell. Only those lines go to
//! stdout; warnings go to stderr.

use std::io::Write;

use crate::cli::{Env, Output};
use crate::cmd::{Context, Run};
use crate::output::stdout_line;
use bedkey::error::{Error, Result};
use bedkey::keys;
use bedkey::shell::{self, EXPIRY_VAR, Format};

impl Run for Env {
    fn run(&self, ctx: &Context) -> Result<()> {
        let format = match (self.shell, ctx.global.output) {
            (Some(f), _) => f.into(),
            (None, Output::Json) => Format::Json,
            (None, _) => Format::from_env(),
        };
        let key = ctx.load_key(&self.name)?;
        let expiry = key
            .expires_at
            .map_or_else(|| i64::MAX.to_string(), |at| at.to_string());
        let owned = ctx.key_vars(&key, &self.clients)?;
        let mut vars: Vec<(&str, &str)> = owned.iter().map(|(n, v)| (*n, v.as_str())).collect();
        if self.export_expiry {
            vars.push((EXPIRY_VAR, &expiry));
        }
        if format == Format::Github {
            return append_to_github_env(ctx, &key, &vars);
        }
        ctx.out.mask_in_ci(&key.secret);
        let text = shell::render(format, &vars)?;
        stdout_line(text.trim_end_matches('\n'))
    }
}

/// GitHub Actions: mask the key, then append to `$GITHUB_ENV` so later steps see it.
fn append_to_github_env(ctx: &Context, key: &keys::Loaded, vars: &[(&str, &str)]) -> Result<()> {
    let path = std::env::var_os("GITHUB_ENV").ok_or_else(|| {
        Error::usage("--shell github needs $GITHUB_ENV: it works inside GitHub Actions")
    })?;
    // The mask must reach the runner before the key can appear anywhere.
    stdout_line(&format!(
        "::add-mask::{}",
        bedkey::secret::ExposeSecret::expose_secret(&key.secret)
    ))?;
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    // Made private if bedkey makes it: it holds the key.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .map_err(|e| Error::failure(format!("opening $GITHUB_ENV: {e}")))?;
    file.write_all(shell::render(Format::Github, vars)?.as_bytes())
        .map_err(|e| Error::failure(format!("writing $GITHUB_ENV: {e}")))?;
    ctx.out.note(format_args!(
        "key '{}' set for the next steps of this job",
        key.name
    ));
    Ok(())
}
