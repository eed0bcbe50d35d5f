//! Object keys, parsed and built with the contract's codec and layout
//! (`afterlog_contract::keys`, `afterlog_contract::layout`); meta keys, which
//! the layout only builds, are parsed here the way the reader lists them.

use crate::error::AdapterError;
use afterlog_contract::keys;
use afterlog_contract::layout::{self, LayoutError, ObjectKey};
use afterlog_reader::meta::{META_VERSION, PodMeta};

/// Any key of the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyKey {
    /// `raw/…` or `data/…`.
    Object(ObjectKey),
    /// `meta/<tool>/<job>/<pod>.json`.
    Meta {
        tool: String,
        job: String,
        pod: String,
    },
}

/// Parses a `raw/`, `data/` or `meta/` key; every part must be in the
/// canonical encoding.
pub fn parse_key(key: &str) -> Result<AnyKey, AdapterError> {
    let Some(rest) = key
        .strip_prefix(layout::META)
        .and_then(|r| r.strip_prefix('/'))
    else {
        return Ok(AnyKey::Object(layout::parse_object_key(key)?));
    };
    let shape = || LayoutError::Shape(key.to_string());
    let parts: Vec<&str> = rest.split('/').collect();
    let [tool, job, file] = parts[..] else {
        return Err(shape().into());
    };
    let pod = file.strip_suffix(".json").ok_or_else(shape)?;
    let decode = |p: &str| {
        keys::decode(p).map_err(|source| LayoutError::Part {
            key: key.to_string(),
            source,
        })
    };
    Ok(AnyKey::Meta {
        tool: decode(tool)?,
        job: decode(job)?,
        pod: decode(pod)?,
    })
}

/// A pod's meta (`meta/…json`), as the reader accepts it: version 1 only.
pub fn parse_meta(json: &[u8]) -> Result<PodMeta, AdapterError> {
    let m: PodMeta = serde_json::from_slice(json).map_err(|e| AdapterError::Meta(e.to_string()))?;
    if m.version != META_VERSION {
        return Err(AdapterError::Meta(format!(
            "version {} not understood (this reader reads {META_VERSION})",
            m.version
        )));
    }
    Ok(m)
}

/// Checks a layout's top-level folder name.
pub fn top(name: &str) -> Result<&'static str, AdapterError> {
    [layout::RAW, layout::DATA, layout::META, layout::DELETIONS]
        .into_iter()
        .find(|t| *t == name)
        .ok_or_else(|| AdapterError::Argument {
            name: "top",
            problem: format!("{name:?}: expected \"raw\", \"data\", \"meta\" or \"deletions\""),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use afterlog_contract::layout::{ObjectKind, meta_key};

    #[test]
    fn parses_every_kind_of_key() {
        let k = meta_key("my tool", "job.x", "pod-1");
        assert_eq!(
            parse_key(&k).unwrap(),
            AnyKey::Meta {
                tool: "my tool".into(),
                job: "job.x".into(),
                pod: "pod-1".into()
            }
        );
        let AnyKey::Object(o) = parse_key("raw/foo/my_2ejob/p/c/20261125T150000Z-abc.gz").unwrap()
        else {
            panic!("an object key");
        };
        assert_eq!(o.origin.job, "my.job");
        assert!(matches!(o.kind, ObjectKind::Raw { .. }));
        for bad in [
            "meta/a/b.json",
            "meta/a/b/c",
            "meta/a/b/c/d.json",
            "meta/A/b/c.json",
            "meta/a/b/_61.json",
            "other/a/b/c/d/e.gz",
            "",
        ] {
            assert!(parse_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn meta_versions() {
        assert!(parse_meta(br#"{"version":1}"#).is_ok());
        assert!(parse_meta(br#"{"version":2}"#).is_err());
        assert!(parse_meta(b"[]").is_err());
    }
}
