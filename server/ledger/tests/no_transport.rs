//! The domain core must know no transport: no tonic, prost or tokio in its
//! manifest and no `async`/`.await` in its source.

#[test]
fn the_ledger_knows_no_transport() {
    interlock_ledger::testkit::assert_no_transport(
        "interlock-ledger",
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
    );
}
