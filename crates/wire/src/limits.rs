//! Size limits of every message, in protobuf bytes and in collection lengths.
//!
//! The rule: the wire never refuses what the core could accept under some valid genesis, or a
//! certified block might not travel. So each limit is the core's own bound at the widest a
//! genesis may set it (`Params::validate`), and a byte limit is the largest protobuf encoding
//! of a valid object at those bounds (protobuf framing computed exactly: field numbers below
//! 16 take a one-byte tag, a `uint64` at most a 10-byte varint). The tests build such
//! largest objects and check that they fit.
//!
//! Three messages have no such bound in the core, which hands them to the shell whole; their
//! sender must split them (`Envelope::seal` refuses one over its limit):
//! - `Forward`: at most [`MAX_FORWARD_TXS`] transactions (what a receiver takes from one
//!   hand-over) of at most [`MAX_BATCH_BYTES`] together (what one batch can seal);
//! - `BatchRequest`: at most [`MAX_BATCH_REQUEST_DIGESTS`] digests (what a peer answers);
//! - `Certified`: a certified block and batches whose encoding fits one largest batch's
//!   ([`MAX_CERTIFIED_BYTES`]); further batches go as `Batch` messages.
//!
//! Byte limits are checked on raw bytes before they are decoded (the body of an envelope, per
//! message kind); collection lengths while converting, before any element is converted.

use daoli_protocol::{committee, delay, limits as core, vrf};

/// Bytes of the varint encoding of `v`.
pub const fn varint_len(v: usize) -> usize {
    let mut n = 1;
    let mut v = v >> 7;
    while v > 0 {
        n += 1;
        v >>= 7;
    }
    n
}

/// A length-delimited field (bytes, string, embedded message) holding `len` bytes: one-byte
/// tag, varint length, value.
pub const fn field(len: usize) -> usize {
    1 + varint_len(len) + len
}

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// A `uint64` field: tag and a varint of up to 10 bytes.
const U64: usize = 11;
/// A `uint32` field: tag and a varint of up to 5 bytes.
const U32: usize = 6;
/// An enum field holding a known value (all below 128).
const ENUM: usize = 2;
const HASH: usize = field(32);
const KEY: usize = field(32);
const SIG: usize = field(64);
const PROOF: usize = field(vrf::PROOF_LEN);

// ---- The core's bounds (Params::validate, delay, committee, limits). ----

/// Largest `max_tx_bytes` a genesis may set (`Params::validate`: 256 ..= 65,536): the largest
/// canonical transaction size (Appendix A.5).
pub const MAX_TX_BYTES: usize = 65_536;
/// Largest `max_batch_bytes` a genesis may set (`max_tx_bytes ..= 64 MiB`): the largest sum of
/// the canonical sizes of a batch's transactions.
pub const MAX_BATCH_BYTES: usize = 64 << 20;
/// Largest payroll `P` (`1 ..= 1024`).
pub const MAX_PAYROLL: usize = 1024;
/// Most backups `M` (`0 ..= 16`).
pub const MAX_BACKUPS: usize = 16;
/// Largest `batch_expiry` (`1 ..= 64`).
pub const MAX_BATCH_EXPIRY: usize = 64;
/// Largest `max_evidence` (`1 ..= 1024`).
pub const MAX_EVIDENCE: usize = 1024;
/// Most round-0 waves (`1 ..= 16`).
pub const MAX_WAVES: usize = 16;
/// Most trustee seats `n` (`4 ..= 10,000`, `committee::MAX_SEATS`).
pub const MAX_SEATS: usize = committee::MAX_SEATS as usize;

/// The smallest canonical transaction: a `BuyTicket` with an empty memo (A.5: sender 32,
/// nonce 8, fee 8, kind 1, round 8, memo length 4, signature 64).
pub const MIN_TX_BYTES: usize = 125;
/// Transactions in one batch.
pub const MAX_BATCH_TXS: usize = MAX_BATCH_BYTES / MIN_TX_BYTES;
/// Lots in a KeyBlockTree: leader, backups, payroll.
pub const MAX_TREE_LOTS: usize = 1 + MAX_BACKUPS + MAX_PAYROLL;
/// Batch references in a MicroBlock of height `h`: one batch per lineup address `(cycle,
/// slot)`, cycles `h - batch_expiry ..= h` (a second batch for one address is evidence).
pub const MAX_BATCH_REFS: usize = MAX_PAYROLL * (MAX_BATCH_EXPIRY + 1);
/// Votes in a QC, in a MicroBlock's prevotes, in a proposal's POL: one per seat.
pub const MAX_VOTES: usize = MAX_SEATS;
/// Checkpoints of a delay proof: one fewer than the segments.
pub const MAX_CHECKPOINTS: usize = delay::MAX_SEGMENTS - 1;
/// Batches in a `Certified` (those its MicroBlock references).
pub const MAX_CERTIFIED_BATCHES: usize = MAX_BATCH_REFS;
/// Digests in a `BatchRequest`: what a peer answers (`limits::BATCH_DIGESTS_PER_REQUEST`).
pub const MAX_BATCH_REQUEST_DIGESTS: usize = core::BATCH_DIGESTS_PER_REQUEST;
/// Transactions in a `Forward`: what a receiver takes from one hand-over
/// (`limits::FORWARD_TXS`).
pub const MAX_FORWARD_TXS: usize = core::FORWARD_TXS;

// ---- Largest protobuf encodings. ----

/// Protobuf bytes a transaction takes beyond its canonical size, at most: sender and signature
/// +2 each (tag and length), nonce and fee +3 each (10-byte varints for 8 bytes), the kind +19
/// (a `Register`: the oneof's tag and 3-byte length, the role keys' tag and 2-byte length and
/// each key's tag and length, the endpoint's tag and varint length for the canonical u32, the
/// bond's varint; against the canonical kind byte), the memo +0 (tag and at most a 3-byte
/// length for the canonical u32).
pub const TX_OVERHEAD: usize = 29;
/// Largest encoded transaction.
pub const MAX_TX_ENCODED_BYTES: usize = MAX_TX_BYTES + TX_OVERHEAD;
/// A transaction as an element of a repeated field: its tag and (at most 3-byte) length too.
const TX_ENTRY_OVERHEAD: usize = TX_OVERHEAD + field(MAX_TX_ENCODED_BYTES) - MAX_TX_ENCODED_BYTES;

pub const MAX_LOT_BYTES: usize = U64 + HASH + KEY + KEY + U64 + SIG + SIG;
pub const MAX_SEED_BYTES: usize = U64 + KEY + HASH + PROOF;
pub const MAX_VOTE_BYTES: usize = U64 + U32 + ENUM + HASH + U64 + KEY + SIG;
const BATCH_HEADER_BYTES: usize = U64 + U32 + KEY + SIG;
/// Largest encoded batch: its transactions' canonical sizes sum to at most `MAX_BATCH_BYTES`.
pub const MAX_BATCH_ENCODED_BYTES: usize = BATCH_HEADER_BYTES + MAX_BATCH_BYTES + MAX_BATCH_TXS * TX_ENTRY_OVERHEAD;
const BATCH_REF_BYTES: usize = U64 + U32 + HASH;
pub const MAX_QC_BYTES: usize = U64 + U32 + HASH + MAX_VOTES * field(MAX_VOTE_BYTES);
const SLOT_BYTES: usize = ENUM + KEY + U64 + U32 + U32 + KEY;
const SAID_BYTES: usize = HASH + SIG;
pub const MAX_EVIDENCE_BYTES: usize = field(SLOT_BYTES) + 2 * field(SAID_BYTES);
pub const MAX_DELAY_BYTES: usize = HASH + U64 + MAX_CHECKPOINTS * HASH + HASH;
pub const MAX_HEADER_BYTES: usize = U64 + HASH + HASH + PROOF + HASH + field(MAX_DELAY_BYTES);
pub const MAX_MICRO_BYTES: usize = U64
    + U32
    + KEY
    + MAX_BATCH_REFS * field(BATCH_REF_BYTES)
    + field(MAX_QC_BYTES)
    + MAX_VOTES * field(MAX_VOTE_BYTES)
    + MAX_EVIDENCE * field(MAX_EVIDENCE_BYTES)
    + SIG;
pub const MAX_BLOCK_BYTES: usize =
    field(MAX_HEADER_BYTES) + MAX_TREE_LOTS * field(MAX_LOT_BYTES) + field(MAX_MICRO_BYTES);
pub const MAX_CERTIFIED_BLOCK_BYTES: usize = field(MAX_BLOCK_BYTES) + field(MAX_QC_BYTES);
pub const MAX_PROPOSAL_BYTES: usize =
    U32 + U32 + field(MAX_BLOCK_BYTES) + KEY + SIG + MAX_VOTES * field(MAX_VOTE_BYTES);

// ---- Peer messages (the value of the `PeerMessage` oneof), checked before decoding. ----

/// A certified block and batches of up to one largest batch's encoding.
pub const MAX_CERTIFIED_BYTES: usize = field(MAX_CERTIFIED_BLOCK_BYTES) + MAX_BATCH_ENCODED_BYTES;
pub const MAX_SYNC_REQUEST_BYTES: usize = U64;
pub const MAX_BATCH_REQUEST_BYTES: usize = MAX_BATCH_REQUEST_DIGESTS * HASH;
/// Transactions of at most `MAX_BATCH_BYTES` canonical bytes together.
pub const MAX_FORWARD_BYTES: usize = MAX_BATCH_BYTES + MAX_FORWARD_TXS * TX_ENTRY_OVERHEAD;

/// Largest encoded `PeerMessage`: the largest of its kinds, with the oneof's framing.
pub const MAX_BODY_BYTES: usize = field(max(
    max(
        max(
            max(MAX_LOT_BYTES, MAX_SEED_BYTES),
            max(MAX_BATCH_ENCODED_BYTES, MAX_MICRO_BYTES),
        ),
        max(max(MAX_PROPOSAL_BYTES, MAX_VOTE_BYTES), MAX_CERTIFIED_BYTES),
    ),
    max(max(MAX_SYNC_REQUEST_BYTES, MAX_BATCH_REQUEST_BYTES), MAX_FORWARD_BYTES),
));
/// Largest encoded `Envelope`.
pub const MAX_ENVELOPE_BYTES: usize = HASH + KEY + U64 + field(MAX_BODY_BYTES) + SIG;

// ---- Client messages. ----

/// Largest encoded client request: a `SubmitTxRequest` (the others are a lot, a key, a hash or
/// a height).
pub const MAX_CLIENT_REQUEST_BYTES: usize = max(field(MAX_TX_ENCODED_BYTES) + U32, field(MAX_LOT_BYTES));
/// Largest encoded client reply a client decodes: a `GetBlockReply`, which is shaped and
/// bounded like `Certified` (a block with more batches is served with some of them).
pub const MAX_CLIENT_REPLY_BYTES: usize = MAX_CERTIFIED_BYTES;
/// Largest human-readable reason in a reply (`DeliverReply.reason`, refusals), in bytes; a
/// longer one is cut by the sender.
pub const MAX_REASON_BYTES: usize = 1024;
/// Largest encoded `DeliverReply`.
pub const MAX_DELIVER_REPLY_BYTES: usize = ENUM + field(MAX_REASON_BYTES);

// ---- What to pass to tonic's `max_decoding_message_size`. ----

/// On a `Peer` server (it decodes envelopes).
pub const PEER_SERVER_MAX_DECODING: usize = MAX_ENVELOPE_BYTES;
/// On a `Peer` client (it decodes `DeliverReply`).
pub const PEER_CLIENT_MAX_DECODING: usize = MAX_DELIVER_REPLY_BYTES;
/// On a `Client` server (it decodes requests).
pub const CLIENT_SERVER_MAX_DECODING: usize = MAX_CLIENT_REQUEST_BYTES;
/// On a `Client` client (it decodes replies, `GetBlockReply` the largest).
pub const CLIENT_CLIENT_MAX_DECODING: usize = MAX_CLIENT_REPLY_BYTES;

// The canonical encoders length-prefix with a u32 (`Canon::bytes` panics above 4 GiB).
const _: () = assert!(MAX_ENVELOPE_BYTES < u32::MAX as usize);
const _: () = assert!(varint_len(MAX_TX_ENCODED_BYTES) <= 3);

/// Cuts a human-readable reason to [`MAX_REASON_BYTES`] on a character boundary.
pub fn reason(s: impl Into<String>) -> String {
    let mut s = s.into();
    if s.len() > MAX_REASON_BYTES {
        let mut end = MAX_REASON_BYTES;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// Lots one own-view drawing counts at most (the core's bound on lots per cycle).
pub const MAX_DRAWN_LOTS: usize = core::LOTS_TOTAL;
/// Digests one `Wanted` event names at most.
pub const MAX_WANTED_DIGESTS: usize = core::WANTED_BATCHES;
/// An encoded `BusEvent`, at most: the largest kind is `Certified` (a block with its batches);
/// a drawing of [`MAX_DRAWN_LOTS`] lots is far smaller. Kafka's message size limits (broker,
/// topic, producer, consumer) are set from this.
pub const MAX_EVENT_BYTES: usize = field(MAX_CERTIFIED_BYTES);
