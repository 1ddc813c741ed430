//! Every object kind survives a round trip unchanged, with the same hashes and still-valid
//! signatures: the golden vectors, and objects built with the core's constructors.

use crate::common::{chain, core, h, rt, vector};
use daoli_protocol::block::{Batch, BatchRef, Block, CertifiedBlock, Header, MicroBlock};
use daoli_protocol::codec::Hash32;
use daoli_protocol::crypto::Keypair;
use daoli_protocol::delay::{self, DelayProof};
use daoli_protocol::lot::{Lot, LotTemplate, mine, tree_hash};
use daoli_protocol::node::{Msg, Proposal};
use daoli_protocol::params::{Genesis, Identity};
use daoli_protocol::seed::SeedAnnouncement;
use daoli_protocol::statement::{Evidence, Kind, Said, Slot};
use daoli_protocol::tx::{RoleKeys, Transaction, TxKind};
use daoli_protocol::vote::{Qc, Step, Vote};
use daoli_protocol::vrf::VrfProof;
use daoli_wire::proto as pb;
use serde_json::Value;

fn lot_rt(l: &Lot) -> Lot {
    rt::<Lot, pb::Lot>(l)
}
fn tx_rt(t: &Transaction) -> Transaction {
    rt::<Transaction, pb::Transaction>(t)
}
fn batch_rt(b: &Batch) -> Batch {
    rt::<Batch, pb::Batch>(b)
}
fn vote_rt(v: &Vote) -> Vote {
    rt::<Vote, pb::Vote>(v)
}
fn qc_rt(q: &Qc) -> Qc {
    rt::<Qc, pb::Qc>(q)
}
fn evidence_rt(e: &Evidence) -> Evidence {
    rt::<Evidence, pb::Evidence>(e)
}
fn block_rt(b: &Block) -> Block {
    rt::<Block, pb::Block>(b)
}
fn micro_rt(m: &MicroBlock) -> MicroBlock {
    rt::<MicroBlock, pb::MicroBlock>(m)
}
fn proposal_rt(p: &Proposal) -> Proposal {
    rt::<Proposal, pb::Proposal>(p)
}

#[test]
fn golden_lot() {
    let v = vector("lot");
    let lot: Lot = core(&v["lot"]);
    let back = lot_rt(&lot);
    assert_eq!(back.hash(), h(&v["lot_hash"]));
    assert_eq!(back.id(), h(&v["lot_id"]));
    assert_eq!(back.rank(&h(&v["luck_seed"])), h(&v["rank"]));
    back.validate(&chain(), v["pow_bits"].as_u64().unwrap() as u32).unwrap();
}

#[test]
fn golden_seed_chain() {
    let v = vector("seed_chain");
    let mut prev = h(&v["genesis_seed"]);
    let links = v["links"].as_array().unwrap();
    assert!(!links.is_empty());
    for link in links {
        let a: SeedAnnouncement = core(&link["announcement"]);
        let back = rt::<SeedAnnouncement, pb::SeedAnnouncement>(&a);
        back.verify(&chain(), &prev, &a.producer).unwrap();
        prev = back.seed;
    }
}

#[test]
fn golden_transactions_of_each_kind() {
    let v = vector("tx");
    let txs = v["txs"].as_array().unwrap();
    let kinds: Vec<&str> = txs
        .iter()
        .map(|t| t["tx"]["kind"].as_object().unwrap().keys().next().unwrap().as_str())
        .collect();
    assert_eq!(kinds, ["Transfer", "BuyTicket", "Register"]);
    for t in txs {
        let tx: Transaction = core(&t["tx"]);
        let back = tx_rt(&tx);
        assert_eq!(back.hash(), h(&t["hash"]));
        assert_eq!(back.size() as u64, t["size"].as_u64().unwrap());
        assert_eq!(
            hex::encode(back.signing_bytes(&chain())),
            t["signing_bytes"].as_str().unwrap()
        );
        back.verify(&chain(), 4096).unwrap();
    }
}

#[test]
fn golden_batches() {
    let v = vector("batch");
    for b in [&v, &v["mixed"]] {
        let batch: Batch = core(&b["batch"]);
        let back = batch_rt(&batch);
        assert_eq!(back.tx_root(), h(&b["tx_root"]));
        assert_eq!(back.digest(), h(&b["digest"]));
        assert_eq!(back.id(), h(&b["batch_id"]));
        back.slot_of().verify(&chain(), &back.digest(), &back.sig).unwrap();
    }
}

#[test]
fn golden_block_and_its_parts() {
    let v = vector("block");
    let block: Block = core(&v["block"]);
    let back = block_rt(&block);
    assert_eq!(back.hash(), h(&v["block_hash"]));
    assert_eq!(back.header.hash(), h(&v["header_hash"]));
    assert_eq!(tree_hash(&back.tree), h(&v["tree_hash"]));
    let delay = back.header.delay.as_ref().expect("the vector block draws a round");
    assert_eq!(
        rt::<DelayProof, pb::DelayProof>(delay).hash(),
        h(&v["delay_proof_hash"])
    );
    assert!(back.header.vrf_proof.is_some());
    rt::<Header, pb::Header>(&block.header);

    let micro = back.micro.as_ref().expect("MicroBlock");
    assert_eq!(micro.hash(), h(&v["microblock_hash"]));
    assert_eq!(micro.id(), h(&v["microblock_id"]));
    assert_eq!(micro.prev_qc.as_ref().unwrap().hash(), h(&v["microblock_prev_qc_hash"]));
    assert!(!micro.prev_prevotes.is_empty() && !micro.evidence.is_empty() && !micro.batches.is_empty());
    micro.verify_sig(&chain()).unwrap();
    for r in &micro.batches {
        assert_eq!(&rt::<BatchRef, pb::BatchRef>(r), r);
    }

    let qc: Qc = core(&v["qc"]);
    assert_eq!(qc_rt(&qc).hash(), h(&v["qc_hash"]));
    for p in &qc.precommits {
        vote_rt(p).verify_sig(&chain()).unwrap();
    }
    let cb = CertifiedBlock { block, qc };
    let back = rt::<CertifiedBlock, pb::CertifiedBlock>(&cb);
    assert_eq!(back.block.hash(), h(&v["block_hash"]));
    assert_eq!(back.qc.hash(), h(&v["qc_hash"]));

    let vote: Vote = core(&v["vote"]);
    let back = vote_rt(&vote);
    assert_eq!(back.content(), h(&v["vote_content"]));
    assert_eq!(
        hex::encode(back.signing_bytes(&chain())),
        v["vote_signing_bytes"].as_str().unwrap()
    );
    back.verify_sig(&chain()).unwrap();

    let nil: Vote = core(&v["nil_vote"]["vote"]);
    assert_eq!(nil.value, None);
    assert_eq!(vote_rt(&nil).content(), h(&v["nil_vote"]["content"]));

    let e: Evidence = core(&v["evidence"]);
    let back = evidence_rt(&e);
    assert_eq!(back.hash(), h(&v["evidence_hash"]));
    back.verify(&chain()).unwrap();

    let fb = &v["fallback_block"];
    let block: Block = core(&fb["block"]);
    assert!(block.micro.is_none() && block.header.vrf_proof.is_none() && block.header.delay.is_none());
    let back = block_rt(&block);
    assert_eq!(back.hash(), h(&fb["block_hash"]));
    assert_eq!(back.header.hash(), h(&fb["header_hash"]));
    assert_eq!(tree_hash(&back.tree), h(&fb["tree_hash"]));

    let bare = &v["bare_microblock"];
    let m: MicroBlock = core(&bare["microblock"]);
    assert!(m.prev_qc.is_none());
    let back = micro_rt(&m);
    assert_eq!(back.hash(), h(&bare["hash"]));
    assert_eq!(back.id(), h(&bare["id"]));
    back.verify_sig(&chain()).unwrap();
}

#[test]
fn golden_proposals() {
    let v = vector("proposal");
    let ps = v["proposals"].as_array().unwrap();
    assert_eq!(ps.len(), 2);
    for p in ps {
        let proposal: Proposal = core(&p["proposal"]);
        let back = proposal_rt(&proposal);
        assert_eq!(back.block.hash(), h(&p["block_hash"]));
        assert_eq!(
            Proposal::content(back.valid_round, &back.block.hash()),
            h(&p["content"])
        );
        assert!(back.verify(&chain()));
    }
    // One round-0 own view, one round-1 proposal with a valid round and its POL.
    let second: Proposal = core(&ps[1]["proposal"]);
    assert_eq!(second.valid_round, Some(0));
    assert!(!second.pol.is_empty());
}

#[test]
fn golden_evidence_of_every_kind_and_its_statements() {
    let v = vector("evidence");
    let mut kinds = Vec::new();
    for e in v["evidence"].as_array().unwrap() {
        let ev: Evidence = core(&e["evidence"]);
        let back = evidence_rt(&ev);
        assert_eq!(back.hash(), h(&e["evidence_hash"]));
        back.verify(&chain()).unwrap();
        kinds.push(back.slot.kind);
        for s in e["statements"].as_array().unwrap() {
            statement_rt(back.slot.kind, s);
        }
    }
    assert_eq!(kinds, [Kind::Proposal, Kind::Micro, Kind::Batch, Kind::LotSponsor]);
}

fn statement_rt(kind: Kind, s: &Value) {
    match kind {
        Kind::Proposal => assert!(proposal_rt(&core(s)).verify(&chain())),
        Kind::Micro => micro_rt(&core(s)).verify_sig(&chain()).unwrap(),
        Kind::Batch => {
            let b = batch_rt(&core(s));
            b.slot_of().verify(&chain(), &b.digest(), &b.sig).unwrap();
        }
        Kind::LotSponsor | Kind::LotMiner => {
            let l = lot_rt(&core(s));
            l.sponsor_slot().verify(&chain(), &l.hash(), &l.sponsor_sig).unwrap();
        }
        Kind::Vote => vote_rt(&core(s)).verify_sig(&chain()).unwrap(),
    }
}

#[test]
fn golden_genesis_and_chain_id() {
    let v = vector("genesis");
    let g: Genesis = core(&v["genesis"]);
    assert!(g.periodic_lottery.is_some() && !g.rounds.is_empty() && !g.accounts.is_empty());
    let back = rt::<Genesis, pb::Genesis>(&g);
    assert_eq!(back.chain_id(), h(&v["chain_id"]));
    assert_eq!(
        hex::encode(back.canonical_bytes()),
        v["canonical_bytes"].as_str().unwrap()
    );
    back.validate().unwrap();
    // Without the optional parts.
    let solo = Genesis::solo(&Identity::from_label("solo"), vec![]);
    assert!(solo.periodic_lottery.is_none());
    assert_eq!(rt::<Genesis, pb::Genesis>(&solo).chain_id(), solo.chain_id());
}

#[test]
fn golden_delay_proof() {
    let v = vector("lottery");
    let d: DelayProof = core(&v["delayed_draw"]["delay"]);
    assert_eq!(
        rt::<DelayProof, pb::DelayProof>(&d).hash(),
        h(&v["delayed_draw"]["delay_proof_hash"])
    );
}

// ---- Objects built with the core's constructors. ----

const C: Hash32 = Hash32([0xc4; 32]);

fn role_keys() -> RoleKeys {
    let k = |r: &str| Keypair::from_label(r).public();
    RoleKeys {
        vote: k("vote"),
        vrf: k("vrf"),
        batch: k("batch"),
        micro: k("micro"),
        sponsor: k("sponsor"),
    }
}

pub fn txs() -> Vec<Transaction> {
    let alice = Keypair::from_label("alice");
    let to = Keypair::from_label("bob").public();
    vec![
        Transaction::new(&alice, &C, 0, 1, TxKind::Transfer { to, amount: u64::MAX }, vec![]),
        Transaction::new(
            &alice,
            &C,
            u64::MAX,
            u64::MAX,
            TxKind::BuyTicket { round: 7 },
            vec![9; 300],
        ),
        Transaction::new(
            &alice,
            &C,
            2,
            0,
            TxKind::Register {
                keys: role_keys(),
                endpoint: "dc.example:7000/ünïcode".into(),
                bond: 1 << 40,
            },
            b"memo".to_vec(),
        ),
        Transaction::new(
            &alice,
            &C,
            3,
            5,
            TxKind::Register {
                keys: role_keys(),
                endpoint: String::new(),
                bond: 0,
            },
            vec![],
        ),
    ]
}

#[test]
fn constructed_transactions_and_batch() {
    for tx in txs() {
        let back = tx_rt(&tx);
        assert_eq!(back.hash(), tx.hash());
        back.verify(&C, 4096).unwrap();
    }
    let buf = Keypair::from_label("buffer");
    for txs in [txs(), vec![]] {
        let b = Batch::seal(&buf, &C, 9, 3, txs);
        let back = batch_rt(&b);
        assert_eq!((back.digest(), back.id()), (b.digest(), b.id()));
        back.validate(&C, 4096, 1 << 20, &buf.public()).unwrap();
    }
    rt::<RoleKeys, pb::RoleKeys>(&role_keys());
}

pub fn lot(miner: &str) -> Lot {
    let sponsor = Keypair::from_label("sponsor");
    let t = LotTemplate {
        height: 5,
        prev_hash: Hash32([7; 32]),
        sponsor: sponsor.public(),
    };
    mine(&Keypair::from_label(miner), &C, &t, 2, 0, 1 << 12)
        .expect("a lot")
        .countersign(&sponsor, &C)
}

pub fn vote(key: &str, step: Step, value: Option<Hash32>) -> Vote {
    Vote::sign_unchecked(&Keypair::from_label(key), &C, 5, 1, step, value, 1_764_000_000_123)
}

/// A block with every optional part present: VRF proof, delay proof, MicroBlock with QC,
/// prevotes and evidence.
pub fn full_block() -> Block {
    let producer = Keypair::from_label("vrf");
    let seed = SeedAnnouncement::produce(&producer, &C, &Hash32([1; 32]), 5);
    let value = Some(Hash32([4; 32]));
    let qc = Qc {
        height: 4,
        round: 1,
        value: Hash32([4; 32]),
        precommits: (0..3)
            .map(|i| {
                Vote::sign_unchecked(
                    &Keypair::from_label(&format!("s{i}")),
                    &C,
                    4,
                    1,
                    Step::Precommit,
                    value,
                    77,
                )
            })
            .collect(),
    };
    let prevotes = (0..2)
        .map(|i| {
            Vote::sign_unchecked(
                &Keypair::from_label(&format!("s{i}")),
                &C,
                4,
                1,
                Step::Prevote,
                value,
                0,
            )
        })
        .collect();
    let evidence = vote("twice", Step::Prevote, Some(Hash32([1; 32])))
        .evidence(&vote("twice", Step::Prevote, Some(Hash32([2; 32]))))
        .expect("conflict");
    let micro = MicroBlock {
        height: 5,
        producer_rank: 1,
        producer_pk: Keypair::from_label("micro").public(),
        batches: vec![
            BatchRef {
                cycle: 4,
                slot: 0,
                digest: Hash32([5; 32]),
            },
            BatchRef {
                cycle: 5,
                slot: u32::MAX,
                digest: Hash32([6; 32]),
            },
        ],
        prev_qc: Some(qc),
        prev_prevotes: prevotes,
        evidence: vec![evidence],
        sig: Default::default(),
    }
    .sign(&Keypair::from_label("micro"), &C);
    Block {
        header: Header {
            height: 5,
            prev_hash: Hash32([3; 32]),
            seed: seed.seed,
            vrf_proof: Some(seed.proof),
            prev_state_root: Hash32([8; 32]),
            delay: Some(delay::evaluate(&Hash32([2; 32]), 64, 4).unwrap()),
        },
        tree: vec![lot("m0"), lot("m1"), lot("m2")],
        micro: Some(micro),
    }
}

#[test]
fn constructed_lots_seeds_votes_and_evidence() {
    let l = lot("miner");
    let back = lot_rt(&l);
    assert_eq!((back.hash(), back.id()), (l.hash(), l.id()));
    back.validate(&C, 2).unwrap();

    let producer = Keypair::from_label("vrf");
    let a = SeedAnnouncement::produce(&producer, &C, &Hash32([1; 32]), 5);
    rt::<SeedAnnouncement, pb::SeedAnnouncement>(&a)
        .verify(&C, &Hash32([1; 32]), &producer.public())
        .unwrap();

    for step in [Step::Prevote, Step::Precommit] {
        for value in [None, Some(Hash32([4; 32]))] {
            let v = vote("seat", step, value);
            let back = vote_rt(&v);
            assert_eq!(back.content(), v.content());
            back.verify_sig(&C).unwrap();
        }
    }
    let e = vote("seat", Step::Precommit, None)
        .evidence(&vote("seat", Step::Precommit, Some(Hash32([4; 32]))))
        .unwrap();
    let back = evidence_rt(&e);
    assert_eq!(back.hash(), e.hash());
    back.verify(&C).unwrap();
    // Slots of every kind (the sponsor's with its subject); the enum numbers are the core's.
    let signer = Keypair::from_label("k").public();
    for kind in [Kind::Vote, Kind::Proposal, Kind::Micro, Kind::Batch, Kind::LotMiner] {
        let s = Slot::new(kind, signer, u64::MAX, u32::MAX, 1);
        rt::<Slot, pb::Slot>(&s);
        assert_eq!(pb::Slot::from(&s).kind, i32::from(kind as u8));
    }
    rt::<Slot, pb::Slot>(&l.sponsor_slot());
    assert_eq!(
        pb::Slot::from(&l.sponsor_slot()).kind,
        i32::from(Kind::LotSponsor as u8)
    );
    rt::<Said, pb::Said>(&Said {
        content: l.hash(),
        sig: l.sponsor_sig,
    });
}

#[test]
fn constructed_blocks_and_proposals() {
    let block = full_block();
    let back = block_rt(&block);
    assert_eq!(back.hash(), block.hash());
    assert_eq!(back.header.hash(), block.header.hash());
    let d = back.header.delay.as_ref().unwrap();
    d.verify(&Hash32([2; 32]), 64, 4).unwrap();
    assert_eq!(d.checkpoints.len(), 3);
    back.micro.as_ref().unwrap().verify_sig(&C).unwrap();
    let vrf: VrfProof = back.header.vrf_proof.unwrap();
    assert_eq!(vrf, block.header.vrf_proof.unwrap());

    let qc = Qc {
        height: 5,
        round: 0,
        value: block.hash(),
        precommits: vec![],
    };
    let cb = CertifiedBlock {
        block: block.clone(),
        qc,
    };
    let back = rt::<CertifiedBlock, pb::CertifiedBlock>(&cb);
    assert_eq!((back.block.hash(), back.qc.hash()), (cb.block.hash(), cb.qc.hash()));

    let key = Keypair::from_label("vote");
    for (round, valid_round) in [(0, None), (2, Some(0)), (3, Some(u32::MAX - 1))] {
        let mut p = Proposal::new(&key, &C, round, valid_round, block.clone());
        p.pol = vec![vote("s0", Step::Prevote, Some(block.hash()))];
        let back = proposal_rt(&p);
        assert!(back.verify(&C));
        assert_eq!(back.evidence(&p), None, "the same statement");
    }
}

/// Every peer variant of `node::Msg`, from the vectors and the constructors.
pub fn peer_msgs() -> Vec<Msg> {
    let b = vector("block");
    let batch: Batch = core(&vector("batch")["batch"]);
    let cb = CertifiedBlock {
        block: core(&b["block"]),
        qc: core(&b["qc"]),
    };
    vec![
        Msg::Lot(core(&vector("lot")["lot"])),
        Msg::Seed(core(&vector("seed_chain")["links"][0]["announcement"])),
        Msg::Batch(batch.clone()),
        Msg::Micro(core(&b["block"]["micro"])),
        Msg::Proposal(core(&vector("proposal")["proposals"][1]["proposal"])),
        Msg::Vote(core(&b["vote"])),
        Msg::Vote(core(&b["nil_vote"]["vote"])),
        Msg::Certified(
            cb.clone(),
            vec![batch.clone(), core(&vector("batch")["mixed"]["batch"])],
        ),
        Msg::Certified(cb, vec![]),
        Msg::SyncRequest { from: 0 },
        Msg::SyncRequest { from: u64::MAX },
        Msg::BatchRequest(vec![batch.digest(), Hash32([1; 32])]),
        Msg::BatchRequest(vec![]),
        Msg::Forward(txs()),
        Msg::Forward(vec![]),
        Msg::Proposal(Proposal::new(&Keypair::from_label("vote"), &C, 1, None, full_block())),
    ]
}

#[test]
fn every_peer_message() {
    for m in peer_msgs() {
        let p = pb::PeerMessage::try_from(&m).unwrap();
        let body = daoli_wire::encode_body(&m).unwrap();
        assert_eq!(prost::Message::encode_to_vec(&p), body);
        assert_eq!(daoli_wire::decode_body(&body).unwrap(), m);
        assert_eq!(Msg::try_from(p).unwrap(), m);
    }
}
