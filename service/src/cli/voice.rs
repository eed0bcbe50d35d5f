//! Messages for the person at the terminal, on stderr.

use crate::client::ClientError;
use crate::wire::Messages;
use anyhow::anyhow;
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

impl Voice {
    pub fn detect() -> Voice {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Voice {
            color: !no_color && std::io::stderr().is_terminal(),
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
