//! One datacenter as a single sans-IO state machine: its miner pool, clock beacon, lot
//! drawing, kernel buffer, trustee seat and ledger. `handle` and `tick` take the local
//! time and return what to send; the services (and the simulator) are shells around it.

use crate::block::{Batch, BatchRef, Block, CertifiedBlock, Header, MicroBlock, route_order};
use crate::buffer::{Admitted, BufferError, KernelBuffer};
use crate::chain::{BlockError, Chain};
use crate::codec::{Canon, Hash32, tag};
use crate::crypto::{Keypair, PublicKey, Signature, verify};
use crate::dcc::{Cycle, EventError, check_event};
use crate::ibft::{Action, Ibft};
use crate::ledger::ExecOutcome;
use crate::lot::Lot;
use crate::lot::{LotError, LotPool, LotTemplate, mine};
use crate::params::{Genesis, ParamsError};
use crate::seed::{SeedAnnouncement, SeedError};
use crate::tx::Transaction;
use crate::vote::{Evidence, Step, Vote, VoteJournal, VoteSigner};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A signed proposal: round 0 carries a seat's own-view block, round >= 1 the round
/// proposer's pick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub round: u32,
    pub valid_round: Option<u32>,
    pub block: Block,
    pub proposer: PublicKey,
    pub sig: Signature,
    /// Prevotes justifying `valid_round` (each signed by its voter; not covered by `sig`).
    pub pol: Vec<Vote>,
}

impl Proposal {
    fn signing_bytes(round: u32, valid_round: Option<u32>, hash: &Hash32) -> Vec<u8> {
        let mut c = Canon::new(tag::PROPOSAL);
        c.u32(round).u32(valid_round.map_or(u32::MAX, |r| r)).h(hash);
        c.finish()
    }
    pub fn new(key: &Keypair, round: u32, valid_round: Option<u32>, block: Block) -> Self {
        let sig = key.sign(&Self::signing_bytes(round, valid_round, &block.hash()));
        Proposal {
            round,
            valid_round,
            block,
            proposer: key.public(),
            sig,
            pol: Vec::new(),
        }
    }
    pub fn verify(&self) -> bool {
        verify(
            &self.proposer,
            &Self::signing_bytes(self.round, self.valid_round, &self.block.hash()),
            &self.sig,
        )
        .is_ok()
    }
}

/// Messages between datacenters, and from clients to kernel buffers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    Lot(Lot),
    Seed(SeedAnnouncement),
    Batch(Batch),
    Micro(MicroBlock),
    Proposal(Proposal),
    Vote(Vote),
    Certified(CertifiedBlock, Vec<Batch>),
    SyncRequest {
        from: u64,
    },
    BatchRequest(Vec<Hash32>),
    /// A client's transaction for payroll slot `slot` of the latest certified block it knows.
    Tx {
        client: u64,
        slot: u32,
        tx: Transaction,
    },
    /// Acknowledged transactions a datacenter hands over because it serves no slot this cycle.
    Forward(Vec<Transaction>),
}

impl Msg {
    pub fn height(&self) -> Option<u64> {
        match self {
            Msg::Lot(l) => Some(l.height),
            Msg::Seed(s) => Some(s.height),
            Msg::Micro(m) => Some(m.height),
            Msg::Proposal(p) => Some(p.block.height()),
            Msg::Vote(v) => Some(v.height),
            Msg::Certified(c, _) => Some(c.block.height()),
            _ => None,
        }
    }
}

/// What a certified height did, for logs, metrics and checkers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub height: u64,
    pub hash: Hash32,
    pub round: u32,
    pub leader: PublicKey,
    pub signers: Vec<PublicKey>,
    pub txs: usize,
    pub outcome: ExecOutcome,
    pub included: Vec<Hash32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Broadcast(Msg),
    Send(PublicKey, Msg),
    /// Persist before the acknowledgement that follows it is sent.
    PersistTx(Transaction),
    Reply {
        client: u64,
        tx_hash: Hash32,
        result: Result<(), BufferError>,
    },
    Committed(Box<Committed>),
    /// Call `tick` at this local time.
    Wakeup(u64),
}

/// Why an input was refused. Refusals change nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error("cycle: {0}")]
    Event(#[from] EventError),
    #[error("lot: {0}")]
    Lot(#[from] LotError),
    #[error("seed: {0}")]
    Seed(#[from] SeedError),
    #[error("block: {0}")]
    Block(#[from] BlockError),
    #[error("bad signature")]
    Signature,
    #[error("not the proposer of round {0}")]
    NotProposer(u32),
    #[error("vote: {0}")]
    Vote(#[from] crate::ibft::VoteReject),
    #[error("buffered for a later height")]
    Future,
    #[error("stale: for a past height")]
    Stale,
    #[error("lineup rank {0} is not in the previous block's lineup")]
    Rank(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Duty {
    HandOver,
    Mine,
    Seed,
    Seal,
    BackupSeed,
    Micro,
    BackupMicro,
    OwnView,
    FallbackSeed,
}

const MAX_FUTURE: usize = 4096;
const MAX_AHEAD: usize = 64;

#[derive(Debug)]
pub struct Node<J: VoteJournal> {
    pub key: Keypair,
    pub endpoint: String,
    signer: VoteSigner<J>,
    pub miners: Vec<Keypair>,
    pub chain: Chain,
    batches: BTreeMap<Hash32, Batch>,
    /// Batches of certified blocks, served to peers that catch up and to verifiers.
    archive: BTreeMap<Hash32, Batch>,
    pub buffer: KernelBuffer,
    rng: u64,
    cycle: Cycle,
    lots: LotPool,
    seeds: BTreeMap<u32, SeedAnnouncement>,
    micros: BTreeMap<u32, MicroBlock>,
    blocks: BTreeMap<Hash32, Block>,
    valid_blocks: BTreeSet<Hash32>,
    waiting: BTreeMap<Hash32, Block>,
    own_block: Option<Block>,
    own_view_inputs: (usize, usize, usize),
    ibft: Ibft,
    evidence_pool: Vec<Evidence>,
    future: Vec<(PublicKey, Msg)>,
    ahead: BTreeMap<u64, (CertifiedBlock, Vec<Batch>)>,
    done: BTreeSet<Duty>,
    next_stall: u64,
    last_sync: u64,
    helped: BTreeSet<(PublicKey, u64)>,
}

impl<J: VoteJournal> Node<J> {
    pub fn new(
        genesis: Genesis,
        key: Keypair,
        endpoint: String,
        miners: Vec<Keypair>,
        journal: J,
        entropy: u64,
        now: u64,
    ) -> Result<Self, ParamsError> {
        let chain = Chain::new(genesis)?;
        let p = chain.params().clone();
        let cycle = Cycle {
            height: 1,
            start: now,
            length: p.l0_ms,
        };
        let seats = chain.seats(1);
        let me = key.public();
        let mut n = Node {
            signer: VoteSigner::new(key.clone(), journal),
            key,
            endpoint,
            miners,
            batches: BTreeMap::new(),
            archive: BTreeMap::new(),
            buffer: KernelBuffer::default(),
            rng: entropy,
            cycle,
            lots: LotPool::new(1),
            seeds: BTreeMap::new(),
            micros: BTreeMap::new(),
            blocks: BTreeMap::new(),
            valid_blocks: BTreeSet::new(),
            waiting: BTreeMap::new(),
            own_block: None,
            own_view_inputs: (0, 0, 0),
            ibft: Ibft::new(1, seats, me, p, cycle, chain.timestamps[0], Vec::new()),
            chain,
            evidence_pool: Vec::new(),
            future: Vec::new(),
            ahead: BTreeMap::new(),
            done: BTreeSet::new(),
            next_stall: 0,
            last_sync: 0,
            helped: BTreeSet::new(),
        };
        let mut sink = Vec::new();
        n.start_cycle(now, &mut sink);
        Ok(n)
    }

    pub fn public(&self) -> PublicKey {
        self.key.public()
    }
    pub fn height(&self) -> u64 {
        self.chain.height()
    }
    pub fn cycle(&self) -> Cycle {
        self.cycle
    }
    pub fn round(&self) -> u32 {
        self.ibft.round
    }
    pub fn describe(&self) -> String {
        let lineup: Vec<String> = self.chain.block(self.chain.height()).map_or(Vec::new(), |b| {
            b.block.tree.iter().map(|l| l.sponsor_pk.short()).collect()
        });
        format!(
            "height {} cycle start {} lineup [{}] seeds {:?} lots {} | {}",
            self.chain.height(),
            self.cycle.start,
            lineup.join(","),
            self.seeds.keys().collect::<Vec<_>>(),
            self.lots.len(),
            self.ibft.describe()
        )
    }
    pub fn journal(&self) -> &J {
        &self.signer.journal
    }
    pub fn batch(&self, d: &Hash32) -> Option<&Batch> {
        self.archive.get(d).or_else(|| self.batches.get(d))
    }

    /// Block `h` with its batches: the public data a verifier replays.
    pub fn full_block(&self, h: u64) -> Option<(CertifiedBlock, Vec<Batch>)> {
        let cb = self.chain.block(h)?.clone();
        let batches = self.batches_of(&cb.block);
        Some((cb, batches))
    }

    /// A crash and restart: everything but the durable parts (chain, batches, buffer,
    /// vote journal, keys) is lost.
    pub fn restart(&mut self, now: u64) -> Vec<Output> {
        self.lots = LotPool::new(0);
        self.seeds.clear();
        self.micros.clear();
        self.future.clear();
        self.ahead.clear();
        self.evidence_pool.clear();
        self.helped.clear();
        let mut out = Vec::new();
        self.start_cycle(now, &mut out);
        self.finish(now, out)
    }

    fn rand(&mut self) -> u64 {
        // SplitMix64 over the entropy the shell supplied.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn start_cycle(&mut self, now: u64, out: &mut Vec<Output>) {
        let h = self.chain.height() + 1;
        let p = self.chain.params().clone();
        self.cycle = Cycle {
            height: h,
            start: now,
            length: self.chain.cycle_length(),
        };
        self.lots = LotPool::new(h);
        self.seeds.clear();
        self.micros.clear();
        self.blocks.clear();
        self.valid_blocks.clear();
        self.waiting.clear();
        self.own_block = None;
        self.own_view_inputs = (0, 0, 0);
        self.done.clear();
        self.helped.retain(|(_, x)| *x + 2 >= h);
        let restored = self.signer.journal.at_height(h);
        self.ibft = Ibft::new(
            h,
            self.chain.seats(h),
            self.public(),
            p,
            self.cycle,
            *self.chain.timestamps.last().expect("genesis"),
            restored,
        );
        self.next_stall = now + 3 * self.cycle.length;
        let state = &self.chain.state;
        self.evidence_pool.retain(|e| !state.punished.contains_key(&e.hash()));
        for (from, m) in std::mem::take(&mut self.future) {
            if m.height() == Some(h) {
                let _ = self.on_msg(now, from, m, out);
            } else if m.height().is_some_and(|x| x > h) {
                self.future.push((from, m));
            }
        }
    }

    /// Handles one message from peer `from` (a node key; clients use their own keys).
    pub fn handle(&mut self, now: u64, from: PublicKey, msg: Msg) -> (Vec<Output>, Result<(), Reject>) {
        let mut out = Vec::new();
        let r = self.on_msg(now, from, msg, &mut out);
        let out = self.finish(now, out);
        (out, r)
    }

    /// Runs the duties and timeouts due at `now`.
    pub fn tick(&mut self, now: u64) -> Vec<Output> {
        self.finish(now, Vec::new())
    }

    fn finish(&mut self, now: u64, mut out: Vec<Output>) -> Vec<Output> {
        for _ in 0..16 {
            let before = self.chain.height();
            self.duties(now, &mut out);
            self.consensus(now, &mut out);
            self.drain_ahead(now, &mut out);
            if self.chain.height() == before {
                break;
            }
        }
        if now >= self.next_stall {
            self.stalled(now, &mut out);
        }
        out.push(Output::Wakeup(self.next_deadline()));
        out
    }

    fn next_deadline(&self) -> u64 {
        let p = self.chain.params();
        let c = &self.cycle;
        let mut d = vec![self.next_stall];
        let duty_at = [
            (Duty::HandOver, c.start),
            (Duty::Mine, c.start + c.length * p.phi_permille / 4000),
            (Duty::Seed, c.mining_close(p)),
            (Duty::Seal, c.mining_close(p)),
            (Duty::BackupSeed, c.seed_deadline(p)),
            (Duty::Micro, c.seed_deadline(p)),
            (
                Duty::BackupMicro,
                c.seed_deadline(p) + c.length * p.delta_permille / 4000,
            ),
            (Duty::OwnView, c.throttle(p)),
            (Duty::FallbackSeed, c.throttle(p)),
        ];
        d.extend(duty_at.iter().filter(|(k, _)| !self.done.contains(k)).map(|x| x.1));
        d.extend(self.ibft.next_deadline());
        d.into_iter().min().expect("stall deadline")
    }

    fn due(&mut self, duty: Duty, at: u64, now: u64) -> bool {
        now >= at && self.done.insert(duty)
    }

    fn sponsor_at(&self, rank: usize) -> Option<PublicKey> {
        self.chain.lineup(self.cycle.height - 1, rank).map(|e| e.sponsor)
    }

    fn duties(&mut self, now: u64, out: &mut Vec<Output>) {
        let p = self.chain.params().clone();
        let c = self.cycle;
        let h = c.height;
        let me = self.public();
        // Not on this cycle's payroll: hand pending transactions, at once, to the buffers
        // their senders route to, so they make this cycle's batches. They stay held here
        // until executed, and are handed over again if their new batch expires.
        let serving = !self.chain.payroll_of(h - 1, &me).is_empty();
        if (self.due(Duty::HandOver, c.start, now) || (now >= c.mining_close(&p) && self.buffer.pending_len() > 0))
            && !serving
        {
            let mut by_dest: BTreeMap<PublicKey, Vec<Transaction>> = BTreeMap::new();
            for tx in self.buffer.hand_over(h) {
                let dest = route_order(&tx.sender, p.payroll).find_map(|s| self.chain.payroll_entry(h - 1, s));
                if let Some(e) = dest {
                    by_dest.entry(e.sponsor).or_default().push(tx);
                }
            }
            for (to, txs) in by_dest {
                out.push(Output::Send(to, Msg::Forward(txs)));
            }
        }
        if self.due(Duty::Mine, c.start + c.length * p.phi_permille / 4000, now) {
            let t = LotTemplate {
                height: h,
                prev_hash: self.chain.tip_hash(),
                sponsor_pk: me,
                sponsor_endpoint: self.endpoint.clone(),
            };
            let budget = 1u64 << (p.pow_bits + 8).min(40);
            for i in 0..self.miners.len() {
                let start = self.rand();
                if let Some(lot) = mine(&self.miners[i], &t, p.pow_bits, start, budget) {
                    self.chain.note_lot(lot.hash());
                    let _ = self.lots.add(lot.clone());
                    out.push(Output::Broadcast(Msg::Lot(lot)));
                }
            }
        }
        if self.due(Duty::Seed, c.mining_close(&p), now) && self.sponsor_at(0) == Some(me) {
            self.publish_seed(0, out);
        }
        if self.due(Duty::Seal, c.mining_close(&p), now) {
            let slots = self.chain.payroll_of(h - 1, &me);
            if let Some(slot) = slots.first()
                && let Some(b) = self.buffer.seal(&self.key, h, *slot, &p)
            {
                self.add_batch(b.clone());
                out.push(Output::Broadcast(Msg::Batch(b)));
            }
            for b in self.buffer.sealed.values().filter(|b| b.cycle < h) {
                out.push(Output::Broadcast(Msg::Batch(b.clone())));
            }
        }
        if self.due(Duty::BackupSeed, c.seed_deadline(&p), now) && !self.seeds.contains_key(&0) {
            for rank in 1..=p.backups {
                if self.sponsor_at(rank) == Some(me) {
                    self.publish_seed(rank as u32, out);
                }
            }
        }
        if self.due(Duty::Micro, c.seed_deadline(&p), now) && self.sponsor_at(0) == Some(me) {
            self.publish_micro(0, out);
        }
        if self.due(
            Duty::BackupMicro,
            c.seed_deadline(&p) + c.length * p.delta_permille / 4000,
            now,
        ) && !self.micros.contains_key(&0)
        {
            for rank in 1..=p.backups {
                if self.sponsor_at(rank) == Some(me) {
                    self.publish_micro(rank as u32, out);
                }
            }
        }
        if self.due(Duty::OwnView, c.throttle(&p), now) {
            self.build_own_view(out);
        }
        // Nobody with a seed rank spoke: the rest of the lineup steps in, lowest rank first,
        // so that one withholding sponsor holding every seed rank cannot stop the clock.
        if self.due(Duty::FallbackSeed, c.throttle(&p), now) && self.seeds.is_empty() {
            let len = p.lineup_len();
            if let Some(rank) = (p.backups + 1..len).find(|r| self.sponsor_at(*r) == Some(me)) {
                self.publish_seed(rank as u32, out);
            }
        }
    }

    fn publish_seed(&mut self, rank: u32, out: &mut Vec<Output>) {
        let h = self.cycle.height;
        let a = SeedAnnouncement::produce(&self.key, &self.chain.seeds[h as usize - 1], h, rank);
        self.chain.note_seed(&a.producer, &a.seed, &a.proof);
        self.seeds.insert(rank, a.clone());
        out.push(Output::Broadcast(Msg::Seed(a)));
    }

    fn publish_micro(&mut self, rank: u32, out: &mut Vec<Output>) {
        let h = self.cycle.height;
        let p = self.chain.params();
        let state = &self.chain.state;
        let mut refs: Vec<BatchRef> = self
            .batches
            .values()
            .filter(|b| b.cycle <= h && b.cycle + p.batch_expiry >= h)
            .map(|b| BatchRef {
                cycle: b.cycle,
                slot: b.slot,
                digest: b.digest(),
            })
            .filter(|r| !state.included.contains_key(&r.digest))
            .collect();
        refs.sort();
        let m = MicroBlock {
            height: h,
            producer_rank: rank,
            producer_pk: self.public(),
            batches: refs,
            prev_qc: self.chain.block(h - 1).map(|b| b.qc.clone()),
            evidence: self.evidence_pool.clone(),
            sig: Signature::default(),
        }
        .sign(&self.key);
        self.micros.insert(rank, m.clone());
        out.push(Output::Broadcast(Msg::Micro(m)));
    }

    fn build_own_view(&mut self, out: &mut Vec<Output>) {
        let h = self.cycle.height;
        let p = self.chain.params().clone();
        let mut view = None;
        if let Some((rank, seed)) = self.seeds.iter().next().map(|(r, s)| (*r, s.clone())) {
            let tree = self.lots.tree(&seed.seed, p.lineup_len(), p.backups, |l| {
                !self.chain.is_barred(h, rank, l)
            });
            if !tree.is_empty() {
                let header = Header {
                    height: h,
                    prev_hash: self.chain.tip_hash(),
                    seed: seed.seed,
                    seed_rank: rank,
                    vrf_proof: seed.proof,
                    prev_state_root: *self.chain.roots.last().expect("genesis root"),
                };
                let mut candidates: Vec<Option<MicroBlock>> = self.micros.values().cloned().map(Some).collect();
                candidates.push(None);
                for micro in candidates {
                    let b = Block {
                        header: header.clone(),
                        tree: tree.clone(),
                        micro,
                    };
                    if self.chain.validate_block(&b, &self.batches).is_ok() {
                        view = Some(b);
                        break;
                    }
                }
            }
        }
        let hash = view.as_ref().map(|b| b.hash());
        if let Some(b) = view {
            self.valid_blocks.insert(b.hash());
            self.blocks.insert(b.hash(), b.clone());
            if self.ibft.seats.weight(&self.public()) > 0 {
                out.push(Output::Broadcast(Msg::Proposal(Proposal::new(
                    &self.key,
                    0,
                    None,
                    b.clone(),
                ))));
            }
            self.own_block = Some(b);
        }
        self.ibft.set_own_view(hash);
    }

    fn consensus(&mut self, now: u64, out: &mut Vec<Output>) {
        // A seed or MicroBlock that came after the throttle still makes an own view for the
        // later rounds' proposals.
        let inputs = (self.seeds.len(), self.micros.len(), self.lots.len());
        if self.own_block.is_none()
            && self.done.contains(&Duty::OwnView)
            && !self.seeds.is_empty()
            && inputs != self.own_view_inputs
        {
            self.own_view_inputs = inputs;
            self.build_own_view(out);
        }
        for _ in 0..8 {
            let valid = self.valid_blocks.clone();
            let actions = self.ibft.progress(now, &|v| valid.contains(v));
            if actions.is_empty() {
                break;
            }
            for a in actions {
                match a {
                    Action::Vote { round, step, value } => {
                        let h = self.cycle.height;
                        let ts = if step == Step::Precommit {
                            now.max(self.chain.timestamps.last().expect("genesis") + 1)
                        } else {
                            0
                        };
                        if let Ok(v) = self.signer.sign(h, round, step, value, ts) {
                            let _ = self.ibft.on_vote(v.clone(), &|_| false);
                            out.push(Output::Broadcast(Msg::Vote(v)));
                        }
                    }
                    Action::Propose {
                        round,
                        value,
                        valid_round,
                    } => {
                        if let Some(b) = self.blocks.get(&value) {
                            let mut p = Proposal::new(&self.key, round, valid_round, b.clone());
                            if valid_round.is_some() {
                                p.pol = self.ibft.pol_votes();
                            }
                            out.push(Output::Broadcast(Msg::Proposal(p)));
                        }
                    }
                    Action::Decide(qc) => {
                        let block = self.blocks.get(&qc.value).cloned().expect("decided values are held");
                        let cb = CertifiedBlock { block, qc };
                        if let Err(e) = self.commit(now, cb, true, out) {
                            // Validity was checked when the block was admitted; this is a bug.
                            panic!("commit of a decided block failed: {e}");
                        }
                        return;
                    }
                }
            }
        }
    }

    fn commit(
        &mut self,
        now: u64,
        cb: CertifiedBlock,
        announce: bool,
        out: &mut Vec<Output>,
    ) -> Result<(), BlockError> {
        let outcome = self.chain.commit(cb.clone(), &self.batches)?;
        let included: Vec<Hash32> = cb
            .block
            .micro
            .as_ref()
            .map_or(Vec::new(), |m| m.batches.iter().map(|r| r.digest).collect());
        let p = self.chain.params().clone();
        self.buffer
            .on_executed(cb.block.height(), &outcome.receipts, &included, &self.chain.state, &p);
        let h = cb.block.height();
        for d in &included {
            if let Some(b) = self.batches.remove(d) {
                self.archive.insert(*d, b);
            }
        }
        self.batches.retain(|_, b| b.cycle + p.batch_expiry + 2 >= h);
        if announce {
            out.push(Output::Broadcast(Msg::Certified(
                cb.clone(),
                self.batches_of(&cb.block),
            )));
        }
        out.push(Output::Committed(Box::new(Committed {
            height: h,
            hash: cb.block.hash(),
            round: cb.qc.round,
            leader: cb.block.leader().miner_pk,
            signers: cb.qc.signers().copied().collect(),
            txs: outcome.receipts.len(),
            outcome,
            included,
        })));
        // Equivocation seen at this height becomes evidence for the next MicroBlocks.
        for e in std::mem::take(&mut self.ibft.evidence) {
            if !self.evidence_pool.contains(&e) {
                self.evidence_pool.push(e);
            }
        }
        self.start_cycle(now, out);
        Ok(())
    }

    fn batches_of(&self, b: &Block) -> Vec<Batch> {
        b.micro.as_ref().map_or(Vec::new(), |m| {
            m.batches
                .iter()
                .filter_map(|r| {
                    self.archive
                        .get(&r.digest)
                        .or_else(|| self.batches.get(&r.digest))
                        .cloned()
                })
                .collect()
        })
    }

    fn drain_ahead(&mut self, now: u64, out: &mut Vec<Output>) {
        while let Some((cb, batches)) = self.ahead.remove(&(self.chain.height() + 1)) {
            for b in batches {
                self.add_batch(b);
            }
            if self.commit(now, cb, false, out).is_err() {
                break;
            }
        }
        let h = self.chain.height();
        self.ahead.retain(|k, _| *k > h);
    }

    fn stalled(&mut self, now: u64, out: &mut Vec<Output>) {
        self.next_stall = now + 2 * self.cycle.length;
        // Seeds and MicroBlocks are sent once; a partition may have swallowed them.
        for a in self.seeds.values() {
            out.push(Output::Broadcast(Msg::Seed(a.clone())));
        }
        for m in self.micros.values() {
            out.push(Output::Broadcast(Msg::Micro(m.clone())));
        }
        for v in self.ibft.my_votes() {
            out.push(Output::Broadcast(Msg::Vote(v)));
        }
        if self.ibft.seats.weight(&self.public()) > 0 {
            // Share the block this seat is locked on (with the polka that justifies it), so
            // that peers holding a conflicting vote of an equivocator still see the polka.
            let valid = self.ibft.valid().and_then(|(_, v)| self.blocks.get(&v).cloned());
            if let Some(b) = valid {
                let mut p = Proposal::new(&self.key, 0, None, b);
                p.pol = self.ibft.pol_votes();
                out.push(Output::Broadcast(Msg::Proposal(p)));
            } else if let Some(b) = &self.own_block {
                out.push(Output::Broadcast(Msg::Proposal(Proposal::new(
                    &self.key,
                    0,
                    None,
                    b.clone(),
                ))));
            }
        }
        out.push(Output::Broadcast(Msg::SyncRequest {
            from: self.chain.height() + 1,
        }));
    }

    fn add_batch(&mut self, b: Batch) -> bool {
        match self.chain.verify_batch(&b) {
            Ok(d) => {
                self.batches.entry(d).or_insert(b);
                true
            }
            Err(_) => false,
        }
    }

    fn admit_block(&mut self, from: PublicKey, b: Block, out: &mut Vec<Output>) -> Result<Hash32, Reject> {
        let hash = b.hash();
        if self.valid_blocks.contains(&hash) {
            return Ok(hash);
        }
        match self.chain.validate_block(&b, &self.batches) {
            Ok(_) => {
                self.valid_blocks.insert(hash);
                self.blocks.insert(hash, b);
                Ok(hash)
            }
            Err(BlockError::MissingBatch(_)) => {
                let missing: Vec<Hash32> = b.micro.as_ref().map_or(Vec::new(), |m| {
                    m.batches
                        .iter()
                        .map(|r| r.digest)
                        .filter(|d| !self.batches.contains_key(d))
                        .collect()
                });
                out.push(Output::Send(from, Msg::BatchRequest(missing)));
                if self.waiting.len() < 64 {
                    self.waiting.insert(hash, b);
                }
                Err(Reject::Future)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn retry_waiting(&mut self, out: &mut Vec<Output>) {
        let waiting = std::mem::take(&mut self.waiting);
        for (_, b) in waiting {
            let ready = b
                .micro
                .as_ref()
                .is_none_or(|m| m.batches.iter().all(|r| self.batches.contains_key(&r.digest)));
            if ready {
                let _ = self.admit_block(self.public(), b, out);
            } else {
                self.waiting.insert(b.hash(), b);
            }
        }
    }

    fn defer(&mut self, from: PublicKey, m: Msg) -> Result<(), Reject> {
        if self.future.len() < MAX_FUTURE {
            self.future.push((from, m));
        }
        Err(Reject::Future)
    }

    fn on_msg(&mut self, now: u64, from: PublicKey, msg: Msg, out: &mut Vec<Output>) -> Result<(), Reject> {
        let h = self.cycle.height;
        let p = self.chain.params().clone();
        match msg {
            Msg::Lot(lot) => {
                // A lot for the next cycle is held, not counted, until this node reaches that
                // cycle and can check it against the block it names.
                if lot.height == h + 1 {
                    return self.defer(from, Msg::Lot(lot));
                }
                check_event(&self.cycle, &self.chain.tip_hash(), lot.height, &lot.prev_hash)?;
                let deadline = self.cycle.throttle(&p);
                if now >= deadline {
                    return Err(EventError::Late {
                        height: h,
                        at: now,
                        deadline,
                    }
                    .into());
                }
                let lh = lot.validate(p.pow_bits)?;
                self.lots.add(lot)?;
                self.chain.note_lot(lh);
                Ok(())
            }
            Msg::Seed(a) => {
                if a.height > h {
                    return self.defer(from, Msg::Seed(a));
                }
                if a.height < h {
                    return Err(Reject::Stale);
                }
                let producer = self.sponsor_at(a.rank as usize).ok_or(Reject::Rank(a.rank))?;
                if self.seeds.contains_key(&a.rank) {
                    return Ok(());
                }
                a.verify(&self.chain.seeds[h as usize - 1], &producer)?;
                self.chain.note_seed(&producer, &a.seed, &a.proof);
                self.seeds.insert(a.rank, a);
                Ok(())
            }
            Msg::Batch(b) => {
                if b.cycle > h {
                    return self.defer(from, Msg::Batch(b));
                }
                let d = b.digest();
                if !self.batches.contains_key(&d) {
                    self.chain.verify_batch(&b)?;
                    self.batches.insert(d, b);
                    self.retry_waiting(out);
                }
                Ok(())
            }
            Msg::Micro(m) => {
                if m.height > h {
                    return self.defer(from, Msg::Micro(m));
                }
                if m.height < h {
                    return Err(Reject::Stale);
                }
                if m.producer_rank as usize > p.backups {
                    return Err(Reject::Rank(m.producer_rank));
                }
                if self.micros.get(&m.producer_rank) == Some(&m) {
                    return Ok(());
                }
                if self.sponsor_at(m.producer_rank as usize) != Some(m.producer_pk) || m.verify_sig().is_err() {
                    return Err(Reject::Signature);
                }
                let missing: Vec<Hash32> = m
                    .batches
                    .iter()
                    .map(|r| r.digest)
                    .filter(|d| !self.batches.contains_key(d))
                    .collect();
                if !missing.is_empty() {
                    out.push(Output::Send(from, Msg::BatchRequest(missing)));
                }
                self.micros.entry(m.producer_rank).or_insert(m);
                Ok(())
            }
            Msg::Proposal(pr) => {
                let ph = pr.block.height();
                if ph > h {
                    return self.defer(from, Msg::Proposal(pr));
                }
                if ph < h {
                    return Err(Reject::Stale);
                }
                if !pr.verify() || self.ibft.seats.weight(&pr.proposer) == 0 {
                    return Err(Reject::Signature);
                }
                if pr.round >= 1 && self.ibft.seats.proposer(pr.round) != pr.proposer {
                    return Err(Reject::NotProposer(pr.round));
                }
                let hash = self.admit_block(from, pr.block, out)?;
                for v in pr.pol.into_iter().take(4 * self.chain.params().seats) {
                    if v.height == h && v.step == Step::Prevote && v.value == Some(hash) && v.verify_sig().is_ok() {
                        let blocks = &self.blocks;
                        let _ = self.ibft.on_vote(v, &|x| blocks.contains_key(x));
                    }
                }
                if pr.round >= 1 {
                    self.ibft.on_proposal(pr.round, hash, pr.valid_round);
                }
                Ok(())
            }
            Msg::Vote(v) => {
                if v.height > h {
                    return self.defer(from, Msg::Vote(v));
                }
                if v.height < h {
                    // The voter is behind: hand it the block it is still voting on, once.
                    if let Some(cb) = self.chain.block(v.height)
                        && self.helped.insert((v.voter, v.height))
                    {
                        let batches = self.batches_of(&cb.block);
                        out.push(Output::Send(from, Msg::Certified(cb.clone(), batches)));
                    }
                    return Err(Reject::Stale);
                }
                v.verify_sig().map_err(|_| Reject::Signature)?;
                let blocks = &self.blocks;
                match self.ibft.on_vote(v, &|x| blocks.contains_key(x)) {
                    // Counted too: the conflicting vote is kept and becomes evidence.
                    Err(crate::ibft::VoteReject::Equivocation) | Ok(()) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Msg::Certified(cb, batches) => {
                let ch = cb.block.height();
                if ch <= self.chain.height() {
                    return Err(Reject::Stale);
                }
                if ch > h {
                    if self.ahead.len() < MAX_AHEAD {
                        self.ahead.insert(ch, (cb, batches));
                    }
                    // One catch-up request per half cycle, however many blocks arrive ahead.
                    if now >= self.last_sync + self.cycle.length / 2 {
                        self.last_sync = now;
                        out.push(Output::Send(from, Msg::SyncRequest { from: h }));
                    }
                    return Err(Reject::Future);
                }
                for b in batches {
                    self.add_batch(b);
                }
                self.commit(now, cb, false, out)?;
                Ok(())
            }
            Msg::SyncRequest { from: start } => {
                let top = self.chain.height().min(start.saturating_add(15));
                for x in start.max(1)..=top {
                    let cb = self.chain.block(x).expect("within height").clone();
                    let batches = self.batches_of(&cb.block);
                    out.push(Output::Send(from, Msg::Certified(cb, batches)));
                }
                Ok(())
            }
            Msg::BatchRequest(ds) => {
                for d in ds.iter().take(256) {
                    if let Some(b) = self.batches.get(d) {
                        out.push(Output::Send(from, Msg::Batch(b.clone())));
                    }
                }
                Ok(())
            }
            Msg::Forward(txs) => {
                let served = !self.chain.payroll_of(h - 1, &self.public()).is_empty();
                if served {
                    for tx in txs.into_iter().take(4096) {
                        if self
                            .buffer
                            .admit(tx.clone(), &self.chain.state, &p)
                            .is_ok_and(|a| matches!(a, Admitted::New(_)))
                        {
                            out.push(Output::PersistTx(tx));
                        }
                    }
                }
                Ok(())
            }
            Msg::Tx { client, slot, tx } => {
                let tx_hash = tx.hash();
                let result = self.accept_tx(slot, tx, out);
                out.push(Output::Reply {
                    client,
                    tx_hash,
                    result,
                });
                Ok(())
            }
        }
    }

    fn accept_tx(&mut self, slot: u32, tx: Transaction, out: &mut Vec<Output>) -> Result<(), BufferError> {
        let p = self.chain.params();
        let h = self.cycle.height;
        let entry = self.chain.payroll_entry(h - 1, slot).ok_or(BufferError::NoSlot(h))?;
        if entry.sponsor != self.public() {
            return Err(BufferError::Redirect {
                cycle: h,
                slot,
                sponsor: entry.sponsor,
                endpoint: entry.endpoint,
            });
        }
        match self.buffer.admit(tx.clone(), &self.chain.state, p)? {
            Admitted::New(_) => out.push(Output::PersistTx(tx)),
            Admitted::Again(_) => {}
        }
        Ok(())
    }
}
