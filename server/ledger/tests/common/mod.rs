//! The ledger's tests use the shared test kit.
#![allow(unused_imports)]

pub use interlock_ledger::testkit::*;
