//! Every malformed case gives its typed error, naming the field: each fixed-width field at a
//! wrong length, each required field missing, unknown enum values, oversized collections and
//! values out of range.

use crate::common::{len, missing, refuses, too_many};
use crate::roundtrip::{full_block, lot, txs, vote};
use daoli_protocol::block::{Batch, Block, CertifiedBlock, Header, MicroBlock};
use daoli_protocol::codec::Hash32;
use daoli_protocol::crypto::Keypair;
use daoli_protocol::delay::{DelayProof, MAX_ITERATIONS};
use daoli_protocol::lot::Lot;
use daoli_protocol::node::{Msg, Proposal};
use daoli_protocol::seed::SeedAnnouncement;
use daoli_protocol::statement::Evidence;
use daoli_protocol::tx::{Transaction, TxKind};
use daoli_protocol::vote::{Qc, Step, Vote};
use daoli_wire::proto as pb;
use daoli_wire::{WireError, limits};

const C: Hash32 = Hash32([0xc4; 32]);

/// Each byte field at one byte short, one byte long and empty.
fn wrong_lengths<C, P: Clone>(p: &P, field: &'static str, n: usize, get: fn(&mut P) -> &mut Vec<u8>)
where
    C: TryFrom<P, Error = WireError> + std::fmt::Debug,
{
    for got in [n - 1, n + 1, 0] {
        refuses::<C, P>(p, |p| get(p).resize(got, 7), len(field, n, got));
    }
}

#[test]
fn lot_and_seed_lengths() {
    let p = pb::Lot::from(&lot("m"));
    wrong_lengths::<Lot, _>(&p, "Lot.prev_hash", 32, |p| &mut p.prev_hash);
    wrong_lengths::<Lot, _>(&p, "Lot.miner", 32, |p| &mut p.miner);
    wrong_lengths::<Lot, _>(&p, "Lot.sponsor", 32, |p| &mut p.sponsor);
    wrong_lengths::<Lot, _>(&p, "Lot.miner_sig", 64, |p| &mut p.miner_sig);
    wrong_lengths::<Lot, _>(&p, "Lot.sponsor_sig", 64, |p| &mut p.sponsor_sig);

    let s = SeedAnnouncement::produce(&Keypair::from_label("vrf"), &C, &Hash32::ZERO, 1);
    let p = pb::SeedAnnouncement::from(&s);
    wrong_lengths::<SeedAnnouncement, _>(&p, "SeedAnnouncement.producer", 32, |p| &mut p.producer);
    wrong_lengths::<SeedAnnouncement, _>(&p, "SeedAnnouncement.seed", 32, |p| &mut p.seed);
    wrong_lengths::<SeedAnnouncement, _>(&p, "SeedAnnouncement.proof", 80, |p| &mut p.proof);
}

fn register() -> pb::Transaction {
    let tx = txs()
        .into_iter()
        .find(|t| matches!(t.kind, TxKind::Register { .. }))
        .unwrap();
    pb::Transaction::from(&tx)
}

fn register_mut(p: &mut pb::Transaction) -> &mut pb::Register {
    match p.kind.as_mut() {
        Some(pb::transaction::Kind::Register(r)) => r,
        _ => unreachable!(),
    }
}

#[test]
fn transaction_fields() {
    let p = pb::Transaction::from(&txs()[0]);
    wrong_lengths::<Transaction, _>(&p, "Transaction.sender", 32, |p| &mut p.sender);
    wrong_lengths::<Transaction, _>(&p, "Transaction.sig", 64, |p| &mut p.sig);
    wrong_lengths::<Transaction, _>(&p, "Transfer.to", 32, |p| match p.kind.as_mut() {
        Some(pb::transaction::Kind::Transfer(t)) => &mut t.to,
        _ => unreachable!(),
    });
    refuses::<Transaction, _>(&p, |p| p.kind = None, missing("Transaction.kind"));

    let r = register();
    refuses::<Transaction, _>(&r, |p| register_mut(p).keys = None, missing("Register.keys"));
    wrong_lengths::<Transaction, _>(&r, "RoleKeys.vote", 32, |p| {
        &mut register_mut(p).keys.as_mut().unwrap().vote
    });
    wrong_lengths::<Transaction, _>(&r, "RoleKeys.vrf", 32, |p| {
        &mut register_mut(p).keys.as_mut().unwrap().vrf
    });
    wrong_lengths::<Transaction, _>(&r, "RoleKeys.batch", 32, |p| {
        &mut register_mut(p).keys.as_mut().unwrap().batch
    });
    wrong_lengths::<Transaction, _>(&r, "RoleKeys.micro", 32, |p| {
        &mut register_mut(p).keys.as_mut().unwrap().micro
    });
    wrong_lengths::<Transaction, _>(&r, "RoleKeys.sponsor", 32, |p| {
        &mut register_mut(p).keys.as_mut().unwrap().sponsor
    });

    // The largest transaction any genesis accepts passes; one byte more is refused.
    let mut big = pb::Transaction::from(&txs()[1]);
    big.memo = vec![];
    let base = Transaction::try_from(big.clone()).unwrap().size();
    big.memo = vec![1; limits::MAX_TX_BYTES - base];
    assert_eq!(Transaction::try_from(big.clone()).unwrap().size(), limits::MAX_TX_BYTES);
    refuses::<Transaction, _>(
        &big,
        |p| p.memo.push(1),
        WireError::Oversized {
            what: "Transaction (canonical size)",
            got: limits::MAX_TX_BYTES + 1,
            limit: limits::MAX_TX_BYTES,
        },
    );
    // The endpoint counts too.
    let mut r = register();
    register_mut(&mut r).endpoint = "x".repeat(limits::MAX_TX_BYTES);
    assert!(matches!(Transaction::try_from(r), Err(WireError::Oversized { .. })));
}

#[test]
fn batch_fields_and_bounds() {
    let b = Batch::seal(&Keypair::from_label("buffer"), &C, 3, 1, txs());
    let p = pb::Batch::from(&b);
    wrong_lengths::<Batch, _>(&p, "Batch.buffer_pk", 32, |p| &mut p.buffer_pk);
    wrong_lengths::<Batch, _>(&p, "Batch.sig", 64, |p| &mut p.sig);
    // A bad transaction inside names the transaction's field.
    refuses::<Batch, _>(&p, |p| p.txs[2].sig.clear(), len("Transaction.sig", 64, 0));
    let n = limits::MAX_BATCH_TXS + 1;
    refuses::<Batch, _>(
        &p,
        |p| p.txs = vec![pb::Transaction::default(); n],
        too_many("Batch.txs", n, limits::MAX_BATCH_TXS),
    );
}

/// 1025 transactions of 64 KiB: each fits, together they are over the largest batch size.
fn over_a_batch() -> Vec<pb::Transaction> {
    let mut t = pb::Transaction::from(&txs()[1]);
    t.memo = vec![];
    let base = Transaction::try_from(t.clone()).unwrap().size();
    t.memo = vec![1; limits::MAX_TX_BYTES - base];
    vec![t; limits::MAX_BATCH_BYTES / limits::MAX_TX_BYTES + 1]
}

#[test]
fn batch_and_forward_over_the_largest_batch_size() {
    let got = (limits::MAX_BATCH_BYTES / limits::MAX_TX_BYTES + 1) * limits::MAX_TX_BYTES;
    let b = pb::Batch {
        txs: over_a_batch(),
        ..pb::Batch::from(&Batch::seal(&Keypair::from_label("b"), &C, 1, 0, vec![]))
    };
    assert_eq!(
        Batch::try_from(b).unwrap_err(),
        WireError::Oversized {
            what: "Batch (sum of canonical transaction sizes)",
            got,
            limit: limits::MAX_BATCH_BYTES,
        }
    );
    let f = pb::PeerMessage {
        msg: Some(pb::peer_message::Msg::Forward(pb::Forward { txs: over_a_batch() })),
    };
    assert_eq!(
        Msg::try_from(f).unwrap_err(),
        WireError::Oversized {
            what: "Forward (sum of canonical transaction sizes)",
            got,
            limit: limits::MAX_BATCH_BYTES,
        }
    );
}

#[test]
fn vote_and_qc_fields() {
    let p = pb::Vote::from(&vote("v", Step::Precommit, Some(Hash32([1; 32]))));
    wrong_lengths::<Vote, _>(&p, "Vote.value", 32, |p| p.value.as_mut().unwrap());
    wrong_lengths::<Vote, _>(&p, "Vote.voter", 32, |p| &mut p.voter);
    wrong_lengths::<Vote, _>(&p, "Vote.sig", 64, |p| &mut p.sig);
    refuses::<Vote, _>(&p, |p| p.step = 0, missing("Vote.step"));
    for bad in [3, 99, -1, i32::MAX] {
        refuses::<Vote, _>(
            &p,
            |p| p.step = bad,
            WireError::UnknownEnum {
                field: "Vote.step",
                value: bad.into(),
            },
        );
    }

    let qc = Qc {
        height: 1,
        round: 0,
        value: Hash32([1; 32]),
        precommits: vec![vote("v", Step::Precommit, Some(Hash32([1; 32])))],
    };
    let p = pb::Qc::from(&qc);
    wrong_lengths::<Qc, _>(&p, "Qc.value", 32, |p| &mut p.value);
    refuses::<Qc, _>(
        &p,
        |p| p.precommits[0].step = 9,
        WireError::UnknownEnum {
            field: "Vote.step",
            value: 9,
        },
    );
    let n = limits::MAX_VOTES + 1;
    refuses::<Qc, _>(
        &p,
        |p| p.precommits = vec![pb::Vote::default(); n],
        too_many("Qc.precommits", n, limits::MAX_VOTES),
    );
}

fn evidence() -> pb::Evidence {
    let e = vote("twice", Step::Prevote, None)
        .evidence(&vote("twice", Step::Prevote, Some(Hash32([1; 32]))))
        .unwrap();
    pb::Evidence::from(&e)
}

#[test]
fn evidence_slot_and_said_fields() {
    let p = evidence();
    refuses::<Evidence, _>(&p, |p| p.slot = None, missing("Evidence.slot"));
    refuses::<Evidence, _>(&p, |p| p.a = None, missing("Evidence.a"));
    refuses::<Evidence, _>(&p, |p| p.b = None, missing("Evidence.b"));
    wrong_lengths::<Evidence, _>(&p, "Slot.signer", 32, |p| &mut p.slot.as_mut().unwrap().signer);
    wrong_lengths::<Evidence, _>(&p, "Slot.subject", 32, |p| &mut p.slot.as_mut().unwrap().subject);
    wrong_lengths::<Evidence, _>(&p, "Said.content", 32, |p| &mut p.a.as_mut().unwrap().content);
    wrong_lengths::<Evidence, _>(&p, "Said.sig", 64, |p| &mut p.b.as_mut().unwrap().sig);
    refuses::<Evidence, _>(&p, |p| p.slot.as_mut().unwrap().kind = 0, missing("Slot.kind"));
    for bad in [7, 255, -3] {
        refuses::<Evidence, _>(
            &p,
            |p| p.slot.as_mut().unwrap().kind = bad,
            WireError::UnknownEnum {
                field: "Slot.kind",
                value: bad.into(),
            },
        );
    }
}

#[test]
fn delay_and_header_fields() {
    let block = full_block();
    let p = pb::Header::from(&block.header);
    wrong_lengths::<Header, _>(&p, "Header.prev_hash", 32, |p| &mut p.prev_hash);
    wrong_lengths::<Header, _>(&p, "Header.seed", 32, |p| &mut p.seed);
    wrong_lengths::<Header, _>(&p, "Header.vrf_proof", 80, |p| p.vrf_proof.as_mut().unwrap());
    wrong_lengths::<Header, _>(&p, "Header.prev_state_root", 32, |p| &mut p.prev_state_root);
    wrong_lengths::<Header, _>(&p, "DelayProof.seed", 32, |p| &mut p.delay.as_mut().unwrap().seed);
    wrong_lengths::<Header, _>(&p, "DelayProof.output", 32, |p| &mut p.delay.as_mut().unwrap().output);
    wrong_lengths::<Header, _>(&p, "DelayProof.checkpoints", 32, |p| {
        &mut p.delay.as_mut().unwrap().checkpoints[1]
    });

    let d = pb::DelayProof::from(block.header.delay.as_ref().unwrap());
    for bad in [0, MAX_ITERATIONS + 1, u64::MAX] {
        refuses::<DelayProof, _>(
            &d,
            |p| p.iterations = bad,
            WireError::OutOfRange {
                field: "DelayProof.iterations",
                value: bad,
                why: "1 ..= 2^40 (delay::MAX_ITERATIONS)",
            },
        );
    }
    let n = limits::MAX_CHECKPOINTS + 1;
    refuses::<DelayProof, _>(
        &d,
        |p| p.checkpoints = vec![vec![]; n],
        too_many("DelayProof.checkpoints", n, limits::MAX_CHECKPOINTS),
    );
    // The largest number of checkpoints passes.
    let mut most = d.clone();
    most.checkpoints = vec![vec![0; 32]; limits::MAX_CHECKPOINTS];
    DelayProof::try_from(most).unwrap();
}

#[test]
fn microblock_fields_and_bounds() {
    let p = pb::MicroBlock::from(full_block().micro.as_ref().unwrap());
    wrong_lengths::<MicroBlock, _>(&p, "MicroBlock.producer_pk", 32, |p| &mut p.producer_pk);
    wrong_lengths::<MicroBlock, _>(&p, "MicroBlock.sig", 64, |p| &mut p.sig);
    wrong_lengths::<MicroBlock, _>(&p, "BatchRef.digest", 32, |p| &mut p.batches[1].digest);
    wrong_lengths::<MicroBlock, _>(&p, "Qc.value", 32, |p| &mut p.prev_qc.as_mut().unwrap().value);
    refuses::<MicroBlock, _>(&p, |p| p.evidence[0].a = None, missing("Evidence.a"));
    refuses::<MicroBlock, _>(&p, |p| p.prev_prevotes[1].step = 0, missing("Vote.step"));
    let n = limits::MAX_BATCH_REFS + 1;
    refuses::<MicroBlock, _>(
        &p,
        |p| p.batches = vec![pb::BatchRef::default(); n],
        too_many("MicroBlock.batches", n, limits::MAX_BATCH_REFS),
    );
    let n = limits::MAX_VOTES + 1;
    refuses::<MicroBlock, _>(
        &p,
        |p| p.prev_prevotes = vec![pb::Vote::default(); n],
        too_many("MicroBlock.prev_prevotes", n, limits::MAX_VOTES),
    );
    let n = limits::MAX_EVIDENCE + 1;
    refuses::<MicroBlock, _>(
        &p,
        |p| p.evidence = vec![pb::Evidence::default(); n],
        too_many("MicroBlock.evidence", n, limits::MAX_EVIDENCE),
    );
}

#[test]
fn block_certified_and_proposal_fields() {
    let block = full_block();
    let p = pb::Block::from(&block);
    refuses::<Block, _>(&p, |p| p.header = None, missing("Block.header"));
    refuses::<Block, _>(&p, |p| p.tree[2].miner.truncate(31), len("Lot.miner", 32, 31));
    refuses::<Block, _>(
        &p,
        |p| p.micro.as_mut().unwrap().sig.clear(),
        len("MicroBlock.sig", 64, 0),
    );
    let n = limits::MAX_TREE_LOTS + 1;
    refuses::<Block, _>(
        &p,
        |p| p.tree = vec![pb::Lot::default(); n],
        too_many("Block.tree", n, limits::MAX_TREE_LOTS),
    );

    let cb = CertifiedBlock {
        qc: Qc {
            height: 5,
            round: 0,
            value: block.hash(),
            precommits: vec![],
        },
        block: block.clone(),
    };
    let p = pb::CertifiedBlock::from(&cb);
    refuses::<CertifiedBlock, _>(&p, |p| p.block = None, missing("CertifiedBlock.block"));
    refuses::<CertifiedBlock, _>(&p, |p| p.qc = None, missing("CertifiedBlock.qc"));
    refuses::<CertifiedBlock, _>(&p, |p| p.block.as_mut().unwrap().header = None, missing("Block.header"));

    let prop = Proposal::new(&Keypair::from_label("vote"), &C, 2, Some(1), block);
    let p = pb::Proposal::from(&prop);
    refuses::<Proposal, _>(&p, |p| p.block = None, missing("Proposal.block"));
    wrong_lengths::<Proposal, _>(&p, "Proposal.proposer", 32, |p| &mut p.proposer);
    wrong_lengths::<Proposal, _>(&p, "Proposal.sig", 64, |p| &mut p.sig);
    refuses::<Proposal, _>(
        &p,
        |p| p.valid_round = Some(u32::MAX),
        WireError::OutOfRange {
            field: "Proposal.valid_round",
            value: u32::MAX.into(),
            why: "4294967295 stands for none in the signed content; send none as absent",
        },
    );
    let n = limits::MAX_VOTES + 1;
    refuses::<Proposal, _>(
        &p,
        |p| p.pol = vec![pb::Vote::default(); n],
        too_many("Proposal.pol", n, limits::MAX_VOTES),
    );
}

#[test]
fn peer_message_fields_and_bounds() {
    use pb::peer_message::Msg as P;
    let wrap = |m: P| pb::PeerMessage { msg: Some(m) };
    refuses::<Msg, _>(&pb::PeerMessage::default(), |_| {}, missing("PeerMessage.msg"));
    refuses::<Msg, _>(
        &wrap(P::Certified(pb::Certified::default())),
        |_| {},
        missing("Certified.block"),
    );
    let block = full_block();
    let cb = CertifiedBlock {
        qc: Qc {
            height: 5,
            round: 0,
            value: block.hash(),
            precommits: vec![],
        },
        block,
    };
    let n = limits::MAX_CERTIFIED_BATCHES + 1;
    refuses::<Msg, _>(
        &wrap(P::Certified(pb::Certified {
            block: Some((&cb).into()),
            batches: vec![pb::Batch::default(); n],
        })),
        |_| {},
        too_many("Certified.batches", n, limits::MAX_CERTIFIED_BATCHES),
    );
    let n = limits::MAX_BATCH_REQUEST_DIGESTS + 1;
    refuses::<Msg, _>(
        &wrap(P::BatchRequest(pb::BatchRequest {
            digests: vec![vec![0; 32]; n],
        })),
        |_| {},
        too_many("BatchRequest.digests", n, limits::MAX_BATCH_REQUEST_DIGESTS),
    );
    refuses::<Msg, _>(
        &wrap(P::BatchRequest(pb::BatchRequest {
            digests: vec![vec![0; 32], vec![0; 33]],
        })),
        |_| {},
        len("BatchRequest.digests", 32, 33),
    );
    let n = limits::MAX_FORWARD_TXS + 1;
    refuses::<Msg, _>(
        &wrap(P::Forward(pb::Forward {
            txs: vec![pb::Transaction::default(); n],
        })),
        |_| {},
        too_many("Forward.txs", n, limits::MAX_FORWARD_TXS),
    );
    refuses::<Msg, _>(
        &wrap(P::Forward(pb::Forward {
            txs: vec![pb::Transaction::default()],
        })),
        |_| {},
        len("Transaction.sender", 32, 0),
    );
    // The largest collections pass.
    let ok = wrap(P::BatchRequest(pb::BatchRequest {
        digests: vec![vec![0; 32]; limits::MAX_BATCH_REQUEST_DIGESTS],
    }));
    Msg::try_from(ok).unwrap();
}

#[test]
fn genesis_fields_and_bounds() {
    use daoli_protocol::params::{Genesis, Identity, MAX_GENESIS_DATACENTERS};
    let mut g = Genesis::solo(&Identity::from_label("g"), vec![(Keypair::from_label("a").public(), 5)]);
    g.periodic_lottery = Some(daoli_protocol::params::PeriodicLottery {
        every: 1,
        length: 1,
        price: 1,
        winners: 1,
    });
    let p = pb::Genesis::from(&g);
    refuses::<Genesis, _>(&p, |p| p.params = None, missing("Genesis.params"));
    refuses::<Genesis, _>(&p, |p| p.founders[0].keys = None, missing("Datacenter.keys"));
    wrong_lengths::<Genesis, _>(&p, "Datacenter.root", 32, |p| &mut p.founders[0].root);
    wrong_lengths::<Genesis, _>(&p, "Genesis.seats", 32, |p| &mut p.seats[3]);
    wrong_lengths::<Genesis, _>(&p, "Genesis.seed", 32, |p| &mut p.seed);
    wrong_lengths::<Genesis, _>(&p, "Account.key", 32, |p| &mut p.accounts[0].key);
    let n = MAX_GENESIS_DATACENTERS + 1;
    refuses::<Genesis, _>(
        &p,
        |p| p.founders = vec![pb::Datacenter::default(); n],
        too_many("Genesis.founders", n, MAX_GENESIS_DATACENTERS),
    );
    let n = limits::MAX_WAVES + 1;
    refuses::<Genesis, _>(
        &p,
        |p| p.params.as_mut().unwrap().waves = vec![1; n],
        too_many("Params.waves", n, limits::MAX_WAVES),
    );
    let n = limits::MAX_SEATS + 1;
    refuses::<Genesis, _>(
        &p,
        |p| p.seats = vec![vec![]; n],
        too_many("Genesis.seats", n, limits::MAX_SEATS),
    );
}
