//! Fakes for testing a service's actor against its role machine: a bus, a store and a peer
//! sink that write everything the actor does into one ordered log, so a test can check what
//! left and in which order (a persistence request durable before the output after it).

use crate::bus::{BoxFuture, Bus, BusError, InProcBus, InProcOptions, Subscriber};
use crate::host::{PeerSink, RoleEvent};
use crate::store::{Persist, Recovered, Store, StoreError};
use daoli_protocol::crypto::PublicKey;
use daoli_protocol::node::Msg;
use daoli_protocol::roles::Event;
use daoli_protocol::vote::{Vote, VoteKey};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// One thing the actor did. (Test-only: an unboxed event keeps the tests' patterns plain.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Entry {
    /// A store transaction, by kind of request (`tx`, `vote`, `signed`, `evidence`, `block`).
    Stored(Vec<&'static str>),
    Published(Event),
    /// A message to one peer (`Some`) or to all (`None`).
    Sent(Option<PublicKey>, Msg),
}

/// The ordered log the fakes share.
#[derive(Debug, Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Entry>>>);

impl Log {
    fn push(&self, e: Entry) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(e);
    }
    pub fn entries(&self) -> Vec<Entry> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
    /// Index of the first entry matching `f`.
    pub fn position(&self, f: impl Fn(&Entry) -> bool) -> Option<usize> {
        self.entries().iter().position(f)
    }
}

/// A store that keeps nothing and logs each write; `fail` makes writes fail.
#[derive(Debug, Default)]
pub struct FakeStore {
    pub log: Log,
    pub fail: AtomicBool,
}

impl Store for FakeStore {
    fn write(&self, batch: &[Persist<'_>]) -> Result<(), StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Task("the fake store fails on purpose".into()));
        }
        self.log.push(Entry::Stored(
            batch
                .iter()
                .map(|p| match p {
                    Persist::Tx(_) => "tx",
                    Persist::ForgetTxs(_) => "forget",
                    Persist::Signed(_) => "signed",
                    Persist::Evidence(_) => "evidence",
                    Persist::Vote(_) => "vote",
                    Persist::Block(..) => "block",
                })
                .collect(),
        ));
        Ok(())
    }
    fn recover(&self) -> Result<Recovered, StoreError> {
        Ok(Recovered::default())
    }
    fn vote(&self, _key: &VoteKey) -> Result<Option<Vote>, StoreError> {
        Ok(None)
    }
    fn votes_between(&self, _from: u64, _to: u64) -> Result<Vec<Vote>, StoreError> {
        Ok(Vec::new())
    }
    fn prune_below(&self, _height: u64) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A peer sink that logs.
#[derive(Debug, Default)]
pub struct FakePeers {
    pub log: Log,
}

impl PeerSink for FakePeers {
    fn send(&self, to: &PublicKey, msg: Msg) {
        self.log.push(Entry::Sent(Some(*to), msg));
    }
    fn broadcast(&self, msg: Msg) {
        self.log.push(Entry::Sent(None, msg));
    }
}

/// An in-process bus that logs what the actor publishes; a test feeds events with `inject`.
/// While `full` is set it has no room: `try_publish` fails as a full queue would; while
/// `refuse` is set it refuses for good, as a broker that cannot take an event would, and
/// refuses subscriptions as a broker would a client without the permission.
pub struct FakeBus {
    pub log: Log,
    pub full: AtomicBool,
    pub refuse: AtomicBool,
    inner: InProcBus<RoleEvent>,
}

impl std::fmt::Debug for FakeBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FakeBus")
    }
}

impl FakeBus {
    pub fn new(log: Log) -> Self {
        FakeBus {
            log,
            full: AtomicBool::new(false),
            refuse: AtomicBool::new(false),
            inner: InProcBus::new(
                "test",
                InProcOptions {
                    partitions: 1,
                    capacity: 4096,
                },
            ),
        }
    }
    /// An event from another service (not logged).
    pub fn inject(&self, e: Event) {
        self.inner
            .try_publish(&RoleEvent(Arc::new(e)))
            .expect("room on the test bus");
    }
    /// Ends every subscription, as a lost permission ends a Kafka consumer's.
    pub fn close(&self) {
        self.inner.close();
    }
}

impl Bus<RoleEvent> for FakeBus {
    fn topic(&self, event: &str) -> String {
        self.inner.topic(event)
    }
    fn try_publish(&self, event: &RoleEvent) -> Result<(), BusError> {
        if self.refuse.load(Ordering::SeqCst) {
            return Err(BusError::Broker("refused on purpose".into()));
        }
        if self.full.load(Ordering::SeqCst) {
            return Err(BusError::Full {
                topic: self.topic("events"),
                group: "test".into(),
                capacity: 0,
            });
        }
        // Logged once taken: a refused event is offered again.
        self.inner.try_publish(event)?;
        self.log.push(Entry::Published((*event.0).clone()));
        Ok(())
    }
    fn publish<'a>(&'a self, event: &'a RoleEvent) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            self.inner.publish(event).await?;
            self.log.push(Entry::Published((*event.0).clone()));
            Ok(())
        })
    }
    fn subscribe(&self, event: &str, group: &str) -> Result<Box<dyn Subscriber<RoleEvent>>, BusError> {
        if self.refuse.load(Ordering::SeqCst) {
            return Err(BusError::NotAllowed {
                resource: format!("group {group}"),
                operation: "join",
                why: "refused on purpose".into(),
            });
        }
        self.inner.subscribe(event, group)
    }
}

/// Fakes sharing one log, and the host dependencies built on them.
#[derive(Debug)]
pub struct Fakes {
    pub log: Log,
    pub store: Arc<FakeStore>,
    pub bus: Arc<FakeBus>,
    pub peers: Arc<FakePeers>,
}

impl Default for Fakes {
    fn default() -> Self {
        let log = Log::default();
        Fakes {
            store: Arc::new(FakeStore {
                log: log.clone(),
                fail: AtomicBool::new(false),
            }),
            bus: Arc::new(FakeBus::new(log.clone())),
            peers: Arc::new(FakePeers { log: log.clone() }),
            log,
        }
    }
}

impl Fakes {
    pub fn deps(&self, datacenter: PublicKey, chain: daoli_protocol::codec::ChainId) -> crate::host::HostDeps {
        crate::host::HostDeps {
            datacenter,
            chain,
            store: self.store.clone(),
            bus: self.bus.clone(),
            peers: self.peers.clone(),
            local: crate::host::LocalRoutes::default(),
            metrics: crate::metrics::Metrics::new(),
            on_committed: None,
            stopped: crate::host::StopSignal::default(),
        }
    }
}

/// A two-datacenter test network: `dcs[0]` holds every seat, `dcs[1]` sponsors the lots that
/// may lead at height 1 (the seed producer of block 0 may not), `client` is funded.
#[derive(Debug, Clone)]
pub struct TestNet {
    pub genesis: daoli_protocol::params::Genesis,
    pub dcs: Vec<daoli_protocol::params::Identity>,
    pub client: daoli_protocol::crypto::Keypair,
}

impl TestNet {
    pub fn new() -> Self {
        use daoli_protocol::params::{Genesis, Identity, PeriodicLottery};
        let dcs: Vec<Identity> = (0..2)
            .map(|i| Identity::from_label(&format!("svc-test/dc{i}")))
            .collect();
        let client = daoli_protocol::crypto::Keypair::from_label("svc-test/client");
        let mut g = Genesis::solo(&dcs[0], vec![(client.public(), 1 << 30)]);
        g.founders.push(dcs[1].datacenter("dc1.local:7000", g.params.min_bond));
        g.params.pow_bits = 4;
        g.periodic_lottery = Some(PeriodicLottery {
            every: 2,
            length: 1,
            price: 10,
            winners: 1,
        });
        TestNet {
            genesis: g,
            dcs,
            client,
        }
    }

    pub fn chain(&self) -> daoli_protocol::codec::ChainId {
        self.genesis.chain_id()
    }

    /// Certified blocks 1..=`heights` with their batches, made by both datacenters of this
    /// network running in simulated time (the core's `Datacenter`).
    pub fn certified(
        &self,
        heights: u64,
    ) -> Vec<(daoli_protocol::block::CertifiedBlock, Vec<daoli_protocol::block::Batch>)> {
        use daoli_protocol::datacenter::Datacenter;
        use daoli_protocol::roles::Output;
        let mut nodes: Vec<Datacenter> = self
            .dcs
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let miners = vec![daoli_protocol::crypto::Keypair::from_label(&format!(
                    "svc-test/miner{i}"
                ))];
                Datacenter::new(self.genesis.clone(), id.clone(), miners, i as u64, 0).expect("valid genesis")
            })
            .collect();
        let keys: Vec<PublicKey> = nodes.iter().map(|n| n.public()).collect();
        let mut t = 0;
        while nodes[0].height() < heights && t < heights * 20_000 {
            let mut inbox: Vec<(usize, Msg)> = Vec::new();
            for (i, n) in nodes.iter_mut().enumerate() {
                for o in n.tick(t) {
                    if let Output::Broadcast(m) = o {
                        inbox.push((i, m));
                    }
                }
            }
            while let Some((from, m)) = inbox.pop() {
                for (j, n) in nodes.iter_mut().enumerate() {
                    if j != from {
                        for o in n.handle(t, keys[from], m.clone()).0 {
                            if let Output::Broadcast(m2) = o {
                                inbox.push((j, m2));
                            }
                        }
                    }
                }
            }
            t += 10;
        }
        (1..=heights)
            .map(|h| nodes[0].full_block(h).expect("certified"))
            .collect()
    }
}

impl Default for TestNet {
    fn default() -> Self {
        Self::new()
    }
}

/// Waits (up to `secs`) until `ok` holds for the log.
pub async fn until(log: &Log, secs: u64, ok: impl Fn(&[Entry]) -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(secs) {
        if ok(&log.entries()) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    ok(&log.entries())
}
