//! The `Client` gRPC service of one datacenter: transactions to its kernel buffer (answered
//! once durable), status from its ledger, lots from client devices to its miner pool.

use crate::host::{Inspect, RoleHost, SubmitLot, SubmitTx, SubmitTxs, TxAnswer};
use actix::Addr;
use daoli_protocol::codec::Hash32;
use daoli_protocol::ledger::TxOutcome;
use daoli_protocol::roles::clock::Clock;
use daoli_protocol::roles::kernel_buffer::KernelBufferRole;
use daoli_protocol::roles::ledger::Ledger;
use daoli_protocol::roles::miner_pool::MinerPool;
use daoli_wire::client::{AccountStatus, ChainStatus, PayrollRoute, TxReply, TxStatus};
use daoli_wire::proto as pb;
use tokio::sync::{mpsc, oneshot};
use tonic::{Request, Response, Status};

/// Client transactions waiting for the kernel buffer, from all connections together; when it
/// is full a client hears RESOURCE_EXHAUSTED and should back off.
pub const SUBMIT_QUEUE: usize = 8192;

/// Transactions the kernel buffer takes in one step, and one store transaction, at most.
pub const GROUP_COMMIT: usize = 512;

type Queued = (SubmitTx, oneshot::Sender<TxAnswer>);

/// The roles a client talks to.
#[derive(Debug, Clone)]
pub struct ClientApi {
    clock: Addr<RoleHost<Clock>>,
    miner_pool: Addr<RoleHost<MinerPool>>,
    kernel_buffer: Addr<RoleHost<KernelBufferRole>>,
    ledger: Addr<RoleHost<Ledger>>,
    submit: mpsc::Sender<Queued>,
}

/// Hands queued transactions to the kernel buffer in groups: whatever arrived while the last
/// group was being made durable goes in the next (group commit), so one store write serves
/// many clients and a lone client still goes at once.
async fn group_commit(mut queue: mpsc::Receiver<Queued>, kernel_buffer: Addr<RoleHost<KernelBufferRole>>) {
    let mut group = Vec::with_capacity(GROUP_COMMIT);
    while queue.recv_many(&mut group, GROUP_COMMIT).await > 0 {
        let (txs, waiting): (Vec<SubmitTx>, Vec<oneshot::Sender<TxAnswer>>) = group.drain(..).unzip();
        // The actor is gone: dropping `waiting` answers each client "unavailable".
        let Ok(answers) = kernel_buffer.send(SubmitTxs(txs)).await else {
            return;
        };
        for (w, a) in waiting.into_iter().zip(answers) {
            let _ = w.send(a);
        }
    }
}

fn gone<E: std::fmt::Display>(e: E) -> Status {
    Status::unavailable(format!("service stopped: {e}"))
}

/// A role's refusal of a client's input: busy is for later (RESOURCE_EXHAUSTED, back off),
/// anything else is final for this input.
fn refused(e: daoli_protocol::node::Reject) -> Status {
    match e {
        daoli_protocol::node::Reject::Busy(..) => Status::resource_exhausted(e.to_string()),
        e => Status::failed_precondition(e.to_string()),
    }
}

fn bad<E: std::fmt::Display>(e: E) -> Status {
    Status::invalid_argument(e.to_string())
}

impl ClientApi {
    /// The API over a datacenter's services; starts its group-commit task on the current
    /// runtime.
    pub fn new(
        clock: Addr<RoleHost<Clock>>,
        miner_pool: Addr<RoleHost<MinerPool>>,
        kernel_buffer: Addr<RoleHost<KernelBufferRole>>,
        ledger: Addr<RoleHost<Ledger>>,
    ) -> Self {
        Self::with_queue(clock, miner_pool, kernel_buffer, ledger, SUBMIT_QUEUE)
    }

    /// As [`ClientApi::new`], with room for `queue` waiting transactions.
    pub fn with_queue(
        clock: Addr<RoleHost<Clock>>,
        miner_pool: Addr<RoleHost<MinerPool>>,
        kernel_buffer: Addr<RoleHost<KernelBufferRole>>,
        ledger: Addr<RoleHost<Ledger>>,
        queue: usize,
    ) -> Self {
        let (submit, queue) = mpsc::channel(queue.max(1));
        tokio::spawn(group_commit(queue, kernel_buffer.clone()));
        ClientApi {
            clock,
            miner_pool,
            kernel_buffer,
            ledger,
            submit,
        }
    }

    pub fn server(self) -> pb::client_server::ClientServer<Self> {
        pb::client_server::ClientServer::new(self)
            .max_decoding_message_size(daoli_wire::limits::CLIENT_SERVER_MAX_DECODING)
            .max_encoding_message_size(daoli_wire::limits::MAX_CLIENT_REPLY_BYTES)
    }
}

#[tonic::async_trait]
impl pb::client_server::Client for ClientApi {
    async fn submit_tx(&self, req: Request<pb::SubmitTxRequest>) -> Result<Response<pb::SubmitTxReply>, Status> {
        let s: daoli_wire::client::SubmitTx = req.into_inner().try_into().map_err(bad)?;
        let tx_hash = s.tx.hash();
        let from = s.tx.sender;
        let (answer, answered) = oneshot::channel();
        let queued = SubmitTx {
            tx: s.tx,
            slot: s.slot,
            from,
        };
        self.submit.try_send((queued, answer)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Status::resource_exhausted(format!(
                "{} transactions are waiting for this kernel buffer; retry later",
                self.submit.max_capacity()
            )),
            mpsc::error::TrySendError::Closed(_) => gone("kernel buffer"),
        })?;
        let rx = answered.await.map_err(gone)?.map_err(refused)?;
        // The reply comes once the transaction is durable. Without one (the service stopped:
        // its store failed) the transaction was not acknowledged.
        let result = rx
            .await
            .map_err(|_| gone("kernel buffer; the transaction was not acknowledged"))?;
        Ok(Response::new((&TxReply { tx_hash, result }).into()))
    }

    async fn tx_status(&self, req: Request<pb::TxStatusRequest>) -> Result<Response<pb::TxStatusReply>, Status> {
        let h: Hash32 = req.into_inner().try_into().map_err(bad)?;
        let executed = self
            .ledger
            .send(Inspect(Box::new(move |l: &Ledger| l.receipt(&h).copied())))
            .await
            .map_err(gone)?;
        let status = match executed {
            Some((height, outcome)) => TxStatus::Executed {
                height,
                success: outcome == TxOutcome::Ok,
                outcome: if outcome == TxOutcome::Ok {
                    String::new()
                } else {
                    format!("{outcome:?}")
                },
            },
            None => {
                let pending = self
                    .kernel_buffer
                    .send(Inspect(Box::new(move |k: &KernelBufferRole| k.buffer.holds(&h))))
                    .await
                    .map_err(gone)?;
                if pending { TxStatus::Pending } else { TxStatus::Unknown }
            }
        };
        Ok(Response::new((&status).into()))
    }

    async fn chain_status(
        &self,
        _req: Request<pb::ChainStatusRequest>,
    ) -> Result<Response<pb::ChainStatusReply>, Status> {
        let cycle = self
            .clock
            .send(Inspect(Box::new(|c: &Clock| c.cycle)))
            .await
            .map_err(gone)?;
        let status = self
            .ledger
            .send(Inspect(Box::new(move |l: &Ledger| {
                let c = l.chain();
                ChainStatus {
                    height: c.height(),
                    tip_hash: c.tip_hash(),
                    state_root: *c.roots.last().expect("genesis root"),
                    cycle_height: cycle.height,
                    cycle_start_ms: cycle.start,
                    seats: c.seats(c.height() + 1).n(),
                    chain_id: *c.id(),
                }
            })))
            .await
            .map_err(gone)?;
        Ok(Response::new((&status).into()))
    }

    async fn get_block(&self, req: Request<pb::GetBlockRequest>) -> Result<Response<pb::GetBlockReply>, Status> {
        let h = req.into_inner().height;
        let block = self
            .ledger
            .send(Inspect(Box::new(move |l: &Ledger| l.full_block(h))))
            .await
            .map_err(gone)?
            .ok_or_else(|| Status::not_found(format!("no certified block at height {h}")))?;
        Ok(Response::new((&block.0, block.1.as_slice()).into()))
    }

    async fn account(&self, req: Request<pb::AccountRequest>) -> Result<Response<pb::AccountReply>, Status> {
        let k: daoli_protocol::crypto::PublicKey = req.into_inner().try_into().map_err(bad)?;
        let a = self
            .ledger
            .send(Inspect(Box::new(move |l: &Ledger| {
                let c = l.chain();
                let a = c.state.account(&k);
                AccountStatus {
                    height: c.height(),
                    balance: a.balance,
                    nonce: a.nonce,
                }
            })))
            .await
            .map_err(gone)?;
        Ok(Response::new((&a).into()))
    }

    async fn route(&self, req: Request<pb::RouteRequest>) -> Result<Response<pb::RouteReply>, Status> {
        let sender: daoli_protocol::crypto::PublicKey = req.into_inner().try_into().map_err(bad)?;
        let route = self
            .kernel_buffer
            .send(Inspect(Box::new(move |k: &KernelBufferRole| {
                k.route(&sender).map(|(cycle, slot, e)| PayrollRoute {
                    cycle,
                    slot,
                    sponsor: e.dc,
                    endpoint: e.endpoint,
                })
            })))
            .await
            .map_err(gone)?
            .ok_or_else(|| Status::unavailable("no payroll slot is known for this cycle"))?;
        Ok(Response::new((&route).into()))
    }

    async fn submit_lot(&self, req: Request<pb::SubmitLotRequest>) -> Result<Response<pb::SubmitLotReply>, Status> {
        let lot: daoli_protocol::lot::Lot = req.into_inner().try_into().map_err(bad)?;
        let r = self.miner_pool.send(SubmitLot(lot)).await.map_err(gone)?;
        // Busy is for later, as for transactions; a refusal of this lot is the reply.
        if let Err(e @ daoli_protocol::node::Reject::Busy(..)) = r {
            return Err(refused(e));
        }
        Ok(Response::new((&r.map_err(|e| e.to_string())).into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use daoli_protocol::node::Reject;

    // A client backs off and retries on RESOURCE_EXHAUSTED; FAILED_PRECONDITION is final.
    #[test]
    fn busy_is_for_later_and_other_refusals_are_final() {
        let busy = refused(Reject::Busy("events waiting for the bus", 4096));
        assert_eq!(busy.code(), tonic::Code::ResourceExhausted);
        assert!(busy.message().contains("4096"), "{}", busy.message());
        assert_eq!(refused(Reject::NotMine).code(), tonic::Code::FailedPrecondition);
    }
}
