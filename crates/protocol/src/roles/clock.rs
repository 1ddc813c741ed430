//! Clock beacon: the decentralized clock (cycle `h` starts when block `h-1` is certified
//! here), the cycle's deadlines as [`Phase`] events, the stall timer, and the seed: this
//! datacenter publishes it when it is rank 0 of the previous lineup, and checks the one it
//! hears against that producer's VRF key.

use super::follower::Follower;
use super::held::NextCycle;
use super::{Event, Output, Phase};
use crate::crypto::{Keypair, PublicKey};
use crate::dcc::Cycle;
use crate::node::{Msg, Reject};
use crate::params::{Genesis, ParamsError};
use crate::seed::SeedAnnouncement;
use std::collections::BTreeSet;

#[derive(Debug)]
pub struct Clock {
    pub f: Follower,
    root: PublicKey,
    vrf: Keypair,
    pub cycle: Cycle,
    pub seed: Option<SeedAnnouncement>,
    done: BTreeSet<Phase>,
    next_stall: u64,
    held: NextCycle,
    /// Whether a cycle was started (a fresh clock starts one when its shell starts it).
    started: bool,
}

impl Clock {
    pub fn new(genesis: Genesis, root: PublicKey, vrf: Keypair, now: u64) -> Result<Self, ParamsError> {
        let f = Follower::new(genesis)?;
        let cycle = Cycle {
            height: 1,
            start: now,
            length: f.chain.cycle_length(),
        };
        Ok(Clock {
            f,
            root,
            vrf,
            cycle,
            seed: None,
            done: BTreeSet::new(),
            next_stall: now + 3 * cycle.length,
            held: NextCycle::default(),
            started: false,
        })
    }

    /// Starts the cycle after the chain's tip (at creation, after a restart, after a block).
    pub fn start_cycle(&mut self, now: u64, out: &mut Vec<Output>) {
        self.started = true;
        let h = self.f.chain.height() + 1;
        self.cycle = Cycle {
            height: h,
            start: now,
            length: self.f.chain.cycle_length(),
        };
        self.seed = None;
        self.done.clear();
        self.next_stall = now + 3 * self.cycle.length;
        out.push(Output::Event(Event::Cycle(self.cycle)));
        for (from, m) in self.held.take(h) {
            let _ = self.on_msg(now, from, m, out);
        }
    }

    /// Starts the first cycle if none was (a service starting on its own); a clock rebuilt
    /// from the chain announces its cycle again, as the process that died may have stored
    /// the block's effects and died before the cycle's announcement left (roles that have the
    /// cycle ignore it).
    pub fn start(&mut self, now: u64, out: &mut Vec<Output>) {
        if !self.started {
            self.start_cycle(now, out);
        } else {
            out.push(Output::Event(Event::Cycle(self.cycle)));
        }
    }

    pub fn on_event(&mut self, now: u64, ev: &Event, out: &mut Vec<Output>) {
        if let Event::Certified(cb, batches) = ev
            && let Ok(Some(_)) = self.f.apply(cb, batches)
        {
            self.start_cycle(now, out);
        }
    }

    /// The cycle's deadlines, in the order they fall.
    fn phases(&self) -> [(Phase, u64); 6] {
        let p = self.f.chain.params();
        let c = &self.cycle;
        [
            (Phase::Start, c.start),
            (Phase::Mine, c.start + c.length * p.phi_permille / 4000),
            (Phase::MiningClose, c.mining_close(p)),
            (Phase::SeedDeadline, c.seed_deadline(p)),
            (
                Phase::BackupMicro,
                c.seed_deadline(p) + c.length * p.delta_permille / 4000,
            ),
            (Phase::Throttle, c.throttle(p)),
        ]
    }

    pub fn tick(&mut self, now: u64, out: &mut Vec<Output>) {
        let h = self.cycle.height;
        for (phase, at) in self.phases() {
            if now >= at && self.done.insert(phase) {
                if phase == Phase::MiningClose && self.is_seed_producer() {
                    self.publish_seed(out);
                }
                out.push(Output::Event(Event::Phase(h, phase)));
            }
        }
        if now >= self.next_stall {
            self.next_stall = now + 2 * self.cycle.length;
            // The cycle and its seed are announced once; a role that restarted alone (lot
            // drawing, the trustee) lost them, and a partition may have swallowed the seed.
            out.push(Output::Event(Event::Cycle(self.cycle)));
            if let Some(a) = &self.seed {
                out.push(Output::Broadcast(Msg::Seed(a.clone())));
                out.push(Output::Event(Event::Seed(a.clone())));
            }
            out.push(Output::Event(Event::Phase(h, Phase::Stalled)));
        }
    }

    pub fn deadline(&self) -> u64 {
        self.phases()
            .iter()
            .filter(|(k, _)| !self.done.contains(k))
            .map(|x| x.1)
            .chain([self.next_stall])
            .min()
            .expect("stall deadline")
    }

    fn is_seed_producer(&self) -> bool {
        self.f.chain.lineup(self.cycle.height - 1, 0).map(|e| e.dc) == Some(self.root)
    }

    fn publish_seed(&mut self, out: &mut Vec<Output>) {
        let h = self.cycle.height;
        let a = SeedAnnouncement::produce(&self.vrf, self.f.chain.id(), &self.f.chain.seeds[h as usize - 1], h);
        self.seed = Some(a.clone());
        out.push(Output::Broadcast(Msg::Seed(a.clone())));
        out.push(Output::Event(Event::Seed(a)));
    }

    /// A seed announcement from a peer.
    pub fn on_msg(&mut self, _now: u64, from: PublicKey, msg: Msg, out: &mut Vec<Output>) -> Result<(), Reject> {
        let Msg::Seed(a) = msg else {
            return Ok(());
        };
        let h = self.cycle.height;
        if a.height > h {
            // Its proof is checked against seed_h, not known yet; one per sender anyway.
            let registered = self.f.chain.state.dc_of(&from).is_some();
            return self.held.hold(h + 1, from, registered, true, Msg::Seed(a));
        }
        if a.height < h {
            return Err(Reject::Stale);
        }
        let producer = self.f.chain.seed_producer(h).ok_or(Reject::Rank(0))?;
        if self.seed.is_some() {
            return Ok(());
        }
        a.verify(self.f.chain.id(), &self.f.chain.seeds[h as usize - 1], &producer)?;
        self.seed = Some(a.clone());
        out.push(Output::Event(Event::Seed(a)));
        Ok(())
    }

    pub fn held_len(&self) -> usize {
        self.held.len()
    }
    /// A restart: what was held in memory is gone.
    pub fn forget(&mut self) {
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Identity;

    // The seed is announced once at mining close; at each stall it goes out again, to the
    // peers and on the bus (lot drawing and the trustee, restarted alone, lost it).
    #[test]
    fn a_stall_announces_the_seed_again() {
        let id = Identity::from_label("clock-test/dc0");
        let g = Genesis::solo(&id, vec![]);
        let l0 = g.params.l0_ms;
        let mut c = Clock::new(g, id.root.public(), id.vrf.clone(), 0).unwrap();
        let mut out = Vec::new();
        c.start(0, &mut out);
        c.tick(l0 / 2, &mut out);
        let seed = c
            .seed
            .clone()
            .expect("the genesis seed producer publishes at mining close");
        let seeds = |out: &[Output]| {
            out.iter()
                .filter(|o| matches!(o, Output::Event(Event::Seed(a)) if *a == seed))
                .count()
        };
        assert_eq!(seeds(&out), 1);
        let mut out = Vec::new();
        c.tick(3 * l0, &mut out);
        assert!(out.contains(&Output::Event(Event::Phase(1, Phase::Stalled))));
        assert_eq!(seeds(&out), 1);
        assert!(out.contains(&Output::Broadcast(Msg::Seed(seed.clone()))));
        // The cycle goes out again too, before the seed (lot drawing takes a seed of its
        // cycle only).
        let cycle = out.iter().position(|o| *o == Output::Event(Event::Cycle(c.cycle)));
        let seed_at = out.iter().position(|o| matches!(o, Output::Event(Event::Seed(_))));
        assert!(cycle.is_some() && cycle < seed_at, "{out:?}");
    }

    // A clock rebuilt from the chain (its process killed after the block's effects were
    // stored, before the cycle's announcement left) announces its cycle when it starts.
    #[test]
    fn a_rebuilt_clock_announces_its_cycle_when_it_starts() {
        let id = Identity::from_label("clock-test/dc0");
        let g = Genesis::solo(&id, vec![]);
        let mut c = Clock::new(g, id.root.public(), id.vrf.clone(), 0).unwrap();
        // Recovery's outputs are dropped.
        c.start_cycle(0, &mut Vec::new());
        let mut out = Vec::new();
        c.start(10, &mut out);
        assert_eq!(out, vec![Output::Event(Event::Cycle(c.cycle))]);
    }
}
