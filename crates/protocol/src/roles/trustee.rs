//! I-BFT trustee: builds this seat's own view (lot drawing's tree, the clock's seed, the
//! ledger's MicroBlocks, the lottery's delay proof), checks proposals, votes in waves through
//! a signer that never signs two different votes for one (height, round, step) (each vote is
//! an explicit `PersistVote` output before it leaves), and announces the decided block.

use super::follower::Follower;
use super::held::NextCycle;
use super::{Drawn, Event, Output, Phase, StallGate};
use crate::block::{Batch, Block, CertifiedBlock, Header, MicroBlock};
use crate::chain::BlockError;
use crate::codec::Hash32;
use crate::crypto::{Keypair, PublicKey};
use crate::dcc::Cycle;
use crate::delay::DelayProof;
use crate::ibft::{Action, Ibft};
use crate::limits;
use crate::node::{Msg, Proposal, Reject};
use crate::params::{Genesis, ParamsError};
use crate::statement::Slot;
use crate::vote::{MemJournal, Step, Vote, VoteJournal, VoteSigner};
use std::collections::{BTreeMap, BTreeSet};

/// Next-height events held at most (MicroBlocks of every rank, a seed, a drawing or two).
const EARLY_EVENTS: usize = 16;

#[derive(Debug)]
pub struct Trustee {
    pub f: Follower,
    vote_key: Keypair,
    signer: VoteSigner<MemJournal>,
    pub cycle: Cycle,
    pub ibft: Ibft,
    /// Batches the ledger holds (verified there), to validate blocks against.
    batches: BTreeMap<Hash32, Batch>,
    micros: BTreeMap<u32, MicroBlock>,
    drawn: Option<Drawn>,
    delay: Option<(u64, DelayProof)>,
    blocks: BTreeMap<Hash32, Block>,
    valid_blocks: BTreeSet<Hash32>,
    waiting: BTreeMap<Hash32, Block>,
    own_block: Option<Block>,
    /// What the last own view was built from (seed, MicroBlocks, lots).
    own_view_inputs: Option<(Hash32, usize, usize)>,
    /// First proposal seen per (proposer, height, round).
    proposal_slots: BTreeMap<Slot, Proposal>,
    /// Durable: proposals made by (height, round), so a restart never makes a second one.
    proposals_made: BTreeMap<(u64, u32), (Hash32, Option<u32>)>,
    /// Round-0 blocks taken per seat this height.
    own_views: BTreeMap<PublicKey, u32>,
    decided: bool,
    held: NextCycle,
    /// Peers told once (per height they are behind at) that the ledger has their block.
    helped: BTreeSet<(PublicKey, u64)>,
    /// Events of the next height that came before its cycle began (another service's view
    /// of the chain can be a step ahead), replayed when it begins. Bounded.
    early: Vec<Event>,
    stall: StallGate,
}

impl Trustee {
    pub fn new(genesis: Genesis, vote_key: Keypair, votes: Vec<Vote>) -> Result<Self, ParamsError> {
        let f = Follower::new(genesis)?;
        let p = f.chain.params().clone();
        let cycle = Cycle {
            height: 1,
            start: 0,
            length: p.l0_ms,
        };
        let mut journal = MemJournal::default();
        for v in &votes {
            let _ = journal.persist(v);
        }
        let me = vote_key.public();
        Ok(Trustee {
            signer: VoteSigner::new(vote_key.clone(), *f.chain.id(), journal),
            vote_key,
            cycle,
            ibft: Ibft::new(1, f.chain.seats(1), me, p, cycle, f.chain.timestamps[0], Vec::new()),
            f,
            batches: BTreeMap::new(),
            micros: BTreeMap::new(),
            drawn: None,
            delay: None,
            blocks: BTreeMap::new(),
            valid_blocks: BTreeSet::new(),
            waiting: BTreeMap::new(),
            own_block: None,
            own_view_inputs: None,
            proposal_slots: BTreeMap::new(),
            proposals_made: BTreeMap::new(),
            own_views: BTreeMap::new(),
            decided: false,
            held: NextCycle::default(),
            early: Vec::new(),
            helped: BTreeSet::new(),
            stall: StallGate::default(),
        })
    }

    pub fn journal(&self) -> &MemJournal {
        &self.signer.journal
    }
    pub fn held_len(&self) -> usize {
        self.held.len()
    }
    pub fn forget(&mut self) {
        self.held.clear();
    }

    /// Puts back, after a crash, a proposal this seat made.
    pub fn restore_proposal(&mut self, p: &Proposal) {
        if p.block.height() > self.f.chain.height() {
            self.proposals_made
                .insert((p.block.height(), p.round), (p.block.hash(), p.valid_round));
        }
    }

    fn start_height(&mut self, now: u64, c: Cycle, out: &mut Vec<Output>) {
        let h = c.height;
        let p = self.f.chain.params().clone();
        self.cycle = c;
        self.micros.clear();
        self.drawn = None;
        self.proposal_slots.clear();
        self.proposals_made.retain(|(x, _), _| *x >= h);
        self.blocks.clear();
        self.valid_blocks.clear();
        self.waiting.clear();
        self.own_block = None;
        self.own_view_inputs = None;
        self.own_views.clear();
        self.decided = false;
        self.helped.retain(|(_, x)| *x + 2 >= h);
        let restored = self.signer.journal.at_height(h);
        self.ibft = Ibft::new(
            h,
            self.f.chain.seats(h),
            self.vote_key.public(),
            p,
            c,
            *self.f.chain.timestamps.last().expect("genesis"),
            restored,
        );
        for ev in std::mem::take(&mut self.early) {
            self.on_event(now, &ev, out);
        }
        for (from, m) in self.held.take(h) {
            let _ = self.on_msg(now, from, m, out);
        }
    }

    pub fn on_event(&mut self, now: u64, ev: &Event, out: &mut Vec<Output>) {
        let h = self.cycle.height;
        let next = match ev {
            Event::Micro(m) => m.height == h + 1,
            Event::Seed(a) => a.height == h + 1,
            Event::Drawn(d) => d.height == h + 1,
            _ => false,
        };
        if next {
            if self.early.len() < EARLY_EVENTS {
                self.early.push(ev.clone());
            }
            return;
        }
        match ev {
            Event::Certified(cb, batches) => {
                let ch = cb.block.height();
                if ch <= self.f.chain.height() {
                    return;
                }
                // The prevotes for the decided value pay their seats (rule 11), if this
                // datacenter produces the next MicroBlock.
                if self.ibft.height == ch {
                    out.push(Output::Event(Event::Prevotes {
                        height: ch,
                        round: cb.qc.round,
                        value: cb.qc.value,
                        votes: self.ibft.prevotes_for(cb.qc.round, &cb.qc.value),
                    }));
                }
                // Equivocation seen at this height becomes evidence for the next MicroBlocks.
                for e in std::mem::take(&mut self.ibft.evidence) {
                    out.push(Output::Event(Event::Evidence(e)));
                }
                for b in batches {
                    self.batches.entry(b.digest()).or_insert_with(|| b.clone());
                }
                if self.f.apply(cb, batches).is_ok() {
                    let expiry = self.f.chain.params().batch_expiry;
                    let state = &self.f.chain.state;
                    self.batches
                        .retain(|d, b| !state.included.contains_key(d) && b.cycle + expiry + 2 >= ch);
                    if let Some(c) = self.f.released() {
                        self.start_height(now, c, out);
                    }
                }
            }
            Event::Cycle(c) => {
                if let Some(c) = self.f.cycle(c) {
                    self.start_height(now, c, out);
                }
            }
            Event::Batch(b) => {
                let d = b.digest();
                if !self.batches.contains_key(&d) {
                    self.f.chain.note_batch(b, &d);
                    self.batches.insert(d, b.clone());
                    self.retry_waiting(out);
                }
            }
            Event::Micro(m) if m.height == h => {
                self.micros.insert(m.producer_rank, m.clone());
            }
            Event::Seed(a) if a.height == h => {
                if let Some(producer) = self.f.chain.seed_producer(h) {
                    self.f.chain.note_seed(&producer, &a.seed, &a.proof);
                }
            }
            Event::Drawn(d) if d.height == h => {
                for l in &d.counted {
                    self.f.chain.note_lot(l.id());
                }
                let first = self.drawn.is_none();
                self.drawn = Some((**d).clone());
                if first {
                    self.build_own_view(out);
                }
            }
            Event::Delay(x, d) => self.delay = Some((*x, d.clone())),
            Event::Phase(x, Phase::Stalled) if *x == h && self.stall.pass(now, self.cycle.length) => self.stalled(out),
            _ => {}
        }
    }

    fn build_own_view(&mut self, out: &mut Vec<Output>) {
        let h = self.cycle.height;
        let Some(d) = &self.drawn else { return };
        self.own_view_inputs = Some((d.seed, self.micros.len(), d.counted.len()));
        let chain = &self.f.chain;
        let mut view = None;
        if !d.tree.is_empty() {
            let header = Header {
                height: h,
                prev_hash: chain.tip_hash(),
                seed: d.seed,
                vrf_proof: d.vrf_proof,
                prev_state_root: *chain.roots.last().expect("genesis root"),
                delay: self.delay.as_ref().filter(|(x, _)| *x == h).map(|x| x.1.clone()),
            };
            let mut candidates: Vec<Option<MicroBlock>> = self.micros.values().cloned().map(Some).collect();
            candidates.push(None);
            for micro in candidates {
                let b = Block {
                    header: header.clone(),
                    tree: d.tree.clone(),
                    micro,
                };
                if self.f.chain.validate_block(&b, &self.batches).is_ok() {
                    view = Some(b);
                    break;
                }
            }
        }
        let hash = view.as_ref().map(|b| b.hash());
        if let Some(b) = view {
            self.valid_blocks.insert(b.hash());
            self.blocks.insert(b.hash(), b.clone());
            if self.ibft.seats.weight(&self.vote_key.public()) > 0 {
                out.push(Output::Broadcast(Msg::Proposal(Proposal::new(
                    &self.vote_key,
                    self.f.chain.id(),
                    0,
                    None,
                    b.clone(),
                ))));
            }
            self.own_block = Some(b);
        }
        self.ibft.set_own_view(hash);
    }

    /// The valid blocks held for the height, each `hash:why` (vouched by a polka, lucky
    /// enough to vote for, or unlucky), then the I-BFT state.
    pub fn describe(&self) -> String {
        let held: Vec<String> = self
            .valid_blocks
            .iter()
            .filter_map(|x| self.blocks.get(x))
            .map(|b| {
                let why = if self.ibft.vouched(&b.hash()) {
                    "vouched"
                } else if self.would_vote_for(b) {
                    "lucky"
                } else {
                    "unlucky"
                };
                format!("{}:{why}", b.hash().short())
            })
            .collect();
        format!("held [{}] | {}", held.join(" "), self.ibft.describe())
    }

    /// This seat's own check of a valid block before it votes for it (rule 3): the leader must
    /// be at least as lucky, under the block's seed, as every lot lot drawing counted before
    /// its throttle. A coalition that censors the luckiest lot from its own view, or proposes
    /// such a block in a later round, gets no honest prevote, hence no polka, hence no
    /// certificate.
    pub fn would_vote_for(&self, b: &Block) -> bool {
        let leader = b.leader().rank(&b.header.seed);
        self.drawn
            .as_ref()
            .is_none_or(|d| d.counted.iter().all(|l| l.rank(&b.header.seed) >= leader))
    }

    /// Runs I-BFT as far as it goes at `now`.
    pub fn tick(&mut self, now: u64, out: &mut Vec<Output>) {
        if self.decided {
            return;
        }
        // A seed or MicroBlock that came after the throttle still makes an own view for the
        // later rounds' proposals.
        if self.own_block.is_none()
            && let Some(d) = &self.drawn
            && self.own_view_inputs != Some((d.seed, self.micros.len(), d.counted.len()))
        {
            self.build_own_view(out);
        }
        for _ in 0..8 {
            let held = self.valid_blocks.clone();
            // A block prevoted by weight f+1 in one round passed the own checks of at least one
            // honest seat. Under synchrony no honest seat passes a censored block (every honest
            // seat holds the luckiest lot in time), so this cannot carry one; without it, a seat
            // that started its cycle late (and so counted lots the others saw too late) could
            // refuse every block and stall the height, as the simulator showed.
            let votable: BTreeSet<Hash32> = held
                .iter()
                .filter(|x| self.ibft.vouched(x) || self.blocks.get(*x).is_some_and(|b| self.would_vote_for(b)))
                .copied()
                .collect();
            let actions = self.ibft.progress(now, &|v| votable.contains(v), &|v| held.contains(v));
            if actions.is_empty() {
                break;
            }
            for a in actions {
                match a {
                    Action::Vote { round, step, value } => {
                        let h = self.cycle.height;
                        let ts = if step == Step::Precommit {
                            now.max(self.f.chain.timestamps.last().expect("genesis") + 1)
                        } else {
                            0
                        };
                        let fresh = self.signer.journal.get(&(h, round, step)).is_none();
                        if let Ok(v) = self.signer.sign(h, round, step, value, ts) {
                            let _ = self.ibft.on_vote(v.clone(), &|_| false);
                            if fresh {
                                out.push(Output::PersistVote(v.clone()));
                            }
                            out.push(Output::Broadcast(Msg::Vote(v)));
                        }
                    }
                    Action::Propose {
                        round,
                        value,
                        valid_round,
                    } => {
                        let h = self.cycle.height;
                        // The valid round is signed too: a seat that restarted and saw another
                        // polka since re-sends the proposal it made, never a second one.
                        let (first, valid_round) =
                            *self.proposals_made.entry((h, round)).or_insert((value, valid_round));
                        if first != value {
                            continue; // proposed something else in this round before a restart
                        }
                        if let Some(b) = self.blocks.get(&value) {
                            let mut p = Proposal::new(&self.vote_key, self.f.chain.id(), round, valid_round, b.clone());
                            out.push(Output::PersistSigned(Box::new(Msg::Proposal(p.clone()))));
                            if valid_round.is_some() {
                                p.pol = self.ibft.pol_votes();
                            }
                            out.push(Output::Broadcast(Msg::Proposal(p)));
                        }
                    }
                    Action::Decide(qc) => {
                        let h = self.cycle.height;
                        let block = self.blocks.get(&qc.value).cloned().expect("decided values are held");
                        let seed_choices = self
                            .valid_blocks
                            .iter()
                            .filter_map(|x| self.blocks.get(x))
                            .filter(|b| b.height() == h)
                            .map(|b| b.header.seed)
                            .collect::<BTreeSet<_>>()
                            .len();
                        self.decided = true;
                        out.push(Output::Event(Event::Decided(
                            Box::new(CertifiedBlock { block, qc }),
                            seed_choices,
                        )));
                        return;
                    }
                }
            }
        }
    }

    pub fn deadline(&self) -> Option<u64> {
        if self.decided { None } else { self.ibft.next_deadline() }
    }

    fn stalled(&mut self, out: &mut Vec<Output>) {
        for v in self.ibft.my_votes() {
            out.push(Output::Broadcast(Msg::Vote(v)));
        }
        if self.ibft.seats.weight(&self.vote_key.public()) > 0 {
            // Share the block this seat is locked on (with the polka that justifies it), so
            // that peers holding a conflicting vote of an equivocator still see the polka. It
            // re-sends its round-0 proposal: the one block it may propose for round 0.
            let valid = self.ibft.valid().and_then(|(_, v)| self.blocks.get(&v).cloned());
            let chain = *self.f.chain.id();
            let mine = self.own_block.as_ref().map(|b| b.hash());
            if let Some(b) = valid.filter(|b| Some(b.hash()) == mine || mine.is_none()) {
                let mut p = Proposal::new(&self.vote_key, &chain, 0, None, b);
                p.pol = self.ibft.pol_votes();
                out.push(Output::Broadcast(Msg::Proposal(p)));
            } else if let Some(b) = &self.own_block {
                let mut p = Proposal::new(&self.vote_key, &chain, 0, None, b.clone());
                p.pol = self.ibft.pol_votes();
                out.push(Output::Broadcast(Msg::Proposal(p)));
            }
        }
    }

    fn admit_block(&mut self, from: PublicKey, b: Block, out: &mut Vec<Output>) -> Result<Hash32, Reject> {
        let hash = b.hash();
        if self.valid_blocks.contains(&hash) {
            return Ok(hash);
        }
        match self.f.chain.validate_block(&b, &self.batches) {
            Ok(_) => {
                self.valid_blocks.insert(hash);
                self.blocks.insert(hash, b);
                Ok(hash)
            }
            Err(BlockError::MissingBatch(_)) => {
                let missing: Vec<Hash32> = b.batch_digests().filter(|d| !self.batches.contains_key(d)).collect();
                out.push(Output::Event(Event::Wanted(self.cycle.height, missing.clone())));
                if from != PublicKey([0; 32]) {
                    out.push(Output::Send(from, Msg::BatchRequest(missing)));
                }
                if self.waiting.len() < limits::WAITING_BLOCKS {
                    self.waiting.insert(hash, b);
                }
                Err(Reject::Future)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn retry_waiting(&mut self, out: &mut Vec<Output>) {
        let waiting = std::mem::take(&mut self.waiting);
        for (_, b) in waiting {
            let ready = b
                .micro
                .as_ref()
                .is_none_or(|m| m.batches.iter().all(|r| self.batches.contains_key(&r.digest)));
            if ready {
                // Every batch it names is held now; the sender is not needed.
                let _ = self.admit_block(PublicKey([0; 32]), b, out);
            } else {
                self.waiting.insert(b.hash(), b);
            }
        }
    }

    fn hold(&mut self, from: PublicKey, m: Msg) -> Result<(), Reject> {
        let chain = self.f.chain.id();
        let signed = match &m {
            Msg::Vote(v) => v.verify_sig(chain).is_ok(),
            Msg::Proposal(x) => x.verify(chain),
            _ => false,
        };
        let registered = self.f.chain.state.dc_of(&from).is_some();
        self.held.hold(self.cycle.height + 1, from, registered, signed, m)
    }

    /// A proposal or vote from a peer.
    pub fn on_msg(&mut self, _now: u64, from: PublicKey, msg: Msg, out: &mut Vec<Output>) -> Result<(), Reject> {
        let h = self.cycle.height;
        match msg {
            Msg::Proposal(pr) => {
                let ph = pr.block.height();
                if ph > h {
                    return self.hold(from, Msg::Proposal(pr));
                }
                if ph < h {
                    return Err(Reject::Stale);
                }
                if self.ibft.seats.weight(&pr.proposer) == 0 || !pr.verify(self.f.chain.id()) {
                    return Err(Reject::Signature);
                }
                if pr.round >= 1 && self.ibft.seats.proposer(pr.round) != pr.proposer {
                    return Err(Reject::NotProposer(pr.round));
                }
                // Round 0 "proposals" only carry a seat's own view (and its polka) to the others;
                // a proposal proper, one per proposer and round, is made from round 1 on. A seat
                // may update its own view, a bounded number of times (rule 8).
                if pr.round == 0 && !self.blocks.contains_key(&pr.block.hash()) {
                    let n = self.own_views.entry(pr.proposer).or_insert(0);
                    if *n >= limits::OWN_VIEWS_PER_SEAT {
                        return Err(Reject::Busy(
                            "own views this height",
                            limits::OWN_VIEWS_PER_SEAT as usize,
                        ));
                    }
                    *n += 1;
                }
                match self.proposal_slots.get(&pr.slot()).filter(|_| pr.round >= 1) {
                    Some(first) => {
                        if let Some(e) = first.evidence(&pr) {
                            out.push(Output::Event(Event::Evidence(e)));
                            return Err(Reject::Equivocation);
                        }
                    }
                    None => {
                        let mut kept = pr.clone();
                        kept.pol.clear();
                        self.proposal_slots.insert(pr.slot(), kept);
                    }
                }
                let hash = self.admit_block(from, pr.block, out)?;
                let chain = *self.f.chain.id();
                for v in pr.pol.into_iter().take(4 * self.f.chain.params().seats) {
                    if v.height == h && v.step == Step::Prevote && v.value == Some(hash) && v.verify_sig(&chain).is_ok()
                    {
                        let blocks = &self.blocks;
                        let _ = self.ibft.on_vote(v, &|x| blocks.contains_key(x));
                    }
                }
                if pr.round >= 1 {
                    self.ibft.on_proposal(pr.round, hash, pr.valid_round);
                }
                Ok(())
            }
            Msg::Vote(v) => {
                if v.height > h {
                    return self.hold(from, Msg::Vote(v));
                }
                if v.height < h {
                    // The voter is behind: the ledger hands it the block it is still voting on,
                    // once per peer and height.
                    if v.height + 2 >= h
                        && self.helped.len() < limits::NEXT_CYCLE_TOTAL
                        && self.helped.insert((from, v.height))
                    {
                        out.push(Output::Event(Event::Behind(from, v.height)));
                    }
                    return Err(Reject::Stale);
                }
                v.verify_sig(self.f.chain.id()).map_err(|_| Reject::Signature)?;
                let blocks = &self.blocks;
                match self.ibft.on_vote(v, &|x| blocks.contains_key(x)) {
                    // Counted too: the conflicting vote is kept and becomes evidence.
                    Err(crate::ibft::VoteReject::Equivocation) | Ok(()) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            _ => Ok(()),
        }
    }
}
