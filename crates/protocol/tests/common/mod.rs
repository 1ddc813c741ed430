//! A small network of real nodes for integration tests: genesis, nodes, a lossless run loop,
//! and what a test needs to forge or re-certify blocks (it holds every key).
#![allow(dead_code)]

use daoli_protocol::block::{Batch, CertifiedBlock};
use daoli_protocol::chain::Chain;
use daoli_protocol::codec::Hash32;
use daoli_protocol::crypto::Keypair;
use daoli_protocol::datacenter::Datacenter;
use daoli_protocol::node::{Msg, Output};
use daoli_protocol::params::{Genesis, Identity, Params, PeriodicLottery};
use daoli_protocol::vote::{Qc, Step, Vote};

pub fn identities(n: usize) -> Vec<Identity> {
    (0..n).map(|i| Identity::from_label(&format!("nt-dc{i}"))).collect()
}

pub fn genesis(dcs: &[Identity], client: &Keypair, lottery: bool) -> Genesis {
    let mut params = Params::devnet();
    params.pow_bits = 2;
    Genesis {
        network: "node-test".into(),
        founders: dcs
            .iter()
            .enumerate()
            .map(|(i, k)| k.datacenter(&format!("dc{i}:7000"), params.min_bond))
            .collect(),
        params,
        seats: (0..11).map(|i| dcs[i % dcs.len()].root.public()).collect(),
        seed: Hash32([1; 32]),
        timestamp_ms: 0,
        accounts: vec![(client.public(), 1_000)],
        rounds: vec![],
        periodic_lottery: lottery.then_some(PeriodicLottery {
            every: 4,
            length: 3,
            price: 10,
            winners: 1,
        }),
    }
}

pub fn node(g: &Genesis, dcs: &[Identity], i: usize) -> Datacenter {
    Datacenter::new(
        g.clone(),
        dcs[i].clone(),
        vec![Keypair::from_label(&format!("miner{i}"))],
        i as u64,
        0,
    )
    .unwrap()
}

/// Delivers every broadcast among the nodes, ticking them every 10 ms, until `until` ms.
pub fn run(nodes: &mut [Datacenter], until: u64) {
    run_observed(nodes, until, &mut |_, _| {});
}

/// As [`run`], showing `seen` every broadcast with its sender's index.
pub fn run_observed(nodes: &mut [Datacenter], until: u64, seen: &mut dyn FnMut(usize, &Msg)) {
    let mut t = 0;
    while t <= until {
        step(nodes, t, seen);
        t += 10;
    }
}

/// One 10 ms step at `t`: ticks every node, then delivers every broadcast (and what it
/// causes) at once.
pub fn step(nodes: &mut [Datacenter], t: u64, seen: &mut dyn FnMut(usize, &Msg)) {
    let keys: Vec<_> = nodes.iter().map(|n| n.public()).collect();
    let mut inbox: Vec<(usize, Msg)> = Vec::new();
    for (i, n) in nodes.iter_mut().enumerate() {
        for o in n.tick(t) {
            if let Output::Broadcast(m) = o {
                inbox.push((i, m));
            }
        }
    }
    while let Some((from, m)) = inbox.pop() {
        seen(from, &m);
        for (j, n) in nodes.iter_mut().enumerate() {
            if j != from {
                let (out, _) = n.handle(t, keys[from], m.clone());
                for o in out {
                    if let Output::Broadcast(m2) = o {
                        inbox.push((j, m2));
                    }
                }
            }
        }
    }
}

/// A network of four datacenters run until every node has certified `heights`.
pub struct Net {
    pub dcs: Vec<Identity>,
    pub genesis: Genesis,
    pub record: Vec<(CertifiedBlock, Vec<Batch>)>,
}

pub fn certified_net(heights: u64, lottery: bool) -> Net {
    let dcs = identities(4);
    let client = Keypair::from_label("nt-client");
    let g = genesis(&dcs, &client, lottery);
    let mut nodes: Vec<_> = (0..4).map(|i| node(&g, &dcs, i)).collect();
    let mut until = 1_000 * heights;
    while nodes.iter().map(|n| n.height()).min().unwrap() < heights {
        run(&mut nodes, until);
        until += 2_000;
        assert!(until < 1_000 * heights + 60_000, "the network does not reach {heights}");
    }
    let record = (1..=heights).map(|h| nodes[0].full_block(h).unwrap()).collect();
    Net {
        dcs,
        genesis: g,
        record,
    }
}

impl Net {
    /// A fresh chain with the first `k` blocks of the record committed.
    pub fn chain_at(&self, k: usize) -> Chain {
        let mut c = Chain::new(self.genesis.clone()).unwrap();
        for (cb, batches) in &self.record[..k] {
            commit(&mut c, cb.clone(), batches).unwrap();
        }
        c
    }
    /// The identity that holds `key` as any of its keys.
    pub fn owner(&self, key: &daoli_protocol::crypto::PublicKey) -> &Identity {
        self.dcs
            .iter()
            .find(|d| d.public_keys().contains(key))
            .expect("a test key")
    }
    /// A QC for `value` at `height` signed by every seat (all four datacenters hold seats), with
    /// the precommit timestamps given.
    pub fn qc(&self, chain: &Chain, height: u64, value: Hash32, ts: &[u64]) -> Qc {
        let seats = chain.seats(height);
        let mut voters: Vec<&Identity> = self.dcs.iter().filter(|d| seats.weight(&d.vote.public()) > 0).collect();
        voters.truncate(ts.len());
        Qc {
            height,
            round: 0,
            value,
            precommits: voters
                .iter()
                .zip(ts)
                .map(|(d, t)| Vote::sign_unchecked(&d.vote, chain.id(), height, 0, Step::Precommit, Some(value), *t))
                .collect(),
        }
    }
}

/// A lot of `height` on `prev_hash`, mined by the key labelled `miner` from nonce `start` and
/// countersigned by `sponsor`.
pub fn sponsored_lot(
    chain: &daoli_protocol::codec::ChainId,
    height: u64,
    prev_hash: Hash32,
    sponsor: &Identity,
    miner: &str,
    pow_bits: u32,
    start: u64,
) -> daoli_protocol::lot::Lot {
    let t = daoli_protocol::lot::LotTemplate {
        height,
        prev_hash,
        sponsor: sponsor.sponsor.public(),
    };
    daoli_protocol::lot::mine(&Keypair::from_label(miner), chain, &t, pow_bits, start, 1 << 20)
        .expect("a lot within 2^20 tries")
        .countersign(&sponsor.sponsor, chain)
}

pub fn commit(
    c: &mut Chain,
    cb: CertifiedBlock,
    batches: &[Batch],
) -> Result<daoli_protocol::ledger::ExecOutcome, daoli_protocol::chain::BlockError> {
    let store = batches.iter().map(|b| (b.digest(), b.clone())).collect();
    c.commit(cb, &store)
}
