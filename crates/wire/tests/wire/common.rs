//! Fixtures: the core's golden vectors, and a generic round trip through protobuf bytes.

use daoli_protocol::codec::{ChainId, Hash32, hex_array};
use daoli_wire::WireError;
use prost::Message;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt::Debug;

pub fn vector(name: &str) -> Value {
    let path = format!("{}/../protocol/vectors/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("vector JSON")
}

/// A core object from its JSON in a vector file (the core's serde).
pub fn core<T: DeserializeOwned>(v: &Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
}

pub fn h(v: &Value) -> Hash32 {
    Hash32(hex_array(v.as_str().expect("hex string")).expect("32 bytes"))
}

/// The chain every vector is signed for.
pub fn chain() -> ChainId {
    h(&vector("genesis")["chain_id"])
}

/// Core -> protobuf -> bytes -> protobuf -> core; the result equals the input.
pub fn rt<C, P>(c: &C) -> C
where
    C: TryFrom<P, Error = WireError> + PartialEq + Debug,
    P: for<'a> From<&'a C> + Message + Default + PartialEq + Debug,
{
    let p = P::from(c);
    let bytes = p.encode_to_vec();
    let back = P::decode(bytes.as_slice()).expect("decodes");
    assert_eq!(back, p, "protobuf round trip");
    let c2 = C::try_from(back).expect("converts back");
    assert_eq!(&c2, c, "core round trip");
    c2
}

/// Converting `p`, after `mutate`, gives `want`.
pub fn refuses<C, P>(p: &P, mutate: impl FnOnce(&mut P), want: WireError)
where
    C: TryFrom<P, Error = WireError> + Debug,
    P: Clone,
{
    let mut p = p.clone();
    mutate(&mut p);
    assert_eq!(C::try_from(p).expect_err("must be refused"), want);
}

pub fn len(field: &'static str, expected: usize, got: usize) -> WireError {
    WireError::Length { field, expected, got }
}

pub fn missing(field: &'static str) -> WireError {
    WireError::Missing { field }
}

pub fn too_many(field: &'static str, got: usize, limit: usize) -> WireError {
    WireError::TooMany { field, got, limit }
}
