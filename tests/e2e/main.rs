//! End-to-end suite: drives the real `sluice` binary over HTTP, against a real PostgreSQL.
//!
//! One test binary (so the test PostgreSQL is started once); one module per concern.

mod admin;
mod adversarial_inbox;
mod adversarial_pipeline;
mod adversarial_policy;
mod doctor;
mod faults;
mod federation;
mod fediseer;
mod fixtures;
mod foundation;
mod inbox;
mod interop_payloads;
mod interop_serve;
mod local_journal;
mod observability;
mod pipeline;
mod plugin_facts;
mod policies;
mod protected_boost;
mod pruning;
mod publish_local;
mod queue;
mod shared_journal;
mod support;
mod webhooks;
