//! The simulator's invariants over many seeds, and proof that the checker can fail.

use daoli_sim::{Config, Report, Sim, replay_command, run_seed, split_brain};

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
fn thousand_seeds_with_f_byzantine_seats_hold_every_invariant() {
    let seeds: u64 = std::env::var("DAOLI_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let reports = run_many(seeds);
    let heights: u64 = reports.iter().map(|r| r.heights).sum();
    let txs: u64 = reports.iter().map(|r| r.acked_txs).sum();
    let draws: u64 = reports.iter().map(|r| r.draws).sum();
    let failed: Vec<&Report> = reports.iter().filter(|r| r.violations() > 0).collect();
    println!(
        "simulator: seeds {} (each with a Byzantine datacenter holding f=3 of 11 seats) heights {heights} acknowledged-txs {txs} verified-draws {draws} violations {}",
        reports.len(),
        failed.iter().map(|r| r.violations()).sum::<u64>()
    );
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
}

#[test]
fn f_plus_one_equivocating_seats_break_safety_and_the_checker_sees_it() {
    // n = 10 = 3f+1 with f = 3: 4 Byzantine seats bridge a partition of 3 + 3 honest seats.
    let found = (0..10)
        .filter(|s| Sim::new(split_brain(*s, 10, 4)).run().safety_violations > 0)
        .count();
    println!("split brain with f+1 = 4 of 10 seats: {found}/10 seeds show two certified blocks at one height");
    assert!(found >= 8, "the checker must detect the safety violation");
}

#[test]
fn the_same_attack_with_f_seats_is_safe() {
    for seed in 0..5 {
        let r = Sim::new(split_brain(seed, 10, 3)).run();
        assert_eq!(r.safety_violations, 0, "seed {seed}: {:?}", r.notes);
        assert_eq!(r.root_divergences, 0);
    }
}

#[test]
fn n_eleven_needs_f_plus_two_for_the_attack() {
    // With n = 11 two quorums of 8 share 5 seats: f+1 = 4 liars cannot split, f+2 = 5 can.
    let safe = Sim::new(split_brain(1, 11, 4)).run();
    assert_eq!(safe.safety_violations, 0, "{:?}", safe.notes);
    let broken = (0..5)
        .filter(|s| Sim::new(split_brain(*s, 11, 5)).run().safety_violations > 0)
        .count();
    assert!(broken >= 4);
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
