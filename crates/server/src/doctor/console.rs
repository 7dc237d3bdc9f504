//! The doctor's verdicts for the admin console's overview: the configuration and database
//! checks of `sluice doctor` (not the peer checks), with fewer samples, remembered for a
//! minute so a page reload costs no measurement.

use super::report::{Report, Status};
use crate::config::Config;
use sluice_admin::{Light, Verdict};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Round-trip samples per run: enough for a median, cheap enough for a page.
const SAMPLES: usize = 10;
/// How long one run's verdicts are shown before the next page load measures again.
const FRESH_FOR: Duration = Duration::from_secs(60);

/// The overview's doctor.
pub struct Verdicts {
    cfg: Config,
    last: Mutex<Option<(Instant, Vec<Verdict>)>>,
}

impl Verdicts {
    /// For this configuration.
    pub fn new(cfg: Config) -> Self {
        Verdicts {
            cfg,
            last: Mutex::new(None),
        }
    }

    async fn measure(&self) -> Vec<Verdict> {
        let mut report = Report::default();
        super::configuration(&self.cfg, &mut report);
        let cluster = super::database::check(&self.cfg, SAMPLES, &mut report).await;
        if let Some(cluster) = cluster {
            let _ = tokio::task::spawn_blocking(move || drop(cluster)).await;
        }
        report
            .checks
            .into_iter()
            .map(|c| Verdict {
                name: c.name.to_string(),
                light: match c.status {
                    Status::Ok => Light::Green,
                    Status::Warn => Light::Amber,
                    Status::Fail => Light::Red,
                },
                message: c.message,
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl sluice_admin::Doctor for Verdicts {
    async fn verdicts(&self) -> Vec<Verdict> {
        // Held across the measurement: concurrent page loads wait for one run.
        let mut last = self.last.lock().await;
        if let Some((at, v)) = last.as_ref()
            && at.elapsed() < FRESH_FOR
        {
            return v.clone();
        }
        let v = self.measure().await;
        *last = Some((Instant::now(), v.clone()));
        v
    }
}
