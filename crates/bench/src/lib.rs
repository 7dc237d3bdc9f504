//! Benchmark support for sluice.
//!
//! - [`proxy`]: a TCP latency proxy that puts a configurable one-way delay between a client
//!   and a server (TCP or unix socket). `tc netem` is not available on the build machines,
//!   and the founding incident was exactly "the database is 25 ms away", so benchmarks and
//!   `sluice doctor`'s tests reproduce it with this proxy.

#![deny(missing_docs)]

pub mod proxy;

pub use proxy::{LatencyProxy, Target};
