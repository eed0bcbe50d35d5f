//! The first record of a raw object: its time places the object in a
//! read, its labels describe the run; cached across reads.

use super::fetch::is_not_found;
use super::listing::Listed;
use crate::object::gunzip;
use crate::record::LogRecord;
use crate::store::StoreError;
use afterlog_contract::layout;
use afterlog_contract::record::k8s_event;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

/// The heads of raw objects already read, kept by a long-running reader
/// (the service): objects never change, and follows, paging clients and
/// job pages ask for the same ones again and again. Keyed by store, key,
/// size and modification time, so that a store rebuilt under the same keys
/// is not mistaken.
#[derive(Debug, Default)]
pub struct FirstTimes(std::sync::Mutex<std::collections::HashMap<FirstTimeKey, ObjectHead>>);

/// Store, key, size, modification time.
type FirstTimeKey = (usize, String, u64, i64);

impl FirstTimes {
    const MAX: usize = 200_000;

    /// What `l`'s first record said, if it was read before.
    pub fn head(&self, l: &Listed) -> Option<ObjectHead> {
        let m = self.0.lock().ok()?;
        m.get(&(l.store, l.key.clone(), l.size, l.modified_secs))
            .cloned()
    }

    pub fn put(&self, l: &Listed, head: ObjectHead) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= Self::MAX {
                m.clear();
            }
            m.insert((l.store, l.key.clone(), l.size, l.modified_secs), head);
        }
    }
}

/// What a raw object's first record tells without reading the object: its
/// time, and the labels a job's page shows (all `None`: no readable first
/// record, or the object is gone).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct ObjectHead {
    #[serde(skip)]
    pub ts: Option<u64>,
    /// The earliest time of all its records, for an object of Kubernetes
    /// events (not in time order, docs/design.md §13) that the head read
    /// held whole; `None` otherwise.
    #[serde(skip)]
    pub lowest_ts: Option<u64>,
    pub kind: Option<String>,
    pub node: Option<String>,
    pub container_id: Option<String>,
}

/// The head of the raw object `key`, from its first record. A raw key's
/// time is not enough: Fluent Bit names an upload after its first record
/// only when its timer sends it; buffers sent at shutdown or left over from
/// before a restart are named after the buffer's creation or the restart
/// (docs/fluent-bit-facts.md), so the key time is only an upper bound of
/// the first record's.
///
/// A failure of the store is an error, never taken for an answer.
pub async fn read_head(
    store: &dyn ObjectStore,
    key: &str,
    size: u64,
) -> Result<ObjectHead, StoreError> {
    #[derive(serde::Deserialize)]
    struct Wire {
        afterlog: Option<ObjectHead>,
    }
    let Some((text, whole)) = head_text(store, key, size).await? else {
        return Ok(ObjectHead::default());
    };
    let Some(line) = first_of(&text) else {
        return Ok(ObjectHead::default());
    };
    let labels = serde_json::from_slice::<Wire>(line)
        .ok()
        .and_then(|w| w.afterlog)
        .unwrap_or_default();
    let events =
        layout::parse_object_key(key).is_ok_and(|k| k.origin.container == k8s_event::CONTAINER);
    Ok(ObjectHead {
        ts: LogRecord::parse(line).ok().map(|r| r.ts),
        lowest_ts: (events && whole).then(|| lowest_ts(&text)).flatten(),
        ..labels
    })
}

/// The earliest time of the records of `text` (an object's lines).
/// Unreadable lines are left out: a read skips them too.
fn lowest_ts(text: &[u8]) -> Option<u64> {
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| LogRecord::parse(l).ok())
        .map(|r| r.ts)
        .min()
}

fn first_of(text: &[u8]) -> Option<&[u8]> {
    text.split(|&b| b == b'\n').find(|l| !l.is_empty())
}

/// The first line of a stored object (`size` bytes), from its first 16 KiB
/// — or the whole object if the line is longer. `Ok(None)` if it has none
/// or is gone.
pub async fn first_line(
    store: &dyn ObjectStore,
    key: &str,
    size: u64,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(head_text(store, key, size)
        .await?
        .and_then(|(text, _)| first_of(&text).map(<[u8]>::to_vec)))
}

/// The text of a stored object's start that holds its first line (see
/// [`first_line`]), and whether it is the whole object, read intact.
/// `Ok(None)` if it has no line or is gone.
async fn head_text(
    store: &dyn ObjectStore,
    key: &str,
    size: u64,
) -> Result<Option<(Vec<u8>, bool)>, StoreError> {
    let path = Path::from(key);
    for len in [16 * 1024, u64::MAX] {
        let body = if len >= size {
            match store.get(&path).await {
                Ok(g) => g.bytes().await,
                Err(e) => Err(e),
            }
        } else {
            store.get_range(&path, 0..len).await
        };
        let body = match body {
            Ok(b) => b,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let (text, damaged) = gunzip(&body);
        if first_of(&text).is_some() {
            return Ok(Some((text, len >= size && damaged.is_none())));
        }
        if len >= size {
            break;
        }
    }
    Ok(None)
}
