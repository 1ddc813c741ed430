//! A datacenter node refuses bad input with a typed reason and without changing anything.

use daoli_protocol::buffer::BufferError;
use daoli_protocol::codec::Hash32;
use daoli_protocol::crypto::Keypair;
use daoli_protocol::datacenter::Datacenter;
use daoli_protocol::dcc::EventError;
use daoli_protocol::ibft::VoteReject;
use daoli_protocol::lot::{LotError, LotTemplate, mine};
use daoli_protocol::node::{Msg, Output, Reject};
use daoli_protocol::params::Identity;
use daoli_protocol::tx::{Transaction, TxKind};
use daoli_protocol::vote::{Step, Vote};

mod common;
use common::run;

fn node(dcs: &[Identity], client: &Keypair, i: usize) -> Datacenter {
    common::node(&common::genesis(dcs, client, false), dcs, i)
}

#[test]
fn four_nodes_certify_and_agree() {
    let dcs: Vec<_> = (0..4).map(|i| Identity::from_label(&format!("nt-dc{i}"))).collect();
    let client = Keypair::from_label("nt-client");
    let mut nodes: Vec<_> = (0..4).map(|i| node(&dcs, &client, i)).collect();
    run(&mut nodes, 3_000);
    let h = nodes[0].height();
    assert!(h >= 3, "height {h}");
    let common = nodes.iter().map(|n| n.height()).min().unwrap();
    for n in &nodes {
        assert_eq!(
            n.chain().roots[common as usize],
            nodes[0].chain().roots[common as usize]
        );
        assert_eq!(n.chain().tip_hash() == nodes[0].chain().tip_hash(), n.height() == h);
    }
}

#[test]
fn bad_inputs_are_refused_and_change_nothing() {
    let dcs: Vec<_> = (0..4).map(|i| Identity::from_label(&format!("nt-dc{i}"))).collect();
    let client = Keypair::from_label("nt-client");
    let mut n = node(&dcs, &client, 0);
    let root = n.chain().state.root();
    let from = dcs[1].root.public();
    let chain = *n.chain().id();

    // A lot naming the wrong previous block, and one for a cycle not reached yet.
    let t = LotTemplate {
        height: 1,
        prev_hash: Hash32([9; 32]),
        sponsor: dcs[1].sponsor.public(),
    };
    let lot = mine(&Keypair::from_label("m"), &chain, &t, 2, 0, 100_000)
        .unwrap()
        .countersign(&dcs[1].sponsor, &chain);
    assert!(matches!(
        n.handle(50, from, Msg::Lot(lot)).1,
        Err(Reject::Event(EventError::WrongPrevious { .. }))
    ));
    let t = LotTemplate {
        height: 5,
        prev_hash: n.chain().tip_hash(),
        ..t
    };
    let lot = mine(&Keypair::from_label("m"), &chain, &t, 2, 0, 100_000)
        .unwrap()
        .countersign(&dcs[1].sponsor, &chain);
    assert!(matches!(
        n.handle(50, from, Msg::Lot(lot)).1,
        Err(Reject::Event(EventError::FutureCycle { .. }))
    ));
    // A lot countersigned by a key no datacenter registered (a Sybil sponsor).
    let sybil = Keypair::from_label("sybil");
    let t = LotTemplate {
        height: 1,
        prev_hash: n.chain().tip_hash(),
        sponsor: sybil.public(),
    };
    let lot = mine(&Keypair::from_label("m"), &chain, &t, 2, 0, 100_000)
        .unwrap()
        .countersign(&sybil, &chain);
    assert!(matches!(
        n.handle(50, from, Msg::Lot(lot)).1,
        Err(Reject::Lot(LotError::Sponsor(_)))
    ));

    // A vote with a bad signature, and one from a key that holds no seat.
    let mut v = Vote::sign_unchecked(&dcs[1].vote, &chain, 1, 0, Step::Prevote, None, 0);
    v.sig.0[0] ^= 1;
    assert_eq!(n.handle(50, from, Msg::Vote(v)).1, Err(Reject::Signature));
    // The right key, signed for another network: refused too.
    let v = Vote::sign_unchecked(&dcs[1].vote, &Hash32([7; 32]), 1, 0, Step::Prevote, None, 0);
    assert_eq!(n.handle(50, from, Msg::Vote(v)).1, Err(Reject::Signature));
    let stranger = Keypair::from_label("stranger");
    let v = Vote::sign_unchecked(&stranger, &chain, 1, 0, Step::Prevote, None, 0);
    assert!(matches!(
        n.handle(50, stranger.public(), Msg::Vote(v)).1,
        Err(Reject::Vote(VoteReject::NotASeat(_)))
    ));

    // A transaction for a slot this datacenter does not serve is redirected, not accepted.
    let tx = Transaction::new(&client, &chain, 0, 1, TxKind::Transfer { to: from, amount: 1 }, vec![]);
    let p = n.chain().params().clone();
    let other = (0..p.payroll as u32)
        .find(|s| n.chain().payroll_entry(0, *s).unwrap().dc != n.public())
        .unwrap();
    let (out, _) = n.handle(
        50,
        client.public(),
        Msg::Tx {
            client: 7,
            slot: other,
            tx: tx.clone(),
        },
    );
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Reply {
            client: 7,
            result: Err(BufferError::Redirect { .. }),
            ..
        }
    )));
    // ... and a forged one is refused where it is served.
    let mine_slot = (0..p.payroll as u32)
        .find(|s| n.chain().payroll_entry(0, *s).unwrap().dc == n.public())
        .unwrap();
    let mut forged = tx.clone();
    forged.fee = 0;
    let (out, _) = n.handle(
        50,
        client.public(),
        Msg::Tx {
            client: 7,
            slot: mine_slot,
            tx: forged,
        },
    );
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Reply {
            result: Err(BufferError::Invalid(_)),
            ..
        }
    )));
    assert!(!out.iter().any(|o| matches!(o, Output::PersistTx(_))));
    // A valid one is persisted before it is acknowledged.
    let (out, _) = n.handle(
        50,
        client.public(),
        Msg::Tx {
            client: 7,
            slot: mine_slot,
            tx,
        },
    );
    let persist = out
        .iter()
        .position(|o| matches!(o, Output::PersistTx(_)))
        .expect("persisted");
    let ack = out
        .iter()
        .position(|o| matches!(o, Output::Reply { result: Ok(()), .. }))
        .expect("acknowledged");
    assert!(persist < ack);

    assert_eq!(n.chain().state.root(), root);
    assert_eq!(n.height(), 0);
}

/// Every message of a real run, mutated in ways an attacker would, is refused or harmless:
/// no panic, and a refusal leaves the node's ledger as it was.
#[test]
fn mutated_messages_never_panic_and_refusals_change_nothing() {
    let dcs: Vec<_> = (0..4).map(|i| Identity::from_label(&format!("nt-dc{i}"))).collect();
    let client = Keypair::from_label("nt-client");
    let mut nodes: Vec<_> = (0..4).map(|i| node(&dcs, &client, i)).collect();
    // Record what node 1 broadcasts while the network runs.
    let keys: Vec<_> = nodes.iter().map(|n| n.public()).collect();
    let mut seen: Vec<Msg> = Vec::new();
    common::run_observed(&mut nodes, 2_500, &mut |from, m| {
        if from == 1 {
            seen.push(m.clone());
        }
    });
    assert!(seen.len() > 10);
    let mut target = node(&dcs, &client, 0);
    let mut refused = 0;
    for (k, m) in seen.into_iter().enumerate() {
        let mutations: Vec<Msg> = match m {
            Msg::Vote(v) => vec![
                Msg::Vote(Vote {
                    round: u32::MAX,
                    ..v.clone()
                }),
                Msg::Vote(Vote {
                    value: Some(Hash32([k as u8; 32])),
                    ..v.clone()
                }),
                Msg::Vote(Vote {
                    height: v.height + 1_000,
                    ..v
                }),
            ],
            Msg::Lot(l) => {
                let mut a = l.clone();
                a.nonce ^= 1;
                let mut b = l.clone();
                b.sponsor_sig.0[1] ^= 1;
                let mut c = l;
                c.sponsor = Keypair::from_label("sybil").public();
                vec![Msg::Lot(a), Msg::Lot(b), Msg::Lot(c)]
            }
            Msg::Proposal(p) => {
                let mut a = p.clone();
                a.block.header.seed = Hash32([1; 32]);
                let mut b = p.clone();
                b.block.tree.reverse();
                let mut c = p;
                c.round = 5;
                vec![Msg::Proposal(a), Msg::Proposal(b), Msg::Proposal(c)]
            }
            Msg::Certified(cb, batches) => {
                let mut a = cb.clone();
                a.qc.precommits.truncate(1);
                let mut b = cb.clone();
                b.qc.precommits.push(b.qc.precommits[0].clone());
                let mut c = cb;
                c.block.header.prev_state_root = Hash32([2; 32]);
                vec![
                    Msg::Certified(a, batches.clone()),
                    Msg::Certified(b, batches.clone()),
                    Msg::Certified(c, batches),
                ]
            }
            Msg::Seed(s) => {
                let mut a = s.clone();
                a.seed = Hash32([3; 32]);
                let mut b = s;
                b.producer = Keypair::from_label("x").public();
                vec![Msg::Seed(a), Msg::Seed(b)]
            }
            Msg::Micro(m) => {
                let mut a = m.clone();
                a.batches.clear();
                let mut b = m;
                b.producer_rank = 77;
                vec![Msg::Micro(a), Msg::Micro(b)]
            }
            Msg::Batch(b) => {
                let mut a = b.clone();
                a.slot += 1;
                vec![Msg::Batch(a)]
            }
            other => vec![
                Msg::SyncRequest { from: u64::MAX },
                Msg::BatchRequest(vec![Hash32::ZERO; 10_000]),
                other,
            ],
        };
        for bad in mutations {
            let (root, height) = (target.chain().state.root(), target.height());
            let (_, r) = target.handle(1_000, keys[1], bad);
            if r.is_err() {
                refused += 1;
                assert_eq!((target.chain().state.root(), target.height()), (root, height));
            }
        }
    }
    assert!(refused > 10, "{refused} refusals");
}

// Every process of every datacenter stalls at once, just as a cycle begins, for longer than
// the cycle (the broker or database they share is down, or their host is suspended). When
// they resume, every deadline of the cycle has passed: each datacenter's own lots and its
// peers' reach lot drawing after its throttle, so no seat has an own view. The chain must go
// on within a bounded time all the same.
#[test]
fn a_network_stalled_through_a_cycles_mining_window_draws_the_cycle_again() {
    let dcs = common::identities(4);
    let client = Keypair::from_label("nt-client");
    let g = common::genesis(&dcs, &client, false);
    let mut nodes: Vec<_> = (0..4).map(|i| common::node(&g, &dcs, i)).collect();
    let l = g.params.l0_ms;
    let mut t = 0;
    while nodes.iter().map(|n| n.height()).min().unwrap() < 2 {
        common::step(&mut nodes, t, &mut |_, _| {});
        t += 10;
        assert!(t < 30_000, "the network does not reach height 2");
    }
    let h = nodes.iter().map(|n| n.height()).max().unwrap();
    for n in &nodes {
        assert_eq!(n.cycle().height, h + 1);
        assert!(n.cycle().start + l / 10 > t, "the pause begins before every node mines");
    }
    // The pause: nothing runs for three cycles.
    let resume = t + 3 * l;
    t = resume;
    let mut mined = 0;
    while nodes.iter().map(|n| n.height()).min().unwrap() < h + 2 {
        common::step(&mut nodes, t, &mut |_, m| {
            mined += usize::from(matches!(m, Msg::Lot(_)))
        });
        t += 10;
        assert!(
            t < resume + 20 * l,
            "no progress {} ms after the pause: heights {:?}, {mined} lots sent; {}",
            t - resume,
            nodes.iter().map(|n| n.height()).collect::<Vec<_>>(),
            nodes[0].describe()
        );
    }
}

// Run as one process per service, a trustee that restarts alone (the database it writes went
// away) rebuilds from the stores: the chain and its own votes. What it held only in memory is
// gone: the drawing, the MicroBlocks, the peers' batches, the seed; and the services that
// gave them, which kept running, do not send them again unless asked. When every datacenter's
// trustee restarts so mid-cycle (one PostgreSQL server shared by all), no seat has an own
// view or the blocks it would vote for; the chain must go on all the same.
#[test]
fn trustees_restarted_alone_mid_cycle_get_their_inputs_again() {
    use daoli_protocol::node::Durable;
    use daoli_protocol::vote::VoteJournal;
    // A transaction, so that the next block names a batch the restarted trustees must fetch.
    let (dcs, client, g, mut nodes, mut t, h) = four_at_height_2_with_a_transfer();
    // On to the throttle of the next cycle everywhere: drawings and MicroBlocks published,
    // batches held, round-0 votes cast, nothing decided.
    let throttle = nodes.iter().map(|n| n.cycle().start).max().unwrap() + g.params.l0_ms * 6 / 10;
    while t < throttle {
        common::step(&mut nodes, t, &mut |_, _| {});
        t += 10;
    }
    // The throttle passes everywhere while the network drops everything (so that nothing is
    // decided in the same instant): drawings published, round-0 prevotes journaled.
    for n in nodes.iter_mut() {
        n.tick(t);
    }
    t += 10;
    assert!(
        nodes
            .iter()
            .all(|n| n.height() == h && n.trustee.ibft.decided().is_none()),
        "t {t}: {:?}",
        nodes
            .iter()
            .map(|n| (n.height(), n.cycle().start, n.describe()))
            .collect::<Vec<_>>()
    );
    for (i, n) in nodes.iter_mut().enumerate() {
        let durable = Durable {
            blocks: (1..=h).map(|x| n.full_block(x).unwrap()).collect(),
            votes: (1..=h + 1).flat_map(|x| n.trustee.journal().at_height(x)).collect(),
            ..Durable::default()
        };
        let fresh = Datacenter::recover(
            g.clone(),
            dcs[i].clone(),
            vec![Keypair::from_label(&format!("miner{i}"))],
            durable,
            99,
            t,
        )
        .unwrap();
        n.trustee = fresh.trustee;
    }
    let restart = t;
    // The chain goes on, and the transaction the buffer acknowledged is executed everywhere.
    let executed = |n: &Datacenter| n.chain().state.account(&client.public()).nonce == 1;
    while nodes.iter().map(|n| n.height()).min().unwrap() < h + 2 || !nodes.iter().all(executed) {
        common::step(&mut nodes, t, &mut |_, _| {});
        t += 10;
        assert!(
            t < restart + 20 * g.params.l0_ms,
            "no progress {} ms after the trustees' restart: heights {:?}, executed {:?}; {}",
            t - restart,
            nodes.iter().map(|n| n.height()).collect::<Vec<_>>(),
            nodes.iter().map(executed).collect::<Vec<_>>(),
            nodes[0].describe()
        );
    }
}

// A trustee that restarts alone reads the stall events its bus holds for it all at once; each
// would re-send every vote of the height. They go out once per cycle length.
#[test]
fn a_backlog_of_stall_events_re_sends_votes_once() {
    use daoli_protocol::roles::{Event, Phase};
    let dcs = common::identities(4);
    let client = Keypair::from_label("nt-client");
    let g = common::genesis(&dcs, &client, false);
    let mut nodes: Vec<_> = (0..4).map(|i| common::node(&g, &dcs, i)).collect();
    // Past the throttle of cycle 1 with nobody hearing anyone: round-0 prevotes cast.
    for t in (0..=700).step_by(10) {
        for n in nodes.iter_mut() {
            n.tick(t);
        }
    }
    let n = &mut nodes[0];
    let votes = |out: &[Output]| {
        out.iter()
            .filter(|o| matches!(o, Output::Broadcast(Msg::Vote(_))))
            .count()
    };
    let mut out = Vec::new();
    for _ in 0..5 {
        n.trustee.on_event(3_000, &Event::Phase(1, Phase::Stalled), &mut out);
    }
    let once = votes(&out);
    assert!(once > 0, "it has votes to re-send");
    n.trustee
        .on_event(3_000 + g.params.l0_ms, &Event::Phase(1, Phase::Stalled), &mut out);
    assert_eq!(votes(&out), 2 * once);
}

// The PostgreSQL server died while every datacenter's ledger stored the block its trustee had
// just decided: each ledger process stopped and came back from its store, without the peers'
// batches it held in memory, and no peer had the block certified to sync from. The restarted
// ledger asks the peers for the decided block's batches and commits it once they are here
// (seen in the cluster test: the chain halted at that height for good).
#[test]
fn a_ledger_restarted_after_a_decision_gets_the_blocks_batches_from_the_peers() {
    use daoli_protocol::node::Durable;
    use daoli_protocol::roles::Event;
    let (dcs, _, g, mut nodes, mut t, h) = four_at_height_2_with_a_transfer();
    let chain = g.chain_id();
    // On until a block carries the transaction's batch.
    let carried = loop {
        common::step(&mut nodes, t, &mut |_, _| {});
        t += 10;
        assert!(t < 60_000, "no block carries the batch");
        let top = nodes[0].height();
        if let Some(x) = (h + 1..=top).find(|x| !nodes[0].full_block(*x).unwrap().1.is_empty()) {
            break x;
        }
    };
    let (cb, batches) = nodes[0].full_block(carried).unwrap();
    // Datacenter 1's ledger, rebuilt from the blocks before it, holds none of them.
    let i = 1;
    let mut fresh = Datacenter::recover(
        g.clone(),
        dcs[i].clone(),
        vec![Keypair::from_label(&format!("miner{i}"))],
        Durable {
            blocks: (1..carried).map(|x| nodes[i].full_block(x).unwrap()).collect(),
            ..Durable::default()
        },
        99,
        t,
    )
    .unwrap();
    let certified = |out: &[Output]| {
        out.iter()
            .any(|o| matches!(o, Output::Event(Event::Certified(c, _)) if c.block.height() == carried))
    };
    // The first batch's buffer equivocated, and its other version reaches the restarted ledger
    // first (it no longer knows which one the trustee wanted).
    let b0 = &batches[0];
    let producer = dcs.iter().find(|d| d.batch.public() == b0.buffer_pk).unwrap();
    let other = daoli_protocol::block::Batch::seal(&producer.batch, &chain, b0.cycle, b0.slot, vec![]);
    let mut out = Vec::new();
    fresh
        .ledger
        .on_msg(t, dcs[0].root.public(), Msg::Batch(other), &mut out)
        .unwrap();
    let mut out = Vec::new();
    fresh
        .ledger
        .on_event(t, &Event::Decided(Box::new(cb.clone()), 1), &mut out);
    assert!(!certified(&out), "committed without its batches");
    let asked: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Broadcast(Msg::BatchRequest(ds)) => Some(ds.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(asked, vec![batches.iter().map(|b| b.digest()).collect::<Vec<_>>()]);
    let mut out = Vec::new();
    for b in &batches {
        // Equivocation evidence is noted, and the version the decided block names taken.
        fresh
            .ledger
            .on_msg(t, dcs[0].root.public(), Msg::Batch(b.clone()), &mut out)
            .unwrap();
    }
    assert!(certified(&out), "the decided block is committed once its batches came");
    assert_eq!(fresh.ledger.f.chain.height(), carried);
}

/// Four datacenters run to height 2, then a client's transfer is taken by the kernel buffer
/// its slot routes to (acknowledged). Returns the network, the time and the height then.
fn four_at_height_2_with_a_transfer() -> (
    Vec<Identity>,
    Keypair,
    daoli_protocol::params::Genesis,
    Vec<Datacenter>,
    u64,
    u64,
) {
    let dcs = common::identities(4);
    let client = Keypair::from_label("nt-client");
    let g = common::genesis(&dcs, &client, false);
    let mut nodes: Vec<_> = (0..4).map(|i| common::node(&g, &dcs, i)).collect();
    let mut t = 0;
    while nodes.iter().map(|n| n.height()).min().unwrap() < 2 {
        common::step(&mut nodes, t, &mut |_, _| {});
        t += 10;
        assert!(t < 30_000, "the network does not reach height 2");
    }
    let h = nodes[0].height();
    let slot = daoli_protocol::block::route_slot(&client.public(), g.params.payroll);
    let buffer = nodes[0].chain().payroll_entry(h, slot).unwrap().dc;
    let tx = Transaction::new(
        &client,
        &g.chain_id(),
        0,
        1,
        TxKind::Transfer {
            to: dcs[1].root.public(),
            amount: 5,
        },
        vec![],
    );
    let n = nodes.iter_mut().find(|n| n.public() == buffer).unwrap();
    let (out, r) = n.handle(t, client.public(), Msg::Tx { client: 1, slot, tx });
    assert_eq!(r, Ok(()));
    assert!(out.iter().any(|o| matches!(o, Output::Reply { result: Ok(()), .. })));
    (dcs, client, g, nodes, t, h)
}
