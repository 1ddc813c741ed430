//! Deterministic execution: accounts, nonces, failed transactions, rewards, lottery entries,
//! and the state root.

use crate::block::{Batch, Block};
use crate::codec::{Canon, Hash32, tag};
use crate::crypto::PublicKey;
use crate::lottery::{self, Round, Ticket};
use crate::merkle;
use crate::params::{Genesis, MAX_ENDPOINT_LEN};
use crate::statement::Evidence;
use crate::tx::{RoleKeys, Transaction, TxKind};
use crate::vote::Seats;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub balance: u64,
    pub nonce: u64,
}

/// What executing a transaction did. Every outcome but `BadNonce` and `CannotPayFee` used the
/// sender's nonce and charged its fee (rule 9: a transaction that fails still pays).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxOutcome {
    Ok,
    /// Not the sender's next nonce: changes nothing.
    BadNonce {
        expected: u64,
        got: u64,
    },
    /// The sender cannot pay the fee: changes nothing.
    CannotPayFee {
        balance: u64,
        fee: u64,
    },
    /// Fee paid; the rest of the cost was not there.
    InsufficientFunds {
        balance: u64,
        cost: u64,
    },
    /// Fee paid; the ticket's round is not open.
    RoundNotOpen(u64),
    /// Fee paid; the registration was refused.
    Registration(RegistrationRefused),
}

impl TxOutcome {
    /// Whether the transaction is final (executed or failed for good) rather than skipped.
    pub fn used_nonce(&self) -> bool {
        !matches!(self, TxOutcome::BadNonce { .. } | TxOutcome::CannotPayFee { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum RegistrationRefused {
    #[error("the root key or a role key is already registered")]
    KeyTaken,
    #[error("the root and role keys are not all distinct")]
    KeysNotDistinct,
    #[error("the bond is below min_bond")]
    BondTooSmall,
    #[error("the endpoint is longer than 256 bytes")]
    Endpoint,
}

/// A registered datacenter as the state holds it (rule 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DcState {
    pub keys: RoleKeys,
    pub endpoint: String,
    pub bond: u64,
    /// Height of the block that registered it (0 for founders).
    pub since: u64,
    /// Height of the block whose evidence slashed it: from the next height on it holds no
    /// seat, sponsors no lot and is paid nothing (rule 10).
    pub slashed_at: Option<u64>,
}

impl DcState {
    pub fn slashed_before(&self, h: u64) -> bool {
        self.slashed_at.is_some_and(|s| s < h)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub tx_hash: Hash32,
    pub outcome: TxOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LotteryEvent {
    Opened {
        round: u64,
        open: u64,
        close: u64,
    },
    Closed {
        round: u64,
        tickets: u64,
        ticket_root: Hash32,
    },
    Drawn {
        round: u64,
        seed: Hash32,
        winners: Vec<u64>,
        payouts: Vec<(PublicKey, u64)>,
    },
}

/// A recipient of a winner's share: the miner and the sponsoring datacenter (its root
/// account) split it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Winner {
    pub miner: PublicKey,
    pub sponsor: PublicKey,
}

/// The leaves of the state root's Merkle trees (A.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateLeaves {
    pub accounts: Vec<Hash32>,
    pub rounds: Vec<Hash32>,
    pub datacenters: Vec<Hash32>,
    pub included: Vec<Hash32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub height: u64,
    pub accounts: BTreeMap<PublicKey, Account>,
    pub rounds: BTreeMap<u64, Round>,
    pub next_round: u64,
    /// Registered datacenters by root key.
    pub datacenters: BTreeMap<PublicKey, DcState>,
    /// Every registered key (roots and role keys) -> its datacenter's root. Derived from
    /// `datacenters`, so not hashed separately.
    pub roles: BTreeMap<PublicKey, PublicKey>,
    /// Batches already included (digest -> cycle), kept until they expire.
    pub included: BTreeMap<Hash32, u64>,
    /// 60% of the fees of the last block, owed to the next leader.
    pub owed_fees: u64,
    pub minted: u64,
    /// Slashed bonds and fees owed to a slashed winner are burned.
    pub burned: u64,
    /// Coins bonded by datacenters (counted in the supply).
    pub bonded: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecOutcome {
    pub receipts: Vec<Receipt>,
    pub lottery: Vec<LotteryEvent>,
    pub fees: u64,
    pub state_root: Hash32,
}

/// What execution needs besides the block: the batches it names (in its order), the lineup
/// entries the batches were sealed for, and the seats of the previous height.
#[derive(Debug)]
pub struct ExecContext<'a> {
    pub block: &'a Block,
    pub batches: Vec<&'a Batch>,
    /// The payroll entry that sealed each batch, in batch order.
    pub batch_winners: Vec<Winner>,
    /// Seats of height `h-1` (for paying the QC signers in the MicroBlock), if `h > 1`.
    pub prev_seats: Option<&'a Seats>,
}

impl State {
    pub fn genesis(g: &Genesis) -> Self {
        let mut s = State {
            height: 0,
            accounts: g
                .accounts
                .iter()
                .map(|(k, b)| (*k, Account { balance: *b, nonce: 0 }))
                .collect(),
            rounds: BTreeMap::new(),
            next_round: 1,
            datacenters: BTreeMap::new(),
            roles: BTreeMap::new(),
            included: BTreeMap::new(),
            owed_fees: 0,
            minted: g
                .accounts
                .iter()
                .map(|a| a.1)
                .chain(g.founders.iter().map(|f| f.bond))
                .sum(),
            burned: 0,
            bonded: 0,
        };
        for f in &g.founders {
            s.register(f.root, f.keys, f.endpoint.clone(), f.bond, 0);
        }
        for r in &g.rounds {
            s.open_round(r.open_height, r.close_height, r.price, r.winners);
        }
        s
    }

    /// Whether block `h` draws a round, and so must carry the lottery delay (rule 5).
    pub fn draw_due(&self, h: u64, p: &crate::params::Params) -> bool {
        self.rounds
            .values()
            .any(|r| r.drawn.is_none() && r.close_height.saturating_add(p.draw_delay + p.delay_blocks) == h)
    }

    fn open_round(&mut self, open: u64, close: u64, price: u64, winners: u32) -> u64 {
        let id = self.next_round;
        self.next_round += 1;
        self.rounds.insert(
            id,
            Round {
                id,
                open_height: open,
                close_height: close,
                price,
                winners,
                tickets: Vec::new(),
                ticket_root: None,
                drawn: None,
                draw_seed: None,
            },
        );
        id
    }

    pub fn account(&self, k: &PublicKey) -> Account {
        self.accounts.get(k).copied().unwrap_or_default()
    }

    /// The datacenter a registered key (root or role key) belongs to.
    pub fn dc_of(&self, key: &PublicKey) -> Option<(PublicKey, &DcState)> {
        let root = self.roles.get(key)?;
        Some((*root, self.datacenters.get(root)?))
    }

    pub(crate) fn register(&mut self, root: PublicKey, keys: RoleKeys, endpoint: String, bond: u64, h: u64) {
        for k in std::iter::once(root).chain(keys.all()) {
            self.roles.insert(k, root);
        }
        self.bonded += bond;
        self.datacenters.insert(
            root,
            DcState {
                keys,
                endpoint,
                bond,
                since: h,
                slashed_at: None,
            },
        );
    }

    fn check_registration(
        &self,
        root: &PublicKey,
        keys: &RoleKeys,
        endpoint: &str,
        bond: u64,
        min_bond: u64,
    ) -> Result<(), RegistrationRefused> {
        let all: Vec<PublicKey> = std::iter::once(*root).chain(keys.all()).collect();
        let distinct: std::collections::BTreeSet<_> = all.iter().collect();
        if distinct.len() != all.len() {
            return Err(RegistrationRefused::KeysNotDistinct);
        }
        if all.iter().any(|k| self.roles.contains_key(k)) {
            return Err(RegistrationRefused::KeyTaken);
        }
        if bond < min_bond {
            return Err(RegistrationRefused::BondTooSmall);
        }
        if endpoint.len() > MAX_ENDPOINT_LEN {
            return Err(RegistrationRefused::Endpoint);
        }
        Ok(())
    }

    /// Slashes the datacenter that signed both statements of `e`: its bond is burned and it
    /// loses every seat from the next height on. Returns false if it was already slashed.
    fn slash(&mut self, e: &Evidence, h: u64) -> bool {
        let Some(root) = self.roles.get(&e.offender()).copied() else {
            return false;
        };
        let Some(dc) = self.datacenters.get_mut(&root) else {
            return false;
        };
        if dc.slashed_at.is_some() {
            return false;
        }
        dc.slashed_at = Some(h);
        self.burned += dc.bond;
        self.bonded -= dc.bond;
        dc.bond = 0;
        true
    }

    fn credit(&mut self, k: PublicKey, amount: u64) {
        if amount == 0 {
            return;
        }
        let a = self.accounts.entry(k).or_default();
        a.balance = a.balance.saturating_add(amount);
    }

    fn mint(&mut self, k: PublicKey, amount: u64) {
        self.minted = self.minted.saturating_add(amount);
        self.credit(k, amount);
    }

    fn pay_winner(&mut self, w: &Winner, amount: u64, sponsor_permille: u64, minted: bool) {
        if self.datacenters.get(&w.sponsor).is_none_or(|d| d.slashed_at.is_some()) {
            if !minted {
                self.burned = self.burned.saturating_add(amount);
            }
            return;
        }
        let to_sponsor = amount * sponsor_permille / 1000;
        let pay = |s: &mut State, k, a| if minted { s.mint(k, a) } else { s.credit(k, a) };
        pay(self, w.sponsor, to_sponsor);
        pay(self, w.miner, amount - to_sponsor);
    }

    fn apply_tx(&mut self, tx: &Transaction, height: u64, min_bond: u64) -> TxOutcome {
        let acct = self.account(&tx.sender);
        if tx.nonce != acct.nonce {
            return TxOutcome::BadNonce {
                expected: acct.nonce,
                got: tx.nonce,
            };
        }
        if acct.balance < tx.fee {
            return TxOutcome::CannotPayFee {
                balance: acct.balance,
                fee: tx.fee,
            };
        }
        // From here on the fee is paid and the nonce used, whatever happens next.
        let a = self.accounts.entry(tx.sender).or_default();
        a.balance -= tx.fee;
        a.nonce += 1;
        let balance = a.balance;
        let value = match &tx.kind {
            TxKind::Transfer { amount, .. } => *amount,
            TxKind::BuyTicket { round } => match self.rounds.get(round) {
                Some(r) if r.is_open_at(height) => r.price,
                _ => return TxOutcome::RoundNotOpen(*round),
            },
            TxKind::Register { keys, endpoint, bond } => {
                if let Err(e) = self.check_registration(&tx.sender, keys, endpoint, *bond, min_bond) {
                    return TxOutcome::Registration(e);
                }
                *bond
            }
        };
        if balance < value {
            return TxOutcome::InsufficientFunds {
                balance: balance + tx.fee,
                cost: value.saturating_add(tx.fee),
            };
        }
        self.accounts.entry(tx.sender).or_default().balance -= value;
        match &tx.kind {
            TxKind::Transfer { to, amount } => self.credit(*to, *amount),
            TxKind::BuyTicket { round } => {
                let r = self.rounds.get_mut(round).expect("checked open");
                r.tickets.push(Ticket {
                    owner: tx.sender,
                    tx_hash: tx.hash(),
                });
            }
            TxKind::Register { keys, endpoint, bond } => {
                self.register(tx.sender, *keys, endpoint.clone(), *bond, height);
            }
        }
        TxOutcome::Ok
    }

    /// Executes certified block `h`. The caller has validated the block and its batches.
    pub fn execute(&mut self, g: &Genesis, cx: &ExecContext<'_>) -> ExecOutcome {
        let p = &g.params;
        let block = cx.block;
        let h = block.height();
        debug_assert_eq!(h, self.height + 1);
        let mut out = ExecOutcome::default();

        // Evidence first: an offender loses this block's rewards too.
        if let Some(m) = &block.micro {
            for e in &m.evidence {
                self.slash(e, h);
            }
        }

        // User transactions: slot order then batch order (the MicroBlock lists them so).
        for b in &cx.batches {
            self.included.insert(b.digest(), b.cycle);
            for tx in &b.txs {
                let outcome = self.apply_tx(tx, h, p.min_bond);
                if outcome.used_nonce() {
                    // Fees are part of the supply, bounded below 2^63 (Params::validate).
                    out.fees = out.fees.saturating_add(tx.fee);
                }
                out.receipts.push(Receipt {
                    tx_hash: tx.hash(),
                    outcome,
                });
            }
        }

        // Rewards: seats that prevoted block h-1's decided value (rule 11), wages, the leader.
        let leader = Winner {
            miner: block.leader().miner,
            sponsor: self.roles.get(&block.leader().sponsor).copied().unwrap_or_default(),
        };
        let signer_pool = p.coinbase * p.signer_share_permille / 1000;
        if let (Some(m), Some(seats)) = (&block.micro, cx.prev_seats)
            && let Some(qc) = &m.prev_qc
        {
            // Voters are vote keys; their datacenters' root accounts are paid. Each share is
            // out of what all positions could earn, so leaving a seat's prevote out raises no
            // one else's share: the producer gains nothing by dropping prevotes.
            let total = seats.reward_total();
            let paid: Vec<(PublicKey, u64)> = m
                .prev_prevotes
                .iter()
                .filter_map(|v| {
                    let (root, dc) = self.dc_of(&v.voter)?;
                    (dc.slashed_at.is_none()).then(|| (root, seats.prevote_reward(&v.voter, qc.round)))
                })
                .collect();
            for (s, w) in paid {
                if let Some(share) = (signer_pool as u128 * w as u128).checked_div(total as u128) {
                    self.mint(s, share as u64);
                }
            }
        }
        let mut budget = p.coinbase - signer_pool;
        let mut waged = std::collections::BTreeSet::new();
        for (b, w) in cx.batches.iter().zip(&cx.batch_winners) {
            if budget < p.wage || !waged.insert((b.cycle, b.slot)) {
                continue;
            }
            budget -= p.wage;
            self.pay_winner(w, p.wage, p.sponsor_share_permille, true);
        }
        let leader_fees = out.fees * 400 / 1000;
        let owed = std::mem::replace(&mut self.owed_fees, out.fees - leader_fees);
        self.pay_winner(&leader, budget, p.sponsor_share_permille, true);
        self.pay_winner(&leader, leader_fees + owed, p.sponsor_share_permille, false);

        // Lottery system entries.
        if let Some(pl) = &g.periodic_lottery
            && h.is_multiple_of(pl.every)
        {
            let id = self.open_round(h + 1, h + pl.length, pl.price, pl.winners);
            out.lottery.push(LotteryEvent::Opened {
                round: id,
                open: h + 1,
                close: h + pl.length,
            });
        }
        let ids: Vec<u64> = self.rounds.keys().copied().collect();
        for id in ids {
            let r = self.rounds.get_mut(&id).expect("listed");
            if r.close_height == h {
                let root = r.compute_ticket_root();
                r.ticket_root = Some(root);
                out.lottery.push(LotteryEvent::Closed {
                    round: id,
                    tickets: r.tickets.len() as u64,
                    ticket_root: root,
                });
            }
            if r.close_height.saturating_add(p.draw_delay + p.delay_blocks) == h && r.drawn.is_none() {
                // Validated: a block at a draw height carries the delay over seed_{close+D}.
                let Some(delay) = &block.header.delay else {
                    continue;
                };
                let seed = delay.output;
                let winners = lottery::draw(&seed, id, r.tickets.len() as u64, r.winners);
                let pays = lottery::payouts(r, &winners);
                r.drawn = Some(winners.clone());
                r.draw_seed = Some(seed);
                for (k, a) in &pays {
                    self.credit(*k, *a);
                }
                out.lottery.push(LotteryEvent::Drawn {
                    round: id,
                    seed,
                    winners,
                    payouts: pays,
                });
            }
        }
        // Drawn rounds stay in the state (they are what a verifier checks); expired batch
        // digests are pruned so the state stays bounded.
        self.included.retain(|_, c| *c + p.batch_expiry >= h);
        self.height = h;
        out.state_root = self.root();
        out
    }

    /// The leaves of the state root's four Merkle trees, each in key order.
    pub fn leaves(&self) -> StateLeaves {
        let accounts: Vec<Hash32> = self
            .accounts
            .iter()
            .map(|(k, a)| {
                let mut c = Canon::new(tag::ACCOUNT);
                c.fixed(&k.0).u64(a.balance).u64(a.nonce);
                c.hash()
            })
            .collect();
        let rounds: Vec<Hash32> = self.rounds.values().map(|r| r.state_hash()).collect();
        let dcs: Vec<Hash32> = self
            .datacenters
            .iter()
            .map(|(k, d)| {
                let mut c = Canon::new(tag::DATACENTER);
                c.fixed(&k.0);
                d.keys.put(&mut c);
                c.bytes(d.endpoint.as_bytes()).u64(d.bond).u64(d.since);
                match d.slashed_at {
                    None => c.u8(0),
                    Some(x) => c.u8(1).u64(x),
                };
                c.hash()
            })
            .collect();
        StateLeaves {
            accounts,
            rounds,
            datacenters: dcs,
            included: self.included.keys().copied().collect(),
        }
    }

    pub fn root(&self) -> Hash32 {
        let l = self.leaves();
        let mut c = Canon::new(tag::STATE);
        c.u64(self.height)
            .h(&merkle::root(&l.accounts))
            .h(&merkle::root(&l.rounds))
            .h(&merkle::root(&l.datacenters))
            .h(&merkle::root(&l.included))
            .u64(self.next_round)
            .u64(self.owed_fees)
            .u64(self.minted)
            .u64(self.burned)
            .u64(self.bonded);
        c.hash()
    }

    /// Total coins held; equals `minted - burned` (coins are created only by genesis and the
    /// coinbase, and destroyed only by slashing).
    pub fn supply(&self) -> u64 {
        self.accounts.values().map(|a| a.balance).sum::<u64>()
            + self.bonded
            + self.owed_fees
            + self
                .rounds
                .values()
                .filter(|r| r.drawn.is_none())
                .map(|r| r.pot())
                .sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const C: Hash32 = Hash32([0xc4; 32]);
    use crate::block::Header;
    use crate::crypto::Keypair;
    use crate::lot::{LotTemplate, mine};
    use crate::params::{Identity, RoundSpec};

    fn genesis(alice: &Keypair) -> Genesis {
        let mut g = Genesis::solo(&Identity::from_label("dc"), vec![(alice.public(), 1_000)]);
        g.rounds = vec![RoundSpec {
            open_height: 1,
            close_height: 1,
            price: 100,
            winners: 1,
        }];
        g
    }

    fn block(h: u64) -> Block {
        let dc = Identity::from_label("dc");
        let t = LotTemplate {
            height: h,
            prev_hash: Hash32::ZERO,
            sponsor: dc.sponsor.public(),
        };
        let lot = mine(&Keypair::from_label("miner"), &C, &t, 0, 0, 1)
            .expect("no pow")
            .countersign(&dc.sponsor, &C);
        Block {
            header: Header {
                height: h,
                prev_hash: Hash32::ZERO,
                seed: Hash32([h as u8; 32]),
                vrf_proof: None,
                prev_state_root: Hash32::ZERO,
                // Execution trusts validation: the draw uses whatever output the header carries.
                delay: Some(crate::delay::evaluate(&Hash32([h as u8; 32]), 8, 2).expect("delay")),
            },
            tree: vec![lot],
            micro: None,
        }
    }

    #[test]
    fn execution_applies_nonces_funds_and_fees_and_keeps_supply() {
        let alice = Keypair::from_label("alice");
        let bob = Keypair::from_label("bob").public();
        let g = genesis(&alice);
        let mut s = State::genesis(&g);
        let buf = Identity::from_label("dc").batch;
        let txs = vec![
            Transaction::new(&alice, &C, 0, 1, TxKind::Transfer { to: bob, amount: 100 }, vec![]),
            Transaction::new(
                &alice,
                &C,
                0,
                1,
                TxKind::Transfer { to: bob, amount: 100 },
                b"replay".to_vec(),
            ),
            Transaction::new(&alice, &C, 1, 1, TxKind::Transfer { to: bob, amount: 5_000 }, vec![]),
            Transaction::new(&alice, &C, 1, 1, TxKind::BuyTicket { round: 1 }, vec![]),
            Transaction::new(&alice, &C, 2, 1, TxKind::BuyTicket { round: 9 }, vec![]),
            Transaction::new(&alice, &C, 3, 1, TxKind::BuyTicket { round: 1 }, vec![]),
        ];
        let batch = Batch::seal(&buf, &C, 1, 0, txs);
        let b = block(1);
        let w = Winner {
            miner: b.tree[0].miner,
            sponsor: Identity::from_label("dc").root.public(),
        };
        let out = s.execute(
            &g,
            &ExecContext {
                block: &b,
                batches: vec![&batch],
                batch_winners: vec![w],
                prev_seats: None,
            },
        );
        let outcomes: Vec<_> = out.receipts.iter().map(|r| r.outcome).collect();
        assert_eq!(outcomes[0], TxOutcome::Ok);
        // A replay of a used nonce changes nothing and pays nothing.
        assert_eq!(outcomes[1], TxOutcome::BadNonce { expected: 1, got: 0 });
        // Rule 9: a transaction that fails still pays its fee and uses its nonce...
        assert!(matches!(outcomes[2], TxOutcome::InsufficientFunds { .. }));
        // ... so the ticket signed with the same nonce is now a replay.
        assert_eq!(outcomes[3], TxOutcome::BadNonce { expected: 2, got: 1 });
        assert_eq!(outcomes[4], TxOutcome::RoundNotOpen(9));
        assert_eq!(outcomes[5], TxOutcome::Ok);
        assert_eq!(
            s.account(&alice.public()),
            Account {
                balance: 1_000 - 101 - 1 - 1 - 101,
                nonce: 4
            }
        );
        assert_eq!(s.account(&bob).balance, 100);
        assert_eq!(out.fees, 4);
        assert_eq!(s.supply(), s.minted - s.burned);
        // Round 1 closes at height 1 with one ticket: the first purchase was a replayed nonce.
        assert!(out.lottery.iter().any(|e| matches!(
            e,
            LotteryEvent::Closed {
                round: 1,
                tickets: 1,
                ..
            }
        )));
        // Same inputs, same root: execution is deterministic.
        let mut s2 = State::genesis(&g);
        let out2 = s2.execute(
            &g,
            &ExecContext {
                block: &b,
                batches: vec![&batch],
                batch_winners: vec![w],
                prev_seats: None,
            },
        );
        assert_eq!(out.state_root, out2.state_root);
        // The draw happens D + E blocks after close, with the delay output that block
        // carries, and pays the pot.
        let draw_h = 1 + g.params.draw_delay + g.params.delay_blocks;
        for h in 2..=draw_h {
            let o = s.execute(
                &g,
                &ExecContext {
                    block: &block(h),
                    batches: vec![],
                    batch_winners: vec![],
                    prev_seats: None,
                },
            );
            let drawn = o.lottery.iter().any(|e| {
                matches!(e, LotteryEvent::Drawn { round: 1, winners, seed, .. }
                    if winners == &vec![0] && Some(*seed) == block(h).header.delay.map(|d| d.output))
            });
            assert_eq!(drawn, h == draw_h, "height {h}");
        }
        assert_eq!(s.supply(), s.minted - s.burned);
    }

    // Rule 1: a registration binds five distinct, unused role keys and a bond; a refused one
    // still pays its fee (rule 9) and registers nothing.
    #[test]
    fn registration_needs_distinct_unused_keys_and_a_bond() {
        let applicant = Keypair::from_label("applicant");
        let mut g = Genesis::solo(&Identity::from_label("dc"), vec![(applicant.public(), 10_000_000)]);
        g.params.min_bond = 1_000;
        let founder = Identity::from_label("dc");
        let fresh = Identity::from_label("fresh");
        let keys = fresh.keys();
        let cases = [
            (
                "two roles share a key",
                {
                    let mut k = keys;
                    k.micro = k.vote;
                    k
                },
                1_000,
                RegistrationRefused::KeysNotDistinct,
            ),
            (
                "a role key is the root",
                {
                    let mut k = keys;
                    k.batch = applicant.public();
                    k
                },
                1_000,
                RegistrationRefused::KeysNotDistinct,
            ),
            (
                "a key another datacenter holds",
                {
                    let mut k = keys;
                    k.sponsor = founder.sponsor.public();
                    k
                },
                1_000,
                RegistrationRefused::KeyTaken,
            ),
            ("a bond under the minimum", keys, 999, RegistrationRefused::BondTooSmall),
        ];
        let mut s = State::genesis(&g);
        for (nonce, (what, k, bond, why)) in cases.into_iter().enumerate() {
            let before = (s.datacenters.len(), s.bonded, s.account(&applicant.public()).balance);
            let tx = Transaction::new(
                &applicant,
                &C,
                nonce as u64,
                5,
                TxKind::Register {
                    keys: k,
                    endpoint: "x.example:7000".into(),
                    bond,
                },
                vec![],
            );
            assert_eq!(
                s.apply_tx(&tx, 3, g.params.min_bond),
                TxOutcome::Registration(why),
                "{what}"
            );
            assert_eq!(
                (s.datacenters.len(), s.bonded, s.account(&applicant.public()).balance),
                (before.0, before.1, before.2 - 5),
                "{what}: only the fee is taken"
            );
        }
        let tx = Transaction::new(
            &applicant,
            &C,
            4,
            5,
            TxKind::Register {
                keys,
                endpoint: "x.example:7000".into(),
                bond: 1_000,
            },
            vec![],
        );
        let bonded = s.bonded;
        assert_eq!(s.apply_tx(&tx, 3, g.params.min_bond), TxOutcome::Ok);
        let (root, d) = s.dc_of(&keys.sponsor).expect("registered");
        assert_eq!(
            (root, d.since, d.bond, s.bonded),
            (applicant.public(), 3, 1_000, bonded + 1_000)
        );
    }
}
