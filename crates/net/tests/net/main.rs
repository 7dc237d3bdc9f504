//! The outgoing client against real HTTP servers on 127.0.0.1
//! (`cargo test -p sluice-net --test net MODULE::`).

mod client;
mod proxy;
