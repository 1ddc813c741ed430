//! The lottery's actor against its role machine, with a fake bus: its public record follows
//! the certified chain.

use daoli_protocol::roles::Event;
use daoli_runtime::fakes::{Fakes, TestNet};
use daoli_runtime::host::Inspect;

#[actix::test]
async fn its_record_follows_the_lottery_events_of_the_chain() {
    let net = TestNet::new();
    let blocks = net.certified(4);
    let f = Fakes::default();
    let role = daoli_lottery::Role::new(net.genesis.clone()).unwrap();
    let addr = daoli_lottery::start(role, f.deps(net.dcs[0].root.public(), net.chain())).expect("subscribes");
    // What the chain says, executed on its own.
    let mut chain = daoli_protocol::chain::Chain::new(net.genesis.clone()).unwrap();
    let mut expected = Vec::new();
    for (cb, b) in &blocks {
        let store = b.iter().map(|x| (x.digest(), x.clone())).collect();
        let out = chain.commit(cb.clone(), &store).unwrap();
        expected.extend(out.lottery.into_iter().map(|e| (cb.block.height(), e)));
        f.bus.inject(Event::Certified(Box::new(cb.clone()), b.clone()));
    }
    // A redelivered event changes nothing.
    f.bus
        .inject(Event::Certified(Box::new(blocks[0].0.clone()), blocks[0].1.clone()));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let record = addr
        .send(Inspect(Box::new(|l: &daoli_lottery::Role| l.record.clone())))
        .await
        .unwrap();
    assert!(!expected.is_empty(), "the test network opens a round by height 4");
    assert_eq!(record, expected);
}
