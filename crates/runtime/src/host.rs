//! The shell around one role machine: an actix actor that feeds it bus events, peer and client
//! messages, mined lots and time, and carries out what it returns, in order: persistence
//! requests are made durable (one store transaction) before any later output leaves; events
//! go to the datacenter's bus; messages to peers (or, addressed to this datacenter, back to
//! the local service that takes them); hashing to the blocking pool; wake-ups to timers.

use crate::bus::{Bus, Event as BusPayload};
use crate::metrics::{Metrics, Unit};
use crate::store::{Persist, Store};
use actix::prelude::*;
use daoli_protocol::buffer::BufferError;
use daoli_protocol::crypto::PublicKey;
use daoli_protocol::lot::Lot;
use daoli_protocol::node::{Committed, Msg, Reject};
use daoli_protocol::roles::{Event, Output, Role, service_of};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

/// Messages queued for one role's actor before senders wait (bounded mailbox).
pub const MAILBOX: usize = 1024;

/// Events a role may hold for a full bus before it refuses client input (peers are still
/// taken: refusing votes would cost liveness).
pub const UNPUBLISHED: usize = 4096;
/// Held events past which the service stops: peers and timers still add events once clients
/// are refused, and a bus that takes nothing for that long is not coming back soon; the
/// supervisor's restart rebuilds from the stores instead of the process growing without bound.
pub const UNPUBLISHED_LIMIT: usize = 2 * UNPUBLISHED;

/// How soon events the bus refused are offered again.
const PUBLISH_RETRY: Duration = Duration::from_millis(10);

/// Local time for the role machines: UTC milliseconds, the unit the DCC certifies.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A role event as a bus payload. One ordered stream per datacenter (`events`, one
/// partition): roles rely on causal order (a cycle begins after the block that starts it).
#[derive(Debug, Clone)]
/// Shared, not copied: the bus hands one event to each of the datacenter's seven services, and
/// a `Certified` event carries a block with all its transactions.
pub struct RoleEvent(pub Arc<Event>);

impl BusPayload for RoleEvent {
    fn topic(&self) -> &'static str {
        "events"
    }
    fn key(&self) -> u64 {
        0
    }
}

/// Where messages for other datacenters go.
pub trait PeerSink: Send + Sync + std::fmt::Debug {
    fn send(&self, to: &PublicKey, msg: Msg);
    fn broadcast(&self, msg: Msg);
}

impl PeerSink for crate::peer::Peers {
    fn send(&self, to: &PublicKey, msg: Msg) {
        crate::peer::Peers::send(self, to, msg)
    }
    fn broadcast(&self, msg: Msg) {
        crate::peer::Peers::broadcast(self, msg)
    }
}

/// Hands checked messages from the peer server to the local service that takes each, and
/// its verdict back. Runs until the server's channel closes.
pub async fn route_inbound(mut inbound: tokio::sync::mpsc::Receiver<crate::peer::Inbound>, local: LocalRoutes) {
    // One task per message, so that a slow role does not hold up the others; at most this
    // many at once (beyond, the sender hears "busy").
    let tasks = Arc::new(tokio::sync::Semaphore::new(INBOUND_TASKS));
    while let Some(m) = inbound.recv().await {
        let Some(r) = local.route(&m.msg) else {
            let _ = m.reply.send(Err(Reject::NotMine));
            continue;
        };
        let Ok(permit) = tasks.clone().try_acquire_owned() else {
            let _ = m.reply.send(Err(Reject::Busy("messages being handled", INBOUND_TASKS)));
            continue;
        };
        // On the runtime's worker threads (the shell's network side), not an actor's.
        tokio::spawn(async move {
            let verdict = r
                .send(Deliver {
                    from: m.from,
                    msg: m.msg,
                })
                .await
                .unwrap_or(Err(Reject::NotMine));
            let _ = m.reply.send(verdict);
            drop(permit);
        });
    }
}

/// Peer messages being handed to local services at once, per datacenter.
pub const INBOUND_TASKS: usize = 4096;

/// A peer or client message for a role.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), Reject>")]
pub struct Deliver {
    pub from: PublicKey,
    pub msg: Msg,
}

/// The seven services of one datacenter, by service name, for messages addressed to it.
#[derive(Debug, Clone, Default)]
pub struct LocalRoutes {
    routes: Arc<Mutex<HashMap<&'static str, Recipient<Deliver>>>>,
}

impl LocalRoutes {
    pub fn add(&self, service: &'static str, r: Recipient<Deliver>) {
        self.routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(service, r);
    }
    /// The service that takes `msg`, if it runs here.
    pub fn route(&self, msg: &Msg) -> Option<Recipient<Deliver>> {
        self.routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(service_of(msg))
            .cloned()
    }
}

/// A bus event for the role. The answer: `None` once the service failed (the event must come
/// again after a restart); else whether everything so far is settled — the event's effect is
/// durable and every event the role published is delivered — so the bus may move past it.
#[derive(Debug, Message)]
#[rtype(result = "Option<bool>")]
struct FromBus(Arc<Event>);

#[derive(Debug, Message)]
#[rtype(result = "()")]
struct Mined(Lot);

/// The role's bus subscription ended (why): nothing more comes from the bus, so the service
/// stops.
#[derive(Debug, Message)]
#[rtype(result = "()")]
struct BusLost(String);

/// A client's transaction for payroll slot `slot`: answered once it is durable (or refused).
#[derive(Debug, Message)]
#[rtype(result = "TxAnswer")]
pub struct SubmitTx {
    pub tx: daoli_protocol::tx::Transaction,
    pub slot: u32,
    pub from: PublicKey,
}

/// A lot a client device mined for this datacenter (the miner pool checks and countersigns it).
#[derive(Debug, Message)]
#[rtype(result = "Result<(), Reject>")]
pub struct SubmitLot(pub Lot);

/// Reads the role's state (status queries).
pub struct Inspect<R, T>(pub Box<dyn FnOnce(&R) -> T + Send>);

impl<R, T> std::fmt::Debug for Inspect<R, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inspect")
    }
}

impl<R: Role, T: Send + 'static> Message for Inspect<R, T> {
    type Result = T;
}

/// Called with every block the role's datacenter committed (the devnet prints a line).
pub type CommittedHook = Arc<dyn Fn(&Committed) + Send + Sync>;

/// Raised when a role's actor stops (a store or bus failure, or the process stopping it): a
/// service process exits on it, for its supervisor to restart it.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<(std::sync::atomic::AtomicBool, tokio::sync::Notify)>);

impl StopSignal {
    fn raise(&self) {
        self.0.0.store(true, std::sync::atomic::Ordering::SeqCst);
        self.0.1.notify_waiters();
    }
    pub fn raised(&self) -> bool {
        self.0.0.load(std::sync::atomic::Ordering::SeqCst)
    }
    /// Returns once an actor holding this signal has stopped.
    pub async fn wait(&self) {
        loop {
            // Made before the check: a raise in between still wakes it.
            let woken = self.0.1.notified();
            if self.raised() {
                return;
            }
            woken.await;
        }
    }
}

/// What a role's actor needs around it.
#[derive(Clone)]
pub struct HostDeps {
    pub datacenter: PublicKey,
    pub chain: daoli_protocol::codec::ChainId,
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus<RoleEvent>>,
    pub peers: Arc<dyn PeerSink>,
    pub local: LocalRoutes,
    pub metrics: Metrics,
    pub on_committed: Option<CommittedHook>,
    pub stopped: StopSignal,
}

impl std::fmt::Debug for HostDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostDeps")
            .field("datacenter", &self.datacenter)
            .finish_non_exhaustive()
    }
}

/// The actor around role machine `R`.
pub struct RoleHost<R: Role> {
    role: R,
    deps: HostDeps,
    replies: HashMap<u64, oneshot::Sender<Result<(), BufferError>>>,
    next_client: u64,
    wake: Option<(u64, SpawnHandle)>,
    /// Events the bus had no room for yet, published before anything newer.
    unpublished: VecDeque<Arc<Event>>,
    queued: Gauge,
    refused: Counter,
    persisted: Counter,
    /// Joined before the host is made, so no event published after that is missed.
    sub: Option<Box<dyn crate::bus::Subscriber<RoleEvent>>>,
    /// A store write failed: nothing leaves any more.
    failed: bool,
    /// A publish retry is scheduled.
    publish_retry: bool,
    /// Events are being held for the bus (logged when it starts and when it ends).
    holding: bool,
}

impl<R: Role> std::fmt::Debug for RoleHost<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RoleHost({})", R::SERVICE)
    }
}

impl<R: Role> RoleHost<R> {
    /// Joins the role's consumer group on its datacenter's bus, then makes the host. A bus
    /// that refuses the subscription (a missing permission) stops start-up: a role that
    /// hears nothing would run on as if nothing happened.
    pub fn new(role: R, deps: HostDeps) -> Result<Self, crate::bus::BusError> {
        let sub = deps.bus.subscribe("events", R::SERVICE)?;
        Ok(Self::subscribed(role, deps, sub))
    }

    /// With its subscription made already (a Kafka subscription checks the group with the
    /// broker and blocks: a caller on an async executor makes it on a blocking thread).
    pub fn subscribed(role: R, deps: HostDeps, sub: Box<dyn crate::bus::Subscriber<RoleEvent>>) -> Self {
        let m = &deps.metrics;
        // Inbound queues are the bus's (per-subscriber gauges) and the bounded mailbox; this
        // is the outbound one.
        let queued = m.gauge(
            &format!("{}_unpublished", R::SERVICE.replace('-', "_")),
            "Events the role produced that the bus has not taken yet",
            Unit::Events,
        );
        let refused = m.counter(
            &format!("{}_refused", R::SERVICE.replace('-', "_")),
            "Peer and client messages the role refused",
        );
        let persisted = m.counter(
            &format!("{}_persisted", R::SERVICE.replace('-', "_")),
            "Store transactions made durable before outputs left",
        );
        RoleHost {
            failed: false,
            publish_retry: false,
            holding: false,
            sub: Some(sub),
            role,
            deps,
            replies: HashMap::new(),
            next_client: 1,
            wake: None,
            unpublished: VecDeque::new(),
            queued,
            refused,
            persisted,
        }
    }

    /// Starts the actor on its own thread (an arbiter), with a bounded mailbox, subscribed to
    /// its datacenter's bus.
    pub fn start_on_arbiter(self) -> Addr<Self> {
        let arbiter = Arbiter::new();
        Self::start_in_arbiter(&arbiter.handle(), move |_| self)
    }

    /// Carries out one step's outputs. Everything the step asked to persist is made durable
    /// first, in one store transaction (group commit: a step that took many client
    /// transactions pays one write), then the other outputs leave in order. Persisting earlier
    /// than asked is always safe; sending before persisting never happens.
    fn carry_out(&mut self, outs: Vec<Output>, ctx: &mut Context<Self>) {
        if self.failed {
            return;
        }
        let (persist, rest): (Vec<Output>, Vec<Output>) = outs.into_iter().partition(|o| Persist::of(o).is_some());
        if !persist.is_empty() && !self.flush(&persist) {
            return self.fail(ctx, "store write failed");
        }
        for o in rest {
            self.leave(o, ctx);
        }
    }

    /// A store write failed: the role machine already counts the statement as made, so
    /// nothing it says from now on may leave (a re-sent vote or an `Again` acknowledgement
    /// would not be durable). The service stops; a restart rebuilds it from what the store
    /// holds.
    fn fail(&mut self, ctx: &mut Context<Self>, why: &str) {
        self.failed = true;
        self.replies.clear();
        tracing::error!(service = R::SERVICE, "{why}: the service stops");
        ctx.stop();
    }

    fn flush(&mut self, persist: &[Output]) -> bool {
        let batch: Vec<Persist<'_>> = persist.iter().filter_map(Persist::of).collect();
        let r = self.deps.store.write(&batch);
        match r {
            Ok(()) => {
                self.persisted.inc();
                true
            }
            Err(e) => {
                tracing::error!(service = R::SERVICE, error = %e, "store write failed");
                false
            }
        }
    }

    fn leave(&mut self, o: Output, ctx: &mut Context<Self>) {
        match o {
            Output::Event(e) => {
                self.unpublished.push_back(Arc::new(e));
                self.publish(ctx);
                if self.unpublished.len() > UNPUBLISHED_LIMIT && !self.failed {
                    let why = format!(
                        "{} events wait for a bus that takes none (limit {UNPUBLISHED_LIMIT} events)",
                        self.unpublished.len()
                    );
                    self.fail(ctx, &why);
                }
            }
            Output::Broadcast(m) => self.deps.peers.broadcast(m),
            // For this datacenter: its service in this process, else (a datacenter run as one
            // process per service) the peer endpoint of the process that runs it.
            Output::Send(to, m) if to == self.deps.datacenter => match self.deps.local.route(&m) {
                Some(r) => r.do_send(Deliver { from: to, msg: m }),
                None => self.deps.peers.send(&to, m),
            },
            Output::Send(to, m) => self.deps.peers.send(&to, m),
            Output::Reply { client, result, .. } => {
                if let Some(tx) = self.replies.remove(&client) {
                    let _ = tx.send(result);
                }
            }
            Output::Committed(c) => {
                if let Some(hook) = &self.deps.on_committed {
                    hook(&c);
                }
            }
            Output::Mine(job) => {
                let chain = self.deps.chain;
                let me = ctx.address();
                // Hashing is the miner pool's work, off the actor's thread.
                actix::spawn(async move {
                    if let Ok(Some(lot)) = tokio::task::spawn_blocking(move || job.run(&chain)).await {
                        me.do_send(Mined(lot));
                    }
                });
            }
            Output::Wakeup(at) => self.schedule(at, ctx),
            Output::PersistTx(_)
            | Output::PersistEvidence(_)
            | Output::PersistSigned(_)
            | Output::PersistVote(_)
            | Output::PersistBlock(..) => unreachable!("persisted before"),
        }
    }

    /// Offers the held events to the bus, oldest first. A full bus holds them; any other
    /// refusal is permanent (an event the bus can never take, a broker that lost events) and
    /// stops the service: going on would leave a hole in the datacenter's event stream.
    fn publish(&mut self, ctx: &mut Context<Self>) {
        if self.failed {
            return;
        }
        while let Some(e) = self.unpublished.pop_front() {
            let ev = RoleEvent(e);
            match self.deps.bus.try_publish(&ev) {
                Ok(()) => {}
                Err(err @ crate::bus::BusError::Full { .. }) => {
                    if !self.holding {
                        self.holding = true;
                        tracing::warn!(service = R::SERVICE, error = %err, "bus full: events held");
                    }
                    self.unpublished.push_front(ev.0);
                    return;
                }
                Err(err) => {
                    self.unpublished.push_front(ev.0);
                    return self.fail(ctx, &format!("the bus refused an event: {err}"));
                }
            }
        }
        if self.holding {
            self.holding = false;
            tracing::info!(service = R::SERVICE, "bus has room again: held events published");
        }
    }

    /// The bus has no room: try again shortly even if no input arrives meanwhile.
    fn retry_publish(&mut self, ctx: &mut Context<Self>) {
        if self.unpublished.is_empty() || self.publish_retry {
            return;
        }
        self.publish_retry = true;
        ctx.run_later(PUBLISH_RETRY, |act, ctx| {
            act.publish_retry = false;
            act.publish(ctx);
            act.queued.set(act.unpublished.len() as i64);
            act.retry_publish(ctx);
        });
    }

    /// Client input (transactions, lots) is refused while this many events wait for the bus,
    /// so clients cannot grow the outbound queue (bus events, timers and peer messages still
    /// run, so the datacenter drains rather than deadlocks).
    fn backed_up(&self) -> Result<(), Reject> {
        if self.unpublished.len() >= UNPUBLISHED {
            Err(Reject::Busy("events waiting for the bus", UNPUBLISHED))
        } else {
            Ok(())
        }
    }

    fn schedule(&mut self, at: u64, ctx: &mut Context<Self>) {
        if let Some((t, h)) = self.wake {
            if t <= at {
                return;
            }
            ctx.cancel_future(h);
        }
        let wait = Duration::from_millis(at.saturating_sub(now_ms()));
        let h = ctx.run_later(wait, |act, ctx| {
            act.wake = None;
            act.step(ctx, |_, _, _| {});
        });
        self.wake = Some((at, h));
    }

    /// Runs one input, then the role's deadlines, and carries out the outputs.
    fn step<T>(&mut self, ctx: &mut Context<Self>, input: impl FnOnce(&mut R, u64, &mut Vec<Output>) -> T) -> T {
        let now = now_ms();
        let mut out = Vec::new();
        let r = input(&mut self.role, now, &mut out);
        self.role.tick(now, &mut out);
        if let Some(at) = self.role.deadline() {
            out.push(Output::Wakeup(at));
        }
        // Retry events the bus refused before.
        self.publish(ctx);
        self.carry_out(out, ctx);
        if !self.failed
            && let Err(e) = self.deps.bus.check()
        {
            self.fail(ctx, &format!("the bus failed: {e}"));
        }
        self.queued.set(self.unpublished.len() as i64);
        self.retry_publish(ctx);
        r
    }
}

impl<R: Role> Actor for RoleHost<R> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX);
        self.deps.local.add(R::SERVICE, ctx.address().recipient());
        if let Some(mut sub) = self.sub.take() {
            let me = ctx.address();
            actix::spawn(async move {
                loop {
                    let Some(RoleEvent(e)) = sub.recv().await else {
                        let why = sub.failure().map_or_else(|| "the bus closed".into(), |e| e.to_string());
                        me.do_send(BusLost(why));
                        break;
                    };
                    // The handler persists before it returns: once it answers, the bus may
                    // move past the event (Kafka stores the offset).
                    // Not settled (its own events still on their way): the offset stays; a later
                    // settled event commits past both.
                    match me.send(FromBus(e)).await {
                        Ok(Some(true)) => sub.commit(),
                        Ok(Some(false)) => {}
                        Ok(None) | Err(_) => break,
                    }
                }
            });
        }
        self.step(ctx, |r, now, out| r.start(now, out));
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.deps.stopped.raise();
    }
}

impl<R: Role> Handler<FromBus> for RoleHost<R> {
    type Result = Option<bool>;
    fn handle(&mut self, m: FromBus, ctx: &mut Context<Self>) -> Option<bool> {
        if self.failed {
            return None;
        }
        // A hole in the stream: blocks were stored and their announcements lost (the ledger
        // was killed before the broker took them). The role cannot follow past it; the
        // ledger's store holds every block, and a restart rebuilds from it.
        if let Event::Certified(cb, _) = &*m.0
            && cb.block.height() > self.role.height() + 1
        {
            let why = format!(
                "certified block {} came while this service follows height {}: announcements are missing",
                cb.block.height(),
                self.role.height()
            );
            self.fail(ctx, &why);
            return None;
        }
        if let Event::Phase(h, daoli_protocol::roles::Phase::Stalled) = &*m.0
            && *h == self.role.height() + 1
        {
            tracing::warn!(service = R::SERVICE, height = *h, state = %self.role.describe(), "cycle stalled: nothing certified for 3 cycle lengths or more");
        }
        self.step(ctx, |r, now, out| r.on_event(now, &m.0, out));
        (!self.failed).then(|| self.unpublished.is_empty() && self.deps.bus.settled())
    }
}

impl<R: Role> Handler<Deliver> for RoleHost<R> {
    type Result = Result<(), Reject>;
    fn handle(&mut self, m: Deliver, ctx: &mut Context<Self>) -> Self::Result {
        // Peer messages are not refused for a full bus: a peer takes a refusal as final, and
        // votes or blocks lost that way cost liveness. Their volume is bounded upstream (per-
        // peer rate and in-flight limits, the inbound task bound, this mailbox).
        let r = self.step(ctx, |r, now, out| r.on_msg(now, m.from, m.msg, out));
        if let Err(e) = &r
            && *e != Reject::Future
        {
            self.refused.inc();
        }
        r
    }
}

impl<R: Role> Handler<BusLost> for RoleHost<R> {
    type Result = ();
    fn handle(&mut self, m: BusLost, ctx: &mut Context<Self>) {
        if !self.failed {
            self.fail(ctx, &format!("the bus subscription ended: {}", m.0));
        }
    }
}

impl<R: Role> Handler<Mined> for RoleHost<R> {
    type Result = ();
    fn handle(&mut self, m: Mined, ctx: &mut Context<Self>) {
        let _ = self.step(ctx, |r, now, out| r.on_mined(now, m.0, out));
    }
}

impl<R: Role> Handler<SubmitLot> for RoleHost<R> {
    type Result = Result<(), Reject>;
    fn handle(&mut self, m: SubmitLot, ctx: &mut Context<Self>) -> Self::Result {
        self.backed_up()?;
        self.step(ctx, |r, now, out| r.on_mined(now, m.0, out))
    }
}

impl<R: Role> RoleHost<R> {
    /// Client transactions in one step: every one that is accepted is persisted in the same
    /// store transaction, and answered once it is durable.
    fn submit(&mut self, txs: Vec<SubmitTx>, ctx: &mut Context<Self>) -> Vec<TxAnswer> {
        if let Err(e) = self.backed_up() {
            return txs.iter().map(|_| Err(e.clone())).collect();
        }
        let mut clients = Vec::with_capacity(txs.len());
        let mut answers = Vec::with_capacity(txs.len());
        for _ in &txs {
            let client = self.next_client;
            self.next_client += 1;
            let (tx, rx) = oneshot::channel();
            self.replies.insert(client, tx);
            clients.push(client);
            answers.push(rx);
        }
        let verdicts = self.step(ctx, |r, now, out| {
            txs.into_iter()
                .zip(&clients)
                .map(|(m, &client)| {
                    let msg = Msg::Tx {
                        client,
                        slot: m.slot,
                        tx: m.tx,
                    };
                    r.on_msg(now, m.from, msg, out)
                })
                .collect::<Vec<_>>()
        });
        // A role that answers clients replied in the same step; drop what it did not answer.
        for c in &clients {
            self.replies.remove(c);
        }
        verdicts
            .into_iter()
            .zip(answers)
            .map(|(v, rx)| v.map(|()| rx))
            .collect()
    }
}

/// What a submitted transaction gets: refused outright, or a receiver of the kernel buffer's
/// answer, sent once the transaction is durable (or refused by the buffer).
pub type TxAnswer = Result<oneshot::Receiver<Result<(), BufferError>>, Reject>;

/// Client transactions taken together (group commit): one step and one store transaction.
#[derive(Debug, Message)]
#[rtype(result = "Vec<TxAnswer>")]
pub struct SubmitTxs(pub Vec<SubmitTx>);

impl<R: Role> Handler<SubmitTx> for RoleHost<R> {
    type Result = TxAnswer;
    fn handle(&mut self, m: SubmitTx, ctx: &mut Context<Self>) -> Self::Result {
        self.submit(vec![m], ctx).pop().expect("one answer per transaction")
    }
}

impl<R: Role> Handler<SubmitTxs> for RoleHost<R> {
    type Result = MessageResult<SubmitTxs>;
    fn handle(&mut self, m: SubmitTxs, ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.submit(m.0, ctx))
    }
}

impl<R: Role, T: Send + 'static> Handler<Inspect<R, T>> for RoleHost<R> {
    type Result = MessageResult<Inspect<R, T>>;
    fn handle(&mut self, m: Inspect<R, T>, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult((m.0)(&self.role))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{Entry, Fakes};
    use daoli_protocol::codec::Hash32;
    use daoli_protocol::roles::Phase;
    use daoli_protocol::tx::{Transaction, TxKind};
    use std::sync::atomic::Ordering;

    /// A role that answers each client transaction and publishes `burst` events for it; a
    /// peer message publishes one.
    #[derive(Debug)]
    struct Chatty {
        burst: usize,
    }

    impl Role for Chatty {
        const SERVICE: &'static str = "kernel-buffer";
        fn on_event(&mut self, _now: u64, _ev: &Event, _out: &mut Vec<Output>) {}
        fn on_msg(&mut self, _now: u64, _from: PublicKey, msg: Msg, out: &mut Vec<Output>) -> Result<(), Reject> {
            let n = match msg {
                Msg::Tx { client, tx, .. } => {
                    out.push(Output::Reply {
                        client,
                        tx_hash: tx.hash(),
                        result: Ok(()),
                    });
                    self.burst
                }
                _ => 1,
            };
            out.extend((0..n).map(|_| Output::Event(Event::Phase(1, Phase::Start))));
            Ok(())
        }
        fn height(&self) -> u64 {
            0
        }
    }

    fn submit(nonce: u64) -> SubmitTx {
        let k = daoli_protocol::crypto::Keypair::from_label("host-test/client");
        let tx = Transaction::new(
            &k,
            &Hash32([1; 32]),
            nonce,
            1,
            TxKind::Transfer {
                to: k.public(),
                amount: 1,
            },
            vec![],
        );
        SubmitTx {
            tx,
            slot: 0,
            from: k.public(),
        }
    }

    fn published(f: &Fakes) -> usize {
        f.log
            .entries()
            .iter()
            .filter(|e| matches!(e, Entry::Published(_)))
            .count()
    }

    // A full bus must not let clients grow the events a role holds without bound, must not
    // stall peers (votes refused as busy would cost liveness), and must not leave held events
    // behind when room returns and no further input comes to push them out.
    #[actix::test]
    async fn a_full_bus_holds_events_refuses_clients_past_the_bound_and_drains_by_itself() {
        let f = Fakes::default();
        let me = PublicKey([7; 32]);
        let addr = RoleHost::new(Chatty { burst: UNPUBLISHED }, f.deps(me, Hash32([1; 32])))
            .unwrap()
            .start();
        f.bus.full.store(true, Ordering::SeqCst);
        // The first transaction is taken; its events are held.
        let rx = addr.send(submit(0)).await.unwrap().expect("taken: nothing is held yet");
        assert_eq!(rx.await.unwrap(), Ok(()));
        assert_eq!(published(&f), 0);
        // Now UNPUBLISHED events are held: clients are refused as busy, and nothing is added.
        let refused = addr.send(submit(1)).await.unwrap();
        assert!(
            matches!(refused, Err(Reject::Busy(_, UNPUBLISHED))),
            "{:?}",
            refused.map(|_| ())
        );
        let refused = addr.send(SubmitTxs(vec![submit(2), submit(3)])).await.unwrap();
        assert!(refused.iter().all(|r| matches!(r, Err(Reject::Busy(..)))));
        // A peer's message is still taken.
        let peer = Deliver {
            from: PublicKey([8; 32]),
            msg: Msg::SyncRequest { from: 1 },
        };
        assert_eq!(addr.send(peer).await.unwrap(), Ok(()));
        // Room returns; with no further input, the retry timer publishes every held event.
        f.bus.full.store(false, Ordering::SeqCst);
        let start = std::time::Instant::now();
        while published(&f) < UNPUBLISHED + 1 {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "held events not published: {}",
                published(&f)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(published(&f), UNPUBLISHED + 1, "each once, none lost");
        // And clients are taken again.
        let rx = addr.send(submit(1)).await.unwrap().expect("taken again");
        assert_eq!(rx.await.unwrap(), Ok(()));
    }

    // Peers and timers still add events while clients are refused; past a hard bound the
    // service stops (its supervisor restarts it from the stores) rather than grow.
    #[actix::test]
    async fn a_bus_that_takes_nothing_stops_the_service_past_the_hard_bound() {
        let f = Fakes::default();
        let deps = f.deps(PublicKey([7; 32]), Hash32([1; 32]));
        let stopped = deps.stopped.clone();
        let addr = RoleHost::new(Chatty { burst: UNPUBLISHED }, deps).unwrap().start();
        f.bus.full.store(true, Ordering::SeqCst);
        let rx = addr.send(submit(0)).await.unwrap().expect("taken");
        assert_eq!(rx.await.unwrap(), Ok(()));
        let peer = || Deliver {
            from: PublicKey([8; 32]),
            msg: Msg::SyncRequest { from: 1 },
        };
        for _ in 0..UNPUBLISHED_LIMIT - UNPUBLISHED {
            assert_eq!(addr.send(peer()).await.unwrap(), Ok(()));
        }
        assert!(!stopped.raised(), "at the bound, the service runs");
        let _ = addr.send(peer()).await;
        tokio::time::timeout(Duration::from_secs(10), stopped.wait())
            .await
            .expect("past the bound the service stops");
        assert_eq!(published(&f), 0);
    }

    // A bus that refuses an event for good (too large for the broker, a producer that lost
    // events) must not be mistaken for a full one: holding the event would stall everything
    // after it for ever. The service stops, and a restart starts over from its store.
    #[actix::test]
    async fn a_bus_that_refuses_for_good_stops_the_service() {
        let f = Fakes::default();
        let deps = f.deps(PublicKey([7; 32]), Hash32([1; 32]));
        let stopped = deps.stopped.clone();
        let addr = RoleHost::new(Chatty { burst: 1 }, deps).unwrap().start();
        assert!(!stopped.raised());
        f.bus.refuse.store(true, Ordering::SeqCst);
        let _ = addr.send(submit(0)).await.unwrap();
        let start = std::time::Instant::now();
        while addr.connected() {
            assert!(start.elapsed() < Duration::from_secs(30), "the service did not stop");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(addr.send(submit(1)).await.is_err(), "nothing is taken any more");
        assert_eq!(published(&f), 0);
        // Its process hears of it (and exits, for its supervisor to restart it).
        tokio::time::timeout(Duration::from_secs(10), stopped.wait())
            .await
            .expect("the stop is signalled");
    }

    // A certified block more than one height ahead of what a role follows means the
    // datacenter's event stream lost announcements (the ledger was killed between storing
    // blocks and the broker taking their events). The role cannot follow past the hole, and
    // silently ignoring it stalls the datacenter: the service stops, so that its supervisor
    // restarts it from the ledger's store. The next block is taken as usual.
    #[actix::test]
    async fn a_certified_block_past_a_hole_stops_the_service() {
        let net = crate::fakes::TestNet::new();
        let blocks = net.certified(2);
        let follower = |f: &Fakes| {
            let deps = f.deps(PublicKey([7; 32]), net.chain());
            let stopped = deps.stopped.clone();
            let lottery = daoli_protocol::roles::lottery::Lottery::new(net.genesis.clone()).unwrap();
            (RoleHost::new(lottery, deps).unwrap().start(), stopped)
        };
        let certified = |i: usize| Event::Certified(Box::new(blocks[i].0.clone()), blocks[i].1.clone());
        let f = Fakes::default();
        let (addr, stopped) = follower(&f);
        f.bus.inject(certified(0));
        f.bus.inject(certified(1));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(addr.connected() && !stopped.raised(), "blocks in order are followed");
        let f = Fakes::default();
        let (addr, stopped) = follower(&f);
        f.bus.inject(certified(1));
        tokio::time::timeout(Duration::from_secs(10), stopped.wait())
            .await
            .expect("a hole stops the service");
        assert!(!addr.connected());
    }

    // A role that cannot join its bus would run deaf: start-up stops instead. One whose
    // subscription ends while it runs (Kafka: a permission taken away) stops, rather than run
    // on without the datacenter's events.
    #[actix::test]
    async fn a_refused_or_ended_subscription_stops_the_service() {
        let f = Fakes::default();
        f.bus.refuse.store(true, Ordering::SeqCst);
        let e = RoleHost::new(Chatty { burst: 1 }, f.deps(PublicKey([7; 32]), Hash32([1; 32])))
            .map(drop)
            .unwrap_err();
        assert!(matches!(e, crate::bus::BusError::NotAllowed { .. }), "{e}");

        let f = Fakes::default();
        let deps = f.deps(PublicKey([7; 32]), Hash32([1; 32]));
        let stopped = deps.stopped.clone();
        let addr = RoleHost::new(Chatty { burst: 1 }, deps).unwrap().start();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(addr.connected() && !stopped.raised(), "runs while subscribed");
        f.bus.close();
        tokio::time::timeout(Duration::from_secs(10), stopped.wait())
            .await
            .expect("the service stops once its subscription ended");
        assert!(addr.send(submit(0)).await.is_err(), "nothing is taken any more");
    }

    /// A kernel buffer that, on any peer message, asks its own datacenter's ledger for blocks.
    #[derive(Debug)]
    struct AsksOwnLedger {
        me: PublicKey,
        /// Who handed transactions over to it.
        forwards: Vec<PublicKey>,
    }

    impl Role for AsksOwnLedger {
        const SERVICE: &'static str = "kernel-buffer";
        fn on_event(&mut self, _now: u64, _ev: &Event, _out: &mut Vec<Output>) {}
        fn on_msg(&mut self, _now: u64, from: PublicKey, msg: Msg, out: &mut Vec<Output>) -> Result<(), Reject> {
            match msg {
                Msg::Forward(_) => self.forwards.push(from),
                _ => {
                    out.push(Output::Send(self.me, Msg::SyncRequest { from: 1 }));
                    out.push(Output::Send(self.me, Msg::Forward(vec![])));
                }
            }
            Ok(())
        }
        fn height(&self) -> u64 {
            0
        }
    }

    // A message for a service of this datacenter goes to it directly when it runs in this
    // process, and through the peer transport (to this datacenter's own entry) when it runs in
    // another; it is never dropped.
    #[actix::test]
    async fn a_send_to_an_own_service_in_another_process_goes_through_the_peers() {
        let f = Fakes::default();
        let me = PublicKey([7; 32]);
        let role = AsksOwnLedger { me, forwards: vec![] };
        let addr = RoleHost::new(role, f.deps(me, Hash32([1; 32]))).unwrap().start();
        let peer = Deliver {
            from: PublicKey([8; 32]),
            msg: Msg::SyncRequest { from: 1 },
        };
        assert_eq!(addr.send(peer).await.unwrap(), Ok(()));
        // The kernel buffer is here: straight to it, from this datacenter.
        let start = std::time::Instant::now();
        while addr
            .send(Inspect(Box::new(|r: &AsksOwnLedger| r.forwards.clone())))
            .await
            .unwrap()
            != vec![me]
        {
            assert!(start.elapsed() < Duration::from_secs(10), "the forward never came");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The ledger is not here: through the peers, to this datacenter; nothing else left.
        let sent: Vec<(Option<PublicKey>, Msg)> = f
            .log
            .entries()
            .into_iter()
            .filter_map(|e| match e {
                Entry::Sent(to, m) => Some((to, m)),
                _ => None,
            })
            .collect();
        assert_eq!(sent, vec![(Some(me), Msg::SyncRequest { from: 1 })]);
    }
}
