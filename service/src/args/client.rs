//! Arguments of the client commands: `jobs`, `logs`, `push`, `usage`.

use super::words;
use afterlog_contract::query::Stream;
use clap::Args;
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
    #[arg(long, value_parser = words::<Stream>(Stream::NAMES))]
    pub stream: Option<Stream>,
    /// The stored records, one JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Lead each line with its time (RFC 3339, ns).
    #[arg(long)]
    pub timestamps: bool,
    /// Lead each line with `[pod/container]`.
    #[arg(long)]
    pub prefix: bool,
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
