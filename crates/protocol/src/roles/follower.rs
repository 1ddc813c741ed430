//! The chain follower every role machine keeps: certified blocks in (from its own
//! datacenter's ledger, already verified), tip, seats, lineup, payroll, params and state out.

use crate::block::{Batch, CertifiedBlock};
use crate::chain::{BlockError, Chain};
use crate::ledger::ExecOutcome;
use crate::params::{Genesis, ParamsError};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Follower {
    pub chain: Chain,
}

impl Follower {
    pub fn new(genesis: Genesis) -> Result<Self, ParamsError> {
        Ok(Follower {
            chain: Chain::new(genesis)?,
        })
    }

    /// Applies block `h` if it is the next one; `Ok(None)` for one already applied (a
    /// redelivered event changes nothing).
    pub fn apply(&mut self, cb: &CertifiedBlock, batches: &[Batch]) -> Result<Option<ExecOutcome>, BlockError> {
        if cb.block.height() <= self.chain.height() {
            return Ok(None);
        }
        let store: BTreeMap<_, _> = batches.iter().map(|b| (b.digest(), b.clone())).collect();
        self.chain.follow(cb.clone(), &store).map(Some)
    }
}
