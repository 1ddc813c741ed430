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
    .start_on_arbiter();
    let pool = RoleHost::new(
        MinerPool::new(g.clone(), id.sponsor.clone(), vec![], 1).unwrap(),
        f.deps(me, net.chain()),
    )
    .start_on_arbiter();
    let ledger = RoleHost::new(
        Ledger::new(g.clone(), me, id.micro.clone()).unwrap(),
        f.deps(me, net.chain()),
    )
    .start_on_arbiter();
    let kb_fakes = Fakes::default();
    let kb = RoleHost::new(
        KernelBufferRole::new(g.clone(), me, id.batch.clone()).unwrap(),
        kb_fakes.deps(me, net.chain()),
    )
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
    tokio::time::sleep(Duration::from_millis(100)).await;
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
    /// Holds the kernel buffer's thread for `ms` (a slow store write would).
    fn stall(&self, ms: u64) -> tokio::task::JoinHandle<()> {
        let kb = self.kb.clone();
        tokio::spawn(async move {
            let _ = kb
                .send(Inspect(Box::new(move |_: &KernelBufferRole| {
                    std::thread::sleep(Duration::from_millis(ms))
                })))
                .await;
        })
    }
    fn stored(&self) -> usize {
        self.kb_fakes
            .log
            .entries()
            .iter()
            .filter(|e| matches!(e, daoli_runtime::fakes::Entry::Stored(_)))
            .count()
    }
}

#[actix::test]
async fn a_full_submit_queue_is_resource_exhausted_and_the_queued_are_still_answered() {
    let d = std::sync::Arc::new(dc(1).await);
    let stalled = d.stall(600);
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The first goes into a group that waits for the buffer; the second fills the queue.
    let first = {
        let d = d.clone();
        tokio::spawn(async move { d.api.submit_tx(d.request(0)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = {
        let d = d.clone();
        tokio::spawn(async move { d.api.submit_tx(d.request(1)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let e = d.api.submit_tx(d.request(2)).await.expect_err("no room");
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("1 transactions are waiting"), "{}", e.message());
    stalled.await.unwrap();
    // The two queued are taken once the buffer is free, each acknowledged after its write.
    for r in [first.await.unwrap(), second.await.unwrap()] {
        let r: TxReply = r.expect("answered").into_inner().try_into().unwrap();
        assert_eq!(r.result, Ok(()));
    }
    assert!(d.stored() >= 1);
    // The refused one was never held: sent again, it is new (stored, acknowledged).
    let before = d.stored();
    let r: TxReply = d
        .api
        .submit_tx(d.request(2))
        .await
        .unwrap()
        .into_inner()
        .try_into()
        .unwrap();
    assert_eq!(r.result, Ok(()));
    assert_eq!(d.stored(), before + 1);
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
