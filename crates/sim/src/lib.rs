//! Deterministic simulator: N datacenters (each a sans-IO `Node`), their miners and clients,
//! on a simulated clock and network (delay, jitter, loss, reordering, partitions that heal,
//! crashes), with Byzantine seats. Invariants are checked after every step.
#![forbid(unsafe_code)]

use daoli_protocol::block::{Batch, CertifiedBlock, route_order};
use daoli_protocol::buffer::BufferError;
use daoli_protocol::codec::Hash32;
use daoli_protocol::crypto::{Keypair, PublicKey};
use daoli_protocol::ledger::{LotteryEvent, TxOutcome};
use daoli_protocol::node::{Committed, Msg, Node, Output};
use daoli_protocol::params::{Genesis, Identity, Params, PeriodicLottery};
use daoli_protocol::tx::{Transaction, TxKind};
use daoli_protocol::verify::{verify_lottery, verify_rounds};
use daoli_protocol::vote::{MemJournal, Vote};
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
}

impl Behavior {
    pub const ALL: [Behavior; 5] = [
        Behavior::Equivocate,
        Behavior::WithholdVotes,
        Behavior::WithholdSeed,
        Behavior::Garbage,
        Behavior::BadSignatures,
    ];
}

#[derive(Debug, Clone)]
pub struct Partition {
    pub start: u64,
    pub end: u64,
    /// Group index of each datacenter; [`BRIDGE`] reaches every group.
    pub side: Vec<usize>,
}

/// A datacenter on this side of a partition talks to all sides (an adversary's vantage point).
pub const BRIDGE: usize = usize::MAX;

#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub datacenters: usize,
    pub miners_per_dc: usize,
    pub params: Params,
    /// Datacenter index of each genesis seat (youngest first).
    pub genesis_seats: Vec<usize>,
    pub byzantine: BTreeMap<usize, Behavior>,
    /// Byzantine datacenters stop mining when a win could give them more than this many seats.
    pub byz_seat_cap: u64,
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
    /// Stop once every honest datacenter has certified this height (clients stop sending
    /// four heights earlier, so that what they sent is executed by then).
    pub stop_height: Option<u64>,
}

impl Config {
    /// A randomized scenario for `seed`: 4 to 6 datacenters, one Byzantine datacenter with at
    /// most f seats, lossy jittery links, and sometimes a partition or a crash, all healed
    /// well before the end.
    pub fn random(seed: u64) -> Self {
        let mut r = Rng::new(seed);
        let dcs = r.range(4, 5) as usize;
        let mut params = Params::devnet();
        params.pow_bits = 3;
        params.payroll = 8;
        params.coinbase = 100_000;
        params.wage = 1_000;
        params.batch_expiry = 3;
        let n = params.seats;
        let f = params.f() as usize;
        // Every scenario has a Byzantine datacenter holding f of the genesis seats.
        let byz = r.below(dcs as u64) as usize;
        // Genesis seats: the Byzantine datacenter gets f seats, the rest round-robin.
        let honest: Vec<usize> = (0..dcs).filter(|d| *d != byz).collect();
        let mut seats: Vec<usize> = (0..n)
            .map(|i| if i < f { byz } else { honest[i % honest.len()] })
            .collect();
        // Shuffle so that the Byzantine seats land in any wave.
        for i in (1..seats.len()).rev() {
            let j = r.below(i as u64 + 1) as usize;
            seats.swap(i, j);
        }
        let byzantine = BTreeMap::from([(byz, Behavior::ALL[r.below(Behavior::ALL.len() as u64) as usize])]);
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
        Config {
            seed,
            datacenters: dcs,
            miners_per_dc: r.range(2, 3) as usize,
            params,
            genesis_seats: seats,
            byzantine,
            byz_seat_cap: f as u64,
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
            stop_height: None,
        }
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
    }
}

pub struct Sim {
    pub cfg: Config,
    pub genesis: Genesis,
    pub nodes: Vec<Node<MemJournal>>,
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
    miners: Vec<Vec<Keypair>>,
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
        let miners: Vec<Vec<Keypair>> = (0..cfg.datacenters)
            .map(|d| {
                (0..cfg.miners_per_dc)
                    .map(|m| Keypair::from_label(&format!("sim/{}/dc{d}/miner{m}", cfg.seed)))
                    .collect()
            })
            .collect();
        let nodes: Vec<Node<MemJournal>> = dcs
            .iter()
            .enumerate()
            .map(|(i, k)| {
                Node::new(
                    genesis.clone(),
                    k.clone(),
                    miners[i].clone(),
                    MemJournal::default(),
                    rng.next_u64(),
                    skew[i],
                )
                .expect("simulated genesis is valid")
            })
            .collect();
        let keys: Vec<PublicKey> = dcs.iter().map(|k| k.root.public()).collect();
        let index = dcs
            .iter()
            .enumerate()
            .flat_map(|(i, d)| {
                std::iter::once(d.root.public())
                    .chain(d.keys().all())
                    .map(move |k| (k, i))
            })
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
            miners,
            mirrored: BTreeSet::new(),
            certified: BTreeMap::new(),
            roots: BTreeMap::new(),
            canonical: BTreeMap::new(),
            acked: BTreeMap::new(),
            executed_ok: BTreeMap::new(),
            failed: BTreeMap::new(),
            draws: BTreeMap::new(),
            height_at_heal: None,
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
            self.now = at;
            if self.height_at_heal.is_none() && self.now >= self.cfg.heal_at {
                self.height_at_heal = Some(self.max_honest_height());
            }
            let ev = self.events.remove(&id).expect("queued event");
            self.step(ev);
            if self.cfg.stop_height.is_some_and(|h| self.min_honest_height() >= h) {
                break;
            }
        }
        self.finish();
        self.report.clone()
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
                if self.cfg.byzantine.get(&to) == Some(&Behavior::SplitBrain) {
                    self.mirror(to, from, &msg);
                }
                let now = self.local(to);
                let (out, _) = self.nodes[to].handle(now, self.keys[from], *msg);
                self.outputs(to, out);
            }
            Ev::Wake(i) => {
                self.next_wake[i] = u64::MAX;
                if self.down[i] {
                    return;
                }
                self.gate_byzantine_mining(i);
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
                self.down[i] = false;
                let now = self.local(i);
                let out = self.nodes[i].restart(now);
                self.outputs(i, out);
            }
        }
    }

    /// Keeps the adversary within its fault budget: a Byzantine datacenter does not mine in a
    /// cycle whose win could lift it above `byz_seat_cap` seats.
    fn gate_byzantine_mining(&mut self, i: usize) {
        if self.honest(i) {
            return;
        }
        let node = &self.nodes[i];
        let h = node.height() + 1;
        let seats = node.chain.seats(h);
        let me = node.vote_key();
        let keep = seats.list[..seats.list.len() - 1].iter().filter(|k| **k == me).count() as u64;
        let allowed = keep < self.cfg.byz_seat_cap;
        self.nodes[i].miners = if allowed { self.miners[i].clone() } else { Vec::new() };
    }

    fn outputs(&mut self, i: usize, out: Vec<Output>) {
        let behavior = self.cfg.byzantine.get(&i).copied();
        for o in out {
            match o {
                Output::Broadcast(m) => match behavior {
                    None => self.broadcast(i, m),
                    Some(b) => self.byzantine_broadcast(i, b, m),
                },
                Output::Send(pk, m) => {
                    if let Some(j) = self.index.get(&pk).copied() {
                        self.send(i, j, m);
                    }
                }
                Output::PersistTx(_) | Output::PersistEvidence(_) | Output::PersistSigned(_) => {}
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
            (_, m) => self.broadcast(i, m),
        }
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
        match self.certified.get(&h) {
            Some(prev) if *prev != c.hash => {
                self.report.safety_violations += 1;
                self.report.notes.push(format!(
                    "SAFETY: height {h}: dc{i} certified {} but another node certified {}",
                    c.hash.short(),
                    prev.short()
                ));
            }
            Some(_) => {}
            None => {
                self.certified.insert(h, c.hash);
            }
        }
        match self.roots.get(&h) {
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

    fn dc_name(&self, pk: &PublicKey) -> String {
        self.index.get(pk).map_or_else(|| pk.short(), |i| format!("dc{i}"))
    }

    fn describe(&self, c: &Committed) -> String {
        let node = &self.nodes[0];
        let lead_sponsor = self.canonical_leader_sponsor(c);
        let seats = node.chain.seats(c.height.max(1));
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
            if let Some(cb) = n.chain.block(c.height) {
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
            .chain
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
            .chain
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
            .find_map(|slot| node.chain.payroll_entry(h, slot).map(|e| (slot, self.index[&e.dc])));
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
        for (i, h) in honest.iter().zip(&heights) {
            if *h < at_heal + 2 {
                self.report.liveness_failures += 1;
                self.report
                    .notes
                    .push(format!("LIVENESS: dc{i} at height {h}, heights at heal {at_heal}"));
            }
        }
        // Every transaction an honest buffer acknowledged is executed exactly once.
        self.report.acked_txs = self.acked.len() as u64;
        self.report.executed_txs = self.executed_ok.len() as u64;
        for (tx, node) in &self.acked {
            let ok = self.executed_ok.get(tx).copied().unwrap_or(0);
            if ok != 1 && !(ok == 0 && self.failed.contains_key(tx)) {
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
    c.byz_seat_cap = byz_seats as u64;
    c.loss_permille = 0;
    c.crashes.clear();
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

/// Runs one randomized seed.
pub fn run_seed(seed: u64) -> Report {
    Sim::new(Config::random(seed)).run()
}

/// The command that replays a seed.
pub fn replay_command(seed: u64) -> String {
    format!("cargo run -p daoli-sim --release -- replay {seed}")
}
