//! The seed chain (rule 4): `seed_h` has exactly two possible values. Either the VRF output of
//! the datacenter at lineup rank 0 of block `h-1`, on input
//! `Canon::signed("daoli/v2/seed", chain) || seed_{h-1} || u64 h`, or, only when that was not
//! heard in time, the fallback `H("daoli/v2/seed-fallback" || chain || seed_{h-1} || u64 h)`
//! that everyone can compute. A withholding producer thus chooses between two seeds at most.

use crate::codec::{Canon, ChainId, Hash32, tag};
use crate::crypto::{Keypair, PublicKey};
use crate::vrf::{self, VrfError, VrfProof};
use serde::{Deserialize, Serialize};

/// The VRF input for height `h`.
pub fn alpha(chain: &ChainId, prev_seed: &Hash32, height: u64) -> Vec<u8> {
    let mut c = Canon::signed(tag::SEED, chain);
    c.h(prev_seed).u64(height);
    c.finish()
}

/// The fallback seed of height `h`, used when the rank-0 producer's seed was not heard in time.
pub fn fallback(chain: &ChainId, prev_seed: &Hash32, height: u64) -> Hash32 {
    let mut c = Canon::signed(tag::SEED_FALLBACK, chain);
    c.h(prev_seed).u64(height);
    c.hash()
}

fn seed_of(beta: &[u8; 64]) -> Hash32 {
    Hash32(beta[..32].try_into().expect("32 bytes"))
}

/// A seed published with its proof by the VRF key of the datacenter at lineup rank 0 of
/// block `h-1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedAnnouncement {
    pub height: u64,
    pub producer: PublicKey,
    pub seed: Hash32,
    pub proof: VrfProof,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    #[error("seed VRF: {0}")]
    Vrf(#[from] VrfError),
    #[error("seed does not equal the VRF output")]
    Mismatch,
    #[error("seed producer {0} is not the VRF key of lineup rank 0 of the previous block")]
    WrongProducer(String),
    #[error("fallback seed does not equal H(tag || chain || seed_(h-1) || h)")]
    Fallback,
}

impl SeedAnnouncement {
    pub fn produce(key: &Keypair, chain: &ChainId, prev_seed: &Hash32, height: u64) -> Self {
        let (beta, proof) = vrf::prove(key, &alpha(chain, prev_seed, height));
        SeedAnnouncement {
            height,
            producer: key.public(),
            seed: seed_of(&beta),
            proof,
        }
    }

    /// Checks the proof; `expected_producer` is the VRF key of rank 0 of block `h-1`.
    pub fn verify(&self, chain: &ChainId, prev_seed: &Hash32, expected_producer: &PublicKey) -> Result<(), SeedError> {
        if self.producer != *expected_producer {
            return Err(SeedError::WrongProducer(self.producer.short()));
        }
        verify_seed(
            chain,
            &self.producer,
            prev_seed,
            self.height,
            &self.seed,
            Some(&self.proof),
        )
    }
}

/// Checks a header's seed: with a proof, the producer's VRF output; without, the fallback.
pub fn verify_seed(
    chain: &ChainId,
    producer: &PublicKey,
    prev_seed: &Hash32,
    height: u64,
    seed: &Hash32,
    proof: Option<&VrfProof>,
) -> Result<(), SeedError> {
    let Some(proof) = proof else {
        return if *seed == fallback(chain, prev_seed, height) {
            Ok(())
        } else {
            Err(SeedError::Fallback)
        };
    };
    let beta = vrf::verify(&producer.0, &alpha(chain, prev_seed, height), proof)?;
    if seed_of(&beta) != *seed {
        return Err(SeedError::Mismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: ChainId = Hash32([0xc4; 32]);

    #[test]
    fn seed_chain_links_and_is_unique() {
        let k = Keypair::from_label("leader");
        let s0 = Hash32([0; 32]);
        let a1 = SeedAnnouncement::produce(&k, &C, &s0, 1);
        a1.verify(&C, &s0, &k.public()).unwrap();
        // Unique output: the same producer cannot make another seed for the same input.
        assert_eq!(SeedAnnouncement::produce(&k, &C, &s0, 1).seed, a1.seed);
        let a2 = SeedAnnouncement::produce(&k, &C, &a1.seed, 2);
        assert_ne!(a2.seed, a1.seed);
        assert!(a2.verify(&C, &s0, &k.public()).is_err());
        let mut forged = a1.clone();
        forged.seed = Hash32([1; 32]);
        assert_eq!(forged.verify(&C, &s0, &k.public()), Err(SeedError::Mismatch));
        let other = Keypair::from_label("other").public();
        assert!(matches!(a1.verify(&C, &s0, &other), Err(SeedError::WrongProducer(..))));
        assert!(
            a1.verify(&Hash32([1; 32]), &s0, &k.public()).is_err(),
            "bound to the chain"
        );
    }

    #[test]
    fn exactly_two_seeds_are_valid_per_height() {
        // v1 accepted the VRF seed of any lineup rank: one height had 6 valid seeds. v2 accepts
        // the rank-0 producer's VRF output or the fixed fallback, nothing else.
        let producer = Keypair::from_label("rank0");
        let s0 = Hash32([3; 32]);
        let vrf_seed = SeedAnnouncement::produce(&producer, &C, &s0, 5);
        let fb = fallback(&C, &s0, 5);
        verify_seed(&C, &producer.public(), &s0, 5, &vrf_seed.seed, Some(&vrf_seed.proof)).unwrap();
        verify_seed(&C, &producer.public(), &s0, 5, &fb, None).unwrap();
        assert_ne!(vrf_seed.seed, fb);
        // A backup's VRF seed, the fallback with a proof attached, or any other value: refused.
        let backup = SeedAnnouncement::produce(&Keypair::from_label("rank1"), &C, &s0, 5);
        assert!(verify_seed(&C, &producer.public(), &s0, 5, &backup.seed, Some(&backup.proof)).is_err());
        assert!(verify_seed(&C, &producer.public(), &s0, 5, &fb, Some(&vrf_seed.proof)).is_err());
        assert_eq!(
            verify_seed(&C, &producer.public(), &s0, 5, &backup.seed, None),
            Err(SeedError::Fallback)
        );
    }
}
