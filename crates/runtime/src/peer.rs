//! The cross-datacenter transport: peer messages in signed envelopes over gRPC
//! (`daoli.v1.Peer/Deliver`).
//!
//! - [`PeerServer`] checks each envelope before the role machine sees it, cheapest check first,
//!   so that an unknown or flooding sender costs as little as possible: raw size (per message
//!   kind, without decoding), a configured sender, replay pre-filter, chain and signature and
//!   decode ([`Envelope::open`](pb::Envelope::open)), replay, the sender's rate and in-flight
//!   limits, then a bounded hand-over ([`Inbound`]) whose verdict becomes the reply.
//! - [`Peers`] runs one outbound task per peer with a bounded queue: [`Peers::send`] never
//!   blocks or grows memory (a full queue drops the message and counts it). Each task owns a
//!   lazily connected channel, retries an unreachable peer with capped exponential backoff
//!   and jitter, and sends its messages one at a time, so a peer receives them in order.
//! - [`serve`] binds the listener before returning, so the caller knows the port is open.
//!
//! Messages the core hands over whole (`Forward`, `BatchRequest`, `Certified`) are split to fit
//! the wire's limits ([`split`]). Endpoints are plain `http://`: this build has no TLS stack.

use crate::config::{Peer as PeerConfig, PeerLimits};
use crate::metrics::{Metrics, Unit};
use crate::telemetry;
use daoli_protocol::codec::ChainId;
use daoli_protocol::crypto::{Keypair, PublicKey};
use daoli_protocol::node::{Msg, Reject};
use daoli_wire::proto::peer_client::PeerClient as GrpcClient;
use daoli_wire::proto::peer_server::{Peer as PeerService, PeerServer as GrpcServer};
use daoli_wire::proto::{self as pb};
use daoli_wire::{Delivery, WireError, limits};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prost::Message as _;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Code, Request, Response, Status};
use tracing::{Instrument as _, Span};
use url::Url;

/// Errors at the transport's boundary (start-up and shutdown; refusals are [`Refusal`]s).
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("peer listener on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("peer endpoint {url}: {reason}")]
    Endpoint { url: String, reason: String },
    #[error("peer server: {0}")]
    Serve(#[from] tonic::transport::Error),
    #[error("peer server task: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// A message from a peer datacenter, checked, for the role machine. It must answer on
/// `reply`: `Ok` (accepted), `Err(Reject::Future)` (held) or another `Err` (refused). The
/// sender's reply waits for it, bounded by [`ServerOptions::verdict_timeout`].
#[derive(Debug)]
pub struct Inbound {
    /// The sending datacenter's root key (verified).
    pub from: PublicKey,
    pub msg: Msg,
    pub reply: oneshot::Sender<Result<(), Reject>>,
}

/// Why the server refused an envelope; its text is the reply's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Over a byte limit, or not one well-framed message kind; found without decoding.
    #[error("{0}")]
    Size(WireError),
    #[error("unknown peer")]
    UnknownPeer,
    /// Malformed, wrong chain, bad signature, or a body that does not decode.
    #[error("{0}")]
    Envelope(WireError),
    #[error("replay: seq {seq} is not above {last}, the last accepted from this peer's stream")]
    Replay { seq: u64, last: u64 },
    #[error("busy: {0}")]
    Busy(Busy),
    /// The role machine refused the message.
    #[error("{0}")]
    Rejected(Reject),
    #[error("no verdict within {0:?}")]
    Timeout(Duration),
    #[error("the receiver is shutting down")]
    Closed,
}

/// Which limit a busy sender hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// The per-peer token bucket (`limits.messages_per_second`).
    Rate,
    /// The per-peer bound on messages awaiting a verdict (`limits.max_in_flight`).
    InFlight,
    /// The hand-over queue to the role machine is full.
    Queue,
}

impl fmt::Display for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Busy::Rate => "messages per second over the limit",
            Busy::InFlight => "too many messages awaiting a verdict",
            Busy::Queue => "receive queue full",
        })
    }
}

impl Refusal {
    /// The metric label: a small fixed set, whatever the peer sends.
    fn label(&self) -> &'static str {
        match self {
            Refusal::Size(_) => "size",
            Refusal::UnknownPeer => "unknown_peer",
            Refusal::Envelope(_) => "envelope",
            Refusal::Replay { .. } => "replay",
            Refusal::Busy(Busy::Rate) => "busy_rate",
            Refusal::Busy(Busy::InFlight) => "busy_in_flight",
            Refusal::Busy(Busy::Queue) => "busy_queue",
            Refusal::Rejected(_) => "rejected",
            Refusal::Timeout(_) => "timeout",
            Refusal::Closed => "closed",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Server.
// ---------------------------------------------------------------------------------------------

/// Server settings beyond the configuration's per-peer limits.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// How long a sender's reply waits for the role machine's verdict.
    pub verdict_timeout: Duration,
    /// Bodies at least this large are opened on the blocking pool: verifying and decoding tens
    /// of megabytes would otherwise stall every other connection on this worker.
    pub blocking_open_bytes: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            verdict_timeout: Duration::from_secs(5),
            blocking_open_bytes: 256 << 10,
        }
    }
}

/// Refills at `rate` tokens per second up to one second's worth, so a peer may burst to its
/// per-second limit and no further.
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: u32) -> Self {
        TokenBucket {
            rate: f64::from(rate),
            tokens: f64::from(rate),
            last: Instant::now(),
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A peer's sending processes: a seq's low bits name the stream (0 for a datacenter that
/// runs as one process, 1 + the service's index for a service process), the bits above count
/// up within it.
pub const SEQ_STREAMS: usize = 8;
const STREAM_BITS: u32 = SEQ_STREAMS.trailing_zeros();

/// The stream a seq belongs to.
pub fn seq_stream(seq: u64) -> usize {
    (seq & (SEQ_STREAMS as u64 - 1)) as usize
}

#[derive(Debug)]
struct Gate {
    /// Highest seq accepted from each of this peer's streams; 0 before any (a sealed seq is
    /// the wall clock in microseconds, shifted, far above).
    last_seq: [u64; SEQ_STREAMS],
    bucket: TokenBucket,
}

#[derive(Debug)]
struct PeerState {
    name: String,
    gate: Mutex<Gate>,
    in_flight: Arc<Semaphore>,
}

impl PeerState {
    fn gate(&self) -> std::sync::MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug, Clone)]
struct ServerMetrics {
    received: Counter,
    received_bytes: Counter,
    refused: Family<[(&'static str, &'static str); 1], Counter>,
}

impl ServerMetrics {
    fn new(m: &Metrics) -> Self {
        let refused = Family::default();
        m.register(
            "peer_refused",
            "Peer envelopes refused, by reason",
            Unit::Messages,
            refused.clone(),
        );
        ServerMetrics {
            received: m.counter_of("peer_received", "Peer envelopes received", Unit::Messages),
            received_bytes: m.counter_of("peer_received", "Bytes of peer envelopes received", Unit::Bytes),
            refused,
        }
    }
}

#[derive(Debug)]
struct ServerInner {
    chain: ChainId,
    peers: HashMap<PublicKey, PeerState>,
    inbound: mpsc::Sender<Inbound>,
    opts: ServerOptions,
    metrics: ServerMetrics,
}

/// The `daoli.v1.Peer` service. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct PeerServer {
    inner: Arc<ServerInner>,
}

impl PeerServer {
    /// Accepts envelopes of chain `chain` from `peers` only, each within `limits`, and hands
    /// them to `inbound`. Registers its metrics in `metrics`.
    pub fn new(
        chain: ChainId,
        peers: &[PeerConfig],
        limits: PeerLimits,
        inbound: mpsc::Sender<Inbound>,
        metrics: &Metrics,
        opts: ServerOptions,
    ) -> Self {
        let peers = peers
            .iter()
            .map(|p| {
                let state = PeerState {
                    name: p.name.clone(),
                    gate: Mutex::new(Gate {
                        last_seq: [0; SEQ_STREAMS],
                        bucket: TokenBucket::new(limits.messages_per_second.get()),
                    }),
                    in_flight: Arc::new(Semaphore::new(limits.max_in_flight.get() as usize)),
                };
                (p.root_key, state)
            })
            .collect();
        PeerServer {
            inner: Arc::new(ServerInner {
                chain,
                peers,
                inbound,
                opts,
                metrics: ServerMetrics::new(metrics),
            }),
        }
    }

    /// The tonic service, with the wire's size limits.
    pub fn into_service(self) -> GrpcServer<Self> {
        GrpcServer::new(self)
            .max_decoding_message_size(limits::PEER_SERVER_MAX_DECODING)
            .max_encoding_message_size(limits::MAX_DELIVER_REPLY_BYTES)
    }

    /// Checks one envelope and, if it passes, awaits the role machine's verdict on it.
    pub async fn handle(&self, env: pb::Envelope) -> Delivery {
        let m = &self.inner.metrics;
        m.received.inc();
        m.received_bytes.inc_by(env.encoded_len() as u64);
        let outcome = self.inner.admit(env).await;
        let span = Span::current();
        match outcome {
            Ok(d) => {
                span.record("outcome", if d == Delivery::Accepted { "accepted" } else { "held" });
                d
            }
            Err(r) => {
                m.refused.get_or_create(&[("reason", r.label())]).inc();
                span.record("outcome", r.label());
                tracing::debug!(reason = %r, "peer envelope refused");
                Delivery::Refused(r.to_string())
            }
        }
    }
}

impl ServerInner {
    async fn admit(&self, env: pb::Envelope) -> Result<Delivery, Refusal> {
        // Raw sizes first: protobuf decoding allocates more than it reads.
        let size = env.encoded_len();
        if size > limits::MAX_ENVELOPE_BYTES {
            return Err(Refusal::Size(WireError::Oversized {
                what: "Envelope",
                got: size,
                limit: limits::MAX_ENVELOPE_BYTES,
            }));
        }
        daoli_wire::check_body(&env.body).map_err(Refusal::Size)?;
        // Only a configured peer's envelope is worth a signature check and a decode.
        let claimed = env.sender().map_err(Refusal::Envelope)?;
        let peer = self.peers.get(&claimed).ok_or(Refusal::UnknownPeer)?;
        Span::current().record("peer", peer.name.as_str());
        Span::current().record("seq", env.seq);
        // A replay is refused before it costs a signature check; the authoritative check
        // below, after the signature, is the one that records the seq.
        let last = peer.gate().last_seq[seq_stream(env.seq)];
        if env.seq <= last {
            return Err(Refusal::Replay { seq: env.seq, last });
        }
        let chain = self.chain;
        let (from, seq, msg) = if env.body.len() >= self.opts.blocking_open_bytes {
            tokio::task::spawn_blocking(move || env.open(&chain))
                .await
                .map_err(|_| Refusal::Closed)?
        } else {
            env.open(&chain)
        }
        .map_err(Refusal::Envelope)?;
        {
            // A seq is spent once authenticated, whatever becomes of the message: a sender
            // refused as busy sends anew with a fresh seq, never the same envelope.
            let mut gate = peer.gate();
            let last = &mut gate.last_seq[seq_stream(seq)];
            if seq <= *last {
                return Err(Refusal::Replay { seq, last: *last });
            }
            *last = seq;
            if !gate.bucket.take(Instant::now()) {
                return Err(Refusal::Busy(Busy::Rate));
            }
        }
        let _permit = peer
            .in_flight
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Busy(Busy::InFlight))?;
        let (reply, verdict) = oneshot::channel();
        self.inbound
            .try_send(Inbound { from, msg, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => Refusal::Busy(Busy::Queue),
                mpsc::error::TrySendError::Closed(_) => Refusal::Closed,
            })?;
        match tokio::time::timeout(self.opts.verdict_timeout, verdict).await {
            Ok(Ok(Ok(()))) => Ok(Delivery::Accepted),
            Ok(Ok(Err(Reject::Future))) => Ok(Delivery::Held(Reject::Future.to_string())),
            Ok(Ok(Err(r))) => Err(Refusal::Rejected(r)),
            // The role machine dropped the reply: it is going away.
            Ok(Err(_)) => Err(Refusal::Closed),
            Err(_) => Err(Refusal::Timeout(self.opts.verdict_timeout)),
        }
    }
}

#[tonic::async_trait]
impl PeerService for PeerServer {
    async fn deliver(&self, req: Request<pb::Envelope>) -> Result<Response<pb::DeliverReply>, Status> {
        let span = tracing::info_span!(
            "peer.deliver",
            peer = tracing::field::Empty,
            seq = tracing::field::Empty,
            outcome = tracing::field::Empty
        );
        telemetry::set_parent_from_metadata(&span, req.metadata());
        let d = self.handle(req.into_inner()).instrument(span).await;
        Ok(Response::new((&d).into()))
    }
}

/// A running peer server (see [`serve`]).
#[derive(Debug)]
pub struct ServeHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl ServeHandle {
    /// The bound address (with the port the system chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets calls in progress finish (each bounded by the verdict timeout),
    /// and waits for the server to end.
    pub async fn stop(mut self) -> Result<(), PeerError> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        Ok(self.task.await??)
    }
}

/// Binds `addr` and serves `server` on it until `shutdown` resolves or [`ServeHandle::stop`]
/// is called; returns once the listener is bound. Dropping the handle leaves the server
/// running until `shutdown`.
pub async fn serve(
    addr: SocketAddr,
    server: PeerServer,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<ServeHandle, PeerError> {
    let bind = |source| PeerError::Bind { addr, source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(bind)?;
    let local = listener.local_addr().map_err(bind)?;
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let (stop, stopped) = oneshot::channel::<()>();
    let signal = async move {
        let stopped = async {
            // A dropped handle is not a request to stop.
            if stopped.await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = shutdown => {}
            () = stopped => {}
        }
    };
    let task = tokio::spawn(
        Server::builder()
            .add_service(server.into_service())
            .serve_with_incoming_shutdown(incoming, signal),
    );
    Ok(ServeHandle {
        addr: local,
        stop: Some(stop),
        task,
    })
}

// ---------------------------------------------------------------------------------------------
// Splitting what the core hands over whole.
// ---------------------------------------------------------------------------------------------

/// Splits a `Forward`, `BatchRequest` or `Certified` over the wire's collection or byte limits
/// into messages that fit (see [`daoli_wire::limits`]); any other message is returned as is.
///
/// A `Certified` keeps the batches that fit beside its block; the others go first as `Batch`
/// messages, so that the receiver holds them when the block arrives (a peer's messages are
/// delivered in order).
pub fn split(msg: Msg) -> Vec<Msg> {
    split_with(msg, &WIRE_CAPS)
}

/// The limits [`split`] cuts to; tests use small ones.
#[derive(Debug)]
struct Caps {
    forward_txs: usize,
    /// Sum of canonical transaction sizes.
    forward_bytes: usize,
    request_digests: usize,
    certified_batches: usize,
    /// Protobuf bytes of the `Certified` value: block and batch fields.
    certified_bytes: usize,
}

const WIRE_CAPS: Caps = Caps {
    forward_txs: limits::MAX_FORWARD_TXS,
    forward_bytes: limits::MAX_BATCH_BYTES,
    request_digests: limits::MAX_BATCH_REQUEST_DIGESTS,
    certified_batches: limits::MAX_CERTIFIED_BATCHES,
    certified_bytes: limits::MAX_CERTIFIED_BYTES,
};

fn split_with(msg: Msg, caps: &Caps) -> Vec<Msg> {
    match msg {
        Msg::Forward(txs) => {
            let sizes: Vec<usize> = txs.iter().map(|t| t.size()).collect();
            let mut rest = txs.into_iter();
            chunk_lens(&sizes, caps.forward_txs, caps.forward_bytes)
                .into_iter()
                .map(|n| Msg::Forward(rest.by_ref().take(n).collect()))
                .collect()
        }
        Msg::BatchRequest(ds) if ds.len() > caps.request_digests => ds
            .chunks(caps.request_digests)
            .map(|c| Msg::BatchRequest(c.to_vec()))
            .collect(),
        Msg::Certified(cb, batches) => {
            let block = limits::field(pb::CertifiedBlock::from(&cb).encoded_len());
            let budget = caps.certified_bytes.saturating_sub(block);
            let sizes: Vec<usize> = batches
                .iter()
                .map(|b| limits::field(pb::Batch::from(b).encoded_len()))
                .collect();
            let keep = first_fit(&sizes, caps.certified_batches, budget);
            let (mut kept, mut out) = (Vec::new(), Vec::new());
            for (b, k) in batches.into_iter().zip(keep) {
                if k {
                    kept.push(b);
                } else {
                    out.push(Msg::Batch(b));
                }
            }
            out.push(Msg::Certified(cb, kept));
            out
        }
        m => vec![m],
    }
}

/// Lengths of consecutive chunks of at most `max_count` items and `max_bytes` together (an
/// item larger than `max_bytes` alone makes a chunk, which sealing will then refuse).
fn chunk_lens(sizes: &[usize], max_count: usize, max_bytes: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let (mut n, mut bytes) = (0usize, 0usize);
    for &s in sizes {
        if n > 0 && (n == max_count || bytes + s > max_bytes) {
            out.push(n);
            (n, bytes) = (0, 0);
        }
        n += 1;
        bytes += s;
    }
    if n > 0 || out.is_empty() {
        out.push(n);
    }
    out
}

/// Which items to keep, in order, first fit: at most `max_count` of at most `budget` together.
fn first_fit(sizes: &[usize], max_count: usize, budget: usize) -> Vec<bool> {
    let (mut n, mut used) = (0usize, 0usize);
    sizes
        .iter()
        .map(|&s| {
            let fits = n < max_count && used + s <= budget;
            if fits {
                n += 1;
                used += s;
            }
            fits
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Client.
// ---------------------------------------------------------------------------------------------

/// Settings of the outbound side.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Messages queued per peer; beyond, new messages are dropped (and counted).
    pub queue: usize,
    /// First retry delay after a transport failure; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub connect_timeout: Duration,
    /// Bound on one call, reply included (the receiver waits for its role machine).
    pub rpc_timeout: Duration,
    /// How long a message is retried while its peer is unreachable: consensus messages go
    /// stale, and an old message should not hold the queue behind it for ever.
    pub retry_for: Duration,
    /// Where the transport's metrics are registered.
    pub metrics: Metrics,
    /// This process's seq stream (below [`SEQ_STREAMS`]): 0 for a datacenter in one process,
    /// 1 + the service's index for one service's process, so that a peer's replay check
    /// keeps each sending process apart.
    pub stream: u8,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            queue: 1024,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            rpc_timeout: Duration::from_secs(30),
            retry_for: Duration::from_secs(30),
            metrics: Metrics::new(),
            stream: 0,
        }
    }
}

#[derive(Debug, Clone)]
struct ClientMetrics {
    sent: Counter,
    sent_bytes: Counter,
    retries: Counter,
    /// By reason: queue_full, unknown_peer, seal, expired, failed, refused.
    dropped: Family<[(&'static str, &'static str); 1], Counter>,
    split: Counter,
}

impl ClientMetrics {
    fn new(m: &Metrics) -> Self {
        let dropped = Family::default();
        m.register(
            "peer_dropped",
            "Outbound peer messages not delivered, by reason",
            Unit::Messages,
            dropped.clone(),
        );
        ClientMetrics {
            sent: m.counter_of(
                "peer_sent",
                "Peer envelopes accepted or held by their receiver",
                Unit::Messages,
            ),
            sent_bytes: m.counter_of("peer_sent", "Bytes of peer envelopes sent", Unit::Bytes),
            retries: m.counter("peer_send_retries", "Sends retried after a transport failure"),
            dropped,
            split: m.counter_of(
                "peer_split",
                "Extra messages made by splitting one over the wire's limits",
                Unit::Messages,
            ),
        }
    }

    fn drop(&self, reason: &'static str) {
        self.dropped.get_or_create(&[("reason", reason)]).inc();
    }
}

#[derive(Debug)]
struct Outgoing {
    msg: Arc<Msg>,
    queued: Instant,
    /// The sender's span, so the send joins the caller's trace.
    parent: Span,
}

/// Strictly increasing across restarts: the count above the stream bits is never below the
/// wall clock in microseconds, so a restarted process starts above anything it sent before
/// (unless it sent more than a million messages a second on average, or the clock went back).
#[derive(Debug)]
struct SeqSource {
    count: AtomicU64,
    stream: u64,
}

impl SeqSource {
    fn new(stream: u8) -> Self {
        SeqSource {
            count: AtomicU64::new(0),
            stream: u64::from(stream) & (SEQ_STREAMS as u64 - 1),
        }
    }

    fn next(&self) -> u64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX >> STREAM_BITS));
        let prev = self
            .count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| Some(now.max(p + 1)))
            .unwrap_or_else(|p| p);
        (now.max(prev + 1) << STREAM_BITS) | self.stream
    }
}

/// Where one peer datacenter takes messages: one endpoint for every kind, or, for a
/// datacenter run as one process per service, the endpoint of each service that takes some
/// (messages of the other kinds go to `endpoint`).
#[derive(Debug, Clone)]
pub struct PeerRoute {
    pub key: PublicKey,
    pub endpoint: Url,
    pub services: Vec<(&'static str, Url)>,
}

/// One peer's outbound queues: one task per distinct endpoint.
#[derive(Debug)]
struct PeerQueues {
    default: mpsc::Sender<Outgoing>,
    by_service: HashMap<&'static str, mpsc::Sender<Outgoing>>,
}

impl PeerQueues {
    fn of(&self, msg: &Msg) -> &mpsc::Sender<Outgoing> {
        self.by_service
            .get(daoli_protocol::roles::service_of(msg))
            .unwrap_or(&self.default)
    }
}

/// Outbound connections to every configured peer. Dropping it stops the outbound tasks
/// (queued messages are lost). Create it inside a Tokio runtime.
#[derive(Debug)]
pub struct Peers {
    me: PublicKey,
    queues: HashMap<PublicKey, PeerQueues>,
    tasks: Vec<JoinHandle<()>>,
    metrics: ClientMetrics,
}

impl Peers {
    /// Starts one outbound task per peer. Refuses an endpoint tonic cannot use (anything but
    /// `http://`: this build has no TLS).
    pub fn start(
        root: Keypair,
        chain: ChainId,
        peers: Vec<(PublicKey, Url)>,
        opts: ClientOptions,
    ) -> Result<Peers, PeerError> {
        let routes = peers
            .into_iter()
            .map(|(key, endpoint)| PeerRoute {
                key,
                endpoint,
                services: Vec::new(),
            })
            .collect();
        Self::start_routed(root, chain, routes, opts)
    }

    /// Starts one outbound task per peer endpoint (a peer run as one process per service has
    /// several). This datacenter itself is left out unless its services are listed apart:
    /// then a message for one of its own services that runs in another process goes there.
    pub fn start_routed(
        root: Keypair,
        chain: ChainId,
        peers: Vec<PeerRoute>,
        opts: ClientOptions,
    ) -> Result<Peers, PeerError> {
        let metrics = ClientMetrics::new(&opts.metrics);
        let seq = Arc::new(SeqSource::new(opts.stream));
        let me = root.public();
        let mut queues = HashMap::new();
        let mut tasks = Vec::new();
        for route in peers {
            if route.key == me && route.services.is_empty() {
                continue;
            }
            let mut by_url: HashMap<Url, mpsc::Sender<Outgoing>> = HashMap::new();
            let mut queue = |url: &Url| -> Result<mpsc::Sender<Outgoing>, PeerError> {
                if let Some(q) = by_url.get(url) {
                    return Ok(q.clone());
                }
                let endpoint = endpoint(url, &opts)?;
                let client = GrpcClient::new(endpoint.connect_lazy())
                    .max_decoding_message_size(limits::PEER_CLIENT_MAX_DECODING)
                    .max_encoding_message_size(limits::MAX_ENVELOPE_BYTES);
                let (tx, rx) = mpsc::channel(opts.queue.max(1));
                let task = Outbound {
                    to: route.key,
                    url: url.to_string(),
                    root: root.clone(),
                    chain,
                    seq: seq.clone(),
                    client,
                    opts: opts.clone(),
                    metrics: metrics.clone(),
                };
                tasks.push(tokio::spawn(task.run(rx)));
                by_url.insert(url.clone(), tx.clone());
                Ok(tx)
            };
            let default = queue(&route.endpoint)?;
            let mut by_service = HashMap::new();
            for (service, url) in &route.services {
                by_service.insert(*service, queue(url)?);
            }
            queues.insert(route.key, PeerQueues { default, by_service });
        }
        Ok(Peers {
            me,
            queues,
            tasks,
            metrics,
        })
    }

    /// Queues `msg` for peer `to`; never waits. A full queue or an unknown peer drops it.
    pub fn send(&self, to: &PublicKey, msg: Msg) {
        let Some(q) = self.queues.get(to) else {
            tracing::warn!(peer = ?to, "message for a peer that is not configured, dropped");
            self.metrics.drop("unknown_peer");
            return;
        };
        let q = q.of(&msg);
        for part in self.parts(msg) {
            self.enqueue(to, q, part);
        }
    }

    /// Queues `msg` for every peer but this datacenter.
    pub fn broadcast(&self, msg: Msg) {
        let parts = self.parts(msg);
        for (to, q) in &self.queues {
            if *to == self.me {
                continue;
            }
            let Some(first) = parts.first() else { return };
            let q = q.of(first);
            for part in &parts {
                self.enqueue(to, q, part.clone());
            }
        }
    }

    fn parts(&self, msg: Msg) -> Vec<Arc<Msg>> {
        let parts = split(msg);
        self.metrics.split.inc_by(parts.len().saturating_sub(1) as u64);
        parts.into_iter().map(Arc::new).collect()
    }

    fn enqueue(&self, to: &PublicKey, q: &mpsc::Sender<Outgoing>, msg: Arc<Msg>) {
        let item = Outgoing {
            msg,
            queued: Instant::now(),
            parent: Span::current(),
        };
        if q.try_send(item).is_err() {
            // Full (or the task is gone): dropping keeps the caller and memory bounded; the
            // protocol re-requests what it misses (sync and batch requests).
            tracing::debug!(peer = ?to, "outbound queue full, message dropped");
            self.metrics.drop("queue_full");
        }
    }
}

impl Drop for Peers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn endpoint(url: &Url, opts: &ClientOptions) -> Result<Endpoint, PeerError> {
    let bad = |reason: String| PeerError::Endpoint {
        url: url.to_string(),
        reason,
    };
    if url.scheme() != "http" {
        return Err(bad("only http:// is supported (no TLS in this build)".into()));
    }
    Ok(Endpoint::from_shared(url.to_string())
        .map_err(|e| bad(e.to_string()))?
        .connect_timeout(opts.connect_timeout)
        .timeout(opts.rpc_timeout)
        .tcp_nodelay(true))
}

/// Capped exponential backoff with jitter: the n-th delay is uniform in [d/2, d] for
/// `d = min(min * 2^n, max)`, so peers that lost the same datacenter do not retry in step.
#[derive(Debug)]
struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
    draws: u64,
    random: std::collections::hash_map::RandomState,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max: max.max(min),
            attempt: 0,
            draws: 0,
            random: std::collections::hash_map::RandomState::new(),
        }
    }

    fn reset(&mut self) {
        self.attempt = 0;
    }

    fn next(&mut self) -> Duration {
        let d = self.min.saturating_mul(1u32 << self.attempt.min(20)).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        // Randomly keyed SipHash as a jitter source: no RNG dependency for this.
        let mut h = self.random.build_hasher();
        self.draws += 1;
        h.write_u64(self.draws);
        let frac = (h.finish() >> 11) as f64 / (1u64 << 53) as f64;
        d.mul_f64(0.5 + frac / 2.0)
    }
}

/// A failure worth retrying: the peer was unreachable or the connection broke. Anything else
/// (too large, unimplemented, malformed) would fail again.
fn retryable(s: &Status) -> bool {
    matches!(
        s.code(),
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded | Code::Internal
    )
}

struct Outbound {
    to: PublicKey,
    url: String,
    root: Keypair,
    chain: ChainId,
    seq: Arc<SeqSource>,
    client: GrpcClient<Channel>,
    opts: ClientOptions,
    metrics: ClientMetrics,
}

impl Outbound {
    async fn run(mut self, mut rx: mpsc::Receiver<Outgoing>) {
        let mut backoff = Backoff::new(self.opts.backoff_min, self.opts.backoff_max);
        while let Some(item) = rx.recv().await {
            let span = tracing::info_span!(parent: &item.parent, "peer.send", peer = %self.url);
            self.deliver(item, &mut backoff).instrument(span).await;
        }
    }

    async fn deliver(&mut self, item: Outgoing, backoff: &mut Backoff) {
        if item.queued.elapsed() > self.opts.retry_for {
            self.metrics.drop("expired");
            return;
        }
        let seq = self.seq.next();
        let sealed = match *item.msg {
            // Encoding tens of megabytes would stall the other peers' tasks on this worker.
            Msg::Batch(_) | Msg::Certified(..) | Msg::Forward(_) | Msg::Micro(_) | Msg::Proposal(_) => {
                let (root, chain, msg) = (self.root.clone(), self.chain, item.msg.clone());
                match tokio::task::spawn_blocking(move || pb::Envelope::seal(&root, &chain, seq, &msg)).await {
                    Ok(r) => r,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    // Cancelled: the runtime is shutting down.
                    Err(_) => return,
                }
            }
            _ => pb::Envelope::seal(&self.root, &self.chain, seq, &item.msg),
        };
        let env = match sealed {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "peer message not sealed, dropped");
                self.metrics.drop("seal");
                return;
            }
        };
        let bytes = env.encoded_len() as u64;
        loop {
            // The same envelope on a retry: if the first attempt did land, the receiver
            // refuses this one as a replay instead of taking the message twice.
            let mut req = Request::new(env.clone());
            telemetry::inject_metadata(&Span::current(), req.metadata_mut());
            match self.client.deliver(req).await {
                Ok(reply) => {
                    backoff.reset();
                    self.metrics.sent_bytes.inc_by(bytes);
                    match Delivery::try_from(reply.into_inner()) {
                        Ok(Delivery::Accepted | Delivery::Held(_)) => {
                            self.metrics.sent.inc();
                        }
                        Ok(Delivery::Refused(reason)) => {
                            tracing::debug!(peer = ?self.to, %reason, "peer refused message");
                            self.metrics.drop("refused");
                        }
                        Err(e) => {
                            tracing::warn!(peer = ?self.to, error = %e, "malformed peer reply");
                            self.metrics.drop("failed");
                        }
                    }
                    return;
                }
                Err(s) if retryable(&s) && item.queued.elapsed() < self.opts.retry_for => {
                    let d = backoff.next();
                    tracing::debug!(peer = ?self.to, status = %s, retry_in = ?d, "peer unreachable");
                    self.metrics.retries.inc();
                    tokio::time::sleep(d).await;
                }
                Err(s) => {
                    tracing::warn!(peer = ?self.to, status = %s, "peer message not delivered, dropped");
                    self.metrics.drop(if retryable(&s) { "expired" } else { "failed" });
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
