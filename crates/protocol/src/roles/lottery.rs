//! Lottery: evaluates the delay a drawing block must carry (rule 5) and keeps the public
//! record of rounds opened, closed and drawn, as executed by the chain it follows.

use super::follower::Follower;
use super::{Event, Output};
use crate::delay::DelayProof;
use crate::ledger::LotteryEvent;
use crate::params::{Genesis, ParamsError};

#[derive(Debug)]
pub struct Lottery {
    pub f: Follower,
    /// The delay evaluated for a height's block.
    done: Option<(u64, DelayProof)>,
    /// Every lottery event, with the height that executed it.
    pub record: Vec<(u64, LotteryEvent)>,
}

impl Lottery {
    pub fn new(genesis: Genesis) -> Result<Self, ParamsError> {
        Ok(Lottery {
            f: Follower::new(genesis)?,
            done: None,
            record: Vec::new(),
        })
    }

    pub fn on_event(&mut self, _now: u64, ev: &Event, out: &mut Vec<Output>) {
        match ev {
            Event::Certified(cb, batches) => {
                if let Ok(Some(outcome)) = self.f.apply(cb, batches) {
                    let h = cb.block.height();
                    self.record.extend(outcome.lottery.into_iter().map(|e| (h, e)));
                }
            }
            Event::Cycle(c) => {
                let h = c.height;
                let proof = match &self.done {
                    Some((at, d)) if *at == h => Some(d.clone()),
                    // Evaluated here, at the cycle's start, in one call: cheap on the devnet;
                    // a production shell starts it as soon as seed_{h-E} is certified and
                    // advances it off the protocol's thread (delay::Evaluation).
                    _ => self.f.chain.evaluate_delay(h),
                };
                if let Some(d) = proof {
                    self.done = Some((h, d.clone()));
                    out.push(Output::Event(Event::Delay(h, d)));
                }
            }
            _ => {}
        }
    }
}
