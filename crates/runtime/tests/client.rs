//! The client API's answers when the kernel buffer cannot take a transaction now: a full
//! queue is RESOURCE_EXHAUSTED (back off and retry), a stopped service UNAVAILABLE, and in
//! neither case is the transaction acknowledged.

use daoli_protocol::dcc::Cycle;
use daoli_protocol::roles::Event;
use daoli_protocol::roles::clock::Clock;
use daoli_protocol::roles::kernel_buffer::KernelBufferRole;
use daoli_protocol::roles::ledger::Ledger;
use daoli_protocol::roles::miner_pool::MinerPool;
use daoli_protocol::tx::{Transaction, TxKind};
use daoli_runtime::client::ClientApi;
use daoli_runtime::fakes::{Fakes, TestNet};
use daoli_runtime::host::{Inspect, RoleHost, now_ms};
use daoli_wire::client::{SubmitTx, TxReply};
use daoli_wire::proto as pb;
use daoli_wire::proto::client_server::Client;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tonic::{Code, Request};

struct Dc {
    net: TestNet,
    api: ClientApi,
    kb: actix::Addr<RoleHost<KernelBufferRole>>,
    kb_fakes: Fakes,
    slot: u32,
}

/// dc0 of the test network, its kernel buffer on its own thread, in cycle 1 where it serves
/// `slot`; the client API over it with room for `queue` waiting transactions.
async fn dc(queue: usize) -> Dc {
    let net = TestNet::new();
    let id = &net.dcs[0];
    let g = &net.genesis;
    let me = id.root.public();
    let f = Fakes::default();
    let clock = RoleHost::new(
        Clock::new(g.clone(), me, id.vrf.clone(), now_ms()).unwrap(),
        f.deps(me, net.chain()),
    )
    .expect("subscribes")
    .start_on_arbiter();
    let pool = RoleHost::new(
        MinerPool::new(g.clone(), id.sponsor.clone(), vec![], 1).unwrap(),
        f.deps(me, net.chain()),
    )
    .expect("subscribes")
    .start_on_arbiter();
    let ledger = RoleHost::new(
        Ledger::new(g.clone(), me, id.micro.clone()).unwrap(),
        f.deps(me, net.chain()),
    )
    .expect("subscribes")
    .start_on_arbiter();
    let kb_fakes = Fakes::default();
    let kb = RoleHost::new(
        KernelBufferRole::new(g.clone(), me, id.batch.clone()).unwrap(),
        kb_fakes.deps(me, net.chain()),
    )
    .expect("subscribes")
    .start_on_arbiter();
    let chain = daoli_protocol::chain::Chain::new(g.clone()).unwrap();
    let slot = (0..g.params.payroll as u32)
        .find(|s| chain.payroll_entry(0, *s).is_some_and(|e| e.dc == me))
        .expect("dc0 serves a slot in cycle 1");
    kb_fakes.bus.inject(Event::Cycle(Cycle {
        height: 1,
        start: now_ms(),
        length: 1_000_000,
    }));
    let client = net.client.public();
    let started = std::time::Instant::now();
    loop {
        let cycle = kb
            .send(Inspect(Box::new(move |k: &KernelBufferRole| {
                k.route(&client).map(|r| r.0)
            })))
            .await
            .unwrap();
        if cycle == Some(1) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "cycle 1 never began");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let api = ClientApi::with_queue(clock, pool, kb.clone(), ledger, queue);
    Dc {
        net,
        api,
        kb,
        kb_fakes,
        slot,
    }
}

impl Dc {
    fn request(&self, nonce: u64) -> Request<pb::SubmitTxRequest> {
        let to = self.net.dcs[1].root.public();
        let tx = Transaction::new(
            &self.net.client,
            &self.net.chain(),
            nonce,
            1,
            TxKind::Transfer { to, amount: 5 },
            vec![],
        );
        Request::new((&SubmitTx { tx, slot: self.slot }).into())
    }
    /// Holds the kernel buffer's thread (as a slow store write would) until the returned
    /// sender is dropped or sent to; returns once the buffer is held.
    async fn stall(&self) -> std::sync::mpsc::Sender<()> {
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let (held, holding) = tokio::sync::oneshot::channel::<()>();
        let kb = self.kb.clone();
        tokio::spawn(async move {
            let _ = kb
                .send(Inspect(Box::new(move |_: &KernelBufferRole| {
                    let _ = held.send(());
                    let _ = gate.recv();
                })))
                .await;
        });
        holding.await.expect("the buffer's thread is held");
        release
    }
    /// Transactions the kernel buffer's store took.
    fn stored(&self) -> usize {
        self.kb_fakes
            .log
            .entries()
            .iter()
            .map(|e| match e {
                daoli_runtime::fakes::Entry::Stored(k) => k.iter().filter(|k| **k == "tx").count(),
                _ => 0,
            })
            .sum()
    }
}

#[actix::test]
async fn a_full_submit_queue_is_resource_exhausted_and_the_queued_are_still_answered() {
    let d = std::sync::Arc::new(dc(1).await);
    let release = d.stall().await;
    // With the buffer held, one transaction can wait in a group and one in the queue (room
    // for 1); the rest are refused at once, whatever the timing.
    let mut waiting = Vec::new();
    let mut refused = Vec::new();
    for n in 0..8 {
        let h = {
            let d = d.clone();
            tokio::spawn(async move { d.api.submit_tx(d.request(n)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        if h.is_finished() {
            let e = h
                .await
                .unwrap()
                .expect_err("only a refusal answers while the buffer is held");
            assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
            assert!(e.message().contains("1 transactions are waiting"), "{}", e.message());
            refused.push(n);
        } else {
            waiting.push(h);
        }
    }
    assert!((1..=2).contains(&waiting.len()), "{} waiting", waiting.len());
    assert_eq!(d.stored(), 0, "nothing written while held");
    drop(release);
    // The waiting ones are taken once the buffer is free, and acknowledged after their write.
    for h in waiting.drain(..) {
        let r: TxReply = h.await.unwrap().expect("answered").into_inner().try_into().unwrap();
        assert_eq!(r.result, Ok(()));
    }
    assert_eq!(d.stored(), 8 - refused.len());
    // A refused one was never held: sent again, it is new (stored, acknowledged).
    let r: TxReply = d
        .api
        .submit_tx(d.request(refused[0]))
        .await
        .unwrap()
        .into_inner()
        .try_into()
        .unwrap();
    assert_eq!(r.result, Ok(()));
    assert_eq!(d.stored(), 8 - refused.len() + 1);
}

#[actix::test]
async fn a_stopped_kernel_buffer_is_unavailable_and_acknowledges_nothing() {
    let d = dc(16).await;
    // Its store fails: the service stops before the transaction is durable.
    d.kb_fakes.store.fail.store(true, Ordering::SeqCst);
    let e = d.api.submit_tx(d.request(0)).await.expect_err("not acknowledged");
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(e.message().contains("not acknowledged"), "{}", e.message());
    // Later requests: the service is gone, and each says so.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for n in 1..3 {
        let e = d.api.submit_tx(d.request(n)).await.expect_err("gone");
        assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    }
    assert_eq!(d.stored(), 0);
}
