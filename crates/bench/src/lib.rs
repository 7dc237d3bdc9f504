//! sluice-bench: the lemmy.world → small-instance scenario, measured end to end.
//!
//! The founding incident was a small Lemmy instance falling hours behind lemmy.world: a
//! serial sender, a receiver paying ~20 database round-trips per activity, the database
//! 25 ms away. This crate replays it on one machine and measures sluice against it:
//!
//! - [`proxy`]: a TCP latency proxy that puts the database "in another data centre"
//!   (`tc netem` is not available on the build machines);
//! - [`stack`]: the system under test: PostgreSQL (a private cluster with
//!   `pg_stat_statements`, or a given server), the proxy, a release `sluice serve`;
//! - [`peers`]: simulated Lemmy instances on loopback addresses, serving actors and keys;
//! - [`workload`] and [`lemmy`]: the activity mix a community sends, Announce-wrapped;
//! - [`presign`]: every request signed before the timed phase;
//! - [`send`]: serial or windowed senders;
//! - [`observe`], [`scrape`], [`procstat`]: what is measured (journal, tables,
//!   `pg_stat_statements`, sluice's `/metrics`, `/proc`);
//! - [`scaleout`]: one process, then three behind a [`balancer`] ([`fleet`]) under inbound
//!   and delivery load ([`publisher`]), one killed mid-run ([`scaleout_report`]);
//! - [`scenario`]: one inbound scenario end to end; [`queue`]: the delivery scenarios,
//!   against the peers of [`delivery_peers`];
//! - [`report`]: markdown or JSON, deterministic checks apart from speed targets.
//!
//! `sluice-bench --help` lists the options; `docs/benchmarks.md` has the results.

#![deny(missing_docs)]

pub mod balancer;
pub mod delivery_peers;
pub mod error;
pub mod fleet;
pub mod lemmy;
pub mod machine;
pub mod observe;
pub mod peers;
pub mod presign;
pub mod procstat;
pub mod proxy;
pub mod publisher;
pub mod queue;
pub mod report;
pub mod scaleout;
pub mod scaleout_report;
pub mod scenario;
pub mod scrape;
pub mod send;
pub mod stack;
pub mod workload;

pub use error::{BenchError, Result};
pub use proxy::{LatencyProxy, Target};
