//! The inbox receiver against a real PostgreSQL and real HTTP on 127.0.0.1: a test peer
//! serves actor documents and signs deliveries; the inbox runs in-process so tests can read
//! its database round-trip counter.

#![allow(dead_code)]

mod fixtures;
mod keys;
mod policy;
mod refusals;
mod roundtrips;
mod support;
mod trust;
mod wake;
