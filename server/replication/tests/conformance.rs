//! openraft's own storage conformance suite, run on the journal-backed log
//! and the ledger state machine, in a real directory.

// openraft's StorageError is large; it is its API, not ours.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use interlock_journal::{DiskStorage, JournalConfig, Storage};
use interlock_ledger::LedgerConfig;
use interlock_replication::{LogStore, StateMachine, StorageError, TypeConfig};
use openraft::testing::{StoreBuilder, Suite};

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let storage: Arc<dyn Storage> = Arc::new(DiskStorage::open(dir.path()).expect("open"));
        let log = LogStore::open(storage.clone(), JournalConfig::default()).expect("log");
        let sm = StateMachine::open_with_log(storage, LedgerConfig::default(), log.clone())
            .expect("state machine");
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite() -> Result<(), StorageError> {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    Suite::test_all(Builder)
}
