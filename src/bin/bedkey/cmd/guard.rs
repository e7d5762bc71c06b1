//! `bedkey guard`: print the service control policy (or, with `--iam`, the IAM
//! policy) that enforces a rule on API keys; notes on what it cannot do go to stderr.

use bedkey::error::Result;
use bedkey::guard::{Deny, Guard as Built};
use bedkey::service::Service;

use crate::cli::{AuditServiceFlag, DenyFlag, Guard};
use crate::cmd::{Context, Run};
use crate::output::stdout_line;

impl Run for Guard {
    fn run(&self, ctx: &Context) -> Result<()> {
        // The services whose keys a policy can govern by their bearer-token actions.
        let services = match self.service {
            AuditServiceFlag::All => Service::KEPT.to_vec(),
            one => one.services(),
        };
        let built = Built {
            services,
            deny: self.deny.map(|d| match d {
                DenyFlag::All => Deny::All,
                DenyFlag::LongTerm => Deny::LongTerm,
            }),
            max_age_days: self.max_age,
            iam: self.iam,
        }
        .build()?;
        for note in &built.notes {
            ctx.out.note(note);
        }
        stdout_line(&built.document)
    }
}
