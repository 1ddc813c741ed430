//! The decentralized clock: cycle `h` is the time between certified blocks `h-1` and `h`.
//! Each node maps its own monotonic clock onto cycles: cycle `h` starts for it when it
//! receives certified block `h-1`.

use crate::params::Params;

/// Cycle length: median of the last `W` gaps of certified timestamps, clamped to
/// `[L0/2, 2*L0]`; `L0` until `W` gaps exist. `timestamps` are oldest first, genesis included.
pub fn cycle_length(p: &Params, timestamps: &[u64]) -> u64 {
    if timestamps.len() < p.window + 1 {
        return p.l0_ms;
    }
    let tail = &timestamps[timestamps.len() - p.window - 1..];
    let mut gaps: Vec<u64> = tail.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
    gaps.sort_unstable();
    let m = gaps[gaps.len() / 2];
    m.clamp(p.l0_ms / 2, 2 * p.l0_ms)
}

/// Weighted lower median of `(timestamp, weight)`: a coalition holding less than half of the
/// weight cannot move it outside the range of the others' timestamps.
pub fn weighted_median(mut v: Vec<(u64, u64)>) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    let total: u64 = v.iter().map(|x| x.1).sum();
    let mut acc = 0;
    for (t, w) in &v {
        acc += w;
        if 2 * acc >= total {
            return *t;
        }
    }
    v[v.len() - 1].0
}

/// The certified timestamp of a block: the weighted median of its QC's precommit timestamps,
/// forced above the previous block's so that timestamps strictly increase.
pub fn certified_timestamp(prev: u64, precommits: Vec<(u64, u64)>) -> u64 {
    weighted_median(precommits).max(prev + 1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Miners draw lots; the seed is not yet revealed.
    Mining,
    /// Lots are still counted (the time throttle); the seed is revealed.
    Counting,
    /// Trustees vote.
    Voting,
}

/// One node's view of the current cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cycle {
    /// The cycle (and height being decided).
    pub height: u64,
    /// Local time at which this node received certified block `height - 1`.
    pub start: u64,
    /// Cycle length `L` in milliseconds.
    pub length: u64,
}

impl Cycle {
    fn at(&self, permille: u64) -> u64 {
        self.start + self.length * permille / 1000
    }
    /// Mining closes and the seed is published.
    pub fn mining_close(&self, p: &Params) -> u64 {
        self.at(p.phi_permille)
    }
    /// The rank-0 producer's seed and MicroBlock are due by then; past it, backups produce the
    /// MicroBlock (the seed falls back to `H(tag || chain || seed_{h-1} || h)`, rule 4).
    pub fn seed_deadline(&self, p: &Params) -> u64 {
        self.at(p.phi_permille + p.delta_permille / 2)
    }
    /// The time throttle: lots received later are not counted.
    pub fn throttle(&self, p: &Params) -> u64 {
        self.at(p.phi_permille + p.delta_permille)
    }
    /// Round-0 prevote time of a wave (1-based).
    pub fn wave_time(&self, p: &Params, wave: usize) -> u64 {
        self.throttle(p) + self.length * p.wave_gap_permille * (wave as u64 - 1) / 1000
    }
    /// Step timeout in round `r`.
    pub fn step_timeout(&self, p: &Params, round: u32) -> u64 {
        self.length * p.step_timeout_permille * (round as u64 + 1) / 1000
    }
    pub fn phase(&self, p: &Params, now: u64) -> Phase {
        if now < self.mining_close(p) {
            Phase::Mining
        } else if now < self.throttle(p) {
            Phase::Counting
        } else {
            Phase::Voting
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("event claims cycle {claimed} but this node has not reached it (at cycle {current})")]
    FutureCycle { claimed: u64, current: u64 },
    #[error("event claims cycle {claimed}, already certified (at cycle {current})")]
    PastCycle { claimed: u64, current: u64 },
    #[error("event for cycle {height} names previous block {got}, expected {expected}")]
    WrongPrevious { height: u64, got: String, expected: String },
    #[error("event arrived at {at} after the deadline {deadline} of cycle {height}")]
    Late { height: u64, at: u64, deadline: u64 },
}

/// Checks an event claimed for cycle `claimed` naming `prev` as block `claimed - 1`.
pub fn check_event(
    cycle: &Cycle,
    tip_hash: &crate::codec::Hash32,
    claimed: u64,
    prev: &crate::codec::Hash32,
) -> Result<(), EventError> {
    if claimed > cycle.height {
        return Err(EventError::FutureCycle {
            claimed,
            current: cycle.height,
        });
    }
    if claimed < cycle.height {
        return Err(EventError::PastCycle {
            claimed,
            current: cycle.height,
        });
    }
    if prev != tip_hash {
        return Err(EventError::WrongPrevious {
            height: claimed,
            got: prev.short(),
            expected: tip_hash.short(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Hash32;

    #[test]
    fn cycle_length_is_l0_until_window_then_clamped_median() {
        let p = Params::devnet();
        assert_eq!(cycle_length(&p, &[0, 100, 200]), 1000);
        let ts: Vec<u64> = (0..=11).map(|i| i * 1200).collect();
        assert_eq!(cycle_length(&p, &ts), 1200);
        let fast: Vec<u64> = (0..=11).map(|i| i * 100).collect();
        assert_eq!(cycle_length(&p, &fast), 500);
        let slow: Vec<u64> = (0..=11).map(|i| i * 9000).collect();
        assert_eq!(cycle_length(&p, &slow), 2000);
        // One huge outlier gap does not move the median.
        let mut ts: Vec<u64> = (0..=11).map(|i| i * 1000).collect();
        ts[11] += 1_000_000;
        assert_eq!(cycle_length(&p, &ts), 1000);
    }

    #[test]
    fn weighted_median_resists_minority() {
        // Honest weight 8 around t=1000, a weight-3 coalition claims t=10^9.
        let v = vec![(1000, 3), (1001, 3), (1002, 2), (1_000_000_000, 3)];
        assert_eq!(weighted_median(v), 1001);
        assert_eq!(certified_timestamp(5000, vec![(10, 1)]), 5001);
    }

    #[test]
    fn phases_and_deadlines() {
        let p = Params::devnet();
        let c = Cycle {
            height: 5,
            start: 10_000,
            length: 1000,
        };
        assert_eq!(c.mining_close(&p), 10_400);
        assert_eq!(c.seed_deadline(&p), 10_500);
        assert_eq!(c.throttle(&p), 10_600);
        assert_eq!(c.phase(&p, 10_399), Phase::Mining);
        assert_eq!(c.phase(&p, 10_400), Phase::Counting);
        assert_eq!(c.phase(&p, 10_600), Phase::Voting);
        assert_eq!(c.wave_time(&p, 3), 10_680);
    }

    #[test]
    fn events_are_checked_against_the_cycle() {
        let c = Cycle {
            height: 5,
            start: 0,
            length: 1000,
        };
        let tip = Hash32([1; 32]);
        assert!(check_event(&c, &tip, 5, &tip).is_ok());
        assert!(matches!(
            check_event(&c, &tip, 6, &tip),
            Err(EventError::FutureCycle { .. })
        ));
        assert!(matches!(
            check_event(&c, &tip, 4, &tip),
            Err(EventError::PastCycle { .. })
        ));
        assert!(matches!(
            check_event(&c, &tip, 5, &Hash32::ZERO),
            Err(EventError::WrongPrevious { .. })
        ));
    }
}
