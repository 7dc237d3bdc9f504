//! The command line.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// sluice: a federation inbox engine for the threadiverse.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about)]
pub struct Cli {
    /// Configuration file (default: ./sluice.toml when it exists). Every key can also be
    /// set as SLUICE_<KEY>.
    #[arg(long, global = true, env = "SLUICE_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the engine: HTTP server, journal, pipeline, send queue.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage local communities.
    Community {
        /// What to do with communities.
        #[command(subcommand)]
        action: CommunityAction,
    },
    /// Manage local users.
    User {
        /// What to do with users.
        #[command(subcommand)]
        action: UserAction,
    },
    /// Outgoing federation: the send queue.
    Federation {
        /// What to show.
        #[command(subcommand)]
        action: FederationAction,
    },
    /// Instance policy: block, allow, allow-list mode. Running processes pick changes up
    /// within `inbox_refresh_ms`.
    Instance {
        /// What to do.
        #[command(subcommand)]
        action: InstanceAction,
    },
    /// Check the setup and measure where time goes: database round-trips, commits, a peer.
    Doctor(DoctorArgs),
    /// Inspect and replay the received-activity journal.
    Journal {
        /// What to do with the journal.
        #[command(subcommand)]
        action: JournalAction,
    },
    /// The Fediseer sync: feelers' endorsements and trusted sources' censures as allow
    /// entries and blocks (docs/fediseer.md).
    Fediseer {
        /// What to do.
        #[command(subcommand)]
        action: FediseerAction,
    },
    /// Webhooks: events POSTed to the `[[webhook]]` URLs (docs/webhooks.md).
    Webhook {
        /// What to show.
        #[command(subcommand)]
        action: WebhookAction,
    },
    /// The policy chain (`policy_file`, docs/policies.md): show it, dry-run an activity.
    Policy {
        /// What to do.
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Activities a policy holds for review: list, approve (apply, skipping the policy that
    /// held it), reject.
    Review {
        /// What to do.
        #[command(subcommand)]
        action: ReviewAction,
    },
}

/// `sluice webhook ...`
#[derive(Debug, Subcommand)]
pub enum WebhookAction {
    /// Per webhook: pending, delivered, failed, last success, next retry, last error.
    Status {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `sluice policy ...`
#[derive(Debug, Subcommand)]
pub enum PolicyAction {
    /// The chain in order: each policy's name, kind, communities and rules.
    List,
    /// Run an activity (a JSON file, `-` for stdin) through the chain without storing
    /// anything, and print each policy's verdict.
    Test {
        /// The activity.
        file: PathBuf,
        /// When the author's account was created (RFC 3339), for `new_account` rules.
        #[arg(long)]
        author_published: Option<String>,
    },
    /// The newest decisions recorded (rejects, rewrites, no-relays, holds, reviews).
    Decisions {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

/// `sluice review ...`
#[derive(Debug, Subcommand)]
pub enum ReviewAction {
    /// Held activities, oldest first, with the policy that holds each and why.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Apply held activities, skipping the policy that held them.
    Approve {
        /// Journal ids (as `sluice review list` shows them).
        #[arg(required = true)]
        ids: Vec<i64>,
    },
    /// Refuse held activities (`ignored`, `ReviewRejected`; replayable).
    Reject {
        /// Journal ids.
        #[arg(required = true)]
        ids: Vec<i64>,
    },
}

/// `sluice fediseer ...`
#[derive(Debug, Subcommand)]
pub enum FediseerAction {
    /// Sync now (whatever the interval says) and print what changed.
    Sync,
}

/// `sluice federation ...`
#[derive(Debug, Subcommand)]
pub enum FederationAction {
    /// Per instance: state, cursor, lag, last success, failures, next retry.
    Status {
        /// JSON (as `GET /api/v1/federation`) instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `sluice instance ...`
#[derive(Debug, Subcommand)]
pub enum InstanceAction {
    /// Refuse everything from DOMAIN (and its subdomains): 403 InstanceBlocked.
    Block {
        /// host[:port] (a URL is accepted too).
        domain: String,
        /// Why (shown by `list`).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Put DOMAIN on the allow-list (what `mode allowlist` accepts).
    Allow {
        /// host[:port] (a URL is accepted too).
        domain: String,
        /// Why (shown by `list`).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Remove any policy from DOMAIN (neither blocked nor allowed).
    Unblock {
        /// host[:port] (a URL is accepted too).
        domain: String,
    },
    /// List instances with a policy, and the mode.
    List,
    /// `open`: everyone but blocked instances; `allowlist`: only allowed instances.
    Mode {
        /// `open` or `allowlist`.
        #[arg(value_parser = ["open", "allowlist"])]
        mode: String,
    },
    /// Deliver to a dead instance again (or end an active one's backoff now).
    Revive {
        /// host[:port] (a URL is accepted too).
        domain: String,
    },
}

/// `sluice doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Print the report as JSON (for scripts).
    #[arg(long)]
    pub json: bool,
    /// Also check a peer: DNS, TCP connect, TLS handshake, nodeinfo fetch
    /// (a domain such as lemmy.world, or a URL).
    #[arg(long, value_name = "DOMAIN")]
    pub peer: Option<String>,
    /// Database pings to time (commit probes: a fifth of this, at least 3).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(5..=10000))]
    pub samples: u32,
}

/// `sluice journal ...`
#[derive(Debug, Subcommand)]
pub enum JournalAction {
    /// List activities the pipeline gave up on (newest first), with their rc.
    Failed {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Put failed (or ignored) activities back to pending, with a fresh attempt budget.
    Replay {
        /// Journal ids (as `sluice journal failed` lists them).
        #[arg(required_unless_present = "rc")]
        ids: Vec<i64>,
        /// Instead of ids: every failed or ignored row with this rc, oldest first (after a
        /// policy change: `--rc PolicyKeyword`).
        #[arg(long, conflicts_with = "ids")]
        rc: Option<String>,
        /// With `--rc`: at most this many rows.
        #[arg(long, default_value_t = 10_000, requires = "rc")]
        limit: i64,
    },
}

/// `sluice community ...`
#[derive(Debug, Subcommand)]
pub enum CommunityAction {
    /// Create a local community with its own key pair.
    Create {
        /// Short name, as in !NAME@domain.
        name: String,
        /// Display title (default: the name).
        #[arg(long)]
        title: Option<String>,
    },
    /// List local communities.
    List,
}

/// `sluice user ...`
#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Create a local user with its own key pair.
    Create {
        /// Short name, as in @NAME@domain.
        name: String,
        /// Display name.
        #[arg(long)]
        display_name: Option<String>,
    },
}
