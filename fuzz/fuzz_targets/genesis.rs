//! Genesis loading. Arbitrary bytes are parsed as a genesis file and, when they parse, validated
//! and loaded the ways the core loads a genesis (`Genesis::from_json`, `Chain::new`,
//! `Datacenter::new`); a loaded node is then ticked through a few cycles with no miners.
//!
//! Checks: no panic; a file that does not parse is `ParamsError::Json`; a parsed genesis has
//! one canonical encoding and chain id, stable across a JSON round trip; `validate`,
//! `from_json`, `Chain::new` and `Datacenter::new` agree, with a typed error for a hostile genesis.
#![no_main]

use daoli_protocol::chain::Chain;
use daoli_protocol::codec::sha256;
use daoli_protocol::params::{Genesis, Identity, ParamsError};
use libfuzzer_sys::fuzz_target;

/// Identities whose root keys the seeds use, so that a loaded node may hold seats.
fn known(g: &Genesis) -> Identity {
    let labels = (0..4)
        .map(|i| format!("fuzz/dc{i}"))
        .chain((0..2).map(|i| format!("daoli/vectors/founder{i}")));
    for l in labels {
        let id = Identity::from_label(&l);
        if g.founders.iter().any(|f| f.root == id.root.public()) {
            return id;
        }
    }
    Identity::from_label("fuzz/outsider")
}

fuzz_target!(|data: &[u8]| {
    let text = std::str::from_utf8(data).ok();
    let g: Genesis = match serde_json::from_slice(data) {
        Ok(g) => g,
        Err(_) => {
            if let Some(s) = text {
                assert!(matches!(Genesis::from_json(s), Err(ParamsError::Json(_))));
            }
            return;
        }
    };
    let bytes = g.canonical_bytes();
    let id = g.chain_id();
    assert_eq!(id, sha256(&bytes));
    let json = serde_json::to_vec(&g).expect("a genesis serializes");
    let back: Genesis = serde_json::from_slice(&json).expect("a serialized genesis parses");
    assert_eq!(back, g);
    assert_eq!(back.chain_id(), id, "the chain id survives a JSON round trip");

    let valid = g.validate();
    if let Some(s) = text {
        assert_eq!(Genesis::from_json(s).map(|x| x.chain_id()), valid.clone().map(|_| id));
    }
    match Chain::new(g.clone()) {
        Err(e) => {
            assert_eq!(Err(e), valid, "Chain::new refuses exactly what validate refuses");
            let n = daoli_protocol::datacenter::Datacenter::new(g, known(&back), vec![], 0, 0);
            assert!(n.is_err());
            return;
        }
        Ok(chain) => {
            assert!(valid.is_ok());
            assert_eq!(chain.tip_hash(), id);
            let p = chain.params();
            let _ = chain.seats(1);
            let _ = chain.cycle_length();
            let _ = chain.seed_producer(1);
            for slot in 0..p.lineup_len() {
                assert!(chain.lineup(0, slot).is_some());
            }
            for f in &g.founders {
                let _ = chain.payroll_of(0, &f.root);
            }
        }
    }
    let me = known(&g);
    let mut node =
        daoli_protocol::datacenter::Datacenter::new(g.clone(), me, vec![], 1, 0).expect("a valid genesis loads");
    let l = g.params.l0_ms;
    for t in [0, l / 10, l / 2, l, 2 * l, 4 * l, 8 * l] {
        let _ = node.tick(t);
    }
    let _ = node.restart(9 * l);
    let _ = node.tick(12 * l);
    assert_eq!(node.height(), 0, "nobody else votes: nothing is certified");
});
