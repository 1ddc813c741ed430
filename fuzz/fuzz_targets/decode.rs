//! Message decoding. Arbitrary bytes are decoded as a `Msg` and as each wire type on its own;
//! every value that decodes goes through every pure check the core has for it (hashes, ids,
//! signatures, VRF proofs, trees, certificates, evidence, delay proofs), under the chain ids
//! of the golden-vector genesis and of the fuzz network, and blocks and batches through that
//! network's `Chain` at height 0.
//!
//! Checks: no panic; every decoded value survives a JSON round trip unchanged; a statement
//! never makes evidence with itself.
#![no_main]

use daoli_protocol::block::{Batch, BatchRef, Block, CertifiedBlock, Header, MicroBlock};
use daoli_protocol::chain::Chain;
use daoli_protocol::codec::{ChainId, Hash32, sha256};
use daoli_protocol::crypto::{Keypair, PublicKey};
use daoli_protocol::delay::{DelayProof, MAX_SEGMENTS};
use daoli_protocol::lot::{Lot, validate_tree};
use daoli_protocol::lottery::{self, Round};
use daoli_protocol::node::{Msg, Proposal};
use daoli_protocol::params::Identity;
use daoli_protocol::seed::{SeedAnnouncement, verify_seed};
use daoli_protocol::statement::Evidence;
use daoli_protocol::tx::Transaction;
use daoli_protocol::vote::{Qc, Seats, Vote};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::sync::OnceLock;

struct Fixture {
    /// (chain id, prev seed for seed checks, VRF producer) of the vectors and the network.
    chains: [(ChainId, Hash32, PublicKey); 2],
    /// The golden vectors' seat keys (they sign the vector QCs).
    vector_seats: Vec<PublicKey>,
    /// The fuzz network's chain at height 0.
    chain: Chain,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let vg = daoli_protocol::vectors::vector_genesis();
        let g = daoli_fuzz::genesis();
        let chain = Chain::new(g.clone()).expect("the fuzz genesis is valid");
        let producer = chain.seed_producer(1).expect("founders");
        Fixture {
            chains: [
                (
                    vg.chain_id(),
                    sha256(b"seed 41"),
                    Identity::from_label("daoli/vectors/founder0").vrf.public(),
                ),
                (g.chain_id(), g.seed, producer),
            ],
            vector_seats: (0..4)
                .map(|i| Keypair::from_label(&format!("daoli/vectors/seat{i}")).public())
                .collect(),
            chain,
        }
    })
}

/// Decodes `data` as `$t`; if it decodes, checks the JSON round trip and runs `$check`.
/// (A macro, so that the crate needs no direct `serde` dependency for the trait bounds.)
macro_rules! each {
    ($data:expr, $t:ty, $check:expr) => {
        if let Ok(x) = serde_json::from_slice::<$t>($data) {
            let s = serde_json::to_vec(&x).expect("serializes");
            let y: $t = serde_json::from_slice(&s).expect("re-parses");
            assert_eq!(y, x, "JSON round trip changed the value");
            let check: &dyn Fn(&$t) = &$check;
            check(&x);
        }
    };
}

fn tx(t: &Transaction) {
    let _ = (t.hash(), t.size());
    for (c, _, _) in &fixture().chains {
        let _ = t.signing_bytes(c);
        let _ = t.verify(c, 4096);
    }
    let _ = t.cost(Some);
    let _ = t.cost(|_| None);
}

fn lot(l: &Lot) {
    let _ = (l.hash(), l.id(), l.rank(&Hash32::ZERO));
    for (c, _, _) in &fixture().chains {
        for bits in [0, 4, 12] {
            let _ = l.validate(c, bits);
        }
    }
    assert!(l.sponsor_evidence(l).is_none());
}

fn vote(v: &Vote) {
    let _ = (v.key(), v.slot(), v.content(), v.said());
    for (c, _, _) in &fixture().chains {
        let _ = v.signing_bytes(c);
        let _ = v.verify_sig(c);
    }
    assert!(!v.conflicts_with(v));
    assert!(v.evidence(v).is_none());
}

fn qc(q: &Qc) {
    let f = fixture();
    let _ = (q.hash(), q.signers().count());
    for v in &q.precommits {
        vote(v);
    }
    let seats = [
        Seats::new(q.height, f.vector_seats.clone(), vec![2, 1, 1]),
        f.chain.seats(1),
    ];
    for s in &seats {
        let _ = (q.median_timestamp(s), s.reward_total());
        for v in &q.precommits {
            let _ = s.prevote_reward(&v.voter, q.round);
        }
        for (c, _, _) in &f.chains {
            let _ = q.verify(s, &q.value, c);
        }
    }
}

/// A MicroBlock's certificate of the previous height with the prevotes it embeds.
fn prevotes(q: &Qc, prevotes: &[Vote]) {
    let f = fixture();
    for v in prevotes {
        vote(v);
    }
    let seats = [
        Seats::new(q.height, f.vector_seats.clone(), vec![2, 1, 1]),
        f.chain.seats(1),
    ];
    for s in &seats {
        for (c, _, _) in &f.chains {
            let _ = q.verify_prevotes(prevotes, s, c);
        }
    }
}

fn evidence(e: &Evidence) {
    let _ = (e.hash(), e.offender());
    for (c, _, _) in &fixture().chains {
        let _ = e.verify(c);
    }
}

fn batch(b: &Batch) {
    let _ = (b.tx_root(), b.digest(), b.id(), b.slot_of(), b.said(), b.size());
    for t in &b.txs {
        tx(t);
    }
    for (c, _, _) in &fixture().chains {
        let _ = b.validate(c, 4096, 1 << 20, &b.buffer_pk);
    }
    assert!(b.evidence(b).is_none());
    let _ = fixture().chain.clone().verify_batch(b);
}

fn micro(m: &MicroBlock) {
    let _ = (m.hash(), m.id(), m.slot());
    for (c, _, _) in &fixture().chains {
        let _ = m.verify_sig(c);
    }
    assert!(m.evidence(m).is_none());
    if let Some(q) = &m.prev_qc {
        qc(q);
        prevotes(q, &m.prev_prevotes);
    }
    for e in &m.evidence {
        evidence(e);
    }
}

fn header(h: &Header) {
    let _ = h.hash();
    if let Some(d) = &h.delay {
        delay(d);
    }
    for (c, prev, producer) in &fixture().chains {
        let _ = verify_seed(c, producer, prev, h.height, &h.seed, h.vrf_proof.as_ref());
    }
}

fn block(b: &Block, store: &BTreeMap<Hash32, Batch>) {
    let f = fixture();
    let _ = (b.hash(), b.height());
    for i in 0..4 {
        let _ = b.lineup(i);
    }
    header(&b.header);
    for l in &b.tree {
        lot(l);
    }
    for (c, _, _) in &f.chains {
        let _ = validate_tree(
            c,
            &b.tree,
            b.height(),
            &b.header.prev_hash,
            &b.header.seed,
            4,
            19,
            2,
            |_| Ok(()),
            |_| false,
        );
    }
    if let Some(m) = &b.micro {
        micro(m);
    }
    let _ = f.chain.clone().validate_block(b, store);
}

fn certified(cb: &CertifiedBlock, batches: &[Batch]) {
    let store: BTreeMap<Hash32, Batch> = batches.iter().map(|b| (b.digest(), b.clone())).collect();
    block(&cb.block, &store);
    qc(&cb.qc);
    let _ = fixture().chain.clone().commit(cb.clone(), &store);
}

fn seed(a: &SeedAnnouncement) {
    for (c, prev, producer) in &fixture().chains {
        let _ = a.verify(c, prev, producer);
        let _ = a.verify(c, prev, &a.producer);
        let _ = daoli_protocol::vrf::verify(&a.producer.0, &daoli_protocol::seed::alpha(c, prev, a.height), &a.proof);
    }
}

fn proposal(p: &Proposal) {
    let _ = p.slot();
    for (c, _, _) in &fixture().chains {
        let _ = p.verify(c);
    }
    assert!(p.evidence(p).is_none());
    block(&p.block, &BTreeMap::new());
    for v in &p.pol {
        vote(v);
    }
}

fn delay(d: &DelayProof) {
    let _ = (d.segments(), d.hash());
    // The work a proof asks for is bounded by its own iteration count: keep it small here.
    let t = if d.iterations <= 4096 { d.iterations } else { 64 };
    let _ = d.verify(&d.seed, t, MAX_SEGMENTS);
    let _ = d.verify_parallel(&d.seed, t, MAX_SEGMENTS, 2);
}

fn round(r: &Round) {
    let _ = (
        r.pot(),
        r.is_open_at(r.open_height),
        r.compute_ticket_root(),
        r.state_hash(),
    );
    let w = lottery::draw(&Hash32::ZERO, r.id, r.tickets.len() as u64, r.winners.min(64));
    let _ = lottery::payouts(r, &w);
}

fn msg(m: &Msg) {
    let _ = m.height();
    match m {
        Msg::Lot(l) => lot(l),
        Msg::Seed(a) => seed(a),
        Msg::Batch(b) => batch(b),
        Msg::Micro(mb) => micro(mb),
        Msg::Proposal(p) => proposal(p),
        Msg::Vote(v) => vote(v),
        Msg::Certified(cb, bs) => {
            certified(cb, bs);
            for b in bs {
                batch(b);
            }
        }
        Msg::Tx { tx: t, .. } => tx(t),
        Msg::Forward(txs) => txs.iter().for_each(tx),
        Msg::SyncRequest { .. } | Msg::BatchRequest(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    each!(data, Msg, msg);
    each!(data, Transaction, tx);
    each!(data, Lot, lot);
    each!(data, SeedAnnouncement, seed);
    each!(data, Batch, batch);
    each!(data, BatchRef, |_| {});
    each!(data, MicroBlock, micro);
    each!(data, Header, header);
    each!(data, Block, |b| block(b, &BTreeMap::new()));
    each!(data, CertifiedBlock, |cb| certified(cb, &[]));
    each!(data, Vote, vote);
    each!(data, Qc, qc);
    each!(data, Evidence, evidence);
    each!(data, Proposal, proposal);
    each!(data, DelayProof, delay);
    each!(data, Round, round);
});
