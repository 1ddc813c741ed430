//! Rule 5: the lottery cannot be steered by whoever can withhold.
//!
//! A seed producer learns its VRF seed before it must publish it and may withhold it (a backup
//! rank's seed is used instead). If the draw used the seed directly, the producer could compute
//! the draw first and withhold when it loses. The draw therefore uses the output of a
//! sequential hash delay over the seed, whose iteration count is chosen so that nobody can
//! finish it before the seed is fixed:
//!
//! - `x_0 = H("daoli/v2/delay" || seed || T)` (a [`Canon`] preimage: u32-length-prefixed tag,
//!   the 32 seed bytes, `T` as u64 big-endian; 58 bytes),
//! - `x_{i+1} = SHA-256(x_i)` over the 32 bytes alone (no tag: one compression per step),
//! - the output is `x_T`.
//!
//! Segments: with `C` segments the boundaries are `b_i = floor(i * T / C)` for `i = 0..=C`
//! (so `b_0 = 0`, `b_C = T`, and segment `i` is steps `b_i .. b_{i+1}`, all non-empty because
//! `1 <= C <= T`). The proof publishes `x_{b_1} .. x_{b_{C-1}}` (C - 1 checkpoints) and the
//! output `x_{b_C}`. A verifier recomputes each segment from its start (`x_0` for segment 0,
//! otherwise the previous checkpoint) and compares with its end, so the segments can be
//! checked concurrently. Checking is as much work as evaluating: this buys parallelism, not a
//! shortcut.

use crate::codec::{Canon, Hash32, tag};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Largest accepted `T`: about 15 hours at 50 ns per step; bounds the work a proof can ask for.
pub const MAX_ITERATIONS: u64 = 1 << 40;
/// Largest accepted `C`: 4,095 checkpoints, 128 KiB.
pub const MAX_SEGMENTS: usize = 1 << 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DelayError {
    #[error("delay of 0 iterations")]
    ZeroIterations,
    #[error("delay of {iterations} iterations is over the limit {max}")]
    TooManyIterations { iterations: u64, max: u64 },
    #[error("delay with 0 segments")]
    ZeroSegments,
    #[error("delay with {segments} segments is over the limit {max}")]
    TooManySegments { segments: usize, max: usize },
    #[error("{segments} segments for {iterations} iterations would leave a segment empty")]
    MoreSegmentsThanIterations { segments: usize, iterations: u64 },
    #[error("delay proof is for seed {got}, expected {expected}")]
    WrongSeed { expected: Hash32, got: Hash32 },
    #[error("delay proof is for {got} iterations, expected {expected}")]
    WrongIterations { expected: u64, got: u64 },
    #[error("delay segment {segment} (iterations {from}..{to}) does not reach its published end")]
    SegmentMismatch { segment: usize, from: u64, to: u64 },
}

/// A delay output with the checkpoints that let it be verified in parallel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelayProof {
    pub seed: Hash32,
    pub iterations: u64,
    /// `x_{b_1} .. x_{b_{C-1}}`: one fewer than the segments.
    pub checkpoints: Vec<Hash32>,
    pub output: Hash32,
}

/// `x_0 = H("daoli/v2/delay" || seed || T)`. `T` is in the preimage so that a delay of one
/// length is not a prefix of another.
pub fn start(seed: &Hash32, iterations: u64) -> Hash32 {
    let mut c = Canon::new(tag::DELAY);
    c.h(seed).u64(iterations);
    c.hash()
}

/// `steps` applications of `x -> SHA-256(x)`.
pub fn iterate(x: Hash32, steps: u64) -> Hash32 {
    let mut x = x.0;
    for _ in 0..steps {
        x = Sha256::digest(x).into();
    }
    Hash32(x)
}

fn check_bounds(iterations: u64, segments: usize, max_segments: usize) -> Result<(), DelayError> {
    if iterations == 0 {
        return Err(DelayError::ZeroIterations);
    }
    if iterations > MAX_ITERATIONS {
        return Err(DelayError::TooManyIterations {
            iterations,
            max: MAX_ITERATIONS,
        });
    }
    if segments == 0 {
        return Err(DelayError::ZeroSegments);
    }
    let max = max_segments.min(MAX_SEGMENTS);
    if segments > max {
        return Err(DelayError::TooManySegments { segments, max });
    }
    if segments as u64 > iterations {
        return Err(DelayError::MoreSegmentsThanIterations { segments, iterations });
    }
    Ok(())
}

/// `b_i = floor(i * T / C)`; in u128 so the rule holds for any `i <= C` without overflow.
fn boundary(i: usize, iterations: u64, segments: usize) -> u64 {
    (i as u128 * iterations as u128 / segments as u128) as u64
}

/// A delay evaluation that can be advanced a budget of steps at a time, so that a sans-IO
/// node can interleave it with its other work instead of blocking for the whole delay.
#[derive(Debug, Clone)]
pub struct Evaluation {
    seed: Hash32,
    iterations: u64,
    segments: usize,
    done: u64,
    x: Hash32,
    checkpoints: Vec<Hash32>,
}

impl Evaluation {
    pub fn new(seed: &Hash32, iterations: u64, segments: usize) -> Result<Self, DelayError> {
        check_bounds(iterations, segments, MAX_SEGMENTS)?;
        Ok(Evaluation {
            seed: *seed,
            iterations,
            segments,
            done: 0,
            x: start(seed, iterations),
            checkpoints: Vec::with_capacity(segments - 1),
        })
    }

    /// Steps taken so far, out of `iterations`.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// Takes up to `budget` more steps; returns the proof once all `T` are done.
    pub fn advance(&mut self, mut budget: u64) -> Option<DelayProof> {
        while budget > 0 && self.done < self.iterations {
            let next = self.checkpoints.len() + 1;
            let end = boundary(next, self.iterations, self.segments);
            let steps = (end - self.done).min(budget);
            self.x = iterate(self.x, steps);
            self.done += steps;
            budget -= steps;
            if self.done == end && next < self.segments {
                self.checkpoints.push(self.x);
            }
        }
        (self.done == self.iterations).then(|| DelayProof {
            seed: self.seed,
            iterations: self.iterations,
            checkpoints: self.checkpoints.clone(),
            output: self.x,
        })
    }
}

/// Evaluates the delay of `iterations` steps over `seed` in one go, with `segments` segments.
pub fn evaluate(seed: &Hash32, iterations: u64, segments: usize) -> Result<DelayProof, DelayError> {
    let mut e = Evaluation::new(seed, iterations, segments)?;
    Ok(e.advance(iterations).expect("a budget of T steps finishes"))
}

impl DelayProof {
    /// `H("daoli/v2/delay-proof" || seed || u64 T || u32 C-1 || checkpoints || output)`: covers
    /// every byte of the proof (the header commits to it; the verified-proof cache is keyed by it).
    pub fn hash(&self) -> Hash32 {
        let mut c = Canon::new(tag::DELAY_PROOF);
        c.h(&self.seed).u64(self.iterations).u32(self.checkpoints.len() as u32);
        for x in &self.checkpoints {
            c.h(x);
        }
        c.h(&self.output);
        c.hash()
    }

    /// `C`: one more than the checkpoints.
    pub fn segments(&self) -> usize {
        self.checkpoints.len().saturating_add(1)
    }

    /// Everything but the hashing: the proof is for this seed and length, and its shape is
    /// within bounds. `max_segments` is the verifier's own limit (capped at [`MAX_SEGMENTS`]).
    fn check_shape(
        &self,
        expected_seed: &Hash32,
        expected_iterations: u64,
        max_segments: usize,
    ) -> Result<(), DelayError> {
        if self.seed != *expected_seed {
            return Err(DelayError::WrongSeed {
                expected: *expected_seed,
                got: self.seed,
            });
        }
        if self.iterations != expected_iterations {
            return Err(DelayError::WrongIterations {
                expected: expected_iterations,
                got: self.iterations,
            });
        }
        check_bounds(self.iterations, self.segments(), max_segments)
    }

    /// Segment `i`: its start, its published end, and its steps.
    fn segment(&self, x0: &Hash32, i: usize) -> (Hash32, Hash32, u64, u64) {
        let c = self.segments();
        let from = boundary(i, self.iterations, c);
        let to = boundary(i + 1, self.iterations, c);
        let start = if i == 0 { *x0 } else { self.checkpoints[i - 1] };
        let end = if i + 1 == c { self.output } else { self.checkpoints[i] };
        (start, end, from, to)
    }

    fn check_segment(&self, x0: &Hash32, i: usize) -> Result<(), DelayError> {
        let (start, end, from, to) = self.segment(x0, i);
        if iterate(start, to - from) == end {
            Ok(())
        } else {
            Err(DelayError::SegmentMismatch { segment: i, from, to })
        }
    }

    /// Recomputes every segment in order on this thread; returns the output, the draw seed.
    /// A bad proof is refused with the first segment that does not reach its published end.
    pub fn verify(
        &self,
        expected_seed: &Hash32,
        expected_iterations: u64,
        max_segments: usize,
    ) -> Result<Hash32, DelayError> {
        self.check_shape(expected_seed, expected_iterations, max_segments)?;
        let x0 = start(&self.seed, self.iterations);
        for i in 0..self.segments() {
            self.check_segment(&x0, i)?;
        }
        Ok(self.output)
    }

    /// As [`verify`](Self::verify), with the segments shared among `threads` threads (this one
    /// included; clamped to `1..=C`). The error is the same as the sequential one: workers take
    /// segments in increasing order and skip only those above a segment already found bad, so
    /// the lowest bad segment is always checked. A thread that cannot be spawned is not an
    /// error: the others take its share.
    pub fn verify_parallel(
        &self,
        expected_seed: &Hash32,
        expected_iterations: u64,
        max_segments: usize,
        threads: usize,
    ) -> Result<Hash32, DelayError> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        self.check_shape(expected_seed, expected_iterations, max_segments)?;
        let x0 = start(&self.seed, self.iterations);
        let c = self.segments();
        let next = AtomicUsize::new(0);
        let first_bad = AtomicUsize::new(usize::MAX);
        let work = || {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= c || i > first_bad.load(Ordering::Relaxed) {
                    break;
                }
                if self.check_segment(&x0, i).is_err() {
                    first_bad.fetch_min(i, Ordering::Relaxed);
                }
            }
        };
        std::thread::scope(|s| {
            for _ in 1..threads.clamp(1, c) {
                // Spawn failure leaves the work to the threads that exist.
                let _ = std::thread::Builder::new().spawn_scoped(s, work);
            }
            work();
        });
        match first_bad.into_inner() {
            usize::MAX => Ok(self.output),
            i => Err(self.check_segment(&x0, i).expect_err("segment found bad")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::sha256;

    const SEED: Hash32 = Hash32([7; 32]);

    #[test]
    fn hand_computed_vector() {
        // T = 4, C = 2: x_0 from the 58-byte preimage, then four plain SHA-256 steps.
        let mut pre = vec![0, 0, 0, 14];
        pre.extend_from_slice(b"daoli/v2/delay");
        pre.extend_from_slice(&[7; 32]);
        pre.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 4]);
        assert_eq!(pre.len(), 58);
        let x0 = sha256(&pre);
        let x1 = sha256(&x0.0);
        let x2 = sha256(&x1.0);
        let x3 = sha256(&x2.0);
        let x4 = sha256(&x3.0);
        assert_eq!(start(&SEED, 4), x0);
        let p = evaluate(&SEED, 4, 2).unwrap();
        assert_eq!(
            p,
            DelayProof {
                seed: SEED,
                iterations: 4,
                checkpoints: vec![x2],
                output: x4
            }
        );
        assert_eq!(p.verify(&SEED, 4, 2), Ok(x4));
        // Pinned (and computed independently with Python's hashlib) so that another
        // implementation can check itself against this one.
        assert_eq!(
            x2.to_string(),
            "c39186ce824625ecfeaaea2d6c2568d05030d9c6aaf53c94a8dda2183956807f"
        );
        assert_eq!(
            x4.to_string(),
            "bb4b19aaa076fa8d9b91a806eb67420d1d4359635203c6762a8e3f8cb7176773"
        );
    }

    #[test]
    fn uneven_segments_follow_the_floor_rule() {
        // T = 10, C = 4: boundaries 0, 2, 5, 7, 10.
        let p = evaluate(&SEED, 10, 4).unwrap();
        let x0 = start(&SEED, 10);
        let want: Vec<_> = [2, 5, 7].iter().map(|b| iterate(x0, *b)).collect();
        assert_eq!(p.checkpoints, want);
        assert_eq!(p.output, iterate(x0, 10));
        assert_eq!(p.verify(&SEED, 10, 4), Ok(p.output));
        // One segment: no checkpoints; C = T: every step is a checkpoint.
        assert!(evaluate(&SEED, 10, 1).unwrap().checkpoints.is_empty());
        let all = evaluate(&SEED, 10, 10).unwrap();
        assert_eq!(all.checkpoints, (1..10).map(|b| iterate(x0, b)).collect::<Vec<_>>());
        assert_eq!(all.output, p.output);
    }

    #[test]
    fn round_trip_and_parallel_agrees() {
        for (t, c) in [(1000, 16), (1001, 7), (64, 64), (5, 1)] {
            let p = evaluate(&SEED, t, c).unwrap();
            assert_eq!(p.segments(), c);
            assert_eq!(p.verify(&SEED, t, 64), Ok(p.output));
            for threads in [0, 1, 2, 3, 100] {
                assert_eq!(p.verify_parallel(&SEED, t, 64, threads), Ok(p.output));
            }
        }
        // The output depends on the seed and on T.
        let p = evaluate(&SEED, 1000, 16).unwrap();
        assert_ne!(p.output, evaluate(&Hash32([8; 32]), 1000, 16).unwrap().output);
        assert_ne!(p.output, evaluate(&SEED, 1001, 16).unwrap().output);
        // The number of segments does not change the output.
        assert_eq!(p.output, evaluate(&SEED, 1000, 1).unwrap().output);
    }

    #[test]
    fn stepwise_evaluation_matches_one_go() {
        let whole = evaluate(&SEED, 1000, 16).unwrap();
        for budget in [1, 7, 62, 63, 999, 5000] {
            let mut e = Evaluation::new(&SEED, 1000, 16).unwrap();
            let mut calls = 0;
            let p = loop {
                calls += 1;
                if let Some(p) = e.advance(budget) {
                    break p;
                }
                assert!(e.done() < 1000);
            };
            assert_eq!(p, whole);
            assert_eq!(calls, 1000u64.div_ceil(budget));
            assert_eq!(e.advance(10), Some(whole.clone()), "finished stays finished");
        }
    }

    #[test]
    fn every_flipped_bit_is_refused_naming_its_segment() {
        let (t, c) = (300u64, 6usize);
        let p = evaluate(&SEED, t, c).unwrap();
        let bounds = |i: usize| (boundary(i, t, c), boundary(i + 1, t, c));
        for segment in 0..c {
            for bit in [0, 9, 255] {
                let mut bad = p.clone();
                let h = if segment + 1 == c {
                    &mut bad.output
                } else {
                    &mut bad.checkpoints[segment]
                };
                h.0[bit / 8] ^= 1 << (bit % 8);
                let (from, to) = bounds(segment);
                let want = Err(DelayError::SegmentMismatch { segment, from, to });
                assert_eq!(bad.verify(&SEED, t, c), want);
                assert_eq!(bad.verify_parallel(&SEED, t, c, 2), want);
                assert_eq!(bad.verify_parallel(&SEED, t, c, 6), want);
            }
        }
    }

    #[test]
    fn wrong_seed_or_length_is_refused() {
        let p = evaluate(&SEED, 100, 4).unwrap();
        let other = Hash32([8; 32]);
        assert_eq!(
            p.verify(&other, 100, 4),
            Err(DelayError::WrongSeed {
                expected: other,
                got: SEED
            })
        );
        assert_eq!(
            p.verify_parallel(&SEED, 99, 4, 2),
            Err(DelayError::WrongIterations { expected: 99, got: 100 })
        );
        // A proof relabelled with another seed or length fails in its first segment (x_0 differs).
        let mut relabelled = p.clone();
        relabelled.seed = other;
        assert_eq!(
            relabelled.verify(&other, 100, 4),
            Err(DelayError::SegmentMismatch {
                segment: 0,
                from: 0,
                to: 25
            })
        );
        let mut relabelled = p.clone();
        relabelled.iterations = 101;
        assert!(matches!(
            relabelled.verify(&SEED, 101, 4),
            Err(DelayError::SegmentMismatch { segment: 0, .. })
        ));
    }

    #[test]
    fn bounds_are_refused() {
        assert_eq!(evaluate(&SEED, 0, 1), Err(DelayError::ZeroIterations));
        assert_eq!(
            evaluate(&SEED, MAX_ITERATIONS + 1, 1),
            Err(DelayError::TooManyIterations {
                iterations: MAX_ITERATIONS + 1,
                max: MAX_ITERATIONS
            })
        );
        assert_eq!(evaluate(&SEED, 10, 0), Err(DelayError::ZeroSegments));
        assert_eq!(
            evaluate(&SEED, 1 << 20, MAX_SEGMENTS + 1),
            Err(DelayError::TooManySegments {
                segments: MAX_SEGMENTS + 1,
                max: MAX_SEGMENTS
            })
        );
        assert_eq!(
            evaluate(&SEED, 3, 4),
            Err(DelayError::MoreSegmentsThanIterations {
                segments: 4,
                iterations: 3
            })
        );

        let p = evaluate(&SEED, 100, 10).unwrap();
        // The verifier's own limit on segments.
        assert_eq!(
            p.verify(&SEED, 100, 8),
            Err(DelayError::TooManySegments { segments: 10, max: 8 })
        );
        // A hostile proof: more checkpoints than steps, or a huge claimed length.
        let mut many = p.clone();
        many.checkpoints = vec![Hash32::ZERO; 200];
        assert_eq!(
            many.verify_parallel(&SEED, 100, MAX_SEGMENTS, 2),
            Err(DelayError::MoreSegmentsThanIterations {
                segments: 201,
                iterations: 100
            })
        );
        let mut huge = p.clone();
        huge.iterations = u64::MAX;
        assert!(matches!(
            huge.verify(&SEED, u64::MAX, 10),
            Err(DelayError::TooManyIterations { .. })
        ));
        let mut zero = p.clone();
        zero.iterations = 0;
        assert_eq!(zero.verify(&SEED, 0, 10), Err(DelayError::ZeroIterations));
    }

    #[test]
    fn proof_round_trips_through_json() {
        let p = evaluate(&SEED, 50, 3).unwrap();
        let s = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<DelayProof>(&s).unwrap(), p);
    }
}
