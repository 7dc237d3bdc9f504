//! Sending: each sender posts its pre-signed activities in order, serially (the next one
//! only after the answer, as Lemmy 0.19.3 does) or with a window of `N` in flight (Lemmy
//! 0.19.6's `concurrent_sends_per_instance`, Mastodon's workers).
//!
//! Like Lemmy, a sender retries what was not accepted for transient reasons (a network
//! error, 429, 5xx) after a pause (the `Retry-After` when given) and gives up on a
//! permanent refusal (any other 4xx). The sender records, per activity, when it was first
//! sent (wall clock, compared with the journal's `processed_at` later: one machine, one
//! clock), how long until it was acknowledged, and how it ended.

use crate::workload::{Effect, Kind};
use futures::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// The signal that ends a timed phase, and when it was first given.
#[derive(Debug, Default)]
pub struct Stop {
    flag: AtomicBool,
    at: OnceLock<Instant>,
}

impl Stop {
    /// Stops every sender (the first call sets the time).
    pub fn raise(&self) {
        let _ = self.at.set(Instant::now());
        self.flag.store(true, Ordering::Relaxed);
    }

    /// Raised?
    pub fn is_raised(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// When it was first raised.
    pub fn at(&self) -> Option<Instant> {
        self.at.get().copied()
    }
}

/// How a sender sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One at a time.
    Serial,
    /// Up to this many in flight (sent in order; the next leaves when fewer are pending).
    Windowed(usize),
}

impl Mode {
    /// Requests in flight at most.
    pub fn window(self) -> usize {
        match self {
            Mode::Serial => 1,
            Mode::Windowed(n) => n.max(1),
        }
    }

    /// `serial` or `windowed:N`.
    pub fn label(self) -> String {
        match self {
            Mode::Serial => "serial".into(),
            Mode::Windowed(n) => format!("windowed:{n}"),
        }
    }

    /// Parses [`Mode::label`]'s form.
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "serial" => Some(Mode::Serial),
            _ => s
                .strip_prefix("windowed:")
                .and_then(|n| n.parse().ok())
                .filter(|n| *n >= 1)
                .map(Mode::Windowed),
        }
    }
}

/// One activity, signed and ready.
pub struct Prepared {
    /// Its id.
    pub id: String,
    /// Its kind.
    pub kind: Kind,
    /// What it changes.
    pub effect: Effect,
    /// The signed request.
    pub request: reqwest::Request,
}

/// How one activity ended, as the sender saw it.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Its id.
    pub id: String,
    /// Its kind.
    pub kind: Kind,
    /// What it changes.
    pub effect: Effect,
    /// First attempt, wall clock.
    pub first_sent: SystemTime,
    /// First attempt, monotonic.
    pub started: Instant,
    /// When the final answer came.
    pub finished: Instant,
    /// The final HTTP status (`None`: no answer, network error on every attempt).
    pub status: Option<u16>,
    /// The refusal's `rc`, when refused.
    pub rc: Option<String>,
    /// Attempts made.
    pub attempts: u32,
}

impl Sent {
    /// Acknowledged (2xx: journaled, or already journaled).
    pub fn acked(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// Seconds from first attempt to the final answer.
    pub fn latency(&self) -> f64 {
        (self.finished - self.started).as_secs_f64()
    }
}

/// One sender's run.
#[derive(Debug, Clone, Default)]
pub struct SenderRun {
    /// Every activity it started, in order.
    pub sent: Vec<Sent>,
    /// It ran out of pre-signed activities before being told to stop.
    pub exhausted: bool,
}

/// Attempts per activity before a sender gives up (Lemmy retries for days; a benchmark
/// that needs more than this has found a problem worth reporting).
const MAX_ATTEMPTS: u32 = 20;

/// The HTTP client senders share: one keep-alive connection per concurrent request, as
/// Lemmy's reqwest client keeps them.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(1024)
        .tcp_nodelay(true)
        .build()
        .unwrap_or_default()
}

/// Sends `activities` in order as `mode` says until they run out or `stop` is raised (then
/// what is in flight finishes). With `raise_when_done` it raises `stop` itself when it runs
/// out, so that every sender of a timed phase ends while all are still busy. With `pace`,
/// activity `i` leaves no earlier than `i * pace` after the start.
pub async fn run(
    client: reqwest::Client,
    activities: Vec<Prepared>,
    mode: Mode,
    stop: Arc<Stop>,
    raise_when_done: bool,
    pace: Option<Duration>,
) -> SenderRun {
    let total = activities.len();
    let stop_issue = stop.clone();
    let start = Instant::now();
    let issued = activities
        .into_iter()
        .enumerate()
        .map_while(move |(i, p)| (!stop_issue.is_raised()).then_some((i, p)));
    // `buffered` (not `buffer_unordered`): at most `window` in flight, and a new request
    // leaves only when the oldest has been answered, which is the ordering the workload
    // relies on (see `workload`). Paced, activity `i` also waits for `start + i * pace`
    // (an instance sends what its users produce; only a backlog makes it send back to back).
    let sent: Vec<Sent> = futures::stream::iter(issued)
        .map(|(i, p)| {
            let due = pace.map(|d| start + d * i as u32);
            send_one(client.clone(), p, due)
        })
        .buffered(mode.window())
        .collect()
        .await;
    let exhausted = sent.len() == total && !stop.is_raised();
    if exhausted && raise_when_done {
        stop.raise();
    }
    SenderRun { sent, exhausted }
}

async fn send_one(client: reqwest::Client, p: Prepared, due: Option<Instant>) -> Sent {
    if let Some(due) = due {
        tokio::time::sleep_until(due.into()).await;
    }
    let first_sent = SystemTime::now();
    let started = Instant::now();
    let mut attempts = 0;
    let mut request = Some(p.request);
    let (status, rc) = loop {
        attempts += 1;
        let Some(req) = request.take() else {
            break (None, None);
        };
        // A retry needs the request again; bodies here are bytes, so cloning is cheap.
        let again = req.try_clone();
        let (status, rc, pause) = match client.execute(req).await {
            Ok(res) => {
                let status = res.status().as_u16();
                let retry_after = res
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s.min(10)));
                let body = res.text().await.unwrap_or_default();
                let rc = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("rc")?.as_str().map(str::to_string));
                let transient = status == 429 || status >= 500;
                let pause = transient.then(|| retry_after.unwrap_or(Duration::from_millis(500)));
                (Some(status), rc, pause)
            }
            Err(_) => (None, None, Some(Duration::from_millis(500))),
        };
        match pause {
            Some(pause) if attempts < MAX_ATTEMPTS && again.is_some() => {
                tokio::time::sleep(pause).await;
                request = again;
            }
            _ => break (status, rc),
        }
    };
    Sent {
        id: p.id,
        kind: p.kind,
        effect: p.effect,
        first_sent,
        started,
        finished: Instant::now(),
        status,
        rc,
        attempts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print() {
        assert_eq!(Mode::parse("serial"), Some(Mode::Serial));
        assert_eq!(Mode::parse("windowed:8"), Some(Mode::Windowed(8)));
        assert_eq!(Mode::parse("windowed:0"), None);
        assert_eq!(Mode::parse("fast"), None);
        assert_eq!(Mode::Windowed(4).label(), "windowed:4");
        assert_eq!(Mode::Serial.window(), 1);
    }
}
