//! The `Client` gRPC service of one datacenter: transactions to its kernel buffer (answered
//! once durable), status from its ledger, lots from client devices to its miner pool.

use crate::host::{Inspect, RoleHost, SubmitLot, SubmitTx};
use actix::Addr;
use daoli_protocol::block::route_order;
use daoli_protocol::codec::Hash32;
use daoli_protocol::ledger::TxOutcome;
use daoli_protocol::roles::clock::Clock;
use daoli_protocol::roles::kernel_buffer::KernelBufferRole;
use daoli_protocol::roles::ledger::Ledger;
use daoli_protocol::roles::miner_pool::MinerPool;
use daoli_wire::client::{ChainStatus, PayrollRoute, TxReply, TxStatus};
use daoli_wire::proto as pb;
use tonic::{Request, Response, Status};

/// The roles a client talks to.
#[derive(Debug, Clone)]
pub struct ClientApi {
    pub clock: Addr<RoleHost<Clock>>,
    pub miner_pool: Addr<RoleHost<MinerPool>>,
    pub kernel_buffer: Addr<RoleHost<KernelBufferRole>>,
    pub ledger: Addr<RoleHost<Ledger>>,
}

fn gone<E: std::fmt::Display>(e: E) -> Status {
    Status::unavailable(format!("service stopped: {e}"))
}

fn bad<E: std::fmt::Display>(e: E) -> Status {
    Status::invalid_argument(e.to_string())
}

impl ClientApi {
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
        let rx = self
            .kernel_buffer
            .send(SubmitTx {
                tx: s.tx,
                slot: s.slot,
                from,
            })
            .await
            .map_err(gone)?
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        // The reply comes once the transaction is durable.
        let result = rx
            .await
            .map_err(|_| Status::internal("the kernel buffer gave no answer"))?;
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

    async fn route(&self, req: Request<pb::RouteRequest>) -> Result<Response<pb::RouteReply>, Status> {
        let sender: daoli_protocol::crypto::PublicKey = req.into_inner().try_into().map_err(bad)?;
        let route = self
            .kernel_buffer
            .send(Inspect(Box::new(move |k: &KernelBufferRole| {
                let c = &k.f.chain;
                let h = c.height();
                route_order(&sender, c.params().payroll).find_map(|slot| {
                    c.payroll_entry(h, slot).map(|e| PayrollRoute {
                        cycle: h + 1,
                        slot,
                        sponsor: e.dc,
                        endpoint: e.endpoint,
                    })
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
        Ok(Response::new((&r.map_err(|e| e.to_string())).into()))
    }
}
