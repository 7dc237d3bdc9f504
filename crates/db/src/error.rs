//! Database errors, each classified once, where it arises, by what the caller should do:
//! retry later (the database's own trouble: 503 to a sender, backoff in the pipeline) or
//! not (a fault of the statement or its data, or of the configuration).

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

    /// True when trying again later may succeed: the database's trouble, not ours.
    pub fn is_transient(&self) -> bool {
        matches!(self, DbError::Unavailable(_) | DbError::Transient { .. })
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
            DbError::Query(DieselError::DatabaseError(Kind::UniqueViolation, _)) => {
                "unique_violation"
            }
            DbError::Query(_) => "query",
            DbError::Migration(_) => "migration",
        }
    }
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
    /// Errors travel in the state of many futures; the pipeline's deepest test futures
    /// overflowed a 2 MB test thread in debug builds when this grew past the driver's error.
    #[test]
    fn a_db_error_is_no_larger_than_the_drivers() {
        assert!(
            std::mem::size_of::<super::DbError>() <= std::mem::size_of::<diesel::result::Error>()
        );
    }
}
