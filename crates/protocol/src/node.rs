//! The messages datacenters, clients and the services exchange, what a datacenter persists,
//! and why an input is refused. The state machines that handle them are the role machines
//! in [`crate::roles`], wired together by [`crate::datacenter::Datacenter`].

use crate::block::{Batch, Block, CertifiedBlock, MicroBlock};
use crate::chain::BlockError;
use crate::codec::{Canon, ChainId, Hash32, tag};
use crate::crypto::{Keypair, PublicKey, Signature};
use crate::dcc::EventError;
use crate::ledger::ExecOutcome;
use crate::lot::{Lot, LotError};
use crate::params::ParamsError;
use crate::seed::{SeedAnnouncement, SeedError};
use crate::statement::{Evidence, Kind, Slot};
use crate::tx::Transaction;
use crate::vote::Vote;
use serde::{Deserialize, Serialize};

/// A signed proposal: round 0 carries a seat's own-view block, round >= 1 the round
/// proposer's pick. Signed by the seat's vote key as a statement of kind `Proposal` whose
/// content is `H("daoli/v2/proposal" || u32 valid_round (u32::MAX for none) || block hash)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub round: u32,
    pub valid_round: Option<u32>,
    pub block: Block,
    pub proposer: PublicKey,
    pub sig: Signature,
    /// Prevotes justifying `valid_round` (each signed by its voter; not covered by `sig`).
    pub pol: Vec<Vote>,
}

impl Proposal {
    pub fn content(valid_round: Option<u32>, hash: &Hash32) -> Hash32 {
        let mut c = Canon::new(tag::PROPOSAL);
        c.u32(valid_round.unwrap_or(u32::MAX)).h(hash);
        c.hash()
    }
    pub fn slot(&self) -> Slot {
        Slot::new(Kind::Proposal, self.proposer, self.block.height(), self.round, 0)
    }
    pub fn new(key: &Keypair, chain: &ChainId, round: u32, valid_round: Option<u32>, block: Block) -> Self {
        let mut p = Proposal {
            round,
            valid_round,
            block,
            proposer: key.public(),
            sig: Signature::default(),
            pol: Vec::new(),
        };
        p.sig = p.slot().sign(key, chain, &Self::content(valid_round, &p.block.hash()));
        p
    }
    pub fn verify(&self, chain: &ChainId) -> bool {
        self.slot()
            .verify(chain, &Self::content(self.valid_round, &self.block.hash()), &self.sig)
            .is_ok()
    }
    /// Evidence if the same key proposed something else for the same `(height, round)`.
    pub fn evidence(&self, other: &Proposal) -> Option<Evidence> {
        let said = |p: &Proposal| crate::statement::Said {
            content: Self::content(p.valid_round, &p.block.hash()),
            sig: p.sig,
        };
        Evidence::conflict((self.slot(), said(self)), (other.slot(), said(other)))
    }
}

/// Messages between datacenters, and from clients to kernel buffers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    Lot(Lot),
    Seed(SeedAnnouncement),
    Batch(Batch),
    Micro(MicroBlock),
    Proposal(Proposal),
    Vote(Vote),
    Certified(CertifiedBlock, Vec<Batch>),
    SyncRequest {
        from: u64,
    },
    BatchRequest(Vec<Hash32>),
    /// A client's transaction for payroll slot `slot` of the latest certified block it knows.
    Tx {
        client: u64,
        slot: u32,
        tx: Transaction,
    },
    /// Acknowledged transactions a datacenter hands over because it serves no slot this cycle.
    Forward(Vec<Transaction>),
}

impl Msg {
    /// The height (cycle) a message belongs to; `None` for requests and client traffic.
    pub fn height(&self) -> Option<u64> {
        match self {
            Msg::Lot(l) => Some(l.height),
            Msg::Batch(b) => Some(b.cycle),
            Msg::Seed(s) => Some(s.height),
            Msg::Micro(m) => Some(m.height),
            Msg::Proposal(p) => Some(p.block.height()),
            Msg::Vote(v) => Some(v.height),
            Msg::Certified(c, _) => Some(c.block.height()),
            _ => None,
        }
    }
}

/// What a datacenter's store holds, from which [`crate::datacenter::Datacenter::recover`] rebuilds a datacenter after a
/// crash: the certified chain with its batches, and every output the node asked to persist
/// (`PersistTx`, `PersistEvidence`, `PersistSigned`). The vote journal is passed on its own.
/// Nothing else survives.
#[derive(Debug, Clone, Default)]
pub struct Durable {
    pub blocks: Vec<(CertifiedBlock, Vec<Batch>)>,
    pub txs: Vec<Transaction>,
    pub evidence: Vec<Evidence>,
    pub signed: Vec<Msg>,
    /// The trustee's vote journal.
    pub votes: Vec<Vote>,
}

impl Durable {
    /// Records what an output asks to persist.
    pub fn record(&mut self, o: &Output) {
        match o {
            Output::PersistTx(tx) => self.txs.push(tx.clone()),
            Output::PersistEvidence(e) => self.evidence.push(e.clone()),
            Output::PersistSigned(m) => self.signed.push((**m).clone()),
            Output::PersistVote(v) => self.votes.push(v.clone()),
            Output::PersistBlock(cb, batches) => self.blocks.push(((**cb).clone(), batches.clone())),
            _ => {}
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error("genesis: {0}")]
    Genesis(#[from] ParamsError),
    #[error("stored block {0}: {1}")]
    Block(u64, BlockError),
}

/// What a certified height did, for logs, metrics and checkers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub height: u64,
    pub hash: Hash32,
    pub round: u32,
    pub leader: PublicKey,
    pub signers: Vec<PublicKey>,
    pub txs: usize,
    pub outcome: ExecOutcome,
    pub included: Vec<Hash32>,
    /// Distinct seeds among the valid blocks this node held for the height (rule 4: at most 2).
    pub seed_choices: usize,
}

pub use crate::roles::Output;

/// Why an input was refused. Refusals change nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error("cycle: {0}")]
    Event(#[from] EventError),
    #[error("lot: {0}")]
    Lot(#[from] LotError),
    #[error("seed: {0}")]
    Seed(#[from] SeedError),
    #[error("block: {0}")]
    Block(#[from] BlockError),
    #[error("bad signature")]
    Signature,
    #[error("not the proposer of round {0}")]
    NotProposer(u32),
    #[error("vote: {0}")]
    Vote(#[from] crate::ibft::VoteReject),
    #[error("buffered for a later height")]
    Future,
    #[error("message for height {0}: only the next cycle is held")]
    FarFuture(u64),
    #[error("{0} from this datacenter already held or served (limit {1})")]
    Busy(&'static str, usize),
    #[error("sender is no registered datacenter")]
    UnknownPeer,
    #[error("stale: for a past height")]
    Stale,
    #[error("lineup rank {0} is not in the previous block's lineup")]
    Rank(u32),
    #[error("conflicting signed statement: evidence recorded")]
    Equivocation,
    #[error("this service does not take that message")]
    NotMine,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datacenter::Datacenter;
    use crate::params::{Genesis, Identity, Params};
    use crate::vote::Step;

    #[test]
    fn a_restarted_proposer_never_signs_a_second_proposal_for_a_round() {
        // Found with the `handle` fuzz target's invariant (an honest node never signs two
        // statements that make valid evidence): a seat locked on X at round 2 restarts,
        // proposes X with valid round 2 at round 5, restarts before prevoting, locks on X again
        // at round 3 and, back at round 5, proposed X with valid round 3. The durable record
        // kept only the value, so the second proposal was signed: evidence against it.
        let ids: Vec<Identity> = ["t", "a", "b", "c"]
            .iter()
            .map(|l| Identity::from_label(&format!("node-test/{l}")))
            .collect();
        let mut params = Params::devnet();
        params.pow_bits = 2;
        let g = Genesis {
            network: "node-test".into(),
            // Rank 0 of block 0 (the seed producer) is `a`, so `t`'s own lots may lead.
            founders: [1, 0, 2, 3]
                .iter()
                .map(|i| ids[*i].datacenter("dc:7000", params.min_bond))
                .collect(),
            // `t` is the youngest seat: it proposes rounds 1, 5, 9, ...
            seats: (0..11).map(|i| ids[i % 4].root.public()).collect(),
            params,
            seed: Hash32([1; 32]),
            timestamp_ms: 0,
            accounts: vec![],
            rounds: vec![],
            periodic_lottery: None,
        };
        let chain = g.chain_id();
        let mut n = Datacenter::new(g, ids[0].clone(), vec![Keypair::from_label("node-test/m")], 1, 0).unwrap();
        let mut proposals: Vec<Proposal> = Vec::new();
        let keep = |out: Vec<Output>, to: &mut Vec<Proposal>| {
            to.extend(out.into_iter().filter_map(|o| match o {
                Output::Broadcast(Msg::Proposal(p)) => Some(p),
                _ => None,
            }))
        };
        // Ticks for 1 s, so that the own view (the one block `t` holds) is built.
        let run = |n: &mut Datacenter, now: &mut u64, to: &mut Vec<Proposal>| {
            for _ in 0..100 {
                *now += 10;
                keep(n.tick(*now), to);
            }
        };
        let mut now = 0;
        run(&mut n, &mut now, &mut proposals);
        let x = proposals[0].block.hash();
        let prevote = |i: usize, round: u32, v: Option<Hash32>| {
            Msg::Vote(Vote::sign_unchecked(
                &ids[i].vote,
                &chain,
                1,
                round,
                Step::Prevote,
                v,
                0,
            ))
        };
        let from = ids[1].root.public();
        // Round 2: the others prevote X; `t` lands in round 2 and locks on X.
        for i in 1..4 {
            keep(n.handle(now, from, prevote(i, 2, Some(x))).0, &mut proposals);
        }
        run(&mut n, &mut now, &mut proposals);
        keep(n.restart(now), &mut proposals);
        run(&mut n, &mut now, &mut proposals);
        // Round 5, which `t` proposes: X with valid round 2. It restarts before prevoting.
        for i in 1..3 {
            keep(n.handle(now, from, prevote(i, 5, None)).0, &mut proposals);
        }
        keep(n.restart(now), &mut proposals);
        run(&mut n, &mut now, &mut proposals);
        // Round 3: a polka for X again; then round 5 again.
        for i in 1..4 {
            keep(n.handle(now, from, prevote(i, 3, Some(x))).0, &mut proposals);
        }
        run(&mut n, &mut now, &mut proposals);
        for i in 1..3 {
            keep(n.handle(now, from, prevote(i, 5, None)).0, &mut proposals);
        }
        let round5: Vec<&Proposal> = proposals.iter().filter(|p| p.round == 5).collect();
        assert!(round5.len() >= 2, "the scenario reaches round 5 twice");
        for p in &round5 {
            assert!(
                p.evidence(round5[0]).is_none(),
                "round 5 proposed twice: valid rounds {:?} and {:?}",
                round5[0].valid_round,
                p.valid_round
            );
        }
    }
}
