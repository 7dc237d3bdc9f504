//! The send queue: every outbound activity delivered to every remote instance that should
//! receive it, in order, persistently, without one slow or dead peer stalling the rest.
//!
//! ## How it works
//! 1. **The outbound log.** Producers append with [`sluice_db::outbound::append`] (the
//!    pipeline, inside its own transaction) or through the publish API ([`http`]); the
//!    audience is resolved at append time into one target row per instance, and every
//!    targeted instance gets a `delivery_state` row (its cursor and lease).
//! 2. **The horizon** (`horizon`): one cheap query per poll finds the highest outbound id
//!    below which every id is committed or rolled back, and one more lists the instances with
//!    new work; their workers wake up. Workers never read past the horizon, so a cursor never
//!    passes an id that commits later.
//! 3. **One worker per instance** (`worker`), in exactly one process (the `lease`r holds
//!    the instance's lease), delivering in outbound-id order through a bounded **window**
//!    (`window`): up to the instance's current limit of activities sent and not yet
//!    persisted as done, activities about the same object never on the wire together, the
//!    cursor advancing only over a contiguous run of finished ones. The limit is fixed, or
//!    learned from the instance's answer times, 429s and failures (`concurrency`: AIMD
//!    against its own baseline), never above the configured maximum. Each request is
//!    signed as its activity's local actor (`signers`).
//! 4. **Failures** ([`backoff`]): transient ones back the instance off (Lemmy's schedule,
//!    `Retry-After` honoured, one step per failing window); a 4xx drops that activity for
//!    that instance with an rc; an instance failing for `dead_after` is dead until it sends
//!    us something or an admin revives it.
//! 5. **Persistence** (`flush`): the cursors of all workers of the process are written
//!    together, one statement per flush, fenced by the lease.
//! 6. **Status** ([`status`]): per-instance cursor, lag, health, for the API and the CLI.

#![deny(missing_docs)]

pub mod backoff;
mod concurrency;
mod config;
mod deliver;
mod flush;
mod horizon;
pub mod http;
mod lease;
mod policy;
pub mod publish;
mod queue;
mod shared;
mod signers;
pub mod status;
mod window;
mod worker;

pub use config::{QueueConfig, WindowConfig};
pub use http::Api;
pub use queue::{Deps, Queue};
pub use signers::Signers;
