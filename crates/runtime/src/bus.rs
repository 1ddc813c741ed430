//! The datacenter's event log: services publish events on topics `daoli.<datacenter>.<event>`
//! and consume them as consumer groups.
//!
//! [`Bus`] is the interface (Kafka will implement it too); [`InProcBus`] is the in-process
//! implementation for devnet. It models Kafka's semantics closely enough that services written
//! against it keep working on Kafka:
//!
//! - A topic has a fixed number of *partitions*; an event goes to partition `key % partitions`,
//!   so events with one key (the height) stay in publish order.
//! - Every consumer group sees every event published after it joined, once. Within a group each
//!   partition is owned by one member (partitions are spread over the members); when a member
//!   leaves, its partitions, with their queued events in order, go to the others. When the
//!   last member leaves, the group and its queue are dropped (nothing would read them).
//! - Unlike Kafka there is no retention: an event published while a group does not exist is not
//!   delivered to it. Consumers must be idempotent anyway (events carry the height and hash they
//!   are about), and a service that starts catches up from its store and peers, not the bus.
//!
//! Memory is bounded: each (group, partition) queue holds at most `capacity` events. When one
//! an event must go to is full, [`Bus::try_publish`] fails with [`BusError::Full`] and
//! [`Bus::publish`] waits for room (back-pressure). Each subscriber's queue length is the gauge
//! `daoli_bus_queue_events{topic, group, member}`.

use crate::metrics::{Metrics, Unit};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::Notify;

pub mod kafka;

/// A future that can cross threads, boxed so that [`Bus`] can be a trait object (the bus kind
/// is chosen by configuration at run time).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A bus payload. Events are defined by the services; the bus needs only their topic and key.
pub trait Event: Clone + Send + Sync + 'static {
    /// The event's name, the last part of its topic `daoli.<datacenter>.<event>`, e.g.
    /// `certified`.
    fn topic(&self) -> &'static str;
    /// The ordering key: events with one key are delivered in publish order (the height).
    fn key(&self) -> u64;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    #[error("{topic}: the queue of group {group:?} is full ({capacity} events)")]
    Full {
        topic: String,
        group: String,
        capacity: usize,
    },
    #[error("the bus is closed")]
    Closed,
    /// The broker (or the client library) refused the event; it was not published.
    #[error("the broker refused the event: {0}")]
    Broker(String),
    #[error("{0:?} is not a name: use 1-100 of a-z, 0-9, '-', '_' and '.'")]
    BadName(String),
    /// This client's user lacks a permission (an ACL): waiting will not help.
    #[error("{resource}: not allowed to {operation} it (check the ACLs of this client's user): {why}")]
    NotAllowed {
        /// e.g. `Kafka consumer group daoli.dc0.ledger`.
        resource: String,
        operation: &'static str,
        why: String,
    },
}

/// A datacenter's event bus.
pub trait Bus<E: Event>: Send + Sync {
    /// `daoli.<datacenter>.<event>`.
    fn topic(&self, event: &str) -> String;
    /// Publishes now, or fails with [`BusError::Full`] (and publishes nowhere).
    fn try_publish(&self, event: &E) -> Result<(), BusError>;
    /// Publishes, waiting while a queue it must go to is full.
    fn publish<'a>(&'a self, event: &'a E) -> BoxFuture<'a, Result<(), BusError>>;
    /// Joins consumer group `group` on the topic of `event` (an event name such as `certified`).
    fn subscribe(&self, event: &str, group: &str) -> Result<Box<dyn Subscriber<E>>, BusError>;
    /// An error once the bus lost an event it had taken (a delivery that failed for good): the
    /// stream has a hole, and the publishing service must stop rather than go on.
    fn check(&self) -> Result<(), BusError> {
        Ok(())
    }
    /// Whether every event taken so far is delivered (in-process: at once).
    fn settled(&self) -> bool {
        true
    }
}

/// One member of a consumer group. Dropping it leaves the group.
pub trait Subscriber<E: Event>: Send + fmt::Debug {
    /// The next event, waiting for one; `None` once the bus is closed and this member's queue
    /// is drained.
    fn recv(&mut self) -> BoxFuture<'_, Option<E>>;
    fn try_recv(&mut self) -> Option<E>;
    /// Events queued for this member now.
    fn queued(&self) -> usize;
    /// The event `recv` returned last has had its effect made durable: the group may move past
    /// it (Kafka: its offset is stored). Until then a restarted member sees it again.
    fn commit(&mut self) {}
    /// Why `recv` returned `None`, if not because the bus closed: the subscription failed for
    /// good (Kafka: a permission was taken away), and the service must stop.
    fn failure(&self) -> Option<BusError> {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InProcOptions {
    /// Partitions per topic: at most this many members of one group get events.
    pub partitions: usize,
    /// Events each (group, partition) queue holds before publishers are held back.
    pub capacity: usize,
}

impl Default for InProcOptions {
    fn default() -> Self {
        InProcOptions {
            partitions: 8,
            capacity: 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct QueueLabels {
    topic: String,
    group: String,
    member: String,
}

/// The in-process bus of one datacenter. Cheap to share behind an `Arc`.
pub struct InProcBus<E: Event> {
    datacenter: String,
    opts: InProcOptions,
    topics: Mutex<HashMap<String, Arc<Topic<E>>>>,
    next_member: AtomicU64,
    gauges: Family<QueueLabels, Gauge>,
}

impl<E: Event> fmt::Debug for InProcBus<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcBus")
            .field("datacenter", &self.datacenter)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

struct Topic<E> {
    name: String,
    state: Mutex<TopicState<E>>,
    /// Signalled whenever a queue of this topic shrinks, for waiting publishers.
    space: Notify,
}

struct TopicState<E> {
    closed: bool,
    groups: BTreeMap<String, Group<E>>,
}

struct Group<E> {
    queues: Vec<VecDeque<E>>,
    /// Partition -> owning member.
    owner: Vec<u64>,
    members: BTreeMap<u64, Member>,
}

struct Member {
    wake: Arc<Notify>,
    gauge: Gauge,
}

impl<E> Group<E> {
    /// Spreads the partitions over the members (round robin in member order) and wakes them all,
    /// so a member that gained a non-empty partition starts draining it.
    fn rebalance(&mut self) {
        let ids: Vec<u64> = self.members.keys().copied().collect();
        for (p, o) in self.owner.iter_mut().enumerate() {
            *o = ids[p % ids.len()];
        }
        for (id, m) in &self.members {
            m.gauge.set(self.queued_for(*id) as i64);
            m.wake.notify_one();
        }
    }

    fn queued_for(&self, member: u64) -> usize {
        self.owner
            .iter()
            .zip(&self.queues)
            .filter(|(o, _)| **o == member)
            .map(|(_, q)| q.len())
            .sum()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The critical sections only move events between queues; a panic in one leaves them valid.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn check_name(s: &str) -> Result<(), BusError> {
    let ok = !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(BusError::BadName(s.to_string()))
    }
}

impl<E: Event> InProcBus<E> {
    pub fn new(datacenter: &str, opts: InProcOptions) -> Self {
        InProcBus {
            datacenter: datacenter.to_string(),
            opts: InProcOptions {
                partitions: opts.partitions.max(1),
                capacity: opts.capacity.max(1),
            },
            topics: Mutex::new(HashMap::new()),
            next_member: AtomicU64::new(0),
            gauges: Family::default(),
        }
    }

    /// Adds the per-subscriber queue gauges to `metrics`.
    pub fn register(&self, metrics: &Metrics) {
        metrics.register(
            "bus_queue",
            "Events queued for one consumer-group member",
            Unit::Events,
            self.gauges.clone(),
        );
    }

    /// Refuses further publishing and lets subscribers drain what is queued, then end.
    pub fn close(&self) {
        for t in lock(&self.topics).values() {
            let mut s = lock(&t.state);
            s.closed = true;
            for g in s.groups.values() {
                for m in g.members.values() {
                    m.wake.notify_one();
                }
            }
            drop(s);
            t.space.notify_waiters();
        }
    }

    fn topic_for(&self, event: &str) -> Arc<Topic<E>> {
        let name = self.topic(event);
        lock(&self.topics)
            .entry(name.clone())
            .or_insert_with(|| {
                Arc::new(Topic {
                    name,
                    state: Mutex::new(TopicState {
                        closed: false,
                        groups: BTreeMap::new(),
                    }),
                    space: Notify::new(),
                })
            })
            .clone()
    }

    fn push(&self, topic: &Topic<E>, event: &E) -> Result<(), BusError> {
        let mut s = lock(&topic.state);
        if s.closed {
            return Err(BusError::Closed);
        }
        let p = (event.key() % self.opts.partitions as u64) as usize;
        // All or nothing: check every group before queueing in any.
        if let Some((name, _)) = s.groups.iter().find(|(_, g)| g.queues[p].len() >= self.opts.capacity) {
            return Err(BusError::Full {
                topic: topic.name.clone(),
                group: name.clone(),
                capacity: self.opts.capacity,
            });
        }
        for g in s.groups.values_mut() {
            g.queues[p].push_back(event.clone());
            let m = &g.members[&g.owner[p]];
            m.gauge.inc();
            m.wake.notify_one();
        }
        Ok(())
    }
}

impl<E: Event> Bus<E> for InProcBus<E> {
    fn topic(&self, event: &str) -> String {
        format!("daoli.{}.{event}", self.datacenter)
    }

    fn try_publish(&self, event: &E) -> Result<(), BusError> {
        self.push(&self.topic_for(event.topic()), event)
    }

    fn publish<'a>(&'a self, event: &'a E) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            let topic = self.topic_for(event.topic());
            loop {
                // Registered before trying, so a pop between the try and the wait is not missed.
                let space = topic.space.notified();
                tokio::pin!(space);
                space.as_mut().enable();
                match self.push(&topic, event) {
                    Err(BusError::Full { .. }) => space.await,
                    done => return done,
                }
            }
        })
    }

    fn subscribe(&self, event: &str, group: &str) -> Result<Box<dyn Subscriber<E>>, BusError> {
        check_name(event)?;
        check_name(group)?;
        let topic = self.topic_for(event);
        let id = self.next_member.fetch_add(1, Ordering::Relaxed);
        let labels = QueueLabels {
            topic: topic.name.clone(),
            group: group.to_string(),
            member: id.to_string(),
        };
        let wake = Arc::new(Notify::new());
        {
            let mut s = lock(&topic.state);
            let g = s.groups.entry(group.to_string()).or_insert_with(|| Group {
                queues: (0..self.opts.partitions).map(|_| VecDeque::new()).collect(),
                owner: vec![id; self.opts.partitions],
                members: BTreeMap::new(),
            });
            g.members.insert(
                id,
                Member {
                    wake: wake.clone(),
                    gauge: self.gauges.get_or_create(&labels).clone(),
                },
            );
            g.rebalance();
        }
        Ok(Box::new(InProcSubscriber {
            topic,
            group: group.to_string(),
            id,
            wake,
            next: 0,
            gauges: self.gauges.clone(),
            labels,
        }))
    }
}

/// A member of a consumer group of an [`InProcBus`].
pub struct InProcSubscriber<E> {
    topic: Arc<Topic<E>>,
    group: String,
    id: u64,
    wake: Arc<Notify>,
    /// Where the next round-robin scan over owned partitions starts (fairness across keys).
    next: usize,
    gauges: Family<QueueLabels, Gauge>,
    labels: QueueLabels,
}

impl<E> fmt::Debug for InProcSubscriber<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcSubscriber")
            .field("topic", &self.topic.name)
            .field("group", &self.group)
            .field("member", &self.id)
            .finish()
    }
}

impl<E: Event> InProcSubscriber<E> {
    /// `Some(event)`, or `None` with whether the topic is closed.
    fn pop(&mut self) -> Result<E, bool> {
        let mut s = lock(&self.topic.state);
        let closed = s.closed;
        let g = s.groups.get_mut(&self.group).expect("a member's group exists");
        let n = g.queues.len();
        for i in 0..n {
            let p = (self.next + i) % n;
            if g.owner[p] == self.id
                && let Some(e) = g.queues[p].pop_front()
            {
                self.next = (p + 1) % n;
                g.members[&self.id].gauge.dec();
                drop(s);
                self.topic.space.notify_waiters();
                return Ok(e);
            }
        }
        Err(closed)
    }
}

impl<E: Event> Subscriber<E> for InProcSubscriber<E> {
    fn recv(&mut self) -> BoxFuture<'_, Option<E>> {
        Box::pin(async move {
            loop {
                let wake = self.wake.clone();
                let woken = wake.notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                match self.pop() {
                    Ok(e) => return Some(e),
                    Err(true) => return None,
                    Err(false) => woken.await,
                }
            }
        })
    }

    fn try_recv(&mut self) -> Option<E> {
        self.pop().ok()
    }

    fn queued(&self) -> usize {
        let s = lock(&self.topic.state);
        s.groups.get(&self.group).map_or(0, |g| g.queued_for(self.id))
    }
}

impl<E> Drop for InProcSubscriber<E> {
    fn drop(&mut self) {
        let mut s = lock(&self.topic.state);
        if let Some(g) = s.groups.get_mut(&self.group) {
            g.members.remove(&self.id);
            if g.members.is_empty() {
                // Nobody would drain it; keeping it would hold publishers back for good.
                s.groups.remove(&self.group);
            } else {
                g.rebalance();
            }
        }
        drop(s);
        self.gauges.remove(&self.labels);
        self.topic.space.notify_waiters();
    }
}

#[cfg(test)]
mod tests;
