//! The values the `Client` service carries, typed: requests as the core's objects, replies as
//! the core's `BufferError` or small structs where the core has no type.

use crate::convert::{hash, key, required, usize_of};
use crate::error::WireError;
use crate::limits;
use crate::peer::{certified_from_pb, certified_to_pb};
use crate::proto as pb;
use daoli_protocol::block::{Batch, CertifiedBlock};
use daoli_protocol::buffer::BufferError;
use daoli_protocol::codec::{ChainId, Hash32};
use daoli_protocol::crypto::{PublicKey, SigError, Signature};
use daoli_protocol::lot::Lot;
use daoli_protocol::tx::{Transaction, TxError};

/// `SubmitTx`: a transaction for payroll slot `slot` of the latest certified block the client
/// knows (`node::Msg::Tx` without the shell's client id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitTx {
    pub tx: Transaction,
    pub slot: u32,
}

impl From<&SubmitTx> for pb::SubmitTxRequest {
    fn from(s: &SubmitTx) -> Self {
        pb::SubmitTxRequest {
            tx: Some((&s.tx).into()),
            slot: s.slot,
        }
    }
}

impl TryFrom<pb::SubmitTxRequest> for SubmitTx {
    type Error = WireError;
    fn try_from(p: pb::SubmitTxRequest) -> Result<Self, WireError> {
        Ok(SubmitTx {
            tx: required("SubmitTxRequest.tx", p.tx)?.try_into()?,
            slot: p.slot,
        })
    }
}

/// A kernel buffer's answer to a submitted transaction (`node::Output::Reply`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxReply {
    pub tx_hash: Hash32,
    pub result: Result<(), BufferError>,
}

impl From<&TxReply> for pb::SubmitTxReply {
    fn from(r: &TxReply) -> Self {
        use pb::submit_tx_reply::Result as R;
        pb::SubmitTxReply {
            tx_hash: r.tx_hash.0.to_vec(),
            result: Some(match &r.result {
                Ok(()) => R::Accepted(pb::Accepted {}),
                Err(e) => R::Refused(e.into()),
            }),
        }
    }
}

impl TryFrom<pb::SubmitTxReply> for TxReply {
    type Error = WireError;
    fn try_from(p: pb::SubmitTxReply) -> Result<Self, WireError> {
        use pb::submit_tx_reply::Result as R;
        Ok(TxReply {
            tx_hash: hash("SubmitTxReply.tx_hash", p.tx_hash)?,
            result: match required("SubmitTxReply.result", p.result)? {
                R::Accepted(_) => Ok(()),
                R::Refused(r) => Err(r.try_into()?),
            },
        })
    }
}

impl From<&SigError> for pb::SignatureError {
    fn from(e: &SigError) -> Self {
        use pb::SignatureFailure as F;
        let (failure, batch_len) = match e {
            SigError::BadKey => (F::BadKey, 0),
            SigError::Malformed => (F::Malformed, 0),
            SigError::BadSignature => (F::BadSignature, 0),
            SigError::BadBatch(n) => (F::BadBatch, *n as u64),
        };
        pb::SignatureError {
            failure: failure as i32,
            batch_len,
        }
    }
}

impl TryFrom<pb::SignatureError> for SigError {
    type Error = WireError;
    fn try_from(p: pb::SignatureError) -> Result<Self, WireError> {
        use pb::SignatureFailure as F;
        const FIELD: &str = "SignatureError.failure";
        match F::try_from(p.failure) {
            Ok(F::BadKey) => Ok(SigError::BadKey),
            Ok(F::Malformed) => Ok(SigError::Malformed),
            Ok(F::BadSignature) => Ok(SigError::BadSignature),
            Ok(F::BadBatch) => Ok(SigError::BadBatch(usize_of("SignatureError.batch_len", p.batch_len)?)),
            Ok(F::Unspecified) => Err(WireError::Missing { field: FIELD }),
            Err(_) => Err(WireError::UnknownEnum {
                field: FIELD,
                value: p.failure.into(),
            }),
        }
    }
}

/// A lineup address `(cycle, slot)` and the datacenter serving it: `Route`'s answer and
/// `BufferError::Redirect`'s content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayrollRoute {
    pub cycle: u64,
    pub slot: u32,
    pub sponsor: PublicKey,
    pub endpoint: String,
}

impl From<&PayrollRoute> for pb::PayrollRoute {
    fn from(r: &PayrollRoute) -> Self {
        pb::PayrollRoute {
            cycle: r.cycle,
            slot: r.slot,
            sponsor: r.sponsor.0.to_vec(),
            endpoint: r.endpoint.clone(),
        }
    }
}

impl TryFrom<pb::PayrollRoute> for PayrollRoute {
    type Error = WireError;
    fn try_from(p: pb::PayrollRoute) -> Result<Self, WireError> {
        Ok(PayrollRoute {
            cycle: p.cycle,
            slot: p.slot,
            sponsor: key("PayrollRoute.sponsor", p.sponsor)?,
            endpoint: p.endpoint,
        })
    }
}

impl From<&PayrollRoute> for pb::RouteReply {
    fn from(r: &PayrollRoute) -> Self {
        pb::RouteReply { route: Some(r.into()) }
    }
}

impl TryFrom<pb::RouteReply> for PayrollRoute {
    type Error = WireError;
    fn try_from(p: pb::RouteReply) -> Result<Self, WireError> {
        required("RouteReply.route", p.route)?.try_into()
    }
}

impl TryFrom<pb::RouteRequest> for PublicKey {
    type Error = WireError;
    fn try_from(p: pb::RouteRequest) -> Result<Self, WireError> {
        key("RouteRequest.sender", p.sender)
    }
}

impl TryFrom<pb::AccountRequest> for PublicKey {
    type Error = WireError;
    fn try_from(p: pb::AccountRequest) -> Result<Self, WireError> {
        key("AccountRequest.key", p.key)
    }
}

/// `Account`: an account in the state after certified block `height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountStatus {
    pub height: u64,
    /// Base units.
    pub balance: u64,
    /// The next nonce: the account's transactions below it are executed.
    pub nonce: u64,
}

impl From<&AccountStatus> for pb::AccountReply {
    fn from(a: &AccountStatus) -> Self {
        pb::AccountReply {
            height: a.height,
            balance: a.balance,
            nonce: a.nonce,
        }
    }
}

impl TryFrom<pb::AccountReply> for AccountStatus {
    type Error = WireError;
    fn try_from(p: pb::AccountReply) -> Result<Self, WireError> {
        Ok(AccountStatus {
            height: p.height,
            balance: p.balance,
            nonce: p.nonce,
        })
    }
}

impl From<&BufferError> for pb::TxRefusal {
    /// The reason is the error's text, cut to [`limits::MAX_REASON_BYTES`].
    fn from(e: &BufferError) -> Self {
        use pb::tx_refusal::Kind as K;
        let kind = match e {
            BufferError::Invalid(TxError::TooLarge { size, limit }) => K::TooLarge(pb::TxTooLarge {
                size_bytes: *size as u64,
                limit_bytes: *limit as u64,
            }),
            BufferError::Invalid(TxError::Signature(s)) => K::BadSignature(s.into()),
            BufferError::NonceWindow { got, low, high } => K::NonceWindow(pb::NonceWindow {
                got: *got,
                low: *low,
                high: *high,
            }),
            BufferError::NonceTaken(n) => K::NonceTaken(*n),
            BufferError::Redirect {
                cycle,
                slot,
                sponsor,
                endpoint,
            } => K::Redirect(pb::PayrollRoute {
                cycle: *cycle,
                slot: *slot,
                sponsor: sponsor.0.to_vec(),
                endpoint: endpoint.clone(),
            }),
            BufferError::NoSlot(c) => K::NoSlot(*c),
            BufferError::CannotPay { balance, owed } => K::CannotPay(pb::CannotPay {
                balance: *balance,
                owed: *owed,
            }),
            BufferError::Full(n) => K::Full(*n as u64),
        };
        pb::TxRefusal {
            reason: limits::reason(e.to_string()),
            kind: Some(kind),
        }
    }
}

impl TryFrom<pb::TxRefusal> for BufferError {
    type Error = WireError;
    /// From the typed kind; the human reason is not needed (it is this error's text).
    fn try_from(p: pb::TxRefusal) -> Result<Self, WireError> {
        use pb::tx_refusal::Kind as K;
        Ok(match required("TxRefusal.kind", p.kind)? {
            K::TooLarge(t) => BufferError::Invalid(TxError::TooLarge {
                size: usize_of("TxTooLarge.size_bytes", t.size_bytes)?,
                limit: usize_of("TxTooLarge.limit_bytes", t.limit_bytes)?,
            }),
            K::BadSignature(s) => BufferError::Invalid(TxError::Signature(s.try_into()?)),
            K::NonceWindow(w) => BufferError::NonceWindow {
                got: w.got,
                low: w.low,
                high: w.high,
            },
            K::NonceTaken(n) => BufferError::NonceTaken(n),
            K::Redirect(r) => {
                let r = PayrollRoute::try_from(r)?;
                BufferError::Redirect {
                    cycle: r.cycle,
                    slot: r.slot,
                    sponsor: r.sponsor,
                    endpoint: r.endpoint,
                }
            }
            K::NoSlot(c) => BufferError::NoSlot(c),
            K::CannotPay(c) => BufferError::CannotPay {
                balance: c.balance,
                owed: c.owed,
            },
            K::Full(n) => BufferError::Full(usize_of("TxRefusal.full", n)?),
        })
    }
}

impl TryFrom<pb::TxStatusRequest> for Hash32 {
    type Error = WireError;
    fn try_from(p: pb::TxStatusRequest) -> Result<Self, WireError> {
        hash("TxStatusRequest.tx_hash", p.tx_hash)
    }
}

/// Where a transaction stands, as one kernel buffer and its ledger know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxStatus {
    Unknown,
    /// Acknowledged, not yet executed.
    Pending,
    Executed {
        height: u64,
        success: bool,
        /// Why it failed, for humans; empty on success.
        outcome: String,
    },
}

impl From<&TxStatus> for pb::TxStatusReply {
    fn from(s: &TxStatus) -> Self {
        use pb::tx_status_reply::Status as S;
        pb::TxStatusReply {
            status: Some(match s {
                TxStatus::Unknown => S::Unknown(pb::Unknown {}),
                TxStatus::Pending => S::Pending(pb::Pending {}),
                TxStatus::Executed {
                    height,
                    success,
                    outcome,
                } => S::Executed(pb::Executed {
                    height: *height,
                    success: *success,
                    outcome: limits::reason(outcome.as_str()),
                }),
            }),
        }
    }
}

impl TryFrom<pb::TxStatusReply> for TxStatus {
    type Error = WireError;
    fn try_from(p: pb::TxStatusReply) -> Result<Self, WireError> {
        use pb::tx_status_reply::Status as S;
        Ok(match required("TxStatusReply.status", p.status)? {
            S::Unknown(_) => TxStatus::Unknown,
            S::Pending(_) => TxStatus::Pending,
            S::Executed(e) => TxStatus::Executed {
                height: e.height,
                success: e.success,
                outcome: e.outcome,
            },
        })
    }
}

/// The chain as one datacenter sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainStatus {
    /// Height of the latest certified block.
    pub height: u64,
    /// Hash of that block.
    pub tip_hash: Hash32,
    /// State root after executing it.
    pub state_root: Hash32,
    /// The cycle now under way.
    pub cycle_height: u64,
    /// Its start, UTC milliseconds.
    pub cycle_start_ms: u64,
    /// Trustee seats `n` of that cycle.
    pub seats: u64,
    pub chain_id: ChainId,
}

impl From<&ChainStatus> for pb::ChainStatusReply {
    fn from(s: &ChainStatus) -> Self {
        pb::ChainStatusReply {
            height: s.height,
            tip_hash: s.tip_hash.0.to_vec(),
            state_root: s.state_root.0.to_vec(),
            cycle_height: s.cycle_height,
            cycle_start_ms: s.cycle_start_ms,
            seats: s.seats,
            chain_id: s.chain_id.0.to_vec(),
        }
    }
}

impl TryFrom<pb::ChainStatusReply> for ChainStatus {
    type Error = WireError;
    fn try_from(p: pb::ChainStatusReply) -> Result<Self, WireError> {
        Ok(ChainStatus {
            height: p.height,
            tip_hash: hash("ChainStatusReply.tip_hash", p.tip_hash)?,
            state_root: hash("ChainStatusReply.state_root", p.state_root)?,
            cycle_height: p.cycle_height,
            cycle_start_ms: p.cycle_start_ms,
            seats: p.seats,
            chain_id: hash("ChainStatusReply.chain_id", p.chain_id)?,
        })
    }
}

impl From<(&CertifiedBlock, &[Batch])> for pb::GetBlockReply {
    fn from((cb, batches): (&CertifiedBlock, &[Batch])) -> Self {
        let (block, batches) = certified_to_pb(cb, batches);
        pb::GetBlockReply {
            block: Some(block),
            batches,
        }
    }
}

impl TryFrom<pb::GetBlockReply> for (CertifiedBlock, Vec<Batch>) {
    type Error = WireError;
    fn try_from(p: pb::GetBlockReply) -> Result<Self, WireError> {
        certified_from_pb("GetBlockReply.block", "GetBlockReply.batches", p.block, p.batches)
    }
}

impl From<&Lot> for pb::SubmitLotRequest {
    /// A lot not yet countersigned (all-zero `sponsor_sig`, as `lot::mine` leaves it) goes
    /// with an empty `sponsor_sig`.
    fn from(l: &Lot) -> Self {
        let mut lot = pb::Lot::from(l);
        if l.sponsor_sig == Signature::default() {
            lot.sponsor_sig.clear();
        }
        pb::SubmitLotRequest { lot: Some(lot) }
    }
}

impl TryFrom<pb::SubmitLotRequest> for Lot {
    type Error = WireError;
    /// Takes an empty `sponsor_sig` as not yet countersigned (all zeros, as `lot::mine`
    /// leaves it); any other length but 64 is refused.
    fn try_from(p: pb::SubmitLotRequest) -> Result<Self, WireError> {
        let mut lot = required("SubmitLotRequest.lot", p.lot)?;
        if lot.sponsor_sig.is_empty() {
            lot.sponsor_sig = Signature::default().0.to_vec();
        }
        lot.try_into()
    }
}

impl From<&Result<(), String>> for pb::SubmitLotReply {
    fn from(r: &Result<(), String>) -> Self {
        use pb::submit_lot_reply::Result as R;
        pb::SubmitLotReply {
            result: Some(match r {
                Ok(()) => R::Accepted(pb::Accepted {}),
                Err(why) => R::Refused(limits::reason(why.as_str())),
            }),
        }
    }
}

impl TryFrom<pb::SubmitLotReply> for Result<(), String> {
    type Error = WireError;
    fn try_from(p: pb::SubmitLotReply) -> Result<Self, WireError> {
        use pb::submit_lot_reply::Result as R;
        Ok(match required("SubmitLotReply.result", p.result)? {
            R::Accepted(_) => Ok(()),
            R::Refused(why) => Err(why),
        })
    }
}
