//! Compiles proto/daoli/v1 (at the repository root) into servers, clients and messages.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    // The protos live outside this package, so cargo would not see them change.
    println!("cargo:rerun-if-changed={}", root.display());
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PROTOC");
    let protos: Vec<PathBuf> = ["types", "peer", "client", "events"]
        .iter()
        .map(|p| root.join(format!("daoli/v1/{p}.proto")))
        .collect();
    // The vendored protoc unless PROTOC names another. It is given to prost-build's config
    // rather than through the environment: `set_var` is unsafe in edition 2024, and the
    // workspace forbids unsafe code.
    let mut config = tonic_prost_build::Config::new();
    match std::env::var_os("PROTOC") {
        Some(p) => config.protoc_executable(p),
        None => config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?),
    };
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_with_config(config, &protos, &[root])?;
    Ok(())
}
