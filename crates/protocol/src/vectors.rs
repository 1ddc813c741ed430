//! Golden test vectors: canonical bytes, hashes and signatures of each kind of object, made
//! from fixed keys. `cargo run -p daoli-protocol --example gen_vectors` writes them to
//! `crates/protocol/vectors/`; the tests check the library still produces them byte for byte,
//! so that every service and every other implementation can check against the same files.

use crate::block::{Batch, BatchRef, Block, Header, MicroBlock};
use crate::codec::{Hash32, sha256};
use crate::crypto::{Keypair, Signature};
use crate::lot::{LotTemplate, mine, tree_hash};
use crate::lottery::{self, Round, Ticket};
use crate::seed::SeedAnnouncement;
use crate::tx::{Transaction, TxKind};
use crate::vote::{Qc, Step, Vote};
use serde_json::{Value, json};

fn key(label: &str) -> Keypair {
    Keypair::from_label(&format!("daoli/vectors/{label}"))
}

pub fn tx() -> Value {
    let alice = key("alice");
    let bob = key("bob");
    let txs = [
        Transaction::new(
            &alice,
            0,
            1,
            TxKind::Transfer {
                to: bob.public(),
                amount: 250,
            },
            vec![],
        ),
        Transaction::new(&alice, 1, 2, TxKind::BuyTicket { round: 7 }, b"lucky".to_vec()),
    ];
    json!(
        txs.iter()
            .map(|t| json!({
                "signer_seed": hex::encode(alice.seed()),
                "tx": t,
                "signing_bytes": hex::encode(t.signing_bytes()),
                "hash": t.hash(),
                "size": t.size(),
            }))
            .collect::<Vec<_>>()
    )
}

pub fn lot() -> Value {
    let miner = key("miner");
    let sponsor = key("sponsor");
    let t = LotTemplate {
        height: 42,
        prev_hash: sha256(b"block 41"),
        sponsor_pk: sponsor.public(),
        sponsor_endpoint: "dc1.example:7000".into(),
    };
    let lot = mine(&miner, &t, 12, 0, 1 << 24).expect("2^12 expected tries");
    let seed = sha256(b"seed 42");
    json!({
        "miner_seed": hex::encode(miner.seed()),
        "pow_bits": 12,
        "lot": lot,
        "lot_hash": lot.hash(),
        "luck_seed": seed,
        "rank": lot.rank(&seed),
    })
}

pub fn batch() -> Value {
    let buffer = key("buffer");
    let alice = key("alice");
    let bob = key("bob");
    let txs: Vec<Transaction> = (0..3)
        .map(|n| {
            Transaction::new(
                &alice,
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
    let b = Batch::seal(&buffer, 43, 5, txs);
    json!({
        "buffer_seed": hex::encode(buffer.seed()),
        "batch": b,
        "tx_root": b.tx_root(),
        "digest": b.digest(),
    })
}

fn sample_block() -> (Block, Vec<Keypair>) {
    let leader = key("leader");
    let seats: Vec<Keypair> = (0..4).map(|i| key(&format!("seat{i}"))).collect();
    let prev_seed = sha256(b"seed 41");
    let s = SeedAnnouncement::produce(&leader, &prev_seed, 42, 0);
    let t = LotTemplate {
        height: 42,
        prev_hash: sha256(b"block 41"),
        sponsor_pk: seats[0].public(),
        sponsor_endpoint: "dc0.example:7000".into(),
    };
    let tree: Vec<_> = (0..3)
        .map(|i| mine(&key(&format!("m{i}")), &t, 4, 0, 1 << 20).expect("lot"))
        .collect();
    let mut tree = tree;
    tree.sort_by_key(|l| l.rank(&s.seed));
    let micro = MicroBlock {
        height: 42,
        producer_rank: 0,
        producer_pk: leader.public(),
        batches: vec![BatchRef {
            cycle: 42,
            slot: 1,
            digest: sha256(b"batch"),
        }],
        prev_qc: None,
        evidence: vec![],
        sig: Signature::default(),
    }
    .sign(&leader);
    let block = Block {
        header: Header {
            height: 42,
            prev_hash: t.prev_hash,
            seed: s.seed,
            seed_rank: 0,
            vrf_proof: s.proof,
            prev_state_root: sha256(b"state 41"),
        },
        tree,
        micro: Some(micro),
    };
    (block, seats)
}

pub fn block() -> Value {
    let (b, seats) = sample_block();
    let votes: Vec<Vote> = seats
        .iter()
        .enumerate()
        .map(|(i, k)| Vote::sign_unchecked(k, 42, 0, Step::Precommit, Some(b.hash()), 1_000 + i as u64))
        .collect();
    let qc = Qc {
        height: 42,
        round: 0,
        value: b.hash(),
        precommits: votes,
    };
    json!({
        "block": b,
        "header_hash": b.header.hash(),
        "tree_hash": tree_hash(&b.tree),
        "microblock_hash": b.micro.as_ref().map(|m| m.hash()),
        "block_hash": b.hash(),
        "seat_seeds": seats.iter().map(|k| hex::encode(k.seed())).collect::<Vec<_>>(),
        "qc": qc,
        "qc_hash": qc.hash(),
        "vote_signing_bytes": hex::encode(qc.precommits[0].signing_bytes()),
    })
}

pub fn seed_chain() -> Value {
    let producers: Vec<Keypair> = (0..5).map(|i| key(&format!("leader{i}"))).collect();
    let mut prev = sha256(b"genesis seed");
    let genesis = prev;
    let mut links = Vec::new();
    for (i, k) in producers.iter().enumerate() {
        let a = SeedAnnouncement::produce(k, &prev, i as u64 + 1, 0);
        links.push(json!({ "producer_seed": hex::encode(k.seed()), "announcement": a, "alpha": hex::encode(crate::seed::alpha(&prev, i as u64 + 1)) }));
        prev = a.seed;
    }
    json!({ "genesis_seed": genesis, "links": links })
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
        ("tx.json", tx()),
        ("lot.json", lot()),
        ("batch.json", batch()),
        ("block.json", block()),
        ("seed_chain.json", seed_chain()),
        ("lottery.json", lottery()),
    ]
}
