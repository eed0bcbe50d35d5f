//! Admission of heavy work: one memory budget that every full read, large
//! tail, follow and compaction pass takes its share from, and a cap on the
//! heavy requests one caller has running at once, so that one tool's script
//! cannot take the whole budget. What does not fit waits briefly in a
//! bounded queue, then is refused with a time to retry. Cheap requests
//! (health, job lists, small tails and pages) never come here, so they are
//! never queued behind big reads.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What admission is sized by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The whole budget, MiB.
    pub budget_mib: u32,
    /// A full read's or a large tail's share, MiB.
    pub read_mib: u32,
    /// A follow's share, MiB.
    pub follow_mib: u32,
    /// A compaction pass's share, MiB.
    pub compaction_mib: u32,
    /// Heavy requests one caller may have running at once.
    pub per_caller: usize,
    /// How long a request waits for its share before it is refused.
    pub wait: Duration,
    /// Requests waiting at once; more are refused at once.
    pub queue_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            budget_mib: DEFAULT_BUDGET_MIB,
            read_mib: 32,
            follow_mib: 4,
            compaction_mib: 64,
            per_caller: 4,
            wait: Duration::from_secs(5),
            queue_max: 64,
        }
    }
}

/// The budget where the container has no memory limit to derive it from.
pub const DEFAULT_BUDGET_MIB: u32 = 1024;

/// The budget for a container limited to `limit` bytes (`None`: no limit):
/// three quarters of it, the rest being the service's own baseline (about
/// 10 MiB), the allocator's slack and the kernel's page cache accounting.
pub fn budget_for(limit: Option<u64>) -> u32 {
    match limit {
        Some(bytes) => ((bytes / 4 * 3) >> 20).clamp(16, u32::MAX as u64) as u32,
        None => DEFAULT_BUDGET_MIB,
    }
}

/// The memory limit of the cgroup this process runs in, if it has one:
/// cgroup v2's `memory.max`, else v1's `memory.limit_in_bytes` (where
/// "unlimited" is a huge number).
pub fn cgroup_memory_limit() -> Option<u64> {
    let v2 = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok();
    let v1 = || std::fs::read_to_string("/sys/fs/cgroup/memory/memory.limit_in_bytes").ok();
    parse_cgroup_limit(v2.or_else(v1).as_deref()?)
}

/// `max`, a byte count, or v1's "no limit" (a page-rounded `i64::MAX`).
pub fn parse_cgroup_limit(text: &str) -> Option<u64> {
    let n: u64 = text.trim().parse().ok()?;
    (n < 1 << 60).then_some(n)
}

/// The kinds of heavy work, each with its share of the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    Read,
    Follow,
    Compaction,
}

/// Why a request was not admitted; the message is what the client reads.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum Refused {
    #[error(
        "{caller} already has {limit} large reads or follows running, the most one caller may have at once; wait for one to end"
    )]
    Caller { caller: String, limit: usize },
    #[error(
        "the service is at its memory budget ({budget_mib} MiB, {in_use_mib} MiB in use) and {queued} requests are waiting; try again in {retry_secs} s"
    )]
    Busy {
        budget_mib: u32,
        in_use_mib: u32,
        queued: usize,
        retry_secs: u64,
    },
}

impl Refused {
    /// Seconds to send as `Retry-After`.
    pub fn retry_after(&self) -> u64 {
        match self {
            Refused::Caller { .. } => 1,
            Refused::Busy { retry_secs, .. } => *retry_secs,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Refused::Caller { .. } => "caller",
            Refused::Busy { .. } => "budget",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabels {
    pub reason: &'static str,
}

/// Admission's figures, registered by [`crate::metrics::Metrics`].
#[derive(Debug, Clone, Default)]
pub struct AdmissionMetrics {
    /// MiB of the budget held right now.
    pub in_use_mib: Gauge,
    /// The budget, MiB.
    pub budget_mib: Gauge,
    /// Heavy requests running.
    pub running: Gauge,
    /// Requests waiting for a share.
    pub queued: Gauge,
    pub refused: Family<RefusedLabels, Counter>,
}

/// Heavy requests running per caller.
type Callers = Arc<Mutex<HashMap<String, usize>>>;

/// The budget and the callers' counts; shared by every handler.
#[derive(Debug)]
pub struct Admission {
    limits: Limits,
    budget: Arc<Semaphore>,
    callers: Callers,
    pub metrics: AdmissionMetrics,
    /// Reads running (follows and compaction passes, which last long, not
    /// counted): when the last one ends, `on_idle` is called.
    reads: Arc<AtomicUsize>,
    /// Hands the heap's free memory back ([`crate::memory::give_back`]).
    on_idle: fn(),
}

/// Held while the admitted work runs; dropping it gives the share back.
#[derive(Debug)]
pub struct Ticket {
    share: OwnedSemaphorePermit,
    mib: u32,
    caller: Option<(String, Callers)>,
    metrics: AdmissionMetrics,
    /// `Some` for a read: the count of reads it is among.
    read: Option<Arc<AtomicUsize>>,
    on_idle: fn(),
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.metrics.in_use_mib.dec_by(self.mib.into());
        self.metrics.running.dec();
        if let Some((name, callers)) = &self.caller {
            release(callers, name);
        }
        // After a spike of reads: the last one out gives memory back, off
        // the async threads (it takes milliseconds on a large heap).
        if let Some(reads) = &self.read
            && reads.fetch_sub(1, Ordering::SeqCst) == 1
        {
            let give_back = self.on_idle;
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn_blocking(give_back)),
                Err(_) => give_back(),
            }
        }
    }
}

/// A request waiting in the queue, counted as such until it leaves it,
/// however it leaves (admitted, refused, or dropped with its connection).
struct Waiting<'a>(&'a Gauge);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn release(callers: &Mutex<HashMap<String, usize>>, name: &str) {
    let mut m = callers.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = m.get_mut(name) {
        *n -= 1;
        if *n == 0 {
            m.remove(name);
        }
    }
}

/// A caller's slot, given back if the request is refused while it waits.
struct Slot<'a> {
    callers: &'a Callers,
    name: Option<&'a str>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(name) = self.name {
            release(self.callers, name);
        }
    }
}

impl Ticket {
    /// Gives back what exceeds `mib` of the share: a follow keeps a read's
    /// share while it sends the stored log, a follow's once it waits for
    /// new lines.
    pub fn shrink_to(&mut self, mib: u32) {
        if mib >= self.mib {
            return;
        }
        if let Some(extra) = self.share.split((self.mib - mib) as usize) {
            drop(extra);
            self.metrics.in_use_mib.dec_by((self.mib - mib).into());
            self.mib = mib;
        }
    }
}

impl Admission {
    /// `metrics`: where its figures go (clones of what the registry holds);
    /// `on_idle`: called whenever the last heavy request ends.
    pub fn new(limits: Limits, metrics: AdmissionMetrics, on_idle: fn()) -> Admission {
        metrics.budget_mib.set(limits.budget_mib.into());
        Admission {
            budget: Arc::new(Semaphore::new(limits.budget_mib as usize)),
            limits,
            reads: Arc::default(),
            callers: Arc::default(),
            metrics,
            on_idle,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The MiB `work` takes.
    pub fn share(&self, work: Work) -> u32 {
        let mib = match work {
            Work::Read => self.limits.read_mib,
            Work::Follow => self.limits.follow_mib,
            Work::Compaction => self.limits.compaction_mib,
        };
        // A share larger than the budget could never be had: alone, it runs.
        mib.clamp(1, self.limits.budget_mib.max(1))
    }

    /// Admits `work` for `caller` (`None`: the service's own work, which no
    /// per-caller cap applies to), waiting up to [`Limits::wait`] for its
    /// share.
    pub async fn admit(&self, caller: Option<&str>, work: Work) -> Result<Ticket, Refused> {
        // Refusals of callers, answered 429; the service's own work (a
        // compaction pass) deferred is no refusal of anyone.
        let refuse = |r: Refused| {
            if caller.is_some() {
                self.metrics
                    .refused
                    .get_or_create(&RefusedLabels { reason: r.reason() })
                    .inc();
            }
            r
        };
        let mut slot = Slot {
            callers: &self.callers,
            name: None,
        };
        if let Some(name) = caller {
            let mut m = self.callers.lock().unwrap_or_else(|e| e.into_inner());
            let n = m.entry(name.to_string()).or_insert(0);
            if *n >= self.limits.per_caller {
                return Err(refuse(Refused::Caller {
                    caller: name.to_string(),
                    limit: self.limits.per_caller,
                }));
            }
            *n += 1;
            slot.name = Some(name);
        }
        let mib = self.share(work);
        let share = match self.budget.clone().try_acquire_many_owned(mib) {
            Ok(p) => p,
            Err(_) => {
                let busy = |queued| Refused::Busy {
                    budget_mib: self.limits.budget_mib,
                    in_use_mib: self.metrics.in_use_mib.get().max(0) as u32,
                    queued,
                    // Shares come free as reads end: soon, when the queue
                    // has drained; not a whole wait later.
                    retry_secs: 2,
                };
                // `inc` returns the count before.
                let waiting = Waiting(&self.metrics.queued);
                let ahead = waiting.0.inc().max(0) as usize;
                if ahead >= self.limits.queue_max {
                    return Err(refuse(busy(ahead)));
                }
                let got = tokio::time::timeout(
                    self.limits.wait,
                    self.budget.clone().acquire_many_owned(mib),
                )
                .await;
                drop(waiting);
                match got {
                    Ok(Ok(p)) => p,
                    // Timed out (or, never, closed).
                    _ => {
                        let queued = self.metrics.queued.get().max(0) as usize;
                        return Err(refuse(busy(queued)));
                    }
                }
            }
        };
        self.metrics.in_use_mib.inc_by(mib.into());
        self.metrics.running.inc();
        let caller = slot
            .name
            .take()
            .map(|n| (n.to_string(), self.callers.clone()));
        let read = (work == Work::Read).then(|| {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.reads.clone()
        });
        Ok(Ticket {
            share,
            mib,
            caller,
            metrics: self.metrics.clone(),
            read,
            on_idle: self.on_idle,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(budget_mib: u32) -> Admission {
        Admission::new(
            Limits {
                budget_mib,
                read_mib: 10,
                follow_mib: 2,
                compaction_mib: 20,
                per_caller: 2,
                wait: Duration::from_millis(50),
                queue_max: 1,
            },
            AdmissionMetrics::default(),
            count_idle,
        )
    }

    /// Admits `work` for `who`, which must get in.
    async fn take(a: &Admission, who: &str, work: Work) -> Ticket {
        a.admit(Some(who), work).await.unwrap()
    }

    static IDLE: AtomicUsize = AtomicUsize::new(0);
    fn count_idle() {
        IDLE.fetch_add(1, Ordering::SeqCst);
    }

    #[tokio::test]
    async fn a_caller_gets_its_limit_and_no_more() {
        let a = small(1000);
        let t1 = take(&a, "ann", Work::Read).await;
        let _t2 = take(&a, "ann", Work::Follow).await;
        let e = a.admit(Some("ann"), Work::Read).await.unwrap_err();
        assert!(matches!(e, Refused::Caller { limit: 2, .. }), "{e}");
        assert_eq!(e.retry_after(), 1);
        // Others are not held back by ann, nor is the service's own work.
        let _b = take(&a, "bob", Work::Read).await;
        let _c = a.admit(None, Work::Compaction).await.unwrap();
        drop(t1);
        let _t3 = take(&a, "ann", Work::Read).await;
        assert_eq!(a.metrics.running.get(), 4);
        assert_eq!(a.metrics.in_use_mib.get(), 10 + 2 + 10 + 20);
    }

    #[tokio::test]
    async fn beyond_the_budget_requests_wait_then_are_refused() {
        let a = small(25);
        let t1 = take(&a, "a", Work::Read).await;
        let _t2 = take(&a, "b", Work::Read).await;
        // 5 MiB left: a third read waits its 50 ms, then is refused.
        let e = a.admit(Some("c"), Work::Read).await.unwrap_err();
        assert!(
            matches!(
                e,
                Refused::Busy {
                    budget_mib: 25,
                    in_use_mib: 20,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("memory budget (25 MiB"), "{e}");
        // A refused request gives its caller slot back.
        assert!(a.callers.lock().unwrap().get("c").is_none());
        // One that waits gets in when a share is given back.
        let waiting = a.admit(Some("c"), Work::Read);
        let release = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            drop(t1);
        };
        let (got, ()) = tokio::join!(waiting, release);
        assert!(got.is_ok());
        let refused = a
            .metrics
            .refused
            .get_or_create(&RefusedLabels { reason: "budget" })
            .get();
        assert_eq!(refused, 1);
    }

    #[tokio::test]
    async fn the_queue_is_bounded() {
        let a = small(10);
        let _t = take(&a, "a", Work::Read).await;
        // queue_max 1: the first waits, the second is refused at once.
        let (w1, w2) = tokio::join!(a.admit(Some("b"), Work::Read), async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let t = std::time::Instant::now();
            (a.admit(Some("c"), Work::Read).await, t.elapsed())
        });
        assert!(matches!(w1, Err(Refused::Busy { .. })));
        assert!(matches!(w2.0, Err(Refused::Busy { queued: 1, .. })));
        assert!(w2.1 < Duration::from_millis(40), "{:?}", w2.1);
        assert_eq!(a.metrics.queued.get(), 0);
    }

    #[tokio::test]
    async fn a_follow_gives_back_the_reads_share_it_no_longer_needs() {
        let a = small(20);
        let mut t = take(&a, "a", Work::Read).await;
        let _u = take(&a, "b", Work::Read).await;
        assert!(a.admit(Some("c"), Work::Follow).await.is_err());
        t.shrink_to(a.share(Work::Follow));
        assert_eq!(a.metrics.in_use_mib.get(), 12);
        let _v = take(&a, "c", Work::Follow).await;
        t.shrink_to(a.share(Work::Read));
        assert_eq!(a.metrics.in_use_mib.get(), 14, "never grows");
        drop(t);
        assert_eq!(a.metrics.in_use_mib.get(), 12);
    }

    #[tokio::test]
    async fn a_share_larger_than_the_budget_runs_alone() {
        let a = small(5);
        let t = take(&a, "a", Work::Compaction).await;
        assert_eq!(a.metrics.in_use_mib.get(), 5);
        drop(t);
        assert_eq!(
            (a.metrics.in_use_mib.get(), a.metrics.running.get()),
            (0, 0)
        );
    }

    #[tokio::test]
    async fn the_last_read_out_gives_memory_back() {
        let a = small(100);
        let follow = take(&a, "a", Work::Follow).await;
        let r1 = take(&a, "b", Work::Read).await;
        let r2 = take(&a, "c", Work::Read).await;
        let before = IDLE.load(Ordering::SeqCst);
        drop(r1);
        tokio::task::yield_now().await;
        assert_eq!(IDLE.load(Ordering::SeqCst), before, "a read still runs");
        // Follows last long: they do not hold the memory back.
        drop(r2);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while IDLE.load(Ordering::SeqCst) == before {
            assert!(std::time::Instant::now() < deadline, "never given back");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(follow);
    }

    #[tokio::test]
    async fn a_request_dropped_while_waiting_leaves_the_queue() {
        let a = small(10);
        let _t = take(&a, "a", Work::Read).await;
        let waiting = a.admit(Some("b"), Work::Read);
        // Its connection gone while it waits: the future is dropped.
        assert!(
            tokio::time::timeout(Duration::from_millis(10), waiting)
                .await
                .is_err()
        );
        assert_eq!(a.metrics.queued.get(), 0);
        assert!(a.callers.lock().unwrap().get("b").is_none());
    }

    #[tokio::test]
    async fn the_services_own_work_deferred_is_no_refusal() {
        let a = small(10);
        let _t = take(&a, "a", Work::Read).await;
        assert!(a.admit(None, Work::Compaction).await.is_err());
        let refused = a
            .metrics
            .refused
            .get_or_create(&RefusedLabels { reason: "budget" })
            .get();
        assert_eq!(refused, 0);
    }

    #[test]
    fn the_budget_follows_the_container_limit() {
        assert_eq!(budget_for(Some(512 << 20)), 384);
        assert_eq!(budget_for(Some(1 << 20)), 16);
        assert_eq!(budget_for(None), DEFAULT_BUDGET_MIB);
        assert_eq!(parse_cgroup_limit("max\n"), None);
        assert_eq!(parse_cgroup_limit("536870912\n"), Some(512 << 20));
        assert_eq!(parse_cgroup_limit("9223372036854771712"), None);
        assert_eq!(parse_cgroup_limit("junk"), None);
    }
}
