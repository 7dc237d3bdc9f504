//! Every outgoing HTTP request sluice makes goes through this crate.
//!
//! What it guarantees, so that no caller can forget:
//! - **SSRF guard.** Only `https` URLs on ports 80/443 (`outgoing_ports`) whose host
//!   resolves exclusively to public addresses; IP-literal hosts and every special-purpose
//!   range ([`is_public`]: private, loopback, link-/site-/unique-local, CGNAT,
//!   documentation, benchmarking, multicast, NAT64/6to4/mapped forms of those) are refused,
//!   at DNS resolution time (so a name that resolves to 127.0.0.1 is refused too) and on
//!   every redirect. `dev_mode` lifts all of this, for tests and local setups only.
//! - **No proxy from the environment.** `HTTP(S)_PROXY` would resolve names past the
//!   guard; only an explicitly configured proxy (`NetConfig::proxy`) is used.
//! - **Bounds.** A connect timeout, a total timeout per request, a response size cap read as
//!   a stream (a lying `Content-Length` does not help), at most 5 redirects.
//! - **Signatures.** Fetches are signed GETs (as the instance actor, so servers in
//!   authorized-fetch mode answer); deliveries are signed POSTs with a `Digest`.
//! - **Visibility.** Every fetch is timed into `sluice_fetch_duration_seconds{host,result}`
//!   and the task's network spend.
//! - **Fairness.** At most `per_host_fetches` concurrent fetches to one host.

#![deny(missing_docs)]

mod client;
mod error;
mod guard;

pub use client::{Client, Delivered, NetConfig};
pub use error::NetError;
pub use guard::{check_port, check_url, is_public};
