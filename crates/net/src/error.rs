//! Outgoing request failures, and the one decision whether one is worth retrying
//! ([`NetError::is_transient`]), which the key tiers, the pipeline's fetches and the send
//! queue's deliveries all ask.

/// Why an outgoing request did not produce a usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The URL is not allowed (SSRF guard, scheme, IP literal) or malformed.
    #[error("refused to contact {0}")]
    Refused(String),
    /// No answer within the timeout.
    #[error("timed out")]
    Timeout,
    /// DNS, connect or transport failure.
    #[error("network error: {0}")]
    Connect(String),
    /// The server answered with a non-success status.
    #[error("HTTP {0}")]
    Status(u16),
    /// The response is larger than the cap.
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    /// The response is not JSON.
    #[error("response is not JSON: {0}")]
    NotJson(String),
}

impl NetError {
    /// True when trying again later may succeed: timeouts, network errors, and the
    /// statuses [`NetError::transient_status`] names.
    pub fn is_transient(&self) -> bool {
        match self {
            NetError::Timeout | NetError::Connect(_) => true,
            NetError::Status(s) => Self::transient_status(*s),
            NetError::Refused(_) | NetError::TooLarge(_) | NetError::NotJson(_) => false,
        }
    }

    /// The statuses that ask to be retried later: 408, 429 and 5xx.
    pub fn transient_status(status: u16) -> bool {
        status == 408 || status == 429 || status >= 500
    }

    /// The object is gone for good (404 or 410).
    pub fn is_gone(&self) -> bool {
        matches!(self, NetError::Status(404 | 410))
    }

    /// A short, bounded label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            NetError::Refused(_) => "refused",
            NetError::Timeout => "timeout",
            NetError::Connect(_) => "network",
            NetError::Status(s) if *s >= 500 => "5xx",
            NetError::Status(429) => "429",
            NetError::Status(_) => "4xx",
            NetError::TooLarge(_) => "too_large",
            NetError::NotJson(_) => "not_json",
        }
    }
}
