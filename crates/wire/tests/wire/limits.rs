//! The limits are the core's bounds, and the largest valid objects at those bounds encode to
//! exactly the byte limits (so the limits refuse nothing valid, and are no looser than that).

use daoli_protocol::block::{Batch, BatchRef, Block, CertifiedBlock, Header, MicroBlock};
use daoli_protocol::codec::Hash32;
use daoli_protocol::crypto::{PublicKey, Signature};
use daoli_protocol::delay::DelayProof;
use daoli_protocol::lot::Lot;
use daoli_protocol::node::{Msg, Proposal};
use daoli_protocol::params::Params;
use daoli_protocol::seed::SeedAnnouncement;
use daoli_protocol::statement::{Evidence, Kind, Said, Slot};
use daoli_protocol::tx::{RoleKeys, Transaction, TxKind};
use daoli_protocol::vote::{Qc, Step, Vote};
use daoli_protocol::vrf::VrfProof;
use daoli_wire::limits::{self, field};
use daoli_wire::proto as pb;
use daoli_wire::{check_body, encode_body};
use prost::Message;

#[test]
fn the_core_bounds_are_the_genesis_bounds() {
    let ok = |p: &Params| p.validate().is_ok();
    let mut p = Params::devnet();
    p.wage = 1;
    (p.max_tx_bytes, p.max_batch_bytes) = (limits::MAX_TX_BYTES, limits::MAX_BATCH_BYTES);
    (p.payroll, p.backups, p.batch_expiry) = (
        limits::MAX_PAYROLL,
        limits::MAX_BACKUPS,
        limits::MAX_BATCH_EXPIRY as u64,
    );
    p.max_evidence = limits::MAX_EVIDENCE;
    (p.seats, p.wave_gap_permille) = (limits::MAX_SEATS, 20);
    p.waves = vec![limits::MAX_SEATS / limits::MAX_WAVES; limits::MAX_WAVES];
    assert!(ok(&p), "every bound at once is a valid genesis");
    let over: [fn(&mut Params); 8] = [
        |p| p.max_tx_bytes += 1,
        |p| p.max_batch_bytes += 1,
        |p| p.payroll += 1,
        |p| p.backups += 1,
        |p| p.batch_expiry += 1,
        |p| p.max_evidence += 1,
        |p| {
            p.seats += 1;
            p.waves[0] += 1;
        },
        |p| {
            p.waves = vec![588; 17];
            p.waves[16] = p.seats - 588 * 16;
        },
    ];
    for (i, f) in over.iter().enumerate() {
        let mut q = p.clone();
        f(&mut q);
        assert!(!ok(&q), "bound {i} is the widest a genesis may set");
    }
}

fn key(b: u8) -> PublicKey {
    PublicKey([b; 32])
}

fn tx(kind: TxKind, memo: usize) -> Transaction {
    Transaction {
        sender: key(1),
        nonce: u64::MAX,
        fee: u64::MAX,
        kind,
        memo: vec![7; memo],
        sig: Signature([2; 64]),
    }
}

fn register(endpoint: usize) -> TxKind {
    TxKind::Register {
        keys: RoleKeys {
            vote: key(3),
            vrf: key(4),
            batch: key(5),
            micro: key(6),
            sponsor: key(7),
        },
        endpoint: "e".repeat(endpoint),
        bond: u64::MAX,
    }
}

#[test]
fn the_smallest_transaction() {
    let small = |kind| Transaction {
        memo: vec![],
        ..tx(kind, 0)
    };
    assert_eq!(small(TxKind::BuyTicket { round: 0 }).size(), limits::MIN_TX_BYTES);
    assert!(small(TxKind::Transfer { to: key(0), amount: 0 }).size() > limits::MIN_TX_BYTES);
    assert!(small(register(0)).size() > limits::MIN_TX_BYTES);
}

#[test]
fn protobuf_overhead_of_a_transaction() {
    let mut worst = 0;
    for n in [0, 1, 127, 128, 16_383, 16_384, 30_000] {
        for kind in [
            TxKind::Transfer {
                to: key(0),
                amount: u64::MAX,
            },
            TxKind::BuyTicket { round: u64::MAX },
            register(n),
        ] {
            for memo in [0, 1, 127, 128, 16_383, 16_384, 30_000] {
                let t = tx(kind.clone(), memo);
                let enc = pb::Transaction::from(&t).encoded_len();
                assert!(enc <= t.size() + limits::TX_OVERHEAD, "{n} {memo}");
                assert!(
                    field(enc) <= t.size() + limits::TX_OVERHEAD + 4,
                    "as a repeated element"
                );
                worst = worst.max(enc - t.size());
            }
        }
    }
    assert_eq!(worst, limits::TX_OVERHEAD, "the bound is reached");
    assert_eq!(limits::MAX_TX_ENCODED_BYTES, limits::MAX_TX_BYTES + 29);
}

fn vote(step: Step) -> Vote {
    Vote {
        height: u64::MAX,
        round: u32::MAX,
        step,
        value: Some(Hash32([1; 32])),
        timestamp: u64::MAX,
        voter: key(2),
        sig: Signature([3; 64]),
    }
}

fn votes(step: Step) -> Vec<Vote> {
    vec![vote(step); limits::MAX_VOTES]
}

fn lot() -> Lot {
    Lot {
        height: u64::MAX,
        prev_hash: Hash32([1; 32]),
        miner: key(2),
        sponsor: key(3),
        nonce: u64::MAX,
        miner_sig: Signature([4; 64]),
        sponsor_sig: Signature([5; 64]),
    }
}

fn qc() -> Qc {
    Qc {
        height: u64::MAX,
        round: u32::MAX,
        value: Hash32([1; 32]),
        precommits: votes(Step::Precommit),
    }
}

fn evidence() -> Evidence {
    let said = Said {
        content: Hash32([1; 32]),
        sig: Signature([2; 64]),
    };
    Evidence {
        slot: Slot {
            kind: Kind::LotSponsor,
            signer: key(1),
            height: u64::MAX,
            round: u32::MAX,
            sub: u32::MAX,
            subject: key(2),
        },
        a: said,
        b: said,
    }
}

/// A block at every bound at once (the values are the widest encodings, not valid ones).
fn largest_block() -> Block {
    Block {
        header: Header {
            height: u64::MAX,
            prev_hash: Hash32([1; 32]),
            seed: Hash32([2; 32]),
            vrf_proof: Some(VrfProof([3; 80])),
            prev_state_root: Hash32([4; 32]),
            delay: Some(DelayProof {
                seed: Hash32([5; 32]),
                iterations: u64::MAX,
                checkpoints: vec![Hash32([6; 32]); limits::MAX_CHECKPOINTS],
                output: Hash32([7; 32]),
            }),
        },
        tree: vec![lot(); limits::MAX_TREE_LOTS],
        micro: Some(MicroBlock {
            height: u64::MAX,
            producer_rank: u32::MAX,
            producer_pk: key(8),
            batches: vec![
                BatchRef {
                    cycle: u64::MAX,
                    slot: u32::MAX,
                    digest: Hash32([9; 32]),
                };
                limits::MAX_BATCH_REFS
            ],
            prev_qc: Some(qc()),
            prev_prevotes: votes(Step::Prevote),
            evidence: vec![evidence(); limits::MAX_EVIDENCE],
            sig: Signature([10; 64]),
        }),
    }
}

#[test]
fn the_largest_objects_encode_to_the_byte_limits() {
    assert_eq!(pb::Lot::from(&lot()).encoded_len(), limits::MAX_LOT_BYTES);
    let seed = SeedAnnouncement {
        height: u64::MAX,
        producer: key(1),
        seed: Hash32([2; 32]),
        proof: VrfProof([3; 80]),
    };
    assert_eq!(pb::SeedAnnouncement::from(&seed).encoded_len(), limits::MAX_SEED_BYTES);
    assert_eq!(
        pb::Vote::from(&vote(Step::Precommit)).encoded_len(),
        limits::MAX_VOTE_BYTES
    );
    assert_eq!(
        pb::Evidence::from(&evidence()).encoded_len(),
        limits::MAX_EVIDENCE_BYTES
    );
    assert_eq!(pb::Qc::from(&qc()).encoded_len(), limits::MAX_QC_BYTES);

    let block = largest_block();
    let header = &block.header;
    assert_eq!(
        pb::DelayProof::from(header.delay.as_ref().unwrap()).encoded_len(),
        limits::MAX_DELAY_BYTES
    );
    assert_eq!(pb::Header::from(header).encoded_len(), limits::MAX_HEADER_BYTES);
    let micro = block.micro.clone().unwrap();
    assert_eq!(pb::MicroBlock::from(&micro).encoded_len(), limits::MAX_MICRO_BYTES);
    assert_eq!(pb::Block::from(&block).encoded_len(), limits::MAX_BLOCK_BYTES);
    let cb = CertifiedBlock { block, qc: qc() };
    assert_eq!(
        pb::CertifiedBlock::from(&cb).encoded_len(),
        limits::MAX_CERTIFIED_BLOCK_BYTES
    );
    let proposal = Proposal {
        round: u32::MAX,
        valid_round: Some(u32::MAX - 1),
        block: cb.block.clone(),
        proposer: key(1),
        sig: Signature([2; 64]),
        pol: votes(Step::Prevote),
    };
    assert_eq!(pb::Proposal::from(&proposal).encoded_len(), limits::MAX_PROPOSAL_BYTES);

    // Each passes its kind's check before decoding, at exactly its limit.
    for m in [
        Msg::Lot(lot()),
        Msg::Seed(seed),
        Msg::Vote(vote(Step::Precommit)),
        Msg::Micro(micro),
        Msg::Proposal(proposal),
        Msg::Certified(cb, vec![]),
        Msg::SyncRequest { from: u64::MAX },
        Msg::BatchRequest(vec![Hash32([1; 32]); limits::MAX_BATCH_REQUEST_DIGESTS]),
    ] {
        let body = encode_body(&m).unwrap();
        check_body(&body).unwrap();
        assert!(body.len() <= limits::MAX_BODY_BYTES);
    }
    let sync = pb::PeerMessage::try_from(&Msg::SyncRequest { from: u64::MAX }).unwrap();
    assert_eq!(sync.encoded_len(), field(limits::MAX_SYNC_REQUEST_BYTES));
}

#[test]
fn batch_forward_and_envelope_bounds() {
    // Per transaction the batch bound allows its canonical size plus 33 bytes.
    let txs = vec![tx(register(16_384), 16_384); 3];
    let b = Batch {
        cycle: u64::MAX,
        slot: u32::MAX,
        txs,
        buffer_pk: key(1),
        sig: Signature([2; 64]),
    };
    let canonical: usize = b.txs.iter().map(Transaction::size).sum();
    let overhead = pb::Batch::from(&b).encoded_len() - canonical;
    assert_eq!(
        limits::MAX_BATCH_ENCODED_BYTES - limits::MAX_BATCH_BYTES,
        overhead + (limits::MAX_BATCH_TXS - 3) * 33,
        "header and 33 bytes per transaction"
    );
    assert_eq!(
        limits::MAX_FORWARD_BYTES,
        limits::MAX_BATCH_BYTES + limits::MAX_FORWARD_TXS * 33
    );

    // The largest body is a Certified; an envelope around it is the envelope limit.
    assert_eq!(limits::MAX_BODY_BYTES, field(limits::MAX_CERTIFIED_BYTES));
    let e = pb::Envelope {
        chain_id: vec![1; 32],
        from: vec![2; 32],
        seq: u64::MAX,
        body: vec![0; limits::MAX_BODY_BYTES],
        signature: vec![3; 64],
    };
    assert_eq!(e.encoded_len(), limits::MAX_ENVELOPE_BYTES);
    assert_eq!(limits::PEER_SERVER_MAX_DECODING, limits::MAX_ENVELOPE_BYTES);
}

#[test]
fn client_request_bound() {
    // The largest transaction any genesis accepts, at its widest encoding.
    let mut t = tx(register(16_384), 0);
    t.memo = vec![7; limits::MAX_TX_BYTES - t.size()];
    assert_eq!(t.size(), limits::MAX_TX_BYTES);
    let r = pb::SubmitTxRequest {
        tx: Some((&t).into()),
        slot: u32::MAX,
    };
    assert_eq!(r.encoded_len(), limits::MAX_CLIENT_REQUEST_BYTES);
    assert_eq!(limits::CLIENT_SERVER_MAX_DECODING, limits::MAX_CLIENT_REQUEST_BYTES);
    assert_eq!(limits::CLIENT_CLIENT_MAX_DECODING, limits::MAX_CERTIFIED_BYTES);
}

#[test]
fn the_limits_in_numbers() {
    // For the record (`cargo test -p daoli-wire -- --nocapture the_limits_in_numbers`).
    for (name, v) in [
        ("MAX_VOTE_BYTES", limits::MAX_VOTE_BYTES),
        ("MAX_LOT_BYTES", limits::MAX_LOT_BYTES),
        ("MAX_MICRO_BYTES", limits::MAX_MICRO_BYTES),
        ("MAX_PROPOSAL_BYTES", limits::MAX_PROPOSAL_BYTES),
        ("MAX_CERTIFIED_BLOCK_BYTES", limits::MAX_CERTIFIED_BLOCK_BYTES),
        ("MAX_BATCH_ENCODED_BYTES", limits::MAX_BATCH_ENCODED_BYTES),
        ("MAX_FORWARD_BYTES", limits::MAX_FORWARD_BYTES),
        ("MAX_CERTIFIED_BYTES", limits::MAX_CERTIFIED_BYTES),
        ("MAX_ENVELOPE_BYTES", limits::MAX_ENVELOPE_BYTES),
        ("MAX_CLIENT_REQUEST_BYTES", limits::MAX_CLIENT_REQUEST_BYTES),
    ] {
        println!("{name} = {v} ({:.2} MiB)", v as f64 / (1 << 20) as f64);
    }
    const { assert!(limits::MAX_ENVELOPE_BYTES < 100 << 20) };
}
