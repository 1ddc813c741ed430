//! Why a message off the wire was refused. Every variant names the field (`Type.field`, in the
//! protobuf names) or the message it is about.

use daoli_protocol::codec::Hash32;
use daoli_protocol::crypto::SigError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("{field}: expected {expected} bytes, got {got}")]
    Length {
        field: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{field}: required, missing")]
    Missing { field: &'static str },
    /// An enum value, or a oneof field number, this version does not know.
    #[error("{field}: unknown value {value}")]
    UnknownEnum { field: &'static str, value: i64 },
    #[error("{field}: {got} entries, limit {limit}")]
    TooMany {
        field: &'static str,
        got: usize,
        limit: usize,
    },
    #[error("{field}: {value} is out of range: {why}")]
    OutOfRange {
        field: &'static str,
        value: u64,
        why: &'static str,
    },
    /// Raw bytes over a limit of [`crate::limits`], refused before they are decoded; or a
    /// canonical size (transaction, batch) over the largest any genesis allows.
    #[error("{what} is {got} bytes, limit {limit}")]
    Oversized {
        what: &'static str,
        got: usize,
        limit: usize,
    },
    /// Not valid protobuf for the expected message (the text names the field where prost can).
    #[error("malformed protobuf: {0}")]
    Protobuf(String),
    #[error("envelope is for chain {got}, this node is on chain {expected}")]
    WrongChain { expected: Hash32, got: Hash32 },
    #[error("envelope signature: {0}")]
    BadSignature(SigError),
    /// `node::Msg::Tx` travels through the client service, never between datacenters.
    #[error("node::Msg::{0} is not a peer message")]
    NotPeer(&'static str),
}

impl From<prost::DecodeError> for WireError {
    fn from(e: prost::DecodeError) -> Self {
        WireError::Protobuf(e.to_string())
    }
}
