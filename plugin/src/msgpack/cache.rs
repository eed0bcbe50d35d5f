//! The per-container caches of the msgpack mode's converters.

/// What stays the same from record to record of a container: its
/// `kubernetes` map in, its `afterlog` labels out. Converting them once
/// per container, not per record, is most of the msgpack mode's saving.
#[derive(Default)]
pub struct Caches {
    /// msgpack bytes of a `kubernetes` value → its JSON text.
    pub(super) kubernetes: Lru,
    /// JSON text of an `afterlog` value → its NF1 bytes.
    pub(super) afterlog: Lru,
}

/// A few entries, most recent first; keys compared byte for byte.
#[derive(Default)]
pub(super) struct Lru(Vec<(Vec<u8>, Vec<u8>)>);

impl Lru {
    const ENTRIES: usize = 64;

    /// The entry whose key `input` starts with, moved to the front.
    pub(super) fn find_prefix(&mut self, input: &[u8]) -> Option<(usize, &[u8])> {
        let i = self.0.iter().position(|(k, _)| input.starts_with(k))?;
        self.0[..=i].rotate_right(1);
        let (k, v) = &self.0[0];
        Some((k.len(), v))
    }

    pub(super) fn insert(&mut self, key: &[u8], value: &[u8]) {
        if self.0.len() == Self::ENTRIES {
            self.0.pop();
        }
        self.0.insert(0, (key.to_vec(), value.to_vec()));
    }
}
