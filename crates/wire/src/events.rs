//! The datacenter's bus payload: `roles::Event` <-> [`pb::BusEvent`] (events.proto). The
//! services of one datacenter trust each other no more than they must: an event is refused
//! over [`limits::MAX_EVENT_BYTES`] before it is decoded, and decoding checks every field as
//! peer traffic does.

use crate::convert::{bounded, encode_all, fixed, hash, key, list, required, usize_of};
use crate::error::WireError;
use crate::limits;
use crate::peer::{certified_from_pb, certified_to_pb};
use crate::proto as pb;
use daoli_protocol::dcc::Cycle;
use daoli_protocol::roles::{Drawn, Event, Phase};
use daoli_protocol::vrf::VrfProof;
use prost::Message;

fn phase_to_pb(p: Phase) -> pb::Phase {
    match p {
        Phase::Start => pb::Phase::Start,
        Phase::Mine => pb::Phase::Mine,
        Phase::MiningClose => pb::Phase::MiningClose,
        Phase::SeedDeadline => pb::Phase::SeedDeadline,
        Phase::BackupMicro => pb::Phase::BackupMicro,
        Phase::Throttle => pb::Phase::Throttle,
        Phase::Stalled => pb::Phase::Stalled,
    }
}

fn phase_from_pb(v: i32) -> Result<Phase, WireError> {
    Ok(match pb::Phase::try_from(v) {
        Ok(pb::Phase::Start) => Phase::Start,
        Ok(pb::Phase::Mine) => Phase::Mine,
        Ok(pb::Phase::MiningClose) => Phase::MiningClose,
        Ok(pb::Phase::SeedDeadline) => Phase::SeedDeadline,
        Ok(pb::Phase::BackupMicro) => Phase::BackupMicro,
        Ok(pb::Phase::Throttle) => Phase::Throttle,
        Ok(pb::Phase::Stalled) => Phase::Stalled,
        Ok(pb::Phase::Unspecified) | Err(_) => {
            return Err(WireError::UnknownEnum {
                field: "PhaseReached.phase",
                value: v.into(),
            });
        }
    })
}

impl From<&Event> for pb::BusEvent {
    fn from(e: &Event) -> Self {
        use pb::bus_event::Kind as K;
        let kind = match e {
            Event::Certified(cb, batches) => {
                let (block, batches) = certified_to_pb(cb, batches);
                K::Certified(pb::Certified {
                    block: Some(block),
                    batches,
                })
            }
            Event::Cycle(c) => K::Cycle(pb::Cycle {
                height: c.height,
                start_ms: c.start,
                length_ms: c.length,
            }),
            Event::Phase(height, p) => K::Phase(pb::PhaseReached {
                height: *height,
                phase: phase_to_pb(*p).into(),
            }),
            Event::Seed(s) => K::Seed(s.into()),
            Event::Lot(l) => K::Lot(l.into()),
            Event::Drawn(d) => K::Drawn(pb::Drawn {
                height: d.height,
                seed: d.seed.0.to_vec(),
                vrf_proof: d.vrf_proof.map(|p| p.0.to_vec()),
                tree: encode_all(&d.tree),
                counted: encode_all(&d.counted),
            }),
            Event::Sealed(b) => K::Sealed(b.into()),
            Event::Batch(b) => K::Batch(b.into()),
            Event::Micro(m) => K::Micro(m.into()),
            Event::Decided(cb, seed_choices) => K::Decided(pb::Decided {
                block: Some(cb.as_ref().into()),
                seed_choices: *seed_choices as u64,
            }),
            Event::Prevotes {
                height,
                round,
                value,
                votes,
            } => K::Prevotes(pb::Prevotes {
                height: *height,
                round: *round,
                value: value.0.to_vec(),
                votes: encode_all(votes),
            }),
            Event::Evidence(e) => K::Evidence(e.into()),
            Event::Wanted(height, ds) => K::Wanted(pb::Wanted {
                height: *height,
                digests: ds.iter().map(|d| d.0.to_vec()).collect(),
            }),
            Event::Behind(peer, height) => K::Behind(pb::Behind {
                peer: peer.0.to_vec(),
                height: *height,
            }),
            Event::Delay(height, proof) => K::Delay(pb::Delay {
                height: *height,
                proof: Some(proof.into()),
            }),
        };
        pb::BusEvent { kind: Some(kind) }
    }
}

impl TryFrom<pb::BusEvent> for Event {
    type Error = WireError;
    fn try_from(p: pb::BusEvent) -> Result<Self, WireError> {
        use pb::bus_event::Kind as K;
        Ok(match required("BusEvent.kind", p.kind)? {
            K::Certified(c) => {
                let (cb, batches) = certified_from_pb("Certified.block", "Certified.batches", c.block, c.batches)?;
                Event::Certified(Box::new(cb), batches)
            }
            K::Cycle(c) => Event::Cycle(Cycle {
                height: c.height,
                start: c.start_ms,
                length: c.length_ms,
            }),
            K::Phase(p) => Event::Phase(p.height, phase_from_pb(p.phase)?),
            K::Seed(s) => Event::Seed(s.try_into()?),
            K::Lot(l) => Event::Lot(l.try_into()?),
            K::Drawn(d) => Event::Drawn(Box::new(Drawn {
                height: d.height,
                seed: hash("Drawn.seed", d.seed)?,
                vrf_proof: d
                    .vrf_proof
                    .map(|v| fixed("Drawn.vrf_proof", v).map(VrfProof))
                    .transpose()?,
                tree: list("Drawn.tree", d.tree, limits::MAX_TREE_LOTS)?,
                counted: list("Drawn.counted", d.counted, limits::MAX_DRAWN_LOTS)?,
            })),
            K::Sealed(b) => Event::Sealed(b.try_into()?),
            K::Batch(b) => Event::Batch(b.try_into()?),
            K::Micro(m) => Event::Micro(m.try_into()?),
            K::Decided(d) => Event::Decided(
                Box::new(required("Decided.block", d.block)?.try_into()?),
                usize_of("Decided.seed_choices", d.seed_choices)?,
            ),
            K::Prevotes(p) => Event::Prevotes {
                height: p.height,
                round: p.round,
                value: hash("Prevotes.value", p.value)?,
                votes: list("Prevotes.votes", p.votes, limits::MAX_VOTES)?,
            },
            K::Evidence(e) => Event::Evidence(e.try_into()?),
            K::Wanted(w) => Event::Wanted(
                w.height,
                bounded("Wanted.digests", w.digests, limits::MAX_WANTED_DIGESTS, |d| {
                    hash("Wanted.digests", d)
                })?,
            ),
            K::Behind(b) => Event::Behind(key("Behind.peer", b.peer)?, b.height),
            K::Delay(d) => Event::Delay(d.height, required("Delay.proof", d.proof)?.try_into()?),
        })
    }
}

/// An event as the bus carries it, refused if a consumer would refuse it for its size.
pub fn encode_event(e: &Event) -> Result<Vec<u8>, WireError> {
    let bytes = pb::BusEvent::from(e).encode_to_vec();
    check_event(&bytes)?;
    Ok(bytes)
}

fn check_event(bytes: &[u8]) -> Result<(), WireError> {
    if bytes.len() > limits::MAX_EVENT_BYTES {
        return Err(WireError::Oversized {
            what: "BusEvent",
            got: bytes.len(),
            limit: limits::MAX_EVENT_BYTES,
        });
    }
    Ok(())
}

/// An event off the bus: its size checked before it is decoded, every field checked after.
pub fn decode_event(bytes: &[u8]) -> Result<Event, WireError> {
    check_event(bytes)?;
    pb::BusEvent::decode(bytes)?.try_into()
}
