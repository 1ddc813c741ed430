//! The clock beacon's actor against its role machine, with a fake bus.

use daoli_protocol::roles::{Event, Phase};
use daoli_runtime::fakes::{Entry, Fakes, TestNet, until};
use daoli_runtime::host::now_ms;

#[actix::test]
async fn it_starts_cycle_one_and_announces_each_deadline_in_order() {
    let net = TestNet::new();
    let f = Fakes::default();
    let id = &net.dcs[0];
    let clock = daoli_clock_beacon::Role::new(net.genesis.clone(), id.root.public(), id.vrf.clone(), now_ms()).unwrap();
    daoli_clock_beacon::start(clock, f.deps(id.root.public(), net.chain())).expect("subscribes");
    let phases = |e: &[Entry]| -> Vec<Phase> {
        e.iter()
            .filter_map(|x| match x {
                Entry::Published(Event::Phase(1, p)) => Some(*p),
                _ => None,
            })
            .collect()
    };
    assert!(
        until(&f.log, 5, |e| phases(e).contains(&Phase::Throttle)).await,
        "{:?}",
        f.log.entries()
    );
    assert_eq!(
        phases(&f.log.entries())[..6],
        [
            Phase::Start,
            Phase::Mine,
            Phase::MiningClose,
            Phase::SeedDeadline,
            Phase::BackupMicro,
            Phase::Throttle
        ]
    );
    let cycle = f
        .log
        .position(|e| matches!(e, Entry::Published(Event::Cycle(c)) if c.height == 1));
    assert!(cycle.is_some_and(|c| {
        c < f
            .log
            .position(|e| matches!(e, Entry::Published(Event::Phase(..))))
            .unwrap()
    }));
    // dc0 is rank 0 of block 0: it publishes the seed of cycle 1 at mining close.
    assert!(
        f.log
            .entries()
            .iter()
            .any(|e| matches!(e, Entry::Published(Event::Seed(a)) if a.height == 1))
    );
}
