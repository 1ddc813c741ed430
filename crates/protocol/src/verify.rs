//! The public lottery verifier: from genesis and the blocks (with their batches) fetched from
//! any datacenter, re-check every certificate, re-execute, rebuild the ticket list and root,
//! check the seed's VRF proof, and recompute the winners.

use crate::block::{Batch, CertifiedBlock};
use crate::chain::{BlockError, Chain};
use crate::codec::Hash32;
use crate::crypto::PublicKey;
use crate::ledger::TxOutcome;
use crate::lottery::{self, Round, Ticket};
use crate::params::{Genesis, ParamsError};
use crate::seed::verify_seed;
use crate::tx::TxKind;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("genesis: {0}")]
    Genesis(#[from] ParamsError),
    #[error("block {0}: {1}")]
    Block(u64, BlockError),
    #[error("lottery round {0} does not exist")]
    NoRound(u64),
    #[error("round {round} is drawn at height {needed}, the blocks given end at {have}")]
    TooFewBlocks { round: u64, needed: u64, have: u64 },
    #[error("recomputed ticket root {recomputed} differs from the chain's {chain}")]
    TicketRoot { recomputed: String, chain: String },
    #[error("seed of block {0} does not verify: {1}")]
    Seed(u64, String),
    #[error("block {0} draws the round but carries no delay proof")]
    NoDelay(u64),
    #[error("delay proof in block {0}: {1}")]
    Delay(u64, crate::delay::DelayError),
    #[error("recomputed winners {recomputed:?} differ from the chain's {chain:?}")]
    Winners { recomputed: Vec<u64>, chain: Vec<u64> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub round: u64,
    pub tickets: u64,
    pub ticket_root: Hash32,
    pub seed: Hash32,
    pub winners: Vec<u64>,
    pub winner_keys: Vec<PublicKey>,
    pub steps: Vec<String>,
}

/// Verifies one round: replays `blocks` (heights 1, 2, ...) from genesis.
pub fn verify_lottery(
    genesis: &Genesis,
    blocks: &[(CertifiedBlock, Vec<Batch>)],
    round_id: u64,
) -> Result<Report, VerifyError> {
    verify_rounds(genesis, blocks, &[round_id]).and_then(|mut v| v.pop().expect("one round asked").map_err(|e| *e))
}

/// Verifies several rounds with one replay of the chain. The outer error is a chain that does
/// not replay; the inner ones are per round.
pub fn verify_rounds(
    genesis: &Genesis,
    blocks: &[(CertifiedBlock, Vec<Batch>)],
    round_ids: &[u64],
) -> Result<Vec<Result<Report, Box<VerifyError>>>, VerifyError> {
    let mut chain = Chain::new(genesis.clone())?;
    let mut steps = vec![format!(
        "genesis {} ({} founders, {} seats)",
        chain.hash_at(0).short(),
        genesis.founders.len(),
        genesis.params.seats
    )];
    let mut store: BTreeMap<Hash32, Batch> = BTreeMap::new();
    let mut tickets: BTreeMap<u64, Vec<Ticket>> = round_ids.iter().map(|r| (*r, Vec::new())).collect();
    for (cb, batches) in blocks {
        // The height the record must hold next, not the one the block claims: a record with a
        // block left out or out of order is refused, never trusted to index the chain.
        let h = chain.height() + 1;
        for b in batches {
            store.insert(b.digest(), b.clone());
        }
        let seats = chain.seats(h);
        let out = chain.commit(cb.clone(), &store).map_err(|e| VerifyError::Block(h, e))?;
        let weight: u64 = cb.qc.signers().map(|s| seats.weight(s)).sum();
        steps.push(format!(
            "block {h} {}: QC weight {weight}/{} >= {} ok, seed VRF ok, state {}",
            cb.block.hash().short(),
            seats.n(),
            seats.quorum(),
            out.state_root.short()
        ));
        // Rebuild the ticket list independently of the ledger's bookkeeping: receipts follow
        // the transactions in execution order.
        if let Some(m) = &cb.block.micro {
            let txs = m.batches.iter().flat_map(|r| store[&r.digest].txs.iter());
            for (tx, receipt) in txs.zip(&out.receipts) {
                if let TxKind::BuyTicket { round } = tx.kind
                    && let (Some(list), TxOutcome::Ok) = (tickets.get_mut(&round), receipt.outcome)
                {
                    list.push(Ticket {
                        owner: tx.sender,
                        tx_hash: tx.hash(),
                    });
                }
            }
        }
        let all_drawn = round_ids
            .iter()
            .all(|id| chain.state.rounds.get(id).is_some_and(|r| r.drawn.is_some()));
        if all_drawn {
            break;
        }
    }
    Ok(round_ids
        .iter()
        .map(|id| check_round(&chain, *id, tickets.remove(id).unwrap_or_default(), steps.clone()).map_err(Box::new))
        .collect())
}

fn check_round(
    chain: &Chain,
    round_id: u64,
    tickets: Vec<Ticket>,
    mut steps: Vec<String>,
) -> Result<Report, VerifyError> {
    let p = chain.params();
    let d = p.draw_delay;
    let round: Round = chain
        .state
        .rounds
        .get(&round_id)
        .cloned()
        .ok_or(VerifyError::NoRound(round_id))?;
    // The seed is seed_{close+D}; the draw is at close+D+E, whose header carries the delay.
    let draw_h = round.close_height + d;
    let delay_h = draw_h + p.delay_blocks;
    if chain.height() < delay_h {
        return Err(VerifyError::TooFewBlocks {
            round: round_id,
            needed: delay_h,
            have: chain.height(),
        });
    }
    let check = Round {
        tickets,
        ..round.clone()
    };
    let root = check.compute_ticket_root();
    let chain_root = round.ticket_root.unwrap_or_default();
    if root != chain_root {
        return Err(VerifyError::TicketRoot {
            recomputed: root.short(),
            chain: chain_root.short(),
        });
    }
    steps.push(format!(
        "round {round_id}: {} tickets bought at heights {}..={}, ticket root {} matches",
        check.tickets.len(),
        round.open_height,
        round.close_height,
        root.short()
    ));
    let blk = &chain.block(draw_h).expect("height checked").block;
    let producer = chain.seed_producer(draw_h).expect("validated");
    verify_seed(
        chain.id(),
        &producer,
        &chain.seeds[draw_h as usize - 1],
        draw_h,
        &blk.header.seed,
        blk.header.vrf_proof.as_ref(),
    )
    .map_err(|e| VerifyError::Seed(draw_h, e.to_string()))?;
    steps.push(match blk.header.vrf_proof {
        Some(_) => format!(
            "seed of block {draw_h} = {} : VRF proof by {} (lineup rank 0 of block {}) verifies",
            blk.header.seed.short(),
            producer.short(),
            draw_h - 1
        ),
        None => format!(
            "seed of block {draw_h} = {} : the fallback H(tag || chain || seed_{} || {draw_h}) (the rank-0 seed was not heard in time)",
            blk.header.seed.short(),
            draw_h - 1
        ),
    });
    let proof = chain
        .block(delay_h)
        .and_then(|b| b.block.header.delay.clone())
        .ok_or(VerifyError::NoDelay(delay_h))?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let draw_seed = proof
        .verify_parallel(&blk.header.seed, p.delay_iterations, p.delay_segments, threads)
        .map_err(|e| VerifyError::Delay(delay_h, e))?;
    steps.push(format!(
        "delay in block {delay_h}: {} sequential SHA-256 steps over seed_{draw_h}, {} segments re-run on {threads} threads, output {} is the draw seed",
        proof.iterations,
        proof.segments(),
        draw_seed.short()
    ));
    let winners = lottery::draw(&draw_seed, round_id, check.tickets.len() as u64, round.winners);
    let chain_w = round.drawn.clone().unwrap_or_default();
    if winners != chain_w {
        return Err(VerifyError::Winners {
            recomputed: winners,
            chain: chain_w,
        });
    }
    let winner_keys: Vec<PublicKey> = winners.iter().map(|i| check.tickets[*i as usize].owner).collect();
    steps.push(format!(
        "winners recomputed by rejection sampling: tickets {winners:?} -> {:?}",
        winner_keys.iter().map(|k| k.short()).collect::<Vec<_>>()
    ));
    Ok(Report {
        round: round_id,
        tickets: check.tickets.len() as u64,
        ticket_root: root,
        seed: draw_seed,
        winners,
        winner_keys,
        steps,
    })
}
