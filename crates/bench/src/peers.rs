//! The simulated remote instances: one [`TestPeer`] per sender, each a real HTTP server on
//! its own loopback address serving its actors, their keys and the posts and comments it
//! sends (sluice fetches unknown actors and objects from it, as from a real Lemmy).
//!
//! A sender is one instance because that is Lemmy 0.19's unit of serial sending: one queue
//! per (sending instance, receiving instance). Each instance has one community (`main`, the
//! signer of its announces) and a few users; every actor has its own RSA-2048 key
//! (generated once and cached on disk by the test kit, so later runs start fast).
//!
//! The peer's HTTP server is idle during a timed run (sluice has every key and actor by
//! then), so its single actix worker does not limit anything measured.

use crate::Result;
use sluice_testkit::TestPeer;

/// One simulated instance.
#[derive(Clone)]
pub struct Instance {
    /// Its server.
    pub peer: TestPeer,
    /// Its community's id (`<base>/c/main`).
    pub community: String,
    /// Its users, `(name, id)`.
    pub persons: Vec<(String, String)>,
}

/// The loopback address of instance `i` (127.0.1.1, 127.0.1.2, ...; 127.0.0.1 is sluice's).
fn address(i: usize) -> String {
    format!("127.0.{}.{}", 1 + i / 250, 1 + i % 250)
}

/// Starts `n` instances with `persons` users each, concurrently (key generation is the
/// slow part the first time).
pub async fn start(n: usize, persons: usize) -> Result<Vec<Instance>> {
    let starts = (0..n).map(|i| async move {
        let peer = TestPeer::start_on(&address(i)).await;
        let community = peer.add_group("main").await;
        let mut people = Vec::with_capacity(persons);
        for p in 0..persons {
            let name = format!("user{p}");
            let id = peer.add_person(&name).await;
            people.push((name, id));
        }
        Instance {
            peer,
            community,
            persons: people,
        }
    });
    Ok(futures::future::join_all(starts).await)
}
