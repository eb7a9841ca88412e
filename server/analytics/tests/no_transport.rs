//! Analytics, like the domain core, know no transport: no tonic, prost or
//! tokio in the manifest and no `async`/`.await` in the source.

#[test]
fn the_analytics_know_no_transport() {
    interlock_ledger::testkit::assert_no_transport(
        "interlock-analytics",
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
    );
}
