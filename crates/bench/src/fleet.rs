//! Several `sluice serve` processes on one database behind the [`Balancer`]: one instance,
//! one domain, as a scaled-out deployment runs it.
//!
//! Every process gets the balancer's address as its `domain` (ids, signed `Host`, the
//! actor documents peers fetch all name it) and binds its own port; every one reaches
//! PostgreSQL through the same latency proxy, like the single sluice of the other scenarios.

use crate::Result;
use crate::balancer::Balancer;
use crate::error::setup;
use crate::stack::{self, Deployed, PUBLISH_TOKEN, Server, StackOptions};
use sluice_db::{Db, PoolOptions};
use sluice_testkit::{Sluice, SluiceOptions};
use std::net::SocketAddr;
use std::time::Duration;

/// Starts `processes` sluices on a fresh database `name` (behind a proxy with `one_way`
/// delay) and the balancer in front of them; the deployment's `base` is the balancer.
pub async fn start(
    opts: &StackOptions,
    server: &Server,
    name: &str,
    one_way: Duration,
    extra_env: &[(String, String)],
    processes: usize,
) -> Result<Deployed> {
    if opts.sluice_url.is_some() {
        return Err(setup(
            "the scale-out scenario starts its own processes: drop --sluice",
        ));
    }
    let url = server.fresh_database(name).await?;
    let proxy = server.proxy(one_way).await?;
    let balancer = Balancer::start().await?;
    let domain = balancer.addr().to_string();
    let mut env = stack::sluice_env(opts, extra_env);
    env.push(("SLUICE_DOMAIN".into(), domain.clone()));
    let mut sluices = Vec::with_capacity(processes);
    for _ in 0..processes.max(1) {
        let s = Sluice::start(
            &opts.sluice_bin,
            SluiceOptions {
                database_url: Some(stack::proxied_url(&url, &proxy)?),
                env: env.clone(),
                log: Some("warn".into()),
                ..SluiceOptions::default()
            },
        )
        .await;
        balancer.add(SocketAddr::from(([127, 0, 0, 1], s.port)));
        sluices.push(s);
    }
    stack::create_community(&sluices[0])?;
    let base = format!("http://{domain}");
    // Every process must know the new community before a sender may hit it.
    for s in &sluices {
        stack::wait_for_inbox(&s.base, "/c/bench/inbox").await?;
    }
    let db = Db::connect(&url, PoolOptions::default()).await?;
    Ok(Deployed {
        local_community: Some(format!("{base}/c/bench")),
        base,
        pid: sluices.first().map(|s| s.pid() as i32),
        db,
        publish_token: Some(PUBLISH_TOKEN.into()),
        sluices,
        _proxy: Some(proxy),
        balancer: Some(balancer),
    })
}

impl Deployed {
    /// The pids of the processes started, in start order.
    pub fn pids(&self) -> Vec<i32> {
        self.sluices.iter().map(|s| s.pid() as i32).collect()
    }

    /// SIGKILL to the process `pid` (no chance to clean up), waits until it is gone, and
    /// forgets it (its data directory goes with it). False when no process has that pid.
    pub fn kill9(&mut self, pid: i32) -> bool {
        let Some(i) = self.sluices.iter().position(|s| s.pid() as i32 == pid) else {
            return false;
        };
        let mut s = self.sluices.remove(i);
        tokio::task::block_in_place(|| s.kill9());
        true
    }

    /// Connections the balancer sent to each process, in start order.
    pub fn balanced(&self) -> Vec<u64> {
        self.balancer
            .as_ref()
            .map(Balancer::connections)
            .unwrap_or_default()
    }
}
