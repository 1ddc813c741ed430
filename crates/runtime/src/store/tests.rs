use super::*;
use daoli_protocol::block::Block;
use daoli_protocol::codec::ChainId;
use daoli_protocol::crypto::Keypair;
use daoli_protocol::lot::Lot;
use daoli_protocol::tx::TxKind;
use daoli_protocol::vectors;
use daoli_protocol::vote::{Qc, SignerError, VoteSigner};
use std::io::{BufRead, BufReader};
use std::sync::OnceLock;

const CHAIN: ChainId = Hash32([0xc4; 32]);
const NS: &str = "ibft-trustees";

/// Real core values (a block with a tree, MicroBlock, evidence and QC; two batches; a lot), taken
/// from the golden vectors so the store round-trips everything the core can hand it.
struct Fixture {
    certified: CertifiedBlock,
    batches: Vec<Batch>,
    evidence: Evidence,
    lot: Lot,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let from = |v: &serde_json::Value| v.clone();
        let b = vectors::block();
        let block: Block = serde_json::from_value(from(&b["block"])).expect("block");
        let qc: Qc = serde_json::from_value(from(&b["qc"])).expect("qc");
        let evidence = serde_json::from_value(from(&b["evidence"])).expect("evidence");
        let bt = vectors::batch();
        let batches = vec![
            serde_json::from_value(from(&bt["batch"])).expect("batch"),
            serde_json::from_value(from(&bt["mixed"]["batch"])).expect("mixed batch"),
        ];
        let lot = serde_json::from_value(from(&vectors::lot()["lot"])).expect("lot");
        Fixture {
            certified: CertifiedBlock { block, qc },
            batches,
            evidence,
            lot,
        }
    })
}

fn tx(nonce: u64) -> Transaction {
    let alice = Keypair::from_label("alice");
    let bob = Keypair::from_label("bob").public();
    Transaction::new(
        &alice,
        &CHAIN,
        nonce,
        1,
        TxKind::Transfer { to: bob, amount: 10 },
        vec![],
    )
}

fn vote(height: u64, round: u32, step: Step, value: u8) -> Vote {
    let seat = Keypair::from_label("seat");
    Vote::sign_unchecked(&seat, &CHAIN, height, round, step, Some(Hash32([value; 32])), 0)
}

fn open(dir: &tempfile::TempDir) -> EmbeddedStore {
    EmbeddedStore::open_in(dir.path(), NS).expect("open")
}

/// The store contract on the embedded store: a file reopened for each handle (sequential
/// tests), or one shared database (racing handles).
fn on_file(dir: &tempfile::TempDir) -> impl Fn() -> Arc<dyn Store> + Sync + '_ {
    move || Arc::new(open(dir)) as Arc<dyn Store>
}

#[test]
fn writes_survive_reopen_in_order() {
    let dir = tempfile::tempdir().unwrap();
    contract::writes_survive_reopen_in_order(&on_file(&dir));
}

#[test]
fn a_different_vote_is_refused_and_nothing_of_its_list_is_written() {
    let dir = tempfile::tempdir().unwrap();
    contract::a_different_vote_is_refused_and_nothing_of_its_list_is_written(&on_file(&dir));
}

#[test]
fn racing_writers_get_exactly_one_vote_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(EmbeddedDb::open(dir.path().join("shared.redb")).unwrap());
    // Separate store handles, as two trustee replicas in one process would have.
    contract::racing_writers_get_exactly_one_vote_acknowledged(&|| {
        Arc::new(EmbeddedStore::new(db.clone(), NS).unwrap()) as Arc<dyn Store>
    });
}

#[test]
fn a_different_block_at_a_stored_height_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    contract::a_different_block_at_a_stored_height_is_refused(&on_file(&dir));
}
#[test]
fn namespaces_in_one_file_are_separate() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(EmbeddedDb::open(dir.path().join("dc.redb")).unwrap());
    let trustee = EmbeddedStore::new(db.clone(), "ibft-trustees").unwrap();
    let buffer = EmbeddedStore::new(db, "kernel-buffer").unwrap();
    trustee.write(&[Persist::Vote(&vote(1, 0, Step::Prevote, 1))]).unwrap();
    buffer.write(&[Persist::Tx(&tx(0))]).unwrap();
    // The same key in another namespace is another trustee's slot, not a conflict.
    buffer.write(&[Persist::Vote(&vote(1, 0, Step::Prevote, 2))]).unwrap();
    let (t, b) = (trustee.recover().unwrap(), buffer.recover().unwrap());
    assert_eq!((t.votes.len(), t.durable.txs.len()), (1, 0));
    assert_eq!((b.votes.len(), b.durable.txs.len()), (1, 1));
    assert!(matches!(
        EmbeddedStore::open_in(dir.path(), "Bad Name"),
        Err(StoreError::BadNamespace(_))
    ));
}

#[test]
fn a_file_open_elsewhere_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let _s = open(&dir);
    let err = open_err(EmbeddedStore::open_in(dir.path(), NS));
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("ibft-trustees.redb"), "{err}");
}

fn open_err(r: Result<EmbeddedStore, StoreError>) -> StoreError {
    match r {
        Ok(s) => panic!("opened {}", s.path().display()),
        Err(e) => e,
    }
}

#[test]
fn a_corrupted_file_gives_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ibft-trustees.redb");
    std::fs::write(&path, vec![0xab; 8192]).unwrap();
    let err = open_err(EmbeddedStore::open(&path, NS));
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");

    // A real store whose header was overwritten.
    let path = dir.path().join("damaged.redb");
    EmbeddedStore::open(&path, NS)
        .unwrap()
        .write(&[Persist::Tx(&tx(0))])
        .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..64].fill(0x5a);
    std::fs::write(&path, bytes).unwrap();
    let err = open_err(EmbeddedStore::open(&path, NS));
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("damaged.redb"), "{err}");
}

#[test]
fn a_newer_format_is_refused_by_file_and_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let path = {
        let s = open(&dir);
        s.path().to_path_buf()
    };
    {
        // What a future build would leave behind.
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(Names::new(NS).meta())
            .unwrap()
            .insert(META_FORMAT, FORMAT_VERSION + 1)
            .unwrap();
        txn.commit().unwrap();
    }
    let err = open_err(EmbeddedStore::open(&path, NS));
    assert!(
        matches!(&err, StoreError::NewerFormat { found, supported, .. } if *found == FORMAT_VERSION + 1 && *supported == FORMAT_VERSION),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("ibft-trustees"),
        "{msg}"
    );
    // Another namespace in the same file is unaffected.
    EmbeddedStore::open(&path, "ledger").unwrap();
}

#[test]
fn an_undecodable_record_names_its_table_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.redb");
    let db = Arc::new(EmbeddedDb::open(&path).unwrap());
    let s = EmbeddedStore::new(db.clone(), NS).unwrap();
    let txn = db.db.begin_write().unwrap();
    txn.open_table(s.names.votes())
        .unwrap()
        .insert((3, 0, 0), [0xff_u8; 3].as_slice())
        .unwrap();
    txn.commit().unwrap();
    let err = s.recover().unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("x.redb") && msg.contains("votes[(3, 0, 0)]"), "{msg}");
}

#[test]
fn dropped_without_close_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    s.write(&[Persist::Tx(&tx(0)), Persist::Vote(&vote(1, 0, Step::Prevote, 1))])
        .unwrap();
    drop(s); // no close, no flush call: every write was durable when it returned
    let r = open(&dir).recover().unwrap();
    assert_eq!((r.durable.txs.len(), r.votes.len()), (1, 1));
}

const CRASH_CHILD: &str = "DAOLI_STORE_CRASH_CHILD";

/// The child half writes and acknowledges until it is killed; the parent half kills it with
/// SIGKILL (no destructor, no flush) and checks that every acknowledged write is there.
#[test]
fn a_killed_process_keeps_every_acknowledged_write() {
    if let Some(dir) = std::env::var_os(CRASH_CHILD) {
        let s = EmbeddedStore::open_in(dir, NS).unwrap();
        for i in 0.. {
            s.write(&[Persist::Tx(&tx(i)), Persist::Vote(&vote(i, 0, Step::Prevote, 1))])
                .unwrap();
            println!("ack {i}");
        }
        unreachable!();
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "store::tests::a_killed_process_keeps_every_acknowledged_write",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD, dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut acked = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        // The harness prints "test <name> ... " on the line of the first acknowledgement.
        if let Some((_, n)) = line.unwrap().split_once("ack ") {
            acked = Some(n.trim().parse::<u64>().unwrap());
            if acked == Some(30) {
                child.kill().unwrap();
                break;
            }
        }
    }
    child.wait().unwrap();
    let acked = acked.expect("the child acknowledged writes");
    let r = open(&dir).recover().unwrap();
    // Writes after the last acknowledgement may or may not be there; none before it is missing.
    assert!(
        r.durable.txs.len() as u64 > acked,
        "{} txs, {acked} acked",
        r.durable.txs.len()
    );
    for (i, t) in r.durable.txs.iter().enumerate() {
        assert_eq!(*t, tx(i as u64));
    }
    assert_eq!(
        r.votes.len(),
        r.durable.txs.len(),
        "each vote went with its transaction"
    );
}

#[test]
fn pruning_drops_old_heights_and_raises_a_floor() {
    let dir = tempfile::tempdir().unwrap();
    contract::pruning_drops_old_heights_and_raises_a_floor(&on_file(&dir));
}

fn open_again(s: EmbeddedStore) -> EmbeddedStore {
    let path = s.path().to_path_buf();
    drop(s);
    EmbeddedStore::open(path, NS).unwrap()
}

#[test]
fn the_core_signer_on_a_store_journal_never_double_signs() {
    let dir = tempfile::tempdir().unwrap();
    let key = Keypair::from_label("seat");
    let store = Arc::new(open(&dir));
    let mut signer = VoteSigner::new(key.clone(), CHAIN, StoreJournal::load(store.clone(), 0).unwrap());
    let a = signer.sign(3, 0, Step::Prevote, Some(Hash32([1; 32])), 0).unwrap();

    // A second replica whose journal was loaded before `a` was written: its cache says the slot
    // is free, so it signs, but the store refuses to record it and the vote never leaves.
    let store2: Arc<dyn Store> = Arc::new(EmbeddedStore::new(store.db.clone(), NS).unwrap());
    let stale = StoreJournal {
        store: store2,
        from_height: 0,
        cache: BTreeMap::new(),
    };
    let mut replica = VoteSigner::new(key.clone(), CHAIN, stale);
    assert!(matches!(
        replica.sign(3, 0, Step::Prevote, Some(Hash32([2; 32])), 0),
        Err(SignerError::Journal(m)) if m.contains("conflict")
    ));

    // A restart: a new signer on the reopened store resends `a` and refuses anything else.
    drop((signer, replica));
    let store = Arc::new(open_again(Arc::into_inner(store).expect("one handle")));
    let mut signer = VoteSigner::new(key, CHAIN, StoreJournal::load(store.clone(), 3).unwrap());
    assert_eq!(signer.sign(3, 0, Step::Prevote, Some(Hash32([1; 32])), 0).unwrap(), a);
    assert_eq!(
        signer.sign(3, 0, Step::Prevote, None, 0),
        Err(SignerError::Conflict(3, 0, Step::Prevote))
    );
    signer.sign(3, 1, Step::Prevote, None, 0).unwrap();
    assert_eq!(signer.journal.at_height(3).len(), 2);
    assert_eq!(store.votes_at(3).unwrap().len(), 2);
    // Below the cached range the journal reads through.
    signer.journal.evict_below(4);
    assert_eq!(signer.journal.get(&(3, 0, Step::Prevote)), Some(a));
    assert_eq!(signer.journal.at_height(3).len(), 2);
}

#[tokio::test]
async fn blocking_runs_store_calls_off_the_executor() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(open(&dir));
    let v = vote(1, 0, Step::Prevote, 1);
    let w = v.clone();
    blocking(store.clone(), move |s| s.write(&[Persist::Vote(&w)]))
        .await
        .unwrap();
    let got = blocking(store, |s| s.vote(&(1, 0, Step::Prevote))).await.unwrap();
    assert_eq!(got, Some(v));
}

/// What every [`Store`] must do. `open` gives a new handle on the same storage; a test drops
/// its handles before it opens another unless it says otherwise.
mod contract {
    use super::*;

    pub type Open<'a> = &'a (dyn Fn() -> Arc<dyn Store> + Sync);

    pub fn writes_survive_reopen_in_order(open: Open<'_>) {
        let f = fixture();
        let micro = Msg::Micro(f.certified.block.micro.clone().expect("micro"));
        let lot = Msg::Lot(f.lot.clone());
        let batch = Msg::Batch(f.batches[0].clone());
        let votes = [
            vote(42, 0, Step::Prevote, 1),
            vote(42, 0, Step::Precommit, 1),
            vote(43, 1, Step::Prevote, 2),
        ];
        {
            let s = open();
            s.write(&[Persist::Tx(&tx(0)), Persist::Tx(&tx(1)), Persist::Signed(&micro)])
                .unwrap();
            s.write(&[Persist::Block(&f.certified, &f.batches), Persist::Evidence(&f.evidence)])
                .unwrap();
            // Persisted out of key order: recovery returns them in key order.
            s.write(&[
                Persist::Vote(&votes[2]),
                Persist::Vote(&votes[0]),
                Persist::Vote(&votes[1]),
            ])
            .unwrap();
            s.write(&[Persist::Signed(&lot), Persist::Signed(&batch), Persist::Tx(&tx(2))])
                .unwrap();
            // Replays of acknowledged requests are idempotent.
            s.write(&[
                Persist::Tx(&tx(1)),
                Persist::Evidence(&f.evidence),
                Persist::Signed(&lot),
            ])
            .unwrap();
            s.write(&[Persist::Block(&f.certified, &f.batches), Persist::Vote(&votes[0])])
                .unwrap();
            s.write(&[Persist::ForgetTxs(&[tx(1).hash(), Hash32([7; 32])])])
                .unwrap();
        }
        let r = open().recover().unwrap();
        assert_eq!(r.durable.blocks, vec![(f.certified.clone(), f.batches.clone())]);
        assert_eq!(
            r.durable.txs,
            vec![tx(0), tx(2)],
            "acceptance order, executed one forgotten"
        );
        assert_eq!(r.durable.evidence, vec![f.evidence.clone()]);
        // Ordered by height, then by persistence within a height (a stable sort of the write order).
        let mut expected = vec![micro, lot, batch];
        expected.sort_by_key(|m| m.height());
        assert_eq!(r.durable.signed, expected);
        assert_eq!(r.votes, votes.to_vec());
        assert_eq!(r.floor, 0);
    }

    pub fn a_different_vote_is_refused_and_nothing_of_its_list_is_written(open: Open<'_>) {
        let s = open();
        let a = vote(5, 0, Step::Prevote, 1);
        s.write(&[Persist::Vote(&a)]).unwrap();
        s.write(&[Persist::Vote(&a)]).expect("the same vote again is a resend");
        let b = vote(5, 0, Step::Prevote, 2);
        let err = s.write(&[Persist::Tx(&tx(0)), Persist::Vote(&b)]).unwrap_err();
        match &err {
            StoreError::Conflict(Conflict::Vote { key, stored }) => {
                assert_eq!(*key, (5, 0, Step::Prevote));
                assert_eq!(**stored, a);
            }
            e => panic!("expected a vote conflict, got {e}"),
        }
        assert!(err.to_string().contains("height 5 round 0 Prevote"), "{err}");
        // A precommit differing only in its timestamp is a different statement too.
        let seat = Keypair::from_label("seat");
        let p1 = Vote::sign_unchecked(&seat, &CHAIN, 5, 0, Step::Precommit, None, 10);
        let p2 = Vote::sign_unchecked(&seat, &CHAIN, 5, 0, Step::Precommit, None, 11);
        s.write(&[Persist::Vote(&p1)]).unwrap();
        assert!(matches!(s.write(&[Persist::Vote(&p2)]), Err(StoreError::Conflict(_))));
        // Two different votes in one list: the second sees the first.
        let c = vote(6, 0, Step::Prevote, 1);
        let d = vote(6, 0, Step::Prevote, 2);
        assert!(matches!(
            s.write(&[Persist::Vote(&c), Persist::Vote(&d)]),
            Err(StoreError::Conflict(_))
        ));

        let r = s.recover().unwrap();
        assert!(r.durable.txs.is_empty(), "the transaction shared the refused list");
        assert_eq!(r.votes, vec![a.clone(), p1]);
        assert_eq!(s.vote(&(5, 0, Step::Prevote)).unwrap(), Some(a));
        assert_eq!(s.vote(&(6, 0, Step::Prevote)).unwrap(), None);
    }

    /// Eight handles at once (replicas of one trustee that both think they sign).
    pub fn racing_writers_get_exactly_one_vote_acknowledged(open: Open<'_>) {
        let stores: Vec<Arc<dyn Store>> = (0..8).map(|_| open()).collect();
        let start = Arc::new(std::sync::Barrier::new(stores.len()));
        let handles: Vec<_> = stores
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let start = start.clone();
                std::thread::spawn(move || {
                    let v = vote(9, 2, Step::Precommit, i as u8);
                    start.wait();
                    s.write(&[Persist::Vote(&v)]).map(|()| v)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let won: Vec<&Vote> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(won.len(), 1, "{results:?}");
        assert!(
            results
                .iter()
                .filter_map(|r| r.as_ref().err())
                .all(|e| matches!(e, StoreError::Conflict(Conflict::Vote { .. })))
        );
        assert_eq!(open().vote(&(9, 2, Step::Precommit)).unwrap().as_ref(), Some(won[0]));
    }

    pub fn a_different_block_at_a_stored_height_is_refused(open: Open<'_>) {
        let f = fixture();
        let s = open();
        s.write(&[Persist::Block(&f.certified, &f.batches)]).unwrap();
        let mut other = f.certified.clone();
        other.block.header.prev_state_root = Hash32([9; 32]);
        let err = s.write(&[Persist::Block(&other, &[])]).unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict(Conflict::Block { height: 42, .. })),
            "{err}"
        );
        // The same block with a shorter batch list is not a conflict; the first record stays.
        s.write(&[Persist::Block(&f.certified, &f.batches[..1])]).unwrap();
        assert_eq!(
            s.recover().unwrap().durable.blocks,
            vec![(f.certified.clone(), f.batches.clone())]
        );
    }

    pub fn pruning_drops_old_heights_and_raises_a_floor(open: Open<'_>) {
        let f = fixture();
        let s = open();
        let lot = Msg::Lot(f.lot.clone()); // height 42
        let batch = Msg::Batch(f.batches[0].clone()); // cycle 43
        s.write(&[Persist::Signed(&lot), Persist::Signed(&batch)]).unwrap();
        s.write(&[
            Persist::Vote(&vote(42, 3, Step::Precommit, 1)),
            Persist::Vote(&vote(43, 0, Step::Prevote, 1)),
        ])
        .unwrap();
        s.prune_below(43).unwrap();
        s.prune_below(10).unwrap(); // never lowers
        let r = s.recover().unwrap();
        assert_eq!(r.floor, 43);
        assert_eq!(r.durable.signed, vec![batch]);
        assert_eq!(r.votes, vec![vote(43, 0, Step::Prevote, 1)]);
        // The pruned slot stays closed: even a "new" vote there is refused.
        let err = s.write(&[Persist::Vote(&vote(42, 3, Step::Precommit, 2))]).unwrap_err();
        assert!(matches!(err, StoreError::BelowFloor { height: 42, floor: 43 }), "{err}");
        assert!(matches!(
            s.write(&[Persist::Signed(&lot)]),
            Err(StoreError::BelowFloor { .. })
        ));
        drop(s);
        assert_eq!(open().recover().unwrap().floor, 43);
    }
}

/// The same contract on a real PostgreSQL server (`DAOLI_POSTGRES`, a connection string; the
/// README's test command starts one), each test in a schema of its own; then what only the
/// server-backed store has: migrations recorded, a newer schema refused, a wrong password and an
/// unreachable server named.
mod on_postgres {
    use super::pg::{MIGRATIONS, PgOptions, PgStore, SCHEMA_VERSION};
    use super::*;
    use daoli_protocol::codec::Hash32;

    fn opts() -> PgOptions {
        let url = std::env::var("DAOLI_POSTGRES").unwrap_or_else(|_| {
            panic!("DAOLI_POSTGRES is not set: these tests need a real PostgreSQL (deploy/local/infra.sh start, then DAOLI_POSTGRES=postgres://daoli:daoli@127.0.0.1:15432/postgres)")
        });
        PgOptions { url, pool: 2 }
    }

    /// A schema no other run has used.
    fn fresh(what: &str) -> String {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("t_{what}_{t}")
    }

    fn on(schema: &str) -> impl Fn() -> Arc<dyn Store> + Sync + '_ {
        move || Arc::new(PgStore::connect(&opts(), schema).expect("connects")) as Arc<dyn Store>
    }

    #[test]
    fn writes_survive_reopen_in_order() {
        contract::writes_survive_reopen_in_order(&on(&fresh("order")));
    }

    #[test]
    fn a_different_vote_is_refused_and_nothing_of_its_list_is_written() {
        contract::a_different_vote_is_refused_and_nothing_of_its_list_is_written(&on(&fresh("vote")));
    }

    /// Eight connections, as eight processes would have (without the lease, which keeps a
    /// second process out): the primary key alone decides.
    #[test]
    fn racing_writers_get_exactly_one_vote_acknowledged() {
        let schema = fresh("race");
        contract::racing_writers_get_exactly_one_vote_acknowledged(&|| {
            Arc::new(PgStore::connect_unleased(&opts(), &schema).expect("connects")) as Arc<dyn Store>
        });
    }

    #[test]
    fn a_different_block_at_a_stored_height_is_refused() {
        contract::a_different_block_at_a_stored_height_is_refused(&on(&fresh("block")));
    }

    #[test]
    fn pruning_drops_old_heights_and_raises_a_floor() {
        contract::pruning_drops_old_heights_and_raises_a_floor(&on(&fresh("prune")));
    }

    /// Runs SQL outside the store (what an operator or a newer build would do).
    fn psql(sql: &str) {
        let url = opts().url;
        let sql = sql.to_string();
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
                    tokio::spawn(conn);
                    c.batch_execute(&sql).await.unwrap();
                })
        })
        .join()
        .unwrap();
    }

    #[test]
    fn migrations_are_recorded_and_a_newer_schema_stops_start_up() {
        let schema = fresh("newer");
        drop(PgStore::connect(&opts(), &schema).unwrap());
        // Started again: nothing to migrate, nothing recorded twice.
        drop(PgStore::connect(&opts(), &schema).unwrap());
        psql(&format!(
            "DO $$ BEGIN IF (SELECT count(*) FROM \"{schema}\".migrations) <> {n} THEN RAISE EXCEPTION 'migrations recorded twice'; END IF; END $$;",
            n = MIGRATIONS.len()
        ));
        // A newer build migrated it further.
        psql(&format!(
            "INSERT INTO \"{schema}\".migrations (version, name) VALUES ({}, 'from the future')",
            SCHEMA_VERSION + 1
        ));
        let newer = |err: StoreError| {
            assert!(
                matches!(&err, StoreError::NewerSchema { found, supported, .. } if *found == SCHEMA_VERSION + 1 && *supported == SCHEMA_VERSION),
                "{err:?}"
            );
            assert!(err.to_string().contains(&schema), "{err}");
        };
        newer(PgStore::connect(&opts(), &schema).unwrap_err());
        // Another service's process reading it refuses it too, rather than misread it.
        newer(PgStore::open_read_only(&opts(), &schema).unwrap_err());
    }

    // One process writes a service's schema: a second copy of a running service (or a new pod
    // beside the old one) would sign a second batch or lot, or acknowledge transactions the
    // other never hears of. It is refused at start-up, by name; a reader is not; and the
    // lease passes on once its holder is gone.
    #[test]
    fn a_second_writer_of_a_schema_is_refused_and_a_reader_is_not() {
        let schema = fresh("lease");
        let first = PgStore::connect(&opts(), &schema).unwrap();
        let err = PgStore::connect(&opts(), &schema).unwrap_err();
        assert!(matches!(err, StoreError::Lease { .. }), "{err:?}");
        assert!(err.to_string().contains("already running"), "{err}");
        let reader = PgStore::open_read_only(&opts(), &schema).unwrap();
        assert!(reader.recover().is_ok());
        let v = contract_vote();
        assert!(matches!(
            reader.write(&[Persist::Vote(&v)]),
            Err(StoreError::ReadOnly { .. })
        ));
        assert!(matches!(reader.prune_below(5), Err(StoreError::ReadOnly { .. })));
        first.write(&[Persist::Vote(&v)]).unwrap();
        drop(first);
        let next = PgStore::connect(&opts(), &schema).expect("the lease passes on");
        assert_eq!(next.vote(&v.key()).unwrap(), Some(v));
    }

    // The lease's connection ends (a server restart, an operator terminating it): another
    // process may take the lease, so this one writes nothing more (its service stops and
    // restarts).
    #[test]
    fn a_writer_that_lost_its_lease_writes_nothing() {
        let schema = fresh("lost");
        let s = PgStore::connect(&opts(), &schema).unwrap();
        let v = contract_vote();
        psql(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'daoli-lease:{schema}'"
        ));
        let start = std::time::Instant::now();
        let err = loop {
            match s.write(&[Persist::Vote(&v)]) {
                Err(e) => break e,
                Ok(()) => assert!(start.elapsed() < std::time::Duration::from_secs(10), "still writing"),
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        assert!(matches!(err, StoreError::Lease { .. }), "{err:?}");
    }

    // Two datacenters (or two networks) configured with one name on one server would share a
    // schema: the second is refused by name, writer or reader; a schema not made yet reads as
    // empty.
    #[test]
    fn a_schema_of_another_datacenter_is_refused() {
        let schema = fresh("owner");
        let (chain, other_chain) = (Hash32([1; 32]), Hash32([2; 32]));
        let s = PgStore::connect(&opts(), &schema).unwrap();
        s.claim(&chain, &[7; 32]).unwrap();
        s.claim(&chain, &[7; 32]).expect("its owner, again");
        for (c, d) in [(&chain, [8; 32]), (&other_chain, [7; 32])] {
            let err = s.claim(c, &d).unwrap_err();
            assert!(matches!(err, StoreError::Owner { .. }), "{err:?}");
            assert!(
                err.to_string().contains(&schema) && err.to_string().contains("its own name"),
                "{err}"
            );
        }
        let reader = PgStore::open_read_only(&opts(), &schema).unwrap();
        reader.claim(&chain, &[7; 32]).unwrap();
        assert!(matches!(reader.claim(&chain, &[8; 32]), Err(StoreError::Owner { .. })));
        let missing = PgStore::open_read_only(&opts(), &fresh("missing")).unwrap();
        missing.claim(&chain, &[8; 32]).unwrap();
        let r = missing.recover().unwrap();
        assert!(r.durable.blocks.is_empty() && r.votes.is_empty());
    }

    // A client cut off inside a transaction holds its row locks until the server notices; a
    // write that needs one of them fails within the lock timeout (the service stops and its
    // restart tries again) instead of waiting for ever with nothing logged.
    #[test]
    fn a_write_behind_a_held_lock_fails_instead_of_waiting_for_ever() {
        let schema = fresh("locked");
        let s = PgStore::connect(&opts(), &schema).unwrap();
        let v = contract_vote();
        let (url, sql) = (
            opts().url,
            format!(
                "BEGIN; INSERT INTO \"{schema}\".votes (height, round, step, body) VALUES ({}, {}, 1, '\\x00'); SELECT pg_sleep(25); ROLLBACK;",
                v.height, v.round
            ),
        );
        let holder = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
                    tokio::spawn(conn);
                    let _ = c.batch_execute(&sql).await;
                })
        });
        std::thread::sleep(std::time::Duration::from_secs(2));
        let start = std::time::Instant::now();
        let err = s.write(&[Persist::Vote(&v)]).unwrap_err();
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            start.elapsed()
        );
        assert!(err.to_string().contains("lock timeout"), "{err}");
        holder.join().unwrap();
    }

    fn contract_vote() -> Vote {
        vote(11, 0, Step::Precommit, 1)
    }

    #[test]
    fn a_wrong_password_or_an_unreachable_server_is_named_at_start_up() {
        let mut o = opts();
        let cfg = <tokio_postgres::Config as std::str::FromStr>::from_str(&o.url).unwrap();
        let user = cfg.get_user().unwrap().to_string();
        o.url = o.url.replacen(
            &format!(
                "{user}:{}@",
                String::from_utf8_lossy(cfg.get_password().expect("a password in DAOLI_POSTGRES"))
            ),
            &format!("{user}:not-the-password@"),
            1,
        );
        let err = PgStore::connect(&o, &fresh("pw")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("password authentication failed"), "{msg}");
        assert!(!msg.contains("not-the-password"), "never the password: {msg}");

        let o = PgOptions {
            url: "postgres://daoli:x@127.0.0.1:1/postgres".into(),
            pool: 1,
        };
        let msg = PgStore::connect(&o, &fresh("down")).unwrap_err().to_string();
        assert!(msg.contains("127.0.0.1:1"), "{msg}");
        assert!(msg.contains("refused"), "the cause, not only the address: {msg}");
    }

    /// Several processes of one service (replicas, a restart racing the old process) start on a
    /// new schema at once: all of them come up, and the schema is migrated once.
    #[test]
    fn concurrent_start_ups_migrate_once() {
        let schema = fresh("herd");
        let start = Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (schema, start) = (schema.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    PgStore::connect(&opts(), &schema).map(drop)
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap().expect("every start-up succeeds");
        }
        psql(&format!(
            "DO $$ BEGIN IF (SELECT count(*) FROM \"{schema}\".migrations) <> {n} THEN RAISE EXCEPTION 'migrated more than once'; END IF; END $$;",
            n = MIGRATIONS.len()
        ));
    }
}
