//! Kernel buffer: admits client transactions for the payroll slots this datacenter serves
//! (validate, ask the shell to persist, then acknowledge), hands them over when it serves no
//! slot this cycle, seals one batch per lineup address at mining close and sends it to every
//! datacenter, and learns from executed blocks what to forget and what to re-seal.

use super::follower::Follower;
use super::{Event, Output, Phase};
use crate::block::{Batch, route_order};
use crate::buffer::{Admitted, BufferError, KernelBuffer};
use crate::codec::Hash32;
use crate::crypto::{Keypair, PublicKey};
use crate::dcc::Cycle;
use crate::limits;
use crate::node::{Msg, Reject};
use crate::params::{Genesis, ParamsError};
use crate::tx::Transaction;
use std::collections::BTreeMap;

#[derive(Debug)]
pub struct KernelBufferRole {
    pub f: Follower,
    root: PublicKey,
    batch_key: Keypair,
    pub buffer: KernelBuffer,
    cycle: Cycle,
    /// Mining closed this cycle: from then on, transactions arriving at a datacenter that
    /// serves no slot are handed over at once.
    closed: bool,
}

impl KernelBufferRole {
    /// The cycle this buffer serves (the clock beacon's latest announcement it applied).
    pub fn cycle(&self) -> Cycle {
        self.cycle
    }

    pub fn new(genesis: Genesis, root: PublicKey, batch_key: Keypair) -> Result<Self, ParamsError> {
        Ok(KernelBufferRole {
            f: Follower::new(genesis)?,
            root,
            batch_key,
            buffer: KernelBuffer::default(),
            cycle: Cycle {
                height: 1,
                start: 0,
                length: 0,
            },
            closed: false,
        })
    }

    /// Puts back, after a crash, an acknowledged transaction (it must not be lost).
    pub fn restore_tx(&mut self, tx: Transaction) {
        self.buffer.restore(tx, &self.f.chain.state);
    }

    /// Puts back, after a crash, a batch this buffer sealed and that is still includable.
    pub fn restore_sealed(&mut self, b: Batch) {
        let h = self.f.chain.height() + 1;
        let expiry = self.f.chain.params().batch_expiry;
        if b.cycle + expiry >= h && !self.f.chain.state.included.contains_key(&b.digest()) {
            self.buffer.restore_sealed(b);
        }
    }

    /// Where `sender` submits now: the first slot of its route order that has an entry in
    /// the cycle this buffer admits for, as `(cycle, slot, entry)`. The same lineup
    /// [`Self::on_msg`] checks a transaction against, so a route given here is not refused as
    /// a redirect until the cycle turns.
    pub fn route(&self, sender: &PublicKey) -> Option<(u64, u32, crate::chain::LineupEntry)> {
        let c = &self.f.chain;
        let h = self.cycle.height;
        route_order(sender, c.params().payroll).find_map(|slot| c.payroll_entry(h - 1, slot).map(|e| (h, slot, e)))
    }

    fn serving(&self) -> bool {
        !self.f.chain.payroll_of(self.cycle.height - 1, &self.root).is_empty()
    }

    fn begin(&mut self, c: Cycle) {
        self.cycle = c;
        self.closed = false;
    }

    pub fn on_event(&mut self, _now: u64, ev: &Event, out: &mut Vec<Output>) {
        match ev {
            Event::Certified(cb, batches) => {
                if let Ok(Some(outcome)) = self.f.apply(cb, batches) {
                    let included: Vec<Hash32> = cb.block.batch_digests().collect();
                    let p = self.f.chain.params().clone();
                    self.buffer
                        .on_executed(cb.block.height(), &outcome.receipts, &included, &self.f.chain.state, &p);
                    if let Some(c) = self.f.released() {
                        self.begin(c);
                    }
                }
            }
            Event::Cycle(c) => {
                if let Some(c) = self.f.cycle(c) {
                    self.begin(c);
                }
            }
            Event::Phase(h, phase) if *h == self.cycle.height => match phase {
                Phase::Start => self.hand_over(out),
                Phase::MiningClose => {
                    self.closed = true;
                    self.seal(out);
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// Transactions that arrived after mining closed, at a datacenter serving no slot, leave
    /// at once.
    pub fn tick(&mut self, _now: u64, out: &mut Vec<Output>) {
        if self.closed && self.buffer.pending_len() > 0 {
            self.hand_over(out);
        }
    }

    /// Not on this cycle's payroll: hand pending transactions, at once, to the buffers their
    /// senders route to, so they make this cycle's batches. They stay held here until
    /// executed, and are handed over again if their new batch expires.
    fn hand_over(&mut self, out: &mut Vec<Output>) {
        if self.serving() {
            return;
        }
        let h = self.cycle.height;
        let p = self.f.chain.params();
        let mut by_dest: BTreeMap<PublicKey, Vec<Transaction>> = BTreeMap::new();
        for tx in self.buffer.hand_over(h) {
            let dest = route_order(&tx.sender, p.payroll).find_map(|s| self.f.chain.payroll_entry(h - 1, s));
            if let Some(e) = dest {
                by_dest.entry(e.dc).or_default().push(tx);
            }
        }
        for (to, txs) in by_dest {
            out.push(Output::Send(to, Msg::Forward(txs)));
        }
    }

    fn seal(&mut self, out: &mut Vec<Output>) {
        let h = self.cycle.height;
        let chain = &self.f.chain;
        let p = chain.params().clone();
        let slots = chain.payroll_of(h - 1, &self.root);
        // One batch per lineup address, also across a restart (the sealed ones are durable).
        if let Some(slot) = slots.first()
            && !self.buffer.sealed.values().any(|b| b.cycle == h && b.slot == *slot)
            && let Some(b) = self
                .buffer
                .seal(&self.batch_key, chain.id(), h, *slot, &chain.state, &p)
        {
            out.push(Output::PersistSigned(Box::new(Msg::Batch(b))));
        }
        // This cycle's batch, and sealed ones not yet included (a peer may have missed them).
        for b in self.buffer.sealed.values().filter(|b| b.cycle <= h) {
            out.push(Output::Event(Event::Sealed(b.clone())));
            out.push(Output::Broadcast(Msg::Batch(b.clone())));
        }
    }

    /// A client's transaction (`Msg::Tx`) or transactions handed over by a peer
    /// (`Msg::Forward`).
    pub fn on_msg(&mut self, _now: u64, _from: PublicKey, msg: Msg, out: &mut Vec<Output>) -> Result<(), Reject> {
        match msg {
            Msg::Tx { client, slot, tx } => {
                let tx_hash = tx.hash();
                let result = self.accept_tx(slot, tx, out);
                out.push(Output::Reply {
                    client,
                    tx_hash,
                    result,
                });
            }
            Msg::Forward(txs) if self.serving() => {
                let chain = &self.f.chain;
                for tx in txs.into_iter().take(limits::FORWARD_TXS) {
                    if self
                        .buffer
                        .admit(tx.clone(), chain.id(), &chain.state, chain.params())
                        .is_ok_and(|a| matches!(a, Admitted::New(_)))
                    {
                        out.push(Output::PersistTx(tx));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn accept_tx(&mut self, slot: u32, tx: Transaction, out: &mut Vec<Output>) -> Result<(), BufferError> {
        let chain = &self.f.chain;
        let h = self.cycle.height;
        let entry = chain.payroll_entry(h - 1, slot).ok_or(BufferError::NoSlot(h))?;
        if entry.dc != self.root {
            return Err(BufferError::Redirect {
                cycle: h,
                slot,
                sponsor: entry.dc,
                endpoint: entry.endpoint,
            });
        }
        match self
            .buffer
            .admit(tx.clone(), chain.id(), &chain.state, chain.params())?
        {
            Admitted::New(_) => out.push(Output::PersistTx(tx)),
            Admitted::Again(_) => {}
        }
        Ok(())
    }
}
