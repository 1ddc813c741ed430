//! Writes the seed corpora: `cargo +nightly run --release --example seeds` (from `fuzz/`).
//!
//! - `corpus/genesis/`: the golden-vector genesis, the fuzz network's genesis, a solo genesis.
//! - `corpus/decode/`: every object of the golden vectors (`crates/protocol/vectors/*.json`),
//!   and recorded messages of the fuzz network, a few of each kind.
//! - `corpus/handle/`: all-zero inputs (they replay the recording in order) of a few lengths.

use daoli_fuzz::net;
use daoli_protocol::node::Msg;
use daoli_protocol::params::{Genesis, Identity};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("corpus dir");
    std::fs::write(dir.join(name), bytes).expect("write seed");
}

/// Every object and array nested in a vector file (the decoder tries each type on each).
fn objects(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Object(m) => {
            out.push(v.clone());
            m.values().for_each(|x| objects(x, out));
        }
        Value::Array(a) => {
            out.push(v.clone());
            a.iter().for_each(|x| objects(x, out));
        }
        _ => {}
    }
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join("corpus");
    let vectors = root.join("../crates/protocol/vectors");

    let gdir = corpus.join("genesis");
    let vg: Value = serde_json::from_slice(&std::fs::read(vectors.join("genesis.json")).expect("vectors/genesis.json"))
        .expect("json");
    write(
        &gdir,
        "vectors",
        serde_json::to_string_pretty(&vg["genesis"]).unwrap().as_bytes(),
    );
    let n = net();
    write(&gdir, "network", serde_json::to_string(&n.genesis).unwrap().as_bytes());
    let solo = Genesis::solo(&Identity::from_label("fuzz/dc0"), vec![]);
    write(&gdir, "solo", serde_json::to_string(&solo).unwrap().as_bytes());

    let ddir = corpus.join("decode");
    let mut count = 0;
    for e in std::fs::read_dir(&vectors).expect("vectors dir") {
        let p = e.expect("entry").path();
        let v: Value = serde_json::from_slice(&std::fs::read(&p).expect("read")).expect("json");
        let mut objs = Vec::new();
        objects(&v, &mut objs);
        for (i, o) in objs.iter().enumerate() {
            let s = serde_json::to_vec(o).unwrap();
            if s.len() <= 64 << 10 {
                let stem = p.file_stem().unwrap().to_string_lossy();
                write(&ddir, &format!("vector-{stem}-{i}"), &s);
                count += 1;
            }
        }
    }
    let mut per_kind: BTreeMap<&'static str, usize> = BTreeMap::new();
    for r in &n.pool {
        let kind = match &r.msg {
            Msg::Lot(_) => "lot",
            Msg::Seed(_) => "seed",
            Msg::Batch(_) => "batch",
            Msg::Micro(_) => "micro",
            Msg::Proposal(_) => "proposal",
            Msg::Vote(_) => "vote",
            Msg::Certified(..) => "certified",
            Msg::SyncRequest { .. } => "sync",
            Msg::BatchRequest(_) => "batchrequest",
            Msg::Tx { .. } => "tx",
            Msg::Forward(_) => "forward",
        };
        let k = per_kind.entry(kind).or_default();
        if *k < 4 {
            write(
                &ddir,
                &format!("network-{kind}-{k}"),
                &serde_json::to_vec(&r.msg).unwrap(),
            );
            *k += 1;
            count += 1;
        }
    }

    // What an all-zero `handle` input does: replay every recorded broadcast into the target.
    let mut target = daoli_protocol::datacenter::Datacenter::new(
        n.genesis.clone(),
        n.dcs[daoli_fuzz::TARGET].clone(),
        daoli_fuzz::miners(daoli_fuzz::TARGET),
        7,
        0,
    )
    .expect("valid genesis");
    let mut now = 0;
    for r in n.pool.iter().filter(|r| r.to.is_none()) {
        now = r.at.max(now) + 5;
        let _ = target.handle(now, r.from, r.msg.clone());
    }
    let delays = n.blocks.iter().filter(|b| b.header.delay.is_some()).count();
    println!(
        "replaying the recording takes the target to height {} of {} ({delays} recorded blocks carry a delay proof)",
        target.height(),
        n.heights
    );

    let hdir = corpus.join("handle");
    for len in [64, 512, 4096] {
        write(&hdir, &format!("replay-{len}"), &vec![0u8; len]);
    }
    println!(
        "recording: {} messages, {} heights; seeds: 3 genesis, {count} decode ({per_kind:?}), 3 handle",
        n.pool.len(),
        n.heights
    );
}
