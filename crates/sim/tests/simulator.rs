//! The simulator's invariants over many seeds, and proof that the checker can fail.

use daoli_sim::{Config, Pause, Report, Sim, replay_command, run_seed, split_brain, summary};

fn run_many(seeds: u64) -> Vec<Report> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let handles: Vec<_> = (0..threads)
        .map(|t| std::thread::spawn(move || (t..seeds).step_by(threads as usize).map(run_seed).collect::<Vec<_>>()))
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().expect("seed worker"))
        .collect()
}

#[test]
fn thousand_seeds_with_an_uncapped_adversary_hold_every_invariant() {
    let seeds: u64 = std::env::var("DAOLI_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let reports = run_many(seeds);
    let heights: u64 = reports.iter().map(|r| r.heights).sum();
    let txs: u64 = reports.iter().map(|r| r.acked_txs).sum();
    let draws: u64 = reports.iter().map(|r| r.draws).sum();
    let failed: Vec<&Report> = reports.iter().filter(|r| r.violations() > 0).collect();
    println!("simulator: p = 0.1 on even seeds, 0.2 on odd ones; 40 seats on seeds ending in 9, else 11");
    println!("{}", summary(&reports));
    for r in &failed {
        println!(
            "seed {} failed: {:?}\n  replay: {}",
            r.seed,
            r.notes,
            replay_command(r.seed)
        );
    }
    assert!(failed.is_empty(), "{} seeds violated an invariant", failed.len());
    assert!(
        heights >= 15 * seeds,
        "the network must keep certifying: {heights} heights over {seeds} seeds"
    );
    assert!(txs > 0 && draws > 0, "transactions and lottery draws must be exercised");
    // The adversary is not held back: it does get more than f seats at times, about as often
    // as the binomial model of its lot share predicts (not more: luck is enforced).
    let over: u64 = reports.iter().map(|r| r.over_f_heights).sum();
    let predicted: f64 = reports.iter().map(|r| r.predicted_over_f).sum();
    assert!(
        over > 0,
        "an uncapped adversary at p = 0.2 must sometimes hold more than f"
    );
    assert!(
        (over as f64) <= predicted * 1.5 + 10.0,
        "over-f heights {over} far above the binomial prediction {predicted:.1}"
    );
    assert!(reports.iter().all(|r| r.max_seed_choices <= 2));
}

#[test]
fn f_plus_one_equivocating_seats_break_safety_and_the_checker_sees_it() {
    // n = 10 = 3f+1 with f = 3: 4 Byzantine seats bridge a partition of 3 + 3 honest seats.
    // The adversary holds more than f here, so the checker reports the fork apart (beyond-f):
    // it sees it, and does not count it against the protocol.
    let found = (0..10)
        .filter(|s| {
            let r = Sim::new(split_brain(*s, 10, 4)).run();
            assert_eq!(
                r.safety_violations, 0,
                "a fork under more than f is not a protocol violation"
            );
            r.over_f_violations > 0 && r.notes.iter().any(|n| n.starts_with("OVER-F SAFETY"))
        })
        .count();
    println!("split brain with f+1 = 4 of 10 seats: {found}/10 seeds show two certified blocks at one height");
    // The attack does not always land (7 or 8 of these 10 seeds, depending on timing); the
    // point is that when it does, the checker sees it.
    assert!(found >= 6, "the checker must detect the safety violation: {found}/10");
}

#[test]
fn the_same_attack_with_f_seats_is_safe() {
    for seed in 0..5 {
        let r = Sim::new(split_brain(seed, 10, 3)).run();
        assert_eq!(r.safety_violations, 0, "seed {seed}: {:?}", r.notes);
        assert_eq!(r.over_f_violations, 0, "seed {seed}: {:?}", r.notes);
        assert_eq!(r.root_divergences, 0);
    }
}

#[test]
fn n_eleven_needs_f_plus_two_for_the_attack() {
    // With n = 11 two quorums of 8 share 5 seats: f+1 = 4 liars cannot split, f+2 = 5 can.
    // 4 of 11 is more than f = 3 (it may halt the chain, reported beyond-f) but not enough to
    // fork.
    let forked = |r: &Report| r.notes.iter().any(|n| n.starts_with("OVER-F SAFETY"));
    let safe = Sim::new(split_brain(1, 11, 4)).run();
    assert!(safe.safety_violations == 0 && !forked(&safe), "{:?}", safe.notes);
    let broken = (0..10)
        .filter(|s| forked(&Sim::new(split_brain(*s, 11, 5)).run()))
        .count();
    println!("split brain with f+2 = 5 of 11 seats: {broken}/10 seeds show two certified blocks at one height");
    assert!(broken >= 6, "{broken}/10");
}

#[test]
fn a_seed_replays_identically() {
    let a = run_seed(42);
    let b = run_seed(42);
    assert_eq!(
        (a.heights, a.acked_txs, a.draws, a.notes),
        (b.heights, b.acked_txs, b.draws, b.notes)
    );
}

#[test]
fn devnet_certifies_and_verifies_draws() {
    let mut sim = Sim::new(Config::devnet(1, 12));
    sim.keep_log = true;
    let r = sim.run();
    assert_eq!(r.violations(), 0, "{:?}", r.notes);
    assert!(r.heights >= 12, "{} heights", r.heights);
    assert!(sim.log.len() >= 12);
    assert!(r.acked_txs > 0);
    assert!(r.draws >= 1);
    assert!(sim.log.iter().any(|l| l.contains("drawn")));
    let most_tickets = sim
        .log
        .iter()
        .filter_map(|l| l.split("closed: ").nth(1)?.split(' ').next()?.parse::<u64>().ok())
        .max();
    assert!(
        most_tickets.is_some_and(|n| n >= 2),
        "a devnet round must sell several tickets, got {most_tickets:?}"
    );
}

#[test]
fn the_public_verifier_refuses_a_tampered_record() {
    use daoli_protocol::chain::BlockError;
    use daoli_protocol::tx::TxKind;
    use daoli_protocol::verify::{VerifyError, verify_lottery};
    use daoli_protocol::vote::QcError;

    let mut sim = Sim::new(Config::devnet(1, 12));
    let r = sim.run();
    assert_eq!(r.violations(), 0, "{:?}", r.notes);
    let record = sim.public_record();
    let round = sim.last_drawn_round().expect("a drawn round");
    let g = &sim.genesis;
    let honest = verify_lottery(g, &record, round).expect("the untampered record verifies");
    assert!(honest.tickets >= 2, "{} tickets", honest.tickets);
    // The draw block carries the delay whose output is the draw seed; the seed it runs over is
    // that of block draw_h - E.
    let draw_h = record
        .iter()
        .position(|(cb, _)| cb.block.header.delay.as_ref().is_some_and(|d| d.output == honest.seed))
        .expect("the draw block is in the record") as u64
        + 1;
    let seed_h = draw_h - g.params.delay_blocks;
    assert_eq!(
        record[draw_h as usize - 1].0.block.header.delay.as_ref().unwrap().seed,
        record[seed_h as usize - 1].0.block.header.seed
    );

    // Another delay output: the certificate no longer covers the block.
    let mut t = record.clone();
    t[draw_h as usize - 1].0.block.header.delay.as_mut().unwrap().output.0[0] ^= 1;
    let e = verify_lottery(g, &t, round).unwrap_err();
    assert!(
        matches!(e, VerifyError::Block(h, BlockError::Qc(QcError::WrongValue { .. })) if h == draw_h),
        "{e}"
    );

    // A certificate cut below the quorum.
    let mut t = record.clone();
    t[2].0.qc.precommits.truncate(1);
    let e = verify_lottery(g, &t, round).unwrap_err();
    assert!(
        matches!(e, VerifyError::Block(3, BlockError::Qc(QcError::NoQuorum { .. }))),
        "{e}"
    );

    // A certificate padded with one seat's precommit twice.
    let mut t = record.clone();
    let first = t[2].0.qc.precommits[0].clone();
    t[2].0.qc.precommits.truncate(1);
    t[2].0.qc.precommits.extend(std::iter::repeat_n(first, 10));
    let e = verify_lottery(g, &t, round).unwrap_err();
    assert!(
        matches!(e, VerifyError::Block(3, BlockError::Qc(QcError::DuplicateVoter(_)))),
        "{e}"
    );

    // Another seed for the draw: the certificate no longer covers the block.
    let mut t = record.clone();
    t[seed_h as usize - 1].0.block.header.seed.0[0] ^= 1;
    let e = verify_lottery(g, &t, round).unwrap_err();
    assert!(
        matches!(e, VerifyError::Block(h, BlockError::Qc(QcError::WrongValue { .. })) if h == seed_h),
        "{e}"
    );

    // A ticket purchase altered inside its batch: the batch no longer matches its digest.
    let mut t = record.clone();
    let (i, b, x) = t
        .iter()
        .enumerate()
        .find_map(|(i, (_, batches))| {
            batches.iter().enumerate().find_map(|(b, batch)| {
                batch
                    .txs
                    .iter()
                    .position(|tx| matches!(tx.kind, TxKind::BuyTicket { round: r } if r == round))
                    .map(|x| (i, b, x))
            })
        })
        .expect("a ticket of the round");
    t[i].1[b].txs[x].fee += 1;
    let e = verify_lottery(g, &t, round).unwrap_err();
    assert!(
        matches!(e, VerifyError::Block(h, BlockError::MissingBatch(_)) if h == i as u64 + 1),
        "{e}"
    );

    // A block left out, the record cut before the draw, a round that never existed.
    let mut t = record.clone();
    t.remove(4);
    let e = verify_lottery(g, &t, round).unwrap_err();
    assert!(
        matches!(e, VerifyError::Block(5, BlockError::Height { got: 6, expected: 5 })),
        "{e}"
    );
    let e = verify_lottery(g, &record[..draw_h as usize - 1], round).unwrap_err();
    assert!(matches!(e, VerifyError::TooFewBlocks { .. }), "{e}");
    let e = verify_lottery(g, &record, 999).unwrap_err();
    assert!(matches!(e, VerifyError::NoRound(999)), "{e}");
}

#[test]
fn a_height_the_adversary_held_beyond_f_excuses_the_liveness_after_it_and_nothing_else_does() {
    // Seed 2243 (found by the 10,000-seed run): two all-out equivocators hold 4 of 11 seats at
    // height 1 and stall it until 15.5 s of a 16 s run, so the network cannot show two heights
    // after the heal. That is beyond the threat model, so it is reported apart.
    let r = run_seed(2243);
    assert_eq!(r.violations(), 0, "{:?}", r.notes);
    assert!(
        r.notes.iter().any(|n| n.starts_with("OVER-F LIVENESS")),
        "{:?}",
        r.notes
    );
    // Without an adversary, two of four datacenters down for good (more than f seats) halt
    // the chain: that is a liveness failure the checker counts, not excuses.
    let mut cfg = Config::devnet(3, 12);
    cfg.stop_height = None;
    cfg.crashes = vec![(0, 1, u64::MAX / 2), (1, 1, u64::MAX / 2)];
    let r = Sim::new(cfg).run();
    assert!(r.liveness_failures > 0, "{:?}", r.notes);
}

// Every honest datacenter stalls at once for longer than a cycle (the broker or database they
// share is down) just as a cycle begins, while the adversary runs on: every lot of the cycle
// reaches every honest lot drawing after its throttle. The network must certify again after
// the heal on every seed (the empty drawings are drawn again at the stall), and the rest of
// the invariants hold.
#[test]
fn a_stop_the_world_pause_through_a_mining_window_is_survived() {
    let reports: Vec<Report> = (0..24)
        .map(|seed| {
            let mut c = Config::random(seed);
            c.partitions.clear();
            c.crashes.clear();
            c.duration_ms = 20_000;
            c.pause = Some(Pause {
                after: 1_500 + seed % 4 * 500,
                length: 2_000 + seed % 3 * 700,
            });
            Sim::new(c).run()
        })
        .collect();
    let blind = reports.iter().filter(|r| r.blind_pause).count();
    println!("stop-the-world pauses: {blind} of 24 began before any honest drawing counted a lot");
    println!("{}", summary(&reports));
    for r in reports.iter().filter(|r| r.violations() > 0) {
        println!("seed {} failed: {:?}", r.seed, r.notes);
    }
    assert!(blind >= 12, "the pause must cover mining windows: {blind} of 24");
    assert!(reports.iter().all(|r| r.violations() == 0));
}
