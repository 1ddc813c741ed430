//! User transactions (ledger-entering jobs).

use crate::codec::{Canon, ChainId, Hash32, tag};
use crate::crypto::{Keypair, PublicKey, SigError, Signature, verify};
use serde::{Deserialize, Serialize};

/// The role keys a datacenter's root key certifies by registering (rule 1). Each role signs
/// only its own kind of statement, and the VRF key is its own key (rule 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleKeys {
    /// Signs prevotes, precommits and proposals.
    pub vote: PublicKey,
    /// Produces seeds (RFC 9381 ECVRF key).
    pub vrf: PublicKey,
    /// Signs kernel-buffer batches.
    pub batch: PublicKey,
    /// Signs MicroBlocks.
    pub micro: PublicKey,
    /// Countersigns the lots the datacenter sponsors.
    pub sponsor: PublicKey,
}

impl RoleKeys {
    pub fn all(&self) -> [PublicKey; 5] {
        [self.vote, self.vrf, self.batch, self.micro, self.sponsor]
    }
    pub fn put(&self, c: &mut Canon) {
        for k in self.all() {
            c.fixed(&k.0);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxKind {
    Transfer {
        to: PublicKey,
        amount: u64,
    },
    BuyTicket {
        round: u64,
    },
    /// Registers the sender as a datacenter (its root key), bonding `bond` from its balance.
    Register {
        keys: RoleKeys,
        endpoint: String,
        bond: u64,
    },
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
    /// The body: every field but the signature, in canonical order.
    fn put_body(&self, c: &mut Canon) {
        c.fixed(&self.sender.0).u64(self.nonce).u64(self.fee);
        match &self.kind {
            TxKind::Transfer { to, amount } => {
                c.u8(0).fixed(&to.0).u64(*amount);
            }
            TxKind::BuyTicket { round } => {
                c.u8(1).u64(*round);
            }
            TxKind::Register { keys, endpoint, bond } => {
                c.u8(2);
                keys.put(c);
                c.bytes(endpoint.as_bytes()).u64(*bond);
            }
        }
        c.bytes(&self.memo);
    }

    /// The signed preimage: `Canon::signed("daoli/v2/tx", chain) || body`.
    pub fn signing_bytes(&self, chain: &ChainId) -> Vec<u8> {
        let mut c = Canon::signed(tag::TX, chain);
        self.put_body(&mut c);
        c.finish()
    }

    /// `H("daoli/v2/tx-id" || body || sig)`: the signature is in, so a re-signed copy is a
    /// different job; the chain id is not needed, the signature already binds it.
    pub fn hash(&self) -> Hash32 {
        let mut c = Canon::new(tag::TX_ID);
        self.put_body(&mut c);
        c.fixed(&self.sig.0);
        c.hash()
    }

    /// Size counted against the limits: the body's canonical bytes plus the signature.
    pub fn size(&self) -> usize {
        let mut c = Canon::default();
        self.put_body(&mut c);
        c.finish().len() + 64
    }

    pub fn new(key: &Keypair, chain: &ChainId, nonce: u64, fee: u64, kind: TxKind, memo: Vec<u8>) -> Self {
        let mut tx = Transaction {
            sender: key.public(),
            nonce,
            fee,
            kind,
            memo,
            sig: Signature::default(),
        };
        tx.sig = key.sign(&tx.signing_bytes(chain));
        tx
    }

    pub fn check_size(&self, limit: usize) -> Result<(), TxError> {
        let size = self.size();
        if size > limit {
            return Err(TxError::TooLarge { size, limit });
        }
        Ok(())
    }

    pub fn verify(&self, chain: &ChainId, limit: usize) -> Result<(), TxError> {
        self.check_size(limit)?;
        verify(&self.sender, &self.signing_bytes(chain), &self.sig)?;
        Ok(())
    }

    /// Total debit if it succeeds.
    pub fn cost(&self, ticket_price: impl Fn(u64) -> Option<u64>) -> Option<u64> {
        let v = match self.kind {
            TxKind::Transfer { amount, .. } => amount,
            TxKind::BuyTicket { round } => ticket_price(round)?,
            TxKind::Register { bond, .. } => bond,
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
        let chain = Hash32([1; 32]);
        let tx = Transaction::new(&k, &chain, 0, 1, TxKind::Transfer { to, amount: 5 }, vec![]);
        tx.verify(&chain, 4096).unwrap();
        let mut bad = tx.clone();
        bad.nonce = 1;
        assert!(matches!(bad.verify(&chain, 4096), Err(TxError::Signature(_))));
        let big = Transaction::new(&k, &chain, 0, 1, TxKind::BuyTicket { round: 1 }, vec![0; 5000]);
        assert!(matches!(big.verify(&chain, 4096), Err(TxError::TooLarge { .. })));
        assert_ne!(tx.hash(), bad.hash());
        // Signed for one network, refused on another (rule 7: nothing replays across chains).
        assert!(matches!(tx.verify(&Hash32([2; 32]), 4096), Err(TxError::Signature(_))));
    }
}
