//! Peer messages (`node::Msg` <-> `PeerMessage`) and the signed envelope they travel in.

use crate::convert::{bounded, check_len, check_tx_bytes, encode_all, hash, key, list, required, sig, txs};
use crate::error::WireError;
use crate::limits;
use crate::proto as pb;
use daoli_protocol::block::{Batch, CertifiedBlock};
use daoli_protocol::codec::{Canon, ChainId, Hash32};
use daoli_protocol::crypto::{self, Keypair, PublicKey};
use daoli_protocol::node::Msg;
use prost::Message as _;

/// Domain tag of the envelope signature (see [`envelope_digest`]).
pub const ENVELOPE_TAG: &str = "daoli/v2/envelope";

/// What the sender's root key signs:
/// `SHA-256(u32 17 || "daoli/v2/envelope" || chain_id (32) || from (32) || u64 seq ||
/// u32 len(body) || body)`, integers big-endian; in the notation of docs/protocol.md A.1,
/// `H_envelope(h32 chain_id || h32 from || u64 seq || bytes body)`. The 32-byte digest is the
/// Ed25519 message. The body
/// is taken as sent, so it is verified before it is decoded; `body` is at most
/// [`limits::MAX_BODY_BYTES`], far below the 4 GiB a u32 length can say.
pub fn envelope_digest(chain: &ChainId, from: &PublicKey, seq: u64, body: &[u8]) -> Hash32 {
    let mut c = Canon::signed(ENVELOPE_TAG, chain);
    c.fixed(&from.0).u64(seq).bytes(body);
    c.hash()
}

const FORWARD_BYTES: &str = "Forward (sum of canonical transaction sizes)";

/// `(CertifiedBlock, batches)`: a peer's `Certified` and a client's `GetBlockReply`.
pub(crate) fn certified_to_pb(cb: &CertifiedBlock, batches: &[Batch]) -> (pb::CertifiedBlock, Vec<pb::Batch>) {
    (cb.into(), encode_all(batches))
}

pub(crate) fn certified_from_pb(
    block_field: &'static str,
    batches_field: &'static str,
    block: Option<pb::CertifiedBlock>,
    batches: Vec<pb::Batch>,
) -> Result<(CertifiedBlock, Vec<Batch>), WireError> {
    Ok((
        required(block_field, block)?.try_into()?,
        list(batches_field, batches, limits::MAX_CERTIFIED_BATCHES)?,
    ))
}

impl TryFrom<&Msg> for pb::PeerMessage {
    type Error = WireError;
    /// Every variant but `Msg::Tx` (client traffic, see client.proto).
    fn try_from(m: &Msg) -> Result<Self, WireError> {
        use pb::peer_message::Msg as P;
        let p = match m {
            Msg::Lot(l) => P::Lot(l.into()),
            Msg::Seed(s) => P::Seed(s.into()),
            Msg::Batch(b) => P::Batch(b.into()),
            Msg::Micro(mb) => P::Micro(mb.into()),
            Msg::Proposal(p) => P::Proposal(p.into()),
            Msg::Vote(v) => P::Vote(v.into()),
            Msg::Certified(cb, batches) => {
                let (block, batches) = certified_to_pb(cb, batches);
                P::Certified(pb::Certified {
                    block: Some(block),
                    batches,
                })
            }
            Msg::SyncRequest { from } => P::SyncRequest(pb::SyncRequest { from: *from }),
            Msg::BatchRequest(ds) => P::BatchRequest(pb::BatchRequest {
                digests: ds.iter().map(|d| d.0.to_vec()).collect(),
            }),
            Msg::Forward(t) => P::Forward(pb::Forward { txs: encode_all(t) }),
            Msg::Tx { .. } => return Err(WireError::NotPeer("Tx")),
        };
        Ok(pb::PeerMessage { msg: Some(p) })
    }
}

impl TryFrom<pb::PeerMessage> for Msg {
    type Error = WireError;
    fn try_from(p: pb::PeerMessage) -> Result<Self, WireError> {
        use pb::peer_message::Msg as P;
        Ok(match required("PeerMessage.msg", p.msg)? {
            P::Lot(l) => Msg::Lot(l.try_into()?),
            P::Seed(s) => Msg::Seed(s.try_into()?),
            P::Batch(b) => Msg::Batch(b.try_into()?),
            P::Micro(m) => Msg::Micro(m.try_into()?),
            P::Proposal(p) => Msg::Proposal(p.try_into()?),
            P::Vote(v) => Msg::Vote(v.try_into()?),
            P::Certified(c) => {
                let (cb, batches) = certified_from_pb("Certified.block", "Certified.batches", c.block, c.batches)?;
                Msg::Certified(cb, batches)
            }
            P::SyncRequest(s) => Msg::SyncRequest { from: s.from },
            P::BatchRequest(r) => Msg::BatchRequest(bounded(
                "BatchRequest.digests",
                r.digests,
                limits::MAX_BATCH_REQUEST_DIGESTS,
                |d| hash("BatchRequest.digests", d),
            )?),
            P::Forward(f) => Msg::Forward(txs("Forward.txs", FORWARD_BYTES, f.txs, limits::MAX_FORWARD_TXS)?),
        })
    }
}

/// Reads one varint; `None` if the bytes end first or it runs over 10 bytes.
fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Checks the raw bytes of an encoded `PeerMessage` without decoding them: exactly one field,
/// a known kind of the oneof, no longer than that kind's limit. So a vote-sized limit holds
/// for a vote, and only a kind that may be large costs a large decode.
pub fn check_body(body: &[u8]) -> Result<(), WireError> {
    if body.len() > limits::MAX_BODY_BYTES {
        return Err(WireError::Oversized {
            what: "PeerMessage",
            got: body.len(),
            limit: limits::MAX_BODY_BYTES,
        });
    }
    if body.is_empty() {
        return Err(WireError::Missing {
            field: "PeerMessage.msg",
        });
    }
    let mut rest = body;
    let framing = || WireError::Protobuf("PeerMessage must hold exactly one length-delimited field".into());
    let tag = varint(&mut rest).ok_or_else(framing)?;
    let len = varint(&mut rest).ok_or_else(framing)?;
    if tag & 7 != 2 || len != rest.len() as u64 {
        return Err(framing());
    }
    let (what, limit) = match tag >> 3 {
        1 => ("Lot", limits::MAX_LOT_BYTES),
        2 => ("SeedAnnouncement", limits::MAX_SEED_BYTES),
        3 => ("Batch", limits::MAX_BATCH_ENCODED_BYTES),
        4 => ("MicroBlock", limits::MAX_MICRO_BYTES),
        5 => ("Proposal", limits::MAX_PROPOSAL_BYTES),
        6 => ("Vote", limits::MAX_VOTE_BYTES),
        7 => ("Certified", limits::MAX_CERTIFIED_BYTES),
        8 => ("SyncRequest", limits::MAX_SYNC_REQUEST_BYTES),
        9 => ("BatchRequest", limits::MAX_BATCH_REQUEST_BYTES),
        10 => ("Forward", limits::MAX_FORWARD_BYTES),
        n => {
            return Err(WireError::UnknownEnum {
                field: "PeerMessage.msg",
                value: i64::try_from(n).unwrap_or(i64::MAX),
            });
        }
    };
    if rest.len() > limit {
        return Err(WireError::Oversized {
            what,
            got: rest.len(),
            limit,
        });
    }
    Ok(())
}

/// Decodes an encoded `PeerMessage` into a `node::Msg`, checking its size first.
pub fn decode_body(body: &[u8]) -> Result<Msg, WireError> {
    check_body(body)?;
    pb::PeerMessage::decode(body)?.try_into()
}

/// Encodes a peer message, refusing one a receiver would refuse for its size: the core hands
/// some messages over whole (see [`limits`]), and the shell must split them.
pub fn encode_body(msg: &Msg) -> Result<Vec<u8>, WireError> {
    match msg {
        Msg::Forward(t) => {
            check_len("Forward.txs", t.len(), limits::MAX_FORWARD_TXS)?;
            check_tx_bytes(FORWARD_BYTES, t)?;
        }
        Msg::BatchRequest(d) => check_len("BatchRequest.digests", d.len(), limits::MAX_BATCH_REQUEST_DIGESTS)?,
        Msg::Certified(_, b) => check_len("Certified.batches", b.len(), limits::MAX_CERTIFIED_BATCHES)?,
        _ => {}
    }
    // check_body refuses an oversized body with the same error a length check before
    // encoding would give (encoding measures the message anyway).
    let body = pb::PeerMessage::try_from(msg)?.encode_to_vec();
    check_body(&body)?;
    Ok(body)
}

/// Decodes raw bytes as an `Envelope` (for a carrier other than tonic, which checks the size
/// itself with [`limits::PEER_SERVER_MAX_DECODING`]), refusing them over
/// [`limits::MAX_ENVELOPE_BYTES`] before decoding.
pub fn decode_envelope(raw: &[u8]) -> Result<pb::Envelope, WireError> {
    if raw.len() > limits::MAX_ENVELOPE_BYTES {
        return Err(WireError::Oversized {
            what: "Envelope",
            got: raw.len(),
            limit: limits::MAX_ENVELOPE_BYTES,
        });
    }
    Ok(pb::Envelope::decode(raw)?)
}

impl pb::Envelope {
    /// Signs `msg` as the datacenter whose root key is `key`. `seq` must strictly increase
    /// from one envelope to the next of this sender (receivers refuse a replayed or reordered
    /// one). Refuses `Msg::Tx` and a message over its limits (see [`encode_body`]).
    pub fn seal(key: &Keypair, chain: &ChainId, seq: u64, msg: &Msg) -> Result<Self, WireError> {
        let body = encode_body(msg)?;
        let from = key.public();
        let signature = key.sign(envelope_digest(chain, &from, seq, &body).as_bytes());
        Ok(pb::Envelope {
            chain_id: chain.0.to_vec(),
            from: from.0.to_vec(),
            seq,
            body,
            signature: signature.0.to_vec(),
        })
    }

    /// The claimed sender, unverified: look it up (a registered datacenter's root key?) before
    /// [`open`](Self::open) spends a signature check and a decode on it.
    pub fn sender(&self) -> Result<PublicKey, WireError> {
        key("Envelope.from", self.from.clone())
    }

    /// Checks the envelope and decodes its body: size, chain, then the signature over the
    /// bytes received, then the body. Returns the sender's root key, `seq` and the message.
    /// Refusing a `seq` not above the last one accepted from that sender is the caller's job.
    pub fn open(&self, chain: &ChainId) -> Result<(PublicKey, u64, Msg), WireError> {
        if self.body.len() > limits::MAX_BODY_BYTES {
            return Err(WireError::Oversized {
                what: "Envelope.body",
                got: self.body.len(),
                limit: limits::MAX_BODY_BYTES,
            });
        }
        let got = hash("Envelope.chain_id", self.chain_id.clone())?;
        if got != *chain {
            return Err(WireError::WrongChain { expected: *chain, got });
        }
        let from = self.sender()?;
        let signature = sig("Envelope.signature", self.signature.clone())?;
        let digest = envelope_digest(chain, &from, self.seq, &self.body);
        crypto::verify(&from, digest.as_bytes(), &signature).map_err(WireError::BadSignature)?;
        Ok((from, self.seq, decode_body(&self.body)?))
    }
}

/// What a receiver did with an envelope (`DeliverReply`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Accepted,
    /// Held until the receiver reaches the message's cycle.
    Held(String),
    Refused(String),
}

impl From<&Delivery> for pb::DeliverReply {
    /// Reasons are cut to [`limits::MAX_REASON_BYTES`].
    fn from(d: &Delivery) -> Self {
        let (outcome, reason) = match d {
            Delivery::Accepted => (pb::DeliverOutcome::Accepted, String::new()),
            Delivery::Held(r) => (pb::DeliverOutcome::Held, limits::reason(r.as_str())),
            Delivery::Refused(r) => (pb::DeliverOutcome::Refused, limits::reason(r.as_str())),
        };
        pb::DeliverReply {
            outcome: outcome as i32,
            reason,
        }
    }
}

impl TryFrom<pb::DeliverReply> for Delivery {
    type Error = WireError;
    fn try_from(p: pb::DeliverReply) -> Result<Self, WireError> {
        const FIELD: &str = "DeliverReply.outcome";
        match pb::DeliverOutcome::try_from(p.outcome) {
            Ok(pb::DeliverOutcome::Accepted) => Ok(Delivery::Accepted),
            Ok(pb::DeliverOutcome::Held) => Ok(Delivery::Held(p.reason)),
            Ok(pb::DeliverOutcome::Refused) => Ok(Delivery::Refused(p.reason)),
            Ok(pb::DeliverOutcome::Unspecified) => Err(WireError::Missing { field: FIELD }),
            Err(_) => Err(WireError::UnknownEnum {
                field: FIELD,
                value: p.outcome.into(),
            }),
        }
    }
}
