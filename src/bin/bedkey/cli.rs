//! Every command, flag and help text, in one place. `completions` and `man` are
//! generated from these definitions.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use bedkey::shell::{Format, InitShell};
use bedkey::store::Choice;

/// The library's enums as flag values. The library knows nothing of clap, so each
/// gets a twin here, named as the flag spells it, and maps onto it.
macro_rules! flag_values {
    ($(#[$doc:meta])* $name:ident => $target:ty { $($variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
        pub enum $name {
            $($variant),+
        }

        impl From<$name> for $target {
            fn from(value: $name) -> $target {
                match value {
                    $($name::$variant => <$target>::$variant),+
                }
            }
        }
    };
}

flag_values!(
    /// `--store` / `BEDKEY_STORE`.
    StoreFlag => Choice { Auto, Keyring, Keyutils, File }
);
flag_values!(
    /// `env --shell`.
    ShellFlag => Format { Posix, Fish, Powershell, Cmd, Nu, Dotenv, Json, Github }
);
flag_values!(
    /// `init`'s shell.
    InitShellFlag => InitShell { Bash, Zsh, Fish }
);
flag_values!(
    /// `--for`: a set of clients.
    ForFlag => bedkey::clients::ClientSet { Aws, Openai, Anthropic, Litellm, ClaudeCode }
);
flag_values!(
    /// `--endpoint`: the Bedrock host the generic clients use.
    EndpointFlag => bedkey::clients::Surface { Runtime, Mantle }
);

flag_values!(
    /// `--service` of token, create and import: a service bedkey keeps keys for.
    ServiceFlag => bedkey::service::Service { Bedrock, ClaudePlatform }
);

/// `audit --service`: one service, or every API-key service IAM has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuditServiceFlag {
    Bedrock,
    ClaudePlatform,
    All,
}

impl AuditServiceFlag {
    pub fn services(self) -> Vec<bedkey::service::Service> {
        use bedkey::service::Service;
        match self {
            AuditServiceFlag::Bedrock => vec![Service::Bedrock],
            AuditServiceFlag::ClaudePlatform => vec![Service::ClaudePlatform],
            AuditServiceFlag::All => Service::ALL.to_vec(),
        }
    }
}

/// `--for` and `--endpoint`, on env, exec and proxy.
#[derive(Debug, Args)]
pub struct ClientFlags {
    /// Give the variables these clients read (comma-separated): aws (the default),
    /// openai, anthropic, litellm, claude-code
    #[arg(long = "for", value_enum, value_delimiter = ',', value_name = "SET")]
    pub sets: Vec<ForFlag>,

    /// The Bedrock host the openai, anthropic and claude-code sets point at:
    /// runtime (bedrock-runtime) or mantle (bedrock-mantle) [default: runtime]
    #[arg(long, value_enum, value_name = "HOST", requires = "sets")]
    pub endpoint: Option<EndpointFlag>,
}

impl ClientFlags {
    /// The sets asked for, each once, in a fixed order; None when none was.
    pub fn sets(&self) -> Option<Vec<bedkey::clients::ClientSet>> {
        let mut sets: Vec<bedkey::clients::ClientSet> =
            self.sets.iter().map(|&s| s.into()).collect();
        sets.sort();
        sets.dedup();
        (!sets.is_empty()).then_some(sets)
    }

    pub fn surface(&self) -> bedkey::clients::Surface {
        self.endpoint.map(Into::into).unwrap_or_default()
    }
}

/// `bedkey --version`: the version and the commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("BEDKEY_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "bedkey",
    version = VERSION,
    about = "Create, store, refresh, rotate and load Amazon Bedrock API keys",
    long_about = "Create, store, refresh, rotate and load Amazon Bedrock API keys.\n\n\
        Programs that speak to Bedrock (boto3, the AWS CLI, LiteLLM, the Anthropic SDKs) \
        read the key from AWS_BEARER_TOKEN_BEDROCK; bedkey makes and keeps those keys.",
    after_help = "Exit codes: 0 success, 1 failure, 2 usage, 3 no such key, \
        4 AWS credentials, 5 secure store, 130 interrupted."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Output format
    #[arg(long, global = true, help_heading = "Global options", value_enum, default_value_t = Output::Text)]
    pub output: Output,

    /// Print only what was asked for: no notes or warnings
    #[arg(
        short,
        long,
        global = true,
        help_heading = "Global options",
        conflicts_with = "verbose"
    )]
    pub quiet: bool,

    /// Say more on stderr (never a secret)
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub verbose: bool,

    /// AWS profile from the shared config files (overrides credentials in the environment)
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "PROFILE"
    )]
    pub profile: Option<String>,

    /// AWS region [default: AWS_REGION, AWS_DEFAULT_REGION, then the profile's]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "REGION"
    )]
    pub region: Option<String>,

    /// Where secrets are kept: the OS keyring, the Linux kernel keyring, or an encrypted file
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_enum,
        env = "BEDKEY_STORE",
        default_value = "auto"
    )]
    pub store: StoreFlag,

    /// Directory of bedkey's key list [default: the platform's config dir + /bedkey]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "BEDKEY_CONFIG_DIR",
        value_name = "DIR"
    )]
    pub config_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
    /// Comma-separated values (`audit` only)
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Mint a short-term key from your AWS credentials and print it (stores nothing),
    /// or print the stored key NAME
    #[command(after_help = "Examples:\n  \
        bedkey token --region us-east-1\n  \
        export AWS_BEARER_TOKEN_BEDROCK=\"$(bedkey token --expires 1h)\"\n  \
        bedkey token work --min-ttl 1h      # a credential helper's command")]
    Token(Token),

    /// Decode a key offline: kind, region, expiry (never prints the secret)
    #[command(
        after_help = "The key is read from the argument, from stdin with '-', \
        or from $AWS_BEARER_TOKEN_BEDROCK.\nPrefer '-' or the variable: arguments are \
        visible to other users in the process list."
    )]
    Inspect(Inspect),

    /// Make a long-term key through IAM (or a short-term entry) and store it
    #[command(after_help = "Examples:\n  \
        bedkey create --days 30\n  \
        bedkey create app --allow-model us.anthropic.claude-sonnet-4-20250514-v1:0 --source-ip 203.0.113.0/24\n  \
        bedkey create ci --short-term --expires 1h --region us-east-1")]
    Create(Create),

    /// Store a key made elsewhere (the Bedrock console), read from stdin or a hidden prompt
    #[command(after_help = "Examples:\n  \
        bedkey import console --days 30      (paste the key at the hidden prompt)\n  \
        pbpaste | bedkey import console --expires-at 2026-12-31")]
    Import(Import),

    /// Print the lines that load a key into a shell: eval "$(bedkey env)"
    #[command(after_help = "Examples:\n  \
        eval \"$(bedkey env)\"\n  \
        bedkey env work --shell fish | source\n  \
        bedkey env ci --shell github          (in GitHub Actions)")]
    Env(Env),

    /// Run a command with a key in its environment
    #[command(after_help = "Examples:\n  \
        bedkey exec work -- aws bedrock list-foundation-models\n  \
        bedkey exec work --proxy -- litellm --config litellm.yaml   (runs for days)")]
    Exec(Exec),

    /// Serve a key on a local HTTPS endpoint that keeps it fresh, for programs started elsewhere
    #[command(after_help = "Examples:\n  \
        bedkey proxy work --env-file bedrock.env --ca-file certs/bedkey-ca.pem\n  \
        bedkey proxy work --listen 172.17.0.1:8443 --env-file bedrock.env   (a container on the bridge)")]
    Proxy(Proxy),

    /// List keys: name, kind, region, expiry, status, masked key
    List(List),

    /// Forget a key locally (its IAM credential, if any, is left alone)
    Remove(Remove),

    /// Change what bedkey records about a stored key (never its secret): region, expiry
    #[command(after_help = "Examples:\n  \
        bedkey set console --region us-east-1\n  \
        bedkey set console --expires-at 2026-12-31")]
    Set(Set),

    /// Delete a key's IAM credential, then forget the key; or, with --leaked, cut off a
    /// leaked key read from stdin
    #[command(after_help = "Examples:\n  \
        bedkey revoke work\n  \
        pbpaste | bedkey revoke --leaked --dry-run\n  \
        bedkey revoke --leaked --org --delete < leaked.txt   (from the management account)")]
    Revoke(Revoke),

    /// Replace a key's IAM credential with a new one, with no moment without a working key;
    /// with --due, every key that expires soon
    #[command(after_help = "Examples:\n  \
        bedkey rotate work\n  \
        bedkey rotate --due                              (cron: keys expiring within 7 days)\n  \
        bedkey rotate --due --within 14d --notify\n  \
        bedkey rotate --secret-id bedrock/team --due     (a scheduled CI job)")]
    Rotate(Rotate),

    /// One live, read-only call with the key (Bedrock's, or Claude Platform's for its
    /// keys): is it accepted, and if not why
    Verify(Verify),

    /// Share a long-term key through AWS Secrets Manager: write it to a secret
    #[command(after_help = "Examples:\n  \
        bedkey publish team --secret-id bedrock/team\n  \
        bedkey publish team --secret-id bedrock/team --secret-profile govcloud --secret-region us-gov-west-1")]
    Publish(Publish),

    /// Use a key shared through AWS Secrets Manager: read it now, and again when stale
    #[command(after_help = "Examples:\n  \
        bedkey pull team --secret-id bedrock/team\n  \
        bedkey pull team                      (read it again now)")]
    Pull(Pull),

    /// Every API key in the AWS account (or the organization), with findings (never
    /// expires, old, console-made, phantom access keys, broad policies)
    #[command(after_help = "Examples:\n  \
        bedkey audit\n  \
        bedkey audit --max-age 30 --strict --output json   (in a scheduled CI job)\n  \
        bedkey audit --org --role BedkeyAudit --output csv > keys.csv")]
    Audit(Audit),

    /// The scheduled job that runs `bedkey rotate --due --notify`: install, status, remove
    #[command(after_help = "Examples:\n  \
        bedkey schedule install                # daily, keys due within 7 days\n  \
        bedkey schedule install --every 12h --within 14d\n  \
        bedkey schedule status\n  \
        bedkey schedule remove")]
    Schedule(Schedule),

    /// Print the service control policy (or IAM policy) that enforces a rule on API keys
    #[command(after_help = "Examples:\n  \
        bedkey guard --deny long-term\n  \
        bedkey guard --max-age 90 --service all > scp.json\n  \
        bedkey guard --deny all --service claude-platform --iam")]
    Guard(Guard),

    /// Shell code that keeps AWS_BEARER_TOKEN_BEDROCK fresh in long-lived shells
    #[command(after_help = "Add to your profile:\n  \
        bash:  eval \"$(bedkey init bash)\"      (~/.bashrc)\n  \
        zsh:   eval \"$(bedkey init zsh)\"       (~/.zshrc)\n  \
        fish:  bedkey init fish | source      (~/.config/fish/config.fish)")]
    Init(Init),

    /// Which credentials, region and store bedkey would use, and why; keys near expiry
    Doctor,

    /// Print shell completions
    Completions(Completions),

    /// Print the man page (roff)
    Man,

    /// The version, the commit it was built from, the target and the build profile
    Version,
}

#[derive(Debug, Args)]
pub struct Token {
    /// A stored key to print instead, refreshed as `env` would (for credential
    /// helpers: Claude Desktop's inferenceCredentialHelper, scripts that need a key)
    #[arg(value_name = "NAME")]
    pub name: Option<String>,

    /// Lifetime: seconds (900) or with a unit (900s, 15m, 2h); 1s to 12h
    #[arg(
        long,
        value_name = "DUR",
        default_value = "12h",
        conflicts_with = "name"
    )]
    pub expires: String,

    /// With NAME: never print a key with less than this left (a short-term key is
    /// refreshed first; exit 2 when the key cannot last that long) [default: 5m]
    #[arg(long, value_name = "DUR", requires = "name")]
    pub min_ttl: Option<String>,

    /// The service to mint a key for: bedrock, or claude-platform (Claude Platform
    /// on AWS) [default: bedrock]
    #[arg(long, value_enum, value_name = "SERVICE", conflicts_with = "name")]
    pub service: Option<ServiceFlag>,
}

#[derive(Debug, Args)]
pub struct Inspect {
    /// The key, or '-' to read it from stdin [default: $AWS_BEARER_TOKEN_BEDROCK]
    #[arg(value_name = "KEY")]
    pub key: Option<String>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("scoped").multiple(true).args(["allow_models", "allow_mantle_models"])))]
pub struct Create {
    /// Key name
    #[arg(default_value = "default")]
    pub name: String,

    /// A short-term key entry instead: mint now, cache, refresh on use
    #[arg(long, conflicts_with_all = ["days", "no_expiry", "user", "policies", "allow_models", "allow_mantle_models", "dry_run", "policy_file", "tags"])]
    pub short_term: bool,

    /// With --short-term: lifetime of each minted key: 900, 900s, 15m, 2h; 1s to 12h [default: 12h]
    #[arg(long, value_name = "DUR", requires = "short_term")]
    pub expires: Option<String>,

    /// The key expires N days from now (1 to 36600) [default: 30]
    #[arg(long, value_name = "N", conflicts_with = "no_expiry")]
    pub days: Option<i64>,

    /// The key never expires (not recommended)
    #[arg(long)]
    pub no_expiry: bool,

    /// IAM user that owns the key; made if missing [default: bedkey-NAME]
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// Managed policy to attach instead of AmazonBedrockLimitedAccess (repeatable)
    #[arg(long = "policy", value_name = "ARN", conflicts_with = "allow_models")]
    pub policies: Vec<String>,

    /// Least privilege: allow only this model or inference profile, id or ARN (repeatable)
    #[arg(long = "allow-model", value_name = "ID")]
    pub allow_models: Vec<String>,

    /// Least privilege on Mantle (bedrock-mantle): allow only this Mantle model id,
    /// e.g. openai.gpt-oss-120b (repeatable; with --allow-model, both are allowed)
    #[arg(long = "allow-mantle-model", value_name = "ID", conflicts_with_all = ["policies", "policy_file"])]
    pub allow_mantle_models: Vec<String>,

    /// A custom policy from a JSON file, made a customer-managed policy and attached instead of AmazonBedrockLimitedAccess
    #[arg(long, value_name = "FILE", conflicts_with = "allow_models")]
    pub policy_file: Option<PathBuf>,

    /// With --policy-file: the managed policy's name [default: bedkey-NAME]
    #[arg(long, value_name = "NAME", requires = "policy_file")]
    pub policy_name: Option<String>,

    /// Tag the IAM user (repeatable)
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,

    /// With --allow-model or --allow-mantle-model: allow calls only from this address
    /// range (repeatable)
    #[arg(long = "source-ip", value_name = "CIDR", requires = "scoped")]
    pub source_ips: Vec<String>,

    /// Print the IAM calls and the policy, and make none of them
    #[arg(long)]
    pub dry_run: bool,

    /// The service the key is for: bedrock, or claude-platform (Claude Platform on
    /// AWS, whose default policy is AnthropicInferenceAccess) [default: bedrock]
    #[arg(long, value_enum, value_name = "SERVICE")]
    pub service: Option<ServiceFlag>,

    /// A Claude Platform key's workspace, stored with it (ANTHROPIC_AWS_WORKSPACE_ID)
    #[arg(long, value_name = "ID")]
    pub workspace_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct Import {
    /// Key name
    #[arg(default_value = "default")]
    pub name: String,

    /// When the key expires (YYYY-MM-DD or RFC 3339), as the console showed it
    #[arg(long, value_name = "DATE", conflicts_with = "days")]
    pub expires_at: Option<String>,

    /// The key expires N days from now (1 to 36600)
    #[arg(long, value_name = "N")]
    pub days: Option<i64>,

    /// The service the key is for; read from the key, so this only checks it
    #[arg(long, value_enum, value_name = "SERVICE")]
    pub service: Option<ServiceFlag>,

    /// A Claude Platform key's workspace, stored with it (ANTHROPIC_AWS_WORKSPACE_ID)
    #[arg(long, value_name = "ID")]
    pub workspace_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct Set {
    /// Key name (its region is set with --region)
    pub name: String,

    /// When the key expires (YYYY-MM-DD or RFC 3339), as the console showed it
    #[arg(long, value_name = "DATE", conflicts_with = "days")]
    pub expires_at: Option<String>,

    /// The key expires N days from now (1 to 36600)
    #[arg(long, value_name = "N")]
    pub days: Option<i64>,

    /// A Claude Platform key's workspace (ANTHROPIC_AWS_WORKSPACE_ID)
    #[arg(long, value_name = "ID")]
    pub workspace_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct Env {
    /// Key name
    #[arg(default_value = "default")]
    pub name: String,

    /// Output syntax [default: from $SHELL, else posix]
    #[arg(long, value_enum)]
    pub shell: Option<ShellFlag>,

    /// Also set BEDKEY_KEY_EXPIRES_AT (epoch seconds), as `bedkey init` uses it
    #[arg(long)]
    pub export_expiry: bool,

    #[command(flatten)]
    pub clients: ClientFlags,
}

#[derive(Debug, Args)]
pub struct Exec {
    /// Key name [default: default]
    pub name: Option<String>,

    /// Give the command a local HTTPS endpoint and a local token instead of the key;
    /// bedkey stays running, sending each request on with a key kept fresh
    #[arg(long)]
    pub proxy: bool,

    #[command(flatten)]
    pub clients: ClientFlags,

    /// The command and its arguments, after --
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct Proxy {
    /// Key name [default: default]
    pub name: Option<String>,

    /// Address to serve on: IP:PORT, or PORT on 127.0.0.1 [default: 127.0.0.1, a free port].
    /// An address off loopback is named in the certificate, and warned about
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// Write the client's variables here (mode 0600, KEY=value lines, as docker
    /// --env-file and systemd's EnvironmentFile read) instead of printing them
    #[arg(long, value_name = "PATH")]
    pub env_file: Option<std::path::PathBuf>,

    /// Write this run's CA certificate (public) here, for a client to trust
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub clients: ClientFlags,
}

#[derive(Debug, Args)]
pub struct List {
    /// Also list the IAM credentials of bedkey's users, marking those with no local secret
    #[arg(long)]
    pub remote: bool,

    /// Only the names, one a line (for shell completions)
    #[arg(long, hide = true, conflicts_with = "remote")]
    pub names: bool,
}

#[derive(Debug, Args)]
pub struct Rotate {
    /// Key name
    #[arg(required_unless_present_any = ["secret_id", "due"], conflicts_with = "due")]
    pub name: Option<String>,

    /// Every long-term key bedkey made that expires within --within, each with the
    /// lifetime it was made with; the rest that expire then are reported (cron, CI)
    #[arg(long, conflicts_with = "finish")]
    pub due: bool,

    /// With --due: how far ahead a key counts as due [default: 7d]
    #[arg(long, value_name = "DUR")]
    pub within: Option<String>,

    /// With --due: also raise a desktop notification for each key it could only report
    /// or could not rotate
    #[arg(long)]
    pub notify: bool,

    /// How long the old credential stays active after a published key is rotated,
    /// so that copies of it keep working [default: 2h for a published key, else 0]
    #[arg(long, value_name = "DUR")]
    pub grace: Option<String>,

    /// Only retire an old credential whose grace period is over (`--grace 0`: now)
    #[arg(long)]
    pub finish: bool,

    /// Rotate the key a secret holds, from the secret alone (no local bedkey state)
    #[arg(long, value_name = "ID", conflicts_with_all = ["name", "finish"])]
    pub secret_id: Option<String>,

    #[command(flatten)]
    pub secret: SecretFlags,
}

#[derive(Debug, Args)]
pub struct Verify {
    /// Key name
    #[arg(default_value = "default")]
    pub name: String,

    /// Where to make the one read-only call: bedrock (ListFoundationModels on the
    /// control plane) or mantle (GET /v1/models on bedrock-mantle); a Claude Platform
    /// key is always asked GET /v1/models on its platform
    #[arg(long, value_enum, value_name = "HOST", default_value = "bedrock")]
    pub endpoint: VerifyOn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerifyOn {
    /// Also spelled `runtime`, as `env --endpoint` has it.
    #[value(alias = "runtime")]
    Bedrock,
    Mantle,
}

/// Where a secret is, for publish and pull.
#[derive(Debug, Args)]
pub struct SecretFlags {
    /// Region of the secret [default: an ARN's own, else the key's, else the AWS region in effect]
    #[arg(long, value_name = "REGION")]
    pub secret_region: Option<String>,

    /// AWS profile for Secrets Manager [default: --profile]; another account or partition
    #[arg(long, value_name = "PROFILE")]
    pub secret_profile: Option<String>,
}

#[derive(Debug, Args)]
pub struct Publish {
    /// Key name
    pub name: String,

    /// The secret: a name (made if missing) or an ARN
    #[arg(long, value_name = "ID")]
    pub secret_id: String,

    #[command(flatten)]
    pub secret: SecretFlags,

    /// KMS key for a secret bedkey makes
    #[arg(long, value_name = "KEY")]
    pub kms_key_id: Option<String>,

    /// Store the bare key, not bedkey's JSON object
    #[arg(long)]
    pub raw: bool,
}

#[derive(Debug, Args)]
pub struct Pull {
    /// Key name for the shared entry
    pub name: String,

    /// The secret to read [default: the entry's own: read it again now]
    #[arg(long, value_name = "ID")]
    pub secret_id: Option<String>,

    #[command(flatten)]
    pub secret: SecretFlags,
}

#[derive(Debug, Args)]
pub struct Audit {
    /// Report keys older than this many days
    #[arg(long, value_name = "DAYS", default_value_t = 90, value_parser = clap::value_parser!(i64).range(1..=36600))]
    pub max_age: i64,

    /// Exit 1 on any strict finding (never expires, older than --max-age, console-made,
    /// phantom-access-key, broad-policy), and when an account could not be read
    #[arg(long)]
    pub strict: bool,

    /// Whose keys: bedrock, claude-platform, or all (also CloudWatch's and CloudWatch
    /// Logs')
    #[arg(long, value_enum, value_name = "SERVICE", default_value = "all")]
    pub service: AuditServiceFlag,

    /// Every account of the AWS Organization (from the management account or a
    /// delegated administrator), each through --role
    #[arg(long)]
    pub org: bool,

    /// With --org: the role to assume in each account
    #[arg(long, visible_alias = "org-role", value_name = "ROLE", default_value = bedkey::org::DEFAULT_ROLE, requires = "org")]
    pub role: String,

    /// With --org: only these accounts (comma-separated 12-digit ids)
    #[arg(long, value_name = "ID,…", requires = "org")]
    pub accounts: Vec<String>,

    /// With --org: leave these accounts out
    #[arg(long, value_name = "ID,…", requires = "org")]
    pub skip: Vec<String>,

    /// With --org: at most this many accounts at once
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64), requires = "org")]
    pub concurrency: u16,
}

#[derive(Debug, Args)]
pub struct Revoke {
    /// Key name
    #[arg(required_unless_present = "leaked", conflicts_with = "leaked")]
    pub name: Option<String>,

    /// Do not ask for confirmation
    #[arg(short, long)]
    pub yes: bool,

    /// Forget the key even when its secure store cannot be reached (says what may be left in it)
    #[arg(long, conflicts_with = "leaked")]
    pub force: bool,

    /// Incident response: cut off a leaked key, read from stdin (never an argument)
    #[arg(long)]
    pub leaked: bool,

    /// With --leaked: say what would be done, change nothing
    #[arg(long, requires = "leaked")]
    pub dry_run: bool,

    /// With --leaked: delete the credential or access key, not only deactivate it
    #[arg(long, requires = "leaked")]
    pub delete: bool,

    /// With --leaked: the credential to cut when several carry the key's alias
    #[arg(long, value_name = "ID", requires = "leaked")]
    pub credential_id: Option<String>,

    /// With --leaked: the role whose session signed a short-term key, when CloudTrail
    /// does not name it
    #[arg(long, value_name = "ARN", requires = "leaked")]
    pub role: Option<String>,

    /// With --leaked: find the key's account in the AWS Organization and enter it
    /// through --org-role
    #[arg(long, requires = "leaked")]
    pub org: bool,

    /// With --org: the role to assume in the key's account
    #[arg(long, value_name = "ROLE", default_value = bedkey::org::DEFAULT_ROLE, requires = "org")]
    pub org_role: String,
}

#[derive(Debug, Args)]
pub struct Schedule {
    #[command(subcommand)]
    pub action: ScheduleAction,
}

#[derive(Debug, Subcommand)]
pub enum ScheduleAction {
    /// Install the job for this user (a systemd user timer, a launchd agent, or a Task
    /// Scheduler task), with this shell's config dir, store and AWS profile
    Install {
        /// How often it runs: a period that divides a day, or a week (15m, 1h, 6h, 12h, 1d, 7d)
        #[arg(long, value_name = "DUR", default_value = "1d")]
        every: String,

        /// How far ahead a key counts as due
        #[arg(long, value_name = "DUR", default_value = "7d")]
        within: String,
    },
    /// The job, its last run and its outcome
    Status,
    /// Take away exactly what install made
    Remove,
}

/// `guard --deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DenyFlag {
    /// Every use of the services' API keys, and making long-term ones
    All,
    /// Long-term keys: using them and making them
    LongTerm,
}

#[derive(Debug, Args)]
pub struct Guard {
    /// Deny API keys: all of them, or the long-term ones
    #[arg(long, value_enum, value_name = "WHICH")]
    pub deny: Option<DenyFlag>,

    /// Deny making long-term keys that live longer than DAYS, or never expire
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(i64).range(1..=36600))]
    pub max_age: Option<i64>,

    /// Whose keys: bedrock, claude-platform, or all (both)
    #[arg(long, value_enum, value_name = "SERVICE", default_value = "bedrock")]
    pub service: AuditServiceFlag,

    /// An IAM policy (to attach to users, groups or roles) instead of an SCP
    #[arg(long)]
    pub iam: bool,
}

#[derive(Debug, Args)]
pub struct Remove {
    /// Key name
    pub name: String,

    /// Do not ask for confirmation
    #[arg(short, long)]
    pub yes: bool,

    /// Forget the key even when its secure store cannot be reached (says what may be left there)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct Init {
    #[arg(value_enum)]
    pub shell: InitShellFlag,

    /// Key name
    #[arg(default_value = "default")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct Completions {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Whether `flag` (a long flag) is on the command line itself, as `--flag VALUE` or
/// `--flag=VALUE`, rather than taken from its environment variable.
pub fn given(flag: &str) -> bool {
    std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| {
            let a = a.to_string_lossy();
            a == flag
                || a.strip_prefix(flag)
                    .is_some_and(|rest| rest.starts_with('='))
        })
}

/// Parse argv. `--help` and `--version` print and exit as usual; a usage mistake
/// becomes one `bedkey: error:` line (exit 2) like every other failure.
pub fn parse() -> bedkey::error::Result<Cli> {
    use clap::error::ErrorKind;
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.exit()
        }
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            std::process::exit(2)
        }
        Err(e) => {
            let (message, hint) = one_line(&e.render().to_string(), subcommand().as_deref());
            Err(bedkey::error::Error::usage(message).with_hint(hint))
        }
    }
}

/// The subcommand named on the command line, if one is: the first argument that is
/// one, skipping the values of global flags.
fn subcommand() -> Option<String> {
    let command = Cli::command();
    let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if [
            "--output",
            "--profile",
            "--region",
            "--store",
            "--config-dir",
        ]
        .contains(&arg.as_str())
        {
            args.next();
        } else if names.contains(&arg.as_str()) {
            return Some(arg);
        } else if !arg.starts_with('-') {
            return None;
        }
    }
    None
}

/// A subcommand's usage line as its definition has it, not as clap renders it for
/// an error (which lists arguments given through their variables as if required).
fn usage_of(name: &str) -> Option<String> {
    let mut command = Cli::command();
    command.build();
    let sub = command.find_subcommand_mut(name)?;
    let usage = sub.render_usage().to_string();
    Some(usage.trim().trim_start_matches("Usage: ").to_string())
}

/// clap's message folded onto one line (a list of missing arguments included), and
/// its tip, or the usage of `subcommand`, or its help, as the hint.
fn one_line(rendered: &str, subcommand: Option<&str>) -> (String, String) {
    let mut message = Vec::new();
    let mut tip = None;
    let mut usage = None;
    for line in rendered.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(t) = line.strip_prefix("tip: ") {
            tip = Some(t.to_string());
        } else if let Some(u) = line.strip_prefix("Usage: ") {
            usage = Some(u.to_string());
        } else if line.starts_with("For more information") {
        } else {
            message.push(line.strip_prefix("error: ").unwrap_or(line));
        }
    }
    let message = if message.is_empty() {
        "invalid command line".to_string()
    } else {
        message.join(" ")
    };
    let usage = match (usage, subcommand) {
        (Some(_), Some(sub)) => usage_of(sub),
        (usage, _) => usage,
    };
    let help = match subcommand {
        Some(sub) => format!("see `bedkey {sub} --help`"),
        None => "see `bedkey --help`".to_string(),
    };
    let hint = tip
        .or_else(|| usage.map(|u| format!("usage: {u}")))
        .unwrap_or(help);
    (message, hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_argument_is_named_on_one_line() {
        let e = Cli::try_parse_from(["bedkey", "remove"]).unwrap_err();
        let (message, hint) = one_line(&e.render().to_string(), Some("remove"));
        assert_eq!(
            message,
            "the following required arguments were not provided: <NAME>"
        );
        assert!(hint.starts_with("usage: bedkey remove"), "{hint}");
    }

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }
}
