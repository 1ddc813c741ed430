//! One datacenter as a single sans-IO state machine: its miner pool, clock beacon, lot
//! drawing, kernel buffer, trustee seat and ledger. `handle` and `tick` take the local
//! time and return what to send; the services (and the simulator) are shells around it.

use crate::block::{Batch, BatchRef, Block, CertifiedBlock, Header, MicroBlock, route_order};
use crate::buffer::{Admitted, BufferError, KernelBuffer};
use crate::chain::{BlockError, Chain};
use crate::codec::{Canon, ChainId, Hash32, tag};
use crate::crypto::{Keypair, PublicKey, Signature};
use crate::dcc::{Cycle, EventError, check_event};
use crate::delay::DelayProof;
use crate::ibft::{Action, Ibft};
use crate::ledger::ExecOutcome;
use crate::lot::Lot;
use crate::lot::{LotError, LotPool, LotTemplate, mine};
use crate::params::{Genesis, Identity, ParamsError};
use crate::seed::{self, SeedAnnouncement, SeedError};
use crate::statement::{Evidence, Kind, Slot};
use crate::tx::Transaction;
use crate::vote::{Step, Vote, VoteJournal, VoteSigner};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A signed proposal: round 0 carries a seat's own-view block, round >= 1 the round
/// proposer's pick. Signed by the seat's vote key as a statement of kind `Proposal` whose
/// content is `H("daoli/v2/proposal" || u32 valid_round (u32::MAX for none) || block hash)`.
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
    pub fn content(valid_round: Option<u32>, hash: &Hash32) -> Hash32 {
        let mut c = Canon::new(tag::PROPOSAL);
        c.u32(valid_round.unwrap_or(u32::MAX)).h(hash);
        c.hash()
    }
    pub fn slot(&self) -> Slot {
        Slot::new(Kind::Proposal, self.proposer, self.block.height(), self.round, 0)
    }
    pub fn new(key: &Keypair, chain: &ChainId, round: u32, valid_round: Option<u32>, block: Block) -> Self {
        let mut p = Proposal {
            round,
            valid_round,
            block,
            proposer: key.public(),
            sig: Signature::default(),
            pol: Vec::new(),
        };
        p.sig = p.slot().sign(key, chain, &Self::content(valid_round, &p.block.hash()));
        p
    }
    pub fn verify(&self, chain: &ChainId) -> bool {
        self.slot()
            .verify(chain, &Self::content(self.valid_round, &self.block.hash()), &self.sig)
            .is_ok()
    }
    /// Evidence if the same key proposed something else for the same `(height, round)`.
    pub fn evidence(&self, other: &Proposal) -> Option<Evidence> {
        let said = |p: &Proposal| crate::statement::Said {
            content: Self::content(p.valid_round, &p.block.hash()),
            sig: p.sig,
        };
        Evidence::conflict((self.slot(), said(self)), (other.slot(), said(other)))
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
    /// The height (cycle) a message belongs to; `None` for requests and client traffic.
    pub fn height(&self) -> Option<u64> {
        match self {
            Msg::Lot(l) => Some(l.height),
            Msg::Batch(b) => Some(b.cycle),
            Msg::Seed(s) => Some(s.height),
            Msg::Micro(m) => Some(m.height),
            Msg::Proposal(p) => Some(p.block.height()),
            Msg::Vote(v) => Some(v.height),
            Msg::Certified(c, _) => Some(c.block.height()),
            _ => None,
        }
    }
}

/// What a datacenter's store holds, from which [`Node::recover`] rebuilds a node after a
/// crash: the certified chain with its batches, and every output the node asked to persist
/// (`PersistTx`, `PersistEvidence`, `PersistSigned`). The vote journal is passed on its own.
/// Nothing else survives.
#[derive(Debug, Clone, Default)]
pub struct Durable {
    pub blocks: Vec<(CertifiedBlock, Vec<Batch>)>,
    pub txs: Vec<Transaction>,
    pub evidence: Vec<Evidence>,
    pub signed: Vec<Msg>,
}

impl Durable {
    /// Records what an output asks to persist.
    pub fn record(&mut self, o: &Output) {
        match o {
            Output::PersistTx(tx) => self.txs.push(tx.clone()),
            Output::PersistEvidence(e) => self.evidence.push(e.clone()),
            Output::PersistSigned(m) => self.signed.push((**m).clone()),
            _ => {}
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error("genesis: {0}")]
    Genesis(#[from] ParamsError),
    #[error("stored block {0}: {1}")]
    Block(u64, BlockError),
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
    /// Distinct seeds among the valid blocks this node held for the height (rule 4: at most 2).
    pub seed_choices: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Broadcast(Msg),
    Send(PublicKey, Msg),
    /// Persist before the acknowledgement that follows it is sent.
    PersistTx(Transaction),
    /// Persist: evidence survives restarts (rule 10).
    PersistEvidence(Evidence),
    /// Persist before the broadcast that follows: a lot this datacenter countersigned, a batch
    /// or MicroBlock it signed, a round >= 1 proposal it made. The node keeps them across
    /// `restart` and re-sends them instead of signing a conflicting one (which would be
    /// evidence against it); a shell that loses its memory must hand them back.
    PersistSigned(Box<Msg>),
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
    #[error("message for height {0}: only the next cycle is held")]
    FarFuture(u64),
    #[error("{0} from this datacenter already held or served (limit {1})")]
    Busy(&'static str, usize),
    #[error("sender is no registered datacenter")]
    UnknownPeer,
    #[error("stale: for a past height")]
    Stale,
    #[error("lineup rank {0} is not in the previous block's lineup")]
    Rank(u32),
    #[error("conflicting signed statement: evidence recorded")]
    Equivocation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Duty {
    HandOver,
    Mine,
    Seed,
    Seal,
    Micro,
    BackupMicro,
    OwnView,
}

use crate::limits;

#[derive(Debug)]
pub struct Node<J: VoteJournal> {
    pub id: Identity,
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
    /// The rank-0 producer's VRF seed, once heard (own views prefer it to the fallback).
    seed: Option<SeedAnnouncement>,
    micros: BTreeMap<u32, MicroBlock>,
    /// First batch seen per (buffer key, cycle, slot), to catch a second one (evidence).
    batch_slots: BTreeMap<Slot, Batch>,
    /// First proposal seen per (proposer, height, round).
    proposal_slots: BTreeMap<Slot, Proposal>,
    /// Durable (survive a restart): what this datacenter signed, so it never signs a second,
    /// different statement for one slot. Lots it countersigned by (height, miner), MicroBlocks
    /// it produced by height, proposals it made by (height, round).
    sponsored: BTreeMap<(u64, PublicKey), Lot>,
    produced: BTreeMap<u64, MicroBlock>,
    proposals_made: BTreeMap<(u64, u32), (Hash32, Option<u32>)>,
    blocks: BTreeMap<Hash32, Block>,
    valid_blocks: BTreeSet<Hash32>,
    waiting: BTreeMap<Hash32, Block>,
    own_block: Option<Block>,
    own_view_inputs: (usize, usize, usize),
    ibft: Ibft,
    /// The lottery delay evaluated for a height's block (rule 5).
    delay_done: Option<(u64, DelayProof)>,
    /// (height, round, value, prevotes) of the last block decided here, for the next MicroBlock.
    decided_prevotes: Option<(u64, u32, Hash32, Vec<Vote>)>,
    evidence_pool: Vec<Evidence>,
    /// Next-cycle messages, verified, by sender (rule 8).
    future: Vec<(PublicKey, Msg)>,
    /// How many of `future` each sender has: checked on every message a peer sends ahead.
    future_from: BTreeMap<PublicKey, usize>,
    /// Certified blocks ahead of this node, by (height, sender).
    ahead: BTreeMap<(u64, PublicKey), (CertifiedBlock, Vec<Batch>)>,
    /// Round-0 blocks taken per seat this height.
    own_views: BTreeMap<PublicKey, u32>,
    /// Sync and batch requests served this cycle, by sender.
    served: BTreeMap<PublicKey, (u32, u32)>,
    done: BTreeSet<Duty>,
    next_stall: u64,
    last_sync: u64,
    helped: BTreeSet<(PublicKey, u64)>,
}

impl<J: VoteJournal> Node<J> {
    pub fn new(
        genesis: Genesis,
        id: Identity,
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
        let me = id.vote.public();
        let mut n = Node {
            signer: VoteSigner::new(id.vote.clone(), *chain.id(), journal),
            id,
            miners,
            batches: BTreeMap::new(),
            archive: BTreeMap::new(),
            buffer: KernelBuffer::default(),
            rng: entropy,
            cycle,
            lots: LotPool::new(1),
            seed: None,
            micros: BTreeMap::new(),
            batch_slots: BTreeMap::new(),
            proposal_slots: BTreeMap::new(),
            sponsored: BTreeMap::new(),
            produced: BTreeMap::new(),
            proposals_made: BTreeMap::new(),
            blocks: BTreeMap::new(),
            valid_blocks: BTreeSet::new(),
            waiting: BTreeMap::new(),
            own_block: None,
            own_view_inputs: (0, 0, 0),
            ibft: Ibft::new(1, seats, me, p, cycle, chain.timestamps[0], Vec::new()),
            chain,
            delay_done: None,
            decided_prevotes: None,
            evidence_pool: Vec::new(),
            future: Vec::new(),
            future_from: BTreeMap::new(),
            ahead: BTreeMap::new(),
            served: BTreeMap::new(),
            own_views: BTreeMap::new(),
            done: BTreeSet::new(),
            next_stall: 0,
            last_sync: 0,
            helped: BTreeSet::new(),
        };
        let mut sink = Vec::new();
        n.start_cycle(now, &mut sink);
        Ok(n)
    }

    /// Rebuilds a node from its store after a crash (see [`Durable`]): replays the certified
    /// chain, puts back the acknowledged transactions, the evidence, and what it signed (so
    /// that it never signs a second, different lot, batch, MicroBlock or proposal), and takes
    /// its locks from the vote journal.
    pub fn recover(
        genesis: Genesis,
        id: Identity,
        miners: Vec<Keypair>,
        journal: J,
        durable: Durable,
        entropy: u64,
        now: u64,
    ) -> Result<Self, RecoverError> {
        let mut n = Self::new(genesis, id, miners, journal, entropy, now)?;
        let mut sink = Vec::new();
        for (cb, batches) in durable.blocks {
            let h = cb.block.height();
            for b in batches {
                n.add_batch(b);
            }
            n.commit(now, cb, false, &mut sink)
                .map_err(|e| RecoverError::Block(h, e))?;
        }
        for tx in durable.txs {
            n.buffer.restore(tx, &n.chain.state);
        }
        let h = n.cycle.height;
        let expiry = n.chain.params().batch_expiry;
        for m in durable.signed {
            match m {
                Msg::Lot(l) if l.height >= h => {
                    n.sponsored.insert((l.height, l.miner), l);
                }
                Msg::Micro(m) if m.height >= h => {
                    n.produced.insert(m.height, m);
                }
                Msg::Proposal(p) if p.block.height() >= h => {
                    n.proposals_made
                        .insert((p.block.height(), p.round), (p.block.hash(), p.valid_round));
                }
                Msg::Batch(b) if b.cycle + expiry >= h && !n.chain.state.included.contains_key(&b.digest()) => {
                    n.add_batch(b.clone());
                    n.buffer.restore_sealed(b);
                }
                _ => {}
            }
        }
        for e in durable.evidence {
            n.note_evidence(e, &mut sink);
        }
        n.start_cycle(now, &mut sink);
        Ok(n)
    }

    /// The datacenter's root key (its identity).
    pub fn public(&self) -> PublicKey {
        self.id.root.public()
    }
    /// The key this datacenter votes with.
    pub fn vote_key(&self) -> PublicKey {
        self.id.vote.public()
    }
    fn chain_id(&self) -> ChainId {
        *self.chain.id()
    }
    /// Evidence this node holds and has not yet seen included.
    pub fn evidence(&self) -> &[Evidence] {
        &self.evidence_pool
    }
    pub fn height(&self) -> u64 {
        self.chain.height()
    }
    /// Messages held for the next cycle (rule 8).
    pub fn held_next_cycle(&self) -> usize {
        self.future.len()
    }
    /// Whether this node holds `lot` (the same lot, signatures included) in its pool.
    pub fn holds_lot(&self, lot: &Lot) -> bool {
        self.lots.holds(lot)
    }
    pub fn cycle(&self) -> Cycle {
        self.cycle
    }
    pub fn round(&self) -> u32 {
        self.ibft.round
    }
    pub fn describe(&self) -> String {
        let lineup: Vec<String> = self
            .chain
            .block(self.chain.height())
            .map_or(Vec::new(), |b| b.block.tree.iter().map(|l| l.sponsor.short()).collect());
        let held: Vec<String> = self
            .valid_blocks
            .iter()
            .filter_map(|x| self.blocks.get(x))
            .map(|b| {
                let why = if self.ibft.vouched(&b.hash()) {
                    "vouched"
                } else if self.would_vote_for(b) {
                    "lucky"
                } else {
                    "unlucky"
                };
                format!("{}:{why}", b.hash().short())
            })
            .collect();
        format!(
            "height {} cycle start {} lineup [{}] seed {} lots {} held [{}] | {}",
            self.chain.height(),
            self.cycle.start,
            lineup.join(","),
            self.seed.as_ref().map_or("-".into(), |s| s.seed.short()),
            self.lots.len(),
            held.join(" "),
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
    /// vote journal, evidence, keys) is lost.
    pub fn restart(&mut self, now: u64) -> Vec<Output> {
        self.lots = LotPool::new(0);
        self.seed = None;
        self.micros.clear();
        self.future.clear();
        self.future_from.clear();
        self.ahead.clear();
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
        self.seed = None;
        self.micros.clear();
        self.batch_slots.retain(|s, _| s.height + p.batch_expiry + 1 >= h);
        self.proposal_slots.clear();
        self.sponsored.retain(|(x, _), _| *x >= h);
        self.produced.retain(|x, _| *x >= h);
        self.proposals_made.retain(|(x, _), _| *x >= h);
        self.blocks.clear();
        self.valid_blocks.clear();
        self.waiting.clear();
        self.own_block = None;
        self.own_view_inputs = (0, 0, 0);
        self.done.clear();
        self.helped.retain(|(_, x)| *x + 2 >= h);
        self.served.clear();
        self.own_views.clear();
        let restored = self.signer.journal.at_height(h);
        self.ibft = Ibft::new(
            h,
            self.chain.seats(h),
            self.vote_key(),
            p,
            self.cycle,
            *self.chain.timestamps.last().expect("genesis"),
            restored,
        );
        self.next_stall = now + 3 * self.cycle.length;
        let state = &self.chain.state;
        self.evidence_pool
            .retain(|e| state.dc_of(&e.offender()).is_some_and(|(_, d)| d.slashed_at.is_none()));
        // Only the next cycle is ever held (`defer`), and this is it.
        self.future_from.clear();
        for (from, m) in std::mem::take(&mut self.future) {
            if m.height() == Some(h) {
                let _ = self.on_msg(now, from, m, out);
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
            (Duty::Micro, c.seed_deadline(p)),
            (
                Duty::BackupMicro,
                c.seed_deadline(p) + c.length * p.delta_permille / 4000,
            ),
            (Duty::OwnView, c.throttle(p)),
        ];
        d.extend(duty_at.iter().filter(|(k, _)| !self.done.contains(k)).map(|x| x.1));
        d.extend(self.ibft.next_deadline());
        d.into_iter().min().expect("stall deadline")
    }

    fn due(&mut self, duty: Duty, at: u64, now: u64) -> bool {
        now >= at && self.done.insert(duty)
    }

    /// The datacenter (root key) at lineup `rank` of the previous block.
    fn dc_at(&self, rank: usize) -> Option<PublicKey> {
        self.chain.lineup(self.cycle.height - 1, rank).map(|e| e.dc)
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
                    by_dest.entry(e.dc).or_default().push(tx);
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
                sponsor: self.id.sponsor.public(),
            };
            let budget = 1u64 << (p.pow_bits + 8).min(40);
            let chain = self.chain_id();
            for i in 0..self.miners.len() {
                let miner = self.miners[i].public();
                // The sponsor countersigns one lot per miner and height, also across a restart.
                let lot = match self.sponsored.get(&(h, miner)) {
                    Some(l) => Some(l.clone()),
                    None => {
                        let start = self.rand();
                        let lot = mine(&self.miners[i], &chain, &t, p.pow_bits, start, budget)
                            .map(|l| l.countersign(&self.id.sponsor, &chain));
                        if let Some(l) = &lot {
                            self.sponsored.insert((h, miner), l.clone());
                            out.push(Output::PersistSigned(Box::new(Msg::Lot(l.clone()))));
                        }
                        lot
                    }
                };
                if let Some(lot) = lot {
                    self.chain.note_lot(lot.id());
                    let _ = self.lots.add(lot.clone());
                    out.push(Output::Broadcast(Msg::Lot(lot)));
                }
            }
        }
        if self.due(Duty::Seed, c.mining_close(&p), now) && self.dc_at(0) == Some(me) {
            self.publish_seed(out);
        }
        if self.due(Duty::Seal, c.mining_close(&p), now) {
            let slots = self.chain.payroll_of(h - 1, &me);
            let chain = self.chain_id();
            // One batch per lineup address, also across a restart (the buffer is durable).
            if let Some(slot) = slots.first()
                && !self.buffer.sealed.values().any(|b| b.cycle == h && b.slot == *slot)
                && let Some(b) = self
                    .buffer
                    .seal(&self.id.batch, &chain, h, *slot, &self.chain.state, &p)
            {
                self.add_batch(b.clone());
                out.push(Output::PersistSigned(Box::new(Msg::Batch(b.clone()))));
                out.push(Output::Broadcast(Msg::Batch(b)));
            }
            for b in self.buffer.sealed.values().filter(|b| b.cycle <= h) {
                out.push(Output::Broadcast(Msg::Batch(b.clone())));
            }
        }
        if self.due(Duty::Micro, c.seed_deadline(&p), now) && self.dc_at(0) == Some(me) {
            self.publish_micro(0, out);
        }
        if self.due(
            Duty::BackupMicro,
            c.seed_deadline(&p) + c.length * p.delta_permille / 4000,
            now,
        ) && !self.micros.contains_key(&0)
        {
            for rank in 1..=p.backups {
                if self.dc_at(rank) == Some(me) {
                    self.publish_micro(rank as u32, out);
                }
            }
        }
        if self.due(Duty::OwnView, c.throttle(&p), now) {
            self.build_own_view(out);
        }
    }

    fn publish_seed(&mut self, out: &mut Vec<Output>) {
        let h = self.cycle.height;
        let a = SeedAnnouncement::produce(&self.id.vrf, self.chain.id(), &self.chain.seeds[h as usize - 1], h);
        self.chain.note_seed(&a.producer, &a.seed, &a.proof);
        self.seed = Some(a.clone());
        out.push(Output::Broadcast(Msg::Seed(a)));
    }

    fn publish_micro(&mut self, rank: u32, out: &mut Vec<Output>) {
        let h = self.cycle.height;
        // One MicroBlock per height, also across a restart: re-send the one already signed.
        if let Some(m) = self.produced.get(&h) {
            self.micros.insert(m.producer_rank, m.clone());
            out.push(Output::Broadcast(Msg::Micro(m.clone())));
            return;
        }
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
        let prev_qc = self.chain.block(h - 1).map(|b| b.qc.clone());
        let m = MicroBlock {
            height: h,
            producer_rank: rank,
            producer_pk: self.id.micro.public(),
            batches: refs,
            prev_qc: prev_qc.clone(),
            prev_prevotes: match (&prev_qc, &self.decided_prevotes) {
                (Some(qc), Some((height, round, value, votes)))
                    if *height == qc.height && *round == qc.round && *value == qc.value =>
                {
                    votes.clone()
                }
                _ => Vec::new(),
            },
            evidence: self.evidence_pool.clone(),
            sig: Signature::default(),
        }
        .sign(&self.id.micro, self.chain.id());
        self.micros.insert(rank, m.clone());
        self.produced.insert(h, m.clone());
        out.push(Output::PersistSigned(Box::new(Msg::Micro(m.clone()))));
        out.push(Output::Broadcast(Msg::Micro(m)));
    }

    /// The seed this node's own view uses: the rank-0 producer's VRF seed if held, else the
    /// fallback (rule 4).
    fn own_seed(&self) -> (Hash32, Option<crate::vrf::VrfProof>) {
        let h = self.cycle.height;
        match &self.seed {
            Some(a) => (a.seed, Some(a.proof)),
            None => (
                seed::fallback(self.chain.id(), &self.chain.seeds[h as usize - 1], h),
                None,
            ),
        }
    }

    /// The lottery delay block `h` carries, evaluated once per height.
    fn delay_proof(&mut self, h: u64) -> Option<DelayProof> {
        if let Some((at, d)) = &self.delay_done
            && *at == h
        {
            return Some(d.clone());
        }
        let d = self.chain.evaluate_delay(h)?;
        self.delay_done = Some((h, d.clone()));
        Some(d)
    }

    fn build_own_view(&mut self, out: &mut Vec<Output>) {
        let h = self.cycle.height;
        let p = self.chain.params().clone();
        let (seed, proof) = self.own_seed();
        let mut view = None;
        let tree = self.lots.tree(&seed, p.lineup_len(), p.backups, |l| {
            self.chain.check_sponsor(h, l).is_ok()
        });
        if !tree.is_empty() {
            let header = Header {
                height: h,
                prev_hash: self.chain.tip_hash(),
                seed,
                vrf_proof: proof,
                prev_state_root: *self.chain.roots.last().expect("genesis root"),
                delay: self.delay_proof(h),
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
        let hash = view.as_ref().map(|b| b.hash());
        if let Some(b) = view {
            self.valid_blocks.insert(b.hash());
            self.blocks.insert(b.hash(), b.clone());
            if self.ibft.seats.weight(&self.vote_key()) > 0 {
                out.push(Output::Broadcast(Msg::Proposal(Proposal::new(
                    &self.id.vote,
                    self.chain.id(),
                    0,
                    None,
                    b.clone(),
                ))));
            }
            self.own_block = Some(b);
        }
        self.ibft.set_own_view(hash);
    }

    /// This seat's own check of a valid block before it votes for it (rule 3): the leader must
    /// be at least as lucky, under the block's seed, as every lot
    /// this node received before its throttle and that may lead at this height. A coalition
    /// that censors the luckiest lot from its own view, or proposes such a block in a later
    /// round, gets no honest prevote, hence no polka, hence no certificate.
    pub fn would_vote_for(&self, b: &Block) -> bool {
        let h = self.cycle.height;
        let leader = b.leader().rank(&b.header.seed);
        self.lots
            .lots()
            .filter(|l| self.chain.check_sponsor(h, l).is_ok())
            .all(|l| l.rank(&b.header.seed) >= leader)
    }

    fn consensus(&mut self, now: u64, out: &mut Vec<Output>) {
        // A seed or MicroBlock that came after the throttle still makes an own view for the
        // later rounds' proposals.
        let inputs = (usize::from(self.seed.is_some()), self.micros.len(), self.lots.len());
        if self.own_block.is_none() && self.done.contains(&Duty::OwnView) && inputs != self.own_view_inputs {
            self.own_view_inputs = inputs;
            self.build_own_view(out);
        }
        for _ in 0..8 {
            let held = self.valid_blocks.clone();
            // A block prevoted by weight f+1 in one round passed the own checks of at least one
            // honest seat. Under synchrony no honest seat passes a censored block (every honest
            // seat holds the luckiest lot in time), so this cannot carry one; without it, a seat
            // that started its cycle late (and so counted lots the others saw too late) could
            // refuse every block and stall the height, as the simulator showed.
            let votable: BTreeSet<Hash32> = held
                .iter()
                .filter(|x| self.ibft.vouched(x) || self.blocks.get(*x).is_some_and(|b| self.would_vote_for(b)))
                .copied()
                .collect();
            let actions = self.ibft.progress(now, &|v| votable.contains(v), &|v| held.contains(v));
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
                        let h = self.cycle.height;
                        // The valid round is signed too: a seat that restarted and saw another
                        // polka since re-sends the proposal it made, never a second one.
                        let (first, valid_round) =
                            *self.proposals_made.entry((h, round)).or_insert((value, valid_round));
                        if first != value {
                            continue; // proposed something else in this round before a restart
                        }
                        if let Some(b) = self.blocks.get(&value) {
                            let mut p = Proposal::new(&self.id.vote, self.chain.id(), round, valid_round, b.clone());
                            out.push(Output::PersistSigned(Box::new(Msg::Proposal(p.clone()))));
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
            leader: cb.block.leader().miner,
            signers: cb.qc.signers().copied().collect(),
            txs: outcome.receipts.len(),
            outcome,
            included,
            seed_choices: self
                .valid_blocks
                .iter()
                .filter_map(|x| self.blocks.get(x))
                .filter(|b| b.height() == h)
                .map(|b| b.header.seed)
                .collect::<BTreeSet<_>>()
                .len(),
        })));
        // The prevotes for the decided value pay their seats, if this node produces the next
        // MicroBlock.
        self.decided_prevotes = (self.ibft.height == h).then(|| {
            (
                h,
                cb.qc.round,
                cb.qc.value,
                self.ibft.prevotes_for(cb.qc.round, &cb.qc.value),
            )
        });
        // Equivocation seen at this height becomes evidence for the next MicroBlocks.
        let seen = std::mem::take(&mut self.ibft.evidence);
        let lots = std::mem::take(&mut self.lots.evidence);
        for e in seen.into_iter().chain(lots) {
            self.note_evidence(e, out);
        }
        self.start_cycle(now, out);
        Ok(())
    }

    /// Keeps evidence (bounded) and asks the shell to persist it (rule 10).
    fn note_evidence(&mut self, e: Evidence, out: &mut Vec<Output>) {
        // One piece per datacenter: its role keys are separate signers, but a MicroBlock may
        // accuse a datacenter once (the simulator's all-out equivocator had its vote and batch
        // keys accused side by side, and every MicroBlock after was refused).
        let state = &self.chain.state;
        let root = |x: &Evidence| state.dc_of(&x.offender()).map(|(r, _)| r);
        let accused = root(&e).is_none_or(|r| self.evidence_pool.iter().any(|x| root(x) == Some(r)));
        if !accused && self.evidence_pool.len() < self.chain.params().max_evidence && e.verify(self.chain.id()).is_ok()
        {
            out.push(Output::PersistEvidence(e.clone()));
            self.evidence_pool.push(e);
        }
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

    /// Commits held blocks that extend the chain; of several candidates for one height (from
    /// different senders), the first that commits wins and a forged one costs only its check.
    fn drain_ahead(&mut self, now: u64, out: &mut Vec<Output>) {
        loop {
            let next = self.chain.height() + 1;
            let candidates: Vec<(u64, PublicKey)> = self
                .ahead
                .range((next, PublicKey([0; 32]))..)
                .take_while(|(k, _)| k.0 == next)
                .map(|(k, _)| *k)
                .collect();
            let mut committed = false;
            for k in candidates {
                let (cb, batches) = self.ahead.remove(&k).expect("listed");
                for b in batches {
                    self.add_batch(b);
                }
                if self.commit(now, cb, false, out).is_ok() {
                    committed = true;
                    break;
                }
            }
            if !committed {
                break;
            }
        }
        let h = self.chain.height();
        self.ahead.retain(|k, _| k.0 > h);
    }

    fn stalled(&mut self, now: u64, out: &mut Vec<Output>) {
        self.next_stall = now + 2 * self.cycle.length;
        // Seeds and MicroBlocks are sent once; a partition may have swallowed them.
        if let Some(a) = &self.seed {
            out.push(Output::Broadcast(Msg::Seed(a.clone())));
        }
        for m in self.micros.values() {
            out.push(Output::Broadcast(Msg::Micro(m.clone())));
        }
        for v in self.ibft.my_votes() {
            out.push(Output::Broadcast(Msg::Vote(v)));
        }
        if self.ibft.seats.weight(&self.vote_key()) > 0 {
            // Share the block this seat is locked on (with the polka that justifies it), so
            // that peers holding a conflicting vote of an equivocator still see the polka. It
            // re-sends its round-0 proposal: the one block it may propose for round 0.
            let valid = self.ibft.valid().and_then(|(_, v)| self.blocks.get(&v).cloned());
            let chain = self.chain_id();
            let mine = self.own_block.as_ref().map(|b| b.hash());
            if let Some(b) = valid.filter(|b| Some(b.hash()) == mine || mine.is_none()) {
                let mut p = Proposal::new(&self.id.vote, &chain, 0, None, b);
                p.pol = self.ibft.pol_votes();
                out.push(Output::Broadcast(Msg::Proposal(p)));
            } else if let Some(b) = &self.own_block {
                let mut p = Proposal::new(&self.id.vote, &chain, 0, None, b.clone());
                p.pol = self.ibft.pol_votes();
                out.push(Output::Broadcast(Msg::Proposal(p)));
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
                if self.waiting.len() < limits::WAITING_BLOCKS {
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

    /// Holds a message for the next cycle: only height h+1, only from a registered datacenter,
    /// only once its signature verifies, and within per-sender and total bounds (rule 8).
    /// Anything else is refused with its reason, never silently dropped.
    fn defer(&mut self, from: PublicKey, m: Msg) -> Result<(), Reject> {
        let next = self.cycle.height + 1;
        let mh = m.height().unwrap_or(next);
        if mh > next {
            return Err(Reject::FarFuture(mh));
        }
        if self.chain.state.dc_of(&from).is_none() {
            return Err(Reject::UnknownPeer);
        }
        let chain = *self.chain.id();
        let p = self.chain.params();
        let signed = match &m {
            Msg::Vote(v) => v.verify_sig(&chain).is_ok(),
            Msg::Lot(l) => l.validate(&chain, p.pow_bits).is_ok(),
            Msg::Micro(x) => x.verify_sig(&chain).is_ok(),
            Msg::Batch(b) => b
                .validate(&chain, p.max_tx_bytes, p.max_batch_bytes, &b.buffer_pk)
                .is_ok(),
            Msg::Proposal(x) => x.verify(&chain),
            // A seed's proof is checked against seed_h, not known yet; one per sender anyway.
            Msg::Seed(_) => true,
            _ => false,
        };
        if !signed {
            return Err(Reject::Signature);
        }
        let mine = self.future_from.get(&from).copied().unwrap_or(0);
        if mine >= limits::NEXT_CYCLE_PER_PEER {
            return Err(Reject::Busy("next-cycle messages", limits::NEXT_CYCLE_PER_PEER));
        }
        if self.future.len() >= limits::NEXT_CYCLE_TOTAL {
            return Err(Reject::Busy(
                "next-cycle messages (all peers)",
                limits::NEXT_CYCLE_TOTAL,
            ));
        }
        *self.future_from.entry(from).or_insert(0) += 1;
        self.future.push((from, m));
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
                lot.validate(self.chain.id(), p.pow_bits)?;
                self.chain.check_sponsor(h, &lot)?;
                let id = lot.id();
                self.lots.add(lot)?;
                self.chain.note_lot(id);
                Ok(())
            }
            Msg::Seed(a) => {
                if a.height > h {
                    return self.defer(from, Msg::Seed(a));
                }
                if a.height < h {
                    return Err(Reject::Stale);
                }
                let producer = self.chain.seed_producer(h).ok_or(Reject::Rank(0))?;
                if self.seed.is_some() {
                    return Ok(());
                }
                a.verify(self.chain.id(), &self.chain.seeds[h as usize - 1], &producer)?;
                self.chain.note_seed(&producer, &a.seed, &a.proof);
                self.seed = Some(a);
                Ok(())
            }
            Msg::Batch(b) => {
                if b.cycle > h {
                    return self.defer(from, Msg::Batch(b));
                }
                let d = b.digest();
                if !self.batches.contains_key(&d) {
                    self.chain.verify_batch(&b)?;
                    match self.batch_slots.get(&b.slot_of()) {
                        Some(first) => {
                            if let Some(e) = first.evidence(&b) {
                                self.note_evidence(e, out);
                                // A block waiting on this very batch still needs it: refusing
                                // it would leave the nodes that saw the other version unable
                                // to validate that block for good (the simulator's
                                // equivocating buffer stalled a height so). Evidence slashes
                                // the offender either way.
                                let wanted = self.waiting.values().any(|w| {
                                    w.micro
                                        .as_ref()
                                        .is_some_and(|m| m.batches.iter().any(|r| r.digest == d))
                                });
                                if !wanted {
                                    return Err(Reject::Equivocation);
                                }
                            }
                        }
                        None => {
                            self.batch_slots.insert(b.slot_of(), b.clone());
                        }
                    }
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
                let producer = self.chain.lineup(h - 1, m.producer_rank as usize).map(|e| e.keys.micro);
                if producer != Some(m.producer_pk) || m.verify_sig(self.chain.id()).is_err() {
                    return Err(Reject::Signature);
                }
                if let Some(e) = self.micros.get(&m.producer_rank).and_then(|first| first.evidence(&m)) {
                    self.note_evidence(e, out);
                    return Err(Reject::Equivocation);
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
                if self.ibft.seats.weight(&pr.proposer) == 0 || !pr.verify(self.chain.id()) {
                    return Err(Reject::Signature);
                }
                if pr.round >= 1 && self.ibft.seats.proposer(pr.round) != pr.proposer {
                    return Err(Reject::NotProposer(pr.round));
                }
                // Round 0 "proposals" only carry a seat's own view (and its polka) to the others;
                // a proposal proper, one per proposer and round, is made from round 1 on. A seat
                // may update its own view, a bounded number of times (rule 8).
                if pr.round == 0 && !self.blocks.contains_key(&pr.block.hash()) {
                    let n = self.own_views.entry(pr.proposer).or_insert(0);
                    if *n >= limits::OWN_VIEWS_PER_SEAT {
                        return Err(Reject::Busy(
                            "own views this height",
                            limits::OWN_VIEWS_PER_SEAT as usize,
                        ));
                    }
                    *n += 1;
                }
                match self.proposal_slots.get(&pr.slot()).filter(|_| pr.round >= 1) {
                    Some(first) => {
                        if let Some(e) = first.evidence(&pr) {
                            self.note_evidence(e, out);
                            return Err(Reject::Equivocation);
                        }
                    }
                    None => {
                        let mut kept = pr.clone();
                        kept.pol.clear();
                        self.proposal_slots.insert(pr.slot(), kept);
                    }
                }
                let hash = self.admit_block(from, pr.block, out)?;
                let chain = self.chain_id();
                for v in pr.pol.into_iter().take(4 * self.chain.params().seats) {
                    if v.height == h && v.step == Step::Prevote && v.value == Some(hash) && v.verify_sig(&chain).is_ok()
                    {
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
                v.verify_sig(self.chain.id()).map_err(|_| Reject::Signature)?;
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
                    let mine = self.ahead.keys().filter(|(_, f)| *f == from).count();
                    if mine < limits::AHEAD_PER_PEER && self.ahead.len() < limits::AHEAD_TOTAL {
                        self.ahead.insert((ch, from), (cb, batches));
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
                let served = self.served.entry(from).or_default();
                if served.0 >= limits::SYNC_REQUESTS_PER_CYCLE {
                    return Err(Reject::Busy(
                        "sync requests this cycle",
                        limits::SYNC_REQUESTS_PER_CYCLE as usize,
                    ));
                }
                served.0 += 1;
                let top = self
                    .chain
                    .height()
                    .min(start.saturating_add(limits::SYNC_BLOCKS_PER_REQUEST - 1));
                for x in start.max(1)..=top {
                    let cb = self.chain.block(x).expect("within height").clone();
                    let batches = self.batches_of(&cb.block);
                    out.push(Output::Send(from, Msg::Certified(cb, batches)));
                }
                Ok(())
            }
            Msg::BatchRequest(ds) => {
                let served = self.served.entry(from).or_default();
                if served.1 >= limits::BATCH_REQUESTS_PER_CYCLE {
                    return Err(Reject::Busy(
                        "batch requests this cycle",
                        limits::BATCH_REQUESTS_PER_CYCLE as usize,
                    ));
                }
                served.1 += 1;
                for d in ds.iter().take(limits::BATCH_DIGESTS_PER_REQUEST) {
                    if let Some(b) = self.batches.get(d) {
                        out.push(Output::Send(from, Msg::Batch(b.clone())));
                    }
                }
                Ok(())
            }
            Msg::Forward(txs) => {
                let served = !self.chain.payroll_of(h - 1, &self.public()).is_empty();
                if served {
                    for tx in txs.into_iter().take(limits::FORWARD_TXS) {
                        if self
                            .buffer
                            .admit(tx.clone(), self.chain.id(), &self.chain.state, &p)
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
        if entry.dc != self.public() {
            return Err(BufferError::Redirect {
                cycle: h,
                slot,
                sponsor: entry.dc,
                endpoint: entry.endpoint,
            });
        }
        match self.buffer.admit(tx.clone(), self.chain.id(), &self.chain.state, p)? {
            Admitted::New(_) => out.push(Output::PersistTx(tx)),
            Admitted::Again(_) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;
    use crate::vote::MemJournal;

    #[test]
    fn a_restarted_proposer_never_signs_a_second_proposal_for_a_round() {
        // Found with the `handle` fuzz target's invariant (an honest node never signs two
        // statements that make valid evidence): a seat locked on X at round 2 restarts,
        // proposes X with valid round 2 at round 5, restarts before prevoting, locks on X again
        // at round 3 and, back at round 5, proposed X with valid round 3. The durable record
        // kept only the value, so the second proposal was signed: evidence against it.
        let ids: Vec<Identity> = ["t", "a", "b", "c"]
            .iter()
            .map(|l| Identity::from_label(&format!("node-test/{l}")))
            .collect();
        let mut params = Params::devnet();
        params.pow_bits = 2;
        let g = Genesis {
            network: "node-test".into(),
            // Rank 0 of block 0 (the seed producer) is `a`, so `t`'s own lots may lead.
            founders: [1, 0, 2, 3]
                .iter()
                .map(|i| ids[*i].datacenter("dc:7000", params.min_bond))
                .collect(),
            // `t` is the youngest seat: it proposes rounds 1, 5, 9, ...
            seats: (0..11).map(|i| ids[i % 4].root.public()).collect(),
            params,
            seed: Hash32([1; 32]),
            timestamp_ms: 0,
            accounts: vec![],
            rounds: vec![],
            periodic_lottery: None,
        };
        let chain = g.chain_id();
        let mut n = Node::new(
            g,
            ids[0].clone(),
            vec![Keypair::from_label("node-test/m")],
            MemJournal::default(),
            1,
            0,
        )
        .unwrap();
        let mut proposals: Vec<Proposal> = Vec::new();
        let keep = |out: Vec<Output>, to: &mut Vec<Proposal>| {
            to.extend(out.into_iter().filter_map(|o| match o {
                Output::Broadcast(Msg::Proposal(p)) => Some(p),
                _ => None,
            }))
        };
        // Ticks for 1 s, so that the own view (the one block `t` holds) is built.
        let run = |n: &mut Node<MemJournal>, now: &mut u64, to: &mut Vec<Proposal>| {
            for _ in 0..100 {
                *now += 10;
                keep(n.tick(*now), to);
            }
        };
        let mut now = 0;
        run(&mut n, &mut now, &mut proposals);
        let x = proposals[0].block.hash();
        let prevote = |i: usize, round: u32, v: Option<Hash32>| {
            Msg::Vote(Vote::sign_unchecked(
                &ids[i].vote,
                &chain,
                1,
                round,
                Step::Prevote,
                v,
                0,
            ))
        };
        let from = ids[1].root.public();
        // Round 2: the others prevote X; `t` lands in round 2 and locks on X.
        for i in 1..4 {
            keep(n.handle(now, from, prevote(i, 2, Some(x))).0, &mut proposals);
        }
        run(&mut n, &mut now, &mut proposals);
        keep(n.restart(now), &mut proposals);
        run(&mut n, &mut now, &mut proposals);
        // Round 5, which `t` proposes: X with valid round 2. It restarts before prevoting.
        for i in 1..3 {
            keep(n.handle(now, from, prevote(i, 5, None)).0, &mut proposals);
        }
        keep(n.restart(now), &mut proposals);
        run(&mut n, &mut now, &mut proposals);
        // Round 3: a polka for X again; then round 5 again.
        for i in 1..4 {
            keep(n.handle(now, from, prevote(i, 3, Some(x))).0, &mut proposals);
        }
        run(&mut n, &mut now, &mut proposals);
        for i in 1..3 {
            keep(n.handle(now, from, prevote(i, 5, None)).0, &mut proposals);
        }
        let round5: Vec<&Proposal> = proposals.iter().filter(|p| p.round == 5).collect();
        assert!(round5.len() >= 2, "the scenario reaches round 5 twice");
        for p in &round5 {
            assert!(
                p.evidence(round5[0]).is_none(),
                "round 5 proposed twice: valid rounds {:?} and {:?}",
                round5[0].valid_round,
                p.valid_round
            );
        }
    }
}
