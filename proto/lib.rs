//! The Interlock gRPC API, generated from `proto/interlock/v1/*.proto`.
//!
//! This crate is the one place generated code lives: the server converts
//! these types to domain types in `interlock-server`'s `convert` module, and
//! the client library re-exports them. Nothing here has behaviour.

#![forbid(unsafe_code)]

/// Package `interlock.v1`.
pub mod v1 {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("interlock.v1");
}

/// The encoded `FileDescriptorSet` of the whole API, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/interlock_descriptor.bin"));
