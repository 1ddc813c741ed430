//! Drawing of lots: eased proof-of-work lots (KeyBlocks), luck ranking, and the own-view
//! KeyBlockTree of a trustee.

use crate::codec::{Canon, ChainId, Hash32, tag};
use crate::crypto::{Keypair, PublicKey, SigError, Signature};
use crate::statement::{Evidence, Kind, Said, Slot};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A lot (KeyBlock): the miner's eased proof of work, countersigned by the registered
/// datacenter that sponsors it (rule 1). Where the sponsor serves is in its registration,
/// not in the lot, so no relay can rewrite it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lot {
    pub height: u64,
    pub prev_hash: Hash32,
    pub miner: PublicKey,
    /// The sponsor role key of a registered datacenter.
    pub sponsor: PublicKey,
    pub nonce: u64,
    pub miner_sig: Signature,
    pub sponsor_sig: Signature,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LotError {
    #[error("lot hash {hash} has {bits} leading zero bits, the target needs {need}")]
    AboveTarget { hash: String, bits: u32, need: u32 },
    #[error("lot miner signature: {0}")]
    MinerSignature(SigError),
    #[error("lot sponsor countersignature: {0}")]
    SponsorSignature(SigError),
    #[error("miner {0} already drew a lot for height {1}")]
    SecondLot(String, u64),
    #[error("lot pool full for sponsor {0} (limits::LOTS_PER_SPONSOR) or in total")]
    PoolFull(String),
    #[error("lot sponsor {0} is not a registered, bonded datacenter old enough to sponsor")]
    Sponsor(String),
    #[error("lot sponsor {0} is barred at this height")]
    Barred(String),
}

/// The proof-of-work preimage: `H("daoli/v2/lot" || u64 height || prev_hash || miner ||
/// sponsor || u64 nonce)`.
pub fn lot_hash(height: u64, prev: &Hash32, miner: &PublicKey, sponsor: &PublicKey, nonce: u64) -> Hash32 {
    let mut c = Canon::new(tag::LOT);
    c.u64(height).h(prev).fixed(&miner.0).fixed(&sponsor.0).u64(nonce);
    c.hash()
}

impl Lot {
    pub fn hash(&self) -> Hash32 {
        lot_hash(self.height, &self.prev_hash, &self.miner, &self.sponsor, self.nonce)
    }

    /// `H("daoli/v2/lot-id" || lot_hash || miner_sig || sponsor_sig)`: what a tree commits to
    /// and what caches are keyed by, so no variant with another signature shares it (rule 7).
    pub fn id(&self) -> Hash32 {
        let mut c = Canon::new(tag::LOT_ID);
        c.h(&self.hash()).fixed(&self.miner_sig.0).fixed(&self.sponsor_sig.0);
        c.hash()
    }

    pub fn miner_slot(&self) -> Slot {
        Slot::new(Kind::LotMiner, self.miner, self.height, 0, 0)
    }

    /// The sponsor may countersign one lot per miner and height.
    pub fn sponsor_slot(&self) -> Slot {
        Slot {
            subject: self.miner,
            ..Slot::new(Kind::LotSponsor, self.sponsor, self.height, 0, 0)
        }
    }

    /// The sponsor's consent: it will serve this lot's duties if it wins.
    pub fn countersign(mut self, sponsor: &Keypair, chain: &ChainId) -> Self {
        self.sponsor_sig = self.sponsor_slot().sign(sponsor, chain, &self.hash());
        self
    }

    /// Stateless validity: eased PoW, the miner's signature and the sponsor's countersignature.
    /// Whether the sponsor may sponsor is the chain's question (`Chain::check_sponsor`).
    pub fn validate(&self, chain: &ChainId, pow_bits: u32) -> Result<Hash32, LotError> {
        let h = self.hash();
        let bits = h.leading_zero_bits();
        if bits < pow_bits {
            return Err(LotError::AboveTarget {
                hash: h.short(),
                bits,
                need: pow_bits,
            });
        }
        self.miner_slot()
            .verify(chain, &h, &self.miner_sig)
            .map_err(LotError::MinerSignature)?;
        self.sponsor_slot()
            .verify(chain, &h, &self.sponsor_sig)
            .map_err(LotError::SponsorSignature)?;
        Ok(h)
    }

    /// Evidence if one sponsor countersigned two different lots of one miner and height.
    pub fn sponsor_evidence(&self, other: &Lot) -> Option<Evidence> {
        let said = |l: &Lot| Said {
            content: l.hash(),
            sig: l.sponsor_sig,
        };
        Evidence::conflict((self.sponsor_slot(), said(self)), (other.sponsor_slot(), said(other)))
    }

    /// `rank = H("daoli/v2/luck" || seed || lot_hash)`; lower is luckier.
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotTemplate {
    pub height: u64,
    pub prev_hash: Hash32,
    pub sponsor: PublicKey,
}

/// Tries `tries` nonces from `start`; returns the miner-signed lot at the first hash under the
/// target, still to be countersigned by its sponsor. Pure: the caller supplies the starting
/// nonce (its randomness) and the work budget.
pub fn mine(miner: &Keypair, chain: &ChainId, t: &LotTemplate, pow_bits: u32, start: u64, tries: u64) -> Option<Lot> {
    let miner_pk = miner.public();
    for i in 0..tries {
        let nonce = start.wrapping_add(i);
        let h = lot_hash(t.height, &t.prev_hash, &miner_pk, &t.sponsor, nonce);
        if h.leading_zero_bits() >= pow_bits {
            let lot = Lot {
                height: t.height,
                prev_hash: t.prev_hash,
                miner: miner_pk,
                sponsor: t.sponsor,
                nonce,
                miner_sig: Signature::default(),
                sponsor_sig: Signature::default(),
            };
            let sig = lot.miner_slot().sign(miner, chain, &h);
            return Some(Lot { miner_sig: sig, ..lot });
        }
    }
    None
}

/// Lots received for one height: one per miner (the first seen). A second lot of the same
/// miner countersigned by the same sponsor is evidence against that sponsor.
#[derive(Debug, Clone, Default)]
pub struct LotPool {
    pub height: u64,
    lots: BTreeMap<PublicKey, Lot>,
    /// Lots held per sponsor key: the rule-8 bound is checked on every lot a peer sends, so
    /// it is counted as lots come in, not by scanning the pool.
    per_sponsor: BTreeMap<PublicKey, usize>,
    pub evidence: Vec<Evidence>,
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
        if let Some(first) = self.lots.get(&lot.miner) {
            if let Some(e) = first.sponsor_evidence(&lot)
                && !self.evidence.contains(&e)
                && self.evidence.len() < MAX_LOT_EVIDENCE
            {
                self.evidence.push(e);
            }
            return Err(LotError::SecondLot(lot.miner.short(), lot.height));
        }
        // Rule 8: bounded per sponsor and in total.
        let of_sponsor = self.per_sponsor.entry(lot.sponsor).or_insert(0);
        if *of_sponsor >= crate::limits::LOTS_PER_SPONSOR || self.lots.len() >= crate::limits::LOTS_TOTAL {
            return Err(LotError::PoolFull(lot.sponsor.short()));
        }
        *of_sponsor += 1;
        self.lots.insert(lot.miner, lot);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.lots.len()
    }
    pub fn is_empty(&self) -> bool {
        self.lots.is_empty()
    }
    /// Whether the pool holds this very lot (signatures included).
    pub fn holds(&self, lot: &Lot) -> bool {
        self.lots.get(&lot.miner).is_some_and(|l| l == lot)
    }
    pub fn lots(&self) -> impl Iterator<Item = &Lot> {
        self.lots.values()
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
            let fresh = !head.iter().any(|(_, l)| l.sponsor == x.1.sponsor);
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
}

/// Hash of a tree: `H("daoli/v2/tree" || u32 len || lot ids...)`. Lot ids cover both
/// signatures, so a same-hash tree with a forged signature cannot exist (rule 7).
pub fn tree_hash(tree: &[Lot]) -> Hash32 {
    let mut c = Canon::new(tag::TREE);
    c.u32(tree.len() as u32);
    for l in tree {
        c.h(&l.id());
    }
    c.hash()
}

/// Most sponsor evidence a pool keeps for one height (a bound on peer-fed memory, rule 8).
pub const MAX_LOT_EVIDENCE: usize = 64;

/// Checks a tree proposed for `height` against the seed and the bar rules: the leader is
/// the luckiest entry, and the backups and the payroll are each in luck order.
#[allow(clippy::too_many_arguments)]
pub fn validate_tree(
    chain: &ChainId,
    tree: &[Lot],
    height: u64,
    prev: &Hash32,
    seed: &Hash32,
    pow_bits: u32,
    cut: usize,
    backups: usize,
    barred: impl Fn(&Lot) -> Result<(), LotError>,
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
        if !sig_checked(&l.id()) || h.leading_zero_bits() < pow_bits {
            l.validate(chain, pow_bits).map_err(|e| TreeError::Lot(i, e))?;
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
        if !miners.insert(l.miner) {
            return Err(TreeError::DuplicateMiner(i));
        }
        barred(l).map_err(|e| TreeError::Lot(i, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: ChainId = Hash32([0xc4; 32]);

    fn sponsor() -> Keypair {
        Keypair::from_label("dc")
    }

    fn template() -> LotTemplate {
        LotTemplate {
            height: 3,
            prev_hash: Hash32([7; 32]),
            sponsor: sponsor().public(),
        }
    }

    fn lot(miner: &str, bits: u32, start: u64) -> Lot {
        mine(&Keypair::from_label(miner), &C, &template(), bits, start, 1 << 16)
            .expect("lot")
            .countersign(&sponsor(), &C)
    }

    fn ok(_: &Lot) -> Result<(), LotError> {
        Ok(())
    }

    #[test]
    fn mined_lot_validates_and_tampering_fails() {
        let lot = lot("miner", 8, 0);
        assert!(lot.hash().leading_zero_bits() >= 8);
        lot.validate(&C, 8).unwrap();
        let mut bad = lot.clone();
        bad.nonce += 1;
        assert!(bad.validate(&C, 8).is_err());
        let mut bad = lot.clone();
        bad.miner_sig.0[3] ^= 1;
        assert!(matches!(bad.validate(&C, 0), Err(LotError::MinerSignature(_))));
        assert!(matches!(lot.validate(&C, 60), Err(LotError::AboveTarget { .. })));
        // Another network: the signatures bind the chain id.
        assert!(lot.validate(&Hash32([1; 32]), 8).is_err());
    }

    #[test]
    fn a_lot_needs_its_sponsors_countersignature() {
        // v1 accepted a lot naming any sponsor key: a Sybil key dodging the bars, or a key
        // nobody holds (a dead seat). v2 needs the sponsor's signature over the lot hash.
        let uncounted = mine(&Keypair::from_label("m"), &C, &template(), 4, 0, 1 << 16).unwrap();
        assert!(matches!(uncounted.validate(&C, 4), Err(LotError::SponsorSignature(_))));
        let by_other = uncounted
            .clone()
            .countersign(&Keypair::from_label("not the sponsor"), &C);
        assert!(matches!(by_other.validate(&C, 4), Err(LotError::SponsorSignature(_))));
        uncounted.countersign(&sponsor(), &C).validate(&C, 4).unwrap();
    }

    #[test]
    fn the_tree_hash_covers_both_signatures() {
        // v1 hashed lot hashes only: a same-hash tree with a forged signature was committed
        // by nodes that cached the lots and refused by nodes replaying from scratch.
        let l = lot("m0", 2, 0);
        let mut forged = l.clone();
        forged.sponsor_sig.0[5] ^= 1;
        assert_eq!(l.hash(), forged.hash());
        assert_ne!(l.id(), forged.id());
        assert_ne!(tree_hash(std::slice::from_ref(&l)), tree_hash(&[forged.clone()]));
        // A cache that vouches for `l` does not vouch for the forgery.
        let checked = [l.id()];
        let cached = |x: &Hash32| checked.contains(x);
        assert!(
            validate_tree(
                &C,
                std::slice::from_ref(&l),
                3,
                &Hash32([7; 32]),
                &Hash32::ZERO,
                2,
                4,
                1,
                ok,
                cached
            )
            .is_ok()
        );
        assert!(matches!(
            validate_tree(&C, &[forged], 3, &Hash32([7; 32]), &Hash32::ZERO, 2, 4, 1, ok, cached),
            Err(TreeError::Lot(0, LotError::SponsorSignature(_)))
        ));
    }

    #[test]
    fn backups_prefer_other_sponsors() {
        let seed = Hash32([9; 32]);
        let mut pool = LotPool::new(3);
        for (i, s) in ["a", "a", "a", "a", "b"].iter().enumerate() {
            let sk = Keypair::from_label(s);
            let t = LotTemplate {
                sponsor: sk.public(),
                ..template()
            };
            let l = mine(&Keypair::from_label(&format!("m{i}")), &C, &t, 1, 0, 1000)
                .unwrap()
                .countersign(&sk, &C);
            pool.add(l).unwrap();
        }
        let tree = pool.tree(&seed, 5, 2, |_| true);
        let b = Keypair::from_label("b").public();
        assert!(
            tree[..3].iter().any(|l| l.sponsor == b),
            "the one other sponsor gets a backup rank"
        );
        validate_tree(&C, &tree, 3, &Hash32([7; 32]), &seed, 1, 5, 2, ok, |_| false).unwrap();
    }

    // Rule 8: miner keys are free, so one sponsor's lots are bounded (sponsors are bonded).
    #[test]
    fn the_pool_holds_a_bounded_number_of_lots_per_sponsor() {
        let mut pool = LotPool::new(3);
        for i in 0..crate::limits::LOTS_PER_SPONSOR {
            pool.add(lot(&format!("sybil-miner-{i}"), 0, 0)).unwrap();
        }
        assert!(matches!(pool.add(lot("one-more", 0, 0)), Err(LotError::PoolFull(_))));
        assert_eq!(pool.len(), crate::limits::LOTS_PER_SPONSOR);
    }

    #[test]
    fn pool_keeps_first_lot_per_miner_and_records_sponsor_evidence() {
        let a = lot("miner", 2, 0);
        let b = lot("miner", 2, a.nonce + 1);
        let mut pool = LotPool::new(3);
        pool.add(a.clone()).unwrap();
        assert!(pool.add(b).is_err());
        assert!(pool.add(a).is_err());
        assert_eq!(pool.len(), 1);
        assert_eq!(
            pool.evidence.len(),
            1,
            "one sponsor countersigned two lots of one miner"
        );
        pool.evidence[0].verify(&C).unwrap();
    }

    #[test]
    fn tree_is_rank_ordered_cut_and_validates() {
        let t = template();
        let mut pool = LotPool::new(3);
        for i in 0..10 {
            pool.add(lot(&format!("m{i}"), 2, i * 1000)).unwrap();
        }
        let seed = Hash32([9; 32]);
        let tree = pool.tree(&seed, 4, 1, |_| true);
        assert_eq!(tree.len(), 4);
        let v = |tr: &[Lot], cut| validate_tree(&C, tr, 3, &t.prev_hash, &seed, 2, cut, 1, ok, |_| false);
        v(&tree, 4).unwrap();
        let mut swapped = tree.clone();
        swapped.swap(0, 1);
        assert_eq!(v(&swapped, 4), Err(TreeError::Order(1)));
        let mut swapped = tree.clone();
        swapped.swap(2, 3);
        assert_eq!(v(&swapped, 4), Err(TreeError::Order(3)));
        assert!(v(&tree, 3).is_err());
        let barred = |l: &Lot| Err(LotError::Barred(l.sponsor.short()));
        assert!(matches!(
            validate_tree(&C, &tree, 3, &t.prev_hash, &seed, 2, 4, 1, barred, |_| false),
            Err(TreeError::Lot(0, LotError::Barred(_)))
        ));
        // The review's mutation: the payroll restarts the order, but no payroll lot may be
        // luckier than the leader (else a less lucky lot leads and the luckiest is hired).
        let mut by_luck: Vec<Lot> = pool.lots().cloned().collect();
        by_luck.sort_by_key(|l| l.rank(&seed));
        let demoted = vec![
            by_luck[1].clone(),
            by_luck[2].clone(),
            by_luck[0].clone(),
            by_luck[3].clone(),
        ];
        assert_eq!(v(&demoted, 4), Err(TreeError::Order(2)));
        // A different seed reorders the same lots: luck, not hash power, decides.
        let other = pool.tree(&Hash32([10; 32]), 10, 2, |_| true);
        let all = pool.tree(&seed, 10, 2, |_| true);
        assert_ne!(other, all);
    }
}
