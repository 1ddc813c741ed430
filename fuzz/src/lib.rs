//! Shared pieces of the fuzz targets: the fixed network of the `handle` target (genesis, keys,
//! and a recording of every message its honest nodes exchanged), structural mutations and
//! re-signing of those messages, and the invariants checked after every step.
//!
//! The network has four founding datacenters holding the 11 genesis seats round-robin
//! (3, 3, 3, 2). Datacenter [`TARGET`] (3 seats, at most `f`) is offline in the recording, so
//! the other three (8 seats, exactly the quorum) certify [`HEIGHTS`] heights without it, and no
//! key of the target ever signed anything there: whatever the target signs under fuzzing is
//! its own, and two conflicting statements by its keys are a real equivocation.
#![forbid(unsafe_code)]

use arbitrary::Arbitrary;
use daoli_protocol::block::{Batch, Block, MicroBlock, route_order};
use daoli_protocol::chain::Chain;
use daoli_protocol::codec::{ChainId, Hash32, sha256};
use daoli_protocol::crypto::{Keypair, PublicKey};
use daoli_protocol::datacenter::Datacenter;
use daoli_protocol::lot::Lot;
use daoli_protocol::node::{Msg, Output, Proposal};
use daoli_protocol::params::{Genesis, Identity, Params, PeriodicLottery, RoundSpec};
use daoli_protocol::seed::SeedAnnouncement;
use daoli_protocol::statement::{Evidence, Said, Slot};
use daoli_protocol::tx::{Transaction, TxKind};
use daoli_protocol::vote::{Qc, Vote};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// Founding datacenters.
pub const DCS: usize = 4;
/// The datacenter the `handle` target drives (offline in the recording).
pub const TARGET: usize = 0;
/// Heights the other three certify in the recording.
pub const HEIGHTS: u64 = 8;
/// Client accounts in genesis.
pub const CLIENTS: usize = 3;
/// Simulated time after which the recording stops whatever the height.
const RECORD_LIMIT_MS: u64 = 60_000;

/// Devnet parameters with an easy proof of work, so that the target mines in microseconds.
pub fn params() -> Params {
    let mut p = Params::devnet();
    p.pow_bits = 4;
    p
}

pub fn identities() -> Vec<Identity> {
    (0..DCS).map(|i| Identity::from_label(&format!("fuzz/dc{i}"))).collect()
}

pub fn miners(dc: usize) -> Vec<Keypair> {
    (0..2)
        .map(|m| Keypair::from_label(&format!("fuzz/dc{dc}/miner{m}")))
        .collect()
}

pub fn clients() -> Vec<Keypair> {
    (0..CLIENTS)
        .map(|c| Keypair::from_label(&format!("fuzz/client{c}")))
        .collect()
}

/// The genesis of the fixed network (the shape of the simulator's devnet genesis).
pub fn genesis() -> Genesis {
    let dcs = identities();
    let params = params();
    Genesis {
        network: "daoli-fuzz".into(),
        founders: dcs
            .iter()
            .enumerate()
            .map(|(i, d)| d.datacenter(&format!("dc{i}.fuzz:7000"), params.min_bond))
            .collect(),
        seats: (0..params.seats).map(|i| dcs[i % DCS].root.public()).collect(),
        params,
        seed: sha256(b"fuzz genesis seed"),
        timestamp_ms: 0,
        accounts: clients().iter().map(|k| (k.public(), 1_000_000)).collect(),
        rounds: vec![RoundSpec {
            open_height: 1,
            close_height: 3,
            price: 10,
            winners: 1,
        }],
        periodic_lottery: Some(PeriodicLottery {
            every: 4,
            length: 3,
            price: 10,
            winners: 2,
        }),
    }
}

/// A message one of the honest nodes sent in the recording.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub at: u64,
    pub from: PublicKey,
    /// `None` for a broadcast.
    pub to: Option<PublicKey>,
    pub msg: Msg,
}

/// The fixed network, recorded once per process.
#[derive(Debug)]
pub struct Net {
    pub genesis: Genesis,
    pub chain: ChainId,
    pub dcs: Vec<Identity>,
    /// Secret keys of everyone but the target: the other datacenters' roots and role keys,
    /// their miners, the clients. Used to re-sign mutated messages as a Byzantine peer would.
    pub keys: BTreeMap<PublicKey, Keypair>,
    /// The target's root, role and miner keys.
    pub target_keys: BTreeSet<PublicKey>,
    /// Every message of the recording, in send order.
    pub pool: Vec<Recorded>,
    /// Heights the recording reached.
    pub heights: u64,
    /// Parts of the recorded messages, for splicing.
    pub votes: Vec<Vote>,
    pub lots: Vec<Lot>,
    pub batches: Vec<Batch>,
    pub micros: Vec<MicroBlock>,
    pub blocks: Vec<Block>,
    pub qcs: Vec<Qc>,
    pub txs: Vec<Transaction>,
    pub hashes: Vec<Hash32>,
    /// Keys a mutation may put in a key field: every network key and a few hostile encodings.
    pub key_list: Vec<PublicKey>,
}

pub fn net() -> &'static Net {
    static NET: OnceLock<Net> = OnceLock::new();
    NET.get_or_init(Net::record)
}

#[derive(Debug)]
enum Ev {
    Wake(usize),
    Deliver { to: usize, from: PublicKey, msg: Box<Msg> },
    Client(usize),
}

impl Net {
    fn record() -> Net {
        let genesis = genesis();
        let chain = genesis.chain_id();
        let dcs = identities();
        let clients = clients();
        let p = genesis.params.clone();
        let mut nodes: Vec<Option<Datacenter>> = (0..DCS)
            .map(|i| {
                (i != TARGET).then(|| {
                    Datacenter::new(genesis.clone(), dcs[i].clone(), miners(i), 1_000 + i as u64, 0)
                        .expect("the fuzz genesis is valid")
                })
            })
            .collect();
        let index: BTreeMap<PublicKey, usize> = dcs
            .iter()
            .enumerate()
            .flat_map(|(i, d)| d.public_keys().map(|k| (k, i)))
            .collect();
        let mut queue: BTreeMap<(u64, u64), Ev> = BTreeMap::new();
        let mut seq = 0u64;
        let mut push = |queue: &mut BTreeMap<(u64, u64), Ev>, t: u64, ev: Ev| {
            queue.insert((t, seq), ev);
            seq += 1;
        };
        for i in (0..DCS).filter(|i| *i != TARGET) {
            push(&mut queue, 0, Ev::Wake(i));
        }
        for c in 0..CLIENTS {
            push(&mut queue, 100 + 50 * c as u64, Ev::Client(c));
        }
        let mut pool = Vec::new();
        let mut wakes: BTreeSet<(usize, u64)> = BTreeSet::new();
        let mut n_deliveries = 0u64;
        while let Some(((t, _), ev)) = queue.pop_first() {
            let done = nodes.iter().flatten().all(|n| n.height() >= HEIGHTS);
            if t > RECORD_LIMIT_MS || done {
                break;
            }
            let (i, outs) = match ev {
                Ev::Wake(i) => {
                    wakes.remove(&(i, t));
                    (i, nodes[i].as_mut().expect("online").tick(t))
                }
                Ev::Deliver { to, from, msg } => (to, nodes[to].as_mut().expect("online").handle(t, from, *msg).0),
                Ev::Client(c) => {
                    let node = nodes[(TARGET + 1) % DCS].as_ref().expect("online");
                    let key = &clients[c];
                    let h = node.height();
                    let nonce = node.chain().state.account(&key.public()).nonce;
                    let open = node
                        .chain()
                        .state
                        .rounds
                        .iter()
                        .find(|(_, r)| r.is_open_at(h + 1))
                        .map(|(id, _)| *id);
                    let kind = match open {
                        Some(round) if nonce % 2 == 1 => TxKind::BuyTicket { round },
                        _ => TxKind::Transfer {
                            to: clients[(c + 1) % CLIENTS].public(),
                            amount: 1 + nonce,
                        },
                    };
                    let tx = Transaction::new(key, &chain, nonce, 1, kind, vec![]);
                    for slot in route_order(&key.public(), p.payroll) {
                        let Some(e) = node.chain().payroll_entry(h, slot) else {
                            continue;
                        };
                        let Some(&j) = index.get(&e.dc) else { continue };
                        if nodes[j].is_none() {
                            continue;
                        }
                        let msg = Msg::Tx {
                            client: c as u64,
                            slot,
                            tx,
                        };
                        pool.push(Recorded {
                            at: t,
                            from: key.public(),
                            to: Some(e.dc),
                            msg: msg.clone(),
                        });
                        push(
                            &mut queue,
                            t + 3,
                            Ev::Deliver {
                                to: j,
                                from: key.public(),
                                msg: Box::new(msg),
                            },
                        );
                        break;
                    }
                    push(&mut queue, t + 200, Ev::Client(c));
                    continue;
                }
            };
            let me = dcs[i].root.public();
            for o in outs {
                match o {
                    Output::Broadcast(m) => {
                        pool.push(Recorded {
                            at: t,
                            from: me,
                            to: None,
                            msg: m.clone(),
                        });
                        for j in (0..DCS).filter(|j| *j != i && nodes[*j].is_some()) {
                            n_deliveries += 1;
                            let delay = 3 + n_deliveries * 7 % 11;
                            push(
                                &mut queue,
                                t + delay,
                                Ev::Deliver {
                                    to: j,
                                    from: me,
                                    msg: Box::new(m.clone()),
                                },
                            );
                        }
                    }
                    Output::Send(to, m) => {
                        if let Some(&j) = index.get(&to) {
                            pool.push(Recorded {
                                at: t,
                                from: me,
                                to: Some(to),
                                msg: m.clone(),
                            });
                            if j != i && nodes[j].is_some() {
                                push(
                                    &mut queue,
                                    t + 5,
                                    Ev::Deliver {
                                        to: j,
                                        from: me,
                                        msg: Box::new(m),
                                    },
                                );
                            }
                        }
                    }
                    Output::Wakeup(w) => {
                        let w = w.max(t + 1);
                        if wakes.insert((i, w)) {
                            push(&mut queue, w, Ev::Wake(i));
                        }
                    }
                    _ => {}
                }
            }
        }
        let heights = nodes.iter().flatten().map(|n| n.height()).min().unwrap_or(0);
        assert!(
            heights >= 3,
            "the recording network must make progress, reached {heights}"
        );

        let mut keys = BTreeMap::new();
        let mut target_keys = BTreeSet::new();
        for (i, d) in dcs.iter().enumerate() {
            let all = [&d.root, &d.vote, &d.vrf, &d.batch, &d.micro, &d.sponsor];
            let ms = miners(i);
            for k in all.into_iter().chain(ms.iter()) {
                if i == TARGET {
                    target_keys.insert(k.public());
                } else {
                    keys.insert(k.public(), k.clone());
                }
            }
        }
        for c in &clients {
            keys.insert(c.public(), c.clone());
        }
        let mut key_list: Vec<PublicKey> = keys.keys().chain(target_keys.iter()).copied().collect();
        // Hostile encodings: the vacant seat (all zero), the identity point, a non-canonical y.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        key_list.extend([PublicKey([0; 32]), PublicKey(identity), PublicKey([0xff; 32])]);

        let mut net = Net {
            genesis,
            chain,
            dcs,
            keys,
            target_keys,
            pool,
            heights,
            votes: Vec::new(),
            lots: Vec::new(),
            batches: Vec::new(),
            micros: Vec::new(),
            blocks: Vec::new(),
            qcs: Vec::new(),
            txs: Vec::new(),
            hashes: vec![Hash32::ZERO, Hash32([0xff; 32])],
            key_list,
        };
        let msgs: Vec<Msg> = net.pool.iter().map(|r| r.msg.clone()).collect();
        for m in &msgs {
            net.index(m);
        }
        net
    }

    fn index_block(&mut self, b: &Block) {
        self.hashes.extend([b.hash(), b.header.seed, b.header.prev_state_root]);
        self.lots.extend(b.tree.iter().cloned());
        if let Some(m) = &b.micro {
            self.index_micro(m);
        }
        if self.blocks.len() < 64 {
            self.blocks.push(b.clone());
        }
    }

    fn index_micro(&mut self, m: &MicroBlock) {
        self.hashes.extend(m.batches.iter().map(|r| r.digest));
        if let Some(q) = &m.prev_qc {
            self.index_qc(q);
        }
        self.votes.extend(m.prev_prevotes.iter().cloned());
        self.micros.push(m.clone());
    }

    fn index_qc(&mut self, q: &Qc) {
        self.votes.extend(q.precommits.iter().cloned());
        self.qcs.push(q.clone());
    }

    fn index(&mut self, m: &Msg) {
        match m {
            Msg::Lot(l) => self.lots.push(l.clone()),
            Msg::Seed(a) => self.hashes.push(a.seed),
            Msg::Batch(b) => {
                self.txs.extend(b.txs.iter().cloned());
                self.hashes.push(b.digest());
                self.batches.push(b.clone());
            }
            Msg::Micro(mb) => self.index_micro(mb),
            Msg::Proposal(p) => {
                self.votes.extend(p.pol.iter().cloned());
                self.index_block(&p.block);
            }
            Msg::Vote(v) => self.votes.push(v.clone()),
            Msg::Certified(cb, bs) => {
                self.index_block(&cb.block);
                self.index_qc(&cb.qc);
                self.batches.extend(bs.iter().cloned());
            }
            Msg::Tx { tx, .. } => self.txs.push(tx.clone()),
            Msg::Forward(txs) => self.txs.extend(txs.iter().cloned()),
            Msg::SyncRequest { .. } | Msg::BatchRequest(_) => {}
        }
    }

    pub fn key(&self, i: u8) -> PublicKey {
        self.key_list[i as usize % self.key_list.len()]
    }
    pub fn hash(&self, i: u16) -> Hash32 {
        self.hashes[i as usize % self.hashes.len()]
    }
}

fn pick<T: Clone>(v: &[T], i: u16) -> Option<T> {
    (!v.is_empty()).then(|| v[i as usize % v.len()].clone())
}

/// One structural change. `at` picks the part of a composite message it applies to.
#[derive(Debug, Clone, Arbitrary)]
pub struct Mutation {
    pub at: u8,
    pub op: Op,
}

#[derive(Debug, Clone, Arbitrary)]
pub enum Op {
    /// Add to the height (cycle, for a batch).
    Height(i8),
    /// Add to the round (slot, rank, ...).
    Round(i8),
    /// Set the main integer field (nonce, timestamp, amount, ...).
    Set(u64),
    /// XOR a byte of the signature (or proof).
    Flip(u8, u8),
    /// Replace a key field with a network key or a hostile encoding.
    Key(u8),
    /// Replace a hash field (value, prev hash, seed, digest, ...).
    Hash(u16),
    Truncate(u8),
    Swap(u8, u8),
    Dup(u8),
    Remove(u8),
    /// Flip a vote's step, or toggle an optional field.
    Toggle,
    /// Put in a part of the same kind taken from recorded message `i`.
    Splice(u16),
}

fn add_i8(x: u64, d: i8) -> u64 {
    x.wrapping_add_signed(d as i64)
}
fn add_i8_u32(x: u32, d: i8) -> u32 {
    x.wrapping_add_signed(d as i32)
}

/// Structural vector edits; `Splice` appends a part from the recording.
fn vec_op<T: Clone>(v: &mut Vec<T>, op: &Op, splice: impl FnOnce(u16) -> Option<T>) -> bool {
    let n = v.len();
    match op {
        Op::Truncate(k) => v.truncate(*k as usize % (n + 1)),
        Op::Swap(a, b) if n > 0 => v.swap(*a as usize % n, *b as usize % n),
        Op::Dup(i) if n > 0 => {
            let x = v[*i as usize % n].clone();
            v.insert(*i as usize % n, x);
        }
        Op::Remove(i) if n > 0 => {
            v.remove(*i as usize % n);
        }
        Op::Splice(i) => {
            if let Some(x) = splice(*i) {
                v.push(x);
            }
        }
        _ => return false,
    }
    true
}

fn flip<const N: usize>(b: &mut [u8; N], i: u8, x: u8) {
    b[i as usize % N] ^= x.max(1);
}

pub fn mutate_vote(v: &mut Vote, op: &Op, net: &Net) {
    match op {
        Op::Height(d) => v.height = add_i8(v.height, *d),
        Op::Round(d) => v.round = add_i8_u32(v.round, *d),
        Op::Set(x) => v.timestamp = *x,
        Op::Flip(i, x) => flip(&mut v.sig.0, *i, *x),
        Op::Key(k) => v.voter = net.key(*k),
        Op::Hash(h) => v.value = Some(net.hash(*h)),
        Op::Toggle => {
            v.step = match v.step {
                daoli_protocol::vote::Step::Prevote => daoli_protocol::vote::Step::Precommit,
                daoli_protocol::vote::Step::Precommit => daoli_protocol::vote::Step::Prevote,
            }
        }
        Op::Truncate(_) | Op::Remove(_) => v.value = None,
        Op::Splice(i) => {
            if let Some(x) = pick(&net.votes, *i) {
                *v = x;
            }
        }
        Op::Swap(..) | Op::Dup(_) => {}
    }
}

pub fn mutate_lot(l: &mut Lot, op: &Op, net: &Net) {
    match op {
        Op::Height(d) => l.height = add_i8(l.height, *d),
        Op::Round(d) => l.nonce = add_i8(l.nonce, *d),
        Op::Set(x) => l.nonce = *x,
        Op::Flip(i, x) if i % 2 == 0 => flip(&mut l.miner_sig.0, *i, *x),
        Op::Flip(i, x) => flip(&mut l.sponsor_sig.0, *i, *x),
        Op::Key(k) if k % 2 == 0 => l.miner = net.key(*k),
        Op::Key(k) => l.sponsor = net.key(*k),
        Op::Hash(h) => l.prev_hash = net.hash(*h),
        Op::Toggle => std::mem::swap(&mut l.miner_sig, &mut l.sponsor_sig),
        Op::Splice(i) => {
            if let Some(x) = pick(&net.lots, *i) {
                *l = x;
            }
        }
        _ => {}
    }
}

pub fn mutate_tx(t: &mut Transaction, op: &Op, net: &Net) {
    match op {
        Op::Height(d) => t.nonce = add_i8(t.nonce, *d),
        Op::Round(d) => t.fee = add_i8(t.fee, *d),
        Op::Set(x) => match &mut t.kind {
            TxKind::Transfer { amount, .. } => *amount = *x,
            TxKind::BuyTicket { round } => *round = *x,
            TxKind::Register { bond, .. } => *bond = *x,
        },
        Op::Flip(i, x) => flip(&mut t.sig.0, *i, *x),
        Op::Key(k) if k % 2 == 0 => t.sender = net.key(*k),
        Op::Key(k) => {
            if let TxKind::Transfer { to, .. } = &mut t.kind {
                *to = net.key(*k);
            }
        }
        Op::Hash(h) => t.memo = net.hash(*h).0.to_vec(),
        Op::Toggle => {
            // A registration of a fresh datacenter (its keys are not the network's).
            let d = Identity::from_label(&format!("fuzz/newcomer{}", t.nonce % 4));
            t.kind = TxKind::Register {
                keys: d.keys(),
                endpoint: "new.fuzz:7000".into(),
                bond: 1_000_000,
            };
        }
        Op::Truncate(k) => t.memo.truncate(*k as usize),
        Op::Dup(k) => t.memo.extend(std::iter::repeat_n(*k, *k as usize * 16)),
        Op::Splice(i) => {
            if let Some(x) = pick(&net.txs, *i) {
                *t = x;
            }
        }
        Op::Swap(..) | Op::Remove(_) => t.kind = TxKind::BuyTicket { round: t.nonce },
    }
}

pub fn mutate_batch(b: &mut Batch, m: &Mutation, net: &Net) {
    if m.at % 2 == 1 && !b.txs.is_empty() {
        let n = b.txs.len();
        return mutate_tx(&mut b.txs[m.at as usize / 2 % n], &m.op, net);
    }
    if vec_op(&mut b.txs, &m.op, |i| pick(&net.txs, i)) {
        return;
    }
    match &m.op {
        Op::Height(d) => b.cycle = add_i8(b.cycle, *d),
        Op::Round(d) => b.slot = add_i8_u32(b.slot, *d),
        Op::Set(x) => b.cycle = *x,
        Op::Flip(i, x) => flip(&mut b.sig.0, *i, *x),
        Op::Key(k) => b.buffer_pk = net.key(*k),
        Op::Toggle => b.txs.reverse(),
        _ => {}
    }
}

pub fn mutate_qc(q: &mut Qc, m: &Mutation, net: &Net) {
    if m.at % 2 == 1 && !q.precommits.is_empty() {
        let n = q.precommits.len();
        return mutate_vote(&mut q.precommits[m.at as usize / 2 % n], &m.op, net);
    }
    if vec_op(&mut q.precommits, &m.op, |i| pick(&net.votes, i)) {
        return;
    }
    match &m.op {
        Op::Height(d) => q.height = add_i8(q.height, *d),
        Op::Round(d) => q.round = add_i8_u32(q.round, *d),
        Op::Hash(h) => q.value = net.hash(*h),
        Op::Set(x) => {
            for v in &mut q.precommits {
                v.timestamp = *x;
            }
        }
        _ => {}
    }
}

pub fn mutate_micro(mb: &mut MicroBlock, m: &Mutation, net: &Net) {
    let at = m.at as usize / 5;
    match m.at % 5 {
        1 => {
            if vec_op(&mut mb.batches, &m.op, |i| {
                pick(&net.batches, i).map(|b| daoli_protocol::block::BatchRef {
                    cycle: b.cycle,
                    slot: b.slot,
                    digest: b.digest(),
                })
            }) {
                return;
            }
            let n = mb.batches.len();
            if n > 0 {
                let r = &mut mb.batches[at % n];
                match &m.op {
                    Op::Height(d) => r.cycle = add_i8(r.cycle, *d),
                    Op::Round(d) => r.slot = add_i8_u32(r.slot, *d),
                    Op::Hash(h) => r.digest = net.hash(*h),
                    _ => {}
                }
            }
        }
        2 => match (&mut mb.prev_qc, &m.op) {
            (q, Op::Toggle) => *q = None,
            (q, Op::Splice(i)) => *q = pick(&net.qcs, *i),
            (Some(q), _) => mutate_qc(
                q,
                &Mutation {
                    at: at as u8,
                    op: m.op.clone(),
                },
                net,
            ),
            (None, _) => {}
        },
        3 => {
            // Evidence: conflicting votes of a recorded voter, re-signed by its key.
            if let Op::Splice(i) = &m.op {
                if let Some(v) = pick(&net.votes, *i)
                    && let Some(k) = net.keys.get(&v.voter)
                {
                    let other = Vote::sign_unchecked(k, &net.chain, v.height, v.round, v.step, None, v.timestamp);
                    if let Some(e) = v.evidence(&other) {
                        mb.evidence.push(e);
                    }
                }
            } else {
                vec_op(&mut mb.evidence, &m.op, |_| None);
            }
        }
        4 => {
            // The prevotes of the previous height's decided round (they pay the seats).
            if !vec_op(&mut mb.prev_prevotes, &m.op, |i| pick(&net.votes, i)) && !mb.prev_prevotes.is_empty() {
                let n = mb.prev_prevotes.len();
                mutate_vote(&mut mb.prev_prevotes[at % n], &m.op, net);
            }
        }
        _ => match &m.op {
            Op::Height(d) => mb.height = add_i8(mb.height, *d),
            Op::Round(d) => mb.producer_rank = add_i8_u32(mb.producer_rank, *d),
            Op::Flip(i, x) => flip(&mut mb.sig.0, *i, *x),
            Op::Key(k) => mb.producer_pk = net.key(*k),
            Op::Splice(i) => {
                if let Some(x) = pick(&net.micros, *i) {
                    *mb = x;
                }
            }
            _ => {}
        },
    }
}

/// The lottery delay proof a header carries at a draw height.
fn mutate_delay(b: &mut Block, op: &Op, net: &Net) {
    match (&mut b.header.delay, op) {
        (d, Op::Remove(_)) => *d = None,
        (d, Op::Splice(i)) => {
            let with: Vec<&Block> = net.blocks.iter().filter(|b| b.header.delay.is_some()).collect();
            if !with.is_empty() {
                *d = with[*i as usize % with.len()].header.delay.clone();
            }
        }
        (Some(d), Op::Round(x)) => d.iterations = add_i8(d.iterations, *x),
        (Some(d), Op::Set(x)) => d.iterations = *x,
        (Some(d), Op::Hash(h)) => d.seed = net.hash(*h),
        (Some(d), Op::Flip(i, x)) => flip(&mut d.output.0, *i, *x),
        (Some(d), op) => {
            if !vec_op(&mut d.checkpoints, op, |i| Some(net.hash(i)))
                && let Op::Toggle = op
            {
                d.checkpoints.reverse();
            }
        }
        (None, _) => {}
    }
}

pub fn mutate_block(b: &mut Block, m: &Mutation, net: &Net) {
    let sub = Mutation {
        at: m.at / 4,
        op: m.op.clone(),
    };
    match m.at % 4 {
        0 => {
            let hd = &mut b.header;
            match &m.op {
                Op::Height(d) => hd.height = add_i8(hd.height, *d),
                Op::Hash(h) if h % 4 == 0 => hd.prev_hash = net.hash(*h),
                Op::Hash(h) if h % 4 == 1 => hd.seed = net.hash(*h),
                Op::Hash(h) if h % 4 == 2 => hd.prev_state_root = net.hash(*h),
                Op::Toggle => hd.vrf_proof = None,
                Op::Flip(i, x) if i % 2 == 0 => {
                    if let Some(p) = &mut hd.vrf_proof {
                        flip(&mut p.0, *i, *x);
                    }
                }
                Op::Splice(i) if i % 2 == 0 => {
                    if let Some(x) = pick(&net.blocks, *i) {
                        *b = x;
                    }
                }
                op => mutate_delay(b, op, net),
            }
        }
        1 => {
            if !vec_op(&mut b.tree, &m.op, |i| pick(&net.lots, i)) && !b.tree.is_empty() {
                let n = b.tree.len();
                mutate_lot(&mut b.tree[m.at as usize / 4 % n], &m.op, net);
            }
        }
        2 => match (&mut b.micro, &m.op) {
            (mb, Op::Toggle) => *mb = None,
            (mb @ None, Op::Splice(i)) => *mb = pick(&net.micros, *i),
            (Some(mb), _) => mutate_micro(mb, &sub, net),
            (None, _) => {}
        },
        _ => {
            if let Some(mb) = &mut b.micro {
                mutate_micro(mb, &sub, net);
            }
        }
    }
}

/// Applies one mutation to a message.
pub fn mutate(msg: &mut Msg, m: &Mutation, net: &Net) {
    let sub = Mutation {
        at: m.at / 4,
        op: m.op.clone(),
    };
    match msg {
        Msg::Lot(l) => mutate_lot(l, &m.op, net),
        Msg::Seed(a) => match &m.op {
            Op::Height(d) => a.height = add_i8(a.height, *d),
            Op::Key(k) => a.producer = net.key(*k),
            Op::Hash(h) => a.seed = net.hash(*h),
            Op::Flip(i, x) => flip(&mut a.proof.0, *i, *x),
            _ => {}
        },
        Msg::Batch(b) => mutate_batch(b, m, net),
        Msg::Micro(mb) => mutate_micro(mb, m, net),
        Msg::Proposal(p) => match m.at % 4 {
            0 => match &m.op {
                Op::Round(d) => p.round = add_i8_u32(p.round, *d),
                Op::Set(x) => p.valid_round = Some(*x as u32),
                Op::Toggle => p.valid_round = None,
                Op::Flip(i, x) => flip(&mut p.sig.0, *i, *x),
                Op::Key(k) => p.proposer = net.key(*k),
                _ => mutate_block(&mut p.block, &sub, net),
            },
            1 | 2 => mutate_block(&mut p.block, &sub, net),
            _ => {
                if !vec_op(&mut p.pol, &m.op, |i| pick(&net.votes, i)) && !p.pol.is_empty() {
                    let n = p.pol.len();
                    mutate_vote(&mut p.pol[sub.at as usize % n], &m.op, net);
                }
            }
        },
        Msg::Vote(v) => mutate_vote(v, &m.op, net),
        Msg::Certified(cb, bs) => match m.at % 4 {
            0 | 1 => mutate_block(&mut cb.block, &sub, net),
            2 => mutate_qc(&mut cb.qc, &sub, net),
            _ => {
                if !vec_op(bs, &m.op, |i| pick(&net.batches, i)) && !bs.is_empty() {
                    let n = bs.len();
                    mutate_batch(&mut bs[sub.at as usize % n], &sub, net);
                }
            }
        },
        Msg::SyncRequest { from } => match &m.op {
            Op::Height(d) => *from = add_i8(*from, *d),
            Op::Set(x) => *from = *x,
            _ => {}
        },
        Msg::BatchRequest(ds) => {
            if !vec_op(ds, &m.op, |i| Some(net.hash(i))) {
                ds.push(net.hash(m.at as u16));
            }
        }
        Msg::Tx { client, slot, tx } => match &m.op {
            Op::Round(d) if m.at.is_multiple_of(2) => *slot = add_i8_u32(*slot, *d),
            Op::Set(x) if m.at.is_multiple_of(2) => *client = *x,
            op => mutate_tx(tx, op, net),
        },
        Msg::Forward(txs) => {
            if !vec_op(txs, &m.op, |i| pick(&net.txs, i)) && !txs.is_empty() {
                let n = txs.len();
                mutate_tx(&mut txs[sub.at as usize % n], &m.op, net);
            }
        }
    }
}

/// The secret key of `pk` if a Byzantine peer holds it (never one of the target's keys).
fn key_of<'a>(net: &'a Net, pk: &PublicKey) -> Option<&'a Keypair> {
    net.keys.get(pk)
}

fn resign_vote(v: &mut Vote, net: &Net) {
    if let Some(k) = key_of(net, &v.voter) {
        *v = Vote::sign_unchecked(k, &net.chain, v.height, v.round, v.step, v.value, v.timestamp);
    }
}

fn resign_lot(l: &mut Lot, net: &Net) {
    if let Some(k) = key_of(net, &l.miner) {
        l.miner_sig = l.miner_slot().sign(k, &net.chain, &l.hash());
    }
    if let Some(k) = key_of(net, &l.sponsor) {
        *l = l.clone().countersign(k, &net.chain);
    }
}

fn resign_tx(t: &mut Transaction, net: &Net) {
    if let Some(k) = key_of(net, &t.sender) {
        t.sig = k.sign(&t.signing_bytes(&net.chain));
    }
}

fn resign_batch(b: &mut Batch, net: &Net) {
    for t in &mut b.txs {
        resign_tx(t, net);
    }
    if let Some(k) = key_of(net, &b.buffer_pk) {
        b.sig = b.slot_of().sign(k, &net.chain, &b.digest());
    }
}

fn resign_qc(q: &mut Qc, net: &Net) {
    for v in &mut q.precommits {
        resign_vote(v, net);
    }
}

fn resign_micro(m: &mut MicroBlock, net: &Net) {
    if let Some(q) = &mut m.prev_qc {
        resign_qc(q, net);
    }
    for v in &mut m.prev_prevotes {
        resign_vote(v, net);
    }
    if let Some(k) = key_of(net, &m.producer_pk) {
        *m = m.clone().sign(k, &net.chain);
    }
}

/// Re-signs a block's parts; with the node's chain, also re-derives the VRF seed when the
/// producer of `seed_h` is a Byzantine peer.
fn resign_block(b: &mut Block, net: &Net, chain: &Chain) {
    let h = b.header.height;
    if b.header.vrf_proof.is_some()
        && h >= 1
        && h <= chain.height() + 1
        && let Some(prev) = chain.seeds.get(h as usize - 1)
        && let Some(k) = chain.seed_producer(h).and_then(|p| key_of(net, &p))
    {
        let a = SeedAnnouncement::produce(k, &net.chain, prev, h);
        b.header.seed = a.seed;
        b.header.vrf_proof = Some(a.proof);
    }
    for l in &mut b.tree {
        resign_lot(l, net);
    }
    if let Some(m) = &mut b.micro {
        resign_micro(m, net);
    }
}

/// Re-signs every part of a mutated message with the keys of its claimed signers, as
/// Byzantine peers holding those keys would; parts claimed by the target stay as they are.
pub fn resign(msg: &mut Msg, net: &Net, chain: &Chain) {
    match msg {
        Msg::Lot(l) => resign_lot(l, net),
        Msg::Seed(a) => {
            let h = a.height;
            if h >= 1
                && let Some(prev) = chain.seeds.get(h as usize - 1)
                && let Some(k) = key_of(net, &a.producer)
            {
                *a = SeedAnnouncement::produce(k, &net.chain, prev, h);
            }
        }
        Msg::Batch(b) => resign_batch(b, net),
        Msg::Micro(m) => resign_micro(m, net),
        Msg::Proposal(p) => {
            resign_block(&mut p.block, net, chain);
            for v in &mut p.pol {
                resign_vote(v, net);
            }
            if let Some(k) = key_of(net, &p.proposer) {
                let pol = std::mem::take(&mut p.pol);
                *p = Proposal::new(k, &net.chain, p.round, p.valid_round, p.block.clone());
                p.pol = pol;
            }
        }
        Msg::Vote(v) => resign_vote(v, net),
        Msg::Certified(cb, bs) => {
            resign_block(&mut cb.block, net, chain);
            for b in bs.iter_mut() {
                resign_batch(b, net);
            }
            // A certificate over the block as it now is, by whichever voters are listed.
            let value = cb.block.hash();
            cb.qc.value = value;
            for v in &mut cb.qc.precommits {
                v.value = Some(value);
                v.height = cb.qc.height;
                v.round = cb.qc.round;
                v.step = daoli_protocol::vote::Step::Precommit;
            }
            resign_qc(&mut cb.qc, net);
        }
        Msg::Tx { tx, .. } => resign_tx(tx, net),
        Msg::Forward(txs) => {
            for t in txs {
                resign_tx(t, net);
            }
        }
        Msg::SyncRequest { .. } | Msg::BatchRequest(_) => {}
    }
}

/// A statement the target signed, as it appears in its outputs.
#[derive(Debug, Clone)]
enum Signed {
    Said(Said),
    Proposal(Box<Proposal>),
}

/// The invariants the `handle` target checks on everything the target outputs.
#[derive(Debug, Default)]
pub struct Checker {
    /// First statement seen per slot, across restarts.
    signed: BTreeMap<Slot, Signed>,
    /// Own statements whose signature was checked already (the node re-sends them).
    checked: BTreeSet<(Slot, Hash32, [u8; 64])>,
    /// Height reported by the last `Committed`.
    pub committed: u64,
}

impl Checker {
    fn statement(&mut self, net: &Net, slot: Slot, s: Signed) {
        if !net.target_keys.contains(&slot.signer) {
            return;
        }
        let Some(first) = self.signed.get(&slot) else {
            self.signed.insert(slot, s);
            return;
        };
        let e = match (first, &s) {
            (Signed::Said(a), Signed::Said(b)) => (a.content != b.content).then(|| Evidence::new(slot, *a, *b)),
            (Signed::Proposal(a), Signed::Proposal(b)) => a.evidence(b),
            _ => None,
        };
        if let Some(e) = e
            && e.verify(&net.chain).is_ok()
        {
            panic!(
                "the honest target signed two conflicting statements, valid evidence against it: {slot:?}\n{first:?}\n{s:?}"
            );
        }
    }

    fn own_msg(&mut self, net: &Net, m: &Msg) {
        match m {
            Msg::Vote(v) => {
                if net.target_keys.contains(&v.voter) && self.checked.insert((v.slot(), v.content(), v.sig.0)) {
                    assert!(v.verify_sig(&net.chain).is_ok(), "target sent a badly signed vote");
                }
                self.statement(net, v.slot(), Signed::Said(v.said()));
            }
            Msg::Proposal(p) => {
                if net.target_keys.contains(&p.proposer) && self.checked.insert((p.slot(), p.block.hash(), p.sig.0)) {
                    assert!(p.verify(&net.chain), "target sent a badly signed proposal");
                }
                self.statement(net, p.slot(), Signed::Proposal(Box::new(p.clone())));
            }
            Msg::Micro(mb) => {
                if net.target_keys.contains(&mb.producer_pk) {
                    assert!(
                        mb.verify_sig(&net.chain).is_ok(),
                        "target sent a badly signed MicroBlock"
                    );
                }
                self.statement(
                    net,
                    mb.slot(),
                    Signed::Said(Said {
                        content: mb.hash(),
                        sig: mb.sig,
                    }),
                );
            }
            Msg::Batch(b) => self.statement(net, b.slot_of(), Signed::Said(b.said())),
            Msg::Lot(l) => {
                let content = l.hash();
                self.statement(
                    net,
                    l.miner_slot(),
                    Signed::Said(Said {
                        content,
                        sig: l.miner_sig,
                    }),
                );
                self.statement(
                    net,
                    l.sponsor_slot(),
                    Signed::Said(Said {
                        content,
                        sig: l.sponsor_sig,
                    }),
                );
            }
            _ => {}
        }
    }

    /// Checks one batch of outputs of `node`; returns whether any of them changes what the
    /// network sees or the chain (a broadcast, a signed statement, a commit).
    pub fn outputs(&mut self, net: &Net, node: &Datacenter, outs: &[Output]) -> bool {
        let mut productive = false;
        for o in outs {
            match o {
                Output::Broadcast(m) => {
                    productive = true;
                    self.own_msg(net, m);
                }
                Output::Send(_, m) => self.own_msg(net, m),
                Output::PersistSigned(m) => {
                    productive = true;
                    self.own_msg(net, m);
                }
                Output::PersistEvidence(e) => {
                    assert!(e.verify(&net.chain).is_ok(), "target persisted invalid evidence");
                    assert!(
                        !net.target_keys.contains(&e.offender()),
                        "target recorded evidence against itself: {e:?}"
                    );
                }
                Output::Committed(c) => {
                    productive = true;
                    assert_eq!(c.height, self.committed + 1, "commits skip or repeat a height");
                    self.committed = c.height;
                }
                Output::PersistVote(v) => self.own_msg(net, &Msg::Vote(v.clone())),
                Output::Wakeup(_)
                | Output::PersistTx(_)
                | Output::PersistBlock(..)
                | Output::Reply { .. }
                | Output::Event(_)
                | Output::Mine(_) => {}
            }
        }
        assert_eq!(node.height(), self.committed, "height moved without a Committed output");
        productive
    }
}
