//! Bus events: every kind survives the bus unchanged (hashes and signatures too), and a
//! malformed or oversized event is refused with a named reason before it reaches a role.

use crate::common::{core, h, vector};
use daoli_protocol::block::{Batch, Block, CertifiedBlock};
use daoli_protocol::dcc::Cycle;
use daoli_protocol::delay::DelayProof;
use daoli_protocol::lot::Lot;
use daoli_protocol::roles::{Drawn, Event, Phase};
use daoli_protocol::statement::Evidence;
use daoli_protocol::vote::Qc;
use daoli_wire::events::{decode_event, encode_event};
use daoli_wire::{WireError, limits, proto as pb};
use prost::Message;

/// One event of every kind, from the golden vectors.
fn every_kind() -> Vec<Event> {
    let b = vector("block");
    let block: Block = core(&b["block"]);
    let qc: Qc = core(&b["qc"]);
    let cb = CertifiedBlock { block, qc };
    let batch: Batch = core(&vector("batch")["batch"]);
    let lot: Lot = core(&vector("lot")["lot"]);
    let evidence: Evidence = core(&b["evidence"]);
    let micro = cb.block.micro.clone().expect("a MicroBlock");
    let delay: DelayProof = core(&vector("lottery")["delayed_draw"]["delay"]);
    let mut v = vec![
        Event::Certified(Box::new(cb.clone()), vec![batch.clone()]),
        Event::Cycle(Cycle {
            height: 7,
            start: 1_764_000_000_000,
            length: 1_000,
        }),
    ];
    for p in [
        Phase::Start,
        Phase::Mine,
        Phase::MiningClose,
        Phase::SeedDeadline,
        Phase::BackupMicro,
        Phase::Throttle,
        Phase::Stalled,
    ] {
        v.push(Event::Phase(7, p));
    }
    v.extend([
        Event::Seed(core(&vector("seed_chain")["links"][0]["announcement"])),
        Event::Lot(lot.clone()),
        Event::Drawn(Box::new(Drawn {
            height: 7,
            seed: seed(),
            vrf_proof: cb.block.header.vrf_proof,
            tree: vec![lot.clone()],
            counted: vec![lot.clone(), lot.clone()],
        })),
        Event::Drawn(Box::new(Drawn {
            height: 8,
            seed: seed(),
            vrf_proof: None,
            tree: vec![],
            counted: vec![],
        })),
        Event::Sealed(batch.clone()),
        Event::Batch(batch),
        Event::Micro(micro),
        Event::Decided(Box::new(cb.clone()), 2),
        Event::Prevotes {
            height: cb.qc.height,
            round: cb.qc.round,
            value: cb.qc.value,
            votes: cb.qc.precommits.clone(),
        },
        Event::Evidence(evidence),
        Event::Wanted(7, vec![h(&b["block_hash"]), h(&b["qc_hash"])]),
        Event::Behind(lot.sponsor, 6),
        Event::Delay(9, delay),
    ]);
    v
}

fn seed() -> daoli_protocol::codec::Hash32 {
    h(&vector("seed_chain")["genesis_seed"])
}

#[test]
fn every_event_kind_survives_the_bus() {
    let events = every_kind();
    let mut kinds = std::collections::HashSet::new();
    for e in &events {
        let bytes = encode_event(e).expect("encodes");
        let back = decode_event(&bytes).expect("decodes");
        assert_eq!(&back, e);
        kinds.insert(std::mem::discriminant(e));
    }
    assert_eq!(kinds.len(), 15, "one of each of the 15 kinds");
    // What the bus carries still verifies: the block's hash, the votes' signatures.
    let Event::Certified(cb, _) = decode_event(&encode_event(&events[0]).unwrap()).unwrap() else {
        panic!("certified first");
    };
    assert_eq!(cb.block.hash(), h(&vector("block")["block_hash"]));
}

#[test]
fn a_malformed_or_oversized_event_is_refused_by_name() {
    // Nothing in it.
    assert_eq!(
        decode_event(&[]).unwrap_err(),
        WireError::Missing { field: "BusEvent.kind" }
    );
    // Not protobuf.
    assert!(matches!(decode_event(&[0xff, 0xff, 0xff]), Err(WireError::Protobuf(_))));
    // Over the limit: refused before decoding.
    let big = vec![0u8; limits::MAX_EVENT_BYTES + 1];
    assert_eq!(
        decode_event(&big).unwrap_err(),
        WireError::Oversized {
            what: "BusEvent",
            got: limits::MAX_EVENT_BYTES + 1,
            limit: limits::MAX_EVENT_BYTES
        }
    );
    // An unknown phase, a short hash, a missing proof, too many digests.
    let enc = |k: pb::bus_event::Kind| pb::BusEvent { kind: Some(k) }.encode_to_vec();
    assert_eq!(
        decode_event(&enc(pb::bus_event::Kind::Phase(pb::PhaseReached {
            height: 1,
            phase: 99
        })))
        .unwrap_err(),
        WireError::UnknownEnum {
            field: "PhaseReached.phase",
            value: 99
        }
    );
    assert_eq!(
        decode_event(&enc(pb::bus_event::Kind::Phase(pb::PhaseReached {
            height: 1,
            phase: 0
        })))
        .unwrap_err(),
        WireError::UnknownEnum {
            field: "PhaseReached.phase",
            value: 0
        }
    );
    assert_eq!(
        decode_event(&enc(pb::bus_event::Kind::Behind(pb::Behind {
            peer: vec![1; 31],
            height: 1
        })))
        .unwrap_err(),
        WireError::Length {
            field: "Behind.peer",
            expected: 32,
            got: 31
        }
    );
    assert_eq!(
        decode_event(&enc(pb::bus_event::Kind::Delay(pb::Delay { height: 1, proof: None }))).unwrap_err(),
        WireError::Missing { field: "Delay.proof" }
    );
    let n = limits::MAX_WANTED_DIGESTS + 1;
    assert_eq!(
        decode_event(&enc(pb::bus_event::Kind::Wanted(pb::Wanted {
            height: 1,
            digests: vec![vec![0; 32]; n]
        })))
        .unwrap_err(),
        WireError::TooMany {
            field: "Wanted.digests",
            got: n,
            limit: limits::MAX_WANTED_DIGESTS
        }
    );
    // A drawing's lists are counted before any lot is decoded.
    let drawn = |tree: usize, counted: usize| {
        decode_event(&enc(pb::bus_event::Kind::Drawn(pb::Drawn {
            height: 1,
            seed: vec![0; 32],
            vrf_proof: None,
            tree: vec![pb::Lot::default(); tree],
            counted: vec![pb::Lot::default(); counted],
        })))
        .unwrap_err()
    };
    assert_eq!(
        drawn(limits::MAX_TREE_LOTS + 1, 0),
        WireError::TooMany {
            field: "Drawn.tree",
            got: limits::MAX_TREE_LOTS + 1,
            limit: limits::MAX_TREE_LOTS
        }
    );
    assert_eq!(
        drawn(0, limits::MAX_DRAWN_LOTS + 1),
        WireError::TooMany {
            field: "Drawn.counted",
            got: limits::MAX_DRAWN_LOTS + 1,
            limit: limits::MAX_DRAWN_LOTS
        }
    );
}
