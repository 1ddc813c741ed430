//! The seven role machines of a datacenter (ARCHITECTURE.md section 1), one per service:
//! [`clock::Clock`], [`miner_pool::MinerPool`], [`lot_drawing::LotDrawing`],
//! [`kernel_buffer::KernelBufferRole`], [`trustee::Trustee`], [`ledger::Ledger`] and
//! [`lottery::Lottery`]. Each follows the chain through its own [`follower::Follower`] and
//! talks to the others only through [`Event`]s on the datacenter's bus; each takes
//! `(now, input)` and returns ordered [`Output`]s. [`crate::datacenter::Datacenter`] wires the
//! seven with an in-memory bus; the services wire each one to a real bus.
//!
//! Output order is a contract: a `Persist*` output must be durable before any output after
//! it in the same list leaves the process (an acknowledgement, a vote, a signed statement).

pub mod clock;
pub mod follower;
pub mod held;
pub mod kernel_buffer;
pub mod ledger;
pub mod lot_drawing;
pub mod lottery;
pub mod miner_pool;
pub mod trustee;

use crate::block::{Batch, CertifiedBlock, MicroBlock};
use crate::buffer::BufferError;
use crate::codec::Hash32;
use crate::crypto::PublicKey;
use crate::dcc::Cycle;
use crate::delay::DelayProof;
use crate::lot::Lot;
use crate::node::{Committed, Msg};
use crate::seed::SeedAnnouncement;
use crate::statement::Evidence;
use crate::tx::Transaction;
use crate::vote::Vote;
use crate::vrf::VrfProof;

/// A deadline of the cycle, announced by the clock beacon once local time passes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// The cycle began: buffers not on this cycle's payroll hand their transactions over.
    Start,
    /// Hosted miners draw their lots.
    Mine,
    /// Mining closes: the rank-0 producer publishes the seed, buffers seal their batches.
    MiningClose,
    /// The rank-0 producer's MicroBlock is due.
    SeedDeadline,
    /// No MicroBlock from rank 0: backups produce theirs.
    BackupMicro,
    /// The time throttle: lots are counted and own views built.
    Throttle,
    /// Nothing certified for too long: every role re-sends what a partition may have
    /// swallowed, and the ledger asks its peers for blocks.
    Stalled,
}

/// The own-view drawing of lot drawing at the throttle: the KeyBlockTree under the seed it
/// knows, and every lot it counted (a trustee checks any block's leader against them, under
/// that block's seed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drawn {
    pub height: u64,
    pub seed: Hash32,
    pub vrf_proof: Option<VrfProof>,
    pub tree: Vec<Lot>,
    pub counted: Vec<Lot>,
}

/// What one role tells the others on the datacenter's bus. Every event names the height it
/// is about, so a consumer that sees it twice (a redelivery) can ignore it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// ledger: block `h` is certified, stored and executed; every follower applies it.
    Certified(Box<CertifiedBlock>, Vec<Batch>),
    /// clock: cycle `h` began (local time).
    Cycle(Cycle),
    /// clock: a deadline of cycle `h` passed.
    Phase(u64, Phase),
    /// clock: the rank-0 producer's seed for this cycle, verified.
    Seed(SeedAnnouncement),
    /// miner pool: a lot this datacenter sponsored.
    Lot(Lot),
    /// lot drawing: the own-view drawing (at the throttle, again if the seed comes later).
    Drawn(Box<Drawn>),
    /// kernel buffer: a batch it sealed (or re-sends).
    Sealed(Batch),
    /// ledger: a batch it holds, verified.
    Batch(Batch),
    /// ledger: a MicroBlock for this cycle, verified against its producer.
    Micro(MicroBlock),
    /// trustee: the committee decided this block; `seed_choices` distinct seeds were among
    /// the valid blocks held for the height (rule 4).
    Decided(Box<CertifiedBlock>, usize),
    /// trustee: the prevotes for the value decided at `height`, for the next MicroBlock.
    Prevotes {
        height: u64,
        round: u32,
        value: Hash32,
        votes: Vec<Vote>,
    },
    /// any role: equivocation it saw, for the ledger's evidence pool.
    Evidence(Evidence),
    /// trustee: batches a block it waits on names.
    Wanted(u64, Vec<Hash32>),
    /// trustee: a peer still votes at a certified height: the ledger hands it the block.
    Behind(PublicKey, u64),
    /// lottery: the delay proof block `h` must carry (rule 5).
    Delay(u64, DelayProof),
}

impl Event {
    /// The bus topic (`daoli.<datacenter>.<event>` once prefixed).
    pub fn topic(&self) -> &'static str {
        match self {
            Event::Certified(..) => "certified",
            Event::Cycle(_) | Event::Phase(..) => "clock",
            Event::Seed(_) => "seeds",
            Event::Lot(_) => "lots",
            Event::Drawn(_) => "trees",
            Event::Sealed(_) | Event::Batch(_) => "batches",
            Event::Micro(_) => "micros",
            Event::Decided(..) | Event::Prevotes { .. } | Event::Behind(..) | Event::Wanted(..) => "votes",
            Event::Evidence(_) => "evidence",
            Event::Delay(..) => "delays",
        }
    }
}

/// What a role machine asks its shell to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Publish on the datacenter's bus.
    Event(Event),
    Broadcast(Msg),
    Send(PublicKey, Msg),
    /// Persist before the acknowledgement that follows it is sent.
    PersistTx(Transaction),
    /// Persist: evidence survives restarts (rule 10).
    PersistEvidence(Evidence),
    /// Persist before the broadcast that follows: a lot this datacenter countersigned, a
    /// batch or MicroBlock it signed, a round >= 1 proposal it made.
    PersistSigned(Box<Msg>),
    /// Persist before the broadcast that follows: the trustee's vote journal. A store must
    /// refuse a second, different vote for one (height, round, step).
    PersistVote(Vote),
    /// Persist, with its batches, before it is announced: a certified block.
    PersistBlock(Box<CertifiedBlock>, Vec<Batch>),
    Reply {
        client: u64,
        tx_hash: Hash32,
        result: Result<(), BufferError>,
    },
    Committed(Box<Committed>),
    /// Hashing for the shell to do off the protocol's thread; the lot found (if any) goes
    /// back to [`miner_pool::MinerPool::on_mined`].
    Mine(Box<miner_pool::MineJob>),
    /// Call `tick` at this local time.
    Wakeup(u64),
}

/// The pieces of a datacenter's identity and configuration every role is built from.
pub use crate::params::{Genesis, Identity};
