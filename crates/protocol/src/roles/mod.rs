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
use crate::node::{Committed, Msg, Reject};
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

/// Paces what a role does at a stall: once per `gap` of local time at most, however many stall
/// events come at once (a service that restarts alone reads a backlog of them from its bus, and
/// each would re-send everything it holds).
#[derive(Debug, Clone, Default)]
pub struct StallGate(Option<u64>);

impl StallGate {
    pub fn pass(&mut self, now: u64, gap: u64) -> bool {
        if self.0.is_some_and(|last| now < last.saturating_add(gap)) {
            return false;
        }
        self.0 = Some(now);
        true
    }
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

/// What every role machine is to its shell (a service, or [`crate::datacenter::Datacenter`]):
/// bus events in, peer messages in, time in; ordered outputs out.
pub trait Role: std::fmt::Debug + Send + Unpin + 'static {
    /// The service that runs this role (`clock-beacon`, `miner-pool`, ...).
    const SERVICE: &'static str;
    /// Called once when its shell starts it (the clock begins its first cycle here).
    fn start(&mut self, _now: u64, _out: &mut Vec<Output>) {}
    fn on_event(&mut self, now: u64, ev: &Event, out: &mut Vec<Output>);
    /// A message from peer `from` (or a client); roles refuse what is not theirs.
    fn on_msg(&mut self, _now: u64, _from: PublicKey, _msg: Msg, _out: &mut Vec<Output>) -> Result<(), Reject> {
        Err(Reject::NotMine)
    }
    /// Deadlines and timeouts due at `now`.
    fn tick(&mut self, _now: u64, _out: &mut Vec<Output>) {}
    /// When `tick` has something to do next, if ever.
    fn deadline(&self) -> Option<u64> {
        None
    }
    /// A lot mined for this datacenter (the shell ran a [`Output::Mine`] job, or a client
    /// device brought it): only the miner pool takes it.
    fn on_mined(&mut self, _now: u64, _lot: Lot, _out: &mut Vec<Output>) -> Result<(), Reject> {
        Err(Reject::NotMine)
    }
    /// The height of the chain this role follows.
    fn height(&self) -> u64;
    /// One line on where the role stands, for the log of a stalled cycle.
    fn describe(&self) -> String {
        format!("height {}", self.height())
    }
}

/// Every service [`service_of`] routes to: the ones that take peer messages.
pub const PEER_SERVICES: [&str; 5] = [
    lot_drawing::LotDrawing::SERVICE,
    clock::Clock::SERVICE,
    trustee::Trustee::SERVICE,
    kernel_buffer::KernelBufferRole::SERVICE,
    ledger::Ledger::SERVICE,
];

/// The service that takes a peer or client message (what [`Role::on_msg`] expects).
pub fn service_of(msg: &Msg) -> &'static str {
    match msg {
        Msg::Lot(_) => lot_drawing::LotDrawing::SERVICE,
        Msg::Seed(_) => clock::Clock::SERVICE,
        Msg::Proposal(_) | Msg::Vote(_) => trustee::Trustee::SERVICE,
        Msg::Tx { .. } | Msg::Forward(_) => kernel_buffer::KernelBufferRole::SERVICE,
        Msg::Batch(_) | Msg::Micro(_) | Msg::Certified(..) | Msg::SyncRequest { .. } | Msg::BatchRequest(_) => {
            ledger::Ledger::SERVICE
        }
    }
}

macro_rules! role {
    ($t:ty, $name:literal, msg: $msg:expr, tick: $tick:expr, deadline: $dl:expr) => {
        impl Role for $t {
            const SERVICE: &'static str = $name;
            fn on_event(&mut self, now: u64, ev: &Event, out: &mut Vec<Output>) {
                <$t>::on_event(self, now, ev, out)
            }
            fn on_msg(&mut self, now: u64, from: PublicKey, msg: Msg, out: &mut Vec<Output>) -> Result<(), Reject> {
                #[allow(clippy::redundant_closure_call)]
                ($msg)(self, now, from, msg, out)
            }
            fn tick(&mut self, now: u64, out: &mut Vec<Output>) {
                #[allow(clippy::redundant_closure_call)]
                ($tick)(self, now, out)
            }
            fn deadline(&self) -> Option<u64> {
                #[allow(clippy::redundant_closure_call)]
                ($dl)(self)
            }
            fn height(&self) -> u64 {
                self.f.chain.height()
            }
        }
    };
}

type Out<'a> = &'a mut Vec<Output>;
fn not_mine<T>(_: &mut T, _: u64, _: PublicKey, _: Msg, _: Out) -> Result<(), Reject> {
    Err(Reject::NotMine)
}
fn idle<T>(_: &mut T, _: u64, _: Out) {}
fn never<T>(_: &T) -> Option<u64> {
    None
}

impl Role for clock::Clock {
    const SERVICE: &'static str = "clock-beacon";
    fn start(&mut self, now: u64, out: &mut Vec<Output>) {
        clock::Clock::start(self, now, out)
    }
    fn on_event(&mut self, now: u64, ev: &Event, out: &mut Vec<Output>) {
        clock::Clock::on_event(self, now, ev, out)
    }
    fn on_msg(&mut self, now: u64, from: PublicKey, msg: Msg, out: &mut Vec<Output>) -> Result<(), Reject> {
        clock::Clock::on_msg(self, now, from, msg, out)
    }
    fn tick(&mut self, now: u64, out: &mut Vec<Output>) {
        clock::Clock::tick(self, now, out)
    }
    fn deadline(&self) -> Option<u64> {
        Some(clock::Clock::deadline(self))
    }
    fn height(&self) -> u64 {
        self.f.chain.height()
    }
}
impl Role for lot_drawing::LotDrawing {
    const SERVICE: &'static str = "lot-drawing";
    fn on_event(&mut self, now: u64, ev: &Event, out: &mut Vec<Output>) {
        lot_drawing::LotDrawing::on_event(self, now, ev, out)
    }
    fn on_msg(&mut self, now: u64, from: PublicKey, msg: Msg, out: &mut Vec<Output>) -> Result<(), Reject> {
        lot_drawing::LotDrawing::on_msg(self, now, from, msg, out)
    }
    fn height(&self) -> u64 {
        self.f.chain.height()
    }
    fn describe(&self) -> String {
        lot_drawing::LotDrawing::describe(self)
    }
}
role!(kernel_buffer::KernelBufferRole, "kernel-buffer", msg: kernel_buffer::KernelBufferRole::on_msg,
    tick: kernel_buffer::KernelBufferRole::tick, deadline: never);
impl Role for trustee::Trustee {
    const SERVICE: &'static str = "ibft-trustees";
    fn on_event(&mut self, now: u64, ev: &Event, out: &mut Vec<Output>) {
        trustee::Trustee::on_event(self, now, ev, out)
    }
    fn on_msg(&mut self, now: u64, from: PublicKey, msg: Msg, out: &mut Vec<Output>) -> Result<(), Reject> {
        trustee::Trustee::on_msg(self, now, from, msg, out)
    }
    fn tick(&mut self, now: u64, out: &mut Vec<Output>) {
        trustee::Trustee::tick(self, now, out)
    }
    fn deadline(&self) -> Option<u64> {
        trustee::Trustee::deadline(self)
    }
    fn height(&self) -> u64 {
        self.f.chain.height()
    }
    fn describe(&self) -> String {
        trustee::Trustee::describe(self)
    }
}
role!(lottery::Lottery, "lottery", msg: not_mine, tick: idle, deadline: never);

impl Role for ledger::Ledger {
    const SERVICE: &'static str = "ledger";
    fn start(&mut self, now: u64, out: &mut Vec<Output>) {
        ledger::Ledger::start(self, now, out)
    }
    fn on_event(&mut self, now: u64, ev: &Event, out: &mut Vec<Output>) {
        ledger::Ledger::on_event(self, now, ev, out)
    }
    fn on_msg(&mut self, now: u64, from: PublicKey, msg: Msg, out: &mut Vec<Output>) -> Result<(), Reject> {
        ledger::Ledger::on_msg(self, now, from, msg, out)
    }
    fn tick(&mut self, now: u64, out: &mut Vec<Output>) {
        ledger::Ledger::tick(self, now, out)
    }
    fn height(&self) -> u64 {
        self.f.chain.height()
    }
}

impl Role for miner_pool::MinerPool {
    const SERVICE: &'static str = "miner-pool";
    fn on_event(&mut self, now: u64, ev: &Event, out: &mut Vec<Output>) {
        miner_pool::MinerPool::on_event(self, now, ev, out)
    }
    fn on_mined(&mut self, now: u64, lot: Lot, out: &mut Vec<Output>) -> Result<(), Reject> {
        miner_pool::MinerPool::on_mined(self, now, lot, out)
    }
    fn height(&self) -> u64 {
        self.f.chain.height()
    }
}
