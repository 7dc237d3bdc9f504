//! The Lemmy fixtures as scenarios shared by the pipeline's crate tests and the end-to-end
//! suite: the same activities, the same expected rows, two ways of getting them to sluice.
//!
//! - [`Hosts`]: where each fixture host lives in a test (kept, a `TestPeer`, or sluice);
//! - [`docs`]: documents built from the fixtures' object templates, and small activities;
//! - [`Rows`]: plain SQL on sluice's tables (assertions read only tables);
//! - [`World`]: what a scenario needs from its setting (remote and local actors, a way to
//!   hand sluice an activity and wait for its journal row);
//! - [`Scenario`]: every fixture activity, in four instances' points of view, each with the
//!   rows it must end in.

pub mod docs;
mod hosts;
mod rows;
mod scenarios;
mod world;

pub use hosts::{FIXTURE_HOSTS, Hosts};
pub use rows::{JournalRow, Rows};
pub use scenarios::Scenario;
pub use world::World;
