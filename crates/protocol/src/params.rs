//! Genesis parameters, validated on load.

use crate::codec::Hash32;
use crate::crypto::PublicKey;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("parameter {name} = {value} is out of range: {why}")]
    OutOfRange {
        name: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("genesis: {0}")]
    Genesis(String),
    #[error("genesis file is not valid JSON: {0}")]
    Json(String),
}

fn range(name: &'static str, value: impl ToString, ok: bool, why: &'static str) -> Result<(), ParamsError> {
    if ok {
        Ok(())
    } else {
        Err(ParamsError::OutOfRange {
            name,
            value: value.to_string(),
            why,
        })
    }
}

/// Protocol parameters. Fractions of a cycle are in permille so that all math is integer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// Target cycle length `L0` in milliseconds.
    pub l0_ms: u64,
    /// Clock window `W` (gaps between certified timestamps used for the median).
    pub window: usize,
    /// `PHI`: mining closes at `PHI * L`.
    pub phi_permille: u64,
    /// `DELTA`: lots are counted until `(PHI + DELTA) * L`.
    pub delta_permille: u64,
    /// Trustee seats `n`.
    pub seats: usize,
    /// Round-0 wave sizes in lineup order; they sum to `n`.
    pub waves: Vec<usize>,
    /// Gap between two waves, permille of `L`.
    pub wave_gap_permille: u64,
    /// Base step timeout of round 0, permille of `L`; round r waits `(r+1)` times as long.
    pub step_timeout_permille: u64,
    /// `M` backups.
    pub backups: usize,
    /// `P` payroll slots.
    pub payroll: usize,
    /// Eased proof-of-work: a lot hash needs this many leading zero bits.
    pub pow_bits: u32,
    /// `D`: the lottery draws with the seed of block `close + D`.
    pub draw_delay: u64,
    /// Newly minted coins per certified block.
    pub coinbase: u64,
    /// Permille of the coinbase paid to QC signers by wave weight.
    pub signer_share_permille: u64,
    /// Wage per payroll slot whose batch is included in a block (minted from the coinbase).
    pub wage: u64,
    /// Permille of a winner's share that goes to the sponsor (the rest to the miner).
    pub sponsor_share_permille: u64,
    /// Heights an equivocating sponsor is barred from the lineup.
    pub equivocation_bar: u64,
    /// Largest canonical transaction.
    pub max_tx_bytes: usize,
    /// Largest batch (sum of transaction sizes).
    pub max_batch_bytes: usize,
    /// A buffer accepts nonces in `[account nonce, account nonce + window)`.
    pub nonce_window: u64,
    /// A batch may be included up to this many cycles after the cycle it was sealed for.
    pub batch_expiry: u64,
}

impl Params {
    /// The public-network defaults of PROTOCOL.md.
    pub fn default_net() -> Self {
        Params {
            l0_ms: 10_000,
            window: 11,
            phi_permille: 400,
            delta_permille: 200,
            seats: 11,
            waves: vec![5, 3, 3],
            wave_gap_permille: 40,
            step_timeout_permille: 150,
            backups: 2,
            payroll: 16,
            pow_bits: 22,
            draw_delay: 2,
            coinbase: 1_000_000,
            signer_share_permille: 200,
            wage: 10_000,
            sponsor_share_permille: 500,
            equivocation_bar: 100,
            max_tx_bytes: 4096,
            max_batch_bytes: 4 << 20,
            nonce_window: 64,
            batch_expiry: 4,
        }
    }

    /// Devnet: 1 s cycles and about 2^12 hashes per lot.
    pub fn devnet() -> Self {
        Params {
            l0_ms: 1_000,
            pow_bits: 12,
            ..Self::default_net()
        }
    }

    /// `f = floor((n-1)/3)`.
    pub fn f(&self) -> u64 {
        (self.seats as u64 - 1) / 3
    }
    /// Quorum `q = n - f`.
    pub fn quorum(&self) -> u64 {
        self.seats as u64 - self.f()
    }
    /// Length of a KeyBlockTree: leader, backups, payroll.
    pub fn lineup_len(&self) -> usize {
        1 + self.backups + self.payroll
    }

    pub fn validate(&self) -> Result<(), ParamsError> {
        range(
            "l0_ms",
            self.l0_ms,
            (10..=3_600_000).contains(&self.l0_ms),
            "10 ms ..= 1 h",
        )?;
        range("window", self.window, (1..=101).contains(&self.window), "1 ..= 101")?;
        range(
            "phi_permille",
            self.phi_permille,
            self.phi_permille >= 50,
            "mining needs at least 5% of a cycle",
        )?;
        range(
            "delta_permille",
            self.delta_permille,
            self.delta_permille >= 20 && self.phi_permille + self.delta_permille <= 800,
            "DELTA >= 2% and PHI + DELTA <= 80% (voting needs the rest)",
        )?;
        range(
            "seats",
            self.seats,
            (4..=1000).contains(&self.seats),
            "4 ..= 1000 (f >= 1)",
        )?;
        range(
            "waves",
            format!("{:?}", self.waves),
            !self.waves.is_empty()
                && self.waves.iter().all(|w| *w > 0)
                && self.waves.iter().sum::<usize>() == self.seats,
            "non-empty, positive, summing to seats",
        )?;
        range(
            "wave_gap_permille",
            self.wave_gap_permille,
            self.wave_gap_permille * (self.waves.len() as u64) < 1000 - self.phi_permille - self.delta_permille,
            "all waves must fit in the voting phase",
        )?;
        range(
            "step_timeout_permille",
            self.step_timeout_permille,
            (10..=2000).contains(&self.step_timeout_permille),
            "10 ..= 2000",
        )?;
        range(
            "payroll",
            self.payroll,
            (1..=1024).contains(&self.payroll),
            "1 ..= 1024",
        )?;
        range("backups", self.backups, self.backups <= 16, "0 ..= 16")?;
        range(
            "pow_bits",
            self.pow_bits,
            self.pow_bits <= 40,
            "0 ..= 40 (the PoW is eased on purpose)",
        )?;
        range(
            "draw_delay",
            self.draw_delay,
            self.draw_delay >= 1,
            "the draw seed must be unknown at close",
        )?;
        range(
            "signer_share_permille",
            self.signer_share_permille,
            self.signer_share_permille <= 1000,
            "<= 1000",
        )?;
        range(
            "sponsor_share_permille",
            self.sponsor_share_permille,
            self.sponsor_share_permille <= 1000,
            "<= 1000",
        )?;
        range(
            "wage",
            self.wage,
            (self.payroll as u64).saturating_mul(self.wage)
                <= self.coinbase - self.coinbase * self.signer_share_permille / 1000,
            "the payroll's wages must fit in the coinbase",
        )?;
        range(
            "max_tx_bytes",
            self.max_tx_bytes,
            (256..=65536).contains(&self.max_tx_bytes),
            "256 ..= 65536",
        )?;
        range(
            "max_batch_bytes",
            self.max_batch_bytes,
            self.max_batch_bytes >= self.max_tx_bytes,
            ">= max_tx_bytes",
        )?;
        range("nonce_window", self.nonce_window, self.nonce_window >= 1, ">= 1")?;
        range(
            "batch_expiry",
            self.batch_expiry,
            (1..=64).contains(&self.batch_expiry),
            "1 ..= 64",
        )?;
        Ok(())
    }
}

/// A founding datacenter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Founder {
    pub node_pk: PublicKey,
    pub endpoint: String,
}

/// A lottery round scheduled by genesis or by the periodic system entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundSpec {
    pub open_height: u64,
    pub close_height: u64,
    pub price: u64,
    pub winners: u32,
}

/// Rounds opened by a system entry every `every` heights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodicLottery {
    pub every: u64,
    pub length: u64,
    pub price: u64,
    pub winners: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    pub chain_id: String,
    pub params: Params,
    pub founders: Vec<Founder>,
    /// The `n` seats of height 1, youngest first (sponsor node keys of founders).
    pub seats: Vec<PublicKey>,
    /// `seed_0`.
    pub seed: Hash32,
    pub timestamp_ms: u64,
    pub accounts: Vec<(PublicKey, u64)>,
    pub rounds: Vec<RoundSpec>,
    pub periodic_lottery: Option<PeriodicLottery>,
}

impl Genesis {
    pub fn from_json(s: &str) -> Result<Self, ParamsError> {
        let g: Genesis = serde_json::from_str(s).map_err(|e| ParamsError::Json(e.to_string()))?;
        g.validate()?;
        Ok(g)
    }

    pub fn validate(&self) -> Result<(), ParamsError> {
        self.params.validate()?;
        let bad = |m: String| Err(ParamsError::Genesis(m));
        if self.founders.is_empty() {
            return bad("no founding datacenters".into());
        }
        if self.seats.len() != self.params.seats {
            return bad(format!(
                "{} initial seats, params say {}",
                self.seats.len(),
                self.params.seats
            ));
        }
        for s in &self.seats {
            if !self.founders.iter().any(|f| f.node_pk == *s) {
                return bad(format!("seat {s:?} is not a founding datacenter"));
            }
        }
        let mut keys: Vec<_> = self.accounts.iter().map(|a| a.0).collect();
        keys.sort();
        keys.dedup();
        if keys.len() != self.accounts.len() {
            return bad("an account is listed twice".into());
        }
        for r in &self.rounds {
            if r.open_height == 0 || r.close_height < r.open_height || r.winners == 0 {
                return bad(format!(
                    "lottery round {r:?}: needs 1 <= open <= close and winners >= 1"
                ));
            }
        }
        if let Some(p) = &self.periodic_lottery
            && (p.every == 0 || p.length == 0 || p.winners == 0)
        {
            return bad("periodic lottery needs every, length and winners >= 1".into());
        }
        Ok(())
    }

    pub fn hash(&self) -> Hash32 {
        crate::codec::sha256(serde_json::to_string(self).expect("genesis serializes").as_bytes())
    }

    /// A devnet genesis with one founding datacenter holding every seat (tests, benchmarks).
    pub fn solo(founder: PublicKey, accounts: Vec<(PublicKey, u64)>) -> Self {
        let params = Params::devnet();
        Genesis {
            chain_id: "daoli-solo".into(),
            seats: vec![founder; params.seats],
            params,
            founders: vec![Founder {
                node_pk: founder,
                endpoint: "dc0.local:7000".into(),
            }],
            seed: Hash32::ZERO,
            timestamp_ms: 0,
            accounts,
            rounds: vec![],
            periodic_lottery: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_quorum_is_n_minus_f() {
        let p = Params::default_net();
        p.validate().unwrap();
        assert_eq!((p.f(), p.quorum()), (3, 8));
        Params::devnet().validate().unwrap();
    }

    #[test]
    fn bad_params_are_named() {
        let mut p = Params::devnet();
        p.waves = vec![5, 3, 2];
        match p.validate() {
            Err(ParamsError::OutOfRange { name, .. }) => assert_eq!(name, "waves"),
            other => panic!("{other:?}"),
        }
        let mut p = Params::devnet();
        p.delta_permille = 500;
        assert!(p.validate().is_err());
    }
}
