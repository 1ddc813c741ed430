//! The kernel buffer's actor against its role machine, with a fake bus and store: a
//! transaction is acknowledged only once the store has it.

use daoli_protocol::buffer::BufferError;
use daoli_protocol::dcc::Cycle;
use daoli_protocol::roles::Event;
use daoli_protocol::tx::{Transaction, TxKind};
use daoli_runtime::fakes::{Entry, Fakes, TestNet};
use daoli_runtime::host::{SubmitTx, now_ms};
use std::sync::atomic::Ordering;
use std::time::Duration;

async fn setup() -> (TestNet, Fakes, actix::Addr<daoli_kernel_buffer::Service>, u32) {
    let net = TestNet::new();
    let f = Fakes::default();
    let id = &net.dcs[0];
    let role = daoli_kernel_buffer::Role::new(net.genesis.clone(), id.root.public(), id.batch.clone()).unwrap();
    let chain = daoli_protocol::chain::Chain::new(net.genesis.clone()).unwrap();
    let slot = (0..net.genesis.params.payroll as u32)
        .find(|s| chain.payroll_entry(0, *s).is_some_and(|e| e.dc == id.root.public()))
        .expect("dc0 serves a slot in cycle 1");
    let addr = daoli_kernel_buffer::start(role, f.deps(id.root.public(), net.chain()));
    f.bus.inject(Event::Cycle(Cycle {
        height: 1,
        start: now_ms(),
        length: 1_000_000,
    }));
    tokio::time::sleep(Duration::from_millis(100)).await;
    (net, f, addr, slot)
}

fn tx(net: &TestNet, nonce: u64) -> Transaction {
    let to = net.dcs[1].root.public();
    Transaction::new(
        &net.client,
        &net.chain(),
        nonce,
        1,
        TxKind::Transfer { to, amount: 5 },
        vec![],
    )
}

#[actix::test]
async fn a_transaction_is_acknowledged_after_it_is_stored() {
    let (net, f, addr, slot) = setup().await;
    let t = tx(&net, 0);
    let rx = addr
        .send(SubmitTx {
            tx: t.clone(),
            slot,
            from: net.client.public(),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rx.await.unwrap(), Ok(()));
    assert!(
        f.log
            .entries()
            .iter()
            .any(|e| matches!(e, Entry::Stored(k) if k == &["tx"]))
    );
}

#[actix::test]
async fn no_acknowledgement_when_the_store_fails() {
    let (net, f, addr, slot) = setup().await;
    f.store.fail.store(true, Ordering::SeqCst);
    let submit = || SubmitTx {
        tx: tx(&net, 0),
        slot,
        from: net.client.public(),
    };
    let rx = addr.send(submit()).await.unwrap().unwrap();
    assert!(rx.await.is_err(), "the reply was never sent");
    // The client tries again (the buffer's memory holds the transaction): still no
    // acknowledgement, even once the store works again. The service stopped; a restart
    // rebuilds it from what the store holds.
    f.store.fail.store(false, Ordering::SeqCst);
    if let Ok(Ok(rx)) = addr.send(submit()).await {
        assert!(rx.await.is_err(), "acknowledged a transaction that was never stored");
    }
    assert!(!f.log.entries().iter().any(|e| matches!(e, Entry::Stored(_))));
}

#[actix::test]
async fn a_badly_signed_transaction_is_refused_and_nothing_is_stored() {
    let (net, f, addr, slot) = setup().await;
    let mut t = tx(&net, 0);
    t.sig.0[40] ^= 1;
    let rx = addr
        .send(SubmitTx {
            tx: t,
            slot,
            from: net.client.public(),
        })
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(rx.await.unwrap(), Err(BufferError::Invalid(_))));
    assert!(!f.log.entries().iter().any(|e| matches!(e, Entry::Stored(_))));
}
