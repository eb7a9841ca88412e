//! Interlock's systemic analytics: `Stress`, `Cascade` and the systemic
//! ranking, over one consistent moment of the ledger (`State::moment`),
//! read without the ledger's lock. Like the ledger, synchronous and free
//! of any transport; the definitions are `analytics.md`'s.

#![forbid(unsafe_code)]

pub mod book;
pub mod cascade;
pub mod engine;
pub mod error;
pub mod report;
pub mod reuse;
pub mod rules;
pub mod scenario;
pub mod stress;
pub mod systemic;
pub mod total;

pub use book::Book;
pub use error::AnalyticsError;
pub use scenario::Scenario;
