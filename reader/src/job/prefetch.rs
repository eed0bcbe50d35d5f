//! Fetching objects ahead of the merge: downloaded and decompressed on
//! other threads, within bounds of count, bytes and decoder threads.

use super::fetch::{fetch, fetch_range};
use super::plan::Planned;
use super::stores::Stores;
use crate::object::{Gate, Source, block_lines, decode_blocks, open_raw, streamed_lines};
use crate::store::StoreError;
use std::collections::VecDeque;

/// An object, fetched and ready to merge (or why it is not).
pub(super) enum Opened {
    Source(Source, Option<String>, u64),
    Vanished,
}

/// Objects fetched ahead of the merge: while the merge works through one
/// object, the next ones are being downloaded and decompressed (a raw one
/// checked or sorted) on other threads — up to this many, and beyond the
/// first, up to this many stored bytes, so that many small objects overlap
/// their latency and few large ones do not crowd memory.
pub(super) const AHEAD: usize = 8;
pub(super) const AHEAD_BYTES: u64 = 1 << 20;
/// Decompressed blocks (about 1 MiB each) a merged object's decoder may
/// hold ready beyond the one being parsed.
const BLOCKS_AHEAD: usize = 2;

/// Merged objects decompressed on threads of their own at once, in the
/// whole process. A decoder that is ahead waits for its merge, holding a
/// blocking thread: bounded here, far below the blocking pool's size, a
/// decoder is never queued behind other decoders (a merge waiting for it
/// would wait forever), and memory stays at ~3 MiB a decoder.
static DECODERS: std::sync::LazyLock<std::sync::Arc<tokio::sync::Semaphore>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(tokio::sync::Semaphore::new(16)));

pub(super) async fn open_object(
    stores: Stores,
    p: Planned,
    gate: Gate,
) -> Result<(Planned, Opened), StoreError> {
    let store = stores.get(p.store).ok_or(StoreError::NoStore(p.store))?;
    let body = match p.range {
        None => fetch(store.as_ref(), &p.key).await?,
        Some((a, b)) => fetch_range(store.as_ref(), &p.key, a..b).await?,
    };
    let Some(body) = body else {
        return Ok((p, Opened::Vanished));
    };
    let key = p.key.clone();
    if !p.raw {
        // Merged objects are sorted: decompressed on a blocking thread, a
        // block ahead of the merge, so a read uses both cores.
        let n = body.len() as u64;
        let src: Source = match DECODERS.clone().try_acquire_owned() {
            Ok(slot) => {
                let (tx, rx) = std::sync::mpsc::sync_channel(BLOCKS_AHEAD);
                tokio::task::spawn_blocking(move || {
                    let _slot = slot;
                    decode_blocks(body, tx, gate)
                });
                // The decoder applied the gate.
                Box::new(block_lines(key, rx, None))
            }
            // Every decoder thread taken: decompressed as pulled instead.
            Err(_) => Box::new(streamed_lines(key, body, gate)),
        };
        return Ok((p, Opened::Source(src, None, n)));
    }
    // Gunzipping, checking the order and maybe sorting take a while: off
    // the async threads.
    let (src, warn, n) = tokio::task::spawn_blocking(move || open_raw(key, &body, gate))
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?;
    Ok((p, Opened::Source(src, warn, n)))
}

type Fetch = tokio::task::JoinHandle<Result<(Planned, Opened), StoreError>>;

/// Fetches under way, with their stored sizes.
#[derive(Default)]
pub(super) struct Inflight(pub(super) VecDeque<(u64, Fetch)>);

impl Drop for Inflight {
    /// A read given up (a client gone, a head reached) stops its fetches.
    fn drop(&mut self) {
        for (_, h) in &self.0 {
            h.abort();
        }
    }
}
