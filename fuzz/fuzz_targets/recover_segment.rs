//! A journal segment with arbitrary records after a valid header: recovery
//! refuses it or replays it, never panics.
#![no_main]
use interlock_journal::format;
use interlock_journal::sim::SimStorage;
use interlock_journal::Storage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let disk = SimStorage::new();
    let mut bytes = format::segment_header(1);
    bytes.extend_from_slice(data);
    let mut f = disk.create(&format::segment_name(1)).unwrap();
    f.write_all(&bytes).unwrap();
    f.sync().unwrap();
    disk.sync_dir().unwrap();
    let _ = interlock_journal::recover::recover(&disk, interlock_ledger::LedgerConfig::default());
});
