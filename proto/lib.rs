//! The Interlock gRPC API, generated from `proto/interlock/v1/*.proto`.
//!
//! This crate is the one place generated code lives: the server converts
//! these types to domain types in `interlock-server`'s `convert` module, and
//! the client library re-exports them. Nothing here has behaviour, except
//! [`RequestCodec`], the servers' codec, which says what a request that
//! cannot be decoded is.

#![forbid(unsafe_code)]

use std::marker::PhantomData;

use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic::Status;
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// Package `interlock.v1`: messages and clients, then servers.
pub mod v1 {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    include!(concat!(env!("OUT_DIR"), "/interlock.v1.rs"));
    include!(concat!(env!("OUT_DIR"), "/server/interlock.v1.rs"));
}

/// Package `interlock.cluster.v1`: what the nodes of a cluster say to each
/// other (not a client API).
pub mod cluster {
    pub mod v1 {
        #![allow(missing_docs, clippy::all, clippy::pedantic)]
        include!(concat!(env!("OUT_DIR"), "/interlock.cluster.v1.rs"));
        include!(concat!(env!("OUT_DIR"), "/server/interlock.cluster.v1.rs"));
    }
}

/// The encoded `FileDescriptorSet` of the whole API, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/interlock_descriptor.bin"));

/// The servers' codec: prost's, except that a request that does not decode
/// (truncated, a wrong wire type, a string that is not UTF-8) is
/// INVALID_ARGUMENT, the client's fault. tonic's codec says INTERNAL, which
/// tells a client the server is broken. Clients keep tonic's codec: for them
/// an answer that does not decode is the server's fault.
#[derive(Debug, Clone)]
pub struct RequestCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for RequestCodec<T, U> {
    fn default() -> Self {
        RequestCodec(PhantomData)
    }
}

impl<T, U> Codec for RequestCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = RequestDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder(ProstCodec::<T, U>::raw_decoder(BufferSettings::default()))
    }
}

/// [`RequestCodec`]'s decoder.
#[derive(Debug)]
pub struct RequestDecoder<U>(ProstDecoder<U>);

impl<U: prost::Message + Default> Decoder for RequestDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        // prost's decode error is the decoder's only error.
        self.0.decode(buf).map_err(|e| {
            Status::invalid_argument(format!(
                "request is not a valid protobuf message: {}",
                e.message()
            ))
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}
