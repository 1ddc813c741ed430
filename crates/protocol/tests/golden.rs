//! The golden vectors in crates/protocol/vectors/ are reproduced byte for byte, and the
//! signatures and proofs they hold verify on their own. Every value a vector holds is recomputed
//! here from the vector's inputs: by the library where it exposes the computation, else from
//! the layout of docs/protocol.md, Appendix A, with `Canon`, tied to the library by a hash or
//! signature that covers it.

use daoli_protocol::block::{Batch, Block, MicroBlock, route_order, route_slot};
use daoli_protocol::codec::{Canon, Hash32, hex_array, sha256, tag};
use daoli_protocol::crypto::{Keypair, PublicKey, verify};
use daoli_protocol::ledger::State;
use daoli_protocol::lot::{Lot, tree_hash};
use daoli_protocol::lottery::{self, Round};
use daoli_protocol::merkle;
use daoli_protocol::node::Proposal;
use daoli_protocol::params::Genesis;
use daoli_protocol::seed::{SeedAnnouncement, fallback, verify_seed};
use daoli_protocol::statement::{Evidence, Kind};
use daoli_protocol::tx::{Transaction, TxKind};
use daoli_protocol::vote::{Qc, Step, Vote, vote_content};
use serde_json::Value;

fn load(name: &str) -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("vectors")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .expect("vector JSON")
}

fn h(v: &Value) -> Hash32 {
    Hash32(hex_array(v.as_str().expect("hex string")).expect("32 bytes"))
}

#[test]
fn vectors_are_reproduced_exactly() {
    for (name, v) in daoli_protocol::vectors::all() {
        assert_eq!(
            load(name),
            v,
            "{name} differs: canonical encoding changed; regenerate only on purpose"
        );
    }
}

fn chain() -> Hash32 {
    h(&load("genesis.json")["chain_id"])
}

#[test]
fn genesis_vector_gives_the_chain_id() {
    let v = load("genesis.json");
    let g: Genesis = serde_json::from_value(v["genesis"].clone()).expect("genesis");
    g.validate().expect("valid genesis");
    assert_eq!(
        hex::encode(g.canonical_bytes()),
        v["canonical_bytes"].as_str().expect("hex")
    );
    assert_eq!(sha256(&g.canonical_bytes()), h(&v["chain_id"]));
}

#[test]
fn tx_vectors_verify() {
    let c = chain();
    let v = load("tx.json");
    assert_eq!(h(&v["chain_id"]), c);
    for v in v["txs"].as_array().expect("list") {
        let tx: Transaction = serde_json::from_value(v["tx"].clone()).expect("tx");
        assert_eq!(
            hex::encode(tx.signing_bytes(&c)),
            v["signing_bytes"].as_str().expect("hex")
        );
        assert_eq!(tx.hash(), h(&v["hash"]));
        assert_eq!(tx.size() as u64, v["size"].as_u64().expect("size"));
        tx.verify(&c, 4096).expect("signature");
        let k = Keypair::from_seed(hex_array(v["signer_seed"].as_str().expect("seed")).expect("32"));
        assert_eq!(k.public(), tx.sender);
    }
}

#[test]
fn lot_vector_verifies() {
    let c = chain();
    let v = load("lot.json");
    let lot: Lot = serde_json::from_value(v["lot"].clone()).expect("lot");
    assert_eq!(lot.validate(&c, 12).expect("valid lot"), h(&v["lot_hash"]));
    assert_eq!(lot.id(), h(&v["lot_id"]));
    assert_eq!(lot.rank(&h(&v["luck_seed"])), h(&v["rank"]));
    let sb = hex::decode(v["sponsor_signing_bytes"].as_str().expect("hex")).expect("hex");
    verify(&lot.sponsor, &sb, &lot.sponsor_sig).expect("countersignature over the given bytes");
}

#[test]
fn batch_vector_verifies() {
    let c = chain();
    let v = load("batch.json");
    let b: Batch = serde_json::from_value(v["batch"].clone()).expect("batch");
    assert_eq!(
        b.validate(&c, 4096, 1 << 20, &b.buffer_pk).expect("valid"),
        h(&v["digest"])
    );
    assert_eq!(b.tx_root(), h(&v["tx_root"]));
    assert_eq!(b.id(), h(&v["batch_id"]));
}

#[test]
fn block_qc_vote_and_evidence_vectors_verify() {
    let c = chain();
    let v = load("block.json");
    let b: Block = serde_json::from_value(v["block"].clone()).expect("block");
    assert_eq!(b.hash(), h(&v["block_hash"]));
    assert_eq!(b.header.hash(), h(&v["header_hash"]));
    let d = b.header.delay.as_ref().expect("delay proof");
    assert_eq!(d.hash(), h(&v["delay_proof_hash"]));
    assert_eq!(d.verify(&d.seed, 64, 4), Ok(d.output));
    assert_eq!(tree_hash(&b.tree), h(&v["tree_hash"]));
    let m = b.micro.as_ref().expect("micro");
    assert_eq!(m.hash(), h(&v["microblock_hash"]));
    m.verify_sig(&c).expect("microblock signature");
    assert_eq!(
        m.prev_qc.as_ref().expect("prev qc").hash(),
        h(&v["microblock_prev_qc_hash"])
    );
    for p in &m.prev_prevotes {
        verify(&p.voter, &p.signing_bytes(&c), &p.sig).expect("embedded prevote signature");
    }
    for l in &b.tree {
        l.validate(&c, 4).expect("tree lot");
    }
    let qc: Qc = serde_json::from_value(v["qc"].clone()).expect("qc");
    assert_eq!(qc.hash(), h(&v["qc_hash"]));
    for p in &qc.precommits {
        verify(&p.voter, &p.signing_bytes(&c), &p.sig).expect("precommit signature");
    }
    let vote: Vote = serde_json::from_value(v["vote"].clone()).expect("vote");
    assert_eq!(vote.content(), h(&v["vote_content"]));
    assert_eq!(
        hex::encode(vote.signing_bytes(&c)),
        v["vote_signing_bytes"].as_str().expect("hex")
    );
    let e: Evidence = serde_json::from_value(v["evidence"].clone()).expect("evidence");
    e.verify(&c).expect("evidence");
    assert_eq!(e.hash(), h(&v["evidence_hash"]));
}

#[test]
fn seed_chain_vector_verifies_link_by_link() {
    let c = chain();
    let v = load("seed_chain.json");
    let mut prev = h(&v["genesis_seed"]);
    for (i, link) in v["links"].as_array().expect("links").iter().enumerate() {
        let a: SeedAnnouncement = serde_json::from_value(link["announcement"].clone()).expect("announcement");
        a.verify(&c, &prev, &a.producer).expect("VRF proof");
        assert_eq!(fallback(&c, &prev, i as u64 + 1), h(&link["fallback"]));
        prev = a.seed;
    }
}

#[test]
fn lottery_vector_draws_the_same_winners() {
    let v = load("lottery.json");
    let r: Round = serde_json::from_value(v["round"].clone()).expect("round");
    assert_eq!(r.compute_ticket_root(), h(&v["ticket_root"]));
    let w = lottery::draw(&h(&v["draw_seed"]), r.id, r.tickets.len() as u64, r.winners);
    assert_eq!(serde_json::to_value(&w).expect("json"), v["winners"]);
    let l = &v["large"];
    let w = lottery::draw(&h(&l["seed"]), 1, 1_000_000, 10);
    assert_eq!(serde_json::to_value(&w).expect("json"), l["drawn"]);
}

fn hashes(v: &Value) -> Vec<Hash32> {
    v.as_array().expect("list").iter().map(h).collect()
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

fn key_of(v: &Value) -> Keypair {
    Keypair::from_seed(hex_array(v.as_str().expect("seed")).expect("32 bytes"))
}

fn genesis() -> Genesis {
    serde_json::from_value(load("genesis.json")["genesis"].clone()).expect("genesis")
}

#[test]
fn block_header_seed_verifies_against_the_previous_seed() {
    let c = chain();
    let v = load("block.json");
    let b: Block = serde_json::from_value(v["block"].clone()).expect("block");
    let producer: PublicKey = serde_json::from_value(v["vrf_producer"].clone()).expect("key");
    assert_eq!(producer, genesis().founders[0].keys.vrf, "founder 0's VRF key");
    let prev = h(&v["prev_seed"]);
    verify_seed(&c, &producer, &prev, 42, &b.header.seed, b.header.vrf_proof.as_ref()).expect("VRF proof");
    assert!(
        verify_seed(
            &c,
            &producer,
            &b.header.seed,
            42,
            &b.header.seed,
            b.header.vrf_proof.as_ref()
        )
        .is_err()
    );
    assert_eq!(b.micro.as_ref().expect("micro").id(), h(&v["microblock_id"]));
}

#[test]
fn nil_vote_vector_verifies() {
    let c = chain();
    let v = &load("block.json")["nil_vote"];
    let vote: Vote = serde_json::from_value(v["vote"].clone()).expect("vote");
    assert_eq!(vote.value, None);
    assert_eq!(vote.content(), h(&v["content"]));
    assert_eq!(vote_content(None, vote.timestamp), h(&v["content"]));
    assert_eq!(
        hex::encode(vote.signing_bytes(&c)),
        v["signing_bytes"].as_str().expect("hex")
    );
    vote.verify_sig(&c).expect("nil vote signature");
}

#[test]
fn fallback_block_without_microblock_verifies() {
    let c = chain();
    let v = load("block.json");
    let b42: Block = serde_json::from_value(v["block"].clone()).expect("block");
    let f = &v["fallback_block"];
    let b: Block = serde_json::from_value(f["block"].clone()).expect("block");
    assert_eq!((b.header.vrf_proof, &b.header.delay, &b.micro), (None, &None, &None));
    assert_eq!(b.header.prev_hash, b42.hash());
    assert_eq!(b.header.seed, fallback(&c, &b42.header.seed, 43));
    // Without a proof, whoever the producer is, only the fallback is accepted.
    let anyone = Keypair::from_label("anyone").public();
    verify_seed(&c, &anyone, &b42.header.seed, 43, &b.header.seed, None).expect("fallback seed");
    assert_eq!(b.header.hash(), h(&f["header_hash"]));
    assert_eq!(tree_hash(&b.tree), h(&f["tree_hash"]));
    assert_eq!(b.hash(), h(&f["block_hash"]));
    // A.10: the absent MicroBlock hashes as 32 zero bytes.
    let mut cb = Canon::new(tag::BLOCK);
    cb.h(&b.header.hash()).h(&tree_hash(&b.tree)).h(&Hash32::ZERO);
    assert_eq!(cb.hash(), b.hash());
    for l in &b.tree {
        l.validate(&c, 4).expect("tree lot");
        assert_eq!((l.height, l.prev_hash), (43, b42.hash()));
    }
    assert!(b.tree[0].rank(&b.header.seed) < b.tree[1].rank(&b.header.seed));
}

#[test]
fn bare_microblock_vector_verifies() {
    let c = chain();
    let v = &load("block.json")["bare_microblock"];
    let m: MicroBlock = serde_json::from_value(v["microblock"].clone()).expect("micro");
    assert!(m.prev_qc.is_none() && m.prev_prevotes.is_empty() && m.evidence.is_empty());
    assert_eq!(m.producer_pk, genesis().founders[0].keys.micro);
    assert_eq!(m.hash(), h(&v["hash"]));
    assert_eq!(
        hex::encode(m.slot().signing_bytes(&c, &m.hash())),
        v["signing_bytes"].as_str().expect("hex")
    );
    m.verify_sig(&c).expect("signature");
    assert_eq!(m.id(), h(&v["id"]));
}

#[test]
fn mixed_batch_vector_verifies() {
    let c = chain();
    let v = &load("batch.json")["mixed"];
    let b: Batch = serde_json::from_value(v["batch"].clone()).expect("batch");
    assert_eq!(key_of(&v["buffer_seed"]).public(), b.buffer_pk);
    assert_eq!(
        b.validate(&c, 4096, 1 << 20, &b.buffer_pk).expect("valid"),
        h(&v["digest"])
    );
    assert_eq!(b.tx_root(), h(&v["tx_root"]));
    assert_eq!(b.id(), h(&v["batch_id"]));
    assert_eq!(
        hex::encode(b.slot_of().signing_bytes(&c, &b.digest())),
        v["signing_bytes"].as_str().expect("hex")
    );
    let kinds: std::collections::BTreeSet<u8> = b
        .txs
        .iter()
        .map(|t| match t.kind {
            TxKind::Transfer { .. } => 0,
            TxKind::BuyTicket { .. } => 1,
            TxKind::Register { .. } => 2,
        })
        .collect();
    assert_eq!(kinds.len(), 3, "every transaction kind");
}

/// A.6: `H_proposal(u32 valid_round || h32 block_hash)`, `valid_round` all ones when none.
fn proposal_content(p: &Proposal) -> Hash32 {
    let mut c = Canon::new(tag::PROPOSAL);
    c.u32(p.valid_round.unwrap_or(u32::MAX)).h(&p.block.hash());
    c.hash()
}

#[test]
fn proposal_vectors_verify() {
    let c = chain();
    let v = load("proposal.json");
    assert_eq!(h(&v["chain_id"]), c);
    let list = v["proposals"].as_array().expect("list");
    for e in list {
        let p: Proposal = serde_json::from_value(e["proposal"].clone()).expect("proposal");
        assert!(p.verify(&c), "proposal signature");
        assert_eq!(key_of(&e["proposer_seed"]).public(), p.proposer);
        assert_eq!(p.block.hash(), h(&e["block_hash"]));
        let content = proposal_content(&p);
        assert_eq!(content, h(&e["content"]));
        let sb = p.slot().signing_bytes(&c, &content);
        assert_eq!(hex::encode(&sb), e["signing_bytes"].as_str().expect("hex"));
        // The signature over the bytes written from the spec ties them to the library's.
        verify(&p.proposer, &sb, &p.sig).expect("signature over the spec's bytes");
        for pv in &p.pol {
            let want = (p.block.height(), p.valid_round, Step::Prevote, Some(p.block.hash()));
            assert_eq!((pv.height, Some(pv.round), pv.step, pv.value), want);
            pv.verify_sig(&c).expect("polka prevote");
        }
    }
    let rounds: Vec<(u32, Option<u32>)> = list
        .iter()
        .map(|e| {
            (
                e["proposal"]["round"].as_u64().unwrap() as u32,
                e["proposal"]["valid_round"].as_u64().map(|r| r as u32),
            )
        })
        .collect();
    assert_eq!(rounds, vec![(0, None), (1, Some(0))]);
}

#[test]
fn evidence_vectors_of_every_kind_verify() {
    let c = chain();
    let v = load("evidence.json");
    assert_eq!(h(&v["chain_id"]), c);
    let mut kinds = Vec::new();
    for x in v["evidence"].as_array().expect("list") {
        let e: Evidence = serde_json::from_value(x["evidence"].clone()).expect("evidence");
        e.verify(&c).expect("evidence");
        assert!(e.a.content < e.b.content);
        assert_eq!(e.hash(), h(&x["evidence_hash"]));
        assert_eq!(key_of(&x["signer_seed"]).public(), e.offender());
        let sb = hex_of(&x["signing_bytes"][0]);
        assert_eq!(sb, e.slot.signing_bytes(&c, &e.a.content));
        verify(&e.slot.signer, &sb, &e.a.sig).expect("statement a");
        let sb = hex_of(&x["signing_bytes"][1]);
        assert_eq!(sb, e.slot.signing_bytes(&c, &e.b.content));
        verify(&e.slot.signer, &sb, &e.b.sig).expect("statement b");
        // The evidence is the one the two conflicting statements make.
        let st = &x["statements"];
        let made = match e.slot.kind {
            Kind::Proposal => {
                let p: [Proposal; 2] = serde_json::from_value(st.clone()).expect("proposals");
                assert!(e.slot.round >= 1, "round-0 proposals are own views, never evidence");
                let contents = [proposal_content(&p[0]), proposal_content(&p[1])];
                assert!(contents.contains(&e.a.content) && contents.contains(&e.b.content));
                p[0].evidence(&p[1])
            }
            Kind::Micro => {
                let m: [MicroBlock; 2] = serde_json::from_value(st.clone()).expect("micros");
                m[0].evidence(&m[1])
            }
            Kind::Batch => {
                let b: [Batch; 2] = serde_json::from_value(st.clone()).expect("batches");
                b[0].evidence(&b[1])
            }
            Kind::LotSponsor => {
                let l: [Lot; 2] = serde_json::from_value(st.clone()).expect("lots");
                assert_eq!(e.slot.subject, l[0].miner);
                l[0].sponsor_evidence(&l[1])
            }
            k => panic!("unexpected kind {k:?}"),
        };
        assert_eq!(made.as_ref(), Some(&e));
        kinds.push(e.slot.kind);
    }
    assert_eq!(kinds, vec![Kind::Proposal, Kind::Micro, Kind::Batch, Kind::LotSponsor]);
}

/// A.14 leaves, from the spec's layouts.
fn account_leaf(k: &PublicKey, balance: u64, nonce: u64) -> Hash32 {
    let mut c = Canon::new(tag::ACCOUNT);
    c.fixed(&k.0).u64(balance).u64(nonce);
    c.hash()
}

fn round_leaf(r: &Round) -> Hash32 {
    let mut c = Canon::new(tag::ROUND);
    c.u64(r.id)
        .u64(r.open_height)
        .u64(r.close_height)
        .u64(r.price)
        .u32(r.winners)
        .h(&r.compute_ticket_root())
        .h(&r.draw_seed.unwrap_or(Hash32::ZERO));
    if let Some(w) = &r.drawn {
        c.u8(1).u32(w.len() as u32);
        for i in w {
            c.u64(*i);
        }
    } else {
        c.u8(0);
    }
    c.hash()
}

fn state_leaves(s: &State) -> [Vec<Hash32>; 4] {
    [
        s.accounts
            .iter()
            .map(|(k, a)| account_leaf(k, a.balance, a.nonce))
            .collect(),
        s.rounds.values().map(round_leaf).collect(),
        s.datacenters
            .iter()
            .map(|(k, d)| {
                let mut c = Canon::new(tag::DATACENTER);
                c.fixed(&k.0);
                d.keys.put(&mut c);
                c.bytes(d.endpoint.as_bytes()).u64(d.bond).u64(d.since);
                match d.slashed_at {
                    None => c.u8(0),
                    Some(x) => c.u8(1).u64(x),
                };
                c.hash()
            })
            .collect(),
        s.included.keys().copied().collect(),
    ]
}

#[test]
fn state_vectors_give_their_roots() {
    let v = load("state.json");
    assert_eq!(h(&v["chain_id"]), chain());
    let g = genesis();
    let genesis_state: State = serde_json::from_value(v["genesis"]["state"].clone()).expect("state");
    assert_eq!(
        State::genesis(&g),
        genesis_state,
        "the genesis state follows from genesis.json"
    );
    assert_eq!(
        genesis_state.root().to_string(),
        "1b233f7db86168229e9f47d4a320fd20eb47950c55c02016b76de4284a654b75"
    );
    for name in ["genesis", "executed"] {
        let e = &v[name];
        let s: State = serde_json::from_value(e["state"].clone()).expect("state");
        assert_eq!(s.root(), h(&e["root"]), "{name}");
        let [accounts, rounds, dcs, included] = state_leaves(&s);
        assert_eq!(accounts, hashes(&e["account_leaves"]), "{name}");
        assert_eq!(rounds, hashes(&e["round_leaves"]), "{name}");
        assert_eq!(dcs, hashes(&e["datacenter_leaves"]), "{name}");
        for r in s.rounds.values() {
            assert_eq!(r.state_hash(), round_leaf(r));
        }
        let roots = [
            ("accounts_root", merkle::root(&accounts)),
            ("rounds_root", merkle::root(&rounds)),
            ("datacenters_root", merkle::root(&dcs)),
            ("included_root", merkle::root(&included)),
        ];
        for (field, root) in roots {
            assert_eq!(root, h(&e[field]), "{name} {field}");
        }
        let mut c = Canon::new(tag::STATE);
        c.u64(s.height);
        for (_, root) in roots {
            c.h(&root);
        }
        c.u64(s.next_round)
            .u64(s.owed_fees)
            .u64(s.minted)
            .u64(s.burned)
            .u64(s.bonded);
        assert_eq!(c.hash(), s.root(), "{name}: the state root from the spec's layout");
        assert_eq!(s.supply(), s.minted - s.burned, "{name}: supply");
    }
    // The executed state exercises every optional branch of the leaves.
    let s: State = serde_json::from_value(v["executed"]["state"].clone()).expect("state");
    assert!(s.datacenters.values().any(|d| d.slashed_at.is_some()));
    assert!(s.datacenters.values().any(|d| d.since > 0));
    assert!(s.rounds.values().any(|r| r.drawn.is_some()) && s.rounds.values().any(|r| r.drawn.is_none()));
    assert!(!s.included.is_empty());
}

#[test]
fn delayed_draw_vector_ties_seed_delay_and_winners() {
    let c = chain();
    let g = genesis();
    let p = &g.params;
    let v = &load("lottery.json")["delayed_draw"];
    let r: Round = serde_json::from_value(v["round"].clone()).expect("round");
    assert_eq!(r.ticket_root, Some(r.compute_ticket_root()));
    let draw_height = v["draw_height"].as_u64().expect("height");
    assert_eq!(draw_height, r.close_height + p.draw_delay + p.delay_blocks);
    // The seeds: fallbacks from the genesis seed up to seed_{close + D}.
    let seeds = hashes(&v["seeds"]);
    assert_eq!(seeds.len() as u64, r.close_height + p.draw_delay + 1);
    assert_eq!(seeds[0], g.seed);
    for (i, w) in seeds.windows(2).enumerate() {
        assert_eq!(w[1], fallback(&c, &w[0], i as u64 + 1));
    }
    let d: daoli_protocol::delay::DelayProof = serde_json::from_value(v["delay"].clone()).expect("delay");
    assert_eq!(d.hash(), h(&v["delay_proof_hash"]));
    assert_eq!(d.segments(), p.delay_segments);
    let out = d
        .verify(seeds.last().expect("seed"), p.delay_iterations, p.delay_segments)
        .expect("delay proof");
    let winners = lottery::draw(&out, r.id, r.tickets.len() as u64, r.winners);
    assert_eq!(serde_json::to_value(&winners).expect("json"), v["winners"]);
    assert_eq!(
        serde_json::to_value(lottery::payouts(&r, &winners)).expect("json"),
        v["payouts"]
    );
    // And the executed state holds that draw.
    let s: State = serde_json::from_value(load("state.json")["executed"]["state"].clone()).expect("state");
    let drawn = &s.rounds[&r.id];
    assert_eq!((drawn.drawn.as_ref(), drawn.draw_seed), (Some(&winners), Some(out)));
    assert_eq!(drawn.tickets, r.tickets);
}

#[test]
fn merkle_vectors_give_their_roots() {
    let v = load("merkle.json");
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(h(&cases[0]["root"]), Hash32::ZERO, "the empty root");
    for e in cases {
        let items = hashes(&e["items"]);
        assert_eq!(items.iter().map(merkle::leaf).collect::<Vec<_>>(), hashes(&e["leaves"]));
        assert_eq!(merkle::root(&items), h(&e["root"]));
    }
}

#[test]
fn routing_vectors_give_their_slots() {
    let v = load("routing.json");
    for e in v["routes"].as_array().expect("routes") {
        let s: PublicKey = serde_json::from_value(e["sender"].clone()).expect("key");
        let p = e["payroll"].as_u64().expect("payroll") as usize;
        let mut c = Canon::new(tag::ROUTE);
        c.fixed(&s.0);
        assert_eq!(c.hash(), h(&e["route_hash"]));
        let slot = route_slot(&s, p);
        assert_eq!(slot as u64, c.hash().prefix_u64() % p as u64);
        assert_eq!(slot as u64, e["slot"].as_u64().expect("slot"));
        let order: Vec<u32> = route_order(&s, p).collect();
        assert_eq!(serde_json::to_value(order).expect("json"), e["order"]);
    }
}
