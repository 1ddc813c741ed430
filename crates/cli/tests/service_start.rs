//! A service process with a bad configuration stops at start-up, before it serves anything,
//! with a message that names the problem: a value that does not validate (exit 2), an
//! unreachable broker, a wrong database password, a Kafka user without the permissions the
//! service needs, a schema from a newer build (exit 1). Needs the real broker (with its SASL
//! listener, where ACLs apply) and server (`DAOLI_KAFKA`, `DAOLI_KAFKA_SASL`,
//! `DAOLI_POSTGRES`; tests/run.sh starts them).

use daoli::cluster::{self, config_path};
use daoli_runtime::config::Service;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn var(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| {
        panic!("{k} is not set: this test needs a real Kafka broker and PostgreSQL (tests/run.sh starts them)")
    })
}

/// Runs the ledger of datacenter 0 with `args` and `env`; returns its exit code and stderr. A
/// process still running after 60 s (it did not refuse to start) is killed: code -1.
fn run(dir: &std::path::Path, args: &[&str], env: &[(&str, String)]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_daoli"))
        .arg("service")
        .arg("--config")
        .arg(config_path(dir, 0, Service::Ledger))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("DAOLI_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("daoli runs");
    // Read as it comes, so a chatty process never blocks on a full pipe.
    let mut stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let start = Instant::now();
    while child.try_wait().expect("waits").is_none() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let status = child.wait().expect("exits");
    (status.code().unwrap_or(-1), reader.join().expect("stderr read"))
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

    // A datacenter's own entry among its peers is how its services reach each other.
    let other = format!("dc9={}@http://127.0.0.1:1", "ab".repeat(32));
    let (code, err) = run(tmp.path(), &["--peer", &other], std::slice::from_ref(&good));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("peers: no entry for this datacenter"), "{err}");

    // An unreachable broker.
    let (code, err) = run(
        tmp.path(),
        &["--kafka-brokers", "127.0.0.1:1"],
        std::slice::from_ref(&good),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Kafka at 127.0.0.1:1: unreachable"), "{err}");

    // A secret too short to be one.
    std::fs::write(tmp.path().join("dc0/identity.key"), "short\n").unwrap();
    let (code, err) = run(tmp.path(), &[], std::slice::from_ref(&good));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("identity.key: the secret is 5 bytes; at least 16"),
        "{err}"
    );
}

/// Runs `sql` on the test server.
fn sql(url: &str, sql: &str) {
    let (url, sql) = (url.to_string(), sql.to_string());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(conn);
            c.batch_execute(&sql).await.unwrap();
        });
}

#[test]
fn missing_kafka_permissions_and_a_newer_schema_stop_a_service_at_start_up() {
    let postgres = var("DAOLI_POSTGRES");
    let kafka = var("DAOLI_KAFKA");
    let sasl = var("DAOLI_KAFKA_SASL");
    let tmp = tempfile::tempdir().unwrap();
    let g = cluster::write(&cluster::Args {
        datacenters: 1,
        dir: tmp.path().to_path_buf(),
        base_port: 19_400,
        kafka: kafka.clone(),
        log: "warn".into(),
    })
    .unwrap();
    let dc = daoli::devnet::dc_name(&g, 0);
    let topic = format!("daoli.{dc}.events");
    let good = ("DAOLI_POSTGRES_URL", postgres.clone());
    // The broker's SASL listener, as `user` (infra.sh: each password is the name + "-password").
    let login = |user: &str| {
        (
            [
                "--kafka-brokers".to_string(),
                sasl.clone(),
                "--kafka-security-protocol".into(),
                "sasl_plaintext".into(),
                "--kafka-sasl-mechanism".into(),
                "PLAIN".into(),
                "--kafka-username".into(),
                user.into(),
            ],
            [good.clone(), ("DAOLI_KAFKA_PASSWORD", format!("{user}-password"))],
        )
    };

    // A user without any ACL: the topic and what was refused are named, the password is not.
    let (args, env) = login("daoli-none");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, err) = run(tmp.path(), &args, &env);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("Kafka topic {topic}: not allowed to describe it")),
        "{err}"
    );
    assert!(!err.contains("daoli-none-password"), "{err}");

    // A user with every topic permission but none on its consumer group: the topic exists (an
    // operator made it), and the group is named.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(daoli_runtime::bus::kafka::KafkaBus::connect(
            &dc,
            daoli_runtime::bus::kafka::KafkaOptions::new(&kafka),
        ))
        .expect("a super user makes the topic");
    let (args, env) = login("daoli-nogroup");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, err) = run(tmp.path(), &args, &env);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "Kafka consumer group daoli.{dc}.ledger: not allowed to describe it"
        )),
        "{err}"
    );

    // A user that may look at its group but not join it starts, then stops at its first
    // receive (as a service whose ACLs are removed while it runs), rather than retry for ever.
    let (args, env) = login("daoli-nojoin");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, err) = run(tmp.path(), &args, &env);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "the bus subscription ended: Kafka consumer group daoli.{dc}.ledger: not allowed to join it"
        )) && err.contains("the service stopped on a failure"),
        "{err}"
    );

    // The runs above made the datacenter's schemas; a newer build migrated the ledger's further.
    let schema = format!("{dc}_ledger").replace('-', "_");
    sql(
        &postgres,
        &format!(
            "INSERT INTO \"{schema}\".migrations (version, name) \
             SELECT max(version) + 1, 'from a newer build' FROM \"{schema}\".migrations"
        ),
    );
    let (code, err) = run(tmp.path(), &[], std::slice::from_ref(&good));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("schema \"{schema}\" is at migration")) && err.contains("run a newer build"),
        "{err}"
    );
}
