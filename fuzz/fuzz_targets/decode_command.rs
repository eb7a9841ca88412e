//! A journal record's payload: any bytes decode to a command or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = interlock_ledger::codec::from_bytes::<interlock_ledger::Command>(data) {
        // What decodes re-encodes to the same bytes.
        assert_eq!(interlock_ledger::codec::to_bytes(&cmd), data);
    }
});
