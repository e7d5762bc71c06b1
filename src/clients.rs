//! What each kind of client reads to find a Bedrock key and its endpoint: the sets of
//! `env --for` / `exec --for`, for a key used directly, and the variables a program
//! under the local endpoint (`exec --proxy`, `proxy`) gets. The facts behind each
//! name are in docs/clients.md, each proved by a test with the client itself.

use crate::error::{Error, Result};
use crate::proxy::route::{MANTLE_PREFIX, mantle_url, runtime_url};
use crate::region;
use crate::shell::KEY_VAR;

/// A client set of `--for`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClientSet {
    /// The AWS SDKs, the AWS CLI, boto3, LiteLLM's `bedrock/`, the Vercel AI SDK.
    Aws,
    /// The OpenAI SDKs (and anything reading `OPENAI_API_KEY`/`OPENAI_BASE_URL`).
    Openai,
    /// The Anthropic SDKs' plain client (`ANTHROPIC_API_KEY`/`ANTHROPIC_BASE_URL`).
    Anthropic,
    /// LiteLLM's `bedrock_mantle/` provider.
    Litellm,
    /// Claude Code in its Bedrock or Mantle mode.
    ClaudeCode,
}

impl ClientSet {
    pub const ALL: [ClientSet; 5] = [
        ClientSet::Aws,
        ClientSet::Openai,
        ClientSet::Anthropic,
        ClientSet::Litellm,
        ClientSet::ClaudeCode,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ClientSet::Aws => "aws",
            ClientSet::Openai => "openai",
            ClientSet::Anthropic => "anthropic",
            ClientSet::Litellm => "litellm",
            ClientSet::ClaudeCode => "claude-code",
        }
    }
}

/// Which of Bedrock's hosts the generic clients are pointed at (`--endpoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Surface {
    /// `bedrock-runtime`: `/openai/v1`, `/anthropic`, `/model/…`.
    #[default]
    Runtime,
    /// `bedrock-mantle`: `/v1`, `/anthropic` (and `/openai/v1` for the models that
    /// answer only there).
    Mantle,
}

/// The variables that point `sets` at a key used directly: `key` is the key itself,
/// `region` the key's (or the environment's). A set that needs a region, or Mantle
/// where it is not offered, is refused with the reason.
pub fn direct(
    sets: &[ClientSet],
    surface: Surface,
    key: &str,
    region: Option<&str>,
) -> Result<Vec<(&'static str, String)>> {
    // A region from the environment is untrusted text that goes into URLs: a host
    // name hiding in it would send the key elsewhere.
    let region = region.map(region::checked).transpose()?;
    let region = region.as_deref();
    let mut vars = Vars::default();
    for &set in sets {
        let needs = |what: &str| -> Result<&str> {
            region.ok_or_else(|| {
                Error::usage(format!(
                    "--for {}: the key has no region, and {what} is per region",
                    set.name()
                ))
                .with_hint(
                    "store the key with --region R (bedkey set NAME --region R), or set AWS_REGION",
                )
            })
        };
        match set {
            ClientSet::Aws => {
                vars.aws(key, region);
                bedrock_modes(&mut vars)?;
            }
            ClientSet::Openai => {
                let base = match surface {
                    Surface::Runtime => format!("{}/openai/v1", runtime(needs("the runtime")?)?),
                    Surface::Mantle => format!("{}/v1", mantle(needs("Mantle")?)?),
                };
                vars.set("OPENAI_API_KEY", key);
                vars.set("OPENAI_BASE_URL", &base);
            }
            ClientSet::Anthropic => {
                let base = match surface {
                    Surface::Runtime => format!("{}/anthropic", runtime(needs("the runtime")?)?),
                    Surface::Mantle => format!("{}/anthropic", mantle(needs("Mantle")?)?),
                };
                vars.set("ANTHROPIC_API_KEY", key);
                vars.set("ANTHROPIC_BASE_URL", &base);
            }
            ClientSet::Litellm => {
                let region = needs("Mantle")?;
                mantle(region)?;
                vars.set("BEDROCK_MANTLE_API_KEY", key);
                vars.set("BEDROCK_MANTLE_REGION", region);
                if let Some(url) = overridden("AWS_ENDPOINT_URL_BEDROCK_MANTLE")? {
                    vars.set("BEDROCK_MANTLE_API_BASE", &format!("{url}/v1"));
                }
            }
            ClientSet::ClaudeCode => {
                vars.aws(key, region);
                bedrock_modes(&mut vars)?;
                match surface {
                    Surface::Runtime => {
                        vars.set("CLAUDE_CODE_USE_BEDROCK", "1");
                        if let Some(url) = overridden("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")? {
                            vars.set("ANTHROPIC_BEDROCK_BASE_URL", &url);
                        }
                    }
                    Surface::Mantle => {
                        mantle(needs("Mantle")?)?;
                        vars.set("CLAUDE_CODE_USE_MANTLE", "1");
                        if let Some(url) = overridden("AWS_ENDPOINT_URL_BEDROCK_MANTLE")? {
                            vars.set(
                                "ANTHROPIC_BEDROCK_MANTLE_BASE_URL",
                                &format!("{url}/anthropic"),
                            );
                        }
                    }
                }
            }
        }
    }
    Ok(vars.0)
}

pub use crate::service::{PLATFORM_BASE_VAR, PLATFORM_KEY_VAR, PLATFORM_MODE_VAR, WORKSPACE_VAR};

/// The variables that hand a Claude Platform key to its clients: the key, its
/// workspace and region, and with an endpoint override in effect the base URL
/// (the clients read no `AWS_ENDPOINT_URL_*`). `sets` may name `anthropic` (the
/// same variables) and `claude-code` (its switch too); the Bedrock sets are refused,
/// and so is `--endpoint`, since the platform has one host.
pub fn platform(
    sets: &[ClientSet],
    surface: Option<Surface>,
    key: &str,
    region: Option<&str>,
    workspace: Option<&str>,
) -> Result<Vec<(&'static str, String)>> {
    platform_sets(sets, surface)?;
    let region = region.map(region::checked).transpose()?;
    let mut vars = Vars::default();
    vars.platform(key, workspace, region.as_deref());
    if let Some(url) = overridden(crate::service::PLATFORM_ENDPOINT_VAR)? {
        vars.set(PLATFORM_BASE_VAR, &url);
    }
    if sets.contains(&ClientSet::ClaudeCode) {
        vars.set(PLATFORM_MODE_VAR, "1");
    }
    Ok(vars.0)
}

/// The sets a Claude Platform key serves: `anthropic` and `claude-code`, with no
/// `--endpoint` (the platform has one).
pub fn platform_sets(sets: &[ClientSet], surface: Option<Surface>) -> Result<()> {
    if let Some(set) = sets
        .iter()
        .find(|s| !matches!(s, ClientSet::Anthropic | ClientSet::ClaudeCode))
    {
        return Err(Error::usage(format!(
            "--for {}: the key is for Claude Platform on AWS, which only Anthropic's clients use",
            set.name()
        ))
        .with_hint("use --for anthropic or --for claude-code"));
    }
    if surface.is_some() {
        return Err(Error::usage(
            "--endpoint: Claude Platform on AWS has one endpoint; --endpoint picks a Bedrock host",
        ));
    }
    Ok(())
}

/// What a program under the local endpoint gets. Always: the local token under every
/// Bedrock-specific key variable a client may prefer to `AWS_BEARER_TOKEN_BEDROCK`,
/// every Bedrock-specific endpoint variable pointed at the endpoint with the path its
/// client appends to, the region, and trust for the local CA. With `sets`, the
/// generic variables too (never unasked: `OPENAI_BASE_URL` would send a program's
/// other traffic here).
pub struct Local<'a> {
    pub endpoint: &'a str,
    pub token: &'a str,
    pub region: &'a str,
    /// The system's roots plus the local CA.
    pub bundle: &'a str,
    /// The local CA alone.
    pub ca: &'a str,
}

impl Local<'_> {
    /// For a key of `service`, with the `--for` sets and `--endpoint` given.
    pub fn vars(
        &self,
        service: crate::service::Service,
        workspace: Option<&str>,
        sets: &[ClientSet],
        surface: Option<Surface>,
    ) -> Result<Vec<(&'static str, String)>> {
        match service {
            crate::service::Service::Bedrock => Ok(self.bedrock(sets, surface.unwrap_or_default())),
            _ => self.platform(workspace, sets, surface),
        }
    }

    /// A Claude Platform key's: the local endpoint as the base URL, the local token
    /// as the key, the workspace, the region, and trust.
    fn platform(
        &self,
        workspace: Option<&str>,
        sets: &[ClientSet],
        surface: Option<Surface>,
    ) -> Result<Vec<(&'static str, String)>> {
        platform_sets(sets, surface)?;
        let mut vars = Vars::default();
        vars.platform(self.token, workspace, Some(self.region));
        vars.set(PLATFORM_BASE_VAR, self.endpoint);
        self.trust(&mut vars);
        if sets.contains(&ClientSet::ClaudeCode) {
            vars.set(PLATFORM_MODE_VAR, "1");
        }
        Ok(vars.0)
    }

    fn trust(&self, vars: &mut Vars) {
        for var in [
            "AWS_CA_BUNDLE",
            "SSL_CERT_FILE",
            "REQUESTS_CA_BUNDLE",
            "CURL_CA_BUNDLE",
        ] {
            vars.set(var, self.bundle);
        }
        vars.set("NODE_EXTRA_CA_CERTS", self.ca);
    }

    fn bedrock(&self, sets: &[ClientSet], surface: Surface) -> Vec<(&'static str, String)> {
        let (endpoint, token) = (self.endpoint, self.token);
        let mantle = format!("{endpoint}{MANTLE_PREFIX}");
        let mut vars = Vars::default();
        vars.aws(token, Some(self.region));
        for var in [
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            "AWS_ENDPOINT_URL_BEDROCK",
            "ANTHROPIC_BEDROCK_BASE_URL",
            "AWS_BEDROCK_RUNTIME_ENDPOINT",
        ] {
            vars.set(var, endpoint);
        }
        vars.set("AWS_ENDPOINT_URL_BEDROCK_MANTLE", &mantle);
        vars.set(
            "ANTHROPIC_BEDROCK_MANTLE_BASE_URL",
            &format!("{mantle}/anthropic"),
        );
        vars.set("BEDROCK_MANTLE_API_BASE", &format!("{mantle}/v1"));
        vars.set("AWS_BEDROCK_BASE_URL", &format!("{mantle}/openai/v1"));
        vars.set("BEDROCK_MANTLE_API_KEY", token);
        vars.set(PLATFORM_KEY_VAR, token);
        self.trust(&mut vars);
        for &set in sets {
            match (set, surface) {
                (ClientSet::Aws, _) => {}
                (ClientSet::Openai, Surface::Runtime) => {
                    vars.set("OPENAI_API_KEY", token);
                    vars.set("OPENAI_BASE_URL", &format!("{endpoint}/openai/v1"));
                }
                (ClientSet::Openai, Surface::Mantle) => {
                    vars.set("OPENAI_API_KEY", token);
                    vars.set("OPENAI_BASE_URL", &format!("{mantle}/v1"));
                }
                (ClientSet::Anthropic, Surface::Runtime) => {
                    vars.set("ANTHROPIC_API_KEY", token);
                    vars.set("ANTHROPIC_BASE_URL", &format!("{endpoint}/anthropic"));
                }
                (ClientSet::Anthropic, Surface::Mantle) => {
                    vars.set("ANTHROPIC_API_KEY", token);
                    vars.set("ANTHROPIC_BASE_URL", &format!("{mantle}/anthropic"));
                }
                (ClientSet::Litellm, _) => vars.set("BEDROCK_MANTLE_REGION", self.region),
                (ClientSet::ClaudeCode, Surface::Runtime) => {
                    vars.set("CLAUDE_CODE_USE_BEDROCK", "1")
                }
                (ClientSet::ClaudeCode, Surface::Mantle) => vars.set("CLAUDE_CODE_USE_MANTLE", "1"),
            }
        }
        vars.0
    }
}

/// With an endpoint override in effect, the base URLs of the clients' Bedrock modes,
/// which read no `AWS_ENDPOINT_URL_*` and would otherwise go to the real hosts: the
/// OpenAI SDKs', `AnthropicBedrockMantle`'s and LiteLLM's for Mantle, Anthropic's
/// Bedrock client's (and Claude Code's) and LiteLLM's `bedrock/` for the runtime.
fn bedrock_modes(vars: &mut Vars) -> Result<()> {
    if let Some(url) = overridden("AWS_ENDPOINT_URL_BEDROCK_MANTLE")? {
        vars.set("AWS_BEDROCK_BASE_URL", &format!("{url}/openai/v1"));
        vars.set(
            "ANTHROPIC_BEDROCK_MANTLE_BASE_URL",
            &format!("{url}/anthropic"),
        );
        vars.set("BEDROCK_MANTLE_API_BASE", &format!("{url}/v1"));
    }
    if let Some(url) = overridden("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")? {
        vars.set("ANTHROPIC_BEDROCK_BASE_URL", &url);
        vars.set("AWS_BEDROCK_RUNTIME_ENDPOINT", &url);
    }
    Ok(())
}

/// A base URL the key will be sent to, checked as the proxy checks its upstreams:
/// a URL, HTTPS (plain HTTP only to loopback), no user name or query.
fn checked_url(url: String) -> Result<String> {
    crate::proxy::route::Upstream::parse(&url)?;
    Ok(url)
}

/// The runtime's URL in `region` (or its override), checked.
fn runtime(region: &str) -> Result<String> {
    checked_url(runtime_url(region))
}

/// Mantle's URL in `region` (or its override), checked, or why there is none.
fn mantle(region: &str) -> Result<String> {
    let url = mantle_url(region).ok_or_else(|| {
        Error::usage(crate::proxy::route::no_mantle(region))
            .with_hint("use --endpoint runtime, or set AWS_ENDPOINT_URL_BEDROCK_MANTLE")
    })?;
    checked_url(url)
}

/// An endpoint override in effect (the variable set and not empty), without a
/// trailing slash, checked.
fn overridden(var: &str) -> Result<Option<String>> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| checked_url(v.trim_end_matches('/').to_string()).map_err(|e| e.context(var)))
        .transpose()
}

/// Variables in the order first set, each once (a later set's value wins: they agree).
#[derive(Default)]
struct Vars(Vec<(&'static str, String)>);

impl Vars {
    fn set(&mut self, name: &'static str, value: &str) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.0.push((name, value.to_string())),
        }
    }

    /// A Claude Platform key's own variables: the key, its workspace, the region.
    fn platform(&mut self, key: &str, workspace: Option<&str>, region: Option<&str>) {
        let described = crate::service::Service::ClaudePlatform.describe();
        self.set(described.key_var, key);
        if let (Some(workspace), Some(var)) = (workspace, described.workspace_var) {
            self.set(var, workspace);
        }
        if let Some(region) = region {
            for var in region::VARS {
                self.set(var, region);
            }
        }
    }

    fn aws(&mut self, key: &str, region: Option<&str>) {
        self.set(KEY_VAR, key);
        if let Some(region) = region {
            for var in region::VARS {
                self.set(var, region);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(vars: &[(&'static str, String)]) -> Vec<&'static str> {
        vars.iter().map(|(n, _)| *n).collect()
    }

    fn get<'a>(vars: &'a [(&'static str, String)], name: &str) -> &'a str {
        &vars.iter().find(|(n, _)| *n == name).unwrap().1
    }

    #[test]
    fn each_set_points_its_client_at_the_surface_asked_for() {
        let r = Some("us-west-2");
        let aws = direct(&[ClientSet::Aws], Surface::Runtime, "K", r).unwrap();
        assert_eq!(names(&aws), [KEY_VAR, "AWS_REGION", "AWS_DEFAULT_REGION"]);
        let openai = direct(&[ClientSet::Openai], Surface::Runtime, "K", r).unwrap();
        assert_eq!(
            get(&openai, "OPENAI_BASE_URL"),
            "https://bedrock-runtime.us-west-2.amazonaws.com/openai/v1"
        );
        assert_eq!(get(&openai, "OPENAI_API_KEY"), "K");
        let openai = direct(&[ClientSet::Openai], Surface::Mantle, "K", r).unwrap();
        assert_eq!(
            get(&openai, "OPENAI_BASE_URL"),
            "https://bedrock-mantle.us-west-2.api.aws/v1"
        );
        let anthropic = direct(&[ClientSet::Anthropic], Surface::Mantle, "K", r).unwrap();
        assert_eq!(
            get(&anthropic, "ANTHROPIC_BASE_URL"),
            "https://bedrock-mantle.us-west-2.api.aws/anthropic"
        );
        let both = direct(
            &[ClientSet::ClaudeCode, ClientSet::Litellm],
            Surface::Mantle,
            "K",
            r,
        )
        .unwrap();
        assert_eq!(
            names(&both),
            [
                KEY_VAR,
                "AWS_REGION",
                "AWS_DEFAULT_REGION",
                "CLAUDE_CODE_USE_MANTLE",
                "BEDROCK_MANTLE_API_KEY",
                "BEDROCK_MANTLE_REGION"
            ]
        );
    }

    #[test]
    fn a_set_that_needs_a_region_or_mantle_is_refused_with_the_reason() {
        let err = direct(&[ClientSet::Openai], Surface::Runtime, "K", None).unwrap_err();
        assert_eq!(err.kind(), crate::error::Kind::Usage);
        assert!(err.message().contains("no region"), "{}", err.message());
        // The aws set works without one, as `env` always has.
        assert!(direct(&[ClientSet::Aws], Surface::Runtime, "K", None).is_ok());
        let err = direct(
            &[ClientSet::Litellm],
            Surface::Runtime,
            "K",
            Some("cn-north-1"),
        )
        .unwrap_err();
        assert!(
            err.message().contains("not offered in cn-north-1"),
            "{}",
            err.message()
        );
        assert!(
            direct(
                &[ClientSet::Openai],
                Surface::Runtime,
                "K",
                Some("cn-north-1")
            )
            .is_ok()
        );
    }

    #[test]
    fn a_program_under_the_endpoint_gets_every_bedrock_variable_and_generic_ones_only_when_asked() {
        let local = Local {
            endpoint: "https://127.0.0.1:9",
            token: "T",
            region: "us-east-1",
            bundle: "/b.pem",
            ca: "/ca.pem",
        };
        let plain = local
            .vars(crate::service::Service::Bedrock, None, &[], None)
            .unwrap();
        for (name, value) in [
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "https://127.0.0.1:9"),
            (
                "ANTHROPIC_BEDROCK_MANTLE_BASE_URL",
                "https://127.0.0.1:9/mantle/anthropic",
            ),
            ("BEDROCK_MANTLE_API_BASE", "https://127.0.0.1:9/mantle/v1"),
            (
                "AWS_BEDROCK_BASE_URL",
                "https://127.0.0.1:9/mantle/openai/v1",
            ),
            ("BEDROCK_MANTLE_API_KEY", "T"),
            ("CURL_CA_BUNDLE", "/b.pem"),
            ("NODE_EXTRA_CA_CERTS", "/ca.pem"),
        ] {
            assert_eq!(get(&plain, name), value, "{name}");
        }
        assert!(!names(&plain).contains(&"OPENAI_BASE_URL"));
        let asked = local
            .vars(
                crate::service::Service::Bedrock,
                None,
                &[ClientSet::Openai, ClientSet::Anthropic],
                Some(Surface::Mantle),
            )
            .unwrap();
        assert_eq!(
            get(&asked, "OPENAI_BASE_URL"),
            "https://127.0.0.1:9/mantle/v1"
        );
        assert_eq!(
            get(&asked, "ANTHROPIC_BASE_URL"),
            "https://127.0.0.1:9/mantle/anthropic"
        );
        assert_eq!(get(&asked, "OPENAI_API_KEY"), "T");
    }

    #[test]
    fn a_claude_platform_key_gets_anthropics_aws_variables_and_refuses_bedrock_sets() {
        let vars = platform(&[], None, "K", Some("us-east-1"), Some("wrk_1")).unwrap();
        assert_eq!(
            names(&vars),
            [
                PLATFORM_KEY_VAR,
                WORKSPACE_VAR,
                "AWS_REGION",
                "AWS_DEFAULT_REGION"
            ]
        );
        let code = platform(&[ClientSet::ClaudeCode], None, "K", None, None).unwrap();
        assert_eq!(names(&code), [PLATFORM_KEY_VAR, PLATFORM_MODE_VAR]);
        for set in [ClientSet::Aws, ClientSet::Openai, ClientSet::Litellm] {
            let err = platform(&[set], None, "K", None, None).unwrap_err();
            assert!(
                err.message().contains("Claude Platform"),
                "{}",
                err.message()
            );
        }
        assert!(
            platform(
                &[ClientSet::Anthropic],
                Some(Surface::Mantle),
                "K",
                None,
                None
            )
            .is_err()
        );
        let local = Local {
            endpoint: "https://127.0.0.1:9",
            token: "T",
            region: "us-east-1",
            bundle: "/b.pem",
            ca: "/ca.pem",
        };
        let vars = local
            .vars(
                crate::service::Service::ClaudePlatform,
                Some("w"),
                &[],
                None,
            )
            .unwrap();
        assert_eq!(get(&vars, PLATFORM_BASE_VAR), "https://127.0.0.1:9");
        assert_eq!(get(&vars, PLATFORM_KEY_VAR), "T");
        assert_eq!(get(&vars, WORKSPACE_VAR), "w");
        assert!(!names(&vars).contains(&KEY_VAR));
    }
}
