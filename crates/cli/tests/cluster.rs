//! The network as operators run it: 3 datacenters x 7 services, each service its own process
//! (`daoli service`), on one Apache Kafka broker (`DAOLI_KAFKA`) and one PostgreSQL server
//! (`DAOLI_POSTGRES`); the README's test command starts both. While `daoli load` runs, every
//! service kind is killed once (SIGKILL, in dc0, dc1, dc2, dc0, ... in turn), then the broker,
//! then PostgreSQL. A supervisor restarts whatever exits, as Kubernetes would. After each kill
//! the chain must advance again within a bound; at the end every acknowledged transaction is
//! executed exactly once, no trustee signed two different votes for one (height, round, step),
//! and all datacenters agree on the state root.

use daoli::cluster::{self, client_port, config_path};
use daoli_runtime::config::Service;
use daoli_wire::client::{ChainStatus, TxStatus};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DCS: usize = 3;
/// How long the chain may take to advance again after a kill (the broker's and the
/// database's restarts included).
const ADVANCE_WITHIN: Duration = Duration::from_secs(120);

fn var(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| {
        panic!("{k} is not set: this test needs a real Kafka broker and PostgreSQL (tests/run.sh starts them)")
    })
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The 21 processes, restarted when they exit (a supervisor's restart policy).
struct Cluster {
    dir: PathBuf,
    base: u16,
    postgres: String,
    procs: Mutex<BTreeMap<(usize, Service), Child>>,
    restarts: Mutex<u64>,
    stopping: std::sync::atomic::AtomicBool,
}

impl Cluster {
    fn spawn(&self, i: usize, s: Service) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("dc{i}-{s}.log")))
            .expect("a log file");
        Command::new(env!("CARGO_BIN_EXE_daoli"))
            .arg("service")
            .arg("--config")
            .arg(config_path(&self.dir, i, s))
            .env("DAOLI_POSTGRES_URL", &self.postgres)
            .env("DAOLI_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log file"))
            .stderr(log)
            .spawn()
            .expect("daoli service starts")
    }

    fn start_all(&self) {
        let mut p = self.procs.lock().unwrap();
        for i in 0..DCS {
            for s in Service::ALL {
                p.insert((i, s), self.spawn(i, s));
            }
        }
    }

    fn kill(&self, i: usize, s: Service) {
        let mut p = self.procs.lock().unwrap();
        let c = p.get_mut(&(i, s)).expect("a process");
        c.kill().expect("SIGKILL");
        let _ = c.wait();
    }

    /// Restarts every process that exited (a crash, a failure it stopped on, a kill).
    fn supervise(&self) {
        if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let mut p = self.procs.lock().unwrap();
        let exited: Vec<(usize, Service)> = p
            .iter_mut()
            .filter_map(|(k, c)| matches!(c.try_wait(), Ok(Some(_))).then_some(*k))
            .collect();
        for (i, s) in exited {
            *self.restarts.lock().unwrap() += 1;
            p.insert((i, s), self.spawn(i, s));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.procs.lock().unwrap().values_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn endpoint(base: u16, i: usize) -> String {
    format!("http://127.0.0.1:{}", client_port(base, i))
}

async fn status(base: u16, i: usize) -> Option<ChainStatus> {
    let mut c = daoli::load::connect(&endpoint(base, i)).await.ok()?;
    daoli::load::chain_status(&mut c).await.ok()
}

/// The lowest height any datacenter reports (a datacenter that does not answer counts as 0).
async fn min_height(base: u16) -> u64 {
    let mut h = u64::MAX;
    for i in 0..DCS {
        h = h.min(status(base, i).await.map_or(0, |s| s.height));
    }
    h
}

/// Waits until every datacenter is past `above`; returns how long it took.
async fn advanced(c: &Cluster, above: u64, what: &str) -> Duration {
    let start = Instant::now();
    loop {
        c.supervise();
        let h = min_height(c.base).await;
        if h > above {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < ADVANCE_WITHIN,
            "{what}: the chain did not advance past height {above} within {ADVANCE_WITHIN:?} (lowest: {h}); logs in {}",
            c.dir.display()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Whether something accepts TCP connections at `addr` (host:port).
fn listening(addr: &str) -> bool {
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
}

fn infra(cmd: &str) {
    let ok = Command::new(repo().join("deploy/local/infra.sh"))
        .arg(cmd)
        .status()
        .expect("infra.sh runs")
        .success();
    assert!(ok, "deploy/local/infra.sh {cmd} failed");
}

/// A running cluster under load.
struct Run {
    c: Arc<Cluster>,
    g: daoli_protocol::params::Genesis,
    postgres: String,
    base: u16,
    stop_load: tokio::sync::oneshot::Sender<()>,
    load: tokio::task::JoinHandle<daoli::load::Report>,
}

async fn start(base: u16) -> Run {
    let kafka = var("DAOLI_KAFKA");
    let postgres = var("DAOLI_POSTGRES");
    // Kept if the test fails: the processes' logs are there.
    let dir = tempfile::tempdir().unwrap().keep();
    let g = cluster::write(&cluster::Args {
        datacenters: DCS,
        dir: dir.clone(),
        base_port: base,
        kafka,
        log: "warn".into(),
    })
    .expect("the network's files");
    let c = Arc::new(Cluster {
        dir,
        base,
        postgres: postgres.clone(),
        procs: Mutex::new(BTreeMap::new()),
        restarts: Mutex::new(0),
        stopping: false.into(),
    });
    c.start_all();
    let t = advanced(&c, 2, "start-up").await;
    println!("cluster: {DCS} datacenters x 7 service processes certified height 3 in {t:.1?}");
    let (stop_load, load_stopped) = tokio::sync::oneshot::channel::<()>();
    let endpoints: Vec<String> = (0..DCS).map(|i| endpoint(base, i)).collect();
    let load = tokio::spawn(daoli::load::drive(
        endpoints,
        g.chain_id(),
        100,
        daoli::devnet::CLIENT_ACCOUNTS,
        async move {
            let _ = load_stopped.await;
        },
    ));
    tokio::time::sleep(Duration::from_secs(5)).await;
    Run {
        c,
        g,
        postgres,
        base,
        stop_load,
        load,
    }
}

/// Stops the load, then checks: every acknowledged transaction executed exactly once on every
/// datacenter, one chain (height, tip, state root), no equivocation certified and one
/// journaled vote per (height, round, step). Prints the counts.
async fn finish(run: Run, kills: usize) {
    let Run {
        c,
        g,
        postgres,
        base,
        stop_load,
        load,
    } = run;
    // A little more load on the healed cluster, then the last acknowledged ones finalize.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let _ = stop_load.send(());
    let report = load.await.expect("the load task");
    println!("load: {}", report.summary());
    assert!(report.acked > 0, "nothing was acknowledged");

    // Every acknowledged transaction executed, exactly once: each is executed (a transaction
    // executes only as its sender's next nonce, so never twice), on every datacenter.
    for i in 0..DCS {
        let mut cl = daoli::load::connect(&endpoint(base, i)).await.expect("a client");
        let mut missing = Vec::new();
        for h in &report.acked_txs {
            let start = Instant::now();
            loop {
                c.supervise();
                let s = daoli::load::tx_status(&mut cl, h).await.expect("a well-formed status");
                match s {
                    TxStatus::Executed { success: true, .. } => break,
                    TxStatus::Executed { outcome, .. } => panic!("dc{i}: acknowledged tx {h:?} failed: {outcome}"),
                    _ if start.elapsed() > Duration::from_secs(60) => {
                        missing.push(*h);
                        break;
                    }
                    _ => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        }
        assert!(
            missing.is_empty(),
            "dc{i}: {} of {} acknowledged transactions never executed",
            missing.len(),
            report.acked_txs.len()
        );
    }
    // The same chain everywhere: at one height, one tip and one state root.
    let start = Instant::now();
    let agreed = loop {
        c.supervise();
        let mut all = Vec::new();
        for i in 0..DCS {
            all.extend(status(base, i).await);
        }
        if all.len() == DCS
            && all
                .iter()
                .all(|s| (s.height, s.tip_hash, s.state_root) == (all[0].height, all[0].tip_hash, all[0].state_root))
        {
            break all.remove(0);
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "datacenters disagree: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // No trustee signed two different votes for one (height, round, step): every vote the
    // certified blocks carry (their certificates' precommits, the prevotes their MicroBlocks
    // embed) is the very vote its trustee journaled for that step (a trustee writes each vote
    // before it leaves, and its journal's key holds one vote per step); and its peers saw no
    // equivocation (no evidence certified).
    let mut cl = daoli::load::connect(&endpoint(base, 0)).await.expect("a client");
    let mut evidence = 0;
    let mut batches = 0u64;
    let mut seen = Vec::new();
    for h in 1..=agreed.height {
        let (cb, _) = daoli::load::block(&mut cl, h)
            .await
            .expect("a well-formed certified block");
        evidence += cb.block.micro.as_ref().map_or(0, |m| m.evidence.len());
        batches += cb.block.micro.as_ref().map_or(0, |m| m.batches.len() as u64);
        seen.extend(cb.qc.precommits.iter().cloned());
        seen.extend(cb.block.micro.iter().flat_map(|m| m.prev_prevotes.iter().cloned()));
    }
    c.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut journal = std::collections::HashMap::new();
    for i in 0..DCS {
        let schema = format!("{}_{}", daoli::devnet::dc_name(&g, i), Service::IbftTrustees).replace('-', "_");
        // Read-only: the trustee's process still holds its schema.
        let st = daoli_runtime::store::pg::PgStore::open_read_only(
            &daoli_runtime::store::pg::PgOptions {
                url: postgres.clone(),
                pool: 1,
            },
            &schema,
        )
        .expect("the trustee's schema");
        let votes = daoli_runtime::store::Store::recover(&st).expect("its journal").votes;
        assert!(!votes.is_empty(), "dc{i}: no vote journaled in {schema}");
        for v in votes {
            journal.insert((v.voter, v.height, v.round, v.step), v);
        }
    }
    let journaled = journal.len();
    for v in &seen {
        let j = journal.get(&(v.voter, v.height, v.round, v.step));
        assert_eq!(
            j.map(|j| j.value),
            Some(v.value),
            "a certified vote is not the one its trustee journaled: {v:?} vs {j:?}"
        );
    }
    assert!(seen.len() > agreed.height as usize, "certificates carry votes");
    assert_eq!(evidence, 0, "equivocation evidence was certified");
    println!(
        "cluster: {kills} kills, {} restarts; {} acknowledged, all executed once on all {DCS} datacenters; {batches} batches in {} heights; {journaled} votes journaled, {} certified votes each the one journaled, 0 equivocations; agreed at height {} on state root {}",
        c.restarts.lock().unwrap(),
        report.acked,
        agreed.height,
        seen.len(),
        agreed.height,
        agreed.state_root.short()
    );
    let dir = c.dir.clone();
    drop(c);
    let _ = std::fs::remove_dir_all(&dir);
}

// Each service kind killed once (SIGKILL, while the load runs), in a different datacenter each
// time, and restarted by the supervisor: it resumes from its schema, the others' schemas and
// its consumer group's offset. Then the broker, then the database, each killed and started
// again 2 s later: every datacenter stalls through at least one cycle's mining window, so its
// lots all come late, and the empty drawings are drawn again at the stall. One test, so that
// nothing else runs on the broker and the database while they are killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_of_service_processes_survives_sigkill_of_each_service_kind_the_broker_and_the_database() {
    let run = start(18_500).await;
    let mut kills = 0;
    for (k, s) in Service::ALL.into_iter().enumerate() {
        let i = k % DCS;
        let h = min_height(run.base).await;
        run.c.kill(i, s);
        kills += 1;
        let t = advanced(&run.c, h + 2, &format!("dc{i} {s} killed")).await;
        println!(
            "killed dc{i} {s} at height {h}: every datacenter past {} {t:.1?} later",
            h + 2
        );
    }
    let pg_addr = {
        let u = url::Url::parse(&var("DAOLI_POSTGRES")).expect("DAOLI_POSTGRES is a postgres:// URL");
        format!("{}:{}", u.host_str().expect("a host"), u.port().unwrap_or(5432))
    };
    for (what, kill, start, addr) in [
        ("Kafka broker", "kill-kafka", "start-kafka", var("DAOLI_KAFKA")),
        ("PostgreSQL server", "kill-postgres", "start-postgres", pg_addr),
    ] {
        let h = min_height(run.base).await;
        assert!(listening(&addr), "the {what} serves {addr} before the kill");
        infra(kill);
        let killed = Instant::now();
        while listening(&addr) {
            assert!(
                killed.elapsed() < Duration::from_secs(10),
                "the {what} at {addr} still serves 10 s after the kill"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        kills += 1;
        tokio::time::sleep(Duration::from_secs(2)).await;
        infra(start);
        let t = advanced(&run.c, h + 2, &format!("{what} killed")).await;
        println!(
            "killed the {what} at height {h}: every datacenter past {} {t:.1?} later",
            h + 2
        );
    }
    finish(run, kills).await;
}
