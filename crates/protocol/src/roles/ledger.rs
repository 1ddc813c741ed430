//! Ledger: holds the batches and MicroBlocks of the cycle, produces the MicroBlock when this
//! datacenter is the rank-0 producer (or a backup), keeps the evidence pool, commits the
//! block its trustee decided or a peer certified (verified), stores it, announces it, and
//! serves catch-up and batch requests.

use super::follower::Follower;
use super::held::NextCycle;
use super::{Event, Output, Phase};
use crate::block::{Batch, BatchRef, Block, CertifiedBlock, MicroBlock};
use crate::chain::{BlockError, Chain};
use crate::codec::Hash32;
use crate::crypto::{Keypair, PublicKey, Signature};
use crate::ledger::{Receipt, TxOutcome};
use crate::limits;
use crate::node::{Committed, Msg, Reject};
use crate::params::{Genesis, ParamsError};
use crate::statement::{Evidence, Slot};
use crate::vote::Vote;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

#[derive(Debug)]
pub struct Ledger {
    pub f: Follower,
    root: PublicKey,
    micro_key: Keypair,
    batches: BTreeMap<Hash32, Batch>,
    /// Batches of certified blocks, served to peers that catch up and to verifiers.
    archive: BTreeMap<Hash32, Batch>,
    /// First batch seen per (buffer key, cycle, slot), to catch a second one (evidence).
    batch_slots: BTreeMap<Slot, Batch>,
    micros: BTreeMap<u32, MicroBlock>,
    /// Durable: the MicroBlock this datacenter produced per height (never a second one).
    produced: BTreeMap<u64, MicroBlock>,
    evidence_pool: Vec<Evidence>,
    /// (height, round, value, prevotes) of the last block decided here, for the next MicroBlock.
    decided_prevotes: Option<(u64, u32, Hash32, Vec<Vote>)>,
    /// Distinct seeds among the valid blocks the trustee held for the height it decided.
    seed_choices: Option<(u64, usize)>,
    /// Batches a block the trustee waits on names: kept even if their buffer equivocated.
    wanted: BTreeSet<Hash32>,
    /// Second versions of a batch slot, refused as equivocation but kept (bounded) in case a
    /// block the trustee waits on names one: the peer's answer to its request can come
    /// before the trustee's `Wanted` event.
    contested: BTreeMap<Hash32, Batch>,
    /// Certified blocks ahead of this datacenter, by (height, sender).
    ahead: BTreeMap<(u64, PublicKey), (CertifiedBlock, Vec<Batch>)>,
    /// Sync and batch requests served this cycle, by sender.
    served: BTreeMap<PublicKey, (u32, u32)>,
    last_sync: u64,
    helped: BTreeSet<(PublicKey, u64)>,
    held: NextCycle,
    /// Where each recent transaction was executed and how, for status queries (bounded:
    /// the oldest are forgotten first).
    receipts: BTreeMap<Hash32, (u64, TxOutcome)>,
    receipt_order: VecDeque<Hash32>,
    stall: super::StallGate,
    /// The block this datacenter's trustee decided while batches it names are missing here
    /// (a ledger restarted between the decision and its store lost the peers' batches it held
    /// in memory; when every datacenter's ledger did, no peer has the block certified either).
    /// Its batches are asked of the peers, whose ledgers hold at least their own datacenter's,
    /// and it commits once they are all here.
    pending: Option<CertifiedBlock>,
}

/// Transactions whose execution the ledger remembers for status queries.
pub const RECEIPTS_KEPT: usize = 1 << 18;

impl Ledger {
    pub fn new(genesis: Genesis, root: PublicKey, micro_key: Keypair) -> Result<Self, ParamsError> {
        Ok(Ledger {
            f: Follower::new(genesis)?,
            root,
            micro_key,
            batches: BTreeMap::new(),
            archive: BTreeMap::new(),
            batch_slots: BTreeMap::new(),
            micros: BTreeMap::new(),
            produced: BTreeMap::new(),
            evidence_pool: Vec::new(),
            decided_prevotes: None,
            seed_choices: None,
            wanted: BTreeSet::new(),
            contested: BTreeMap::new(),
            ahead: BTreeMap::new(),
            served: BTreeMap::new(),
            last_sync: 0,
            helped: BTreeSet::new(),
            stall: super::StallGate::default(),
            pending: None,
            held: NextCycle::default(),
            receipts: BTreeMap::new(),
            receipt_order: VecDeque::new(),
        })
    }

    pub fn chain(&self) -> &Chain {
        &self.f.chain
    }
    fn height(&self) -> u64 {
        self.f.chain.height() + 1
    }
    pub fn evidence(&self) -> &[Evidence] {
        &self.evidence_pool
    }
    pub fn batch(&self, d: &Hash32) -> Option<&Batch> {
        self.archive.get(d).or_else(|| self.batches.get(d))
    }
    pub fn held_len(&self) -> usize {
        self.held.len()
    }
    /// The height that executed transaction `tx` and its outcome, if recent.
    pub fn receipt(&self, tx: &Hash32) -> Option<&(u64, TxOutcome)> {
        self.receipts.get(tx)
    }

    /// Remembers where block `h` executed each transaction and how. Two skips are not the
    /// transaction's outcome: one that ran ahead of a nonce gap (its buffer re-pools it for a
    /// later block), and a repeat of one already executed (a copy that reached two buffers).
    /// Recording either would report a pending or executed transaction as failed.
    fn note_receipts(&mut self, h: u64, receipts: &[Receipt]) {
        for r in receipts {
            if matches!(r.outcome, TxOutcome::BadNonce { expected, got } if got > expected) {
                continue;
            }
            match self.receipts.get(&r.tx_hash) {
                Some((_, o)) if o.used_nonce() => {}
                Some(_) => {
                    self.receipts.insert(r.tx_hash, (h, r.outcome));
                }
                None => {
                    self.receipts.insert(r.tx_hash, (h, r.outcome));
                    self.receipt_order.push_back(r.tx_hash);
                }
            }
        }
        while self.receipt_order.len() > RECEIPTS_KEPT {
            if let Some(old) = self.receipt_order.pop_front() {
                self.receipts.remove(&old);
            }
        }
    }

    /// Block `h` with its batches: the public data a verifier replays.
    pub fn full_block(&self, h: u64) -> Option<(CertifiedBlock, Vec<Batch>)> {
        let cb = self.f.chain.block(h)?.clone();
        let batches = self.batches_of(&cb.block);
        Some((cb, batches))
    }

    /// Called once when its shell starts it: announces the tip again. The block was stored
    /// before its announcement left, so a ledger stopped between the two (or whose bus was down
    /// until it stopped) never announced it, and services that follow the chain from the bus
    /// would wait for it for ever; a block they already follow changes nothing.
    pub fn start(&mut self, _now: u64, out: &mut Vec<Output>) {
        let h = self.f.chain.height();
        if let Some((cb, batches)) = self.full_block(h).filter(|_| h > 0) {
            out.push(Output::Event(Event::Certified(Box::new(cb), batches)));
        }
    }

    /// Replays a stored block after a crash (verified like a peer's).
    pub fn replay(
        &mut self,
        now: u64,
        cb: CertifiedBlock,
        batches: Vec<Batch>,
        out: &mut Vec<Output>,
    ) -> Result<(), BlockError> {
        for b in batches {
            let d = b.digest();
            self.add_batch(b, d);
        }
        self.commit(now, cb, false, out)
    }

    /// Puts back, after a crash, a MicroBlock or batch this datacenter signed.
    pub fn restore_signed(&mut self, m: &Msg, out: &mut Vec<Output>) {
        let h = self.height();
        let expiry = self.f.chain.params().batch_expiry;
        match m {
            Msg::Micro(m) if m.height >= h => {
                self.produced.insert(m.height, m.clone());
            }
            Msg::Batch(b) if b.cycle + expiry >= h => {
                let d = b.digest();
                if !self.f.chain.state.included.contains_key(&d) && self.add_batch(b.clone(), d) {
                    out.push(Output::Event(Event::Batch(b.clone())));
                }
            }
            _ => {}
        }
    }

    pub fn forget(&mut self) {
        self.micros.clear();
        self.held.clear();
        self.ahead.clear();
        self.helped.clear();
    }

    /// `d` is `b.digest()`, computed once by the caller.
    fn add_batch(&mut self, b: Batch, d: Hash32) -> bool {
        match self.f.chain.verify_batch_digest(&b, d) {
            Ok(d) => {
                self.batches.entry(d).or_insert(b);
                true
            }
            Err(_) => false,
        }
    }

    fn batches_of(&self, b: &Block) -> Vec<Batch> {
        b.micro.as_ref().map_or(Vec::new(), |m| {
            m.batches
                .iter()
                .filter_map(|r| {
                    self.archive
                        .get(&r.digest)
                        .or_else(|| self.batches.get(&r.digest))
                        .cloned()
                })
                .collect()
        })
    }

    /// Keeps evidence (bounded) and asks the shell to persist it (rule 10).
    pub fn note_evidence(&mut self, e: Evidence, out: &mut Vec<Output>) {
        // One piece per datacenter: its role keys are separate signers, but a MicroBlock may
        // accuse a datacenter once (the simulator's all-out equivocator had its vote and batch
        // keys accused side by side, and every MicroBlock after was refused).
        let state = &self.f.chain.state;
        let root = |x: &Evidence| state.dc_of(&x.offender()).map(|(r, _)| r);
        let accused = root(&e).is_none_or(|r| self.evidence_pool.iter().any(|x| root(x) == Some(r)));
        // Evidence arrives from the trustee and lot drawing after the block that may already
        // have slashed its offender: accusing a slashed datacenter again makes a MicroBlock
        // invalid (EvidenceRepeat).
        let slashed = state.dc_of(&e.offender()).is_some_and(|(_, d)| d.slashed_at.is_some());
        if !accused
            && !slashed
            && self.evidence_pool.len() < self.f.chain.params().max_evidence
            && e.verify(self.f.chain.id()).is_ok()
        {
            out.push(Output::PersistEvidence(e.clone()));
            self.evidence_pool.push(e);
        }
    }

    pub fn on_event(&mut self, now: u64, ev: &Event, out: &mut Vec<Output>) {
        let h = self.height();
        match ev {
            Event::Sealed(b) => {
                let d = b.digest();
                if !self.batches.contains_key(&d) && self.add_batch(b.clone(), d) {
                    out.push(Output::Event(Event::Batch(b.clone())));
                    self.retry_pending(now, out);
                }
            }
            Event::Decided(cb, choices) if cb.block.height() == h => {
                self.seed_choices = Some((h, *choices));
                if self.commit(now, (**cb).clone(), true, out).is_err() {
                    // The trustee validated it against batches this ledger should hold too; if
                    // one is missing here (a restarted ledger, a lost event), the block comes
                    // back certified from the peers, checked, like any block this datacenter
                    // missed; or, if no peer stored it, its batches come from the peers.
                    out.push(Output::Broadcast(Msg::SyncRequest { from: h }));
                    // Its batches are wanted: a restarted ledger lost which version of an
                    // equivocated slot the block names, and must not refuse that one.
                    let missing: Vec<Hash32> = cb
                        .block
                        .batch_digests()
                        .filter(|d| !self.batches.contains_key(d))
                        .collect();
                    for d in missing {
                        if let Some(b) = self.contested.remove(&d) {
                            self.batches.insert(d, b);
                        } else if self.wanted.len() < limits::WANTED_BATCHES {
                            self.wanted.insert(d);
                        }
                    }
                    self.pending = Some((**cb).clone());
                    self.request_pending(out);
                    self.retry_pending(now, out);
                }
            }
            Event::Prevotes {
                height,
                round,
                value,
                votes,
            } if *height + 1 == h => {
                self.decided_prevotes = Some((*height, *round, *value, votes.clone()));
            }
            Event::Evidence(e) => self.note_evidence(e.clone(), out),
            Event::Wanted(x, ds) if *x == h => {
                for d in ds.iter().take(limits::BATCH_DIGESTS_PER_REQUEST) {
                    if self.wanted.len() >= limits::WANTED_BATCHES {
                        break;
                    }
                    self.wanted.insert(*d);
                    if let Some(b) = self.contested.remove(d) {
                        self.batches.insert(*d, b.clone());
                        out.push(Output::Event(Event::Batch(b)));
                    } else if let Some(b) = self.batches.get(d) {
                        // Held here and announced before: the trustee that wants it restarted
                        // alone and lost it.
                        out.push(Output::Event(Event::Batch(b.clone())));
                    }
                }
                self.retry_pending(now, out);
            }
            Event::Behind(peer, x) => {
                if let Some(cb) = self.f.chain.block(*x)
                    && self.helped.insert((*peer, *x))
                {
                    let batches = self.batches_of(&cb.block);
                    out.push(Output::Send(*peer, Msg::Certified(cb.clone(), batches)));
                }
            }
            Event::Phase(x, phase) if *x == h => match phase {
                Phase::SeedDeadline if self.dc_at(0) == Some(self.root) => self.publish_micro(0, out),
                Phase::BackupMicro if !self.micros.contains_key(&0) => {
                    for rank in 1..=self.f.chain.params().backups {
                        if self.dc_at(rank) == Some(self.root) {
                            self.publish_micro(rank as u32, out);
                        }
                    }
                }
                Phase::Stalled if self.stall.pass(now, self.f.chain.cycle_length()) => {
                    // MicroBlocks are sent once; a partition may have swallowed them, and a
                    // trustee that restarted alone lost them.
                    for m in self.micros.values() {
                        out.push(Output::Broadcast(Msg::Micro(m.clone())));
                        out.push(Output::Event(Event::Micro(m.clone())));
                    }
                    out.push(Output::Broadcast(Msg::SyncRequest {
                        from: self.f.chain.height() + 1,
                    }));
                    self.request_pending(out);
                    // The per-cycle request limits count from the height's start; a chain
                    // stuck at one height would otherwise refuse its peers' requests for good
                    // once they are spent, the very requests that can unstick it.
                    self.served.clear();
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// Asks the peers for the batches the pending decided block still misses.
    fn request_pending(&self, out: &mut Vec<Output>) {
        if let Some(cb) = &self.pending {
            let missing: Vec<Hash32> = cb
                .block
                .batch_digests()
                .filter(|d| !self.batches.contains_key(d))
                .take(limits::BATCH_DIGESTS_PER_REQUEST)
                .collect();
            if !missing.is_empty() {
                out.push(Output::Broadcast(Msg::BatchRequest(missing)));
            }
        }
    }

    /// Commits the pending decided block once every batch it names is here.
    fn retry_pending(&mut self, now: u64, out: &mut Vec<Output>) {
        let complete = self
            .pending
            .as_ref()
            .is_some_and(|cb| cb.block.batch_digests().all(|d| self.batches.contains_key(&d)));
        if complete && let Some(cb) = self.pending.take() {
            let _ = self.commit(now, cb, true, out);
        }
    }

    /// The datacenter at lineup `rank` of the previous block.
    fn dc_at(&self, rank: usize) -> Option<PublicKey> {
        self.f.chain.lineup(self.height() - 1, rank).map(|e| e.dc)
    }

    fn publish_micro(&mut self, rank: u32, out: &mut Vec<Output>) {
        let h = self.height();
        // One MicroBlock per height, also across a restart: re-send the one already signed.
        if let Some(m) = self.produced.get(&h) {
            self.micros.insert(m.producer_rank, m.clone());
            out.push(Output::Event(Event::Micro(m.clone())));
            out.push(Output::Broadcast(Msg::Micro(m.clone())));
            return;
        }
        let chain = &self.f.chain;
        let p = chain.params();
        let state = &chain.state;
        // Keyed by digest.
        let mut refs: Vec<BatchRef> = self
            .batches
            .iter()
            .filter(|(_, b)| b.cycle <= h && b.cycle + p.batch_expiry >= h)
            .map(|(d, b)| BatchRef {
                cycle: b.cycle,
                slot: b.slot,
                digest: *d,
            })
            .filter(|r| !state.included.contains_key(&r.digest))
            .collect();
        refs.sort();
        let prev_qc = chain.block(h - 1).map(|b| b.qc.clone());
        let m = MicroBlock {
            height: h,
            producer_rank: rank,
            producer_pk: self.micro_key.public(),
            batches: refs,
            prev_qc: prev_qc.clone(),
            prev_prevotes: match (&prev_qc, &self.decided_prevotes) {
                (Some(qc), Some((height, round, value, votes)))
                    if *height == qc.height && *round == qc.round && *value == qc.value =>
                {
                    votes.clone()
                }
                _ => Vec::new(),
            },
            evidence: self.evidence_pool.clone(),
            sig: Signature::default(),
        }
        .sign(&self.micro_key, chain.id());
        self.micros.insert(rank, m.clone());
        self.produced.insert(h, m.clone());
        out.push(Output::PersistSigned(Box::new(Msg::Micro(m.clone()))));
        out.push(Output::Event(Event::Micro(m.clone())));
        out.push(Output::Broadcast(Msg::Micro(m)));
    }

    /// Commits block `h`: `decided` when this datacenter's trustee decided it (it validated
    /// the block and formed the certificate from verified votes: trusted, and announced to the
    /// peers), verified otherwise (a block from a peer or the store).
    fn commit(&mut self, now: u64, cb: CertifiedBlock, decided: bool, out: &mut Vec<Output>) -> Result<(), BlockError> {
        let outcome = if decided {
            self.f.chain.follow(cb.clone(), &self.batches)?
        } else {
            self.f.chain.commit(cb.clone(), &self.batches)?
        };
        let h = cb.block.height();
        let included: Vec<Hash32> = cb.block.batch_digests().collect();
        let p = self.f.chain.params().clone();
        for d in &included {
            if let Some(b) = self.batches.remove(d) {
                self.archive.insert(*d, b);
            }
        }
        self.batches.retain(|_, b| b.cycle + p.batch_expiry + 2 >= h);
        self.note_receipts(h, &outcome.receipts);
        let batches = self.batches_of(&cb.block);
        out.push(Output::PersistBlock(Box::new(cb.clone()), batches.clone()));
        if decided {
            out.push(Output::Broadcast(Msg::Certified(cb.clone(), batches.clone())));
        }
        out.push(Output::Committed(Box::new(Committed {
            height: h,
            hash: cb.block.hash(),
            round: cb.qc.round,
            leader: cb.block.leader().miner,
            signers: cb.qc.signers().copied().collect(),
            txs: outcome.receipts.len(),
            outcome,
            included,
            seed_choices: self.seed_choices.filter(|(x, _)| *x == h).map_or(0, |x| x.1),
        })));
        out.push(Output::Event(Event::Certified(Box::new(cb), batches)));
        self.start_height(now, out);
        Ok(())
    }

    fn start_height(&mut self, now: u64, out: &mut Vec<Output>) {
        let h = self.height();
        self.pending.take_if(|cb| cb.block.height() < h);
        let p = self.f.chain.params().clone();
        self.micros.clear();
        self.batch_slots.retain(|s, _| s.height + p.batch_expiry + 1 >= h);
        self.produced.retain(|x, _| *x >= h);
        self.helped.retain(|(_, x)| *x + 2 >= h);
        self.served.clear();
        self.wanted.clear();
        self.contested.clear();
        self.decided_prevotes = None;
        let state = &self.f.chain.state;
        self.evidence_pool
            .retain(|e| state.dc_of(&e.offender()).is_some_and(|(_, d)| d.slashed_at.is_none()));
        for (from, m) in self.held.take(h) {
            let _ = self.on_msg(now, from, m, out);
        }
    }

    /// Commits held blocks that extend the chain; of several candidates for one height (from
    /// different senders), the first that commits wins and a forged one costs only its check.
    pub fn tick(&mut self, now: u64, out: &mut Vec<Output>) {
        loop {
            let next = self.f.chain.height() + 1;
            let candidates: Vec<(u64, PublicKey)> = self
                .ahead
                .range((next, PublicKey([0; 32]))..)
                .take_while(|(k, _)| k.0 == next)
                .map(|(k, _)| *k)
                .collect();
            let mut committed = false;
            for k in candidates {
                let (cb, batches) = self.ahead.remove(&k).expect("listed");
                for b in batches {
                    let d = b.digest();
                    self.add_batch(b, d);
                }
                if self.commit(now, cb, false, out).is_ok() {
                    committed = true;
                    break;
                }
            }
            if !committed {
                break;
            }
        }
        let h = self.f.chain.height();
        self.ahead.retain(|k, _| k.0 > h);
    }

    fn hold(&mut self, from: PublicKey, m: Msg) -> Result<(), Reject> {
        let chain = &self.f.chain;
        let p = chain.params();
        let signed = match &m {
            Msg::Micro(x) => x.verify_sig(chain.id()).is_ok(),
            Msg::Batch(b) => b
                .validate(chain.id(), p.max_tx_bytes, p.max_batch_bytes, &b.buffer_pk)
                .is_ok(),
            _ => false,
        };
        let registered = chain.state.dc_of(&from).is_some();
        self.held.hold(self.height() + 1, from, registered, signed, m)
    }

    pub fn on_msg(&mut self, now: u64, from: PublicKey, msg: Msg, out: &mut Vec<Output>) -> Result<(), Reject> {
        let h = self.height();
        match msg {
            Msg::Batch(b) => {
                if b.cycle > h {
                    return self.hold(from, Msg::Batch(b));
                }
                let d = b.digest();
                if !self.batches.contains_key(&d) {
                    self.f.chain.verify_batch_digest(&b, d)?;
                    match self.batch_slots.get(&b.slot_of()) {
                        Some(first) => {
                            if let Some(e) = first.evidence(&b) {
                                self.note_evidence(e, out);
                                // A block waiting on this very batch still needs it: refusing
                                // it would leave the nodes that saw the other version unable
                                // to validate that block for good (the simulator's
                                // equivocating buffer stalled a height so). Evidence slashes
                                // the offender either way.
                                if !self.wanted.contains(&d) {
                                    if self.contested.len() < limits::WANTED_BATCHES {
                                        self.contested.insert(d, b);
                                    }
                                    return Err(Reject::Equivocation);
                                }
                            }
                        }
                        None => {
                            self.batch_slots.insert(b.slot_of(), b.clone());
                        }
                    }
                    self.batches.insert(d, b.clone());
                    out.push(Output::Event(Event::Batch(b)));
                    self.retry_pending(now, out);
                }
                Ok(())
            }
            Msg::Micro(m) => {
                let p = self.f.chain.params();
                if m.height > h {
                    return self.hold(from, Msg::Micro(m));
                }
                if m.height < h {
                    return Err(Reject::Stale);
                }
                if m.producer_rank as usize > p.backups {
                    return Err(Reject::Rank(m.producer_rank));
                }
                if self.micros.get(&m.producer_rank) == Some(&m) {
                    return Ok(());
                }
                let producer = self
                    .f
                    .chain
                    .lineup(h - 1, m.producer_rank as usize)
                    .map(|e| e.keys.micro);
                if producer != Some(m.producer_pk) || m.verify_sig(self.f.chain.id()).is_err() {
                    return Err(Reject::Signature);
                }
                if let Some(e) = self.micros.get(&m.producer_rank).and_then(|first| first.evidence(&m)) {
                    self.note_evidence(e, out);
                    return Err(Reject::Equivocation);
                }
                let missing: Vec<Hash32> = m
                    .batches
                    .iter()
                    .map(|r| r.digest)
                    .filter(|d| !self.batches.contains_key(d))
                    .collect();
                if !missing.is_empty() {
                    out.push(Output::Send(from, Msg::BatchRequest(missing)));
                }
                self.micros.insert(m.producer_rank, m.clone());
                out.push(Output::Event(Event::Micro(m)));
                Ok(())
            }
            Msg::Certified(cb, batches) => {
                let ch = cb.block.height();
                if ch <= self.f.chain.height() {
                    return Err(Reject::Stale);
                }
                if ch > h {
                    let mine = self.ahead.keys().filter(|(_, f)| *f == from).count();
                    if mine < limits::AHEAD_PER_PEER && self.ahead.len() < limits::AHEAD_TOTAL {
                        self.ahead.insert((ch, from), (cb, batches));
                    }
                    // One catch-up request per half cycle, however many blocks arrive ahead.
                    if now >= self.last_sync + self.f.chain.cycle_length() / 2 {
                        self.last_sync = now;
                        out.push(Output::Send(from, Msg::SyncRequest { from: h }));
                    }
                    return Err(Reject::Future);
                }
                for b in batches {
                    let d = b.digest();
                    self.add_batch(b, d);
                }
                self.commit(now, cb, false, out)?;
                Ok(())
            }
            Msg::SyncRequest { from: start } => {
                let served = self.served.entry(from).or_default();
                if served.0 >= limits::SYNC_REQUESTS_PER_CYCLE {
                    return Err(Reject::Busy(
                        "sync requests this cycle",
                        limits::SYNC_REQUESTS_PER_CYCLE as usize,
                    ));
                }
                served.0 += 1;
                let top = self
                    .f
                    .chain
                    .height()
                    .min(start.saturating_add(limits::SYNC_BLOCKS_PER_REQUEST - 1));
                for x in start.max(1)..=top {
                    let cb = self.f.chain.block(x).expect("within height").clone();
                    let batches = self.batches_of(&cb.block);
                    out.push(Output::Send(from, Msg::Certified(cb, batches)));
                }
                Ok(())
            }
            Msg::BatchRequest(ds) => {
                let served = self.served.entry(from).or_default();
                if served.1 >= limits::BATCH_REQUESTS_PER_CYCLE {
                    return Err(Reject::Busy(
                        "batch requests this cycle",
                        limits::BATCH_REQUESTS_PER_CYCLE as usize,
                    ));
                }
                served.1 += 1;
                for d in ds.iter().take(limits::BATCH_DIGESTS_PER_REQUEST) {
                    if let Some(b) = self.batches.get(d) {
                        out.push(Output::Send(from, Msg::Batch(b.clone())));
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Identity;
    use crate::tx::{Transaction, TxKind};
    use crate::vote::Step;

    fn solo() -> (Genesis, Identity, Keypair) {
        let id = Identity::from_label("ledger-test/dc0");
        let client = Keypair::from_label("ledger-test/client");
        (Genesis::solo(&id, vec![(client.public(), 1 << 30)]), id, client)
    }

    // Found in review: the trustee's evidence reaches the ledger after the block that slashed
    // its offender; accusing a slashed datacenter again would make every MicroBlock invalid.
    #[test]
    fn evidence_against_a_slashed_datacenter_is_not_pooled() {
        let (g, id, _) = solo();
        let chain = g.chain_id();
        let mut l = Ledger::new(g, id.root.public(), id.micro.clone()).unwrap();
        let a = Vote::sign_unchecked(&id.vote, &chain, 1, 0, Step::Prevote, Some(Hash32([1; 32])), 0);
        let b = Vote::sign_unchecked(&id.vote, &chain, 1, 0, Step::Prevote, Some(Hash32([2; 32])), 0);
        let e = a.evidence(&b).unwrap();
        l.f.chain
            .state
            .datacenters
            .get_mut(&id.root.public())
            .unwrap()
            .slashed_at = Some(1);
        let mut out = Vec::new();
        l.note_evidence(e.clone(), &mut out);
        assert!(l.evidence().is_empty() && out.is_empty());
        l.f.chain
            .state
            .datacenters
            .get_mut(&id.root.public())
            .unwrap()
            .slashed_at = None;
        l.note_evidence(e, &mut out);
        assert_eq!(l.evidence().len(), 1, "not slashed: pooled and persisted");
        assert!(matches!(out[0], Output::PersistEvidence(_)));
    }

    // Found by the load generator: a transaction that ran ahead of a nonce gap is carried by a
    // block, skipped, and executed in a later one; a second copy of an executed transaction is
    // skipped too. Neither skip may show as the transaction's outcome.
    #[test]
    fn a_skipped_copy_is_not_the_receipt() {
        let (g, id, _) = solo();
        let mut l = Ledger::new(g, id.root.public(), id.micro.clone()).unwrap();
        let (ahead, done, unpaid) = (Hash32([1; 32]), Hash32([2; 32]), Hash32([3; 32]));
        let r = |tx_hash, outcome| Receipt { tx_hash, outcome };
        let cannot = TxOutcome::CannotPayFee { balance: 0, fee: 1 };
        l.note_receipts(
            3,
            &[
                r(ahead, TxOutcome::BadNonce { expected: 0, got: 5 }),
                r(done, TxOutcome::Ok),
                r(unpaid, cannot),
            ],
        );
        assert_eq!(l.receipt(&ahead), None, "ran ahead: still pending");
        assert_eq!(l.receipt(&unpaid), Some(&(3, cannot)), "a failure is recorded");
        l.note_receipts(
            4,
            &[
                r(ahead, TxOutcome::Ok),
                r(done, TxOutcome::BadNonce { expected: 1, got: 0 }),
                r(unpaid, TxOutcome::Ok),
            ],
        );
        assert_eq!(l.receipt(&ahead), Some(&(4, TxOutcome::Ok)));
        assert_eq!(
            l.receipt(&unpaid),
            Some(&(4, TxOutcome::Ok)),
            "executed after all: the execution is the receipt"
        );
        assert_eq!(
            l.receipt(&done),
            Some(&(3, TxOutcome::Ok)),
            "the repeat changed nothing"
        );
    }

    // Found in review: the peer's answer to the trustee's batch request can reach the ledger
    // before the trustee's `Wanted` event; the equivocating version is kept aside, not lost.
    #[test]
    fn a_second_batch_version_refused_first_is_released_when_wanted() {
        let (g, id, client) = solo();
        let chain = g.chain_id();
        let slot = (0..g.params.payroll as u32)
            .find(|s| Chain::new(g.clone()).unwrap().payroll_entry(0, *s).is_some())
            .unwrap();
        let mut l = Ledger::new(g, id.root.public(), id.micro.clone()).unwrap();
        let tx = |amount| {
            Transaction::new(
                &client,
                &chain,
                0,
                1,
                TxKind::Transfer {
                    to: id.root.public(),
                    amount,
                },
                vec![],
            )
        };
        let first = Batch::seal(&id.batch, &chain, 1, slot, vec![tx(1)]);
        let other = Batch::seal(&id.batch, &chain, 1, slot, vec![tx(2)]);
        let from = id.root.public();
        let mut out = Vec::new();
        l.on_msg(0, from, Msg::Batch(first), &mut out).unwrap();
        assert_eq!(
            l.on_msg(0, from, Msg::Batch(other.clone()), &mut out),
            Err(Reject::Equivocation)
        );
        assert!(l.batch(&other.digest()).is_none());
        let mut out = Vec::new();
        l.on_event(0, &Event::Wanted(1, vec![other.digest()]), &mut out);
        assert!(l.batch(&other.digest()).is_some());
        assert!(
            out.iter()
                .any(|o| matches!(o, Output::Event(Event::Batch(b)) if *b == other))
        );
    }

    // A chain stuck at one height never starts a new one, where the per-cycle request limits
    // are reset: the peers' requests, which can unstick it, are served again after each stall.
    #[test]
    fn request_limits_are_renewed_at_each_stall() {
        let (g, id, _) = solo();
        let l0 = g.params.l0_ms;
        let mut l = Ledger::new(g, id.root.public(), id.micro.clone()).unwrap();
        let peer = Keypair::from_label("ledger-test/peer").public();
        let mut out = Vec::new();
        for _ in 0..limits::BATCH_REQUESTS_PER_CYCLE {
            l.on_msg(0, peer, Msg::BatchRequest(vec![Hash32([1; 32])]), &mut out)
                .unwrap();
        }
        let ask =
            |l: &mut Ledger, out: &mut Vec<Output>| l.on_msg(0, peer, Msg::BatchRequest(vec![Hash32([1; 32])]), out);
        assert!(matches!(ask(&mut l, &mut out), Err(Reject::Busy(..))));
        l.on_event(3 * l0, &Event::Phase(1, Phase::Stalled), &mut out);
        assert_eq!(ask(&mut l, &mut out), Ok(()));
    }

    // A trustee that restarted alone lost the batches and MicroBlocks the ledger announced to
    // it: a batch it wants is announced again even when the ledger holds it plainly, and a
    // stall announces the cycle's MicroBlocks again (once per cycle length, however many
    // stall events a restarted ledger reads at once).
    #[test]
    fn a_restarted_trustee_gets_batches_and_micro_blocks_again() {
        let (g, id, client) = solo();
        let chain = g.chain_id();
        let slot = (0..g.params.payroll as u32)
            .find(|s| Chain::new(g.clone()).unwrap().payroll_entry(0, *s).is_some())
            .unwrap();
        let l0 = g.params.l0_ms;
        let mut l = Ledger::new(g, id.root.public(), id.micro.clone()).unwrap();
        let tx = Transaction::new(
            &client,
            &chain,
            0,
            1,
            TxKind::Transfer {
                to: id.root.public(),
                amount: 1,
            },
            vec![],
        );
        let batch = Batch::seal(&id.batch, &chain, 1, slot, vec![tx]);
        let mut out = Vec::new();
        l.on_msg(0, id.root.public(), Msg::Batch(batch.clone()), &mut out)
            .unwrap();
        let announced = |out: &[Output]| {
            out.iter()
                .filter(|o| matches!(o, Output::Event(Event::Batch(b)) if *b == batch))
                .count()
        };
        assert_eq!(announced(&out), 1);
        let mut out = Vec::new();
        l.on_event(0, &Event::Wanted(1, vec![batch.digest(), Hash32([9; 32])]), &mut out);
        assert_eq!(announced(&out), 1, "announced again when wanted");
        // This datacenter produces MicroBlock 1 (rank 0 of the genesis lineup).
        let mut out = Vec::new();
        l.on_event(500, &Event::Phase(1, Phase::SeedDeadline), &mut out);
        let micro = out
            .iter()
            .find_map(|o| match o {
                Output::Event(Event::Micro(m)) => Some(m.clone()),
                _ => None,
            })
            .expect("MicroBlock 1");
        let micros = |out: &[Output]| {
            out.iter()
                .filter(|o| matches!(o, Output::Event(Event::Micro(m)) if *m == micro))
                .count()
        };
        let mut out = Vec::new();
        for _ in 0..3 {
            l.on_event(3 * l0, &Event::Phase(1, Phase::Stalled), &mut out);
        }
        assert_eq!(micros(&out), 1, "announced again at the stall, once");
        l.on_event(5 * l0, &Event::Phase(1, Phase::Stalled), &mut out);
        assert_eq!(micros(&out), 2);
    }
}
