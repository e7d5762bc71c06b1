//! `bedkey audit`: every API key in the account, from one paginated
//! `ListServiceSpecificCredentials` with `AllUsers` per service (Bedrock, Claude
//! Platform, CloudWatch, CloudWatch Logs), and what is wrong with each.

use std::collections::HashSet;
use std::io::IsTerminal;

use serde::Serialize;

use bedkey::audit::{self, Audited, Summary};
use bedkey::error::{Error, Result};
use bedkey::time;

use crate::cli::Audit;
use crate::cmd::{Context, Run};
use crate::output::table;
use crate::output::{stderr_line, stdout_line};

#[derive(Serialize)]
struct Json<'a> {
    credentials: &'a [Audited],
    summary: &'a Summary,
}

impl Run for Audit {
    fn run(&self, ctx: &Context) -> Result<()> {
        // Credentials a local key holds: not secret, straight from the metadata; an
        // imported key is known by its alias, which IAM lists too.
        let local = ctx.config()?.load()?.keys;
        let aliases: HashSet<String> = local.values().filter_map(|m| m.alias.clone()).collect();
        let managed: HashSet<String> = local
            .into_values()
            .flat_map(|m| [m.credential_id, m.retiring.map(|r| r.credential_id)])
            .flatten()
            .collect();
        let held = |c: &bedkey::iam::Remote| {
            managed.contains(&c.id) || c.alias.as_ref().is_some_and(|a| aliases.contains(a))
        };
        let show_progress = std::io::stderr().is_terminal() && !ctx.out.json();
        let services = self.service.services();
        let asked_one = services.len() == 1;
        let listed = ctx.block_on(async {
            let iam = ctx.iam().await?;
            let mut all = Vec::new();
            for service in services {
                let before = all.len();
                let listing = iam.all_credentials(service, |n| {
                    if show_progress {
                        let _ = std::io::Write::write_all(
                            &mut std::io::stderr(),
                            format!("\rbedkey: listed {} credentials…", before + n).as_bytes(),
                        );
                    }
                });
                match listing.await {
                    Ok(found) => all.extend(found),
                    // A partition where IAM has no keys for the service: none to list.
                    // Asked for by name, it is worth a warning; among all, a note.
                    Err(e) if e.code() == Some("NotSupportedService") => {
                        let text = format!("IAM has no API keys for {} here", service.title());
                        if asked_one {
                            ctx.out.warn(text);
                        } else {
                            ctx.out.detail(text);
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(all)
        })??;
        if show_progress {
            stderr_line("");
        }
        let now = time::now();
        let audited: Vec<Audited> = listed
            .iter()
            .map(|c| audit::assess(c, now, self.max_age, held(c)))
            .collect();
        let summary = audit::summarize(&audited);
        if ctx.out.json() {
            ctx.out.print_json(&Json {
                credentials: &audited,
                summary: &summary,
            })?;
        } else {
            render(ctx, &audited, &summary)?;
        }
        if self.strict && summary.strict_failures > 0 {
            return Err(Error::failure(format!(
                "{} of {} API keys never expire, are older than {} days, or were made in the console",
                summary.strict_failures, summary.credentials, self.max_age
            )));
        }
        Ok(())
    }
}

fn render(ctx: &Context, audited: &[Audited], summary: &Summary) -> Result<()> {
    if audited.is_empty() {
        ctx.out.note("no API keys in this account");
        return Ok(());
    }
    let mut rows = vec![
        [
            "SERVICE",
            "USER",
            "CREDENTIAL",
            "STATUS",
            "CREATED",
            "EXPIRES",
            "AGE",
            "FINDINGS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for a in audited {
        rows.push(vec![
            a.service.to_string(),
            a.user.clone(),
            a.credential_id.clone(),
            a.status.clone(),
            time::prefix(&a.created, 10).to_string(),
            a.expires
                .as_deref()
                .map_or("never".to_string(), |e| time::prefix(e, 10).to_string()),
            format!("{}d", a.age_days),
            if a.findings.is_empty() {
                "-".to_string()
            } else {
                a.findings.join(", ")
            },
        ]);
    }
    table(&rows)?;
    let counts: Vec<String> = summary
        .findings
        .iter()
        .map(|(f, n)| format!("{n} {f}"))
        .collect();
    stdout_line(&format!(
        "{} keys of {} users, {} active, {} managed here{}",
        summary.credentials,
        summary.users,
        summary.active,
        summary.managed_here,
        if counts.is_empty() {
            String::new()
        } else {
            format!("; {}", counts.join(", "))
        }
    ))
}
