//! Protocol v2 rules on a chain certified by real nodes: each test takes a valid record and
//! shows the attack (or the v1 behaviour) the rule stops.

mod common;

use common::{Net, certified_net, commit};
use daoli_protocol::block::{Batch, BatchRef, CertifiedBlock, MicroBlock};
use daoli_protocol::chain::{BlockError, Chain};
use daoli_protocol::codec::Hash32;
use daoli_protocol::crypto::{Keypair, Signature};
use daoli_protocol::dcc;
use daoli_protocol::delay::{self, DelayError};
use daoli_protocol::ledger::LotteryEvent;
use daoli_protocol::vote::{Step, Vote};
use std::sync::OnceLock;

fn net() -> &'static Net {
    static NET: OnceLock<Net> = OnceLock::new();
    NET.get_or_init(|| certified_net(12, true))
}

/// `cb` with its block changed by `f` and a fresh QC from every seat, for `chain`'s next height.
fn recertify(net: &Net, chain: &Chain, cb: &CertifiedBlock, f: impl FnOnce(&mut CertifiedBlock)) -> CertifiedBlock {
    let mut cb = cb.clone();
    f(&mut cb);
    cb.qc = net.qc(
        chain,
        cb.block.height(),
        cb.block.hash(),
        &[10_000, 10_001, 10_002, 10_003],
    );
    cb
}

/// The MicroBlock changed by `f` and signed again by its producer.
fn remicro(net: &Net, chain: &Chain, m: &MicroBlock, f: impl FnOnce(&mut MicroBlock)) -> MicroBlock {
    let mut m = m.clone();
    f(&mut m);
    let key = net.owner(&m.producer_pk).micro.clone();
    m.sign(&key, chain.id())
}

/// A valid batch for lineup address (cycle 2, slot 0), sealed by the buffer that serves it, of
/// one transfer of `amount` (nonce 0) from the funded client.
fn slot0_batch(net: &Net, amount: u64) -> Batch {
    let c = net.chain_at(1);
    let id = *c.id();
    let buffer = &net.owner(&c.payroll_entry(1, 0).unwrap().keys.batch).batch;
    let tx = daoli_protocol::tx::Transaction::new(
        &Keypair::from_label("nt-client"),
        &id,
        0,
        1,
        daoli_protocol::tx::TxKind::Transfer {
            to: net.dcs[0].root.public(),
            amount,
        },
        vec![],
    );
    Batch::seal(buffer, &id, 2, 0, vec![tx])
}

/// Block 2 of the record with its MicroBlock naming `batches` instead, signed and certified
/// again for `chain` (at height 1).
fn block2_naming(net: &Net, chain: &Chain, batches: &[&Batch]) -> CertifiedBlock {
    let (cb2, _) = &net.record[1];
    let refs = batches
        .iter()
        .map(|b| BatchRef {
            cycle: b.cycle,
            slot: b.slot,
            digest: b.digest(),
        })
        .collect();
    let m = remicro(net, chain, cb2.block.micro.as_ref().unwrap(), |m| m.batches = refs);
    recertify(net, chain, cb2, |cb| cb.block.micro = Some(m))
}

type Edit<'a> = Box<dyn Fn(&mut MicroBlock) + 'a>;

fn balance_of_roots(net: &Net, c: &Chain) -> Vec<u64> {
    net.dcs
        .iter()
        .map(|d| c.state.account(&d.root.public()).balance)
        .collect()
}

// Rule 12. v1 took each node's own QC of block h for h's timestamp: nodes that saw different
// quorums disagreed on the DCC for good.
#[test]
fn every_node_derives_one_timestamp_from_the_qc_the_next_block_embeds() {
    let net = net();
    let (cb1, b1) = &net.record[0];
    let (cb2, b2) = &net.record[1];
    let m2 = cb2.block.micro.as_ref().expect("block 2 has a MicroBlock");
    let embedded = m2.prev_qc.as_ref().expect("it embeds block 1's QC");
    let mut a = net.chain_at(0);
    let mut b = net.chain_at(0);
    // Two honest nodes certify block 1 with different quorums and clocks.
    let qa = net.qc(&a, 1, cb1.block.hash(), &[100, 110, 120, 130]);
    let qb = net.qc(&b, 1, cb1.block.hash(), &[700, 710, 720]);
    commit(&mut a, CertifiedBlock { qc: qa, ..cb1.clone() }, b1).unwrap();
    commit(&mut b, CertifiedBlock { qc: qb, ..cb1.clone() }, b1).unwrap();
    assert_ne!(a.timestamps[1], b.timestamps[1], "provisional timestamps differ");
    assert_eq!(a.certified_timestamp(1), None, "not agreed before block 2");
    commit(&mut a, cb2.clone(), b2).unwrap();
    commit(&mut b, cb2.clone(), b2).unwrap();
    let seats = a.seats(1);
    let expected = dcc::certified_timestamp(
        0,
        embedded
            .precommits
            .iter()
            .map(|v| (v.timestamp, seats.weight(&v.voter)))
            .collect(),
    );
    assert_eq!(a.certified_timestamp(1), Some(expected));
    assert_eq!(b.certified_timestamp(1), Some(expected));
    assert_eq!(a.certified_timestamp(0), Some(0));

    // Without a MicroBlock, h-1's timestamp is the previous one plus the expected cycle.
    let mut a = net.chain_at(0);
    let mut b = net.chain_at(0);
    let qa = net.qc(&a, 1, cb1.block.hash(), &[100, 110, 120, 130]);
    let qb = net.qc(&b, 1, cb1.block.hash(), &[700, 710, 720]);
    commit(&mut a, CertifiedBlock { qc: qa, ..cb1.clone() }, b1).unwrap();
    commit(&mut b, CertifiedBlock { qc: qb, ..cb1.clone() }, b1).unwrap();
    let bare = recertify(net, &a, cb2, |cb| cb.block.micro = None);
    commit(&mut a, bare.clone(), &[]).unwrap();
    commit(&mut b, bare, &[]).unwrap();
    let l0 = net.genesis.params.l0_ms;
    assert_eq!(a.certified_timestamp(1), Some(l0));
    assert_eq!(b.certified_timestamp(1), Some(l0));
}

// Rule 11. v1 paid the QC's precommit signers, split among those included: the producer could
// raise its own share by leaving others out, and prevoting early earned nothing as such.
#[test]
fn prevotes_for_the_decided_value_pay_by_wave_and_dropping_one_raises_no_other_share() {
    let net = net();
    let (cb2, b2) = &net.record[1];
    let m2 = cb2.block.micro.as_ref().expect("MicroBlock");
    let qc1 = m2.prev_qc.as_ref().expect("prev QC");
    assert!(
        m2.prev_prevotes.len() >= 2,
        "prevotes held by the producer when block 1 was decided"
    );
    let mut full = net.chain_at(1);
    let mut cut = net.chain_at(1);
    let dropped = m2.prev_prevotes.last().unwrap().voter;
    let short = remicro(net, &cut, m2, |m| {
        m.prev_prevotes.pop();
    });
    let short = recertify(net, &cut, cb2, |cb| cb.block.micro = Some(short));
    commit(&mut full, cb2.clone(), b2).unwrap();
    commit(&mut cut, short, b2).unwrap();
    let p = &net.genesis.params;
    let seats = full.seats(1);
    let pool = p.coinbase * p.signer_share_permille / 1000;
    let share = pool * seats.prevote_reward(&dropped, qc1.round) / seats.reward_total();
    assert!(share > 0);
    for (d, (x, y)) in net.dcs.iter().zip(
        balance_of_roots(net, &full)
            .into_iter()
            .zip(balance_of_roots(net, &cut)),
    ) {
        if d.vote.public() == dropped {
            assert_eq!(x - y, share, "the left-out seat loses exactly its share");
        } else {
            assert_eq!(x, y, "nobody else gains from it");
        }
    }
    // Earlier waves earn more per position (3:2:1 for [5, 3, 3]).
    let first = seats.list[0];
    let last = seats.list[10];
    assert_eq!(seats.position_reward(0, 0), 3);
    assert_eq!(seats.position_reward(10, 0), 1);
    assert!(seats.prevote_reward(&first, 0) > 0 && seats.prevote_reward(&last, 0) > 0);
}

// Rule 11: the embedded prevotes are checked like a QC, so nobody is paid for a vote it did not
// cast for the decided value.
#[test]
fn embedded_prevotes_must_be_signed_distinct_seats_for_the_decided_value() {
    let net = net();
    let (cb2, b2) = &net.record[1];
    let m2 = cb2.block.micro.as_ref().unwrap();
    let c = net.chain_at(1);
    let id = *c.id();
    let qc1 = m2.prev_qc.clone().unwrap();
    let d0 = &net.dcs[0];
    let stranger = Keypair::from_label("not a seat");
    let attacks: Vec<(&str, Edit)> = vec![
        (
            "a prevote for another value",
            Box::new(|m| {
                m.prev_prevotes[0] =
                    Vote::sign_unchecked(&d0.vote, &id, 1, qc1.round, Step::Prevote, Some(Hash32([7; 32])), 0)
            }),
        ),
        (
            "a prevote of another round",
            Box::new(|m| {
                m.prev_prevotes[0] =
                    Vote::sign_unchecked(&d0.vote, &id, 1, qc1.round + 1, Step::Prevote, Some(qc1.value), 0)
            }),
        ),
        (
            "a precommit passed off as a prevote",
            Box::new(|m| {
                m.prev_prevotes[0] =
                    Vote::sign_unchecked(&d0.vote, &id, 1, qc1.round, Step::Precommit, Some(qc1.value), 5)
            }),
        ),
        (
            "one voter twice",
            Box::new(|m| m.prev_prevotes.push(m.prev_prevotes[0].clone())),
        ),
        (
            "a key that holds no seat",
            Box::new(|m| {
                m.prev_prevotes.push(Vote::sign_unchecked(
                    &stranger,
                    &id,
                    1,
                    qc1.round,
                    Step::Prevote,
                    Some(qc1.value),
                    0,
                ))
            }),
        ),
        (
            "a forged signature",
            Box::new(|m| m.prev_prevotes[1].sig = Signature([3; 64])),
        ),
        ("prevotes without the QC", Box::new(|m| m.prev_qc = None)),
    ];
    for (what, f) in attacks {
        let mut chain = net.chain_at(1);
        let root = chain.state.root();
        let m = remicro(net, &chain, m2, |m| f(m));
        let cb = recertify(net, &chain, cb2, |cb| cb.block.micro = Some(m));
        let r = commit(&mut chain, cb, b2);
        assert!(matches!(r, Err(BlockError::PrevPrevotes(_))), "{what}: {r:?}");
        assert_eq!(
            (chain.height(), chain.state.root()),
            (1, root),
            "{what} changed nothing"
        );
    }
    // The honest one passes.
    let mut chain = net.chain_at(1);
    commit(&mut chain, cb2.clone(), b2).unwrap();
}

// Rule 5. v1 drew with seed_{close+D} itself: its producer knew the draw before choosing to
// publish or withhold. Now the draw is at close+D+E with the delay output over that seed.
#[test]
fn the_draw_uses_the_delay_output_carried_at_close_plus_d_plus_e() {
    let net = net();
    let p = &net.genesis.params;
    let mut chain = net.chain_at(0);
    let mut drawn = None;
    for (cb, batches) in &net.record {
        let h = cb.block.height();
        let due = chain.delay_seed(h);
        assert_eq!(due.is_some(), cb.block.header.delay.is_some(), "height {h}");
        let out = commit(&mut chain, cb.clone(), batches).unwrap();
        for e in out.lottery {
            if let LotteryEvent::Drawn { round, seed, .. } = e {
                drawn = Some((h, round, seed));
            }
        }
    }
    let (h, round, seed) = drawn.expect("a round was drawn");
    let r = &chain.state.rounds[&round];
    assert_eq!(h, r.close_height + p.draw_delay + p.delay_blocks);
    let proof = net.record[h as usize - 1].0.block.header.delay.clone().unwrap();
    let seed_at = chain.seeds[(r.close_height + p.draw_delay) as usize];
    assert_eq!(proof.seed, seed_at);
    assert_eq!(
        seed,
        delay::evaluate(&seed_at, p.delay_iterations, p.delay_segments)
            .unwrap()
            .output
    );
    assert_ne!(seed, seed_at, "the draw seed is not the block seed");

    // Every way to cut the delay short or fake it is refused and changes nothing.
    let k = h as usize - 1;
    let (cb, batches) = &net.record[k];
    let bad_checkpoint = {
        let mut d = proof.clone();
        d.checkpoints[2].0[0] ^= 1;
        d
    };
    let short = delay::evaluate(&seed_at, p.delay_iterations / 2, p.delay_segments).unwrap();
    let other_seed = delay::evaluate(&chain.seeds[k], p.delay_iterations, p.delay_segments).unwrap();
    let cases = [
        (None, "missing"),
        (Some(bad_checkpoint), "a checkpoint off the chain of steps"),
        (Some(short), "half the steps"),
        (Some(other_seed), "over another seed"),
    ];
    for (d, what) in cases {
        let mut c = net.chain_at(k);
        let root = c.state.root();
        let forged = recertify(net, &c, cb, |cb| cb.block.header.delay = d);
        let r = commit(&mut c, forged, batches);
        assert!(
            matches!(r, Err(BlockError::DelayMissing | BlockError::Delay(_))),
            "{what}: {r:?}"
        );
        assert_eq!((c.height(), c.state.root()), (k as u64, root), "{what}");
    }
    let mut c = net.chain_at(k);
    let forged = recertify(net, &c, cb, |cb| {
        cb.block.header.delay.as_mut().unwrap().checkpoints[0].0[0] ^= 1
    });
    assert!(matches!(
        commit(&mut c, forged, batches),
        Err(BlockError::Delay(DelayError::SegmentMismatch { segment: 0, .. }))
    ));
    // A block where no draw is due carries no delay.
    let (cb, batches) = &net.record[k - 1];
    let mut c = net.chain_at(k - 1);
    let forged = recertify(net, &c, cb, |cb| cb.block.header.delay = Some(proof.clone()));
    assert!(matches!(commit(&mut c, forged, batches), Err(BlockError::DelayNotDue)));
}

// Rule 10: included evidence burns the offender's bond and vacates all its seats at once, from
// the next height; v1 only barred future lineups and left the current seats voting.
#[test]
fn included_evidence_vacates_every_seat_of_the_offender_from_the_next_height() {
    let net = net();
    let (cb2, b2) = &net.record[1];
    let m2 = cb2.block.micro.as_ref().unwrap();
    let mut c = net.chain_at(1);
    let id = *c.id();
    let liar = &net.dcs[3];
    let e = Vote::sign_unchecked(&liar.vote, &id, 1, 0, Step::Prevote, Some(Hash32([1; 32])), 0)
        .evidence(&Vote::sign_unchecked(&liar.vote, &id, 1, 0, Step::Prevote, None, 0))
        .expect("conflict");
    // What it would hold at height 3 had it not been caught.
    let held = net.chain_at(2).seats(3).weight(&liar.vote.public());
    assert!(held > 0);
    let held_now = c.seats(2).weight(&liar.vote.public());
    let m = remicro(net, &c, m2, |m| m.evidence = vec![e]);
    let cb = recertify(net, &c, cb2, |cb| cb.block.micro = Some(m));
    commit(&mut c, cb, b2).unwrap();
    let (_, d) = c.state.dc_of(&liar.vote.public()).unwrap();
    assert_eq!((d.bond, d.slashed_at), (0, Some(2)));
    assert_eq!(
        c.seats(2).weight(&liar.vote.public()),
        held_now,
        "height 2 was already seated"
    );
    let s3 = c.seats(3);
    assert_eq!(s3.weight(&liar.vote.public()), 0);
    assert_eq!(
        s3.list
            .iter()
            .filter(|k| **k == daoli_protocol::vote::Seats::VACANT)
            .count() as u64,
        held
    );
    assert_eq!(s3.n(), 11 - held, "vacant seats leave the committee");
    assert_eq!(s3.quorum(), s3.n() - (s3.n() - 1) / 3);
    // Its precommit no longer counts toward a certificate.
    let (cb3, b3) = &net.record[2];
    let mut with_liar = net.qc(&c, 3, cb3.block.hash(), &[1, 2, 3]);
    with_liar.precommits.push(Vote::sign_unchecked(
        &liar.vote,
        &id,
        3,
        0,
        Step::Precommit,
        Some(cb3.block.hash()),
        4,
    ));
    let r = commit(
        &mut c,
        CertifiedBlock {
            qc: with_liar,
            ..cb3.clone()
        },
        b3,
    );
    assert!(
        matches!(r, Err(BlockError::Qc(daoli_protocol::vote::QcError::NotASeat(3, _)))),
        "{r:?}"
    );
}

// Rule 3: a seat does not prevote a block whose leader is less lucky than a lot it holds in
// time (the censored tree of a coalition that left the luckiest lot out).
#[test]
fn a_seat_refuses_a_block_that_leaves_out_a_luckier_lot_it_holds() {
    let net = net();
    let mut n = common::node(&net.genesis, &net.dcs, 0);
    let id = *n.chain().id();
    let p = &net.genesis.params;
    let seed = daoli_protocol::seed::fallback(&id, &net.genesis.seed, 1);
    let tip = n.chain().tip_hash();
    let lots: Vec<_> = (0..6)
        .map(|i| common::sponsored_lot(&id, 1, tip, &net.dcs[1 + i % 3], &format!("luck{i}"), p.pow_bits, 0))
        .collect();
    for l in &lots {
        let (_, r) = n.handle(50, net.dcs[1].root.public(), daoli_protocol::node::Msg::Lot(l.clone()));
        r.unwrap();
    }
    // Lot drawing counts them at the throttle; the trustee checks blocks against them.
    let at = n.cycle().throttle(p);
    n.tick(at);
    let mut by_luck = lots.clone();
    by_luck.sort_by_key(|l| l.rank(&seed));
    let block = |tree: Vec<daoli_protocol::lot::Lot>| daoli_protocol::block::Block {
        header: daoli_protocol::block::Header {
            height: 1,
            prev_hash: n.chain().tip_hash(),
            seed,
            vrf_proof: None,
            prev_state_root: n.chain().roots[0],
            delay: None,
        },
        tree,
        micro: None,
    };
    assert!(n.would_vote_for(&block(by_luck.clone())));
    assert!(
        !n.would_vote_for(&block(by_luck[1..].to_vec())),
        "the luckiest lot was censored"
    );
}

// Rule 10: a datacenter caught with several of its role keys is accused once per MicroBlock
// (a MicroBlock accusing one datacenter twice is invalid, so a pool holding both would make
// every MicroBlock invalid, as the simulator's all-out equivocator showed).
#[test]
fn evidence_against_two_role_keys_of_one_datacenter_is_pooled_once() {
    let net = net();
    let mut n = common::node(&net.genesis, &net.dcs, 0);
    let id = *n.chain().id();
    let p = &net.genesis.params;
    let liar = &net.dcs[3];
    let from = net.dcs[1].root.public();
    // Its sponsor key countersigns two lots of one miner...
    let tip = n.chain().tip_hash();
    for nonce in [0, 1 << 30] {
        let l = common::sponsored_lot(&id, 1, tip, liar, "twin-miner", p.pow_bits, nonce);
        let _ = n.handle(50, from, daoli_protocol::node::Msg::Lot(l));
    }
    // ...and its vote key prevotes two values.
    for v in [Hash32([1; 32]), Hash32([2; 32])] {
        let vote = Vote::sign_unchecked(&liar.vote, &id, 1, 0, Step::Prevote, Some(v), 0);
        let _ = n.handle(60, from, daoli_protocol::node::Msg::Vote(vote));
    }
    let (cb1, b1) = net.record[0].clone();
    let (out, r) = n.handle(2_000, from, daoli_protocol::node::Msg::Certified(cb1, b1));
    r.unwrap();
    let persisted = out
        .iter()
        .filter(|o| matches!(o, daoli_protocol::node::Output::PersistEvidence(_)))
        .count();
    assert_eq!(n.evidence().len(), 1, "{:?}", n.evidence());
    assert_eq!(persisted, 1);
    assert_eq!(
        n.chain().state.dc_of(&n.evidence()[0].offender()).unwrap().0,
        liar.root.public()
    );
}

// Rule 8. v1 stored unverified messages for any future height in one shared queue: 4,096
// forged far-future votes filled it and every legitimate next-cycle message was dropped.
#[test]
fn only_verified_next_cycle_messages_are_held_within_per_peer_bounds() {
    use daoli_protocol::limits;
    use daoli_protocol::node::{Msg, Reject};
    let net = net();
    let mut n = common::node(&net.genesis, &net.dcs, 0);
    let id = *n.chain().id();
    let (liar, honest) = (&net.dcs[3], &net.dcs[1]);
    let vote = |k: &Keypair, h, r| Vote::sign_unchecked(k, &id, h, r, Step::Prevote, Some(Hash32([9; 32])), 0);
    // Far-future votes are refused, not stored.
    for h in 3..5_000 {
        let (_, r) = n.handle(10, liar.root.public(), Msg::Vote(vote(&liar.vote, h, 0)));
        assert!(matches!(r, Err(Reject::FarFuture(x)) if x == h), "{r:?}");
    }
    assert_eq!(n.held_next_cycle(), 0);
    // A forged next-cycle vote is refused; so is one from a datacenter nobody registered.
    let mut forged = vote(&honest.vote, 2, 0);
    forged.sig.0[0] ^= 1;
    assert!(matches!(
        n.handle(10, liar.root.public(), Msg::Vote(forged)).1,
        Err(Reject::Signature)
    ));
    let stranger = Keypair::from_label("stranger");
    assert!(matches!(
        n.handle(10, stranger.public(), Msg::Vote(vote(&stranger, 2, 0))).1,
        Err(Reject::UnknownPeer)
    ));
    // One peer fills only its own share of the next-cycle queue...
    let mut held = 0;
    for r in 0..(limits::NEXT_CYCLE_PER_PEER as u32 + 10) {
        match n.handle(10, liar.root.public(), Msg::Vote(vote(&liar.vote, 2, r))).1 {
            Err(Reject::Future) => held += 1,
            Err(Reject::Busy(..)) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(held, limits::NEXT_CYCLE_PER_PEER);
    // ...and another peer's legitimate next-cycle vote is still held.
    assert!(matches!(
        n.handle(10, honest.root.public(), Msg::Vote(vote(&honest.vote, 2, 0)))
            .1,
        Err(Reject::Future)
    ));
    assert_eq!(n.held_next_cycle(), limits::NEXT_CYCLE_PER_PEER + 1);
    // When the cycle begins, what was held is taken and every peer's share is free again.
    let (cb1, b1) = net.record[0].clone();
    n.handle(20, honest.root.public(), Msg::Certified(cb1, b1)).1.unwrap();
    assert_eq!(n.held_next_cycle(), 0);
    assert!(matches!(
        n.handle(30, liar.root.public(), Msg::Vote(vote(&liar.vote, 3, 0))).1,
        Err(Reject::Future)
    ));
}

// Rule 8: serving peers is rate-limited per datacenter and cycle.
#[test]
fn sync_and_batch_requests_are_served_within_a_per_peer_budget() {
    use daoli_protocol::limits;
    use daoli_protocol::node::{Msg, Output, Reject};
    let net = net();
    let mut n = common::node(&net.genesis, &net.dcs, 0);
    let from = net.dcs[2].root.public();
    for (cb, b) in net
        .record
        .iter()
        .take(limits::SYNC_BLOCKS_PER_REQUEST as usize + 2)
        .cloned()
    {
        let t = n.cycle().start + 10;
        n.handle(t, from, Msg::Certified(cb, b)).1.unwrap();
    }
    let t = n.cycle().start + 10;
    for i in 0..limits::SYNC_REQUESTS_PER_CYCLE {
        let (out, r) = n.handle(t, from, Msg::SyncRequest { from: 1 });
        r.unwrap();
        let sent = out
            .iter()
            .filter(|o| matches!(o, Output::Send(_, Msg::Certified(..))))
            .count() as u64;
        assert_eq!(sent, limits::SYNC_BLOCKS_PER_REQUEST.min(n.height()), "request {i}");
    }
    let (out, r) = n.handle(t, from, Msg::SyncRequest { from: 1 });
    assert!(matches!(r, Err(Reject::Busy(..))), "{r:?}");
    assert!(!out.iter().any(|o| matches!(o, Output::Send(..))), "nothing served");
    // Another datacenter still gets served.
    assert!(
        n.handle(t, net.dcs[1].root.public(), Msg::SyncRequest { from: 1 })
            .1
            .is_ok()
    );
    for _ in 0..limits::BATCH_REQUESTS_PER_CYCLE {
        n.handle(t, from, Msg::BatchRequest(vec![Hash32([1; 32])])).1.unwrap();
    }
    assert!(matches!(
        n.handle(t, from, Msg::BatchRequest(vec![Hash32([1; 32])])).1,
        Err(Reject::Busy(..))
    ));
}

// Rule 8: round-0 blocks (own views) are taken from one seat a bounded number of times per
// height; each costs a block validation.
#[test]
fn a_seat_cannot_flood_own_view_blocks() {
    use daoli_protocol::limits;
    use daoli_protocol::node::{Msg, Proposal, Reject};
    let net = net();
    let mut n = common::node(&net.genesis, &net.dcs, 0);
    let id = *n.chain().id();
    let seat = &net.dcs[1];
    let (cb1, _) = &net.record[0];
    let mut refused = 0;
    for i in 0..(limits::OWN_VIEWS_PER_SEAT + 3) {
        let mut b = cb1.block.clone();
        b.header.seed.0[0] ^= i as u8 + 1; // a different (invalid) block each time
        let pr = Proposal::new(&seat.vote, &id, 0, None, b);
        match n.handle(100, seat.root.public(), Msg::Proposal(pr)).1 {
            Err(Reject::Busy(..)) => refused += 1,
            Err(Reject::Block(_) | Reject::Seed(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(refused, 3);
}

// An acknowledged transaction is never lost and a seat never signs two conflicting votes,
// across a crash that loses everything not persisted: the node is rebuilt from its store.
#[test]
fn a_node_rebuilt_from_its_store_keeps_its_chain_acknowledged_txs_and_votes() {
    use daoli_protocol::datacenter::Datacenter;
    use daoli_protocol::node::{Durable, Msg, Output};
    let net = net();
    let mut n = common::node(&net.genesis, &net.dcs, 0);
    let id = *n.chain().id();
    let from = net.dcs[1].root.public();
    let mut durable = Durable::default();
    for (cb, b) in net.record.iter().take(3).cloned() {
        let (out, r) = n.handle(n.cycle().start + 10, from, Msg::Certified(cb, b));
        r.unwrap();
        for o in &out {
            durable.record(o);
        }
    }
    assert_eq!(durable.blocks.len(), 3, "each certified block is persisted");
    // A client's transaction, acknowledged by this datacenter's buffer.
    let client = Keypair::from_label("nt-client");
    let h = n.height();
    let slot = (0..net.genesis.params.payroll as u32)
        .find(|s| n.chain().payroll_entry(h, *s).is_some_and(|e| e.dc == n.public()))
        .expect("this datacenter serves a slot");
    let tx = daoli_protocol::tx::Transaction::new(
        &client,
        &id,
        n.chain().state.account(&client.public()).nonce,
        1,
        daoli_protocol::tx::TxKind::Transfer { to: from, amount: 1 },
        vec![],
    );
    let t = n.cycle().start + 10;
    let (out, _) = n.handle(
        t,
        client.public(),
        Msg::Tx {
            client: 1,
            slot,
            tx: tx.clone(),
        },
    );
    assert!(out.iter().any(|o| matches!(o, Output::Reply { result: Ok(()), .. })));
    for o in &out {
        durable.record(o);
    }
    assert_eq!(durable.txs, vec![tx.clone()], "persisted before the reply");
    // A vote, and the batch its buffer sealed, signed before the crash.
    for o in &n.tick(n.cycle().start + 5_000) {
        durable.record(o);
    }
    let sealed: Vec<_> = n.kernel_buffer.buffer.sealed.keys().copied().collect();
    assert_eq!(sealed.len(), 1, "the buffer sealed the transaction");
    // Evidence it persisted (a MicroBlock producer's double signature, here).
    let (cb2, _) = &net.record[1];
    let m = cb2.block.micro.clone().expect("MicroBlock");
    let producer = net.owner(&m.producer_pk).micro.clone();
    let mut other = m.clone();
    other.batches.clear();
    other.prev_prevotes.clear();
    let other = other.sign(&producer, &id);
    let e = m.evidence(&other).expect("two MicroBlocks for one height");
    e.verify(&id).unwrap();
    durable.evidence.push(e.clone());
    let voted: Vec<_> = durable
        .votes
        .iter()
        .filter(|v| v.height == n.height() + 1)
        .cloned()
        .collect();
    assert!(
        !voted.is_empty(),
        "it voted at the height in progress, and persisted the votes"
    );
    let root = n.chain().state.root();
    let r = Datacenter::recover(net.genesis.clone(), net.dcs[0].clone(), vec![], durable, 99, t + 6_000).unwrap();
    assert_eq!((r.height(), r.chain().state.root()), (n.height(), root));
    let buffer = &r.kernel_buffer.buffer;
    assert!(buffer.holds(&tx.hash()), "the acknowledged transaction is back");
    // ...sealed in the batch it signed, so it is not sealed into a second one for that address.
    assert_eq!(buffer.sealed.keys().copied().collect::<Vec<_>>(), sealed);
    assert_eq!(buffer.pending_len(), 0);
    assert_eq!(
        daoli_protocol::vote::VoteJournal::at_height(r.trustee.journal(), r.height() + 1),
        voted,
        "and so is every vote it signed"
    );
    assert_eq!(r.evidence(), &[e], "the evidence survived the crash");
    // Nothing unpersisted survived: no lots, no seed.
    assert_eq!(r.held_next_cycle(), 0);
}

// Rule 10: proposals (from round 1) and MicroBlocks have evidence types of their own; v1 had
// none, so a proposer or producer could equivocate for free. Round-0 "proposals" (own views)
// are not evidence: a seat may update its own view.
#[test]
fn equivocating_proposals_and_microblocks_make_evidence() {
    use daoli_protocol::node::Proposal;
    let net = net();
    let id = *net.chain_at(0).id();
    let (cb2, _) = &net.record[1];
    let seat = &net.dcs[1];
    let a = cb2.block.clone();
    let mut b = a.clone();
    b.micro = None;
    let p1 = Proposal::new(&seat.vote, &id, 1, None, a.clone());
    let p2 = Proposal::new(&seat.vote, &id, 1, None, b.clone());
    let e = p1.evidence(&p2).expect("two proposals for one round");
    e.verify(&id).unwrap();
    assert_eq!(e.offender(), seat.vote.public());
    assert_eq!(p1.evidence(&p1.clone()), None);
    let m = a.micro.clone().unwrap();
    let key = net.owner(&m.producer_pk).micro.clone();
    let mut m2 = m.clone();
    m2.batches.clear();
    m2.prev_prevotes.clear();
    let m2 = m2.sign(&key, &id);
    let e = m.evidence(&m2).expect("two MicroBlocks for one height");
    e.verify(&id).unwrap();
    assert_eq!(e.offender(), m.producer_pk);
}

// Rule 1/7: where clients are sent comes from the registration, covered by the root key's
// signature, never from a relayed lot (v1's lot carried an unsigned endpoint any relay could
// rewrite).
#[test]
fn a_redirect_names_the_registered_endpoint() {
    use daoli_protocol::buffer::BufferError;
    use daoli_protocol::node::{Msg, Output};
    let net = net();
    let mut n = common::node(&net.genesis, &net.dcs, 0);
    let id = *n.chain().id();
    let client = Keypair::from_label("nt-client");
    let tx = daoli_protocol::tx::Transaction::new(
        &client,
        &id,
        0,
        1,
        daoli_protocol::tx::TxKind::Transfer {
            to: net.dcs[1].root.public(),
            amount: 1,
        },
        vec![],
    );
    let p = &net.genesis.params;
    let (slot, entry) = (0..p.payroll as u32)
        .find_map(|s| {
            n.chain()
                .payroll_entry(0, s)
                .filter(|e| e.dc != n.public())
                .map(|e| (s, e))
        })
        .expect("a slot served elsewhere");
    let registered = n.chain().state.datacenters[&entry.dc].endpoint.clone();
    let (out, _) = n.handle(10, client.public(), Msg::Tx { client: 1, slot, tx });
    let endpoint = out.iter().find_map(|o| match o {
        Output::Reply {
            result: Err(BufferError::Redirect { endpoint, sponsor, .. }),
            ..
        } if *sponsor == entry.dc => Some(endpoint.clone()),
        _ => None,
    });
    assert_eq!(endpoint, Some(registered));
}

// A route is the lineup a kernel buffer checks a transaction against: a client sent where
// `route` says is accepted there, not redirected.
#[test]
fn a_transaction_sent_where_route_says_is_accepted_there() {
    use daoli_protocol::node::{Msg, Output};
    let net = net();
    // Funded at genesis (common::certified_net).
    let client = Keypair::from_label("nt-client");
    let asked = common::node(&net.genesis, &net.dcs, 0);
    let (cycle, slot, entry) = asked.kernel_buffer.route(&client.public()).expect("a slot this cycle");
    assert_eq!(cycle, 1);
    let i = net
        .dcs
        .iter()
        .position(|d| d.root.public() == entry.dc)
        .expect("a founder serves it");
    let mut sponsor = common::node(&net.genesis, &net.dcs, i);
    let tx = daoli_protocol::tx::Transaction::new(
        &client,
        sponsor.chain().id(),
        0,
        1,
        daoli_protocol::tx::TxKind::Transfer {
            to: net.dcs[1].root.public(),
            amount: 1,
        },
        vec![],
    );
    let (out, r) = sponsor.handle(10, client.public(), Msg::Tx { client: 1, slot, tx });
    assert_eq!(r, Ok(()));
    let replies: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Reply { result, .. } => Some(result.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(replies, [Ok(())]);
}

// The review's mutations: a batch included once cannot be included again, and a block's seed
// must be one of the two valid values (both checks are in block validation, not only in the
// functions they call).
#[test]
fn a_block_reincluding_a_batch_or_with_a_third_seed_is_refused() {
    let net = net();
    let (cb2, _) = &net.record[1];
    let batch = slot0_batch(net, 5);
    let with_batch = |c: &Chain| block2_naming(net, c, &[&batch]);
    // Included once: fine.
    let mut ok = net.chain_at(1);
    let cb = with_batch(&ok);
    commit(&mut ok, cb, std::slice::from_ref(&batch)).unwrap();
    // Already included (as if by an earlier block): refused, nothing changes.
    let mut again = net.chain_at(1);
    again.state.included.insert(batch.digest(), 2);
    let root = again.state.root();
    let cb = with_batch(&again);
    let e = commit(&mut again, cb, std::slice::from_ref(&batch));
    assert!(matches!(e, Err(BlockError::BatchIncluded(_))), "{e:?}");
    assert_eq!((again.height(), again.state.root()), (1, root));
    // A third seed (neither the producer's VRF output nor the fallback): refused.
    let mut c = net.chain_at(1);
    let forged = recertify(net, &c, cb2, |cb| {
        cb.block.header.seed.0[0] ^= 1;
        cb.block.header.vrf_proof = None;
    });
    let e = commit(&mut c, forged, &net.record[1].1);
    assert!(matches!(e, Err(BlockError::Seed(_))), "{e:?}");
}

// Rule 7: a batch is known by its digest and its signature together. A copy of a verified
// batch with a bad signature is not verified by the cache; a block naming a batch is checked
// against the batch it gets (its digest, its signatures), not against the name alone.
#[test]
fn a_batch_is_verified_by_its_content_and_its_signature_not_its_name() {
    use std::collections::BTreeMap;
    let net = net();
    let batch = slot0_batch(net, 5);
    let mut forged = batch.clone();
    forged.sig.0[5] ^= 1;

    // The cache: the genuine batch verified first does not vouch for the forged copy.
    let mut cached = net.chain_at(1);
    cached.verify_batch(&batch).unwrap();
    assert!(cached.verify_batch(&forged).is_err());

    let block_naming = |c: &Chain, b: &Batch| block2_naming(net, c, &[b]);
    // A block naming the forged batch, never seen before: its signature is checked there.
    let mut c = net.chain_at(1);
    let cb = block_naming(&c, &forged);
    let store = BTreeMap::from([(forged.digest(), forged.clone())]);
    let e = c.validate_block(&cb.block, &store);
    assert!(matches!(e, Err(BlockError::Batch(..))), "{e:?}");
    // A store that answers the name with another batch (same lineup address, other
    // transactions): refused as a wrong reference.
    let other = slot0_batch(net, 6);
    let mut c = net.chain_at(1);
    let cb = block_naming(&c, &batch);
    let store = BTreeMap::from([(batch.digest(), other)]);
    let e = c.validate_block(&cb.block, &store);
    assert!(matches!(e, Err(BlockError::BatchRef(_))), "{e:?}");
}

// Rule 8: a batch for the next cycle is held, not lost: v1 (and v2 until this test) deferred it
// and then dropped it when the cycle began, since the held queue kept only messages with a
// height and a batch has a cycle instead.
#[test]
fn a_batch_for_the_next_cycle_is_held_until_that_cycle() {
    use daoli_protocol::node::{Msg, Reject};
    let net = net();
    let mut n = common::node(&net.genesis, &net.dcs, 0);
    let batch = slot0_batch(net, 5);
    let from = net.dcs[1].root.public();
    assert!(matches!(
        n.handle(10, from, Msg::Batch(batch.clone())).1,
        Err(Reject::Future)
    ));
    assert!(n.batch(&batch.digest()).is_none());
    let (cb1, b1) = net.record[0].clone();
    n.handle(20, from, Msg::Certified(cb1, b1)).1.unwrap();
    assert_eq!(n.height(), 1);
    assert!(n.batch(&batch.digest()).is_some(), "taken when its cycle began");
}

// Rule 8: a MicroBlock carries at most `max_evidence` pieces of evidence.
#[test]
fn a_microblock_with_too_much_evidence_is_refused() {
    let net = net();
    let (cb2, b2) = &net.record[1];
    let m2 = cb2.block.micro.as_ref().unwrap();
    let mut c = net.chain_at(1);
    let id = *c.id();
    let liar = &net.dcs[3];
    let e = Vote::sign_unchecked(&liar.vote, &id, 1, 0, Step::Prevote, Some(Hash32([1; 32])), 0)
        .evidence(&Vote::sign_unchecked(&liar.vote, &id, 1, 0, Step::Prevote, None, 0))
        .expect("conflict");
    let max = net.genesis.params.max_evidence;
    let m = remicro(net, &c, m2, |m| m.evidence = vec![e; max + 1]);
    let cb = recertify(net, &c, cb2, |cb| cb.block.micro = Some(m));
    let r = commit(&mut c, cb, b2);
    assert!(
        matches!(r, Err(BlockError::TooMuchEvidence { got, max: m }) if got == max + 1 && m == max),
        "{r:?}"
    );
}

// A block that names the other version of an equivocated batch is still validated: v2 first
// refused the second version outright, so the nodes that had seen the first could never
// validate that block (the simulator's equivocating buffer stalled a height).
#[test]
fn a_block_naming_the_other_version_of_an_equivocated_batch_is_validated() {
    use daoli_protocol::node::{Msg, Proposal, Reject};
    let net = net();
    let (cb1, b1) = net.record[0].clone();
    let mut n = common::node(&net.genesis, &net.dcs, 0);
    let from = net.dcs[1].root.public();
    n.handle(10, from, Msg::Certified(cb1, b1)).1.unwrap();
    let c = net.chain_at(1);
    let id = *c.id();
    let first = slot0_batch(net, 5);
    let other = slot0_batch(net, 6);
    let t = n.cycle().start + 10;
    n.handle(t, from, Msg::Batch(first)).1.unwrap();
    // A block naming the other version waits for it (a proposal: its QC plays no part)...
    let block = block2_naming(net, &c, &[&other]).block;
    let pr = Proposal::new(&net.dcs[1].vote, &id, 0, None, block.clone());
    assert!(matches!(n.handle(t, from, Msg::Proposal(pr)).1, Err(Reject::Future)));
    // ...and when it comes, it is evidence against the buffer and still kept for the block.
    let (out, r) = n.handle(t, from, Msg::Batch(other.clone()));
    assert!(matches!(r, Ok(()) | Err(Reject::Equivocation)), "{r:?}");
    assert!(
        out.iter()
            .any(|o| matches!(o, daoli_protocol::node::Output::PersistEvidence(_)))
    );
    assert!(n.batch(&other.digest()).is_some(), "the block's batch is held");
    // The waiting block was then validated (held blocks are listed as `hash:why`).
    assert!(
        n.describe().contains(&format!("{}:", block.hash().short())),
        "{}",
        n.describe()
    );
}

// The chain follower's trusted path (`Chain::follow`) still refuses a block out of place: one
// that names another previous block, or skips a height.
#[test]
fn the_follower_refuses_a_block_that_does_not_extend_its_tip() {
    let net = net();
    let mut c = net.chain_at(0);
    let (cb, batches) = net.record[0].clone();
    let store = batches.iter().map(|b| (b.digest(), b.clone())).collect();
    let mut other = cb.clone();
    other.block.header.prev_hash = Hash32([9; 32]);
    assert!(matches!(c.follow(other, &store), Err(BlockError::Prev { .. })));
    let (cb2, b2) = net.record[1].clone();
    let store2 = b2.iter().map(|b| (b.digest(), b.clone())).collect();
    assert!(matches!(c.follow(cb2, &store2), Err(BlockError::Height { .. })));
    assert_eq!(c.height(), 0, "nothing applied");
    c.follow(cb, &store).unwrap();
    assert_eq!(c.height(), 1);
    // A block naming a batch the caller did not pass: refused, not executed without it.
    let c1 = net.chain_at(1);
    let batch = slot0_batch(net, 5);
    let cb = block2_naming(net, &c1, &[&batch]);
    let mut c = net.chain_at(1);
    let none: std::collections::BTreeMap<Hash32, Batch> = Default::default();
    assert!(matches!(c.follow(cb.clone(), &none), Err(BlockError::MissingBatch(_))));
    assert_eq!(c.height(), 1, "nothing applied");
    let store = std::collections::BTreeMap::from([(batch.digest(), &batch)]);
    c.follow(cb, &store).unwrap();
    assert_eq!(c.height(), 2);
}

// Roles in separate services can see a cycle announced before the block that starts it; they
// begin it only once that block is applied (else they would use the previous height's seats),
// and a peer still voting at a certified height is helped once, not once per vote.
#[test]
fn a_trustee_begins_a_cycle_after_its_block_and_helps_a_late_voter_once() {
    use daoli_protocol::dcc::Cycle;
    use daoli_protocol::node::{Msg, Reject};
    use daoli_protocol::roles::trustee::Trustee;
    use daoli_protocol::roles::{Event, Output};
    let net = net();
    let mut t = Trustee::new(net.genesis.clone(), net.dcs[0].vote.clone(), vec![]).unwrap();
    let mut out = Vec::new();
    let two = Cycle {
        height: 2,
        start: 5_000,
        length: 1_000,
    };
    t.on_event(5_000, &Event::Cycle(two), &mut out);
    assert_eq!(t.cycle.height, 1, "block 1 is not applied yet");
    let (cb, b) = net.record[0].clone();
    t.on_event(5_000, &Event::Certified(Box::new(cb), b), &mut out);
    assert_eq!((t.cycle, t.ibft.height), (two, 2), "begun once its block is applied");
    let chain = net.genesis.chain_id();
    let late = Vote::sign_unchecked(&net.dcs[1].vote, &chain, 1, 0, Step::Prevote, None, 0);
    let from = net.dcs[1].root.public();
    let mut out = Vec::new();
    for _ in 0..3 {
        assert_eq!(
            t.on_msg(5_010, from, Msg::Vote(late.clone()), &mut out),
            Err(Reject::Stale)
        );
    }
    let helped = out
        .iter()
        .filter(|o| matches!(o, Output::Event(Event::Behind(..))))
        .count();
    assert_eq!(helped, 1);
}

// Lot drawing counts this datacenter's own lots like anyone's: until the throttle only (the
// hashing runs off the protocol's thread and may finish late).
#[test]
fn own_lots_after_the_throttle_are_not_counted() {
    use daoli_protocol::dcc::Cycle;
    use daoli_protocol::roles::lot_drawing::LotDrawing;
    use daoli_protocol::roles::{Event, Phase};
    let net = net();
    let c = net.chain_at(0);
    let id = *c.id();
    let p = &net.genesis.params;
    let mut d = LotDrawing::new(net.genesis.clone()).unwrap();
    let mut out = Vec::new();
    let one = Cycle {
        height: 1,
        start: 0,
        length: 1_000,
    };
    d.on_event(0, &Event::Cycle(one), &mut out);
    let early = common::sponsored_lot(&id, 1, c.tip_hash(), &net.dcs[1], "own-early", p.pow_bits, 0);
    let late = common::sponsored_lot(&id, 1, c.tip_hash(), &net.dcs[1], "own-late", p.pow_bits, 0);
    d.on_event(10, &Event::Lot(early.clone()), &mut out);
    d.on_event(600, &Event::Phase(1, Phase::Throttle), &mut out);
    d.on_event(700, &Event::Lot(late.clone()), &mut out);
    assert!(d.pool.holds(&early));
    assert!(!d.pool.holds(&late));
}

// Checks each role makes on a peer's message, one per role: a lot after the throttle, a seed
// not proven by the rank-0 producer, a MicroBlock signed by a key that does not produce at
// its rank, a round-1 proposal from a seat that does not propose round 1.
#[test]
fn each_role_refuses_what_its_rule_refuses() {
    use daoli_protocol::dcc::{Cycle, EventError};
    use daoli_protocol::node::{Msg, Proposal, Reject};
    use daoli_protocol::roles::Event;
    use daoli_protocol::roles::clock::Clock;
    use daoli_protocol::roles::ledger::Ledger;
    use daoli_protocol::roles::lot_drawing::LotDrawing;
    use daoli_protocol::roles::trustee::Trustee;
    use daoli_protocol::seed::SeedAnnouncement;
    let net = net();
    let g = &net.genesis;
    let c = net.chain_at(0);
    let id = *c.id();
    let from = net.dcs[1].root.public();
    let mut out = Vec::new();
    let one = Cycle {
        height: 1,
        start: 0,
        length: 1_000,
    };

    // Lot drawing: a peer's lot counts before the throttle, not after.
    let mut d = LotDrawing::new(g.clone()).unwrap();
    d.on_event(0, &Event::Cycle(one), &mut out);
    let lot = |m: &str| common::sponsored_lot(&id, 1, c.tip_hash(), &net.dcs[1], m, g.params.pow_bits, 0);
    assert_eq!(d.on_msg(10, from, Msg::Lot(lot("in-time")), &mut out), Ok(()));
    let late = d.on_msg(one.throttle(&g.params), from, Msg::Lot(lot("late")), &mut out);
    assert!(matches!(late, Err(Reject::Event(EventError::Late { .. }))), "{late:?}");

    // Clock: the seed of height 1 is proven by the VRF key of rank 0 of block 0, no other.
    let producer = c.seed_producer(1).unwrap();
    let (maker, other) = {
        let k = net.dcs.iter().position(|x| x.vrf.public() == producer).unwrap();
        (&net.dcs[k], &net.dcs[(k + 1) % net.dcs.len()])
    };
    let mut clock = Clock::new(g.clone(), maker.root.public(), maker.vrf.clone(), 0).unwrap();
    clock.start(0, &mut out);
    let forged = SeedAnnouncement::produce(&other.vrf, &id, &c.seeds[0], 1);
    assert!(matches!(
        clock.on_msg(10, from, Msg::Seed(forged), &mut out),
        Err(Reject::Seed(_))
    ));
    let real = SeedAnnouncement::produce(&maker.vrf, &id, &c.seeds[0], 1);
    assert_eq!(clock.on_msg(10, from, Msg::Seed(real), &mut out), Ok(()));

    // Ledger and trustee at height 2.
    let (cb1, b1) = net.record[0].clone();
    let (cb2, _) = net.record[1].clone();
    let mut l = Ledger::new(g.clone(), net.dcs[0].root.public(), net.dcs[0].micro.clone()).unwrap();
    l.on_msg(10, from, Msg::Certified(cb1.clone(), b1.clone()), &mut out)
        .unwrap();
    let m = cb2.block.micro.clone().expect("a MicroBlock at height 2");
    let stranger = net.dcs.iter().find(|x| x.micro.public() != m.producer_pk).unwrap();
    let mut wrong = m.clone();
    wrong.producer_pk = stranger.micro.public();
    let wrong = wrong.sign(&stranger.micro, &id);
    assert_eq!(l.on_msg(20, from, Msg::Micro(wrong), &mut out), Err(Reject::Signature));
    assert_eq!(l.on_msg(20, from, Msg::Micro(m), &mut out), Ok(()));

    let mut t = Trustee::new(g.clone(), net.dcs[0].vote.clone(), vec![]).unwrap();
    t.on_event(10, &Event::Certified(Box::new(cb1), b1), &mut out);
    t.on_event(
        10,
        &Event::Cycle(Cycle {
            height: 2,
            start: 10,
            length: 1_000,
        }),
        &mut out,
    );
    let proposer = t.ibft.seats.proposer(1);
    let seat = net
        .dcs
        .iter()
        .find(|x| x.vote.public() != proposer && t.ibft.seats.weight(&x.vote.public()) > 0)
        .unwrap();
    let p = Proposal::new(&seat.vote, &id, 1, None, cb2.block.clone());
    assert_eq!(
        t.on_msg(20, from, Msg::Proposal(p), &mut out),
        Err(Reject::NotProposer(1))
    );
}
