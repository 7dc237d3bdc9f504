//! Signing every request before the timed phase.
//!
//! An RSA-2048 signature costs about a millisecond of CPU, verifying one about 50 µs. On a
//! two-core machine shared by the load generator and sluice, signing during the run would
//! measure the generator; the signatures (activitypub_federation's, through [`TestPeer`])
//! stay valid for an hour, so every request is signed first and the timed phase only sends.
//!
//! [`TestPeer`]: sluice_testkit::TestPeer

use crate::Result;
use crate::peers::Instance;
use crate::send::Prepared;
use crate::workload::{Generator, Planned, Route, Served};
use std::time::Instant;

/// Activities signed one after the other by one task.
const CHUNK: usize = 256;

/// Inbox URLs on the receiver.
#[derive(Debug, Clone)]
pub struct Inboxes {
    /// `<sluice>/inbox`.
    pub shared: String,
    /// `<sluice>/c/bench/inbox`.
    pub community: String,
}

impl Inboxes {
    /// The inboxes of the sluice at `base`.
    pub fn of(base: &str) -> Inboxes {
        Inboxes {
            shared: format!("{base}/inbox"),
            community: format!("{base}/c/bench/inbox"),
        }
    }
}

/// Signs `planned` as `instance` sends them, and serves the objects they create.
pub async fn sign(
    instance: &Instance,
    inboxes: &Inboxes,
    planned: Vec<(Planned, Vec<Served>)>,
) -> Result<Vec<Prepared>> {
    let mut out = Vec::with_capacity(planned.len());
    for (p, served) in planned {
        for (id, doc) in served {
            instance.peer.serve_json(&id, doc);
        }
        let inbox = match p.route {
            Route::Shared => &inboxes.shared,
            Route::LocalCommunity => &inboxes.community,
        };
        let request = instance
            .peer
            .signed_request(inbox, &p.signer, &p.activity)
            .await?;
        out.push(Prepared {
            id: p.id,
            kind: p.kind,
            effect: p.effect,
            request,
        });
    }
    Ok(out)
}

/// `count` next activities of each generator, signed: one list per instance. Instances are
/// signed concurrently (the signatures run on tokio's blocking pool, one per core).
pub async fn pools(
    instances: &[Instance],
    generators: &mut [Generator],
    inboxes: &Inboxes,
    count: usize,
) -> Result<(Vec<Vec<Prepared>>, f64)> {
    let start = Instant::now();
    let planned: Vec<Vec<(Planned, Vec<Served>)>> = generators
        .iter_mut()
        .map(|g| (0..count).map(|_| g.next_activity()).collect())
        .collect();
    // In chunks, so that one instance's long list also keeps every core busy.
    let mut jobs = Vec::new();
    let mut owner = Vec::new();
    for (i, (inst, mut plan)) in instances.iter().zip(planned).enumerate() {
        while !plan.is_empty() {
            let rest = plan.split_off(plan.len().min(CHUNK));
            jobs.push(sign(inst, inboxes, plan));
            owner.push(i);
            plan = rest;
        }
    }
    let chunks = futures::future::try_join_all(jobs).await?;
    let mut signed: Vec<Vec<Prepared>> = instances.iter().map(|_| Vec::new()).collect();
    for (i, chunk) in owner.into_iter().zip(chunks) {
        signed[i].extend(chunk);
    }
    Ok((signed, start.elapsed().as_secs_f64()))
}
