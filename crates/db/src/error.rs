//! Database errors, each classified once, where it arises ([`DbError::classify`]), and
//! asked one question by every caller: [`DbError::retry`], whether and when the same work
//! may succeed. The inbox's 503, the refusal mapping, the journal writer and the pipeline's
//! backoff all answer from it; none looks at the variants itself.

use crate::SqlState;
use diesel::result::{DatabaseErrorKind as Kind, Error as DieselError};

/// Database errors, classified by what the caller should do about them.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The configuration is wrong (bad URL, unsupported option): fix and restart.
    #[error("{0}")]
    Config(String),
    /// The database cannot be reached right now (connect failed, no free connection in
    /// time, an operation past its deadline): retry later (senders get 503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A statement failed because of the database's state, not because of the statement:
    /// the connection was lost or the server is shutting down, a serialization failure or
    /// deadlock, insufficient resources ([`SqlState::is_transient`]). Retry later.
    #[error("database trouble{}: {source}", code_suffix(.sqlstate))]
    Transient {
        /// The SQLSTATE the server sent, when it sent one (a lost connection has none).
        sqlstate: Option<SqlState>,
        /// What the driver reported (boxed: errors travel in many futures' state).
        #[source]
        source: Box<DieselError>,
    },
    /// Journal rows this process worked on are leased to another process now (its lease
    /// ran out or was released): the transaction wrote nothing, and the rows are theirs.
    #[error("journal lease lost: {0}")]
    LeaseLost(#[source] Box<DieselError>),
    /// A statement failed for a reason retrying does not change.
    #[error("database query failed: {0}")]
    Query(#[source] DieselError),
    /// Applying migrations failed.
    #[error("migrations failed: {0}")]
    Migration(String),
}

fn code_suffix(code: &Option<SqlState>) -> String {
    code.map(|c| format!(" ({c})")).unwrap_or_default()
}

impl DbError {
    /// The one classification of a failed statement: by the SQLSTATE the server sent for
    /// it (read off the protocol, see [`crate::sqlstate`]), else by the driver's error kind.
    /// Never by whether the connection looks broken yet: that races with the server's
    /// goodbye.
    pub fn classify(source: DieselError, sqlstate: Option<SqlState>) -> DbError {
        if sqlstate.is_some_and(|c| c.is_lease_lost()) {
            return DbError::LeaseLost(Box::new(source));
        }
        let transient = match (&source, sqlstate) {
            (_, Some(code)) if code.is_transient() => true,
            // No code: the driver lost the connection (or never got to send).
            (
                DieselError::DatabaseError(Kind::ClosedConnection | Kind::UnableToSendCommand, _),
                _,
            ) => true,
            (DieselError::DatabaseError(Kind::SerializationFailure, _), _) => true,
            _ => false,
        };
        if transient {
            DbError::Transient {
                sqlstate,
                source: Box::new(source),
            }
        } else {
            DbError::Query(source)
        }
    }

    /// When the same work may succeed: the one retry decision for database errors.
    pub fn retry(&self) -> Retry {
        match self {
            DbError::Unavailable(_) | DbError::Transient { .. } => Retry::Later,
            DbError::LeaseLost(_) => Retry::ByNewOwner,
            DbError::Query(_) => Retry::Never,
            DbError::Config(_) | DbError::Migration(_) => Retry::AfterFix,
        }
    }

    /// True when trying again later may succeed: the database's trouble, not ours
    /// ([`Retry::Later`]).
    pub fn is_transient(&self) -> bool {
        self.retry() == Retry::Later
    }

    /// A duplicate key: the row is there already.
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            DbError::Query(DieselError::DatabaseError(Kind::UniqueViolation, _))
        )
    }

    /// The SQLSTATE the server sent, if any.
    pub fn sqlstate(&self) -> Option<SqlState> {
        match self {
            DbError::Transient { sqlstate, .. } => *sqlstate,
            _ => None,
        }
    }

    /// A short, bounded label for metrics.
    pub fn class(&self) -> &'static str {
        match self {
            DbError::Config(_) => "config",
            DbError::Unavailable(_) => "unavailable",
            DbError::Transient { sqlstate, source } => {
                let serialization = sqlstate.is_some_and(|c| c.is_serialization())
                    || matches!(
                        source.as_ref(),
                        DieselError::DatabaseError(Kind::SerializationFailure, _)
                    );
                if serialization {
                    "serialization"
                } else {
                    "unavailable"
                }
            }
            DbError::LeaseLost(_) => "lease_lost",
            DbError::Query(DieselError::NotFound) => "not_found",
            e if e.is_unique_violation() => "unique_violation",
            DbError::Query(_) => "query",
            DbError::Migration(_) => "migration",
        }
    }
}

/// Whether and when work that failed with a [`DbError`] may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Later, unchanged: the database's own passing trouble (unreachable, restarting,
    /// overloaded, a serialization failure). Senders get 503 with `Retry-After`; the
    /// pipeline puts its batch back with backoff.
    Later,
    /// At once, by the process that leases the rows now: this one's lease ran out or was
    /// released, and its transaction wrote nothing.
    ByNewOwner,
    /// Never with the same statement and data: a batch is split to find the one row at
    /// fault, which fails alone.
    Never,
    /// Not before an operator fixes the configuration or the migrations.
    AfterFix,
}

/// A driver error met outside [`crate::Conn::run`] (no SQLSTATE at hand): classified by
/// its kind alone.
impl From<DieselError> for DbError {
    fn from(e: DieselError) -> Self {
        DbError::classify(e, None)
    }
}

/// Shorthand for results of this crate.
pub type DbResult<T> = Result<T, DbError>;

#[cfg(test)]
mod tests {
    use super::{DbError, Retry};
    use crate::SqlState;
    use diesel::result::{DatabaseErrorKind as Kind, Error as DieselError};

    fn failed(kind: Kind, code: &str) -> DbError {
        DbError::classify(
            DieselError::DatabaseError(kind, Box::new(code.to_string())),
            SqlState::new(code),
        )
    }

    #[test]
    fn every_error_gets_one_retry_answer() {
        assert_eq!(failed(Kind::Unknown, "57P01").retry(), Retry::Later);
        assert_eq!(
            failed(Kind::SerializationFailure, "40001").retry(),
            Retry::Later
        );
        assert_eq!(DbError::Unavailable("down".into()).retry(), Retry::Later);
        assert_eq!(failed(Kind::Unknown, "SL001").retry(), Retry::ByNewOwner);
        let duplicate = failed(Kind::UniqueViolation, "23505");
        assert_eq!(duplicate.retry(), Retry::Never);
        assert!(duplicate.is_unique_violation());
        assert_eq!(duplicate.class(), "unique_violation");
        assert_eq!(DbError::Config("bad".into()).retry(), Retry::AfterFix);
        assert_eq!(DbError::Migration("bad".into()).retry(), Retry::AfterFix);
        for e in [failed(Kind::Unknown, "57P01"), duplicate] {
            assert_eq!(e.is_transient(), e.retry() == Retry::Later, "{e}");
        }
    }

    /// Errors travel in the state of many futures; the pipeline's deepest test futures
    /// overflowed a 2 MB test thread in debug builds when this grew past the driver's error.
    #[test]
    fn a_db_error_is_no_larger_than_the_drivers() {
        assert!(
            std::mem::size_of::<super::DbError>() <= std::mem::size_of::<diesel::result::Error>()
        );
    }
}
