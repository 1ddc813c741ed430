//! The client service's values: round trips of each, and their malformed cases.

use crate::common::{chain, core, len, missing, vector};
use crate::roundtrip::{lot, txs};
use daoli_protocol::block::{Batch, CertifiedBlock};
use daoli_protocol::buffer::BufferError;
use daoli_protocol::codec::Hash32;
use daoli_protocol::crypto::{Keypair, PublicKey, SigError, Signature};
use daoli_protocol::lot::Lot;
use daoli_protocol::tx::TxError;
use daoli_wire::client::{AccountStatus, ChainStatus, PayrollRoute, SubmitTx, TxReply, TxStatus};
use daoli_wire::proto as pb;
use daoli_wire::{WireError, limits};
use prost::Message;
use std::fmt::Debug;

/// Value -> protobuf -> bytes -> protobuf -> value.
fn rt<T, P>(v: &T) -> P
where
    T: TryFrom<P, Error = WireError> + PartialEq + Debug,
    P: for<'a> From<&'a T> + Message + Default + Clone,
{
    let p = P::decode(P::from(v).encode_to_vec().as_slice()).unwrap();
    assert_eq!(&T::try_from(p.clone()).unwrap(), v);
    p
}

fn refusals() -> Vec<BufferError> {
    vec![
        BufferError::Invalid(TxError::TooLarge {
            size: 5000,
            limit: 4096,
        }),
        BufferError::Invalid(TxError::Signature(SigError::BadKey)),
        BufferError::Invalid(TxError::Signature(SigError::Malformed)),
        BufferError::Invalid(TxError::Signature(SigError::BadSignature)),
        BufferError::Invalid(TxError::Signature(SigError::BadBatch(9))),
        BufferError::NonceWindow {
            got: 99,
            low: 3,
            high: 67,
        },
        BufferError::NonceTaken(4),
        BufferError::Redirect {
            cycle: 12,
            slot: 3,
            sponsor: Keypair::from_label("sponsor").public(),
            endpoint: "dc1.example:7000".into(),
        },
        BufferError::NoSlot(12),
        BufferError::CannotPay { balance: 1, owed: 2 },
        BufferError::Full(65_536),
    ]
}

#[test]
fn submit_tx_and_its_reply() {
    for tx in txs() {
        let s = SubmitTx { tx, slot: 15 };
        rt::<SubmitTx, pb::SubmitTxRequest>(&s);
    }
    let tx_hash = txs()[0].hash();
    let ok = TxReply {
        tx_hash,
        result: Ok(()),
    };
    rt::<TxReply, pb::SubmitTxReply>(&ok);
    for e in refusals() {
        let reply = TxReply {
            tx_hash,
            result: Err(e.clone()),
        };
        let p = rt::<TxReply, pb::SubmitTxReply>(&reply);
        match p.result {
            Some(pb::submit_tx_reply::Result::Refused(r)) => assert_eq!(r.reason, e.to_string()),
            _ => panic!("a refusal"),
        }
    }
}

#[test]
fn client_replies_and_requests() {
    let route = PayrollRoute {
        cycle: 8,
        slot: 2,
        sponsor: Keypair::from_label("s").public(),
        endpoint: "dc2:7000".into(),
    };
    rt::<PayrollRoute, pb::PayrollRoute>(&route);
    rt::<PayrollRoute, pb::RouteReply>(&route);
    for s in [
        TxStatus::Unknown,
        TxStatus::Pending,
        TxStatus::Executed {
            height: 9,
            success: true,
            outcome: String::new(),
        },
        TxStatus::Executed {
            height: 10,
            success: false,
            outcome: "nonce".into(),
        },
    ] {
        rt::<TxStatus, pb::TxStatusReply>(&s);
    }
    let status = ChainStatus {
        height: 41,
        tip_hash: Hash32([1; 32]),
        state_root: Hash32([2; 32]),
        cycle_height: 42,
        cycle_start_ms: 1_764_000_000_000,
        seats: 373,
        chain_id: chain(),
    };
    rt::<ChainStatus, pb::ChainStatusReply>(&status);

    let sender = Keypair::from_label("alice").public();
    let k = PublicKey::try_from(pb::RouteRequest {
        sender: sender.0.to_vec(),
    })
    .unwrap();
    assert_eq!(k, sender);
    let k = PublicKey::try_from(pb::AccountRequest { key: sender.0.to_vec() }).unwrap();
    assert_eq!(k, sender);
    rt::<AccountStatus, pb::AccountReply>(&AccountStatus {
        height: 7,
        balance: 1 << 40,
        nonce: 3,
    });
    let h = Hash32::try_from(pb::TxStatusRequest { tx_hash: vec![5; 32] }).unwrap();
    assert_eq!(h, Hash32([5; 32]));

    // GetBlock: the golden certified block with its batch; hashes unchanged.
    let b = vector("block");
    let cb = CertifiedBlock {
        block: core(&b["block"]),
        qc: core(&b["qc"]),
    };
    let batches: Vec<Batch> = vec![core(&vector("batch")["batch"])];
    let p = pb::GetBlockReply::from((&cb, batches.as_slice()));
    let p = pb::GetBlockReply::decode(p.encode_to_vec().as_slice()).unwrap();
    let (cb2, batches2) = <(CertifiedBlock, Vec<Batch>)>::try_from(p).unwrap();
    assert_eq!((&cb2, &batches2), (&cb, &batches));
    assert_eq!(cb2.block.hash(), cb.block.hash());
}

#[test]
fn submit_lot_from_a_device() {
    // Mined, not yet countersigned: the sponsor_sig travels empty.
    let mined = Lot {
        sponsor_sig: Signature::default(),
        ..lot("device")
    };
    let p = pb::SubmitLotRequest::from(&mined);
    assert!(p.lot.as_ref().unwrap().sponsor_sig.is_empty());
    assert_eq!(Lot::try_from(p.clone()).unwrap(), mined);
    let signed = lot("device");
    assert_eq!(Lot::try_from(pb::SubmitLotRequest::from(&signed)).unwrap(), signed);
    let mut bad = p.clone();
    bad.lot.as_mut().unwrap().sponsor_sig = vec![1; 63];
    assert_eq!(Lot::try_from(bad).unwrap_err(), len("Lot.sponsor_sig", 64, 63));
    let mut bad = p;
    bad.lot.as_mut().unwrap().miner_sig.clear();
    assert_eq!(Lot::try_from(bad).unwrap_err(), len("Lot.miner_sig", 64, 0));
    assert_eq!(
        Lot::try_from(pb::SubmitLotRequest::default()).unwrap_err(),
        missing("SubmitLotRequest.lot")
    );

    for r in [Ok(()), Err("above target".to_string())] {
        let p = pb::SubmitLotReply::from(&r);
        assert_eq!(Result::<(), String>::try_from(p).unwrap(), r);
    }
    assert_eq!(
        Result::<(), String>::try_from(pb::SubmitLotReply::default()).unwrap_err(),
        missing("SubmitLotReply.result")
    );
}

#[test]
fn malformed_client_messages() {
    assert_eq!(
        SubmitTx::try_from(pb::SubmitTxRequest::default()).unwrap_err(),
        missing("SubmitTxRequest.tx")
    );
    let reply = pb::SubmitTxReply::from(&TxReply {
        tx_hash: Hash32::ZERO,
        result: Err(BufferError::NoSlot(1)),
    });
    let mut bad = reply.clone();
    bad.tx_hash.pop();
    assert_eq!(
        TxReply::try_from(bad).unwrap_err(),
        len("SubmitTxReply.tx_hash", 32, 31)
    );
    let mut bad = reply.clone();
    bad.result = None;
    assert_eq!(TxReply::try_from(bad).unwrap_err(), missing("SubmitTxReply.result"));
    assert_eq!(
        BufferError::try_from(pb::TxRefusal::default()).unwrap_err(),
        missing("TxRefusal.kind")
    );
    let sig = |failure| pb::TxRefusal {
        reason: String::new(),
        kind: Some(pb::tx_refusal::Kind::BadSignature(pb::SignatureError {
            failure,
            batch_len: 0,
        })),
    };
    assert_eq!(
        BufferError::try_from(sig(0)).unwrap_err(),
        missing("SignatureError.failure")
    );
    assert_eq!(
        BufferError::try_from(sig(5)).unwrap_err(),
        WireError::UnknownEnum {
            field: "SignatureError.failure",
            value: 5
        }
    );
    let mut redirect = pb::TxRefusal::from(&refusals()[7]);
    if let Some(pb::tx_refusal::Kind::Redirect(r)) = redirect.kind.as_mut() {
        r.sponsor.push(0);
    }
    assert_eq!(
        BufferError::try_from(redirect).unwrap_err(),
        len("PayrollRoute.sponsor", 32, 33)
    );
    assert_eq!(
        PayrollRoute::try_from(pb::RouteReply::default()).unwrap_err(),
        missing("RouteReply.route")
    );
    assert_eq!(
        PublicKey::try_from(pb::RouteRequest::default()).unwrap_err(),
        len("RouteRequest.sender", 32, 0)
    );
    assert_eq!(
        PublicKey::try_from(pb::AccountRequest { key: vec![1; 31] }).unwrap_err(),
        len("AccountRequest.key", 32, 31)
    );
    assert_eq!(
        Hash32::try_from(pb::TxStatusRequest { tx_hash: vec![0; 64] }).unwrap_err(),
        len("TxStatusRequest.tx_hash", 32, 64)
    );
    assert_eq!(
        TxStatus::try_from(pb::TxStatusReply::default()).unwrap_err(),
        missing("TxStatusReply.status")
    );
    let ok = pb::ChainStatusReply {
        tip_hash: vec![0; 32],
        state_root: vec![0; 32],
        chain_id: vec![0; 32],
        ..Default::default()
    };
    ChainStatus::try_from(ok.clone()).unwrap();
    for (field, f) in [
        (
            "ChainStatusReply.tip_hash",
            (|p: &mut pb::ChainStatusReply| &mut p.tip_hash) as fn(&mut pb::ChainStatusReply) -> &mut Vec<u8>,
        ),
        ("ChainStatusReply.state_root", |p| &mut p.state_root),
        ("ChainStatusReply.chain_id", |p| &mut p.chain_id),
    ] {
        let mut bad = ok.clone();
        f(&mut bad).truncate(5);
        assert_eq!(ChainStatus::try_from(bad).unwrap_err(), len(field, 32, 5));
    }
    assert_eq!(
        <(CertifiedBlock, Vec<Batch>)>::try_from(pb::GetBlockReply::default()).unwrap_err(),
        missing("GetBlockReply.block")
    );
    // Human reasons are cut to the limit on a character boundary.
    let long = BufferError::Redirect {
        cycle: 1,
        slot: 1,
        sponsor: PublicKey([0; 32]),
        endpoint: "ü".repeat(limits::MAX_REASON_BYTES),
    };
    let p = pb::TxRefusal::from(&long);
    assert!(p.reason.len() <= limits::MAX_REASON_BYTES);
    assert_eq!(BufferError::try_from(p).unwrap(), long, "the typed part is whole");
}
