//! The compactor's lease: only its holder mutates the store, so that two
//! compactors (replicas of the service, a CronJob running late) never both
//! merge or delete.
//!
//! A lease is a chain of objects `lease/compactor/<epoch>.json`, each
//! created with a create-only PUT (`If-None-Match: *` on S3, a hard link on a
//! local directory — both atomic, and the one conditional write every store
//! `object_store` supports has). Taking or renewing the lease is creating the
//! next epoch: of two compactors racing for it, one gets
//! `AlreadyExists`. A holder that dies stops renewing; once its epoch has
//! expired, the next compactor creates the following one.

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub const PREFIX: &str = "lease/compactor/";

#[derive(Debug, Error)]
pub enum LeaseError {
    #[error("another compactor ({holder}) holds the lease until {until_ns} ns")]
    Held { holder: String, until_ns: u64 },
    #[error("the lease was lost to {0}")]
    Lost(String),
    #[error(transparent)]
    Store(#[from] object_store::Error),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Record {
    holder: String,
    expires_ns: u64,
}

/// A held lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    pub epoch: u64,
    pub expires_ns: u64,
    ttl_ns: u64,
    settle: std::time::Duration,
    /// Old epochs whose deletion failed (left for a later prune).
    pub prune_failures: u64,
}

fn key(epoch: u64) -> Path {
    Path::from(format!("{PREFIX}{epoch:020}.json"))
}

/// The newest epoch and what it says, if any.
async fn latest(store: &dyn ObjectStore) -> Result<Option<(u64, Record)>, LeaseError> {
    Ok(listing(store).await?.0)
}

/// [`latest`], and every epoch listed.
async fn listing(store: &dyn ObjectStore) -> Result<(Option<(u64, Record)>, Vec<u64>), LeaseError> {
    use futures::TryStreamExt;
    let listed: Vec<_> = store
        .list(Some(&Path::from(PREFIX)))
        .try_collect()
        .await
        .or_else(|e| match e {
            object_store::Error::NotFound { .. } => Ok(Vec::new()),
            e => Err(e),
        })?;
    let epochs: Vec<u64> = listed
        .iter()
        .filter_map(|m| {
            m.location
                .filename()?
                .strip_suffix(".json")?
                .parse::<u64>()
                .ok()
        })
        .collect();
    let Some(epoch) = epochs.iter().copied().max() else {
        return Ok((None, epochs));
    };
    match store.get(&key(epoch)).await {
        Ok(g) => {
            let body = g.bytes().await?;
            // An unreadable epoch counts as expired: it cannot hold anyone off.
            let rec = serde_json::from_slice(&body).unwrap_or(Record {
                holder: "?".into(),
                expires_ns: 0,
            });
            Ok((Some((epoch, rec)), epochs))
        }
        // Pruned meanwhile: a newer one exists; the caller's create will
        // fail, which is the right answer.
        Err(object_store::Error::NotFound { .. }) => Ok((
            Some((
                epoch,
                Record {
                    holder: "?".into(),
                    expires_ns: u64::MAX,
                },
            )),
            epochs,
        )),
        Err(e) => Err(e.into()),
    }
}

/// Creates an epoch; true if this compactor now holds it.
///
/// `settle` guards against stores whose create-only PUT is a check followed
/// by a write (s3s-fs is one): two creates racing can both succeed there,
/// the later write winning. After waiting out such a race, the holder reads
/// the epoch back and only trusts it if it still says its name. AWS S3,
/// MinIO, Ceph and local directories create atomically and need no wait.
async fn create(
    store: &dyn ObjectStore,
    epoch: u64,
    rec: &Record,
    settle: std::time::Duration,
) -> Result<bool, LeaseError> {
    let body = serde_json::to_vec(rec).unwrap_or_default();
    let opts = PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    match store
        .put_opts(&key(epoch), PutPayload::from(body), opts)
        .await
    {
        Ok(_) if settle.is_zero() => Ok(true),
        Ok(_) => {
            tokio::time::sleep(settle).await;
            let body = store.get(&key(epoch)).await?.bytes().await?;
            Ok(serde_json::from_slice::<Record>(&body).is_ok_and(|r| r == *rec))
        }
        Err(object_store::Error::AlreadyExists { .. })
        | Err(object_store::Error::Precondition { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Deletes the epoch before `keep_from`, so that the chain stays two long
/// (best effort: a leftover only costs a listing). Returns the deletions
/// that failed.
async fn prune(store: &dyn ObjectStore, keep_from: u64) -> u64 {
    if keep_from > 1 {
        prune_listed(store, &[keep_from - 1], keep_from).await
    } else {
        0
    }
}

/// Deletes the listed epochs older than `keep_from`: the release records
/// [`prune`] does not reach, which would otherwise pile up one per pass.
/// Returns the deletions that failed (an epoch already gone is none).
async fn prune_listed(store: &dyn ObjectStore, epochs: &[u64], keep_from: u64) -> u64 {
    let mut failed = 0;
    for &e in epochs.iter().filter(|&&e| e < keep_from) {
        match store.delete(&key(e)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(err) => {
                tracing::debug!(epoch = e, error = %err, "lease: an old epoch not deleted");
                failed += 1;
            }
        }
    }
    failed
}

impl Lease {
    /// Takes the lease for `ttl_ns` if nobody else holds it.
    pub async fn acquire(
        store: &dyn ObjectStore,
        holder: &str,
        ttl_ns: u64,
        now_ns: u64,
        settle: std::time::Duration,
    ) -> Result<Lease, LeaseError> {
        let (newest, epochs) = listing(store).await?;
        let next = match newest {
            Some((_, r)) if r.holder != holder && r.expires_ns > now_ns => {
                return Err(LeaseError::Held {
                    holder: r.holder,
                    until_ns: r.expires_ns,
                });
            }
            Some((epoch, _)) => epoch + 1,
            None => 1,
        };
        let rec = Record {
            holder: holder.to_string(),
            expires_ns: now_ns.saturating_add(ttl_ns),
        };
        if !create(store, next, &rec, settle).await? {
            let (holder, until_ns) = match latest(store).await? {
                Some((_, r)) => (r.holder, r.expires_ns),
                None => ("?".into(), 0),
            };
            return Err(LeaseError::Held { holder, until_ns });
        }
        let prune_failures = prune_listed(store, &epochs, next.saturating_sub(1)).await;
        Ok(Lease {
            holder: holder.to_string(),
            epoch: next,
            expires_ns: rec.expires_ns,
            ttl_ns,
            settle,
            prune_failures,
        })
    }

    /// Whether the lease is safe to act on at `now_ns`: held, with a third
    /// of its time left (so that a mutation started now ends before it
    /// could be taken over).
    pub fn fresh(&self, now_ns: u64) -> bool {
        now_ns.saturating_add(self.ttl_ns / 3) < self.expires_ns
    }

    /// Extends the lease; `Lost` if another compactor took it over.
    pub async fn renew(&mut self, store: &dyn ObjectStore, now_ns: u64) -> Result<(), LeaseError> {
        if now_ns >= self.expires_ns {
            return Err(LeaseError::Lost("expiry (not renewed in time)".into()));
        }
        let rec = Record {
            holder: self.holder.clone(),
            expires_ns: now_ns.saturating_add(self.ttl_ns),
        };
        if !create(store, self.epoch + 1, &rec, self.settle).await? {
            let by = latest(store)
                .await?
                .map_or_else(|| "?".to_string(), |(_, r)| r.holder);
            return Err(LeaseError::Lost(by));
        }
        self.epoch += 1;
        self.expires_ns = rec.expires_ns;
        self.prune_failures += prune(store, self.epoch.saturating_sub(1)).await;
        Ok(())
    }

    /// Renews if less than a third of the time is left.
    pub async fn keep(&mut self, store: &dyn ObjectStore, now_ns: u64) -> Result<(), LeaseError> {
        if self.fresh(now_ns) {
            Ok(())
        } else {
            self.renew(store, now_ns).await
        }
    }

    /// Gives the lease up so that the next compactor need not wait.
    pub async fn release(self, store: &dyn ObjectStore) -> Result<(), LeaseError> {
        let rec = Record {
            holder: self.holder.clone(),
            expires_ns: 0,
        };
        create(store, self.epoch + 1, &rec, std::time::Duration::ZERO).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    #[tokio::test]
    async fn passes_leave_no_pile_of_epochs() {
        let store = InMemory::new();
        let settle = std::time::Duration::ZERO;
        for pass in 0..5u64 {
            let now = pass * 1_000;
            let mut l = Lease::acquire(&store, "a", 100, now, settle).await.unwrap();
            l.renew(&store, now + 10).await.unwrap();
            l.release(&store).await.unwrap();
            let (_, epochs) = listing(&store).await.unwrap();
            assert!(epochs.len() <= 3, "pass {pass}: {epochs:?}");
        }
        // Released: the next holder need not wait.
        Lease::acquire(&store, "b", 100, 5_000, settle)
            .await
            .unwrap();
    }
}
