//! Drawing of lots: eased proof-of-work lots (KeyBlocks), luck ranking, and the own-view
//! KeyBlockTree of a trustee.

use crate::codec::{Canon, Hash32, tag};
use crate::crypto::{Keypair, PublicKey, SigError, Signature, verify};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const MAX_ENDPOINT_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lot {
    pub height: u64,
    pub prev_hash: Hash32,
    pub miner_pk: PublicKey,
    pub sponsor_pk: PublicKey,
    pub sponsor_endpoint: String,
    pub nonce: u64,
    pub sig: Signature,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LotError {
    #[error("lot hash {hash} has {bits} leading zero bits, the target needs {need}")]
    AboveTarget { hash: String, bits: u32, need: u32 },
    #[error("lot signature: {0}")]
    Signature(#[from] SigError),
    #[error("sponsor endpoint is {0} bytes, limit {MAX_ENDPOINT_LEN}")]
    EndpointTooLong(usize),
    #[error("miner {0} already drew a lot for height {1} (spam evidence kept)")]
    SecondLot(String, u64),
    #[error("lot sponsor {0} is barred at this height")]
    Barred(String),
}

pub fn lot_hash(height: u64, prev: &Hash32, miner: &PublicKey, sponsor: &PublicKey, nonce: u64) -> Hash32 {
    let mut c = Canon::new(tag::LOT);
    c.u64(height).h(prev).fixed(&miner.0).fixed(&sponsor.0).u64(nonce);
    c.hash()
}

impl Lot {
    pub fn hash(&self) -> Hash32 {
        lot_hash(
            self.height,
            &self.prev_hash,
            &self.miner_pk,
            &self.sponsor_pk,
            self.nonce,
        )
    }

    /// Stateless validity: size, eased PoW, miner signature over the lot hash.
    pub fn validate(&self, pow_bits: u32) -> Result<Hash32, LotError> {
        if self.sponsor_endpoint.len() > MAX_ENDPOINT_LEN {
            return Err(LotError::EndpointTooLong(self.sponsor_endpoint.len()));
        }
        let h = self.hash();
        let bits = h.leading_zero_bits();
        if bits < pow_bits {
            return Err(LotError::AboveTarget {
                hash: h.short(),
                bits,
                need: pow_bits,
            });
        }
        verify(&self.miner_pk, &h.0, &self.sig)?;
        Ok(h)
    }

    /// `rank = H("daoli/v1/luck" || seed || lot_hash)`; lower is luckier.
    pub fn rank(&self, seed: &Hash32) -> Hash32 {
        rank(seed, &self.hash())
    }
}

pub fn rank(seed: &Hash32, lot_hash: &Hash32) -> Hash32 {
    let mut c = Canon::new(tag::LUCK);
    c.h(seed).h(lot_hash);
    c.hash()
}

/// The template a miner grinds nonces over.
#[derive(Debug, Clone)]
pub struct LotTemplate {
    pub height: u64,
    pub prev_hash: Hash32,
    pub sponsor_pk: PublicKey,
    pub sponsor_endpoint: String,
}

/// Tries `tries` nonces from `start`; returns a signed lot at the first hash under the target.
/// Pure: the caller supplies the starting nonce (its randomness) and the work budget.
pub fn mine(miner: &Keypair, t: &LotTemplate, pow_bits: u32, start: u64, tries: u64) -> Option<Lot> {
    let miner_pk = miner.public();
    for i in 0..tries {
        let nonce = start.wrapping_add(i);
        let h = lot_hash(t.height, &t.prev_hash, &miner_pk, &t.sponsor_pk, nonce);
        if h.leading_zero_bits() >= pow_bits {
            return Some(Lot {
                height: t.height,
                prev_hash: t.prev_hash,
                miner_pk,
                sponsor_pk: t.sponsor_pk,
                sponsor_endpoint: t.sponsor_endpoint.clone(),
                nonce,
                sig: miner.sign(&h.0),
            });
        }
    }
    None
}

/// Lots received for one height: one per miner (the first seen); a second one is kept as
/// spam evidence and otherwise ignored.
#[derive(Debug, Clone, Default)]
pub struct LotPool {
    pub height: u64,
    lots: BTreeMap<PublicKey, Lot>,
    pub spam: Vec<(Lot, Lot)>,
}

impl LotPool {
    pub fn new(height: u64) -> Self {
        LotPool {
            height,
            ..Default::default()
        }
    }

    /// Adds a lot that already passed [`Lot::validate`] and the cycle check.
    pub fn add(&mut self, lot: Lot) -> Result<(), LotError> {
        if let Some(first) = self.lots.get(&lot.miner_pk) {
            if *first != lot {
                self.spam.push((first.clone(), lot.clone()));
            }
            return Err(LotError::SecondLot(lot.miner_pk.short(), lot.height));
        }
        self.lots.insert(lot.miner_pk, lot);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.lots.len()
    }
    pub fn is_empty(&self) -> bool {
        self.lots.is_empty()
    }

    /// The own-view KeyBlockTree: the luckiest eligible lot leads; the backups are the next
    /// luckiest lots of sponsors not already above them (so that one sponsor cannot hold
    /// every seed-producing rank), falling back to any lot; the payroll follows by luck.
    pub fn tree(&self, seed: &Hash32, cut: usize, backups: usize, eligible: impl Fn(&Lot) -> bool) -> Vec<Lot> {
        let mut v: Vec<(Hash32, &Lot)> = self
            .lots
            .values()
            .filter(|l| eligible(l))
            .map(|l| (l.rank(seed), l))
            .collect();
        v.sort_by_key(|a| a.0);
        let mut head: Vec<(Hash32, &Lot)> = Vec::new();
        let mut rest: Vec<(Hash32, &Lot)> = Vec::new();
        for x in v {
            let fresh = !head.iter().any(|(_, l)| l.sponsor_pk == x.1.sponsor_pk);
            if head.len() < 1 + backups && (fresh || head.is_empty()) {
                head.push(x);
            } else {
                rest.push(x);
            }
        }
        while head.len() < 1 + backups && !rest.is_empty() {
            head.push(rest.remove(0));
        }
        head.sort_by_key(|a| a.0);
        head.into_iter().chain(rest).take(cut).map(|(_, l)| l.clone()).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("KeyBlockTree is empty: no leader")]
    Empty,
    #[error("KeyBlockTree has {0} entries, the cut is {1}")]
    TooLong(usize, usize),
    #[error("tree entry {0}: {1}")]
    Lot(usize, LotError),
    #[error("tree entry {0} is for height {1}, expected {2}")]
    Height(usize, u64, u64),
    #[error("tree entry {0} names a wrong previous block")]
    Prev(usize),
    #[error("tree entry {0} is out of luck order")]
    Order(usize),
    #[error("tree entry {0}: miner appears twice")]
    DuplicateMiner(usize),
    #[error("tree entry {0}: sponsor or miner is barred at this height")]
    Barred(usize),
}

/// Hash of a tree (hashes of its lots, in order).
pub fn tree_hash(tree: &[Lot]) -> Hash32 {
    let mut c = Canon::new(tag::TREE);
    c.u32(tree.len() as u32);
    for l in tree {
        c.h(&l.hash());
    }
    c.hash()
}

/// Checks a tree proposed for `height` against the seed and the bar rules: the leader is
/// the luckiest entry, and the backups and the payroll are each in luck order.
#[allow(clippy::too_many_arguments)]
pub fn validate_tree(
    tree: &[Lot],
    height: u64,
    prev: &Hash32,
    seed: &Hash32,
    pow_bits: u32,
    cut: usize,
    backups: usize,
    barred: impl Fn(&Lot) -> bool,
    sig_checked: impl Fn(&Hash32) -> bool,
) -> Result<(), TreeError> {
    if tree.is_empty() {
        return Err(TreeError::Empty);
    }
    if tree.len() > cut {
        return Err(TreeError::TooLong(tree.len(), cut));
    }
    let mut last: Option<Hash32> = None;
    let mut leader_rank = Hash32::ZERO;
    let mut miners = std::collections::BTreeSet::new();
    for (i, l) in tree.iter().enumerate() {
        if l.height != height {
            return Err(TreeError::Height(i, l.height, height));
        }
        if l.prev_hash != *prev {
            return Err(TreeError::Prev(i));
        }
        let h = l.hash();
        if !sig_checked(&h) || h.leading_zero_bits() < pow_bits {
            l.validate(pow_bits).map_err(|e| TreeError::Lot(i, e))?;
        }
        let r = rank(seed, &h);
        // A new segment (payroll) restarts the order; the leader must beat everyone.
        let segment_start = i == backups + 1;
        if (!segment_start && last.is_some_and(|p| p >= r)) || (i > 0 && r <= leader_rank) {
            return Err(TreeError::Order(i));
        }
        if i == 0 {
            leader_rank = r;
        }
        last = Some(r);
        if !miners.insert(l.miner_pk) {
            return Err(TreeError::DuplicateMiner(i));
        }
        if barred(l) {
            return Err(TreeError::Barred(i));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> LotTemplate {
        LotTemplate {
            height: 3,
            prev_hash: Hash32([7; 32]),
            sponsor_pk: Keypair::from_label("dc").public(),
            sponsor_endpoint: "dc0:7000".into(),
        }
    }

    #[test]
    fn mined_lot_validates_and_tampering_fails() {
        let m = Keypair::from_label("miner");
        let lot = mine(&m, &template(), 8, 0, 1 << 16).expect("2^8 expected tries");
        assert!(lot.hash().leading_zero_bits() >= 8);
        lot.validate(8).unwrap();
        let mut bad = lot.clone();
        bad.nonce += 1;
        assert!(bad.validate(8).is_err());
        let mut bad = lot.clone();
        bad.sig.0[3] ^= 1;
        assert!(matches!(bad.validate(0), Err(LotError::Signature(_))));
        assert!(matches!(lot.validate(60), Err(LotError::AboveTarget { .. })));
    }

    #[test]
    fn backups_prefer_other_sponsors() {
        let seed = Hash32([9; 32]);
        let mut pool = LotPool::new(3);
        for (i, sponsor) in ["a", "a", "a", "a", "b"].iter().enumerate() {
            let t = LotTemplate {
                sponsor_pk: Keypair::from_label(sponsor).public(),
                ..template()
            };
            pool.add(mine(&Keypair::from_label(&format!("m{i}")), &t, 1, 0, 1000).unwrap())
                .unwrap();
        }
        let tree = pool.tree(&seed, 5, 2, |_| true);
        let b = Keypair::from_label("b").public();
        assert!(
            tree[..3].iter().any(|l| l.sponsor_pk == b),
            "the one other sponsor gets a seed rank"
        );
        validate_tree(&tree, 3, &Hash32([7; 32]), &seed, 1, 5, 2, |_| false, |_| false).unwrap();
    }

    #[test]
    fn pool_keeps_first_lot_per_miner_and_records_spam() {
        let m = Keypair::from_label("miner");
        let a = mine(&m, &template(), 2, 0, 1000).unwrap();
        let b = mine(&m, &template(), 2, a.nonce + 1, 1000).unwrap();
        let mut pool = LotPool::new(3);
        pool.add(a.clone()).unwrap();
        assert!(pool.add(b).is_err());
        assert!(pool.add(a).is_err());
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.spam.len(), 1);
    }

    #[test]
    fn tree_is_rank_ordered_cut_and_validates() {
        let t = template();
        let mut pool = LotPool::new(3);
        for i in 0..10 {
            let m = Keypair::from_label(&format!("m{i}"));
            pool.add(mine(&m, &t, 2, i * 1000, 1000).unwrap()).unwrap();
        }
        let seed = Hash32([9; 32]);
        let tree = pool.tree(&seed, 4, 1, |_| true);
        assert_eq!(tree.len(), 4);
        validate_tree(&tree, 3, &t.prev_hash, &seed, 2, 4, 1, |_| false, |_| false).unwrap();
        let mut swapped = tree.clone();
        swapped.swap(0, 1);
        assert_eq!(
            validate_tree(&swapped, 3, &t.prev_hash, &seed, 2, 4, 1, |_| false, |_| false),
            Err(TreeError::Order(1))
        );
        let mut swapped = tree.clone();
        swapped.swap(2, 3);
        assert_eq!(
            validate_tree(&swapped, 3, &t.prev_hash, &seed, 2, 4, 1, |_| false, |_| false),
            Err(TreeError::Order(3))
        );
        assert!(validate_tree(&tree, 3, &t.prev_hash, &seed, 2, 3, 1, |_| false, |_| false).is_err());
        assert_eq!(
            validate_tree(&tree, 3, &t.prev_hash, &seed, 2, 4, 1, |_| true, |_| false),
            Err(TreeError::Barred(0))
        );
        // A different seed reorders the same lots: luck, not hash power, decides.
        let other = pool.tree(&Hash32([10; 32]), 10, 2, |_| true);
        let all = pool.tree(&seed, 10, 2, |_| true);
        assert_ne!(other, all);
    }
}
