// The devnet scenario, run on each backend (tests/devnet.rs, tests/devnet_real.rs): those
// files define BASE (the first port) and backend().

use daoli::devnet::{self, NetSpec};
use daoli_runtime::node::RunningNode;
use daoli_protocol::block::{Batch, CertifiedBlock};
use daoli_protocol::codec::{ChainId, Hash32};
use daoli_protocol::crypto::Keypair;
use daoli_protocol::node::Msg;
use daoli_protocol::tx::{Transaction, TxKind};
use daoli_wire::client::{ChainStatus, PayrollRoute, SubmitTx, TxReply, TxStatus};
use daoli_wire::proto as pb;
use daoli_wire::proto::client_client::ClientClient;
use daoli_wire::proto::peer_client::PeerClient;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

const N: usize = 4;

async fn client(i: usize) -> ClientClient<Channel> {
    daoli::load::connect(&devnet::client_endpoint(BASE, i))
        .await
        .expect("client endpoint")
}

async fn status(i: usize) -> ChainStatus {
    daoli::load::chain_status(&mut client(i).await).await.expect("a status")
}

async fn block(i: usize, h: u64) -> (CertifiedBlock, Vec<Batch>) {
    daoli::load::block(&mut client(i).await, h)
        .await
        .expect("a well-formed certified block")
}

async fn wait_for(what: &str, secs: u64, mut ok: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !ok().await {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Where `key` sends transactions this cycle, as dc0 routes it, and a client of that buffer.
async fn route(key: &Keypair) -> (PayrollRoute, ClientClient<Channel>) {
    let route = daoli::load::route(&mut client(0).await, &key.public())
        .await
        .expect("a route");
    let b = daoli::load::connect(&route.endpoint).await.expect("buffer endpoint");
    (route, b)
}

/// Submits a transfer from `key` with `nonce` to the buffer its route names, retrying while the
/// route moves; returns its hash once acknowledged.
async fn submit(chain: &ChainId, key: &Keypair, nonce: u64) -> Hash32 {
    let to = Keypair::from_label("devnet-test/recipient").public();
    for _ in 0..50 {
        let (route, mut b) = route(key).await;
        let tx = Transaction::new(key, chain, nonce, 1, TxKind::Transfer { to, amount: 7 }, vec![]);
        let r: TxReply = b
            .submit_tx(pb::SubmitTxRequest::from(&SubmitTx { tx, slot: route.slot }))
            .await
            .expect("submit")
            .into_inner()
            .try_into()
            .expect("a reply");
        match r.result {
            Ok(()) => return r.tx_hash,
            Err(daoli_protocol::buffer::BufferError::NonceTaken(_)) => return r.tx_hash,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("no kernel buffer acknowledged nonce {nonce}");
}

async fn deliver(env: pb::Envelope) -> pb::DeliverReply {
    let mut p = PeerClient::connect(format!("http://{}", devnet::peer_addr(BASE, 0)))
        .await
        .expect("peer endpoint");
    p.deliver(env).await.expect("a reply").into_inner()
}

#[actix::test]
async fn a_devnet_executes_each_transaction_once_agrees_restarts_and_refuses_bad_input() {
    let dir = tempfile::tempdir().expect("temp dir");
    let g = devnet::new_genesis(N, BASE);
    let chain = g.chain_id();
    let net = NetSpec {
        genesis: g,
        data_dir: dir.path().to_path_buf(),
        base_port: BASE,
        on_committed: None,
        backend: backend(),
    };
    let mut dcs: Vec<Option<RunningNode>> = Vec::new();
    for i in 0..N {
        dcs.push(Some(devnet::start_dc(&net, i).await.expect("a datacenter starts")));
    }
    wait_for("height 2", 60, async || status(0).await.height >= 2).await;

    // Transactions from four clients, a few nonces each.
    let keys = devnet::client_keys();
    let mut sent = Vec::new();
    for k in keys.iter().take(4) {
        for nonce in 0..5 {
            sent.push(submit(&chain, k, nonce).await);
        }
    }

    // The datacenter with the least seat weight (at most f: the others then hold a quorum)
    // stops; its store stays; the others go on. Seats follow the recent leaders' sponsors, so
    // which one that is depends on the run: a replica of dc0's chain says.
    let top = status(0).await.height;
    let mut replica = daoli_protocol::chain::Chain::new(net.genesis.clone()).unwrap();
    for h in 1..=top {
        let (cb, batches) = block(0, h).await;
        let store = batches.into_iter().map(|b| (b.digest(), b)).collect();
        replica.commit(cb, &store).expect("dc0's chain verifies");
    }
    let seats = replica.seats(top + 1);
    let ids = devnet::identities(N);
    let victim = (1..N)
        .min_by_key(|i| seats.weight(&ids[*i].vote.public()))
        .expect("a datacenter");
    assert!(
        seats.weight(&ids[victim].vote.public()) <= seats.f(),
        "three of four hold a quorum"
    );
    println!(
        "stopping dc{victim} (weight {} of {})",
        seats.weight(&ids[victim].vote.public()),
        seats.n()
    );
    let stopped = dcs[victim].take().expect("running");
    let at_stop = stopped.height.load(Ordering::SeqCst);
    stopped.stop().await;
    wait_for("three heights without it", 60, async || {
        status(0).await.height >= at_stop + 3
    })
    .await;

    // It restarts from its data directory and catches up.
    let back = devnet::start_dc(&net, victim).await.expect("it restarts");
    assert!(back.resumed_at >= at_stop, "it resumed from its store");
    let target = status(0).await.height;
    wait_for("it to catch up", 90, async || status(victim).await.height >= target).await;
    wait_for("it to be ready", 30, async || back.readiness.state().is_ok()).await;
    dcs[victim] = Some(back);

    // Every acknowledged transaction is executed, exactly once (those the stopped datacenter
    // acknowledged before it stopped, once it is back: its buffer kept them).
    let carried = async || {
        let top = status(0).await.height;
        let mut seen: BTreeSet<Hash32> = BTreeSet::new();
        for h in 1..=top {
            for b in block(0, h).await.1 {
                seen.extend(b.txs.iter().map(|tx| tx.hash()));
            }
        }
        seen
    };
    wait_for("every transaction carried", 60, async || {
        let seen = carried().await;
        sent.iter().all(|h| seen.contains(h))
    })
    .await;

    // Executed exactly once, not only carried (a block may carry a transaction that ran ahead
    // of its nonce and skip it; it comes again): in every datacenter's state each sender used
    // exactly its five nonces and paid five transfers (amount 7 + fee 1), and each status
    // says executed.
    for i in 0..N {
        let mut c = client(i).await;
        for k in keys.iter().take(4) {
            let mut a = None;
            wait_for("every datacenter to execute them", 60, async || {
                let read = daoli::load::account(&mut c, &k.public()).await.expect("an account");
                a.insert(read).nonce >= 5
            })
            .await;
            let a = a.expect("read at least once");
            assert_eq!(
                (a.nonce, a.balance),
                (5, (1 << 40) - 5 * 8),
                "dc{i}, sender {}",
                k.public().short()
            );
        }
    }
    let mut c = client(0).await;
    for h in &sent {
        let s = daoli::load::tx_status(&mut c, h).await.expect("a well-formed status");
        assert!(
            matches!(s, TxStatus::Executed { success: true, .. }),
            "tx {}: {s:?}",
            h.short()
        );
    }

    // Every datacenter holds the same chain, hence the same state roots: each block's hash
    // covers the state root after the block before it (prev_state_root).
    let common = {
        let mut m = u64::MAX;
        for i in 0..N {
            m = m.min(status(i).await.height);
        }
        m
    };
    for h in 1..=common {
        let reference = block(0, h).await.0.block.hash();
        for i in 1..N {
            assert_eq!(block(i, h).await.0.block.hash(), reference, "dc{i} at height {h}");
        }
    }

    // Bad peer input: each refused with its reason; nothing changes.
    let before = status(0).await;
    let peer = devnet::identities(N)[1].root.clone();
    let msg = Msg::SyncRequest { from: 1 };
    // Above anything dc1 itself sent: its stream 0 (a whole datacenter) counts wall-clock
    // microseconds above the stream bits; these are 1,000 s ahead, in the same stream.
    let seq = || {
        (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64
            + 1_000_000_000)
            << 3
    };
    let good = pb::Envelope::seal(&peer, &chain, seq(), &msg).expect("seal");
    let cases: Vec<(&str, pb::Envelope)> = vec![
        (
            "malformed",
            pb::Envelope {
                body: vec![0xff, 0xff, 0xff],
                ..pb::Envelope::seal(&peer, &chain, seq(), &msg).expect("seal")
            },
        ),
        ("oversized", {
            // Well framed, signed, but more digests than a batch request may carry.
            let body = prost::Message::encode_to_vec(&pb::PeerMessage {
                msg: Some(pb::peer_message::Msg::BatchRequest(pb::BatchRequest {
                    digests: vec![vec![1; 32]; daoli_wire::limits::MAX_BATCH_REQUEST_DIGESTS + 1],
                })),
            });
            let seq = seq();
            let from = peer.public();
            let digest = daoli_wire::envelope_digest(&chain, &from, seq, &body);
            pb::Envelope {
                chain_id: chain.0.to_vec(),
                from: from.0.to_vec(),
                seq,
                signature: peer.sign(digest.as_bytes()).0.to_vec(),
                body,
            }
        }),
        (
            "bad signature",
            pb::Envelope {
                signature: {
                    // A canonical signature, for other bytes.
                    let mut s = good.signature.clone();
                    s[33] ^= 1;
                    s
                },
                seq: seq(),
                ..good.clone()
            },
        ),
        (
            "wrong chain",
            pb::Envelope::seal(&peer, &Hash32([7; 32]), seq(), &msg).expect("seal"),
        ),
        (
            "unknown peer",
            pb::Envelope::seal(&Keypair::from_label("stranger"), &chain, seq(), &msg).expect("seal"),
        ),
    ];
    for (what, env) in cases {
        let r = deliver(env).await;
        assert_eq!(r.outcome(), pb::DeliverOutcome::Refused, "{what}: {r:?}");
        assert!(!r.reason.is_empty(), "{what}: a reason");
        println!("{what}: refused: {}", r.reason);
    }
    // A replay of an accepted envelope is refused too.
    let ok = deliver(good.clone()).await;
    assert_eq!(ok.outcome(), pb::DeliverOutcome::Accepted, "{ok:?}");
    let again = deliver(good).await;
    assert_eq!(again.outcome(), pb::DeliverOutcome::Refused, "replay: {again:?}");

    // Bad client input: a transaction with a broken signature, sent where it belongs, is
    // refused for its signature.
    let mut tx = Transaction::new(
        &keys[5],
        &chain,
        0,
        1,
        TxKind::Transfer {
            to: keys[6].public(),
            amount: 1,
        },
        vec![],
    );
    tx.sig.0[40] ^= 1;
    let (route, mut b) = route(&keys[5]).await;
    let r: TxReply = b
        .submit_tx(pb::SubmitTxRequest::from(&SubmitTx { tx, slot: route.slot }))
        .await
        .expect("a reply")
        .into_inner()
        .try_into()
        .expect("well-formed");
    assert!(
        matches!(r.result, Err(daoli_protocol::buffer::BufferError::Invalid(_))),
        "{:?}",
        r.result
    );
    assert!(r.result.is_err(), "a badly signed transaction is refused");
    println!("badly signed transaction: refused: {}", r.result.unwrap_err());
    // A malformed client request (no transaction) gets a clear gRPC error.
    let e = client(0)
        .await
        .submit_tx(pb::SubmitTxRequest { tx: None, slot: 0 })
        .await
        .expect_err("refused");
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    println!("malformed request: {}", e.message());
    let e = client(0)
        .await
        .account(pb::AccountRequest { key: vec![1; 3] })
        .await
        .expect_err("refused");
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("AccountRequest.key"),
        "names the field: {}",
        e.message()
    );
    // The chain went on as before: same chain, not behind.
    let after = status(0).await;
    assert_eq!(after.chain_id, before.chain_id);
    assert!(after.height >= before.height);
    assert_eq!(block(0, before.height).await.0.block.hash(), before.tip_hash);

    for dc in dcs.into_iter().flatten() {
        dc.stop().await;
    }
}
