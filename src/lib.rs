//! statusgate: alerts in, human-approved status page updates out.
//!
//! The pipeline — ingest → catalog → group → draft → approve → publish → page — is one
//! module per stage; data flows one way. [`run`] wires them and serves HTTP until the
//! cancellation token fires, so tests embed the real service.

pub mod alert;
pub mod approve;
pub mod audit;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod draft;
pub mod group;
pub mod http;
pub mod ingest;
pub mod limits;
pub mod logs;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod page;
pub mod pipeline;
pub mod publish;
pub mod reconcile;
pub mod reload;
mod serve;
pub mod signals;
pub mod store;
pub mod vocab;
pub mod watchdog;

use std::sync::Arc;

use anyhow::Context;
use axum::http::Request;
use axum::response::Response;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::approve::Approvals;
use crate::audit::Audit;
use crate::catalog::{Catalog, CatalogHandle};
use crate::config::Config;
use crate::draft::{Drafts, Redactor, Templates};
use crate::group::Grouper;
use crate::http::Tokens;
use crate::ingest::alertmanager::{AlertmanagerIngest, SourceAuth};
use crate::ingest::Recorder;
use crate::metrics::Metrics;
use crate::page::PageState;
use crate::pipeline::Pipeline;
use crate::publish::PublicState;
use crate::reload::Reloader;
use crate::store::Store;

/// The service, built and ready to serve.
pub struct App {
    router: Router,
    store: Store,
    pipeline: Pipeline,
    reloader: Reloader,
    watch: reload::Watch,
    watchdog: Option<watchdog::Watchdog>,
    reconciler: Option<reconcile::Reconciler>,
    limiters: Vec<limits::KeyedLimit>,
    shutdown_timeout: std::time::Duration,
    /// Keeps Slack messages in step with drafts (when chat is on).
    slack_worker: Option<approve::slack::Worker>,
    delivery: publish::outbox::deliver::Worker,
    /// Which once-only work this replica runs (all of it on sled).
    leases: store::Leases,
}

/// The kinds of work that run on one replica at a time, each under its own lease.
pub const LEASED_WORK: &[&str] = &["pipeline", "outbox", "reconcile", "watchdog", "slack"];

/// Runs the service on `listener` until `shutdown` is cancelled.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    build(config).await?.serve(listener, shutdown).await
}

/// The public part of the catalog, for the page.
fn component_infos(catalog: &Catalog) -> Vec<publish::ComponentInfo> {
    catalog
        .components()
        .iter()
        .map(|c| publish::ComponentInfo {
            id: c.id.clone(),
            name: c.name.clone(),
            group: c.group.clone(),
            description: c.description.clone(),
            position: c.position,
            public: c.public,
            depends_on: c.depends_on.clone(),
            audiences: c.audiences.clone(),
            slo: c.slo,
        })
        .collect()
}

/// The alerts of an Alertmanager payload file, read as ingest would (`statusgate render`).
pub fn alerts_from_file(
    path: &std::path::Path,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<alert::Alert>, String> {
    let raw = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let payload: ingest::alertmanager::Payload =
        http::parse_json(&raw).map_err(|e| format!("{}: {}", path.display(), e.message))?;
    payload.into_alerts(now)
}

/// The watchdog's heartbeat when one is configured; a `watchdog.match` the matcher refuses is
/// a configuration problem with its `file:line` (`serve` and `check` both ask here).
pub fn watchdog_heartbeat(config: &Config) -> Result<Option<watchdog::Heartbeat>, String> {
    match &config.watchdog {
        Some(w) => watchdog::Heartbeat::new(w, chrono::Utc::now())
            .map(Some)
            .map_err(|e| config.place(&e)),
        None => Ok(None),
    }
}

/// How long start-up waits for PostgreSQL to answer before giving up.
const STORAGE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The configured store: PostgreSQL at `storage.url` (schema brought up to date; start-up
/// waits a while for the server), else sled in `data_dir`.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let Some(url) = &config.secrets.storage_url else {
        return Store::open_with_reserve(&config.data_dir, config.storage.reserve.0 as u64)
            .with_context(|| format!("opening the data directory {}", config.data_dir.display()));
    };
    let started = std::time::Instant::now();
    loop {
        match Store::connect(url.expose()).await {
            Ok(store) => return Ok(store),
            Err(e @ store::StoreError::Unreachable(_)) if started.elapsed() < STORAGE_WAIT => {
                tracing::warn!(error = %e, "waiting for the database");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(e) => return Err(anyhow::anyhow!("opening the database at storage.url: {e}")),
        }
    }
}

/// Opens storage, loads the catalog and templates, finishes interrupted publishes and wires
/// the stages. Fails on anything broken, before a single request is taken.
pub async fn build(config: Config) -> anyhow::Result<App> {
    let heartbeat = watchdog_heartbeat(&config).map_err(|e| anyhow::anyhow!(e))?;
    let store = open_store(&config).await?;
    let leases = store::Leases::new(&store, config.storage.lease.0, LEASED_WORK);
    let heartbeat = heartbeat.map(|h| h.shared_through(&store)).transpose()?;
    tracing::info!(
        engine = store.engine(),
        holder = leases.holder(),
        "storage open"
    );
    let mappings_explicit = config.mappings != Config::default().mappings;
    let audience_ids: Vec<String> = config.audiences.iter().map(|a| a.id.clone()).collect();
    let catalog = reload::initial_load(&config.mappings, mappings_explicit, &audience_ids)
        .map_err(|e| anyhow::anyhow!("the catalog is broken:\n{e}"))?;
    let templates = Arc::new(
        Templates::from_config(&config)
            .map_err(|e| anyhow::anyhow!("templates are broken:\n{e}"))?,
    );
    let redactor = Arc::new(Redactor::new(&config.redaction));
    let metrics = Arc::new(Metrics::new());
    let signals = signals::Signals::default();
    metrics.catalog_reload(true);

    let public = PublicState::open(&store)?;
    public.sync_components(component_infos(&catalog));
    let catalog = CatalogHandle::new(catalog);
    let recorder = Recorder::open(&store)?;
    let reconciler = match &config.reconcile {
        Some(r) => Some(
            reconcile::Reconciler::new(r, &config.secrets.reconcile, recorder.clone())
                .map_err(|e| anyhow::anyhow!(e))?,
        ),
        None => None,
    };
    let drafts = Drafts::open(
        &store,
        templates.clone(),
        redactor,
        config.grouping.min_update_interval.as_chrono(),
        config.grouping.draft_expiry.as_chrono(),
    )?
    .with_hourly_limit(config.limits.drafts_per_hour);
    let lock = Arc::new(Mutex::new(()));
    let mut delivery = publish::outbox::delivery(
        &config,
        &store,
        public.clone(),
        drafts.clone(),
        lock.clone(),
        metrics.clone(),
    )
    .map_err(|e| anyhow::anyhow!("publishers: {e}"))?;
    let approvals = Approvals::new(
        drafts.clone(),
        public.clone(),
        metrics.clone(),
        lock.clone(),
    )
    .with_outbox(delivery.outbox.clone())
    .with_shares(page::uptime::Shares::from_config(&config));
    // Several replicas: what another one writes wakes the work and the page here too.
    recorder.follow_other_replicas();
    delivery.outbox.follow_other_replicas();
    drafts.follow_other_replicas();
    {
        let public = public.clone();
        store.on_announce(publish::PUBLIC_TOPIC, move || public.bump_local());
    }
    let recovered = approvals
        .recover()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if recovered > 0 {
        tracing::info!(recovered, "finished publishes interrupted by a stop");
    }
    let (chat, slack_worker) = approve::slack::setup(
        &config,
        &store,
        approvals.clone(),
        metrics.clone(),
        approve::slack::Wiring {
            signals: signals.clone(),
            decisions: publish::outbox::decide::Decisions {
                outbox: delivery.outbox.clone(),
                drafts: drafts.clone(),
                lock: lock.clone(),
                health: delivery.health.clone(),
            },
        },
    )?;
    match &chat {
        approve::slack::Chat::Off => {}
        approve::slack::Chat::Incomplete(why) => tracing::warn!("{why}"),
        approve::slack::Chat::On(_) => tracing::info!(
            channel = config
                .slack
                .as_ref()
                .and_then(|s| s.channel.as_deref())
                .unwrap_or(""),
            "Slack is on: drafts are posted for approval in chat"
        ),
    }
    let (groups_table, groups) = Pipeline::load_groups(&store)?;
    let pipeline = Pipeline {
        store: store.clone(),
        recorder: recorder.clone(),
        groups: groups_table,
        grouper: Grouper::new(config.grouping.clone(), config.storm.clone(), groups),
        drafts: drafts.clone(),
        catalog: catalog.clone(),
        lock: lock.clone(),
        metrics: metrics.clone(),
        signals: signals.clone(),
        audit: Audit::open(&store)?,
        maintenance: pipeline::MaintenanceClock::new(public.clone(), &store)?,
        draft_timers_at: None,
    };

    let auth = SourceAuth {
        bearer: config.secrets.alertmanager_token.clone(),
        basic: config.secrets.alertmanager_basic.clone(),
    };
    if auth.is_open() {
        tracing::warn!("/webhooks/alertmanager accepts unauthenticated requests; set STATUSGATE_ALERTMANAGER_TOKEN");
    }
    let tokens = Tokens::new(config.secrets.tokens.clone());
    if tokens.is_empty() {
        tracing::warn!("no API tokens configured; the management API refuses every request (set STATUSGATE_ADMIN_TOKEN)");
    }
    let max_body = config.max_body.0;
    let trusted_header = config.limits.client_ip_header.clone();
    let reader_limit = |scope: &'static str, rate| limits::ReaderLimit {
        limit: limits::KeyedLimit::new(rate),
        scope,
        trusted_header: trusted_header.clone(),
        metrics: metrics.clone(),
    };
    let public_limit = reader_limit("public", config.limits.public);
    let api_limit = reader_limit("api", config.limits.api);
    let page_state = PageState::new(
        public.clone(),
        templates.clone(),
        config.page.clone(),
        config.public_url.clone(),
    )
    .with_shares(page::uptime::Shares::from_config(&config));
    delivery.worker.surface = Some(Arc::new(page::mirror::PageSurface::new(page_state.clone())));
    let api_state = approve::api::ApiState {
        approvals: approvals.clone(),
        audit: Audit::open(&store)?,
        tokens: tokens.clone(),
        max_body,
        signals: signals.clone(),
    };
    let not_found_templates = templates.clone();
    let not_found_page = config.page.clone();
    let app = Router::new()
        .merge(ops::router(ops::OpsState {
            store: store.clone(),
            catalog: catalog.clone(),
            metrics: metrics.clone(),
            signals: signals.clone(),
            chat: chat.clone(),
            targets: Some(delivery.health.clone()),
            leases: leases.clone(),
            levels: Some(approvals.levels().clone()),
        }))
        .merge(ingest::pagerduty::router(pagerduty_ingest(
            &config,
            &store,
            recorder.clone(),
            catalog.clone(),
            metrics.clone(),
        )?))
        .merge(ingest::alertmanager::router(AlertmanagerIngest {
            recorder: recorder.clone(),
            auth,
            max_body,
            metrics: metrics.clone(),
            limit: limits::KeyedLimit::new(config.limits.ingest),
            trusted_header: trusted_header.clone(),
            watchdog: heartbeat
                .clone()
                .map(|h| Arc::new(h) as Arc<dyn ingest::alertmanager::Heartbeat>),
        }))
        .merge(
            approve::maintenance::router(approve::maintenance::MaintenanceApi {
                approvals: approvals.clone(),
                suppressions: group::suppressed::Suppressions::open(&store)?,
                tokens: tokens.clone(),
                max_body,
            })
            .layer(axum::middleware::from_fn_with_state(api_limit.clone(), limits::limit_readers)),
        )
        .merge(
            publish::api::router(publish::api::PublishApi {
                outbox: delivery.outbox.clone(),
                drafts: drafts.clone(),
                public: public.clone(),
                lock: lock.clone(),
                tokens: tokens.clone(),
                health: delivery.health.clone(),
                max_body,
                page_name: config.page.name.clone(),
                email_enabled: config.smtp.is_some(),
                audiences: config.audiences.iter().map(|a| a.id.clone()).collect(),
            })
            .layer(axum::middleware::from_fn_with_state(api_limit.clone(), limits::limit_readers)),
        )
        .merge(
            ingest::api::router(ingest::api::AlertsApi {
                recorder: recorder.clone(),
                tokens: tokens.clone(),
                catalog: catalog.clone(),
            })
            .layer(axum::middleware::from_fn_with_state(
                api_limit.clone(),
                limits::limit_readers,
            )),
        )
        .merge(
            publish::maintenance::api::router(publish::maintenance::api::MaintenanceDeliveryApi {
                outbox: delivery.outbox.clone(),
                public: public.clone(),
                tokens: tokens.clone(),
                health: delivery.health.clone(),
                max_body,
            })
            .layer(axum::middleware::from_fn_with_state(api_limit.clone(), limits::limit_readers)),
        )
        .merge(
            approve::api::router(api_state)
                .layer(axum::middleware::from_fn_with_state(api_limit.clone(), limits::limit_readers)),
        )
        .merge(
            approve::board::configured(
                &config,
                &store,
                approve::board::Wiring {
                    approvals: approvals.clone(),
                    tokens: tokens.clone(),
                    signals: signals.clone(),
                    health: delivery.health.clone(),
                    templates: templates.clone(),
                },
            )?
                .layer(axum::middleware::from_fn_with_state(api_limit.clone(), limits::limit_readers)),
        )
        .merge(approve::slack::router(&chat))
        .merge(
            openapi::router()
                .layer(axum::middleware::from_fn_with_state(api_limit.clone(), limits::limit_readers)),
        )
        .merge(page::audience_routers(
            &page_state,
            publish::audience::Audience::from_config(&config),
            |r| r.layer(axum::middleware::from_fn_with_state(public_limit.clone(), limits::limit_readers)),
        ))
        .merge(
            page::router(page_state)
                .layer(axum::middleware::from_fn_with_state(public_limit.clone(), limits::limit_readers)),
        )
        .fallback(move |req: Request<axum::body::Body>| {
            let templates = not_found_templates.clone();
            let page = not_found_page.clone();
            async move { fallback(req, &templates, &page) }
        })
        .layer(axum::middleware::from_fn(http::edges))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<axum::body::Body>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));

    let reloader = Reloader {
        path: config.mappings.clone(),
        audiences: audience_ids,
        handle: catalog,
        on_load: Arc::new(move |c: &Catalog| public.sync_components(component_infos(c))),
        metrics,
    };
    let watch = reloader.watch();
    let watchdog = match (heartbeat, &config.watchdog) {
        (Some(heartbeat), Some(w)) => Some(watchdog::Watchdog {
            heartbeat,
            interval: w.interval.as_std(),
            signals: signals.clone(),
            audit: Audit::open(&store)?,
            store: store.clone(),
            recorder_lease: leases.fence("watchdog"),
        }),
        _ => None,
    };
    let limiters = vec![public_limit.limit, api_limit.limit];
    // From here on writes keep the reserve; start-up bookkeeping above was let through so
    // that a nearly full volume starts (not ready) instead of exiting.
    store.started();
    Ok(App {
        reconciler,
        watchdog,
        limiters,
        router: app,
        store,
        pipeline,
        reloader,
        watch,
        shutdown_timeout: config.shutdown_timeout.as_std(),
        slack_worker,
        delivery: delivery.worker,
        leases,
    })
}

/// The PagerDuty endpoint's state; with no secret configured the endpoint answers 404.
fn pagerduty_ingest(
    config: &Config,
    store: &Store,
    recorder: Recorder,
    catalog: CatalogHandle,
    metrics: Arc<Metrics>,
) -> anyhow::Result<ingest::pagerduty::PagerDutyIngest> {
    let secrets = config.secrets.pagerduty_secrets.clone();
    if secrets.is_empty() {
        tracing::info!("/webhooks/pagerduty is off; set STATUSGATE_PAGERDUTY_SECRETS to take PagerDuty webhooks");
    }
    let unrouted: ingest::pagerduty::Unrouted =
        Arc::new(move |labels| match catalog.current().route(labels) {
            catalog::Routing::Mapped { .. } => None,
            catalog::Routing::Ignored { route } => Some(format!("route `{route}` ignores it")),
            catalog::Routing::Unmapped => Some("no route maps this incident".to_string()),
        });
    Ok(ingest::pagerduty::PagerDutyIngest {
        recorder,
        secrets: Arc::new(secrets),
        severity: config.sources.pagerduty.severity.clone(),
        unrouted,
        seen: Arc::new(ingest::pagerduty::SeenEvents::open(store)?),
        max_body: config.max_body.0,
        metrics,
        lock: Arc::new(Mutex::new(())),
        limit: limits::KeyedLimit::new(config.limits.ingest),
    })
}

/// 404s: JSON on API and webhook paths, the HTML page elsewhere.
fn fallback(
    req: Request<axum::body::Body>,
    templates: &Templates,
    page: &config::PageConfig,
) -> Response {
    if http::wants_json(req.uri().path()) {
        http::not_found(&req)
    } else {
        page::not_found_html(templates, page)
    }
}
