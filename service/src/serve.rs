//! Starting the HTTP server: the safety checks before it listens, and a
//! handle tests use to run it in-process on a free port.

use crate::api::router;
use crate::api::state::{App, AppState, Settings, until_draining};
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
        crate::compaction::status::spawn(app.clone(), app.settings.compaction_status_every);
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
