//! Lot drawing: validates the lots of this cycle (its own sponsored ones and the peers'),
//! bars the ineligible, stops counting at the time throttle, and then publishes the own-view
//! drawing: the KeyBlockTree under the seed it knows and every lot it counted.

use super::follower::Follower;
use super::held::NextCycle;
use super::{Drawn, Event, Output, Phase};
use crate::crypto::PublicKey;
use crate::dcc::{Cycle, EventError, check_event};
use crate::lot::{Lot, LotPool};
use crate::node::{Msg, Reject};
use crate::params::{Genesis, ParamsError};
use crate::seed::{self, SeedAnnouncement};

#[derive(Debug)]
pub struct LotDrawing {
    pub f: Follower,
    cycle: Cycle,
    pub pool: LotPool,
    seed: Option<SeedAnnouncement>,
    throttled: bool,
    held: NextCycle,
}

impl LotDrawing {
    pub fn new(genesis: Genesis) -> Result<Self, ParamsError> {
        Ok(LotDrawing {
            f: Follower::new(genesis)?,
            cycle: Cycle {
                height: 1,
                start: 0,
                length: 0,
            },
            pool: LotPool::new(1),
            seed: None,
            throttled: false,
            held: NextCycle::default(),
        })
    }

    fn begin(&mut self, now: u64, c: Cycle, out: &mut Vec<Output>) {
        self.cycle = c;
        self.pool = LotPool::new(c.height);
        self.seed = None;
        self.throttled = false;
        for (from, m) in self.held.take(c.height) {
            let _ = self.on_msg(now, from, m, out);
        }
    }

    pub fn on_event(&mut self, now: u64, ev: &Event, out: &mut Vec<Output>) {
        match ev {
            Event::Certified(cb, batches) => {
                if let Ok(Some(_)) = self.f.apply(cb, batches) {
                    // A second lot of one miner under one sponsor, seen this height.
                    for e in std::mem::take(&mut self.pool.evidence) {
                        out.push(Output::Event(Event::Evidence(e)));
                    }
                    if let Some(c) = self.f.released() {
                        self.begin(now, c, out);
                    }
                }
            }
            Event::Cycle(c) => {
                if let Some(c) = self.f.cycle(c) {
                    self.begin(now, c, out);
                }
            }
            Event::Seed(a) if a.height == self.cycle.height => {
                self.seed = Some(a.clone());
                // A seed heard after the throttle still makes an own view for later rounds.
                if self.throttled {
                    self.publish(out);
                }
            }
            // Its own lots count until the throttle, like anyone's (the hashing runs off the
            // protocol's thread and may finish late).
            Event::Lot(l) if l.height == self.cycle.height && !self.throttled => {
                let _ = self.pool.add(l.clone());
            }
            Event::Phase(h, Phase::Throttle) if *h == self.cycle.height => {
                self.throttled = true;
                self.publish(out);
            }
            _ => {}
        }
    }

    fn publish(&self, out: &mut Vec<Output>) {
        let h = self.cycle.height;
        let chain = &self.f.chain;
        let p = chain.params();
        let (seed, vrf_proof) = match &self.seed {
            Some(a) => (a.seed, Some(a.proof)),
            None => (seed::fallback(chain.id(), &chain.seeds[h as usize - 1], h), None),
        };
        let eligible = |l: &Lot| chain.check_sponsor(h, l).is_ok();
        let tree = self.pool.tree(&seed, p.lineup_len(), p.backups, eligible);
        let counted = self.pool.lots().filter(|l| eligible(l)).cloned().collect();
        out.push(Output::Event(Event::Drawn(Box::new(Drawn {
            height: h,
            seed,
            vrf_proof,
            tree,
            counted,
        }))));
    }

    /// A lot from a peer.
    pub fn on_msg(&mut self, now: u64, from: PublicKey, msg: Msg, _out: &mut Vec<Output>) -> Result<(), Reject> {
        let Msg::Lot(lot) = msg else {
            return Ok(());
        };
        let h = self.cycle.height;
        let chain = &self.f.chain;
        let p = chain.params();
        // A lot for the next cycle is held, not counted, until this datacenter reaches that
        // cycle and can check it against the block it names.
        if lot.height == h + 1 {
            let registered = chain.state.dc_of(&from).is_some();
            let signed = lot.validate(chain.id(), p.pow_bits).is_ok();
            return self.held.hold(h + 1, from, registered, signed, Msg::Lot(lot));
        }
        check_event(&self.cycle, &chain.tip_hash(), lot.height, &lot.prev_hash)?;
        let deadline = self.cycle.throttle(p);
        if now >= deadline {
            return Err(EventError::Late {
                height: h,
                at: now,
                deadline,
            }
            .into());
        }
        lot.validate(chain.id(), p.pow_bits)?;
        chain.check_sponsor(h, &lot)?;
        self.pool.add(lot)?;
        Ok(())
    }

    pub fn held_len(&self) -> usize {
        self.held.len()
    }
    pub fn forget(&mut self) {
        self.held.clear();
    }
}
