//! Routing classes: cluster admins' routing rules give each record a class
//! (`default`, `long-retention`, …), and Fluent Bit sends each class to its
//! own store — another bucket, or another prefix of the same bucket — each
//! holding the layout of docs/design.md §3. The service serves a job from all of
//! them as one log, and compacts each store on its own.
//!
//! `--store` is the `default` class's store; `--class NAME=STORE` (or
//! `AFTERLOG_CLASSES=name=url,…`) adds the others. This module checks those
//! flags and holds the stores, `default` first, each counting its requests
//! in the same [`Counters`] (exported at `/v1/metrics`).

use afterlog_contract::routing::{DEFAULT_CLASS, check_class_name};
use afterlog_reader::Store;
use afterlog_reader::counting::{Counters, counted};
use afterlog_reader::job::Stores;
use std::sync::Arc;
use thiserror::Error;

/// Why the class flags are refused. Each names the flag and the value.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ClassError {
    #[error("--class {0:?}: expected NAME=STORE, e.g. long-retention=s3://logs/long-retention")]
    Syntax(String),
    #[error("--class {value:?}: {reason}")]
    Name { value: String, reason: String },
    #[error(
        "--class {0:?}: the default class's store is --store (AFTERLOG_STORE); name this class otherwise"
    )]
    Default(String),
    #[error("--class {value:?}: class {class:?} is given twice")]
    Duplicate { value: String, class: String },
    #[error(
        "--class {value:?}: {url} already stores class {other:?}; each class needs its own store"
    )]
    SameStore {
        value: String,
        url: String,
        other: String,
    },
    #[error(
        "--class {value:?}: {url} lies inside the {top}/ of class {other:?}'s store {other_url}; \
         its objects would be read as that class's"
    )]
    Nested {
        value: String,
        url: String,
        other: String,
        other_url: String,
        top: String,
    },
}

/// One `--class` flag, parsed: the class and its store as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassFlag {
    pub class: String,
    pub store: String,
    /// The flag's value as given, for messages.
    pub value: String,
}

/// Parses the values of `--class` / `AFTERLOG_CLASSES`: `NAME=STORE` each;
/// blank entries (a trailing comma, an empty variable) are skipped.
pub fn parse_flags(values: &[String]) -> Result<Vec<ClassFlag>, ClassError> {
    let mut out: Vec<ClassFlag> = Vec::new();
    for value in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        let (class, store) = value
            .split_once('=')
            .map(|(c, s)| (c.trim(), s.trim()))
            .filter(|(c, s)| !c.is_empty() && !s.is_empty())
            .ok_or_else(|| ClassError::Syntax(value.to_string()))?;
        check_class_name(class).map_err(|e| ClassError::Name {
            value: value.to_string(),
            reason: e.to_string(),
        })?;
        if class == DEFAULT_CLASS {
            return Err(ClassError::Default(value.to_string()));
        }
        if out.iter().any(|f| f.class == class) {
            return Err(ClassError::Duplicate {
                value: value.to_string(),
                class: class.to_string(),
            });
        }
        out.push(ClassFlag {
            class: class.to_string(),
            store: store.to_string(),
            value: value.to_string(),
        });
    }
    Ok(out)
}

/// A class's store as a URL (`file:///abs/dir` or `s3://bucket/prefix`),
/// with the flag value it came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassUrl {
    pub class: String,
    pub url: String,
    /// The flag and value as given.
    pub given: String,
}

/// Top-level prefixes of a store's layout (and the compactor's lease).
const TOPS: [&str; 6] = ["raw", "chunks", "index", "data", "meta", "lease"];

/// Checks the classes' store URLs, once normalized (`file:///abs/dir` or
/// `s3://bucket/prefix`), the default class first. Two classes in one store would each be read twice and
/// compacted by two leases; a store inside another's `raw/`, `chunks/`,
/// `index/`, `data/`, `meta/` or `lease/` would have its objects taken for
/// the other's.
pub fn check_urls(urls: &[ClassUrl]) -> Result<(), ClassError> {
    let norm = |u: &str| u.trim_end_matches('/').to_string();
    // The top-level prefix of `outer`'s layout that `inner` lies in, if any.
    let inside = |inner: &str, outer: &str| -> Option<String> {
        let rest = inner.strip_prefix(outer)?.strip_prefix('/')?;
        let top = rest.split('/').next()?;
        TOPS.contains(&top).then(|| top.to_string())
    };
    for (
        i,
        ClassUrl {
            class,
            url,
            given: value,
        },
    ) in urls.iter().enumerate()
    {
        let url_n = norm(url);
        for ClassUrl {
            class: other,
            url: other_url,
            ..
        } in &urls[..i]
        {
            let other_n = norm(other_url);
            if url_n == other_n {
                return Err(ClassError::SameStore {
                    value: value.clone(),
                    url: url.clone(),
                    other: other.clone(),
                });
            }
            let nested =
                |inner: &String, outer: &String, outer_class: &String, top| ClassError::Nested {
                    value: value.clone(),
                    url: inner.clone(),
                    other: outer_class.clone(),
                    other_url: outer.clone(),
                    top,
                };
            if let Some(top) = inside(&url_n, &other_n) {
                return Err(nested(url, other_url, other, top));
            }
            if let Some(top) = inside(&other_n, &url_n) {
                return Err(nested(other_url, url, class, top));
            }
        }
    }
    Ok(())
}

/// Which of a read's stores (one per class, `default` first) holds an
/// object: the reader's store index, named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StoreId(pub usize);

/// The stores the service reads, one per routing class, `default` first.
/// Every request to them is counted in [`ClassStores::counters`].
#[derive(Clone, Debug)]
pub struct ClassStores {
    names: Vec<String>,
    /// Each wrapped in a [`afterlog_reader::counting::CountingStore`].
    stores: Stores,
    counters: Arc<Counters>,
}

impl ClassStores {
    /// Just the `default` class.
    pub fn single(store: Store) -> ClassStores {
        ClassStores::new(store, Vec::new())
    }

    /// The `default` class's store and the others', by class (names
    /// checked by [`parse_flags`]).
    pub fn new(default: Store, others: Vec<(String, Store)>) -> ClassStores {
        let counters = Counters::new();
        let mut names = vec![DEFAULT_CLASS.to_string()];
        let mut stores = vec![counted(default, counters.clone())];
        for (name, store) in others {
            names.push(name);
            stores.push(counted(store, counters.clone()));
        }
        ClassStores {
            names,
            stores: Stores::new(stores),
            counters,
        }
    }

    /// The requests of every class's store (reads, pushes, compaction):
    /// what `/v1/metrics` exports. Concurrent requests all count here; to
    /// count one read's alone, read [`ClassStores::counted_stores`].
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Every class's store as [`ClassStores::stores`], each request also
    /// counted in `counters` (fresh ones, one read's): `counters.snapshot()`
    /// after the read is what it cost, whatever ran beside it.
    pub fn counted_stores(&self, counters: &Arc<Counters>) -> Stores {
        Stores::new(
            self.stores
                .iter()
                .map(|s| counted(s.clone(), counters.clone()))
                .collect(),
        )
    }

    /// Class names, in the order of [`ClassStores::stores`].
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// What a read spans: every class's store.
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// The `default` class's store: where pushed lines go.
    pub fn default_store(&self) -> &Store {
        self.stores
            .get(0)
            .expect("ClassStores always holds the default class's store")
    }

    /// The class of store `id` of a read.
    pub fn name(&self, id: StoreId) -> &str {
        self.names.get(id.0).map_or("?", String::as_str)
    }

    /// Store `id` of a read.
    pub fn store(&self, id: StoreId) -> Option<&Store> {
        self.stores.get(id.0)
    }

    /// `(class, store)`, `default` first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Store)> {
        self.names
            .iter()
            .map(String::as_str)
            .zip(self.stores.iter())
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

impl From<Store> for ClassStores {
    fn from(store: Store) -> ClassStores {
        ClassStores::single(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(v: &[&str]) -> Result<Vec<ClassFlag>, ClassError> {
        parse_flags(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_and_refuses_flags() {
        let f = flags(&[
            "long-retention=s3://logs/long",
            " platform = /data/p ",
            "",
            " ",
        ])
        .unwrap();
        assert_eq!(
            f.iter()
                .map(|f| (f.class.as_str(), f.store.as_str()))
                .collect::<Vec<_>>(),
            [
                ("long-retention", "s3://logs/long"),
                ("platform", "/data/p")
            ]
        );
        for (bad, want) in [
            ("long", "expected NAME=STORE"),
            ("=s3://x", "expected NAME=STORE"),
            ("long=", "expected NAME=STORE"),
            ("Long=s3://x", "a-z, 0-9 and '-'"),
            ("a_b=s3://x", "a-z, 0-9 and '-'"),
            ("default=s3://x", "the default class's store is --store"),
        ] {
            let e = flags(&[bad]).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("--class"), "{bad}: {e}");
        }
        let long = format!("{}=s3://x", "a".repeat(64));
        assert!(flags(&[&long]).unwrap_err().to_string().contains("63"));
        let e = flags(&["a=s3://x", "a=s3://y"]).unwrap_err();
        assert!(matches!(e, ClassError::Duplicate { .. }), "{e}");
    }

    fn u(class: &str, url: &str) -> ClassUrl {
        ClassUrl {
            class: class.into(),
            url: url.into(),
            given: format!("{class}={url}"),
        }
    }

    #[test]
    fn refuses_shared_and_nested_stores() {
        check_urls(&[
            u("default", "s3://logs"),
            u("long", "s3://logs/long"),
            u("other", "s3://other"),
            u("dir", "file:///data/a"),
            u("dir2", "file:///data/ab"),
        ])
        .unwrap();
        let e = check_urls(&[u("default", "s3://logs/x"), u("long", "s3://logs/x/")]).unwrap_err();
        assert!(
            matches!(&e, ClassError::SameStore { other, .. } if other == "default"),
            "{e}"
        );
        let e = check_urls(&[u("default", "s3://logs"), u("long", "s3://logs/raw/t")]).unwrap_err();
        assert!(e.to_string().contains("inside the raw/"), "{e}");
        let e =
            check_urls(&[u("default", "s3://logs/data/x"), u("long", "s3://logs")]).unwrap_err();
        assert!(e.to_string().contains("inside the data/"), "{e}");
    }

    #[test]
    fn stores_in_class_order() {
        let mem = || -> Store { std::sync::Arc::new(object_store::memory::InMemory::new()) };
        let c = ClassStores::new(mem(), vec![("long".into(), mem())]);
        assert_eq!(c.names(), ["default", "long"]);
        assert_eq!(c.stores().len(), 2);
        assert_eq!(c.name(StoreId(1)), "long");
        assert_eq!(ClassStores::single(mem()).names(), ["default"]);
    }

    #[tokio::test]
    async fn counts_every_class_stores_requests() {
        use object_store::ObjectStoreExt;
        use object_store::path::Path;
        let mem = || -> Store { std::sync::Arc::new(object_store::memory::InMemory::new()) };
        let c = ClassStores::new(mem(), vec![("long".into(), mem())]);
        for (_, s) in c.iter() {
            s.put(&Path::from("k"), "abc".into()).await.unwrap();
        }
        let read = Counters::new();
        for s in c.counted_stores(&read).iter() {
            s.get(&Path::from("k"))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
        }
        let all = c.counters().snapshot();
        assert_eq!((all.put, all.get, all.bytes_fetched), (2, 2, 6));
        let one = read.snapshot();
        assert_eq!((one.put, one.get, one.bytes_fetched), (0, 2, 6));
    }
}
