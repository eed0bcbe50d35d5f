//! Arguments of the client commands: `jobs`, `logs`, `search`, `push`,
//! `usage`, `delete`, `deletions`.

use super::words;
use crate::cli::highlight::Filter;
use afterlog_contract::query::{Events, Stream};
use clap::{ArgGroup, Args, ColorChoice, ValueEnum};
use std::path::PathBuf;

/// Where the API is and who asks (flags beat environment beat config file,
/// see [`crate::client::Target::resolve`]).
#[derive(Args, Debug, Clone, Default)]
pub struct ClientArgs {
    /// The afterlog server [default: http://127.0.0.1:8080].
    #[arg(long, env = "AFTERLOG_SERVER")]
    pub server: Option<String>,
    /// The tool whose logs to read.
    #[arg(long, short = 't', env = "AFTERLOG_TOOL")]
    pub tool: Option<String>,
    /// API token (sent as `Authorization: Bearer`).
    #[arg(long, env = "AFTERLOG_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Config file [default: ~/.config/afterlog/config.toml] with `server`,
    /// `tool`, `token` or `token_file`.
    #[arg(long, env = "AFTERLOG_CONFIG")]
    pub config: Option<PathBuf>,
    /// Colour messages and matches: `auto` on a terminal without `NO_COLOR`.
    #[arg(long, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// `jobs` and `usage`: a table, or the API's JSON.
#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("pattern").multiple(true).args(["grep", "regex"])))]
pub struct LogsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The job (may be left out when the tool has only one).
    pub job: Option<String>,
    /// Keep printing lines as they arrive (survives server restarts).
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(long, conflicts_with = "head")]
    pub tail: Option<usize>,
    /// Only the first N lines.
    #[arg(long)]
    pub head: Option<usize>,
    /// Lines at or after: an age (`10m`, `2h`, `7d`) or RFC 3339.
    #[arg(long)]
    pub since: Option<String>,
    /// Lines before: an age or RFC 3339.
    #[arg(long)]
    pub until: Option<String>,
    /// One run: `latest` or a pod name.
    #[arg(long)]
    pub run: Option<String>,
    /// One container of the pod(s).
    #[arg(long)]
    pub container: Option<String>,
    /// Container lines of one stream (no Kubernetes events).
    #[arg(long, value_parser = words::<Stream>(Stream::NAMES))]
    pub stream: Option<Stream>,
    /// The job's Kubernetes events (why a pod stopped or never started):
    /// inline with the lines, alone, or left out [default: include].
    #[arg(long, value_name = "WHICH", value_parser = words::<Events>(Events::NAMES))]
    pub events: Option<Events>,
    /// The stored records, one JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Lead each line with its time (RFC 3339, ns).
    #[arg(long)]
    pub timestamps: bool,
    /// Lead each line with `[pod/container]`.
    #[arg(long)]
    pub prefix: bool,
    /// Only lines containing PATTERN, a plain string (repeat: all must occur).
    #[arg(long = "grep", short = 'e', value_name = "PATTERN")]
    pub grep: Vec<String>,
    /// Only lines matching RE (Rust `regex` syntax).
    #[arg(long, value_name = "RE")]
    pub regex: Option<String>,
    /// Patterns match regardless of case.
    #[arg(long, short = 'i', requires = "pattern")]
    pub ignore_case: bool,
    /// Only lines the patterns do NOT match.
    #[arg(long, short = 'v', requires = "pattern")]
    pub invert: bool,
    /// Also N lines before and after each match, groups apart by `--`.
    #[arg(long, short = 'C', value_name = "N", requires = "pattern",
          value_parser = clap::value_parser!(u32).range(0..=100))]
    pub context: Option<u32>,
}

impl LogsArgs {
    pub fn filter(&self) -> Filter {
        Filter {
            grep: self.grep.clone(),
            regex: self.regex.clone(),
            ignore_case: self.ignore_case,
            invert: self.invert,
        }
    }
}

/// Which lines `search` gives first.
#[derive(ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    #[default]
    Newest,
    Oldest,
}

impl Order {
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Newest => "newest",
            Order::Oldest => "oldest",
        }
    }
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The tool whose jobs to search [default: --tool, AFTERLOG_TOOL, the
    /// config file].
    #[arg(value_name = "TOOL")]
    pub tool_name: Option<String>,
    /// Lines containing PATTERN, a plain string (repeat: all must occur).
    #[arg(
        long = "grep",
        short = 'e',
        value_name = "PATTERN",
        required_unless_present = "regex"
    )]
    pub grep: Vec<String>,
    /// Lines matching RE (Rust `regex` syntax).
    #[arg(long, value_name = "RE")]
    pub regex: Option<String>,
    /// Patterns match regardless of case.
    #[arg(long, short = 'i')]
    pub ignore_case: bool,
    /// Lines at or after: an age (`10m`, `2h`, `7d`) or RFC 3339.
    #[arg(long)]
    pub since: Option<String>,
    /// Lines before: an age or RFC 3339.
    #[arg(long)]
    pub until: Option<String>,
    /// Only this job (repeat for several) [default: all the tool's jobs].
    #[arg(long = "job", value_name = "JOB")]
    pub jobs: Vec<String>,
    /// Which matches come first.
    #[arg(long, value_enum, default_value_t = Order::Newest)]
    pub order: Order,
    /// Search the jobs' Kubernetes events too, only them, or not
    /// [default: include].
    #[arg(long, value_name = "WHICH", value_parser = words::<Events>(Events::NAMES))]
    pub events: Option<Events>,
    /// Stop after N matches.
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub limit: u32,
}

impl SearchArgs {
    pub fn filter(&self) -> Filter {
        Filter {
            grep: self.grep.clone(),
            regex: self.regex.clone(),
            ignore_case: self.ignore_case,
            invert: false,
        }
    }

    /// The client's arguments, with the positional TOOL winning over
    /// `--tool`.
    pub fn client(&self) -> ClientArgs {
        let mut c = self.client.clone();
        if let Some(t) = &self.tool_name {
            c.tool = Some(t.clone());
        }
        c
    }
}

#[derive(Args, Debug)]
pub struct PushArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The job the lines belong to.
    pub job: String,
    /// Read lines from this file [default: stdin].
    pub file: Option<PathBuf>,
    /// The stream the lines are stored under.
    #[arg(long, default_value = "stdout", value_parser = words::<Stream>(Stream::NAMES))]
    pub stream: Stream,
    /// The input is NDJSON records (`{"log": …, "stream"?, "ts"?}`), not text.
    #[arg(long)]
    pub json: bool,
    /// Store as platform events (deploys, builds; admins only).
    #[arg(long)]
    pub platform: bool,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("pattern").multiple(true).args(["grep", "regex"])))]
pub struct DeleteArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The tool whose lines to remove.
    #[arg(value_name = "TOOL")]
    pub tool_name: String,
    /// The job the lines belong to.
    pub job: String,
    /// Only lines of this run: `latest` or a pod name.
    #[arg(long)]
    pub run: Option<String>,
    /// Only lines of this container.
    #[arg(long)]
    pub container: Option<String>,
    #[arg(long, value_parser = words::<Stream>(Stream::NAMES))]
    pub stream: Option<Stream>,
    /// Lines at or after: an age (`10m`, `2h`, `7d`) or RFC 3339.
    #[arg(long)]
    pub since: Option<String>,
    /// Lines before: an age or RFC 3339 [default and latest: now].
    #[arg(long)]
    pub until: Option<String>,
    /// Lines containing PATTERN, a plain string (repeat: all must occur).
    /// A prefix of the secret is enough, and keeps it out of the request.
    #[arg(long = "grep", short = 'e', value_name = "PATTERN")]
    pub grep: Vec<String>,
    /// Lines matching RE (Rust `regex` syntax).
    #[arg(long, value_name = "RE")]
    pub regex: Option<String>,
    /// Patterns match regardless of case.
    #[arg(long, short = 'i', requires = "pattern")]
    pub ignore_case: bool,
    /// Ask without confirming (needed when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

impl DeleteArgs {
    /// The client's arguments, for TOOL.
    pub fn client(&self) -> ClientArgs {
        ClientArgs {
            tool: Some(self.tool_name.clone()),
            ..self.client.clone()
        }
    }
}

#[derive(Args, Debug)]
pub struct DeletionsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Only this tool's requests [default: --tool, AFTERLOG_TOOL; neither:
    /// every tool's, for admins].
    #[arg(value_name = "TOOL")]
    pub tool_name: Option<String>,
    /// Only this job's requests.
    pub job: Option<String>,
    /// Cancel request ID of TOOL's JOB (while it is pending).
    #[arg(long, value_name = "ID", requires = "job")]
    pub cancel: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}
