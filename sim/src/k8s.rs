//! Pods as Kubernetes describes them: to the `kubernetes` filter through
//! its preload cache (the API's pod JSON), and to the records that filter
//! annotates (the `kubernetes` map).

use crate::cri::CriLog;
use crate::fluent_bit::json_str;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// 64 hex digits derived from `seed` (FNV-1a, four rounds): stable ids.
pub fn hex_id(seed: &str) -> String {
    let mut out = String::with_capacity(64);
    for round in 0u64..4 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ round;
        for b in seed.bytes().chain(round.to_le_bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let _ = write!(out, "{h:016x}");
    }
    out
}

/// A UUID-shaped id derived from `seed`, as Kubernetes gives pods and jobs.
pub fn uid(seed: &str) -> String {
    let h = hex_id(seed);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A container of a [`Pod`].
#[derive(Clone, Debug)]
pub struct Container {
    pub name: String,
    /// 64 lower-case hex digits, as in the log file name (`docker_id`).
    pub id: String,
    pub image: String,
    /// The status' `imageID`, which the kubernetes filter reports as `container_hash`.
    pub image_id: String,
}

/// A pod as the `kubernetes` filter sees it through its preload cache.
#[derive(Clone, Debug)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub node: String,
    /// In this order in the pod JSON (and so in the record's `labels` map).
    pub labels: Vec<(String, String)>,
    pub containers: Vec<Container>,
}

impl Pod {
    /// A pod on `node-1` with no labels and no containers yet.
    pub fn new(namespace: &str, name: &str) -> Pod {
        Pod {
            namespace: namespace.into(),
            name: name.into(),
            uid: uid(&format!("{namespace}/{name}")),
            node: "node-1".into(),
            labels: Vec::new(),
            containers: Vec::new(),
        }
    }

    pub fn label(mut self, key: &str, value: &str) -> Pod {
        self.labels.push((key.into(), value.into()));
        self
    }

    pub fn node(mut self, node: &str) -> Pod {
        self.node = node.into();
        self
    }

    /// Adds a container with an id derived from the pod and container names.
    pub fn container(mut self, name: &str) -> Pod {
        let id = hex_id(&format!("{}/{}/{name}", self.namespace, self.name));
        let image = format!("docker-registry.example.org/{name}:latest");
        let image_id = format!("sha256:{}", hex_id(&image));
        self.containers.push(Container {
            name: name.into(),
            id,
            image,
            image_id,
        });
        self
    }

    fn find(&self, container: &str) -> &Container {
        self.containers
            .iter()
            .find(|c| c.name == container)
            .unwrap_or_else(|| panic!("pod {} has no container {container}", self.name))
    }

    /// The container's 64-hex id.
    pub fn container_id(&self, container: &str) -> &str {
        &self.find(container).id
    }

    /// The pod as `GET /api/v1/namespaces/<ns>/pods/<name>` returns it (the
    /// fields the kubernetes filter reads, plus some it ignores).
    pub fn meta_json(&self) -> Value {
        let labels: serde_json::Map<String, Value> = self
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        let mut metadata = json!({
            "name": self.name,
            "namespace": self.namespace,
            "uid": self.uid,
            "resourceVersion": "12345",
            "creationTimestamp": "2026-11-25T14:59:00Z",
        });
        if !labels.is_empty() {
            metadata["labels"] = Value::Object(labels);
        }
        let containers: Vec<Value> = self
            .containers
            .iter()
            .map(|c| json!({"name": c.name, "image": c.image, "imagePullPolicy": "Always"}))
            .collect();
        let statuses: Vec<Value> = self
            .containers
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "containerID": format!("containerd://{}", c.id),
                    "image": c.image,
                    "imageID": c.image_id,
                    "ready": true,
                    "restartCount": 0,
                    "started": true,
                    "state": {"running": {"startedAt": "2026-11-25T14:59:01Z"}},
                })
            })
            .collect();
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": {"nodeName": self.node, "containers": containers, "restartPolicy": "Never"},
            "status": {"phase": "Running", "podIP": "192.168.0.10", "containerStatuses": statuses},
        })
    }

    /// Writes `<meta_dir>/<namespace>_<pod>.meta`, the file the kubernetes
    /// filter preloads.
    pub fn write_meta(&self, meta_dir: &Path) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(meta_dir)?;
        let path = meta_dir.join(format!("{}_{}.meta", self.namespace, self.name));
        std::fs::write(&path, self.meta_json().to_string())?;
        Ok(path)
    }

    /// `<pod>_<namespace>_<container>-<id>.log`, the kubelet's
    /// `/var/log/containers` name.
    pub fn log_file_name(&self, container: &str) -> String {
        let c = self.find(container);
        format!("{}_{}_{}-{}.log", self.name, self.namespace, c.name, c.id)
    }

    /// Opens (appends to) the container's log file in `log_dir`.
    pub fn log(&self, log_dir: &Path, container: &str) -> std::io::Result<CriLog> {
        CriLog::open(&log_dir.join(self.log_file_name(container)))
    }

    /// The `kubernetes` map the filter adds to each record of `container`,
    /// as JSON text in Fluent Bit's key order and escaping.
    pub fn kubernetes(&self, container: &Container) -> String {
        let mut m = String::from("{\"pod_name\":");
        json_str(&mut m, &self.name);
        m.push_str(",\"namespace_name\":");
        json_str(&mut m, &self.namespace);
        m.push_str(",\"pod_id\":");
        json_str(&mut m, &self.uid);
        if !self.labels.is_empty() {
            m.push_str(",\"labels\":{");
            for (i, (k, v)) in self.labels.iter().enumerate() {
                if i > 0 {
                    m.push(',');
                }
                json_str(&mut m, k);
                m.push(':');
                json_str(&mut m, v);
            }
            m.push('}');
        }
        for (k, v) in [
            ("host", &self.node),
            ("container_name", &container.name),
            ("docker_id", &container.id),
            ("container_hash", &container.image_id),
            ("container_image", &container.image),
        ] {
            let _ = write!(m, ",\"{k}\":");
            json_str(&mut m, v);
        }
        m.push('}');
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_names_and_meta() {
        let p = Pod::new("tool-foo", "myjob-x7k2p")
            .label("job-name", "myjob")
            .container("job");
        let id = p.container_id("job").to_string();
        assert_eq!(id.len(), 64);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(
            p.log_file_name("job"),
            format!("myjob-x7k2p_tool-foo_job-{id}.log")
        );
        let m = p.meta_json();
        assert_eq!(m["metadata"]["labels"]["job-name"], "myjob");
        assert_eq!(
            m["status"]["containerStatuses"][0]["containerID"],
            format!("containerd://{id}")
        );
        let k: Value = serde_json::from_str(&p.kubernetes(&p.containers[0])).unwrap();
        assert_eq!(k["labels"]["job-name"], "myjob");
        assert_eq!(k["docker_id"], id.as_str());
        assert_eq!(k["pod_id"], p.uid.as_str());
    }
}
