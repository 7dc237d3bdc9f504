//! What a fixture scenario needs from the setting it runs in.

use super::{Hosts, JournalRow, Rows};
use serde_json::Value;

/// A setting for the [`scenarios`](super::scenarios): sluice's tables, where the fixture
/// hosts live, remote actors that exist (fetchable, and able to sign what they send), local
/// actors, and a way to hand sluice an activity and wait for its journal row's end.
///
/// The pipeline's crate tests implement it by inserting journal rows and running one batch
/// per activity; the end-to-end suite by signed deliveries from `TestPeer`s to the real
/// binary over HTTP.
// Scenarios are driven on the test's own task: no `Send` bound is needed on these futures.
#[allow(async_fn_in_trait)]
pub trait World {
    /// sluice's database.
    fn rows(&self) -> &Rows;

    /// Where the fixture hosts live.
    fn hosts(&self) -> &Hosts;

    /// A remote person exists at `id`: its instance serves it, and it can sign.
    async fn remote_person(&mut self, id: &str);

    /// A remote community at `id` is known here (as if fetched earlier), served by its
    /// instance (and able to sign), and followed by the local user `follower` if given.
    async fn remote_community(&mut self, id: &str, follower: Option<&str>);

    /// `doc` (not an actor) is served at its `id` by the instance the id names.
    async fn serve(&mut self, doc: Value);

    /// Creates a local user; returns its id.
    async fn local_person(&mut self, name: &str) -> String;

    /// Creates a local community; returns its id.
    async fn local_community(&mut self, name: &str) -> String;

    /// `a` reaches sluice from its actor and is processed; returns its journal row.
    async fn step(&mut self, a: &Value) -> JournalRow;

    /// The already processed activity `activity_id` is processed again (its row set back
    /// to pending, as a replay would); returns its journal row.
    async fn reprocess(&mut self, activity_id: &str) -> JournalRow;

    /// Whether `url` has been fetched from its instance.
    fn fetched(&self, url: &str) -> bool;

    /// Like [`World::step`], and the row must end `done`.
    async fn done(&mut self, a: &Value) {
        let row = self.step(a).await;
        assert_eq!(row.state, "done", "{}: {row:?}", a["id"]);
    }

    /// Like [`World::step`], and the row must end `ignored` with `rc`.
    async fn ignored(&mut self, a: &Value, rc: &str) {
        let row = self.step(a).await;
        assert_eq!(
            (row.state.as_str(), row.error_code.as_deref()),
            ("ignored", Some(rc)),
            "{}: {row:?}",
            a["id"]
        );
    }
}
