//! `afterlog`: serve tools' job logs from the object store, or try it all
//! on a demo data set.

use afterlog::api::Settings;
use afterlog::args::client::{DeleteArgs, DeletionsArgs, ListArgs, LogsArgs, PushArgs, SearchArgs};
use afterlog::args::doctor::DoctorArgs;
use afterlog::args::serve::{CompactArgs, ServeArgs};
use afterlog::args::store::StoreArgs;
use afterlog::auth::{AuthConfig, hash_token};
use afterlog::serve::{Server, shutdown_signal};
use afterlog::{cli, compaction, doctor};
use afterlog_reader::{StoreConfig, open};
use anyhow::{Context, bail};
use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::io::{IsTerminal, Read, Write};
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
    Jobs(ListArgs),
    /// Print a job's log (`-f` to follow, `-e` to grep).
    Logs(LogsArgs),
    /// Lines of a tool's jobs that match, newest first.
    Search(SearchArgs),
    /// Store lines of your own (stdin or a file) in a job's log.
    Push(PushArgs),
    /// Bytes stored per job.
    Usage(ListArgs),
    /// Ask for lines of a job to be removed (a leaked secret): shows what
    /// it selects, then asks.
    Delete(DeleteArgs),
    /// List deletion requests, or cancel one (`--cancel ID`).
    Deletions(DeletionsArgs),
    /// Serve the HTTP API.
    Serve(ServeArgs),
    /// Build a demo data set with the filter's own code and serve it.
    Demo(DemoArgs),
    /// One compaction pass (merge, clean up, retention), e.g. from a CronJob.
    Compact(CompactArgs),
    /// Check a deployment: the stores and their conditional writes (on a
    /// scratch prefix doctor/<random>/, deleted afterwards; only with
    /// --store or --class), the Fluent Bit drop-in, the filter config and
    /// artifact, the auth files. One line per check; exit 1 if any failed.
    Doctor(DoctorArgs),
    /// Print the SHA-256 of a token read from stdin, for tokens.json.
    HashToken,
    /// Print a shell's completion script for afterlog.
    Completions(CompletionsArgs),
    /// Print afterlog's manual page (roff), or write all its pages.
    Man(ManArgs),
}

#[derive(Args)]
struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Args)]
struct ManArgs {
    /// Write afterlog.1 and a page per subcommand (afterlog-logs.1, …) here.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
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
    let matches = Cli::command().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    if let (Command::Doctor(a), Some(("doctor", m))) = (&mut cli.command, matches.subcommand()) {
        // serve's default store is no store the admin named.
        a.store_given = m
            .value_source("store")
            .is_some_and(|s| s != ValueSource::DefaultValue);
    }
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
    let voice = |c: &afterlog::args::client::ClientArgs| cli::Voice::detect(c.color);
    match cli.command {
        Command::Jobs(a) => {
            let v = voice(&a.client);
            cli::run_jobs(a, v).await
        }
        Command::Logs(a) => {
            let v = voice(&a.client);
            cli::run_logs(a, v).await
        }
        Command::Search(a) => {
            let v = voice(&a.client);
            cli::run_search(a, v).await
        }
        Command::Push(a) => {
            let v = voice(&a.client);
            cli::run_push(a, v).await
        }
        Command::Usage(a) => {
            let v = voice(&a.client);
            cli::run_usage(a, v).await
        }
        Command::Delete(a) => {
            let v = voice(&a.client);
            cli::run_delete(a, v).await
        }
        Command::Deletions(a) => {
            let v = voice(&a.client);
            cli::run_deletions(a, v).await
        }
        Command::Completions(a) => print(&cli::manual::completions(a.shell, Cli::command())),
        Command::Man(ManArgs { out_dir: None }) => print(&cli::manual::page(Cli::command())?),
        Command::Man(ManArgs { out_dir: Some(dir) }) => {
            let pages = cli::manual::write_pages(Cli::command(), &dir)
                .with_context(|| format!("writing manual pages into {}", dir.display()))?;
            eprintln!("{} pages written to {}", pages.len(), dir.display());
            Ok(())
        }
        Command::Serve(a) => serve(a).await,
        Command::Demo(a) => demo(a).await,
        Command::Compact(a) => compact(a).await,
        Command::Doctor(a) => run_doctor(a).await,
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

/// Generated text on stdout; a reader that went away is no error.
fn print(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("writing to stdout"),
    }
}

/// `afterlog serve`: every flag and config checked before a store is
/// opened; then the server, and the compactor in the background.
async fn serve(a: ServeArgs) -> anyhow::Result<()> {
    let auth = a.auth()?;
    let classes = a.store.class_configs()?;
    let compactor = a.compactor.config(&classes)?;
    let stores = StoreArgs::open(classes)?;
    let names = stores.names().join(",");
    let settings = Settings {
        delete_by: a.delete_by,
        // Requests say when they are due: when this config's compactor
        // applies them.
        delete_after_hours: compactor.delete_after_hours,
        ..a.tuning.settings()?
    };
    let server = Server::bind(a.listen, stores, &auth, settings).await?;
    tracing::info!(addr = %server.local_addr(), store = %a.store.store, classes = %names, "serving");
    if a.compact_every_minutes > 0 {
        let every = Duration::from_secs(a.compact_every_minutes * 60);
        compaction::spawn(server.app.clone(), compactor, every);
    }
    let grace = Duration::from_secs(a.tuning.shutdown_grace_seconds);
    server.run(shutdown_signal(), grace).await
}

/// `afterlog doctor`: each line as its check ends, then the verdict; exit
/// status 1 if any check failed.
async fn run_doctor(a: DoctorArgs) -> anyhow::Result<()> {
    let lines = doctor::run(&a, &mut |l| println!("{l}")).await;
    println!("{}", doctor::report::summary(&lines));
    if lines.iter().any(|l| l.failed()) {
        // Told on stdout, line by line.
        return Err(cli::Told.into());
    }
    Ok(())
}

/// `afterlog compact`: one pass over each class's store.
async fn compact(a: CompactArgs) -> anyhow::Result<()> {
    let classes = a.store.class_configs()?;
    if a.status {
        let stores = StoreArgs::open(classes)?;
        return compaction::print_status(&stores, afterlog::api::now_ns()).await;
    }
    let cfg = a.compactor.config(&classes)?;
    let stores = StoreArgs::open(classes)?;
    compaction::run_once(&stores, &cfg).await
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
    // The demo's web service fails now and then: something to search for.
    if let Some(j) = summary
        .jobs
        .iter()
        .find(|j| j.kind == "webservice")
        .or(summary.jobs.first())
    {
        println!(
            "\n  curl -s '{base}/v1/tool/{}/jobs/{}/logs?format=text&grep=error&ignore_case=true&context=2'",
            j.tool, j.job
        );
        println!(
            "  curl -s '{base}/v1/tool/{}/search?regex=Traceback%7CERROR&format=text'   # all the tool's jobs",
            j.tool
        );
        println!(
            "  curl -s '{base}/v1/tool/{}/jobs/{}/volume?step=1h'   # lines and bytes per hour",
            j.tool, j.job
        );
    }
    println!(
        "\n  {base}/openapi.json   {base}/v1/metrics\n\nCtrl-C stops it. `afterlog serve --store {}` serves the same data with authentication.",
        dir.display()
    );
    server.run(shutdown_signal(), Duration::from_secs(5)).await
}
