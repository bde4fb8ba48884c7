//! The repository stands on its own: no tracked file points outside it
//! for its contract (the brief the project started from is not shipped;
//! docs/compatibility.md records what users need of it).

use std::process::Command;

#[test]
fn no_file_refers_to_a_contract_outside_the_repository() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let listed = Command::new("git").args(["ls-files"]).current_dir(root).output().expect("git ls-files");
    assert!(listed.status.success(), "git ls-files failed");
    let mut offending = Vec::new();
    for path in String::from_utf8_lossy(&listed.stdout).lines() {
        let Ok(text) = std::fs::read_to_string(format!("{root}/{path}")) else { continue };
        for (n, line) in text.lines().enumerate() {
            // Spelled in two pieces so that this file does not match itself.
            if line.contains(concat!("../", "shared")) || line.contains(concat!("SPEC", " §")) {
                offending.push(format!("{path}:{}: {line}", n + 1));
            }
        }
    }
    assert!(offending.is_empty(), "references outside the repository:\n{}", offending.join("\n"));
}
