//! A snapshot body: any bytes are refused or give a consistent state.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = interlock_ledger::State::from_snapshot(data) {
        assert!(state.check_invariants().is_ok());
    }
});
