//! The golden vectors in crates/protocol/vectors/ are reproduced byte for byte, and the
//! signatures and proofs they hold verify on their own.

use daoli_protocol::block::{Batch, Block};
use daoli_protocol::codec::{Hash32, hex_array};
use daoli_protocol::crypto::{Keypair, verify};
use daoli_protocol::lot::Lot;
use daoli_protocol::lottery::{self, Round};
use daoli_protocol::seed::SeedAnnouncement;
use daoli_protocol::tx::Transaction;
use daoli_protocol::vote::Qc;
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

#[test]
fn tx_vectors_verify() {
    for v in load("tx.json").as_array().expect("list") {
        let tx: Transaction = serde_json::from_value(v["tx"].clone()).expect("tx");
        assert_eq!(
            hex::encode(tx.signing_bytes()),
            v["signing_bytes"].as_str().expect("hex")
        );
        assert_eq!(tx.hash(), h(&v["hash"]));
        tx.verify(4096).expect("signature");
        let k = Keypair::from_seed(hex_array(v["signer_seed"].as_str().expect("seed")).expect("32"));
        assert_eq!(k.public(), tx.sender);
    }
}

#[test]
fn lot_vector_verifies() {
    let v = load("lot.json");
    let lot: Lot = serde_json::from_value(v["lot"].clone()).expect("lot");
    assert_eq!(lot.validate(12).expect("valid lot"), h(&v["lot_hash"]));
    assert_eq!(lot.rank(&h(&v["luck_seed"])), h(&v["rank"]));
}

#[test]
fn batch_vector_verifies() {
    let v = load("batch.json");
    let b: Batch = serde_json::from_value(v["batch"].clone()).expect("batch");
    assert_eq!(b.validate(4096, 1 << 20, &b.buffer_pk).expect("valid"), h(&v["digest"]));
    assert_eq!(b.tx_root(), h(&v["tx_root"]));
}

#[test]
fn block_and_qc_vectors_verify() {
    let v = load("block.json");
    let b: Block = serde_json::from_value(v["block"].clone()).expect("block");
    assert_eq!(b.hash(), h(&v["block_hash"]));
    assert_eq!(b.header.hash(), h(&v["header_hash"]));
    b.micro
        .as_ref()
        .expect("micro")
        .verify_sig()
        .expect("microblock signature");
    let qc: Qc = serde_json::from_value(v["qc"].clone()).expect("qc");
    assert_eq!(qc.hash(), h(&v["qc_hash"]));
    for p in &qc.precommits {
        verify(&p.voter, &p.signing_bytes(), &p.sig).expect("precommit signature");
    }
}

#[test]
fn seed_chain_vector_verifies_link_by_link() {
    let v = load("seed_chain.json");
    let mut prev = h(&v["genesis_seed"]);
    for link in v["links"].as_array().expect("links") {
        let a: SeedAnnouncement = serde_json::from_value(link["announcement"].clone()).expect("announcement");
        a.verify(&prev, &a.producer).expect("VRF proof");
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
