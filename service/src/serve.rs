//! Starting the HTTP server: the safety checks before it listens, and a
//! handle tests use to run it in-process on a free port.

use crate::api::{App, AppState, Settings, router};
use crate::auth::{Auth, AuthConfig};
use crate::classes::ClassStores;
use anyhow::{Context, bail};
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Refuses to serve without authentication unless told to, and then only
/// on a loopback address.
pub fn check_exposure(auth: &AuthConfig, listen: SocketAddr) -> anyhow::Result<()> {
    if matches!(auth, AuthConfig::InsecureNone) && !listen.ip().is_loopback() {
        bail!(
            "--insecure-no-auth serves every tool's logs to anyone: it is allowed on a loopback address only, not {listen}"
        );
    }
    Ok(())
}

/// A server bound to a port, not yet serving.
pub struct Server {
    pub listener: TcpListener,
    pub app: App,
}

impl Server {
    /// `classes`: the store of each routing class (a single store is the
    /// `default` class's).
    pub async fn bind(
        listen: SocketAddr,
        classes: impl Into<ClassStores>,
        auth: &AuthConfig,
        settings: Settings,
    ) -> anyhow::Result<Server> {
        check_exposure(auth, listen)?;
        let auth = Auth::new(auth).context("loading the auth configuration")?;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let app = AppState::new(classes, auth, settings);
        // Every request to the stores, exported at /v1/metrics.
        app.metrics.count_store(app.classes.counters().clone());
        Ok(Server { listener, app })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| ([127, 0, 0, 1], 0).into())
    }

    /// Serves until `shutdown` resolves. Then it stops accepting, ends
    /// follows with a line saying so (clients reconnect, to another
    /// replica), and gives running reads up to `grace` to finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        grace: std::time::Duration,
    ) -> anyhow::Result<()> {
        use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
        let trace = TraceLayer::new_for_http()
            .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO))
            .on_response(DefaultOnResponse::new().level(tracing::Level::INFO));
        let app = self.app.clone();
        let svc = router(self.app)
            .layer(trace)
            .layer(tower_http::catch_panic::CatchPanicLayer::new())
            .into_make_service_with_connect_info::<SocketAddr>();
        let drain = {
            let app = app.clone();
            async move {
                shutdown.await;
                app.draining.send_replace(true);
            }
        };
        let serving = {
            let app = app.clone();
            async move {
                axum::serve(self.listener, svc)
                    .with_graceful_shutdown(drain)
                    .await?;
                // Then the background work, which stops at a safe point.
                let background =
                    std::mem::take(&mut *app.background.lock().unwrap_or_else(|e| e.into_inner()));
                for task in background {
                    let _ = task.await;
                }
                Ok::<(), std::io::Error>(())
            }
        };
        let mut draining = app.draining.subscribe();
        let deadline = async move {
            until_draining(&mut draining).await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            r = serving => r.context("the HTTP server failed"),
            () = deadline => {
                let running = app.metrics.admission.running.get();
                tracing::warn!(running, "reads or a compaction pass still running after the shutdown grace of {grace:?}; cut");
                Ok(())
            }
        }
    }
}

/// Where streamed reads and follows run: a runtime of their own, so that
/// the server's runtime, which accepts connections and answers health
/// checks, job lists and small tails, is never queued behind merges
/// (docs/benchmarks.md, "Load"). The kernel shares the cores between the
/// two runtimes' threads. Made on first use and kept for the life of the process; if it
/// cannot be made, reads run on the caller's runtime.
pub fn reads() -> tokio::runtime::Handle {
    static READS: std::sync::OnceLock<Option<tokio::runtime::Runtime>> = std::sync::OnceLock::new();
    let rt = READS.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
            .thread_name("afterlog-read")
            .enable_all()
            .build()
            .inspect_err(|e| tracing::warn!(error = %e, "no runtime of their own for reads"))
            .ok()
    });
    match rt {
        Some(rt) => rt.handle().clone(),
        None => tokio::runtime::Handle::current(),
    }
}

/// Resolves once the service is shutting down (at once if it is).
pub async fn until_draining(rx: &mut tokio::sync::watch::Receiver<bool>) {
    // The sender lives in the app state, as long as anything that waits.
    let _ = rx.wait_for(|d| *d).await;
}

/// Resolves on Ctrl-C or SIGTERM (what Kubernetes sends).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

/// Runs a compaction pass over every class's store every `every` until the
/// service shuts down ([`Server::run`] waits for a pass under way to stop
/// at its next safe point). Each store is compacted on its own, under its own lease,
/// with its class's retention; passes of several replicas coordinate
/// through those leases: one works, the others find it held and wait for
/// the next turn.
pub fn spawn_compactor(app: App, config: afterlog_compactor::Config, every: std::time::Duration) {
    let task = tokio::spawn({
        let app = app.clone();
        async move {
            let compactors: Vec<afterlog_compactor::Compactor> = app
                .classes
                .iter()
                .map(|(class, store)| {
                    afterlog_compactor::Compactor::for_class(class, store.clone(), config.clone())
                })
                .collect();
            // A pass in progress stops at its next safe point on shutdown.
            let mut draining = app.draining.subscribe();
            {
                let stops: Vec<_> = compactors.iter().map(|c| c.stop.clone()).collect();
                let mut draining = app.draining.subscribe();
                tokio::spawn(async move {
                    until_draining(&mut draining).await;
                    for s in stops {
                        s.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                });
            }
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = until_draining(&mut draining) => return,
                }
                for c in &compactors {
                    if *draining.borrow() {
                        return;
                    }
                    let class = c.class.as_str();
                    // The pass holds its share while it runs; with the budget
                    // full of reads it waits for the next turn.
                    let ticket = app
                        .admission
                        .admit(None, crate::admission::Work::Compaction)
                        .await;
                    let result = match ticket {
                        Err(e) => {
                            tracing::info!(class, "compaction deferred: {e}");
                            "deferred"
                        }
                        Ok(_ticket) => match c.pass().await {
                            Ok(report) => {
                                tracing::info!(class, "compaction pass: {report}");
                                app.metrics.compaction(class, &report);
                                "ok"
                            }
                            Err(afterlog_compactor::CompactError::Lease(
                                e @ afterlog_compactor::LeaseError::Held { .. },
                            )) => {
                                tracing::info!(class, "compaction skipped: {e}");
                                "held"
                            }
                            Err(e) => {
                                tracing::error!(class, error = %e, "compaction pass failed; the next one resumes");
                                "error"
                            }
                        },
                    };
                    app.metrics
                        .compactions
                        .get_or_create(&crate::metrics::ResultLabels {
                            class: class.to_string(),
                            result,
                        })
                        .inc();
                }
            }
        }
    });
    app.background
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(task);
}
