//! User transactions (ledger-entering jobs).

use crate::codec::{Canon, Hash32, tag};
use crate::crypto::{Keypair, PublicKey, SigError, Signature, verify};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxKind {
    Transfer { to: PublicKey, amount: u64 },
    BuyTicket { round: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub sender: PublicKey,
    pub nonce: u64,
    pub fee: u64,
    pub kind: TxKind,
    #[serde(with = "hex_bytes")]
    pub memo: Vec<u8>,
    pub sig: Signature,
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        hex::decode(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("transaction is {size} bytes, limit {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("transaction signature: {0}")]
    Signature(#[from] SigError),
}

impl Transaction {
    /// The signed preimage.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut c = Canon::new(tag::TX);
        c.fixed(&self.sender.0).u64(self.nonce).u64(self.fee);
        match &self.kind {
            TxKind::Transfer { to, amount } => {
                c.u8(0).fixed(&to.0).u64(*amount);
            }
            TxKind::BuyTicket { round } => {
                c.u8(1).u64(*round);
            }
        }
        c.bytes(&self.memo);
        c.finish()
    }

    /// Hash of the preimage and the signature (so a re-signed copy is a different job).
    pub fn hash(&self) -> Hash32 {
        let mut b = self.signing_bytes();
        b.extend_from_slice(&self.sig.0);
        crate::codec::sha256(&b)
    }

    pub fn size(&self) -> usize {
        self.signing_bytes().len() + 64
    }

    pub fn new(key: &Keypair, nonce: u64, fee: u64, kind: TxKind, memo: Vec<u8>) -> Self {
        let mut tx = Transaction {
            sender: key.public(),
            nonce,
            fee,
            kind,
            memo,
            sig: Signature::default(),
        };
        tx.sig = key.sign(&tx.signing_bytes());
        tx
    }

    pub fn check_size(&self, limit: usize) -> Result<(), TxError> {
        let size = self.size();
        if size > limit {
            return Err(TxError::TooLarge { size, limit });
        }
        Ok(())
    }

    pub fn verify(&self, limit: usize) -> Result<(), TxError> {
        self.check_size(limit)?;
        verify(&self.sender, &self.signing_bytes(), &self.sig)?;
        Ok(())
    }

    /// Total debit if it succeeds.
    pub fn cost(&self, ticket_price: impl Fn(u64) -> Option<u64>) -> Option<u64> {
        let v = match self.kind {
            TxKind::Transfer { amount, .. } => amount,
            TxKind::BuyTicket { round } => ticket_price(round)?,
        };
        v.checked_add(self.fee)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tx_verifies_and_limits_apply() {
        let k = Keypair::from_label("alice");
        let to = Keypair::from_label("bob").public();
        let tx = Transaction::new(&k, 0, 1, TxKind::Transfer { to, amount: 5 }, vec![]);
        tx.verify(4096).unwrap();
        let mut bad = tx.clone();
        bad.nonce = 1;
        assert!(matches!(bad.verify(4096), Err(TxError::Signature(_))));
        let big = Transaction::new(&k, 0, 1, TxKind::BuyTicket { round: 1 }, vec![0; 5000]);
        assert!(matches!(big.verify(4096), Err(TxError::TooLarge { .. })));
        assert_ne!(tx.hash(), bad.hash());
    }
}
