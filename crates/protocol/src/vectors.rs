//! Golden test vectors (protocol v2): canonical bytes, hashes and signatures of each kind of object, made
//! from fixed keys. `cargo run -p daoli-protocol --example gen_vectors` writes them to
//! `crates/protocol/vectors/`; the tests check the library still produces them byte for byte,
//! so that every service and every other implementation can check against the same files.

use crate::block::{Batch, BatchRef, Block, Header, MicroBlock};
use crate::codec::{ChainId, Hash32, sha256};
use crate::crypto::{Keypair, Signature};
use crate::lot::{LotTemplate, mine, tree_hash};
use crate::lottery::{self, Round, Ticket};
use crate::params::{Genesis, Identity, PeriodicLottery, RoundSpec};
use crate::seed::{self, SeedAnnouncement};
use crate::statement::Evidence;
use crate::tx::{Transaction, TxKind};
use crate::vote::{Qc, Step, Vote};
use serde_json::{Value, json};

fn key(label: &str) -> Keypair {
    Keypair::from_label(&format!("daoli/vectors/{label}"))
}

fn dc(label: &str) -> Identity {
    Identity::from_label(&format!("daoli/vectors/{label}"))
}

fn seeds_of(id: &Identity) -> Value {
    json!({
        "root": hex::encode(id.root.seed()),
        "vote": hex::encode(id.vote.seed()),
        "vrf": hex::encode(id.vrf.seed()),
        "batch": hex::encode(id.batch.seed()),
        "micro": hex::encode(id.micro.seed()),
        "sponsor": hex::encode(id.sponsor.seed()),
    })
}

/// The genesis every other vector is signed for: two founders, one account, a round and a
/// periodic lottery, so that every field of the canonical genesis bytes is exercised.
pub fn vector_genesis() -> Genesis {
    let mut g = Genesis::solo(&dc("founder0"), vec![(key("alice").public(), 1_000_000)]);
    g.network = "daoli-vectors".into();
    let f1 = dc("founder1");
    g.founders.push(f1.datacenter("dc1.example:7000", g.params.min_bond));
    g.seats[1] = f1.root.public();
    g.seed = sha256(b"genesis seed");
    g.timestamp_ms = 1_764_000_000_000;
    g.rounds = vec![RoundSpec {
        open_height: 1,
        close_height: 5,
        price: 100,
        winners: 2,
    }];
    g.periodic_lottery = Some(PeriodicLottery {
        every: 10,
        length: 4,
        price: 10,
        winners: 1,
    });
    g
}

fn chain() -> ChainId {
    vector_genesis().chain_id()
}

pub fn genesis() -> Value {
    let g = vector_genesis();
    json!({
        "genesis": g,
        "founder_key_seeds": [seeds_of(&dc("founder0")), seeds_of(&dc("founder1"))],
        "canonical_bytes": hex::encode(g.canonical_bytes()),
        "chain_id": g.chain_id(),
    })
}

pub fn tx() -> Value {
    let c = chain();
    let alice = key("alice");
    let bob = key("bob");
    let newcomer = dc("newcomer");
    let txs = [
        Transaction::new(
            &alice,
            &c,
            0,
            1,
            TxKind::Transfer {
                to: bob.public(),
                amount: 250,
            },
            vec![],
        ),
        Transaction::new(&alice, &c, 1, 2, TxKind::BuyTicket { round: 7 }, b"lucky".to_vec()),
    ];
    let mut out: Vec<Value> = txs
        .iter()
        .map(|t| {
            json!({
                "signer_seed": hex::encode(alice.seed()),
                "tx": t,
                "signing_bytes": hex::encode(t.signing_bytes(&c)),
                "hash": t.hash(),
                "size": t.size(),
            })
        })
        .collect();
    // A registration: the root key signs the role keys, endpoint and bond (rule 1).
    let reg = Transaction::new(
        &newcomer.root,
        &c,
        0,
        5,
        TxKind::Register {
            keys: newcomer.keys(),
            endpoint: "dc9.example:7000".into(),
            bond: 1_000_000,
        },
        vec![],
    );
    out.push(json!({
        "signer_seed": hex::encode(newcomer.root.seed()),
        "role_key_seeds": seeds_of(&newcomer),
        "tx": reg,
        "signing_bytes": hex::encode(reg.signing_bytes(&c)),
        "hash": reg.hash(),
        "size": reg.size(),
    }));
    json!({ "chain_id": c, "txs": out })
}

pub fn lot() -> Value {
    let c = chain();
    let miner = key("miner");
    let sponsor = dc("founder1");
    let t = LotTemplate {
        height: 42,
        prev_hash: sha256(b"block 41"),
        sponsor: sponsor.sponsor.public(),
    };
    let lot = mine(&miner, &c, &t, 12, 0, 1 << 24)
        .expect("2^12 expected tries")
        .countersign(&sponsor.sponsor, &c);
    let seed = sha256(b"seed 42");
    json!({
        "chain_id": c,
        "miner_seed": hex::encode(miner.seed()),
        "sponsor_seed": hex::encode(sponsor.sponsor.seed()),
        "pow_bits": 12,
        "lot": lot,
        "lot_hash": lot.hash(),
        "miner_signing_bytes": hex::encode(lot.miner_slot().signing_bytes(&c, &lot.hash())),
        "sponsor_signing_bytes": hex::encode(lot.sponsor_slot().signing_bytes(&c, &lot.hash())),
        "lot_id": lot.id(),
        "luck_seed": seed,
        "rank": lot.rank(&seed),
    })
}

pub fn batch() -> Value {
    let c = chain();
    let buffer = dc("founder1");
    let alice = key("alice");
    let bob = key("bob");
    let txs: Vec<Transaction> = (0..3)
        .map(|n| {
            Transaction::new(
                &alice,
                &c,
                n,
                1,
                TxKind::Transfer {
                    to: bob.public(),
                    amount: 10 + n,
                },
                vec![],
            )
        })
        .collect();
    let b = Batch::seal(&buffer.batch, &c, 43, 5, txs);
    json!({
        "chain_id": c,
        "buffer_seed": hex::encode(buffer.batch.seed()),
        "batch": b,
        "tx_root": b.tx_root(),
        "digest": b.digest(),
        "signing_bytes": hex::encode(b.slot_of().signing_bytes(&c, &b.digest())),
        "batch_id": b.id(),
    })
}

/// Block 42 with its tree, a MicroBlock carrying the QC of block 41 and one piece of evidence,
/// and the QC of block 42 itself.
fn sample_block() -> (Block, Vec<Keypair>, Qc, Evidence) {
    let c = chain();
    let leader = dc("founder0");
    let sponsor = dc("founder1");
    let seats: Vec<Keypair> = (0..4).map(|i| key(&format!("seat{i}"))).collect();
    let prev_seed = sha256(b"seed 41");
    let s = SeedAnnouncement::produce(&leader.vrf, &c, &prev_seed, 42);
    let prev_hash = sha256(b"block 41");
    let t = LotTemplate {
        height: 42,
        prev_hash,
        sponsor: sponsor.sponsor.public(),
    };
    let mut tree: Vec<_> = (0..3)
        .map(|i| {
            mine(&key(&format!("m{i}")), &c, &t, 4, 0, 1 << 20)
                .expect("lot")
                .countersign(&sponsor.sponsor, &c)
        })
        .collect();
    tree.sort_by_key(|l| l.rank(&s.seed));
    let prev_qc = Qc {
        height: 41,
        round: 1,
        value: prev_hash,
        precommits: seats
            .iter()
            .enumerate()
            .map(|(i, k)| Vote::sign_unchecked(k, &c, 41, 1, Step::Precommit, Some(prev_hash), 900 + i as u64))
            .collect(),
    };
    let liar = &seats[3];
    let e = Vote::sign_unchecked(liar, &c, 41, 0, Step::Prevote, Some(prev_hash), 0)
        .evidence(&Vote::sign_unchecked(liar, &c, 41, 0, Step::Prevote, None, 0))
        .expect("conflict");
    let micro = MicroBlock {
        height: 42,
        producer_rank: 0,
        producer_pk: leader.micro.public(),
        batches: vec![BatchRef {
            cycle: 42,
            slot: 1,
            digest: sha256(b"batch"),
        }],
        prev_qc: Some(prev_qc),
        prev_prevotes: seats[..3]
            .iter()
            .map(|k| Vote::sign_unchecked(k, &c, 41, 1, Step::Prevote, Some(prev_hash), 0))
            .collect(),
        evidence: vec![e.clone()],
        sig: Signature::default(),
    }
    .sign(&leader.micro, &c);
    let block = Block {
        header: Header {
            height: 42,
            prev_hash,
            seed: s.seed,
            vrf_proof: Some(s.proof),
            prev_state_root: sha256(b"state 41"),
            delay: Some(crate::delay::evaluate(&sha256(b"seed 40"), 64, 4).expect("delay")),
        },
        tree,
        micro: Some(micro),
    };
    let qc = Qc {
        height: 42,
        round: 0,
        value: block.hash(),
        precommits: seats
            .iter()
            .enumerate()
            .map(|(i, k)| Vote::sign_unchecked(k, &c, 42, 0, Step::Precommit, Some(block.hash()), 1_000 + i as u64))
            .collect(),
    };
    (block, seats, qc, e)
}

pub fn block() -> Value {
    let c = chain();
    let (b, seats, qc, e) = sample_block();
    let m = b.micro.as_ref().expect("micro");
    let v = &qc.precommits[0];
    json!({
        "chain_id": c,
        "block": b,
        "header_hash": b.header.hash(),
        "delay_proof_hash": b.header.delay.as_ref().map(|d| d.hash()),
        "tree_hash": tree_hash(&b.tree),
        "microblock_hash": m.hash(),
        "microblock_signing_bytes": hex::encode(m.slot().signing_bytes(&c, &m.hash())),
        "microblock_prev_qc_hash": m.prev_qc.as_ref().map(|q| q.hash()),
        "block_hash": b.hash(),
        "seat_seeds": seats.iter().map(|k| hex::encode(k.seed())).collect::<Vec<_>>(),
        "qc": qc,
        "qc_hash": qc.hash(),
        "vote": v,
        "vote_content": v.content(),
        "vote_signing_bytes": hex::encode(v.signing_bytes(&c)),
        "evidence": e,
        "evidence_hash": e.hash(),
    })
}

pub fn seed_chain() -> Value {
    let c = chain();
    let producers: Vec<Identity> = (0..5).map(|i| dc(&format!("leader{i}"))).collect();
    let mut prev = sha256(b"genesis seed");
    let genesis = prev;
    let mut links = Vec::new();
    for (i, d) in producers.iter().enumerate() {
        let h = i as u64 + 1;
        let a = SeedAnnouncement::produce(&d.vrf, &c, &prev, h);
        links.push(json!({
            "vrf_key_seed": hex::encode(d.vrf.seed()),
            "announcement": a,
            "alpha": hex::encode(seed::alpha(&c, &prev, h)),
            "fallback": seed::fallback(&c, &prev, h),
        }));
        prev = a.seed;
    }
    json!({ "chain_id": c, "genesis_seed": genesis, "links": links })
}

pub fn lottery() -> Value {
    let owners: Vec<Keypair> = (0..5).map(|i| key(&format!("player{i}"))).collect();
    let tickets: Vec<Ticket> = (0..25)
        .map(|i| Ticket {
            owner: owners[i % 5].public(),
            tx_hash: sha256(format!("ticket tx {i}").as_bytes()),
        })
        .collect();
    let round = Round {
        id: 3,
        open_height: 10,
        close_height: 20,
        price: 100,
        winners: 3,
        tickets,
        ticket_root: None,
        drawn: None,
        draw_seed: None,
    };
    let seed = sha256(b"seed 22");
    let winners = lottery::draw(&seed, round.id, round.tickets.len() as u64, round.winners);
    json!({
        "round": round,
        "ticket_root": round.compute_ticket_root(),
        "draw_seed": seed,
        "winners": winners,
        "payouts": lottery::payouts(&round, &winners),
        "large": { "seed": Hash32([7; 32]), "round": 1, "tickets": 1_000_000u64, "winners": 10, "drawn": lottery::draw(&Hash32([7; 32]), 1, 1_000_000, 10) },
    })
}

/// All vector files: (file name, contents).
pub fn all() -> Vec<(&'static str, Value)> {
    vec![
        ("genesis.json", genesis()),
        ("tx.json", tx()),
        ("lot.json", lot()),
        ("batch.json", batch()),
        ("block.json", block()),
        ("seed_chain.json", seed_chain()),
        ("lottery.json", lottery()),
    ]
}
