//! A load generator: many senders, pipelined nonces, a target rate; it reports submitted,
//! acknowledged and finalized transactions per second and submit-to-final latency, with a
//! progress line while it runs. Finalized = seen in a certified block's batches.

use daoli_protocol::block::Batch;
use daoli_protocol::buffer::BufferError;
use daoli_protocol::codec::{ChainId, Hash32};
use daoli_protocol::tx::{Transaction, TxKind};
use daoli_wire::client::{ChainStatus, PayrollRoute, SubmitTx, TxReply};
use daoli_wire::proto as pb;
use daoli_wire::proto::client_client::ClientClient;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// Transactions a sender has in flight at most (within the nonce window).
const PIPELINE: u64 = 32;

#[derive(Debug, Default, Clone)]
pub struct Report {
    pub submitted: u64,
    pub acked: u64,
    pub refused: u64,
    pub finalized: u64,
    pub elapsed: Duration,
    /// Submit-to-final latencies, milliseconds.
    pub latencies_ms: Vec<u64>,
}

impl Report {
    fn pct(&self, p: f64) -> u64 {
        let mut v = self.latencies_ms.clone();
        v.sort_unstable();
        if v.is_empty() {
            return 0;
        }
        v[((v.len() - 1) as f64 * p).round() as usize]
    }
    pub fn json(&self) -> serde_json::Value {
        let s = self.elapsed.as_secs_f64().max(1e-9);
        serde_json::json!({
            "submitted": self.submitted, "acknowledged": self.acked, "refused": self.refused,
            "finalized": self.finalized, "seconds": s,
            "submitted_tps": self.submitted as f64 / s, "acknowledged_tps": self.acked as f64 / s,
            "finalized_tps": self.finalized as f64 / s,
            "latency_p50_ms": self.pct(0.5), "latency_p99_ms": self.pct(0.99),
        })
    }
    pub fn summary(&self) -> String {
        let s = self.elapsed.as_secs_f64().max(1e-9);
        format!(
            "submitted {} ({:.1} tx/s), acknowledged {} ({:.1} tx/s), refused {}, finalized {} ({:.1} tx/s), latency p50 {} ms p99 {} ms, over {:.1} s",
            self.submitted,
            self.submitted as f64 / s,
            self.acked,
            self.acked as f64 / s,
            self.refused,
            self.finalized,
            self.finalized as f64 / s,
            self.pct(0.5),
            self.pct(0.99),
            s
        )
    }
}

/// Runs futures concurrently and returns their outputs in order.
async fn futures_join<F>(fs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("submit task"));
    }
    out
}

/// A client of a datacenter's client endpoint, taking replies up to the wire's limit.
pub async fn connect(endpoint: &str) -> Result<ClientClient<Channel>, String> {
    ClientClient::connect(endpoint.to_string())
        .await
        .map(|c| c.max_decoding_message_size(daoli_wire::limits::CLIENT_CLIENT_MAX_DECODING))
        .map_err(|e| format!("{endpoint}: cannot connect: {e}"))
}

struct Shared {
    report: Report,
    /// Acknowledged, not yet seen final: tx hash -> submit time.
    open: HashMap<Hash32, Instant>,
}

/// Drives `tps` transactions per second for `duration` (or for ever) against the datacenters
/// at `endpoints`; returns what happened.
pub async fn drive(
    endpoints: Vec<String>,
    chain: ChainId,
    tps: u64,
    until: impl std::future::Future<Output = ()> + Send + 'static,
) -> Report {
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let stopping = stopping.clone();
        tokio::spawn(async move {
            until.await;
            stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        });
    }
    let start = Instant::now();
    let shared = Arc::new(Mutex::new(Shared {
        report: Report::default(),
        open: HashMap::new(),
    }));
    let mut clients: HashMap<String, ClientClient<Channel>> = HashMap::new();
    for e in &endpoints {
        match connect(e).await {
            Ok(c) => {
                clients.insert(e.clone(), c);
            }
            Err(e) => eprintln!("load: {e}"),
        }
    }
    let Some(any) = clients.values().next().cloned() else {
        eprintln!("load: no datacenter reachable");
        return Report::default();
    };
    // Watches certified blocks: a transaction is final once a block's batches carry it.
    let watcher = {
        let shared = shared.clone();
        let mut c = any.clone();
        tokio::spawn(async move {
            let mut seen = 0u64;
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let Ok(s) = c.chain_status(pb::ChainStatusRequest {}).await else {
                    continue;
                };
                let Ok(s) = ChainStatus::try_from(s.into_inner()) else {
                    continue;
                };
                if seen == 0 {
                    seen = s.height;
                }
                while seen < s.height {
                    seen += 1;
                    let Ok(b) = c.get_block(pb::GetBlockRequest { height: seen }).await else {
                        break;
                    };
                    let Ok((_, batches)) =
                        <(daoli_protocol::block::CertifiedBlock, Vec<Batch>)>::try_from(b.into_inner())
                    else {
                        break;
                    };
                    let now = Instant::now();
                    let mut sh = shared.lock().unwrap_or_else(PoisonError::into_inner);
                    for tx in batches.iter().flat_map(|b| &b.txs) {
                        if let Some(t) = sh.open.remove(&tx.hash()) {
                            sh.report.finalized += 1;
                            sh.report.latencies_ms.push(now.duration_since(t).as_millis() as u64);
                        }
                    }
                }
            }
        })
    };
    // A token per transaction, refilled at the target rate: the senders draw from it.
    let tokens = Arc::new(tokio::sync::Semaphore::new(0));
    let refill = {
        let tokens = tokens.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let mut owed = 0.0f64;
            loop {
                tick.tick().await;
                owed += tps as f64 / 100.0;
                let n = owed.floor() as usize;
                owed -= n as f64;
                // Bounded: a stalled network does not bank an unbounded burst.
                if tokens.available_permits() < 4 * tps as usize + 64 {
                    tokens.add_permits(n);
                }
            }
        })
    };
    let progress = {
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let mut sh = shared.lock().unwrap_or_else(PoisonError::into_inner);
                sh.report.elapsed = start.elapsed();
                eprintln!("load: {}", sh.report.summary());
            }
        })
    };
    let keys = crate::devnet::client_keys();
    let recipient = keys[0].public();
    let mut tasks = Vec::new();
    for key in keys {
        let shared = shared.clone();
        let tokens = tokens.clone();
        let mut any = any.clone();
        let clients = clients.clone();
        let stopping = stopping.clone();
        tasks.push(tokio::spawn(async move {
            let mut clients = clients;
            let mut next = 0u64;
            // Transactions refused for their route, sent again (same nonce) after re-routing,
            // so a refusal never leaves a nonce gap behind it.
            let mut retry: Vec<Transaction> = Vec::new();
            while !stopping.load(std::sync::atomic::Ordering::SeqCst) {
                let Ok(r) = any
                    .route(pb::RouteRequest {
                        sender: key.public().0.to_vec(),
                    })
                    .await
                else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let Ok(route) = PayrollRoute::try_from(r.into_inner()) else {
                    continue;
                };
                let c = match clients.get(&route.endpoint) {
                    Some(c) => c.clone(),
                    None => match connect(&route.endpoint).await {
                        Ok(c) => {
                            clients.insert(route.endpoint.clone(), c.clone());
                            c
                        }
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                let mut window: Vec<Transaction> = std::mem::take(&mut retry);
                while (window.len() as u64) < PIPELINE {
                    let Ok(Ok(p)) = tokio::time::timeout(Duration::from_millis(200), tokens.acquire()).await else {
                        break;
                    };
                    p.forget();
                    window.push(Transaction::new(
                        &key,
                        &chain,
                        next,
                        1,
                        TxKind::Transfer {
                            to: recipient,
                            amount: 1,
                        },
                        vec![],
                    ));
                    next += 1;
                    if tokens.available_permits() == 0 {
                        break;
                    }
                }
                let fresh = window.len();
                shared.lock().unwrap_or_else(PoisonError::into_inner).report.submitted += fresh as u64;
                let replies = futures_join(window.iter().map(|tx| {
                    let mut c = c.clone();
                    let req: pb::SubmitTxRequest = (&SubmitTx {
                        tx: tx.clone(),
                        slot: route.slot,
                    })
                        .into();
                    async move {
                        c.submit_tx(req)
                            .await
                            .ok()
                            .and_then(|r| TxReply::try_from(r.into_inner()).ok())
                    }
                }))
                .await;
                let at = Instant::now();
                let mut sh = shared.lock().unwrap_or_else(PoisonError::into_inner);
                for (tx, r) in window.into_iter().zip(replies) {
                    match r {
                        Some(TxReply {
                            tx_hash,
                            result: Ok(()),
                        }) => {
                            sh.report.acked += 1;
                            sh.open.entry(tx_hash).or_insert(at);
                        }
                        Some(TxReply {
                            result: Err(BufferError::NonceTaken(_)),
                            ..
                        }) => {}
                        Some(TxReply {
                            result: Err(BufferError::NonceWindow { low, .. }),
                            ..
                        }) if tx.nonce < low => {}
                        Some(TxReply { result: Err(_), .. }) | None => {
                            sh.report.refused += 1;
                            retry.push(tx);
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    refill.abort();
    // Wait for what was acknowledged to become final, a few cycles at most.
    let wait = Instant::now();
    while wait.elapsed() < Duration::from_secs(10) {
        if shared.lock().unwrap_or_else(PoisonError::into_inner).open.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    watcher.abort();
    progress.abort();
    let mut sh = shared.lock().unwrap_or_else(PoisonError::into_inner);
    sh.report.elapsed = start.elapsed();
    sh.report.clone()
}

/// Signature verifications per transaction in a devnet on one machine: the kernel buffer that
/// admits it checks it once, and the ledger of each of the `datacenters` checks it again in its
/// batch (the other roles trust their own ledger).
pub fn verifications_per_tx(datacenters: usize) -> u64 {
    1 + datacenters as u64
}

/// This machine's signature bound: batch verifications per second on all cores (batches of
/// 64 transfers' signatures, `secs` seconds per core).
pub fn signature_rate(secs: f64) -> f64 {
    use daoli_protocol::crypto::verify_batch;
    let key = daoli_protocol::crypto::Keypair::from_label("load/bound");
    let chain = daoli_protocol::codec::Hash32([9; 32]);
    let txs: Vec<Transaction> = (0..64)
        .map(|i| {
            Transaction::new(
                &key,
                &chain,
                i,
                1,
                TxKind::Transfer {
                    to: key.public(),
                    amount: 1,
                },
                vec![],
            )
        })
        .collect();
    let msgs: Vec<Vec<u8>> = txs.iter().map(|t| t.signing_bytes(&chain)).collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_core: Vec<u64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..cores)
            .map(|_| {
                s.spawn(|| {
                    let items: Vec<_> = txs
                        .iter()
                        .zip(&msgs)
                        .map(|(t, m)| (t.sender, m.as_slice(), t.sig))
                        .collect();
                    let start = Instant::now();
                    let mut n = 0u64;
                    while start.elapsed().as_secs_f64() < secs {
                        verify_batch(&items).expect("valid signatures");
                        n += items.len() as u64;
                    }
                    n
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("bench thread")).collect()
    });
    per_core.iter().sum::<u64>() as f64 / secs
}
