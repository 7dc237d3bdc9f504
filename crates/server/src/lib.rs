//! The `sluice` binary's library half: configuration, the command line, HTTP wiring and the
//! embedded database. `main.rs` only parses arguments and reports errors.

pub mod actors;
pub mod cli;
pub mod commands;
pub mod config;
pub mod database;
pub mod doctor;
pub mod http;
pub mod local_journal;
pub mod policies;
pub mod prune;
pub mod serve;
pub mod state;
pub mod telemetry;
