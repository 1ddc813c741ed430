//! Arbitrary bytes into every decoder never panic; whatever decodes converts back to the same
//! bytes' meaning.

use crate::common::chain;
use crate::roundtrip::peer_msgs;
use daoli_protocol::block::{Batch, Block, CertifiedBlock, MicroBlock};
use daoli_protocol::crypto::Keypair;
use daoli_protocol::lot::Lot;
use daoli_protocol::node::{Msg, Proposal};
use daoli_protocol::params::Genesis;
use daoli_protocol::tx::{Transaction, TxKind};
use daoli_protocol::vote::{Step, Vote};
use daoli_wire::proto as pb;
use daoli_wire::{decode_body, decode_envelope, encode_body};
use proptest::prelude::*;
use prost::Message;

/// Decodes `bytes` as `P` and converts it; a success must survive a round trip.
fn try_as<C, P>(bytes: &[u8])
where
    C: TryFrom<P, Error = daoli_wire::WireError> + PartialEq + std::fmt::Debug,
    P: Message + Default + for<'a> From<&'a C>,
{
    if let Ok(p) = P::decode(bytes)
        && let Ok(c) = C::try_from(p)
    {
        let again = C::try_from(P::decode(P::from(&c).encode_to_vec().as_slice()).unwrap()).unwrap();
        assert_eq!(again, c);
    }
}

fn every_decoder(bytes: &[u8]) {
    if let Ok(m) = decode_body(bytes) {
        assert_eq!(decode_body(&encode_body(&m).unwrap()).unwrap(), m);
    }
    if let Ok(e) = decode_envelope(bytes) {
        let _ = e.open(&chain());
        let _ = e.sender();
    }
    try_as::<Lot, pb::Lot>(bytes);
    try_as::<Transaction, pb::Transaction>(bytes);
    try_as::<Batch, pb::Batch>(bytes);
    try_as::<Vote, pb::Vote>(bytes);
    try_as::<MicroBlock, pb::MicroBlock>(bytes);
    try_as::<Block, pb::Block>(bytes);
    try_as::<CertifiedBlock, pb::CertifiedBlock>(bytes);
    try_as::<Proposal, pb::Proposal>(bytes);
    try_as::<Genesis, pb::Genesis>(bytes);
    let _ = daoli_wire::client::TxReply::try_from(pb::SubmitTxReply::decode(bytes).unwrap_or_default());
    let _ = daoli_wire::client::SubmitTx::try_from(pb::SubmitTxRequest::decode(bytes).unwrap_or_default());
}

fn bodies() -> Vec<Vec<u8>> {
    peer_msgs().iter().map(|m| encode_body(m).unwrap()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        every_decoder(&bytes);
    }

    /// Valid bodies with a few bytes changed, cut or spliced reach deeper than random bytes.
    #[test]
    fn mutated_valid_bodies(
        which in 0..16usize,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut body = bodies().swap_remove(which);
        for (at, b) in edits {
            let i = at.index(body.len());
            body[i] = b;
        }
        if truncate {
            body.truncate(cut.index(body.len() + 1));
        }
        every_decoder(&body);
        // As the body of a validly signed envelope, too.
        let e = pb::Envelope {
            body,
            ..pb::Envelope::seal(&Keypair::from_label("p"), &chain(), 1, &Msg::SyncRequest { from: 0 }).unwrap()
        };
        let _ = e.open(&chain());
        every_decoder(&e.encode_to_vec());
    }

    /// Any transaction and vote the core can hold round-trip.
    #[test]
    fn arbitrary_transactions_and_votes(
        nonce in any::<u64>(),
        fee in any::<u64>(),
        kind in 0..3u8,
        x in any::<u64>(),
        endpoint in ".{0,40}",
        memo in proptest::collection::vec(any::<u8>(), 0..200),
        round in any::<u32>(),
        value in proptest::option::of(any::<[u8; 32]>()),
        precommit in any::<bool>(),
    ) {
        let k = Keypair::from_label("any");
        let kind = match kind {
            0 => TxKind::Transfer { to: k.public(), amount: x },
            1 => TxKind::BuyTicket { round: x },
            _ => TxKind::Register {
                keys: daoli_protocol::tx::RoleKeys {
                    vote: k.public(), vrf: k.public(), batch: k.public(), micro: k.public(), sponsor: k.public(),
                },
                endpoint,
                bond: x,
            },
        };
        let tx = Transaction::new(&k, &chain(), nonce, fee, kind, memo);
        let back = crate::common::rt::<Transaction, pb::Transaction>(&tx);
        prop_assert_eq!(back.hash(), tx.hash());
        let step = if precommit { Step::Precommit } else { Step::Prevote };
        let v = Vote::sign_unchecked(&k, &chain(), x, round, step, value.map(daoli_protocol::codec::Hash32), fee);
        let back = crate::common::rt::<Vote, pb::Vote>(&v);
        prop_assert!(back.verify_sig(&chain()).is_ok());
    }
}
