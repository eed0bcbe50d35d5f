//! The scenario's world: its pods, what their containers write, and what
//! the filter must make of each line.

use crate::NS;
use afterlog_harness::expect::Expect;
use afterlog_sim::cri::Stream;
use afterlog_sim::k8s::{Pod, hex_id};
use serde_json::Value;
use std::path::PathBuf;

/// The second routing class of the drop-in (and the sample filter config).
pub const LONG: &str = "long-retention";

pub type PodOf = (Pod, Option<Expect>);

/// One logical line written to a container log.
#[derive(Clone, Debug)]
pub struct Written {
    pub expect: Option<Expect>,
    pub namespace: String,
    pub pod: String,
    pub node: String,
    pub container: String,
    pub container_id: String,
    pub ts: u64,
    pub off: u64,
    pub stream: Stream,
    pub log: String,
    pub phase: u8,
}

impl Written {
    pub fn order_key(&self) -> (u64, &str, u64) {
        (self.ts, &self.container_id, self.off)
    }

    /// The exact `afterlog` object of the record.
    pub fn labels(&self) -> Value {
        let e = self.expect.expect("a tool's line");
        e.labels(
            &self.namespace,
            &self.pod,
            &self.node,
            &self.container,
            &self.container_id,
        )
    }
}

/// Writes CRI lines and remembers what it wrote.
pub struct Logs {
    pub dir: PathBuf,
    pub lines: Vec<Written>,
    pub phase: u8,
}

impl Logs {
    pub fn written(
        &self,
        pod: &PodOf,
        container: &str,
        ts: u64,
        off: u64,
        s: Stream,
        log: String,
    ) -> Written {
        let (p, expect) = pod;
        Written {
            expect: *expect,
            namespace: p.namespace.clone(),
            pod: p.name.clone(),
            node: p.node.clone(),
            container: container.into(),
            container_id: p.container_id(container).into(),
            ts,
            off,
            stream: s,
            log,
            phase: self.phase,
        }
    }

    pub fn line(&mut self, pod: &PodOf, container: &str, ts: u64, stream: Stream, text: &str) {
        let mut log = pod.0.log(&self.dir, container).unwrap();
        let off = log.line(ts, stream, text).unwrap();
        log.flush().unwrap();
        let w = self.written(pod, container, ts, off, stream, text.into());
        self.lines.push(w);
    }

    /// A line the runtime cut into `P` parts (1 ns apart) and a final `F`;
    /// the joined record keeps the first part's time and the last part's offset.
    pub fn partial(
        &mut self,
        pod: &PodOf,
        container: &str,
        ts: u64,
        stream: Stream,
        parts: &[&str],
    ) {
        let (last, init) = parts.split_last().expect("parts");
        let mut log = pod.0.log(&self.dir, container).unwrap();
        let mut t = ts;
        for p in init {
            log.partial(t, stream, p).unwrap();
            t += 1;
        }
        let off = log.line(t, stream, last).unwrap();
        log.flush().unwrap();
        let w = self.written(pod, container, ts, off, stream, parts.concat());
        self.lines.push(w);
    }

    pub fn tool_lines(&self, tool: &str, job: &str) -> Vec<&Written> {
        let mut v: Vec<&Written> = self
            .lines
            .iter()
            .filter(|w| w.expect.is_some_and(|e| e.tool == tool && e.job == job))
            .collect();
        v.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        v
    }
}

/// A time `i` seconds after `base_secs`, with whole, short and full
/// nanosecond fractions mixed.
pub fn tick(base_secs: u64, i: u64) -> u64 {
    (base_secs + i) * NS + [0, 500_000_000, 123_456_789, 2][(i % 4) as usize]
}

/// The pod after its container `name` restarted: a new id, a new log file.
pub fn restarted(pod: &Pod, name: &str) -> Pod {
    let mut p = pod.clone();
    let c = p
        .containers
        .iter_mut()
        .find(|c| c.name == name)
        .expect("container");
    c.id = hex_id(&format!("{}/restart", c.id));
    p
}

pub struct Pods {
    /// A one-off job with two containers; its name needs key encoding.
    pub job: PodOf,
    /// A cron job's run, and its next run (whose log file is deleted),
    /// labelled into the long-retention class: the job spans two classes.
    pub cron: PodOf,
    pub cron2: PodOf,
    /// Another tool's web service, and the same pod after a restart.
    pub web: PodOf,
    pub web2: PodOf,
    /// A tool with a tiny quota that writes far past it.
    pub noisy: PodOf,
    /// Not a tool: must stay out of the bucket.
    pub system: PodOf,
    /// A tool's pod opted out by its label (a routing rule): not collected.
    pub opted_out: PodOf,
}

impl Pods {
    pub fn new() -> Pods {
        let cron = Some(Expect {
            tool: "foo",
            job: "mycron",
            kind: "cronjob",
            class: "default",
        });
        let web = Pod::new("tool-bar", "web-7d9f8b6c5d-x2x4z")
            .label("app.kubernetes.io/name", "web")
            .label("app.kubernetes.io/component", "web")
            .label("pod-template-hash", "7d9f8b6c5d")
            .node("node-3")
            .container("webservice");
        let web_expect = Some(Expect {
            tool: "bar",
            job: "web",
            kind: "webservice",
            class: "default",
        });
        Pods {
            job: (
                Pod::new("tool-foo", "my.job-x7k2p")
                    .label("app.kubernetes.io/managed-by", "toolforge-jobs-framework")
                    .label("app.kubernetes.io/name", "my.job")
                    .label("job-name", "my.job")
                    .container("job")
                    .container("sidecar"),
                Some(Expect {
                    tool: "foo",
                    job: "my.job",
                    kind: "job",
                    class: "default",
                }),
            ),
            cron: (
                Pod::new("tool-foo", "mycron-28889999-k7p2q")
                    .label("batch.kubernetes.io/job-name", "mycron-28889999")
                    .label("job-name", "mycron-28889999")
                    .node("node-2")
                    .container("job"),
                cron,
            ),
            cron2: (
                Pod::new("tool-foo", "mycron-28890000-q9z8x")
                    .label("batch.kubernetes.io/job-name", "mycron-28890000")
                    .label("job-name", "mycron-28890000")
                    .label("afterlog.io/retain", "long")
                    .container("job"),
                cron.map(|e| Expect { class: LONG, ..e }),
            ),
            web2: (restarted(&web, "webservice"), web_expect),
            web: (web, web_expect),
            noisy: (
                Pod::new("tool-noisy-tool", "spam-q7x2z")
                    .label("job-name", "spam")
                    .container("spam"),
                Some(Expect {
                    tool: "noisy-tool",
                    job: "spam",
                    kind: "job",
                    class: "default",
                }),
            ),
            system: (
                Pod::new("kube-system", "coredns-5d78c9869d-q2x8m")
                    .label("k8s-app", "kube-dns")
                    .label("pod-template-hash", "5d78c9869d")
                    .container("coredns"),
                None,
            ),
            opted_out: (
                Pod::new("tool-foo", "private-x7k2p")
                    .label("job-name", "private")
                    .label("afterlog.io/collect", "false")
                    .container("job"),
                None,
            ),
        }
    }

    /// (tool, job) of every tool job in the scenario.
    pub const JOBS: [(&'static str, &'static str); 4] = [
        ("foo", "my.job"),
        ("foo", "mycron"),
        ("bar", "web"),
        ("noisy-tool", "spam"),
    ];
}

/// Ten minutes ago: containers interleaved, equal times across containers,
/// both streams, a line cut into parts, escapes, a tool over its quota.
/// A secret a cron run leaks into its log (and a tool then deletes).
pub const LEAKED: &str = "s3cr3t-hunter2";

pub fn write_phase1(logs: &mut Logs, p: &Pods, base: u64) {
    use Stream::{Stderr, Stdout};
    let t = |i| tick(base, i);
    logs.line(&p.job, "job", t(1), Stdout, "starting my.job run 1");
    logs.line(&p.job, "sidecar", t(1), Stdout, "sidecar: proxy up");
    logs.line(&p.system, "coredns", t(2), Stdout, "coredns: query a");
    logs.line(&p.opted_out, "job", t(2), Stdout, "private: not collected");
    logs.line(&p.job, "job", t(2), Stderr, "warning: cache cold");
    let parts = ["partial one, ", "partial two, ", "partial three"];
    logs.partial(&p.job, "job", t(3), Stderr, &parts);
    logs.line(&p.job, "sidecar", t(3), Stdout, "sidecar: tick 3");
    let text = "unicode: café ü 日本 😀 \"quoted\" back\\slash\ttab / slash";
    logs.line(&p.job, "job", t(4), Stdout, text);
    logs.line(
        &p.web,
        "webservice",
        t(4),
        Stdout,
        "web: listening on :8000",
    );
    logs.line(&p.job, "sidecar", t(5), Stderr, "sidecar: upstream slow");
    logs.line(&p.job, "job", t(6), Stdout, r#"{"json": "inside", "n": 1}"#);
    for i in 0..5 {
        let stream = if i % 2 == 0 { Stdout } else { Stderr };
        let text = format!("mycron run 28889999 line {i}");
        logs.line(&p.cron, "job", t(7 + i), stream, &text);
    }
    logs.line(&p.web, "webservice", t(8), Stderr, "web: GET / 200");
    // The secret the scenario's last phase asks to delete.
    let leak = format!("mycron: connecting with password={LEAKED}");
    logs.line(&p.cron, "job", t(12), Stderr, &leak);
    // One second, so one quota window whatever the clock says.
    let filler = "x".repeat(150);
    for i in 0..40 {
        let text = format!("spam line {i:02} {filler}");
        logs.line(&p.noisy, "spam", base * NS + i * 1000, Stdout, &text);
    }
    logs.line(&p.system, "coredns", t(9), Stderr, "coredns: query b");
    logs.line(
        &p.opted_out,
        "job",
        t(9),
        Stderr,
        "private: still not collected",
    );
    logs.line(&p.job, "job", t(12), Stdout, "job done");
}
