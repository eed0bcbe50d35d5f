//! Messages for the person at the terminal, on stderr.

use crate::client::ClientError;
use crate::wire::Messages;
use anyhow::anyhow;
use clap::ColorChoice;
use std::io::IsTerminal;

/// Messages and progress for the person at the terminal.
#[derive(Debug, Clone, Copy)]
pub struct Voice {
    color: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum Level {
    Info,
    Warning,
    Error,
}

/// Whether to colour an output: `auto` does for a terminal, unless
/// `NO_COLOR` is set (https://no-color.org).
pub fn use_color(choice: ColorChoice, terminal: bool, no_color_env: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && !no_color_env,
    }
}

fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Whether to paint what goes to stdout (matches of `--grep`).
pub fn stdout_color(choice: ColorChoice) -> bool {
    use_color(choice, std::io::stdout().is_terminal(), no_color_env())
}

impl Voice {
    /// For stderr, as `--color` says.
    pub fn detect(choice: ColorChoice) -> Voice {
        Voice {
            color: use_color(choice, std::io::stderr().is_terminal(), no_color_env()),
        }
    }

    fn paint(&self, level: &str, code: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{level}\x1b[0m")
        } else {
            level.to_string()
        }
    }

    pub fn say(&self, level: Level, text: &str) {
        let (name, code) = match level {
            Level::Info => ("info", "36"),
            Level::Warning => ("warning", "33"),
            Level::Error => ("error", "1;31"),
        };
        eprintln!("{}: {text}", self.paint(name, code));
    }

    pub fn messages(&self, m: &Messages) {
        for (level, texts) in [
            (Level::Info, &m.info),
            (Level::Warning, &m.warning),
            (Level::Error, &m.error),
        ] {
            for t in texts {
                self.say(level, t);
            }
        }
    }

    /// An error of the client: the server's reason, and what else it said.
    pub fn client_error(&self, e: &ClientError) {
        match e {
            ClientError::Status {
                status, messages, ..
            } if !messages.error.is_empty() => {
                self.messages(&Messages {
                    error: Vec::new(),
                    ..messages.clone()
                });
                for t in &messages.error {
                    self.say(Level::Error, &format!("{t} ({status})"));
                }
            }
            e => self.say(Level::Error, &e.to_string()),
        }
    }

    /// Reports a client error to the user, keeping it for the exit code.
    pub fn told<T>(&self, r: Result<T, ClientError>) -> anyhow::Result<T> {
        r.map_err(|e| {
            self.client_error(&e);
            anyhow!(Told)
        })
    }
}

/// An error already shown on stderr: `main` only sets the exit code.
#[derive(Debug, thiserror::Error)]
#[error("(reported above)")]
pub struct Told;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_choices() {
        for (choice, terminal, no_color, want) in [
            (ColorChoice::Auto, true, false, true),
            (ColorChoice::Auto, false, false, false),
            (ColorChoice::Auto, true, true, false),
            (ColorChoice::Always, false, true, true),
            (ColorChoice::Never, true, false, false),
        ] {
            assert_eq!(use_color(choice, terminal, no_color), want, "{choice:?}");
        }
    }
}
