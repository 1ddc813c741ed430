//! The publicly verifiable lottery: rounds, tickets, ticket root, and the draw.

use crate::codec::{Canon, Hash32, tag};
use crate::crypto::PublicKey;
use crate::merkle;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub owner: PublicKey,
    pub tx_hash: Hash32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    pub id: u64,
    pub open_height: u64,
    pub close_height: u64,
    pub price: u64,
    pub winners: u32,
    pub tickets: Vec<Ticket>,
    /// Set when `close_height` is executed.
    pub ticket_root: Option<Hash32>,
    /// Winning ticket indices, set at `close_height + D + E` (rule 5).
    pub drawn: Option<Vec<u64>>,
    /// The seed the draw used.
    pub draw_seed: Option<Hash32>,
}

impl Round {
    pub fn is_open_at(&self, h: u64) -> bool {
        self.open_height <= h && h <= self.close_height
    }
    pub fn pot(&self) -> u64 {
        self.price.saturating_mul(self.tickets.len() as u64)
    }
    pub fn ticket_leaf(&self, i: usize) -> Hash32 {
        let t = &self.tickets[i];
        let mut c = Canon::new(tag::TICKET);
        c.u64(self.id).u64(i as u64).fixed(&t.owner.0).h(&t.tx_hash);
        c.hash()
    }
    pub fn compute_ticket_root(&self) -> Hash32 {
        merkle::root(&(0..self.tickets.len()).map(|i| self.ticket_leaf(i)).collect::<Vec<_>>())
    }
    /// Commitment to the whole round for the state root.
    pub fn state_hash(&self) -> Hash32 {
        let mut c = Canon::new(tag::ROUND);
        c.u64(self.id)
            .u64(self.open_height)
            .u64(self.close_height)
            .u64(self.price)
            .u32(self.winners)
            .h(&self.compute_ticket_root())
            .h(&self.draw_seed.unwrap_or(Hash32::ZERO));
        match &self.drawn {
            None => {
                c.u8(0);
            }
            Some(w) => {
                c.u8(1).u32(w.len() as u32);
                for i in w {
                    c.u64(*i);
                }
            }
        }
        c.hash()
    }
}

/// Winner `j` = ticket index from `H("daoli/v2/draw" || seed || id || j || k)`, k counting
/// up until the value is below the largest multiple of `n` (no modulo bias), skipping
/// tickets already drawn (without replacement).
pub fn draw(seed: &Hash32, round_id: u64, n: u64, winners: u32) -> Vec<u64> {
    if n == 0 {
        return Vec::new();
    }
    let count = (winners as u64).min(n);
    // A value in [0, 2^64) is accepted when below the largest multiple of n.
    let limit: u128 = (1u128 << 64) - (1u128 << 64) % n as u128;
    let mut out = Vec::with_capacity(count as usize);
    let mut chosen = std::collections::BTreeSet::new();
    for j in 0..count {
        let mut k: u64 = 0;
        loop {
            let mut c = Canon::new(tag::DRAW);
            c.h(seed).u64(round_id).u64(j).u64(k);
            let v = c.hash().prefix_u64();
            k += 1;
            if v as u128 >= limit {
                continue;
            }
            let idx = v % n;
            if chosen.insert(idx) {
                out.push(idx);
                break;
            }
        }
    }
    out
}

/// What a draw pays: the pot split evenly, the remainder to the first winner.
pub fn payouts(round: &Round, winners: &[u64]) -> Vec<(PublicKey, u64)> {
    if winners.is_empty() {
        return Vec::new();
    }
    let pot = round.pot();
    let each = pot / winners.len() as u64;
    let rem = pot - each * winners.len() as u64;
    winners
        .iter()
        .enumerate()
        .map(|(j, i)| (round.tickets[*i as usize].owner, each + if j == 0 { rem } else { 0 }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn draw_is_deterministic_and_seed_dependent() {
        let s = Hash32([3; 32]);
        let w = draw(&s, 1, 1000, 5);
        assert_eq!(w, draw(&s, 1, 1000, 5));
        assert_ne!(w, draw(&Hash32([4; 32]), 1, 1000, 5));
        assert_ne!(w, draw(&s, 2, 1000, 5));
        assert_eq!(draw(&s, 1, 0, 5), Vec::<u64>::new());
        let mut all = draw(&s, 1, 3, 10);
        all.sort();
        assert_eq!(all, vec![0, 1, 2]);
    }

    #[test]
    fn draw_is_roughly_uniform() {
        let mut counts = [0u32; 7];
        for i in 0..7000u64 {
            let mut b = [0u8; 32];
            b[..8].copy_from_slice(&i.to_be_bytes());
            counts[draw(&Hash32(b), 9, 7, 1)[0] as usize] += 1;
        }
        for c in counts {
            assert!((800..1200).contains(&c), "{counts:?}");
        }
    }

    proptest! {
        #[test]
        fn winners_are_distinct_and_in_range(seed in any::<[u8; 32]>(), n in 1u64..500, w in 1u32..20) {
            let out = draw(&Hash32(seed), 1, n, w);
            prop_assert_eq!(out.len() as u64, (w as u64).min(n));
            let set: std::collections::BTreeSet<_> = out.iter().collect();
            prop_assert_eq!(set.len(), out.len());
            prop_assert!(out.iter().all(|i| *i < n));
        }
    }
}
