//! Deterministic execution: accounts, nonces, failed transactions, rewards, lottery entries,
//! and the state root.

use crate::block::{Batch, Block};
use crate::codec::{Canon, Hash32, tag};
use crate::crypto::PublicKey;
use crate::lottery::{self, Round, Ticket};
use crate::merkle;
use crate::params::Genesis;
use crate::tx::{Transaction, TxKind};
use crate::vote::Seats;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub balance: u64,
    pub nonce: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxOutcome {
    Ok,
    BadNonce { expected: u64, got: u64 },
    InsufficientFunds { balance: u64, cost: u64 },
    RoundNotOpen(u64),
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

/// A recipient of a winner's share: miner and sponsor split it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Winner {
    pub miner: PublicKey,
    pub sponsor: PublicKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub height: u64,
    pub accounts: BTreeMap<PublicKey, Account>,
    pub rounds: BTreeMap<u64, Round>,
    pub next_round: u64,
    /// Sponsor -> last height of its bar.
    pub barred: BTreeMap<PublicKey, u64>,
    /// Evidence already punished (by hash).
    pub punished: BTreeMap<Hash32, u64>,
    /// Batches already included (digest -> cycle), kept until they expire.
    pub included: BTreeMap<Hash32, u64>,
    /// 60% of the fees of the last block, owed to the next leader.
    pub owed_fees: u64,
    pub minted: u64,
    /// Fees owed to a barred winner are burned.
    pub burned: u64,
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
            barred: BTreeMap::new(),
            punished: BTreeMap::new(),
            included: BTreeMap::new(),
            owed_fees: 0,
            minted: g.accounts.iter().map(|a| a.1).sum(),
            burned: 0,
        };
        for r in &g.rounds {
            s.open_round(r.open_height, r.close_height, r.price, r.winners);
        }
        s
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

    pub fn is_barred(&self, sponsor: &PublicKey, height: u64) -> bool {
        self.barred.get(sponsor).is_some_and(|until| height <= *until)
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

    fn pay_winner(&mut self, w: &Winner, amount: u64, sponsor_permille: u64, height: u64, minted: bool) {
        if self.is_barred(&w.sponsor, height) {
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

    fn apply_tx(&mut self, tx: &Transaction, height: u64) -> TxOutcome {
        let acct = self.account(&tx.sender);
        if tx.nonce != acct.nonce {
            return TxOutcome::BadNonce {
                expected: acct.nonce,
                got: tx.nonce,
            };
        }
        if let TxKind::BuyTicket { round } = tx.kind
            && !self.rounds.get(&round).is_some_and(|r| r.is_open_at(height))
        {
            return TxOutcome::RoundNotOpen(round);
        }
        let rounds = &self.rounds;
        let cost = tx.cost(|r| rounds.get(&r).map(|r| r.price)).unwrap_or(u64::MAX);
        if acct.balance < cost {
            return TxOutcome::InsufficientFunds {
                balance: acct.balance,
                cost,
            };
        }
        let a = self.accounts.entry(tx.sender).or_default();
        a.balance -= cost;
        a.nonce += 1;
        match tx.kind {
            TxKind::Transfer { to, amount } => self.credit(to, amount),
            TxKind::BuyTicket { round } => {
                let r = self.rounds.get_mut(&round).expect("checked open");
                r.tickets.push(Ticket {
                    owner: tx.sender,
                    tx_hash: tx.hash(),
                });
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
                let eh = e.hash();
                if self.punished.contains_key(&eh) {
                    continue;
                }
                self.punished.insert(eh, h);
                let until = self.barred.entry(e.offender()).or_insert(0);
                *until = (*until).max(h + p.equivocation_bar);
            }
        }

        // User transactions: slot order then batch order (the MicroBlock lists them so).
        for b in &cx.batches {
            self.included.insert(b.digest(), b.cycle);
            for tx in &b.txs {
                let outcome = self.apply_tx(tx, h);
                if outcome == TxOutcome::Ok {
                    out.fees += tx.fee;
                }
                out.receipts.push(Receipt {
                    tx_hash: tx.hash(),
                    outcome,
                });
            }
        }

        // Rewards: QC signers of h-1 by wave weight, wages, then the leader.
        let leader = Winner {
            miner: block.leader().miner_pk,
            sponsor: block.leader().sponsor_pk,
        };
        let signer_pool = p.coinbase * p.signer_share_permille / 1000;
        if let (Some(m), Some(seats)) = (&block.micro, cx.prev_seats)
            && let Some(qc) = &m.prev_qc
        {
            let paid: Vec<(PublicKey, u64)> = qc
                .signers()
                .filter(|s| !self.is_barred(s, h))
                .map(|s| (*s, seats.reward_weight(s)))
                .collect();
            let total: u64 = paid.iter().map(|x| x.1).sum();
            for (s, w) in paid {
                if let Some(share) = (signer_pool * w).checked_div(total) {
                    self.mint(s, share);
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
            self.pay_winner(w, p.wage, p.sponsor_share_permille, h, true);
        }
        let leader_fees = out.fees * 400 / 1000;
        let owed = std::mem::replace(&mut self.owed_fees, out.fees - leader_fees);
        self.pay_winner(&leader, budget, p.sponsor_share_permille, h, true);
        self.pay_winner(&leader, leader_fees + owed, p.sponsor_share_permille, h, false);

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
            if r.close_height + p.draw_delay == h && r.drawn.is_none() {
                let seed = block.header.seed;
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
        // digests and bars are pruned so the state stays bounded.
        self.included.retain(|_, c| *c + p.batch_expiry >= h);
        self.barred.retain(|_, until| *until >= h);
        self.height = h;
        out.state_root = self.root();
        out
    }

    pub fn root(&self) -> Hash32 {
        let accts: Vec<Hash32> = self
            .accounts
            .iter()
            .map(|(k, a)| {
                let mut c = Canon::new(tag::ACCOUNT);
                c.fixed(&k.0).u64(a.balance).u64(a.nonce);
                c.hash()
            })
            .collect();
        let rounds: Vec<Hash32> = self.rounds.values().map(|r| r.state_hash()).collect();
        let barred: Vec<Hash32> = self
            .barred
            .iter()
            .map(|(k, u)| {
                let mut c = Canon::new(tag::STATE);
                c.fixed(&k.0).u64(*u);
                c.hash()
            })
            .collect();
        let included: Vec<Hash32> = self.included.keys().copied().collect();
        let mut c = Canon::new(tag::STATE);
        c.u64(self.height)
            .h(&merkle::root(&accts))
            .h(&merkle::root(&rounds))
            .h(&merkle::root(&barred))
            .h(&merkle::root(&included))
            .u64(self.next_round)
            .u64(self.owed_fees)
            .u64(self.minted)
            .u64(self.burned);
        c.hash()
    }

    /// Total coins held; equals `minted - burned` (coins are created only by genesis and the
    /// coinbase, and destroyed only by the bar).
    pub fn supply(&self) -> u64 {
        self.accounts.values().map(|a| a.balance).sum::<u64>()
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
    use crate::block::Header;
    use crate::crypto::Keypair;
    use crate::lot::{LotTemplate, mine};
    use crate::params::RoundSpec;
    use crate::vrf::VrfProof;

    fn genesis(alice: &Keypair) -> Genesis {
        let mut g = Genesis::solo(Keypair::from_label("dc").public(), vec![(alice.public(), 1_000)]);
        g.rounds = vec![RoundSpec {
            open_height: 1,
            close_height: 1,
            price: 100,
            winners: 1,
        }];
        g
    }

    fn block(h: u64) -> Block {
        let t = LotTemplate {
            height: h,
            prev_hash: Hash32::ZERO,
            sponsor_pk: Keypair::from_label("dc").public(),
            sponsor_endpoint: String::new(),
        };
        let lot = mine(&Keypair::from_label("miner"), &t, 0, 0, 1).expect("no pow");
        Block {
            header: Header {
                height: h,
                prev_hash: Hash32::ZERO,
                seed: Hash32([h as u8; 32]),
                seed_rank: 0,
                vrf_proof: VrfProof::default(),
                prev_state_root: Hash32::ZERO,
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
        let buf = Keypair::from_label("dc");
        let txs = vec![
            Transaction::new(&alice, 0, 1, TxKind::Transfer { to: bob, amount: 100 }, vec![]),
            Transaction::new(
                &alice,
                0,
                1,
                TxKind::Transfer { to: bob, amount: 100 },
                b"replay".to_vec(),
            ),
            Transaction::new(&alice, 1, 1, TxKind::Transfer { to: bob, amount: 5_000 }, vec![]),
            Transaction::new(&alice, 1, 1, TxKind::BuyTicket { round: 1 }, vec![]),
            Transaction::new(&alice, 2, 1, TxKind::BuyTicket { round: 9 }, vec![]),
        ];
        let batch = Batch::seal(&buf, 1, 0, txs);
        let b = block(1);
        let w = Winner {
            miner: b.tree[0].miner_pk,
            sponsor: b.tree[0].sponsor_pk,
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
        assert_eq!(outcomes[1], TxOutcome::BadNonce { expected: 1, got: 0 });
        assert!(matches!(outcomes[2], TxOutcome::InsufficientFunds { .. }));
        assert_eq!(outcomes[3], TxOutcome::Ok);
        assert_eq!(outcomes[4], TxOutcome::RoundNotOpen(9));
        assert_eq!(
            s.account(&alice.public()),
            Account {
                balance: 1_000 - 101 - 101,
                nonce: 2
            }
        );
        assert_eq!(s.account(&bob).balance, 100);
        assert_eq!(out.fees, 2);
        assert_eq!(s.supply(), s.minted - s.burned);
        // Round 1 closes at height 1 with its one ticket.
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
        // The draw happens D blocks after close, with that block's seed, and pays the pot.
        for h in 2..=3 {
            let o = s.execute(
                &g,
                &ExecContext {
                    block: &block(h),
                    batches: vec![],
                    batch_winners: vec![],
                    prev_seats: None,
                },
            );
            if h == 3 {
                assert!(
                    o.lottery
                        .iter()
                        .any(|e| matches!(e, LotteryEvent::Drawn { round: 1, winners, .. } if winners == &vec![0]))
                );
            }
        }
        assert_eq!(s.supply(), s.minted - s.burned);
    }
}
