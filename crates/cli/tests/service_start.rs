//! A service process with a bad configuration stops at start-up, before it serves anything,
//! with a message that names the problem: a value that does not validate (exit 2), an
//! unreachable broker, a wrong database password (exit 1). Needs the real broker and server
//! (`DAOLI_KAFKA`, `DAOLI_POSTGRES`; tests/run.sh starts them).

use daoli::cluster::{self, config_path};
use daoli_runtime::config::Service;
use std::process::Command;

fn var(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| {
        panic!("{k} is not set: this test needs a real Kafka broker and PostgreSQL (tests/run.sh starts them)")
    })
}

/// Runs the ledger of datacenter 0 with `args` and `env`; returns its exit code and stderr.
fn run(dir: &std::path::Path, args: &[&str], env: &[(&str, String)]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_daoli"))
        .arg("service")
        .arg("--config")
        .arg(config_path(dir, 0, Service::Ledger))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("DAOLI_LOG", "error")
        .output()
        .expect("daoli runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_configuration_stops_a_service_at_start_up_naming_the_problem() {
    let postgres = var("DAOLI_POSTGRES");
    let kafka = var("DAOLI_KAFKA");
    let tmp = tempfile::tempdir().unwrap();
    cluster::write(&cluster::Args {
        datacenters: 1,
        dir: tmp.path().to_path_buf(),
        base_port: 19_300,
        kafka,
        log: "warn".into(),
    })
    .unwrap();
    let good = ("DAOLI_POSTGRES_URL", postgres.clone());

    // Not validated: the URL is missing, and a port is taken twice (the ledger of datacenter 0
    // takes peers on base + 5); both named, nothing started.
    let (code, err) = run(tmp.path(), &["--admin-addr", "127.0.0.1:19305"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("postgres_url: missing"), "{err}");
    assert!(
        err.contains("admin_addr: port 19305 is already used by peer_addr"),
        "{err}"
    );

    // The in-process bus cannot join processes.
    let (code, err) = run(tmp.path(), &["--bus", "inproc"], std::slice::from_ref(&good));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("bus: \"inproc\" joins services in one process only"),
        "{err}"
    );

    // A wrong password: named, and the password is not printed.
    let wrong = postgres.replacen("daoli:daoli@", "daoli:not-the-password@", 1);
    assert_ne!(wrong, postgres, "the test's URL has the password it expects");
    let (code, err) = run(tmp.path(), &[], &[("DAOLI_POSTGRES_URL", wrong)]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");

    // An unreachable broker.
    let (code, err) = run(
        tmp.path(),
        &["--kafka-brokers", "127.0.0.1:1"],
        std::slice::from_ref(&good),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Kafka at 127.0.0.1:1: unreachable"), "{err}");
}
