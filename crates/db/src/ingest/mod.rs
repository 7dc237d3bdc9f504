//! The ingestion pipeline's queries: claim journal rows, look up what a batch refers to,
//! write what it changed. A batch of known activities costs four round-trips: claim (1),
//! lookup (1), write transaction (2: `BEGIN` + every statement, then `COMMIT`).
//!
//! Every statement has a fixed text (arrays carry the batch), so each is prepared once per
//! connection. The first use of a statement costs a prepare round-trip; [`warm_up`] pays
//! them all at once when the pipeline takes its connection, so that steady-state batches
//! cost exactly the four.

// Fields named as columns are documented once, in docs/schema.md (see the module's header).
#[allow(missing_docs)]
pub mod changes;
pub mod decisions;
pub mod journal;
pub mod lookup;
pub mod write;

pub use changes::Changes;
pub use lookup::{Keys, Snapshot};

use crate::{Conn, DbError};
use futures::FutureExt;

/// Prepares every statement the pipeline uses on this connection: the claim, the lookup
/// round and every write statement (sent with empty inputs, in a transaction
/// that changes nothing).
pub async fn warm_up(conn: &mut Conn) -> Result<(), DbError> {
    conn.run("ingest_warm_read", |c| {
        async move {
            let c: &diesel_async::AsyncPgConnection = c;
            journal::claim(c, 0, "", 0.0).await?;
            lookup::lookup(c, &Keys::default(), None).await?;
            Ok(())
        }
        .boxed()
    })
    .await?;
    conn.run_tx("ingest_warm_write", |c| write::warm(c)).await
}
