//! The durable store of a service: what the role machines ask to persist, and the read that
//! rebuilds them after a restart.
//!
//! # Contract
//!
//! [`Store::write`] makes a list of [`Persist`] requests durable *atomically and before it
//! returns*: the shell calls it with the persistence requests of one output list and only then
//! lets the later outputs of that list (acknowledgements, broadcasts, votes) leave the process.
//! Either the whole list is on disk or none of it is.
//!
//! The store enforces the trustee's vote rule itself: a second, *different* vote for one
//! `(height, round, step)` is refused with [`StoreError::Conflict`] and nothing of its list is
//! written; the same vote again is accepted (a resend). The check and the insert happen in one
//! write transaction, so two handles, threads or (with a shared database server later) two
//! processes that race can never both get a conflicting vote acknowledged.
//!
//! [`Store::prune_below`] drops votes and signed messages of old heights so the store stays
//! bounded, and raises a *floor*: a vote or signed message below the floor is refused from then
//! on, so pruning can never re-open a slot for a second signature.
//!
//! # Embedded implementation: why redb
//!
//! [`EmbeddedStore`] uses [redb](https://www.redb.org) 3.1: a maintained, pure-Rust (no C
//! toolchain, nothing unsafe for us to audit beyond the crate), single-file, copy-on-write
//! B-tree with ACID transactions whose default durability (`Immediate`) fsyncs before
//! `commit` returns, and which recovers by itself from a crash mid-commit (checksummed
//! double-buffered commit slots). Its tables are typed and its range reads are ordered, which is
//! all this store needs (per-height ranges, sequence numbers). fjall 3 (an LSM) was the other
//! candidate; its strengths are write-heavy workloads with large values and background
//! compaction, which a service writing a few small records per cycle does not need, and its
//! journal plus segment files are more to get right on a crash than one file. redb 4.x exists
//! but needs Rust 1.90 while the workspace declares 1.89, so 3.1 is pinned.
//!
//! One redb file holds one or more *namespaces* (a table set named `<namespace>.<table>`, one
//! per service), so the seven services of a datacenter may share one file when they run in one
//! process ([`EmbeddedDb`] behind an `Arc`), or each use their own file in a shared data dir
//! ([`EmbeddedStore::open_in`] names it `<data_dir>/<namespace>.redb`). redb locks the file, so
//! two processes never open one file at the same time ([`StoreError::Locked`]).
//!
//! Each namespace records its format version; start-up runs the migrations from the stored
//! version to [`FORMAT_VERSION`] in one transaction and refuses a file written by a newer build
//! ([`StoreError::NewerFormat`]) instead of misreading it.
//!
//! # Values: why postcard
//!
//! Values are the core's types encoded with [postcard](https://docs.rs/postcard) 1: compact
//! (varints, no field names), deterministic for a given value (so equal records compare equal
//! as bytes, which the idempotence checks use), `serde`-based (the core types derive
//! `Serialize`/`Deserialize` and use no attribute a non-self-describing format cannot handle),
//! with a stable, documented wire format at 1.0. bincode was the other candidate, but it is
//! unmaintained: its final release, 3.0.0, is only a `compile_error!` and a notice saying so.
//! The store never relies on these bytes for hashing or signatures: those use the core's
//! canonical encoding. (The core serializes hashes, keys and signatures as hex strings, which
//! doubles their size here; a core change to raw bytes for non-human-readable formats would be
//! a format-version bump.)
//!
//! All methods block on disk I/O: call them from a blocking context ([`blocking`],
//! `actix_web::web::block`, a `SyncArbiter` actor), not directly on an async executor thread.

use daoli_protocol::block::{Batch, CertifiedBlock};
use daoli_protocol::codec::Hash32;
use daoli_protocol::node::{Durable, Msg};
use daoli_protocol::roles::Output;
use daoli_protocol::statement::Evidence;
use daoli_protocol::tx::Transaction;
use daoli_protocol::vote::{Step, Vote, VoteJournal, VoteKey};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The version of the tables and values this build writes. Bump it, and add a migration to
/// [`MIGRATIONS`], whenever either changes.
pub const FORMAT_VERSION: u64 = 1;

/// One persistence request, borrowed from the role machine's output it came from.
#[derive(Debug, Clone, Copy)]
pub enum Persist<'a> {
    /// A client transaction the kernel buffer accepted: durable before its acknowledgement.
    Tx(&'a Transaction),
    /// Transactions executed in a certified block, by transaction hash; unknown hashes are ignored.
    ForgetTxs(&'a [Hash32]),
    /// A lot, batch, MicroBlock or proposal this datacenter signed: durable before it is sent.
    Signed(&'a Msg),
    Evidence(&'a Evidence),
    /// A vote of the trustee seat: durable before it is sent; refused if it conflicts.
    Vote(&'a Vote),
    /// A certified block with its batches, in one transaction.
    Block(&'a CertifiedBlock, &'a [Batch]),
}

impl<'a> Persist<'a> {
    /// The persistence request a role machine's output makes, if it makes one.
    pub fn of(o: &'a Output) -> Option<Self> {
        match o {
            Output::PersistTx(tx) => Some(Persist::Tx(tx)),
            Output::PersistEvidence(e) => Some(Persist::Evidence(e)),
            Output::PersistSigned(m) => Some(Persist::Signed(m)),
            Output::PersistVote(v) => Some(Persist::Vote(v)),
            Output::PersistBlock(cb, b) => Some(Persist::Block(cb, b)),
            _ => None,
        }
    }
}

/// What a service reads back at start-up.
#[derive(Debug, Clone, Default)]
pub struct Recovered {
    /// Certified blocks in height order, acknowledged transactions in acceptance order, evidence
    /// and signed messages in the order they were persisted.
    pub durable: Durable,
    /// Every vote not pruned, in `(height, round, step)` order.
    pub votes: Vec<Vote>,
    /// Heights below this were pruned (0 if never).
    pub floor: u64,
}

/// Why a write was refused because it contradicts what is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// A different vote is already recorded for this `(height, round, step)`.
    Vote { key: VoteKey, stored: Box<Vote> },
    /// A different certified block is already stored at this height.
    Block {
        height: u64,
        stored: Hash32,
        offered: Hash32,
    },
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflict::Vote { key: (h, r, s), stored } => write!(
                f,
                "a different vote is already recorded for height {h} round {r} {s:?} (value {:?}, timestamp {})",
                stored.value, stored.timestamp
            ),
            Conflict::Block {
                height,
                stored,
                offered,
            } => write!(
                f,
                "certified block {} is already stored at height {height}, refusing {}",
                stored.short(),
                offered.short()
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write contradicts what is stored; nothing of its list was written.
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// A vote or signed message for a height that was pruned; nothing of its list was written.
    #[error("height {height} is below the pruning floor {floor}: refusing to record a statement for it")]
    BelowFloor { height: u64, floor: u64 },
    #[error("{}: already open by another process or handle", path.display())]
    Locked { path: PathBuf },
    #[error("{}: not a readable store file (corrupted, truncated, or not a redb file): {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "{}: namespace {namespace:?} has format version {found}, this build reads up to {supported}; run a newer build",
        path.display()
    )]
    NewerFormat {
        path: PathBuf,
        namespace: String,
        found: u64,
        supported: u64,
    },
    #[error("{}: namespace {namespace:?}: {table}[{key}] does not decode: {source}", path.display())]
    Decode {
        path: PathBuf,
        namespace: String,
        table: &'static str,
        key: String,
        #[source]
        source: postcard::Error,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Db {
        path: PathBuf,
        #[source]
        source: Box<redb::Error>,
    },
    #[error("namespace {0:?}: use 1-64 characters of a-z, 0-9, '-' and '_'")]
    BadNamespace(String),
    /// The blocking task running a store call panicked or was cancelled.
    #[error("store task: {0}")]
    Task(String),
    /// PostgreSQL refused or could not be reached (`at` names the server, never the password).
    #[error("{at}: {detail}")]
    Pg { at: String, detail: String },
    /// The writer's lease of a schema: another process holds it, or this one lost it.
    #[error("{at}: schema {schema:?}: lease: {detail}")]
    Lease { at: String, schema: String, detail: String },
    /// A schema opened only to read (another service's) was asked to write.
    #[error("schema {schema:?} is open read-only here (it belongs to another service)")]
    ReadOnly { schema: String },
    /// The schema belongs to another datacenter or network (two configurations with one
    /// datacenter name on one server).
    #[error("{at}: schema {schema:?} belongs to {found}, not to {expected}: give each datacenter its own name")]
    Owner {
        at: String,
        schema: String,
        /// `datacenter <key prefix> of chain <id prefix>`, as found and as configured.
        found: String,
        expected: String,
    },
    #[error("{at}: schema {schema:?} is at migration {found}, this build knows up to {supported}; run a newer build")]
    NewerSchema {
        at: String,
        schema: String,
        found: u64,
        supported: u64,
    },
}

/// The persistence a service needs. Implementations are shared between threads.
///
/// One store (namespace) belongs to one service of one datacenter, so votes are keyed by
/// `(height, round, step)` alone, like the core's [`VoteJournal`]: it holds one seat's votes.
pub trait Store: Send + Sync + fmt::Debug {
    /// Makes every request of `batch` durable, in order, in one atomic transaction; returns only
    /// once it is on disk. On any error nothing of `batch` was written.
    fn write(&self, batch: &[Persist<'_>]) -> Result<(), StoreError>;
    /// Everything stored, for [`daoli_protocol::node::Node::recover`] and the vote journal.
    fn recover(&self) -> Result<Recovered, StoreError>;
    /// The vote recorded for `key`, if any.
    fn vote(&self, key: &VoteKey) -> Result<Option<Vote>, StoreError>;
    /// Votes at heights `from..=to`, in key order.
    fn votes_between(&self, from: u64, to: u64) -> Result<Vec<Vote>, StoreError>;
    /// Drops votes and signed messages of heights below `height` and refuses such statements
    /// from then on. Never lowers the floor. Call it only below the certified tip.
    fn prune_below(&self, height: u64) -> Result<(), StoreError>;

    fn votes_at(&self, height: u64) -> Result<Vec<Vote>, StoreError> {
        self.votes_between(height, height)
    }
}

/// Runs a store call on Tokio's blocking pool, so async code (actix handlers, actors) can wait
/// for durability without stalling its executor thread.
pub async fn blocking<S, T, F>(store: Arc<S>, f: F) -> Result<T, StoreError>
where
    S: Store + ?Sized + 'static,
    T: Send + 'static,
    F: FnOnce(&S) -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
}

/// A redb file, possibly shared by the stores of several services in one process.
pub struct EmbeddedDb {
    db: Database,
    path: PathBuf,
}

impl fmt::Debug for EmbeddedDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedDb").field("path", &self.path).finish()
    }
}

impl EmbeddedDb {
    /// Opens `path`, creating an empty database if the file does not exist. A crash during an
    /// earlier commit is repaired here (redb falls back to the last durable commit).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let existed = path.exists();
        let db = Database::create(&path).map_err(|e| open_error(&path, e.into()))?;
        if !existed {
            // A new file's directory entry is only durable once its directory is synced.
            sync_parent(&path)?;
        }
        Ok(EmbeddedDb { db, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn sync_parent(path: &Path) -> Result<(), StoreError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })
}

fn open_error(path: &Path, e: redb::Error) -> StoreError {
    match e {
        redb::Error::DatabaseAlreadyOpen => StoreError::Locked { path: path.into() },
        redb::Error::Corrupted(detail) => StoreError::Corrupt {
            path: path.into(),
            detail,
        },
        redb::Error::UpgradeRequired(v) => StoreError::Corrupt {
            path: path.into(),
            detail: format!("redb file format {v} is not the one this build reads"),
        },
        redb::Error::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => StoreError::Corrupt {
            path: path.into(),
            detail: e.to_string(),
        },
        redb::Error::Io(source) => StoreError::Io {
            path: path.into(),
            source,
        },
        other => StoreError::Db {
            path: path.into(),
            source: Box::new(other),
        },
    }
}

/// Table names of one namespace.
#[derive(Debug, Clone)]
struct Names {
    meta: String,
    blocks: String,
    txs: String,
    tx_ids: String,
    evidence: String,
    evidence_ids: String,
    signed: String,
    signed_ids: String,
    votes: String,
}

impl Names {
    fn new(ns: &str) -> Self {
        let t = |name: &str| format!("{ns}.{name}");
        Names {
            meta: t("meta"),
            blocks: t("blocks"),
            txs: t("txs"),
            tx_ids: t("tx_ids"),
            evidence: t("evidence"),
            evidence_ids: t("evidence_ids"),
            signed: t("signed"),
            signed_ids: t("signed_ids"),
            votes: t("votes"),
        }
    }
    // Typed table definitions. Keys: heights and sequence numbers are u64, ids are 32 bytes.
    fn meta(&self) -> TableDefinition<'_, &'static str, u64> {
        TableDefinition::new(&self.meta)
    }
    /// height -> (CertifiedBlock, Vec<Batch>)
    fn blocks(&self) -> TableDefinition<'_, u64, &'static [u8]> {
        TableDefinition::new(&self.blocks)
    }
    /// acceptance seq -> Transaction; tx hash -> seq
    fn txs(&self) -> TableDefinition<'_, u64, &'static [u8]> {
        TableDefinition::new(&self.txs)
    }
    fn tx_ids(&self) -> TableDefinition<'_, [u8; 32], u64> {
        TableDefinition::new(&self.tx_ids)
    }
    /// seq -> Evidence; sha256(encoding) -> seq (so a replayed request is stored once)
    fn evidence(&self) -> TableDefinition<'_, u64, &'static [u8]> {
        TableDefinition::new(&self.evidence)
    }
    fn evidence_ids(&self) -> TableDefinition<'_, [u8; 32], u64> {
        TableDefinition::new(&self.evidence_ids)
    }
    /// (height, seq) -> Msg, so pruning is a range delete; sha256(encoding) -> (height, seq)
    fn signed(&self) -> TableDefinition<'_, (u64, u64), &'static [u8]> {
        TableDefinition::new(&self.signed)
    }
    fn signed_ids(&self) -> TableDefinition<'_, [u8; 32], (u64, u64)> {
        TableDefinition::new(&self.signed_ids)
    }
    /// (height, round, step) -> Vote
    fn votes(&self) -> TableDefinition<'_, (u64, u32, u8), &'static [u8]> {
        TableDefinition::new(&self.votes)
    }
}

const META_FORMAT: &str = "format_version";
const META_FLOOR: &str = "floor";

type Migration = fn(&redb::WriteTransaction, &Names) -> Result<(), redb::Error>;

/// `MIGRATIONS[v]` takes a namespace from version `v` to `v + 1`; version 0 is "absent".
const MIGRATIONS: [Migration; FORMAT_VERSION as usize] = [create_v1];

fn create_v1(txn: &redb::WriteTransaction, n: &Names) -> Result<(), redb::Error> {
    txn.open_table(n.blocks())?;
    txn.open_table(n.txs())?;
    txn.open_table(n.tx_ids())?;
    txn.open_table(n.evidence())?;
    txn.open_table(n.evidence_ids())?;
    txn.open_table(n.signed())?;
    txn.open_table(n.signed_ids())?;
    txn.open_table(n.votes())?;
    Ok(())
}

fn step_byte(s: Step) -> u8 {
    match s {
        Step::Prevote => 0,
        Step::Precommit => 1,
    }
}

fn vote_key(k: &VoteKey) -> (u64, u32, u8) {
    (k.0, k.1, step_byte(k.2))
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // postcard into a Vec only fails on types serde cannot describe; the core has none.
    postcard::to_stdvec(v).expect("postcard encodes every core type")
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The store of one service (one namespace) in a redb file.
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    db: Arc<EmbeddedDb>,
    namespace: String,
    names: Names,
}

impl EmbeddedStore {
    /// Opens (creating if needed) `path` and the namespace in it.
    pub fn open(path: impl AsRef<Path>, namespace: &str) -> Result<Self, StoreError> {
        Self::new(Arc::new(EmbeddedDb::open(path)?), namespace)
    }

    /// Opens `<data_dir>/<namespace>.redb`, creating the directory if needed.
    pub fn open_in(data_dir: impl AsRef<Path>, namespace: &str) -> Result<Self, StoreError> {
        check_namespace(namespace)?;
        let dir = data_dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Self::open(dir.join(format!("{namespace}.redb")), namespace)
    }

    /// A namespace in an already open file (several services in one process).
    pub fn new(db: Arc<EmbeddedDb>, namespace: &str) -> Result<Self, StoreError> {
        check_namespace(namespace)?;
        let s = EmbeddedStore {
            names: Names::new(namespace),
            namespace: namespace.to_string(),
            db,
        };
        s.migrate()?;
        Ok(s)
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn path(&self) -> &Path {
        &self.db.path
    }

    fn err<E: Into<redb::Error>>(&self) -> impl FnOnce(E) -> StoreError + '_ {
        move |e| {
            let e: redb::Error = e.into();
            match e {
                redb::Error::Corrupted(_) => open_error(&self.db.path, e),
                _ => StoreError::Db {
                    path: self.db.path.clone(),
                    source: Box::new(e),
                },
            }
        }
    }

    fn decode<T: DeserializeOwned>(
        &self,
        table: &'static str,
        key: impl fmt::Debug,
        bytes: &[u8],
    ) -> Result<T, StoreError> {
        postcard::from_bytes(bytes).map_err(|source| StoreError::Decode {
            path: self.db.path.clone(),
            namespace: self.namespace.clone(),
            table,
            key: format!("{key:?}"),
            source,
        })
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let txn = self.db.db.begin_write().map_err(self.err())?;
        {
            let mut meta = txn.open_table(self.names.meta()).map_err(self.err())?;
            let found = meta
                .get(META_FORMAT)
                .map_err(self.err())?
                .map(|g| g.value())
                .unwrap_or(0);
            if found > FORMAT_VERSION {
                return Err(StoreError::NewerFormat {
                    path: self.db.path.clone(),
                    namespace: self.namespace.clone(),
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            if found == FORMAT_VERSION {
                // Nothing to do: dropping the transaction aborts it without a disk write.
                return Ok(());
            }
            for m in &MIGRATIONS[found as usize..] {
                m(&txn, &self.names).map_err(self.err())?;
            }
            meta.insert(META_FORMAT, FORMAT_VERSION).map_err(self.err())?;
        }
        txn.commit().map_err(self.err())
    }

    /// Appends transactions not stored yet to the log, numbered in order; the tables are
    /// opened and the log's end found once for all of them (a group commit brings hundreds).
    fn put_txs(&self, txn: &redb::WriteTransaction, txs: &[&Transaction]) -> Result<(), StoreError> {
        let n = &self.names;
        let mut ids = txn.open_table(n.tx_ids()).map_err(self.err())?;
        let mut t = txn.open_table(n.txs()).map_err(self.err())?;
        let mut last = t.last().map_err(self.err())?.map(|(k, _)| k.value());
        for tx in txs {
            let id = tx.hash().0;
            if ids.get(id).map_err(self.err())?.is_some() {
                continue;
            }
            let seq = next_seq(last);
            t.insert(seq, encode(*tx).as_slice()).map_err(self.err())?;
            ids.insert(id, seq).map_err(self.err())?;
            last = Some(seq);
        }
        Ok(())
    }

    fn apply(&self, txn: &redb::WriteTransaction, p: &Persist<'_>, floor: u64) -> Result<(), StoreError> {
        let n = &self.names;
        match *p {
            Persist::Tx(tx) => self.put_txs(txn, std::slice::from_ref(&tx))?,
            Persist::ForgetTxs(hashes) => {
                let mut ids = txn.open_table(n.tx_ids()).map_err(self.err())?;
                let mut t = txn.open_table(n.txs()).map_err(self.err())?;
                for h in hashes {
                    let seq = ids.remove(h.0).map_err(self.err())?.map(|g| g.value());
                    if let Some(seq) = seq {
                        t.remove(seq).map_err(self.err())?;
                    }
                }
            }
            Persist::Evidence(e) => {
                let bytes = encode(e);
                let id = digest(&bytes);
                let mut ids = txn.open_table(n.evidence_ids()).map_err(self.err())?;
                if ids.get(id).map_err(self.err())?.is_some() {
                    return Ok(());
                }
                let mut t = txn.open_table(n.evidence()).map_err(self.err())?;
                let seq = next_seq(t.last().map_err(self.err())?.map(|(k, _)| k.value()));
                t.insert(seq, bytes.as_slice()).map_err(self.err())?;
                ids.insert(id, seq).map_err(self.err())?;
            }
            Persist::Signed(m) => {
                // Requests and client traffic carry no height and are never signed statements;
                // if asked, they are filed under height 0 (and go with the first prune).
                if let Some(height) = m.height()
                    && height < floor
                {
                    return Err(StoreError::BelowFloor { height, floor });
                }
                let height = m.height().unwrap_or(0);
                let bytes = encode(m);
                let id = digest(&bytes);
                let mut ids = txn.open_table(n.signed_ids()).map_err(self.err())?;
                if ids.get(id).map_err(self.err())?.is_some() {
                    return Ok(());
                }
                let mut t = txn.open_table(n.signed()).map_err(self.err())?;
                // A sequence per height keeps persistence order within a height on recovery.
                let seq = next_seq(
                    t.range((height, 0)..=(height, u64::MAX))
                        .map_err(self.err())?
                        .next_back()
                        .transpose()
                        .map_err(self.err())?
                        .map(|(k, _)| k.value().1),
                );
                t.insert((height, seq), bytes.as_slice()).map_err(self.err())?;
                ids.insert(id, (height, seq)).map_err(self.err())?;
            }
            Persist::Vote(v) => {
                if v.height < floor {
                    return Err(StoreError::BelowFloor {
                        height: v.height,
                        floor,
                    });
                }
                let bytes = encode(v);
                let mut t = txn.open_table(n.votes()).map_err(self.err())?;
                let key = vote_key(&v.key());
                let stored = t.get(key).map_err(self.err())?.map(|g| g.value().to_vec());
                match stored {
                    Some(s) if s == bytes => {}
                    Some(s) => {
                        let stored: Vote = self.decode("votes", key, &s)?;
                        return Err(StoreError::Conflict(Conflict::Vote {
                            key: v.key(),
                            stored: Box::new(stored),
                        }));
                    }
                    None => {
                        t.insert(key, bytes.as_slice()).map_err(self.err())?;
                    }
                }
            }
            Persist::Block(cb, batches) => {
                let height = cb.block.height();
                let bytes = encode(&(cb, batches));
                let mut t = txn.open_table(n.blocks()).map_err(self.err())?;
                let stored = t.get(height).map_err(self.err())?.map(|g| g.value().to_vec());
                match stored {
                    Some(s) if s == bytes => {}
                    Some(s) => {
                        let (stored, _): (CertifiedBlock, Vec<Batch>) = self.decode("blocks", height, &s)?;
                        if stored.block.hash() != cb.block.hash() {
                            return Err(StoreError::Conflict(Conflict::Block {
                                height,
                                stored: stored.block.hash(),
                                offered: cb.block.hash(),
                            }));
                        }
                        // The same block with another QC or batch list: keep the first; both
                        // certify the same block, and replay needs only one.
                    }
                    None => {
                        t.insert(height, bytes.as_slice()).map_err(self.err())?;
                    }
                }
            }
        }
        Ok(())
    }

    fn floor_in(&self, meta: &impl ReadableTable<&'static str, u64>) -> Result<u64, StoreError> {
        Ok(meta
            .get(META_FLOOR)
            .map_err(self.err())?
            .map(|g| g.value())
            .unwrap_or(0))
    }
}

fn next_seq(last: Option<u64>) -> u64 {
    last.map_or(0, |s| s + 1)
}

fn check_namespace(ns: &str) -> Result<(), StoreError> {
    let ok = !ns.is_empty()
        && ns.len() <= 64
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadNamespace(ns.to_string()))
    }
}

impl Store for EmbeddedStore {
    fn write(&self, batch: &[Persist<'_>]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        // One write transaction at a time per file (redb serializes them): the conflict check
        // and the insert cannot interleave with another writer.
        let txn = self.db.db.begin_write().map_err(self.err())?;
        let floor = {
            let meta = txn.open_table(self.names.meta()).map_err(self.err())?;
            self.floor_in(&meta)?
        };
        // An error returns before commit: dropping the transaction aborts all of `batch`.
        let mut rest = batch;
        while let Some(first) = rest.first() {
            // A run of transactions goes in together.
            let run: Vec<&Transaction> = rest
                .iter()
                .map_while(|p| match p {
                    Persist::Tx(tx) => Some(*tx),
                    _ => None,
                })
                .collect();
            if run.is_empty() {
                self.apply(&txn, first, floor)?;
                rest = &rest[1..];
            } else {
                self.put_txs(&txn, &run)?;
                rest = &rest[run.len()..];
            }
        }
        txn.commit().map_err(self.err())
    }

    fn recover(&self) -> Result<Recovered, StoreError> {
        let n = &self.names;
        let txn = self.db.db.begin_read().map_err(self.err())?;
        let mut out = Recovered {
            floor: self.floor_in(&txn.open_table(n.meta()).map_err(self.err())?)?,
            ..Recovered::default()
        };
        for e in txn
            .open_table(n.blocks())
            .map_err(self.err())?
            .iter()
            .map_err(self.err())?
        {
            let (k, v) = e.map_err(self.err())?;
            out.durable.blocks.push(self.decode("blocks", k.value(), v.value())?);
        }
        for e in txn
            .open_table(n.txs())
            .map_err(self.err())?
            .iter()
            .map_err(self.err())?
        {
            let (k, v) = e.map_err(self.err())?;
            out.durable.txs.push(self.decode("txs", k.value(), v.value())?);
        }
        for e in txn
            .open_table(n.evidence())
            .map_err(self.err())?
            .iter()
            .map_err(self.err())?
        {
            let (k, v) = e.map_err(self.err())?;
            out.durable
                .evidence
                .push(self.decode("evidence", k.value(), v.value())?);
        }
        for e in txn
            .open_table(n.signed())
            .map_err(self.err())?
            .iter()
            .map_err(self.err())?
        {
            let (k, v) = e.map_err(self.err())?;
            out.durable.signed.push(self.decode("signed", k.value(), v.value())?);
        }
        for e in txn
            .open_table(n.votes())
            .map_err(self.err())?
            .iter()
            .map_err(self.err())?
        {
            let (k, v) = e.map_err(self.err())?;
            out.votes.push(self.decode("votes", k.value(), v.value())?);
        }
        Ok(out)
    }

    fn vote(&self, key: &VoteKey) -> Result<Option<Vote>, StoreError> {
        let txn = self.db.db.begin_read().map_err(self.err())?;
        let t = txn.open_table(self.names.votes()).map_err(self.err())?;
        let k = vote_key(key);
        match t.get(k).map_err(self.err())? {
            Some(g) => Ok(Some(self.decode("votes", k, g.value())?)),
            None => Ok(None),
        }
    }

    fn votes_between(&self, from: u64, to: u64) -> Result<Vec<Vote>, StoreError> {
        if from > to {
            return Ok(Vec::new());
        }
        let txn = self.db.db.begin_read().map_err(self.err())?;
        let t = txn.open_table(self.names.votes()).map_err(self.err())?;
        let mut out = Vec::new();
        for e in t.range((from, 0, 0)..=(to, u32::MAX, u8::MAX)).map_err(self.err())? {
            let (k, v) = e.map_err(self.err())?;
            out.push(self.decode("votes", k.value(), v.value())?);
        }
        Ok(out)
    }

    fn prune_below(&self, height: u64) -> Result<(), StoreError> {
        let n = &self.names;
        let txn = self.db.db.begin_write().map_err(self.err())?;
        {
            let mut meta = txn.open_table(n.meta()).map_err(self.err())?;
            if height <= self.floor_in(&meta)? {
                return Ok(());
            }
            meta.insert(META_FLOOR, height).map_err(self.err())?;
            let mut votes = txn.open_table(n.votes()).map_err(self.err())?;
            votes.retain_in(..(height, 0, 0), |_, _| false).map_err(self.err())?;
            let mut signed = txn.open_table(n.signed()).map_err(self.err())?;
            let mut ids = txn.open_table(n.signed_ids()).map_err(self.err())?;
            let gone: Vec<[u8; 32]> = signed
                .extract_from_if(..(height, 0), |_, _| true)
                .map_err(self.err())?
                .map(|e| e.map(|(_, v)| digest(v.value())))
                .collect::<Result<_, _>>()
                .map_err(self.err())?;
            for id in gone {
                ids.remove(id).map_err(self.err())?;
            }
        }
        txn.commit().map_err(self.err())
    }
}

/// The core's [`VoteJournal`] on top of a [`Store`]: the trustee's signer checks and persists
/// through it, so the store's conflict rule backs the signer's.
///
/// Votes at heights from `from_height` on are cached at construction (so `get` and
/// `at_height`, which cannot fail in the core's trait, never touch the disk for the heights
/// the node works at); older keys read through. A failed read-through is logged and answered
/// with "no vote": that is safe for signing, because `persist` then goes to the store, which
/// refuses a conflicting vote in the same transaction that would record it.
#[derive(Debug)]
pub struct StoreJournal<S: Store + ?Sized> {
    store: Arc<S>,
    from_height: u64,
    cache: BTreeMap<VoteKey, Vote>,
}

impl<S: Store + ?Sized> StoreJournal<S> {
    pub fn load(store: Arc<S>, from_height: u64) -> Result<Self, StoreError> {
        let cache = store
            .votes_between(from_height, u64::MAX)?
            .into_iter()
            .map(|v| (v.key(), v))
            .collect();
        Ok(StoreJournal {
            store,
            from_height,
            cache,
        })
    }

    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// Forgets cached votes below `height` (after the chain moved on); they stay in the store.
    pub fn evict_below(&mut self, height: u64) {
        self.cache = self.cache.split_off(&(height, 0, Step::Prevote));
        self.from_height = self.from_height.max(height);
    }
}

impl<S: Store + ?Sized> VoteJournal for StoreJournal<S> {
    fn get(&self, key: &VoteKey) -> Option<Vote> {
        if key.0 >= self.from_height {
            return self.cache.get(key).cloned();
        }
        self.store.vote(key).unwrap_or_else(|e| {
            tracing::error!(error = %e, height = key.0, "vote journal read failed; the store still refuses conflicts");
            None
        })
    }

    fn persist(&mut self, vote: &Vote) -> Result<(), String> {
        self.store.write(&[Persist::Vote(vote)]).map_err(|e| e.to_string())?;
        if vote.height >= self.from_height {
            self.cache.insert(vote.key(), vote.clone());
        }
        Ok(())
    }

    fn at_height(&self, height: u64) -> Vec<Vote> {
        if height >= self.from_height {
            return self
                .cache
                .range((height, 0, Step::Prevote)..=(height, u32::MAX, Step::Precommit))
                .map(|(_, v)| v.clone())
                .collect();
        }
        self.store.votes_at(height).unwrap_or_else(|e| {
            tracing::error!(error = %e, height, "vote journal read failed");
            Vec::new()
        })
    }
}

pub mod pg;

#[cfg(test)]
mod tests;
