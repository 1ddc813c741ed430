//! Lot drawing: validates the lots of this cycle (its own sponsored ones and the peers'),
//! bars the ineligible, stops counting at the time throttle, and then publishes the own-view
//! drawing: the KeyBlockTree under the seed it knows and every lot it counted.
//!
//! At each stall of the cycle the drawing is published again (a trustee that restarted alone
//! lost it), and a drawing that counted no lot is drawn again from the valid lots of
//! the cycle that came after the throttle (docs/protocol.md, "Re-drawing a stalled cycle"):
//! when every datacenter stalls through a cycle's mining window (the broker or database they
//! share is down, their host is suspended), every lot reaches every lot drawing late, no seat
//! has an own view, and without this the height is never certified.

use super::follower::Follower;
use super::held::NextCycle;
use super::{Drawn, Event, Output, Phase, StallGate};
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
    /// Valid lots of this cycle that came after the throttle while the drawing counted none;
    /// bounded like the pool (rule 8), kept for a re-draw at the stall.
    pub late: LotPool,
    seed: Option<SeedAnnouncement>,
    throttled: bool,
    held: NextCycle,
    stall: StallGate,
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
            late: LotPool::new(1),
            seed: None,
            throttled: false,
            held: NextCycle::default(),
            stall: StallGate::default(),
        })
    }

    fn begin(&mut self, now: u64, c: Cycle, out: &mut Vec<Output>) {
        self.cycle = c;
        self.pool = LotPool::new(c.height);
        self.late = LotPool::new(c.height);
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
                    let late = std::mem::take(&mut self.late.evidence);
                    for e in std::mem::take(&mut self.pool.evidence).into_iter().chain(late) {
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
            Event::Lot(l) if l.height == self.cycle.height => {
                let _ = if !self.throttled {
                    self.pool.add(l.clone())
                } else if self.pool.is_empty() {
                    self.late.add(l.clone())
                } else {
                    Ok(())
                };
            }
            Event::Phase(h, Phase::Throttle) if *h == self.cycle.height => {
                self.throttled = true;
                self.publish(out);
            }
            Event::Phase(h, Phase::Stalled)
                if *h == self.cycle.height && self.throttled && self.stall.pass(now, self.cycle.length) =>
            {
                if self.pool.is_empty() && !self.late.is_empty() {
                    self.pool = std::mem::replace(&mut self.late, LotPool::new(*h));
                }
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
        let late = EventError::Late {
            height: h,
            at: now,
            deadline,
        };
        // Late lots are refused unchecked, unless the drawing has none: then they are checked
        // and kept for a re-draw (still refused as late: they were not counted in time).
        if now >= deadline && !self.pool.is_empty() {
            return Err(late.into());
        }
        lot.validate(chain.id(), p.pow_bits)?;
        chain.check_sponsor(h, &lot)?;
        if now >= deadline {
            self.late.add(lot)?;
            return Err(late.into());
        }
        self.pool.add(lot)?;
        Ok(())
    }

    /// Where the drawing stands, for logs.
    pub fn describe(&self) -> String {
        format!(
            "cycle {} from {} ms, throttled {}, seed {}, {} lots counted, {} late",
            self.cycle.height,
            self.cycle.start,
            self.throttled,
            self.seed.as_ref().map_or("-".into(), |a| a.seed.short()),
            self.pool.len(),
            self.late.len()
        )
    }

    pub fn held_len(&self) -> usize {
        self.held.len()
    }
    pub fn forget(&mut self) {
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;
    use crate::lot::LotTemplate;
    use crate::params::Identity;

    const L: u64 = 1_000;

    fn setup() -> (LotDrawing, Identity, impl Fn(&str) -> Lot) {
        // The solo founder leads the genesis lineup, so it may not win height 1: the lots are
        // a second founder's.
        let mut g = Genesis::solo(&Identity::from_label("draw-test/dc0"), vec![]);
        let id = Identity::from_label("draw-test/dc1");
        g.founders.push(id.datacenter("dc1.local:7000", g.params.min_bond));
        g.params.pow_bits = 2;
        let chain = g.chain_id();
        let mut d = LotDrawing::new(g).unwrap();
        let c = Cycle {
            height: 1,
            start: 0,
            length: L,
        };
        d.on_event(0, &Event::Cycle(c), &mut Vec::new());
        let t = LotTemplate {
            height: 1,
            prev_hash: d.f.chain.tip_hash(),
            sponsor: id.sponsor.public(),
        };
        let sponsor = id.sponsor.clone();
        let lot = move |miner: &str| {
            crate::lot::mine(&Keypair::from_label(miner), &chain, &t, 2, 0, 1 << 16)
                .unwrap()
                .countersign(&sponsor, &chain)
        };
        (d, id, lot)
    }

    fn drawings(out: &[Output]) -> Vec<&Drawn> {
        out.iter()
            .filter_map(|o| match o {
                Output::Event(Event::Drawn(d)) => Some(&**d),
                _ => None,
            })
            .collect()
    }

    fn late(r: Result<(), Reject>) -> bool {
        matches!(r, Err(Reject::Event(EventError::Late { .. })))
    }

    // The clock announces a cycle again (its restart, a stall): a role that has begun it keeps
    // what it gathered; an old cycle is not kept for later.
    #[test]
    fn a_cycle_announced_again_is_not_begun_again() {
        let (mut d, id, lot) = setup();
        let mut out = Vec::new();
        d.on_msg(100, id.root.public(), Msg::Lot(lot("m-early")), &mut out)
            .unwrap();
        let again = Cycle {
            height: 1,
            start: 500,
            length: L,
        };
        d.on_event(500, &Event::Cycle(again), &mut out);
        assert_eq!(d.pool.len(), 1, "the lot counted before is kept");
        assert_eq!(d.cycle.start, 0);
        d.on_event(600, &Event::Phase(1, Phase::Throttle), &mut out);
        assert_eq!(drawings(&out)[0].counted.len(), 1);
    }

    // Every lot of the cycle came after the throttle (the whole network stalled through its
    // mining window): the empty drawing is drawn again at the stall from the late lots, the
    // peers' (checked first) and its own.
    #[test]
    fn an_empty_drawing_is_drawn_again_at_the_stall_from_the_late_lots() {
        let (mut d, id, lot) = setup();
        let from = id.root.public();
        let mut out = Vec::new();
        d.on_event(600, &Event::Phase(1, Phase::Throttle), &mut out);
        assert!(drawings(&out)[0].counted.is_empty());
        // A late lot with a bad miner signature is refused for that, and not kept.
        let mut bad = lot("m-bad");
        bad.miner_sig.0[0] ^= 1;
        let r = d.on_msg(700, from, Msg::Lot(bad), &mut out);
        assert!(matches!(r, Err(Reject::Lot(_))), "{r:?}");
        // Valid late lots are still refused as late (they were not counted in time), but kept.
        assert!(late(d.on_msg(700, from, Msg::Lot(lot("m-peer")), &mut out)));
        d.on_event(800, &Event::Lot(lot("m-own")), &mut out);
        assert_eq!((d.pool.len(), d.late.len()), (0, 2));
        let mut out = Vec::new();
        d.on_event(3 * L, &Event::Phase(1, Phase::Stalled), &mut out);
        let drawn = drawings(&out);
        assert_eq!(drawn.len(), 1);
        assert_eq!(drawn[0].counted.len(), 2);
        assert_eq!(drawn[0].tree.len(), 2);
        // Drawn once: a later lot is refused unchecked, and a later stall publishes the same
        // drawing again.
        let first = drawn[0].clone();
        let mut out = Vec::new();
        assert!(late(d.on_msg(4 * L, from, Msg::Lot(lot("m-later")), &mut out)));
        d.on_event(5 * L, &Event::Phase(1, Phase::Stalled), &mut out);
        assert_eq!(drawings(&out), vec![&first]);
        assert_eq!((d.pool.len(), d.late.len()), (2, 0));
    }

    // A drawing that counted a lot in time is final: late lots are refused unchecked, never
    // kept, and the stall publishes the very same drawing again (rule 3: the tree is what came
    // before the throttle), for a trustee that restarted alone and lost it; once per cycle
    // length however many stall events come at once (a backlog read after a restart).
    #[test]
    fn a_drawing_with_lots_is_not_drawn_again() {
        let (mut d, id, lot) = setup();
        let from = id.root.public();
        let mut out = Vec::new();
        d.on_msg(100, from, Msg::Lot(lot("m-early")), &mut out).unwrap();
        d.on_event(600, &Event::Phase(1, Phase::Throttle), &mut out);
        let mut bad = lot("m-bad");
        bad.miner_sig.0[0] ^= 1;
        assert!(
            late(d.on_msg(700, from, Msg::Lot(bad), &mut out)),
            "refused before any check"
        );
        assert!(late(d.on_msg(700, from, Msg::Lot(lot("m-late")), &mut out)));
        d.on_event(800, &Event::Lot(lot("m-own")), &mut out);
        assert_eq!((d.pool.len(), d.late.len()), (1, 0));
        let at_throttle = drawings(&out)[0].clone();
        assert_eq!(at_throttle.counted.len(), 1);
        let mut out = Vec::new();
        for _ in 0..5 {
            d.on_event(3 * L, &Event::Phase(1, Phase::Stalled), &mut out);
        }
        assert_eq!(drawings(&out), vec![&at_throttle]);
        d.on_event(3 * L + L / 2, &Event::Phase(1, Phase::Stalled), &mut out);
        assert_eq!(drawings(&out).len(), 1, "paced by the cycle length");
        d.on_event(4 * L, &Event::Phase(1, Phase::Stalled), &mut out);
        assert_eq!(drawings(&out), vec![&at_throttle, &at_throttle]);
    }

    // A stall before the throttle (or of another cycle) draws nothing.
    #[test]
    fn a_stall_draws_again_only_after_the_throttle_of_its_own_cycle() {
        let (mut d, id, lot) = setup();
        let mut out = Vec::new();
        assert!(late(d.on_msg(700, id.root.public(), Msg::Lot(lot("m")), &mut out)));
        d.on_event(3 * L, &Event::Phase(1, Phase::Stalled), &mut out);
        d.on_event(600, &Event::Phase(1, Phase::Throttle), &mut out);
        d.on_event(3 * L, &Event::Phase(2, Phase::Stalled), &mut out);
        assert!(drawings(&out).iter().all(|x| x.counted.is_empty()));
        d.on_event(3 * L, &Event::Phase(1, Phase::Stalled), &mut out);
        assert_eq!(drawings(&out).last().unwrap().counted.len(), 1);
    }
}
