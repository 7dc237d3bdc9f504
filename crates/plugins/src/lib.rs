//! Admin plugins: scripts an admin drops into the plugin directory and lists in the policy
//! chain, each turning an activity into a verdict (accept, reject with an rc, rewrite, hold)
//! inside a sandbox. docs/plugins.md is the guide for script authors.
//!
//! **Why Rhai, not WebAssembly.** The people who write plugins are instance admins, and a
//! plugin is a page of rules: "reject links to these domains", "hold a new instance's first
//! post". Rhai scripts are plain text compiled by sluice itself in a millisecond, so an
//! admin edits a file and the next activity uses it; WebAssembly would need a compile
//! toolchain on the admin's side (and rebuilds for every edit), and wasmtime brings
//! cranelift, minutes of build on our two cores. Rhai was made to embed untrusted scripts:
//! no file, network or process access exists in its standard packages, `import` needs a
//! module resolver we do not give, and every limit we need is built in (operations, string,
//! array and map sizes, variables, call depth, expression depth), plus a progress hook that
//! carries the wall-clock timeout. The price is speed (an interpreter, not compiled code),
//! small for rules of this size: the three example plugins together take about 100 µs per
//! activity in the debug build, a trivial one 3.5 µs (`cargo test -p sluice-plugins --test
//! plugins cost -- --ignored --nocapture` prints the figure; docs/plugins.md records it).
//! Rhai leaves one growth path unchecked (a map grown by `m[k] = v`): such scripts are
//! refused when compiled (`engine::refuse_index_assignment`).
//!
//! **Why polling, not file-system notifications.** A set looks at its few script files at
//! most every `reload_every` (2 s), from the first evaluation after it: a read of a few
//! kilobytes, compared with what is in force. That needs no watcher thread, works on every
//! file system (network mounts and container bind mounts lose inotify events), and sees
//! editors' write-and-rename saves without special cases. A change is in force within
//! seconds, which is what an admin needs.
//!
//! **Failures accept.** A plugin that errors, exceeds a limit or panics gives no verdict:
//! its link accepts the activity, the failure is counted by plugin and kind
//! (`sluice_plugin_failures_total`), and the chain goes on. A broken plugin must never
//! silently drop the federation's traffic.

#![deny(missing_docs)]

mod config;
mod counters;
mod engine;
mod failure;
mod host;
mod link;
mod set;
mod verdict;
mod view;

pub use config::{EXTENSION, Limits, MAX_SCRIPT_BYTES, PluginConfig, valid_name};
pub use counters::Counters;
pub use failure::{Failure, FailureKind};
pub use host::{HostApi, MemoryHost};
pub use link::Plugins;
pub use set::{LoadError, Outcome, PluginSet};
pub use verdict::{MAX_REASON_CHARS, PluginVerdict};
pub use view::{Activity, ActivityError, MAX_URLS, kind_seen};
