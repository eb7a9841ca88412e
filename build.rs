//! Compiles `proto/interlock/v1/*.proto` and `proto/interlock/cluster/v1/*.proto`
//! into Rust with tonic-prost-build.
//!
//! The protobuf compiler is protox (pure Rust), so the build needs no system
//! `protoc`. The encoded descriptor set is also written to `OUT_DIR` for the
//! server's reflection service.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "proto/interlock/v1/common.proto",
    "proto/interlock/v1/pretrade.proto",
    "proto/interlock/v1/position.proto",
    "proto/interlock/v1/price.proto",
    "proto/interlock/v1/admin.proto",
    "proto/interlock/v1/analytics.proto",
    "proto/interlock/v1/bench.proto",
    "proto/interlock/cluster/v1/raft.proto",
    "proto/interlock/cluster/v1/cluster.proto",
];

/// The messages of analytics.proto's reports.
const ANALYTICS_MESSAGES: &[&str] = &[
    "Shock",
    "AssetMove",
    "VenueFigure",
    "AssetPriceAt",
    "StressParticipant",
    "ParticipantLoss",
    "SeizedAsset",
    "StressVenue",
    "ForcedSales",
    "VenueLoss",
    "StressEcosystem",
    "StressReport",
    "RoundVenue",
    "AssetQuantity",
    "CascadeRound",
    "AssetRatio",
    "CascadeReport",
    "ScenarioShocks",
    "SetScenarioResponse",
    "StressRank",
    "SystemicRow",
    "SystemicProgress",
    "SystemicReport",
    "SystemicUpdate",
    "ReuseBucket",
    "VenueValue",
    "VenueReuse",
    "ReuseReportResponse",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("interlock_descriptor.bin");

    let descriptors = protox::compile(PROTOS, ["proto"])?;
    std::fs::write(
        &descriptor_path,
        prost::Message::encode_to_vec(&descriptors),
    )?;

    // Messages and clients, with tonic's own codec: a client that cannot
    // decode a server's answer reports INTERNAL (the server is broken).
    let mut config = prost_build::Config::new();
    config
        .file_descriptor_set_path(&descriptor_path)
        .skip_protoc_run();
    // Analytics reports are printed as JSON by interlockctl as they come.
    for message in ANALYTICS_MESSAGES {
        config.type_attribute(
            format!(".interlock.v1.{message}"),
            "#[derive(serde::Serialize)]",
        );
    }
    tonic_prost_build::configure()
        .build_server(false)
        .compile_with_config(config, PROTOS, &["proto"])?;

    // Servers, over the same messages, with `RequestCodec`: a request that
    // cannot be decoded is the client's fault, INVALID_ARGUMENT.
    let server_dir = out_dir.join("server");
    std::fs::create_dir_all(&server_dir)?;
    let mut config = prost_build::Config::new();
    config
        .file_descriptor_set_path(&descriptor_path)
        .skip_protoc_run()
        .extern_path(".interlock.v1", "crate::v1")
        .extern_path(".interlock.cluster.v1", "crate::cluster::v1");
    tonic_prost_build::configure()
        .build_client(false)
        .codec_path("crate::RequestCodec")
        .out_dir(&server_dir)
        .compile_with_config(config, PROTOS, &["proto"])?;
    Ok(())
}
