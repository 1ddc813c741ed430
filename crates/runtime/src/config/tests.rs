use super::*;
use clap::Parser;
use daoli_protocol::vectors;

const KEY1: &str = "11111111111111111111111111111111111111111111111111111111111111aa";
const KEY2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

/// A directory with a genesis file and a key file, and a config that validates against it.
struct Fixture {
    dir: tempfile::TempDir,
    config: Config,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let genesis = dir.path().join("genesis.json");
    std::fs::write(&genesis, serde_json::to_string(&vectors::vector_genesis()).unwrap()).unwrap();
    let key = dir.path().join("dc0.key");
    std::fs::write(&key, "secret").unwrap();
    let config = Config {
        datacenter: Some("dc0".into()),
        service: Some("ledger".into()),
        data_dir: Some(dir.path().join("data")),
        genesis: Some(genesis),
        identity_key: Some(key),
        peer_addr: Some("127.0.0.1:7100".into()),
        client_addr: Some("127.0.0.1:7200".into()),
        admin_addr: Some("127.0.0.1:7300".into()),
        peers: vec![
            peer("dc1", KEY1, "http://127.0.0.1:7101"),
            peer("dc2", KEY2, "http://dc2.example:7100"),
        ],
        kafka_brokers: Some("127.0.0.1:19092".into()),
        postgres_url: Some(Secret("postgres://daoli:s3cret@127.0.0.1:15432/postgres".into())),
        ..Config::default()
    };
    Fixture { dir, config }
}

fn peer(name: &str, key: &str, url: &str) -> PeerEntry {
    PeerEntry {
        name: name.into(),
        root_key: key.into(),
        endpoint: url.into(),
        services: BTreeMap::new(),
    }
}

/// The problems of an invalid config, as `key: reason` lines.
fn problems(c: &Config) -> Vec<String> {
    match c.validate() {
        Ok(_) => panic!("validated: {c:?}"),
        Err(e) => {
            let list: Vec<String> = e.problems().iter().map(|p| p.to_string()).collect();
            // The error's own message lists the same lines.
            for l in &list {
                assert!(e.to_string().contains(l.as_str()));
            }
            list
        }
    }
}

fn one_problem(c: &Config) -> String {
    let p = problems(c);
    assert_eq!(p.len(), 1, "{p:#?}");
    p.into_iter().next().unwrap()
}

#[test]
fn a_good_config_validates_with_defaults() {
    let f = fixture();
    let s = f.config.validate().unwrap();
    assert_eq!(s.datacenter, "dc0");
    assert_eq!(s.service, Service::Ledger);
    assert_eq!(s.genesis.network, "daoli-vectors");
    assert_eq!(s.admin_addr, "127.0.0.1:7300".parse().unwrap());
    assert_eq!(s.peers[0].root_key.0[31], 0xaa);
    assert_eq!(s.peers[1].endpoint.port(), Some(7100));
    assert_eq!(
        s.bus,
        BusKind::Kafka {
            brokers: "127.0.0.1:19092".into(),
            security: KafkaSecurity::default(),
            replication: NonZeroU16::new(1).unwrap(),
            retention_hours: NonZeroU32::new(168).unwrap(),
        }
    );
    assert!(matches!(&s.store, StoreKind::Postgres { url } if url.ends_with("15432/postgres")));
    assert_eq!(s.otlp_endpoint, None);
    assert_eq!(s.log, "info");
    assert_eq!(s.limits.messages_per_second.get(), DEFAULT_MESSAGES_PER_SECOND);
    assert_eq!(s.limits.max_in_flight.get(), DEFAULT_MAX_IN_FLIGHT);
}

#[test]
fn missing_values_name_their_key_env_and_flag() {
    let p = problems(&Config::default());
    let keys: Vec<&str> = p.iter().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "datacenter",
            "service",
            "data_dir",
            "genesis",
            "identity_key",
            "admin_addr",
            "kafka_brokers",
            "postgres_url"
        ]
    );
    assert!(
        p[2].contains("DAOLI_DATA_DIR") && p[2].contains("--data-dir"),
        "{}",
        p[2]
    );
}

#[test]
fn port_zero_is_refused() {
    let f = fixture();
    let mut c = f.config.clone();
    c.admin_addr = Some("127.0.0.1:0".into());
    let p = one_problem(&c);
    assert!(p.starts_with("admin_addr: ") && p.contains("port 0 not allowed"), "{p}");
}

#[test]
fn a_listen_address_must_be_ip_and_port() {
    let f = fixture();
    let mut c = f.config.clone();
    c.peer_addr = Some("localhost:7100".into());
    assert_eq!(
        one_problem(&c),
        r#"peer_addr: "localhost:7100" is not an IP:PORT address"#
    );
}

#[test]
fn duplicate_ports_are_refused_on_the_same_or_a_wildcard_ip() {
    let f = fixture();
    let mut c = f.config.clone();
    c.admin_addr = Some("127.0.0.1:7100".into());
    assert_eq!(
        one_problem(&c),
        "admin_addr: port 7100 is already used by peer_addr (127.0.0.1:7100)"
    );
    let mut c = f.config.clone();
    c.peer_addr = Some("0.0.0.0:7300".into());
    assert!(one_problem(&c).starts_with("admin_addr: port 7300 is already used by peer_addr"));
    // Same port on two distinct IPs is fine.
    let mut c = f.config.clone();
    c.client_addr = Some("127.0.0.2:7300".into());
    c.validate().unwrap();
    // A service with no peer or client listener.
    let mut c = f.config;
    c.service = Some("lottery".into());
    (c.peer_addr, c.client_addr) = (None, None);
    let s = c.validate().unwrap();
    assert_eq!((s.peer_addr, s.client_addr), (None, None));
}

// Each service's listeners follow from what it serves: a message-taking service without a
// peer endpoint would drop its peers' messages, a listener nothing answers on is a mistake.
#[test]
fn listeners_match_what_the_service_serves() {
    let f = fixture();
    for s in Service::ALL {
        let mut c = f.config.clone();
        c.service = Some(s.as_str().into());
        c.ledger_endpoint = Some("http://127.0.0.1:7201".into());
        c.miner_pool_endpoint = Some("http://127.0.0.1:7202".into());
        let problems = match c.validate() {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        };
        assert_eq!(
            problems.contains("client_addr: "),
            !s.has_client_api(),
            "{s}: {problems}"
        );
        assert_eq!(
            problems.contains("peer_addr: "),
            !s.takes_peer_messages(),
            "{s}: {problems}"
        );
        c.peer_addr = None;
        c.client_addr = None;
        let problems = match c.validate() {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        };
        assert_eq!(
            problems.contains("peer_addr: missing"),
            s.takes_peer_messages(),
            "{s}: {problems}"
        );
    }
    // The split agrees with where peers send messages (roles::service_of).
    let mut takers: Vec<_> = Service::ALL
        .iter()
        .filter(|s| s.takes_peer_messages())
        .map(|s| s.as_str())
        .collect();
    takers.sort_unstable();
    let mut routed = daoli_protocol::roles::PEER_SERVICES.to_vec();
    routed.sort_unstable();
    assert_eq!(takers, routed);
}

#[test]
fn the_topic_settings_are_checked() {
    let f = fixture();
    let mut c = f.config.clone();
    (c.kafka_replication, c.kafka_retention_hours) = (Some(3), Some(24));
    let BusKind::Kafka {
        replication,
        retention_hours,
        ..
    } = c.validate().unwrap().bus;
    assert_eq!((replication.get(), retention_hours.get()), (3, 24));
    c.kafka_replication = Some(0);
    assert_eq!(one_problem(&c), "kafka_replication: must be at least 1");
    (c.kafka_replication, c.kafka_retention_hours) = (None, Some(0));
    assert_eq!(one_problem(&c), "kafka_retention_hours: must be at least 1");
}

#[test]
fn a_datacenter_name_fits_its_schemas() {
    let f = fixture();
    let mut c = f.config.clone();
    c.datacenter = Some("d".repeat(MAX_DATACENTER_NAME));
    c.validate().unwrap();
    c.datacenter = Some("d".repeat(MAX_DATACENTER_NAME + 1));
    assert!(one_problem(&c).starts_with("datacenter: "), "{}", one_problem(&c));
    for reserved in ["pg", "pg-east"] {
        c.datacenter = Some(reserved.into());
        assert!(
            one_problem(&c).contains("reserved by PostgreSQL"),
            "{}",
            one_problem(&c)
        );
    }
    c.datacenter = Some("pgx".into());
    c.validate().unwrap();
}

#[test]
fn tls_endpoints_are_refused_by_name() {
    let f = fixture();
    let mut c = f.config.clone();
    c.peers[1].endpoint = "https://dc2.example:7100".into();
    assert!(
        one_problem(&c).starts_with(r#"peers[1].endpoint: "https://dc2.example:7100": TLS is not built"#),
        "{}",
        one_problem(&c)
    );
}

#[test]
fn a_bad_peer_endpoint_names_its_index() {
    let f = fixture();
    let mut c = f.config.clone();
    c.peers.push(peer("dc3", &"3".repeat(64), "x"));
    assert_eq!(
        one_problem(&c),
        r#"peers[2].endpoint: "x" is not a URL (relative URL without a base)"#
    );
    c.peers[2].endpoint = "ftp://dc3:21".into();
    assert_eq!(
        one_problem(&c),
        r#"peers[2].endpoint: "ftp://dc3:21": scheme "ftp" is not http"#
    );
}

#[test]
fn a_peer_root_key_must_be_64_hex_chars() {
    let f = fixture();
    for bad in ["abc", &"g".repeat(64), &"a".repeat(66)] {
        let mut c = f.config.clone();
        c.peers[1].root_key = bad.to_string();
        let p = one_problem(&c);
        assert!(
            p.starts_with("peers[1].root_key: ") && p.contains("is not 64 hex characters"),
            "{p}"
        );
    }
}

#[test]
fn peers_need_every_field_and_distinct_names_and_keys() {
    let f = fixture();
    let mut c = f.config.clone();
    c.peers.push(PeerEntry::default());
    assert_eq!(
        problems(&c),
        [
            "peers[2].name: missing",
            "peers[2].root_key: missing",
            "peers[2].endpoint: missing"
        ]
    );
    let mut c = f.config.clone();
    c.peers.push(peer("dc1", KEY2, "http://127.0.0.1:7103"));
    assert_eq!(
        problems(&c),
        [
            r#"peers[2].name: "dc1" is also peers[0].name"#,
            "peers[2].root_key: is also peers[1].root_key"
        ]
    );
    let mut c = f.config;
    c.peers[0].name = "DC 1".into();
    assert!(one_problem(&c).starts_with(r#"peers[0].name: "DC 1" is not a name"#));
}

#[test]
fn an_unreadable_or_invalid_genesis_is_refused() {
    let f = fixture();
    let mut c = f.config.clone();
    c.genesis = Some(f.dir.path().join("nope.json"));
    let p = one_problem(&c);
    assert!(p.starts_with("genesis: cannot read ") && p.contains("nope.json"), "{p}");
    let bad = f.dir.path().join("bad.json");
    std::fs::write(&bad, "{}").unwrap();
    c.genesis = Some(bad);
    let p = one_problem(&c);
    assert!(
        p.starts_with("genesis: ") && p.contains("bad.json is not a valid genesis"),
        "{p}"
    );
}

#[test]
fn an_unreadable_or_empty_identity_key_is_refused() {
    let f = fixture();
    let mut c = f.config.clone();
    c.identity_key = Some(f.dir.path().join("missing.key"));
    assert!(one_problem(&c).starts_with("identity_key: cannot read "));
    let empty = f.dir.path().join("empty.key");
    std::fs::write(&empty, "").unwrap();
    c.identity_key = Some(empty);
    assert!(one_problem(&c).ends_with("empty.key is empty"));
}

#[test]
fn names_kinds_urls_filters_and_limits_are_checked() {
    let f = fixture();
    let check = |edit: &dyn Fn(&mut Config), expected: &str| {
        let mut c = f.config.clone();
        edit(&mut c);
        let p = one_problem(&c);
        assert!(p.starts_with(expected), "{p:?} does not start with {expected:?}");
    };
    check(
        &|c| c.datacenter = Some("dc_0".into()),
        r#"datacenter: "dc_0" is not a name"#,
    );
    check(
        &|c| c.service = Some("trustee".into()),
        r#"service: "trustee" is not a service"#,
    );
    check(
        &|c| c.bus = Some("nats".into()),
        r#"bus: "nats" is not a bus kind (kafka)"#,
    );
    check(
        &|c| c.store = Some("sqlite".into()),
        r#"store: "sqlite" is not a store kind (postgres)"#,
    );
    // What joins services in one process (the devnet's) cannot join processes.
    check(
        &|c| c.bus = Some("inproc".into()),
        r#"bus: "inproc" joins services in one process only"#,
    );
    check(
        &|c| c.store = Some("embedded".into()),
        r#"store: "embedded" is one process's file"#,
    );
    check(
        &|c| c.kafka_brokers = None,
        "kafka_brokers: missing (set it in the file, DAOLI_KAFKA_BROKERS or --kafka-brokers)",
    );
    check(
        &|c| {
            c.bus = Some("kafka".into());
            c.kafka_brokers = Some("127.0.0.1:19092,broker2".into());
        },
        r#"kafka_brokers: "broker2" is not HOST:PORT"#,
    );
    check(
        &|c| c.postgres_url = None,
        "postgres_url: missing (set it in the file, DAOLI_POSTGRES_URL or --postgres-url)",
    );
    check(
        &|c| {
            c.store = Some("postgres".into());
            c.postgres_url = Some(Secret("postgres://daoli:s3cret@127.0.0.1:notaport/db".into()));
        },
        "postgres_url: is not a PostgreSQL connection string",
    );
    check(
        &|c| c.otlp_endpoint = Some("localhost:4317".into()),
        r#"otlp_endpoint: "localhost:4317": scheme"#,
    );
    check(
        &|c| c.otlp_endpoint = Some("http://".into()),
        r#"otlp_endpoint: "http://" is not a URL"#,
    );
    check(
        &|c| c.otlp_endpoint = Some("https://otel.example:4317".into()),
        r#"otlp_endpoint: "https://otel.example:4317": TLS"#,
    );
    check(
        &|c| c.log = Some("info,[".into()),
        r#"log: "info,[" is not a log filter"#,
    );
    check(
        &|c| c.limits.messages_per_second = Some(0),
        "limits.messages_per_second: must be at least 1",
    );
    check(
        &|c| c.limits.max_in_flight = Some(0),
        "limits.max_in_flight: must be at least 1",
    );
    let file = f.dir.path().join("dc0.key");
    check(&|c| c.data_dir = Some(file.clone()), "data_dir: ");
    // The kernel buffer serving clients hands queries and lots on: it must know where.
    check(
        &|c| {
            c.service = Some("kernel-buffer".into());
            c.ledger_endpoint = Some("http://127.0.0.1:7201".into());
        },
        "miner_pool_endpoint: missing",
    );
    check(
        &|c| {
            c.service = Some("kernel-buffer".into());
            c.miner_pool_endpoint = Some("http://127.0.0.1:7202".into());
            c.ledger_endpoint = Some("127.0.0.1:7201".into());
        },
        r#"ledger_endpoint: "127.0.0.1:7201""#,
    );
    // A peer run as one process per service: each service's endpoint, checked by name.
    check(
        &|c| {
            c.peers[0]
                .services
                .insert("ledgr".into(), "http://127.0.0.1:7301".into());
        },
        r#"peers[0].services.ledgr: "ledgr" is not a service"#,
    );
    check(
        &|c| {
            c.peers[1].services.insert("ledger".into(), "tcp://x:1".into());
        },
        r#"peers[1].services.ledger: "tcp://x:1": scheme"#,
    );
    // An empty OTLP endpoint (e.g. DAOLI_OTLP_ENDPOINT="") turns export off.
    let mut c = f.config.clone();
    c.otlp_endpoint = Some(String::new());
    assert_eq!(c.validate().unwrap().otlp_endpoint, None);
    c.otlp_endpoint = Some("http://127.0.0.1:4317".into());
    assert_eq!(c.validate().unwrap().otlp_endpoint.unwrap().port(), Some(4317));
    c.peers[0]
        .services
        .insert("ledger".into(), "http://127.0.0.1:7301".into());
    let v = c.validate().unwrap();
    assert_eq!(v.peers[0].services.len(), 1);
    assert_eq!(v.peers[0].services[0].0, Service::Ledger);
    assert_eq!(v.peers[0].services[0].1.port(), Some(7301));
    // Kafka and PostgreSQL, well given; the password never shows in a problem or a Debug.
    c.bus = Some("kafka".into());
    c.kafka_brokers = Some("127.0.0.1:19092, kafka-1.example:9092".into());
    c.store = Some("postgres".into());
    c.postgres_url = Some(Secret("postgres://daoli:s3cret@127.0.0.1:15432/postgres".into()));
    let v = c.validate().unwrap();
    assert!(matches!(&v.bus, BusKind::Kafka { brokers, .. } if brokers.contains("kafka-1.example:9092")));
    assert!(matches!(&v.store, StoreKind::Postgres { url } if url.contains("15432")));
    assert!(!format!("{v:?}").contains("s3cret"), "{v:?}");
    assert!(!format!("{c:?}").contains("s3cret"), "{c:?}");
    c.postgres_url = Some(Secret("postgres://daoli:s3cret@127.0.0.1:notaport/db".into()));
    assert!(!one_problem(&c).contains("s3cret"));
}

/// The SASL settings of `f`'s config, as the environment would give them.
fn sasl(c: &mut Config, protocol: &str, mechanism: &str) {
    c.kafka_security_protocol = Some(protocol.into());
    c.kafka_sasl_mechanism = Some(mechanism.into());
    c.kafka_username = Some("svc-ledger".into());
    c.kafka_password = Some(Secret("pa55word".into()));
}

#[test]
fn kafka_security_settings_are_checked_and_carried_to_the_client() {
    let f = fixture();
    // Default: plaintext, no login.
    let BusKind::Kafka { security, .. } = f.config.validate().unwrap().bus;
    assert_eq!(security, KafkaSecurity::default());
    assert_eq!(
        security.client_settings(),
        [("security.protocol".to_string(), "plaintext".to_string())]
    );

    // A SASL login, given in any case; the password reaches the client and nothing else.
    let mut c = f.config.clone();
    sasl(&mut c, "SASL_PLAINTEXT", "plain");
    let v = c.validate().unwrap();
    let BusKind::Kafka { security, .. } = &v.bus;
    assert_eq!(security.protocol, KafkaProtocol::SaslPlaintext);
    let settings = security.client_settings();
    for (k, want) in [
        ("security.protocol", "sasl_plaintext"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", "svc-ledger"),
        ("sasl.password", "pa55word"),
    ] {
        assert!(
            settings.iter().any(|(sk, sv)| sk == k && sv == want),
            "{k}: {settings:?}"
        );
    }
    assert!(!format!("{v:?}").contains("pa55word"), "{v:?}");
    assert!(!format!("{c:?}").contains("pa55word"), "{c:?}");
    let opts = crate::bus::kafka::KafkaOptions {
        extra: settings,
        ..crate::bus::kafka::KafkaOptions::new("127.0.0.1:1")
    };
    assert!(!format!("{opts:?}").contains("pa55word"), "{opts:?}");

    // A SASL protocol needs all three; each missing one is named (the password never in a file).
    let mut c = f.config.clone();
    c.kafka_security_protocol = Some("sasl_plaintext".into());
    let p = problems(&c);
    let keys: Vec<&str> = p.iter().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(keys, ["kafka_sasl_mechanism", "kafka_username", "kafka_password"]);
    assert!(
        p[2].contains("DAOLI_KAFKA_PASSWORD")
            && p[2].contains("--kafka-password")
            && p[2].contains("never in the file"),
        "{}",
        p[2]
    );
    sasl(&mut c, "sasl_plaintext", "PLAIN");
    c.kafka_password = Some(Secret(String::new()));
    assert_eq!(one_problem(&c), "kafka_password: is empty");

    // A login plaintext would ignore is a mistake, named.
    let mut c = f.config.clone();
    sasl(&mut c, "plaintext", "PLAIN");
    let p = problems(&c);
    let keys: Vec<&str> = p.iter().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(keys, ["kafka_sasl_mechanism", "kafka_username", "kafka_password"]);
    assert!(p.iter().all(|l| l.contains("plaintext does not log in")), "{p:?}");
    assert!(p.iter().all(|l| !l.contains("pa55word")), "{p:?}");

    // Unknown values.
    let mut c = f.config.clone();
    sasl(&mut c, "kerberos", "PLAIN");
    assert!(
        one_problem(&c).starts_with(r#"kafka_security_protocol: "kerberos" is not a security protocol"#),
        "{c:?}"
    );
    sasl(&mut c, "sasl_plaintext", "GSSAPI");
    assert!(
        one_problem(&c).starts_with(r#"kafka_sasl_mechanism: "GSSAPI" is not a SASL mechanism"#),
        "{c:?}"
    );

    // What this build's librdkafka lacks (no OpenSSL: rdkafka without its ssl feature) is
    // refused here, by key, not by a client at start-up.
    let mut c = f.config.clone();
    sasl(&mut c, "sasl_ssl", "PLAIN");
    let p = one_problem(&c);
    assert!(
        p.starts_with("kafka_security_protocol: not supported by this build's Kafka client") && p.contains("OpenSSL"),
        "{p}"
    );
    sasl(&mut c, "sasl_plaintext", "SCRAM-SHA-512");
    let p = one_problem(&c);
    assert!(
        p.starts_with("kafka_sasl_mechanism: not supported by this build's Kafka client") && p.contains("OpenSSL"),
        "{p}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let f = fixture();
    let mut c = f.config.clone();
    c.admin_addr = Some("127.0.0.1:0".into());
    c.peers[0].endpoint = "x".into();
    c.log = Some("[".into());
    c.service = None;
    let p = problems(&c);
    let keys: Vec<&str> = p.iter().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(keys, ["service", "admin_addr", "peers[0].endpoint", "log"]);
}

const FILE: &str = r#"
datacenter = "dc0"
service = "ledger"
data_dir = "data"
genesis = "genesis.json"
identity_key = "dc0.key"
peer_addr = "127.0.0.1:7100"
admin_addr = "127.0.0.1:7300"
log = "warn"
kafka_brokers = "127.0.0.1:19092"
postgres_url = "postgres://daoli:s3cret@127.0.0.1:15432/postgres"

[limits]
max_in_flight = 8

[[peers]]
name = "dc1"
root_key = "11111111111111111111111111111111111111111111111111111111111111aa"
endpoint = "http://127.0.0.1:7101"
"#;

#[test]
fn a_file_loads_with_paths_relative_to_it() {
    let f = fixture();
    let path = f.dir.path().join("dc0.toml");
    std::fs::write(&path, FILE).unwrap();
    let c = Config::from_file(&path).unwrap();
    assert_eq!(c.data_dir, Some(f.dir.path().join("data")));
    let s = c.validate().unwrap();
    assert_eq!(s.service, Service::Ledger);
    assert_eq!(s.limits.max_in_flight.get(), 8);
    assert_eq!(s.peers.len(), 1);
    assert_eq!(s.log, "warn");
}

#[test]
fn file_errors_name_the_file_and_key() {
    let f = fixture();
    let path = f.dir.path().join("dc0.toml");
    std::fs::write(
        &path,
        format!("{FILE}\nadmin_adr = \"x\"\n").replace("[limits]", "[limits]\nlimit = 1"),
    )
    .unwrap();
    let e = Config::from_file(&path).unwrap_err().to_string();
    assert!(e.contains("dc0.toml") && e.contains("unknown field `limit`"), "{e}");
    std::fs::write(&path, FILE.replace("max_in_flight = 8", "max_in_flight = \"eight\"")).unwrap();
    let e = Config::from_file(&path).unwrap_err().to_string();
    assert!(e.contains("dc0.toml") && e.contains("max_in_flight"), "{e}");
    // A mistyped secret key, or a broken line holding a secret: named by line and key, and the
    // secret never repeated.
    for bad in [
        "postgres_urll = \"postgres://daoli:s3cret@db:5432/x\"\n",
        "postgres_url = \"postgres://daoli:s3cret@db:5432/x\n",
    ] {
        std::fs::write(&path, format!("{FILE}\n{bad}")).unwrap();
        let e = Config::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("dc0.toml") && e.contains("line "), "{e}");
        assert!(!e.contains("s3cret"), "the secret is printed: {e}");
    }
    // A password is not kept in a file.
    std::fs::write(&path, FILE.replace("log = ", "kafka_password = \"pa55word\"\nlog = ")).unwrap();
    let e = Config::from_file(&path).unwrap_err().to_string();
    assert!(
        e.contains("dc0.toml")
            && e.contains("kafka_password: a password is not read from a file")
            && !e.contains("pa55word"),
        "{e}"
    );
    let e = Config::from_file(&f.dir.path().join("none.toml")).unwrap_err();
    assert!(
        matches!(e, ConfigError::Read { .. }) && e.to_string().contains("none.toml"),
        "{e}"
    );
}

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
}

#[test]
fn flags_override_the_file_and_peers_parse_from_flags() {
    let f = fixture();
    let path = f.dir.path().join("dc0.toml");
    std::fs::write(&path, FILE).unwrap();
    let url = "http://dc9.example:7100";
    let cli = Cli::try_parse_from([
        "svc".to_string(),
        format!("--config={}", path.display()),
        "--service=clock-beacon".into(),
        "--limits-max-in-flight=3".into(),
        format!("--peer=dc8={KEY2}@http://10.0.0.8:7100"),
        format!("--peer=dc9={KEY1}@{url}"),
        "--kafka-security-protocol=sasl_plaintext".into(),
        "--kafka-sasl-mechanism=PLAIN".into(),
        "--kafka-username=svc".into(),
        "--kafka-password=pa55word".into(),
    ])
    .unwrap();
    assert!(!format!("{cli:?}").contains("pa55word"), "{cli:?}");
    let s = cli.config.load().unwrap().validate().unwrap();
    let BusKind::Kafka { security, .. } = &s.bus;
    assert_eq!(
        security
            .sasl
            .as_ref()
            .map(|l| (l.username.as_str(), l.password.0.as_str())),
        Some(("svc", "pa55word"))
    );
    assert_eq!(s.service, Service::ClockBeacon);
    assert_eq!(s.datacenter, "dc0", "kept from the file");
    assert_eq!(s.limits.max_in_flight.get(), 3);
    assert_eq!(
        s.peers.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["dc8", "dc9"]
    );
    assert_eq!(s.peers[1].endpoint.as_str(), format!("{url}/"));
    let e = Cli::try_parse_from(["svc", "--peer", "dc8"]).unwrap_err().to_string();
    assert!(e.contains("--peer") && e.contains("NAME=ROOTKEYHEX@URL"), "{e}");
}

const CHILD: &str = "DAOLI_CONFIG_TEST_CHILD";

/// File < environment < flags. The environment is only set in a child process (the crate
/// forbids `unsafe`, and `set_var` would race with other tests anyway).
#[test]
fn the_environment_overrides_the_file_and_flags_override_the_environment() {
    if std::env::var_os(CHILD).is_some() {
        let cli = Cli::try_parse_from(["svc", "--log=debug"]).unwrap();
        let c = cli.config.load().unwrap();
        println!(
            "CHILD-RESULT service={} log={} admin={} peers={} kafka={}/{}",
            c.service.unwrap(),
            c.log.unwrap(),
            c.admin_addr.unwrap(),
            c.peers.len(),
            c.kafka_username.unwrap(),
            c.kafka_password.unwrap().0,
        );
        return;
    }
    let f = fixture();
    let path = f.dir.path().join("dc0.toml");
    std::fs::write(&path, FILE).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "config::tests::the_environment_overrides_the_file_and_flags_override_the_environment",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("DAOLI_CONFIG", &path)
        .env("DAOLI_SERVICE", "miner-pool")
        .env("DAOLI_LOG", "trace")
        .env("DAOLI_KAFKA_USERNAME", "svc")
        .env("DAOLI_KAFKA_PASSWORD", "pa55word")
        .env(
            "DAOLI_PEERS",
            format!("a={KEY1}@http://10.0.0.1:1,b={KEY2}@http://10.0.0.2:1"),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The harness prints "test <name> ... " on the same line as the child's output.
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("CHILD-RESULT "))
        .map(|(_, r)| r)
        .unwrap_or_else(|| panic!("no result from the child:\n{stdout}"));
    // service: env over file; log: flag over env; admin_addr: file; peers: env list of two.
    assert_eq!(
        line,
        "service=miner-pool log=debug admin=127.0.0.1:7300 peers=2 kafka=svc/pa55word"
    );
}

#[test]
fn a_service_index_is_its_place_in_all() {
    for (i, s) in Service::ALL.into_iter().enumerate() {
        assert_eq!(s.index(), i, "{s}");
        assert_eq!(Service::parse(s.as_str()), Some(s));
    }
}
