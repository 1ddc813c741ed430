//! Property tests: encodings round-trip, and luck ranking does not depend on arrival order.

use daoli_protocol::block::{Batch, route_slot};
use daoli_protocol::codec::Hash32;
use daoli_protocol::crypto::Keypair;
use daoli_protocol::lot::{LotPool, LotTemplate, mine, validate_tree};
use daoli_protocol::tx::{Transaction, TxKind};
use daoli_protocol::vote::{Step, Vote};
use proptest::prelude::*;

const C: Hash32 = Hash32([0xc4; 32]);

fn arb_tx() -> impl Strategy<Value = Transaction> {
    (
        any::<u8>(),
        any::<u64>(),
        any::<u64>(),
        any::<bool>(),
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(k, nonce, fee, transfer, x, memo)| {
            let key = Keypair::from_label(&format!("p{k}"));
            let kind = if transfer {
                TxKind::Transfer {
                    to: Keypair::from_label("to").public(),
                    amount: x,
                }
            } else {
                TxKind::BuyTicket { round: x }
            };
            Transaction::new(&key, &C, nonce, fee, kind, memo)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn tx_json_round_trip_keeps_hash_and_signature(tx in arb_tx()) {
        let back: Transaction = serde_json::from_str(&serde_json::to_string(&tx).unwrap()).unwrap();
        prop_assert_eq!(back.hash(), tx.hash());
        prop_assert!(back.verify(&C, 1 << 16).is_ok());
    }

    #[test]
    fn canonical_bytes_are_injective_on_fields(a in arb_tx(), b in arb_tx()) {
        prop_assume!(a != b);
        prop_assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn batch_and_vote_round_trip(txs in proptest::collection::vec(arb_tx(), 0..6), round in any::<u32>(), ts in any::<u64>(), nil in any::<bool>()) {
        let b = Batch::seal(&Keypair::from_label("buf"), &C, 3, 1, txs);
        let back: Batch = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        prop_assert_eq!(back.digest(), b.digest());
        let v = Vote::sign_unchecked(&Keypair::from_label("seat"), &C, 9, round, Step::Precommit, if nil { None } else { Some(Hash32([3; 32])) }, ts);
        let back: Vote = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
        prop_assert!(back.verify_sig(&C).is_ok());
        prop_assert_eq!(back, v);
    }

    #[test]
    fn ranking_ignores_arrival_order(seed in any::<[u8; 32]>(), order in Just(()).prop_perturb(|_, mut rng| {
        let mut v: Vec<usize> = (0..12).collect();
        for i in (1..v.len()).rev() { v.swap(i, (rng.next_u32() as usize) % (i + 1)); }
        v
    })) {
        let sponsor = Keypair::from_label("s");
        let t = LotTemplate { height: 2, prev_hash: Hash32([1; 32]), sponsor: sponsor.public() };
        let lots: Vec<_> = (0..12).map(|i| mine(&Keypair::from_label(&format!("m{i}")), &C, &t, 2, 0, 10_000).unwrap().countersign(&sponsor, &C)).collect();
        let mut a = LotPool::new(2);
        let mut b = LotPool::new(2);
        for l in &lots { a.add(l.clone()).unwrap(); }
        for i in &order { b.add(lots[*i].clone()).unwrap(); }
        let seed = Hash32(seed);
        let ta = a.tree(&seed, 8, 2, |_| true);
        prop_assert_eq!(&ta, &b.tree(&seed, 8, 2, |_| true));
        prop_assert!(validate_tree(&C, &ta, 2, &t.prev_hash, &seed, 2, 8, 2, |_| Ok(()), |_| false).is_ok());
    }

    #[test]
    fn routing_is_in_range(k in any::<u8>(), p in 1usize..64) {
        let key = Keypair::from_label(&format!("r{k}"));
        prop_assert!((route_slot(&key.public(), p) as usize) < p);
    }
}
