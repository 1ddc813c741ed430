//! Real tonic over loopback on ephemeral ports.

use super::*;
use daoli_protocol::block::{Batch, Block, CertifiedBlock, Header};
use daoli_protocol::codec::Hash32;
use daoli_protocol::crypto::Signature;
use daoli_protocol::params::Identity;
use daoli_protocol::tx::{Transaction, TxKind};
use daoli_protocol::vote::{Qc, Step, Vote};
use std::num::NonZeroU32;

const CHAIN: ChainId = Hash32([7; 32]);
const WAIT: Duration = Duration::from_secs(10);

fn limits(per_second: u32, in_flight: u32) -> PeerLimits {
    PeerLimits {
        messages_per_second: NonZeroU32::new(per_second).unwrap(),
        max_in_flight: NonZeroU32::new(in_flight).unwrap(),
    }
}

fn cfg(name: &str, id: &Identity, addr: SocketAddr) -> PeerConfig {
    PeerConfig {
        name: name.into(),
        root_key: id.root.public(),
        endpoint: Url::parse(&format!("http://{addr}")).unwrap(),
        services: Vec::new(),
    }
}

fn vote(id: &Identity, height: u64) -> Msg {
    Msg::Vote(Vote::sign_unchecked(
        &id.vote,
        &CHAIN,
        height,
        0,
        Step::Prevote,
        None,
        1,
    ))
}

fn txs(id: &Identity, n: usize) -> Vec<Transaction> {
    let to = Identity::from_label("payee").root.public();
    (0..n as u64)
        .map(|i| Transaction::new(&id.root, &CHAIN, i, 1, TxKind::Transfer { to, amount: 1 }, Vec::new()))
        .collect()
}

/// A server knowing `known` whose role machine answers every message with `verdict` and
/// reports what it got.
async fn endpoint(
    known: &[PeerConfig],
    lim: PeerLimits,
    verdict: fn(&Msg) -> Result<(), Reject>,
) -> (ServeHandle, mpsc::UnboundedReceiver<(PublicKey, Msg)>) {
    let (tx, mut rx) = mpsc::channel::<Inbound>(64);
    let (seen, got) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(i) = rx.recv().await {
            let _ = i.reply.send(verdict(&i.msg));
            let _ = seen.send((i.from, i.msg));
        }
    });
    let server = PeerServer::new(CHAIN, known, lim, tx, &Metrics::new(), ServerOptions::default());
    let h = serve("127.0.0.1:0".parse().unwrap(), server, std::future::pending())
        .await
        .unwrap();
    (h, got)
}

async fn raw(addr: SocketAddr) -> GrpcClient<Channel> {
    GrpcClient::connect(format!("http://{addr}")).await.unwrap()
}

async fn deliver(c: &mut GrpcClient<Channel>, env: pb::Envelope) -> Delivery {
    c.deliver(env).await.unwrap().into_inner().try_into().unwrap()
}

fn refused(d: &Delivery) -> &str {
    match d {
        Delivery::Refused(r) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn recv(rx: &mut mpsc::UnboundedReceiver<(PublicKey, Msg)>) -> (PublicKey, Msg) {
    tokio::time::timeout(WAIT, rx.recv()).await.expect("timed out").unwrap()
}

fn quick() -> ClientOptions {
    ClientOptions {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..ClientOptions::default()
    }
}

/// The address a server gets: one bound and released, for a peer configured before it runs.
async fn free_addr() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

#[tokio::test]
async fn three_endpoints_exchange_messages() {
    let ids: Vec<Identity> = ["a", "b", "c"].iter().map(|l| Identity::from_label(l)).collect();
    let addrs = [free_addr().await, free_addr().await, free_addr().await];
    let all: Vec<PeerConfig> = ["a", "b", "c"]
        .iter()
        .zip(&ids)
        .zip(addrs)
        .map(|((n, id), a)| cfg(n, id, a))
        .collect();
    let mut rxs = Vec::new();
    let mut peers = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let others: Vec<PeerConfig> = all.iter().filter(|p| p.name != all[i].name).cloned().collect();
        let (tx, mut rx) = mpsc::channel::<Inbound>(64);
        let (seen, got) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                let _ = m.reply.send(Ok(()));
                let _ = seen.send((m.from, m.msg));
            }
        });
        let server = PeerServer::new(
            CHAIN,
            &others,
            limits(100, 8),
            tx,
            &Metrics::new(),
            ServerOptions::default(),
        );
        let h = serve(addrs[i], server, std::future::pending()).await.unwrap();
        assert_eq!(h.local_addr(), addrs[i]);
        rxs.push(got);
        // Every peer, self included: broadcast must skip it.
        let targets = all.iter().map(|p| (p.root_key, p.endpoint.clone())).collect();
        peers.push(Peers::start(id.root.clone(), CHAIN, targets, quick()).unwrap());
    }
    peers[0].send(&ids[1].root.public(), Msg::SyncRequest { from: 5 });
    assert_eq!(
        recv(&mut rxs[1]).await,
        (ids[0].root.public(), Msg::SyncRequest { from: 5 })
    );
    peers[1].send(&ids[0].root.public(), Msg::SyncRequest { from: 6 });
    assert_eq!(
        recv(&mut rxs[0]).await,
        (ids[1].root.public(), Msg::SyncRequest { from: 6 })
    );

    let v = vote(&ids[2], 3);
    peers[2].broadcast(v.clone());
    assert_eq!(recv(&mut rxs[0]).await, (ids[2].root.public(), v.clone()));
    assert_eq!(recv(&mut rxs[1]).await, (ids[2].root.public(), v));
    // In order, one after another, on the same connection (seq strictly increasing).
    for h in 0..20 {
        peers[0].send(&ids[2].root.public(), Msg::SyncRequest { from: h });
    }
    for h in 0..20 {
        assert_eq!(recv(&mut rxs[2]).await.1, Msg::SyncRequest { from: h });
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(rxs[2].try_recv().is_err(), "the broadcaster does not send to itself");
}

// A datacenter run as one process per service takes each kind at its service's endpoint: the
// sender picks it by kind, and kinds of services not listed go to the peer's endpoint. This
// datacenter's own entry is used only when its services are listed (they run elsewhere), and
// never by a broadcast.
#[tokio::test]
async fn each_kind_goes_to_its_service_endpoint() {
    let (a, b) = (Identity::from_label("a"), Identity::from_label("b"));
    let known = [cfg("a", &a, free_addr().await), cfg("b", &b, free_addr().await)];
    // b's ledger and trustees, and a's own (in other processes than this sender's).
    let (ledger, mut at_ledger) = endpoint(&known, limits(100, 8), |_| Ok(())).await;
    let (trustees, mut at_trustees) = endpoint(&known, limits(100, 8), |_| Ok(())).await;
    let (own_ledger, mut at_own_ledger) = endpoint(&known, limits(100, 8), |_| Ok(())).await;
    let (own_trustees, mut at_own_trustees) = endpoint(&known, limits(100, 8), |_| Ok(())).await;
    let url = |h: &ServeHandle| Url::parse(&format!("http://{}", h.local_addr())).unwrap();
    let split = |key: PublicKey, ledger: &ServeHandle, trustees: &ServeHandle| PeerRoute {
        key,
        endpoint: url(ledger),
        services: vec![("ibft-trustees", url(trustees))],
    };
    let routes = vec![
        split(b.root.public(), &ledger, &trustees),
        split(a.root.public(), &own_ledger, &own_trustees),
    ];
    let peers = Peers::start_routed(a.root.clone(), CHAIN, routes, quick()).unwrap();
    let v = vote(&a, 3);
    peers.send(&b.root.public(), v.clone());
    peers.send(&b.root.public(), Msg::SyncRequest { from: 4 });
    assert_eq!(recv(&mut at_trustees).await, (a.root.public(), v.clone()));
    assert_eq!(
        recv(&mut at_ledger).await,
        (a.root.public(), Msg::SyncRequest { from: 4 })
    );
    // To its own service in another process.
    peers.send(&a.root.public(), Msg::SyncRequest { from: 5 });
    assert_eq!(
        recv(&mut at_own_ledger).await,
        (a.root.public(), Msg::SyncRequest { from: 5 })
    );
    // A broadcast goes to b's trustees only.
    peers.broadcast(v.clone());
    assert_eq!(recv(&mut at_trustees).await, (a.root.public(), v));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(at_own_trustees.try_recv().is_err(), "not to itself");
    // Its own entry without services (one process): nothing goes to itself.
    let whole = Peers::start(
        a.root.clone(),
        CHAIN,
        vec![(a.root.public(), url(&own_ledger))],
        quick(),
    )
    .unwrap();
    whole.send(&a.root.public(), Msg::SyncRequest { from: 6 });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(at_own_ledger.try_recv().is_err());
}

#[tokio::test]
async fn an_unknown_peer_is_refused_before_its_body_is_decoded() {
    let (known, stranger) = (Identity::from_label("known"), Identity::from_label("stranger"));
    let peers = [cfg("known", &known, free_addr().await)];
    let (h, mut got) = endpoint(&peers, limits(100, 8), |_| Ok(())).await;
    let mut c = raw(h.local_addr()).await;
    let mut env = pb::Envelope::seal(&stranger.root, &CHAIN, 1, &Msg::SyncRequest { from: 1 }).unwrap();
    assert_eq!(refused(&deliver(&mut c, env.clone()).await), "unknown peer");
    // A vote-sized body that is not protobuf: the sender is refused, not the body.
    env.body = [&[0x32, 20][..], &[0xff; 20]].concat();
    assert_eq!(refused(&deliver(&mut c, env).await), "unknown peer");
    assert!(got.try_recv().is_err());
}

#[tokio::test]
async fn bad_signature_wrong_chain_and_replay_are_refused() {
    let a = Identity::from_label("a");
    let peers = [cfg("a", &a, free_addr().await)];
    let (h, mut got) = endpoint(&peers, limits(100, 8), |_| Ok(())).await;
    let mut c = raw(h.local_addr()).await;
    let msg = Msg::SyncRequest { from: 1 };

    let mut forged = pb::Envelope::seal(&a.root, &CHAIN, 10, &msg).unwrap();
    forged.signature[0] ^= 1;
    assert!(refused(&deliver(&mut c, forged).await).contains("signature"));
    // Signed by a configured peer's other key: still not its root's signature.
    let mut other_key = pb::Envelope::seal(&a.vote, &CHAIN, 10, &msg).unwrap();
    other_key.from = a.root.public().0.to_vec();
    assert!(refused(&deliver(&mut c, other_key).await).contains("signature"));

    let other_chain = pb::Envelope::seal(&a.root, &Hash32([8; 32]), 10, &msg).unwrap();
    assert!(refused(&deliver(&mut c, other_chain).await).contains("chain"));

    let good = pb::Envelope::seal(&a.root, &CHAIN, 10, &msg).unwrap();
    assert_eq!(deliver(&mut c, good.clone()).await, Delivery::Accepted);
    assert_eq!(recv(&mut got).await, (a.root.public(), msg.clone()));
    assert!(refused(&deliver(&mut c, good).await).starts_with("replay"));
    // Lower in the same stream (seq 10's low bits: stream 2).
    let older = pb::Envelope::seal(&a.root, &CHAIN, 10 - SEQ_STREAMS as u64, &msg).unwrap();
    assert!(refused(&deliver(&mut c, older).await).starts_with("replay"));
    let newer = pb::Envelope::seal(&a.root, &CHAIN, 10 + SEQ_STREAMS as u64, &msg).unwrap();
    assert_eq!(deliver(&mut c, newer).await, Delivery::Accepted);
    // The refused ones never reached the role machine.
    assert_eq!(recv(&mut got).await, (a.root.public(), msg));
    assert!(got.try_recv().is_err());
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_decoding() {
    let a = Identity::from_label("a");
    let peers = [cfg("a", &a, free_addr().await)];
    let (h, mut got) = endpoint(&peers, limits(100, 8), |_| Ok(())).await;
    let mut c = raw(h.local_addr()).await;
    // A "vote" of 4 KiB of garbage, validly signed: the size is what is refused (a decode
    // would have failed on the garbage instead).
    let junk = vec![0xff; 4096];
    let body = [&[0x32, 0x80, 0x20][..], &junk].concat();
    let seq = 1;
    let sig = a
        .root
        .sign(daoli_wire::envelope_digest(&CHAIN, &a.root.public(), seq, &body).as_bytes());
    let env = pb::Envelope {
        chain_id: CHAIN.0.to_vec(),
        from: a.root.public().0.to_vec(),
        seq,
        body,
        signature: sig.0.to_vec(),
    };
    let r = deliver(&mut c, env).await;
    assert_eq!(
        refused(&r),
        format!("Vote is 4096 bytes, limit {}", limits::MAX_VOTE_BYTES)
    );
    assert!(got.try_recv().is_err());
}

#[tokio::test]
async fn verdicts_become_replies() {
    let a = Identity::from_label("a");
    let peers = [cfg("a", &a, free_addr().await)];
    let (h, _got) = endpoint(&peers, limits(100, 8), |m| match m {
        Msg::SyncRequest { from: 1 } => Ok(()),
        Msg::SyncRequest { from: 2 } => Err(Reject::Future),
        _ => Err(Reject::Stale),
    })
    .await;
    let mut c = raw(h.local_addr()).await;
    let env = |seq, from| pb::Envelope::seal(&a.root, &CHAIN, seq, &Msg::SyncRequest { from }).unwrap();
    assert_eq!(deliver(&mut c, env(1, 1)).await, Delivery::Accepted);
    assert_eq!(
        deliver(&mut c, env(2, 2)).await,
        Delivery::Held(Reject::Future.to_string())
    );
    assert_eq!(refused(&deliver(&mut c, env(3, 3)).await), Reject::Stale.to_string());
}

#[tokio::test]
async fn a_full_receive_queue_answers_busy_and_a_silent_one_times_out() {
    let a = Identity::from_label("a");
    let peers = [cfg("a", &a, free_addr().await)];
    // Room for one message, and nobody reads it.
    let (tx, rx) = mpsc::channel::<Inbound>(1);
    let opts = ServerOptions {
        verdict_timeout: Duration::from_millis(500),
        ..ServerOptions::default()
    };
    let server = PeerServer::new(CHAIN, &peers, limits(100, 8), tx, &Metrics::new(), opts);
    let h = serve("127.0.0.1:0".parse().unwrap(), server, std::future::pending())
        .await
        .unwrap();
    let env = |seq| pb::Envelope::seal(&a.root, &CHAIN, seq, &Msg::SyncRequest { from: seq }).unwrap();
    let mut c = raw(h.local_addr()).await;
    let mut c1 = c.clone();
    let e1 = env(1);
    let first = tokio::spawn(async move { deliver(&mut c1, e1).await });
    while rx.is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(refused(&deliver(&mut c, env(2)).await), "busy: receive queue full");
    assert_eq!(refused(&first.await.unwrap()), "no verdict within 500ms");
    drop(rx);
}

#[tokio::test]
async fn per_peer_in_flight_and_rate_limits_answer_busy() {
    let (a, b) = (Identity::from_label("a"), Identity::from_label("b"));
    let peers = [cfg("a", &a, free_addr().await), cfg("b", &b, free_addr().await)];
    let env = |id: &Identity, seq| pb::Envelope::seal(&id.root, &CHAIN, seq, &Msg::SyncRequest { from: seq }).unwrap();

    // One message at a time per peer; the role machine holds each verdict a while.
    let (tx, mut rx) = mpsc::channel::<Inbound>(16);
    tokio::spawn(async move {
        while let Some(i) = rx.recv().await {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let _ = i.reply.send(Ok(()));
            });
        }
    });
    let server = PeerServer::new(
        CHAIN,
        &peers,
        limits(100, 1),
        tx,
        &Metrics::new(),
        ServerOptions::default(),
    );
    let h = serve("127.0.0.1:0".parse().unwrap(), server, std::future::pending())
        .await
        .unwrap();
    let mut c = raw(h.local_addr()).await;
    let mut c1 = c.clone();
    let e1 = env(&a, 1);
    let first = tokio::spawn(async move { deliver(&mut c1, e1).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        refused(&deliver(&mut c, env(&a, 2)).await),
        "busy: too many messages awaiting a verdict"
    );
    // b, another peer, is not affected by a's load.
    assert_eq!(deliver(&mut c, env(&b, 1)).await, Delivery::Accepted);
    assert_eq!(first.await.unwrap(), Delivery::Accepted);

    // One message a second: the second in a row is over the rate, b's is not.
    let (h, _got) = endpoint(&peers, limits(1, 8), |_| Ok(())).await;
    let mut c = raw(h.local_addr()).await;
    assert_eq!(deliver(&mut c, env(&a, 1)).await, Delivery::Accepted);
    assert_eq!(
        refused(&deliver(&mut c, env(&a, 2)).await),
        "busy: messages per second over the limit"
    );
    assert_eq!(deliver(&mut c, env(&b, 1)).await, Delivery::Accepted);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(deliver(&mut c, env(&a, 3)).await, Delivery::Accepted);
}

#[tokio::test]
async fn a_peer_that_starts_later_is_reached_after_reconnecting() {
    let (a, b) = (Identity::from_label("a"), Identity::from_label("b"));
    let b_addr = free_addr().await;
    let peers = Peers::start(
        a.root.clone(),
        CHAIN,
        vec![(b.root.public(), Url::parse(&format!("http://{b_addr}")).unwrap())],
        quick(),
    )
    .unwrap();
    peers.send(&b.root.public(), Msg::SyncRequest { from: 1 });
    // Let a few connection attempts fail first.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (tx, mut rx) = mpsc::channel::<Inbound>(8);
    let server = PeerServer::new(
        CHAIN,
        &[cfg("a", &a, free_addr().await)],
        limits(100, 8),
        tx,
        &Metrics::new(),
        ServerOptions::default(),
    );
    let h = serve(b_addr, server, std::future::pending()).await.unwrap();
    let got = tokio::time::timeout(WAIT, rx.recv()).await.expect("timed out").unwrap();
    assert_eq!((got.from, &got.msg), (a.root.public(), &Msg::SyncRequest { from: 1 }));
    let _ = got.reply.send(Ok(()));
    assert!(peers.metrics.retries.get() > 0, "it was retried");

    // Stopped and started again: the peer is reached once more.
    h.stop().await.unwrap();
    drop(rx);
    peers.send(&b.root.public(), Msg::SyncRequest { from: 2 });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (tx, mut rx) = mpsc::channel::<Inbound>(8);
    let server = PeerServer::new(
        CHAIN,
        &[cfg("a", &a, free_addr().await)],
        limits(100, 8),
        tx,
        &Metrics::new(),
        ServerOptions::default(),
    );
    let _h = serve(b_addr, server, std::future::pending()).await.unwrap();
    let got = tokio::time::timeout(WAIT, rx.recv()).await.expect("timed out").unwrap();
    assert_eq!(got.msg, Msg::SyncRequest { from: 2 });
    let _ = got.reply.send(Ok(()));
}

#[tokio::test]
async fn a_forward_over_the_wire_limit_is_split_and_arrives_whole() {
    let (a, b) = (Identity::from_label("a"), Identity::from_label("b"));
    let (h, mut got) = endpoint(&[cfg("a", &a, free_addr().await)], limits(100, 8), |_| Ok(())).await;
    let metrics = Metrics::new();
    let opts = ClientOptions {
        metrics: metrics.clone(),
        ..quick()
    };
    let url = Url::parse(&format!("http://{}", h.local_addr())).unwrap();
    let peers = Peers::start(a.root.clone(), CHAIN, vec![(b.root.public(), url)], opts).unwrap();
    let all = txs(&a, limits::MAX_FORWARD_TXS + 10);
    assert!(pb::Envelope::seal(&a.root, &CHAIN, 1, &Msg::Forward(all.clone())).is_err());
    peers.send(&b.root.public(), Msg::Forward(all.clone()));
    let mut arrived = Vec::new();
    while arrived.len() < all.len() {
        match recv(&mut got).await {
            (from, Msg::Forward(t)) if from == a.root.public() => arrived.extend(t),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(arrived, all);
    assert!(metrics.encode().contains("daoli_peer_split_messages_total 1"));
}

#[tokio::test]
async fn a_full_outbound_queue_drops_and_counts() {
    let (a, b) = (Identity::from_label("a"), Identity::from_label("b"));
    let metrics = Metrics::new();
    let opts = ClientOptions {
        queue: 2,
        metrics: metrics.clone(),
        ..quick()
    };
    // Nobody listens there: the task holds the first message, the queue takes two more.
    let url = Url::parse(&format!("http://{}", free_addr().await)).unwrap();
    let peers = Peers::start(a.root.clone(), CHAIN, vec![(b.root.public(), url)], opts).unwrap();
    for i in 0..10 {
        peers.send(&b.root.public(), Msg::SyncRequest { from: i });
        tokio::task::yield_now().await;
    }
    peers.send(
        &Identity::from_label("nobody").root.public(),
        Msg::SyncRequest { from: 0 },
    );
    let text = metrics.encode();
    let dropped = |reason: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(&format!("daoli_peer_dropped_messages_total{{reason=\"{reason}\"}} "))
                    .map(|n| n.parse::<u64>().unwrap())
            })
            .unwrap_or(0)
    };
    assert!((7..=8).contains(&dropped("queue_full")), "{text}");
    assert_eq!(dropped("unknown_peer"), 1, "{text}");
}

#[test]
fn https_endpoints_are_refused_at_start() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let _g = rt.enter();
    let a = Identity::from_label("a");
    let url = Url::parse("https://dc1.example:7100").unwrap();
    let r = Peers::start(
        a.root,
        CHAIN,
        vec![(Identity::from_label("b").root.public(), url)],
        ClientOptions::default(),
    );
    assert!(matches!(r, Err(PeerError::Endpoint { .. })));
}

#[test]
fn split_keeps_small_messages_and_cuts_large_ones() {
    let a = Identity::from_label("a");
    assert_eq!(split(Msg::SyncRequest { from: 3 }), vec![Msg::SyncRequest { from: 3 }]);
    assert_eq!(split(Msg::Forward(Vec::new())), vec![Msg::Forward(Vec::new())]);

    let n = limits::MAX_BATCH_REQUEST_DIGESTS;
    let ds: Vec<Hash32> = (0..2 * n + 1).map(|i| Hash32([(i % 251) as u8; 32])).collect();
    let parts = split(Msg::BatchRequest(ds.clone()));
    assert_eq!(parts.len(), 3);
    let mut back = Vec::new();
    for p in &parts {
        let Msg::BatchRequest(d) = p else { panic!() };
        assert!(d.len() <= n);
        assert!(daoli_wire::encode_body(p).is_ok());
        back.extend(d.iter().copied());
    }
    assert_eq!(back, ds);

    let t = txs(&a, 3);
    assert_eq!(split(Msg::Forward(t.clone())), vec![Msg::Forward(t)]);
}

fn certified(batches: usize) -> (CertifiedBlock, Vec<Batch>) {
    let block = Block {
        header: Header {
            height: 3,
            prev_hash: Hash32([1; 32]),
            seed: Hash32([2; 32]),
            vrf_proof: None,
            prev_state_root: Hash32([3; 32]),
            delay: None,
        },
        tree: Vec::new(),
        micro: None,
    };
    let qc = Qc {
        height: 3,
        round: 0,
        value: block.hash(),
        precommits: Vec::new(),
    };
    let batch = |slot| Batch {
        cycle: 3,
        slot,
        txs: Vec::new(),
        buffer_pk: Identity::from_label("buffer").batch.public(),
        sig: Signature::default(),
    };
    // Slots from 1: a zero slot is left out of the encoding, and the sizes should be equal.
    (CertifiedBlock { block, qc }, (1..=batches as u32).map(batch).collect())
}

#[test]
fn a_certified_keeps_the_batches_that_fit_and_sends_the_others_first() {
    let (cb, batches) = certified(5);
    // Within the wire's limits: unchanged.
    let whole = Msg::Certified(cb.clone(), batches.clone());
    assert_eq!(split(whole.clone()), vec![whole]);

    let block = limits::field(pb::CertifiedBlock::from(&cb).encoded_len());
    let batch = limits::field(pb::Batch::from(&batches[0]).encoded_len());
    let caps = |certified_batches, certified_bytes| Caps {
        certified_batches,
        certified_bytes,
        ..WIRE_CAPS
    };
    let check = |parts: Vec<Msg>, kept: usize| {
        let (last, first) = parts.split_last().unwrap();
        let Msg::Certified(c, k) = last else { panic!("{last:?}") };
        assert_eq!((c, k.len()), (&cb, kept));
        let mut all: Vec<Batch> = first
            .iter()
            .map(|m| match m {
                Msg::Batch(b) => b.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        all.extend(k.iter().cloned());
        all.sort_by_key(|b| b.slot);
        assert_eq!(all, batches);
    };
    // By bytes: room for two batches beside the block.
    check(split_with(whole_msg(&cb, &batches), &caps(100, block + 2 * batch)), 2);
    // By count.
    check(split_with(whole_msg(&cb, &batches), &caps(3, usize::MAX)), 3);
    // Not even the block fits: every batch goes alone, the block last.
    check(split_with(whole_msg(&cb, &batches), &caps(100, 1)), 0);
}

fn whole_msg(cb: &CertifiedBlock, batches: &[Batch]) -> Msg {
    Msg::Certified(cb.clone(), batches.to_vec())
}

#[test]
fn a_forward_is_cut_by_count_and_by_bytes() {
    let t = txs(&Identity::from_label("a"), 7);
    let size = t[0].size();
    let caps = |forward_txs, forward_bytes| Caps {
        forward_txs,
        forward_bytes,
        ..WIRE_CAPS
    };
    let lens = |parts: Vec<Msg>| -> Vec<usize> {
        parts
            .into_iter()
            .map(|m| match m {
                Msg::Forward(t) => t.len(),
                other => panic!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(
        lens(split_with(Msg::Forward(t.clone()), &caps(3, usize::MAX))),
        vec![3, 3, 1]
    );
    assert_eq!(
        lens(split_with(Msg::Forward(t.clone()), &caps(100, 2 * size))),
        vec![2, 2, 2, 1]
    );
}

#[test]
fn chunks_respect_count_and_bytes() {
    assert_eq!(chunk_lens(&[], 3, 10), vec![0]);
    assert_eq!(chunk_lens(&[1; 7], 3, 100), vec![3, 3, 1]);
    assert_eq!(chunk_lens(&[4, 4, 4, 4], 10, 8), vec![2, 2]);
    // One item over the byte bound travels alone (and sealing refuses it).
    assert_eq!(chunk_lens(&[1, 20, 1], 10, 8), vec![1, 1, 1]);
    assert_eq!(first_fit(&[5, 9, 3, 1], 10, 10), vec![true, false, true, true]);
    assert_eq!(first_fit(&[1, 1, 1], 2, 10), vec![true, true, false]);
}

#[test]
fn seq_strictly_increases_and_follows_the_clock() {
    let s = SeqSource::new(3);
    let first = s.next();
    assert_eq!(seq_stream(first), 3);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64;
    let count = first >> STREAM_BITS;
    assert!(count + 1_000_000 > now && count <= now);
    let mut last = first;
    for _ in 0..10_000 {
        let n = s.next();
        assert!(n > last);
        assert_eq!(seq_stream(n), 3);
        last = n;
    }
    // A source restarted right after: above everything sent so far (10,000 in well under the
    // microseconds they took would be a million a second).
    std::thread::sleep(Duration::from_millis(20));
    assert!(SeqSource::new(3).next() > last);
}

// Copies of one envelope arriving together all pass the replay pre-filter (nothing is recorded
// until one is authenticated); the check after the signature takes exactly one of them.
#[tokio::test]
async fn concurrent_copies_of_one_envelope_are_taken_once() {
    let a = Identity::from_label("a");
    let peers = [cfg("a", &a, free_addr().await)];
    let (tx, mut rx) = mpsc::channel::<Inbound>(64);
    tokio::spawn(async move {
        while let Some(i) = rx.recv().await {
            let _ = i.reply.send(Ok(()));
        }
    });
    // Every envelope is opened on the blocking pool: the copies wait there side by side.
    let opts = ServerOptions {
        blocking_open_bytes: 0,
        ..ServerOptions::default()
    };
    let server = PeerServer::new(CHAIN, &peers, limits(100, 64), tx, &Metrics::new(), opts);
    let h = serve("127.0.0.1:0".parse().unwrap(), server, std::future::pending())
        .await
        .unwrap();
    let c = raw(h.local_addr()).await;
    let env = pb::Envelope::seal(&a.root, &CHAIN, 8, &Msg::SyncRequest { from: 1 }).unwrap();
    let copies: Vec<_> = (0..16)
        .map(|_| {
            let (mut c, env) = (c.clone(), env.clone());
            tokio::spawn(async move { deliver(&mut c, env).await })
        })
        .collect();
    let mut accepted = 0;
    for t in copies {
        match t.await.unwrap() {
            Delivery::Accepted => accepted += 1,
            d => assert!(refused(&d).starts_with("replay"), "{d:?}"),
        }
    }
    assert_eq!(accepted, 1);
}

// A datacenter run as one process per service sends to one receiving service from several
// processes (its ledger and its kernel buffer both send batches), each counting its own seqs:
// the receiver keeps their streams apart, so one's later envelope is not taken for a replay
// of the other's, while a replay within a stream is still refused.
#[tokio::test]
async fn streams_of_one_peer_are_checked_apart() {
    let a = Identity::from_label("a");
    let peers = [cfg("a", &a, free_addr().await)];
    let (h, mut got) = endpoint(&peers, limits(100, 8), |_| Ok(())).await;
    let mut c = raw(h.local_addr()).await;
    let (s1, s2) = (SeqSource::new(1), SeqSource::new(2));
    let early = s1.next();
    let later = s2.next();
    assert!(later > early);
    let env = |seq: u64| pb::Envelope::seal(&a.root, &CHAIN, seq, &Msg::SyncRequest { from: seq }).unwrap();
    // The later stream's envelope lands first; the earlier one's is still taken.
    assert_eq!(deliver(&mut c, env(later)).await, Delivery::Accepted);
    assert_eq!(deliver(&mut c, env(early)).await, Delivery::Accepted);
    assert_eq!(recv(&mut got).await.1, Msg::SyncRequest { from: later });
    assert_eq!(recv(&mut got).await.1, Msg::SyncRequest { from: early });
    // Each stream's replay is refused.
    assert!(refused(&deliver(&mut c, env(early)).await).starts_with("replay"));
    assert!(refused(&deliver(&mut c, env(later)).await).starts_with("replay"));
    assert!(got.try_recv().is_err());
}

#[test]
fn backoff_doubles_to_its_cap_with_jitter() {
    let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    let ds: Vec<Duration> = (0..8).map(|_| b.next()).collect();
    for (i, d) in ds.iter().enumerate() {
        let full = Duration::from_millis(100 * (1 << i)).min(Duration::from_secs(1));
        assert!(*d >= full / 2 && *d <= full, "attempt {i}: {d:?} for {full:?}");
    }
    b.reset();
    assert!(b.next() <= Duration::from_millis(100));
}

#[test]
fn token_bucket_refills_to_one_second_of_burst() {
    let mut t = TokenBucket::new(3);
    let now = t.last;
    assert!((0..3).all(|_| t.take(now)));
    assert!(!t.take(now));
    assert!(t.take(now + Duration::from_millis(334)));
    assert!(!t.take(now + Duration::from_millis(334)));
    let later = now + Duration::from_secs(60);
    assert_eq!((0..10).filter(|_| t.take(later)).count(), 3);
}

/// Keeps every ended span, to see which trace the server's span joined.
#[derive(Debug, Default, Clone)]
struct Ended(Arc<Mutex<Vec<opentelemetry_sdk::trace::SpanData>>>);

impl opentelemetry_sdk::trace::SpanProcessor for Ended {
    fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &opentelemetry::Context) {}
    fn on_end(&self, span: opentelemetry_sdk::trace::SpanData) {
        self.0.lock().unwrap().push(span);
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
}

/// On the default current-thread runtime every task runs on this thread, so the thread's
/// subscriber sees the client's and the server's spans alike.
#[tokio::test]
async fn the_server_span_joins_the_senders_trace() {
    use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    let ended = Ended::default();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_span_processor(ended.clone())
        .build();
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let (a, b) = (Identity::from_label("a"), Identity::from_label("b"));
    let (h, mut got) = endpoint(&[cfg("a", &a, free_addr().await)], limits(100, 8), |_| Ok(())).await;
    let url = Url::parse(&format!("http://{}", h.local_addr())).unwrap();
    let peers = Peers::start(a.root.clone(), CHAIN, vec![(b.root.public(), url)], quick()).unwrap();
    let caller = tracing::info_span!("caller");
    let trace = caller.context().span().span_context().trace_id();
    caller.in_scope(|| peers.send(&b.root.public(), Msg::SyncRequest { from: 1 }));
    recv(&mut got).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let spans = ended.0.lock().unwrap().clone();
        let traces = |name: &str| -> Vec<_> {
            spans
                .iter()
                .filter(|s| s.name == name)
                .map(|s| s.span_context.trace_id())
                .collect()
        };
        // The outbound span ends after the reply, so after the server's.
        if !traces("peer.send").is_empty() {
            assert_eq!(traces("peer.send"), vec![trace]);
            assert_eq!(traces("peer.deliver"), vec![trace]);
            break;
        }
        assert!(Instant::now() < deadline, "no peer.send span ended");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
