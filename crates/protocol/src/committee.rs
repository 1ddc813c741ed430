//! Rule 2: the committee size that the threat model asks for.
//!
//! The trustees of a height are the sponsors of the last `n` leaders, and each leader is the
//! luckiest lot of its height, so an adversary producing a fraction `p` of the lots wins each
//! seat independently with probability `p`: its seat count is `X ~ Binomial(n, p)`. I-BFT
//! assumes at most `f = floor((n-1)/3)` faulty seats, so the quantity that sizes the committee
//! is the upper tail `P[X > f]`.
//!
//! That tail is not monotone in `n`: `f` steps up only every third seat, and between two steps
//! adding a seat adds a chance for the adversary without raising the bar. `P[X > f]` always
//! rises over `n = 3f+1, 3f+2, 3f+3` (more trials, same bar) and, for the `p` of interest,
//! drops at `3f+4`. [`min_committee`] therefore asks for the smallest `n` from which *every*
//! larger size (up to a bound) meets the target; that `n` is always of the form `3f+1`.

use serde::{Deserialize, Serialize};

/// Largest committee the functions here evaluate: the cost is linear in `n` per size.
pub const MAX_SEATS: u64 = 10_000;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommitteeError {
    #[error("probability {0} is not in [0, 1]")]
    BadProbability(f64),
    #[error("target {0} is not in (0, 1]")]
    BadTarget(f64),
    #[error("a committee needs at least one seat")]
    NoSeats,
    #[error("committee of {n} seats is over the limit {max}")]
    TooManySeats { n: u64, max: u64 },
}

/// `f = floor((n-1)/3)`, the faulty seats I-BFT tolerates (`n >= 1`).
pub fn faults_tolerated(n: u64) -> u64 {
    n.saturating_sub(1) / 3
}

fn check_p(p: f64) -> Result<(), CommitteeError> {
    // The negated form also refuses NaN.
    if !(0.0..=1.0).contains(&p) {
        return Err(CommitteeError::BadProbability(p));
    }
    Ok(())
}

fn check_n(n: u64) -> Result<(), CommitteeError> {
    match n {
        0 => Err(CommitteeError::NoSeats),
        n if n > MAX_SEATS => Err(CommitteeError::TooManySeats { n, max: MAX_SEATS }),
        _ => Ok(()),
    }
}

/// `ln k!` for `k = 0..=max`. Neumaier-compensated so that `ln C(n, k)`, a difference of
/// three values near `n ln n`, keeps about 11 significant digits at `n = 10,000`.
fn ln_factorials(max: u64) -> Vec<f64> {
    let mut out = Vec::with_capacity(max as usize + 1);
    let (mut sum, mut comp) = (0.0f64, 0.0f64);
    out.push(0.0);
    for i in 1..=max {
        let x = (i as f64).ln();
        let t = sum + x;
        comp += if sum.abs() >= x.abs() {
            (sum - t) + x
        } else {
            (x - t) + sum
        };
        sum = t;
        out.push(sum + comp);
    }
    out
}

/// `P[X >= k]` for `X ~ Binomial(n, p)`, given `ln j!` up to `n`; `0 < p < 1`, `k <= n`.
///
/// The terms are summed in log space with a running log-sum-exp, so tails far below the
/// smallest normal `f64` relative to 1 (down to ~1e-300) keep full relative precision. Past the
/// mode the terms shrink at least geometrically with ratio `r`; once the rest (at most
/// `term * r / (1 - r)`) cannot move the sum by one part in 2^60, the loop stops.
fn upper_tail(n: u64, p: f64, k: u64, lf: &[f64]) -> f64 {
    let (lp, lq) = (p.ln(), (-p).ln_1p());
    let odds = p / (1.0 - p);
    let nf = lf[n as usize];
    let (mut max, mut sum) = (f64::NEG_INFINITY, 0.0f64);
    for j in k..=n {
        let t = nf - lf[j as usize] - lf[(n - j) as usize] + j as f64 * lp + (n - j) as f64 * lq;
        if t > max {
            sum = sum * (max - t).exp() + 1.0;
            max = t;
        } else {
            sum += (t - max).exp();
        }
        // Ratio of the next term to this one; once below 1 it only falls.
        let r = (n - j) as f64 / (j + 1) as f64 * odds;
        if r < 1.0 && (t - max).exp() * r / (1.0 - r) < sum * f64::powi(2.0, -60) {
            break;
        }
    }
    (max + sum.ln()).exp().min(1.0)
}

/// `P[X >= k]` for `X ~ Binomial(n, p)`: the chance that the adversary holds at least `k` of
/// `n` seats. `p = 0` gives 0 (for `k >= 1`), `p = 1` gives 1 (for `k <= n`).
pub fn at_least_probability(n: u64, p: f64, k: u64) -> Result<f64, CommitteeError> {
    check_p(p)?;
    check_n(n)?;
    Ok(match k {
        0 => 1.0,
        k if k > n => 0.0,
        _ if p == 0.0 => 0.0,
        _ if p == 1.0 => 1.0,
        k => upper_tail(n, p, k, &ln_factorials(n)),
    })
}

/// `P[X > f(n)]`, `X ~ Binomial(n, p)`: the chance that an adversary producing a fraction `p`
/// of the lots holds more than `f = floor((n-1)/3)` of the `n` seats, i.e. more than I-BFT
/// tolerates. Exact up to floating-point rounding (within 1e-10 relative of exact big-integer
/// values up to `n = 10,000`), including tails far below 1e-30. `p = 0` gives 0 and `p = 1`
/// gives 1; `p` outside `[0, 1]` or NaN, `n = 0` and `n > MAX_SEATS` are errors.
pub fn over_f_probability(n: u64, p: f64) -> Result<f64, CommitteeError> {
    at_least_probability(n, p, faults_tolerated(n) + 1)
}

/// The smallest `n` such that `over_f_probability(n', p) <= target` for every `n'` in
/// `n ..= max_n`; `Ok(None)` if even `max_n` misses the target (always the case for
/// `p >= 1/3`, where the tail tends to 1).
///
/// Every size from `n` up is checked, not just `n`, because the tail is not monotone in `n`
/// (see the module docs): a size of the form `3f+3` can miss a target that `3f+1` meets. It
/// follows that the answer is always of the form `3f+1`. Sizes above `max_n` are not checked;
/// the tail does fall towards 0 for `p < 1/3`, but only on average over the steps of `f`.
pub fn min_committee(p: f64, target: f64, max_n: u64) -> Result<Option<u64>, CommitteeError> {
    check_p(p)?;
    check_n(max_n)?;
    if !(target > 0.0 && target <= 1.0) {
        return Err(CommitteeError::BadTarget(target));
    }
    let lf = ln_factorials(max_n);
    let tail = |n: u64| {
        if p == 0.0 {
            0.0
        } else if p == 1.0 {
            1.0
        } else {
            upper_tail(n, p, faults_tolerated(n) + 1, &lf)
        }
    };
    // Downwards from max_n: the answer is one above the largest size that misses the target.
    let mut n = max_n;
    while n >= 1 && tail(n) <= target {
        n -= 1;
    }
    Ok(if n == max_n { None } else { Some(n + 1) })
}

/// One row of [`table`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CommitteeRow {
    /// The adversary's fraction of the lots.
    pub p: f64,
    /// The accepted chance that it holds more than `f` seats.
    pub target: f64,
    /// `min_committee(p, target, MAX_SEATS)`.
    pub seats: Option<u64>,
    /// `over_f_probability(seats, p)`.
    pub tail: Option<f64>,
}

/// The committee sizes for `p` in {5%, 10%, 15%, 20%, 25%} and a tail target of 1e-6 and 1e-9,
/// every size up to [`MAX_SEATS`] checked.
pub fn table() -> Vec<CommitteeRow> {
    let mut rows = Vec::new();
    for p in [0.05, 0.10, 0.15, 0.20, 0.25] {
        for target in [1e-6, 1e-9] {
            let seats = min_committee(p, target, MAX_SEATS).expect("constant inputs are valid");
            let tail = seats.map(|n| over_f_probability(n, p).expect("valid n"));
            rows.push(CommitteeRow { p, target, seats, tail });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binom(n: u64, k: u64) -> u128 {
        (0..k).fold(1u128, |c, i| c * (n - i) as u128 / (i + 1) as u128)
    }

    /// `P[X >= k]` for `p = a/b`, exactly as a ratio of integers: `sum C(n,j) a^j (b-a)^(n-j) / b^n`.
    fn exact(n: u64, a: u128, b: u128, k: u64) -> f64 {
        let num: u128 = (k..=n)
            .map(|j| binom(n, j) * a.pow(j as u32) * (b - a).pow((n - j) as u32))
            .sum();
        num as f64 / b.pow(n as u32) as f64
    }

    fn close(got: f64, want: f64, rel: f64) -> bool {
        (got - want).abs() <= rel * want.abs()
    }

    #[test]
    fn devnet_eleven_seats_at_ten_percent() {
        // n = 11, f = 3. Sum over k > 3 of C(11,k) 9^(11-k) / 10^11, in integers.
        let num: u128 = (4..=11u64).map(|k| binom(11, k) * 9u128.pow(11 - k as u32)).sum();
        let want = num as f64 / 1e11;
        let got = over_f_probability(11, 0.1).unwrap();
        assert!(close(got, want, 1e-12), "{got} vs {want}");
        // More than f (4 or more seats): about 1.85%. Five or more (the seats that break
        // quorum intersection at n = 11, q = 8): about 0.275%, the review's "0.3%".
        assert!((0.01853..0.01854).contains(&got), "{got}");
        let five = at_least_probability(11, 0.1, 5).unwrap();
        assert!(close(five, exact(11, 1, 10, 5), 1e-12));
        assert!((0.002750..0.002752).contains(&five), "{five}");
    }

    #[test]
    fn matches_exact_integer_arithmetic() {
        // b^n must fit in u128: 10^38 and 4^38 do.
        for n in 1..=38 {
            let k = faults_tolerated(n) + 1;
            for (a, b) in [(1u128, 10u128), (1, 4), (1, 5), (3, 10)] {
                let got = over_f_probability(n, a as f64 / b as f64).unwrap();
                let want = exact(n, a, b, k);
                assert!(close(got, want, 1e-12), "n {n} p {a}/{b}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn tiny_tails_keep_relative_precision() {
        // Against a plain product-form sum (no logs), valid while nothing underflows.
        let (n, p) = (40u64, 1e-3f64);
        let k = faults_tolerated(n) + 1;
        let mut term = (0..k).fold(1.0f64, |c, i| c * (n - i) as f64 / (i + 1) as f64)
            * p.powi(k as i32)
            * (1.0 - p).powi((n - k) as i32);
        let mut want = 0.0;
        for j in k..=n {
            want += term;
            term *= (n - j) as f64 / (j + 1) as f64 * p / (1.0 - p);
        }
        let got = over_f_probability(n, p).unwrap();
        assert!(want < 1e-28 && close(got, want, 1e-11), "{got} vs {want}");
        // Far below 1e-30, against exact big-integer values (Python's `fractions`, n = 400 and
        // 1,000 at p = 1/20).
        assert!(close(
            over_f_probability(400, 0.05).unwrap(),
            1.5240991573549984e-71,
            1e-10
        ));
        assert!(close(
            over_f_probability(1000, 0.05).unwrap(),
            5.368988935183481e-175,
            1e-10
        ));
    }

    #[test]
    fn edges_and_bad_input() {
        assert_eq!(over_f_probability(11, 0.0), Ok(0.0));
        assert_eq!(over_f_probability(11, 1.0), Ok(1.0));
        // n = 1..3 tolerate no fault: the tail is 1 - (1-p)^n.
        assert!(close(over_f_probability(3, 0.3).unwrap(), 1.0 - 0.7f64.powi(3), 1e-14));
        for bad in [f64::NAN, -0.1, 1.1, f64::INFINITY] {
            assert!(matches!(
                over_f_probability(11, bad),
                Err(CommitteeError::BadProbability(_))
            ));
            assert!(matches!(
                min_committee(bad, 1e-6, 100),
                Err(CommitteeError::BadProbability(_))
            ));
        }
        assert_eq!(over_f_probability(0, 0.1), Err(CommitteeError::NoSeats));
        assert_eq!(
            over_f_probability(MAX_SEATS + 1, 0.1),
            Err(CommitteeError::TooManySeats {
                n: MAX_SEATS + 1,
                max: MAX_SEATS
            })
        );
        for bad in [0.0, -1.0, 1.5, f64::NAN] {
            assert!(matches!(
                min_committee(0.1, bad, 100),
                Err(CommitteeError::BadTarget(_))
            ));
        }
        assert_eq!(at_least_probability(11, 0.1, 0), Ok(1.0));
        assert_eq!(at_least_probability(11, 0.1, 12), Ok(0.0));
        // Near 1 the upper tail is summed directly, so no cancellation: P[X >= 1] = 1 - 0.9^11.
        assert!(close(
            at_least_probability(11, 0.1, 1).unwrap(),
            1.0 - 0.9f64.powi(11),
            1e-14
        ));
    }

    #[test]
    fn tail_rises_within_a_step_of_f_and_falls_across_it() {
        for p in [0.05, 0.1, 0.2, 0.25] {
            for f in 1..200u64 {
                let t = |n| over_f_probability(n, p).unwrap();
                assert!(
                    t(3 * f + 1) < t(3 * f + 2) && t(3 * f + 2) < t(3 * f + 3),
                    "p {p} f {f}"
                );
                assert!(t(3 * f + 4) < t(3 * f + 3), "p {p} f {f}");
            }
            // More adversarial power, worse odds, at every size.
            assert!(over_f_probability(100, p).unwrap() < over_f_probability(100, p + 0.01).unwrap());
        }
    }

    #[test]
    fn min_committee_checks_every_larger_size() {
        let n = min_committee(0.2, 1e-9, MAX_SEATS).unwrap().unwrap();
        assert_eq!(n, 373);
        assert_eq!(n % 3, 1);
        assert!(over_f_probability(n, 0.2).unwrap() <= 1e-9);
        assert!(over_f_probability(n - 1, 0.2).unwrap() > 1e-9);
        assert!((n..n + 300).all(|m| over_f_probability(m, 0.2).unwrap() <= 1e-9));
        // A third of the lots or more: no size is enough.
        assert_eq!(min_committee(0.34, 1e-6, 2_000), Ok(None));
        // Every size meets a target of 1 and p = 0 meets any target.
        assert_eq!(min_committee(0.2, 1.0, 50), Ok(Some(1)));
        assert_eq!(min_committee(0.0, 1e-9, 50), Ok(Some(1)));
        // At p = 10% and a 2% target, 10 and 11 seats pass but 12 (f still 3) does not: 13.
        assert!(over_f_probability(11, 0.1).unwrap() < 0.02 && over_f_probability(12, 0.1).unwrap() > 0.02);
        assert_eq!(min_committee(0.1, 0.02, 100), Ok(Some(13)));
    }

    #[test]
    fn table_has_every_row() {
        let t = table();
        // Checked against exact big-integer arithmetic (Python's `fractions`, every size from
        // 1,600 down), which also agrees with each tail to 1e-13.
        let seats: Vec<_> = t.iter().map(|r| r.seats.unwrap()).collect();
        assert_eq!(seats, [31, 46, 58, 91, 112, 175, 238, 373, 661, 1045]);
        assert!(close(t[7].tail.unwrap(), 6.840273357134136e-10, 1e-11));
        for r in &t {
            let n = r.seats.expect("p < 1/3 has an answer");
            assert!(r.tail.unwrap() <= r.target && n % 3 == 1, "{r:?}");
        }
        // Tighter targets and stronger adversaries need larger committees.
        for w in t.chunks(2) {
            assert!(w[0].seats < w[1].seats);
        }
        for i in 0..8 {
            assert!(t[i].seats < t[i + 2].seats);
        }
    }
}
