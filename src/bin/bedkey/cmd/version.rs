//! `bedkey version`: what this binary is, for a bug report or an installer's check.

use crate::cmd::{Context, Run};
use bedkey::error::Result;

pub struct Version;

impl Run for Version {
    fn run(&self, ctx: &Context) -> Result<()> {
        let commit = env!("BEDKEY_COMMIT");
        let target = env!("BEDKEY_BUILD_TARGET");
        let profile = env!("BEDKEY_BUILD_PROFILE");
        if ctx.out.json() {
            return ctx.out.print_json(&serde_json::json!({
                "version": env!("CARGO_PKG_VERSION"),
                "commit": commit,
                "target": target,
                "profile": profile,
            }));
        }
        crate::output::stdout_line(&format!(
            "bedkey {} (commit {commit}, {target}, {profile})",
            env!("CARGO_PKG_VERSION")
        ))
    }
}
