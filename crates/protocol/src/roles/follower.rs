//! The chain follower every role machine keeps: certified blocks in (from its own
//! datacenter's ledger, already verified), tip, seats, lineup, payroll, params and state out.

use crate::block::{Batch, CertifiedBlock};
use crate::chain::{BlockError, Chain};
use crate::dcc::Cycle;
use crate::ledger::ExecOutcome;
use crate::params::{Genesis, ParamsError};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Follower {
    pub chain: Chain,
    /// A cycle announced before this role applied the block that starts it (another
    /// service's view can be a step ahead): handed over once that block is applied.
    pending_cycle: Option<Cycle>,
    /// The height of the cycle this role began: the clock announces a cycle again (after its
    /// own restart, at a stall) for roles that lost it, and one that has it must not begin it
    /// again (that would drop its lots, its I-BFT round).
    begun: Option<u64>,
}

impl Follower {
    pub fn new(genesis: Genesis) -> Result<Self, ParamsError> {
        Ok(Follower {
            chain: Chain::new(genesis)?,
            pending_cycle: None,
            begun: None,
        })
    }

    /// A cycle announcement: `Some` if it can begin now (the block that starts it is applied);
    /// otherwise it is kept until [`Follower::released`] hands it over. `None` as well for a
    /// cycle already begun.
    pub fn cycle(&mut self, c: &Cycle) -> Option<Cycle> {
        if self.begun == Some(c.height) {
            None
        } else if c.height == self.chain.height() + 1 {
            self.begun = Some(c.height);
            Some(*c)
        } else {
            // One ahead of this role's chain is kept; an old one (announced again) is not.
            if c.height > self.chain.height() {
                self.pending_cycle = Some(*c);
            }
            None
        }
    }

    /// A crash in the simulator's sense (the role object is kept, what it held is lost): the
    /// next announcement of a cycle begins it again.
    pub fn forget_cycle(&mut self) {
        self.begun = None;
        self.pending_cycle = None;
    }

    /// The kept cycle that can begin now that its block is applied (call after
    /// [`Follower::apply`]).
    pub fn released(&mut self) -> Option<Cycle> {
        let next = self.chain.height() + 1;
        let c = self.pending_cycle.take_if(|c| c.height == next)?;
        self.begun = Some(c.height);
        Some(c)
    }

    /// Applies block `h` if it is the next one; `Ok(None)` for one already applied (a
    /// redelivered event changes nothing).
    pub fn apply(&mut self, cb: &CertifiedBlock, batches: &[Batch]) -> Result<Option<ExecOutcome>, BlockError> {
        if cb.block.height() <= self.chain.height() {
            return Ok(None);
        }
        let store: BTreeMap<_, &Batch> = batches.iter().map(|b| (b.digest(), b)).collect();
        self.chain.follow(cb.clone(), &store).map(Some)
    }
}
