//! The ledger's actor against its role machine, with a fake bus and store: a certified block
//! from a peer is checked, stored with its batches, then published to the other roles.

use daoli_protocol::node::{Msg, Reject};
use daoli_protocol::roles::Event;
use daoli_runtime::fakes::{Entry, Fakes, TestNet, until};
use daoli_runtime::host::Deliver;

#[actix::test]
async fn a_certified_block_is_stored_before_it_is_published_and_a_forged_one_is_refused() {
    let net = TestNet::new();
    let blocks = net.certified(2);
    let f = Fakes::default();
    let id = &net.dcs[0];
    let role = daoli_ledger::Role::new(net.genesis.clone(), id.root.public(), id.micro.clone()).unwrap();
    let addr = daoli_ledger::start(role, f.deps(id.root.public(), net.chain())).expect("subscribes");
    let from = net.dcs[1].root.public();
    // A forged certificate (a precommit signature flipped) is refused and changes nothing.
    let (mut forged, batches) = blocks[0].clone();
    forged.qc.precommits[0].sig.0[40] ^= 1;
    let r = addr
        .send(Deliver {
            from,
            msg: Msg::Certified(forged, batches),
        })
        .await
        .unwrap();
    assert!(matches!(r, Err(Reject::Block(_))), "{r:?}");
    assert!(
        !f.log
            .entries()
            .iter()
            .any(|e| matches!(e, Entry::Stored(_) | Entry::Published(_)))
    );
    for (cb, b) in blocks.clone() {
        assert_eq!(
            addr.send(Deliver {
                from,
                msg: Msg::Certified(cb, b)
            })
            .await
            .unwrap(),
            Ok(())
        );
    }
    let published = |e: &[Entry]| {
        e.iter()
            .filter(|x| matches!(x, Entry::Published(Event::Certified(..))))
            .count()
    };
    assert!(until(&f.log, 5, |e| published(e) == 2).await);
    let log = f.log.entries();
    for (i, e) in log.iter().enumerate() {
        if let Entry::Published(Event::Certified(cb, _)) = e {
            let h = cb.block.height() as usize;
            let stored = log[..i]
                .iter()
                .filter(|x| matches!(x, Entry::Stored(k) if k.contains(&"block")))
                .count();
            assert!(stored >= h, "block {h} published before it was stored: {log:?}");
        }
    }
}

// The ledger stores a block before it announces it; killed between the two (or with its bus
// down until it is killed), the announcement is lost, and the datacenter's other services,
// each in its own process, would wait for it for ever. A ledger that starts from its store
// announces its tip again (consumers ignore a block they already follow).
#[actix::test]
async fn a_ledger_that_starts_from_its_store_announces_its_tip_again() {
    let net = TestNet::new();
    let blocks = net.certified(2);
    let id = &net.dcs[0];
    let mut role = daoli_ledger::Role::new(net.genesis.clone(), id.root.public(), id.micro.clone()).unwrap();
    for (cb, b) in blocks.clone() {
        role.replay(0, cb, b, &mut Vec::new()).unwrap();
    }
    let f = Fakes::default();
    let _addr = daoli_ledger::start(role, f.deps(id.root.public(), net.chain()));
    let tip = blocks[1].0.block.hash();
    assert!(
        until(&f.log, 5, |e| e.iter().any(
            |x| matches!(x, Entry::Published(Event::Certified(cb, b)) if cb.block.hash() == tip && *b == blocks[1].1)
        ))
        .await,
        "{:?}",
        f.log.entries()
    );
    // A fresh ledger has nothing to announce.
    let f = Fakes::default();
    let role = daoli_ledger::Role::new(net.genesis.clone(), id.root.public(), id.micro.clone()).unwrap();
    let _addr = daoli_ledger::start(role, f.deps(id.root.public(), net.chain()));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !f.log
            .entries()
            .iter()
            .any(|x| matches!(x, Entry::Published(Event::Certified(..))))
    );
}
