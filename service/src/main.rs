//! `afterlog`: serve tools' job logs from the object store, or try it all
//! on a demo data set.

use afterlog::admission::{self, Limits};
use afterlog::api::Settings;
use afterlog::auth::{AuthConfig, Cidr, hash_token};
use afterlog::classes::{self, ClassStores};
use afterlog::cli;
use afterlog::serve::{Server, shutdown_signal};
use afterlog_reader::{StoreConfig, open};
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "afterlog",
    version,
    about = "Logs of Kubernetes jobs, kept after their pods are gone"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List a tool's jobs.
    Jobs(cli::JobsArgs),
    /// Print a job's log (`-f` to follow).
    Logs(cli::LogsArgs),
    /// Store lines of your own (stdin or a file) in a job's log.
    Push(cli::PushArgs),
    /// Bytes stored per job.
    Usage(cli::UsageArgs),
    /// Serve the HTTP API.
    Serve(ServeArgs),
    /// Build a demo data set with the filter's own code and serve it.
    Demo(DemoArgs),
    /// One compaction pass (merge, clean up, retention), e.g. from a CronJob.
    Compact(CompactArgs),
    /// Print the SHA-256 of a token read from stdin, for tokens.json.
    HashToken,
}

#[derive(Args)]
struct StoreArgs {
    /// Where logs are: a directory (`./afterlog-data`, `file:///abs/path`)
    /// or `s3://bucket[/prefix]`.
    #[arg(long, env = "AFTERLOG_STORE", default_value = "./afterlog-data")]
    store: String,
    /// S3 endpoint, e.g. http://127.0.0.1:9000 for MinIO, Ceph RGW, Garage
    /// (default: AWS; also AWS_ENDPOINT_URL).
    #[arg(long, env = "AFTERLOG_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// S3 region (default us-east-1; also AWS_REGION).
    #[arg(long, env = "AFTERLOG_S3_REGION")]
    s3_region: Option<String>,
    /// Virtual-hosted-style requests (bucket.endpoint) instead of path style.
    #[arg(long)]
    s3_virtual_hosted: bool,
    /// Allow a plain-HTTP endpoint that is not on loopback.
    #[arg(long)]
    s3_allow_http: bool,
    /// Seconds one attempt of an S3 request may take, from connecting to
    /// the answer's last byte (1-300). A timed-out read is retried while
    /// less than 60 s have passed since its first attempt.
    #[arg(
        long,
        env = "AFTERLOG_STORE_TIMEOUT_SECONDS",
        default_value_t = afterlog_reader::store::DEFAULT_TIMEOUT.as_secs()
    )]
    store_timeout_seconds: u64,
    /// Retries of an S3 request that timed out, lost its connection or got
    /// a 5xx, 429 or 408 answer, with backoff (0-10; 0: none).
    #[arg(
        long,
        env = "AFTERLOG_STORE_RETRIES",
        default_value_t = afterlog_reader::store::DEFAULT_RETRIES
    )]
    store_retries: usize,
    /// Another routing class's store, NAME=STORE (repeatable, or
    /// comma-separated in AFTERLOG_CLASSES): e.g.
    /// long-retention=s3://logs/long-retention, where the drop-in's second
    /// s3 output writes that class. --store is the `default` class's.
    /// Reads merge every class's store; each is compacted on its own. Same
    /// S3 endpoint, region and credentials as --store.
    #[arg(
        long = "class",
        env = "AFTERLOG_CLASSES",
        value_delimiter = ',',
        value_name = "NAME=STORE"
    )]
    classes: Vec<String>,
}

/// A store location made a URL: a directory becomes
/// `file:///absolute/path`. `what` names the flag and value for errors.
fn store_url(what: &str, value: &str) -> anyhow::Result<String> {
    if value.starts_with("s3://") || value.starts_with("file://") {
        return Ok(value.to_string());
    }
    if let Some((scheme, _)) = value.split_once("://") {
        // A typo must not become an empty local directory.
        bail!(
            "{what}: unknown scheme {scheme:?}; use s3://bucket[/prefix], file:///path or a directory"
        );
    }
    let p = std::path::absolute(value).with_context(|| what.to_string())?;
    Ok(format!("file://{}", p.display()))
}

impl StoreArgs {
    /// Every class and its store, `default` first, checked: class names,
    /// no class twice, no store twice or inside another's layout.
    fn class_configs(&self) -> anyhow::Result<Vec<(String, StoreConfig)>> {
        let flags = classes::parse_flags(&self.classes)?;
        let what = format!("--store {:?}", self.store);
        let mut urls = vec![(
            afterlog_compactor::DEFAULT_CLASS.to_string(),
            store_url(&what, &self.store)?,
            what,
        )];
        for f in flags {
            let url = store_url(&format!("--class {:?}", f.value), &f.store)?;
            urls.push((f.class, url, f.value));
        }
        classes::check_urls(&urls)?;
        urls.into_iter()
            .map(|(class, url, _)| Ok((class, self.config_for(url)?)))
            .collect()
    }

    /// Opens every class's store (`classes`: [`StoreArgs::class_configs`]).
    fn open(classes: Vec<(String, StoreConfig)>) -> anyhow::Result<ClassStores> {
        let mut stores = Vec::new();
        for (class, cfg) in classes {
            let store = open(&cfg)
                .with_context(|| format!("opening the store of class {class} ({})", cfg.url))?;
            stores.push((class, store));
        }
        let mut stores = stores.into_iter();
        let (_, default) = stores
            .next()
            .context("no store: --store names the default class's")?;
        Ok(ClassStores::new(default, stores.collect()))
    }

    fn config_for(&self, url: String) -> anyhow::Result<StoreConfig> {
        // Past 5 minutes an attempt outlasts any caller's patience, and
        // past 10 retries the 60 s retry timeout cuts them off anyway.
        if !(1..=300).contains(&self.store_timeout_seconds) {
            bail!(
                "--store-timeout-seconds must be between 1 and 300, not {}",
                self.store_timeout_seconds
            );
        }
        if self.store_retries > 10 {
            bail!(
                "--store-retries must be between 0 and 10, not {}",
                self.store_retries
            );
        }
        let endpoint = self
            .s3_endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
        let loopback_http = endpoint.as_deref().is_some_and(|e| {
            ["http://127.", "http://localhost", "http://[::1]"]
                .iter()
                .any(|p| e.starts_with(p))
        });
        Ok(StoreConfig {
            url,
            endpoint,
            region: self.s3_region.clone(),
            path_style: !self.s3_virtual_hosted,
            allow_http: self.s3_allow_http || loopback_http,
            timeout: Some(Duration::from_secs(self.store_timeout_seconds)),
            retries: Some(self.store_retries),
            ..StoreConfig::default()
        })
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum AuthMode {
    /// Trust a user header set by the API gateway; membership from --members.
    Gateway,
    /// Bearer tokens from --tokens (stored hashed).
    Token,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address to listen on.
    #[arg(long, env = "AFTERLOG_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// How callers are authenticated.
    #[arg(long, env = "AFTERLOG_AUTH")]
    auth: Option<AuthMode>,
    /// gateway: the header naming the user (a certificate subject's CN=… is taken).
    #[arg(long, env = "AFTERLOG_USER_HEADER", default_value = "X-Forwarded-User")]
    user_header: String,
    /// gateway: members.json ({"admins": [...], "tools": {"tool": ["user", ...]}}), reloaded on change.
    #[arg(long, env = "AFTERLOG_MEMBERS")]
    members: Option<PathBuf>,
    /// gateway: addresses the gateway connects from (IP or CIDR; repeatable).
    #[arg(
        long = "trusted-proxy",
        env = "AFTERLOG_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<String>,
    /// token: tokens.json ({"tokens": [{"name", "sha256", "tools": [...], "admin"}]}), reloaded on change.
    #[arg(long, env = "AFTERLOG_TOKENS")]
    tokens: Option<PathBuf>,
    /// Serve without authentication (everyone is admin). Loopback only.
    #[arg(long)]
    insecure_no_auth: bool,
    /// Minutes between background compaction passes (0: none; replicas
    /// take turns through a lease in the store).
    #[arg(long, env = "AFTERLOG_COMPACT_EVERY_MINUTES", default_value_t = 10)]
    compact_every_minutes: u64,
    #[command(flatten)]
    compactor: CompactorArgs,
    #[command(flatten)]
    tuning: Tuning,
}

#[derive(Args)]
struct Tuning {
    /// Seconds between a follow's looks for new objects.
    #[arg(long, default_value_t = 2.0)]
    follow_poll_seconds: f64,
    /// Follows open at once; more get 429.
    #[arg(long, default_value_t = 64)]
    follow_max: usize,
    /// Seconds after which a follow ends (clients reconnect).
    #[arg(long, default_value_t = 3600)]
    follow_timeout_seconds: u64,
    /// Largest body a push may have.
    #[arg(long, default_value_t = 1 << 20)]
    push_max_bytes: usize,
    /// Minutes after its last upload a job stops being `active`.
    #[arg(long, default_value_t = 15)]
    active_minutes: u64,
    /// MiB that full reads, large tails, follows and compaction passes
    /// share [default: 3/4 of the container's memory limit, else 1024].
    #[arg(long, env = "AFTERLOG_MEMORY_BUDGET_MIB")]
    memory_budget_mib: Option<u32>,
    /// A full read's or large tail's share of the budget, MiB.
    #[arg(long, default_value_t = Limits::default().read_mib)]
    read_share_mib: u32,
    /// A follow's share of the budget, MiB.
    #[arg(long, default_value_t = Limits::default().follow_mib)]
    follow_share_mib: u32,
    /// A compaction pass's share of the budget, MiB.
    #[arg(long, default_value_t = Limits::default().compaction_mib)]
    compaction_share_mib: u32,
    /// Heavy requests (full reads, large tails, follows) one caller may
    /// have running at once; more get 429.
    #[arg(long, env = "AFTERLOG_CALLER_MAX", default_value_t = Limits::default().per_caller)]
    caller_max: usize,
    /// Seconds a heavy request waits for its share before it gets 429.
    #[arg(long, default_value_t = Limits::default().wait.as_secs_f64())]
    admission_wait_seconds: f64,
    /// Heavy requests that may wait at once; more get 429 at once.
    #[arg(long, default_value_t = Limits::default().queue_max)]
    admission_queue: usize,
    /// Seconds running reads get to finish after SIGTERM (keep it under the
    /// pod's terminationGracePeriodSeconds); follows end at once.
    #[arg(long, env = "AFTERLOG_SHUTDOWN_GRACE_SECONDS", default_value_t = 25)]
    shutdown_grace_seconds: u64,
}

impl Tuning {
    fn settings(&self) -> anyhow::Result<Settings> {
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
        Ok(Settings {
            follow_poll: Duration::from_secs_f64(self.follow_poll_seconds),
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
    fn auth(&self) -> anyhow::Result<AuthConfig> {
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
struct CompactorArgs {
    /// compactor.json: settle/grace times, merged object size, retention
    /// limits per tool and class (see docs/service.md); defaults without it.
    #[arg(long, env = "AFTERLOG_COMPACTOR_CONFIG")]
    compactor_config: Option<PathBuf>,
}

impl CompactorArgs {
    /// The compactor's config, checked, also against the routing classes
    /// the stores serve (`classes`, from [`StoreArgs::class_configs`]).
    fn config(
        &self,
        classes: &[(String, StoreConfig)],
    ) -> anyhow::Result<afterlog_compactor::Config> {
        let Some(path) = &self.compactor_config else {
            return Ok(afterlog_compactor::Config::default());
        };
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let cfg: afterlog_compactor::Config =
            serde_json::from_slice(&text).with_context(|| format!("{}", path.display()))?;
        cfg.check()
            .and_then(|()| cfg.check_classes(classes.iter().map(|(c, _)| c.as_str())))
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(cfg)
    }
}

#[derive(Args)]
struct CompactArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    compactor: CompactorArgs,
}

#[derive(Args)]
struct DemoArgs {
    /// Where to write the demo data set (replaced if it exists).
    #[arg(long, default_value = "./afterlog-demo")]
    dir: PathBuf,
    /// Address to serve it on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Only build the data set.
    #[arg(long)]
    no_serve: bool,
}

fn main() -> std::process::ExitCode {
    afterlog::memory::limit_arenas();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour only for a person: not in a pod's log, nor with NO_COLOR.
        .with_ansi(
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("afterlog: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // Already on stderr, with the server's reason.
        Err(e) if e.is::<cli::Told>() => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("afterlog: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let voice = cli::Voice::detect();
    match cli.command {
        Command::Jobs(a) => cli::run_jobs(a, voice).await,
        Command::Logs(a) => cli::run_logs(a, voice).await,
        Command::Push(a) => cli::run_push(a, voice).await,
        Command::Usage(a) => cli::run_usage(a, voice).await,
        Command::Serve(a) => {
            let auth = a.auth()?;
            // Every flag and config checked before a store is opened.
            let classes = a.store.class_configs()?;
            let compactor = a.compactor.config(&classes)?;
            let stores = StoreArgs::open(classes)?;
            let names = stores.names().join(",");
            let server = Server::bind(a.listen, stores, &auth, a.tuning.settings()?).await?;
            tracing::info!(addr = %server.local_addr(), store = %a.store.store, classes = %names, "serving");
            if a.compact_every_minutes > 0 {
                afterlog::serve::spawn_compactor(
                    server.app.clone(),
                    compactor,
                    Duration::from_secs(a.compact_every_minutes * 60),
                );
            }
            let grace = Duration::from_secs(a.tuning.shutdown_grace_seconds);
            server.run(shutdown_signal(), grace).await
        }
        Command::Demo(a) => demo(a).await,
        Command::Compact(a) => compact(a).await,
        Command::HashToken => {
            let mut t = String::new();
            std::io::stdin()
                .read_to_string(&mut t)
                .context("reading the token")?;
            if t.trim().is_empty() {
                bail!("no token on stdin");
            }
            println!("{}", hash_token(&t));
            Ok(())
        }
    }
}

/// One compaction pass over each class's store, one after the other: each
/// has its own lease and retention, so a class whose lease is held or whose
/// store fails does not keep the others from their pass. With classes
/// besides `default`, each line of the report names its class.
async fn compact(a: CompactArgs) -> anyhow::Result<()> {
    let classes = a.store.class_configs()?;
    let cfg = a.compactor.config(&classes)?;
    let stores = StoreArgs::open(classes)?;
    let several = stores.len() > 1;
    let mut failed = Vec::new();
    for (class, store) in stores.iter() {
        let c = afterlog_compactor::Compactor::for_class(class, store.clone(), cfg.clone());
        let label = if several {
            format!("class {class}: ")
        } else {
            String::new()
        };
        match c.pass().await {
            Ok(report) => println!("{label}{report}"),
            // Another compactor is at it: nothing for this one to do.
            Err(afterlog_compactor::CompactError::Lease(
                e @ afterlog_compactor::LeaseError::Held { .. },
            )) => println!("{label}nothing done: {e}"),
            Err(e) if !several => {
                return Err(e)
                    .context("compaction pass failed (the next pass resumes where it stopped)");
            }
            Err(e) => {
                eprintln!("afterlog: {label}compaction pass failed: {e}");
                failed.push(class.to_string());
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "compaction pass failed for class {} (the next pass resumes where it stopped)",
            failed.join(", ")
        );
    }
    Ok(())
}

async fn demo(a: DemoArgs) -> anyhow::Result<()> {
    let dir = std::path::absolute(&a.dir).context("demo directory")?;
    let now = afterlog::api::now_ns();
    let summary = afterlog::demo::build(&dir, now)
        .with_context(|| format!("building the demo data set in {}", dir.display()))?;
    println!(
        "Demo data set: {} records in {} objects under {} (the layout Fluent Bit's s3 output writes).",
        summary.records,
        summary.objects,
        dir.display()
    );
    if a.no_serve {
        return Ok(());
    }
    let store = open(&StoreConfig::new(format!("file://{}", dir.display())))?;
    let server = Server::bind(
        a.listen,
        store,
        &AuthConfig::InsecureNone,
        Settings::default(),
    )
    .await?;
    let base = format!("http://{}", server.local_addr());
    println!("\nServing on {base} without authentication (loopback only).");
    if let Some(j) = summary.jobs.first() {
        println!("\nWeb page: {base}/#tool={}&job={}", j.tool, j.job);
        let server_flag = if base == "http://127.0.0.1:8080" {
            String::new()
        } else {
            format!(" --server {base}")
        };
        println!(
            "CLI:      afterlog logs{server_flag} -t {} {} -f     # and in another terminal:\n          \
             echo hello | afterlog push{server_flag} -t {} {}",
            j.tool, j.job, j.tool, j.job
        );
    }
    println!("\nThe API, with curl:\n");
    let mut tools: Vec<&str> = summary.jobs.iter().map(|j| j.tool.as_str()).collect();
    tools.dedup();
    for t in tools {
        println!("  curl -s {base}/v1/tool/{t}/jobs");
    }
    for j in &summary.jobs {
        println!(
            "  curl -s '{base}/v1/tool/{}/jobs/{}/logs?format=text'    # {} ({})",
            j.tool, j.job, j.note, j.kind
        );
    }
    if let Some(j) = summary.jobs.first() {
        println!(
            "\n  curl -s '{base}/v1/tool/{}/jobs/{}/logs?format=text&tail=5'",
            j.tool, j.job
        );
        println!(
            "  curl -s '{base}/v1/tool/{}/jobs/{}/logs?format=text&follow=true'   # then push a line:",
            j.tool, j.job
        );
        println!(
            "  curl -s -XPOST {base}/v1/tool/{}/jobs/{}/logs -d '{{\"log\": \"hello from curl\"}}'",
            j.tool, j.job
        );
    }
    println!(
        "\n  {base}/openapi.json   {base}/v1/metrics\n\nCtrl-C stops it. `afterlog serve --store {}` serves the same data with authentication.",
        dir.display()
    );
    server.run(shutdown_signal(), Duration::from_secs(5)).await
}
