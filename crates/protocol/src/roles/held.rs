//! Messages held for the next cycle (rule 8): only height h+1, only from a registered
//! datacenter, only once verified, within per-sender and total bounds. Each role keeps its
//! own, for the messages it handles.

use crate::crypto::PublicKey;
use crate::limits;
use crate::node::{Msg, Reject};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct NextCycle {
    held: Vec<(PublicKey, Msg)>,
    /// How many each sender has: checked on every message a peer sends ahead.
    from: BTreeMap<PublicKey, usize>,
}

impl NextCycle {
    /// Holds `m` (which the caller verified: `signed`) from `from` for cycle `next`. Always
    /// returns an error: `Future` when held, else why not. Nothing is silently dropped.
    pub fn hold(&mut self, next: u64, from: PublicKey, registered: bool, signed: bool, m: Msg) -> Result<(), Reject> {
        let mh = m.height().unwrap_or(next);
        if mh > next {
            return Err(Reject::FarFuture(mh));
        }
        if !registered {
            return Err(Reject::UnknownPeer);
        }
        if !signed {
            return Err(Reject::Signature);
        }
        let mine = self.from.get(&from).copied().unwrap_or(0);
        if mine >= limits::NEXT_CYCLE_PER_PEER {
            return Err(Reject::Busy("next-cycle messages", limits::NEXT_CYCLE_PER_PEER));
        }
        if self.held.len() >= limits::NEXT_CYCLE_TOTAL {
            return Err(Reject::Busy(
                "next-cycle messages (all peers)",
                limits::NEXT_CYCLE_TOTAL,
            ));
        }
        *self.from.entry(from).or_insert(0) += 1;
        self.held.push((from, m));
        Err(Reject::Future)
    }

    /// The messages held for cycle `h`, which has begun (only the next cycle is ever held, so
    /// anything else is stale).
    pub fn take(&mut self, h: u64) -> Vec<(PublicKey, Msg)> {
        self.from.clear();
        std::mem::take(&mut self.held)
            .into_iter()
            .filter(|(_, m)| m.height() == Some(h))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
    pub fn clear(&mut self) {
        self.held.clear();
        self.from.clear();
    }
}
