//! The kernel buffer of a payroll slot: admits user transactions, makes them durable before
//! acknowledging them, seals batches, and keeps every acknowledged transaction until it is
//! executed (re-pooling it if its batch expires or it ran ahead of its nonce).

use crate::block::Batch;
use crate::codec::{ChainId, Hash32};
use crate::crypto::{Keypair, PublicKey};
use crate::ledger::{Receipt, State, TxOutcome};
use crate::params::Params;
use crate::tx::{Transaction, TxError};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BufferError {
    #[error("transaction rejected: {0}")]
    Invalid(#[from] TxError),
    #[error("nonce {got} is outside the window [{low}, {high})")]
    NonceWindow { got: u64, low: u64, high: u64 },
    #[error("another transaction with sender nonce {0} is already accepted")]
    NonceTaken(u64),
    #[error("this buffer does not serve slot {slot} in cycle {cycle}; try {endpoint}")]
    Redirect {
        cycle: u64,
        slot: u32,
        sponsor: PublicKey,
        endpoint: String,
    },
    #[error("no payroll slot is known for cycle {0}")]
    NoSlot(u64),
}

/// What the shell must do with an admitted transaction before it answers the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admitted {
    /// New: persist it, then acknowledge.
    New(Hash32),
    /// A replay of an already accepted transaction: acknowledge again, nothing to persist.
    Again(Hash32),
}

#[derive(Debug, Clone)]
struct Held {
    tx: Transaction,
    /// The cycle of the batch it was last sealed in.
    sealed: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct KernelBuffer {
    held: BTreeMap<Hash32, Held>,
    by_nonce: BTreeMap<(PublicKey, u64), Hash32>,
    pending: BTreeSet<(PublicKey, u64, Hash32)>,
    /// Own sealed batches not yet seen included (to resend).
    pub sealed: BTreeMap<Hash32, Batch>,
}

impl KernelBuffer {
    /// Checks size, signature, nonce window and duplicates.
    pub fn admit(
        &mut self,
        tx: Transaction,
        chain: &ChainId,
        state: &State,
        p: &Params,
    ) -> Result<Admitted, BufferError> {
        tx.verify(chain, p.max_tx_bytes)?;
        let h = tx.hash();
        if self.held.contains_key(&h) {
            return Ok(Admitted::Again(h));
        }
        let low = state.account(&tx.sender).nonce;
        let high = low + p.nonce_window;
        if tx.nonce < low || tx.nonce >= high {
            return Err(BufferError::NonceWindow {
                got: tx.nonce,
                low,
                high,
            });
        }
        if self.by_nonce.contains_key(&(tx.sender, tx.nonce)) {
            return Err(BufferError::NonceTaken(tx.nonce));
        }
        self.by_nonce.insert((tx.sender, tx.nonce), h);
        self.pending.insert((tx.sender, tx.nonce, h));
        self.held.insert(h, Held { tx, sealed: None });
        Ok(Admitted::New(h))
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }
    pub fn held_len(&self) -> usize {
        self.held.len()
    }
    pub fn holds(&self, h: &Hash32) -> bool {
        self.held.contains_key(h)
    }

    /// Seals the pending transactions (by sender, then nonce) into a batch for `(cycle, slot)`.
    pub fn seal(&mut self, key: &Keypair, chain: &ChainId, cycle: u64, slot: u32, p: &Params) -> Option<Batch> {
        if self.pending.is_empty() {
            return None;
        }
        let mut txs = Vec::new();
        let mut size = 0;
        let mut taken = Vec::new();
        for entry in &self.pending {
            let held = self.held.get_mut(&entry.2).expect("pending is held");
            let s = held.tx.size();
            if size + s > p.max_batch_bytes {
                break;
            }
            size += s;
            held.sealed = Some(cycle);
            txs.push(held.tx.clone());
            taken.push(*entry);
        }
        for e in taken {
            self.pending.remove(&e);
        }
        let b = Batch::seal(key, chain, cycle, slot, txs);
        self.sealed.insert(b.digest(), b.clone());
        Some(b)
    }

    /// Takes the pending transactions to hand to another buffer; they count as sealed in
    /// `cycle`, so they are re-pooled if still unexecuted after the batch expiry.
    pub fn hand_over(&mut self, cycle: u64) -> Vec<Transaction> {
        let mut out = Vec::new();
        for (_, _, h) in std::mem::take(&mut self.pending) {
            let held = self.held.get_mut(&h).expect("pending is held");
            held.sealed = Some(cycle);
            out.push(held.tx.clone());
        }
        out
    }

    fn forget(&mut self, h: &Hash32) {
        if let Some(x) = self.held.remove(h) {
            self.by_nonce.remove(&(x.tx.sender, x.tx.nonce));
            self.pending.remove(&(x.tx.sender, x.tx.nonce, *h));
        }
    }

    fn repool(&mut self, h: Hash32) {
        if let Some(x) = self.held.get_mut(&h) {
            x.sealed = None;
            self.pending.insert((x.tx.sender, x.tx.nonce, h));
        }
    }

    /// Learns the outcome of certified block `height`: executed transactions are released,
    /// those that ran ahead of their nonce and those whose batch expired are re-pooled.
    pub fn on_executed(&mut self, height: u64, receipts: &[Receipt], included: &[Hash32], state: &State, p: &Params) {
        for d in included {
            self.sealed.remove(d);
        }
        for r in receipts {
            if !self.held.contains_key(&r.tx_hash) {
                continue;
            }
            match r.outcome {
                TxOutcome::BadNonce { expected, got } if got > expected => self.repool(r.tx_hash),
                _ => self.forget(&r.tx_hash),
            }
        }
        // A transaction whose nonce is now behind the account was superseded.
        let stale: Vec<Hash32> = self
            .held
            .iter()
            .filter(|(_, x)| x.tx.nonce < state.account(&x.tx.sender).nonce)
            .map(|(h, _)| *h)
            .collect();
        for h in stale {
            self.forget(&h);
        }
        let expired: Vec<Hash32> = self
            .held
            .iter()
            .filter(|(_, x)| x.sealed.is_some_and(|c| c + p.batch_expiry < height))
            .map(|(h, _)| *h)
            .collect();
        for h in expired {
            self.repool(h);
        }
        self.sealed.retain(|_, b| b.cycle + p.batch_expiry >= height);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Receipt;
    use crate::params::{Genesis, Identity};
    use crate::tx::TxKind;

    const C: ChainId = Hash32([0xc4; 32]);

    fn setup() -> (State, Params, Keypair) {
        let alice = Keypair::from_label("alice");
        let g = Genesis::solo(&Identity::from_label("dc"), vec![(alice.public(), 1_000)]);
        (State::genesis(&g), g.params, alice)
    }

    #[test]
    fn admit_checks_and_replays_are_idempotent() {
        let (s, p, alice) = setup();
        let to = Keypair::from_label("bob").public();
        let mut b = KernelBuffer::default();
        let t0 = Transaction::new(&alice, &C, 0, 1, TxKind::Transfer { to, amount: 1 }, vec![]);
        assert!(matches!(b.admit(t0.clone(), &C, &s, &p), Ok(Admitted::New(_))));
        assert!(matches!(b.admit(t0.clone(), &C, &s, &p), Ok(Admitted::Again(_))));
        let other0 = Transaction::new(&alice, &C, 0, 2, TxKind::Transfer { to, amount: 1 }, vec![]);
        assert_eq!(b.admit(other0, &C, &s, &p), Err(BufferError::NonceTaken(0)));
        let far = Transaction::new(&alice, &C, 1000, 1, TxKind::Transfer { to, amount: 1 }, vec![]);
        assert!(matches!(b.admit(far, &C, &s, &p), Err(BufferError::NonceWindow { .. })));
        let mut forged = t0.clone();
        forged.fee = 0;
        assert!(matches!(b.admit(forged, &C, &s, &p), Err(BufferError::Invalid(_))));
        let big = Transaction::new(&alice, &C, 1, 1, TxKind::Transfer { to, amount: 1 }, vec![0; 5000]);
        assert!(matches!(
            b.admit(big, &C, &s, &p),
            Err(BufferError::Invalid(TxError::TooLarge { .. }))
        ));
        assert_eq!(b.held_len(), 1);
    }

    #[test]
    fn acknowledged_txs_are_kept_until_executed_and_repooled_on_expiry() {
        let (s, p, alice) = setup();
        let to = Keypair::from_label("bob").public();
        let key = Keypair::from_label("dc");
        let mut b = KernelBuffer::default();
        let t0 = Transaction::new(&alice, &C, 0, 1, TxKind::Transfer { to, amount: 1 }, vec![]);
        let t1 = Transaction::new(&alice, &C, 1, 1, TxKind::Transfer { to, amount: 1 }, vec![]);
        b.admit(t0.clone(), &C, &s, &p).unwrap();
        b.admit(t1.clone(), &C, &s, &p).unwrap();
        let batch = b.seal(&key, &C, 5, 0, &p).expect("batch");
        assert_eq!(batch.txs, vec![t0.clone(), t1.clone()]);
        assert_eq!(b.pending_len(), 0);
        // The batch never made it into a block: past the expiry both are pooled again.
        b.on_executed(5 + p.batch_expiry + 1, &[], &[], &s, &p);
        assert_eq!(b.pending_len(), 2);
        // t1 ran ahead of its nonce: re-pooled; t0 executed: released.
        let rs = vec![
            Receipt {
                tx_hash: t1.hash(),
                outcome: TxOutcome::BadNonce { expected: 0, got: 1 },
            },
            Receipt {
                tx_hash: t0.hash(),
                outcome: TxOutcome::Ok,
            },
        ];
        b.seal(&key, &C, 20, 0, &p).unwrap();
        b.on_executed(20, &rs, &[], &s, &p);
        assert!(!b.holds(&t0.hash()));
        assert!(b.holds(&t1.hash()));
        assert_eq!(b.pending_len(), 1);
    }
}
