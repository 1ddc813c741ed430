//! A load generator: many senders, pipelined nonces, a target rate; it reports submitted,
//! acknowledged and finalized transactions per second and submit-to-final latency, with a
//! progress line while it runs. Finalized = executed by a certified block: a block can carry a
//! transaction without executing it (it ran ahead of a nonce gap and comes again later), so
//! the watcher replays each sender's nonce from the account's nonce when the run began. It
//! assumes nothing else sends from the devnet's client accounts while it runs.

use daoli_protocol::block::{Batch, CertifiedBlock};
use daoli_protocol::buffer::BufferError;
use daoli_protocol::codec::{ChainId, Hash32};
use daoli_protocol::crypto::PublicKey;
use daoli_protocol::tx::{Transaction, TxKind};
use daoli_wire::client::{AccountStatus, ChainStatus, PayrollRoute, SubmitTx, TxReply, TxStatus};
use daoli_wire::proto as pb;
use daoli_wire::proto::client_client::ClientClient;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// The pause before re-routing after a redirect.
const REDIRECT_PAUSE: Duration = Duration::from_millis(10);

/// Transactions a sender has in flight at most (within the nonce window).
const PIPELINE: u64 = 32;

/// How long refused transactions are still retried after submission stops.
const DRAIN: Duration = Duration::from_secs(10);

#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Distinct transactions sent (a retry of a refused one is not counted again).
    pub submitted: u64,
    pub acked: u64,
    /// The acknowledged transactions, by hash (each must execute exactly once).
    pub acked_txs: Vec<Hash32>,
    /// Refusals (full queues, a route that changed with the cycle...); each is retried later
    /// with the same nonce.
    pub refused: u64,
    /// The refusals by reason.
    pub refusals: std::collections::BTreeMap<&'static str, u64>,
    /// Finalized while transactions were being submitted.
    pub finalized: u64,
    /// Finalized in all, with the wait for the last ones.
    pub finalized_total: u64,
    /// The submission window: rates are over it.
    pub elapsed: Duration,
    /// Submit-to-final latencies, milliseconds.
    pub latencies_ms: Vec<u64>,
}

impl Report {
    /// p50 and p99 latency, milliseconds (one sort for both).
    fn p50_p99(&self) -> (u64, u64) {
        let mut v = self.latencies_ms.clone();
        v.sort_unstable();
        let at = |p: f64| {
            if v.is_empty() {
                0
            } else {
                v[((v.len() - 1) as f64 * p).round() as usize]
            }
        };
        (at(0.5), at(0.99))
    }
    pub fn json(&self) -> serde_json::Value {
        let s = self.elapsed.as_secs_f64().max(1e-9);
        let (p50, p99) = self.p50_p99();
        serde_json::json!({
            "submitted": self.submitted, "acknowledged": self.acked, "refused": self.refused,
            "refusals": self.refusals,
            "finalized": self.finalized, "finalized_total": self.finalized_total, "seconds": s,
            "submitted_tps": self.submitted as f64 / s, "acknowledged_tps": self.acked as f64 / s,
            "finalized_tps": self.finalized as f64 / s,
            "latency_p50_ms": p50, "latency_p99_ms": p99,
        })
    }
    pub fn summary(&self) -> String {
        let s = self.elapsed.as_secs_f64().max(1e-9);
        let (p50, p99) = self.p50_p99();
        format!(
            "submitted {} ({:.1} tx/s), acknowledged {} ({:.1} tx/s), refusals retried {}, finalized {} ({:.1} tx/s; {} in all), latency p50 {} ms p99 {} ms, over {:.1} s",
            self.submitted,
            self.submitted as f64 / s,
            self.acked,
            self.acked as f64 / s,
            self.refused,
            self.finalized,
            self.finalized as f64 / s,
            self.finalized_total,
            p50,
            p99,
            s
        ) + &if self.refusals.is_empty() {
            String::new()
        } else {
            format!(
                "; refusals: {}",
                self.refusals
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}

/// A refusal's kind, for the report.
fn refusal(e: &BufferError) -> &'static str {
    match e {
        BufferError::Invalid(_) => "invalid",
        BufferError::NonceWindow { .. } => "nonce-window",
        BufferError::NonceTaken(_) => "nonce-taken",
        BufferError::Redirect { .. } => "redirect",
        BufferError::NoSlot(_) => "no-slot",
        BufferError::CannotPay { .. } => "cannot-pay",
        BufferError::Full(_) => "buffer-full",
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

/// A datacenter's view of the chain.
pub async fn chain_status(c: &mut ClientClient<Channel>) -> Result<ChainStatus, String> {
    let r = c
        .chain_status(pb::ChainStatusRequest {})
        .await
        .map_err(|e| e.message().to_string())?;
    ChainStatus::try_from(r.into_inner()).map_err(|e| e.to_string())
}

/// Where transaction `h` stands, as the datacenter `c` sees it.
pub async fn tx_status(c: &mut ClientClient<Channel>, h: &Hash32) -> Result<TxStatus, String> {
    let r = c
        .tx_status(pb::TxStatusRequest { tx_hash: h.0.to_vec() })
        .await
        .map_err(|e| e.message().to_string())?;
    TxStatus::try_from(r.into_inner()).map_err(|e| e.to_string())
}

/// Certified block `h` with its batches, from the datacenter `c`.
pub async fn block(c: &mut ClientClient<Channel>, h: u64) -> Result<(CertifiedBlock, Vec<Batch>), String> {
    let r = c
        .get_block(pb::GetBlockRequest { height: h })
        .await
        .map_err(|e| e.message().to_string())?;
    <(CertifiedBlock, Vec<Batch>)>::try_from(r.into_inner()).map_err(|e| e.to_string())
}

/// `key`'s account in the state after the latest certified block `c` has.
pub async fn account(c: &mut ClientClient<Channel>, key: &PublicKey) -> Result<AccountStatus, String> {
    let r = c
        .account(pb::AccountRequest { key: key.0.to_vec() })
        .await
        .map_err(|e| e.message().to_string())?;
    AccountStatus::try_from(r.into_inner()).map_err(|e| e.to_string())
}

/// Where `sender` submits transactions this cycle, as the datacenter `c` sees it.
pub async fn route(c: &mut ClientClient<Channel>, sender: &PublicKey) -> Result<PayrollRoute, String> {
    let r = c
        .route(pb::RouteRequest {
            sender: sender.0.to_vec(),
        })
        .await
        .map_err(|e| e.message().to_string())?;
    PayrollRoute::try_from(r.into_inner()).map_err(|e| e.to_string())
}

struct Shared {
    report: Report,
    /// Submission is over: finalizations from now on only count in the total.
    draining: bool,
    /// Acknowledged, not yet seen final: tx hash -> submit time.
    open: HashMap<Hash32, (Instant, usize)>,
    /// Acknowledged, not yet final, per sender: a sender keeps at most [`PIPELINE`] beyond
    /// its account's nonce, inside the protocol's nonce window.
    open_by: Vec<u64>,
    /// Seen final before the sender heard its acknowledgement: hash -> when.
    early: HashMap<Hash32, Instant>,
}

/// Which transactions of a block executed, for the load's own senders: a sender's
/// transactions execute in nonce order, each only as the account's next nonce.
struct Replay {
    index: HashMap<PublicKey, usize>,
    /// Each sender's account nonce after the blocks replayed so far, and the height it was
    /// read at.
    next: Vec<(u64, u64)>,
}

impl Replay {
    /// Whether `tx`, carried by block `height` (replayed in order), executed there.
    fn executed(&mut self, height: u64, tx: &Transaction) -> bool {
        let Some(&who) = self.index.get(&tx.sender) else {
            return false;
        };
        let (next, read_at) = &mut self.next[who];
        // The nonce read already counts this block.
        if height <= *read_at || *next != tx.nonce {
            return false;
        }
        *next += 1;
        true
    }
}

/// Final transactions remembered for a late acknowledgement, at most.
const EARLY: usize = 1 << 18;

impl Shared {
    fn final_at(&mut self, done: Instant, sent: Instant) {
        self.report.finalized_total += 1;
        if !self.draining {
            self.report.finalized += 1;
        }
        self.report
            .latencies_ms
            .push(done.saturating_duration_since(sent).as_millis() as u64);
    }
}

/// Drives `tps` transactions per second for `duration` (or for ever) against the datacenters
/// at `endpoints`; returns what happened.
pub async fn drive(
    endpoints: Vec<String>,
    chain: ChainId,
    tps: u64,
    senders: usize,
    until: impl std::future::Future<Output = ()> + Send + 'static,
) -> Report {
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let start = Instant::now();
    let shared = Arc::new(Mutex::new(Shared {
        report: Report::default(),
        draining: false,
        open: HashMap::new(),
        open_by: vec![0; crate::devnet::CLIENT_ACCOUNTS],
        early: HashMap::new(),
    }));
    {
        let stopping = stopping.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            until.await;
            // The submission window ends here: rates are over it, and what is acknowledged or
            // final from now on (retries, the last blocks) counts only in the totals.
            let mut sh = shared.lock().unwrap_or_else(PoisonError::into_inner);
            sh.draining = true;
            sh.report.elapsed = start.elapsed();
            stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        });
    }
    let mut clients: HashMap<String, ClientClient<Channel>> = HashMap::new();
    for e in &endpoints {
        match connect(e).await {
            Ok(c) => {
                clients.insert(e.clone(), c);
            }
            Err(e) => eprintln!("load: {e}"),
        }
    }
    let Some(mut any) = clients.values().next().cloned() else {
        eprintln!("load: no datacenter reachable");
        return Report::default();
    };
    let keys = crate::devnet::client_keys();
    let senders = senders.clamp(1, keys.len());
    // Each sender starts at its account's nonce: an earlier run on this chain moved it.
    // Without it the watcher could not tell an executed transaction from a skipped copy.
    let mut nonces: Vec<(u64, u64)> = Vec::with_capacity(senders);
    for (i, k) in keys[..senders].iter().enumerate() {
        let mut tries = 0;
        let a = loop {
            match account(&mut any, &k.public()).await {
                Ok(a) => break a,
                Err(e) if tries >= 3 => {
                    eprintln!("load: cannot read the account of sender {i}: {e}");
                    return Report::default();
                }
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        nonces.push((a.nonce, a.height));
    }
    // The watcher starts at the oldest read, so no block is missed.
    let watch_from = nonces.iter().map(|(_, h)| *h).min().unwrap_or(0);
    let mut replay = Replay {
        index: keys[..senders]
            .iter()
            .enumerate()
            .map(|(i, k)| (k.public(), i))
            .collect(),
        next: nonces.clone(),
    };
    // Watches certified blocks: a transaction is final once a block executes it.
    let watcher = {
        let shared = shared.clone();
        let mut c = any.clone();
        tokio::spawn(async move {
            let mut seen = watch_from;
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let Ok(s) = chain_status(&mut c).await else {
                    continue;
                };
                while seen < s.height {
                    // A block that could not be fetched is asked for again at the next poll:
                    // skipping it would leave its transactions open for ever.
                    let b = match c.get_block(pb::GetBlockRequest { height: seen + 1 }).await {
                        Ok(b) => b,
                        Err(e) => {
                            eprintln!("load: block {}: {}", seen + 1, e.message());
                            break;
                        }
                    };
                    // Nor is one that does not decode or lacks a batch: the replay of each
                    // sender's nonces needs every block, whole and in order.
                    let batches = match <(CertifiedBlock, Vec<Batch>)>::try_from(b.into_inner()) {
                        Ok((cb, batches)) if cb.block.batch_digests().count() == batches.len() => batches,
                        Ok((cb, batches)) => {
                            eprintln!(
                                "load: block {} names {} batches, {} came",
                                seen + 1,
                                cb.block.batch_digests().count(),
                                batches.len()
                            );
                            break;
                        }
                        Err(e) => {
                            eprintln!("load: block {} does not decode: {e}", seen + 1);
                            break;
                        }
                    };
                    seen += 1;
                    let now = Instant::now();
                    let mut sh = shared.lock().unwrap_or_else(PoisonError::into_inner);
                    // Batches in the MicroBlock's order: the order they execute in.
                    for tx in batches.iter().flat_map(|b| &b.txs) {
                        if !replay.executed(seen, tx) {
                            continue;
                        }
                        let h = tx.hash();
                        match sh.open.remove(&h) {
                            Some((t, who)) => {
                                sh.open_by[who] -= 1;
                                sh.final_at(now, t);
                            }
                            // Final before its acknowledgement reached the sender.
                            None => {
                                if sh.early.len() >= EARLY {
                                    sh.early.clear();
                                }
                                sh.early.insert(h, now);
                            }
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
                // Formatted outside the lock the senders and the watcher take.
                let report = {
                    let mut sh = shared.lock().unwrap_or_else(PoisonError::into_inner);
                    if !sh.draining {
                        sh.report.elapsed = start.elapsed();
                    }
                    sh.report.clone()
                };
                eprintln!("load: {}", report.summary());
            }
        })
    };
    let recipient = keys[0].public();
    let mut tasks = Vec::new();
    for (who, key) in keys.into_iter().enumerate().take(senders) {
        let shared = shared.clone();
        let tokens = tokens.clone();
        let mut any = any.clone();
        let clients = clients.clone();
        let stopping = stopping.clone();
        let first = nonces[who].0;
        tasks.push(tokio::spawn(async move {
            let mut clients = clients;
            let mut next = first;
            // Transactions refused (a full queue, a route that changed with the cycle), sent
            // again with the same nonce after a pause and re-routing, so a refusal never
            // leaves a nonce gap behind it.
            let mut retry: Vec<Transaction> = Vec::new();
            let mut backoff = Duration::ZERO;
            // When each transaction of this sender was first sent, until acknowledged.
            let mut born: HashMap<u64, Instant> = HashMap::new();
            // Once submission stops, refused transactions are still sent until acknowledged
            // (for a while): one left out would leave the sender's acknowledged transactions
            // after it behind a gap that never fills, and they would expire unexecuted.
            let mut drain_until: Option<Instant> = None;
            loop {
                if stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    let until = *drain_until.get_or_insert_with(|| Instant::now() + DRAIN);
                    if retry.is_empty() || Instant::now() >= until {
                        break;
                    }
                }
                if !backoff.is_zero() {
                    tokio::time::sleep(backoff).await;
                }
                let outstanding = shared.lock().unwrap_or_else(PoisonError::into_inner).open_by[who];
                // Retries go out in the window below, so only what is acknowledged and not yet
                // final holds a sender back; a pending retry is never held (the acknowledged
                // ones may wait on its nonce).
                if outstanding >= PIPELINE && retry.is_empty() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                // Asked every window, of one datacenter: the lineup turns each cycle, and one
                // view keeps senders from bouncing between buffers in different cycles.
                let Ok(route) = route(&mut any, &key.public()).await else {
                    backoff = pause(backoff);
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
                            backoff = pause(backoff);
                            continue;
                        }
                    },
                };
                let mut window: Vec<Transaction> = std::mem::take(&mut retry);
                let again = window.len();
                while drain_until.is_none() && (window.len() as u64) + outstanding < PIPELINE {
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
                shared.lock().unwrap_or_else(PoisonError::into_inner).report.submitted += (window.len() - again) as u64;
                let sent = Instant::now();
                for t in &window[again..] {
                    born.insert(t.nonce, sent);
                }
                let replies = futures_join(window.iter().map(|tx| {
                    let mut c = c.clone();
                    let req: pb::SubmitTxRequest = (&SubmitTx {
                        tx: tx.clone(),
                        slot: route.slot,
                    })
                        .into();
                    async move {
                        match c.submit_tx(req).await {
                            Ok(r) => TxReply::try_from(r.into_inner()).map_err(|_| "bad-reply"),
                            Err(s) if s.code() == tonic::Code::ResourceExhausted => Err("busy"),
                            Err(s) if s.code() == tonic::Code::FailedPrecondition => Err("refused"),
                            Err(_) => Err("transport"),
                        }
                    }
                }))
                .await;
                let mut sh = shared.lock().unwrap_or_else(PoisonError::into_inner);
                let mut other = false;
                let mut redirected = false;
                for (tx, r) in window.into_iter().zip(replies) {
                    match r {
                        Ok(TxReply {
                            tx_hash,
                            result: Ok(()),
                        }) => {
                            sh.report.acked += 1;
                            sh.report.acked_txs.push(tx_hash);
                            let sent = born.remove(&tx.nonce).unwrap_or(sent);
                            if let Some(done) = sh.early.remove(&tx_hash) {
                                sh.final_at(done, sent);
                            } else if let std::collections::hash_map::Entry::Vacant(v) = sh.open.entry(tx_hash) {
                                v.insert((sent, who));
                                sh.open_by[who] += 1;
                            }
                        }
                        // Already executed.
                        Ok(TxReply {
                            result: Err(BufferError::NonceWindow { low, .. }),
                            ..
                        }) if tx.nonce < low => {
                            born.remove(&tx.nonce);
                        }
                        // Another transaction holds this nonce (a resend of this very one is
                        // answered as accepted): this one can never execute; not retried.
                        Ok(TxReply {
                            result: Err(BufferError::NonceTaken(_)),
                            ..
                        }) => {
                            born.remove(&tx.nonce);
                            *sh.report.refusals.entry("nonce-taken").or_default() += 1;
                            sh.report.refused += 1;
                        }
                        r => {
                            let why = match r {
                                Ok(TxReply { result: Err(e), .. }) => {
                                    let redirect = matches!(e, BufferError::Redirect { .. });
                                    redirected |= redirect;
                                    other |= !redirect;
                                    refusal(&e)
                                }
                                Ok(TxReply { result: Ok(()), .. }) => unreachable!("acknowledged above"),
                                Err(why) => {
                                    other = true;
                                    why
                                }
                            };
                            *sh.report.refusals.entry(why).or_default() += 1;
                            sh.report.refused += 1;
                            retry.push(tx);
                        }
                    }
                }
                drop(sh);
                // A redirect (the cycle turned) is routed again after a short pause (the
                // datacenter asked may not have turned yet); anything else backs off.
                backoff = if other {
                    pause(backoff)
                } else if redirected {
                    REDIRECT_PAUSE
                } else {
                    Duration::ZERO
                };
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
    let sh = shared.lock().unwrap_or_else(PoisonError::into_inner);
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

/// The next pause after a refusal: 50 ms, doubling to 1 s; a retry storm would only load
/// the datacenter that refused.
fn pause(last: Duration) -> Duration {
    (last * 2).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use daoli_protocol::crypto::Keypair;

    // A block may carry a sender's transaction without executing it (ahead of its nonce, or a
    // repeat); only the account's next nonce executes, and blocks the account read already
    // counts are not replayed.
    #[test]
    fn only_the_next_nonce_of_a_block_after_the_read_counts_as_executed() {
        let k = Keypair::from_label("load-test/sender");
        let other = Keypair::from_label("load-test/other");
        let chain = Hash32([3; 32]);
        let t = |key: &Keypair, n| {
            Transaction::new(
                key,
                &chain,
                n,
                1,
                TxKind::Transfer {
                    to: key.public(),
                    amount: 1,
                },
                vec![],
            )
        };
        // Read at height 5: nonce 2 is next.
        let mut r = Replay {
            index: [(k.public(), 0)].into_iter().collect(),
            next: vec![(2, 5)],
        };
        assert!(!r.executed(5, &t(&k, 2)), "height 5 is in the read already");
        assert!(!r.executed(6, &t(&k, 3)), "ahead of 2: skipped");
        assert!(r.executed(6, &t(&k, 2)));
        assert!(!r.executed(6, &t(&k, 2)), "a repeat");
        assert!(r.executed(7, &t(&k, 3)), "the skipped one, carried again");
        assert!(!r.executed(7, &t(&other, 4)), "not a sender of this run");
    }
}
