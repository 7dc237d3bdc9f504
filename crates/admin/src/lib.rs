//! The admin console: federation health at a glance, as server-rendered HTML under
//! `/admin`, for admins who run no Grafana.
//!
//! Off unless an admin token is configured (`/admin` is then 404). A login with the token
//! opens a session (a random cookie, HttpOnly and SameSite=Strict, whose hash lives in the
//! database so every process behind a load balancer knows it); every form carries the
//! session's CSRF token; both checks are constant-time. Pages are rendered with maud,
//! which escapes every interpolated value, so peer-supplied strings stay text. No external
//! assets, no JavaScript: auto-refresh is a `<meta http-equiv=refresh>`, sorting and search
//! are links and a GET form.
//!
//! The numbers come from `sluice_db::admin` (a few statements per page, whatever the number
//! of instances), the process's own metrics (acknowledgement latency, refusals by rc) and
//! the doctor's verdicts, which the server provides through [`Doctor`] (the checks live
//! with the binary's configuration).

mod auth;
mod chart;
mod error;
mod journal;
mod live;
mod origin;
mod overview;
mod page;
mod policies;
mod remote;
mod throttle;

use actix_web::dev::Service;
use actix_web::web;
use std::sync::Arc;

/// How a check went, as a traffic light.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Light {
    /// Nothing to do.
    Green,
    /// Works, but worth a look.
    Amber,
    /// Broken or about to be.
    Red,
}

/// One doctor verdict in plain words.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Short name (`db_roundtrip`, `commit`, ...).
    pub name: String,
    /// Its light.
    pub light: Light,
    /// What was found, what it means and what to do.
    pub message: String,
}

/// The doctor's checks, run by the server (which has the configuration they need).
/// Implementations should cache: the overview asks on every load.
#[async_trait::async_trait]
pub trait Doctor: Send + Sync {
    /// The current verdicts.
    async fn verdicts(&self) -> Vec<Verdict>;
}

/// What the console needs from its host.
#[derive(Clone)]
pub struct Settings {
    /// The admin token; `None` turns the console off.
    pub token: Option<String>,
    /// Mark the session cookie `Secure` (off only in dev_mode, over plain http).
    pub secure_cookie: bool,
    /// The database.
    pub db: sluice_db::Db,
    /// The doctor's verdicts.
    pub doctor: Arc<dyn Doctor>,
    /// The inbox's back-pressure depth (`inbox_backpressure_depth`): red on the overview.
    pub backpressure_depth: u64,
    /// The inbox's back-pressure lag in seconds (`inbox_backpressure_lag_s`).
    pub backpressure_lag_secs: u64,
}

/// The console as the handlers share it.
pub(crate) struct Console {
    token_hash: [u8; 32],
    secure_cookie: bool,
    db: sluice_db::Db,
    doctor: Arc<dyn Doctor>,
    backpressure_depth: u64,
    backpressure_lag_secs: u64,
    login_throttle: throttle::LoginThrottle,
}

/// Registers `/admin` and its pages, or, without a token, a 404 for all of them.
pub fn configure(cfg: &mut web::ServiceConfig, settings: &Settings) {
    let Some(token) = settings.token.as_deref().filter(|t| !t.is_empty()) else {
        cfg.route("/admin{tail:.*}", web::to(error::disabled));
        return;
    };
    let console = web::Data::new(Console {
        token_hash: auth::digest(token.as_bytes()),
        secure_cookie: settings.secure_cookie,
        db: settings.db.clone(),
        doctor: settings.doctor.clone(),
        backpressure_depth: settings.backpressure_depth,
        backpressure_lag_secs: settings.backpressure_lag_secs,
        login_throttle: throttle::LoginThrottle::new(
            throttle::FAILURES_PER_MINUTE,
            std::time::Instant::now(),
        ),
    });
    cfg.service(
        web::scope("/admin")
            .app_data(console)
            .app_data(web::FormConfig::default().limit(16 * 1024))
            .wrap_fn(|req, srv| {
                let fut = srv.call(req);
                async move {
                    let mut res = fut.await?;
                    page::harden(res.headers_mut());
                    Ok(res)
                }
            })
            .route("", web::get().to(overview::page))
            .route("/login", web::get().to(auth::login_form))
            .route("/login", web::post().to(auth::login))
            .route("/logout", web::post().to(auth::logout))
            .route("/instances", web::get().to(remote::list))
            .route("/instances/{domain}", web::get().to(remote::detail))
            .route("/journal", web::get().to(journal::page))
            .route("/journal/replay", web::post().to(journal::replay))
            .route("/journal/approve", web::post().to(journal::approve))
            .route("/journal/reject", web::post().to(journal::reject))
            .route("/policies", web::get().to(policies::page))
            .route("/policies", web::post().to(policies::change))
            .default_service(web::to(error::not_found)),
    );
}
