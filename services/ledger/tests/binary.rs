//! The service's own binary runs only its service: a configuration naming another one is
//! refused before anything starts (exit 2), by name.

use std::process::Command;

#[test]
fn the_ledger_binary_refuses_a_configuration_for_another_service() {
    let dir = tempfile::tempdir().unwrap();
    let genesis = dir.path().join("genesis.json");
    let g = daoli_protocol::vectors::vector_genesis();
    std::fs::write(&genesis, serde_json::to_string(&g).unwrap()).unwrap();
    let key = dir.path().join("identity.key");
    std::fs::write(&key, "a secret of the test datacenter").unwrap();
    let config = dir.path().join("lottery.toml");
    std::fs::write(
        &config,
        "datacenter = \"dc0\"\nservice = \"lottery\"\ndata_dir = \"data\"\ngenesis = \"genesis.json\"\n\
         identity_key = \"identity.key\"\nadmin_addr = \"127.0.0.1:1\"\nkafka_brokers = \"127.0.0.1:1\"\n\
         postgres_url = \"postgres://daoli@127.0.0.1:1/postgres\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_daoli-ledger"))
        .arg("--config")
        .arg(&config)
        .output()
        .expect("daoli-ledger runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("service: this binary runs ledger, the configuration names lottery"),
        "{err}"
    );
}
