//! Benchmarks of the protocol core. Run: `cargo bench -p daoli-protocol --bench core`.
//! Figures are recorded in docs/BENCHMARKS.md.

use daoli_protocol::block::{Batch, Block, Header};
use daoli_protocol::codec::{Hash32, sha256};
use daoli_protocol::crypto::{Keypair, verify, verify_batch};
use daoli_protocol::delay::{self, DelayProof};
use daoli_protocol::ledger::{ExecContext, State, Winner};
use daoli_protocol::lot::{LotTemplate, mine};
use daoli_protocol::lottery::{self, Round, Ticket};
use daoli_protocol::params::{Genesis, Identity};
use daoli_protocol::seed::SeedAnnouncement;
use daoli_protocol::tx::{Transaction, TxKind};
use daoli_protocol::vote::{Qc, Seats, Step, Vote};
use divan::{Bencher, black_box, counter::ItemsCount};

fn main() {
    divan::main();
}

/// The chain id the benchmarks sign for.
const C: Hash32 = Hash32([0xc4; 32]);

#[divan::bench]
fn ed25519_verify_single(b: Bencher) {
    let k = Keypair::from_label("bench");
    let sig = k.sign(b"message");
    let pk = k.public();
    b.bench(|| verify(black_box(&pk), black_box(b"message"), black_box(&sig)).unwrap());
}

#[divan::bench(args = [16, 64, 256])]
fn ed25519_verify_batch(b: Bencher, n: usize) {
    let keys: Vec<_> = (0..n).map(|i| Keypair::from_label(&format!("k{i}"))).collect();
    let msgs: Vec<Vec<u8>> = (0..n).map(|i| format!("message {i}").into_bytes()).collect();
    let sigs: Vec<_> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
    b.counter(ItemsCount::new(n)).bench(|| {
        let items: Vec<_> = keys
            .iter()
            .zip(&msgs)
            .zip(&sigs)
            .map(|((k, m), s)| (k.public(), m.as_slice(), *s))
            .collect();
        verify_batch(black_box(&items)).unwrap()
    });
}

/// PoW check, the miner's signature and the sponsor's countersignature (two verifications).
#[divan::bench]
fn lot_validation(b: Bencher) {
    let sponsor = Keypair::from_label("dc");
    let t = LotTemplate {
        height: 9,
        prev_hash: Hash32([1; 32]),
        sponsor: sponsor.public(),
    };
    let lot = mine(&Keypair::from_label("miner"), &C, &t, 12, 0, 1 << 24)
        .unwrap()
        .countersign(&sponsor, &C);
    b.bench(|| black_box(&lot).validate(&C, 12).unwrap());
}

#[divan::bench]
fn lot_mining_devnet_2pow12(b: Bencher) {
    let t = LotTemplate {
        height: 9,
        prev_hash: Hash32([1; 32]),
        sponsor: Keypair::from_label("dc").public(),
    };
    let k = Keypair::from_label("miner");
    let mut start = 0u64;
    b.bench_local(|| {
        start = start.wrapping_add(1 << 32);
        mine(&k, &C, &t, 12, start, 1 << 30).unwrap()
    });
}

#[divan::bench]
fn vrf_seed_prove_and_verify(b: Bencher) {
    let k = Keypair::from_label("leader");
    let prev = Hash32([3; 32]);
    b.bench(|| {
        let a = SeedAnnouncement::produce(&k, &C, &prev, 5);
        a.verify(&C, &prev, &k.public()).unwrap();
    });
}

fn qc_fixture() -> (Qc, Seats, Hash32) {
    let keys: Vec<_> = (0..11).map(|i| Keypair::from_label(&format!("seat{i}"))).collect();
    let seats = Seats::new(7, keys.iter().map(|k| k.public()).collect(), vec![5, 3, 3]);
    let v = Hash32([5; 32]);
    let precommits = keys
        .iter()
        .take(8)
        .map(|k| Vote::sign_unchecked(k, &C, 7, 0, Step::Precommit, Some(v), 1))
        .collect();
    (
        Qc {
            height: 7,
            round: 0,
            value: v,
            precommits,
        },
        seats,
        v,
    )
}

#[divan::bench]
fn qc_verification_8_of_11(b: Bencher) {
    let (qc, seats, v) = qc_fixture();
    b.bench(|| black_box(&qc).verify(&seats, &v, &C).unwrap());
}

const EXEC_TXS: usize = 2_000;

fn exec_fixture() -> (Genesis, Block, Batch, Winner) {
    let senders: Vec<_> = (0..100).map(|i| Keypair::from_label(&format!("s{i}"))).collect();
    let dc = Identity::from_label("dc");
    let g = Genesis::solo(&dc, senders.iter().map(|k| (k.public(), 1_000_000_000)).collect());
    let chain = g.chain_id();
    let txs: Vec<_> = (0..EXEC_TXS)
        .map(|i| {
            let s = &senders[i % senders.len()];
            let to = senders[(i + 1) % senders.len()].public();
            Transaction::new(
                s,
                &chain,
                (i / senders.len()) as u64,
                1,
                TxKind::Transfer { to, amount: 3 },
                vec![],
            )
        })
        .collect();
    let batch = Batch::seal(&dc.batch, &chain, 1, 0, txs);
    let t = LotTemplate {
        height: 1,
        prev_hash: Hash32::ZERO,
        sponsor: dc.sponsor.public(),
    };
    let lot = mine(&Keypair::from_label("m"), &chain, &t, 0, 0, 1)
        .unwrap()
        .countersign(&dc.sponsor, &chain);
    let w = Winner {
        miner: lot.miner,
        sponsor: dc.root.public(),
    };
    let block = Block {
        header: Header {
            height: 1,
            prev_hash: Hash32::ZERO,
            seed: Hash32([1; 32]),
            vrf_proof: None,
            prev_state_root: Hash32::ZERO,
            delay: None,
        },
        tree: vec![lot],
        micro: None,
    };
    (g, block, batch, w)
}

/// Executing a certified block of 2,000 transfers (state root included).
#[divan::bench]
fn block_execution_2000_txs(b: Bencher) {
    let (g, block, batch, w) = exec_fixture();
    let state = State::genesis(&g);
    b.counter(ItemsCount::new(EXEC_TXS))
        .with_inputs(|| state.clone())
        .bench_local_values(|mut s| {
            s.execute(
                &g,
                &ExecContext {
                    block: &block,
                    batches: vec![&batch],
                    batch_winners: vec![w],
                    prev_seats: None,
                },
            )
            .state_root
        });
}

/// Validating the batch of the block above: size limits, buffer signature and the 2,000
/// transaction signatures in one batch verification.
#[divan::bench(sample_count = 10)]
fn batch_validation_2000_txs(b: Bencher) {
    let (g, _, batch, _) = exec_fixture();
    let pk = batch.buffer_pk;
    let chain = g.chain_id();
    b.counter(ItemsCount::new(EXEC_TXS))
        .bench(|| black_box(&batch).validate(&chain, 4096, 4 << 20, &pk).unwrap());
}

fn million_ticket_round() -> Round {
    let owners: Vec<_> = (0..1000)
        .map(|i| Keypair::from_label(&format!("o{i}")).public())
        .collect();
    let tickets = (0..1_000_000u64)
        .map(|i| Ticket {
            owner: owners[(i % 1000) as usize],
            tx_hash: sha256(&i.to_be_bytes()),
        })
        .collect();
    Round {
        id: 1,
        open_height: 1,
        close_height: 10,
        price: 1,
        winners: 10,
        tickets,
        ticket_root: None,
        drawn: None,
        draw_seed: None,
    }
}

#[divan::bench(sample_count = 5)]
fn lottery_draw_1m_tickets(b: Bencher) {
    let seed = Hash32([8; 32]);
    b.bench(|| lottery::draw(black_box(&seed), 1, 1_000_000, 10));
}

/// What a verifier does for the round once it holds the ticket list: rebuild the ticket
/// root over 1,000,000 tickets and redraw the winners.
#[divan::bench(sample_count = 3)]
fn lottery_verify_1m_tickets(b: Bencher) {
    let r = million_ticket_round();
    let seed = Hash32([8; 32]);
    let expected = lottery::draw(&seed, 1, 1_000_000, 10);
    let root = r.compute_ticket_root();
    b.bench(|| {
        assert_eq!(r.compute_ticket_root(), root);
        assert_eq!(lottery::draw(&seed, r.id, r.tickets.len() as u64, r.winners), expected);
    });
}

const DELAY_T: u64 = 1 << 20;
const DELAY_C: usize = 16;

fn delay_proof() -> DelayProof {
    delay::evaluate(&Hash32([9; 32]), DELAY_T, DELAY_C).unwrap()
}

/// The sequential hash delay: 2^20 steps of SHA-256 over 32 bytes. The items rate is steps/s;
/// the median divided by 2^20 is the cost of one step.
#[divan::bench(sample_count = 10)]
fn delay_evaluate_2pow20(b: Bencher) {
    let seed = Hash32([9; 32]);
    b.counter(ItemsCount::new(DELAY_T))
        .bench(|| delay::evaluate(black_box(&seed), DELAY_T, DELAY_C).unwrap());
}

/// Verifying that delay from its 16 segments on this thread.
#[divan::bench(sample_count = 10)]
fn delay_verify_2pow20_16_segments_sequential(b: Bencher) {
    let p = delay_proof();
    b.counter(ItemsCount::new(DELAY_T))
        .bench(|| black_box(&p).verify(&p.seed, DELAY_T, DELAY_C).unwrap());
}

/// The same on 2 threads (the machine has 2 cores).
#[divan::bench(sample_count = 10)]
fn delay_verify_2pow20_16_segments_parallel_2_threads(b: Bencher) {
    let p = delay_proof();
    b.counter(ItemsCount::new(DELAY_T))
        .bench(|| black_box(&p).verify_parallel(&p.seed, DELAY_T, DELAY_C, 2).unwrap());
}
