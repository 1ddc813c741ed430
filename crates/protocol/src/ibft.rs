//! I-BFT for one height: Tendermint rounds and locking, with round 0 voted in waves of
//! lineup order. Sans-IO: votes and proposals come in already signature-checked, the node
//! signs what `progress` asks for, and a validity oracle says which values it holds and
//! accepts.

use crate::codec::Hash32;
use crate::crypto::PublicKey;
use crate::dcc::Cycle;
use crate::params::Params;
use crate::statement::Evidence;
use crate::vote::{Qc, Seats, Step, Vote};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Vote {
        round: u32,
        step: Step,
        value: Option<Hash32>,
    },
    /// Round >= 1 proposer: broadcast this value (and its block).
    Propose {
        round: u32,
        value: Hash32,
        valid_round: Option<u32>,
    },
    Decide(Qc),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum RStep {
    Propose,
    Prevote,
    Precommit,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoteReject {
    #[error("vote is for height {0}, this instance decides {1}")]
    Height(u64, u64),
    #[error("voter {0} holds no seat at this height")]
    NotASeat(String),
    #[error("round {0} is too far ahead")]
    FarRound(u32),
    #[error("precommit timestamp {0} is not after the previous block's {1}")]
    Timestamp(u64, u64),
    #[error("duplicate vote")]
    Duplicate,
    #[error("conflicting vote: equivocation evidence recorded")]
    Equivocation,
}

/// Furthest round ahead of ours a vote may name (bounds memory under spam).
const MAX_ROUND_AHEAD: u32 = 64;

#[derive(Debug, Clone)]
pub struct Ibft {
    pub height: u64,
    pub seats: Seats,
    me: PublicKey,
    params: Params,
    cycle: Cycle,
    prev_ts: u64,
    pub round: u32,
    step: RStep,
    round_start: u64,
    locked: Option<(u32, Hash32)>,
    valid: Option<(u32, Hash32)>,
    own_view: Option<Option<Hash32>>,
    /// Per voter, its first vote and, if it equivocated, the conflicting one. An equivocator
    /// counts toward each value it signed (it is Byzantine either way), so that every honest
    /// seat can see a polka that some honest seat saw.
    votes: BTreeMap<(u32, Step), BTreeMap<PublicKey, Vec<Vote>>>,
    proposals: BTreeMap<u32, (Hash32, Option<u32>)>,
    proposed: BTreeSet<u32>,
    sent: BTreeSet<(u32, Step)>,
    timer_prevote: Option<u64>,
    timer_precommit: Option<u64>,
    decided: Option<Qc>,
    pub evidence: Vec<Evidence>,
}

impl Ibft {
    /// `restored`: this seat's own votes at this height from its journal (after a restart).
    pub fn new(
        height: u64,
        seats: Seats,
        me: PublicKey,
        params: Params,
        cycle: Cycle,
        prev_ts: u64,
        restored: Vec<Vote>,
    ) -> Self {
        let mut s = Ibft {
            height,
            seats,
            me,
            params,
            cycle,
            prev_ts,
            round: 0,
            step: RStep::Propose,
            round_start: 0,
            locked: None,
            valid: None,
            own_view: None,
            votes: BTreeMap::new(),
            proposals: BTreeMap::new(),
            proposed: BTreeSet::new(),
            sent: BTreeSet::new(),
            timer_prevote: None,
            timer_precommit: None,
            decided: None,
            evidence: Vec::new(),
        };
        s.round_start = s.cycle.throttle(&s.params);
        for v in restored {
            s.sent.insert((v.round, v.step));
            if v.step == Step::Precommit
                && let Some(val) = v.value
                && s.locked.is_none_or(|(r, _)| r < v.round)
            {
                s.locked = Some((v.round, val));
                s.valid = Some((v.round, val));
            }
            if v.round > s.round {
                s.round = v.round;
            }
            let _ = s.add_vote(v, &|_| false);
        }
        if s.sent.contains(&(s.round, Step::Precommit)) {
            s.step = RStep::Precommit;
        } else if s.sent.contains(&(s.round, Step::Prevote)) {
            s.step = RStep::Prevote;
        }
        s
    }

    /// One line for logs: round, step, lock and the tallies of the current round.
    pub fn describe(&self) -> String {
        let short = |v: &Option<Hash32>| v.map_or("nil".to_string(), |h| h.short());
        let tally = |step| {
            self.tally(self.round, step)
                .iter()
                .map(|(v, w)| format!("{}:{w}", short(v)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        format!(
            "h{} r{} {:?} locked {:?} valid {:?} own {:?} prevotes [{}] precommits [{}] timers {:?}/{:?}",
            self.height,
            self.round,
            self.step,
            self.locked.map(|(r, v)| (r, v.short())),
            self.valid.map(|(r, v)| (r, v.short())),
            self.own_view.map(|o| short(&o)),
            tally(Step::Prevote),
            tally(Step::Precommit),
            self.timer_prevote,
            self.timer_precommit
        )
    }

    pub fn decided(&self) -> Option<&Qc> {
        self.decided.as_ref()
    }
    pub fn locked(&self) -> Option<(u32, Hash32)> {
        self.locked
    }
    pub fn valid(&self) -> Option<(u32, Hash32)> {
        self.valid
    }
    pub fn own_view(&self) -> Option<Hash32> {
        self.own_view.flatten()
    }
    fn quorum(&self) -> u64 {
        self.seats.quorum()
    }

    /// The own-view value, fixed at the throttle deadline (`None`: no valid own view).
    pub fn set_own_view(&mut self, v: Option<Hash32>) {
        if self.own_view.flatten().is_none() {
            self.own_view = Some(v);
        }
    }

    /// All votes held for this height (to resend when stalled).
    pub fn my_votes(&self) -> Vec<Vote> {
        self.votes
            .values()
            .filter_map(|m| m.get(&self.me).and_then(|v| v.first().cloned()))
            .collect()
    }

    /// One prevote per voter for `value` in `round`: what the next MicroBlock embeds to pay
    /// them (rule 11).
    pub fn prevotes_for(&self, round: u32, value: &Hash32) -> Vec<Vote> {
        self.votes.get(&(round, Step::Prevote)).map_or(Vec::new(), |m| {
            m.values()
                .filter_map(|vs| vs.iter().find(|x| x.value == Some(*value)).cloned())
                .collect()
        })
    }

    /// The prevotes that justify this seat's valid value (its proof of lock change), to
    /// relay with a proposal or when stalled.
    pub fn pol_votes(&self) -> Vec<Vote> {
        let Some((r, v)) = self.valid else {
            return Vec::new();
        };
        self.votes.get(&(r, Step::Prevote)).map_or(Vec::new(), |m| {
            m.values()
                .flat_map(|vs| vs.iter().filter(|x| x.value == Some(v)).cloned())
                .collect()
        })
    }

    /// `known`: whether a value is a block this node holds. Beyond two votes per voter, a
    /// further conflicting vote is kept only for a known block, so an equivocator can neither
    /// grow memory without bound nor crowd out the vote that completes a real polka.
    fn add_vote(&mut self, v: Vote, known: &dyn Fn(&Hash32) -> bool) -> Result<(), VoteReject> {
        let list = self
            .votes
            .entry((v.round, v.step))
            .or_default()
            .entry(v.voter)
            .or_default();
        if list.contains(&v) {
            return Err(VoteReject::Duplicate);
        }
        if let Some(first) = list.first().cloned() {
            let e = first.evidence(&v).expect("same slot, different content");
            let keep = list.len() < 2 || v.value.is_some_and(|x| known(&x));
            if keep && list.len() < 16 && list.iter().all(|x| x.value != v.value) {
                list.push(v);
            }
            if !self.evidence.contains(&e) {
                self.evidence.push(e);
            }
            return Err(VoteReject::Equivocation);
        }
        list.push(v);
        Ok(())
    }

    /// Admits a signature-checked vote.
    pub fn on_vote(&mut self, v: Vote, known: &dyn Fn(&Hash32) -> bool) -> Result<(), VoteReject> {
        if v.height != self.height {
            return Err(VoteReject::Height(v.height, self.height));
        }
        if self.seats.weight(&v.voter) == 0 {
            return Err(VoteReject::NotASeat(v.voter.short()));
        }
        if v.round > self.round + MAX_ROUND_AHEAD {
            return Err(VoteReject::FarRound(v.round));
        }
        if v.step == Step::Precommit && v.value.is_some() && v.timestamp <= self.prev_ts {
            return Err(VoteReject::Timestamp(v.timestamp, self.prev_ts));
        }
        self.add_vote(v, known)
    }

    /// Admits a proposal for round >= 1 whose signer the node checked is the round's proposer.
    pub fn on_proposal(&mut self, round: u32, value: Hash32, valid_round: Option<u32>) {
        if round >= 1 && valid_round.is_none_or(|vr| vr < round) {
            self.proposals.entry(round).or_insert((value, valid_round));
        }
    }

    fn weight_for(&self, round: u32, step: Step, value: Option<Hash32>) -> u64 {
        self.votes.get(&(round, step)).map_or(0, |m| {
            m.iter()
                .filter(|(_, vs)| vs.iter().any(|v| v.value == value))
                .map(|(k, _)| self.seats.weight(k))
                .sum()
        })
    }

    fn weight_any(&self, round: u32, step: Step) -> u64 {
        self.votes
            .get(&(round, step))
            .map_or(0, |m| m.keys().map(|k| self.seats.weight(k)).sum())
    }

    /// Values with their weights for `(round, step)`, nil included.
    fn tally(&self, round: u32, step: Step) -> BTreeMap<Option<Hash32>, u64> {
        let mut t = BTreeMap::new();
        if let Some(m) = self.votes.get(&(round, step)) {
            for v in m.values().flatten() {
                *t.entry(v.value).or_insert(0) += self.seats.weight(&v.voter);
            }
        }
        t
    }

    /// Whether prevotes of weight >= f+1 for `v` were seen in one round: then at least one
    /// honest seat found `v` acceptable by its own checks.
    pub fn vouched(&self, v: &Hash32) -> bool {
        let rounds: BTreeSet<u32> = self.votes.keys().map(|(r, _)| *r).collect();
        rounds
            .into_iter()
            .any(|r| self.weight_for(r, Step::Prevote, Some(*v)) > self.seats.f())
    }

    /// The value with prevotes of weight >= f+1 in the latest round that has one (the
    /// heaviest there, ties to the lowest hash), if this seat would vote for it.
    fn latest_vouched(&self, valid: &dyn Fn(&Hash32) -> bool) -> Option<Hash32> {
        let rounds: BTreeSet<u32> = self.votes.keys().map(|(r, _)| *r).collect();
        rounds.into_iter().rev().find_map(|r| {
            let mut best: Option<(u64, Hash32)> = None;
            for (v, w) in self.tally(r, Step::Prevote) {
                let Some(v) = v else { continue };
                if w > self.seats.f() && valid(&v) && best.is_none_or(|(bw, bv)| w > bw || (w == bw && v < bv)) {
                    best = Some((w, v));
                }
            }
            best.map(|b| b.1)
        })
    }

    fn polka(&self, round: u32) -> Option<Option<Hash32>> {
        let q = self.quorum();
        self.tally(round, Step::Prevote)
            .into_iter()
            .find(|(_, w)| *w >= q)
            .map(|(v, _)| v)
    }

    /// Round-0 wave rule: the valid value with the greatest prevote weight, ties to the lowest
    /// hash. Waves are counted per seat position (rule 3): a voter weighs only with its seats in
    /// the waves before `wave`, so a sponsor cannot bring its later seats' weight into wave 1.
    fn heaviest_prevote(&self, valid: &dyn Fn(&Hash32) -> bool, wave: usize) -> Option<Hash32> {
        let mut tally: BTreeMap<Hash32, u64> = BTreeMap::new();
        if let Some(m) = self.votes.get(&(0, Step::Prevote)) {
            for v in m.values().flatten() {
                if let Some(x) = v.value {
                    *tally.entry(x).or_insert(0) += self.seats.weight_before_wave(&v.voter, wave);
                }
            }
        }
        let mut best: Option<(u64, Hash32)> = None;
        for (v, w) in tally {
            if w == 0 || !valid(&v) {
                continue;
            }
            if best.is_none_or(|(bw, bv)| w > bw || (w == bw && v < bv)) {
                best = Some((w, v));
            }
        }
        best.map(|b| b.1)
    }

    fn start_round(&mut self, r: u32, now: u64) {
        self.round = r;
        self.step = RStep::Propose;
        self.round_start = now;
        self.timer_prevote = None;
        self.timer_precommit = None;
        if self.sent.contains(&(r, Step::Precommit)) {
            self.step = RStep::Precommit;
        } else if self.sent.contains(&(r, Step::Prevote)) {
            self.step = RStep::Prevote;
        }
    }

    fn cast(&mut self, out: &mut Vec<Action>, step: Step, value: Option<Hash32>) {
        self.step = match step {
            Step::Prevote => RStep::Prevote,
            Step::Precommit => RStep::Precommit,
        };
        if self.seats.weight(&self.me) > 0 && self.sent.insert((self.round, step)) {
            out.push(Action::Vote {
                round: self.round,
                step,
                value,
            });
        }
    }

    fn timeout(&self) -> u64 {
        self.cycle.step_timeout(&self.params, self.round)
    }

    /// The next time `progress` should run even if nothing arrives.
    pub fn next_deadline(&self) -> Option<u64> {
        if self.decided.is_some() {
            return None;
        }
        let mut d: Vec<u64> = [self.timer_prevote, self.timer_precommit]
            .into_iter()
            .flatten()
            .collect();
        if self.step == RStep::Propose {
            if self.round == 0 {
                let wave = self.seats.wave_of(&self.me).unwrap_or(self.params.waves.len());
                d.push(self.cycle.wave_time(&self.params, wave));
            } else {
                d.push(self.round_start + self.timeout());
            }
        }
        d.into_iter().min()
    }

    /// Applies every rule that can fire at `now`; returns what to sign, send or commit.
    /// `valid`: whether this seat would vote for a value (it holds the block, the block is
    /// valid, and it passes this seat's own checks of luck and seed). `held`: whether the node
    /// holds the block and it is valid for the chain; a quorum of precommits decides any such
    /// block, whatever this seat's own view (the certificate is what makes it final).
    pub fn progress(
        &mut self,
        now: u64,
        valid: &dyn Fn(&Hash32) -> bool,
        held: &dyn Fn(&Hash32) -> bool,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        for _ in 0..64 {
            if self.decided.is_some() || !self.step_once(now, valid, held, &mut out) {
                break;
            }
        }
        out
    }

    fn step_once(
        &mut self,
        now: u64,
        valid: &dyn Fn(&Hash32) -> bool,
        held: &dyn Fn(&Hash32) -> bool,
        out: &mut Vec<Action>,
    ) -> bool {
        let q = self.quorum();
        // Decide: precommits of weight >= q for one value in any round.
        let rounds: Vec<u32> = self
            .votes
            .keys()
            .filter(|(_, s)| *s == Step::Precommit)
            .map(|(r, _)| *r)
            .collect();
        for r in rounds {
            for (v, w) in self.tally(r, Step::Precommit) {
                if let (Some(v), true) = (v, w >= q)
                    && held(&v)
                {
                    let precommits: Vec<Vote> = self.votes[&(r, Step::Precommit)]
                        .values()
                        .filter_map(|vs| vs.iter().find(|x| x.value == Some(v)))
                        .cloned()
                        .collect();
                    let qc = Qc {
                        height: self.height,
                        round: r,
                        value: v,
                        precommits,
                    };
                    self.decided = Some(qc.clone());
                    out.push(Action::Decide(qc));
                    return false;
                }
            }
        }
        // Round skip: f+1 weight already voting in a later round.
        let f1 = self.seats.f() + 1;
        let mut later: BTreeMap<u32, BTreeSet<PublicKey>> = BTreeMap::new();
        for ((r, _), m) in self.votes.range((self.round + 1, Step::Prevote)..) {
            later.entry(*r).or_default().extend(m.keys().copied());
        }
        if let Some((r, _)) = later
            .iter()
            .rev()
            .find(|(_, s)| s.iter().map(|k| self.seats.weight(k)).sum::<u64>() >= f1)
        {
            self.start_round(*r, now);
            return true;
        }

        let round = self.round;
        match self.step {
            RStep::Propose if round == 0 => {
                let Some(own) = self.own_view else {
                    return false;
                };
                let wave = self.seats.wave_of(&self.me).unwrap_or(self.params.waves.len());
                if now < self.cycle.wave_time(&self.params, wave) {
                    return false;
                }
                let v = if let Some((_, l)) = self.locked {
                    Some(l)
                } else if wave == 1 {
                    own
                } else {
                    self.heaviest_prevote(valid, wave).or(own)
                };
                self.cast(out, Step::Prevote, v);
                true
            }
            RStep::Propose => {
                if self.seats.proposer(round) == self.me && self.proposed.insert(round) {
                    // Without a valid value of its own, propose the value that f+1 prevoted in
                    // the latest round: seats locked on it (which saw its polka) can prevote it,
                    // where this seat's own view would only meet their nil. The simulator showed
                    // unlocked proposers thus skipping round after round once an equivocator had
                    // split the polka views.
                    let pick = self
                        .valid
                        .map(|(r, v)| (v, Some(r)))
                        .or(self.latest_vouched(valid).map(|v| (v, None)))
                        .or(self.own_view.flatten().map(|v| (v, None)));
                    if let Some((value, valid_round)) = pick {
                        out.push(Action::Propose {
                            round,
                            value,
                            valid_round,
                        });
                        self.proposals.entry(round).or_insert((value, valid_round));
                    }
                }
                if let Some((v, vr)) = self.proposals.get(&round).copied() {
                    match vr {
                        None => {
                            let ok = valid(&v) && self.locked.is_none_or(|(_, l)| l == v);
                            self.cast(out, Step::Prevote, ok.then_some(v));
                            return true;
                        }
                        Some(vr) if self.weight_for(vr, Step::Prevote, Some(v)) >= q => {
                            let ok = valid(&v) && self.locked.is_none_or(|(lr, l)| lr <= vr || l == v);
                            self.cast(out, Step::Prevote, ok.then_some(v));
                            return true;
                        }
                        Some(_) => {}
                    }
                }
                if now >= self.round_start + self.timeout() {
                    self.cast(out, Step::Prevote, None);
                    return true;
                }
                false
            }
            RStep::Prevote => {
                match self.polka(round) {
                    Some(Some(v)) if valid(&v) => {
                        self.locked = Some((round, v));
                        self.valid = Some((round, v));
                        self.cast(out, Step::Precommit, Some(v));
                        return true;
                    }
                    Some(None) => {
                        self.cast(out, Step::Precommit, None);
                        return true;
                    }
                    _ => {}
                }
                if self.weight_any(round, Step::Prevote) >= q {
                    match self.timer_prevote {
                        None => self.timer_prevote = Some(now + self.timeout()),
                        Some(t) if now >= t => {
                            self.cast(out, Step::Precommit, None);
                            return true;
                        }
                        _ => {}
                    }
                }
                self.precommit_timeout(now)
            }
            RStep::Precommit => {
                if let Some(Some(v)) = self.polka(round)
                    && valid(&v)
                    && self.valid.is_none_or(|(r, _)| r < round)
                {
                    self.valid = Some((round, v));
                }
                self.precommit_timeout(now)
            }
        }
    }

    fn precommit_timeout(&mut self, now: u64) -> bool {
        if self.weight_any(self.round, Step::Precommit) >= self.quorum() {
            match self.timer_precommit {
                None => self.timer_precommit = Some(now + self.timeout()),
                Some(t) if now >= t => {
                    let r = self.round + 1;
                    self.start_round(r, now);
                    return true;
                }
                _ => {}
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;
    const C: crate::codec::ChainId = Hash32([0xc4; 32]);

    struct Net {
        keys: Vec<Keypair>,
        nodes: Vec<Ibft>,
    }

    fn net(n_dc: usize, seat_of: &[usize]) -> Net {
        let keys: Vec<_> = (0..n_dc).map(|i| Keypair::from_label(&format!("ibft{i}"))).collect();
        let mut p = Params::devnet();
        p.seats = seat_of.len();
        p.waves = vec![seat_of.len() - 2, 1, 1];
        let seats = Seats::new(1, seat_of.iter().map(|i| keys[*i].public()).collect(), p.waves.clone());
        let cycle = Cycle {
            height: 1,
            start: 0,
            length: 1000,
        };
        let nodes = keys
            .iter()
            .map(|k| Ibft::new(1, seats.clone(), k.public(), p.clone(), cycle, 0, vec![]))
            .collect();
        Net { keys, nodes }
    }

    /// Runs all nodes but the `paused` ones at `now`, delivering every vote to every node,
    /// until quiet.
    fn run(net: &mut Net, now: u64, valid: &dyn Fn(&Hash32) -> bool, paused: &[usize]) -> Vec<Option<Qc>> {
        for _ in 0..20 {
            let mut sent = Vec::new();
            for (i, n) in net.nodes.iter_mut().enumerate() {
                if paused.contains(&i) {
                    continue;
                }
                for a in n.progress(now, valid, valid) {
                    if let Action::Vote { round, step, value } = a {
                        sent.push(Vote::sign_unchecked(
                            &net.keys[i],
                            &C,
                            1,
                            round,
                            step,
                            value,
                            now.max(1),
                        ));
                    }
                }
            }
            if sent.is_empty() {
                break;
            }
            for n in net.nodes.iter_mut() {
                for v in &sent {
                    let _ = n.on_vote(v.clone(), &|_| true);
                }
            }
        }
        net.nodes.iter().map(|n| n.decided().cloned()).collect()
    }

    #[test]
    fn common_case_decides_in_round_zero_with_waves() {
        let mut net = net(4, &[0, 1, 2, 3, 0, 1, 2]);
        let b = Hash32([1; 32]);
        for n in &mut net.nodes {
            n.set_own_view(Some(b));
        }
        // Before the throttle nobody votes.
        assert!(run(&mut net, 500, &|_| true, &[]).iter().all(|d| d.is_none()));
        let d = run(&mut net, 2000, &|_| true, &[]);
        for qc in d {
            let qc = qc.expect("decided");
            assert_eq!((qc.round, qc.value), (0, b));
        }
    }

    #[test]
    fn later_waves_follow_the_heaviest_value() {
        // Seats 0..4 are wave 1 (weights 2,2,1 after repeats), seat 5 wave 2, seat 6 wave 3.
        let mut net = net(4, &[0, 1, 2, 0, 1, 3, 3]);
        let a = Hash32([1; 32]);
        let b = Hash32([2; 32]);
        for (i, n) in net.nodes.iter_mut().enumerate() {
            n.set_own_view(Some(if i == 2 { b } else { a }));
        }
        // dc3 (wave 2) has own view b too, but follows the heavier a.
        net.nodes[3].own_view = None;
        net.nodes[3].set_own_view(Some(b));
        let d = run(&mut net, 600, &|_| true, &[]);
        assert!(d.iter().all(|x| x.is_none()), "wave 2 waits for its turn");
        let d = run(&mut net, 640, &|_| true, &[]);
        assert!(d.iter().all(|q| q.as_ref().is_some_and(|q| q.value == a)), "{d:?}");
    }

    // Rule 3: waves are counted per seat position. A Byzantine sponsor with one wave-1 seat and
    // two wave-3 seats (3 = f of 10) prevotes its censored block in wave 1; v1 counted all three
    // seats there and so outweighed two honest wave-1 seats, pulling wave 2 onto its block.
    #[test]
    fn a_sponsors_later_seats_do_not_weigh_in_an_earlier_wave() {
        let keys: Vec<_> = (0..6).map(|i| Keypair::from_label(&format!("wave{i}"))).collect();
        let mut p = Params::devnet();
        p.seats = 10;
        p.waves = vec![4, 3, 3];
        let list = [0, 1, 2, 3, 4, 4, 4, 0, 0, 5].map(|i| keys[i].public()).to_vec();
        let seats = Seats::new(1, list, p.waves.clone());
        assert_eq!((seats.weight(&keys[0].public()), seats.f()), (3, 3));
        let cycle = Cycle {
            height: 1,
            start: 0,
            length: 1000,
        };
        let (censored, honest, other) = (Hash32([1; 32]), Hash32([2; 32]), Hash32([3; 32]));
        let mut follower = Ibft::new(1, seats, keys[4].public(), p.clone(), cycle, 0, vec![]);
        follower.set_own_view(Some(other));
        for (i, v) in [(0, censored), (1, honest), (2, honest), (3, other)] {
            let vote = Vote::sign_unchecked(&keys[i], &C, 1, 0, Step::Prevote, Some(v), 0);
            follower.on_vote(vote, &|_| true).unwrap();
        }
        let acts = follower.progress(cycle.wave_time(&p, 2), &|_| true, &|_| true);
        let prevote = acts.iter().find_map(|a| match a {
            Action::Vote {
                step: Step::Prevote,
                value,
                ..
            } => Some(*value),
            _ => None,
        });
        assert_eq!(prevote, Some(Some(honest)), "wave 2 follows the heavier honest value");
    }

    // An unlocked proposer proposes what f+1 prevoted in the latest round, not its own view:
    // seats locked on that value can prevote it (the simulator showed rounds going by with an
    // equivocator's split polka views when proposers offered their own views).
    #[test]
    fn an_unlocked_proposer_proposes_the_value_f_plus_one_prevoted() {
        let mut net = net(4, &[0, 1, 2, 3, 0, 1, 2]);
        let (theirs, own) = (Hash32([1; 32]), Hash32([2; 32]));
        let n0 = &mut net.nodes[0];
        n0.set_own_view(Some(own));
        for i in [1, 2] {
            let v = Vote::sign_unchecked(&net.keys[i], &C, 1, 0, Step::Prevote, Some(theirs), 0);
            n0.on_vote(v, &|_| true).unwrap();
            // No polka formed; round 0 ends with nil precommits.
            let v = Vote::sign_unchecked(&net.keys[i], &C, 1, 0, Step::Precommit, None, 1);
            n0.on_vote(v, &|_| true).unwrap();
        }
        assert!(n0.seats.f() < 4 && n0.locked().is_none());
        let mut proposed = None;
        for t in (0..20_000).step_by(50) {
            for a in n0.progress(t, &|_| true, &|_| true) {
                match a {
                    Action::Propose { value, .. } => {
                        proposed.get_or_insert(value);
                    }
                    Action::Vote { round, step, value } => {
                        let v = Vote::sign_unchecked(&net.keys[0], &C, 1, round, step, value, t.max(2));
                        let _ = n0.on_vote(v, &|_| true);
                    }
                    Action::Decide(_) => {}
                }
            }
        }
        assert_eq!(proposed, Some(theirs), "{}", n0.describe());
    }

    #[test]
    fn no_quorum_without_enough_weight_then_rounds_advance() {
        let mut net = net(4, &[0, 1, 2, 3]);
        for n in &mut net.nodes {
            n.set_own_view(Some(Hash32([1; 32])));
        }
        // Two of four seats silent: no certificate, and timeouts do not decide anything.
        let d = run(&mut net, 2000, &|_| true, &[2, 3]);
        assert!(d.iter().all(|x| x.is_none()));
        // Once everybody talks again, the value is decided in a later round.
        let mut t = 2000;
        let mut decided = false;
        for _ in 0..40 {
            t += 500;
            if run(&mut net, t, &|_| true, &[]).iter().all(|x| x.is_some()) {
                decided = true;
                break;
            }
        }
        assert!(decided);
    }

    #[test]
    fn a_locked_seat_does_not_prevote_another_value_without_a_newer_polka() {
        let mut net = net(4, &[0, 1, 2, 3]);
        let a = Hash32([1; 32]);
        let b = Hash32([2; 32]);
        let n0 = &mut net.nodes[0];
        n0.locked = Some((0, a));
        n0.valid = Some((0, a));
        n0.start_round(1, 5000);
        n0.on_proposal(1, b, None);
        let acts = n0.progress(5000, &|_| true, &|_| true);
        assert!(
            acts.contains(&Action::Vote {
                round: 1,
                step: Step::Prevote,
                value: None
            }),
            "{acts:?}"
        );
    }

    #[test]
    fn equivocation_is_recorded_and_votes_are_bounded() {
        let mut net = net(4, &[0, 1, 2, 3]);
        let k = net.keys[1].clone();
        let n = &mut net.nodes[0];
        let v1 = Vote::sign_unchecked(&k, &C, 1, 0, Step::Prevote, Some(Hash32([1; 32])), 0);
        let v2 = Vote::sign_unchecked(&k, &C, 1, 0, Step::Prevote, Some(Hash32([2; 32])), 0);
        assert_eq!(n.on_vote(v1.clone(), &|_| false), Ok(()));
        assert_eq!(n.on_vote(v1, &|_| false), Err(VoteReject::Duplicate));
        assert_eq!(n.on_vote(v2, &|_| false), Err(VoteReject::Equivocation));
        assert_eq!(n.evidence.len(), 1);
        n.evidence[0].verify(&C).unwrap();
        for i in 3..40u8 {
            let _ = n.on_vote(
                Vote::sign_unchecked(&k, &C, 1, 0, Step::Prevote, Some(Hash32([i; 32])), 0),
                &|_| false,
            );
        }
        assert_eq!(
            n.votes[&(0, Step::Prevote)][&k.public()].len(),
            2,
            "garbage beyond two is dropped"
        );
        let outsider = Keypair::from_label("outsider");
        let v = Vote::sign_unchecked(&outsider, &C, 1, 0, Step::Prevote, None, 0);
        assert!(matches!(n.on_vote(v, &|_| true), Err(VoteReject::NotASeat(_))));
        let far = Vote::sign_unchecked(&k, &C, 1, 500, Step::Prevote, None, 0);
        assert_eq!(n.on_vote(far, &|_| true), Err(VoteReject::FarRound(500)));
        let wrong_h = Vote::sign_unchecked(&k, &C, 2, 0, Step::Prevote, None, 0);
        assert_eq!(n.on_vote(wrong_h, &|_| true), Err(VoteReject::Height(2, 1)));
    }

    #[test]
    fn restart_restores_the_lock_from_the_journal() {
        let k = Keypair::from_label("ibft0");
        let seats = Seats::new(
            1,
            (0..4)
                .map(|i| Keypair::from_label(&format!("ibft{i}")).public())
                .collect(),
            vec![2, 1, 1],
        );
        let a = Hash32([9; 32]);
        let mine = vec![
            Vote::sign_unchecked(&k, &C, 1, 2, Step::Prevote, Some(a), 0),
            Vote::sign_unchecked(&k, &C, 1, 2, Step::Precommit, Some(a), 7),
        ];
        let i = Ibft::new(
            1,
            seats,
            k.public(),
            Params::devnet(),
            Cycle {
                height: 1,
                start: 0,
                length: 1000,
            },
            0,
            mine,
        );
        assert_eq!(i.locked(), Some((2, a)));
        assert_eq!(i.round, 2);
    }
}
