//! Shells: how to set variables safely in each (`bedkey env`), and the profile code
//! that keeps a long-lived shell's key fresh (`bedkey init`).

use crate::error::{Error, Result};

pub const KEY_VAR: &str = "AWS_BEARER_TOKEN_BEDROCK";
/// Set by `env --export-expiry`: when the exported key stops working (epoch seconds).
pub const EXPIRY_VAR: &str = "BEDKEY_KEY_EXPIRES_AT";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Posix,
    Fish,
    Powershell,
    Cmd,
    Nu,
    Dotenv,
    Json,
    Github,
}

impl Format {
    /// From `$SHELL`'s name, else posix.
    pub fn from_env() -> Format {
        let shell = std::env::var("SHELL").unwrap_or_default();
        let name = shell.rsplit(['/', '\\']).next().unwrap_or("");
        let name = name.strip_suffix(".exe").unwrap_or(name);
        match name {
            "fish" => Format::Fish,
            "nu" => Format::Nu,
            "pwsh" | "powershell" => Format::Powershell,
            _ => Format::Posix,
        }
    }
}

/// The lines that set `vars` in `format`. Values that the format cannot carry
/// safely are refused rather than mangled.
pub fn render(format: Format, vars: &[(&str, &str)]) -> Result<String> {
    for (name, value) in vars {
        if value.contains(['\n', '\r', '\0']) {
            return Err(Error::usage(format!(
                "the value of {name} has a line break; refusing to print it for a shell"
            )));
        }
    }
    let mut out = String::new();
    match format {
        Format::Github => out = github_env(vars),
        Format::Json => {
            let map: serde_json::Map<String, serde_json::Value> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
                .collect();
            out = serde_json::to_string_pretty(&map).unwrap_or_default();
            out.push('\n');
        }
        Format::Nu => {
            // A record literal with JSON strings: valid nu, escapes and all.
            let fields: Vec<String> = vars
                .iter()
                .map(|(k, v)| format!("{k}: {}", json_string(v)))
                .collect();
            out = format!("load-env {{{}}}\n", fields.join(", "));
        }
        _ => {
            for (name, value) in vars {
                let line = match format {
                    Format::Posix => format!("export {name}={}", posix_quote(value)),
                    Format::Fish => format!("set -gx {name} {}", fish_quote(value)),
                    Format::Powershell => format!("$Env:{name} = {}", powershell_quote(value)),
                    Format::Cmd => format!("set \"{name}={}\"", cmd_value(name, value)?),
                    Format::Dotenv => format!("{name}={}", dotenv_value(value)),
                    Format::Json | Format::Github | Format::Nu => unreachable!(),
                };
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// `$GITHUB_ENV` lines: `NAME<<DELIM` heredocs, safe whatever the value holds.
pub fn github_env(vars: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (name, value) in vars {
        let mut delimiter = String::from("BEDKEY_EOF");
        while value.contains(&delimiter) {
            delimiter.push('_');
        }
        out.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
    }
    out
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// Single quotes; a quote inside becomes `'\''`.
pub fn posix_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// fish single quotes: only `\` and `'` are special inside.
fn fish_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', r"\\").replace('\'', r"\'"))
}

/// PowerShell single quotes: a quote is doubled. PowerShell also takes the curly
/// quotes as single quotes, so they are doubled too.
fn powershell_quote(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// cmd.exe has no quoting that stops `%` and `!` expansion: such values are refused.
fn cmd_value<'a>(name: &str, s: &'a str) -> Result<&'a str> {
    if s.contains(['"', '%', '!', '^']) {
        return Err(Error::usage(format!(
            "the value of {name} has a character cmd.exe cannot quote (\" % ! ^)"
        ))
        .with_hint("use --shell powershell or --shell json"));
    }
    Ok(s)
}

/// Bare when the value is plain (what `docker --env-file` needs, since it does not
/// unquote); otherwise double-quoted with escapes, as dotenv libraries read it.
fn dotenv_value(s: &str) -> String {
    if dotenv_bare(s) {
        s.to_string()
    } else {
        json_string(s)
    }
}

/// Whether a value goes in a dotenv line as it is, with no quotes, for any dotenv
/// reader.
pub fn dotenv_bare(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"+/=._-:@,".contains(&c))
}

/// Whether an unquoted `KEY=value` line carries the value exactly to both readers of
/// an env file bedkey writes: docker's `--env-file` (the rest of the line, literally)
/// and systemd's `EnvironmentFile` (which strips outer spaces, unquotes and
/// unescapes). So no quote, backslash, `$` or `#`, and spaces only inside: an IPv6
/// endpoint (`https://[::1]:8443`) and a path with a space pass.
pub fn env_file_plain(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(' ')
        && !s.ends_with(' ')
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"+/=._-:@,[] ".contains(&c))
}

/// Profile code for `bedkey init`: refresh the key at a prompt only when its recorded
/// expiry is near, so a prompt costs no process while the key is fresh. `globals` are
/// the global flags `init` was given (`--config-dir DIR`, `--store file`, …), passed
/// on to each `bedkey env` the hook runs.
pub fn init_script(shell: InitShell, name: &str, globals: &[String]) -> String {
    let quoted = |quote: fn(&str) -> String| -> String {
        globals.iter().map(|g| format!("{} ", quote(g))).collect()
    };
    match shell {
        InitShell::Bash | InitShell::Zsh => posix_init(shell, name, &quoted(posix_quote)),
        InitShell::Fish => fish_init(name, &quoted(fish_quote)),
    }
}

/// bash's and zsh's hook: they read the clock without a process.
fn posix_init(shell: InitShell, name: &str, flags: &str) -> String {
    let name_q = posix_quote(name);
    let (clock, hook) = if shell == InitShell::Bash {
        (
            r#"  local now
  if [ -n "${EPOCHSECONDS-}" ]; then now=$EPOCHSECONDS
  else printf -v now '%(%s)T' -1 2>/dev/null || now=$(date +%s); fi"#,
            r#"case ";${PROMPT_COMMAND-};" in
  *";__bedkey_refresh;"*) ;;
  *) PROMPT_COMMAND="__bedkey_refresh${PROMPT_COMMAND:+;$PROMPT_COMMAND}" ;;
esac"#,
        )
    } else {
        (
            r#"  zmodload -F zsh/datetime p:EPOCHSECONDS 2>/dev/null
  local now=${EPOCHSECONDS:-$(date +%s)}"#,
            r#"autoload -Uz add-zsh-hook
add-zsh-hook precmd __bedkey_refresh"#,
        )
    };
    format!(
        r#"# bedkey: keep key {name}'s variables ({KEY_VAR}, or a Claude Platform key's) fresh in this shell.
# Add to your profile: eval "$(bedkey {flags}init {shell} {name})"
__bedkey_refresh() {{
{clock}
  if [ -n "${{{EXPIRY_VAR}-}}" ] && [ "$now" -lt "$(( {EXPIRY_VAR} - ${{BEDKEY_REFRESH_BEFORE:-300}} ))" ]; then
    return 0
  fi
  local __bedkey_env
  if __bedkey_env=$(BEDKEY_MIN_TTL=${{BEDKEY_REFRESH_BEFORE:-300}} command bedkey {flags}env {name_q} --shell posix --export-expiry); then
    eval "$__bedkey_env"
  fi
  # Failed, or a key that is already due (expired, or cut short by its credentials):
  # try again in a minute rather than at every prompt.
  if [ "$now" -ge "$(( ${{{EXPIRY_VAR}:-0}} - ${{BEDKEY_REFRESH_BEFORE:-300}} ))" ]; then
    export {EXPIRY_VAR}=$(( now + 60 + ${{BEDKEY_REFRESH_BEFORE:-300}} ))
  fi
}}
{hook}
__bedkey_refresh
"#,
        shell = shell.as_str(),
    )
}

/// fish's hook: it has no clock builtin, so the one `date` a prompt is the price.
fn fish_init(name: &str, flags: &str) -> String {
    let name_q = posix_quote(name);
    format!(
        r#"# bedkey: keep key {name}'s variables ({KEY_VAR}, or a Claude Platform key's) fresh in this shell.
# Add to ~/.config/fish/config.fish: bedkey {flags}init fish {name} | source
function __bedkey_refresh --on-event fish_prompt
    # fish has no clock builtin: the one `date` a prompt is the price of freshness.
    set -l now (date +%s)
    set -q BEDKEY_REFRESH_BEFORE; or set -l BEDKEY_REFRESH_BEFORE 300
    if set -q {EXPIRY_VAR}; and test $now -lt (math ${EXPIRY_VAR} - $BEDKEY_REFRESH_BEFORE)
        return 0
    end
    set -l lines (env BEDKEY_MIN_TTL=$BEDKEY_REFRESH_BEFORE bedkey {flags}env {name_q} --shell fish --export-expiry)
    and string join \n -- $lines | source
    # Failed, or a key already due: try again in a minute, not at every prompt.
    if not set -q {EXPIRY_VAR}; or test $now -ge (math ${EXPIRY_VAR} - $BEDKEY_REFRESH_BEFORE)
        set -gx {EXPIRY_VAR} (math $now + 60 + $BEDKEY_REFRESH_BEFORE)
    end
end
__bedkey_refresh
"#
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitShell {
    Bash,
    Zsh,
    Fish,
}

impl InitShell {
    pub fn as_str(self) -> &'static str {
        match self {
            InitShell::Bash => "bash",
            InitShell::Zsh => "zsh",
            InitShell::Fish => "fish",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWKWARD: &str = "it's $HOME `x` \"q\" \\ ; & | * ?";

    #[test]
    fn posix_values_survive_any_quote() {
        assert_eq!(posix_quote("a'b"), r"'a'\''b'");
        let out = render(Format::Posix, &[("X", "ab+/=")]).unwrap();
        assert_eq!(out, "export X='ab+/='\n");
    }

    #[test]
    fn fish_and_powershell_escape_their_quotes() {
        assert_eq!(fish_quote(r"a'b\c"), r"'a\'b\\c'");
        assert_eq!(powershell_quote("a'b\u{2019}c"), "'a''b\u{2019}\u{2019}c'");
    }

    #[test]
    fn cmd_refuses_what_it_cannot_quote() {
        assert!(render(Format::Cmd, &[("X", "ab+/=")]).is_ok());
        assert!(render(Format::Cmd, &[("X", "50%")]).is_err());
        assert!(render(Format::Cmd, &[("X", "a\"b")]).is_err());
    }

    #[test]
    fn dotenv_is_bare_when_plain_and_quoted_otherwise() {
        assert_eq!(
            render(Format::Dotenv, &[("X", "ab+/=")]).unwrap(),
            "X=ab+/=\n"
        );
        assert_eq!(
            render(Format::Dotenv, &[("X", "a b")]).unwrap(),
            "X=\"a b\"\n"
        );
    }

    #[test]
    fn line_breaks_are_refused_everywhere() {
        for f in [Format::Posix, Format::Fish, Format::Json, Format::Nu] {
            assert!(render(f, &[("X", "a\nb")]).is_err());
        }
    }

    #[test]
    fn json_and_nu_escape_awkward_values() {
        let json = render(Format::Json, &[("X", AWKWARD)]).unwrap();
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["X"], AWKWARD);
        let nu = render(Format::Nu, &[("X", "a\"b")]).unwrap();
        assert_eq!(nu, "load-env {X: \"a\\\"b\"}\n");
    }

    #[test]
    fn github_env_uses_a_delimiter_the_value_does_not_hold() {
        let out = github_env(&[("X", "BEDKEY_EOF")]);
        assert_eq!(out, "X<<BEDKEY_EOF_\nBEDKEY_EOF\nBEDKEY_EOF_\n");
    }

    #[test]
    fn init_scripts_name_the_key_and_the_expiry_variable() {
        for shell in [InitShell::Bash, InitShell::Zsh, InitShell::Fish] {
            let s = init_script(shell, "work", &[]);
            assert!(s.contains("bedkey env 'work'"), "{s}");
            assert!(s.contains(EXPIRY_VAR));
        }
    }
}
