//! The trust model, as pure rules every stage calls (no database, no sockets). A valid
//! signature proves who sent a request, not what they may do: these functions decide the
//! rest. `docs/security.md` states each rule and names the test that proves it.
//!
//! - [`host`]: one normal form for instance host names (case, trailing dot, IDNA, port,
//!   userinfo), so every stage compares the same strings.
//! - [`instances`]: the instance-policy decision (block, allow-list mode, subdomains), the
//!   same for the inbox, the pipeline and the send queue.
//! - [`authority`]: per verb, who may do it to what (actor, object owner, community and its
//!   moderators, instance).

#![deny(missing_docs)]

pub mod authority;
pub mod host;
pub mod instances;
