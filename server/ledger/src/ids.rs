//! Validated identifiers.
//!
//! Every id is 1..=[`ID_LEN_MAX`] printable ASCII characters without spaces,
//! so ids are safe to log, to put in error texts of their owner and to use as
//! map keys. They are reference counted: cloning one never allocates.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

/// The longest id, in bytes.
pub const ID_LEN_MAX: usize = 64;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("longer than {ID_LEN_MAX} bytes")]
    TooLong,
    #[error("contains a space, control or non-ASCII character")]
    BadCharacter,
}

/// Checks that `s` is a valid id.
pub fn validate_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > ID_LEN_MAX {
        return Err(IdError::TooLong);
    }
    if !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(IdError::BadCharacter);
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates `s` and wraps it.
            pub fn new(s: &str) -> Result<Self, IdError> {
                validate_id(s)?;
                Ok(Self(Arc::from(s)))
            }

            /// Wraps a string the ledger built itself and knows to be valid.
            #[allow(dead_code)]
            pub(crate) fn new_trusted(s: &str) -> Self {
                debug_assert!(validate_id(s).is_ok(), "invalid trusted id {s:?}");
                Self(Arc::from(s))
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }
    };
}

id_type!(
    /// The economic entity whose collateral is tracked across venues.
    ParticipantId
);
id_type!(
    /// An exchange or protocol that asks for pre-trade checks.
    VenueId
);
id_type!(
    /// A collateral asset (BTC, ETH, a bond).
    AssetId
);
id_type!(
    /// An authenticated source of collateral and commitment syncs.
    BrokerId
);
id_type!(
    /// A venue's order id: the idempotency key of a check, unique per venue.
    OrderId
);
id_type!(
    /// A limit's id, assigned by the ledger ("L1", "L2", ...).
    LimitId
);

/// A reservation's id, assigned by the ledger in increasing order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ReservationId(pub u64);

impl fmt::Display for ReservationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "R{}", self.0)
    }
}

impl std::str::FromStr for ReservationId {
    type Err = IdError;

    /// Parses the `R<n>` form produced by `Display`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        validate_id(s)?;
        s.strip_prefix('R')
            .and_then(|n| n.parse::<u64>().ok())
            .map(ReservationId)
            .ok_or(IdError::BadCharacter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_validated() {
        assert!(ParticipantId::new("fund-7").is_ok());
        assert_eq!(ParticipantId::new(""), Err(IdError::Empty));
        assert_eq!(
            ParticipantId::new(&"x".repeat(ID_LEN_MAX + 1)),
            Err(IdError::TooLong)
        );
        assert!(ParticipantId::new(&"x".repeat(ID_LEN_MAX)).is_ok());
        assert_eq!(ParticipantId::new("a b"), Err(IdError::BadCharacter));
        assert_eq!(ParticipantId::new("a\nb"), Err(IdError::BadCharacter));
        assert_eq!(ParticipantId::new("é"), Err(IdError::BadCharacter));
    }

    #[test]
    fn reservation_ids_round_trip() {
        let id = ReservationId(42);
        assert_eq!(id.to_string().parse::<ReservationId>(), Ok(id));
        assert!("42".parse::<ReservationId>().is_err());
        assert!("R".parse::<ReservationId>().is_err());
        assert!("R-1".parse::<ReservationId>().is_err());
    }
}
