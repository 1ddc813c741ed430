//! Core objects to protobuf (`From<&core>`, infallible) and back (`TryFrom<proto>`, which
//! refuses a wrong byte length, a missing required field, an unknown enum value, an oversized
//! collection and a value out of range, naming the field).

use crate::error::WireError;
use crate::limits;
use crate::proto as pb;
use daoli_protocol::block::{Batch, BatchRef, Block, CertifiedBlock, Header, MicroBlock};
use daoli_protocol::codec::Hash32;
use daoli_protocol::crypto::{PublicKey, Signature};
use daoli_protocol::delay::{self, DelayProof};
use daoli_protocol::lot::Lot;
use daoli_protocol::node::Proposal;
use daoli_protocol::seed::SeedAnnouncement;
use daoli_protocol::statement::{Evidence, Kind, Said, Slot};
use daoli_protocol::tx::{RoleKeys, Transaction, TxKind};
use daoli_protocol::vote::{Qc, Step, Vote};
use daoli_protocol::vrf::VrfProof;

// ---- Field helpers. ----

pub(crate) fn fixed<const N: usize>(field: &'static str, b: Vec<u8>) -> Result<[u8; N], WireError> {
    let got = b.len();
    b.try_into().map_err(|_| WireError::Length {
        field,
        expected: N,
        got,
    })
}

pub(crate) fn hash(field: &'static str, b: Vec<u8>) -> Result<Hash32, WireError> {
    fixed(field, b).map(Hash32)
}

pub(crate) fn key(field: &'static str, b: Vec<u8>) -> Result<PublicKey, WireError> {
    fixed(field, b).map(PublicKey)
}

pub(crate) fn sig(field: &'static str, b: Vec<u8>) -> Result<Signature, WireError> {
    fixed(field, b).map(Signature)
}

pub(crate) fn required<T>(field: &'static str, v: Option<T>) -> Result<T, WireError> {
    v.ok_or(WireError::Missing { field })
}

pub(crate) fn check_len(field: &'static str, got: usize, limit: usize) -> Result<(), WireError> {
    if got > limit {
        return Err(WireError::TooMany { field, got, limit });
    }
    Ok(())
}

/// Converts a repeated field, refusing it whole if it is longer than `limit` before any
/// element is converted.
pub(crate) fn bounded<P, T>(
    field: &'static str,
    v: Vec<P>,
    limit: usize,
    f: impl FnMut(P) -> Result<T, WireError>,
) -> Result<Vec<T>, WireError> {
    check_len(field, v.len(), limit)?;
    v.into_iter().map(f).collect()
}

pub(crate) fn list<P, T: TryFrom<P, Error = WireError>>(
    field: &'static str,
    v: Vec<P>,
    limit: usize,
) -> Result<Vec<T>, WireError> {
    bounded(field, v, limit, T::try_from)
}

/// A `u64` from the wire as a `usize`, refused where it does not fit.
pub(crate) fn usize_of(field: &'static str, v: u64) -> Result<usize, WireError> {
    usize::try_from(v).map_err(|_| WireError::OutOfRange {
        field,
        value: v,
        why: "over this platform's usize",
    })
}

pub(crate) fn encode_all<'a, C: 'a, P: From<&'a C>>(v: &'a [C]) -> Vec<P> {
    v.iter().map(P::from).collect()
}

/// Checks that transactions' canonical sizes sum to at most [`limits::MAX_BATCH_BYTES`].
pub(crate) fn check_tx_bytes(what: &'static str, txs: &[Transaction]) -> Result<(), WireError> {
    batch_bytes(what, txs.iter().map(Transaction::size).sum())
}

fn batch_bytes(what: &'static str, got: usize) -> Result<(), WireError> {
    if got > limits::MAX_BATCH_BYTES {
        return Err(WireError::Oversized {
            what,
            got,
            limit: limits::MAX_BATCH_BYTES,
        });
    }
    Ok(())
}

/// At most `limit` transactions (each at most [`limits::MAX_TX_BYTES`], checked on
/// conversion) of at most [`limits::MAX_BATCH_BYTES`] together.
pub(crate) fn txs(
    field: &'static str,
    what: &'static str,
    v: Vec<pb::Transaction>,
    limit: usize,
) -> Result<Vec<Transaction>, WireError> {
    // Each transaction's canonical size is computed once, for its own limit and the sum.
    let mut got = 0usize;
    let txs = bounded(field, v, limit, |p| {
        let (t, n) = tx_sized(p)?;
        got += n;
        Ok(t)
    })?;
    batch_bytes(what, got)?;
    Ok(txs)
}

// ---- Lots and seeds. ----

impl From<&Lot> for pb::Lot {
    fn from(l: &Lot) -> Self {
        pb::Lot {
            height: l.height,
            prev_hash: l.prev_hash.0.to_vec(),
            miner: l.miner.0.to_vec(),
            sponsor: l.sponsor.0.to_vec(),
            nonce: l.nonce,
            miner_sig: l.miner_sig.0.to_vec(),
            sponsor_sig: l.sponsor_sig.0.to_vec(),
        }
    }
}

impl TryFrom<pb::Lot> for Lot {
    type Error = WireError;
    fn try_from(p: pb::Lot) -> Result<Self, WireError> {
        Ok(Lot {
            height: p.height,
            prev_hash: hash("Lot.prev_hash", p.prev_hash)?,
            miner: key("Lot.miner", p.miner)?,
            sponsor: key("Lot.sponsor", p.sponsor)?,
            nonce: p.nonce,
            miner_sig: sig("Lot.miner_sig", p.miner_sig)?,
            sponsor_sig: sig("Lot.sponsor_sig", p.sponsor_sig)?,
        })
    }
}

impl From<&SeedAnnouncement> for pb::SeedAnnouncement {
    fn from(s: &SeedAnnouncement) -> Self {
        pb::SeedAnnouncement {
            height: s.height,
            producer: s.producer.0.to_vec(),
            seed: s.seed.0.to_vec(),
            proof: s.proof.0.to_vec(),
        }
    }
}

impl TryFrom<pb::SeedAnnouncement> for SeedAnnouncement {
    type Error = WireError;
    fn try_from(p: pb::SeedAnnouncement) -> Result<Self, WireError> {
        Ok(SeedAnnouncement {
            height: p.height,
            producer: key("SeedAnnouncement.producer", p.producer)?,
            seed: hash("SeedAnnouncement.seed", p.seed)?,
            proof: VrfProof(fixed("SeedAnnouncement.proof", p.proof)?),
        })
    }
}

// ---- Transactions and batches. ----

impl From<&RoleKeys> for pb::RoleKeys {
    fn from(k: &RoleKeys) -> Self {
        pb::RoleKeys {
            vote: k.vote.0.to_vec(),
            vrf: k.vrf.0.to_vec(),
            batch: k.batch.0.to_vec(),
            micro: k.micro.0.to_vec(),
            sponsor: k.sponsor.0.to_vec(),
        }
    }
}

impl TryFrom<pb::RoleKeys> for RoleKeys {
    type Error = WireError;
    fn try_from(p: pb::RoleKeys) -> Result<Self, WireError> {
        Ok(RoleKeys {
            vote: key("RoleKeys.vote", p.vote)?,
            vrf: key("RoleKeys.vrf", p.vrf)?,
            batch: key("RoleKeys.batch", p.batch)?,
            micro: key("RoleKeys.micro", p.micro)?,
            sponsor: key("RoleKeys.sponsor", p.sponsor)?,
        })
    }
}

impl From<&TxKind> for pb::transaction::Kind {
    fn from(k: &TxKind) -> Self {
        use pb::transaction::Kind as K;
        match k {
            TxKind::Transfer { to, amount } => K::Transfer(pb::Transfer {
                to: to.0.to_vec(),
                amount: *amount,
            }),
            TxKind::BuyTicket { round } => K::BuyTicket(pb::BuyTicket { round: *round }),
            TxKind::Register { keys, endpoint, bond } => K::Register(pb::Register {
                keys: Some(keys.into()),
                endpoint: endpoint.clone(),
                bond: *bond,
            }),
        }
    }
}

impl TryFrom<pb::transaction::Kind> for TxKind {
    type Error = WireError;
    fn try_from(p: pb::transaction::Kind) -> Result<Self, WireError> {
        use pb::transaction::Kind as K;
        Ok(match p {
            K::Transfer(t) => TxKind::Transfer {
                to: key("Transfer.to", t.to)?,
                amount: t.amount,
            },
            K::BuyTicket(b) => TxKind::BuyTicket { round: b.round },
            K::Register(r) => TxKind::Register {
                keys: required("Register.keys", r.keys)?.try_into()?,
                endpoint: r.endpoint,
                bond: r.bond,
            },
        })
    }
}

impl From<&Transaction> for pb::Transaction {
    fn from(t: &Transaction) -> Self {
        pb::Transaction {
            sender: t.sender.0.to_vec(),
            nonce: t.nonce,
            fee: t.fee,
            kind: Some((&t.kind).into()),
            memo: t.memo.clone(),
            sig: t.sig.0.to_vec(),
        }
    }
}

impl TryFrom<pb::Transaction> for Transaction {
    type Error = WireError;
    /// Also refuses a transaction whose canonical size is over [`limits::MAX_TX_BYTES`]: no
    /// genesis accepts it.
    fn try_from(p: pb::Transaction) -> Result<Self, WireError> {
        tx_sized(p).map(|(t, _)| t)
    }
}

/// A decoded transaction and its canonical size.
fn tx_sized(p: pb::Transaction) -> Result<(Transaction, usize), WireError> {
    let tx = Transaction {
        sender: key("Transaction.sender", p.sender)?,
        nonce: p.nonce,
        fee: p.fee,
        kind: required("Transaction.kind", p.kind)?.try_into()?,
        memo: p.memo,
        sig: sig("Transaction.sig", p.sig)?,
    };
    let size = tx.size();
    if size > limits::MAX_TX_BYTES {
        return Err(WireError::Oversized {
            what: "Transaction (canonical size)",
            got: size,
            limit: limits::MAX_TX_BYTES,
        });
    }
    Ok((tx, size))
}

impl From<&Batch> for pb::Batch {
    fn from(b: &Batch) -> Self {
        pb::Batch {
            cycle: b.cycle,
            slot: b.slot,
            txs: encode_all(&b.txs),
            buffer_pk: b.buffer_pk.0.to_vec(),
            sig: b.sig.0.to_vec(),
        }
    }
}

impl TryFrom<pb::Batch> for Batch {
    type Error = WireError;
    fn try_from(p: pb::Batch) -> Result<Self, WireError> {
        Ok(Batch {
            cycle: p.cycle,
            slot: p.slot,
            txs: txs(
                "Batch.txs",
                "Batch (sum of canonical transaction sizes)",
                p.txs,
                limits::MAX_BATCH_TXS,
            )?,
            buffer_pk: key("Batch.buffer_pk", p.buffer_pk)?,
            sig: sig("Batch.sig", p.sig)?,
        })
    }
}

impl From<&BatchRef> for pb::BatchRef {
    fn from(r: &BatchRef) -> Self {
        pb::BatchRef {
            cycle: r.cycle,
            slot: r.slot,
            digest: r.digest.0.to_vec(),
        }
    }
}

impl TryFrom<pb::BatchRef> for BatchRef {
    type Error = WireError;
    fn try_from(p: pb::BatchRef) -> Result<Self, WireError> {
        Ok(BatchRef {
            cycle: p.cycle,
            slot: p.slot,
            digest: hash("BatchRef.digest", p.digest)?,
        })
    }
}

// ---- Votes, certificates, statements and evidence. ----

fn step_to_pb(s: Step) -> pb::Step {
    match s {
        Step::Prevote => pb::Step::Prevote,
        Step::Precommit => pb::Step::Precommit,
    }
}

fn step_from_pb(v: i32) -> Result<Step, WireError> {
    const FIELD: &str = "Vote.step";
    match pb::Step::try_from(v) {
        Ok(pb::Step::Prevote) => Ok(Step::Prevote),
        Ok(pb::Step::Precommit) => Ok(Step::Precommit),
        // Zero is what an unset field decodes as.
        Ok(pb::Step::Unspecified) => Err(WireError::Missing { field: FIELD }),
        Err(_) => Err(WireError::UnknownEnum {
            field: FIELD,
            value: v.into(),
        }),
    }
}

impl From<&Vote> for pb::Vote {
    fn from(v: &Vote) -> Self {
        pb::Vote {
            height: v.height,
            round: v.round,
            step: step_to_pb(v.step) as i32,
            value: v.value.map(|h| h.0.to_vec()),
            timestamp_ms: v.timestamp,
            voter: v.voter.0.to_vec(),
            sig: v.sig.0.to_vec(),
        }
    }
}

impl TryFrom<pb::Vote> for Vote {
    type Error = WireError;
    fn try_from(p: pb::Vote) -> Result<Self, WireError> {
        Ok(Vote {
            height: p.height,
            round: p.round,
            step: step_from_pb(p.step)?,
            value: p.value.map(|v| hash("Vote.value", v)).transpose()?,
            timestamp: p.timestamp_ms,
            voter: key("Vote.voter", p.voter)?,
            sig: sig("Vote.sig", p.sig)?,
        })
    }
}

fn votes(field: &'static str, v: Vec<pb::Vote>) -> Result<Vec<Vote>, WireError> {
    list(field, v, limits::MAX_VOTES)
}

impl From<&Qc> for pb::Qc {
    fn from(q: &Qc) -> Self {
        pb::Qc {
            height: q.height,
            round: q.round,
            value: q.value.0.to_vec(),
            precommits: encode_all(&q.precommits),
        }
    }
}

impl TryFrom<pb::Qc> for Qc {
    type Error = WireError;
    fn try_from(p: pb::Qc) -> Result<Self, WireError> {
        Ok(Qc {
            height: p.height,
            round: p.round,
            value: hash("Qc.value", p.value)?,
            precommits: votes("Qc.precommits", p.precommits)?,
        })
    }
}

fn kind_to_pb(k: Kind) -> pb::Kind {
    match k {
        Kind::Vote => pb::Kind::Vote,
        Kind::Proposal => pb::Kind::Proposal,
        Kind::Micro => pb::Kind::Micro,
        Kind::Batch => pb::Kind::Batch,
        Kind::LotMiner => pb::Kind::LotMiner,
        Kind::LotSponsor => pb::Kind::LotSponsor,
    }
}

fn kind_from_pb(v: i32) -> Result<Kind, WireError> {
    const FIELD: &str = "Slot.kind";
    match pb::Kind::try_from(v) {
        Ok(pb::Kind::Vote) => Ok(Kind::Vote),
        Ok(pb::Kind::Proposal) => Ok(Kind::Proposal),
        Ok(pb::Kind::Micro) => Ok(Kind::Micro),
        Ok(pb::Kind::Batch) => Ok(Kind::Batch),
        Ok(pb::Kind::LotMiner) => Ok(Kind::LotMiner),
        Ok(pb::Kind::LotSponsor) => Ok(Kind::LotSponsor),
        Ok(pb::Kind::Unspecified) => Err(WireError::Missing { field: FIELD }),
        Err(_) => Err(WireError::UnknownEnum {
            field: FIELD,
            value: v.into(),
        }),
    }
}

impl From<&Slot> for pb::Slot {
    fn from(s: &Slot) -> Self {
        pb::Slot {
            kind: kind_to_pb(s.kind) as i32,
            signer: s.signer.0.to_vec(),
            height: s.height,
            round: s.round,
            sub: s.sub,
            subject: s.subject.0.to_vec(),
        }
    }
}

impl TryFrom<pb::Slot> for Slot {
    type Error = WireError;
    fn try_from(p: pb::Slot) -> Result<Self, WireError> {
        Ok(Slot {
            kind: kind_from_pb(p.kind)?,
            signer: key("Slot.signer", p.signer)?,
            height: p.height,
            round: p.round,
            sub: p.sub,
            subject: key("Slot.subject", p.subject)?,
        })
    }
}

impl From<&Said> for pb::Said {
    fn from(s: &Said) -> Self {
        pb::Said {
            content: s.content.0.to_vec(),
            sig: s.sig.0.to_vec(),
        }
    }
}

impl TryFrom<pb::Said> for Said {
    type Error = WireError;
    fn try_from(p: pb::Said) -> Result<Self, WireError> {
        Ok(Said {
            content: hash("Said.content", p.content)?,
            sig: sig("Said.sig", p.sig)?,
        })
    }
}

impl From<&Evidence> for pb::Evidence {
    fn from(e: &Evidence) -> Self {
        pb::Evidence {
            slot: Some((&e.slot).into()),
            a: Some((&e.a).into()),
            b: Some((&e.b).into()),
        }
    }
}

impl TryFrom<pb::Evidence> for Evidence {
    type Error = WireError;
    /// Keeps `a` and `b` as sent: their order is in the evidence hash.
    fn try_from(p: pb::Evidence) -> Result<Self, WireError> {
        Ok(Evidence {
            slot: required("Evidence.slot", p.slot)?.try_into()?,
            a: required("Evidence.a", p.a)?.try_into()?,
            b: required("Evidence.b", p.b)?.try_into()?,
        })
    }
}

// ---- Delay proofs, headers, MicroBlocks, blocks, proposals. ----

impl From<&DelayProof> for pb::DelayProof {
    fn from(d: &DelayProof) -> Self {
        pb::DelayProof {
            seed: d.seed.0.to_vec(),
            iterations: d.iterations,
            checkpoints: d.checkpoints.iter().map(|c| c.0.to_vec()).collect(),
            output: d.output.0.to_vec(),
        }
    }
}

impl TryFrom<pb::DelayProof> for DelayProof {
    type Error = WireError;
    fn try_from(p: pb::DelayProof) -> Result<Self, WireError> {
        if !(1..=delay::MAX_ITERATIONS).contains(&p.iterations) {
            return Err(WireError::OutOfRange {
                field: "DelayProof.iterations",
                value: p.iterations,
                why: "1 ..= 2^40 (delay::MAX_ITERATIONS)",
            });
        }
        Ok(DelayProof {
            seed: hash("DelayProof.seed", p.seed)?,
            iterations: p.iterations,
            checkpoints: bounded("DelayProof.checkpoints", p.checkpoints, limits::MAX_CHECKPOINTS, |c| {
                hash("DelayProof.checkpoints", c)
            })?,
            output: hash("DelayProof.output", p.output)?,
        })
    }
}

impl From<&Header> for pb::Header {
    fn from(h: &Header) -> Self {
        pb::Header {
            height: h.height,
            prev_hash: h.prev_hash.0.to_vec(),
            seed: h.seed.0.to_vec(),
            vrf_proof: h.vrf_proof.map(|p| p.0.to_vec()),
            prev_state_root: h.prev_state_root.0.to_vec(),
            delay: h.delay.as_ref().map(Into::into),
        }
    }
}

impl TryFrom<pb::Header> for Header {
    type Error = WireError;
    fn try_from(p: pb::Header) -> Result<Self, WireError> {
        Ok(Header {
            height: p.height,
            prev_hash: hash("Header.prev_hash", p.prev_hash)?,
            seed: hash("Header.seed", p.seed)?,
            vrf_proof: p
                .vrf_proof
                .map(|v| fixed("Header.vrf_proof", v).map(VrfProof))
                .transpose()?,
            prev_state_root: hash("Header.prev_state_root", p.prev_state_root)?,
            delay: p.delay.map(TryInto::try_into).transpose()?,
        })
    }
}

impl From<&MicroBlock> for pb::MicroBlock {
    fn from(m: &MicroBlock) -> Self {
        pb::MicroBlock {
            height: m.height,
            producer_rank: m.producer_rank,
            producer_pk: m.producer_pk.0.to_vec(),
            batches: encode_all(&m.batches),
            prev_qc: m.prev_qc.as_ref().map(Into::into),
            prev_prevotes: encode_all(&m.prev_prevotes),
            evidence: encode_all(&m.evidence),
            sig: m.sig.0.to_vec(),
        }
    }
}

impl TryFrom<pb::MicroBlock> for MicroBlock {
    type Error = WireError;
    fn try_from(p: pb::MicroBlock) -> Result<Self, WireError> {
        Ok(MicroBlock {
            height: p.height,
            producer_rank: p.producer_rank,
            producer_pk: key("MicroBlock.producer_pk", p.producer_pk)?,
            batches: list("MicroBlock.batches", p.batches, limits::MAX_BATCH_REFS)?,
            prev_qc: p.prev_qc.map(TryInto::try_into).transpose()?,
            prev_prevotes: votes("MicroBlock.prev_prevotes", p.prev_prevotes)?,
            evidence: list("MicroBlock.evidence", p.evidence, limits::MAX_EVIDENCE)?,
            sig: sig("MicroBlock.sig", p.sig)?,
        })
    }
}

impl From<&Block> for pb::Block {
    fn from(b: &Block) -> Self {
        pb::Block {
            header: Some((&b.header).into()),
            tree: encode_all(&b.tree),
            micro: b.micro.as_ref().map(Into::into),
        }
    }
}

impl TryFrom<pb::Block> for Block {
    type Error = WireError;
    fn try_from(p: pb::Block) -> Result<Self, WireError> {
        Ok(Block {
            header: required("Block.header", p.header)?.try_into()?,
            tree: list("Block.tree", p.tree, limits::MAX_TREE_LOTS)?,
            micro: p.micro.map(TryInto::try_into).transpose()?,
        })
    }
}

impl From<&CertifiedBlock> for pb::CertifiedBlock {
    fn from(c: &CertifiedBlock) -> Self {
        pb::CertifiedBlock {
            block: Some((&c.block).into()),
            qc: Some((&c.qc).into()),
        }
    }
}

impl TryFrom<pb::CertifiedBlock> for CertifiedBlock {
    type Error = WireError;
    fn try_from(p: pb::CertifiedBlock) -> Result<Self, WireError> {
        Ok(CertifiedBlock {
            block: required("CertifiedBlock.block", p.block)?.try_into()?,
            qc: required("CertifiedBlock.qc", p.qc)?.try_into()?,
        })
    }
}

impl From<&Proposal> for pb::Proposal {
    fn from(p: &Proposal) -> Self {
        pb::Proposal {
            round: p.round,
            valid_round: p.valid_round,
            block: Some((&p.block).into()),
            proposer: p.proposer.0.to_vec(),
            sig: p.sig.0.to_vec(),
            pol: encode_all(&p.pol),
        }
    }
}

impl TryFrom<pb::Proposal> for Proposal {
    type Error = WireError;
    fn try_from(p: pb::Proposal) -> Result<Self, WireError> {
        // The proposal content encodes "none" as u32::MAX, so Some(u32::MAX) would sign as None.
        if p.valid_round == Some(u32::MAX) {
            return Err(WireError::OutOfRange {
                field: "Proposal.valid_round",
                value: u32::MAX.into(),
                why: "4294967295 stands for none in the signed content; send none as absent",
            });
        }
        Ok(Proposal {
            round: p.round,
            valid_round: p.valid_round,
            block: required("Proposal.block", p.block)?.try_into()?,
            proposer: key("Proposal.proposer", p.proposer)?,
            sig: sig("Proposal.sig", p.sig)?,
            pol: votes("Proposal.pol", p.pol)?,
        })
    }
}
