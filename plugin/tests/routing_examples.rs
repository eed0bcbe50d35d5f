//! The worked examples of docs/routing.md, run through the filter.
//!
//! Every ```json block of the doc that is a whole filter config (an object
//! with `routes`) must be marked `<!-- example: ID -->`, and every ID must
//! have a table of decisions here (and the other way round): an example
//! added, changed or dropped in the doc without its decisions fails here,
//! so the doc cannot drift from what the filter does. The expectations live
//! in this file, not in the doc, so that editing one of them alone shows.
//! The doc's error messages and drop-in snippets are checked too.

use afterlog_filter::{Config, Filter, Output};
use serde_json::{Value, json};

fn repo_file(rel: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn doc() -> String {
    repo_file("docs/routing.md")
}

/// A ```json block of the doc: its text and the example ID marking it.
struct Block {
    id: Option<String>,
    text: String,
    line: usize,
}

/// Every ```json block, with the `<!-- example: ID -->` directly before it
/// (only blank lines between).
fn json_blocks(doc: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut marker: Option<String> = None;
    let mut lines = doc.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let t = line.trim();
        if let Some(id) = t
            .strip_prefix("<!-- example:")
            .and_then(|r| r.strip_suffix("-->"))
        {
            marker = Some(id.trim().to_string());
        } else if t == "```json" {
            let text: Vec<&str> = lines
                .by_ref()
                .map(|(_, l)| l)
                .take_while(|l| l.trim() != "```")
                .collect();
            blocks.push(Block {
                id: marker.take(),
                text: text.join("\n"),
                line: n + 1,
            });
        } else if !t.is_empty() {
            marker = None;
        }
    }
    blocks
}

/// One container, as the doc's examples describe it.
struct Pod {
    namespace: &'static str,
    pod: &'static str,
    labels: Value,
}

fn pod(namespace: &'static str, pod: &'static str, labels: Value) -> Pod {
    Pod {
        namespace,
        pod,
        labels,
    }
}

#[derive(Debug, PartialEq)]
enum Want {
    /// A routing rule drops it.
    Drop,
    /// Collected: tool, job, class.
    Kept(String, String, String),
    /// No label rule gives it a tool: passed through, never stored.
    NotCollected,
}
use Want::{Drop, NotCollected};

/// Collected as `tool`, `job`, in `class`.
fn kept(tool: &str, job: &str, class: &str) -> Want {
    Want::Kept(tool.into(), job.into(), class.into())
}

/// A build pod in the shared build namespace, of the tool its
/// `tekton.dev/pipelineRun` names.
fn build_pod(pipeline_run: &'static str) -> Pod {
    pod(
        "image-build",
        "pipelinerun-build-pod",
        json!({"tekton.dev/pipelineRun": pipeline_run}),
    )
}

/// What each example of the doc claims.
fn expectations(id: &str) -> Vec<(Pod, Want)> {
    let web = |ns| pod(ns, "web-1", json!({}));
    let labelled = |ns, labels| pod(ns, "web-1", labels);
    match id {
        "opt-out" => vec![
            (
                labelled("tool-foo", json!({"afterlog.io/collect": "false"})),
                Drop,
            ),
            (web("tool-foo"), kept("foo", "web", "default")),
            (
                labelled("tool-foo", json!({"afterlog.io/collect": "true"})),
                kept("foo", "web", "default"),
            ),
            // Exact match: case matters.
            (
                labelled("tool-foo", json!({"afterlog.io/collect": "False"})),
                kept("foo", "web", "default"),
            ),
        ],
        "exclude-namespace" => vec![
            (web("tool-loadtest"), Drop),
            (web("tool-sandbox"), Drop),
            (web("tool-foo"), kept("foo", "web", "default")),
            (web("kube-system"), NotCollected),
            (web("monitoring"), NotCollected),
        ],
        "team" => vec![
            (web("tool-astro-web"), kept("astro-web", "web", "astro")),
            (
                web("tool-astro-pipeline"),
                kept("astro-pipeline", "web", "astro"),
            ),
            (web("tool-astronomy"), kept("astronomy", "web", "default")),
            (web("tool-foo"), kept("foo", "web", "default")),
        ],
        "platform" => vec![
            (
                pod(
                    "kube-system",
                    "coredns-5d78c9869d-x2x4z",
                    json!({"pod-template-hash": "5d78c9869d", "k8s-app": "kube-dns"}),
                ),
                kept("platform", "coredns", "platform"),
            ),
            (
                pod(
                    "ingress-nginx",
                    "ingress-nginx-controller-7d9f8b6c5d-q8rtn",
                    json!({"pod-template-hash": "7d9f8b6c5d"}),
                ),
                kept("platform", "ingress-nginx-controller", "platform"),
            ),
            (web("monitoring"), NotCollected),
            (web("tool-foo"), kept("foo", "web", "default")),
            // The caveat: a tenant tool of the same name, in `default`.
            (web("tool-platform"), kept("platform", "web", "default")),
            // The default tool rules still hold: builds keep their tool.
            (
                build_pod("foo-buildpacks-pipelinerun-vx8tq"),
                kept("foo", "build", "default"),
            ),
        ],
        "builds" => vec![
            (
                build_pod("foo-buildpacks-pipelinerun-vx8tq"),
                kept("foo", "build", "long-retention"),
            ),
            // The opt-out comes first.
            (
                pod(
                    "image-build",
                    "pipelinerun-build-pod",
                    json!({"tekton.dev/pipelineRun": "foo-buildpacks-pipelinerun-vx8tq",
                           "afterlog.io/collect": "false"}),
                ),
                Drop,
            ),
            (
                pod(
                    "tool-foo",
                    "nightly-28889999-x2x4z",
                    json!({"job-name": "nightly-28889999"}),
                ),
                kept("foo", "nightly", "default"),
            ),
            // A tool can label its own pod kind `build`.
            (
                labelled("tool-foo", json!({"afterlog.io/kind": "build"})),
                kept("foo", "web", "long-retention"),
            ),
        ],
        "new-class" => vec![
            (
                web("tool-auth-gateway"),
                kept("auth-gateway", "web", "audit"),
            ),
            (
                web("tool-account-manager"),
                kept("account-manager", "web", "audit"),
            ),
            // Cannot be opted out of: the audit rule comes first.
            (
                labelled("tool-auth-gateway", json!({"afterlog.io/collect": "false"})),
                kept("auth-gateway", "web", "audit"),
            ),
            (
                build_pod("auth-gateway-buildpacks-pipelinerun-abc12"),
                kept("auth-gateway", "build", "long-retention"),
            ),
            (web("tool-foo"), kept("foo", "web", "default")),
            (
                labelled("tool-foo", json!({"afterlog.io/collect": "false"})),
                Drop,
            ),
            (
                build_pod("foo-buildpacks-pipelinerun-vx8tq"),
                kept("foo", "build", "long-retention"),
            ),
        ],
        _ => panic!("docs/routing.md example {id:?} has no expectations in this test"),
    }
}

const IDS: [&str; 6] = [
    "opt-out",
    "exclude-namespace",
    "team",
    "platform",
    "builds",
    "new-class",
];

/// A record shaped as Fluent Bit 5.1.1 hands it to the filter.
fn record(p: &Pod) -> Vec<u8> {
    json!({
        "time": "2026-11-25T15:00:00.000000002Z", "stream": "stderr", "_p": "F", "log": "hello", "off": 97,
        "kubernetes": {"pod_name": p.pod, "namespace_name": p.namespace, "pod_id": "1111-2222",
            "labels": p.labels, "host": "node-1", "container_name": "job",
            "docker_id": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "container_hash": "sha256:aa"}
    })
    .to_string()
    .into_bytes()
}

fn decide(f: &mut Filter, p: &Pod) -> Want {
    match f.process(1_795_618_800, 0, &record(p)) {
        Output::Drop => Drop,
        Output::Unchanged => NotCollected,
        Output::Record(b) => {
            let v: Value = serde_json::from_slice(&b[..b.len() - 1]).expect("valid JSON");
            let a = &v["afterlog"];
            assert!(a["error"].is_null() && a["event"].is_null(), "{v}");
            let s = |k: &str| -> String {
                a[k].as_str()
                    .unwrap_or_else(|| panic!("no afterlog.{k} in {v}"))
                    .to_string()
            };
            let class = s("class");
            assert!(
                a["route"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{class}.")),
                "the tag starts with the class: {v}"
            );
            Want::Kept(s("tool"), s("job"), class)
        }
    }
}

fn check(id: &str, config: &str) {
    let cfg =
        Config::parse(config.as_bytes()).unwrap_or_else(|e| panic!("example {id}: {e}\n{config}"));
    let mut f = Filter::new(cfg).unwrap_or_else(|e| panic!("example {id}: {e}"));
    for (p, want) in expectations(id) {
        assert_eq!(
            decide(&mut f, &p),
            want,
            "example {id}: namespace {}, pod {}, labels {}",
            p.namespace,
            p.pod,
            p.labels
        );
    }
}

#[test]
fn every_example_decides_as_the_doc_says() {
    let doc = doc();
    let mut seen = Vec::new();
    for b in json_blocks(&doc) {
        let whole_config = serde_json::from_str::<Value>(&b.text)
            .ok()
            .is_some_and(|v| v.get("routes").is_some());
        match (&b.id, whole_config) {
            (Some(id), true) => {
                check(id, &b.text);
                assert!(!seen.contains(id), "example {id} is marked twice");
                seen.push(id.clone());
            }
            (Some(id), false) => panic!(
                "docs/routing.md:{}: example {id} is not a whole filter config with \"routes\"",
                b.line
            ),
            (None, true) => panic!(
                "docs/routing.md:{}: a filter config with \"routes\" and no <!-- example: ID --> before it",
                b.line
            ),
            (None, false) => {}
        }
    }
    let mut want: Vec<String> = IDS.iter().map(|s| s.to_string()).collect();
    want.sort();
    seen.sort();
    assert_eq!(seen, want, "the doc's examples and this test's tables");
}

/// The doc says the shipped config keeps builds in `long-retention` behind
/// the opt-out: the "builds" decisions hold for it too.
#[test]
fn the_shipped_config_decides_as_the_builds_example() {
    check("builds", &repo_file("fluent-bit/afterlog-filter.json"));
}

/// The messages the doc quotes are the filter's, word for word.
#[test]
fn the_quoted_mistakes_are_the_real_messages() {
    // In tables `|` is written `\|`.
    let doc = doc().replace("\\|", "|");
    let cases = [
        (
            json!({"classes": [{"name": "long-retention"}],
                   "routes": [{"match": {"kind": "build"}, "action": "class", "class": "long-retenion"}]}),
            r#"routes[0]: class "long-retenion" is not defined in "classes" (defined: default, long-retention)"#,
        ),
        (
            json!({"routes": [{"action": "drop"}, {"match": {"pod": {"regex": "^(web"}}, "action": "drop"}]}),
            "routes[1]: bad regex: found open group without closing ')'",
        ),
        (
            json!({"routes": [{"match": {"namspace": "tool-foo"}, "action": "drop"}]}),
            "routes[0]: unknown field `namspace`, expected one of `namespace`, `pod`, `container`, `tool`, `job`, `kind`, `labels`, `annotations`",
        ),
        (
            json!({"routes": [{"match": {"namespace": {"glog": "tool-*"}}, "action": "drop"}]}),
            r#"routes[0]: a match value is a string or one of {"glob": …}, {"regex": …}, {"in": […]}, {"present": true|false}"#,
        ),
        (
            json!({"routes": [{"action": "keep"}]}),
            "routes[0]: unknown variant `keep`, expected `drop` or `class`",
        ),
        (
            json!({"routes": [{"action": "drop", "class": "default"}]}),
            r#"routes[0]: "action": "drop" takes no "class""#,
        ),
        (
            json!({"routes": [{"action": "class"}]}),
            r#"routes[0]: "action": "class" needs "class""#,
        ),
        (
            json!({"classes": [{"name": "Long"}]}),
            r#"class name "Long": use 1 to 63 characters a-z, 0-9 and '-' (it becomes a tag part and an S3 prefix)"#,
        ),
        (
            json!({"classes": [{"name": "audit"}, {"name": "audit"}]}),
            r#"classes[1]: class "audit" is defined twice"#,
        ),
        (
            json!({"classes": [{"name": "audit", "line_limit_bytes": 0}]}),
            "classes[].line_limit_bytes must be greater than zero",
        ),
        (
            json!({"route": []}),
            "invalid JSON: unknown field `route`, expected one of `labels`, `quota`, `routes`, `classes`, `line_limit_bytes`, `keep_kubernetes`, `state_file`, `checkpoint_seconds`, `reload_seconds` at line 1 column 8",
        ),
    ];
    for (cfg, want) in cases {
        // As the filter loads a file: parsed, then its regexes compiled.
        let got = Config::parse(cfg.to_string().as_bytes())
            .and_then(Filter::new)
            .map(|_| ())
            .expect_err("a mistake")
            .to_string();
        assert_eq!(got, want, "{cfg}");
        assert!(doc.contains(want), "docs/routing.md does not quote: {want}");
    }
}

/// The doc's drop-in lines are the drop-in's, and its new output is the
/// `long-retention` one with the names changed.
#[test]
fn the_drop_in_snippets_match_the_drop_in() {
    let doc = doc();
    let yaml = repo_file("fluent-bit/afterlog.yaml");
    for key in ["match_regex:", "match: 'afterlog.long-retention"] {
        let line = yaml
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("afterlog.yaml has no {key}"));
        assert!(doc.contains(line), "docs/routing.md does not show {line}");
    }
    // The long-retention output: from its `- name: s3` to the blank line.
    let lines: Vec<&str> = yaml.lines().collect();
    let alias = lines
        .iter()
        .position(|l| l.trim() == "alias: afterlog_s3_long_retention")
        .expect("the long-retention output");
    let end = lines[alias..]
        .iter()
        .position(|l| l.trim().is_empty())
        .map_or(lines.len(), |n| alias + n);
    let output = lines[alias - 1..end].join("\n");
    let audit = output
        .replace("long-retention", "audit")
        .replace("long_retention", "audit");
    assert!(
        doc.contains(&audit),
        "docs/routing.md's audit output is not the long-retention output renamed:\n{audit}"
    );
}

/// The doc's `audit` class keeps lines up to 64 KiB; other classes cut
/// them at the default 16 KiB.
#[test]
fn the_new_class_keeps_longer_lines() {
    let doc = doc();
    let block = json_blocks(&doc)
        .into_iter()
        .find(|b| b.id.as_deref() == Some("new-class"))
        .expect("the new-class example");
    let mut f = Filter::new(Config::parse(block.text.as_bytes()).unwrap()).unwrap();
    let line = "x".repeat(20_000);
    for (ns, whole) in [("tool-auth-gateway", true), ("tool-foo", false)] {
        let mut v: Value = serde_json::from_slice(&record(&pod(ns, "web-1", json!({})))).unwrap();
        v["log"] = json!(line);
        let Output::Record(b) = f.process(1_795_618_800, 0, v.to_string().as_bytes()) else {
            panic!("{ns}: not kept");
        };
        let out: Value = serde_json::from_slice(&b[..b.len() - 1]).unwrap();
        assert_eq!(out["log"] == json!(line), whole, "{ns}");
    }
}
