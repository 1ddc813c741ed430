//! The `Client` gRPC service of one datacenter: transactions to its kernel buffer (answered
//! once durable), status from its ledger, lots from client devices to its miner pool.
//!
//! In one process ([`ClientApi::new`]) every role is local. A datacenter run as one process
//! per service serves clients at its kernel buffer ([`ClientApi::front_door`]), which hands
//! chain queries to its ledger's endpoint and lots to its miner pool's; the ledger
//! ([`ClientApi::ledger_only`]) and the miner pool ([`ClientApi::miner_pool_only`]) answer
//! their own methods only (UNIMPLEMENTED for the others, naming who serves them).

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
use daoli_wire::proto::client_client::ClientClient;
use tokio::sync::{mpsc, oneshot};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// Client transactions waiting for the kernel buffer, from all connections together; when it
/// is full a client hears RESOURCE_EXHAUSTED and should back off.
pub const SUBMIT_QUEUE: usize = 8192;

/// Transactions the kernel buffer takes in one step, and one store transaction, at most.
pub const GROUP_COMMIT: usize = 512;

type Queued = (SubmitTx, oneshot::Sender<TxAnswer>);

/// The roles a client talks to: each here, or at another process's client endpoint.
#[derive(Debug, Clone, Default)]
pub struct ClientApi {
    clock: Option<Addr<RoleHost<Clock>>>,
    miner_pool: Option<Addr<RoleHost<MinerPool>>>,
    kernel_buffer: Option<Addr<RoleHost<KernelBufferRole>>>,
    ledger: Option<Addr<RoleHost<Ledger>>>,
    submit: Option<mpsc::Sender<Queued>>,
    /// The ledger's client endpoint, when it runs in another process.
    remote_ledger: Option<ClientClient<Channel>>,
    /// The miner pool's client endpoint, when it runs in another process.
    remote_miner_pool: Option<ClientClient<Channel>>,
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
            clock: Some(clock),
            miner_pool: Some(miner_pool),
            kernel_buffer: Some(kernel_buffer),
            ledger: Some(ledger),
            submit: Some(submit),
            remote_ledger: None,
            remote_miner_pool: None,
        }
    }

    /// The datacenter's front door when it runs as one process per service: transactions
    /// and routes here, chain queries through the ledger's client endpoint, lots through the
    /// miner pool's. The connections are made on first use (and again after a failure).
    pub fn front_door(
        kernel_buffer: Addr<RoleHost<KernelBufferRole>>,
        ledger: &url::Url,
        miner_pool: &url::Url,
    ) -> Result<Self, tonic::transport::Error> {
        let connect = |u: &url::Url| -> Result<ClientClient<Channel>, tonic::transport::Error> {
            let ch = tonic::transport::Endpoint::from_shared(u.to_string())?
                .connect_timeout(std::time::Duration::from_secs(3))
                .timeout(std::time::Duration::from_secs(30))
                .connect_lazy();
            Ok(ClientClient::new(ch)
                .max_decoding_message_size(daoli_wire::limits::MAX_CLIENT_REPLY_BYTES)
                .max_encoding_message_size(daoli_wire::limits::CLIENT_SERVER_MAX_DECODING))
        };
        let (submit, queue) = mpsc::channel(SUBMIT_QUEUE);
        tokio::spawn(group_commit(queue, kernel_buffer.clone()));
        Ok(ClientApi {
            kernel_buffer: Some(kernel_buffer),
            submit: Some(submit),
            remote_ledger: Some(connect(ledger)?),
            remote_miner_pool: Some(connect(miner_pool)?),
            ..ClientApi::default()
        })
    }

    /// A ledger run as its own process: chain queries only (the cycle it reports is its own
    /// follower's).
    pub fn ledger_only(ledger: Addr<RoleHost<Ledger>>) -> Self {
        ClientApi {
            ledger: Some(ledger),
            ..ClientApi::default()
        }
    }

    /// A miner pool run as its own process: lots only.
    pub fn miner_pool_only(miner_pool: Addr<RoleHost<MinerPool>>) -> Self {
        ClientApi {
            miner_pool: Some(miner_pool),
            ..ClientApi::default()
        }
    }

    pub fn server(self) -> pb::client_server::ClientServer<Self> {
        pb::client_server::ClientServer::new(self)
            .max_decoding_message_size(daoli_wire::limits::CLIENT_SERVER_MAX_DECODING)
            .max_encoding_message_size(daoli_wire::limits::MAX_CLIENT_REPLY_BYTES)
    }
}

/// A method this process does not serve (a datacenter run as one process per service).
fn unserved(method: &str, by: &str) -> Status {
    Status::unimplemented(format!(
        "{method} is not served by this service: ask the datacenter's {by}"
    ))
}

/// A forwarded call's failure, as the client should see it: the other service's status as
/// it came (a refusal stays a refusal), its transport failure as UNAVAILABLE.
fn forwarded(s: Status) -> Status {
    match s.code() {
        tonic::Code::Unknown | tonic::Code::Internal => Status::unavailable(format!("forwarded: {}", s.message())),
        _ => s,
    }
}

#[tonic::async_trait]
impl pb::client_server::Client for ClientApi {
    async fn submit_tx(&self, req: Request<pb::SubmitTxRequest>) -> Result<Response<pb::SubmitTxReply>, Status> {
        let Some(submit) = &self.submit else {
            return Err(unserved("SubmitTx", "kernel buffer"));
        };
        let s: daoli_wire::client::SubmitTx = req.into_inner().try_into().map_err(bad)?;
        let tx_hash = s.tx.hash();
        let from = s.tx.sender;
        let (answer, answered) = oneshot::channel();
        let queued = SubmitTx {
            tx: s.tx,
            slot: s.slot,
            from,
        };
        submit.try_send((queued, answer)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Status::resource_exhausted(format!(
                "{} transactions are waiting for this kernel buffer; retry later",
                submit.max_capacity()
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
        let req = req.into_inner();
        let h: Hash32 = req.clone().try_into().map_err(bad)?;
        let status = match (&self.ledger, &self.remote_ledger) {
            (Some(ledger), _) => {
                let executed = ledger
                    .send(Inspect(Box::new(move |l: &Ledger| l.receipt(&h).copied())))
                    .await
                    .map_err(gone)?;
                match executed {
                    Some((height, outcome)) => TxStatus::Executed {
                        height,
                        success: outcome == TxOutcome::Ok,
                        outcome: if outcome == TxOutcome::Ok {
                            String::new()
                        } else {
                            format!("{outcome:?}")
                        },
                    },
                    None => TxStatus::Unknown,
                }
            }
            (None, Some(remote)) => {
                let reply = remote.clone().tx_status(req).await.map_err(forwarded)?;
                TxStatus::try_from(reply.into_inner())
                    .map_err(|e| Status::unavailable(format!("ledger's reply: {e}")))?
            }
            (None, None) => return Err(unserved("TxStatus", "kernel buffer")),
        };
        // Not executed: still held by this datacenter's kernel buffer?
        let status = match (status, &self.kernel_buffer) {
            (TxStatus::Unknown, Some(kb)) => {
                let pending = kb
                    .send(Inspect(Box::new(move |k: &KernelBufferRole| k.buffer.holds(&h))))
                    .await
                    .map_err(gone)?;
                if pending { TxStatus::Pending } else { TxStatus::Unknown }
            }
            (s, _) => s,
        };
        Ok(Response::new((&status).into()))
    }

    async fn chain_status(
        &self,
        req: Request<pb::ChainStatusRequest>,
    ) -> Result<Response<pb::ChainStatusReply>, Status> {
        // The cycle from the clock beacon when it runs here, else from the kernel buffer
        // (which follows the clock's announcements); a lone ledger reports none (0).
        let cycle = match (&self.clock, &self.kernel_buffer) {
            (Some(clock), _) => Some(clock.send(Inspect(Box::new(|c: &Clock| c.cycle))).await.map_err(gone)?),
            (None, Some(kb)) => Some(
                kb.send(Inspect(Box::new(|k: &KernelBufferRole| k.cycle())))
                    .await
                    .map_err(gone)?,
            ),
            (None, None) => None,
        };
        let mut status = match (&self.ledger, &self.remote_ledger) {
            (Some(ledger), _) => ledger
                .send(Inspect(Box::new(move |l: &Ledger| {
                    let c = l.chain();
                    ChainStatus {
                        height: c.height(),
                        tip_hash: c.tip_hash(),
                        state_root: *c.roots.last().expect("genesis root"),
                        cycle_height: 0,
                        cycle_start_ms: 0,
                        seats: c.seats(c.height() + 1).n(),
                        chain_id: *c.id(),
                    }
                })))
                .await
                .map_err(gone)?,
            (None, Some(remote)) => {
                let reply = remote.clone().chain_status(req.into_inner()).await.map_err(forwarded)?;
                ChainStatus::try_from(reply.into_inner())
                    .map_err(|e| Status::unavailable(format!("ledger's reply: {e}")))?
            }
            (None, None) => return Err(unserved("ChainStatus", "kernel buffer")),
        };
        if let Some(c) = cycle {
            status.cycle_height = c.height;
            status.cycle_start_ms = c.start;
        }
        Ok(Response::new((&status).into()))
    }

    async fn get_block(&self, req: Request<pb::GetBlockRequest>) -> Result<Response<pb::GetBlockReply>, Status> {
        let Some(ledger) = &self.ledger else {
            return match &self.remote_ledger {
                Some(remote) => remote.clone().get_block(req.into_inner()).await.map_err(forwarded),
                None => Err(unserved("GetBlock", "kernel buffer")),
            };
        };
        let h = req.into_inner().height;
        let block = ledger
            .send(Inspect(Box::new(move |l: &Ledger| l.full_block(h))))
            .await
            .map_err(gone)?
            .ok_or_else(|| Status::not_found(format!("no certified block at height {h}")))?;
        Ok(Response::new((&block.0, block.1.as_slice()).into()))
    }

    async fn account(&self, req: Request<pb::AccountRequest>) -> Result<Response<pb::AccountReply>, Status> {
        let Some(ledger) = &self.ledger else {
            return match &self.remote_ledger {
                Some(remote) => {
                    let req = req.into_inner();
                    // Malformed input is refused here, not after a hop.
                    let _: daoli_protocol::crypto::PublicKey = req.clone().try_into().map_err(bad)?;
                    remote.clone().account(req).await.map_err(forwarded)
                }
                None => Err(unserved("Account", "kernel buffer")),
            };
        };
        let k: daoli_protocol::crypto::PublicKey = req.into_inner().try_into().map_err(bad)?;
        let a = ledger
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
        let Some(kb) = &self.kernel_buffer else {
            return Err(unserved("Route", "kernel buffer"));
        };
        let sender: daoli_protocol::crypto::PublicKey = req.into_inner().try_into().map_err(bad)?;
        let route = kb
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
        let Some(miner_pool) = &self.miner_pool else {
            return match &self.remote_miner_pool {
                Some(remote) => {
                    let req = req.into_inner();
                    let _: daoli_protocol::lot::Lot = req.clone().try_into().map_err(bad)?;
                    remote.clone().submit_lot(req).await.map_err(forwarded)
                }
                None => Err(unserved("SubmitLot", "kernel buffer")),
            };
        };
        let lot: daoli_protocol::lot::Lot = req.into_inner().try_into().map_err(bad)?;
        let r = miner_pool.send(SubmitLot(lot)).await.map_err(gone)?;
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

    // A forwarded call's refusal reaches the client as the other service gave it; a failure
    // of the hop itself (the other side broke off) is for later, like an unreachable service.
    #[test]
    fn a_forwarded_refusal_stays_and_a_broken_hop_is_unavailable() {
        assert_eq!(forwarded(Status::not_found("no block")).code(), tonic::Code::NotFound);
        assert_eq!(
            forwarded(Status::invalid_argument("bad")).code(),
            tonic::Code::InvalidArgument
        );
        for broken in [Status::internal("h2 protocol error"), Status::unknown("reset")] {
            let s = forwarded(broken);
            assert_eq!(s.code(), tonic::Code::Unavailable, "{s:?}");
            assert!(s.message().starts_with("forwarded: "), "{s:?}");
        }
    }

    /// A front door whose ledger and miner pool are at `127.0.0.1:1` (nothing listens).
    fn front_door_to_nowhere() -> ClientApi {
        let ch = tonic::transport::Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
        ClientApi {
            remote_ledger: Some(ClientClient::new(ch.clone())),
            remote_miner_pool: Some(ClientClient::new(ch)),
            ..ClientApi::default()
        }
    }

    // What the front door hands on: malformed input is refused here, by field, not after a
    // hop; the other service being unreachable is UNAVAILABLE (retry), not an internal error.
    #[tokio::test]
    async fn the_front_door_refuses_malformed_input_itself_and_reports_a_missing_service_as_unavailable() {
        use pb::client_server::Client as _;
        let api = front_door_to_nowhere();
        let bad = api
            .account(Request::new(pb::AccountRequest { key: vec![1; 31] }))
            .await
            .unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");
        assert!(bad.message().contains("AccountRequest.key"), "{bad:?}");
        let bad = api
            .submit_lot(Request::new(pb::SubmitLotRequest::default()))
            .await
            .unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");
        let gone = api
            .account(Request::new(pb::AccountRequest { key: vec![1; 32] }))
            .await
            .unwrap_err();
        assert_eq!(gone.code(), tonic::Code::Unavailable, "{gone:?}");
    }

    // A lone ledger or miner pool answers its own methods only, and names who serves the rest.
    #[tokio::test]
    async fn a_method_not_served_here_names_the_front_door() {
        use pb::client_server::Client as _;
        let api = ClientApi::default();
        let e = api
            .route(Request::new(pb::RouteRequest { sender: vec![1; 32] }))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unimplemented);
        assert!(e.message().contains("ask the datacenter's kernel buffer"), "{e:?}");
        let e = api
            .chain_status(Request::new(pb::ChainStatusRequest {}))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unimplemented);
    }
}
