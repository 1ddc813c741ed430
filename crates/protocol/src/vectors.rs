//! Golden test vectors (protocol v2): canonical bytes, hashes and signatures of each kind of object, made
//! from fixed keys. `cargo run -p daoli-protocol --example gen_vectors` writes them to
//! `crates/protocol/vectors/` (docs/protocol.md, A.16 lists the files and what each checks); the
//! tests check the library still produces them byte for byte, so that every service and every
//! other implementation can check against the same files.

use crate::block::{Batch, BatchRef, Block, Header, MicroBlock, route_order, route_slot};
use crate::codec::{Canon, ChainId, Hash32, sha256, tag};
use crate::crypto::{Keypair, PublicKey, Signature};
use crate::delay::{self, DelayProof};
use crate::ledger::{ExecContext, State, Winner};
use crate::lot::{Lot, LotTemplate, mine, tree_hash};
use crate::lottery::{self, Round, Ticket};
use crate::merkle;
use crate::node::Proposal;
use crate::params::{Genesis, Identity, PeriodicLottery, RoundSpec};
use crate::seed::{self, SeedAnnouncement};
use crate::statement::Evidence;
use crate::tx::{Transaction, TxKind};
use crate::vote::{Qc, Step, Vote};
use serde_json::{Value, json};
use std::collections::BTreeMap;

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

/// A registration: the root key signs the role keys, endpoint and bond (rule 1). Also executed
/// in block 4 of the state scenario.
fn register_tx() -> Transaction {
    let newcomer = dc("newcomer");
    Transaction::new(
        &newcomer.root,
        &chain(),
        0,
        5,
        TxKind::Register {
            keys: newcomer.keys(),
            endpoint: "dc9.example:7000".into(),
            bond: 1_000_000,
        },
        vec![],
    )
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
    let reg = register_tx();
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

/// The lot of `lot.json`: miner `miner`, sponsored by founder 1, for block 42, meeting 12 bits;
/// mined from nonce `start`.
fn sample_lot(start: u64) -> Lot {
    let c = chain();
    let sponsor = dc("founder1");
    let t = LotTemplate {
        height: 42,
        prev_hash: sha256(b"block 41"),
        sponsor: sponsor.sponsor.public(),
    };
    mine(&key("miner"), &c, &t, 12, start, 1 << 24)
        .expect("2^12 expected tries")
        .countersign(&sponsor.sponsor, &c)
}

pub fn lot() -> Value {
    let c = chain();
    let miner = key("miner");
    let sponsor = dc("founder1");
    let lot = sample_lot(0);
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

/// The batch of `batch.json`: three transfers for lineup address (43, 5), sealed by founder 1;
/// with `n` transactions only, the conflicting batch of the batch evidence.
fn sample_batch(n: u64) -> Batch {
    let c = chain();
    let alice = key("alice");
    let bob = key("bob");
    let txs: Vec<Transaction> = (0..n)
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
    Batch::seal(&dc("founder1").batch, &c, 43, 5, txs)
}

fn batch_json(c: &ChainId, b: &Batch, buffer_seed: [u8; 32]) -> Value {
    json!({
        "buffer_seed": hex::encode(buffer_seed),
        "batch": b,
        "tx_root": b.tx_root(),
        "digest": b.digest(),
        "signing_bytes": hex::encode(b.slot_of().signing_bytes(c, &b.digest())),
        "batch_id": b.id(),
    })
}

pub fn batch() -> Value {
    let c = chain();
    let mut v = batch_json(&c, &sample_batch(3), dc("founder1").batch.seed());
    v["chain_id"] = json!(c);
    // Every transaction kind in one batch: the batch block 4 of the state scenario executes.
    v["mixed"] = batch_json(&c, &mixed_batch(), dc("founder0").batch.seed());
    v
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

/// Block 43 after block `prev` (42): the fallback seed, so no VRF proof; no delay; no MicroBlock.
fn fallback_block(prev: &Block) -> Block {
    let c = chain();
    let sponsor = dc("founder1");
    let seed = seed::fallback(&c, &prev.header.seed, 43);
    let t = LotTemplate {
        height: 43,
        prev_hash: prev.hash(),
        sponsor: sponsor.sponsor.public(),
    };
    let mut tree: Vec<Lot> = (3..5)
        .map(|i| {
            mine(&key(&format!("m{i}")), &c, &t, 4, 0, 1 << 20)
                .expect("lot")
                .countersign(&sponsor.sponsor, &c)
        })
        .collect();
    tree.sort_by_key(|l| l.rank(&seed));
    Block {
        header: Header {
            height: 43,
            prev_hash: prev.hash(),
            seed,
            vrf_proof: None,
            prev_state_root: sha256(b"state 42"),
            delay: None,
        },
        tree,
        micro: None,
    }
}

/// MicroBlock 1 by founder 0 (rank 0 of block 0): no previous QC, so no prevotes; no evidence.
fn bare_micro(batches: Vec<BatchRef>) -> MicroBlock {
    let f0 = dc("founder0");
    MicroBlock {
        height: 1,
        producer_rank: 0,
        producer_pk: f0.micro.public(),
        batches,
        prev_qc: None,
        prev_prevotes: vec![],
        evidence: vec![],
        sig: Signature::default(),
    }
    .sign(&f0.micro, &chain())
}

fn batch_ref_1() -> Vec<BatchRef> {
    vec![BatchRef {
        cycle: 1,
        slot: 0,
        digest: sha256(b"batch 1"),
    }]
}

pub fn block() -> Value {
    let c = chain();
    let (b, seats, qc, e) = sample_block();
    let m = b.micro.as_ref().expect("micro");
    let v = &qc.precommits[0];
    let mut out = json!({
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
    });
    // The header's VRF proof is checked against alpha(chain, seed_41, 42) and this key.
    out["prev_seed"] = json!(sha256(b"seed 41"));
    out["vrf_producer"] = json!(dc("founder0").vrf.public());
    out["microblock_id"] = json!(m.id());
    // A nil precommit of seat 2 in round 1.
    let nil = Vote::sign_unchecked(&seats[2], &c, 42, 1, Step::Precommit, None, 1_764_000_042_000);
    out["nil_vote"] = json!({
        "vote": nil,
        "content": nil.content(),
        "signing_bytes": hex::encode(nil.signing_bytes(&c)),
    });
    let f = fallback_block(&b);
    out["fallback_block"] = json!({
        "block": f,
        "header_hash": f.header.hash(),
        "tree_hash": tree_hash(&f.tree),
        "block_hash": f.hash(),
    });
    let bare = bare_micro(batch_ref_1());
    out["bare_microblock"] = json!({
        "microblock": bare,
        "hash": bare.hash(),
        "signing_bytes": hex::encode(bare.slot().signing_bytes(&c, &bare.hash())),
        "id": bare.id(),
    });
    out
}

/// `H("daoli/v2/proposal" || u32 valid_round (u32::MAX for none) || block hash)`, as the spec
/// writes it (`Proposal`'s own is private).
fn proposal_content(valid_round: Option<u32>, block: &Hash32) -> Hash32 {
    let mut c = Canon::new(tag::PROPOSAL);
    c.u32(valid_round.unwrap_or(u32::MAX)).h(block);
    c.hash()
}

/// A round-0 proposal (a seat's own view) and a round-1 proposal with valid round 0 and its
/// polka, both of block 43.
pub fn proposal() -> Value {
    let c = chain();
    let (b42, seats, _, _) = sample_block();
    let b = fallback_block(&b42);
    let own_view = Proposal::new(&seats[0], &c, 0, None, b.clone());
    let mut relay = Proposal::new(&seats[1], &c, 1, Some(0), b.clone());
    relay.pol = seats[..3]
        .iter()
        .map(|k| Vote::sign_unchecked(k, &c, 43, 0, Step::Prevote, Some(b.hash()), 0))
        .collect();
    let entry = |p: &Proposal, k: &Keypair| {
        let content = proposal_content(p.valid_round, &p.block.hash());
        json!({
            "proposer_seed": hex::encode(k.seed()),
            "proposal": p,
            "block_hash": p.block.hash(),
            "content": content,
            "signing_bytes": hex::encode(p.slot().signing_bytes(&c, &content)),
        })
    };
    json!({
        "chain_id": c,
        "proposals": [entry(&own_view, &seats[0]), entry(&relay, &seats[1])],
    })
}

/// Evidence of every kind but votes (in `block.json`): two statements of one key for one slot.
pub fn evidence() -> Value {
    let c = chain();
    let (b42, seats, _, _) = sample_block();
    let b = fallback_block(&b42);
    let (f0, f1) = (dc("founder0"), dc("founder1"));
    // Round-0 proposals are own views, which a seat may update: never evidence. From round 1
    // on, one proposal per proposer and round.
    let p = [
        Proposal::new(&seats[1], &c, 1, Some(0), b.clone()),
        Proposal::new(&seats[1], &c, 1, None, b),
    ];
    let m = [bare_micro(batch_ref_1()), bare_micro(vec![])];
    let bs = [sample_batch(3), sample_batch(2)];
    let first = sample_lot(0);
    let l = [first.clone(), sample_lot(first.nonce + 1)];
    let cases = [
        ("Proposal", seats[1].seed(), json!(p), p[0].evidence(&p[1])),
        ("Micro", f0.micro.seed(), json!(m), m[0].evidence(&m[1])),
        ("Batch", f1.batch.seed(), json!(bs), bs[0].evidence(&bs[1])),
        ("LotSponsor", f1.sponsor.seed(), json!(l), l[0].sponsor_evidence(&l[1])),
    ];
    let list: Vec<Value> = cases
        .into_iter()
        .map(|(kind, seed, statements, e)| {
            let e = e.expect("conflict");
            json!({
                "kind": kind,
                "signer_seed": hex::encode(seed),
                "statements": statements,
                "evidence": e,
                "evidence_hash": e.hash(),
                "signing_bytes": [
                    hex::encode(e.slot.signing_bytes(&c, &e.a.content)),
                    hex::encode(e.slot.signing_bytes(&c, &e.b.content)),
                ],
            })
        })
        .collect();
    json!({ "chain_id": c, "evidence": list })
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
        "delayed_draw": delayed_draw(),
    })
}

/// Round 1 of the vector genesis as the state scenario draws it: closed at 5 with five tickets,
/// its draw seed `seed_7` (`close + D`, a chain of fallback seeds from the genesis seed), the
/// delay over it that block 9 (`close + D + E`) carries, and the winners drawn from its output.
fn delayed_draw() -> Value {
    let sc = scenario();
    let r = &sc.round_at_close;
    let winners = lottery::draw(&sc.delay.output, r.id, r.tickets.len() as u64, r.winners);
    json!({
        "round": r,
        "draw_height": sc.draw_height,
        "seeds": sc.seeds[..=(sc.draw_height - vector_genesis().params.delay_blocks) as usize],
        "delay": sc.delay,
        "delay_proof_hash": sc.delay.hash(),
        "winners": winners,
        "payouts": lottery::payouts(r, &winners),
    })
}

/// What the state scenario produced.
struct Scenario {
    genesis: State,
    last: State,
    /// `seed_0 ..= seed_10`: fallback seeds from the genesis seed.
    seeds: Vec<Hash32>,
    round_at_close: Round,
    draw_height: u64,
    delay: DelayProof,
}

/// Ten blocks of the vector genesis executed by `State::execute` (without the chain's checks:
/// the blocks are not vectors, the states are). Blocks 1-3 are led by the newcomer's root key
/// as miner, which earns its bond; block 2 buys tickets (and fails one); block 3's MicroBlock
/// slashes founder 1 for a double prevote; block 4 registers the newcomer and buys more
/// tickets; round 1 closes at 5 and is drawn at 9 from the delay over `seed_7`; block 10 opens
/// the periodic round 2 and includes a batch still remembered at the end.
fn scenario() -> Scenario {
    let g = vector_genesis();
    let c = g.chain_id();
    let p = &g.params;
    let (f0, f1, newcomer) = (dc("founder0"), dc("founder1"), dc("newcomer"));
    let (alice, bob) = (key("alice"), key("bob"));
    let t = |k: &Keypair, nonce: u64, fee: u64, kind: TxKind, memo: &[u8]| {
        Transaction::new(k, &c, nonce, fee, kind, memo.to_vec())
    };
    let ticket = |round| TxKind::BuyTicket { round };
    let to = |k: PublicKey, amount| TxKind::Transfer { to: k, amount };
    let batches: BTreeMap<u64, (Batch, PublicKey)> = [
        (
            2,
            (
                Batch::seal(
                    &f1.batch,
                    &c,
                    2,
                    0,
                    vec![
                        t(&alice, 0, 1, to(bob.public(), 10_000), b""),
                        t(&alice, 1, 2, ticket(1), b""),
                        t(&bob, 0, 2, ticket(1), b""),
                        t(&alice, 2, 2, ticket(1), b"lucky"),
                        // Round 2 does not exist yet: the fee is paid, the nonce used.
                        t(&bob, 1, 1, ticket(2), b""),
                    ],
                ),
                f1.root.public(),
            ),
        ),
        (4, (mixed_batch(), f0.root.public())),
        (
            10,
            (
                Batch::seal(
                    &f0.batch,
                    &c,
                    10,
                    1,
                    vec![t(&alice, 3, 1, to(newcomer.root.public(), 1_000), b"thanks")],
                ),
                f0.root.public(),
            ),
        ),
    ]
    .into_iter()
    .collect();
    let mut s = State::genesis(&g);
    let genesis = s.clone();
    let mut seeds = vec![g.seed];
    let mut prev = c;
    let mut round_at_close = None;
    let mut drawn = None;
    for h in 1..=10u64 {
        let seed = seed::fallback(&c, &seeds[h as usize - 1], h);
        seeds.push(seed);
        let miner = if h <= 3 { &newcomer.root } else { &alice };
        let lot = mine(
            miner,
            &c,
            &LotTemplate {
                height: h,
                prev_hash: prev,
                sponsor: f0.sponsor.public(),
            },
            0,
            0,
            1,
        )
        .expect("no work")
        .countersign(&f0.sponsor, &c);
        let delay = s.draw_due(h, p).then(|| {
            let at = (h - p.delay_blocks) as usize;
            delay::evaluate(&seeds[at], p.delay_iterations, p.delay_segments).expect("delay")
        });
        let batch = batches.get(&h);
        let evidence: Vec<Evidence> = if h == 3 {
            let double = |value| Vote::sign_unchecked(&f1.vote, &c, 2, 0, Step::Prevote, value, 0);
            vec![double(Some(prev)).evidence(&double(None)).expect("conflict")]
        } else {
            vec![]
        };
        let micro = (batch.is_some() || !evidence.is_empty()).then(|| {
            MicroBlock {
                height: h,
                producer_rank: 0,
                producer_pk: f0.micro.public(),
                batches: batch
                    .iter()
                    .map(|(b, _)| BatchRef {
                        cycle: b.cycle,
                        slot: b.slot,
                        digest: b.digest(),
                    })
                    .collect(),
                prev_qc: None,
                prev_prevotes: vec![],
                evidence,
                sig: Signature::default(),
            }
            .sign(&f0.micro, &c)
        });
        let block = Block {
            header: Header {
                height: h,
                prev_hash: prev,
                seed,
                vrf_proof: None,
                prev_state_root: s.root(),
                delay: delay.clone(),
            },
            tree: vec![lot],
            micro,
        };
        s.execute(
            &g,
            &ExecContext {
                block: &block,
                batches: batch.iter().map(|(b, _)| b).collect(),
                batch_winners: batch
                    .iter()
                    .map(|(_, sponsor)| Winner {
                        miner: bob.public(),
                        sponsor: *sponsor,
                    })
                    .collect(),
                prev_seats: None,
            },
        );
        prev = block.hash();
        if h == g.rounds[0].close_height {
            round_at_close = Some(s.rounds[&1].clone());
        }
        if let Some(d) = delay {
            drawn = Some((h, d));
        }
    }
    let (draw_height, delay) = drawn.expect("round 1 is drawn");
    Scenario {
        genesis,
        last: s,
        seeds,
        round_at_close: round_at_close.expect("round 1 closes"),
        draw_height,
        delay,
    }
}

/// Block 4's batch: a registration, tickets and a transfer, sealed by founder 0 for (4, 0).
fn mixed_batch() -> Batch {
    let c = chain();
    let (newcomer, bob) = (dc("newcomer"), key("bob"));
    let txs = vec![
        register_tx(),
        Transaction::new(&newcomer.root, &c, 1, 2, TxKind::BuyTicket { round: 1 }, vec![]),
        Transaction::new(&bob, &c, 2, 2, TxKind::BuyTicket { round: 1 }, vec![]),
        Transaction::new(
            &bob,
            &c,
            3,
            1,
            TxKind::Transfer {
                to: key("alice").public(),
                amount: 500,
            },
            b"change".to_vec(),
        ),
    ];
    Batch::seal(&dc("founder0").batch, &c, 4, 0, txs)
}

fn state_json(s: &State) -> Value {
    let l = s.leaves();
    json!({
        "state": s,
        "account_leaves": l.accounts,
        "round_leaves": l.rounds,
        "datacenter_leaves": l.datacenters,
        "accounts_root": merkle::root(&l.accounts),
        "rounds_root": merkle::root(&l.rounds),
        "datacenters_root": merkle::root(&l.datacenters),
        "included_root": merkle::root(&l.included),
        "root": s.root(),
    })
}

/// The genesis state of the vector genesis and the state after the scenario's ten blocks.
pub fn state() -> Value {
    let sc = scenario();
    json!({
        "chain_id": chain(),
        "genesis": state_json(&sc.genesis),
        "executed": state_json(&sc.last),
    })
}

/// Merkle roots of 0 (the empty root), 1, 2, 3, 4, 5 and 7 items.
pub fn merkle() -> Value {
    let cases: Vec<Value> = [0usize, 1, 2, 3, 4, 5, 7]
        .into_iter()
        .map(|n| {
            let items: Vec<Hash32> = (0..n).map(|i| sha256(format!("merkle item {i}").as_bytes())).collect();
            json!({
                "items": items,
                "leaves": items.iter().map(merkle::leaf).collect::<Vec<_>>(),
                "root": merkle::root(&items),
            })
        })
        .collect();
    json!({ "cases": cases })
}

/// Payroll slots senders route to, with the vector genesis' `P` and with `P = 5`.
pub fn routing() -> Value {
    let senders = [
        key("alice").public(),
        key("bob").public(),
        key("carol").public(),
        dc("newcomer").root.public(),
    ];
    let mut routes = Vec::new();
    for payroll in [vector_genesis().params.payroll, 5] {
        for s in &senders {
            let mut c = Canon::new(tag::ROUTE);
            c.fixed(&s.0);
            routes.push(json!({
                "sender": s,
                "payroll": payroll,
                "route_hash": c.hash(),
                "slot": route_slot(s, payroll),
                "order": route_order(s, payroll).collect::<Vec<_>>(),
            }));
        }
    }
    json!({ "routes": routes })
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
        ("proposal.json", proposal()),
        ("evidence.json", evidence()),
        ("state.json", state()),
        ("merkle.json", merkle()),
        ("routing.json", routing()),
    ]
}
