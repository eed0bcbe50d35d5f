//! The filter's own core on the cluster's records, natively: what it emits
//! for the bucket, grouped by route.

use crate::cluster::Cluster;
use crate::uploads::Route;
use crate::{NOISY, NOISY_BYTES, NOISY_WINDOW_SECS, S};
use afterlog_contract::layout::Origin;
use afterlog_filter::{Config, Filter, Output};
use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;
use std::collections::BTreeMap;

/// What the reader needs of a filter output record to place it.
#[derive(Deserialize)]
struct Stored {
    ts: u64,
    afterlog: Labels,
}

#[derive(Deserialize)]
struct Labels {
    tool: String,
    job: String,
    kind: String,
    pod: String,
    container: String,
    container_id: String,
    node: String,
    route: String,
    /// The routing class; absent in records of filters before classes.
    #[serde(default)]
    class: Option<String>,
}

/// Runs every record through the filter in event-time order (as tail reads
/// the files while they are written) and groups its output by route.
pub(crate) fn run(cluster: Cluster) -> Result<BTreeMap<String, Route>> {
    let cfg = serde_json::json!({"quota": {"tools": {NOISY: {
        "bytes": NOISY_BYTES, "window_seconds": NOISY_WINDOW_SECS}}}});
    let cfg = Config::parse(&serde_json::to_vec(&cfg)?).context("demo filter config")?;
    let mut filter = Filter::new(cfg).context("demo filter config")?;
    let Cluster {
        containers,
        mut inputs,
        ..
    } = cluster;
    inputs.sort_by_key(|i| i.ts);
    let mut routes = BTreeMap::new();
    for input in &inputs {
        let (sec, nsec) = ((input.ts / S) as u32, (input.ts % S) as u32);
        let expect = &containers[input.container].expect;
        let out = match filter.process(sec, nsec, &input.record) {
            Output::Record(b) => b.strip_suffix(b"\0").unwrap_or(b).to_vec(),
            Output::Unchanged if expect.is_none() => continue,
            Output::Drop if expect.as_ref().is_some_and(|e| e[0] == NOISY) => continue,
            v => bail!(
                "the filter answered {v:?} to {}",
                String::from_utf8_lossy(&input.record)
            ),
        };
        let s: Stored = serde_json::from_slice(&out).with_context(|| {
            format!("unexpected filter output {}", String::from_utf8_lossy(&out))
        })?;
        let a = s.afterlog;
        let got = [a.tool.as_str(), a.job.as_str(), a.kind.as_str()];
        if expect.as_ref().is_none_or(|e| e != &got) {
            bail!(
                "the default label rules gave {got:?} for pod {}, not {expect:?}",
                a.pod
            );
        }
        let origin = Origin {
            tool: a.tool,
            job: a.job,
            pod: a.pod,
            container: a.container,
        };
        // The demo's filter has no routing rules: every record is in the
        // default class, stored in the one store the demo serves.
        let class = a
            .class
            .as_deref()
            .unwrap_or(afterlog_contract::routing::DEFAULT_CLASS);
        ensure!(
            origin.class_route(class) == a.route,
            "route {} of {origin:?} in class {class}",
            a.route
        );
        let r = routes.entry(a.route).or_insert_with(|| Route {
            origin,
            kind: a.kind,
            node: a.node,
            container_id: String::new(),
            records: Vec::new(),
        });
        r.container_id = a.container_id;
        r.records.push((s.ts, out));
    }
    Ok(routes)
}
