//! The trustee's actor against its role machine, with a fake bus and store: given the cycle
//! and the drawing, the seat (all 11 seats here) proposes, votes and decides, and every vote
//! is stored before it leaves.

use daoli_protocol::crypto::Keypair;
use daoli_protocol::dcc::Cycle;
use daoli_protocol::lot::{LotTemplate, mine};
use daoli_protocol::node::Msg;
use daoli_protocol::roles::{Drawn, Event};
use daoli_runtime::fakes::{Entry, Fakes, TestNet, until};
use daoli_runtime::host::now_ms;

/// Starts dc0's trustee (all 11 seats) on `f`, at the throttle of cycle 1, and hands it the
/// drawing of one lot that may lead: it proposes and votes from there. Returns the cycle length.
fn at_the_throttle(net: &TestNet, f: &Fakes) -> u64 {
    let id = &net.dcs[0];
    let role = daoli_ibft_trustees::Role::new(net.genesis.clone(), id.vote.clone(), vec![]).unwrap();
    daoli_ibft_trustees::start(role, f.deps(id.root.public(), net.chain())).expect("subscribes");
    let chain = daoli_protocol::chain::Chain::new(net.genesis.clone()).unwrap();
    let t = LotTemplate {
        height: 1,
        prev_hash: chain.tip_hash(),
        sponsor: net.dcs[1].sponsor.public(),
    };
    let lot = mine(
        &Keypair::from_label("svc-test/m"),
        &net.chain(),
        &t,
        net.genesis.params.pow_bits,
        0,
        1 << 20,
    )
    .unwrap()
    .countersign(&net.dcs[1].sponsor, &net.chain());
    let seed = daoli_protocol::seed::fallback(&net.chain(), &chain.seeds[0], 1);
    let length = chain.cycle_length();
    // The throttle is now: the cycle began 0.6 L ago.
    f.bus.inject(Event::Cycle(Cycle {
        height: 1,
        start: now_ms() - length * 6 / 10,
        length,
    }));
    f.bus.inject(Event::Drawn(Box::new(Drawn {
        height: 1,
        seed,
        vrf_proof: None,
        tree: vec![lot.clone()],
        counted: vec![lot],
    })));
    length
}

#[actix::test]
async fn every_vote_is_stored_before_it_is_sent_and_the_seat_decides() {
    let net = TestNet::new();
    let f = Fakes::default();
    at_the_throttle(&net, &f);
    let decided = |e: &[Entry]| e.iter().any(|x| matches!(x, Entry::Published(Event::Decided(..))));
    assert!(until(&f.log, 20, decided).await, "{:?}", f.log.entries());
    let log = f.log.entries();
    let mut votes_sent = 0;
    for (i, e) in log.iter().enumerate() {
        if let Entry::Sent(None, Msg::Vote(_)) = e {
            votes_sent += 1;
            // A step's votes may share one store transaction (group commit): count votes.
            let stored: usize = log[..i]
                .iter()
                .map(|x| match x {
                    Entry::Stored(k) => k.iter().filter(|k| **k == "vote").count(),
                    _ => 0,
                })
                .sum();
            assert!(
                stored >= votes_sent,
                "vote {votes_sent} left before it was stored: {log:?}"
            );
        }
    }
    assert!(votes_sent >= 2, "a prevote and a precommit");
}

#[actix::test]
async fn a_vote_the_store_did_not_take_never_leaves() {
    let net = TestNet::new();
    let f = Fakes::default();
    f.store.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let length = at_the_throttle(&net, &f);
    // Every wave passes; then the clock says the cycle stalled (seats re-send their votes).
    tokio::time::sleep(std::time::Duration::from_millis(2 * length)).await;
    f.bus.inject(Event::Phase(1, daoli_protocol::roles::Phase::Stalled));
    tokio::time::sleep(std::time::Duration::from_millis(length)).await;
    let log = f.log.entries();
    assert!(
        !log.iter().any(|e| matches!(e, Entry::Sent(_, Msg::Vote(_)))),
        "{log:?}"
    );
    assert!(!log.iter().any(|e| matches!(e, Entry::Published(Event::Decided(..)))));
}
