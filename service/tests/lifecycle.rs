//! `afterlog serve` as a process, over its life: a client that stops
//! reading does not make it hold the rest of the log; on SIGTERM, as
//! Kubernetes sends it, follows end at once with a line saying so (the CLI
//! reconnects, to another replica), health answers 503, a read under way is
//! served to its end, and the process exits 0.

mod common;

use common::*;
use reqwest::{Client, StatusCode};
use std::time::{Duration, Instant};

const LINES: u64 = 40_000;

/// Sends `srv` SIGTERM, as Kubernetes does.
fn sigterm(srv: &Served) {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(
        unsafe { libc::kill(srv.child.id() as i32, libc::SIGTERM) },
        0
    );
}

/// A store with a job big enough (about 20 MB in `uploads` objects) that a
/// reader that stops reading holds its read open on the server; and the
/// `--store` argument for it.
async fn big_job(uploads: u64) -> (tempfile::TempDir, String) {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("store");
    std::fs::create_dir_all(&data).unwrap();
    let store = file_store(&data);
    let o = origin("foo", "big", "big-1", "main");
    let pad = "x".repeat(400);
    let per = LINES / uploads;
    for u in 0..uploads {
        let lines: Vec<String> = (u * per..(u + 1) * per)
            // 20 lines a second: uploads a minute apart, as they come.
            .map(|n| {
                let t = n * 50_000_000;
                record(&o, t, n * 500, "stdout", &format!("line {n} {pad}"))
            })
            .collect();
        upload(&store, &o, u * per / 20, &format!("u{u}"), &lines).await;
    }
    let store_arg = format!("file://{}", data.display());
    (home, store_arg)
}

/// How `srv` exits, within `within` (else fails saying `late`).
async fn exit(srv: &mut Served, within: Duration, late: &str) -> std::process::ExitStatus {
    eventually(within, Duration::from_millis(50), async || {
        srv.child
            .try_wait()
            .unwrap()
            .ok_or_else(|| late.to_string())
    })
    .await
}

/// `VmRSS` of process `pid`, KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_does_not_grow_the_servers_memory() {
    // Many uploads: a read holds the few it has fetched ahead, not the job.
    let (home, store_arg) = big_job(80).await;
    let srv = Served::start(home.path(), &["--store", &store_arg]);
    let pid = srv.child.id();
    let c = Client::new();
    let logs = format!("{}/v1/tool/foo/jobs/big/logs?format=ndjson", srv.base);
    let whole = c.get(&logs).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(whole.iter().filter(|&&b| b == b'\n').count() as u64, LINES);
    let before = rss_kib(pid);
    // Readers that take the first bytes of the ~25 MB and then stop: the
    // server waits for them instead of reading on into memory.
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut body = Streamed::open(&c, &logs).await;
        assert!(body.chunk().await);
        stalled.push(body);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stalled_1s = rss_kib(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stalled_3s = rss_kib(pid);
    let log_kib = whole.len() as u64 >> 10;
    eprintln!("RSS {before} KiB idle, {stalled_1s} then {stalled_3s} KiB with 4 readers stalled");
    assert!(
        stalled_3s <= stalled_1s + 1024,
        "RSS grows while the readers stall: {stalled_1s} KiB, then {stalled_3s} KiB"
    );
    assert!(
        stalled_3s < before + 4 * log_kib / 2,
        "4 stalled readers of a {log_kib} KiB log: RSS from {before} KiB to {stalled_3s} KiB"
    );
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_follows_lets_reads_finish_and_exits_0() {
    let (home, store_arg) = big_job(4).await;
    let mut srv = Served::start(
        home.path(),
        &[
            "--store",
            &store_arg,
            "--follow-poll-seconds",
            "0.1",
            "--shutdown-grace-seconds",
            "20",
        ],
    );
    let c = Client::new();
    let logs = format!("{}/v1/tool/foo/jobs/big/logs", srv.base);

    let mut follow = Streamed::open(&c, &format!("{logs}?format=text&follow=true&tail=1")).await;
    let last = format!("line {}", LINES - 1);
    follow.until(&last, Duration::from_secs(20)).await;

    // A full read, of which the client takes only the first bytes for now.
    let mut read = Streamed::open(&c, &format!("{logs}?format=ndjson")).await;
    assert!(read.chunk().await);

    sigterm(&srv);
    let t = Instant::now();

    // The follow ends at once, saying why.
    follow.read_to_end().await;
    let followed = &follow.seen;
    assert!(
        followed.ends_with("[afterlog] the service is shutting down; reconnect to go on\n"),
        "{}",
        &followed[followed.len().saturating_sub(300)..]
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());

    // The read under way goes on to its last line.
    read.read_to_end().await;
    let text = &read.seen;
    assert_eq!(text.lines().count() as u64, LINES);
    assert!(text.lines().last().unwrap().contains(&last));

    // Then the process ends, cleanly, and nothing new is accepted.
    let status = exit(
        &mut srv,
        Duration::from_secs(20),
        "still running after the grace",
    )
    .await;
    assert!(status.success(), "{status}");
    assert!(
        c.get(format!("{}/v1/healthz", srv.base))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_outlasts_the_grace_is_cut_and_the_exit_is_still_0() {
    let (home, store_arg) = big_job(1).await;
    let mut srv = Served::start(
        home.path(),
        &["--store", &store_arg, "--shutdown-grace-seconds", "1"],
    );
    let c = Client::new();
    let logs = format!("{}/v1/tool/foo/jobs/big/logs?format=ndjson", srv.base);
    let mut read = Streamed::open(&c, &logs).await;
    assert!(read.chunk().await);
    sigterm(&srv);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = exit(&mut srv, Duration::from_secs(10), "not cut at the grace").await;
    assert!(status.success(), "{status}");
    drop(read);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_503_while_draining() {
    let dir = tempfile::tempdir().unwrap();
    let server = afterlog::serve::Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        file_store(dir.path()),
        &afterlog::auth::AuthConfig::InsecureNone,
        afterlog::api::Settings::default(),
    )
    .await
    .unwrap();
    let (addr, app) = (server.local_addr(), server.app.clone());
    tokio::spawn(server.run(std::future::pending(), Duration::from_secs(1)));
    let health = format!("http://{addr}/v1/healthz");
    let c = Client::new();
    assert_eq!(
        c.get(&health).send().await.unwrap().status(),
        StatusCode::OK
    );
    app.draining.send_replace(true);
    let r = c.get(&health).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text().await.unwrap().contains("shutting down"));
}
