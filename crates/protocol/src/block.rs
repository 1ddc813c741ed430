//! Lineup addresses, batches, MicroBlocks and blocks.

use crate::codec::{Canon, ChainId, Hash32, tag};
use crate::crypto::{Keypair, PublicKey, SigError, Signature, verify_batch_find};
use crate::delay::DelayProof;
use crate::lot::{Lot, tree_hash};
use crate::merkle;
use crate::statement::{Evidence, Kind, Said, Slot};
use crate::tx::{Transaction, TxError};
use crate::vote::{Qc, Vote};
use crate::vrf::VrfProof;
use serde::{Deserialize, Serialize};

/// A lineup address `(h, slot)`: slot 0 is the leader, 1..=M the backups, the rest payroll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LineupAddr {
    pub height: u64,
    pub slot: u32,
}

/// The payroll slot a sender routes to: `H(sender) mod P`.
pub fn route_slot(sender: &PublicKey, payroll: usize) -> u32 {
    let mut c = Canon::new(tag::ROUTE);
    c.fixed(&sender.0);
    (c.hash().prefix_u64() % payroll as u64) as u32
}

/// Index into a tree of payroll slot `s` (payroll slots follow the leader and backups).
pub fn payroll_index(backups: usize, slot: u32) -> usize {
    1 + backups + slot as usize
}

/// Slots a client tries in order: `s, s+1, ...` over the payroll entries the tree has.
pub fn route_order(sender: &PublicKey, payroll: usize) -> impl Iterator<Item = u32> {
    let s = route_slot(sender, payroll);
    (0..payroll as u32).map(move |i| (s + i) % payroll as u32)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The cycle the buffer served (payroll of block `cycle - 1`).
    pub cycle: u64,
    pub slot: u32,
    pub txs: Vec<Transaction>,
    pub buffer_pk: PublicKey,
    pub sig: Signature,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("batch is {size} bytes, limit {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("batch tx {0}: {1}")]
    Tx(usize, TxError),
    #[error("batch tx {0}: bad signature")]
    TxSignature(usize),
    #[error("batch signature: {0}")]
    Signature(SigError),
    #[error("batch signer is not the sponsor of lineup address ({0}, {1})")]
    WrongBuffer(u64, u32),
    #[error("batch repeats a transaction")]
    DuplicateTx,
}

impl Batch {
    pub fn tx_root(&self) -> Hash32 {
        merkle::root(&self.txs.iter().map(|t| t.hash()).collect::<Vec<_>>())
    }
    /// `H("daoli/v2/batch" || u64 cycle || u32 slot || merkle_root(tx ids))`.
    pub fn digest(&self) -> Hash32 {
        let mut c = Canon::new(tag::BATCH);
        c.u64(self.cycle).u32(self.slot).h(&self.tx_root());
        c.hash()
    }
    /// `H("daoli/v2/batch-id" || digest || buffer_pk || sig)`: the key of the verified-batch
    /// cache, covering the signature too (rule 7).
    pub fn id(&self) -> Hash32 {
        self.id_of(&self.digest())
    }
    /// [`Batch::id`] from the batch's digest, computed once by the caller (the digest hashes
    /// every transaction).
    pub fn id_of(&self, digest: &Hash32) -> Hash32 {
        let mut c = Canon::new(tag::BATCH_ID);
        c.h(digest).fixed(&self.buffer_pk.0).fixed(&self.sig.0);
        c.hash()
    }
    /// One batch per buffer key and lineup address `(cycle, slot)`.
    pub fn slot_of(&self) -> Slot {
        Slot::new(Kind::Batch, self.buffer_pk, self.cycle, 0, self.slot)
    }
    pub fn said(&self) -> Said {
        Said {
            content: self.digest(),
            sig: self.sig,
        }
    }
    pub fn seal(key: &Keypair, chain: &ChainId, cycle: u64, slot: u32, txs: Vec<Transaction>) -> Self {
        let mut b = Batch {
            cycle,
            slot,
            txs,
            buffer_pk: key.public(),
            sig: Signature::default(),
        };
        b.sig = b.slot_of().sign(key, chain, &b.digest());
        b
    }
    /// Evidence if the same buffer key signed another batch for the same lineup address.
    pub fn evidence(&self, other: &Batch) -> Option<Evidence> {
        Evidence::conflict((self.slot_of(), self.said()), (other.slot_of(), other.said()))
    }
    pub fn size(&self) -> usize {
        self.txs.iter().map(|t| t.size()).sum()
    }

    /// Checks limits, the buffer's signature, and every transaction signature in one batch
    /// verification. `expected_buffer` is the sponsor of `(cycle - 1, slot)`.
    pub fn validate(
        &self,
        chain: &ChainId,
        max_tx: usize,
        max_batch: usize,
        expected_buffer: &PublicKey,
    ) -> Result<Hash32, BatchError> {
        self.validate_digest(self.digest(), chain, max_tx, max_batch, expected_buffer)
    }

    /// [`Batch::validate`] with the batch's digest computed once by the caller.
    pub(crate) fn validate_digest(
        &self,
        d: Hash32,
        chain: &ChainId,
        max_tx: usize,
        max_batch: usize,
        expected_buffer: &PublicKey,
    ) -> Result<Hash32, BatchError> {
        if self.buffer_pk != *expected_buffer {
            return Err(BatchError::WrongBuffer(self.cycle.saturating_sub(1), self.slot));
        }
        let size = self.size();
        if size > max_batch {
            return Err(BatchError::TooLarge { size, limit: max_batch });
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, t) in self.txs.iter().enumerate() {
            t.check_size(max_tx).map_err(|e| BatchError::Tx(i, e))?;
            if !seen.insert((t.sender, t.nonce, t.sig.0)) {
                return Err(BatchError::DuplicateTx);
            }
        }
        self.slot_of()
            .verify(chain, &d, &self.sig)
            .map_err(BatchError::Signature)?;
        let msgs: Vec<Vec<u8>> = self.txs.iter().map(|t| t.signing_bytes(chain)).collect();
        let items: Vec<_> = self
            .txs
            .iter()
            .zip(&msgs)
            .map(|(t, m)| (t.sender, m.as_slice(), t.sig))
            .collect();
        verify_batch_find(&items).map_err(|(i, _)| BatchError::TxSignature(i))?;
        Ok(d)
    }
}

/// A batch reference in a MicroBlock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BatchRef {
    pub cycle: u64,
    pub slot: u32,
    pub digest: Hash32,
}

/// MicroBlock `h`: the batch digests the leader of `h-1` (or a backup) holds for cycle `h`,
/// plus the certificate of block `h-1` and equivocation evidence. The QC of `h-1` fixes its
/// certified timestamp for every node (rule 12); the prevotes for its decided value in the
/// decided round pay the seats that cast them (rule 11). Both sit here, not in the block,
/// because the MicroBlock has one producer: trustees that hold the same lots and MicroBlock
/// build the same block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MicroBlock {
    pub height: u64,
    /// Lineup rank (0 = leader, 1..=M backups) of block `h-1` whose sponsor produced it.
    pub producer_rank: u32,
    pub producer_pk: PublicKey,
    pub batches: Vec<BatchRef>,
    pub prev_qc: Option<Qc>,
    /// Prevotes for `prev_qc`'s value in its round, one per seat; empty without `prev_qc`.
    pub prev_prevotes: Vec<Vote>,
    pub evidence: Vec<Evidence>,
    pub sig: Signature,
}

impl MicroBlock {
    /// `H("daoli/v2/microblock" || u64 height || u32 producer_rank || producer_pk || u32 n ||
    /// (u64 cycle || u32 slot || digest)* || qc_hash or zero || u32 k || (voter || u64 timestamp
    /// || sig)* of the prevotes || u32 m || evidence hashes)`.
    pub fn hash(&self) -> Hash32 {
        let mut c = Canon::new(tag::MICROBLOCK);
        c.u64(self.height).u32(self.producer_rank).fixed(&self.producer_pk.0);
        c.u32(self.batches.len() as u32);
        for b in &self.batches {
            c.u64(b.cycle).u32(b.slot).h(&b.digest);
        }
        c.h(&self.prev_qc.as_ref().map(|q| q.hash()).unwrap_or(Hash32::ZERO));
        crate::vote::hash_votes(&mut c, &self.prev_prevotes);
        c.u32(self.evidence.len() as u32);
        for e in &self.evidence {
            c.h(&e.hash());
        }
        c.hash()
    }
    /// One MicroBlock per producer key and height.
    pub fn slot(&self) -> Slot {
        Slot::new(Kind::Micro, self.producer_pk, self.height, 0, 0)
    }
    pub fn sign(mut self, key: &Keypair, chain: &ChainId) -> Self {
        self.sig = self.slot().sign(key, chain, &self.hash());
        self
    }
    pub fn verify_sig(&self, chain: &ChainId) -> Result<(), SigError> {
        self.slot().verify(chain, &self.hash(), &self.sig)
    }
    /// `H("daoli/v2/microblock-id" || hash || sig)`: the cache key, covering the signature.
    pub fn id(&self) -> Hash32 {
        let mut c = Canon::new(tag::MICRO_ID);
        c.h(&self.hash()).fixed(&self.sig.0);
        c.hash()
    }
    /// Evidence if the same producer key signed another MicroBlock for the same height.
    pub fn evidence(&self, other: &MicroBlock) -> Option<Evidence> {
        let said = |m: &MicroBlock| Said {
            content: m.hash(),
            sig: m.sig,
        };
        Evidence::conflict((self.slot(), said(self)), (other.slot(), said(other)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub height: u64,
    pub prev_hash: Hash32,
    pub seed: Hash32,
    /// The VRF proof of the datacenter at lineup rank 0 of block `h-1`; `None` when the seed is
    /// the fallback `H("daoli/v2/seed-fallback" || chain || seed_{h-1} || h)` (rule 4).
    pub vrf_proof: Option<VrfProof>,
    /// State root after executing block `h-1`.
    pub prev_state_root: Hash32,
    /// The lottery delay over `seed_{h-E}` when a round is drawn at `h` (rule 5), else `None`.
    pub delay: Option<DelayProof>,
}

impl Header {
    /// `H("daoli/v2/header" || u64 height || prev_hash || seed || u8 1 || proof (80) | u8 0 ||
    /// prev_state_root || u8 0 | u8 1 || delay proof hash)`.
    pub fn hash(&self) -> Hash32 {
        let mut c = Canon::new(tag::HEADER);
        c.u64(self.height).h(&self.prev_hash).h(&self.seed);
        match &self.vrf_proof {
            Some(p) => c.u8(1).fixed(&p.0),
            None => c.u8(0),
        };
        c.h(&self.prev_state_root);
        match &self.delay {
            Some(d) => c.u8(1).h(&d.hash()),
            None => c.u8(0),
        };
        c.hash()
    }
}

/// Block `h` = header + KeyBlockTree + MicroBlock. Its QC is kept beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub header: Header,
    pub tree: Vec<Lot>,
    pub micro: Option<MicroBlock>,
}

impl Block {
    /// The digests of the batches its MicroBlock names, in order (none without one).
    pub fn batch_digests(&self) -> impl Iterator<Item = Hash32> + '_ {
        self.micro.iter().flat_map(|m| m.batches.iter().map(|r| r.digest))
    }
    /// `H("daoli/v2/block" || H(header) || H(tree) || H(microblock) or zero)`.
    pub fn hash(&self) -> Hash32 {
        let mut c = Canon::new(tag::BLOCK);
        c.h(&self.header.hash()).h(&tree_hash(&self.tree)).h(&self
            .micro
            .as_ref()
            .map(|m| m.hash())
            .unwrap_or(Hash32::ZERO));
        c.hash()
    }
    pub fn height(&self) -> u64 {
        self.header.height
    }
    pub fn leader(&self) -> &Lot {
        &self.tree[0]
    }
    /// The lot at a lineup slot of this block (`slot` counts leader and backups too).
    pub fn lineup(&self, slot: usize) -> Option<&Lot> {
        self.tree.get(slot)
    }
}

/// A certified block: block + QC, as served to catching-up peers and verifiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertifiedBlock {
    pub block: Block,
    pub qc: Qc,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::TxKind;
    const C: ChainId = Hash32([0xc4; 32]);

    #[test]
    fn routing_is_stable_and_wraps() {
        let pk = Keypair::from_label("s").public();
        let s = route_slot(&pk, 16);
        assert!(s < 16);
        let order: Vec<u32> = route_order(&pk, 16).collect();
        assert_eq!(order[0], s);
        assert_eq!(order[1], (s + 1) % 16);
        assert_eq!(order.len(), 16);
    }

    #[test]
    fn batch_seal_validate_and_reject() {
        let buf = Keypair::from_label("buffer");
        let k = Keypair::from_label("alice");
        let to = Keypair::from_label("bob").public();
        let txs: Vec<_> = (0..5)
            .map(|n| Transaction::new(&k, &C, n, 1, TxKind::Transfer { to, amount: 1 }, vec![]))
            .collect();
        let b = Batch::seal(&buf, &C, 4, 2, txs);
        let d = b.validate(&C, 4096, 1 << 20, &buf.public()).unwrap();
        assert_eq!(d, b.digest());
        assert!(matches!(
            b.validate(&C, 4096, 10, &buf.public()),
            Err(BatchError::TooLarge { .. })
        ));
        assert!(matches!(
            b.validate(&C, 4096, 1 << 20, &to),
            Err(BatchError::WrongBuffer(3, 2))
        ));
        let mut bad = b.clone();
        bad.txs[3].fee = 9;
        // The batch signature covers the tx root, so a changed tx breaks it first.
        assert!(matches!(
            bad.validate(&C, 4096, 1 << 20, &buf.public()),
            Err(BatchError::Signature(_))
        ));
        let mut resealed = bad.clone();
        resealed = Batch::seal(&buf, &C, resealed.cycle, resealed.slot, resealed.txs);
        assert_eq!(
            resealed.validate(&C, 4096, 1 << 20, &buf.public()),
            Err(BatchError::TxSignature(3))
        );
        let mut dup = b.txs.clone();
        dup.push(b.txs[0].clone());
        let dup = Batch::seal(&buf, &C, 4, 2, dup);
        assert_eq!(
            dup.validate(&C, 4096, 1 << 20, &buf.public()),
            Err(BatchError::DuplicateTx)
        );
        // Two batches for one lineup address by one key are evidence against it.
        let e = b.evidence(&dup).expect("conflict");
        e.verify(&C).unwrap();
        assert_eq!(b.evidence(&b.clone()), None);
    }
}
