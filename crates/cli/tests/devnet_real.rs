//! The devnet scenario of tests/devnet.rs on real components: each datacenter's bus is a topic
//! on an Apache Kafka broker (`DAOLI_KAFKA`) and each service's store a schema on a PostgreSQL
//! server (`DAOLI_POSTGRES`); the README's test command starts both. The stopped datacenter
//! resumes from its schemas and its consumer groups' committed offsets.

const BASE: u16 = 17_500;

fn backend() -> daoli::devnet::Backend {
    let var = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| {
            panic!("{k} is not set: this test needs a real Kafka broker and PostgreSQL (tests/run.sh starts them)")
        })
    };
    daoli::devnet::Backend::Real {
        kafka: var("DAOLI_KAFKA"),
        postgres: var("DAOLI_POSTGRES"),
    }
}

include!("common/devnet_scenario.rs");
