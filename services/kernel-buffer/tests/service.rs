//! The kernel buffer's actor against its role machine, with a fake bus and store: a
//! transaction is acknowledged only once the store has it.

use daoli_protocol::buffer::BufferError;
use daoli_protocol::dcc::Cycle;
use daoli_protocol::roles::Event;
use daoli_protocol::tx::{Transaction, TxKind};
use daoli_runtime::fakes::{Entry, Fakes, TestNet};
use daoli_runtime::host::{SubmitTx, SubmitTxs, now_ms};
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
    let addr = daoli_kernel_buffer::start(role, f.deps(id.root.public(), net.chain())).expect("subscribes");
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

#[actix::test]
async fn transactions_taken_together_are_stored_in_one_write_before_any_is_acknowledged() {
    let (net, f, addr, slot) = setup().await;
    let mut forged = tx(&net, 4);
    forged.sig.0[40] ^= 1;
    let group: Vec<SubmitTx> = (0..4)
        .map(|n| tx(&net, n))
        .chain([forged])
        .map(|tx| SubmitTx {
            tx,
            slot,
            from: net.client.public(),
        })
        .collect();
    let answers = addr.send(SubmitTxs(group)).await.unwrap();
    assert_eq!(answers.len(), 5);
    let mut verdicts = Vec::new();
    for a in answers {
        verdicts.push(a.unwrap().await.unwrap());
    }
    assert!(verdicts[..4].iter().all(|v| v.is_ok()), "{verdicts:?}");
    assert!(matches!(verdicts[4], Err(BufferError::Invalid(_))));
    // One store transaction holds the four accepted ones (group commit), nothing of the forged.
    let stored: Vec<Entry> = f
        .log
        .entries()
        .into_iter()
        .filter(|e| matches!(e, Entry::Stored(_)))
        .collect();
    assert!(
        matches!(&stored[..], [Entry::Stored(k)] if k == &["tx"; 4]),
        "{stored:?}"
    );
}

#[actix::test]
async fn a_group_is_not_acknowledged_when_its_write_fails() {
    let (net, f, addr, slot) = setup().await;
    f.store.fail.store(true, Ordering::SeqCst);
    let group: Vec<SubmitTx> = (0..3)
        .map(|n| SubmitTx {
            tx: tx(&net, n),
            slot,
            from: net.client.public(),
        })
        .collect();
    for a in addr.send(SubmitTxs(group)).await.unwrap() {
        assert!(
            a.unwrap().await.is_err(),
            "acknowledged a transaction that was never stored"
        );
    }
}
