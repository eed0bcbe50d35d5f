//! What every handler shares: the stores, who may ask, the metrics, the
//! tunables, and what the service's own work needs to shut down cleanly.

use crate::admission::{Admission, Limits};
use crate::auth::{Auth, DeleteBy};
use crate::classes::ClassStores;
use crate::metrics::Metrics;
use afterlog_reader::job::FirstTimes;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

/// Tunables of a running service.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How often a follow looks for new raw objects.
    pub follow_poll: Duration,
    /// A follow with nothing to send sends an empty line this often.
    pub follow_heartbeat: Duration,
    /// Follows open at once; more get 429.
    pub follow_max: usize,
    /// A follow ends after this long (clients reconnect).
    pub follow_timeout: Duration,
    /// Largest body `POST …/logs` accepts.
    pub push_max_bytes: usize,
    /// A job whose last raw object arrived within this is `active`.
    pub active_window: Duration,
    /// The memory budget and the per-caller cap of heavy requests.
    pub admission: Limits,
    /// Who may create and cancel deletion requests.
    pub delete_by: DeleteBy,
    /// Hours from a deletion request to its application: the compactor's
    /// `delete_after_hours`, so that `due_at` says what it will do.
    pub delete_after_hours: u64,
    /// How often each class's compaction status object is read for the
    /// metrics.
    pub compaction_status_every: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            follow_poll: Duration::from_secs(2),
            follow_heartbeat: Duration::from_secs(15),
            follow_max: 64,
            follow_timeout: Duration::from_secs(3600),
            push_max_bytes: 1 << 20,
            active_window: Duration::from_secs(15 * 60),
            admission: Limits::default(),
            delete_by: DeleteBy::default(),
            delete_after_hours: afterlog_compactor::Config::default().delete_after_hours,
            compaction_status_every: Duration::from_secs(30),
        }
    }
}

/// What every handler shares.
pub struct AppState {
    /// The store of each routing class: reads span them all, pushes go to
    /// the `default` class's.
    pub classes: ClassStores,
    pub auth: Auth,
    pub metrics: Arc<Metrics>,
    pub settings: Settings,
    pub follows: Arc<Semaphore>,
    /// Heavy requests' shares of the memory budget.
    pub admission: Admission,
    /// `true` once the service is shutting down: follows end, health
    /// answers 503, the compactor stops at a safe point.
    pub draining: watch::Sender<bool>,
    /// Work of the service's own that shutting down waits for.
    pub background: Mutex<Vec<JoinHandle<()>>>,
    /// First record times of raw objects, read once per object.
    pub first_times: FirstTimes,
}

pub type App = Arc<AppState>;

impl AppState {
    pub fn new(classes: impl Into<ClassStores>, auth: Auth, settings: Settings) -> App {
        let metrics = Arc::new(Metrics::new());
        Arc::new(AppState {
            classes: classes.into(),
            auth,
            admission: Admission::new(
                settings.admission.clone(),
                metrics.admission.clone(),
                crate::memory::give_back,
            ),
            metrics,
            draining: watch::Sender::new(false),
            background: Default::default(),
            follows: Arc::new(Semaphore::new(settings.follow_max)),
            first_times: FirstTimes::default(),
            settings,
        })
    }

    /// Whether a job whose last upload was at `last_upload_secs` is
    /// `active` or `archived`.
    pub fn status(&self, last_upload_secs: Option<i64>) -> String {
        let window = self.settings.active_window.as_secs() as i64;
        let active = last_upload_secs.is_some_and(|t| crate::clock::now_secs() - t <= window);
        if active { "active" } else { "archived" }.to_string()
    }

    /// Keeps `task` for shutting down to wait for.
    pub fn keep(&self, task: JoinHandle<()>) {
        self.background
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(task);
    }
}

/// Resolves once the service is shutting down (at once if it is).
pub async fn until_draining(rx: &mut watch::Receiver<bool>) {
    // The sender lives in the app state, as long as anything that waits.
    let _ = rx.wait_for(|d| *d).await;
}
