//! Trustee seats, votes, quorum certificates, equivocation evidence, and the vote signer that
//! never signs two different votes for one `(height, round, step)`.

use crate::codec::{Canon, ChainId, Hash32, tag};
use crate::crypto::{Keypair, PublicKey, SigError, Signature, verify_batch_find};
use crate::dcc;
use crate::statement::{Evidence, Kind, Said, Slot};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Step {
    Prevote,
    Precommit,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub height: u64,
    pub round: u32,
    pub step: Step,
    /// `None` is a vote for nil.
    pub value: Option<Hash32>,
    /// Voter's clock when precommitting (0 in prevotes); the block's timestamp is their median.
    pub timestamp: u64,
    pub voter: PublicKey,
    pub sig: Signature,
}

pub type VoteKey = (u64, u32, Step);

impl Vote {
    pub fn key(&self) -> VoteKey {
        (self.height, self.round, self.step)
    }
    /// The statement slot: one vote per `(voter, height, round, step)`.
    pub fn slot(&self) -> Slot {
        Slot::new(Kind::Vote, self.voter, self.height, self.round, self.step as u32)
    }
    /// `H("daoli/v2/vote" || u8 has_value || value (32, zero for nil) || u64 timestamp)`.
    pub fn content(&self) -> Hash32 {
        vote_content(self.value, self.timestamp)
    }
    pub fn said(&self) -> Said {
        Said {
            content: self.content(),
            sig: self.sig,
        }
    }
    pub fn signing_bytes(&self, chain: &ChainId) -> Vec<u8> {
        self.slot().signing_bytes(chain, &self.content())
    }
    pub fn verify_sig(&self, chain: &ChainId) -> Result<(), SigError> {
        self.slot().verify(chain, &self.content(), &self.sig)
    }
    /// Two votes conflict when one voter signed different contents for one slot.
    pub fn conflicts_with(&self, other: &Vote) -> bool {
        self.slot() == other.slot() && self.content() != other.content()
    }
    /// The equivocation evidence two conflicting votes make.
    pub fn evidence(&self, other: &Vote) -> Option<Evidence> {
        Evidence::conflict((self.slot(), self.said()), (other.slot(), other.said()))
    }
    /// Signs without any journal: only for tests and for simulated Byzantine seats.
    pub fn sign_unchecked(
        key: &Keypair,
        chain: &ChainId,
        height: u64,
        round: u32,
        step: Step,
        value: Option<Hash32>,
        timestamp: u64,
    ) -> Vote {
        let mut v = Vote {
            height,
            round,
            step,
            value,
            timestamp,
            voter: key.public(),
            sig: Signature::default(),
        };
        v.sig = key.sign(&v.signing_bytes(chain));
        v
    }
}

/// Votes whose height, round, step and value are fixed by context: `u32 n || (voter (32) ||
/// u64 timestamp || sig (64))*`.
pub(crate) fn hash_votes(c: &mut Canon, votes: &[Vote]) {
    c.u32(votes.len() as u32);
    for v in votes {
        c.fixed(&v.voter.0).u64(v.timestamp).fixed(&v.sig.0);
    }
}

pub fn vote_content(value: Option<Hash32>, timestamp: u64) -> Hash32 {
    let mut c = Canon::new(tag::VOTE);
    match value {
        None => c.u8(0).h(&Hash32::ZERO),
        Some(v) => c.u8(1).h(&v),
    };
    c.u64(timestamp);
    c.hash()
}

/// Seats of one height: the sponsors of the last `n` leaders, youngest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seats {
    pub height: u64,
    pub list: Vec<PublicKey>,
    weights: BTreeMap<PublicKey, u64>,
    waves: Vec<usize>,
}

impl Seats {
    /// A vacant position (its datacenter was slashed): it counts in `n` but nobody votes for it.
    pub const VACANT: PublicKey = PublicKey([0; 32]);

    pub fn new(height: u64, list: Vec<PublicKey>, waves: Vec<usize>) -> Self {
        let mut weights = BTreeMap::new();
        for s in list.iter().filter(|s| **s != Self::VACANT) {
            *weights.entry(*s).or_insert(0) += 1;
        }
        Seats {
            height,
            list,
            weights,
            waves,
        }
    }
    /// Seats that can vote: vacated positions (their datacenter was slashed) leave the
    /// committee. Only a key that signed two conflicting statements is ever slashed, so every
    /// vacated seat was Byzantine: with `a <= f` Byzantine seats of `n` and `v` of them vacated,
    /// `a - v <= floor((n - v - 1) / 3)`, and quorums of the smaller committee still intersect
    /// in an honest seat. Keeping vacated seats in `n` would let f+1 slashed seats halt the
    /// chain for good (no quorum could form, so the window would never move on), as the
    /// simulator's uncapped adversary showed.
    pub fn n(&self) -> u64 {
        self.list.iter().filter(|s| **s != Self::VACANT).count() as u64
    }
    pub fn f(&self) -> u64 {
        self.n().saturating_sub(1) / 3
    }
    /// `n - f`; unreachable when every seat is vacant.
    pub fn quorum(&self) -> u64 {
        if self.n() == 0 { u64::MAX } else { self.n() - self.f() }
    }
    pub fn weight(&self, pk: &PublicKey) -> u64 {
        self.weights.get(pk).copied().unwrap_or(0)
    }
    pub fn members(&self) -> impl Iterator<Item = (&PublicKey, &u64)> {
        self.weights.iter()
    }
    /// The wave (1-based) of a seat position.
    pub fn wave_of_position(&self, pos: usize) -> usize {
        let mut acc = 0;
        for (i, w) in self.waves.iter().enumerate() {
            acc += w;
            if pos < acc {
                return i + 1;
            }
        }
        self.waves.len()
    }
    /// A sponsor votes in the wave of its youngest seat.
    pub fn wave_of(&self, pk: &PublicKey) -> Option<usize> {
        if *pk == Self::VACANT {
            return None;
        }
        self.list.iter().position(|s| s == pk).map(|p| self.wave_of_position(p))
    }
    /// Weight of `pk`'s seats in waves before `wave` (1-based): what its round-0 prevote counts
    /// for when wave `wave` picks the heaviest value.
    pub fn weight_before_wave(&self, pk: &PublicKey, wave: usize) -> u64 {
        if *pk == Self::VACANT {
            return 0;
        }
        self.list
            .iter()
            .enumerate()
            .filter(|(p, s)| *s == pk && self.wave_of_position(*p) < wave)
            .count() as u64
    }
    /// What one seat position earns for prevoting the decided value (rule 11): in round 0
    /// wave `w` of `W` earns `W + 1 - w` (3:2:1), so the earlier the wave the more it pays; in
    /// later rounds every position earns 1, the least.
    pub fn position_reward(&self, pos: usize, round: u32) -> u64 {
        if round == 0 {
            (self.waves.len() + 1 - self.wave_of_position(pos)) as u64
        } else {
            1
        }
    }
    /// The most all positions can earn together: the denominator of every share, so that a
    /// seat's share does not grow when others are left out.
    pub fn reward_total(&self) -> u64 {
        (0..self.list.len()).map(|p| self.position_reward(p, 0)).sum()
    }
    /// What `pk`'s positions earn together when its prevote for the decided value in `round`
    /// is embedded.
    pub fn prevote_reward(&self, pk: &PublicKey, round: u32) -> u64 {
        if *pk == Self::VACANT {
            return 0;
        }
        self.list
            .iter()
            .enumerate()
            .filter(|(_, s)| *s == pk)
            .map(|(p, _)| self.position_reward(p, round))
            .sum()
    }
    /// The proposer of round `r >= 1`: the seated sponsors take turns, youngest first, each
    /// once per turn however many seats it holds (so a silent sponsor costs one round, not k).
    pub fn proposer(&self, round: u32) -> PublicKey {
        let mut distinct: Vec<PublicKey> = Vec::with_capacity(self.weights.len());
        for s in &self.list {
            if *s != Self::VACANT && !distinct.contains(s) {
                distinct.push(*s);
            }
        }
        if distinct.is_empty() {
            return Self::VACANT;
        }
        distinct[(round as usize).saturating_sub(1) % distinct.len()]
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QcError {
    #[error("QC is for ({0}, {1}), expected height {2}")]
    WrongHeight(u64, u32, u64),
    #[error("QC is for block {got}, expected {expected}")]
    WrongValue { got: String, expected: String },
    #[error("QC precommit {0} does not match the QC's height, round, step or value")]
    Mismatch(usize),
    #[error("QC precommit {0} is from {1}, who holds no seat")]
    NotASeat(usize, String),
    #[error("QC lists voter {0} twice")]
    DuplicateVoter(String),
    #[error("QC precommit {0}: bad signature")]
    Signature(usize),
    #[error("QC weight {got} is below the quorum {quorum}")]
    NoQuorum { got: u64, quorum: u64 },
}

/// A quorum certificate: precommits of weight >= q on one `(h, round, value)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qc {
    pub height: u64,
    pub round: u32,
    pub value: Hash32,
    pub precommits: Vec<Vote>,
}

impl Qc {
    pub fn hash(&self) -> Hash32 {
        let mut c = Canon::new(tag::QC);
        c.u64(self.height).u32(self.round).h(&self.value);
        hash_votes(&mut c, &self.precommits);
        c.hash()
    }

    /// Checks the QC against the seats of its height; returns its weight.
    pub fn verify(&self, seats: &Seats, expected: &Hash32, chain: &ChainId) -> Result<u64, QcError> {
        if self.height != seats.height {
            return Err(QcError::WrongHeight(self.height, self.round, seats.height));
        }
        if self.value != *expected {
            return Err(QcError::WrongValue {
                got: self.value.short(),
                expected: expected.short(),
            });
        }
        let mut weight = 0;
        let mut seen = std::collections::BTreeSet::new();
        for (i, v) in self.precommits.iter().enumerate() {
            if v.height != self.height
                || v.round != self.round
                || v.step != Step::Precommit
                || v.value != Some(self.value)
            {
                return Err(QcError::Mismatch(i));
            }
            let w = seats.weight(&v.voter);
            if w == 0 {
                return Err(QcError::NotASeat(i, v.voter.short()));
            }
            if !seen.insert(v.voter) {
                return Err(QcError::DuplicateVoter(v.voter.short()));
            }
            weight += w;
        }
        if weight < seats.quorum() {
            return Err(QcError::NoQuorum {
                got: weight,
                quorum: seats.quorum(),
            });
        }
        let msgs: Vec<Vec<u8>> = self.precommits.iter().map(|v| v.signing_bytes(chain)).collect();
        let items: Vec<_> = self
            .precommits
            .iter()
            .zip(&msgs)
            .map(|(v, m)| (v.voter, m.as_slice(), v.sig))
            .collect();
        verify_batch_find(&items).map_err(|(i, _)| QcError::Signature(i))?;
        Ok(weight)
    }

    /// Checks `prevotes` as the prevotes for this QC's value in its round, one per seat, each
    /// signed: the list a MicroBlock embeds to pay early prevotes (rule 11).
    pub fn verify_prevotes(&self, prevotes: &[Vote], seats: &Seats, chain: &ChainId) -> Result<(), QcError> {
        let mut seen = std::collections::BTreeSet::new();
        for (i, v) in prevotes.iter().enumerate() {
            if v.height != self.height
                || v.round != self.round
                || v.step != Step::Prevote
                || v.value != Some(self.value)
            {
                return Err(QcError::Mismatch(i));
            }
            if seats.weight(&v.voter) == 0 {
                return Err(QcError::NotASeat(i, v.voter.short()));
            }
            if !seen.insert(v.voter) {
                return Err(QcError::DuplicateVoter(v.voter.short()));
            }
        }
        let msgs: Vec<Vec<u8>> = prevotes.iter().map(|v| v.signing_bytes(chain)).collect();
        let items: Vec<_> = prevotes
            .iter()
            .zip(&msgs)
            .map(|(v, m)| (v.voter, m.as_slice(), v.sig))
            .collect();
        verify_batch_find(&items).map_err(|(i, _)| QcError::Signature(i))
    }

    /// Weighted median of the precommit timestamps.
    pub fn median_timestamp(&self, seats: &Seats) -> u64 {
        dcc::weighted_median(
            self.precommits
                .iter()
                .map(|v| (v.timestamp, seats.weight(&v.voter)))
                .collect(),
        )
    }

    pub fn signers(&self) -> impl Iterator<Item = &PublicKey> {
        self.precommits.iter().map(|v| &v.voter)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignerError {
    #[error("refusing to sign a second, different vote for height {0} round {1} {2:?}")]
    Conflict(u64, u32, Step),
    #[error("vote journal: {0}")]
    Journal(String),
}

/// Durable record of every vote a seat has signed. `persist` must be durable when it returns:
/// the signer releases a vote only after it is persisted.
pub trait VoteJournal {
    fn get(&self, key: &VoteKey) -> Option<Vote>;
    fn persist(&mut self, vote: &Vote) -> Result<(), String>;
    /// Votes signed at a height (to restore locks after a restart).
    fn at_height(&self, height: u64) -> Vec<Vote>;
}

/// An in-memory journal (tests and the simulator, where "restart" keeps it).
#[derive(Debug, Clone, Default)]
pub struct MemJournal {
    votes: BTreeMap<VoteKey, Vote>,
}

impl VoteJournal for MemJournal {
    fn get(&self, key: &VoteKey) -> Option<Vote> {
        self.votes.get(key).cloned()
    }
    fn persist(&mut self, vote: &Vote) -> Result<(), String> {
        self.votes.insert(vote.key(), vote.clone());
        Ok(())
    }
    fn at_height(&self, height: u64) -> Vec<Vote> {
        self.votes
            .range((height, 0, Step::Prevote)..=(height, u32::MAX, Step::Precommit))
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Signs votes for one seat, checking and persisting through its journal first.
#[derive(Debug)]
pub struct VoteSigner<J: VoteJournal> {
    key: Keypair,
    chain: ChainId,
    pub journal: J,
}

impl<J: VoteJournal> VoteSigner<J> {
    pub fn new(key: Keypair, chain: ChainId, journal: J) -> Self {
        VoteSigner { key, chain, journal }
    }
    pub fn public(&self) -> PublicKey {
        self.key.public()
    }
    /// Returns the vote to send. Asking again for the same value returns the vote signed
    /// before (a resend); asking for a different value is refused.
    pub fn sign(
        &mut self,
        height: u64,
        round: u32,
        step: Step,
        value: Option<Hash32>,
        timestamp: u64,
    ) -> Result<Vote, SignerError> {
        if let Some(prev) = self.journal.get(&(height, round, step)) {
            if prev.value == value {
                return Ok(prev);
            }
            return Err(SignerError::Conflict(height, round, step));
        }
        let v = Vote::sign_unchecked(&self.key, &self.chain, height, round, step, value, timestamp);
        self.journal.persist(&v).map_err(SignerError::Journal)?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const C: ChainId = Hash32([0xc4; 32]);

    fn seats(keys: &[Keypair], pattern: &[usize]) -> Seats {
        Seats::new(7, pattern.iter().map(|i| keys[*i].public()).collect(), vec![5, 3, 3])
    }

    #[test]
    fn weights_waves_and_rewards() {
        let k: Vec<_> = (0..4).map(|i| Keypair::from_label(&format!("dc{i}"))).collect();
        let s = seats(&k, &[0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2]);
        assert_eq!((s.n(), s.f(), s.quorum()), (11, 3, 8));
        assert_eq!(s.weight(&k[0].public()), 3);
        assert_eq!(s.weight(&k[3].public()), 2);
        assert_eq!(s.wave_of(&k[3].public()), Some(1));
        // dc0 sits at positions 0 (wave 1), 4 (wave 1), 8 (wave 3): 3 + 3 + 1.
        assert_eq!(s.prevote_reward(&k[0].public(), 0), 7);
        assert_eq!(s.prevote_reward(&k[0].public(), 1), 3, "late rounds pay 1 per position");
        assert_eq!(s.reward_total(), 5 * 3 + 3 * 2 + 3);
        assert_eq!(s.proposer(1), k[0].public());
        assert_eq!(s.proposer(2), k[1].public());
        assert_eq!(s.proposer(5), k[0].public(), "four sponsors take turns");
    }

    #[test]
    fn qc_verifies_and_rejects_bad_ones() {
        let k: Vec<_> = (0..4).map(|i| Keypair::from_label(&format!("dc{i}"))).collect();
        let s = seats(&k, &[0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2]);
        let val = Hash32([5; 32]);
        let pc = |i: usize| Vote::sign_unchecked(&k[i], &C, 7, 0, Step::Precommit, Some(val), 100 + i as u64);
        let qc = Qc {
            height: 7,
            round: 0,
            value: val,
            precommits: vec![pc(0), pc(1), pc(2)],
        };
        assert_eq!(qc.verify(&s, &val, &C), Ok(9));
        assert_eq!(qc.median_timestamp(&s), 101);
        let low = Qc {
            precommits: vec![pc(0), pc(3), pc(1)][..2].to_vec(),
            ..qc.clone()
        };
        assert_eq!(low.verify(&s, &val, &C), Err(QcError::NoQuorum { got: 5, quorum: 8 }));
        let dup = Qc {
            precommits: vec![pc(0), pc(1), pc(1)],
            ..qc.clone()
        };
        assert!(matches!(dup.verify(&s, &val, &C), Err(QcError::DuplicateVoter(_))));
        let mut forged = qc.clone();
        forged.precommits[2].sig.0[0] ^= 1;
        assert_eq!(forged.verify(&s, &val, &C), Err(QcError::Signature(2)));
        let outsider = Keypair::from_label("x");
        let mut o = qc.clone();
        o.precommits
            .push(Vote::sign_unchecked(&outsider, &C, 7, 0, Step::Precommit, Some(val), 1));
        assert!(matches!(o.verify(&s, &val, &C), Err(QcError::NotASeat(3, _))));
        assert!(matches!(
            qc.verify(&s, &Hash32::ZERO, &C),
            Err(QcError::WrongValue { .. })
        ));
    }

    #[test]
    fn signer_refuses_conflicts_across_restarts() {
        let key = Keypair::from_label("seat");
        let mut s = VoteSigner::new(key.clone(), C, MemJournal::default());
        let a = s.sign(3, 0, Step::Prevote, Some(Hash32([1; 32])), 0).unwrap();
        assert_eq!(s.sign(3, 0, Step::Prevote, Some(Hash32([1; 32])), 0).unwrap(), a);
        assert_eq!(
            s.sign(3, 0, Step::Prevote, None, 0),
            Err(SignerError::Conflict(3, 0, Step::Prevote))
        );
        // A restart: new signer, same journal.
        let journal = s.journal.clone();
        let mut s2 = VoteSigner::new(key, C, journal);
        assert!(s2.sign(3, 0, Step::Prevote, Some(Hash32([2; 32])), 0).is_err());
        assert!(s2.sign(3, 1, Step::Prevote, Some(Hash32([2; 32])), 0).is_ok());
        assert_eq!(s2.journal.at_height(3).len(), 2);
    }

    #[test]
    fn conflicting_votes_make_evidence_and_equal_ones_do_not() {
        let key = Keypair::from_label("seat");
        let a = Vote::sign_unchecked(&key, &C, 3, 0, Step::Prevote, Some(Hash32([1; 32])), 0);
        let b = Vote::sign_unchecked(&key, &C, 3, 0, Step::Prevote, Some(Hash32([2; 32])), 0);
        let e = a.evidence(&b).expect("conflict");
        e.verify(&C).unwrap();
        assert_eq!(Some(e), b.evidence(&a));
        assert_eq!(a.evidence(&a), None);
        let c = Vote::sign_unchecked(&key, &C, 3, 1, Step::Prevote, Some(Hash32([2; 32])), 0);
        assert_eq!(a.evidence(&c), None, "another round is another slot");
        // A different timestamp in a precommit is a different statement too.
        let p1 = Vote::sign_unchecked(&key, &C, 3, 0, Step::Precommit, Some(Hash32([1; 32])), 5);
        let p2 = Vote::sign_unchecked(&key, &C, 3, 0, Step::Precommit, Some(Hash32([1; 32])), 6);
        assert!(p1.evidence(&p2).is_some());
    }
}
