//! Writes the golden vectors to crates/protocol/vectors/.
fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors");
    std::fs::create_dir_all(&dir)?;
    for (name, v) in daoli_protocol::vectors::all() {
        let text = serde_json::to_string_pretty(&v).expect("vectors serialize") + "\n";
        std::fs::write(dir.join(name), text)?;
        println!("wrote {name}");
    }
    Ok(())
}
