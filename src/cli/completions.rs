//! `nflbet completions <shell>`: shell completion scripts, generated from the same clap
//! definition the binary parses with, so they never drift from the real flags.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

#[derive(Args, Debug)]
#[command(after_help = "Install, for example:\n  \
bash:       nflbet completions bash > ~/.local/share/bash-completion/completions/nflbet\n  \
zsh:        nflbet completions zsh > \"${fpath[1]}/_nflbet\"\n  \
fish:       nflbet completions fish > ~/.config/fish/completions/nflbet.fish\n  \
powershell: nflbet completions powershell >> $PROFILE")]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Write the completion script to standard output.
pub fn run(args: &CompletionsArgs) -> anyhow::Result<()> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "nflbet", &mut std::io::stdout());
    Ok(())
}
