//! Regressions found by the cargo-fuzz targets in `fuzz/` that need a certified chain to show.

mod common;

use daoli_protocol::codec::Hash32;
use std::collections::BTreeMap;

// Found by the `handle` target: a node could not recover from its own store ("stored block 2:
// PrevPrevotes(Mismatch(0))"). A MicroBlock's hash covers only the voter, timestamp and
// signature of each embedded vote (height, round, step and value are fixed by context), so a
// relay could change a prevote's round, or a precommit's in the previous QC, without changing
// the MicroBlock's id or the block's hash. A node that had validated the original hit its
// caches and committed the altered copy, which nobody can replay: a fresh chain (a verifier, a
// peer catching up, the node itself after a crash) refuses it.
#[test]
fn a_block_accepted_through_the_caches_is_one_that_replays() {
    let net = common::certified_net(2, false);
    let (cb2, batches) = &net.record[1];
    let store: BTreeMap<Hash32, _> = batches.iter().map(|b| (b.digest(), b.clone())).collect();
    let micro = cb2.block.micro.as_ref().expect("block 2 has a MicroBlock");
    assert!(micro.prev_qc.is_some() && !micro.prev_prevotes.is_empty());

    let mut prevote = cb2.clone();
    prevote.block.micro.as_mut().unwrap().prev_prevotes[0].round += 1;
    let mut precommit = cb2.clone();
    let qc = precommit.block.micro.as_mut().unwrap().prev_qc.as_mut().unwrap();
    qc.precommits[0].round += 1;
    for forged in [prevote, precommit] {
        assert_eq!(
            forged.block.hash(),
            cb2.block.hash(),
            "the change is covered by no hash"
        );
        assert!(
            net.chain_at(1).commit(forged.clone(), &store).is_err(),
            "a replay refuses it"
        );
        // A node that validated the original block (say, in a proposal) first.
        let mut c = net.chain_at(1);
        c.validate_block(&cb2.block, &store).unwrap();
        assert!(
            c.commit(forged, &store).is_err(),
            "committed through the caches what a replay refuses"
        );
    }
}
