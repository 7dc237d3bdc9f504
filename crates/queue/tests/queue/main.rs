//! The send queue against real HTTP peers on 127.0.0.1 and a real PostgreSQL
//! (`cargo test -p sluice-queue --test queue MODULE::`).

mod delivery;
mod leases;
mod publish;
mod support;
