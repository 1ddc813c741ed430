//! Miner pool: this datacenter's hosted miner keys and the lots client devices bring. At the
//! mining phase it hands one [`MineJob`] per hosted miner to its shell, which does the
//! hashing off the protocol's thread; a mined lot comes back through [`MinerPool::on_mined`],
//! is checked and countersigned (once per miner and height, also across a restart), and goes
//! to lot drawing and the peers.

use super::follower::Follower;
use super::{Event, Output, Phase, StallGate};
use crate::crypto::{Keypair, PublicKey};
use crate::dcc::Cycle;
use crate::lot::{Lot, LotError, LotTemplate};
use crate::node::{Msg, Reject};
use crate::params::{Genesis, ParamsError};
use std::collections::BTreeMap;

/// Work for the shell: try `tries` nonces from `start` for `miner` (see [`crate::lot::mine`]).
#[derive(Debug, Clone)]
pub struct MineJob {
    pub miner: Keypair,
    pub template: LotTemplate,
    pub pow_bits: u32,
    pub start: u64,
    pub tries: u64,
}

impl PartialEq for MineJob {
    fn eq(&self, o: &Self) -> bool {
        self.miner.public() == o.miner.public()
            && (&self.template, self.pow_bits, self.start, self.tries) == (&o.template, o.pow_bits, o.start, o.tries)
    }
}
impl Eq for MineJob {}

impl MineJob {
    /// Does the hashing (what the shell runs on a worker thread).
    pub fn run(&self, chain: &crate::codec::ChainId) -> Option<Lot> {
        crate::lot::mine(
            &self.miner,
            chain,
            &self.template,
            self.pow_bits,
            self.start,
            self.tries,
        )
    }
}

#[derive(Debug)]
pub struct MinerPool {
    pub f: Follower,
    sponsor: Keypair,
    pub miners: Vec<Keypair>,
    rng: u64,
    cycle: Cycle,
    /// Durable: the lot countersigned per (height, miner), so a restart never signs a second.
    sponsored: BTreeMap<(u64, PublicKey), Lot>,
    stall: StallGate,
}

impl MinerPool {
    pub fn new(genesis: Genesis, sponsor: Keypair, miners: Vec<Keypair>, entropy: u64) -> Result<Self, ParamsError> {
        Ok(MinerPool {
            f: Follower::new(genesis)?,
            sponsor,
            miners,
            rng: entropy,
            cycle: Cycle {
                height: 1,
                start: 0,
                length: 0,
            },
            sponsored: BTreeMap::new(),
            stall: StallGate::default(),
        })
    }

    /// Puts back a lot this datacenter countersigned before a crash.
    pub fn restore(&mut self, l: Lot) {
        if l.height > self.f.chain.height() {
            self.sponsored.insert((l.height, l.miner), l);
        }
    }

    fn rand(&mut self) -> u64 {
        // SplitMix64 over the entropy the shell supplied.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn on_event(&mut self, now: u64, ev: &Event, out: &mut Vec<Output>) {
        match ev {
            Event::Certified(cb, batches) => {
                if let Ok(Some(_)) = self.f.apply(cb, batches)
                    && let Some(c) = self.f.released()
                {
                    self.begin(c);
                }
            }
            Event::Cycle(c) => {
                if let Some(c) = self.f.cycle(c) {
                    self.begin(c);
                }
            }
            Event::Phase(h, Phase::Mine) if *h == self.cycle.height => self.mine(out),
            // Nothing certified for too long: the lots may have been lost or come late
            // everywhere (lot drawing keeps late ones for a re-draw), so they are sent again,
            // client devices' too; and a hosted miner without a lot for the cycle (the pool
            // restarted after the mining phase, before its lot's countersignature was stored)
            // mines now.
            Event::Phase(h, Phase::Stalled) if *h == self.cycle.height && self.stall.pass(now, self.cycle.length) => {
                let hosted: Vec<PublicKey> = self.miners.iter().map(|m| m.public()).collect();
                for l in self
                    .sponsored
                    .values()
                    .filter(|l| l.height == *h && !hosted.contains(&l.miner))
                {
                    out.push(Output::Event(Event::Lot(l.clone())));
                    out.push(Output::Broadcast(Msg::Lot(l.clone())));
                }
                self.mine(out);
            }
            _ => {}
        }
    }

    fn begin(&mut self, c: Cycle) {
        self.cycle = c;
        self.sponsored.retain(|(x, _), _| *x >= c.height);
    }

    fn mine(&mut self, out: &mut Vec<Output>) {
        let h = self.cycle.height;
        let p = self.f.chain.params();
        let template = LotTemplate {
            height: h,
            prev_hash: self.f.chain.tip_hash(),
            sponsor: self.sponsor.public(),
        };
        let pow_bits = p.pow_bits;
        let tries = 1u64 << (p.pow_bits + 8).min(40);
        for i in 0..self.miners.len() {
            let miner = self.miners[i].clone();
            // Countersigned already (before a restart): send that one again.
            if let Some(l) = self.sponsored.get(&(h, miner.public())).cloned() {
                out.push(Output::Event(Event::Lot(l.clone())));
                out.push(Output::Broadcast(Msg::Lot(l)));
                continue;
            }
            let start = self.rand();
            let job = MineJob {
                miner,
                template: template.clone(),
                pow_bits,
                start,
                tries,
            };
            out.push(Output::Mine(Box::new(job)));
        }
    }

    /// A lot mined for this datacenter, by a hosted miner or a client device: valid for the
    /// current cycle, naming this sponsor, proof of work met, miner signature good.
    pub fn on_mined(&mut self, _now: u64, lot: Lot, out: &mut Vec<Output>) -> Result<(), Reject> {
        let h = self.cycle.height;
        let chain = *self.f.chain.id();
        if lot.height != h || lot.prev_hash != self.f.chain.tip_hash() {
            return Err(Reject::Stale);
        }
        if lot.sponsor != self.sponsor.public() {
            return Err(LotError::Sponsor(lot.sponsor.short()).into());
        }
        if let Some(l) = self.sponsored.get(&(h, lot.miner)) {
            return if l.hash() == lot.hash() {
                Ok(())
            } else {
                Err(LotError::SecondLot(lot.miner.short(), h).into())
            };
        }
        // The miner's signature and the PoW (the sponsor signature is added below).
        let signed = lot.clone().countersign(&self.sponsor, &chain);
        signed.validate(&chain, self.f.chain.params().pow_bits)?;
        self.sponsored.insert((h, lot.miner), signed.clone());
        out.push(Output::PersistSigned(Box::new(Msg::Lot(signed.clone()))));
        out.push(Output::Event(Event::Lot(signed.clone())));
        out.push(Output::Broadcast(Msg::Lot(signed)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Hash32;
    use crate::params::Identity;

    // A lot a hosted miner or a client device brings is countersigned only if it is for this
    // cycle and block, names this sponsor, meets the proof of work and is the miner's first.
    #[test]
    fn a_mined_lot_is_countersigned_once_and_only_if_valid() {
        let id = Identity::from_label("pool-test/dc0");
        let mut g = Genesis::solo(&id, vec![]);
        g.params.pow_bits = 4;
        let chain = g.chain_id();
        let mut pool = MinerPool::new(g, id.sponsor.clone(), vec![], 1).unwrap();
        let mut out = Vec::new();
        pool.on_event(
            0,
            &Event::Cycle(Cycle {
                height: 1,
                start: 0,
                length: 1_000,
            }),
            &mut out,
        );
        let tip = pool.f.chain.tip_hash();
        let lot = |sponsor: PublicKey, height: u64, prev: crate::codec::Hash32, miner: &str, bits: u32| {
            let t = LotTemplate {
                height,
                prev_hash: prev,
                sponsor,
            };
            crate::lot::mine(&Keypair::from_label(miner), &chain, &t, bits, 0, 1 << 20).unwrap()
        };
        let me = id.sponsor.public();
        let wrong = |l: Lot, pool: &mut MinerPool| {
            let mut out = Vec::new();
            let r = pool.on_mined(0, l, &mut out);
            assert!(out.is_empty(), "a refused lot signs nothing");
            r
        };
        assert_eq!(wrong(lot(me, 2, tip, "m", 4), &mut pool), Err(Reject::Stale));
        assert_eq!(
            wrong(lot(me, 1, Hash32([1; 32]), "m", 4), &mut pool),
            Err(Reject::Stale)
        );
        assert!(matches!(
            wrong(lot(id.vote.public(), 1, tip, "m", 4), &mut pool),
            Err(Reject::Lot(LotError::Sponsor(_)))
        ));
        // Too little work (pow_bits 0 where the chain wants 4); the first nonce rarely meets 4.
        let weak = (0..64)
            .map(|i| lot(me, 1, tip, &format!("weak{i}"), 0))
            .find(|l| l.hash().leading_zero_bits() < 4)
            .unwrap();
        assert!(matches!(
            wrong(weak, &mut pool),
            Err(Reject::Lot(LotError::AboveTarget { .. }))
        ));
        let good = lot(me, 1, tip, "m", 4);
        let mut out = Vec::new();
        pool.on_mined(0, good.clone(), &mut out).unwrap();
        assert!(matches!(&out[0], Output::PersistSigned(m) if matches!(**m, Msg::Lot(_))));
        let mut other = lot(me, 1, tip, "m", 4);
        other.nonce += 1;
        assert!(matches!(
            wrong(other, &mut pool),
            Err(Reject::Lot(LotError::SecondLot(..)))
        ));
    }

    // At a stall the lots this datacenter countersigned for the cycle go out again, to its
    // lot drawing and its peers: they may have been lost, or come late everywhere (lot drawing
    // keeps late lots for a re-draw only if it holds them).
    #[test]
    fn a_stall_sends_the_cycles_lots_again() {
        let id = Identity::from_label("pool-test/dc0");
        let mut g = Genesis::solo(&id, vec![]);
        g.params.pow_bits = 4;
        let chain = g.chain_id();
        let mut pool = MinerPool::new(g, id.sponsor.clone(), vec![], 1).unwrap();
        let c = Cycle {
            height: 1,
            start: 0,
            length: 1_000,
        };
        pool.on_event(0, &Event::Cycle(c), &mut Vec::new());
        let t = LotTemplate {
            height: 1,
            prev_hash: pool.f.chain.tip_hash(),
            sponsor: id.sponsor.public(),
        };
        let lot = crate::lot::mine(&Keypair::from_label("m"), &chain, &t, 4, 0, 1 << 20).unwrap();
        pool.on_mined(0, lot, &mut Vec::new()).unwrap();
        let mut out = Vec::new();
        pool.on_event(3_000, &Event::Phase(2, Phase::Stalled), &mut out);
        assert!(out.is_empty(), "another cycle's stall");
        // A hosted miner that has no lot for the cycle yet (the pool restarted after the
        // mining phase) mines at the stall.
        let hosted = Keypair::from_label("hosted");
        let mut with = MinerPool::new(
            pool.f.chain.genesis.clone(),
            id.sponsor.clone(),
            vec![hosted.clone()],
            1,
        )
        .unwrap();
        with.on_event(0, &Event::Cycle(c), &mut Vec::new());
        let mut mined = Vec::new();
        with.on_event(3_000, &Event::Phase(1, Phase::Stalled), &mut mined);
        assert!(
            matches!(&mined[..], [Output::Mine(j)] if j.template.height == 1 && j.miner.public() == hosted.public()),
            "{mined:?}"
        );
        for _ in 0..3 {
            // A backlog of stall events read at once: sent once.
            pool.on_event(3_000, &Event::Phase(1, Phase::Stalled), &mut out);
        }
        let signed = pool.sponsored.values().next().unwrap().clone();
        assert_eq!(
            out,
            vec![
                Output::Event(Event::Lot(signed.clone())),
                Output::Broadcast(Msg::Lot(signed))
            ]
        );
    }
}
