//! `daoli keygen`, `daoli tx send|status`, `daoli chain status`, `daoli load`: against any
//! datacenter's client endpoint, with human output or `--json`.

use crate::load::{self, connect};
use daoli_protocol::buffer::BufferError;
use daoli_protocol::codec::{Hash32, hex_array};
use daoli_protocol::crypto::{Keypair, PublicKey};
use daoli_protocol::tx::{Transaction, TxKind};
use daoli_wire::client::{ChainStatus, SubmitTx, TxReply, TxStatus};
use daoli_wire::proto as pb;
use serde_json::json;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Endpoint {
    /// A datacenter's client endpoint.
    #[arg(long, default_value = "http://127.0.0.1:7100")]
    endpoint: String,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Write the key here (JSON: seed and public key, hex); refuses to overwrite.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum TxCmd {
    /// Sends a transfer, routed to the kernel buffer serving the sender this cycle.
    Send {
        #[command(flatten)]
        ep: Endpoint,
        /// The sender's key file (from `daoli keygen`).
        #[arg(long)]
        key: PathBuf,
        /// Recipient public key, hex.
        #[arg(long)]
        to: String,
        /// Amount, in base units.
        #[arg(long)]
        amount: u64,
        /// Fee, in base units.
        #[arg(long, default_value_t = 1)]
        fee: u64,
        /// The sender's nonce (default: the account's next nonce in the latest certified state,
        /// which does not count its transactions still pending: give it when sending several).
        #[arg(long)]
        nonce: Option<u64>,
    },
    /// Where a transaction stands: unknown, pending, or executed at a height.
    Status {
        #[command(flatten)]
        ep: Endpoint,
        /// Transaction hash, hex.
        hash: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum ChainCmd {
    /// Height, tip, state root and the cycle under way, as one datacenter sees them.
    Status {
        #[command(flatten)]
        ep: Endpoint,
    },
}

#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Client endpoints of the datacenters to load (any one is enough: it routes).
    #[arg(long = "endpoint", default_value = "http://127.0.0.1:7100")]
    endpoints: Vec<String>,
    /// Target rate, transactions per second.
    #[arg(long, default_value_t = 500)]
    tps: u64,
    /// How long to submit, seconds (then up to 10 s more for the last to finalize).
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Sending accounts, each with its own pipelined nonces (the devnet funds 256).
    #[arg(long, default_value_t = crate::devnet::CLIENT_ACCOUNTS)]
    senders: usize,
    /// Datacenters verifying each transaction on this machine (for the signature bound).
    #[arg(long, default_value_t = 4)]
    datacenters: usize,
    #[arg(long)]
    json: bool,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("{msg}");
    ExitCode::FAILURE
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

pub fn keygen(a: KeygenArgs) -> ExitCode {
    let mut seed = [0u8; 32];
    if let Err(e) = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut seed)) {
        return fail(format!("no randomness: /dev/urandom: {e}"));
    }
    let k = Keypair::from_seed(seed);
    let body = json!({ "public": hex::encode(k.public().0), "seed": hex::encode(seed) });
    if let Some(path) = &a.out {
        let write = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, body.to_string().as_bytes()));
        if let Err(e) = write {
            return fail(format!("{}: {e}", path.display()));
        }
    }
    if a.json {
        let shown = if a.out.is_some() {
            json!({ "public": body["public"] })
        } else {
            body
        };
        println!("{shown}");
    } else {
        println!("public key {}", hex::encode(k.public().0));
        match &a.out {
            Some(p) => println!("written to {}", p.display()),
            None => println!("seed {} (keep it secret)", hex::encode(seed)),
        }
    }
    ExitCode::SUCCESS
}

fn load_key(path: &PathBuf) -> Result<Keypair, String> {
    let s = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&s).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    let seed = v["seed"]
        .as_str()
        .ok_or_else(|| format!("{}: no \"seed\"", path.display()))?;
    let seed: [u8; 32] = hex_array(seed).map_err(|e| format!("{}: seed: {e}", path.display()))?;
    Ok(Keypair::from_seed(seed))
}

pub fn tx(cmd: TxCmd) -> ExitCode {
    runtime().block_on(async move {
        match cmd {
            TxCmd::Send {
                ep,
                key,
                to,
                amount,
                fee,
                nonce,
            } => match send(&ep, &key, &to, amount, fee, nonce).await {
                Ok(code) => code,
                Err(e) => fail(e),
            },
            TxCmd::Status { ep, hash } => match status(&ep, &hash).await {
                Ok(code) => code,
                Err(e) => fail(e),
            },
        }
    })
}

async fn send(
    ep: &Endpoint,
    key: &PathBuf,
    to: &str,
    amount: u64,
    fee: u64,
    nonce: Option<u64>,
) -> Result<ExitCode, String> {
    let key = load_key(key)?;
    let to = PublicKey(hex_array(to).map_err(|e| format!("--to: {e}"))?);
    let mut c = connect(&ep.endpoint).await?;
    let st = load::chain_status(&mut c).await?;
    let mut nonce = match nonce {
        Some(n) => n,
        None => load::account(&mut c, &key.public()).await?.nonce,
    };
    // A few tries: the route changes every cycle, and the nonce may need finding.
    for _ in 0..6 {
        let route = load::route(&mut c, &key.public()).await?;
        let tx = Transaction::new(&key, &st.chain_id, nonce, fee, TxKind::Transfer { to, amount }, vec![]);
        let mut target = connect(&route.endpoint).await?;
        let reply: TxReply = target
            .submit_tx(pb::SubmitTxRequest::from(&SubmitTx { tx, slot: route.slot }))
            .await
            .map_err(|e| e.message().to_string())?
            .into_inner()
            .try_into()
            .map_err(|e| format!("{e}"))?;
        match reply.result {
            Ok(()) => {
                if ep.json {
                    println!(
                        "{}",
                        json!({ "tx_hash": hex::encode(reply.tx_hash.0), "accepted": true, "nonce": nonce, "buffer": route.endpoint })
                    );
                } else {
                    println!(
                        "accepted: tx {} (nonce {nonce}) by the kernel buffer at {}",
                        hex::encode(reply.tx_hash.0),
                        route.endpoint
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            Err(BufferError::NonceWindow { low, .. }) if low != nonce => nonce = low,
            Err(BufferError::Redirect { .. } | BufferError::NoSlot(_)) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                if ep.json {
                    println!(
                        "{}",
                        json!({ "tx_hash": hex::encode(reply.tx_hash.0), "accepted": false, "reason": e.to_string() })
                    );
                } else {
                    println!("refused: {e}");
                }
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Err("refused: no kernel buffer took the transaction after 6 tries".into())
}

async fn status(ep: &Endpoint, hash: &str) -> Result<ExitCode, String> {
    let h = Hash32(hex_array(hash).map_err(|e| format!("hash: {e}"))?);
    let mut c = connect(&ep.endpoint).await?;
    let s = crate::load::tx_status(&mut c, &h).await?;
    match (&s, ep.json) {
        (TxStatus::Unknown, true) => println!("{}", json!({ "status": "unknown" })),
        (TxStatus::Pending, true) => println!("{}", json!({ "status": "pending" })),
        (
            TxStatus::Executed {
                height,
                success,
                outcome,
            },
            true,
        ) => {
            println!(
                "{}",
                json!({ "status": "executed", "height": height, "success": success, "outcome": outcome })
            )
        }
        (TxStatus::Unknown, false) => println!("unknown to this datacenter"),
        (TxStatus::Pending, false) => println!("pending: acknowledged, not yet executed"),
        (
            TxStatus::Executed {
                height,
                success,
                outcome,
            },
            false,
        ) => {
            if *success {
                println!("executed at height {height}");
            } else {
                println!("executed at height {height}, failed: {outcome}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn chain(cmd: ChainCmd) -> ExitCode {
    let ChainCmd::Status { ep } = cmd;
    runtime().block_on(async move {
        let r = async {
            let mut c = connect(&ep.endpoint).await?;
            load::chain_status(&mut c).await
        }
        .await;
        match r {
            Ok(s) if ep.json => {
                println!(
                    "{}",
                    json!({
                        "height": s.height, "tip_hash": hex::encode(s.tip_hash.0),
                        "state_root": hex::encode(s.state_root.0), "cycle_height": s.cycle_height,
                        "cycle_start_ms": s.cycle_start_ms, "seats": s.seats, "chain_id": hex::encode(s.chain_id.0),
                    })
                );
                ExitCode::SUCCESS
            }
            Ok(s) => {
                println!(
                    "chain {}  height {}  tip {}  state root {}",
                    s.chain_id.short(),
                    s.height,
                    s.tip_hash.short(),
                    s.state_root.short()
                );
                println!(
                    "cycle {} under way since {} ms (UTC), {} seats",
                    s.cycle_height, s.cycle_start_ms, s.seats
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        }
    })
}

pub fn load(a: LoadArgs) -> ExitCode {
    runtime().block_on(async move {
        let Some(first) = a.endpoints.first() else {
            return fail("--endpoint: at least one");
        };
        if !(1..=crate::devnet::CLIENT_ACCOUNTS).contains(&a.senders) {
            return fail(format!(
                "--senders {}: 1 ..= {} (the accounts the devnet funds)",
                a.senders,
                crate::devnet::CLIENT_ACCOUNTS
            ));
        }
        let chain = match connect(first).await {
            Ok(mut c) => match c.chain_status(pb::ChainStatusRequest {}).await {
                Ok(r) => match ChainStatus::try_from(r.into_inner()) {
                    Ok(s) => s.chain_id,
                    Err(e) => return fail(e),
                },
                Err(e) => return fail(format!("{first}: {}", e.message())),
            },
            Err(e) => return fail(e),
        };
        let r = load::drive(
            a.endpoints.clone(),
            chain,
            a.tps,
            a.senders,
            tokio::time::sleep(Duration::from_secs(a.duration)),
        )
        .await;
        // The same machine's signature bound, measured after the run so as not to slow it.
        let rate = tokio::task::spawn_blocking(|| load::signature_rate(3.0)).await.unwrap_or(0.0);
        let per_tx = load::verifications_per_tx(a.datacenters);
        let bound = rate / per_tx as f64;
        let finalized = r.finalized as f64 / r.elapsed.as_secs_f64().max(1e-9);
        if a.json {
            let mut j = r.json();
            j["signature_verifications_per_s"] = json!(rate);
            j["verifications_per_tx"] = json!(per_tx);
            j["bound_tps"] = json!(bound);
            j["ratio"] = json!(finalized / bound.max(1e-9));
            println!("{j}");
        } else {
            println!("{}", r.summary());
            println!(
                "signature bound: {rate:.0} verifications/s on all cores / {per_tx} per transaction = {bound:.0} tx/s; finalized/bound = {:.3}",
                finalized / bound.max(1e-9)
            );
        }
        ExitCode::SUCCESS
    })
}
