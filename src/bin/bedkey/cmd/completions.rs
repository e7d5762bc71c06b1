//! `bedkey completions SHELL`: clap's completions, and for bash, zsh and fish the
//! names of stored keys where a command takes one (read at completion time with the
//! hidden `bedkey list --names`, which opens no store).

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, Completions};
use crate::cmd::{Context, Run};
use bedkey::error::Result;

/// The commands whose first argument is the name of a stored key.
const TAKE_A_NAME: [&str; 10] = [
    "env", "exec", "proxy", "remove", "revoke", "rotate", "verify", "publish", "pull", "set",
];

impl Run for Completions {
    fn run(&self, _ctx: &Context) -> Result<()> {
        let mut cmd = Cli::command();
        // Rendered first: clap_complete panics on a failed write.
        let mut text = Vec::new();
        clap_complete::generate(self.shell, &mut cmd, "bedkey", &mut text);
        let text = String::from_utf8_lossy(&text).into_owned();
        let text = match self.shell {
            Shell::Bash => bash(text, &value_flags(&cmd)),
            Shell::Zsh => zsh(&text),
            Shell::Fish => fish(text),
            _ => text,
        };
        crate::output::stdout_bytes(text.as_bytes())
    }
}

/// Every long flag that takes a value: its value is never a command or a key name.
fn value_flags(cmd: &clap::Command) -> Vec<String> {
    let mut flags: Vec<String> = cmd
        .get_subcommands()
        .chain(std::iter::once(cmd))
        .flat_map(|c| c.get_arguments())
        .filter(|a| a.get_action().takes_values())
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

/// bash: clap's function, then the stored names at a command's first argument.
fn bash(mut text: String, value_flags: &[String]) -> String {
    let script = format!(
        r#"
# Stored key names where a command takes one.
_bedkey_with_names() {{
    _bedkey "$@"
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}} i sub= args=0
    case "$cur" in -*) return 0 ;; esac
    case "$prev" in {flags}) return 0 ;; esac
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            --) return 0 ;;
            {flags}) ((i++)) ;;
            -*) ;;
            *) if [ -z "$sub" ]; then sub=${{COMP_WORDS[i]}}; else args=$((args + 1)); fi ;;
        esac
    done
    [ "$args" -eq 0 ] || return 0
    case "$sub" in
        {names})
            COMPREPLY=($(compgen -W "$(command bedkey list --names 2>/dev/null)" -- "$cur")) ;;
    esac
}}
complete -F _bedkey_with_names -o nosort -o bashdefault -o default bedkey
"#,
        flags = value_flags.join("|"),
        names = TAKE_A_NAME.join("|"),
    );
    text.push_str(&script);
    text
}

/// zsh: each such command's name argument completes with `_bedkey_names`.
fn zsh(text: &str) -> String {
    let mut out = String::new();
    let mut within = None;
    for line in text.lines() {
        if let Some(sub) = line.strip_prefix('(').and_then(|l| l.strip_suffix(')')) {
            within = TAKE_A_NAME.contains(&sub).then_some(sub);
        }
        let is_name = line.starts_with("':name -- ") || line.starts_with("'::name -- ");
        match line.strip_suffix(":_default' \\") {
            Some(head) if within.is_some() && is_name => {
                out.push_str(head);
                out.push_str(":_bedkey_names' \\");
            }
            _ => out.push_str(line),
        }
        out.push('\n');
        if line.starts_with("#compdef") {
            out.push_str(
                "\n_bedkey_names() {\n    local -a names\n    names=(${(f)\"$(command bedkey list --names 2>/dev/null)\"})\n    compadd -a names\n}\n",
            );
        }
    }
    out
}

/// fish: the stored names as arguments of each such command.
fn fish(mut text: String) -> String {
    text.push_str("\n# Stored key names where a command takes one.\n");
    for sub in TAKE_A_NAME {
        text.push_str(&format!(
            "complete -c bedkey -n \"__fish_bedkey_using_subcommand {sub}\" -f -a \"(command bedkey list --names 2>/dev/null)\"\n"
        ));
    }
    text
}
