//! The workloads of a small Toolforge-like cluster: what each job's
//! containers write, and when.

use crate::cluster::{Cluster, clock, pod_on};
use crate::{DemoJob, HOUR, MINUTE, NOISY, NOISY_BYTES, NOISY_WINDOW_SECS, S};
use afterlog_sim::cri::Stream;
use afterlog_sim::k8s::uid;
use afterlog_sim::k8s_event::{Event, Involved};
use std::fmt::Write as _;

const OUT: Stream = Stream::Stdout;
const ERR: Stream = Stream::Stderr;
/// Kubernetes' generated-name alphabet (pod name suffixes, template hashes).
const GEN: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
const WORKER_1: &str = "tools-k8s-worker-nfs-11";
const WORKER_2: &str = "tools-k8s-worker-nfs-23";
const PY_IMAGE: &str = "docker-registry.tools.wmflabs.org/toolforge-python311-sssd-base:latest";

/// Labels the Toolforge jobs framework puts on a job's pods.
fn jobs_labels<'a>(tool: &'a str, name: &'a str, component: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("app.kubernetes.io/component", component),
        ("app.kubernetes.io/created-by", tool),
        ("app.kubernetes.io/managed-by", "toolforge-jobs-framework"),
        ("app.kubernetes.io/name", name),
        ("app.kubernetes.io/version", "2"),
        ("toolforge", "tool"),
    ]
}

pub(crate) fn one_off(c: &mut Cluster, start: u64) -> DemoJob {
    let (tool, job) = ("fourohfour", "rebuild-index");
    let name = format!("{job}-{}", c.rng.word(GEN, 5));
    let job_uid = uid(&name);
    let mut labels = jobs_labels(tool, job, "jobs");
    labels.extend([
        ("batch.kubernetes.io/controller-uid", job_uid.as_str()),
        ("batch.kubernetes.io/job-name", job),
        ("controller-uid", job_uid.as_str()),
        ("job-name", job),
    ]);
    let pod = pod_on(&format!("tool-{tool}"), &name, WORKER_2, &labels);
    let k = c.container(&pod, job, PY_IMAGE, 0, Some([tool, job, "job"]));
    let mut t = start;
    let start = [
        "Starting rebuild-index (fourohfour 3.2.1, Python 3.11.2)",
        "Connecting to enwiki.analytics.db.svc.wikimedia.cloud:3306",
    ];
    c.script(k, &mut t, (200, 3_000), OUT, &start);
    let lag = ["WARNING: replica lag is 14 s, results may be slightly stale"];
    c.script(k, &mut t, (5, 500), ERR, &lag);
    for i in 1..=13u64 {
        let ts = c.after(&mut t, 35_000, 55_000);
        let done = (i * 524_026).min(6_812_331);
        let text = format!(
            "Processed {done} of 6812331 titles ({}%)",
            done * 100 / 6_812_331
        );
        c.log(k, ts, OUT, &text);
        match i {
            4 => {
                let skipped = "WARNING: skipped a title that is not valid UTF-8 (page_id 48213377)";
                c.script(k, &mut t, (5, 400), ERR, &[skipped]);
            }
            7 => {
                let texts = [
                    "Indexed redirect «Zürich Hauptbahnhof» → «Zürich HB»",
                    "日本語版ウィキペディア: 1,284 broken links ✅",
                ];
                c.script(k, &mut t, (5, 900), OUT, &texts);
            }
            _ => {}
        }
    }
    let mut long = String::from("DEBUG unresolved titles: [");
    for n in 0.. {
        if long.len() > 24_000 {
            break;
        }
        let _ = write!(long, "\"Liste_der_Straßen_in_Köln-{n}\", ");
    }
    long.push_str("\"end\"]");
    let ts = c.after(&mut t, 100, 2_000);
    c.log(k, ts, OUT, &long);
    let ts = c.after(&mut t, 1_000, 3_000);
    let done =
        "Done: 6812331 titles, 48213 broken links written to /data/project/fourohfour/index.json";
    c.log(k, ts, OUT, done);
    DemoJob {
        tool: tool.into(),
        job: job.into(),
        kind: "job".into(),
        note: format!(
            "one-off job (pod {name}): stdout and stderr interleaved, non-ASCII text, and a {} KiB \
             line joined from CRI partials and cut at the filter's 16 KiB line limit",
            long.len() / 1024
        ),
    }
}

/// Four hourly runs, the newest an hour before `now`. Returns the pods, oldest first.
pub(crate) fn cron(c: &mut Cluster, now: u64) -> (DemoJob, Vec<String>) {
    let (tool, job) = ("cronbot", "update-stats");
    let hour = now - now % HOUR;
    let wikis = [
        "enwiki", "dewiki", "frwiki", "jawiki", "eswiki", "ruwiki", "itwiki", "zhwiki", "plwiki",
        "nlwiki",
    ];
    let mut pods = Vec::new();
    for run in 0..4u64 {
        let scheduled = hour - (4 - run) * HOUR + 15 * MINUTE;
        let job_name = format!("{job}-{}", scheduled / MINUTE);
        let name = format!("{job_name}-{}", c.rng.word(GEN, 5));
        let job_uid = uid(&job_name);
        let mut labels = jobs_labels(tool, job, "cronjobs");
        labels.extend([
            ("batch.kubernetes.io/controller-uid", job_uid.as_str()),
            ("batch.kubernetes.io/job-name", job_name.as_str()),
            ("controller-uid", job_uid.as_str()),
            ("job-name", job_name.as_str()),
        ]);
        let pod = pod_on(&format!("tool-{tool}"), &name, WORKER_1, &labels);
        let k = c.container(&pod, job, PY_IMAGE, 0, Some([tool, job, "cronjob"]));
        let mut t = scheduled + 3 * S;
        let ts = c.after(&mut t, 100, 900);
        let text = format!("Run started (scheduled for {} UTC)", clock(scheduled));
        c.log(k, ts, OUT, &text);
        for (i, wiki) in wikis.iter().enumerate() {
            let ts = c.after(&mut t, 40_000, 80_000);
            let edits = 500 + c.rng.below(40_000);
            let text = format!(
                "{wiki}: {edits} edits, {} new pages in the last hour",
                edits / 37
            );
            c.log(k, ts, OUT, &text);
            if i == run as usize + 2 {
                let ts = c.after(&mut t, 10, 500);
                let lag = 20 + c.rng.below(90);
                c.log(k, ts, ERR, &format!("WARNING: {wiki} replica lag {lag} s"));
            }
        }
        let ts = c.after(&mut t, 1_000, 5_000);
        let text = format!(
            "Wrote /data/project/cronbot/stats/{}.json",
            scheduled / HOUR
        );
        c.log(k, ts, OUT, &text);
        let ts = c.after(&mut t, 10, 300);
        let took = (ts - scheduled) / S;
        c.log(k, ts, OUT, &format!("Run finished in {took} s"));
        // What the CronJob controller says of the run, filed under the job.
        let cronjob = Involved::new("CronJob", &format!("tool-{tool}"), job);
        let expect = [tool, job, "cronjob"];
        for (reason, message, at) in [
            (
                "SuccessfulCreate",
                format!("Created job {job_name}"),
                scheduled,
            ),
            (
                "SawCompletedJob",
                format!("Saw completed job: {job_name}, condition: Complete"),
                ts + 2 * S,
            ),
        ] {
            let e = Event {
                object: cronjob.clone(),
                kind: "Normal".into(),
                reason: reason.into(),
                message,
                component: "cronjob-controller".into(),
                host: None,
                count: 1,
                first_ns: at,
                last_ns: at,
            };
            c.event(&e, expect);
        }
        pods.push(name);
    }
    let note = format!(
        "cron job, one pod per run ({} runs); the oldest, {}, is compacted into data/ + meta/ \
         with one consumed raw object not yet deleted; {} has a retried upload repeating its \
         records; the CronJob controller's events are under [@events/@events]",
        pods.len(),
        pods[0],
        pods[2]
    );
    let job = DemoJob {
        tool: tool.into(),
        job: job.into(),
        kind: "cronjob".into(),
        note,
    };
    (job, pods)
}

/// Two replicas serving for the last three hours; the second one's container
/// is killed and restarted. Returns the pod with the late upload.
pub(crate) fn web(c: &mut Cluster, now: u64) -> (DemoJob, String) {
    let tool = "wiki-stats";
    let image = "harbor.toolforge.org/tool-wiki-stats/tool-wiki-stats:latest";
    let hash = c.rng.word(GEN, 10);
    let labels = [
        ("app.kubernetes.io/component", "web"),
        ("app.kubernetes.io/managed-by", "webservice"),
        ("app.kubernetes.io/name", tool),
        ("name", tool),
        ("pod-template-hash", hash.as_str()),
        ("toolforge", "tool"),
    ];
    let expect = Some([tool, tool, "webservice"]);
    let names: Vec<String> = (0..2)
        .map(|_| format!("{tool}-{hash}-{}", c.rng.word(GEN, 5)))
        .collect();
    let crash_at = now - 100 * MINUTE;
    let paths = [
        "/",
        "/stats/enwiki",
        "/stats/dewiki",
        "/api/v1/top?wiki=frwiki&limit=50",
        "/static/style.css",
        "/stats/elwiki",
        "/favicon.ico",
    ];
    for (replica, (name, node)) in names.iter().zip([WORKER_1, WORKER_2]).enumerate() {
        let pod = pod_on(&format!("tool-{tool}"), name, node, &labels);
        let mut k = c.container(&pod, "webservice", image, 0, expect);
        let mut t = now - 3 * HOUR + replica as u64 * 7 * S;
        let mut restarted = replica == 0;
        let mut boot = true;
        while t < now - 8 * MINUTE {
            if boot {
                boot = false;
                let texts = [
                    "[INFO] Starting gunicorn 22.0.0",
                    "[INFO] Listening at: http://0.0.0.0:8000 (1)",
                    "[INFO] Using worker: sync",
                    "[INFO] Booting worker with pid: 7",
                ];
                c.script(k, &mut t, (5, 300), ERR, &texts);
            }
            let ts = c.after(&mut t, 10_000, 50_000);
            let path = c.rng.pick(&paths);
            let status = if path == "/favicon.ico" { 404 } else { 200 };
            let text = format!(
                "10.0.{}.{} - - \"GET {path} HTTP/1.1\" {status} {} \"-\" \"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0\"",
                c.rng.below(8),
                2 + c.rng.below(250),
                180 + c.rng.below(20_000)
            );
            c.log(k, ts, OUT, &text);
            if path == "/stats/elwiki" {
                let ts = c.after(&mut t, 1, 40);
                c.log(
                    k,
                    ts,
                    ERR,
                    "[INFO] Rendered stats for «Ελληνικά» (elwiki) in 41 ms",
                );
            }
            if !restarted && t > crash_at {
                restarted = true;
                // The kubelet saw it coming: the liveness probe timed out
                // while the worker was stuck.
                let probe = Event {
                    object: Involved::new("Pod", &pod.namespace, &pod.name).container("webservice"),
                    kind: "Warning".into(),
                    reason: "Unhealthy".into(),
                    message: "Liveness probe failed: Get \"http://192.168.44.17:8000/\": \
                              context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
                        .into(),
                    component: "kubelet".into(),
                    host: Some(node.to_string()),
                    count: 3,
                    first_ns: t - 20 * S,
                    last_ns: t,
                };
                let event_labels = [tool, tool, "continuous"];
                for count in 1..=3 {
                    let e = Event {
                        count,
                        last_ns: probe.first_ns + (count - 1) * 10 * S,
                        ..probe.clone()
                    };
                    c.event(&e, event_labels);
                }
                let texts = [
                    "[ERROR] Exception in worker process",
                    "Traceback (most recent call last):",
                    "  File \"/workspace/app.py\", line 88, in top_pages",
                    "    rows = cursor.fetchall()",
                    "MemoryError",
                    "[INFO] Worker exiting (pid: 7)",
                    "[INFO] Shutting down: Master",
                ];
                c.script(k, &mut t, (1, 20), ERR, &texts);
                k = c.container(&pod, "webservice", image, 1, expect);
                c.after(&mut t, 8_000, 12_000);
                // Kubernetes' times are whole seconds: a second apart, in order.
                for (before, (reason, message)) in [
                    (
                        3,
                        (
                            "Pulled",
                            format!("Container image \"{image}\" already present on machine"),
                        ),
                    ),
                    (2, ("Created", "Created container webservice".into())),
                    (1, ("Started", "Started container webservice".into())),
                ] {
                    let e = Event {
                        reason: reason.into(),
                        kind: "Normal".into(),
                        message,
                        count: 2,
                        first_ns: now - 3 * HOUR + 7 * S,
                        last_ns: t - before * S,
                        ..probe.clone()
                    };
                    c.event(&e, event_labels);
                }
                boot = true;
            }
        }
    }
    let note = format!(
        "web service with two replicas ({} and {}); the second one's container crashed and \
         restarted (new container id, offsets from 0), and its Kubernetes events show inline \
         ([pod/@events]: the liveness probe failing, the restart); one upload of the first was \
         PUT after the next one",
        names[0], names[1]
    );
    let job = DemoJob {
        tool: tool.into(),
        job: tool.into(),
        kind: "webservice".into(),
        note,
    };
    (job, names[0].clone())
}

/// The image build that preceded the web service: one pod, two step containers.
pub(crate) fn image_build(c: &mut Cluster, start: u64) -> DemoJob {
    let tool = "wiki-stats";
    let run = format!("{tool}-buildpacks-pipelinerun-{}", c.rng.word(GEN, 5));
    let labels = [
        ("app.kubernetes.io/managed-by", "tekton-pipelines"),
        ("tekton.dev/pipeline", "buildpacks"),
        ("tekton.dev/pipelineRun", run.as_str()),
        ("tekton.dev/task", "buildpacks"),
    ];
    let pod = pod_on(
        "image-build",
        &format!("{run}-build-pod"),
        WORKER_2,
        &labels,
    );
    let expect = Some([tool, "build", "build"]);
    let image = "docker-registry.tools.wmflabs.org/toolforge-buildpacks-builder:v3";
    let prepare = c.container(&pod, "step-prepare", image, 0, expect);
    let build = c.container(&pod, "step-build", image, 0, expect);
    let mut t = start;
    let texts = [
        "Cloning https://gitlab.wikimedia.org/toolforge-repos/wiki-stats (ref main)",
        "Checked out 3f9c2e1 \"Show the top pages per wiki\"",
    ];
    c.script(prepare, &mut t, (300, 2_000), OUT, &texts);
    let texts = [
        "===> ANALYZING",
        "===> DETECTING",
        "heroku/python 0.12.0",
        "===> BUILDING",
        "-----> Installing python-3.11.9",
        "-----> Installing requirements with pip",
        "       Collecting flask==3.0.3",
        "       Collecting gunicorn==22.0.0",
        "       Collecting pymysql==1.1.1",
        "       Successfully installed flask-3.0.3 gunicorn-22.0.0 pymysql-1.1.1",
        "===> EXPORTING",
        "Adding layer 'heroku/python:python'",
        "Saving harbor.toolforge.org/tool-wiki-stats/tool-wiki-stats:latest...",
        "*** Images (sha256:5be1c0de): harbor.toolforge.org/tool-wiki-stats/tool-wiki-stats:latest",
    ];
    c.script(build, &mut t, (500, 25_000), OUT, &texts);
    DemoJob {
        tool: tool.into(),
        job: "build".into(),
        kind: "build".into(),
        note: format!("image build (pod {}): two step containers", pod.name),
    }
}

/// A continuous job whose burst spends its tool's quota. Windows are
/// aligned in event time, so the phases are placed on window boundaries.
pub(crate) fn noisy(c: &mut Cluster, now: u64) -> DemoJob {
    let (tool, job) = (NOISY, "firehose");
    let hash = c.rng.word(GEN, 10);
    let mut labels = jobs_labels(tool, job, "deployments");
    labels.push(("pod-template-hash", hash.as_str()));
    let name = format!("{job}-{hash}-{}", c.rng.word(GEN, 5));
    let pod = pod_on(&format!("tool-{tool}"), &name, WORKER_1, &labels);
    let k = c.container(&pod, job, PY_IMAGE, 0, Some([tool, job, "continuous"]));
    let window = NOISY_WINDOW_SECS * S;
    let w0 = (now - 2 * HOUR) / window * window;
    let heartbeats = |c: &mut Cluster, from: u64| {
        let mut t = from;
        while t < from + window - 90 * S {
            let ts = c.after(&mut t, 50_000, 70_000);
            let text = format!(
                "heartbeat: queue depth {}, {} events/min",
                c.rng.below(20),
                30 + c.rng.below(40)
            );
            c.log(k, ts, OUT, &text);
        }
    };
    heartbeats(c, w0);
    let mut t = w0 + window;
    let mut event = 90_211_000 + c.rng.below(1000);
    while t < w0 + window + 400 * S {
        let ts = c.after(&mut t, 800, 2_200);
        event += 1 + c.rng.below(30);
        let text = format!(
            "DEBUG event {event}: {{\"type\":\"edit\",\"wiki\":\"wikidatawiki\",\"rev\":{}}}",
            2_300_000_000 + event
        );
        c.log(k, ts, OUT, &text);
    }
    heartbeats(c, w0 + 2 * window);
    DemoJob {
        tool: tool.into(),
        job: job.into(),
        kind: "continuous".into(),
        note: format!(
            "continuous job whose burst hits the tool's quota ({NOISY_BYTES} bytes per {} min): \
             a quota_exceeded marker, then a quota_dropped summary on the next window's first line",
            NOISY_WINDOW_SECS / 60
        ),
    }
}

/// A system pod: the filter passes its records through unlabelled, so they
/// never reach the bucket.
pub(crate) fn not_a_tool(c: &mut Cluster, now: u64) {
    let hash = c.rng.word(GEN, 10);
    let name = format!("coredns-{hash}-{}", c.rng.word(GEN, 5));
    let labels = [
        ("k8s-app", "kube-dns"),
        ("pod-template-hash", hash.as_str()),
    ];
    let pod = pod_on("kube-system", &name, WORKER_1, &labels);
    let image = "registry.k8s.io/coredns/coredns:v1.11.1";
    let k = c.container(&pod, "coredns", image, 0, None);
    let mut t = now - 4 * HOUR;
    for _ in 0..4 {
        let ts = c.after(&mut t, 600_000, 1_800_000);
        c.log(
            k,
            ts,
            OUT,
            "[INFO] plugin/reload: Running configuration SHA512 = 8a1f...",
        );
    }
}
