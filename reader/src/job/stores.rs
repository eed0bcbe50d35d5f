//! The stores one read spans, one per routing class.

use crate::store::Store;
use std::fmt;

/// The stores one read spans: one per routing class, each holding the
/// layout of docs/design.md §3 under its own bucket or prefix.
/// [`Listed::store`](super::Listed::store) and
/// [`Planned::store`](super::Planned::store) index it. A single store
/// converts into one, so single-store callers pass their [`Store`].
#[derive(Clone)]
pub struct Stores(std::sync::Arc<[Store]>);

impl Stores {
    pub fn new(stores: Vec<Store>) -> Stores {
        Stores(stores.into())
    }

    pub fn get(&self, i: usize) -> Option<&Store> {
        self.0.get(i)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Store> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Store> for Stores {
    fn from(store: Store) -> Stores {
        Stores(std::sync::Arc::new([store]))
    }
}

impl fmt::Debug for Stores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Stores({})", self.0.len())
    }
}
