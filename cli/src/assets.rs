//! The man pages and shell completions packagers ship, generated from the clap definition so
//! they cannot drift from the real command line.

use std::fs;
use std::io;
use std::path::Path;

use clap_complete::Shell;

/// Writes `man/mapi-logoff.1` (and one page per subcommand, `mapi-logoff-simulate.1`, …) and
/// `completions/{mapi-logoff.bash,_mapi-logoff,mapi-logoff.fish}` below `dir`.
pub fn generate(mut command: clap::Command, dir: &Path) -> io::Result<()> {
    let man = dir.join("man");
    let completions = dir.join("completions");
    fs::create_dir_all(&man)?;
    fs::create_dir_all(&completions)?;
    command.build();
    write_man(&command, "mapi-logoff", &man)?;
    for sub in command.get_subcommands() {
        // `help` is clap's own; hidden commands (this one) are not for users.
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        write_man(sub, &format!("mapi-logoff-{}", sub.get_name()), &man)?;
    }
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut command, "mapi-logoff", &completions)?;
    }
    Ok(())
}

fn write_man(command: &clap::Command, name: &str, dir: &Path) -> io::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone().name(name.to_owned())).render(&mut page)?;
    fs::write(dir.join(format!("{name}.1")), page)
}
