//! Reading one account for the audit: its API keys of each service (one paginated
//! `ListServiceSpecificCredentials` with `AllUsers` a service), and, for the users
//! that hold them, what the user-level findings need: policies from one paginated
//! `GetAccountAuthorizationDetails`, and the access keys of console-made users.

use std::collections::{BTreeMap, BTreeSet};

use crate::audit::UserFacts;
use crate::error::Result;
use crate::iam::{Iam, Remote};
use crate::service::Service;

/// What was read of one account.
#[derive(Default)]
pub struct Read {
    pub credentials: Vec<Remote>,
    /// By user name.
    pub users: BTreeMap<String, UserFacts>,
    /// Services IAM has no keys for here (a partition without them).
    pub unsupported: Vec<Service>,
    /// What could not be read although the credentials were: the findings that
    /// depend on it are missing, so the account counts as not wholly read.
    pub partial: Vec<String>,
}

/// Read the account `iam` is in. `progress` hears the count of credentials so far.
pub async fn read(
    iam: &Iam,
    services: &[Service],
    mut progress: impl FnMut(usize),
) -> Result<Read> {
    let mut read = Read::default();
    for &service in services {
        let before = read.credentials.len();
        match iam.all_credentials(service, |n| progress(before + n)).await {
            Ok(found) => read.credentials.extend(found),
            Err(e) if e.code() == Some("NotSupportedService") => read.unsupported.push(service),
            Err(e) => return Err(e),
        }
    }
    let holders: BTreeSet<&str> = read.credentials.iter().map(|c| c.user.as_str()).collect();
    if holders.is_empty() {
        return Ok(read);
    }
    let mut users: BTreeMap<String, UserFacts> = holders
        .iter()
        .map(|u| (u.to_string(), UserFacts::default()))
        .collect();
    match iam.authorization_details().await {
        Ok(details) => {
            for (name, facts) in users.iter_mut() {
                facts.broad = details.broad(name);
            }
        }
        Err(e) => read.partial.push(format!(
            "policies not read ({e}), so no broad-policy findings"
        )),
    }
    for (name, facts) in users.iter_mut() {
        if !crate::audit::console_made(name) {
            continue;
        }
        match iam.access_keys(name).await {
            Ok(keys) => facts.access_keys = keys.len(),
            // A user deleted since the listing holds nothing.
            Err(e) if e.code() == Some("NoSuchEntity") => {}
            Err(e) => {
                read.partial.push(format!(
                    "access keys of {name} not read ({e}), so no phantom-access-key finding for it"
                ));
            }
        }
    }
    read.users = users;
    Ok(read)
}
