//! `daoli-sim`: runs the deterministic simulator.
//!
//!   daoli-sim devnet [HEIGHTS]        a quiet 4-datacenter network, one line per height
//!   daoli-sim seeds N [START]         N randomized seeds, a summary line
//!   daoli-sim replay SEED             one seed, with its notes
//!
//! `seeds` and `replay` take `--p SHARE` (the adversary's share of lot production; default 0.1
//! on even seeds, 0.2 on odd ones), `--sybils K` (its datacenters; default 1 to 3) and
//! `--seats N` (default 11, 40 on seeds ending in 9).
//!
//! With `SIM_DEBUG=1` set, every committed height and every client reply is traced on stderr.
#![forbid(unsafe_code)]

use daoli_sim::{Config, Overrides, Sim, replay_command, run_seed_with};
use std::process::ExitCode;

/// Takes `--name value` out of `args`.
fn flag(args: &mut Vec<String>, name: &str) -> Option<String> {
    let i = args.iter().position(|a| a == name)?;
    if i + 1 >= args.len() {
        eprintln!("{name} needs a value");
        std::process::exit(2);
    }
    let v = args.remove(i + 1);
    args.remove(i);
    Some(v)
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let bad = |name: &str, why: &str| -> ! {
        eprintln!("{name}: {why}");
        std::process::exit(2)
    };
    let overrides = Overrides {
        p_permille: flag(&mut args, "--p").map(|v| match v.parse::<f64>() {
            Ok(p) if (0.0..1.0).contains(&p) => (p * 1000.0).round() as u64,
            _ => bad("--p", "a share of lot production in [0, 1), e.g. 0.2"),
        }),
        sybils: flag(&mut args, "--sybils").map(|v| match v.parse::<usize>() {
            Ok(k) if (1..=16).contains(&k) => k,
            _ => bad("--sybils", "1 ..= 16 Byzantine datacenters"),
        }),
        seats: flag(&mut args, "--seats").map(|v| match v.parse::<usize>() {
            Ok(n) if (4..=400).contains(&n) => n,
            _ => bad("--seats", "4 ..= 400 seats"),
        }),
    };
    let num = |i: usize, d: u64| {
        args.get(i).map_or(Ok(d), |s| s.parse::<u64>()).unwrap_or_else(|_| {
            eprintln!("expected a number, got {:?}", args[i]);
            std::process::exit(2)
        })
    };
    match args.first().map(String::as_str) {
        Some("devnet") | None => {
            let heights = num(1, 20);
            let mut sim = Sim::new(Config::devnet(1, heights));
            sim.keep_log = true;
            println!(
                "daoli devnet (simulated): 4 datacenters, 11 seats, waves [5,3,3], L0 1 s, loopback-free deterministic network"
            );
            let rep = sim.run();
            for l in sim.log.iter().take(heights as usize) {
                println!("{l}");
            }
            match sim.verify_last_draw() {
                Some(Ok(r)) => {
                    let blocks = r.steps.iter().filter(|s| s.starts_with("block ")).count();
                    println!(
                        "public verification of lottery round {} from one datacenter's blocks ({blocks} blocks replayed, each QC, seed and state checked):",
                        r.round
                    );
                    for s in r.steps.iter().filter(|s| !s.starts_with("block ")) {
                        println!("  {s}");
                    }
                }
                Some(Err(e)) => println!("public verification FAILED: {e}"),
                None => println!("no lottery round was drawn"),
            }
            println!(
                "{} heights certified, {} txs acknowledged, {} executed, {} draws verified, {} violations",
                rep.heights,
                rep.acked_txs,
                rep.executed_txs,
                rep.draws,
                rep.violations()
            );
            if rep.violations() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Some("seeds") => {
            let n = num(1, 1000);
            let start = num(2, 0);
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let o = overrides.clone();
                    std::thread::spawn(move || {
                        (start + t..start + n)
                            .step_by(threads as usize)
                            .map(|s| run_seed_with(s, &o))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let mut reports: Vec<_> = handles.into_iter().flat_map(|h| h.join().expect("worker")).collect();
            reports.sort_by_key(|r| r.seed);
            let mut bad = 0;
            for r in &reports {
                if r.violations() > 0 {
                    bad += 1;
                    println!(
                        "seed {} failed: {}  replay: {}",
                        r.seed,
                        r.notes.first().cloned().unwrap_or_default(),
                        replay_command(r.seed)
                    );
                }
            }
            println!("{}", daoli_sim::summary(&reports));
            if bad == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Some("replay") => {
            let seed = num(1, 0);
            let cfg = Config::random_with(seed, &overrides);
            println!("{cfg:?}");
            let mut sim = Sim::new(cfg);
            let r = sim.run();
            for (i, n) in sim.nodes.iter().enumerate() {
                println!("dc{i}: {}", n.describe());
                let slashed: Vec<String> = n
                    .chain()
                    .state
                    .datacenters
                    .iter()
                    .filter_map(|(k, d)| d.slashed_at.map(|h| format!("{} at {h}", k.short())))
                    .collect();
                if !slashed.is_empty() {
                    println!("  slashed: {}", slashed.join(", "));
                }
            }
            if std::env::var_os("SIM_DEBUG").is_some()
                && let Some(n) = sim.nodes.first()
            {
                for h in 1..=n.height() {
                    let b = &n.chain().block(h).expect("held").block;
                    println!(
                        "  block {h}: micro {:?}",
                        b.micro
                            .as_ref()
                            .map(|m| (m.producer_rank, m.batches.len(), m.prev_prevotes.len()))
                    );
                }
            }
            for n in &r.notes {
                println!("{n}");
            }
            println!("{}", daoli_sim::summary(std::slice::from_ref(&r)));
            if r.violations() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Some(other) => {
            eprintln!("unknown command {other:?}; use devnet, seeds or replay");
            ExitCode::from(2)
        }
    }
}
