//! Running the built service: the background work under its leases, the HTTP server, and
//! the ordered drain on shutdown.

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{draft, App};

impl App {
    /// Serves until `shutdown`, then drains in-flight requests and background work within
    /// `shutdown_timeout`.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let App {
            router: app,
            store,
            pipeline,
            reloader,
            watch,
            watchdog,
            reconciler,
            limiters,
            shutdown_timeout: limit,
            slack_worker,
            delivery,
            leases,
        } = self;
        let background = CancellationToken::new();
        // Leases outlive the workers: they are given up only once the work has stopped.
        let keeping = CancellationToken::new();
        let lease_task = tokio::spawn(leases.clone().run(keeping.clone()));
        let pipeline_task = {
            let leases = leases.clone();
            let stop = background.clone();
            tokio::spawn(async move { leases.run_work("pipeline", pipeline, stop).await })
        };
        let reload_task = tokio::spawn(reloader.run(watch, background.clone()));
        if let Some(r) = reconciler {
            let leases = leases.clone();
            let stop = background.clone();
            tokio::spawn(async move { leases.run_work("reconcile", r, stop).await });
        }
        if let Some(mut w) = watchdog {
            // On every replica: each one reports the feed; the lease decides who records.
            let stop = background.clone();
            tokio::spawn(async move { w.run(stop).await });
        }
        let forget = background.clone();
        tokio::spawn(async move {
            // Per-client budgets of clients gone quiet are dropped once a minute.
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {
                        for l in &limiters { l.forget_idle(); }
                    }
                    _ = forget.cancelled() => break,
                }
            }
        });
        let slack_task = slack_worker.map(|w| {
            let elsewhere = w.changes_elsewhere();
            store.on_announce(draft::DRAFTS_TOPIC, move || elsewhere.notify_one());
            let leases = leases.clone();
            let stop = background.clone();
            tokio::spawn(async move { leases.run_work("slack", w, stop).await })
        });
        let delivery_task = {
            let leases = leases.clone();
            let stop = background.clone();
            tokio::spawn(async move { leases.run_work("outbox", delivery, stop).await })
        };

        let addr = listener.local_addr()?;
        tracing::info!(%addr, "statusgate listening");
        let http_shutdown = shutdown.clone();
        let server = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move { http_shutdown.cancelled().await });
        let server = tokio::spawn(async move { server.await });
        shutdown.cancelled().await;
        tracing::info!("shutting down: finishing in-flight requests");
        let drained = tokio::time::timeout(limit, async {
            let _ = server.await;
            background.cancel();
            let _ = pipeline_task.await;
            let _ = reload_task.await;
            if let Some(t) = slack_task {
                let _ = t.await;
            }
            let _ = delivery_task.await;
            keeping.cancel();
            let _ = lease_task.await;
            store.durable().await
        })
        .await;
        match drained {
            Ok(Ok(())) => tracing::info!("stopped cleanly"),
            Ok(Err(e)) => tracing::error!(error = %e, "final flush failed"),
            Err(_) => {
                tracing::warn!(limit = ?limit, "shutdown_timeout passed; stopping with work unfinished")
            }
        }
        Ok(())
    }
}
