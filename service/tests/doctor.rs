//! `afterlog doctor` as an admin runs it: the built binary against real
//! stores (the demo's directory, s3s-fs, a fake S3 on 127.0.0.1 that
//! ignores conditional headers, a port nothing listens on), the shipped
//! drop-in in both formats and its filter config, the filter's `.aot` in
//! the real Fluent Bit — each passing as shipped, and each mistake an
//! admin makes failing on a line that names it.

mod common;

use afterlog_harness::fluent_bit::{
    compile_aot, flb_wamrc_path, fluent_bit_path, require_filter_wasm, workspace_root,
};
use afterlog_testkit::{KEY, REGION, S3Server, SECRET, keys};
use common::afterlog;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The shipped file `fluent-bit/<name>`.
fn shipped(name: &str) -> PathBuf {
    workspace_root().join("fluent-bit").join(name)
}

/// The filter compiled by the shared `flb-wamrc`, once for all tests.
fn aot() -> &'static Path {
    static AOT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &AOT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let aot = dir.path().join("afterlog_filter.aot");
        compile_aot(&require_filter_wasm(), &aot).unwrap();
        (dir, aot)
    })
    .1
}

/// What doctor printed, and how it exited.
struct Doctor {
    code: Option<i32>,
    lines: Vec<String>,
}

impl Doctor {
    fn run(mut cmd: Command) -> Doctor {
        let Output {
            status,
            stdout,
            stderr,
        } = cmd.output().unwrap();
        let text = String::from_utf8(stdout).unwrap();
        assert!(
            stderr.is_empty() || status.code() == Some(1),
            "stderr: {}",
            String::from_utf8_lossy(&stderr)
        );
        Doctor {
            code: status.code(),
            lines: text.lines().map(str::to_string).collect(),
        }
    }

    fn failed(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter(|l| l.starts_with("FAIL"))
            .map(String::as_str)
            .collect()
    }

    fn with(&self, status: &str) -> usize {
        self.lines.iter().filter(|l| l.starts_with(status)).count()
    }

    /// Exit 0, no failure, nothing skipped.
    fn assert_all_pass(&self) {
        assert_eq!(self.code, Some(0), "{:#?}", self.lines);
        assert_eq!(self.failed(), Vec::<&str>::new());
        assert_eq!(self.with("skip"), 0, "{:#?}", self.lines);
        assert!(
            self.lines
                .last()
                .is_some_and(|l| l.starts_with("afterlog doctor: all ")),
            "{:#?}",
            self.lines
        );
    }

    /// Exit 1, and exactly the failing lines that contain `wanted`, one each.
    fn assert_fails(&self, wanted: &[&str]) {
        assert_eq!(self.code, Some(1), "{:#?}", self.lines);
        let failed = self.failed();
        assert_eq!(failed.len(), wanted.len(), "{failed:#?}");
        for (line, want) in failed.iter().zip(wanted) {
            assert!(line.contains(want), "{line:?} lacks {want:?}");
            assert!(line.contains(" — fix: "), "{line:?} has no fix");
        }
        assert!(
            self.lines
                .last()
                .is_some_and(|l| l.starts_with(&format!("afterlog doctor: {} of ", wanted.len()))),
            "{:#?}",
            self.lines
        );
    }
}

/// `afterlog doctor` with a clean environment and `args`.
fn doctor(home: &Path, args: &[&str]) -> Command {
    let mut c = afterlog(home);
    c.arg("doctor").args(args);
    c
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `tokens.json` and `members.json` as the admin guide shows them.
fn auth_files(dir: &Path) -> (PathBuf, PathBuf) {
    let tokens = dir.join("tokens.json");
    let hash = afterlog::auth::hash_token("a token");
    fs::write(
        &tokens,
        format!(
            r#"{{"tokens": [{{"name": "dashboard", "sha256": "{hash}", "tools": ["my-tool"]}}]}}"#
        ),
    )
    .unwrap();
    let members = dir.join("members.json");
    fs::write(
        &members,
        r#"{"admins": ["ops-user"], "tools": {"my-tool": ["alice", "bob"]}}"#,
    )
    .unwrap();
    (tokens, members)
}

/// The demo's data set, as `afterlog demo` writes it, with the shipped
/// class `long-retention` beside it.
fn demo_store(dir: &Path) -> PathBuf {
    let data = dir.join("afterlog-data");
    let mut c = afterlog(dir);
    c.args(["demo", "--no-serve", "--dir", s(&data)]);
    common::ok(&c.output().unwrap());
    fs::create_dir_all(data.join("long-retention")).unwrap();
    data
}

#[test]
fn a_directory_store_and_the_shipped_files_pass_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_store(dir.path());
    let (tokens, members) = auth_files(dir.path());
    let class = format!("long-retention={}", s(&data.join("long-retention")));
    let fb = fluent_bit_path().unwrap();
    for drop_in in ["afterlog.yaml", "afterlog.conf"] {
        let d = Doctor::run(doctor(
            dir.path(),
            &[
                "--store",
                s(&data),
                "--class",
                &class,
                "--drop-in",
                s(&shipped(drop_in)),
                "--filter-config",
                s(&shipped("afterlog-filter.json")),
                "--aot",
                s(aot()),
                "--fluent-bit",
                s(&fb),
                "--tokens",
                s(&tokens),
                "--members",
                s(&members),
            ],
        ));
        d.assert_all_pass();
        // Two stores of five checks each, the drop-in's two, the class,
        // the filter config's two, the .aot, two auth files.
        assert_eq!(d.with("pass"), 18, "{:#?}", d.lines);
        for want in [
            "create-if-absent (If-None-Match: *): the first create succeeded, the second was refused",
            "replace-if-unchanged (If-Match): a directory has none",
            "8 concurrent creates of one key: exactly one won, 5 times out of 5",
            "look-ahead leaves out exactly the classes with an output of their own (long-retention)",
            "every class it names has an s3 output in the drop-in (long-retention)",
            "Fluent Bit loads it and runs a record through it",
        ] {
            assert!(
                d.lines.iter().any(|l| l.contains(want)),
                "{want}: {:#?}",
                d.lines
            );
        }
        // The scratch objects and their directories are gone.
        assert!(!data.join("doctor").exists());
        assert!(!data.join("long-retention/doctor").exists());
    }
}

/// doctor's store flags for `url` on the server at `endpoint`.
fn s3_doctor(home: &Path, endpoint: &str, args: &[&str]) -> Command {
    let mut c = doctor(home, args);
    c.args(["--s3-endpoint", endpoint])
        .env("AWS_ACCESS_KEY_ID", KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", REGION);
    c
}

/// Every file as shipped, and the stores of both classes on `endpoint`.
fn s3_full(home: &Path, endpoint: &str) -> Command {
    let (tokens, members) = auth_files(home);
    s3_doctor(
        home,
        endpoint,
        &[
            "--store",
            "s3://logs",
            "--class",
            "long-retention=s3://logs/long-retention",
            "--drop-in",
            s(&shipped("afterlog.yaml")),
            "--filter-config",
            s(&shipped("afterlog-filter.json")),
            "--aot",
            s(aot()),
            "--fluent-bit",
            s(&fluent_bit_path().unwrap()),
            "--tokens",
            s(&tokens),
            "--members",
            s(&members),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_store_with_atomic_conditional_writes_passes_every_check() {
    let home = tempfile::tempdir().unwrap();
    let fake = fake_s3::FakeS3::start(fake_s3::Mode::Atomic).await;
    let endpoint = fake.endpoint();
    let d = tokio::task::spawn_blocking(move || Doctor::run(s3_full(home.path(), &endpoint)))
        .await
        .unwrap();
    d.assert_all_pass();
    assert_eq!(d.with("pass"), 18, "{:#?}", d.lines);
    for want in [
        "pass  store default (s3://logs): reachable: listed raw/ (0 entries)",
        "pass  store long-retention (s3://logs/long-retention): reachable",
        "the replace with the current ETag succeeded, the one with a stale ETag was refused",
        "8 concurrent creates of one key: exactly one won, 5 times out of 5",
        "pass  classes: --class long-retention=s3://logs/long-retention is where the drop-in's afterlog_s3_long_retention writes",
    ] {
        assert!(
            d.lines.iter().any(|l| l.contains(want)),
            "{want}: {:#?}",
            d.lines
        );
    }
    assert_eq!(fake.objects(), 0, "the scratch objects are deleted");
}

/// s3s-fs checks a create's condition, then writes: one at a time its
/// conditional writes are right, but of creates racing several win —
/// which doctor finds, as the compactor's lease assumes
/// (`lease_settle_ms`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3s_fs_is_caught_letting_racing_creates_both_win() {
    let home = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&["logs"]);
    let d = Doctor::run(s3_full(home.path(), &s3.endpoint()));
    d.assert_fails(&[
        "FAIL  store default: 8 concurrent creates of one key: ",
        "FAIL  store long-retention: 8 concurrent creates of one key: ",
    ]);
    for line in d.failed() {
        assert!(line.contains("keep lease_settle_ms above 0"), "{line}");
    }
    for want in [
        "pass  store default: create-if-absent (If-None-Match: *): the first create succeeded, the second was refused",
        "pass  store default: replace-if-unchanged (If-Match): the replace with the current ETag succeeded, the one with a stale ETag was refused",
        "pass  store long-retention: replace-if-unchanged (If-Match): the replace with the current ETag succeeded",
    ] {
        assert!(
            d.lines.iter().any(|l| l.starts_with(want)),
            "{want}: {:#?}",
            d.lines
        );
    }
    assert_eq!(d.with("pass"), 16, "{:#?}", d.lines);
    let store = s3.store("s3://logs");
    assert_eq!(keys(&store, "doctor").await, Vec::<String>::new());
    assert_eq!(
        keys(&store, "long-retention/doctor").await,
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_ignores_conditional_headers_fails() {
    let home = tempfile::tempdir().unwrap();
    let fake = fake_s3::FakeS3::start(fake_s3::Mode::Ignore).await;
    let endpoint = fake.endpoint();
    let d = tokio::task::spawn_blocking(move || {
        Doctor::run(s3_doctor(home.path(), &endpoint, &["--store", "s3://logs"]))
    })
    .await
    .unwrap();
    d.assert_fails(&[
        "a second create of doctor/",
        "a replace with a stale ETag succeeded: the store ignores If-Match",
        "8 concurrent creates of one key: 8 of them succeeded in round 1",
    ]);
    assert!(
        d.lines
            .iter()
            .any(|l| l.starts_with("pass  store default: cleanup: ")),
        "{:#?}",
        d.lines
    );
    assert_eq!(fake.objects(), 0, "the scratch objects are deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_cleanup_is_reported() {
    let home = tempfile::tempdir().unwrap();
    let fake = fake_s3::FakeS3::start(fake_s3::Mode::Ignore).await;
    fake.refuse_deletes();
    let endpoint = fake.endpoint();
    let d = tokio::task::spawn_blocking(move || {
        Doctor::run(s3_doctor(home.path(), &endpoint, &["--store", "s3://logs"]))
    })
    .await
    .unwrap();
    let cleanup: Vec<&str> = d
        .failed()
        .into_iter()
        .filter(|l| l.contains("cleanup:"))
        .collect();
    assert_eq!(cleanup.len(), 1, "{:#?}", d.lines);
    assert!(
        cleanup[0].contains("deleting failed: doctor/"),
        "{cleanup:?}"
    );
    assert!(cleanup[0].contains("still there: doctor/"), "{cleanup:?}");
    assert!(cleanup[0].contains("delete doctor/"), "{cleanup:?}");
}

#[test]
fn an_unreachable_store_fails() {
    let home = tempfile::tempdir().unwrap();
    // Bound, then closed: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = Doctor::run(s3_doctor(
        home.path(),
        &format!("http://127.0.0.1:{port}"),
        &["--store", "s3://logs", "--store-retries", "0"],
    ));
    d.assert_fails(&["FAIL  store default (s3://logs): not reachable: "]);
    assert_eq!(
        d.lines.len(),
        2 + 4,
        "the store's line, four skips, the verdict"
    );

    let d = Doctor::run(doctor(
        home.path(),
        &["--store", s(&home.path().join("nope"))],
    ));
    d.assert_fails(&["is not a directory"]);
    assert!(
        !home.path().join("nope").exists(),
        "doctor creates no store"
    );
}

/// The shipped drop-in with `from` replaced by `to` (which must be there).
fn changed(dir: &Path, name: &str, from: &str, to: &str) -> PathBuf {
    let text = fs::read_to_string(shipped(name)).unwrap();
    assert!(text.contains(from), "{name} lacks {from:?}");
    let path = dir.join(name);
    fs::write(&path, text.replacen(from, to, 1)).unwrap();
    path
}

#[test]
fn drop_in_mistakes_fail() {
    let dir = tempfile::tempdir().unwrap();
    let filter = shipped("afterlog-filter.json");
    let run = |drop_in: &Path| {
        Doctor::run(doctor(
            dir.path(),
            &["--drop-in", s(drop_in), "--filter-config", s(&filter)],
        ))
    };
    // A REQUIRED setting missing, in each format.
    let p = changed(dir.path(), "afterlog.yaml", "      offset_key: 'off'\n", "");
    let d = run(&p);
    d.assert_fails(&["afterlog_tail: REQUIRED offset_key is not set, want `off`"]);
    assert!(
        d.failed()[0].ends_with("— fix: set `offset_key: off` in afterlog_tail (as shipped)"),
        "{:#?}",
        d.lines
    );
    let p = changed(
        dir.path(),
        "afterlog.conf",
        "emitter_storage.type          filesystem",
        "emitter_storage.type          memory",
    );
    run(&p).assert_fails(&[
        "afterlog_route: REQUIRED emitter_storage.type is `memory`, want `filesystem`",
    ]);
    // The look-ahead names a class that has no output; the one that has
    // is missing: stored twice.
    let p = changed(
        dir.path(),
        "afterlog.yaml",
        "(?!long-retention\\.)",
        "(?!long-retentio\\.)",
    );
    run(&p).assert_fails(&[
        "class long-retention has its own output (afterlog_s3_long_retention) but is not in afterlog_s3's look-ahead: its records are stored twice",
        "class long-retentio is in afterlog_s3's look-ahead but has no output of its own: its records are lost",
    ]);
    // A class the filter config routes to, with no output of its own.
    let cfg = dir.path().join("afterlog-filter.json");
    fs::write(
        &cfg,
        r#"{"classes": [{"name": "long-retention"}, {"name": "audit"}],
            "routes": [{"match": {"namespace": "tool-auth"}, "action": "class", "class": "audit"}]}"#,
    )
    .unwrap();
    let d = Doctor::run(doctor(
        dir.path(),
        &[
            "--drop-in",
            s(&shipped("afterlog.conf")),
            "--filter-config",
            s(&cfg),
        ],
    ));
    d.assert_fails(&["class audit has no s3 output of its own in the drop-in"]);
    // The drop-in stores long-retention apart; the stores given lack it.
    let data = dir.path().join("data");
    fs::create_dir(&data).unwrap();
    let d = Doctor::run(doctor(
        dir.path(),
        &[
            "--store",
            s(&data),
            "--drop-in",
            s(&shipped("afterlog.yaml")),
        ],
    ));
    d.assert_fails(&["no --class long-retention=… is given"]);
}

#[test]
fn filter_config_and_auth_file_mistakes_fail() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("afterlog-filter.json");
    let text = fs::read_to_string(shipped("afterlog-filter.json")).unwrap();
    fs::write(&cfg, text.replacen("^tool-(.+)$", "^tool-(.+$", 1)).unwrap();
    let tokens = dir.path().join("tokens.json");
    fs::write(
        &tokens,
        r#"{"tokens": [{"name": "x", "hash": "abc", "tools": ["t"]}]}"#,
    )
    .unwrap();
    let members = dir.path().join("members.json");
    fs::write(&members, r#"{"admins": ["a"],}"#).unwrap();
    let d = Doctor::run(doctor(
        dir.path(),
        &[
            "--filter-config",
            s(&cfg),
            "--tokens",
            s(&tokens),
            "--members",
            s(&members),
        ],
    ));
    d.assert_fails(&[
        "labels.tool[1]: bad regex:",
        "unknown field `hash`, expected one of `name`, `sha256`, `tools`, `admin`",
        "members.json: trailing comma",
    ]);
}

#[test]
fn an_aot_fluent_bit_cannot_load_fails_with_its_words() {
    let dir = tempfile::tempdir().unwrap();
    let fb = fluent_bit_path().unwrap();
    let run = |aot: &Path| {
        Doctor::run(doctor(
            dir.path(),
            &["--aot", s(aot), "--fluent-bit", s(&fb)],
        ))
    };
    // Another WAMR's: the AOT format's version (after the magic) differs.
    let mut bytes = fs::read(aot()).unwrap();
    assert_eq!(&bytes[..4], b"\0aot");
    bytes[4] = bytes[4].wrapping_add(1);
    let other = dir.path().join("other-version.aot");
    fs::write(&other, &bytes).unwrap();
    let d = run(&other);
    d.assert_fails(&["Fluent Bit refuses it: it exited with 255: "]);
    assert!(
        d.failed()[0].contains("AOT module load failed: unknown binary version"),
        "{:#?}",
        d.lines
    );
    // Built for another machine.
    let arm = dir.path().join("aarch64.aot");
    let made = Command::new(flb_wamrc_path().unwrap())
        .arg("--target=aarch64")
        .arg("-o")
        .arg(&arm)
        .arg(require_filter_wasm())
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let d = run(&arm);
    d.assert_fails(&["Fluent Bit refuses it: it exited with 255: "]);
    assert!(
        d.failed()[0].contains("invalid target type, expected x86_64"),
        "{:#?}",
        d.lines
    );
    // Cut short.
    let cut = dir.path().join("cut.aot");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    run(&cut).assert_fails(&["Fluent Bit refuses it: "]);
}

/// A fake S3 endpoint on 127.0.0.1: it stores objects and either honours
/// `If-None-Match: *` and `If-Match` atomically, or ignores them as a
/// store without conditional writes does; it can also refuse every delete.
mod fake_s3 {
    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::{Path, Query, State};
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use std::collections::{BTreeMap, HashMap};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Copy, PartialEq, Eq)]
    pub enum Mode {
        Atomic,
        Ignore,
    }

    struct Inner {
        mode: Mode,
        objects: Mutex<BTreeMap<String, (Bytes, String)>>,
        next: AtomicU64,
        refuse_deletes: AtomicBool,
    }

    pub struct FakeS3 {
        addr: std::net::SocketAddr,
        inner: Arc<Inner>,
        _task: tokio::task::JoinHandle<()>,
    }

    const DATE: &str = "Sat, 05 Dec 2026 07:00:00 GMT";

    impl FakeS3 {
        pub async fn start(mode: Mode) -> FakeS3 {
            let inner = Arc::new(Inner {
                mode,
                objects: Mutex::default(),
                next: AtomicU64::new(1),
                refuse_deletes: AtomicBool::new(false),
            });
            let app = Router::new()
                .route("/{bucket}", get(list).post(delete_many))
                .route(
                    "/{bucket}/{*key}",
                    get(read).head(read).put(write).delete(remove),
                )
                .with_state(inner.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let task = tokio::spawn(async move {
                axum::serve(listener, app).await.unwrap();
            });
            FakeS3 {
                addr,
                inner,
                _task: task,
            }
        }

        pub fn endpoint(&self) -> String {
            format!("http://{}", self.addr)
        }

        pub fn objects(&self) -> usize {
            self.inner.objects.lock().unwrap().len()
        }

        pub fn refuse_deletes(&self) {
            self.inner.refuse_deletes.store(true, Ordering::SeqCst);
        }
    }

    async fn list(
        State(s): State<Arc<Inner>>,
        Query(q): Query<HashMap<String, String>>,
    ) -> Response {
        let prefix = q.get("prefix").cloned().unwrap_or_default();
        let mut xml = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><IsTruncated>false</IsTruncated>",
        );
        for (k, (b, etag)) in s.objects.lock().unwrap().iter() {
            if k.starts_with(&prefix) {
                xml.push_str(&format!(
                    "<Contents><Key>{k}</Key><LastModified>2026-12-05T07:00:00.000Z</LastModified>\
                     <ETag>{etag}</ETag><Size>{}</Size></Contents>",
                    b.len()
                ));
            }
        }
        xml.push_str("</ListBucketResult>");
        ([(header::CONTENT_TYPE, "application/xml")], xml).into_response()
    }

    async fn read(State(s): State<Arc<Inner>>, Path((_, key)): Path<(String, String)>) -> Response {
        match s.objects.lock().unwrap().get(&key) {
            Some((b, etag)) => (
                [
                    (header::ETAG, etag.clone()),
                    (header::LAST_MODIFIED, DATE.to_string()),
                ],
                b.clone(),
            )
                .into_response(),
            None => (
                StatusCode::NOT_FOUND,
                "<Error><Code>NoSuchKey</Code></Error>",
            )
                .into_response(),
        }
    }

    /// Stores the body: if its conditions hold, checked and written under
    /// one lock ([`Mode::Atomic`]), or whatever they say ([`Mode::Ignore`]).
    async fn write(
        State(s): State<Arc<Inner>>,
        Path((_, key)): Path<(String, String)>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let mut objects = s.objects.lock().unwrap();
        if s.mode == Mode::Atomic {
            let current = objects.get(&key).map(|(_, e)| e.as_str());
            let none_match = headers.get(header::IF_NONE_MATCH).is_some_and(|v| v == "*");
            let if_match = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok());
            let refused = (none_match && current.is_some())
                || if_match.is_some_and(|want| current != Some(want));
            if refused {
                return (
                    StatusCode::PRECONDITION_FAILED,
                    "<Error><Code>PreconditionFailed</Code></Error>",
                )
                    .into_response();
            }
        }
        let etag = format!("\"{}\"", s.next.fetch_add(1, Ordering::SeqCst));
        objects.insert(key, (body, etag.clone()));
        ([(header::ETAG, etag)], "").into_response()
    }

    /// DeleteObjects (`POST /bucket?delete`), as object_store deletes.
    async fn delete_many(State(s): State<Arc<Inner>>, body: String) -> Response {
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><DeleteResult>");
        for part in body.split("<Key>").skip(1) {
            let key = part.split("</Key>").next().unwrap_or_default();
            if s.refuse_deletes.load(Ordering::SeqCst) {
                xml.push_str(&format!(
                    "<Error><Key>{key}</Key><Code>AccessDenied</Code><Message>no deletes here</Message></Error>"
                ));
            } else {
                s.objects.lock().unwrap().remove(key);
                xml.push_str(&format!("<Deleted><Key>{key}</Key></Deleted>"));
            }
        }
        xml.push_str("</DeleteResult>");
        ([(header::CONTENT_TYPE, "application/xml")], xml).into_response()
    }

    async fn remove(
        State(s): State<Arc<Inner>>,
        Path((_, key)): Path<(String, String)>,
    ) -> Response {
        if s.refuse_deletes.load(Ordering::SeqCst) {
            return (
                StatusCode::FORBIDDEN,
                "<Error><Code>AccessDenied</Code><Message>no deletes here</Message></Error>",
            )
                .into_response();
        }
        s.objects.lock().unwrap().remove(&key);
        StatusCode::NO_CONTENT.into_response()
    }
}

/// An az:// store on Azurite, credentials from the environment as in a
/// pod: reachable, its conditional writes atomic, the scratch prefix
/// gone afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_azure_store_on_azurite_passes_the_store_checks() {
    use afterlog_testkit::azurite::{ACCOUNT, ACCOUNT_KEY};
    let home = tempfile::tempdir().unwrap();
    let az = afterlog_testkit::AzuriteServer::start(&["logs"]);
    let mut cmd = doctor(home.path(), &["--store", "az://logs"]);
    cmd.env("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT)
        .env("AZURE_STORAGE_ACCOUNT_KEY", ACCOUNT_KEY)
        .env("AZURE_STORAGE_ENDPOINT", az.endpoint());
    let d = tokio::task::spawn_blocking(move || Doctor::run(cmd))
        .await
        .unwrap();
    assert_eq!(d.code, Some(0), "{:#?}", d.lines);
    assert_eq!(d.with("pass"), 5, "{:#?}", d.lines);
    for want in [
        "pass  store default (az://logs): reachable: listed raw/ (0 entries)",
        "pass  store default: create-if-absent (If-None-Match: *): the first create succeeded, the second was refused",
        "the replace with the current ETag succeeded, the one with a stale ETag was refused",
        "8 concurrent creates of one key: exactly one won, 5 times out of 5",
    ] {
        assert!(
            d.lines.iter().any(|l| l.contains(want)),
            "{want}: {:#?}",
            d.lines
        );
    }
    assert_eq!(
        keys(&az.store("az://logs"), "doctor").await,
        Vec::<String>::new(),
        "the scratch objects are deleted"
    );
}
