//! `pacom demo` builds its local world, crosses it with a message and a
//! file, and reports every step; it must succeed end to end.

use std::process::Command;
use std::time::Instant;

#[test]
fn demo_runs_every_step() {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_pacom"))
        .args(["demo", "--nodes", "3"])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run pacom demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    for needle in [
        "circuit(s)",
        "bytes identical",
        "MD5 identical",
        "were cover",
        "all steps succeeded",
    ] {
        assert!(stdout.contains(needle), "no {needle:?} in:\n{stdout}");
    }
    assert!(t.elapsed().as_secs() < 120, "demo took {:?}", t.elapsed());
}
