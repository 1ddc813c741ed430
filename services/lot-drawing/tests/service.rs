//! Lot drawing's actor against its role machine, with a fake bus: a peer's lot counts, a
//! barred sponsor's does not, and the drawing is published at the throttle.

use daoli_protocol::crypto::Keypair;
use daoli_protocol::dcc::Cycle;
use daoli_protocol::lot::{LotError, LotTemplate, mine};
use daoli_protocol::node::{Msg, Reject};
use daoli_protocol::params::Identity;
use daoli_protocol::roles::{Event, Phase};
use daoli_runtime::fakes::{Entry, Fakes, TestNet, until};
use daoli_runtime::host::{Deliver, now_ms};

fn lot(net: &TestNet, sponsor: &Identity, miner: &str) -> daoli_protocol::lot::Lot {
    let chain = daoli_protocol::chain::Chain::new(net.genesis.clone()).unwrap();
    let t = LotTemplate {
        height: 1,
        prev_hash: chain.tip_hash(),
        sponsor: sponsor.sponsor.public(),
    };
    mine(
        &Keypair::from_label(miner),
        &net.chain(),
        &t,
        net.genesis.params.pow_bits,
        0,
        1 << 20,
    )
    .expect("mined")
    .countersign(&sponsor.sponsor, &net.chain())
}

#[actix::test]
async fn peer_lots_are_checked_and_drawn_at_the_throttle() {
    let net = TestNet::new();
    let f = Fakes::default();
    let role = daoli_lot_drawing::Role::new(net.genesis.clone()).unwrap();
    let addr = daoli_lot_drawing::start(role, f.deps(net.dcs[0].root.public(), net.chain())).expect("subscribes");
    f.bus.inject(Event::Cycle(Cycle {
        height: 1,
        start: now_ms(),
        length: 1_000_000,
    }));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let good = lot(&net, &net.dcs[1], "svc-test/a");
    let from = net.dcs[1].root.public();
    assert_eq!(
        addr.send(Deliver {
            from,
            msg: Msg::Lot(good.clone())
        })
        .await
        .unwrap(),
        Ok(())
    );
    // dc0 made seed_1 (rank 0 of block 0): its lots may not lead height 1.
    let barred = lot(&net, &net.dcs[0], "svc-test/b");
    let r = addr
        .send(Deliver {
            from,
            msg: Msg::Lot(barred),
        })
        .await
        .unwrap();
    assert!(matches!(r, Err(Reject::Lot(LotError::Barred(_)))), "{r:?}");
    f.bus.inject(Event::Phase(1, Phase::Throttle));
    let drawn = |e: &[Entry]| {
        e.iter().find_map(|x| match x {
            Entry::Published(Event::Drawn(d)) => Some((**d).clone()),
            _ => None,
        })
    };
    assert!(until(&f.log, 5, |e| drawn(e).is_some()).await);
    let d = drawn(&f.log.entries()).unwrap();
    assert_eq!(d.tree, vec![good.clone()]);
    assert_eq!(d.counted, vec![good]);
}
