//! Rule 8 and rule 9's buffer part: every queue, cache and pool fed by peers or clients is
//! bounded, per peer and in total, by a named number. These are local policy, not consensus:
//! a node may choose others without forking, so they live here and not in the genesis.

/// Messages for the next cycle (height h+1) held per sending datacenter until this node gets
/// there. Only the next cycle is held, and only after its signature checks out.
pub const NEXT_CYCLE_PER_PEER: usize = 512;
/// Messages for the next cycle held in total.
pub const NEXT_CYCLE_TOTAL: usize = 16_384;
/// Certified blocks held ahead of this node's height (catching up), per sending datacenter.
pub const AHEAD_PER_PEER: usize = 16;
/// Certified blocks held ahead in total.
pub const AHEAD_TOTAL: usize = 256;
/// Blocks served per sync request.
pub const SYNC_BLOCKS_PER_REQUEST: u64 = 16;
/// Sync requests served per datacenter per cycle.
pub const SYNC_REQUESTS_PER_CYCLE: u32 = 4;
/// Digests answered per batch request.
pub const BATCH_DIGESTS_PER_REQUEST: usize = 256;
/// Batch requests served per datacenter per cycle.
pub const BATCH_REQUESTS_PER_CYCLE: u32 = 16;
/// Blocks waiting for their batches.
pub const WAITING_BLOCKS: usize = 64;
/// Lots held for one cycle per sponsoring datacenter (miner keys are free; sponsors are bonded).
pub const LOTS_PER_SPONSOR: usize = 1024;
/// Lots held for one cycle in total.
pub const LOTS_TOTAL: usize = 32_768;
/// Round-0 blocks (own views) taken from one seat per height: a seat may resend or update its
/// own view, but not without bound.
pub const OWN_VIEWS_PER_SEAT: u32 = 4;
/// Transactions taken from one hand-over.
pub const FORWARD_TXS: usize = 4096;
/// Transactions a kernel buffer holds in total (acknowledged and not yet executed).
pub const BUFFER_TXS: usize = 65_536;
/// Cycles a transaction whose nonce is ahead of its sender's account (a gap) is kept before it
/// expires; it is never sealed while the gap lasts.
pub const GAP_EXPIRY_CYCLES: u64 = 16;

/// Batches a ledger keeps for the blocks its trustee waits on in one height, and second
/// versions of batch slots it keeps in case one is wanted.
pub const WANTED_BATCHES: usize = 1024;
