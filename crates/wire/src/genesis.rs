//! The genesis and its parameters. Decoding checks the shape (lengths, counts, `usize` range);
//! whether the values make a valid network is `Genesis::validate`'s question.

use crate::convert::{bounded, encode_all, hash, key, list, required, usize_of};
use crate::error::WireError;
use crate::limits;
use crate::proto as pb;
use daoli_protocol::params::{
    Datacenter, Genesis, MAX_GENESIS_ACCOUNTS, MAX_GENESIS_DATACENTERS, MAX_GENESIS_ROUNDS, Params, PeriodicLottery,
    RoundSpec,
};

impl From<&Params> for pb::Params {
    fn from(p: &Params) -> Self {
        pb::Params {
            l0_ms: p.l0_ms,
            window: p.window as u64,
            phi_permille: p.phi_permille,
            delta_permille: p.delta_permille,
            seats: p.seats as u64,
            waves: p.waves.iter().map(|w| *w as u64).collect(),
            wave_gap_permille: p.wave_gap_permille,
            step_timeout_permille: p.step_timeout_permille,
            backups: p.backups as u64,
            payroll: p.payroll as u64,
            pow_bits: p.pow_bits,
            draw_delay: p.draw_delay,
            delay_blocks: p.delay_blocks,
            delay_iterations: p.delay_iterations,
            delay_segments: p.delay_segments as u64,
            coinbase: p.coinbase,
            signer_share_permille: p.signer_share_permille,
            wage: p.wage,
            sponsor_share_permille: p.sponsor_share_permille,
            max_tx_bytes: p.max_tx_bytes as u64,
            max_batch_bytes: p.max_batch_bytes as u64,
            nonce_window: p.nonce_window,
            batch_expiry: p.batch_expiry,
            min_bond: p.min_bond,
            registration_age: p.registration_age,
            max_evidence: p.max_evidence as u64,
        }
    }
}

impl TryFrom<pb::Params> for Params {
    type Error = WireError;
    fn try_from(p: pb::Params) -> Result<Self, WireError> {
        Ok(Params {
            l0_ms: p.l0_ms,
            window: usize_of("Params.window", p.window)?,
            phi_permille: p.phi_permille,
            delta_permille: p.delta_permille,
            seats: usize_of("Params.seats", p.seats)?,
            waves: bounded("Params.waves", p.waves, limits::MAX_WAVES, |w| {
                usize_of("Params.waves", w)
            })?,
            wave_gap_permille: p.wave_gap_permille,
            step_timeout_permille: p.step_timeout_permille,
            backups: usize_of("Params.backups", p.backups)?,
            payroll: usize_of("Params.payroll", p.payroll)?,
            pow_bits: p.pow_bits,
            draw_delay: p.draw_delay,
            delay_blocks: p.delay_blocks,
            delay_iterations: p.delay_iterations,
            delay_segments: usize_of("Params.delay_segments", p.delay_segments)?,
            coinbase: p.coinbase,
            signer_share_permille: p.signer_share_permille,
            wage: p.wage,
            sponsor_share_permille: p.sponsor_share_permille,
            max_tx_bytes: usize_of("Params.max_tx_bytes", p.max_tx_bytes)?,
            max_batch_bytes: usize_of("Params.max_batch_bytes", p.max_batch_bytes)?,
            nonce_window: p.nonce_window,
            batch_expiry: p.batch_expiry,
            min_bond: p.min_bond,
            registration_age: p.registration_age,
            max_evidence: usize_of("Params.max_evidence", p.max_evidence)?,
        })
    }
}

impl From<&Datacenter> for pb::Datacenter {
    fn from(d: &Datacenter) -> Self {
        pb::Datacenter {
            root: d.root.0.to_vec(),
            keys: Some((&d.keys).into()),
            endpoint: d.endpoint.clone(),
            bond: d.bond,
        }
    }
}

impl TryFrom<pb::Datacenter> for Datacenter {
    type Error = WireError;
    fn try_from(p: pb::Datacenter) -> Result<Self, WireError> {
        Ok(Datacenter {
            root: key("Datacenter.root", p.root)?,
            keys: required("Datacenter.keys", p.keys)?.try_into()?,
            endpoint: p.endpoint,
            bond: p.bond,
        })
    }
}

impl From<&RoundSpec> for pb::RoundSpec {
    fn from(r: &RoundSpec) -> Self {
        pb::RoundSpec {
            open_height: r.open_height,
            close_height: r.close_height,
            price: r.price,
            winners: r.winners,
        }
    }
}

impl From<pb::RoundSpec> for RoundSpec {
    fn from(p: pb::RoundSpec) -> Self {
        RoundSpec {
            open_height: p.open_height,
            close_height: p.close_height,
            price: p.price,
            winners: p.winners,
        }
    }
}

impl From<&PeriodicLottery> for pb::PeriodicLottery {
    fn from(p: &PeriodicLottery) -> Self {
        pb::PeriodicLottery {
            every: p.every,
            length: p.length,
            price: p.price,
            winners: p.winners,
        }
    }
}

impl From<pb::PeriodicLottery> for PeriodicLottery {
    fn from(p: pb::PeriodicLottery) -> Self {
        PeriodicLottery {
            every: p.every,
            length: p.length,
            price: p.price,
            winners: p.winners,
        }
    }
}

impl From<&Genesis> for pb::Genesis {
    fn from(g: &Genesis) -> Self {
        pb::Genesis {
            network: g.network.clone(),
            params: Some((&g.params).into()),
            founders: encode_all(&g.founders),
            seats: g.seats.iter().map(|s| s.0.to_vec()).collect(),
            seed: g.seed.0.to_vec(),
            timestamp_ms: g.timestamp_ms,
            accounts: g
                .accounts
                .iter()
                .map(|(k, balance)| pb::Account {
                    key: k.0.to_vec(),
                    balance: *balance,
                })
                .collect(),
            rounds: encode_all(&g.rounds),
            periodic_lottery: g.periodic_lottery.as_ref().map(Into::into),
        }
    }
}

impl TryFrom<pb::Genesis> for Genesis {
    type Error = WireError;
    fn try_from(p: pb::Genesis) -> Result<Self, WireError> {
        Ok(Genesis {
            network: p.network,
            params: required("Genesis.params", p.params)?.try_into()?,
            founders: list("Genesis.founders", p.founders, MAX_GENESIS_DATACENTERS)?,
            seats: bounded("Genesis.seats", p.seats, limits::MAX_SEATS, |s| key("Genesis.seats", s))?,
            seed: hash("Genesis.seed", p.seed)?,
            timestamp_ms: p.timestamp_ms,
            accounts: bounded("Genesis.accounts", p.accounts, MAX_GENESIS_ACCOUNTS, |a| {
                Ok((key("Account.key", a.key)?, a.balance))
            })?,
            rounds: bounded("Genesis.rounds", p.rounds, MAX_GENESIS_ROUNDS, |r| Ok(r.into()))?,
            periodic_lottery: p.periodic_lottery.map(Into::into),
        })
    }
}
