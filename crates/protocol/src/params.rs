//! Genesis parameters, validated on load.

use crate::codec::{Canon, ChainId, Hash32, tag};
use crate::crypto::{Keypair, PublicKey};
use crate::tx::RoleKeys;
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
    /// `D`: the lottery draws with the seed of block `close + D`, passed through the delay.
    pub draw_delay: u64,
    /// `E`: blocks between the draw seed (`close + D`) and the draw (`close + D + E`), whose
    /// header carries the delay proof (rule 5). Honest nodes must evaluate the delay within E
    /// cycles; whoever can still change the seed must not within one.
    pub delay_blocks: u64,
    /// `T`: sequential SHA-256 steps of the lottery delay.
    pub delay_iterations: u64,
    /// `C`: segments of a delay proof (C - 1 checkpoints, verified in parallel).
    pub delay_segments: usize,
    /// Newly minted coins per certified block.
    pub coinbase: u64,
    /// Permille of the coinbase paid to QC signers by wave weight.
    pub signer_share_permille: u64,
    /// Wage per payroll slot whose batch is included in a block (minted from the coinbase).
    pub wage: u64,
    /// Permille of a winner's share that goes to the sponsor (the rest to the miner).
    pub sponsor_share_permille: u64,
    /// Largest canonical transaction.
    pub max_tx_bytes: usize,
    /// Largest batch (sum of transaction sizes).
    pub max_batch_bytes: usize,
    /// A buffer accepts nonces in `[account nonce, account nonce + window)`.
    pub nonce_window: u64,
    /// A batch may be included up to this many cycles after the cycle it was sealed for.
    pub batch_expiry: u64,
    /// Smallest bond a datacenter registers with (rule 1).
    pub min_bond: u64,
    /// `K`: a datacenter may sponsor lots only once its registration is this many heights old.
    pub registration_age: u64,
    /// Most evidence entries one MicroBlock may carry.
    pub max_evidence: usize,
}

impl Params {
    /// The public-network defaults of PROTOCOL.md.
    pub fn default_net() -> Self {
        Params {
            l0_ms: 10_000,
            window: 11,
            phi_permille: 400,
            delta_permille: 200,
            // Rule 2: the smallest committee whose chance of more than f adversarial seats is
            // below 1e-9 when the adversary makes 20% of the lots (committee::min_committee).
            seats: 373,
            waves: vec![125, 124, 124],
            wave_gap_permille: 40,
            step_timeout_permille: 150,
            backups: 2,
            payroll: 16,
            pow_bits: 22,
            draw_delay: 2,
            // About 16 min of one core at 57 ns/step (98 cycles of 10 s, so E = 256 leaves a
            // 2.6x margin for slower honest machines); 20 s, two cycles, for an adversary 50x
            // faster, who must commit its seed choice within one. docs/protocol.md, rule 5.
            delay_blocks: 256,
            delay_iterations: 1 << 34,
            delay_segments: 256,
            coinbase: 1_000_000,
            signer_share_permille: 200,
            wage: 10_000,
            sponsor_share_permille: 500,
            max_tx_bytes: 4096,
            max_batch_bytes: 4 << 20,
            nonce_window: 64,
            batch_expiry: 4,
            min_bond: 1_000_000,
            registration_age: 16,
            max_evidence: 64,
        }
    }

    /// Devnet: 1 s cycles, about 2^12 hashes per lot, 11 seats and a token lottery delay
    /// (2^12 steps, 0.2 ms). The devnet shows the mechanism, not its security: with 11 seats
    /// an adversary making 10% of the lots holds more than f seats in 1.85% of windows.
    pub fn devnet() -> Self {
        Params {
            l0_ms: 1_000,
            seats: 11,
            waves: vec![5, 3, 3],
            pow_bits: 12,
            delay_blocks: 2,
            delay_iterations: 1 << 12,
            delay_segments: 8,
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

    /// Every parameter is bounded, so that no later consensus arithmetic can overflow
    /// (rule 13): the largest products used are `l0_ms * 2 * 2000` (step timeouts) and
    /// `coinbase * 1000`, both far below `u64::MAX` within these bounds. Balances and fees
    /// are parts of the supply, which genesis (<= 2^62) and the coinbase bound (2^32 per
    /// block) keep below 2^63 for 2^30 blocks (340 years of 10 s cycles), so the saturating
    /// additions of the ledger never saturate within that horizon.
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
            (50..=900).contains(&self.phi_permille),
            "mining needs 5% ..= 90% of a cycle",
        )?;
        range(
            "delta_permille",
            self.delta_permille,
            (20..=900).contains(&self.delta_permille) && self.phi_permille + self.delta_permille <= 800,
            "DELTA >= 2% and PHI + DELTA <= 80% (voting needs the rest)",
        )?;
        range(
            "seats",
            self.seats,
            (4..=10_000).contains(&self.seats),
            "4 ..= 10000 (f >= 1)",
        )?;
        range(
            "waves",
            format!("{:?}", self.waves),
            !self.waves.is_empty()
                && self.waves.len() <= 16
                && self.waves.iter().all(|w| (1..=self.seats).contains(w))
                && self.waves.iter().sum::<usize>() == self.seats,
            "1 ..= 16 positive waves summing to seats",
        )?;
        range(
            "wave_gap_permille",
            self.wave_gap_permille,
            self.wave_gap_permille <= 1000
                && self.wave_gap_permille * (self.waves.len() as u64) < 1000 - self.phi_permille - self.delta_permille,
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
            (1..=1000).contains(&self.draw_delay),
            "1 ..= 1000: the draw seed must be unknown at close",
        )?;
        range(
            "delay_blocks",
            self.delay_blocks,
            (1..=10_000).contains(&self.delay_blocks),
            "1 ..= 10000",
        )?;
        range(
            "delay_iterations",
            self.delay_iterations,
            (1..=crate::delay::MAX_ITERATIONS).contains(&self.delay_iterations),
            "1 ..= 2^40",
        )?;
        range(
            "delay_segments",
            self.delay_segments,
            (1..=crate::delay::MAX_SEGMENTS).contains(&self.delay_segments)
                && self.delay_segments as u64 <= self.delay_iterations,
            "1 ..= 4096 and at most delay_iterations",
        )?;
        range(
            "coinbase",
            self.coinbase,
            self.coinbase <= 1 << 32,
            "<= 2^32: with genesis balances <= 2^62 the supply stays below 2^63 for 2^30 blocks",
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
            (self.payroll as u64)
                .checked_mul(self.wage)
                .is_some_and(|w| w <= self.coinbase - self.coinbase * self.signer_share_permille / 1000),
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
            self.max_batch_bytes >= self.max_tx_bytes && self.max_batch_bytes <= 64 << 20,
            "max_tx_bytes ..= 64 MiB",
        )?;
        range(
            "nonce_window",
            self.nonce_window,
            (1..=4096).contains(&self.nonce_window),
            "1 ..= 4096",
        )?;
        range(
            "batch_expiry",
            self.batch_expiry,
            (1..=64).contains(&self.batch_expiry),
            "1 ..= 64",
        )?;
        range(
            "min_bond",
            self.min_bond,
            (1..=1 << 60).contains(&self.min_bond),
            "1 ..= 2^60: registering must cost something",
        )?;
        range(
            "registration_age",
            self.registration_age,
            self.registration_age <= 1 << 32,
            "<= 2^32 heights",
        )?;
        range(
            "max_evidence",
            self.max_evidence,
            (1..=1024).contains(&self.max_evidence),
            "1 ..= 1024",
        )?;
        Ok(())
    }

    /// Canonical bytes of the parameters, in declaration order; `usize` fields as u64.
    pub fn put(&self, c: &mut Canon) {
        c.u64(self.l0_ms)
            .u64(self.window as u64)
            .u64(self.phi_permille)
            .u64(self.delta_permille)
            .u64(self.seats as u64)
            .u32(self.waves.len() as u32);
        for w in &self.waves {
            c.u64(*w as u64);
        }
        c.u64(self.wave_gap_permille)
            .u64(self.step_timeout_permille)
            .u64(self.backups as u64)
            .u64(self.payroll as u64)
            .u32(self.pow_bits)
            .u64(self.draw_delay)
            .u64(self.delay_blocks)
            .u64(self.delay_iterations)
            .u64(self.delay_segments as u64)
            .u64(self.coinbase)
            .u64(self.signer_share_permille)
            .u64(self.wage)
            .u64(self.sponsor_share_permille)
            .u64(self.max_tx_bytes as u64)
            .u64(self.max_batch_bytes as u64)
            .u64(self.nonce_window)
            .u64(self.batch_expiry)
            .u64(self.min_bond)
            .u64(self.registration_age)
            .u64(self.max_evidence as u64);
    }
}

/// Bounds on what a genesis file may list (rule 13: a hostile genesis is refused, not loaded).
pub const MAX_GENESIS_DATACENTERS: usize = 1024;
pub const MAX_GENESIS_ACCOUNTS: usize = 1_000_000;
pub const MAX_GENESIS_ROUNDS: usize = 1024;
pub const MAX_ENDPOINT_LEN: usize = 256;
pub const MAX_NETWORK_NAME_LEN: usize = 64;

/// A registered datacenter (rule 1): its root key (its identity and account), the role keys
/// the root certified, where it serves, and its bond. Founders are registered by genesis; the
/// others by a `Register` transaction signed by the root key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Datacenter {
    pub root: PublicKey,
    pub keys: RoleKeys,
    pub endpoint: String,
    pub bond: u64,
}

impl Datacenter {
    pub fn put(&self, c: &mut Canon) {
        c.fixed(&self.root.0);
        self.keys.put(c);
        c.bytes(self.endpoint.as_bytes()).u64(self.bond);
    }
}

/// A datacenter's secret keys: its root and one per role. Deterministic from a label so that
/// simulations, tests and vectors replay.
#[derive(Debug, Clone)]
pub struct Identity {
    pub root: Keypair,
    pub vote: Keypair,
    pub vrf: Keypair,
    pub batch: Keypair,
    pub micro: Keypair,
    pub sponsor: Keypair,
}

impl Identity {
    pub fn from_label(label: &str) -> Self {
        let k = |role: &str| Keypair::from_label(&format!("{label}/{role}"));
        Identity {
            root: k("root"),
            vote: k("vote"),
            vrf: k("vrf"),
            batch: k("batch"),
            micro: k("micro"),
            sponsor: k("sponsor"),
        }
    }
    pub fn keys(&self) -> RoleKeys {
        RoleKeys {
            vote: self.vote.public(),
            vrf: self.vrf.public(),
            batch: self.batch.public(),
            micro: self.micro.public(),
            sponsor: self.sponsor.public(),
        }
    }
    /// Every key it holds: the root key, then the five role keys.
    pub fn public_keys(&self) -> [PublicKey; 6] {
        let [a, b, c, d, e] = self.keys().all();
        [self.root.public(), a, b, c, d, e]
    }
    pub fn datacenter(&self, endpoint: &str, bond: u64) -> Datacenter {
        Datacenter {
            root: self.root.public(),
            keys: self.keys(),
            endpoint: endpoint.into(),
            bond,
        }
    }
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
    /// A human name for the network; the chain id proper is [`Genesis::chain_id`].
    pub network: String,
    pub params: Params,
    pub founders: Vec<Datacenter>,
    /// The `n` seats of height 1, youngest first (root keys of founders).
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
        if self.network.len() > MAX_NETWORK_NAME_LEN {
            return bad(format!("network name over {MAX_NETWORK_NAME_LEN} bytes"));
        }
        if self.founders.is_empty() || self.founders.len() > MAX_GENESIS_DATACENTERS {
            return bad(format!("needs 1 ..= {MAX_GENESIS_DATACENTERS} founding datacenters"));
        }
        // Every key of every founder is distinct: a key belongs to one role of one datacenter.
        let mut keys = std::collections::BTreeSet::new();
        for f in &self.founders {
            for k in std::iter::once(f.root).chain(f.keys.all()) {
                if !keys.insert(k) {
                    return bad(format!("key {k:?} is used twice among the founders' keys"));
                }
            }
            if f.endpoint.len() > MAX_ENDPOINT_LEN {
                return bad(format!("founder {:?}: endpoint over {MAX_ENDPOINT_LEN} bytes", f.root));
            }
            if f.bond < self.params.min_bond {
                return bad(format!(
                    "founder {:?}: bond {} below min_bond {}",
                    f.root, f.bond, self.params.min_bond
                ));
            }
        }
        if self.seats.len() != self.params.seats {
            return bad(format!(
                "{} initial seats, params say {}",
                self.seats.len(),
                self.params.seats
            ));
        }
        for s in &self.seats {
            if !self.founders.iter().any(|f| f.root == *s) {
                return bad(format!("seat {s:?} is not a founding datacenter"));
            }
        }
        if self.accounts.len() > MAX_GENESIS_ACCOUNTS {
            return bad(format!("more than {MAX_GENESIS_ACCOUNTS} accounts"));
        }
        let mut ks: Vec<_> = self.accounts.iter().map(|a| a.0).collect();
        ks.sort();
        ks.dedup();
        if ks.len() != self.accounts.len() {
            return bad("an account is listed twice".into());
        }
        // The whole supply, bonds included, must fit with room for 2^62 of coinbase.
        let total = self
            .accounts
            .iter()
            .map(|a| a.1)
            .chain(self.founders.iter().map(|f| f.bond))
            .try_fold(0u64, |acc, x| acc.checked_add(x));
        if total.is_none_or(|t| t > 1 << 62) {
            return bad("genesis balances and bonds add up to more than 2^62".into());
        }
        if self.rounds.len() > MAX_GENESIS_ROUNDS {
            return bad(format!("more than {MAX_GENESIS_ROUNDS} lottery rounds"));
        }
        for r in &self.rounds {
            if r.open_height == 0
                || r.close_height < r.open_height
                || r.close_height > 1 << 40
                || r.winners == 0
                || r.price > 1 << 40
            {
                return bad(format!(
                    "lottery round {r:?}: needs 1 <= open <= close <= 2^40, winners >= 1, price <= 2^40"
                ));
            }
        }
        if let Some(p) = &self.periodic_lottery
            && (p.every == 0
                || p.length == 0
                || p.winners == 0
                || p.every > 1 << 32
                || p.length > 1 << 32
                || p.price > 1 << 40)
        {
            return bad("periodic lottery needs 1 <= every, length <= 2^32, winners >= 1, price <= 2^40".into());
        }
        Ok(())
    }

    /// The canonical genesis bytes: `"daoli/v2/genesis" || bytes network || params || u32 n ||
    /// datacenters || u32 n || seats || seed || u64 timestamp || u32 n || (account || u64)* ||
    /// u32 n || (u64 open || u64 close || u64 price || u32 winners)* || u8 0 | u8 1 || u64 every
    /// || u64 length || u64 price || u32 winners`.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut c = Canon::new(tag::GENESIS);
        c.bytes(self.network.as_bytes());
        self.params.put(&mut c);
        c.u32(self.founders.len() as u32);
        for f in &self.founders {
            f.put(&mut c);
        }
        c.u32(self.seats.len() as u32);
        for s in &self.seats {
            c.fixed(&s.0);
        }
        c.h(&self.seed).u64(self.timestamp_ms);
        c.u32(self.accounts.len() as u32);
        for (k, b) in &self.accounts {
            c.fixed(&k.0).u64(*b);
        }
        c.u32(self.rounds.len() as u32);
        for r in &self.rounds {
            c.u64(r.open_height).u64(r.close_height).u64(r.price).u32(r.winners);
        }
        match &self.periodic_lottery {
            None => {
                c.u8(0);
            }
            Some(p) => {
                c.u8(1).u64(p.every).u64(p.length).u64(p.price).u32(p.winners);
            }
        }
        c.finish()
    }

    /// The chain id: `H(canonical genesis bytes)`. It is also the hash of block 0.
    pub fn chain_id(&self) -> ChainId {
        crate::codec::sha256(&self.canonical_bytes())
    }

    /// A devnet genesis with one founding datacenter holding every seat (tests, benchmarks).
    pub fn solo(founder: &Identity, accounts: Vec<(PublicKey, u64)>) -> Self {
        let params = Params::devnet();
        Genesis {
            network: "daoli-solo".into(),
            seats: vec![founder.root.public(); params.seats],
            founders: vec![founder.datacenter("dc0.local:7000", params.min_bond)],
            params,
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
        assert_eq!((p.f(), p.quorum()), (124, 249));
        assert_eq!(
            crate::committee::min_committee(0.2, 1e-9, 10_000).unwrap(),
            Some(p.seats as u64),
            "the production committee is sized by rule 2"
        );
        let d = Params::devnet();
        d.validate().unwrap();
        assert_eq!((d.seats, d.f(), d.quorum()), (11, 3, 8));
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

    #[test]
    fn hostile_parameters_get_a_typed_error_not_a_panic() {
        // v1 panicked with "attempt to add with overflow" in validate on such a genesis.
        let mut p = Params::devnet();
        p.phi_permille = u64::MAX;
        p.delta_permille = u64::MAX;
        assert!(matches!(
            p.validate(),
            Err(ParamsError::OutOfRange {
                name: "phi_permille",
                ..
            })
        ));
        let mut p = Params::devnet();
        p.wave_gap_permille = u64::MAX;
        assert!(p.validate().is_err());
        let mut p = Params::devnet();
        p.wage = u64::MAX;
        assert!(p.validate().is_err());
        let mut p = Params::devnet();
        p.waves = vec![usize::MAX, 12];
        assert!(p.validate().is_err());
        let mut p = Params::devnet();
        p.coinbase = u64::MAX;
        assert!(p.validate().is_err());
        let mut p = Params::devnet();
        p.min_bond = 0;
        assert!(matches!(
            p.validate(),
            Err(ParamsError::OutOfRange { name: "min_bond", .. })
        ));
    }

    #[test]
    fn genesis_is_checked_and_its_canonical_bytes_make_the_chain_id() {
        let dc = Identity::from_label("g");
        let g = Genesis::solo(&dc, vec![(Keypair::from_label("a").public(), 10)]);
        g.validate().unwrap();
        let id = g.chain_id();
        let mut g2 = g.clone();
        g2.network = "another".into();
        assert_ne!(g2.chain_id(), id, "every field is in the chain id");
        let mut g2 = g.clone();
        g2.params.min_bond += 1;
        assert_ne!(g2.chain_id(), id);
        // Balances that overflow, a reused key, a small bond: typed errors.
        let mut bad = g.clone();
        bad.accounts = vec![
            (Keypair::from_label("a").public(), u64::MAX),
            (Keypair::from_label("b").public(), 2),
        ];
        assert!(matches!(bad.validate(), Err(ParamsError::Genesis(_))));
        let mut bad = g.clone();
        bad.founders[0].keys.vrf = bad.founders[0].keys.vote;
        assert!(matches!(bad.validate(), Err(ParamsError::Genesis(_))));
        let mut bad = g.clone();
        bad.founders[0].bond = 0;
        assert!(matches!(bad.validate(), Err(ParamsError::Genesis(_))));
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(Genesis::from_json(&json).unwrap(), g);
        assert!(matches!(Genesis::from_json("{"), Err(ParamsError::Json(_))));
    }
}
