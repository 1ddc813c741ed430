//! The signed envelope: seal and open, and every way an envelope is refused.

use crate::common::{chain, len, missing, too_many};
use crate::roundtrip::{peer_msgs, txs};
use daoli_protocol::block::MicroBlock;
use daoli_protocol::codec::{Canon, Hash32, sha256};
use daoli_protocol::crypto::{Keypair, SigError};
use daoli_protocol::node::Msg;
use daoli_wire::proto::{self as pb, Envelope};
use daoli_wire::{ENVELOPE_TAG, WireError, check_body, decode_body, decode_envelope, envelope_digest, limits};
use prost::Message;

fn root() -> Keypair {
    Keypair::from_label("datacenter root")
}

fn sealed(seq: u64) -> Envelope {
    Envelope::seal(&root(), &chain(), seq, &peer_msgs()[5]).unwrap()
}

/// Re-signs an envelope after a change, as a sender would have.
fn resign(mut e: Envelope, key: &Keypair) -> Envelope {
    e.from = key.public().0.to_vec();
    let from = key.public();
    let chain = Hash32(e.chain_id.clone().try_into().unwrap());
    e.signature = key
        .sign(envelope_digest(&chain, &from, e.seq, &e.body).as_bytes())
        .0
        .to_vec();
    e
}

#[test]
fn every_peer_message_seals_and_opens() {
    for (seq, m) in peer_msgs().into_iter().enumerate() {
        let e = Envelope::seal(&root(), &chain(), seq as u64, &m).unwrap();
        // Through bytes, as tonic carries it.
        let e = decode_envelope(&e.encode_to_vec()).unwrap();
        let (from, got_seq, got) = e.open(&chain()).unwrap();
        assert_eq!((from, got_seq, got), (root().public(), seq as u64, m));
        assert_eq!(e.sender().unwrap(), root().public());
    }
}

#[test]
fn the_digest_is_the_documented_bytes() {
    let c = chain();
    let from = root().public();
    let body = b"body bytes";
    let mut pre = Vec::new();
    pre.extend_from_slice(&17u32.to_be_bytes());
    pre.extend_from_slice(b"daoli/v2/envelope");
    pre.extend_from_slice(&c.0);
    pre.extend_from_slice(&from.0);
    pre.extend_from_slice(&42u64.to_be_bytes());
    pre.extend_from_slice(&(body.len() as u32).to_be_bytes());
    pre.extend_from_slice(body);
    assert_eq!(ENVELOPE_TAG.len(), 17);
    assert_eq!(envelope_digest(&c, &from, 42, body), sha256(&pre));
    let mut canon = Canon::signed(ENVELOPE_TAG, &c);
    canon.fixed(&from.0).u64(42).bytes(body);
    assert_eq!(canon.finish(), pre);
    // The signature is over that digest, by the root key.
    let e = Envelope::seal(&root(), &c, 42, &Msg::SyncRequest { from: 1 }).unwrap();
    let digest = envelope_digest(&c, &from, 42, &e.body);
    let sig = daoli_protocol::crypto::Signature(e.signature.clone().try_into().unwrap());
    daoli_protocol::crypto::verify(&from, digest.as_bytes(), &sig).unwrap();
}

#[test]
fn wrong_chain() {
    let other = Hash32([9; 32]);
    let e = sealed(1);
    assert_eq!(
        e.open(&other).unwrap_err(),
        WireError::WrongChain {
            expected: other,
            got: chain()
        }
    );
    // Relabelled for the other chain: the signature covers the chain id.
    let mut moved = e.clone();
    moved.chain_id = other.0.to_vec();
    assert_eq!(
        moved.open(&other).unwrap_err(),
        WireError::BadSignature(SigError::BadSignature)
    );
    // Signed for the other chain by the same key: refused here.
    let there = Envelope::seal(&root(), &other, 1, &peer_msgs()[0]).unwrap();
    assert!(matches!(there.open(&chain()), Err(WireError::WrongChain { .. })));
}

#[test]
fn field_lengths() {
    let e = sealed(1);
    for (field, n, f) in [
        (
            "Envelope.chain_id",
            32,
            (|e: &mut Envelope| &mut e.chain_id) as fn(&mut Envelope) -> &mut Vec<u8>,
        ),
        ("Envelope.from", 32, |e| &mut e.from),
        ("Envelope.signature", 64, |e| &mut e.signature),
    ] {
        for got in [0, n - 1, n + 1] {
            let mut bad = e.clone();
            f(&mut bad).resize(got, 0);
            assert_eq!(bad.open(&chain()).unwrap_err(), len(field, n, got));
        }
    }
    let mut bad = e.clone();
    bad.from.pop();
    assert_eq!(bad.sender().unwrap_err(), len("Envelope.from", 32, 31));
}

#[test]
fn any_flipped_bit_breaks_the_signature() {
    let e = sealed(7);
    let bad_sig = |r: Result<_, WireError>| {
        assert!(
            matches!(r, Err(WireError::BadSignature(_))),
            "expected a bad signature, got {r:?}"
        )
    };
    for bit in 0..512 {
        let mut x = e.clone();
        x.signature[bit / 8] ^= 1 << (bit % 8);
        bad_sig(x.open(&chain()));
    }
    for bit in 0..e.body.len() * 8 {
        let mut x = e.clone();
        x.body[bit / 8] ^= 1 << (bit % 8);
        bad_sig(x.open(&chain()));
    }
    for bit in 0..64 {
        let mut x = e.clone();
        x.seq ^= 1 << bit;
        bad_sig(x.open(&chain()));
    }
    // Another sender's key (a valid key that did not sign).
    let mut x = e.clone();
    x.from = Keypair::from_label("someone else").public().0.to_vec();
    bad_sig(x.open(&chain()));
    // A small-order key is refused as a key.
    let mut x = e.clone();
    x.from = [0u8; 32].to_vec();
    x.from[0] = 1;
    assert_eq!(x.open(&chain()).unwrap_err(), WireError::BadSignature(SigError::BadKey));
}

#[test]
fn truncated_body() {
    let e = sealed(3);
    for cut in [0, 1, e.body.len() / 2, e.body.len() - 1] {
        let mut x = e.clone();
        x.body.truncate(cut);
        assert!(matches!(x.open(&chain()), Err(WireError::BadSignature(_))));
        // Truncated before signing: the signature holds, the body does not decode.
        let x = resign(x, &root());
        let err = x.open(&chain()).unwrap_err();
        if cut == 0 {
            assert_eq!(err, missing("PeerMessage.msg"));
        } else {
            assert!(matches!(err, WireError::Protobuf(_)), "{err:?}");
        }
    }
    // Any signer may claim any sender; what it signs still has to decode.
    let x = resign(
        Envelope {
            body: vec![0x0a, 0x02, 0x08],
            ..e.clone()
        },
        &Keypair::from_label("anyone"),
    );
    assert!(matches!(x.open(&chain()), Err(WireError::Protobuf(_))));
}

#[test]
fn oversized_before_any_check() {
    // calloc'd: the check reads the length only.
    let mut e = sealed(1);
    e.body = vec![0; limits::MAX_BODY_BYTES + 1];
    e.signature.clear();
    assert_eq!(
        e.open(&chain()).unwrap_err(),
        WireError::Oversized {
            what: "Envelope.body",
            got: limits::MAX_BODY_BYTES + 1,
            limit: limits::MAX_BODY_BYTES
        }
    );
    let raw = vec![0; limits::MAX_ENVELOPE_BYTES + 1];
    assert_eq!(
        decode_envelope(&raw).unwrap_err(),
        WireError::Oversized {
            what: "Envelope",
            got: limits::MAX_ENVELOPE_BYTES + 1,
            limit: limits::MAX_ENVELOPE_BYTES
        }
    );
    assert!(matches!(decode_envelope(&[0xff; 7]), Err(WireError::Protobuf(_))));
}

/// Each kind of peer message is held to its own limit before it is decoded.
#[test]
fn per_kind_limits_before_decoding() {
    let vote = pb::PeerMessage::try_from(&peer_msgs()[5]).unwrap();
    let mut big = vote.clone();
    if let Some(pb::peer_message::Msg::Vote(v)) = big.msg.as_mut() {
        v.voter = vec![1; 4096];
    }
    let body = big.encode_to_vec();
    let err = decode_body(&body).unwrap_err();
    assert!(
        matches!(err, WireError::Oversized { what: "Vote", limit, .. } if limit == limits::MAX_VOTE_BYTES),
        "{err:?}"
    );
    // An unknown kind (a oneof field this version does not have), two fields, a wrong wire type.
    assert_eq!(
        check_body(&[0x5a, 0x00]).unwrap_err(),
        WireError::UnknownEnum {
            field: "PeerMessage.msg",
            value: 11
        }
    );
    let mut two = vote.encode_to_vec();
    two.extend(
        pb::PeerMessage::try_from(&Msg::SyncRequest { from: 1 })
            .unwrap()
            .encode_to_vec(),
    );
    assert!(matches!(check_body(&two), Err(WireError::Protobuf(_))));
    assert!(matches!(check_body(&[0x08, 0x01]), Err(WireError::Protobuf(_))));
    assert!(matches!(check_body(&[0x32, 0x80]), Err(WireError::Protobuf(_))));
    assert!(matches!(check_body(&[0x32; 11]), Err(WireError::Protobuf(_))));
    // A valid body decodes.
    assert_eq!(decode_body(&vote.encode_to_vec()).unwrap(), peer_msgs()[5]);
}

#[test]
fn seal_refuses_what_receivers_refuse() {
    let tx = txs().remove(0);
    assert_eq!(
        Envelope::seal(&root(), &chain(), 1, &Msg::Tx { client: 1, slot: 0, tx }).unwrap_err(),
        WireError::NotPeer("Tx")
    );
    let n = limits::MAX_FORWARD_TXS + 1;
    let many = Msg::Forward(vec![txs().remove(0); n]);
    assert_eq!(
        Envelope::seal(&root(), &chain(), 1, &many).unwrap_err(),
        too_many("Forward.txs", n, limits::MAX_FORWARD_TXS)
    );
    let n = limits::MAX_BATCH_REQUEST_DIGESTS + 1;
    assert_eq!(
        Envelope::seal(&root(), &chain(), 1, &Msg::BatchRequest(vec![Hash32::ZERO; n])).unwrap_err(),
        too_many("BatchRequest.digests", n, limits::MAX_BATCH_REQUEST_DIGESTS)
    );
    // A message over its kind's byte limit: a MicroBlock with more batch references than
    // MAX_MICRO_BYTES holds (the core bounds them by parameters; a shell must not send more).
    let mut m: MicroBlock = match &peer_msgs()[3] {
        Msg::Micro(m) => m.clone(),
        _ => unreachable!(),
    };
    let r = m.batches[0];
    m.batches = vec![r; limits::MAX_MICRO_BYTES / 40];
    let err = Envelope::seal(&root(), &chain(), 1, &Msg::Micro(m)).unwrap_err();
    assert!(
        matches!(err, WireError::Oversized { what: "MicroBlock", limit, .. } if limit == limits::MAX_MICRO_BYTES),
        "{err:?}"
    );
}

#[test]
fn delivery_replies() {
    use daoli_wire::Delivery;
    for d in [
        Delivery::Accepted,
        Delivery::Held("next cycle".into()),
        Delivery::Refused("bad lot".into()),
    ] {
        let p = pb::DeliverReply::from(&d);
        let p = pb::DeliverReply::decode(p.encode_to_vec().as_slice()).unwrap();
        assert_eq!(Delivery::try_from(p).unwrap(), d);
    }
    let long = Delivery::Refused("é".repeat(limits::MAX_REASON_BYTES));
    let p = pb::DeliverReply::from(&long);
    assert!(p.reason.len() <= limits::MAX_REASON_BYTES && p.reason.len() > limits::MAX_REASON_BYTES - 2);
    assert!(p.encoded_len() <= limits::MAX_DELIVER_REPLY_BYTES);
    assert_eq!(
        Delivery::try_from(pb::DeliverReply::default()).unwrap_err(),
        missing("DeliverReply.outcome")
    );
    assert_eq!(
        Delivery::try_from(pb::DeliverReply {
            outcome: 4,
            reason: String::new()
        })
        .unwrap_err(),
        WireError::UnknownEnum {
            field: "DeliverReply.outcome",
            value: 4
        }
    );
}
