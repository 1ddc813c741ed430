//! The golden vectors in crates/protocol/vectors/ are reproduced byte for byte, and the
//! signatures and proofs they hold verify on their own.

use daoli_protocol::block::{Batch, Block};
use daoli_protocol::codec::{Hash32, hex_array, sha256};
use daoli_protocol::crypto::{Keypair, verify};
use daoli_protocol::lot::{Lot, tree_hash};
use daoli_protocol::lottery::{self, Round};
use daoli_protocol::params::Genesis;
use daoli_protocol::seed::{SeedAnnouncement, fallback};
use daoli_protocol::statement::Evidence;
use daoli_protocol::tx::Transaction;
use daoli_protocol::vote::{Qc, Vote};
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
