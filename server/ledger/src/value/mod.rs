//! The value layer's arithmetic: health figures, liquidation prices, the
//! venues' liquidation rules and volatility-scaled haircuts. Pure functions
//! of decimals: no state, no clock, no transport. The ledger's value
//! commands (prices, haircuts, liabilities) and the analytics build on
//! them, so one definition serves the pre-trade check, the exposure view
//! and the stress test alike.
//!
//! Notation (as in the value layer's specification): p participant, v venue,
//! a collateral asset, b debt asset; P_a price in the numeraire; O_{p,a}
//! owned; C_{p,v,a} committed (posted + pending + reserved); L_{p,v,b}
//! owed; D_{p,v} = Σ_b L_{p,v,b}·P_b; LT and LTV a venue's liquidation
//! threshold and loan-to-value; h_a Interlock's haircut.
//!
//! Every operation is checked: an overflow is an error
//! ([`crate::amount::Overflow`]), never a wrapped or saturated figure.
//! Divisions keep rust_decimal's 28 significant digits; figures shown to
//! people are rounded where they are shown.

pub mod haircut;
pub mod health;
pub mod liquidation;
pub mod prices;

pub use crate::amount::Overflow;
