//! What can stop an analytics run. A run either answers or says why it
//! could not; its figures are never partial.

/// Why a run did not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalyticsError {
    /// The request is malformed: `field` names what.
    #[error("{field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    /// The caller stopped waiting (a deadline or a cancelled request).
    #[error("the run was cancelled")]
    Cancelled,
}

pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> AnalyticsError {
    AnalyticsError::InvalidArgument {
        field,
        reason: reason.into(),
    }
}
