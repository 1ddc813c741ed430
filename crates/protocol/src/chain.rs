//! A validated chain of certified blocks and its executed state. Used by every node and,
//! unchanged, by the verifier that replays public data.

use crate::block::{Batch, BatchError, Block, CertifiedBlock, payroll_index};
use crate::codec::{ChainId, Hash32};
use crate::crypto::PublicKey;
use crate::dcc;
use crate::delay::{self, DelayProof};
use crate::ledger::{ExecContext, ExecOutcome, State, Winner};
use crate::lot::{Lot, LotError, TreeError, validate_tree};
use crate::params::{Genesis, ParamsError};
use crate::seed::{SeedError, verify_seed};
use crate::statement::EvidenceError;
use crate::tx::RoleKeys;
use crate::vote::{Qc, QcError, Seats, Step, Vote};
use std::collections::{BTreeMap, BTreeSet};

/// One entry of a lineup: who won the lot and which registered datacenter serves its duties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineupEntry {
    pub miner: PublicKey,
    /// The datacenter's root key (its identity and account).
    pub dc: PublicKey,
    /// Its role keys, from its registration.
    pub keys: RoleKeys,
    /// Where it serves, from its registration (never from the lot: rule 7).
    pub endpoint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("block is for height {got}, expected {expected}")]
    Height { got: u64, expected: u64 },
    #[error("block names previous block {got}, expected {expected}")]
    Prev { got: String, expected: String },
    #[error("block names state root {got}, expected {expected}")]
    StateRoot { got: String, expected: String },
    #[error("the previous block has no lineup rank 0")]
    NoProducer,
    #[error("seed: {0}")]
    Seed(#[from] SeedError),
    #[error("KeyBlockTree: {0}")]
    Tree(#[from] TreeError),
    #[error("MicroBlock is for height {0}")]
    MicroHeight(u64),
    #[error("MicroBlock producer is not the sponsor of rank {0} of the previous block")]
    MicroProducer(u32),
    #[error("MicroBlock signature does not verify")]
    MicroSignature,
    #[error("MicroBlock batches are not in (cycle, slot, digest) order")]
    BatchOrder,
    #[error("batch {0} is not held by this node")]
    MissingBatch(String),
    #[error("batch {digest} for cycle {cycle} cannot be included at height {height}")]
    BatchCycle { digest: String, cycle: u64, height: u64 },
    #[error("batch {0} was already included")]
    BatchIncluded(String),
    #[error("batch {0} does not match its reference")]
    BatchRef(String),
    #[error("batch {0}: {1}")]
    Batch(String, BatchError),
    #[error("batch {0}: lineup address has no payroll entry")]
    NoPayrollEntry(String),
    #[error("MicroBlock carries {got} pieces of evidence, more than {max}")]
    TooMuchEvidence { got: usize, max: usize },
    #[error("a lottery is drawn at this height: the header must carry the delay proof")]
    DelayMissing,
    #[error("no lottery is drawn at this height: the header must carry no delay proof")]
    DelayNotDue,
    #[error("lottery delay: {0}")]
    Delay(#[from] crate::delay::DelayError),
    #[error("prevotes of the previous block: {0}")]
    PrevPrevotes(QcError),
    #[error("previous QC: {0}")]
    PrevQc(QcError),
    #[error("evidence {0}: {1}")]
    Evidence(usize, EvidenceError),
    #[error("evidence {0}: the offender is no registered datacenter, or it is from the future")]
    EvidenceOffender(usize),
    #[error("evidence {0}: its datacenter was already slashed, or is accused twice")]
    EvidenceRepeat(usize),
    #[error("certificate: {0}")]
    Qc(#[from] QcError),
}

/// Whether every vote is a `step` vote for the QC's height, round and value: the fields of an
/// embedded vote that no hash covers.
fn in_context(votes: &[Vote], qc: &Qc, step: Step) -> Result<(), QcError> {
    match votes
        .iter()
        .position(|v| v.height != qc.height || v.round != qc.round || v.step != step || v.value != Some(qc.value))
    {
        Some(i) => Err(QcError::Mismatch(i)),
        None => Ok(()),
    }
}

fn seed_key(producer: &PublicKey, seed: &Hash32, proof: &crate::vrf::VrfProof) -> Hash32 {
    let mut c = crate::codec::Canon::new(crate::codec::tag::SEED_CACHE);
    c.fixed(&producer.0).h(seed).fixed(&proof.0);
    c.hash()
}

#[derive(Debug, Clone)]
pub struct Chain {
    pub genesis: Genesis,
    chain_id: ChainId,
    pub blocks: Vec<CertifiedBlock>,
    pub state: State,
    /// `roots[h]`: state root after height `h` (`roots[0]` is genesis).
    pub roots: Vec<Hash32>,
    /// `seeds[h]`: `seed_h` (`seeds[0]` is the genesis seed).
    pub seeds: Vec<Hash32>,
    /// `timestamps[h]`: certified timestamp of block `h`; the last one is provisional (from
    /// this node's own QC) until the next block embeds the QC that fixes it (rule 12).
    pub timestamps: Vec<u64>,
    /// Batches whose signatures and limits were checked (batch id, covering the signature,
    /// -> cycle).
    verified: BTreeMap<Hash32, u64>,
    /// Signature checks already done for the next height: every trustee validates the same
    /// lots, seed proof and previous QC in many proposals, so each is verified once. Every key
    /// covers all the bytes it vouches for, signatures included (rule 7).
    lots_ok: BTreeSet<Hash32>,
    seeds_ok: BTreeSet<Hash32>,
    qcs_ok: BTreeSet<Hash32>,
    /// Delay proofs checked for the next height, by a hash of every byte of the proof.
    delays_ok: BTreeSet<Hash32>,
    /// MicroBlock ids whose embedded prevotes were checked.
    prevotes_ok: BTreeSet<Hash32>,
    micros_ok: BTreeSet<Hash32>,
}

impl Chain {
    pub fn new(genesis: Genesis) -> Result<Self, ParamsError> {
        genesis.validate()?;
        let state = State::genesis(&genesis);
        Ok(Chain {
            chain_id: genesis.chain_id(),
            roots: vec![state.root()],
            seeds: vec![genesis.seed],
            timestamps: vec![genesis.timestamp_ms],
            state,
            blocks: Vec::new(),
            verified: BTreeMap::new(),
            lots_ok: BTreeSet::new(),
            seeds_ok: BTreeSet::new(),
            qcs_ok: BTreeSet::new(),
            prevotes_ok: BTreeSet::new(),
            delays_ok: BTreeSet::new(),
            micros_ok: BTreeSet::new(),
            genesis,
        })
    }

    pub fn params(&self) -> &crate::params::Params {
        &self.genesis.params
    }
    /// The chain id every signature binds.
    pub fn id(&self) -> &ChainId {
        &self.chain_id
    }
    pub fn height(&self) -> u64 {
        self.blocks.len() as u64
    }
    pub fn hash_at(&self, h: u64) -> Hash32 {
        if h == 0 {
            self.chain_id
        } else {
            self.blocks[h as usize - 1].block.hash()
        }
    }
    pub fn tip_hash(&self) -> Hash32 {
        self.hash_at(self.height())
    }
    pub fn block(&self, h: u64) -> Option<&CertifiedBlock> {
        h.checked_sub(1).and_then(|i| self.blocks.get(i as usize))
    }
    /// The seed block `h` must carry the lottery delay over, if a round is drawn at `h`:
    /// `seed_{h-E}` (rule 5).
    pub fn delay_seed(&self, h: u64) -> Option<Hash32> {
        let p = self.params();
        if !self.state.draw_due(h, p) {
            return None;
        }
        let at = h.checked_sub(p.delay_blocks)?;
        self.seeds.get(at as usize).copied()
    }

    /// Evaluates the delay block `h` must carry. Long in production (the shell runs it off the
    /// protocol's thread as soon as `seed_{h-E}` is certified); cheap on the devnet.
    pub fn evaluate_delay(&self, h: u64) -> Option<DelayProof> {
        let p = self.params();
        let seed = self.delay_seed(h)?;
        delay::evaluate(&seed, p.delay_iterations, p.delay_segments).ok()
    }

    /// The agreed certified timestamp of block `h` (UTC ms): known once block `h+1` is
    /// committed (genesis: its own timestamp).
    pub fn certified_timestamp(&self, h: u64) -> Option<u64> {
        (h < self.height()).then(|| self.timestamps[h as usize])
    }
    pub fn cycle_length(&self) -> u64 {
        dcc::cycle_length(self.params(), &self.timestamps)
    }

    /// Lineup entry `slot` of block `h`. Block 0's lineup is the founders, repeated.
    pub fn lineup(&self, h: u64, slot: usize) -> Option<LineupEntry> {
        if h == 0 {
            let f = &self.genesis.founders;
            let x = &f[slot % f.len()];
            return (slot < self.params().lineup_len()).then(|| LineupEntry {
                miner: x.root,
                dc: x.root,
                keys: x.keys,
                endpoint: x.endpoint.clone(),
            });
        }
        let lot = self.block(h)?.block.tree.get(slot)?;
        let (dc, d) = self.state.dc_of(&lot.sponsor)?;
        Some(LineupEntry {
            miner: lot.miner,
            dc,
            keys: d.keys,
            endpoint: d.endpoint.clone(),
        })
    }

    /// The entry serving payroll slot `slot` of block `h` (in cycle `h+1`). A tree shorter
    /// than the full lineup wraps around, so that every slot has a kernel buffer.
    pub fn payroll_entry(&self, h: u64, slot: u32) -> Option<LineupEntry> {
        let p = self.params();
        if slot as usize >= p.payroll {
            return None;
        }
        let len = if h == 0 {
            p.lineup_len()
        } else {
            self.block(h)?.block.tree.len()
        };
        self.lineup(h, payroll_index(p.backups, slot) % len.max(1))
    }

    /// Payroll slots of block `h` (serving cycle `h+1`) held by datacenter `dc` (root key).
    pub fn payroll_of(&self, h: u64, dc: &PublicKey) -> Vec<u32> {
        (0..self.params().payroll as u32)
            .filter(|s| self.payroll_entry(h, *s).is_some_and(|e| e.dc == *dc))
            .collect()
    }

    /// Seats at height `h <= height + 1`: the vote keys of the datacenters that sponsored the
    /// leaders of `h-n .. h-1`, youngest first, the genesis seats filling in below height 1.
    /// A datacenter slashed before `h` holds no seat: its positions are vacant (rule 10).
    pub fn seats(&self, h: u64) -> Seats {
        let p = self.params();
        let n = p.seats as u64;
        let list = (0..n)
            .map(|i| {
                let key = if i + 1 < h {
                    self.blocks[(h - 2 - i) as usize].block.leader().sponsor
                } else {
                    self.genesis.seats[(i + 1 - h) as usize]
                };
                match self.state.dc_of(&key) {
                    Some((_, d)) if !d.slashed_before(h) => d.keys.vote,
                    _ => Seats::VACANT,
                }
            })
            .collect();
        Seats::new(h, list, p.waves.clone())
    }

    /// Whether `lot` may be in the tree of block `h`: its sponsor is a registered datacenter,
    /// bonded, unslashed and registered at least `K` heights ago (founders always qualify), and
    /// it is not the datacenter that knew `seed_h` first (rank 0 of block `h-1`, which produces
    /// the VRF seed and chooses whether to withhold it), nor the previous leader's miner.
    pub fn check_sponsor(&self, h: u64, lot: &Lot) -> Result<(), LotError> {
        let p = self.params();
        let who = || lot.sponsor.short();
        let (root, d) = self.state.dc_of(&lot.sponsor).ok_or_else(|| LotError::Sponsor(who()))?;
        if d.keys.sponsor != lot.sponsor
            || d.slashed_before(h)
            || d.bond < p.min_bond
            || (d.since > 0 && d.since.saturating_add(p.registration_age) > h)
        {
            return Err(LotError::Sponsor(who()));
        }
        let prev = self.lineup(h - 1, 0);
        if prev.is_some_and(|e| e.dc == root || (h > 1 && e.miner == lot.miner)) {
            return Err(LotError::Barred(who()));
        }
        Ok(())
    }

    /// The VRF key that produces `seed_h`: that of the datacenter at rank 0 of block `h-1`.
    pub fn seed_producer(&self, h: u64) -> Option<PublicKey> {
        self.lineup(h - 1, 0).map(|e| e.keys.vrf)
    }

    /// Records a seed announcement the caller verified against its producer.
    pub fn note_seed(&mut self, producer: &PublicKey, seed: &Hash32, proof: &crate::vrf::VrfProof) {
        self.seeds_ok.insert(seed_key(producer, seed, proof));
    }

    /// Records a lot of the next height whose signature and PoW the caller verified.
    pub fn note_lot(&mut self, lot_id: Hash32) {
        self.lots_ok.insert(lot_id);
    }

    /// Records a batch this datacenter's own ledger verified (a role's follower trusts its
    /// ledger, so the signatures are not checked twice).
    /// `digest` is `b.digest()`, computed once by the caller.
    pub(crate) fn note_batch(&mut self, b: &Batch, digest: &Hash32) {
        self.mark_verified(b.id_of(digest), b.cycle);
    }

    fn mark_verified(&mut self, id: Hash32, cycle: u64) {
        self.verified.insert(id, cycle);
        let h = self.height();
        let expiry = self.params().batch_expiry;
        if self.verified.len() > 4096 {
            self.verified.retain(|_, c| *c + expiry + 1 >= h);
        }
    }

    /// Checks a batch's signatures and limits once; later checks hit the cache.
    pub fn verify_batch(&mut self, b: &Batch) -> Result<Hash32, BlockError> {
        self.verify_batch_digest(b, b.digest())
    }

    /// [`Chain::verify_batch`] with `d = b.digest()` computed once by the caller (the digest
    /// hashes every transaction).
    pub(crate) fn verify_batch_digest(&mut self, b: &Batch, d: Hash32) -> Result<Hash32, BlockError> {
        let id = b.id_of(&d);
        if self.verified.contains_key(&id) {
            return Ok(d);
        }
        self.check_batch(b, d)?;
        self.mark_verified(id, b.cycle);
        Ok(d)
    }

    fn check_batch(&self, b: &Batch, d: Hash32) -> Result<(), BlockError> {
        if b.cycle == 0 || b.cycle > self.height() + 1 {
            return Err(BlockError::BatchCycle {
                digest: d.short(),
                cycle: b.cycle,
                height: self.height() + 1,
            });
        }
        let p = self.params();
        let entry = self
            .payroll_entry(b.cycle - 1, b.slot)
            .ok_or_else(|| BlockError::NoPayrollEntry(d.short()))?;
        b.validate_digest(d, &self.chain_id, p.max_tx_bytes, p.max_batch_bytes, &entry.keys.batch)
            .map_err(|e| BlockError::Batch(d.short(), e))?;
        Ok(())
    }

    /// Validates `block` as the next block; returns the batches it names, in order.
    pub fn validate_block<'a>(
        &mut self,
        block: &Block,
        store: &'a BTreeMap<Hash32, Batch>,
    ) -> Result<Vec<&'a Batch>, BlockError> {
        let out = self.check_block(block, store)?;
        self.lots_ok.extend(block.tree.iter().map(|l| l.id()));
        if let (Some(producer), Some(proof)) = (self.seed_producer(block.height()), &block.header.vrf_proof) {
            self.seeds_ok.insert(seed_key(&producer, &block.header.seed, proof));
        }
        if let Some(d) = &block.header.delay {
            self.delays_ok.insert(d.hash());
        }
        if let Some(m) = &block.micro {
            self.micros_ok.insert(m.id());
            if let Some(qc) = &m.prev_qc {
                self.qcs_ok.insert(qc.hash());
                self.prevotes_ok.insert(m.id());
            }
        }
        Ok(out)
    }

    /// The height `block` must have to extend this chain, or the error naming where it is.
    fn next_height_of(&self, block: &Block) -> Result<u64, BlockError> {
        let h = self.height() + 1;
        if block.height() != h {
            return Err(BlockError::Height {
                got: block.height(),
                expected: h,
            });
        }
        Ok(h)
    }

    fn check_block<'a>(&self, block: &Block, store: &'a BTreeMap<Hash32, Batch>) -> Result<Vec<&'a Batch>, BlockError> {
        let p = self.params();
        let h = self.next_height_of(block)?;
        let hd = &block.header;
        let tip = self.tip_hash();
        if hd.prev_hash != tip {
            return Err(BlockError::Prev {
                got: hd.prev_hash.short(),
                expected: tip.short(),
            });
        }
        let root = self.roots[h as usize - 1];
        if hd.prev_state_root != root {
            return Err(BlockError::StateRoot {
                got: hd.prev_state_root.short(),
                expected: root.short(),
            });
        }
        let producer = self.seed_producer(h).ok_or(BlockError::NoProducer)?;
        let cached = hd
            .vrf_proof
            .is_some_and(|pr| self.seeds_ok.contains(&seed_key(&producer, &hd.seed, &pr)));
        if !cached {
            verify_seed(
                &self.chain_id,
                &producer,
                &self.seeds[h as usize - 1],
                h,
                &hd.seed,
                hd.vrf_proof.as_ref(),
            )?;
        }
        match (self.delay_seed(h), &hd.delay) {
            (None, None) => {}
            (None, Some(_)) => return Err(BlockError::DelayNotDue),
            (Some(_), None) => return Err(BlockError::DelayMissing),
            (Some(seed), Some(d)) => {
                if !self.delays_ok.contains(&d.hash()) {
                    // Long delays are checked segment by segment on every core.
                    let threads = if p.delay_iterations >= 1 << 24 {
                        std::thread::available_parallelism().map_or(1, |n| n.get())
                    } else {
                        1
                    };
                    d.verify_parallel(&seed, p.delay_iterations, p.delay_segments, threads)?;
                }
            }
        }
        validate_tree(
            &self.chain_id,
            &block.tree,
            h,
            &tip,
            &hd.seed,
            p.pow_bits,
            p.lineup_len(),
            p.backups,
            |l| self.check_sponsor(h, l),
            |x| self.lots_ok.contains(x),
        )?;
        let Some(m) = &block.micro else {
            return Ok(Vec::new());
        };
        if m.height != h {
            return Err(BlockError::MicroHeight(m.height));
        }
        let mp = self
            .lineup(h - 1, m.producer_rank as usize)
            .filter(|_| m.producer_rank as usize <= p.backups);
        if mp.is_none_or(|e| e.keys.micro != m.producer_pk) {
            return Err(BlockError::MicroProducer(m.producer_rank));
        }
        if !self.micros_ok.contains(&m.id()) {
            m.verify_sig(&self.chain_id).map_err(|_| BlockError::MicroSignature)?;
        }
        if m.batches.windows(2).any(|w| w[0] >= w[1]) {
            return Err(BlockError::BatchOrder);
        }
        let mut out = Vec::with_capacity(m.batches.len());
        for r in &m.batches {
            let ds = r.digest.short();
            let b = store
                .get(&r.digest)
                .ok_or_else(|| BlockError::MissingBatch(ds.clone()))?;
            let d = b.digest();
            if b.cycle != r.cycle || b.slot != r.slot || d != r.digest {
                return Err(BlockError::BatchRef(ds));
            }
            if r.cycle > h || r.cycle + p.batch_expiry < h {
                return Err(BlockError::BatchCycle {
                    digest: ds,
                    cycle: r.cycle,
                    height: h,
                });
            }
            if self.state.included.contains_key(&r.digest) {
                return Err(BlockError::BatchIncluded(ds));
            }
            if !self.verified.contains_key(&b.id_of(&d)) {
                self.check_batch(b, d)?;
            }
            out.push(b);
        }
        match &m.prev_qc {
            Some(qc) => {
                if h < 2 {
                    return Err(BlockError::PrevQc(QcError::WrongHeight(qc.height, qc.round, 0)));
                }
                let seats = self.seats(h - 1);
                // The caches are keyed by hashes that leave out each embedded vote's height,
                // round, step and value (fixed by context), so a hit still checks those.
                if self.qcs_ok.contains(&qc.hash()) {
                    in_context(&qc.precommits, qc, Step::Precommit).map_err(BlockError::PrevQc)?;
                } else {
                    qc.verify(&seats, &self.hash_at(h - 1), &self.chain_id)
                        .map_err(BlockError::PrevQc)?;
                }
                if self.prevotes_ok.contains(&m.id()) {
                    in_context(&m.prev_prevotes, qc, Step::Prevote).map_err(BlockError::PrevPrevotes)?;
                } else {
                    qc.verify_prevotes(&m.prev_prevotes, &seats, &self.chain_id)
                        .map_err(BlockError::PrevPrevotes)?;
                }
            }
            None if !m.prev_prevotes.is_empty() => {
                return Err(BlockError::PrevPrevotes(QcError::Mismatch(0)));
            }
            None => {}
        }
        if m.evidence.len() > p.max_evidence {
            return Err(BlockError::TooMuchEvidence {
                got: m.evidence.len(),
                max: p.max_evidence,
            });
        }
        let mut seen = BTreeSet::new();
        for (i, e) in m.evidence.iter().enumerate() {
            e.verify(&self.chain_id).map_err(|x| BlockError::Evidence(i, x))?;
            let Some((root, d)) = self.state.dc_of(&e.offender()).filter(|_| e.slot.height <= h) else {
                return Err(BlockError::EvidenceOffender(i));
            };
            if d.slashed_at.is_some() || !seen.insert(root) {
                return Err(BlockError::EvidenceRepeat(i));
            }
        }
        Ok(out)
    }

    /// Verifies the certificate, validates and executes the block, and appends it.
    pub fn commit(&mut self, cb: CertifiedBlock, store: &BTreeMap<Hash32, Batch>) -> Result<ExecOutcome, BlockError> {
        // Checked before the certificate, so a block out of place is named as such.
        let h = self.next_height_of(&cb.block)?;
        let seats = self.seats(h);
        cb.qc.verify(&seats, &cb.block.hash(), &self.chain_id)?;
        let batches = self.validate_block(&cb.block, store)?;
        Ok(self.append(cb, batches))
    }

    /// Appends a block that this datacenter's own ledger (or trustee) already verified and
    /// certified: a role machine's chain follower executes it without checking signatures
    /// again. Only the batches are looked up; a block naming one the caller did not pass is
    /// refused, as is a block out of place. The store may hold the batches or references to
    /// them (a follower need not copy a block's batches to look them up).
    pub fn follow<B: std::borrow::Borrow<Batch>>(
        &mut self,
        cb: CertifiedBlock,
        store: &BTreeMap<Hash32, B>,
    ) -> Result<ExecOutcome, BlockError> {
        self.next_height_of(&cb.block)?;
        let tip = self.tip_hash();
        if cb.block.header.prev_hash != tip {
            return Err(BlockError::Prev {
                got: cb.block.header.prev_hash.short(),
                expected: tip.short(),
            });
        }
        let batches = match &cb.block.micro {
            None => Vec::new(),
            Some(m) => m
                .batches
                .iter()
                .map(|r| {
                    store
                        .get(&r.digest)
                        .map(B::borrow)
                        .ok_or_else(|| BlockError::MissingBatch(r.digest.short()))
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        Ok(self.append(cb, batches))
    }

    fn append(&mut self, cb: CertifiedBlock, batches: Vec<&Batch>) -> ExecOutcome {
        let h = cb.block.height();
        let seats = self.seats(h);
        let batch_winners: Vec<Winner> = batches
            .iter()
            .map(|b| {
                let e = self
                    .payroll_entry(b.cycle - 1, b.slot)
                    .expect("validated payroll entry");
                Winner {
                    miner: e.miner,
                    sponsor: e.dc,
                }
            })
            .collect();
        let prev_seats = (h > 1).then(|| self.seats(h - 1));
        let out = self.state.execute(
            &self.genesis,
            &ExecContext {
                block: &cb.block,
                batches,
                batch_winners,
                prev_seats: prev_seats.as_ref(),
            },
        );
        // Rule 12: block h-1's certified timestamp is fixed by the QC this block embeds, which
        // every node holds alike; the one from this node's own QC was only provisional. Without
        // a MicroBlock (its producers were all silent) it is the previous one plus the cycle
        // length the DCC expected, equally the same everywhere.
        if h >= 2 {
            let i = h as usize - 1;
            let before = self.timestamps[i - 1];
            self.timestamps[i] = match cb.block.micro.as_ref().and_then(|m| m.prev_qc.as_ref()) {
                Some(qc) => {
                    let s = prev_seats.as_ref().expect("h >= 2");
                    dcc::certified_timestamp(
                        before,
                        qc.precommits
                            .iter()
                            .map(|v| (v.timestamp, s.weight(&v.voter)))
                            .collect(),
                    )
                }
                None => before.saturating_add(dcc::cycle_length(self.params(), &self.timestamps[..i])),
            };
        }
        // Provisional until block h+1 embeds a QC for h: it schedules cycle h+1 meanwhile.
        let ts = dcc::certified_timestamp(
            self.timestamps[h as usize - 1],
            cb.qc
                .precommits
                .iter()
                .map(|v| (v.timestamp, seats.weight(&v.voter)))
                .collect(),
        );
        self.lots_ok.clear();
        self.seeds_ok.clear();
        self.qcs_ok.clear();
        self.prevotes_ok.clear();
        self.delays_ok.clear();
        self.micros_ok.clear();
        self.roots.push(out.state_root);
        self.seeds.push(cb.block.header.seed);
        self.timestamps.push(ts);
        self.blocks.push(cb);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;
    use crate::lot::{LotTemplate, mine};
    use crate::params::Identity;

    fn lot(c: &Chain, h: u64, sponsor: &Keypair, miner: &str) -> Lot {
        let t = LotTemplate {
            height: h,
            prev_hash: Hash32::ZERO,
            sponsor: sponsor.public(),
        };
        mine(&Keypair::from_label(miner), c.id(), &t, 0, 0, 1)
            .expect("no pow")
            .countersign(sponsor, c.id())
    }

    // Rule 1: a lot counts only if a registered, bonded, unslashed datacenter at least K heights
    // old countersigned it with its sponsor key. Each case is a way to get a seat for free.
    #[test]
    fn a_sponsor_is_registered_k_heights_ago_bonded_unslashed_and_signs_with_its_sponsor_key() {
        let founders: Vec<Identity> = (0..2).map(|i| Identity::from_label(&format!("f{i}"))).collect();
        let mut g = Genesis::solo(&founders[0], vec![]);
        g.founders.push(founders[1].datacenter("f1:7000", g.params.min_bond));
        let mut c = Chain::new(g).unwrap();
        let k = c.params().registration_age;
        let min_bond = c.params().min_bond;
        // Founders qualify from height 1 (founder 0 is rank 0 of block 0: it makes seed_1).
        assert_eq!(c.check_sponsor(1, &lot(&c, 1, &founders[1].sponsor, "m")), Ok(()));
        assert!(matches!(
            c.check_sponsor(1, &lot(&c, 1, &founders[0].sponsor, "m")),
            Err(LotError::Barred(_))
        ));
        // A newcomer registered at height 5 sponsors from 5 + K on, not before.
        let newcomer = Identity::from_label("newcomer");
        c.state
            .register(newcomer.root.public(), newcomer.keys(), "n:7000".into(), min_bond, 5);
        let young = |c: &Chain, h| c.check_sponsor(h, &lot(c, h, &newcomer.sponsor, "m"));
        assert!(matches!(young(&c, 5 + k - 1), Err(LotError::Sponsor(_))));
        assert_eq!(young(&c, 5 + k), Ok(()));
        // Any role key but the sponsor key is refused: a batch or vote key does not sponsor.
        for role in [&newcomer.batch, &newcomer.vote, &newcomer.micro, &newcomer.root] {
            assert!(matches!(
                c.check_sponsor(5 + k, &lot(&c, 5 + k, role, "m")),
                Err(LotError::Sponsor(_))
            ));
        }
        // Unbonded (below the minimum) or slashed: refused.
        let poor = Identity::from_label("poor");
        c.state
            .register(poor.root.public(), poor.keys(), "p:7000".into(), min_bond - 1, 1);
        assert!(matches!(
            c.check_sponsor(1 + k, &lot(&c, 1 + k, &poor.sponsor, "m")),
            Err(LotError::Sponsor(_))
        ));
        c.state.datacenters.get_mut(&newcomer.root.public()).unwrap().slashed_at = Some(5 + k);
        assert_eq!(young(&c, 5 + k), Ok(()), "slashing takes effect from the next height");
        assert!(matches!(young(&c, 5 + k + 1), Err(LotError::Sponsor(_))));
        // A key nobody registered: refused.
        let sybil = Keypair::from_label("sybil");
        assert!(matches!(
            c.check_sponsor(1, &lot(&c, 1, &sybil, "m")),
            Err(LotError::Sponsor(_))
        ));
    }
}
