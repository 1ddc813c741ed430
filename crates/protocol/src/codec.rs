//! Canonical bytes: fixed big-endian layouts with a length-prefixed domain tag first.
//! Hashes and signatures are always computed over these bytes, never over wire (protobuf) bytes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    pub const ZERO: Hash32 = Hash32([0; 32]);

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// First 8 bytes as a big-endian integer (used for routing and sampling).
    pub fn prefix_u64(&self) -> u64 {
        u64::from_be_bytes(self.0[..8].try_into().expect("8 bytes"))
    }

    /// Number of leading zero bits (the eased proof-of-work difficulty a hash meets).
    pub fn leading_zero_bits(&self) -> u32 {
        let mut n = 0;
        for b in self.0 {
            if b == 0 {
                n += 8;
            } else {
                n += b.leading_zeros();
                break;
            }
        }
        n
    }

    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", hex::encode(self.0))
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", hex::encode(self.0))
    }
}

impl Serialize for Hash32 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Hash32(hex_array(&s).map_err(serde::de::Error::custom)?))
    }
}

/// Decodes a hex string into a fixed-size array, with an error that names the expected length.
pub fn hex_array<const N: usize>(s: &str) -> Result<[u8; N], String> {
    let v = hex::decode(s).map_err(|e| format!("bad hex: {e}"))?;
    v.try_into()
        .map_err(|v: Vec<u8>| format!("expected {N} bytes, got {}", v.len()))
}

/// The chain id: the hash of the canonical genesis bytes (`Genesis::chain_id`). Every signed
/// preimage carries it.
pub type ChainId = Hash32;

/// Builder of canonical preimages.
#[derive(Debug, Default, Clone)]
pub struct Canon {
    buf: Vec<u8>,
}

impl Canon {
    /// Starts a preimage with its domain tag, e.g. `daoli/v2/lot`.
    pub fn new(tag: &str) -> Self {
        let mut c = Canon {
            buf: Vec::with_capacity(128),
        };
        c.bytes(tag.as_bytes());
        c
    }

    /// Starts a signed preimage: the domain tag, then the chain id, so that no signature made
    /// for one network verifies on another.
    pub fn signed(tag: &str, chain: &ChainId) -> Self {
        let mut c = Self::new(tag);
        c.h(chain);
        c
    }

    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Fixed-width 32-byte field (hashes, keys): no length prefix, the layout fixes the width.
    pub fn h(&mut self, h: &Hash32) -> &mut Self {
        self.buf.extend_from_slice(&h.0);
        self
    }
    pub fn fixed(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }
    /// Variable-length byte string: u32 length prefix.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.u32(u32::try_from(b.len()).expect("canonical field over 4 GiB"));
        self.buf.extend_from_slice(b);
        self
    }
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
    pub fn hash(&self) -> Hash32 {
        sha256(&self.buf)
    }
}

pub fn sha256(b: &[u8]) -> Hash32 {
    Hash32(Sha256::digest(b).into())
}

/// Domain tags, one per kind of preimage.
pub mod tag {
    pub const TX: &str = "daoli/v2/tx";
    pub const LOT: &str = "daoli/v2/lot";
    pub const LUCK: &str = "daoli/v2/luck";
    pub const SEED: &str = "daoli/v2/seed";
    pub const VOTE: &str = "daoli/v2/vote";
    pub const BATCH: &str = "daoli/v2/batch";
    pub const MICROBLOCK: &str = "daoli/v2/microblock";
    pub const TREE: &str = "daoli/v2/tree";
    pub const BLOCK: &str = "daoli/v2/block";
    pub const HEADER: &str = "daoli/v2/header";
    pub const DRAW: &str = "daoli/v2/draw";
    pub const TICKET: &str = "daoli/v2/ticket";
    pub const ROUTE: &str = "daoli/v2/route";
    pub const MERKLE_LEAF: &str = "daoli/v2/merkle-leaf";
    pub const MERKLE_NODE: &str = "daoli/v2/merkle-node";
    pub const ACCOUNT: &str = "daoli/v2/account";
    pub const STATE: &str = "daoli/v2/state";
    pub const ROUND: &str = "daoli/v2/lottery-round";
    pub const EVIDENCE: &str = "daoli/v2/evidence";
    pub const QC: &str = "daoli/v2/qc";
    pub const PROPOSAL: &str = "daoli/v2/proposal";
    pub const STATEMENT: &str = "daoli/v2/statement";
    pub const TX_ID: &str = "daoli/v2/tx-id";
    pub const LOT_ID: &str = "daoli/v2/lot-id";
    pub const GENESIS: &str = "daoli/v2/genesis";
    pub const SEED_FALLBACK: &str = "daoli/v2/seed-fallback";
    pub const DELAY: &str = "daoli/v2/delay";
    pub const DELAY_PROOF: &str = "daoli/v2/delay-proof";
    /// Local cache key of a verified seed (never signed or hashed into consensus data).
    pub const SEED_CACHE: &str = "daoli/v2/seed-cache";
    pub const DATACENTER: &str = "daoli/v2/datacenter";
    pub const BATCH_ID: &str = "daoli/v2/batch-id";
    pub const MICRO_ID: &str = "daoli/v2/microblock-id";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_is_length_prefixed_and_fields_big_endian() {
        let mut c = Canon::new("ab");
        c.u32(1).u64(2).bytes(b"xyz");
        assert_eq!(
            c.finish(),
            vec![
                0, 0, 0, 2, b'a', b'b', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, b'x', b'y', b'z'
            ]
        );
    }

    #[test]
    fn domain_tags_separate_equal_payloads() {
        let mut a = Canon::new(tag::LOT);
        a.u64(7);
        let mut b = Canon::new(tag::TX);
        b.u64(7);
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn leading_zero_bits_counts_across_bytes() {
        let mut h = [0xffu8; 32];
        h[0] = 0;
        h[1] = 0b0001_0000;
        assert_eq!(Hash32(h).leading_zero_bits(), 11);
        assert_eq!(Hash32::ZERO.leading_zero_bits(), 256);
    }

    #[test]
    fn hex_array_rejects_wrong_length() {
        assert!(hex_array::<4>("0011").is_err());
        assert_eq!(hex_array::<2>("0011").unwrap(), [0, 0x11]);
    }
}
