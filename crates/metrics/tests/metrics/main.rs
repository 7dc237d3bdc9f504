//! The metric catalog against docs/metrics.md and the deploy files that name metrics
//! (`cargo test -p sluice-metrics --test metrics MODULE::`).

mod deploy_refs;
mod metrics_doc;
