//! `bedkey rotate --due`: every long-term key bedkey made that expires within
//! `--within` is rotated with the lifetime it was made with (a published one through
//! its secrets, with the grace period, as `rotate NAME` does); every other key that
//! expires then is reported, with a desktop notification under `--notify`. Made for
//! cron and CI: no prompt, one line a key, exit 1 when any key failed (the rest still
//! run), one run at a time (a second waits, then finds the keys rotated). Each run's
//! outcome goes to the config dir's state file and log.

use bedkey::config::KeyKind;
use bedkey::error::{Error, Result};
use bedkey::lifecycle::rotate_secret::{claims, read, retire_if_due, retirement_pending};
use bedkey::schedule::{self, KeyOutcome, RunState};
use bedkey::time;

use crate::cli::Rotate;
use crate::cmd::Context;
use crate::output::stdout_line;

/// How far ahead a key counts as due, unless told.
const DEFAULT_WITHIN: &str = "7d";
/// A second run waits this long for the first.
const WAIT_FOR_OTHER_RUN: std::time::Duration = std::time::Duration::from_secs(15 * 60);

fn within(args: &Rotate) -> Result<(i64, String)> {
    let text = args.within.as_deref().unwrap_or(DEFAULT_WITHIN);
    Ok((schedule::parse_window(text)?, text.to_string()))
}

/// A key bedkey could rotate, but not here and now: its store needs a person (the
/// file store's passphrase, with none given and no terminal to ask; the kernel
/// keyring of a login session, which a scheduled job does not share).
fn needs_a_person(name: &str, meta: &bedkey::config::KeyMeta) -> Option<String> {
    use bedkey::store::Backend;
    let attended = crate::prompt::on_terminal();
    match meta.store {
        Backend::File if !attended && crate::process::env_passphrase().is_none() => Some(format!(
            "kept in the file store, which cannot be opened without its passphrase: run bedkey rotate {name} at a terminal"
        )),
        Backend::Keyutils if !attended => Some(format!(
            "kept in a login session's kernel keyring, which a scheduled job does not share: run bedkey rotate {name} at a terminal"
        )),
        _ => None,
    }
}

/// One line a key on stdout; under `--output json` the run's state instead, at the end.
fn say(ctx: &Context, line: &str) -> Result<()> {
    if ctx.out.json() {
        return Ok(());
    }
    stdout_line(line)
}

pub fn run(ctx: &Context, args: &Rotate) -> Result<()> {
    let (window, window_text) = within(args)?;
    let config = ctx.config()?;
    // What the keys were before waiting for another run: one it rotated meanwhile
    // has another credential now, and is not rotated twice.
    let before = config.load()?.keys;
    let _one_run = config.due_lock(WAIT_FOR_OTHER_RUN)?;
    let now = time::now();
    let keys = config.load()?.keys;
    let mut outcomes = Vec::new();
    let mut recent = 0;
    for (name, meta) in &keys {
        let Some(expires) = meta.expires else {
            continue;
        };
        let rotated_meanwhile = before
            .get(name)
            .is_some_and(|b| b.credential_id != meta.credential_id);
        if meta.kind != KeyKind::LongTerm || expires > now + window {
            continue;
        }
        if rotated_meanwhile {
            say(ctx, &format!("{name}: rotated meanwhile by another run"))?;
            recent += 1;
            continue;
        }
        let when = format!(
            "{} ({})",
            time::rfc3339(expires),
            time::relative(expires, now)
        );
        // Rotated recently, its old credential still in its grace period: a second
        // rotation must wait for the retirement (IAM's two keys), and is not due.
        if let Some(r) = meta.retiring.as_ref().filter(|r| r.due > now) {
            say(
                ctx,
                &format!(
                    "{name}: rotated recently; its old credential retires after {}, nothing more is due",
                    time::rfc3339(r.due)
                ),
            )?;
            recent += 1;
            continue;
        }
        let reported = schedule::renew_by_hand(meta)
            .map(|why| ("renew-by-hand", "renew it by hand", why))
            .or_else(|| {
                needs_a_person(name, meta).map(|why| ("needs-you", "rotate it yourself", why))
            });
        let outcome = match reported {
            Some((label, what, why)) => {
                say(ctx, &format!("{name}: expires {when}; {what}: {why}"))?;
                KeyOutcome {
                    name: name.clone(),
                    outcome: label.to_string(),
                    expires_at: Some(time::rfc3339(expires)),
                    detail: why,
                }
            }
            None => rotate_one(ctx, args, name, &when, expires)?,
        };
        outcomes.push(outcome);
    }
    if outcomes.is_empty() && recent == 0 {
        say(ctx, &format!("no key expires within {window_text}"))?;
    }
    finish(ctx, &config, args, &window_text, outcomes)
}

/// Rotate one due key as `rotate NAME` does, and say how it went.
fn rotate_one(
    ctx: &Context,
    args: &Rotate,
    name: &str,
    when: &str,
    expires: i64,
) -> Result<KeyOutcome> {
    Ok(match super::rotate_named(ctx, args, name, false) {
        Ok(new_expiry) => {
            let until = new_expiry.map_or("never".to_string(), time::rfc3339);
            say(
                ctx,
                &format!(
                    "{name}: rotated (it was due: it expires {when}); the new key expires {until}"
                ),
            )?;
            KeyOutcome {
                name: name.to_string(),
                outcome: "rotated".to_string(),
                expires_at: new_expiry.map(time::rfc3339),
                detail: format!("was due {}", time::rfc3339(expires)),
            }
        }
        Err(e) => {
            // What to do travels with it: into the log and the notification.
            let detail = e.message_and_hint();
            say(
                ctx,
                &format!("{name}: expires {when}; rotating it failed: {detail}"),
            )?;
            KeyOutcome {
                name: name.to_string(),
                outcome: "failed".to_string(),
                expires_at: Some(time::rfc3339(expires)),
                detail,
            }
        }
    })
}

/// Record the run, raise the notifications, and set the exit code.
fn finish(
    ctx: &Context,
    config: &bedkey::config::Config,
    args: &Rotate,
    window_text: &str,
    outcomes: Vec<KeyOutcome>,
) -> Result<()> {
    let failed = outcomes.iter().filter(|o| o.outcome == "failed").count();
    let mut log: Vec<String> = Vec::new();
    let ran_at = time::rfc3339(time::now());
    for o in &outcomes {
        log.push(format!(
            "{ran_at} {} {}: {} (expires {})",
            o.outcome,
            o.name,
            o.detail,
            o.expires_at.as_deref().unwrap_or("never")
        ));
    }
    if args.notify {
        for o in outcomes.iter().filter(|o| o.outcome != "rotated") {
            let expires = o.expires_at.as_deref().unwrap_or("never");
            let summary = match o.outcome.as_str() {
                "failed" => format!("bedkey could not rotate key '{}'", o.name),
                _ => format!(
                    "bedkey: key '{}' expires {}",
                    o.name,
                    time::prefix(expires, 10)
                ),
            };
            // A notification shows text, not markup.
            let body = format!("{} (expires {expires})", o.detail).replace('`', "");
            if let Err(e) = bedkey::notify::notify(&summary, &body) {
                log.push(format!("{ran_at} not-notified {}: {}", o.name, e.message()));
                ctx.out.warn(format_args!(
                    "no notification for key '{}': {}",
                    o.name,
                    e.message()
                ));
            }
        }
    }
    if outcomes.is_empty() {
        log.push(format!("{ran_at} nothing due within {window_text}"));
    }
    let state = RunState {
        ran_at,
        outcome: if failed == 0 { "ok" } else { "failed" }.to_string(),
        within: window_text.to_string(),
        keys: outcomes,
    };
    config.ensure_dir()?;
    schedule::write_json(&config.dir().join(schedule::STATE_FILE), &state)?;
    schedule::append_log(config.dir(), &log)?;
    if ctx.out.json() {
        ctx.out.print_json(&state)?;
    }
    if failed > 0 {
        let tried = state
            .keys
            .iter()
            .filter(|k| k.outcome == "rotated" || k.outcome == "failed")
            .count();
        return Err(Error::failure(format!(
            "{failed} of {tried} key(s) due for rotation could not be rotated{}",
            if tried > failed {
                "; the others were"
            } else {
                ""
            }
        ))
        .with_hint(format!(
            "the log says why: {}",
            config.dir().join(schedule::LOG_FILE).display()
        )));
    }
    Ok(())
}

/// `rotate --secret-id ID --due`: rotate the secret's key only when it is due.
pub fn from_secret(ctx: &Context, args: &Rotate, id: &str) -> Result<()> {
    let (window, window_text) = within(args)?;
    let target = ctx.secret_target(id, &args.secret, None)?;
    let (value, arn) = ctx.block_on(read(&target))??;
    let (about, claims) = claims(&value, id)?;
    let expires = about
        .expires_at
        .as_deref()
        .map(time::parse_instant)
        .transpose()?;
    let now = time::now();
    let due = expires.is_some_and(|at| at <= now + window);
    // A rotation whose old credential is still in its grace period was just made
    // (by another run): not due again until it is retired.
    if let (true, Some(after)) = (due, retirement_pending(&about)) {
        return say(
            ctx,
            &format!(
                "{id}: rotated recently; its old credential retires after {} (a later run retires it), nothing more is due",
                time::rfc3339(after)
            ),
        );
    }
    if due {
        super::from_secret::run(ctx, args, id)?;
        return say(
            ctx,
            &format!(
                "{id}: rotated (it was due: it expires {}); the secret holds the new key",
                expires.map_or("never".to_string(), time::rfc3339)
            ),
        );
    }
    // Nothing due; what the last rotation left is retired once its grace is over.
    let retired = ctx.block_on(async {
        let iam = ctx.iam().await?;
        retire_if_due(&iam, &target, &claims, &about, &arn).await
    })??;
    if let Some(old) = &retired {
        say(
            ctx,
            &format!("{id}: retired the last rotation's old credential {old}"),
        )?;
    }
    match expires {
        None => say(ctx, &format!("{id}: its key never expires; nothing is due")),
        Some(at) => say(
            ctx,
            &format!(
                "{id}: its key expires {} ({}), not within {window_text}; nothing is due",
                time::rfc3339(at),
                time::relative(at, now)
            ),
        ),
    }
}
