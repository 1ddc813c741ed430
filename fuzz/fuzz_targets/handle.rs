//! The message handlers. One node (the target datacenter, a founder holding 3 of the 11 seats)
//! is driven by a sequence of actions: replaying, in order, the messages the other three
//! honest datacenters exchanged in a recorded run; delivering any recorded (or the target's
//! own) message after structural mutations, optionally re-signed by the keys of its claimed
//! signers (a Byzantine peer); client transactions; time advances; crash-restarts.
//!
//! After every step: no panic; the height never decreases and moves only with a `Committed`
//! output; a refused message (`Err` from `handle`) broadcasts nothing, signs nothing, commits
//! nothing; the target never signs two statements that make valid evidence against it; its
//! own votes, proposals and MicroBlocks verify; any evidence it records verifies and is not
//! against itself.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use daoli_fuzz::{Checker, Mutation, TARGET, miners, mutate, net, resign};
use daoli_protocol::block::route_order;
use daoli_protocol::crypto::PublicKey;
use daoli_protocol::datacenter::Datacenter;
use daoli_protocol::node::{Durable, Msg, Output};
use daoli_protocol::tx::{Transaction, TxKind};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Action {
    /// The next recorded broadcast, at the time it arrives (an all-zero input replays the run).
    Replay,
    /// A recorded message, mutated, from a chosen peer: with `near`, one of the 64 around the
    /// replay position (likely for the height the target is at), else any.
    Deliver {
        near: bool,
        pick: u16,
        from: u8,
        muts: Vec<Mutation>,
        resign: bool,
    },
    Tick {
        ms: u16,
    },
    Jump {
        ms: u32,
    },
    Restart,
    /// A crash that loses everything unpersisted: the node is rebuilt from its store (the
    /// certified chain and every `Persist*` output) and its vote journal.
    Recover,
    /// A client transaction for a payroll slot.
    Tx {
        client: u8,
        slot: u8,
        nonce: u8,
        kind: u8,
        amount: u32,
        fee: u16,
    },
    /// One of the target's own recent messages back, mutated, from a peer.
    Echo {
        pick: u8,
        from: u8,
        muts: Vec<Mutation>,
        resign: bool,
    },
    /// Skip recorded messages (the target never hears them).
    Skip {
        n: u8,
    },
    /// A catch-up request from a peer.
    Sync {
        from: u8,
        start: u16,
    },
    /// A peer asks for batches (recorded digests and other hashes).
    BatchRequest {
        from: u8,
        picks: Vec<u16>,
    },
    /// A peer hands over recorded transactions.
    Forward {
        from: u8,
        picks: Vec<u16>,
        resign: bool,
        muts: Vec<Mutation>,
    },
}

struct Harness {
    node: Datacenter,
    /// What the node asked to persist (its store, with the chain).
    store: Durable,
    now: u64,
    cursor: usize,
    own: Vec<Msg>,
    check: Checker,
}

const MAX_STEPS: usize = 512;

impl Harness {
    fn new() -> Self {
        let net = net();
        let node = Datacenter::new(net.genesis.clone(), net.dcs[TARGET].clone(), miners(TARGET), 7, 0)
            .expect("the fuzz genesis is valid");
        Harness {
            node,
            store: Durable::default(),
            now: 0,
            cursor: 0,
            own: Vec::new(),
            check: Checker::default(),
        }
    }

    fn keep_own(&mut self, outs: &[Output]) {
        for o in outs {
            self.store.record(o);
            if let Output::Broadcast(m) | Output::Send(_, m) = o {
                if self.own.len() >= 64 {
                    self.own.remove(0);
                }
                self.own.push(m.clone());
            }
        }
    }

    /// Runs everything due at `now` until the node has nothing more to do, so that the next
    /// message's effects are its own.
    fn flush(&mut self) {
        for _ in 0..8 {
            let outs = self.node.tick(self.now);
            let productive = self.check.outputs(net(), &self.node, &outs);
            self.keep_own(&outs);
            if !productive {
                return;
            }
        }
        panic!("tick at one time never settles");
    }

    /// Delivers one message. `strict`: first run everything due at `now`, so that if the
    /// message is refused, any effect of the call is the message's own and must not be there.
    fn deliver(&mut self, from: PublicKey, msg: Msg, strict: bool) {
        if strict {
            self.flush();
        }
        let before = self.node.height();
        let (outs, r) = self.node.handle(self.now, from, msg.clone());
        self.check.outputs(net(), &self.node, &outs);
        self.keep_own(&outs);
        if let Err(e) = &r {
            let bad = outs.iter().find(|o| {
                matches!(
                    o,
                    Output::Broadcast(_) | Output::Committed(_) | Output::PersistSigned(_)
                )
            });
            assert!(
                !strict || bad.is_none(),
                "refused message ({e}) had effects: {bad:?}\nmessage: {msg:?}"
            );
            assert_eq!(self.node.height(), before, "refused message ({e}) moved the height");
        }
        assert!(self.node.height() >= before);
    }

    fn peer(&self, from: u8, original: PublicKey) -> PublicKey {
        let net = net();
        if from.is_multiple_of(4) {
            original
        } else {
            net.key(from)
        }
    }

    fn step(&mut self, a: Action) {
        let net = net();
        match a {
            Action::Replay => {
                while let Some(r) = net.pool.get(self.cursor) {
                    self.cursor += 1;
                    if r.to.is_none() || r.to == Some(self.node.public()) {
                        self.now = self.now.max(r.at + 5);
                        self.deliver(r.from, r.msg.clone(), false);
                        return;
                    }
                }
                self.now += 100;
                self.flush();
            }
            Action::Skip { n } => self.cursor += n as usize,
            Action::Sync { from, start } => {
                let start = if start >= 0xff00 {
                    u64::MAX - (start & 0xff) as u64
                } else {
                    start as u64
                };
                self.deliver(net.key(from), Msg::SyncRequest { from: start }, true);
            }
            Action::BatchRequest { from, picks } => {
                let ds = picks.iter().take(300).map(|i| net.hash(*i)).collect();
                self.deliver(net.key(from), Msg::BatchRequest(ds), true);
            }
            Action::Forward {
                from,
                picks,
                resign: re,
                muts,
            } => {
                let mut msg = Msg::Forward(
                    picks
                        .iter()
                        .take(64)
                        .map(|i| net.txs[*i as usize % net.txs.len()].clone())
                        .collect(),
                );
                for m in muts.iter().take(4) {
                    mutate(&mut msg, m, net);
                }
                if re {
                    resign(&mut msg, net, self.node.chain());
                }
                self.deliver(net.key(from), msg, true);
            }
            Action::Deliver {
                near,
                pick,
                from,
                muts,
                resign: re,
            } => {
                let i = if near {
                    (self.cursor + pick as usize % 64).saturating_sub(32)
                } else {
                    pick as usize
                };
                let r = &net.pool[i % net.pool.len()];
                let mut msg = r.msg.clone();
                for m in muts.iter().take(4) {
                    mutate(&mut msg, m, net);
                }
                if re {
                    resign(&mut msg, net, self.node.chain());
                }
                self.deliver(self.peer(from, r.from), msg, true);
            }
            Action::Echo {
                pick,
                from,
                muts,
                resign: re,
            } => {
                if self.own.is_empty() {
                    return;
                }
                let mut msg = self.own[pick as usize % self.own.len()].clone();
                for m in muts.iter().take(4) {
                    mutate(&mut msg, m, net);
                }
                if re {
                    resign(&mut msg, net, self.node.chain());
                }
                self.deliver(net.key(from), msg, true);
            }
            Action::Tick { ms } => {
                self.now += ms as u64;
                self.flush();
            }
            Action::Jump { ms } => {
                self.now += ms as u64;
                self.flush();
            }
            Action::Restart => {
                let before = self.node.height();
                let outs = self.node.restart(self.now);
                self.check.outputs(net, &self.node, &outs);
                self.keep_own(&outs);
                assert_eq!(self.node.height(), before, "a restart changed the height");
            }
            Action::Recover => {
                let before = self.node.height();
                let mut store = self.store.clone();
                store.blocks = (1..=before)
                    .map(|x| self.node.full_block(x).expect("a certified height"))
                    .collect();
                self.node = Datacenter::recover(
                    net.genesis.clone(),
                    net.dcs[TARGET].clone(),
                    miners(TARGET),
                    store,
                    11,
                    self.now,
                )
                .expect("a node recovers from its own store");
                assert_eq!(self.node.height(), before, "recovery lost certified heights");
                self.flush();
            }
            Action::Tx {
                client,
                slot,
                nonce,
                kind,
                amount,
                fee,
            } => {
                let clients = daoli_fuzz::clients();
                let key = &clients[client as usize % clients.len()];
                let nonce = self.node.chain().state.account(&key.public()).nonce + nonce as u64 % 70;
                let kind = match kind % 3 {
                    0 => TxKind::Transfer {
                        to: net.key(kind),
                        amount: amount as u64,
                    },
                    1 => TxKind::BuyTicket {
                        round: amount as u64 % 8,
                    },
                    _ => TxKind::Register {
                        keys: daoli_protocol::params::Identity::from_label("fuzz/newcomer").keys(),
                        endpoint: "new.fuzz:7000".into(),
                        bond: amount as u64 * 64,
                    },
                };
                let tx = Transaction::new(key, &net.chain, nonce, fee as u64, kind, vec![]);
                let p = self.node.chain().params().payroll;
                let slot = if slot < 128 {
                    route_order(&key.public(), p).next().unwrap_or(0)
                } else {
                    slot as u32 % 24
                };
                self.deliver(
                    key.public(),
                    Msg::Tx {
                        client: client as u64,
                        slot,
                        tx,
                    },
                    true,
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut h = Harness::new();
    for _ in 0..MAX_STEPS {
        if u.is_empty() {
            break;
        }
        let Ok(a) = Action::arbitrary(&mut u) else { break };
        h.step(a);
    }
    // Exercise the read side of whatever state the node reached.
    let _ = h.node.describe();
    for x in 1..=h.node.height() {
        assert!(h.node.full_block(x).is_some());
    }
    for e in h.node.evidence() {
        assert!(e.verify(&net().chain).is_ok());
    }
});
