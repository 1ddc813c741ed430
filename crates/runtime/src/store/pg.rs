//! The store on PostgreSQL (tokio-postgres with a deadpool pool), for services that run as
//! their own processes.
//!
//! - **One schema per service** (the namespace, e.g. `dc0_ibft_trustees`), created by the
//!   migrations in [`MIGRATIONS`] at start-up and recorded in `<schema>.migrations` (version,
//!   name, when). Two processes starting at once take turns (an advisory lock on the
//!   schema's name, taken before anything is created). A schema whose
//!   recorded version is newer than this build's stops start-up
//!   ([`StoreError::NewerSchema`]) instead of being misread. Other services' schemas are
//!   opened read-only ([`PgStore::open_read_only`]): never created or migrated, so a process
//!   needs rights on its own schema only to write, and an upgrade migrates each schema from
//!   its own service's process.
//! - **An owner**: a schema records the chain and datacenter it belongs to at first use
//!   ([`PgStore::claim`]); another datacenter or network configured with the same name is
//!   refused ([`StoreError::Owner`]) instead of sharing its rows.
//! - **Nothing waits for ever**: each session runs with `statement_timeout`, `lock_timeout`
//!   and `idle_in_transaction_session_timeout` (a client cut off inside a transaction loses
//!   its locks within a minute, so its successor is not blocked behind it), TCP keepalives, and
//!   every call has a deadline; a store call that fails stops the service (exit 1).
//! - **One database transaction per [`Store::write`]**: everything a role step asked to persist
//!   commits together or not at all, before the outputs after it leave. A certified block is
//!   one row written in that transaction; its execution and state change are recomputed from
//!   the blocks on recovery (execution is deterministic), so nothing else needs to be stored
//!   with it.
//! - **The vote journal** has the primary key `(height, round, step)`: a second, different
//!   vote for one slot is impossible even if two processes race (the second insert waits for
//!   the first to commit, finds the row, and is refused as a conflict).
//! - **Bulk paths** are single statements: a group commit's transactions go in with one
//!   `INSERT ... SELECT FROM unnest(...)`, in acceptance order.
//! - Values are the same postcard bytes as the embedded store's.
//!
//! [`Store`] is synchronous (the host's actor blocks until a write is durable, as it does on
//! the embedded store's fsync). Calls go to a worker thread that owns a Tokio runtime and the
//! pool; each caller waits for its own answer, so the job queue holds at most one job per
//! calling thread.

use super::{Conflict, Persist, Recovered, Store, StoreError, check_namespace, digest, encode};
use daoli_protocol::block::{Batch, CertifiedBlock};
use daoli_protocol::codec::Hash32;
use daoli_protocol::tx::Transaction;
use daoli_protocol::vote::{Step, Vote, VoteKey};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde::de::DeserializeOwned;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc as std_mpsc};
use tokio::sync::mpsc;
use tokio_postgres::NoTls;

/// `MIGRATIONS[v]` takes a schema from version `v` to `v + 1` (version 0: absent). `{s}` is the
/// quoted schema name.
pub const MIGRATIONS: [(&str, &str); 2] = [
    (
        "tables of format 1",
        r#"
    CREATE TABLE {s}.meta (key text PRIMARY KEY, value bigint NOT NULL);
    INSERT INTO {s}.meta (key, value) VALUES ('floor', 0);
    CREATE TABLE {s}.blocks (height bigint PRIMARY KEY, hash bytea NOT NULL, body bytea NOT NULL);
    CREATE TABLE {s}.txs (seq bigserial PRIMARY KEY, id bytea NOT NULL UNIQUE, body bytea NOT NULL);
    CREATE TABLE {s}.evidence (seq bigserial PRIMARY KEY, id bytea NOT NULL UNIQUE, body bytea NOT NULL);
    CREATE TABLE {s}.signed (
        height bigint NOT NULL, seq bigserial NOT NULL, id bytea NOT NULL UNIQUE, body bytea NOT NULL,
        PRIMARY KEY (height, seq));
    CREATE TABLE {s}.votes (
        height bigint NOT NULL, round bigint NOT NULL, step smallint NOT NULL, body bytea NOT NULL,
        PRIMARY KEY (height, round, step));
    "#,
    ),
    (
        "owner: the chain and datacenter the schema belongs to",
        r#"
    CREATE TABLE {s}.owner (
        one boolean PRIMARY KEY DEFAULT true CHECK (one),
        chain bytea NOT NULL, datacenter bytea NOT NULL);
    "#,
    ),
];

/// The migration a schema of this build is at.
pub const SCHEMA_VERSION: u64 = MIGRATIONS.len() as u64;

/// Session settings unless the connection string sets `options` (statement, lock wait, and a
/// transaction left open by a client that went away).
/// The server also probes an idle client's connection (so a dead client's locks and lease go
/// within about 30 s) and commits synchronously whatever its default (an acknowledgement
/// means the commit is on disk).
const SESSION_OPTIONS: &str = "-c statement_timeout=30s -c lock_timeout=10s -c idle_in_transaction_session_timeout=60s \
     -c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3 -c synchronous_commit=on";
/// How long start-up waits for the lease of a schema held by a process that is going away.
const LEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(15);
/// How long a call waits for its answer (pool wait, connection and statements included).
const CALL_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);
/// Recovery reads whole tables: its statements and its call get longer.
const RECOVER_STATEMENT_TIMEOUT: &str = "15min";
const RECOVER_DEADLINE: std::time::Duration = std::time::Duration::from_secs(16 * 60);

/// Where and how to reach PostgreSQL.
#[derive(Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// `postgres://user:password@host:port/dbname` (or key=value form).
    pub url: String,
    /// Connections in the pool.
    pub pool: usize,
}

impl fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password.
        f.debug_struct("PgOptions")
            .field("at", &display_url(&self.url))
            .field("pool", &self.pool)
            .finish()
    }
}

/// `postgres://user@host:port/dbname` of a connection string, for messages (no password).
pub fn display_url(url: &str) -> String {
    match tokio_postgres::Config::from_str(url) {
        Ok(c) => {
            let host = c
                .get_hosts()
                .first()
                .map(|h| match h {
                    tokio_postgres::config::Host::Tcp(s) => s.clone(),
                    tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                })
                .unwrap_or_default();
            let port = c.get_ports().first().copied().unwrap_or(5432);
            format!(
                "postgres://{}@{host}:{port}/{}",
                c.get_user().unwrap_or(""),
                c.get_dbname().unwrap_or("")
            )
        }
        Err(_) => "postgres (an unreadable connection string)".into(),
    }
}

/// The most useful text of a PostgreSQL error: the server's message if it sent one.
fn pg_detail(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    // "error connecting to server" says little without its cause (connection refused, ...).
    let mut s = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        s += &format!(": {c}");
        cause = c.source();
    }
    s
}

/// How long connecting may take, and a sent request may stay unacknowledged by the server.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

type Job = Box<dyn FnOnce(Pool) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// The store of one service in its schema.
pub struct PgStore {
    schema: String,
    at: String,
    jobs: mpsc::UnboundedSender<Job>,
    /// Another service's schema: read, never created, migrated or written.
    read_only: bool,
    /// The writer's lease ended (its connection closed: a server restart): another process
    /// may hold it now, so nothing more is written.
    lost: Arc<AtomicBool>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("at", &self.at)
            .field("schema", &self.schema)
            .field("read_only", &self.read_only)
            .finish()
    }
}

/// Takes the writer's lease of `schema`: a session advisory lock, so that one process at a
/// time writes a service's schema (a second copy of a running service, or a rolling update's
/// new pod beside the old one, would sign a second batch, lot or proposal, and acknowledge
/// transactions the other never hears of). Waits up to [`LEASE_WAIT`] for a holder that is
/// going away. `lost` is raised when the lease's connection ends.
async fn lease(
    config: &tokio_postgres::Config,
    at: &str,
    schema: &str,
    lost: Arc<AtomicBool>,
) -> Result<tokio_postgres::Client, StoreError> {
    let err = |detail: String| StoreError::Pg {
        at: at.to_string(),
        detail,
    };
    let (client, connection) = config.connect(NoTls).await.map_err(|e| err(pg_detail(&e)))?;
    tokio::spawn(async move {
        let _ = connection.await;
        lost.store(true, Ordering::SeqCst);
    });
    let start = std::time::Instant::now();
    loop {
        let got: bool = client
            .query_one(
                "SELECT pg_try_advisory_lock(hashtext($1))",
                &[&format!("daoli-lease:{schema}")],
            )
            .await
            .map_err(|e| err(pg_detail(&e)))?
            .get(0);
        if got {
            return Ok(client);
        }
        if start.elapsed() >= LEASE_WAIT {
            return Err(StoreError::Lease {
                at: at.to_string(),
                schema: schema.to_string(),
                detail: format!(
                    "held by another process for {} s: one process writes a service's schema (is this service already running?)",
                    LEASE_WAIT.as_secs()
                ),
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// The service's own schema: migrated, written under the lease.
    Leased,
    /// Written without the lease (tests only).
    Unleased,
    /// Another service's schema.
    ReadOnly,
}

/// The statements of one schema, with its name quoted in.
/// The migration recorded in an existing schema; one newer than this build's is refused.
async fn recorded_version(
    c: &impl tokio_postgres::GenericClient,
    sql: &Sql,
    at: String,
    schema: String,
    pg: impl Fn(tokio_postgres::Error) -> StoreError,
) -> Result<u64, StoreError> {
    let found: i64 = c
        .query_one(&sql.t("SELECT coalesce(max(version), 0) FROM {s}.migrations"), &[])
        .await
        .map_err(pg)?
        .get(0);
    let found = found.max(0) as u64;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            at,
            schema,
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

#[derive(Debug, Clone)]
struct Sql {
    s: String,
}

impl Sql {
    fn t(&self, q: &str) -> String {
        q.replace("{s}", &self.s)
    }
}

fn i64_of(what: &'static str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Pg {
        at: String::new(),
        detail: format!("{what} {v} is over PostgreSQL's bigint"),
    })
}

fn step_i16(s: Step) -> i16 {
    match s {
        Step::Prevote => 0,
        Step::Precommit => 1,
    }
}

/// A persistence request encoded on the caller's thread, owned, for the worker.
enum Row {
    Txs(Vec<(Vec<u8>, Vec<u8>)>),
    Forget(Vec<Vec<u8>>),
    Evidence(Vec<u8>, Vec<u8>),
    Signed(Option<u64>, Vec<u8>, Vec<u8>),
    Vote(VoteKey, Vec<u8>),
    Block(u64, Hash32, Vec<u8>),
}

fn rows(batch: &[Persist<'_>]) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    for p in batch {
        match *p {
            Persist::Tx(tx) => {
                let r = (tx.hash().0.to_vec(), encode(tx));
                match out.last_mut() {
                    Some(Row::Txs(run)) => run.push(r),
                    _ => out.push(Row::Txs(vec![r])),
                }
            }
            Persist::ForgetTxs(hs) => out.push(Row::Forget(hs.iter().map(|h| h.0.to_vec()).collect())),
            Persist::Evidence(e) => {
                let b = encode(e);
                out.push(Row::Evidence(digest(&b).to_vec(), b));
            }
            Persist::Signed(m) => {
                let b = encode(m);
                out.push(Row::Signed(m.height(), digest(&b).to_vec(), b));
            }
            Persist::Vote(v) => out.push(Row::Vote(v.key(), encode(v))),
            Persist::Block(cb, batches) => {
                out.push(Row::Block(cb.block.height(), cb.block.hash(), encode(&(cb, batches))))
            }
        }
    }
    out
}

impl PgStore {
    /// Connects, creates or migrates the schema `namespace`, and returns the store; a wrong
    /// password, an unreachable server or a schema from a newer build stops here, by name.
    pub fn connect(opts: &PgOptions, namespace: &str) -> Result<Self, StoreError> {
        let s = Self::open(opts, namespace, Access::Leased)?;
        s.migrate()?;
        Ok(s)
    }

    /// [`PgStore::connect`] without the writer's lease: several writers on one schema at once,
    /// for tests of what the database alone guarantees (the vote journal's key).
    #[doc(hidden)]
    pub fn connect_unleased(opts: &PgOptions, namespace: &str) -> Result<Self, StoreError> {
        let s = Self::open(opts, namespace, Access::Unleased)?;
        s.migrate()?;
        Ok(s)
    }

    /// Opens another service's schema to read it: nothing is created or migrated (a missing
    /// schema reads as empty); one from a newer build is refused like one's own.
    pub fn open_read_only(opts: &PgOptions, namespace: &str) -> Result<Self, StoreError> {
        let s = Self::open(opts, namespace, Access::ReadOnly)?;
        s.version()?;
        Ok(s)
    }

    fn open(opts: &PgOptions, namespace: &str, access: Access) -> Result<Self, StoreError> {
        let read_only = access == Access::ReadOnly;
        check_namespace(namespace)?;
        let at = display_url(&opts.url);
        // PostgreSQL cuts identifiers to 63 bytes without a word: two longer names would share
        // a schema.
        if namespace.len() > 63 {
            return Err(StoreError::BadNamespace(namespace.to_string()));
        }
        let mut config = tokio_postgres::Config::from_str(&opts.url).map_err(|e| StoreError::Pg {
            at: at.clone(),
            detail: format!("bad connection string: {e}"),
        })?;
        // A server that does not answer (a black-holed address, a partition) is an error in
        // seconds, not a thread stuck for minutes, unless the connection string says otherwise.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(CONNECT_TIMEOUT);
        }
        if config.get_options().is_none() {
            config.options(SESSION_OPTIONS);
        }
        config
            .keepalives(true)
            .keepalives_idle(std::time::Duration::from_secs(15));
        let lease_config = config.clone();
        let pool = Pool::builder(Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A connection is checked before it is handed out: after a server restart the
                // pool's old connections are closed, and a write must not fail on one.
                recycling_method: RecyclingMethod::Verified,
            },
        ))
        .max_size(opts.pool.max(1))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| StoreError::Pg {
            at: at.clone(),
            detail: e.to_string(),
        })?;
        let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
        let name = format!("pg-{namespace}");
        let (ready, started) = std_mpsc::sync_channel::<Result<(), StoreError>>(1);
        let lost = Arc::new(AtomicBool::new(false));
        let (lease_lost, lease_at, lease_schema) = (lost.clone(), at.clone(), namespace.to_string());
        let mut lease_config = lease_config;
        // Named, so an operator sees who holds a schema (pg_stat_activity).
        lease_config.application_name(format!("daoli-lease:{namespace}"));
        std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready.send(Err(StoreError::Task(e.to_string())));
                        return;
                    }
                };
                rt.block_on(async move {
                    // The writer's lease, held on a connection of its own for the store's life.
                    let _lease = if access != Access::Leased {
                        None
                    } else {
                        match lease(&lease_config, &lease_at, &lease_schema, lease_lost).await {
                            Ok(client) => Some(client),
                            Err(e) => {
                                let _ = ready.send(Err(e));
                                return;
                            }
                        }
                    };
                    let _ = ready.send(Ok(()));
                    while let Some(job) = queue.recv().await {
                        tokio::spawn(job(pool.clone()));
                    }
                });
            })
            .map_err(|e| StoreError::Task(e.to_string()))?;
        started.recv().map_err(|e| StoreError::Task(e.to_string()))??;
        Ok(PgStore {
            schema: namespace.to_string(),
            at,
            jobs,
            read_only,
            lost,
        })
    }

    fn writable(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                schema: self.schema.clone(),
            });
        }
        if self.lost.load(Ordering::SeqCst) {
            return Err(StoreError::Lease {
                at: self.at.clone(),
                schema: self.schema.clone(),
                detail: "its connection closed (a server restart?); the service restarts to take it again".into(),
            });
        }
        Ok(())
    }

    /// The schema's recorded migration (0: no schema); a newer one than this build's is
    /// refused.
    fn version(&self) -> Result<u64, StoreError> {
        let sql = self.sql();
        let pg = self.pg();
        let (schema, at) = (self.schema.clone(), self.at.clone());
        self.run(move |c| async move {
            let exists: bool = c
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&sql.t("{s}.migrations")])
                .await
                .map_err(pg.clone())?
                .get(0);
            if !exists {
                return Ok(0);
            }
            recorded_version(&**c, &sql, at, schema, pg).await
        })
    }

    /// Records, at first use, the chain and datacenter this schema belongs to, and refuses a
    /// schema that another one recorded (a read-only schema is only checked).
    pub fn claim(&self, chain: &Hash32, datacenter: &[u8; 32]) -> Result<(), StoreError> {
        let sql = self.sql();
        let pg = self.pg();
        let read_only = self.read_only;
        let (mine, dc) = (chain.0.to_vec(), datacenter.to_vec());
        let found: Option<(Vec<u8>, Vec<u8>)> = self.run(move |c| async move {
            let exists: bool = c
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&sql.t("{s}.owner")])
                .await
                .map_err(pg.clone())?
                .get(0);
            if !exists {
                return Ok(None);
            }
            if !read_only {
                c.execute(
                    &sql.t("INSERT INTO {s}.owner (chain, datacenter) VALUES ($1, $2) ON CONFLICT (one) DO NOTHING"),
                    &[&mine, &dc],
                )
                .await
                .map_err(pg.clone())?;
            }
            Ok(c.query_opt(&sql.t("SELECT chain, datacenter FROM {s}.owner"), &[])
                .await
                .map_err(pg)?
                .map(|r| (r.get(0), r.get(1))))
        })?;
        match found {
            Some((c, d)) if c != chain.0 || d != datacenter => Err(StoreError::Owner {
                at: self.at.clone(),
                schema: self.schema.clone(),
                found: format!(
                    "datacenter {} of chain {}",
                    hex::encode(&d[..d.len().min(4)]),
                    hex::encode(&c[..c.len().min(4)])
                ),
                expected: format!(
                    "datacenter {} of chain {}",
                    hex::encode(&datacenter[..4]),
                    hex::encode(&chain.0[..4])
                ),
            }),
            _ => Ok(()),
        }
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    fn sql(&self) -> Sql {
        // Namespaces are [a-z0-9_-] (check_namespace): quoting makes '-' legal, nothing else
        // can break out.
        Sql {
            s: format!("\"{}\"", self.schema),
        }
    }

    fn pg(&self) -> impl Fn(tokio_postgres::Error) -> StoreError + Send + Clone + 'static {
        let at = self.at.clone();
        move |e| StoreError::Pg {
            at: at.clone(),
            detail: pg_detail(&e),
        }
    }

    /// Runs `f` on the worker with a pooled connection and waits for its answer.
    fn run<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(deadpool_postgres::Object) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.run_within(CALL_DEADLINE, f)
    }

    /// [`PgStore::run`] with its own deadline: past it the call fails (the service stops and
    /// its restart starts over from what was committed).
    fn run_within<T, F, Fut>(&self, deadline: std::time::Duration, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(deadpool_postgres::Object) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let (tx, rx) = std_mpsc::sync_channel(1);
        let at = self.at.clone();
        let job: Job = Box::new(move |pool: Pool| {
            Box::pin(async move {
                let r = match pool.get().await {
                    Ok(c) => f(c).await,
                    Err(e) => Err(StoreError::Pg {
                        at,
                        detail: match &e {
                            deadpool_postgres::PoolError::Backend(b) => pg_detail(b),
                            other => other.to_string(),
                        },
                    }),
                };
                let _ = tx.send(r);
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Task("the PostgreSQL worker stopped".into()))?;
        match rx.recv_timeout(deadline) {
            Ok(r) => r,
            Err(std_mpsc::RecvTimeoutError::Timeout) => Err(StoreError::Pg {
                at: self.at.clone(),
                detail: format!("no answer within {} s", deadline.as_secs()),
            }),
            Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                Err(StoreError::Task("the PostgreSQL worker dropped the call".into()))
            }
        }
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let sql = self.sql();
        let pg = self.pg();
        let (schema, at) = (self.schema.clone(), self.at.clone());
        self.run(move |mut c| async move {
            let t = c.transaction().await.map_err(pg.clone())?;
            // Two processes of one service starting together: one creates and migrates, the
            // other waits (the lock is held to the end of the transaction), then finds nothing
            // to do. Taken before anything is created: concurrent CREATE ... IF NOT EXISTS
            // can fail on PostgreSQL's catalog.
            t.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))",
                &[&format!("daoli:{schema}")],
            )
            .await
            .map_err(pg.clone())?;
            t.batch_execute(&sql.t("CREATE SCHEMA IF NOT EXISTS {s};
                 CREATE TABLE IF NOT EXISTS {s}.migrations (
                     version bigint PRIMARY KEY, name text NOT NULL,
                     applied_at timestamptz NOT NULL DEFAULT now());"))
                .await
                .map_err(pg.clone())?;
            let found = recorded_version(&*t, &sql, at, schema, pg.clone()).await?;
            for (v, (name, up)) in MIGRATIONS.iter().enumerate().skip(found as usize) {
                t.batch_execute(&sql.t(up)).await.map_err(pg.clone())?;
                t.execute(
                    &sql.t("INSERT INTO {s}.migrations (version, name) VALUES ($1, $2)"),
                    &[&(v as i64 + 1), name],
                )
                .await
                .map_err(pg.clone())?;
            }
            t.commit().await.map_err(pg)
        })
    }

    fn decode<T: DeserializeOwned>(
        &self,
        table: &'static str,
        key: impl fmt::Debug,
        b: &[u8],
    ) -> Result<T, StoreError> {
        decode(&self.at, &self.schema, table, key, b)
    }
}

fn decode<T: DeserializeOwned>(
    at: &str,
    schema: &str,
    table: &'static str,
    key: impl fmt::Debug,
    b: &[u8],
) -> Result<T, StoreError> {
    postcard::from_bytes(b).map_err(|source| StoreError::Decode {
        path: PathBuf::from(at),
        namespace: schema.to_string(),
        table,
        key: format!("{key:?}"),
        source,
    })
}

impl Store for PgStore {
    fn write(&self, batch: &[Persist<'_>]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.writable()?;
        let rows = rows(batch);
        let sql = self.sql();
        let pg = self.pg();
        let (at, schema) = (self.at.clone(), self.schema.clone());
        self.run(move |mut c| async move {
            let t = c.transaction().await.map_err(pg.clone())?;
            // Shared-locked: a prune in another process waits for this write (or this write
            // for it), so nothing is recorded below a floor raised meanwhile.
            let floor: i64 = t
                .query_opt(&sql.t("SELECT value FROM {s}.meta WHERE key = 'floor' FOR SHARE"), &[])
                .await
                .map_err(pg.clone())?
                .map_or(0, |r| r.get(0));
            let floor = floor.max(0) as u64;
            // Any error returns before commit: dropping the transaction rolls all of it back.
            for row in rows {
                match row {
                    Row::Txs(run) => {
                        let (ids, bodies): (Vec<Vec<u8>>, Vec<Vec<u8>>) = run.into_iter().unzip();
                        t.execute(
                            &sql.t(
                                "INSERT INTO {s}.txs (id, body)
                                 SELECT id, body FROM unnest($1::bytea[], $2::bytea[]) WITH ORDINALITY AS r(id, body, n)
                                 ORDER BY n
                                 ON CONFLICT (id) DO NOTHING",
                            ),
                            &[&ids, &bodies],
                        )
                        .await
                        .map_err(pg.clone())?;
                    }
                    Row::Forget(ids) => {
                        t.execute(&sql.t("DELETE FROM {s}.txs WHERE id = ANY($1::bytea[])"), &[&ids])
                            .await
                            .map_err(pg.clone())?;
                    }
                    Row::Evidence(id, body) => {
                        t.execute(
                            &sql.t("INSERT INTO {s}.evidence (id, body) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING"),
                            &[&id, &body],
                        )
                        .await
                        .map_err(pg.clone())?;
                    }
                    Row::Signed(height, id, body) => {
                        if let Some(h) = height
                            && h < floor
                        {
                            return Err(StoreError::BelowFloor { height: h, floor });
                        }
                        let h = i64_of("height", height.unwrap_or(0))?;
                        t.execute(
                            &sql.t(
                                "INSERT INTO {s}.signed (height, id, body) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                            ),
                            &[&h, &id, &body],
                        )
                        .await
                        .map_err(pg.clone())?;
                    }
                    Row::Vote(key, body) => {
                        if key.0 < floor {
                            return Err(StoreError::BelowFloor { height: key.0, floor });
                        }
                        let (h, r, s) = (i64_of("height", key.0)?, i64::from(key.1), step_i16(key.2));
                        let inserted = t
                            .execute(
                                &sql.t(
                                    "INSERT INTO {s}.votes (height, round, step, body) VALUES ($1, $2, $3, $4)
                                     ON CONFLICT (height, round, step) DO NOTHING",
                                ),
                                &[&h, &r, &s, &body],
                            )
                            .await
                            .map_err(pg.clone())?;
                        if inserted == 0 {
                            let stored: Vec<u8> = t
                                .query_one(
                                    &sql.t("SELECT body FROM {s}.votes WHERE height = $1 AND round = $2 AND step = $3"),
                                    &[&h, &r, &s],
                                )
                                .await
                                .map_err(pg.clone())?
                                .get(0);
                            if stored != body {
                                let stored: Vote = decode(&at, &schema, "votes", key, &stored)?;
                                return Err(StoreError::Conflict(Conflict::Vote {
                                    key,
                                    stored: Box::new(stored),
                                }));
                            }
                        }
                    }
                    Row::Block(height, hash, body) => {
                        let h = i64_of("height", height)?;
                        let inserted = t
                            .execute(
                                &sql.t(
                                    "INSERT INTO {s}.blocks (height, hash, body) VALUES ($1, $2, $3)
                                     ON CONFLICT (height) DO NOTHING",
                                ),
                                &[&h, &hash.0.as_slice(), &body],
                            )
                            .await
                            .map_err(pg.clone())?;
                        if inserted == 0 {
                            let stored: Vec<u8> = t
                                .query_one(&sql.t("SELECT hash FROM {s}.blocks WHERE height = $1"), &[&h])
                                .await
                                .map_err(pg.clone())?
                                .get(0);
                            // The same block with another QC or batch list: keep the first.
                            if stored != hash.0 {
                                let mut s = [0u8; 32];
                                let n = stored.len().min(32);
                                s[..n].copy_from_slice(&stored[..n]);
                                return Err(StoreError::Conflict(Conflict::Block {
                                    height,
                                    stored: Hash32(s),
                                    offered: hash,
                                }));
                            }
                        }
                    }
                }
            }
            t.commit().await.map_err(pg)
        })
    }

    fn recover(&self) -> Result<Recovered, StoreError> {
        // Another service's schema that was never made: nothing to read.
        if self.read_only && self.version()? == 0 {
            return Ok(Recovered::default());
        }
        let sql = self.sql();
        let pg = self.pg();
        let (at, schema) = (self.at.clone(), self.schema.clone());
        self.run_within(RECOVER_DEADLINE, move |mut c| async move {
            // One snapshot for all tables.
            let t = c
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(pg.clone())?;
            t.batch_execute(&format!("SET LOCAL statement_timeout = '{RECOVER_STATEMENT_TIMEOUT}'"))
                .await
                .map_err(pg.clone())?;
            let mut out = Recovered::default();
            if let Some(r) = t
                .query_opt(&sql.t("SELECT value FROM {s}.meta WHERE key = 'floor'"), &[])
                .await
                .map_err(pg.clone())?
            {
                out.floor = r.get::<_, i64>(0).max(0) as u64;
            }
            for r in t
                .query(&sql.t("SELECT height, body FROM {s}.blocks ORDER BY height"), &[])
                .await
                .map_err(pg.clone())?
            {
                let b: (CertifiedBlock, Vec<Batch>) =
                    decode(&at, &schema, "blocks", r.get::<_, i64>(0), r.get::<_, &[u8]>(1))?;
                out.durable.blocks.push(b);
            }
            for r in t
                .query(&sql.t("SELECT seq, body FROM {s}.txs ORDER BY seq"), &[])
                .await
                .map_err(pg.clone())?
            {
                let tx: Transaction = decode(&at, &schema, "txs", r.get::<_, i64>(0), r.get::<_, &[u8]>(1))?;
                out.durable.txs.push(tx);
            }
            for r in t
                .query(&sql.t("SELECT seq, body FROM {s}.evidence ORDER BY seq"), &[])
                .await
                .map_err(pg.clone())?
            {
                out.durable.evidence.push(decode(
                    &at,
                    &schema,
                    "evidence",
                    r.get::<_, i64>(0),
                    r.get::<_, &[u8]>(1),
                )?);
            }
            for r in t
                .query(&sql.t("SELECT seq, body FROM {s}.signed ORDER BY height, seq"), &[])
                .await
                .map_err(pg.clone())?
            {
                out.durable.signed.push(decode(
                    &at,
                    &schema,
                    "signed",
                    r.get::<_, i64>(0),
                    r.get::<_, &[u8]>(1),
                )?);
            }
            for r in t
                .query(
                    &sql.t("SELECT height, body FROM {s}.votes ORDER BY height, round, step"),
                    &[],
                )
                .await
                .map_err(pg.clone())?
            {
                out.votes
                    .push(decode(&at, &schema, "votes", r.get::<_, i64>(0), r.get::<_, &[u8]>(1))?);
            }
            t.commit().await.map_err(pg)?;
            Ok(out)
        })
    }

    fn vote(&self, key: &VoteKey) -> Result<Option<Vote>, StoreError> {
        let sql = self.sql();
        let pg = self.pg();
        let key = *key;
        let (h, r, s) = (i64_of("height", key.0)?, i64::from(key.1), step_i16(key.2));
        let body: Option<Vec<u8>> = self.run(move |c| async move {
            Ok(c.query_opt(
                &sql.t("SELECT body FROM {s}.votes WHERE height = $1 AND round = $2 AND step = $3"),
                &[&h, &r, &s],
            )
            .await
            .map_err(pg)?
            .map(|row| row.get(0)))
        })?;
        body.map(|b| self.decode("votes", key, &b)).transpose()
    }

    fn votes_between(&self, from: u64, to: u64) -> Result<Vec<Vote>, StoreError> {
        if from > to {
            return Ok(Vec::new());
        }
        let sql = self.sql();
        let pg = self.pg();
        let (lo, hi) = (i64_of("height", from)?, i64::try_from(to).unwrap_or(i64::MAX));
        let bodies: Vec<Vec<u8>> = self.run(move |c| async move {
            Ok(c.query(
                &sql.t("SELECT body FROM {s}.votes WHERE height BETWEEN $1 AND $2 ORDER BY height, round, step"),
                &[&lo, &hi],
            )
            .await
            .map_err(pg)?
            .into_iter()
            .map(|r| r.get(0))
            .collect())
        })?;
        bodies.iter().map(|b| self.decode("votes", (from, to), b)).collect()
    }

    fn prune_below(&self, height: u64) -> Result<(), StoreError> {
        self.writable()?;
        let sql = self.sql();
        let pg = self.pg();
        let h = i64_of("height", height)?;
        self.run(move |mut c| async move {
            let t = c.transaction().await.map_err(pg.clone())?;
            let floor: i64 = t
                .query_opt(&sql.t("SELECT value FROM {s}.meta WHERE key = 'floor' FOR UPDATE"), &[])
                .await
                .map_err(pg.clone())?
                .map_or(0, |r| r.get(0));
            if h <= floor {
                return Ok(());
            }
            t.execute(
                &sql.t("INSERT INTO {s}.meta (key, value) VALUES ('floor', $1)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
                &[&h],
            )
            .await
            .map_err(pg.clone())?;
            t.execute(&sql.t("DELETE FROM {s}.votes WHERE height < $1"), &[&h])
                .await
                .map_err(pg.clone())?;
            t.execute(&sql.t("DELETE FROM {s}.signed WHERE height < $1"), &[&h])
                .await
                .map_err(pg.clone())?;
            t.commit().await.map_err(pg)
        })
    }
}
