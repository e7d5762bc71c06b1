//! `bedkey audit`: every API key in the account, or in every account of the
//! organization (`--org`), of every service IAM makes them for, and what is wrong
//! with each. The library reads an account ([`bedkey::audit::account`]) and judges
//! each credential; this command picks the accounts, enters them a few at a time,
//! shows progress at a terminal, and prints the table, JSON or CSV.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;

use bedkey::audit::{self, Audited, Failure, Summary, account};
use bedkey::error::{Error, Result};
use bedkey::iam::Iam;
use bedkey::{org, time};

use crate::cli::{Audit, Output};
use crate::cmd::{Context, Run};
use crate::output::table;
use crate::output::{stderr_line, stdout_line};

#[derive(Serialize)]
struct Json<'a> {
    credentials: &'a [Audited],
    failures: &'a [Failure],
    summary: &'a Summary,
}

/// One account's outcome: what was read, or why nothing could be.
type Outcome = (String, Result<account::Read>);

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
        let only = org::parse_ids(&self.accounts, "--accounts")?;
        let skip = org::parse_ids(&self.skip, "--skip")?;
        if self.org {
            org::check_role_name(&self.role)?;
        }
        let services = self.service.services();
        let show_progress = std::io::stderr().is_terminal() && ctx.out.format == Output::Text;
        let (outcomes, mut failures) = ctx.block_on(async {
            let iam = ctx.iam().await?;
            let (own, partition) = iam.identity().await?;
            if !self.org {
                let read = account::read(&iam, &services, |n| {
                    if show_progress {
                        let _ = std::io::Write::write_all(
                            &mut std::io::stderr(),
                            format!("\rbedkey: listed {n} credentials…").as_bytes(),
                        );
                    }
                })
                .await?;
                if show_progress {
                    stderr_line("");
                }
                return Ok::<_, Error>((vec![(own, Ok(read))], Vec::new()));
            }
            self.read_organization(ctx, &iam, &own, &partition, &only, &skip, show_progress)
                .await
        })??;

        let attempted = outcomes.len();
        let audited = self.judge(ctx, outcomes, &held, &mut failures);
        let mut summary = audit::summarize(&audited);
        summary.accounts_failed = failures
            .iter()
            .map(|f| f.account.as_str())
            .collect::<HashSet<_>>()
            .len();
        // Accounts asked for that could not even be tried count too.
        summary.accounts = attempted
            + failures
                .iter()
                .filter(|f| f.reason.starts_with("not an account"))
                .count();
        match ctx.out.format {
            Output::Json => ctx.out.print_json(&Json {
                credentials: &audited,
                failures: &failures,
                summary: &summary,
            })?,
            Output::Csv => csv_rows(&audited)?,
            Output::Text => render(ctx, &audited, &summary, self.org)?,
        }
        // Shown even with --quiet: an inventory with holes must never look whole.
        for f in &failures {
            stderr_line(&format!(
                "bedkey: {}: account {}: {}",
                ctx.out.paint("warning", "33"),
                f.account,
                f.reason
            ));
        }
        self.gate(&summary)
    }
}

impl Audit {
    /// `--strict`: any strict finding fails, and so does an account not wholly read
    /// (a partial audit must not pass a gate).
    fn gate(&self, summary: &Summary) -> Result<()> {
        if !self.strict {
            return Ok(());
        }
        let mut why = Vec::new();
        if summary.strict_failures > 0 {
            why.push(format!(
                "{} of {} API keys never expire, are older than {} days, were made in the console, or have users with access keys or broad policies",
                summary.strict_failures,
                count(summary.credentials, "key"),
                self.max_age
            ));
        }
        if summary.accounts_failed > 0 {
            why.push(format!(
                "{} could not be read in full, so the audit is incomplete",
                count(summary.accounts_failed, "account")
            ));
        }
        if summary.accounts == 0 {
            why.push("no account was read, so the audit proves nothing".to_string());
        }
        match why.is_empty() {
            true => Ok(()),
            false => Err(Error::failure(why.join("; "))),
        }
    }

    /// Each account's credentials judged; what could not be read becomes failures.
    fn judge(
        &self,
        ctx: &Context,
        outcomes: Vec<Outcome>,
        held: &dyn Fn(&bedkey::iam::Remote) -> bool,
        failures: &mut Vec<Failure>,
    ) -> Vec<Audited> {
        let now = time::now();
        let services = self.service.services();
        let mut audited: Vec<Audited> = Vec::new();
        for (account_id, outcome) in outcomes {
            let read = match outcome {
                Ok(read) => read,
                Err(e) => {
                    // The hint (deploy the role, --skip) belongs with the account.
                    let reason = e.message_and_hint();
                    failures.push(Failure {
                        account: account_id,
                        reason,
                    });
                    continue;
                }
            };
            for service in &read.unsupported {
                let text = format!("IAM has no API keys for {} here", service.title());
                if services.len() == 1 {
                    ctx.out.warn(text);
                } else {
                    ctx.out.detail(text);
                }
            }
            for reason in read.partial {
                failures.push(Failure {
                    account: account_id.clone(),
                    reason,
                });
            }
            let none = audit::UserFacts::default();
            audited.extend(read.credentials.iter().map(|c| {
                let facts = read.users.get(&c.user).unwrap_or(&none);
                audit::assess(&account_id, c, now, self.max_age, held(c), facts)
            }));
        }
        audited
    }

    /// The accounts to read: the organization's active ones, as `--accounts` and
    /// `--skip` say; an id asked for that is no member is a failure.
    fn targets(
        &self,
        ctx: &Context,
        members: &[org::Account],
        only: &[String],
        skip: &[String],
    ) -> (Vec<String>, Vec<Failure>) {
        let mut failures = Vec::new();
        for id in skip {
            if !members.iter().any(|a| &a.id == id) {
                ctx.out.warn(format_args!(
                    "--skip {id}: not an account of this organization"
                ));
            }
        }
        for id in only {
            if !members.iter().any(|a| &a.id == id) {
                failures.push(Failure {
                    account: id.clone(),
                    reason: "not an account of this organization".to_string(),
                });
            }
        }
        let mut targets = Vec::new();
        for a in members {
            if skip.contains(&a.id) || (!only.is_empty() && !only.contains(&a.id)) {
                continue;
            }
            if a.status != "ACTIVE" {
                ctx.out.note(format_args!(
                    "account {} ({}) is {}: skipped",
                    a.id,
                    a.name,
                    a.status.to_lowercase()
                ));
                continue;
            }
            targets.push(a.id.clone());
        }
        (targets, failures)
    }

    /// Every chosen account of the organization, at most `--concurrency` at once, each
    /// bounded in time; an account that cannot be read is an outcome, never an abort.
    #[allow(clippy::too_many_arguments)]
    async fn read_organization(
        &self,
        ctx: &Context,
        iam: &Iam,
        own: &str,
        partition: &str,
        only: &[String],
        skip: &[String],
        show_progress: bool,
    ) -> Result<(Vec<Outcome>, Vec<Failure>)> {
        let mut members = org::accounts(iam).await?;
        // The account bedkey runs in is read whatever the listing says.
        if !members.iter().any(|a| a.id == own) {
            members.insert(
                0,
                org::Account {
                    id: own.to_string(),
                    name: "this account".to_string(),
                    status: "ACTIVE".to_string(),
                },
            );
        }
        let (targets, failures) = self.targets(ctx, &members, only, skip);
        let bar = progress_bar(targets.len(), show_progress)?;
        // Each call has its own timeout; an account as a whole gets a few calls' worth,
        // so one that answers slowly to everything still ends.
        let budget = bedkey::aws::operation_timeout() * 3 + Duration::from_secs(5);
        let services = self.service.services();
        let mut found = 0usize;
        let mut outcomes: Vec<Outcome> = futures_util::stream::iter(targets.iter().cloned())
            .map(|id| {
                let services = &services;
                async move {
                    let work = async {
                        let inside = org::enter(
                            iam,
                            own,
                            partition,
                            &id,
                            &self.role,
                            org::AUDIT_SESSION,
                            "--role",
                        )
                        .await?;
                        account::read(&inside, services, |_| {}).await
                    };
                    let outcome = match tokio::time::timeout(budget, work).await {
                        Ok(r) => r,
                        Err(_) => Err(Error::failure(format!(
                            "no answer within {}",
                            time::human(budget.as_secs() as i64)
                        ))),
                    };
                    (id, outcome)
                }
            })
            .buffer_unordered(usize::from(self.concurrency))
            .inspect(|(_, outcome)| {
                if let Ok(read) = outcome {
                    found += read.credentials.len();
                }
                bar.inc(1);
                bar.set_message(count(found, "credential"));
            })
            .collect()
            .await;
        bar.finish_and_clear();
        // The organization's order, not the order of answers.
        outcomes.sort_by_key(|(id, _)| targets.iter().position(|t| t == id));
        Ok((outcomes, failures))
    }
}

/// `1 key`, `2 keys`.
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// Accounts done of all, and credentials found, at a terminal; nothing off one.
fn progress_bar(accounts: usize, shown: bool) -> Result<indicatif::ProgressBar> {
    if !shown {
        return Ok(indicatif::ProgressBar::hidden());
    }
    let bar = indicatif::ProgressBar::new(accounts as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("bedkey: {bar:30} {pos}/{len} accounts, {msg}")
            .map_err(|e| Error::failure(e.to_string()))?,
    );
    bar.set_message("0 credentials");
    Ok(bar)
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first; IAM user
/// names may start so) is kept as text with a leading `'`.
fn cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{text}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

fn csv_rows(audited: &[Audited]) -> Result<()> {
    let mut out = csv::Writer::from_writer(std::io::stdout().lock());
    let write = |out: &mut csv::Writer<_>, row: &[&str]| {
        out.write_record(row.iter().map(|c| cell(c).into_owned()))
            .map_err(|e| Error::failure(format!("cannot write the CSV: {e}")))
    };
    write(
        &mut out,
        &[
            "account",
            "service",
            "user",
            "credential_id",
            "status",
            "created",
            "expires",
            "age_days",
            "findings",
            "reasons",
            "managed_here",
        ],
    )?;
    for a in audited {
        write(
            &mut out,
            &[
                &a.account,
                a.service,
                &a.user,
                &a.credential_id,
                &a.status,
                &a.created,
                a.expires.as_deref().unwrap_or(""),
                &a.age_days.to_string(),
                &a.findings.join(" "),
                &a.reasons.join("; "),
                if a.managed_here { "true" } else { "false" },
            ],
        )?;
    }
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::failure(format!("cannot write the CSV: {e}")))
        }
        _ => Ok(()),
    }
}

fn render(ctx: &Context, audited: &[Audited], summary: &Summary, org: bool) -> Result<()> {
    if audited.is_empty() {
        ctx.out.note(if org {
            "no API keys in the accounts read"
        } else {
            "no API keys in this account"
        });
        return Ok(());
    }
    let mut header = vec![
        "SERVICE",
        "USER",
        "CREDENTIAL",
        "STATUS",
        "CREATED",
        "EXPIRES",
        "AGE",
        "FINDINGS",
    ];
    if org {
        header.insert(0, "ACCOUNT");
    }
    let mut rows = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    for a in audited {
        let mut row = vec![
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
        ];
        if org {
            row.insert(0, a.account.clone());
        }
        rows.push(row);
    }
    table(&rows)?;
    let counts: Vec<String> = summary
        .findings
        .iter()
        .map(|(f, n)| format!("{n} {f}"))
        .collect();
    let accounts = match (org, summary.accounts_failed) {
        (false, _) => String::new(),
        (true, 0) => format!(" in {}", count(summary.accounts, "account")),
        (true, failed) => format!(
            " in {} ({failed} of them not read in full: see the warnings)",
            count(summary.accounts, "account")
        ),
    };
    stdout_line(&format!(
        "{} of {}{accounts}, {} active, {} managed here{}",
        count(summary.credentials, "key"),
        count(summary.users, "user"),
        summary.active,
        summary.managed_here,
        if counts.is_empty() {
            String::new()
        } else {
            format!("; {}", counts.join(", "))
        }
    ))
}
