//! `sluice serve`: open the database, start the HTTP server and the background stages,
//! and shut everything down in order on SIGINT/SIGTERM.

use crate::config::Config;
use crate::database::{Database, Purpose, redact};
use crate::state::AppState;
use actix_web::web;
use anyhow::Context;
use sluice_stage::{Handle, Shutdown, Stages, Waker};
use std::net::TcpListener;

/// Runs until SIGINT or SIGTERM.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    // Bind first: a port in use is the most common start-up mistake, and it should not
    // cost a database start to find out.
    let listener = TcpListener::bind(cfg.bind)
        .with_context(|| format!("bind {}: cannot listen there", cfg.bind))?;
    let local_journal = crate::local_journal::open(&cfg)?;
    let database = Database::open(&cfg, Purpose::Serve).await?;
    let urls = cfg.urls();
    if !cfg.dev_mode
        && (urls.domain().starts_with("localhost") || urls.domain().starts_with("127."))
    {
        tracing::warn!(
            domain = urls.domain(),
            "domain is not a public host name: peers cannot reach this instance (set `domain`)"
        );
    }
    let instance_key = crate::actors::ensure_instance_actor(&database.db, &urls).await?;
    // One guarded client for every outgoing request; fetches are signed as the instance actor.
    let net = sluice_net::Client::new(cfg.net())?;
    let instance_signer = sluice_apub::signature::Signer::from_pem(
        &instance_key.key_id,
        &instance_key.private_key_pem,
    )?;
    // The stages start from the end of the data path (each gets the waker of the stage its
    // output goes to) and stop in the reverse order, see `Stages::stop`.
    let mut stages = Stages::new();
    // The admin's policy chain, shared by the inbox's precheck and the pipeline.
    let policies = crate::policies::load(&cfg)?;
    if let Some(reloader) = crate::policies::start_reloader(policies.clone(), Shutdown::new()) {
        stages.add(reloader);
    }
    let mut pipeline_settings = cfg.pipeline();
    if cfg.pipeline_enabled {
        release_stale_leases(&database.db, &cfg.lease_group(), &pipeline_settings.node_id).await;
    }
    let fetcher: std::sync::Arc<dyn sluice_pipeline::Fetch> = std::sync::Arc::new(
        sluice_pipeline::NetFetcher::new(net.clone(), instance_signer.clone()),
    );
    // What local actors publish is applied by the pipeline's rules too.
    let local_effects = sluice_pipeline::LocalEffects::new(
        pipeline_settings.clone(),
        urls.clone(),
        fetcher.clone(),
    );
    // The send queue delivers what the pipeline and the publish API append.
    let queue = cfg.queue().start(
        sluice_queue::Deps {
            db: database.db.clone(),
            client: net.clone(),
        },
        Shutdown::new(),
    );
    if cfg.publish_token.is_none() {
        tracing::info!("publish and federation-status APIs disabled (no publish_token)");
    }
    let queue_api = sluice_queue::Api::new(
        &queue,
        database.db.clone(),
        urls.clone(),
        cfg.publish_token.clone(),
        cfg.dev_mode,
        local_effects,
    );
    stages.add(queue.handle());
    // Local actors' own activities are not the chain's (set after `local_effects` took its
    // copy).
    pipeline_settings.policies = policies.clone();
    // The pipeline turns journal rows into threadiverse rows; the receiver wakes it after
    // each journal insert.
    let mut journaled = None;
    if cfg.pipeline_enabled {
        let pipeline = pipeline_settings.start(
            sluice_pipeline::Deps {
                db: database.db.clone(),
                fetcher,
                urls: urls.clone(),
            },
            Shutdown::new(),
        );
        journaled = pipeline.waker();
        stages.add(pipeline);
    }
    stages.add(
        crate::prune::PruneConfig::from_config(&cfg).start(database.db.clone(), Shutdown::new()),
    );
    if let Some(fediseer) = start_fediseer(&cfg, &database.db, &net) {
        stages.add(fediseer);
    }
    stages.add(start_webhooks(&cfg, &database.db, &net).await?);
    // Protected boosts: the origins' published lists, read off the hot path.
    if let Some(settings) = cfg.origins() {
        let deps = sluice_origins::learn::Deps {
            db: database.db.clone(),
            client: net.clone(),
        };
        stages.add(settings.start(deps, Shutdown::new()));
    }
    if let Some(drainer) =
        crate::local_journal::drainer(local_journal.as_ref(), &database.db, journaled.clone())
    {
        stages.add(drainer);
    }
    let (inbox, receiver) = start_inbox(
        &cfg,
        &database.db,
        net.clone(),
        instance_signer,
        journaled,
        local_journal,
        policies,
    )
    .await?;
    stages.add(receiver);
    // The inbox's refusals by instance and rc reach the console through this flusher.
    let refusals = sluice_inbox::refusals::RefusalFlushConfig {
        every: std::time::Duration::from_secs_f64(cfg.inbox_refusal_flush_s),
        retention: std::time::Duration::from_secs_f64(cfg.journal_retention_days * 86400.0),
    };
    stages.add(refusals.start(
        sluice_inbox::refusals::FlushDeps {
            db: database.db.clone(),
            tally: inbox.refusal_tally(),
        },
        Shutdown::new(),
    ));
    if cfg.admin_token.is_none() {
        tracing::info!("admin console disabled (no admin_token)");
    }
    let admin = sluice_admin::Settings {
        token: cfg.admin_token.clone(),
        secure_cookie: !cfg.dev_mode,
        db: database.db.clone(),
        doctor: std::sync::Arc::new(crate::doctor::console::Verdicts::new(cfg.clone())),
        backpressure_depth: cfg.inbox_backpressure_depth,
        backpressure_lag_secs: cfg.inbox_backpressure_lag_s,
    };
    let state = web::Data::new(AppState {
        cfg: cfg.clone(),
        urls,
        db: database.db.clone(),
        instance_key,
        inbox,
        queue_api,
        admin,
    });

    let server = crate::http::serve(state.clone(), listener, cfg.http_workers)
        .context("starting the HTTP server")?;
    let handle = server.handle();
    let server_task = tokio::spawn(server);
    let db_where = match &cfg.database_url {
        Some(url) => redact(url),
        None => format!("embedded, in {}", cfg.data_dir.join("postgres").display()),
    };
    tracing::info!(bind = %cfg.bind, domain = %cfg.domain, database = %db_where, "sluice is serving");

    wait_for_shutdown().await;
    tracing::info!("shutting down");
    handle.stop(true).await;
    let _ = server_task.await;
    // Upstream first: the inbox commits what it queued, the pipeline's batch in progress
    // finishes and commits, then the queue (Accepts and Announces the last batch appended
    // are delivered after a restart): in-flight deliveries finish, cursors are written,
    // leases go to the other processes at once. All before the database goes.
    stages.stop().await;
    drop(state);
    crate::commands::close(database).await;
    tracing::info!("stopped");
    Ok(())
}

/// The Fediseer sync, when feelers or censure sources are configured: a background task
/// whose changes reach the inbox, pipeline and queue through `policy_generation`.
fn start_fediseer(cfg: &Config, db: &sluice_db::Db, net: &sluice_net::Client) -> Option<Handle> {
    let settings = cfg.fediseer();
    if !settings.enabled() {
        return None;
    }
    tracing::info!(url = %settings.url, feelers = ?settings.feelers,
        censure_sources = ?settings.censure_sources, "Fediseer sync on");
    let deps = sluice_fediseer::sync::Deps {
        db: db.clone(),
        client: net.clone(),
        own_domain: cfg.urls().domain().to_string(),
    };
    Some(settings.start(deps, Shutdown::new()))
}

/// The webhook sender (docs/webhooks.md): refuses to start when a webhook's name resolves
/// only to private addresses (outside dev_mode); writes the configured webhooks, so the
/// event triggers know who wants what, even when there are none.
async fn start_webhooks(
    cfg: &Config,
    db: &sluice_db::Db,
    net: &sluice_net::Client,
) -> anyhow::Result<Handle> {
    let settings = cfg.webhooks();
    for hook in &settings.hooks {
        sluice_webhooks::destination::check_resolved(&hook.url, cfg.dev_mode)
            .await
            .with_context(|| format!("[[webhook]] {:?}", hook.name))?;
        let events: Vec<&str> = hook.events.iter().map(|e| e.as_str()).collect();
        tracing::info!(webhook = %hook.name, url = %hook.url, events = %events.join(","),
            "webhook on");
    }
    let deps = sluice_webhooks::send::Deps {
        db: db.clone(),
        client: net.clone(),
    };
    settings
        .start(deps, Shutdown::new())
        .await
        .context("writing the configured webhooks")
}

/// The inbox receiver: key fetches go out through the guarded client, signed as the
/// instance actor; `journaled` (the pipeline's waker) is woken after journal inserts.
async fn start_inbox(
    cfg: &Config,
    db: &sluice_db::Db,
    net: sluice_net::Client,
    signer: sluice_apub::signature::Signer,
    journaled: Option<Waker>,
    local_journal: Option<std::sync::Arc<sluice_localjournal::LocalJournal>>,
    policies: sluice_policy::Live,
) -> anyhow::Result<(sluice_inbox::Inbox, Handle)> {
    let deps = sluice_inbox::Deps {
        db: db.clone(),
        net,
        signer,
        journaled,
        local_journal,
    };
    sluice_inbox::InboxConfig {
        policies,
        ..cfg.inbox()
    }
    .start(deps, Shutdown::new())
    .await
    .context("starting the inbox")
}

/// Frees the journal leases a previous run of this process left (it was killed, or lost
/// the database, mid-batch): without this its rows would wait out the whole lease. Only
/// this process's own earlier runs are concerned (same host and data directory), so a
/// live process elsewhere keeps its rows; should two live processes share that identity
/// anyway, the fencing of every mark by lease owner still keeps a row from being applied
/// twice. Best effort: if it fails, the leases run out.
async fn release_stale_leases(db: &sluice_db::Db, group: &str, me: &str) {
    match sluice_db::ingest::journal::release_stale(db, group, me).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            rows = n,
            "freed the journal leases of this process's previous run"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "could not free stale journal leases; they will expire")
        }
    }
}

async fn wait_for_shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
