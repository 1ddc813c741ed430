//! The miner pool's actor against its role machine, with a fake bus: the hashing runs off the
//! actor, and a countersigned lot is stored before it is published or sent.

use daoli_protocol::crypto::Keypair;
use daoli_protocol::dcc::Cycle;
use daoli_protocol::node::Msg;
use daoli_protocol::roles::{Event, Phase};
use daoli_runtime::fakes::{Entry, Fakes, TestNet, until};
use daoli_runtime::host::now_ms;

#[actix::test]
async fn a_mined_lot_is_stored_before_it_leaves() {
    let net = TestNet::new();
    let f = Fakes::default();
    let id = &net.dcs[1];
    let miners = vec![Keypair::from_label("svc-test/m0"), Keypair::from_label("svc-test/m1")];
    let role = daoli_miner_pool::Role::new(net.genesis.clone(), id.sponsor.clone(), miners, 7).unwrap();
    daoli_miner_pool::start(role, f.deps(id.root.public(), net.chain())).expect("subscribes");
    f.bus.inject(Event::Cycle(Cycle {
        height: 1,
        start: now_ms(),
        length: 1_000_000,
    }));
    f.bus.inject(Event::Phase(1, Phase::Mine));
    let sent = |e: &[Entry]| e.iter().filter(|x| matches!(x, Entry::Sent(None, Msg::Lot(_)))).count();
    assert!(until(&f.log, 20, |e| sent(e) == 2).await, "{:?}", f.log.entries());
    let log = f.log.entries();
    for (i, e) in log.iter().enumerate() {
        if let Entry::Sent(None, Msg::Lot(l)) | Entry::Published(Event::Lot(l)) = e {
            assert_eq!(l.sponsor, id.sponsor.public());
            l.validate(&net.chain(), net.genesis.params.pow_bits)
                .expect("a valid lot");
            let stored = log[..i]
                .iter()
                .filter(|x| matches!(x, Entry::Stored(k) if k == &["signed"]))
                .count();
            assert!(stored >= 1, "entry {i} left before its lot was stored: {log:?}");
        }
    }
}
