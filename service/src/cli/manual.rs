//! `completions` and `man`: shell completion scripts and roff manual pages
//! generated from the command line's own clap definition, so that they
//! list exactly the commands and flags `--help` does.

use clap::Command;
use clap_complete::Shell;
use clap_mangen::Man;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The completion script of `shell` for `cmd`.
pub fn completions(shell: Shell, mut cmd: Command) -> Vec<u8> {
    let name = cmd.get_name().to_string();
    // Into memory: clap_complete panics on a failed write (a closed pipe),
    // which the caller can report instead.
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    out
}

/// The manual page of `cmd`, listing its subcommands: roff, whose first
/// request is `.TH` once the roff crate's definition of the apostrophe
/// (`.ie`/`.el`) is past.
pub fn page(cmd: Command) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    Man::new(cmd).render(&mut out)?;
    Ok(out)
}

/// `cmd`'s page and one per subcommand (`afterlog-logs.1`, …), written
/// into `dir` (created if missing); the files written.
pub fn write_pages(cmd: Command, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    // Built, subcommands know their full name (`afterlog-logs`), which
    // names their page.
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    write_tree(cmd, dir, &mut written)?;
    Ok(written)
}

fn write_tree(cmd: Command, dir: &Path, written: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_tree(sub.clone(), dir, written)?;
    }
    let man = Man::new(cmd);
    let path = dir.join(man.get_filename());
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
    man.render(&mut f)?;
    f.flush()?;
    written.push(path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn cmd() -> Command {
        Command::new("tool")
            .about("A tool")
            .subcommand(
                Command::new("logs")
                    .about("Print logs")
                    .arg(Arg::new("grep").long("grep").action(ArgAction::Append)),
            )
            .subcommand(Command::new("secret").hide(true))
    }

    #[test]
    fn every_shell_gets_a_script_with_the_flags() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let s = String::from_utf8(completions(shell, cmd())).unwrap();
            assert!(s.contains("logs") && s.contains("grep"), "{shell}: {s}");
        }
    }

    /// The first line past the apostrophe's definition.
    pub fn title(page: &str) -> &str {
        page.lines()
            .find(|l| !l.starts_with(".ie ") && !l.starts_with(".el "))
            .unwrap_or("")
    }

    #[test]
    fn pages_are_roff_one_per_visible_command() {
        let p = String::from_utf8(page(cmd()).unwrap()).unwrap();
        assert!(title(&p).starts_with(".TH tool 1"), "{p}");
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("man1");
        let mut names: Vec<String> = write_pages(cmd(), &out)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["tool-logs.1", "tool.1"]);
        let logs = std::fs::read_to_string(out.join("tool-logs.1")).unwrap();
        assert!(title(&logs).starts_with(".TH tool-logs 1"), "{logs}");
        assert!(logs.contains("grep"), "{logs}");
    }
}
