//! Ed25519 keys and signatures (ed25519-dalek), with batch verification.

use crate::codec::{Hash32, hex_array};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    #[error("public key is not a valid Ed25519 point")]
    BadKey,
    #[error("signature does not verify")]
    BadSignature,
    #[error("batch of {0} signatures does not verify")]
    BadBatch(usize),
}

/// An Ed25519 public key (node, sponsor, miner or account key).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    pub fn as_hash(&self) -> Hash32 {
        Hash32(self.0)
    }
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
    fn dalek(&self) -> Result<VerifyingKey, SigError> {
        VerifyingKey::from_bytes(&self.0).map_err(|_| SigError::BadKey)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pk:{}", self.short())
    }
}

/// An Ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

impl Default for Signature {
    fn default() -> Self {
        Signature([0; 64])
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sig:{}", hex::encode(&self.0[..4]))
    }
}

macro_rules! hex_serde {
    ($t:ty, $n:expr) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&hex::encode(self.0))
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok(Self(hex_array::<$n>(&s).map_err(serde::de::Error::custom)?))
            }
        }
    };
}
hex_serde!(PublicKey, 32);
hex_serde!(Signature, 64);

/// A signing key. Deterministic from a 32-byte seed so that simulations and vectors replay.
#[derive(Clone)]
pub struct Keypair {
    sk: SigningKey,
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({:?})", self.public())
    }
}

impl Keypair {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Keypair {
            sk: SigningKey::from_bytes(&seed),
        }
    }
    /// A key derived from a label, for tests, genesis fixtures and the simulator.
    pub fn from_label(label: &str) -> Self {
        Self::from_seed(crate::codec::sha256(label.as_bytes()).0)
    }
    pub fn public(&self) -> PublicKey {
        PublicKey(self.sk.verifying_key().to_bytes())
    }
    pub fn seed(&self) -> [u8; 32] {
        self.sk.to_bytes()
    }
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.sk.sign(msg).to_bytes())
    }
}

/// Verifies one signature. Uses strict verification: rejects small-order keys and
/// non-canonical encodings, so a signature has exactly one valid encoding.
pub fn verify(pk: &PublicKey, msg: &[u8], sig: &Signature) -> Result<(), SigError> {
    let vk = pk.dalek()?;
    let s = ed25519_dalek::Signature::from_bytes(&sig.0);
    vk.verify_strict(msg, &s).map_err(|_| SigError::BadSignature)
}

/// Verifies many signatures at once (about twice as fast per signature for large batches).
/// On failure the caller learns only that some signature is bad; callers that must name the
/// culprit fall back to [`verify`] one by one.
pub fn verify_batch(items: &[(PublicKey, &[u8], Signature)]) -> Result<(), SigError> {
    if items.is_empty() {
        return Ok(());
    }
    if items.len() == 1 {
        let (pk, m, s) = &items[0];
        return verify(pk, m, s);
    }
    let mut keys = Vec::with_capacity(items.len());
    let mut sigs = Vec::with_capacity(items.len());
    let mut msgs = Vec::with_capacity(items.len());
    for (pk, m, s) in items {
        let vk = pk.dalek()?;
        // Batch verification is not strict about weak keys; reject them here so that batch and
        // single verification accept exactly the same inputs.
        if vk.is_weak() {
            return Err(SigError::BadKey);
        }
        keys.push(vk);
        sigs.push(ed25519_dalek::Signature::from_bytes(&s.0));
        msgs.push(*m);
    }
    ed25519_dalek::verify_batch(&msgs, &sigs, &keys).map_err(|_| SigError::BadBatch(items.len()))
}

/// Verifies a batch and, if it fails, finds the first bad index.
pub fn verify_batch_find(items: &[(PublicKey, &[u8], Signature)]) -> Result<(), (usize, SigError)> {
    if verify_batch(items).is_ok() {
        return Ok(());
    }
    for (i, (pk, m, s)) in items.iter().enumerate() {
        verify(pk, m, s).map_err(|e| (i, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_reject_tampering() {
        let k = Keypair::from_label("alice");
        let sig = k.sign(b"hello");
        assert!(verify(&k.public(), b"hello", &sig).is_ok());
        assert_eq!(verify(&k.public(), b"hellp", &sig), Err(SigError::BadSignature));
        let other = Keypair::from_label("bob");
        assert!(verify(&other.public(), b"hello", &sig).is_err());
    }

    #[test]
    fn batch_accepts_good_and_names_bad() {
        let keys: Vec<_> = (0..8).map(|i| Keypair::from_label(&format!("k{i}"))).collect();
        let msgs: Vec<Vec<u8>> = (0..8).map(|i| vec![i as u8; 10]).collect();
        let mut items: Vec<_> = keys
            .iter()
            .zip(&msgs)
            .map(|(k, m)| (k.public(), m.as_slice(), k.sign(m)))
            .collect();
        assert!(verify_batch(&items).is_ok());
        items[5].2.0[0] ^= 1;
        assert!(verify_batch(&items).is_err());
        assert_eq!(verify_batch_find(&items).unwrap_err().0, 5);
    }

    #[test]
    fn rfc8032_test_1_signature() {
        // RFC 8032 section 7.1, TEST 1 (empty message).
        let k =
            Keypair::from_seed(hex_array("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap());
        assert_eq!(
            hex::encode(k.public().0),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex::encode(k.sign(b"").0),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }
}
