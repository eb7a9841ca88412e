//! Validated identifiers.
//!
//! Every id is 1..=[`ID_LEN_MAX`] printable ASCII characters without spaces,
//! so ids are safe to log, to put in error texts of their owner and to use as
//! map keys. An id of up to [`ID_INLINE_LEN_MAX`] bytes (most of them) is
//! kept inline, in the 24 bytes of the id itself: making, cloning, comparing,
//! hashing or dropping one touches no other memory and allocates nothing. A
//! longer id shares one reference-counted copy of its text, so cloning it
//! never allocates either.

use std::borrow::Borrow;
use std::fmt;

use smol_str::SmolStr;

/// The longest id, in bytes.
pub const ID_LEN_MAX: usize = 64;

/// The longest id kept inline, in bytes.
pub const ID_INLINE_LEN_MAX: usize = SmolStr::INLINE_CAP;

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
        pub struct $name(SmolStr);

        impl $name {
            /// Validates `s` and wraps it.
            pub fn new(s: &str) -> Result<Self, IdError> {
                validate_id(s)?;
                Ok(Self(SmolStr::new(s)))
            }

            /// Wraps a string the ledger built itself and knows to be valid.
            #[allow(dead_code)]
            pub(crate) fn new_trusted(s: &str) -> Self {
                debug_assert!(validate_id(s).is_ok(), "invalid trusted id {s:?}");
                Self(SmolStr::new(s))
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                self.0.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0.as_str())
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
    /// An authenticated source of prices.
    OracleId
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
    fn short_and_long_ids_compare_and_hash_as_their_text() {
        use std::collections::HashSet;
        let short = "p".repeat(ID_INLINE_LEN_MAX);
        let long = "p".repeat(ID_INLINE_LEN_MAX + 1);
        let (a, b) = (VenueId::new(&short).unwrap(), VenueId::new(&long).unwrap());
        assert_eq!(a.as_str(), short);
        assert_eq!(b.as_str(), long);
        assert!(a < b, "ordered as text across the two forms");
        assert_eq!(a.cmp(&b), short.as_str().cmp(long.as_str()));
        assert_eq!(b.clone(), b);
        let set: HashSet<VenueId> = [a.clone(), b.clone()].into_iter().collect();
        // Looked up by `&str` (through `Borrow<str>`): same hash as the text.
        assert!(set.contains(short.as_str()) && set.contains(long.as_str()));
        assert!(!set.contains("p"));
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
