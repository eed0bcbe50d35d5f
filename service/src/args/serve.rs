//! Arguments of `serve` and `compact`: authentication, tuning, and the
//! compactor's config.

use super::store::{ClassConfig, StoreArgs};
use crate::admission::{self, Limits};
use crate::api::state::Settings;
use crate::auth::{AuthConfig, Cidr, DeleteBy};
use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Copy, ValueEnum)]
pub enum AuthMode {
    /// Trust a user header set by the API gateway; membership from --members.
    Gateway,
    /// Bearer tokens from --tokens (stored hashed).
    Token,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on.
    #[arg(long, env = "AFTERLOG_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// How callers are authenticated.
    #[arg(long, env = "AFTERLOG_AUTH")]
    pub auth: Option<AuthMode>,
    /// gateway: the header naming the user (a certificate subject's CN=… is taken).
    #[arg(long, env = "AFTERLOG_USER_HEADER", default_value = "X-Forwarded-User")]
    pub user_header: String,
    /// gateway: members.json ({"admins": [...], "tools": {"tool": ["user", ...]}}), reloaded on change.
    #[arg(long, env = "AFTERLOG_MEMBERS")]
    pub members: Option<PathBuf>,
    /// gateway: addresses the gateway connects from (IP or CIDR; repeatable).
    #[arg(
        long = "trusted-proxy",
        env = "AFTERLOG_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,
    /// token: tokens.json ({"tokens": [{"name", "sha256", "tools": [...], "admin"}]}), reloaded on change.
    #[arg(long, env = "AFTERLOG_TOKENS")]
    pub tokens: Option<PathBuf>,
    /// Serve without authentication (everyone is admin). Loopback only.
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// Minutes between background compaction passes (0: none; replicas
    /// take turns through a lease in the store).
    #[arg(long, env = "AFTERLOG_COMPACT_EVERY_MINUTES", default_value_t = 10)]
    pub compact_every_minutes: u64,
    /// Who may create and cancel deletion requests of a tool's lines
    /// (anyone who may read a tool lists its requests).
    #[arg(long, env = "AFTERLOG_DELETE_BY", value_enum, default_value_t = DeleteBy::Members)]
    pub delete_by: DeleteBy,
    #[command(flatten)]
    pub compactor: CompactorArgs,
    #[command(flatten)]
    pub tuning: Tuning,
}

#[derive(Args)]
pub struct Tuning {
    /// Seconds between a follow's looks for new objects.
    #[arg(long, default_value_t = 2.0)]
    pub follow_poll_seconds: f64,
    /// Follows open at once; more get 429.
    #[arg(long, default_value_t = 64)]
    pub follow_max: usize,
    /// Seconds after which a follow ends (clients reconnect).
    #[arg(long, default_value_t = 3600)]
    pub follow_timeout_seconds: u64,
    /// Largest body a push may have.
    #[arg(long, default_value_t = 1 << 20)]
    pub push_max_bytes: usize,
    /// Minutes after its last upload a job stops being `active`.
    #[arg(long, default_value_t = 15)]
    pub active_minutes: u64,
    /// MiB that full reads, large tails, follows and compaction passes
    /// share [default: 3/4 of the container's memory limit, else 1024].
    #[arg(long, env = "AFTERLOG_MEMORY_BUDGET_MIB")]
    pub memory_budget_mib: Option<u32>,
    /// A full read's or large tail's share of the budget, MiB.
    #[arg(long, default_value_t = Limits::default().read_mib)]
    pub read_share_mib: u32,
    /// A follow's share of the budget, MiB.
    #[arg(long, default_value_t = Limits::default().follow_mib)]
    pub follow_share_mib: u32,
    /// A compaction pass's share of the budget, MiB.
    #[arg(long, default_value_t = Limits::default().compaction_mib)]
    pub compaction_share_mib: u32,
    /// Heavy requests (full reads, large tails, follows) one caller may
    /// have running at once; more get 429.
    #[arg(long, env = "AFTERLOG_CALLER_MAX", default_value_t = Limits::default().per_caller)]
    pub caller_max: usize,
    /// Seconds a heavy request waits for its share before it gets 429.
    #[arg(long, default_value_t = Limits::default().wait.as_secs_f64())]
    pub admission_wait_seconds: f64,
    /// Heavy requests that may wait at once; more get 429 at once.
    #[arg(long, default_value_t = Limits::default().queue_max)]
    pub admission_queue: usize,
    /// Seconds running reads get to finish after SIGTERM (keep it under the
    /// pod's terminationGracePeriodSeconds); follows end at once.
    #[arg(long, env = "AFTERLOG_SHUTDOWN_GRACE_SECONDS", default_value_t = 25)]
    pub shutdown_grace_seconds: u64,
    /// Seconds between reads of each store's compaction status object
    /// (written by every pass, a CronJob's too), exported as
    /// afterlog_compaction_last_* metrics.
    #[arg(long, default_value_t = 30)]
    pub compaction_status_seconds: u64,
}

impl Tuning {
    pub fn settings(&self) -> anyhow::Result<Settings> {
        if !(self.follow_poll_seconds > 0.0 && self.follow_poll_seconds <= 3600.0) {
            bail!("--follow-poll-seconds must be between 0 and 3600");
        }
        if !(0.0..=600.0).contains(&self.admission_wait_seconds) {
            bail!("--admission-wait-seconds must be between 0 and 600");
        }
        if self.caller_max == 0 {
            bail!("--caller-max must be at least 1");
        }
        let budget_mib = match self.memory_budget_mib {
            Some(0) => bail!("--memory-budget-mib must be at least 1"),
            Some(m) => m,
            None => admission::budget_for(admission::cgroup_memory_limit()),
        };
        if !(1..=3600).contains(&self.compaction_status_seconds) {
            bail!("--compaction-status-seconds must be between 1 and 3600");
        }
        Ok(Settings {
            follow_poll: Duration::from_secs_f64(self.follow_poll_seconds),
            compaction_status_every: Duration::from_secs(self.compaction_status_seconds),
            follow_max: self.follow_max,
            follow_timeout: Duration::from_secs(self.follow_timeout_seconds),
            push_max_bytes: self.push_max_bytes,
            active_window: Duration::from_secs(self.active_minutes * 60),
            admission: Limits {
                budget_mib,
                read_mib: self.read_share_mib,
                follow_mib: self.follow_share_mib,
                compaction_mib: self.compaction_share_mib,
                per_caller: self.caller_max,
                wait: Duration::from_secs_f64(self.admission_wait_seconds),
                queue_max: self.admission_queue,
            },
            ..Settings::default()
        })
    }
}

impl ServeArgs {
    pub fn auth(&self) -> anyhow::Result<AuthConfig> {
        match (self.auth, self.insecure_no_auth) {
            (Some(_), true) => bail!("--auth and --insecure-no-auth exclude each other"),
            (None, true) => Ok(AuthConfig::InsecureNone),
            (None, false) => bail!(
                "no authentication configured: pass --auth gateway --members FILE --trusted-proxy CIDR, \
                 or --auth token --tokens FILE (or --insecure-no-auth, on loopback only, to try things out)"
            ),
            (Some(AuthMode::Gateway), false) => {
                let members = self
                    .members
                    .clone()
                    .context("--auth gateway needs --members FILE")?;
                if self.trusted_proxies.is_empty() {
                    bail!(
                        "--auth gateway needs --trusted-proxy: the addresses of the gateway (use 0.0.0.0/0 only if the network already guarantees it)"
                    );
                }
                let trusted_proxies = self
                    .trusted_proxies
                    .iter()
                    .map(|s| s.trim().parse::<Cidr>())
                    .collect::<Result<_, _>>()?;
                Ok(AuthConfig::Gateway {
                    header: self.user_header.clone(),
                    members,
                    trusted_proxies,
                })
            }
            (Some(AuthMode::Token), false) => Ok(AuthConfig::Token {
                tokens: self
                    .tokens
                    .clone()
                    .context("--auth token needs --tokens FILE")?,
            }),
        }
    }
}

#[derive(Args)]
pub struct CompactorArgs {
    /// compactor.json: settle/grace times, merged object size, retention
    /// limits per tool and class (see docs/service.md); defaults without it.
    #[arg(long, env = "AFTERLOG_COMPACTOR_CONFIG")]
    pub compactor_config: Option<PathBuf>,
}

impl CompactorArgs {
    /// The compactor's config, checked, also against the routing classes
    /// the stores serve (`classes`, from [`StoreArgs::class_configs`]).
    pub fn config(&self, classes: &[ClassConfig]) -> anyhow::Result<afterlog_compactor::Config> {
        let Some(path) = &self.compactor_config else {
            return Ok(afterlog_compactor::Config::default());
        };
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let cfg: afterlog_compactor::Config =
            serde_json::from_slice(&text).with_context(|| format!("{}", path.display()))?;
        cfg.check()
            .and_then(|()| cfg.check_classes(classes.iter().map(|c| c.class.as_str())))
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(cfg)
    }
}

#[derive(Args)]
pub struct CompactArgs {
    /// Print how each class's latest compaction pass went (from its
    /// store's status object) instead of compacting; exit 1 unless every
    /// class's latest pass went through.
    #[arg(long)]
    pub status: bool,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub compactor: CompactorArgs,
}
