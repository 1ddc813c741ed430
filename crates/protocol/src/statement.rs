//! Signed statements: the one shape every signature in the protocol takes, and the evidence
//! that two of them conflict.
//!
//! A statement says "signer, speaking as `kind`, at `(height, round, sub, subject)`, says
//! `content`". Its signed preimage is
//! `Canon::signed("daoli/v2/statement", chain) || u8 kind || signer || u64 height || u32 round
//! || u32 sub || subject (32) || content (32)`. One key may say only one `content` per
//! `(kind, height, round, sub, subject)`; two different ones signed by the same key are
//! evidence, whatever the kind, so one verifier checks evidence of every kind.

use crate::codec::{Canon, ChainId, Hash32, tag};
use crate::crypto::{Keypair, PublicKey, SigError, Signature, verify};
use serde::{Deserialize, Serialize};

/// What a statement is about. The numbers are part of the signed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum Kind {
    /// A trustee's prevote or precommit: `sub` is the step (0 prevote, 1 precommit).
    Vote = 1,
    /// A proposal of a block for `(height, round)`.
    Proposal = 2,
    /// A MicroBlock for `height`.
    Micro = 3,
    /// A kernel buffer's batch for lineup address `(height = cycle, sub = slot)`.
    Batch = 4,
    /// A miner's lot for `height`.
    LotMiner = 5,
    /// A sponsor's countersignature of a lot for `height` by miner `subject`.
    LotSponsor = 6,
}

impl Kind {
    pub fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Vote,
            2 => Kind::Proposal,
            3 => Kind::Micro,
            4 => Kind::Batch,
            5 => Kind::LotMiner,
            6 => Kind::LotSponsor,
            _ => return None,
        })
    }
}

/// The slot a statement fills: a key may fill each slot with one content only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Slot {
    pub kind: Kind,
    pub signer: PublicKey,
    pub height: u64,
    pub round: u32,
    pub sub: u32,
    pub subject: PublicKey,
}

impl Slot {
    pub fn new(kind: Kind, signer: PublicKey, height: u64, round: u32, sub: u32) -> Self {
        Slot {
            kind,
            signer,
            height,
            round,
            sub,
            subject: PublicKey([0; 32]),
        }
    }

    /// The bytes the signer signs for `content` in this slot.
    pub fn signing_bytes(&self, chain: &ChainId, content: &Hash32) -> Vec<u8> {
        let mut c = Canon::signed(tag::STATEMENT, chain);
        c.u8(self.kind as u8)
            .fixed(&self.signer.0)
            .u64(self.height)
            .u32(self.round)
            .u32(self.sub)
            .fixed(&self.subject.0)
            .h(content);
        c.finish()
    }

    /// Signs `content` in this slot (a key other than the slot's signer makes a signature that
    /// does not verify).
    pub fn sign(&self, key: &Keypair, chain: &ChainId, content: &Hash32) -> Signature {
        key.sign(&self.signing_bytes(chain, content))
    }

    pub fn verify(&self, chain: &ChainId, content: &Hash32, sig: &Signature) -> Result<(), SigError> {
        verify(&self.signer, &self.signing_bytes(chain, content), sig)
    }

    /// Canonical bytes of the slot (without chain or content), for hashing evidence.
    fn put(&self, c: &mut Canon) {
        c.u8(self.kind as u8)
            .fixed(&self.signer.0)
            .u64(self.height)
            .u32(self.round)
            .u32(self.sub)
            .fixed(&self.subject.0);
    }
}

/// One signed statement, as carried in evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Said {
    pub content: Hash32,
    pub sig: Signature,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    #[error("the two statements say the same thing: no conflict")]
    NoConflict,
    #[error("evidence statement {0}: {1}")]
    Signature(u8, SigError),
    #[error("round-0 proposals only carry a seat's own view, which may change: they are not evidence")]
    OwnView,
}

/// Two different contents signed by one key for one slot: proof of equivocation. Only the
/// slot, the two contents and the two signatures are kept, so evidence of every kind is the
/// same few bytes and checks the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub slot: Slot,
    pub a: Said,
    pub b: Said,
}

impl Evidence {
    /// Orders the pair (lower content first) so the same conflict always makes the same evidence.
    pub fn new(slot: Slot, x: Said, y: Said) -> Self {
        let (a, b) = if x.content <= y.content { (x, y) } else { (y, x) };
        Evidence { slot, a, b }
    }

    /// Evidence if two statements fill one slot with different contents: the one rule behind
    /// every kind of equivocation (votes, proposals, MicroBlocks, batches, countersignatures).
    pub fn conflict((slot, x): (Slot, Said), (other, y): (Slot, Said)) -> Option<Self> {
        (slot == other && x.content != y.content).then(|| Self::new(slot, x, y))
    }

    /// The key that signed both.
    pub fn offender(&self) -> PublicKey {
        self.slot.signer
    }

    pub fn hash(&self) -> Hash32 {
        let mut c = Canon::new(tag::EVIDENCE);
        self.slot.put(&mut c);
        c.h(&self.a.content)
            .fixed(&self.a.sig.0)
            .h(&self.b.content)
            .fixed(&self.b.sig.0);
        c.hash()
    }

    pub fn verify(&self, chain: &ChainId) -> Result<(), EvidenceError> {
        // A seat re-sends its own view when it stalls, restarts or hears a late seed: two
        // round-0 "proposals" by one seat are honest, and must not slash it.
        if self.slot.kind == Kind::Proposal && self.slot.round == 0 {
            return Err(EvidenceError::OwnView);
        }
        if self.a.content == self.b.content {
            return Err(EvidenceError::NoConflict);
        }
        self.slot
            .verify(chain, &self.a.content, &self.a.sig)
            .map_err(|e| EvidenceError::Signature(0, e))?;
        self.slot
            .verify(chain, &self.b.content, &self.b.sig)
            .map_err(|e| EvidenceError::Signature(1, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_bind_slot_chain_and_content() {
        let k = Keypair::from_label("signer");
        let chain = Hash32([1; 32]);
        let slot = Slot::new(Kind::Micro, k.public(), 9, 0, 0);
        let c = Hash32([5; 32]);
        let sig = slot.sign(&k, &chain, &c);
        slot.verify(&chain, &c, &sig).unwrap();
        assert!(slot.verify(&Hash32([2; 32]), &c, &sig).is_err(), "another network");
        assert!(slot.verify(&chain, &Hash32([6; 32]), &sig).is_err(), "another content");
        let other = Slot { height: 10, ..slot };
        assert!(other.verify(&chain, &c, &sig).is_err(), "another slot");
        let other = Slot {
            kind: Kind::Batch,
            ..slot
        };
        assert!(other.verify(&chain, &c, &sig).is_err(), "another kind");
    }

    #[test]
    fn evidence_needs_two_different_signed_contents() {
        let k = Keypair::from_label("signer");
        let chain = Hash32([1; 32]);
        let slot = Slot::new(Kind::Batch, k.public(), 4, 0, 2);
        let x = Said {
            content: Hash32([1; 32]),
            sig: slot.sign(&k, &chain, &Hash32([1; 32])),
        };
        let y = Said {
            content: Hash32([2; 32]),
            sig: slot.sign(&k, &chain, &Hash32([2; 32])),
        };
        let e = Evidence::new(slot, y, x);
        e.verify(&chain).unwrap();
        assert_eq!(e, Evidence::new(slot, x, y));
        assert_eq!(e.offender(), k.public());
        assert_eq!(Evidence::new(slot, x, x).verify(&chain), Err(EvidenceError::NoConflict));
        let mut forged = e.clone();
        forged.b.sig.0[0] ^= 1;
        assert!(matches!(forged.verify(&chain), Err(EvidenceError::Signature(1, _))));
        // Evidence made on one network is not evidence on another.
        assert!(e.verify(&Hash32([9; 32])).is_err());
        assert_eq!(Kind::from_u8(4), Some(Kind::Batch));
        assert_eq!(Kind::from_u8(0), None);
    }

    #[test]
    fn two_round_0_proposals_are_not_evidence() {
        // Found by the `handle` fuzz target: an honest seat that restarts mid-height builds and
        // signs a second, different own view for round 0. Such a pair verified as evidence, so
        // any Byzantine MicroBlock producer could have the honest seat slashed.
        let k = Keypair::from_label("seat");
        let chain = Hash32([1; 32]);
        let said = |slot: &Slot, c: u8| Said {
            content: Hash32([c; 32]),
            sig: slot.sign(&k, &chain, &Hash32([c; 32])),
        };
        let own_view = Slot::new(Kind::Proposal, k.public(), 8, 0, 0);
        let e = Evidence::new(own_view, said(&own_view, 1), said(&own_view, 2));
        assert_eq!(e.verify(&chain), Err(EvidenceError::OwnView));
        // From round 1 on, a proposal is one per proposer and round: two are evidence.
        let proposal = Slot { round: 1, ..own_view };
        let e = Evidence::new(proposal, said(&proposal, 1), said(&proposal, 2));
        assert_eq!(e.verify(&chain), Ok(()));
    }
}
