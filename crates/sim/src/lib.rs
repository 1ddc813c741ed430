//! Deterministic simulator: N datacenters (each a sans-IO `Datacenter` of seven role machines), their miners and clients,
//! on a simulated clock and network (delay, jitter, loss, reordering, partitions that heal,
//! crashes), with Byzantine seats. Invariants are checked after every step.
#![forbid(unsafe_code)]

use daoli_protocol::block::{Batch, CertifiedBlock, route_order};
use daoli_protocol::buffer::BufferError;
use daoli_protocol::codec::Hash32;
use daoli_protocol::crypto::{Keypair, PublicKey};
use daoli_protocol::datacenter::Datacenter;
use daoli_protocol::ledger::{LotteryEvent, TxOutcome};
use daoli_protocol::lot::{Lot, LotTemplate, mine};
use daoli_protocol::node::Proposal;
use daoli_protocol::node::{Committed, Durable, Msg, Output};
use daoli_protocol::params::{Genesis, Identity, Params, PeriodicLottery};
use daoli_protocol::tx::{Transaction, TxKind};
use daoli_protocol::verify::{verify_lottery, verify_rounds};
use daoli_protocol::vote::Step;
use daoli_protocol::vote::Vote;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt::Write as _;

/// A small deterministic PRNG (SplitMix64): the simulator's only source of randomness.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
    pub fn chance(&mut self, permille: u64) -> bool {
        self.below(1000) < permille
    }
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// Signs two different votes for every vote and sends one to each half of the peers.
    Equivocate,
    /// Sends no votes.
    WithholdVotes,
    /// Publishes neither seeds nor MicroBlocks.
    WithholdSeed,
    /// Votes for random values.
    Garbage,
    /// Sends messages with corrupted signatures.
    BadSignatures,
    /// Mirrors every honest vote it sees back to the sender's side of a partition, so that
    /// each side sees a quorum for its own value (the attack needing more than f seats).
    SplitBrain,
    /// Drops every honest lot it receives: its own view, its wave-1 prevotes and its
    /// proposals carry a censored tree (rule 3); it also proposes its block with the tree out
    /// of luck order.
    CensorLots,
    /// Reveals its seed and MicroBlock to half of the datacenters only (rule 4).
    SelectiveSeed,
    /// Signs two versions of everything it signs (votes, proposals, MicroBlocks, batches and
    /// lot countersignatures) and sends one to each half of the peers (rule 10).
    EquivocateAll,
    /// Relays every certified block also with its QC cut, padded with a repeated precommit,
    /// and as same-QC variants of the block (a dropped MicroBlock, a changed lot signature).
    ForgeCertified,
    /// Floods far-future votes, sync requests and junk transactions (rules 8 and 9).
    Flood,
}

impl Behavior {
    pub const ALL: [Behavior; 10] = [
        Behavior::Equivocate,
        Behavior::WithholdVotes,
        Behavior::WithholdSeed,
        Behavior::Garbage,
        Behavior::BadSignatures,
        Behavior::CensorLots,
        Behavior::SelectiveSeed,
        Behavior::EquivocateAll,
        Behavior::ForgeCertified,
        Behavior::Flood,
    ];
}

#[derive(Debug, Clone)]
pub struct Partition {
    pub start: u64,
    pub end: u64,
    /// Group index of each datacenter; [`BRIDGE`] reaches every group.
    pub side: Vec<usize>,
}

/// A stop-the-world stall of every honest datacenter (the broker or database they share is
/// down, their hosts are suspended): from the first moment after `after` at which every honest
/// datacenter that is up has just begun a new cycle (so that the stall covers the cycle's
/// mining window everywhere), nothing of theirs runs for `length` ms; what reaches them
/// meanwhile waits. When they resume, every deadline of the cycle has passed and every lot
/// comes late. The adversary's datacenters are not stalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    pub after: u64,
    pub length: u64,
}

/// A datacenter on this side of a partition talks to all sides (an adversary's vantage point).
pub const BRIDGE: usize = usize::MAX;

/// Choices of [`Config::random`] fixed from the command line (`--p`, `--sybils`, `--seats`).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub p_permille: Option<u64>,
    pub sybils: Option<usize>,
    pub seats: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub datacenters: usize,
    pub miners_per_dc: usize,
    pub params: Params,
    /// Datacenter index of each genesis seat (youngest first).
    pub genesis_seats: Vec<usize>,
    /// The adversary's datacenters (its Sybil sponsors) and what they do.
    pub byzantine: BTreeMap<usize, Behavior>,
    /// `p`: the adversary's share of lot production, permille. Its datacenters run this share
    /// of all miner keys, and nothing limits the seats its lots win.
    pub p_permille: u64,
    pub clients: usize,
    /// How often (per mille) a client buys a ticket while a lottery round is open.
    pub ticket_permille: u64,
    pub duration_ms: u64,
    /// No new transactions after this time; faults end by `heal_at`.
    pub tx_stop_ms: u64,
    pub heal_at: u64,
    pub delay_ms: u64,
    pub jitter_ms: u64,
    pub loss_permille: u64,
    pub skew_ms: u64,
    pub partitions: Vec<Partition>,
    /// (datacenter, crash time, restart time)
    pub crashes: Vec<(usize, u64, u64)>,
    pub pause: Option<Pause>,
    /// Stop once every honest datacenter has certified this height (clients stop sending
    /// four heights earlier, so that what they sent is executed by then).
    pub stop_height: Option<u64>,
}

impl Config {
    /// A randomized scenario for `seed`: 3 to 5 honest datacenters and 1 to 3 Byzantine ones
    /// (Sybil sponsors of one adversary) producing a share `p` of the lots (0.1 on even seeds,
    /// 0.2 on odd ones), each position of the genesis window the adversary's with probability
    /// `p` (exactly f on one seed in four: the boundary), lossy jittery links, and sometimes a
    /// partition, a crash or a stop-the-world pause, all healed well before the end. One seed in
    /// ten runs a committee of 40 seats instead of 11.
    pub fn random(seed: u64) -> Self {
        Self::random_with(seed, &Overrides::default())
    }

    /// [`Config::random`] with some choices fixed from the command line.
    pub fn random_with(seed: u64, o: &Overrides) -> Self {
        let mut r = Rng::new(seed);
        let honest_n = r.range(3, 5) as usize;
        let sybils = r.range(1, 3) as usize;
        let sybils = o.sybils.unwrap_or(sybils).max(1);
        let dcs = honest_n + sybils;
        let mut params = Params::devnet();
        params.pow_bits = 3;
        params.payroll = 8;
        params.coinbase = 100_000;
        params.wage = 1_000;
        params.batch_expiry = 3;
        if let Some(n) = o.seats {
            params.seats = n;
            params.waves = vec![n - 2 * (n / 3), n / 3, n / 3];
        } else if seed % 10 == 9 {
            params.seats = 40;
            params.waves = vec![14, 13, 13];
        }
        let p_permille = o.p_permille.unwrap_or(if seed.is_multiple_of(2) { 100 } else { 200 });
        let n = params.seats;
        let f = params.f() as usize;
        let mut order: Vec<usize> = (0..dcs).collect();
        for i in (1..order.len()).rev() {
            let j = r.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        let byz: Vec<usize> = order[..sybils].to_vec();
        let honest: Vec<usize> = order[sybils..].to_vec();
        let mut adversarial: Vec<bool> = if seed % 4 == 1 {
            (0..n).map(|i| i < f).collect()
        } else {
            (0..n).map(|_| r.chance(p_permille)).collect()
        };
        for i in (1..n).rev() {
            let j = r.below(i as u64 + 1) as usize;
            adversarial.swap(i, j);
        }
        let seats: Vec<usize> = adversarial
            .iter()
            .enumerate()
            .map(|(i, a)| {
                if *a {
                    byz[i % byz.len()]
                } else {
                    honest[i % honest.len()]
                }
            })
            .collect();
        let behavior = Behavior::ALL[r.below(Behavior::ALL.len() as u64) as usize];
        let byzantine = byz.iter().map(|d| (*d, behavior)).collect();
        let duration_ms = 16_000;
        let heal_at = 8_000;
        let mut partitions = Vec::new();
        if r.chance(300) {
            let start = r.range(1_000, 5_000);
            let side: Vec<usize> = (0..dcs).map(|_| r.below(2) as usize).collect();
            partitions.push(Partition {
                start,
                end: (start + r.range(500, 3_000)).min(heal_at),
                side,
            });
        }
        let mut crashes = Vec::new();
        if r.chance(200) {
            let d = honest[r.below(honest.len() as u64) as usize];
            let at = r.range(1_000, 5_000);
            crashes.push((d, at, at + r.range(200, 2_500)));
        }
        // Rounds started during a partition run on with timeouts grown by then (round r waits
        // r+1 times the base): after the heal, reaching an honest proposer whose block every
        // honest seat accepts can take several such rounds, so the run leaves time for them.
        let duration_ms = if partitions.is_empty() { duration_ms } else { 20_000 };
        let mut c = Config {
            seed,
            datacenters: dcs,
            miners_per_dc: r.range(2, 3) as usize,
            params,
            genesis_seats: seats,
            byzantine,
            p_permille,
            clients: r.range(2, 6) as usize,
            ticket_permille: 400,
            duration_ms,
            tx_stop_ms: 9_000,
            heal_at,
            delay_ms: r.range(2, 30),
            jitter_ms: r.range(0, 40),
            loss_permille: r.range(0, 50),
            skew_ms: r.range(0, 40),
            partitions,
            crashes,
            pause: None,
            stop_height: None,
        };
        // Drawn last, so that every other choice of a seed stays what it was before pauses.
        if r.chance(150) {
            c.pause = Some(Pause {
                after: r.range(1_000, 3_000),
                length: r.range(1_500, 3_500),
            });
            c.duration_ms = 20_000;
        }
        c
    }

    /// Miner keys per datacenter: `miners_per_dc` for each honest one; the adversary's share
    /// `p` of all keys spread over its datacenters.
    pub fn miner_counts(&self) -> Vec<usize> {
        let honest = (0..self.datacenters)
            .filter(|d| !self.byzantine.contains_key(d))
            .count();
        let h = (honest * self.miners_per_dc) as u64;
        let p = self.p_permille.min(999);
        let b = ((h * p + (1000 - p) / 2) / (1000 - p)) as usize;
        let byz: Vec<usize> = self.byzantine.keys().copied().collect();
        (0..self.datacenters)
            .map(|d| match byz.iter().position(|x| *x == d) {
                None => self.miners_per_dc,
                Some(k) => b / byz.len() + usize::from(k < b % byz.len()),
            })
            .collect()
    }

    /// The quiet 4-datacenter devnet of the README: no faults.
    pub fn devnet(seed: u64, heights: u64) -> Self {
        let mut c = Config::random(seed);
        c.datacenters = 4;
        c.miners_per_dc = 2;
        c.params = Params::devnet();
        c.params.pow_bits = 8;
        c.genesis_seats = (0..c.params.seats).map(|i| i % 4).collect();
        c.byzantine.clear();
        c.p_permille = 0;
        // Enough clients, keen on tickets, that each drawn round has several tickets to choose
        // from: a draw over one ticket would show nothing about fairness.
        c.clients = 16;
        c.ticket_permille = 800;
        c.duration_ms = heights * 2_000 + 5_000;
        c.tx_stop_ms = c.duration_ms;
        c.stop_height = Some(heights);
        c.heal_at = 0;
        c.delay_ms = 5;
        c.jitter_ms = 10;
        c.loss_permille = 0;
        c.partitions.clear();
        c.crashes.clear();
        c.pause = None;
        c
    }

    pub fn genesis(&self) -> (Genesis, Vec<Identity>, Vec<Keypair>) {
        let dcs: Vec<Identity> = (0..self.datacenters)
            .map(|i| Identity::from_label(&format!("sim/{}/dc{i}", self.seed)))
            .collect();
        let clients: Vec<Keypair> = (0..self.clients)
            .map(|i| Keypair::from_label(&format!("sim/{}/client{i}", self.seed)))
            .collect();
        let g = Genesis {
            network: format!("daoli-sim-{}", self.seed),
            params: self.params.clone(),
            founders: dcs
                .iter()
                .enumerate()
                .map(|(i, k)| k.datacenter(&format!("dc{i}.sim:7000"), self.params.min_bond))
                .collect(),
            seats: self.genesis_seats.iter().map(|i| dcs[*i].root.public()).collect(),
            seed: daoli_protocol::codec::sha256(format!("genesis seed {}", self.seed).as_bytes()),
            timestamp_ms: 0,
            accounts: clients.iter().map(|k| (k.public(), 1_000_000)).collect(),
            rounds: vec![],
            periodic_lottery: Some(PeriodicLottery {
                every: 4,
                length: 3,
                price: 10,
                winners: 2,
            }),
        };
        (g, dcs, clients)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Deliver {
        to: usize,
        from: usize,
        msg: Box<Msg>,
    },
    Wake(usize),
    ClientTick(usize),
    Reply {
        client: usize,
        node: usize,
        tx_hash: Hash32,
        result: Result<(), BufferError>,
    },
    Crash(usize),
    Restart(usize),
}

#[derive(Debug, Clone)]
struct Client {
    key: Keypair,
    nonce: u64,
    inflight: Option<(Transaction, u64)>,
    home: usize,
}

/// What the invariant checker found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub seed: u64,
    pub heights: u64,
    pub safety_violations: u64,
    pub root_divergences: u64,
    pub lost_txs: u64,
    pub double_executions: u64,
    pub liveness_failures: u64,
    pub lottery_mismatches: u64,
    pub acked_txs: u64,
    pub executed_txs: u64,
    pub draws: u64,
    /// Certified heights whose seats gave the adversary more than f weight.
    pub over_f_heights: u64,
    /// The binomial prediction of `over_f_heights`: heights x P[Bin(n, p) > f].
    pub predicted_over_f: f64,
    /// Violations at or after a height where the adversary held more than f (beyond the
    /// threat model's budget; reported apart, they do not fail the run).
    pub over_f_violations: u64,
    /// Synchronous heights whose leader was less lucky than a lot every honest trustee held
    /// before its throttle.
    pub unlucky_leaders: u64,
    /// Most distinct seeds among the valid blocks one honest node held for one height.
    pub max_seed_choices: u64,
    /// Whether the stop-the-world pause began before any honest lot drawing had counted a lot
    /// of the cycle: then every lot of that cycle comes late everywhere.
    pub blind_pause: bool,
    pub notes: Vec<String>,
}

impl Report {
    pub fn violations(&self) -> u64 {
        self.safety_violations
            + self.root_divergences
            + self.lost_txs
            + self.double_executions
            + self.liveness_failures
            + self.lottery_mismatches
            + self.unlucky_leaders
            + self.max_seed_choices.saturating_sub(2)
    }
}

pub struct Sim {
    pub cfg: Config,
    pub genesis: Genesis,
    pub nodes: Vec<Datacenter>,
    chain: Hash32,
    keys: Vec<PublicKey>,
    /// Any key of a datacenter (root or role key) -> its index.
    index: BTreeMap<PublicKey, usize>,
    clients: Vec<Client>,
    rng: Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    events: BTreeMap<usize, Ev>,
    next_wake: Vec<u64>,
    skew: Vec<u64>,
    down: Vec<bool>,
    /// The stop-the-world pause once it began: (start, end), and the lowest height of the honest
    /// datacenters that are up when it was armed.
    paused: Option<(u64, u64)>,
    pause_armed: Option<u64>,
    miners: Vec<Vec<Keypair>>,
    /// What each datacenter's store holds: only this survives a crash.
    durable: Vec<Durable>,
    /// Identities (to rebuild a crashed node).
    ids: Vec<Identity>,
    mirrored: BTreeSet<(usize, u64, u32, u8, Option<Hash32>, usize)>,
    // checker state
    certified: BTreeMap<u64, Hash32>,
    roots: BTreeMap<u64, Hash32>,
    canonical: BTreeMap<u64, Committed>,
    acked: BTreeMap<Hash32, usize>,
    executed_ok: BTreeMap<Hash32, u32>,
    /// Transactions recorded as failed for good (they changed nothing and will not run again).
    failed: BTreeMap<Hash32, TxOutcome>,
    draws: BTreeMap<u64, Vec<u64>>,
    height_at_heal: Option<u64>,
    /// Lots of each height and the honest datacenters that held them before their throttle.
    in_time: BTreeMap<u64, BTreeMap<Hash32, (Lot, BTreeSet<usize>)>>,
    /// Sim time at which each height was first certified.
    first_certified: BTreeMap<u64, u64>,
    /// Heights at which the adversary held more than f seat weight.
    over_f: BTreeSet<u64>,
    /// The first height with a violation under more than f: the run's fault budget is blown
    /// from there on.
    compromised_at: Option<u64>,
    /// Far-future and sync messages a flooding datacenter sent in its current cycle.
    flooded: BTreeMap<usize, (u64, u64)>,
    pub report: Report,
    /// Lines printed per certified height (for the devnet run).
    pub log: Vec<String>,
    pub keep_log: bool,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sim(seed {}, t={})", self.cfg.seed, self.now)
    }
}

impl Sim {
    pub fn new(cfg: Config) -> Self {
        let (genesis, dcs, ckeys) = cfg.genesis();
        let mut rng = Rng::new(cfg.seed.wrapping_mul(31).wrapping_add(7));
        let skew: Vec<u64> = (0..cfg.datacenters).map(|_| rng.below(cfg.skew_ms + 1)).collect();
        let counts = cfg.miner_counts();
        let miners: Vec<Vec<Keypair>> = (0..cfg.datacenters)
            .map(|d| {
                (0..counts[d])
                    .map(|m| Keypair::from_label(&format!("sim/{}/dc{d}/miner{m}", cfg.seed)))
                    .collect()
            })
            .collect();
        let nodes: Vec<Datacenter> = dcs
            .iter()
            .enumerate()
            .map(|(i, k)| {
                Datacenter::new(genesis.clone(), k.clone(), miners[i].clone(), rng.next_u64(), skew[i])
                    .expect("simulated genesis is valid")
            })
            .collect();
        let keys: Vec<PublicKey> = dcs.iter().map(|k| k.root.public()).collect();
        let index = dcs
            .iter()
            .enumerate()
            .flat_map(|(i, d)| d.public_keys().map(|k| (k, i)))
            .collect();
        let chain = genesis.chain_id();
        let honest: Vec<usize> = (0..cfg.datacenters)
            .filter(|d| !cfg.byzantine.contains_key(d))
            .collect();
        let clients = ckeys
            .into_iter()
            .enumerate()
            .map(|(i, key)| Client {
                key,
                nonce: 0,
                inflight: None,
                home: honest[i % honest.len()],
            })
            .collect();
        let n = cfg.datacenters;
        let mut sim = Sim {
            genesis,
            nodes,
            chain,
            keys,
            index,
            clients,
            rng,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            next_wake: vec![u64::MAX; n],
            skew,
            down: vec![false; n],
            paused: None,
            pause_armed: None,
            miners,
            durable: vec![Durable::default(); n],
            ids: dcs.clone(),
            mirrored: BTreeSet::new(),
            certified: BTreeMap::new(),
            roots: BTreeMap::new(),
            canonical: BTreeMap::new(),
            acked: BTreeMap::new(),
            executed_ok: BTreeMap::new(),
            failed: BTreeMap::new(),
            draws: BTreeMap::new(),
            height_at_heal: None,
            in_time: BTreeMap::new(),
            first_certified: BTreeMap::new(),
            over_f: BTreeSet::new(),
            compromised_at: None,
            flooded: BTreeMap::new(),
            report: Report {
                seed: cfg.seed,
                ..Default::default()
            },
            log: Vec::new(),
            keep_log: false,
            cfg,
        };
        for i in 0..n {
            sim.push(0, Ev::Wake(i));
        }
        for c in 0..sim.clients.len() {
            let t = 200 + sim.rng.below(800);
            sim.push(t, Ev::ClientTick(c));
        }
        for (d, at, back) in sim.cfg.crashes.clone() {
            sim.push(at, Ev::Crash(d));
            sim.push(back, Ev::Restart(d));
        }
        sim
    }

    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.events.insert(self.seq as usize, ev);
        self.queue.push(Reverse((at, self.seq, self.seq as usize)));
    }

    fn honest(&self, i: usize) -> bool {
        !self.cfg.byzantine.contains_key(&i)
    }

    fn faults_on(&self) -> bool {
        self.now < self.cfg.heal_at
    }

    fn side(&self, i: usize) -> Option<usize> {
        self.cfg
            .partitions
            .iter()
            .find(|p| p.start <= self.now && self.now < p.end)
            .map(|p| p.side[i])
    }

    fn send(&mut self, from: usize, to: usize, msg: Msg) {
        if from == to {
            return;
        }
        if let (Some(a), Some(b)) = (self.side(from), self.side(to))
            && a != b
            && a != BRIDGE
            && b != BRIDGE
        {
            return;
        }
        if self.faults_on() && self.rng.chance(self.cfg.loss_permille) {
            return;
        }
        let delay = self.cfg.delay_ms + self.rng.below(self.cfg.jitter_ms + 1);
        let at = self.now + delay;
        self.push(
            at,
            Ev::Deliver {
                to,
                from,
                msg: Box::new(msg),
            },
        );
    }

    fn broadcast(&mut self, from: usize, msg: Msg) {
        for to in 0..self.nodes.len() {
            self.send(from, to, msg.clone());
        }
    }

    /// Runs until the configured duration; returns the checker's report.
    pub fn run(&mut self) -> Report {
        while let Some(Reverse((at, _, id))) = self.queue.pop() {
            if at > self.cfg.duration_ms {
                break;
            }
            let before = self.now;
            self.now = at;
            if self.height_at_heal.is_none() && self.now >= self.cfg.heal_at {
                self.height_at_heal = Some(self.max_honest_height());
            }
            if std::env::var_os("SIM_TRACE").is_some() && before / 500 != at / 500 {
                for (i, n) in self.nodes.iter().enumerate() {
                    eprintln!("t={at} dc{i}: {}", n.describe());
                }
            }
            let ev = self.events.remove(&id).expect("queued event");
            if let Some(end) = self.stalled_until(&ev) {
                self.push(end, ev);
                continue;
            }
            self.step(ev);
            self.arm_pause();
            if self.cfg.stop_height.is_some_and(|h| self.min_honest_height() >= h) {
                break;
            }
        }
        self.finish();
        self.report.clone()
    }

    /// When an event for a paused honest datacenter may run.
    fn stalled_until(&self, ev: &Ev) -> Option<u64> {
        let (start, end) = self.paused?;
        let i = match ev {
            Ev::Deliver { to, .. } => *to,
            Ev::Wake(i) => *i,
            _ => return None,
        };
        (self.honest(i) && start <= self.now && self.now < end).then_some(end)
    }

    /// Starts the pause once every honest datacenter that is up begins a new cycle after its
    /// `after` (or 3 s later in any case), cut to end by the heal.
    fn arm_pause(&mut self) {
        let Some(p) = self.cfg.pause else { return };
        if self.paused.is_some() || self.now < p.after {
            return;
        }
        let low = (0..self.nodes.len())
            .filter(|i| self.honest(*i) && !self.down[*i])
            .map(|i| self.nodes[i].height())
            .min()
            .unwrap_or(0);
        let armed = *self.pause_armed.get_or_insert(low);
        if low > armed || self.now >= p.after + 3_000 {
            let end = (self.now + p.length).min(self.cfg.heal_at.max(self.now));
            self.paused = Some((self.now, end));
            self.report.blind_pause = (0..self.nodes.len())
                .filter(|i| self.honest(*i) && !self.down[*i])
                .all(|i| self.nodes[i].lot_drawing.pool.is_empty());
        }
    }

    fn min_honest_height(&self) -> u64 {
        (0..self.nodes.len())
            .filter(|i| self.honest(*i))
            .map(|i| self.nodes[i].height())
            .min()
            .unwrap_or(0)
    }

    fn max_honest_height(&self) -> u64 {
        (0..self.nodes.len())
            .filter(|i| self.honest(*i))
            .map(|i| self.nodes[i].height())
            .max()
            .unwrap_or(0)
    }

    fn local(&self, i: usize) -> u64 {
        self.now + self.skew[i]
    }

    fn step(&mut self, ev: Ev) {
        match ev {
            Ev::Deliver { to, from, msg } => {
                if self.down[to] {
                    return;
                }
                match self.cfg.byzantine.get(&to) {
                    Some(Behavior::SplitBrain) => self.mirror(to, from, &msg),
                    Some(Behavior::CensorLots) => {
                        if let Msg::Lot(l) = &*msg
                            && !self.byz_key(&l.sponsor)
                        {
                            return;
                        }
                    }
                    _ => {}
                }
                let lot = match &*msg {
                    Msg::Lot(l) if self.honest(to) => Some(l.clone()),
                    _ => None,
                };
                let now = self.local(to);
                let (out, res) = self.nodes[to].handle(now, self.keys[from], *msg);
                if let Some(l) = lot
                    && res.is_ok()
                {
                    self.note_in_time(to, l);
                }
                self.outputs(to, out);
            }
            Ev::Wake(i) => {
                self.next_wake[i] = u64::MAX;
                if self.down[i] {
                    return;
                }
                if self.cfg.byzantine.get(&i) == Some(&Behavior::Flood) {
                    self.flood(i);
                }
                let now = self.local(i);
                let out = self.nodes[i].tick(now);
                self.outputs(i, out);
            }
            Ev::ClientTick(c) => self.client_tick(c),
            Ev::Reply {
                client,
                node,
                tx_hash,
                result,
            } => self.client_reply(client, node, tx_hash, result),
            Ev::Crash(i) => {
                self.down[i] = true;
            }
            Ev::Restart(i) => {
                // Everything not persisted is lost: the datacenter is rebuilt from its store
                // (the certified blocks, votes and statements it asked to persist).
                self.down[i] = false;
                let now = self.local(i);
                let durable = self.durable[i].clone();
                let entropy = self.rng.next_u64();
                let miners = self.nodes[i].miners().to_vec();
                self.nodes[i] =
                    Datacenter::recover(self.genesis.clone(), self.ids[i].clone(), miners, durable, entropy, now)
                        .expect("a node recovers from its own store");
                let out = self.nodes[i].tick(now);
                self.outputs(i, out);
            }
        }
    }

    fn outputs(&mut self, i: usize, out: Vec<Output>) {
        let behavior = self.cfg.byzantine.get(&i).copied();
        for o in &out {
            self.durable[i].record(o);
        }
        for o in out {
            match o {
                Output::Broadcast(m) => match behavior {
                    None => {
                        if let Msg::Lot(l) = &m {
                            self.note_in_time(i, l.clone());
                        }
                        self.broadcast(i, m)
                    }
                    Some(b) => self.byzantine_broadcast(i, b, m),
                },
                Output::Send(pk, m) => {
                    if let Some(j) = self.index.get(&pk).copied() {
                        self.send(i, j, m);
                    }
                }
                Output::PersistTx(_)
                | Output::PersistEvidence(_)
                | Output::PersistSigned(_)
                | Output::PersistVote(_)
                | Output::PersistBlock(..) => {}
                // The datacenter runs its miner pool's hashing itself.
                Output::Mine(_) | Output::Event(_) => {}
                Output::Reply {
                    client,
                    tx_hash,
                    result,
                } => {
                    let at = self.now + self.cfg.delay_ms;
                    self.push(
                        at,
                        Ev::Reply {
                            client: client as usize,
                            node: i,
                            tx_hash,
                            result,
                        },
                    );
                }
                Output::Committed(c) => self.on_committed(i, *c),
                Output::Wakeup(at_local) => {
                    let at = at_local.saturating_sub(self.skew[i]).max(self.now + 1);
                    if at < self.next_wake[i] {
                        self.next_wake[i] = at;
                        self.push(at, Ev::Wake(i));
                    }
                }
            }
        }
    }

    /// The same vote, signed for a random value.
    fn garbage_vote(&mut self, key: &Keypair, v: &Vote) -> Vote {
        let value = Hash32(
            self.rng
                .next_u64()
                .to_be_bytes()
                .repeat(4)
                .try_into()
                .expect("32 bytes"),
        );
        Vote::sign_unchecked(key, &self.chain, v.height, v.round, v.step, Some(value), v.timestamp)
    }

    fn byzantine_broadcast(&mut self, i: usize, b: Behavior, m: Msg) {
        let key = self.nodes[i].id.vote.clone();
        match (b, m) {
            (Behavior::Equivocate, Msg::Vote(v)) => {
                let other = self.garbage_vote(&key, &v);
                for to in 0..self.nodes.len() {
                    let m = if to % 2 == 0 { v.clone() } else { other.clone() };
                    self.send(i, to, Msg::Vote(m));
                }
            }
            (Behavior::WithholdVotes, Msg::Vote(_)) => {}
            (Behavior::WithholdSeed, Msg::Seed(_) | Msg::Micro(_)) => {}
            (Behavior::Garbage, Msg::Vote(v)) => {
                let g = self.garbage_vote(&key, &v);
                self.broadcast(i, Msg::Vote(g));
            }
            (Behavior::BadSignatures, m) => {
                let m = match m {
                    Msg::Vote(mut v) => {
                        v.sig.0[7] ^= 0x40;
                        Msg::Vote(v)
                    }
                    Msg::Lot(mut l) => {
                        l.miner_sig.0[7] ^= 0x40;
                        Msg::Lot(l)
                    }
                    Msg::Proposal(mut p) => {
                        p.sig.0[7] ^= 0x40;
                        Msg::Proposal(p)
                    }
                    Msg::Seed(mut s) => {
                        s.proof.0[40] ^= 0x40;
                        Msg::Seed(s)
                    }
                    other => other,
                };
                self.broadcast(i, m);
            }
            (Behavior::SplitBrain, Msg::Vote(_) | Msg::Proposal(_)) => {}
            (Behavior::CensorLots, Msg::Proposal(p)) => {
                // Its censored block, and the same block with the tree out of luck order.
                let mut b = p.block.clone();
                b.tree.reverse();
                if b.tree != p.block.tree {
                    let key = self.nodes[i].id.vote.clone();
                    let chain = self.chain;
                    let reordered = Proposal::new(&key, &chain, p.round, p.valid_round, b);
                    self.broadcast(i, Msg::Proposal(reordered));
                }
                self.broadcast(i, Msg::Proposal(p));
            }
            (Behavior::SelectiveSeed, m @ (Msg::Seed(_) | Msg::Micro(_))) => {
                let told: Vec<usize> = (0..self.nodes.len())
                    .filter(|d| d % 2 == 0 || !self.honest(*d))
                    .collect();
                for to in told {
                    self.send(i, to, m.clone());
                }
            }
            (Behavior::EquivocateAll, m) => match self.twin(i, &m) {
                Some(other) => {
                    for to in 0..self.nodes.len() {
                        let x = if to % 2 == 0 { m.clone() } else { other.clone() };
                        self.send(i, to, x);
                    }
                }
                None => self.broadcast(i, m),
            },
            (Behavior::ForgeCertified, Msg::Certified(cb, batches)) => {
                let mut variants = Vec::new();
                let mut cut = cb.clone();
                cut.qc.precommits.truncate(1);
                variants.push(cut);
                let mut padded = cb.clone();
                if let Some(first) = padded.qc.precommits.first().cloned() {
                    padded.qc.precommits = vec![first; 12];
                }
                variants.push(padded);
                let mut bare = cb.clone();
                bare.block.micro = None;
                variants.push(bare);
                let mut resigned = cb.clone();
                resigned.block.tree[0].miner_sig.0[5] ^= 1;
                variants.push(resigned);
                for v in variants {
                    self.broadcast(i, Msg::Certified(v, batches.clone()));
                }
                self.broadcast(i, Msg::Certified(cb, batches));
            }
            (_, m) => self.broadcast(i, m),
        }
    }

    /// EquivocateAll: a second, different statement for the same slot, signed by the same key.
    fn twin(&mut self, i: usize, m: &Msg) -> Option<Msg> {
        let id = self.nodes[i].id.clone();
        let chain = self.chain;
        match m {
            Msg::Vote(v) => Some(Msg::Vote(self.garbage_vote(&id.vote, v))),
            Msg::Proposal(p) => {
                let mut b = p.block.clone();
                if b.micro.take().is_none() {
                    b.tree.truncate(1);
                    if b.tree.len() == p.block.tree.len() {
                        return None;
                    }
                }
                Some(Msg::Proposal(Proposal::new(
                    &id.vote,
                    &chain,
                    p.round,
                    p.valid_round,
                    b,
                )))
            }
            Msg::Micro(mb) => {
                let mut x = mb.clone();
                if x.batches.pop().is_none() && x.prev_prevotes.pop().is_none() && x.evidence.pop().is_none() {
                    return None;
                }
                Some(Msg::Micro(x.sign(&id.micro, &chain)))
            }
            Msg::Batch(b) => {
                let mut txs = b.txs.clone();
                txs.pop()?;
                Some(Msg::Batch(daoli_protocol::block::Batch::seal(
                    &id.batch, &chain, b.cycle, b.slot, txs,
                )))
            }
            Msg::Lot(l) => {
                let miner = self.miners[i].iter().find(|k| k.public() == l.miner)?.clone();
                let t = LotTemplate {
                    height: l.height,
                    prev_hash: l.prev_hash,
                    sponsor: l.sponsor,
                };
                let twin = mine(
                    &miner,
                    &chain,
                    &t,
                    self.cfg.params.pow_bits,
                    l.nonce.wrapping_add(1),
                    1 << 16,
                )?;
                Some(Msg::Lot(twin.countersign(&id.sponsor, &chain)))
            }
            _ => None,
        }
    }

    /// Flood: per cycle, up to 48 far-future votes, sync requests and junk transactions.
    fn flood(&mut self, i: usize) {
        let h = self.nodes[i].height() + 1;
        let sent = self.flooded.entry(i).or_insert((h, 0));
        if sent.0 != h {
            *sent = (h, 0);
        }
        if sent.1 >= 48 {
            return;
        }
        sent.1 += 16;
        let key = self.nodes[i].id.vote.clone();
        let junk = Keypair::from_label(&format!("sim/junk/{i}"));
        for k in 0..16u64 {
            let to = self.rng.below(self.nodes.len() as u64) as usize;
            let m = match k % 3 {
                0 => {
                    let far = h + 2 + self.rng.below(5_000);
                    let value = Hash32([self.rng.below(255) as u8; 32]);
                    Msg::Vote(Vote::sign_unchecked(
                        &key,
                        &self.chain,
                        far,
                        0,
                        Step::Prevote,
                        Some(value),
                        0,
                    ))
                }
                1 => Msg::SyncRequest { from: 0 },
                _ => {
                    let to_pk = self.keys[to];
                    let tx = Transaction::new(
                        &junk,
                        &self.chain,
                        self.rng.below(1 << 20),
                        1,
                        TxKind::Transfer { to: to_pk, amount: 1 },
                        vec![],
                    );
                    Msg::Tx {
                        client: u64::MAX,
                        slot: self.rng.below(self.cfg.params.payroll as u64) as u32,
                        tx,
                    }
                }
            };
            self.send(i, to, m);
        }
    }

    fn byz_key(&self, k: &PublicKey) -> bool {
        self.index.get(k).is_some_and(|d| !self.honest(*d))
    }

    /// Records that honest datacenter `i` holds `lot` before its throttle.
    fn note_in_time(&mut self, i: usize, lot: Lot) {
        let node = &self.nodes[i];
        let c = node.cycle();
        if c.height != lot.height || self.local(i) >= c.throttle(&self.cfg.params) || !node.holds_lot(&lot) {
            return;
        }
        self.in_time
            .entry(lot.height)
            .or_default()
            .entry(lot.id())
            .or_insert_with(|| (lot, BTreeSet::new()))
            .1
            .insert(i);
    }

    /// SplitBrain: answer an honest vote with the same vote of our own, to the voter's side.
    fn mirror(&mut self, byz: usize, from: usize, msg: &Msg) {
        let Msg::Vote(v) = msg else { return };
        if !self.honest(from) {
            return;
        }
        let side = self.side(from);
        let tag = (byz, v.height, v.round, v.step as u8, v.value, side.unwrap_or(from));
        if !self.mirrored.insert(tag) {
            return;
        }
        let key = self.nodes[byz].id.vote.clone();
        let mine = Vote::sign_unchecked(
            &key,
            &self.chain,
            v.height,
            v.round,
            v.step,
            v.value,
            v.timestamp.max(1),
        );
        for to in 0..self.nodes.len() {
            if to != byz && self.honest(to) && (self.side(to) == side || side.is_none()) {
                self.send(byz, to, Msg::Vote(mine.clone()));
            }
        }
    }

    fn on_committed(&mut self, i: usize, c: Committed) {
        if !self.honest(i) {
            return;
        }
        if std::env::var_os("SIM_DEBUG").is_some() {
            eprintln!(
                "t={} dc{i} committed {} {} batches {} receipts {:?}",
                self.now,
                c.height,
                c.hash.short(),
                c.included.len(),
                c.outcome
                    .receipts
                    .iter()
                    .map(|r| (r.tx_hash.short(), r.outcome))
                    .collect::<Vec<_>>()
            );
        }
        let h = c.height;
        self.report.max_seed_choices = self.report.max_seed_choices.max(c.seed_choices as u64);
        if !self.first_certified.contains_key(&h) {
            self.first_certified.insert(h, self.now);
            if self.adversary_over_f(i, h) {
                self.over_f.insert(h);
                self.report.over_f_heights += 1;
            }
            self.check_luck(i, h);
        }
        match self.certified.get(&h) {
            Some(prev) if *prev != c.hash => {
                let note = format!(
                    "SAFETY: height {h}: dc{i} certified {} but another node certified {}",
                    c.hash.short(),
                    prev.short()
                );
                if self.beyond_budget(h) {
                    self.report.over_f_violations += 1;
                    self.compromised_at = Some(self.compromised_at.map_or(h, |x| x.min(h)));
                    self.report
                        .notes
                        .push(format!("OVER-F {note} (adversary held more than f)"));
                } else {
                    self.report.safety_violations += 1;
                    self.report.notes.push(note);
                }
            }
            Some(_) => {}
            None => {
                self.certified.insert(h, c.hash);
            }
        }
        match self.roots.get(&h) {
            Some(prev) if *prev != c.outcome.state_root && self.beyond_budget(h) => {
                self.report.over_f_violations += 1;
            }
            Some(prev) if *prev != c.outcome.state_root => {
                self.report.root_divergences += 1;
                self.report.notes.push(format!(
                    "STATE: height {h}: dc{i} has root {}",
                    c.outcome.state_root.short()
                ));
            }
            Some(_) => {}
            None => {
                self.roots.insert(h, c.outcome.state_root);
            }
        }
        for ev in &c.outcome.lottery {
            if let LotteryEvent::Drawn { round, winners, .. } = ev {
                match self.draws.get(round) {
                    Some(w) if w != winners && self.compromised_at.is_some() => {
                        self.report.over_f_violations += 1;
                    }
                    Some(w) if w != winners => {
                        self.report.lottery_mismatches += 1;
                        self.report
                            .notes
                            .push(format!("LOTTERY: round {round}: dc{i} drew {winners:?}, another {w:?}"));
                    }
                    Some(_) => {}
                    None => {
                        self.draws.insert(*round, winners.clone());
                    }
                }
            }
        }
        if self.canonical.contains_key(&h) {
            return;
        }
        for r in &c.outcome.receipts {
            if r.outcome != TxOutcome::Ok && r.outcome.used_nonce() {
                self.failed.entry(r.tx_hash).or_insert(r.outcome);
            }
            if r.outcome == TxOutcome::Ok {
                let n = self.executed_ok.entry(r.tx_hash).or_insert(0);
                *n += 1;
                if *n > 1 {
                    self.report.double_executions += 1;
                    self.report
                        .notes
                        .push(format!("EXEC: tx {} executed twice", r.tx_hash.short()));
                }
            }
        }
        if self.keep_log {
            self.log.push(self.describe(&c));
        }
        self.canonical.insert(h, c);
    }

    /// Whether the adversary's datacenters hold more than f seat weight at height `h`, as
    /// node `i`'s chain seats it.
    fn adversary_over_f(&self, i: usize, h: u64) -> bool {
        let seats = self.nodes[i].chain().seats(h);
        let adversary: u64 = self
            .cfg
            .byzantine
            .keys()
            .map(|d| seats.weight(&self.nodes[*d].vote_key()))
            .sum();
        adversary > seats.f()
    }

    /// Whether height `h` is past the threat model's budget: the adversary held more than f
    /// there, or the run was already compromised below it.
    fn beyond_budget(&self, h: u64) -> bool {
        self.over_f.contains(&h) || self.compromised_at.is_some_and(|x| h >= x)
    }

    /// Under synchrony the leader of `h` is the luckiest lot that every honest trustee held
    /// before its throttle (rule 3). Heights in a faulty period or where the adversary held
    /// more than f are not judged.
    fn check_luck(&mut self, i: usize, h: u64) {
        let synchronous = h >= 2
            && self
                .first_certified
                .get(&(h - 1))
                .is_some_and(|t| *t >= self.cfg.heal_at + 200);
        let lots = self.in_time.remove(&h);
        self.in_time.retain(|k, _| *k > h);
        if !synchronous || self.over_f.contains(&h) || self.down.iter().any(|d| *d) {
            return;
        }
        let node = &self.nodes[i];
        let Some(cb) = node.chain().block(h) else { return };
        let seed = cb.block.header.seed;
        let leader = cb.block.leader().rank(&seed);
        let seats = node.chain().seats(h);
        let trustees: Vec<usize> = (0..self.nodes.len())
            .filter(|d| self.honest(*d) && seats.weight(&self.nodes[*d].vote_key()) > 0)
            .collect();
        let best = lots.into_iter().flat_map(|m| m.into_values()).filter(|(l, holders)| {
            trustees.iter().all(|t| holders.contains(t)) && node.chain().check_sponsor(h, l).is_ok()
        });
        if let Some((l, _)) = best.min_by_key(|(l, _)| l.rank(&seed))
            && l.rank(&seed) < leader
        {
            self.report.unlucky_leaders += 1;
            self.report.notes.push(format!(
                "LUCK: height {h}: leader {} is less lucky than lot {} of miner {} that every honest trustee held in time",
                cb.block.leader().miner.short(),
                l.id().short(),
                l.miner.short()
            ));
        }
    }

    fn dc_name(&self, pk: &PublicKey) -> String {
        self.index.get(pk).map_or_else(|| pk.short(), |i| format!("dc{i}"))
    }

    fn describe(&self, c: &Committed) -> String {
        let node = &self.nodes[0];
        let lead_sponsor = self.canonical_leader_sponsor(c);
        let seats = node.chain().seats(c.height.max(1));
        let weight: u64 = c.signers.iter().map(|s| seats.weight(s)).sum();
        let mut signed: Vec<String> = c.signers.iter().map(|s| self.dc_name(s)).collect();
        signed.sort();
        let mut line = format!(
            "height {:>3}  leader {} via {}  round {}  signed [{}] weight {}/{}  txs {}  root {}",
            c.height,
            c.leader.short(),
            lead_sponsor,
            c.round,
            signed.join(","),
            weight,
            seats.n(),
            c.txs,
            c.outcome.state_root.short()
        );
        for e in &c.outcome.lottery {
            match e {
                LotteryEvent::Opened { round, open, close } => {
                    let _ = write!(line, "  | lottery {round} open {open}..={close}");
                }
                LotteryEvent::Closed {
                    round,
                    tickets,
                    ticket_root,
                } => {
                    let _ = write!(
                        line,
                        "  | lottery {round} closed: {tickets} tickets, root {}",
                        ticket_root.short()
                    );
                }
                LotteryEvent::Drawn {
                    round, seed, winners, ..
                } => {
                    let _ = write!(
                        line,
                        "  | lottery {round} drawn with seed {}: tickets {winners:?}",
                        seed.short()
                    );
                }
            }
        }
        line
    }

    fn canonical_leader_sponsor(&self, c: &Committed) -> String {
        for n in &self.nodes {
            if let Some(cb) = n.chain().block(c.height) {
                return self.dc_name(&cb.block.leader().sponsor);
            }
        }
        "?".into()
    }

    fn client_tick(&mut self, ci: usize) {
        let l = self.cfg.params.l0_ms;
        let next = self.now + l / 2 + self.rng.below(l);
        self.push(next, Ev::ClientTick(ci));
        let home = self.clients[ci].home;
        if self.down[home] {
            return;
        }
        let state_nonce = self.nodes[home]
            .chain()
            .state
            .account(&self.clients[ci].key.public())
            .nonce;
        if let Some((tx, sent)) = self.clients[ci].inflight.clone() {
            if state_nonce > tx.nonce || self.failed.contains_key(&tx.hash()) {
                self.clients[ci].inflight = None;
                self.clients[ci].nonce = state_nonce;
            } else if self.now >= sent + 3 * l {
                self.clients[ci].inflight = Some((tx.clone(), self.now));
                self.route(ci, tx);
            }
            return;
        }
        let h_home = self.nodes[home].height();
        if self.now >= self.cfg.tx_stop_ms || self.cfg.stop_height.is_some_and(|s| h_home + 4 >= s) {
            return;
        }
        let c = &self.clients[ci];
        let h = self.nodes[home].height();
        let open_round = self.nodes[home]
            .chain()
            .state
            .rounds
            .values()
            .find(|r| r.is_open_at(h + 1) && r.close_height > h + 1)
            .map(|r| r.id);
        let kind = match open_round {
            Some(round) if self.rng.chance(self.cfg.ticket_permille) => TxKind::BuyTicket { round },
            _ => {
                let to = self.clients
                    [(ci + 1 + self.rng.below(self.clients.len() as u64) as usize) % self.clients.len()]
                .key
                .public();
                TxKind::Transfer {
                    to,
                    amount: 1 + self.rng.below(100),
                }
            }
        };
        let tx = Transaction::new(&c.key, &self.chain, c.nonce.max(state_nonce), 1, kind, vec![]);
        self.clients[ci].inflight = Some((tx.clone(), self.now));
        self.route(ci, tx);
    }

    fn route(&mut self, ci: usize, tx: Transaction) {
        let home = self.clients[ci].home;
        let node = &self.nodes[home];
        let p = &self.cfg.params;
        let h = node.height();
        let target = route_order(&tx.sender, p.payroll)
            .find_map(|slot| node.chain().payroll_entry(h, slot).map(|e| (slot, self.index[&e.dc])));
        if let Some((slot, to)) = target {
            self.deliver_tx(ci, to, slot, tx);
        }
    }

    fn deliver_tx(&mut self, ci: usize, to: usize, slot: u32, tx: Transaction) {
        let at = self.now + self.cfg.delay_ms + self.rng.below(self.cfg.jitter_ms + 1);
        // Clients reach datacenters through the same lossy network.
        if self.faults_on() && self.rng.chance(self.cfg.loss_permille) {
            return;
        }
        let from = self.clients[ci].home;
        self.push(
            at,
            Ev::Deliver {
                to,
                from,
                msg: Box::new(Msg::Tx {
                    client: ci as u64,
                    slot,
                    tx,
                }),
            },
        );
    }

    fn client_reply(&mut self, ci: usize, node: usize, tx_hash: Hash32, result: Result<(), BufferError>) {
        if ci >= self.clients.len() {
            return; // the answer to a flooding datacenter's junk
        }
        if std::env::var_os("SIM_DEBUG").is_some() {
            eprintln!(
                "t={} client {ci} reply from dc{node} for {}: {result:?}",
                self.now,
                tx_hash.short()
            );
        }
        let Some((tx, _)) = self.clients[ci].inflight.clone() else {
            return;
        };
        if tx.hash() != tx_hash {
            return;
        }
        match result {
            Ok(()) => {
                if self.honest(node) {
                    self.acked.entry(tx_hash).or_insert(node);
                }
            }
            Err(BufferError::Redirect { sponsor, slot, .. }) => {
                if let Some(to) = self.index.get(&sponsor).copied() {
                    self.deliver_tx(ci, to, slot, tx);
                }
            }
            Err(_) => {}
        }
    }

    fn finish(&mut self) {
        let honest: Vec<usize> = (0..self.nodes.len()).filter(|i| self.honest(*i)).collect();
        let heights: Vec<u64> = honest.iter().map(|i| self.nodes[*i].height()).collect();
        self.report.heights = heights.iter().copied().min().unwrap_or(0);
        let at_heal = self.height_at_heal.unwrap_or(0);
        let n = self.cfg.params.seats as u64;
        let p = self.cfg.p_permille as f64 / 1000.0;
        self.report.predicted_over_f =
            self.first_certified.len() as f64 * daoli_protocol::committee::over_f_probability(n, p).unwrap_or(0.0);
        // Stuck where the adversary holds more than f (it need not vote), or on a fork it made
        // with more than f: beyond the budget, reported apart.
        let stuck = self.report.heights + 1;
        let low = honest.iter().copied().min_by_key(|i| self.nodes[*i].height());
        let stuck_over_f = low.is_some_and(|i| self.adversary_over_f(i, stuck));
        // Progress after the heal is owed only where the adversary held at most f: a height
        // it held more of (which it may stall for as long as it likes) in that window excuses
        // the missing heights after it (seed 2243: height 1 held by 4 of 11 seats took until
        // 15.5 s of a 16 s run).
        let stalled_over_f = (at_heal + 1..=stuck).any(|h| self.over_f.contains(&h));
        let apart = stuck_over_f || stalled_over_f || self.compromised_at.is_some();
        if stuck_over_f {
            self.over_f.insert(stuck);
            self.report.notes.push(format!(
                "OVER-F: stuck at height {stuck}, where the adversary holds more than f"
            ));
        }
        for (i, h) in honest.iter().zip(&heights) {
            if *h < at_heal + 2 {
                let note = format!("LIVENESS: dc{i} at height {h}, heights at heal {at_heal}");
                if apart {
                    self.report.over_f_violations += 1;
                    self.report.notes.push(format!("OVER-F {note}"));
                } else {
                    self.report.liveness_failures += 1;
                    self.report.notes.push(note);
                }
            }
        }
        // Every transaction an honest buffer acknowledged is executed exactly once.
        self.report.acked_txs = self.acked.len() as u64;
        self.report.executed_txs = self.executed_ok.len() as u64;
        for (tx, node) in &self.acked {
            let ok = self.executed_ok.get(tx).copied().unwrap_or(0);
            if ok != 1 && !(ok == 0 && self.failed.contains_key(tx)) {
                if apart {
                    self.report.over_f_violations += 1;
                    continue;
                }
                self.report.lost_txs += 1;
                self.report.notes.push(format!(
                    "LOST: tx {} acknowledged by dc{node} was not executed",
                    tx.short()
                ));
            }
        }
        // The public verifier, fed only the blocks of one honest node, recomputes every draw.
        let blocks = self.public_record();
        let ids: Vec<u64> = self.draws.keys().copied().collect();
        let results = match verify_rounds(&self.genesis, &blocks, &ids) {
            Ok(r) => r,
            Err(e) => {
                self.report.lottery_mismatches += 1;
                self.report
                    .notes
                    .push(format!("VERIFY: the chain does not replay: {e}"));
                return;
            }
        };
        for (round, res) in ids.iter().zip(results) {
            let winners = &self.draws[round];
            match res {
                Ok(rep) if rep.winners == *winners => self.report.draws += 1,
                Ok(rep) => {
                    self.report.lottery_mismatches += 1;
                    self.report.notes.push(format!(
                        "VERIFY: round {round}: verifier {:?} vs chain {winners:?}",
                        rep.winners
                    ));
                }
                Err(e) => {
                    self.report.lottery_mismatches += 1;
                    self.report.notes.push(format!("VERIFY: round {round}: {e}"));
                }
            }
        }
    }
}

/// The attack that needs more than f seats: a Byzantine datacenter with `byz_seats` of `n`
/// seats bridges a partition between two honest datacenters and mirrors each side's votes
/// back to it. With n = 3f+1 and f+1 Byzantine seats both sides certify a block.
pub fn split_brain(seed: u64, n: usize, byz_seats: usize) -> Config {
    let mut c = Config::random(seed);
    c.datacenters = 3;
    c.miners_per_dc = 3;
    c.params.seats = n;
    let w1 = n - 2 * (n / 3);
    c.params.waves = vec![w1, n / 3, n / 3];
    let side_a = (n - byz_seats) / 2;
    c.genesis_seats = (0..n)
        .map(|i| {
            if i < byz_seats {
                0
            } else if i < byz_seats + side_a {
                1
            } else {
                2
            }
        })
        .collect();
    c.byzantine = BTreeMap::from([(0, Behavior::SplitBrain)]);
    // Its seats only age out: it mines nothing, so the attack runs with exactly the seats given.
    c.p_permille = 0;
    c.loss_permille = 0;
    c.crashes.clear();
    c.pause = None;
    c.heal_at = 6_000;
    c.duration_ms = 9_000;
    c.partitions = vec![Partition {
        start: 0,
        end: c.heal_at,
        side: vec![BRIDGE, 0, 1],
    }];
    c
}

impl Sim {
    /// What anyone can fetch from one datacenter: the certified blocks (heights 1, 2, ...) and
    /// their batches, as the most advanced honest node holds them.
    pub fn public_record(&self) -> Vec<(CertifiedBlock, Vec<Batch>)> {
        let Some(r) = (0..self.nodes.len())
            .filter(|i| self.honest(*i))
            .max_by_key(|i| self.nodes[*i].height())
        else {
            return Vec::new();
        };
        (1..=self.nodes[r].height())
            .filter_map(|h| self.nodes[r].full_block(h))
            .collect()
    }

    /// The last lottery round drawn during the run.
    pub fn last_drawn_round(&self) -> Option<u64> {
        self.draws.keys().last().copied()
    }

    /// Runs the public verifier over [`Sim::public_record`] for the last drawn round.
    pub fn verify_last_draw(&self) -> Option<Result<daoli_protocol::verify::Report, String>> {
        let round = self.last_drawn_round()?;
        Some(verify_lottery(&self.genesis, &self.public_record(), round).map_err(|e| e.to_string()))
    }
}

/// The summary line of a set of runs: `seeds N heights H violations V over-f-heights X
/// predicted Y unlucky-leaders U max-seed-choices S`, then the breakdown.
pub fn summary(reports: &[Report]) -> String {
    let sum = |f: fn(&Report) -> u64| reports.iter().map(f).sum::<u64>();
    let predicted: f64 = reports.iter().map(|r| r.predicted_over_f).sum();
    format!(
        "seeds {} heights {} violations {} over-f-heights {} predicted {predicted:.1} unlucky-leaders {} max-seed-choices {} \
         (safety {}, state-root {}, lost-tx {}, double-exec {}, liveness {}, lottery {}; beyond-f {}) txs {} draws {}",
        reports.len(),
        sum(|r| r.heights),
        sum(|r| r.violations()),
        sum(|r| r.over_f_heights),
        sum(|r| r.unlucky_leaders),
        reports.iter().map(|r| r.max_seed_choices).max().unwrap_or(0),
        sum(|r| r.safety_violations),
        sum(|r| r.root_divergences),
        sum(|r| r.lost_txs),
        sum(|r| r.double_executions),
        sum(|r| r.liveness_failures),
        sum(|r| r.lottery_mismatches),
        sum(|r| r.over_f_violations),
        sum(|r| r.acked_txs),
        sum(|r| r.draws),
    )
}

/// Runs one randomized seed.
pub fn run_seed(seed: u64) -> Report {
    Sim::new(Config::random(seed)).run()
}

/// Runs one randomized seed with some choices fixed.
pub fn run_seed_with(seed: u64, o: &Overrides) -> Report {
    Sim::new(Config::random_with(seed, o)).run()
}

/// The command that replays a seed.
pub fn replay_command(seed: u64) -> String {
    format!("cargo run -p daoli-sim --release -- replay {seed}")
}
