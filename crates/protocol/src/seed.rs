//! The VRF seed chain: `seed_h = VRF(producer, "daoli/v1/seed" || seed_{h-1} || h)`.

use crate::codec::{Canon, Hash32, tag};
use crate::crypto::{Keypair, PublicKey};
use crate::vrf::{self, VrfError, VrfProof};
use serde::{Deserialize, Serialize};

/// The VRF input for height `h`.
pub fn alpha(prev_seed: &Hash32, height: u64) -> Vec<u8> {
    let mut c = Canon::new(tag::SEED);
    c.h(prev_seed).u64(height);
    c.finish()
}

fn seed_of(beta: &[u8; 64]) -> Hash32 {
    Hash32(beta[..32].try_into().expect("32 bytes"))
}

/// A seed published with its proof by the sponsor at lineup `rank` of block `h-1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedAnnouncement {
    pub height: u64,
    pub rank: u32,
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
    #[error("seed producer {0} is not the sponsor of lineup rank {1} of the previous block")]
    WrongProducer(String, u32),
}

impl SeedAnnouncement {
    pub fn produce(key: &Keypair, prev_seed: &Hash32, height: u64, rank: u32) -> Self {
        let (beta, proof) = vrf::prove(key, &alpha(prev_seed, height));
        SeedAnnouncement {
            height,
            rank,
            producer: key.public(),
            seed: seed_of(&beta),
            proof,
        }
    }

    /// Checks the proof; `expected_producer` comes from the lineup of block `h-1`.
    pub fn verify(&self, prev_seed: &Hash32, expected_producer: &PublicKey) -> Result<(), SeedError> {
        if self.producer != *expected_producer {
            return Err(SeedError::WrongProducer(self.producer.short(), self.rank));
        }
        verify_seed(&self.producer, prev_seed, self.height, &self.seed, &self.proof)
    }
}

pub fn verify_seed(
    producer: &PublicKey,
    prev_seed: &Hash32,
    height: u64,
    seed: &Hash32,
    proof: &VrfProof,
) -> Result<(), SeedError> {
    let beta = vrf::verify(&producer.0, &alpha(prev_seed, height), proof)?;
    if seed_of(&beta) != *seed {
        return Err(SeedError::Mismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_chain_links_and_is_unique() {
        let k = Keypair::from_label("leader");
        let s0 = Hash32([0; 32]);
        let a1 = SeedAnnouncement::produce(&k, &s0, 1, 0);
        a1.verify(&s0, &k.public()).unwrap();
        // Unique output: the same producer cannot make another seed for the same input.
        assert_eq!(SeedAnnouncement::produce(&k, &s0, 1, 0).seed, a1.seed);
        let a2 = SeedAnnouncement::produce(&k, &a1.seed, 2, 0);
        assert_ne!(a2.seed, a1.seed);
        assert!(a2.verify(&s0, &k.public()).is_err());
        let mut forged = a1.clone();
        forged.seed = Hash32([1; 32]);
        assert_eq!(forged.verify(&s0, &k.public()), Err(SeedError::Mismatch));
        let other = Keypair::from_label("other").public();
        assert!(matches!(a1.verify(&s0, &other), Err(SeedError::WrongProducer(..))));
    }
}
