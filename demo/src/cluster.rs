//! The simulated cluster: pods whose containers write CRI lines, and the
//! records Fluent Bit's `tail` and `kubernetes` make of them for the filter.

use crate::S;
use afterlog_sim::Rng;
use afterlog_sim::cri::{self, Stream};
use afterlog_sim::fluent_bit::TailRecord;
use afterlog_sim::k8s::{Container, Pod, hex_id};
use afterlog_sim::k8s_event::Event;

/// A pod on `node`. The API server returns labels sorted by key, and the
/// filter keeps that order.
pub(crate) fn pod_on(namespace: &str, name: &str, node: &str, labels: &[(&str, &str)]) -> Pod {
    let mut labels: Vec<_> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    labels.sort();
    Pod {
        labels,
        ..Pod::new(namespace, name).node(node)
    }
}

/// One container's log file on the node.
pub(crate) struct ContainerLog {
    /// The `kubernetes` map Fluent Bit adds to each of the file's records.
    k8s: String,
    /// Bytes in the file so far: where the next CRI line starts.
    written: u64,
    last_ts: u64,
    /// `(tool, job, kind)` the default rules must give, `None`: not a tool.
    pub(crate) expect: Option<[String; 3]>,
}

/// A record as the wasm filter receives it.
pub(crate) struct Input {
    pub(crate) ts: u64,
    pub(crate) container: usize,
    pub(crate) record: Vec<u8>,
}

pub(crate) struct Cluster {
    pub(crate) rng: Rng,
    pub(crate) containers: Vec<ContainerLog>,
    pub(crate) inputs: Vec<Input>,
}

impl Cluster {
    pub(crate) fn new() -> Cluster {
        Cluster {
            rng: Rng::new(0x00af_7e71_06de_0000),
            containers: Vec::new(),
            inputs: Vec::new(),
        }
    }

    /// Starts a container (`restart` > 0: the same container restarted,
    /// which gets a new id and log file).
    pub(crate) fn container(
        &mut self,
        pod: &Pod,
        name: &str,
        image: &str,
        restart: u32,
        expect: Option<[&str; 3]>,
    ) -> usize {
        let repo = image.split(':').next().unwrap_or(image);
        let container = Container {
            name: name.into(),
            id: hex_id(&format!("{}/{}/{name}/{restart}", pod.namespace, pod.name)),
            image: image.into(),
            image_id: format!("{repo}@sha256:{}", hex_id(image)),
        };
        self.containers.push(ContainerLog {
            k8s: pod.kubernetes(&container),
            written: 0,
            last_ts: 0,
            expect: expect.map(|e| e.map(String::from)),
        });
        self.containers.len() - 1
    }

    /// Advances `t` by `lo_ms..=hi_ms` (plus a random fraction) and returns it.
    pub(crate) fn after(&mut self, t: &mut u64, lo_ms: u64, hi_ms: u64) -> u64 {
        *t += lo_ms * 1_000_000 + self.rng.below((hi_ms - lo_ms) * 1_000_000 + 1);
        *t
    }

    /// The container writes `texts`, one every `lo_ms..=hi_ms` after `t`.
    pub(crate) fn script(
        &mut self,
        c: usize,
        t: &mut u64,
        (lo_ms, hi_ms): (u64, u64),
        stream: Stream,
        texts: &[&str],
    ) {
        for text in texts {
            let ts = self.after(t, lo_ms, hi_ms);
            self.log(c, ts, stream, text);
        }
    }

    /// The container writes `text` at `ts`: the CRI lines go to its file (a
    /// long line as containerd cuts it) and tail makes one record of them.
    pub(crate) fn log(&mut self, c: usize, ts: u64, stream: Stream, text: &str) {
        let cl = &mut self.containers[c];
        // A file is in time order.
        let ts = ts.max(cl.last_ts + 1_000);
        cl.last_ts = ts;
        let time = cri::cri_time(ts);
        // `<time> <stream> <F|P> <text>\n`
        let framing = (time.len() + stream.as_str().len() + 5) as u64;
        let parts = cri::split(text, cri::PART_BYTES);
        let (last, partials) = parts.split_last().expect("split gives a last part");
        cl.written += partials
            .iter()
            .map(|p| framing + p.len() as u64)
            .sum::<u64>();
        // `off` is where the record's last physical line starts.
        let off = cl.written;
        cl.written += framing + last.len() as u64;
        let record = TailRecord {
            time: &time,
            stream: stream.as_str(),
            partial: !partials.is_empty(),
            log: text,
            off,
            kubernetes: &cl.k8s,
        };
        self.inputs.push(Input {
            ts,
            container: c,
            record: record.to_json().into_bytes(),
        });
    }
}

impl Cluster {
    /// The collector's `kubernetes_events` input emits `event` (at this
    /// count); the default rules must label it `expect`. Its event time
    /// is `lastTimestamp`, whole seconds.
    pub(crate) fn event(&mut self, event: &Event, expect: [&str; 3]) {
        self.containers.push(ContainerLog {
            k8s: String::new(),
            written: 0,
            last_ts: 0,
            expect: Some(expect.map(String::from)),
        });
        self.inputs.push(Input {
            ts: event.last_ns - event.last_ns % S,
            container: self.containers.len() - 1,
            record: event.to_json().to_string().into_bytes(),
        });
    }
}

/// `HH:MM` UTC, for log texts.
pub(crate) fn clock(ns: u64) -> String {
    let s = ns / S % 86_400;
    format!("{:02}:{:02}", s / 3600, s / 60 % 60)
}
