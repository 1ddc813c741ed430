//! One datacenter: the seven role machines wired by an in-memory bus. `handle` and `tick` take
//! the local time and return what leaves the datacenter (messages, persistence requests,
//! replies, the next wake-up); bus events stay inside. The simulator drives `Datacenter`s, so
//! the role machines the services run are the ones its seeds check. The miner pool's hashing,
//! which a service does off the protocol's thread, is done here in line.

use crate::block::{Batch, Block, CertifiedBlock};
use crate::chain::Chain;
use crate::codec::Hash32;
use crate::crypto::{Keypair, PublicKey};
use crate::dcc::Cycle;
use crate::lot::Lot;
use crate::node::{Durable, Msg, RecoverError, Reject};
use crate::params::{Genesis, Identity, ParamsError};
use crate::roles::clock::Clock;
use crate::roles::kernel_buffer::KernelBufferRole;
use crate::roles::ledger::Ledger;
use crate::roles::lot_drawing::LotDrawing;
use crate::roles::lottery::Lottery;
use crate::roles::miner_pool::MinerPool;
use crate::roles::trustee::Trustee;
use crate::roles::{Event, Output};
use crate::statement::Evidence;
use crate::vote::Vote;
use std::collections::VecDeque;

/// Rounds of ticks after which a step stops even if the roles still have something to say
/// (each round is a full pass of the bus; a handful suffice).
const MAX_TICK_ROUNDS: usize = 32;

#[derive(Debug)]
pub struct Datacenter {
    pub id: Identity,
    pub clock: Clock,
    pub miner_pool: MinerPool,
    pub lot_drawing: LotDrawing,
    pub kernel_buffer: KernelBufferRole,
    pub trustee: Trustee,
    pub ledger: Ledger,
    pub lottery: Lottery,
}

impl Datacenter {
    pub fn new(
        genesis: Genesis,
        id: Identity,
        miners: Vec<Keypair>,
        entropy: u64,
        now: u64,
    ) -> Result<Self, ParamsError> {
        Self::with_votes(genesis, id, miners, Vec::new(), entropy, now)
    }

    fn with_votes(
        genesis: Genesis,
        id: Identity,
        miners: Vec<Keypair>,
        votes: Vec<Vote>,
        entropy: u64,
        now: u64,
    ) -> Result<Self, ParamsError> {
        let root = id.root.public();
        let mut dc = Datacenter {
            clock: Clock::new(genesis.clone(), root, id.vrf.clone(), now)?,
            miner_pool: MinerPool::new(genesis.clone(), id.sponsor.clone(), miners, entropy)?,
            lot_drawing: LotDrawing::new(genesis.clone())?,
            kernel_buffer: KernelBufferRole::new(genesis.clone(), root, id.batch.clone())?,
            trustee: Trustee::new(genesis.clone(), id.vote.clone(), votes)?,
            ledger: Ledger::new(genesis.clone(), root, id.micro.clone())?,
            lottery: Lottery::new(genesis)?,
            id,
        };
        let mut out = Vec::new();
        dc.clock.start_cycle(now, &mut out);
        dc.pump(now, out);
        Ok(dc)
    }

    /// Rebuilds a datacenter from its store after a crash (see [`Durable`]): replays the
    /// certified chain, puts back the acknowledged transactions, the evidence, what it signed
    /// (so that it never signs a second, different lot, batch, MicroBlock or proposal) and its
    /// votes (so that it never votes twice, and keeps its locks).
    pub fn recover(
        genesis: Genesis,
        id: Identity,
        miners: Vec<Keypair>,
        durable: Durable,
        entropy: u64,
        now: u64,
    ) -> Result<Self, RecoverError> {
        let mut dc = Self::with_votes(genesis, id, miners, durable.votes, entropy, now)?;
        for (cb, batches) in durable.blocks {
            let h = cb.block.height();
            let mut out = Vec::new();
            dc.ledger
                .replay(now, cb, batches, &mut out)
                .map_err(|e| RecoverError::Block(h, e))?;
            dc.pump(now, out);
        }
        let mut out = Vec::new();
        for tx in durable.txs {
            dc.kernel_buffer.restore_tx(tx);
        }
        for m in &durable.signed {
            match m {
                Msg::Lot(l) => dc.miner_pool.restore(l.clone()),
                Msg::Batch(b) => {
                    dc.ledger.restore_signed(m, &mut out);
                    dc.kernel_buffer.restore_sealed(b.clone());
                }
                Msg::Micro(_) => dc.ledger.restore_signed(m, &mut out),
                Msg::Proposal(p) => dc.trustee.restore_proposal(p),
                _ => {}
            }
        }
        for e in durable.evidence {
            dc.ledger.note_evidence(e, &mut out);
        }
        dc.pump(now, out);
        Ok(dc)
    }

    /// The datacenter's root key (its identity).
    pub fn public(&self) -> PublicKey {
        self.id.root.public()
    }
    /// The key this datacenter votes with.
    pub fn vote_key(&self) -> PublicKey {
        self.id.vote.public()
    }
    /// The certified chain as the ledger holds it.
    pub fn chain(&self) -> &Chain {
        self.ledger.chain()
    }
    pub fn miners(&self) -> &[Keypair] {
        &self.miner_pool.miners
    }
    /// Evidence this datacenter holds and has not yet seen included.
    pub fn evidence(&self) -> &[Evidence] {
        self.ledger.evidence()
    }
    pub fn height(&self) -> u64 {
        self.ledger.chain().height()
    }
    /// Messages held for the next cycle, over all roles (rule 8).
    pub fn held_next_cycle(&self) -> usize {
        self.clock.held_len() + self.lot_drawing.held_len() + self.trustee.held_len() + self.ledger.held_len()
    }
    /// Whether lot drawing holds `lot` (the same lot, signatures included).
    pub fn holds_lot(&self, lot: &Lot) -> bool {
        self.lot_drawing.pool.holds(lot)
    }
    pub fn cycle(&self) -> Cycle {
        self.clock.cycle
    }
    pub fn round(&self) -> u32 {
        self.trustee.ibft.round
    }
    pub fn batch(&self, d: &Hash32) -> Option<&Batch> {
        self.ledger.batch(d)
    }
    /// Block `h` with its batches: the public data a verifier replays.
    pub fn full_block(&self, h: u64) -> Option<(CertifiedBlock, Vec<Batch>)> {
        self.ledger.full_block(h)
    }
    pub fn would_vote_for(&self, b: &Block) -> bool {
        self.trustee.would_vote_for(b)
    }
    pub fn describe(&self) -> String {
        let chain = self.chain();
        let lineup: Vec<String> = chain
            .block(chain.height())
            .map_or(Vec::new(), |b| b.block.tree.iter().map(|l| l.sponsor.short()).collect());
        format!(
            "height {} cycle start {} lineup [{}] seed {} lots {} | {}",
            chain.height(),
            self.clock.cycle.start,
            lineup.join(","),
            self.clock.seed.as_ref().map_or("-".into(), |s| s.seed.short()),
            self.lot_drawing.pool.len(),
            self.trustee.describe()
        )
    }

    /// A crash and restart that keeps the durable parts in memory (chain, buffer, signed
    /// statements, votes, evidence) and loses the rest.
    pub fn restart(&mut self, now: u64) -> Vec<Output> {
        self.clock.forget();
        self.lot_drawing.forget();
        self.trustee.forget();
        self.ledger.forget();
        // Each role begins the cycle the restarted clock announces, as a new process would.
        self.lot_drawing.f.forget_cycle();
        self.trustee.f.forget_cycle();
        self.kernel_buffer.f.forget_cycle();
        self.miner_pool.f.forget_cycle();
        let mut out = Vec::new();
        self.clock.start_cycle(now, &mut out);
        self.pump(now, out)
    }

    /// Handles one message from peer `from` (a node key; clients use their own keys): the
    /// role it is for takes it.
    pub fn handle(&mut self, now: u64, from: PublicKey, msg: Msg) -> (Vec<Output>, Result<(), Reject>) {
        let mut out = Vec::new();
        let r = match msg {
            Msg::Lot(_) => self.lot_drawing.on_msg(now, from, msg, &mut out),
            Msg::Seed(_) => self.clock.on_msg(now, from, msg, &mut out),
            Msg::Proposal(_) | Msg::Vote(_) => self.trustee.on_msg(now, from, msg, &mut out),
            Msg::Tx { .. } | Msg::Forward(_) => self.kernel_buffer.on_msg(now, from, msg, &mut out),
            Msg::Batch(_) | Msg::Micro(_) | Msg::Certified(..) | Msg::SyncRequest { .. } | Msg::BatchRequest(_) => {
                self.ledger.on_msg(now, from, msg, &mut out)
            }
        };
        (self.pump(now, out), r)
    }

    /// Runs the deadlines and timeouts due at `now`.
    pub fn tick(&mut self, now: u64) -> Vec<Output> {
        self.pump(now, Vec::new())
    }

    fn deliver(&mut self, now: u64, ev: &Event, out: &mut Vec<Output>) {
        self.clock.on_event(now, ev, out);
        self.miner_pool.on_event(now, ev, out);
        self.lot_drawing.on_event(now, ev, out);
        self.kernel_buffer.on_event(now, ev, out);
        self.ledger.on_event(now, ev, out);
        self.trustee.on_event(now, ev, out);
        self.lottery.on_event(now, ev, out);
    }

    /// The in-memory bus: delivers every event to every role until none is left, runs the
    /// hashing the miner pool asked for, and ticks the roles until they are quiet.
    fn pump(&mut self, now: u64, mut pending: Vec<Output>) -> Vec<Output> {
        let mut result = Vec::new();
        let mut bus: VecDeque<Event> = VecDeque::new();
        let mut rounds = 0;
        loop {
            for o in pending.drain(..) {
                match o {
                    Output::Event(e) => bus.push_back(e),
                    Output::Mine(job) => {
                        let chain = *self.miner_pool.f.chain.id();
                        if let Some(lot) = job.run(&chain) {
                            let mut more = Vec::new();
                            let _ = self.miner_pool.on_mined(now, lot, &mut more);
                            for m in more {
                                match m {
                                    Output::Event(e) => bus.push_back(e),
                                    m => result.push(m),
                                }
                            }
                        }
                    }
                    o => result.push(o),
                }
            }
            if let Some(ev) = bus.pop_front() {
                self.deliver(now, &ev, &mut pending);
                continue;
            }
            if rounds == MAX_TICK_ROUNDS {
                break;
            }
            rounds += 1;
            self.clock.tick(now, &mut pending);
            self.kernel_buffer.tick(now, &mut pending);
            self.ledger.tick(now, &mut pending);
            self.trustee.tick(now, &mut pending);
            if pending.is_empty() {
                break;
            }
        }
        let wake = [Some(self.clock.deadline()), self.trustee.deadline()]
            .into_iter()
            .flatten()
            .min()
            .expect("the clock always has a deadline");
        result.push(Output::Wakeup(wake));
        result
    }
}
