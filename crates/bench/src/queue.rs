//! The delivery scenario: sluice sends to a peer that takes 200 ms to answer.

use serde::Serialize;

/// What a delivery scenario measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QueueOutcome {
    /// Scenario name.
    pub name: String,
    /// The receiving peer's answer time, ms.
    pub peer_delay_ms: u64,
    /// `delivery_window`.
    pub window: usize,
    /// Activities delivered.
    pub delivered: usize,
    /// Deliveries per second.
    pub delivered_per_s: f64,
    /// Activities about one object arrived in publish order.
    pub order_kept: bool,
}
