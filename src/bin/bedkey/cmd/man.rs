//! `bedkey man`: one man page with every command and its flags, the environment
//! variables bedkey reads, and its exit codes.

use clap::CommandFactory;
use roff::{Roff, bold, italic, roman};

use crate::cli::Cli;
use crate::cmd::{Context, Run};
use bedkey::error::{Error, Result};

pub struct Man;

impl Run for Man {
    fn run(&self, _ctx: &Context) -> Result<()> {
        let mut command = Cli::command();
        command.build();
        let page = clap_mangen::Man::new(command.clone());
        let mut text = Vec::new();
        let fail = |e: std::io::Error| Error::failure(format!("cannot render the man page: {e}"));
        page.render_title(&mut text).map_err(fail)?;
        page.render_name_section(&mut text).map_err(fail)?;
        page.render_synopsis_section(&mut text).map_err(fail)?;
        page.render_description_section(&mut text).map_err(fail)?;
        page.render_options_section(&mut text).map_err(fail)?;
        text.extend(commands(&command).to_roff().into_bytes());
        text.extend(environment().to_roff().into_bytes());
        text.extend(exit_status().to_roff().into_bytes());
        page.render_version_section(&mut text).map_err(fail)?;
        crate::output::stdout_bytes(&text)
    }
}

/// COMMANDS: each subcommand (and each of a subcommand's own, as `schedule install`),
/// its usage, what it does, and its own flags with their defaults.
fn commands(command: &clap::Command) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    for sub in command.get_subcommands() {
        if sub.has_subcommands() {
            for nested in sub.get_subcommands().filter(|n| n.get_name() != "help") {
                section(&mut roff, nested, &format!("bedkey {}", sub.get_name()));
            }
        } else {
            section(&mut roff, sub, "bedkey");
        }
    }
    roff
}

fn section(roff: &mut Roff, sub: &clap::Command, parent: &str) {
    let usage = sub
        .clone()
        .bin_name(format!("{parent} {}", sub.get_name()))
        .render_usage()
        .to_string();
    let usage = usage.trim().trim_start_matches("Usage: ");
    roff.control("SS", [usage]);
    if let Some(about) = sub.get_long_about().or(sub.get_about()) {
        roff.text([roman(about.to_string())]);
    }
    for arg in sub
        .get_arguments()
        .filter(|a| !a.is_global_set() && !a.is_hide_set() && a.get_id() != "help")
    {
        let mut name = match (arg.get_short(), arg.get_long()) {
            (Some(s), Some(l)) => format!("-{s}, --{l}"),
            (None, Some(l)) => format!("--{l}"),
            (Some(s), None) => format!("-{s}"),
            (None, None) => arg
                .get_value_names()
                .map(|v| {
                    v.iter()
                        .map(|n| format!("<{n}>"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_else(|| arg.get_id().to_string()),
        };
        if arg.get_long().is_some()
            && arg.get_action().takes_values()
            && let Some(values) = arg.get_value_names()
        {
            name.push_str(&format!(" <{}>", values[0]));
        }
        roff.control("TP", []);
        roff.text([bold(name)]);
        let mut help = arg
            .get_long_help()
            .or(arg.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        let values: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_string())
            .collect();
        if !values.is_empty()
            && arg.get_action().takes_values()
            && !help.contains("possible values")
        {
            help.push_str(&format!(" [possible values: {}]", values.join(", ")));
        }
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().to_string())
            .collect();
        if !defaults.is_empty() && arg.get_action().takes_values() && !help.contains("[default:") {
            help.push_str(&format!(" [default: {}]", defaults.join(",")));
        }
        roff.text([roman(help)]);
    }
}

/// ENVIRONMENT: bedkey's own variables, and the AWS ones it honours.
fn environment() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["ENVIRONMENT"]);
    let aws: [(&str, &str); 6] = [
        ("AWS_PROFILE", "the AWS profile, unless --profile names one"),
        (
            "AWS_REGION, AWS_DEFAULT_REGION",
            "the AWS region, unless --region names one",
        ),
        (
            "AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_IAM, AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL_ORGANIZATIONS, AWS_ENDPOINT_URL_CLOUDTRAIL, AWS_ENDPOINT_URL_BEDROCK, AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            "endpoints, as the AWS SDKs read them (empty means unset)",
        ),
        (
            "AWS_CA_BUNDLE",
            "the certificates bedkey trusts for Bedrock, instead of the system's",
        ),
        ("NO_COLOR", "no colour on stderr"),
        (
            "GITHUB_ACTIONS, GITHUB_ENV",
            "in GitHub Actions: keys are masked; env --shell github appends to GITHUB_ENV",
        ),
    ];
    for (name, what) in bedkey::settings::VARIABLES.iter().chain(aws.iter()) {
        roff.control("TP", []);
        roff.text([bold(*name)]);
        roff.text([roman(*what)]);
    }
    roff
}

fn exit_status() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    for (code, what) in [
        ("0", "success"),
        (
            "1",
            "any other failure (network, an AWS error not listed below)",
        ),
        (
            "2",
            "usage: a bad flag, a value out of range, a malformed key or name",
        ),
        ("3", "no such key"),
        (
            "4",
            "AWS credentials: none found, expired, or access denied",
        ),
        ("5", "the secure store is unavailable or refused"),
        ("130", "interrupted or cancelled"),
    ] {
        roff.control("TP", []);
        roff.text([bold(code)]);
        roff.text([roman(what)]);
    }
    // A new paragraph: after the last .TP item, text would run into its body.
    roff.control("PP", []);
    roff.text([
        roman("Every failure is one "),
        italic("bedkey: error:"),
        roman(" line on stderr, often followed by a hint."),
    ]);
    roff
}
