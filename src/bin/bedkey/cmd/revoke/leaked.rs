//! `bedkey revoke --leaked`: a leaked key, read from stdin or a hidden prompt, traced
//! to its account (entered through the organization with `--org`) and cut off, each
//! step said as it happens (the library's [`bedkey::leak`] does the work).

use serde::Serialize;

use bedkey::error::{Error, Result};
use bedkey::iam::Iam;
use bedkey::leak::{self, Options, Step};
use bedkey::secret::ExposeSecret;
use bedkey::token::{self, Decoded};

use crate::cli::Revoke as Args;
use crate::cmd::{Context, Run};
use crate::prompt;

pub struct Leaked<'a>(pub &'a Args);

#[derive(Serialize)]
struct Json<'a> {
    kind: &'static str,
    service: &'static str,
    account: &'a str,
    dry_run: bool,
    steps: &'a [Step],
    /// Whether something is left that a person must do.
    left_to_do: bool,
    /// Local keys that hold the leaked credential.
    local_keys: Vec<String>,
}

impl Run for Leaked<'_> {
    fn run(&self, ctx: &Context) -> Result<()> {
        let args = self.0;
        let key = prompt::read_secret("Paste the leaked key (input is hidden): ")?;
        let decoded = token::decode(key.expose_secret())?;
        let (kind, service) = match &decoded {
            Decoded::LongTerm(lt) => ("long-term", lt.service),
            Decoded::ShortTerm(st) => ("short-term", st.service),
        };
        let options = options(args, &decoded)?;
        let json = ctx.out.json();
        let mut steps: Vec<Step> = Vec::new();
        let mut report = |step: Step| {
            if !json {
                say(ctx, &step);
            }
            steps.push(step);
        };
        let (account, left) = ctx.block_on(async {
            let iam = ctx.iam().await?;
            let (own, partition) = iam.identity().await?;
            let account = leak::account_of(&iam, &decoded).await?;
            if let Some(arn) = &args.role
                && arn.split(':').nth(4) != Some(account.as_str())
            {
                return Err(Error::usage(format!(
                    "--role {arn} is not a role of the key's account {account}"
                )));
            }
            let inside = enter(&iam, args, &own, &partition, &account).await?;
            report(Step::Found(format!("the key is of account {account}")));
            let left = leak::respond(
                &inside,
                &decoded,
                &options,
                bedkey::time::now(),
                &mut report,
            )
            .await?;
            Ok::<_, Error>((account, left))
        })??;
        let local_keys = local_keys(ctx, &decoded);
        if json {
            ctx.out.print_json(&Json {
                kind,
                service: service.name(),
                account: &account,
                dry_run: args.dry_run,
                steps: &steps,
                left_to_do: left,
                local_keys,
            })?;
        } else {
            for name in &local_keys {
                ctx.out.warn(format_args!(
                    "local key '{name}' is this key: `bedkey remove {name}` forgets it"
                ));
            }
        }
        if left {
            return Err(Error::failure(
                "bedkey could not cut the key off by itself; do what is said above",
            ));
        }
        Ok(())
    }
}

/// The flags, checked against the key: each flag of one kind of key refused for the
/// other.
fn options(args: &Args, decoded: &Decoded) -> Result<Options> {
    if args.org {
        bedkey::org::check_role_name(&args.org_role)?;
    }
    if let Some(role) = &args.role
        && !role.starts_with("arn:")
    {
        return Err(Error::usage(format!(
            "--role takes the ARN of the role whose session signed a short-term key, not '{role}'"
        ))
        .with_hint("the role to enter a member account with is --org-role"));
    }
    if matches!(decoded, Decoded::LongTerm(_)) && args.role.is_some() {
        return Err(Error::usage(
            "--role names the signer of a short-term key; this key is long-term",
        ));
    }
    if matches!(decoded, Decoded::ShortTerm(_)) && args.credential_id.is_some() {
        return Err(Error::usage(
            "--credential-id picks a long-term key's credential; this key is short-term",
        ));
    }
    Ok(Options {
        dry_run: args.dry_run,
        delete: args.delete,
        credential_id: args.credential_id.clone(),
        role_arn: args.role.clone(),
    })
}

/// IAM in the key's account: the caller's own, or through the organization.
async fn enter(iam: &Iam, args: &Args, own: &str, partition: &str, account: &str) -> Result<Iam> {
    if account == own {
        return Ok(iam.clone());
    }
    if !args.org {
        return Err(Error::failure(format!(
            "the key is of account {account}, and these credentials are of account {own}"
        ))
        .with_hint("add --org (from the organization's management account), or use credentials of that account"));
    }
    let members = bedkey::org::accounts(iam).await?;
    if !members.iter().any(|a| a.id == account) {
        return Err(Error::failure(format!(
            "the key is of account {account}, which is not in this organization"
        ))
        .with_hint(
            "tell the account's owner, or AWS (aws-security@amazon.com), that the key leaked",
        ));
    }
    bedkey::org::enter(
        iam,
        own,
        partition,
        account,
        &args.org_role,
        bedkey::org::REVOKE_SESSION,
        "--org-role",
    )
    .await
}

/// Local keys that hold the credential: they stop working too.
fn local_keys(ctx: &Context, decoded: &Decoded) -> Vec<String> {
    let Decoded::LongTerm(lt) = decoded else {
        return Vec::new();
    };
    ctx.config()
        .and_then(|c| c.load())
        .map(|file| {
            file.keys
                .iter()
                .filter(|(_, m)| m.alias.as_deref() == Some(lt.alias.as_str()))
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn say(ctx: &Context, step: &Step) {
    match step {
        Step::Found(t) => ctx.out.note(t),
        Step::Did(t) => ctx.out.note(format_args!("done: {t}")),
        Step::Would(t) => ctx
            .out
            .note(format_args!("would {t} (--dry-run: nothing changed)")),
        Step::Already(t) => ctx.out.note(format_args!("nothing to do: {t}")),
        Step::Advice(t) => ctx.out.warn(t),
        // Never silenced by --quiet: it is what the person must still do.
        Step::Left(t) => crate::output::stderr_line(&format!(
            "bedkey: {}: left to you: {t}",
            ctx.out.paint("warning", "33")
        )),
    }
}
