//! Runs the independent Python steganalysis (stego/steganalysis/detect.py) on
//! covers from the generator and blocks from the carrier, and checks that the
//! naive positive controls are detected while the carrier at its default
//! rate is not.
//!
//! The interpreter is `$PACOM_PYTHON` (default /usr/bin/python3) with numpy
//! and scikit-learn; without them this test fails, it does not skip.

use std::path::{Path, PathBuf};
use std::process::Command;

use stego::controls::Naive;
use stego::dataset::{file_variants, Variant};
use stego::PayloadRate;

const FILES: u32 = 16;
const BLOCKS: usize = 96;
const POOL: usize = 64;

/// Thresholds of the issue: per block and pooled over 64 blocks.
const MAX_BLOCK_AUC: f64 = 0.55;
const MAX_POOLED_AUC: f64 = 0.65;
const MIN_CONTROL_POOLED_AUC: f64 = 0.6;

fn write_dataset(dir: &Path, variants: &[Variant]) {
    std::fs::create_dir_all(dir).unwrap();
    let files: Vec<u32> = (0..FILES).collect();
    std::thread::scope(|s| {
        for part in files.chunks(FILES as usize / 2) {
            s.spawn(move || {
                for &f in part {
                    for v in file_variants(f, BLOCKS, variants) {
                        let path = dir.join(format!("{}_{f:03}.i16", v.variant.name()));
                        std::fs::write(path, &v.bytes).unwrap();
                    }
                }
            });
        }
    });
    let names: Vec<String> = variants
        .iter()
        .map(|v| format!("\"{}\"", v.name()))
        .collect();
    std::fs::write(
        dir.join("manifest.json"),
        format!(
            "{{\"files\": {FILES}, \"blocks\": {BLOCKS}, \"samples_per_block\": 8192, \"variants\": [{}]}}",
            names.join(", ")
        ),
    )
    .unwrap();
}

/// Extracts the number following `"key": ` after the first occurrence of `after`.
fn number_after(json: &str, after: &str, key: &str) -> f64 {
    let start = json
        .find(after)
        .unwrap_or_else(|| panic!("{after} missing in {json}"));
    let rest = &json[start..];
    let k = rest
        .find(&format!("\"{key}\": "))
        .unwrap_or_else(|| panic!("{key} missing"));
    let tail = &rest[k + key.len() + 4..];
    let end = tail
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e'))
        .unwrap_or(tail.len());
    tail[..end].parse().unwrap()
}

fn auc(json: &str, variant: &str, detector: &str, which: &str) -> f64 {
    let section = &json[json.find(&format!("\"{variant}\": {{")).unwrap()..];
    number_after(section, &format!("\"{detector}\": {{"), which)
}

#[test]
fn detectors_see_the_controls_but_not_the_carrier() {
    let python = std::env::var("PACOM_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import numpy, sklearn"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "{python} lacks numpy/scikit-learn (scripts/test.sh installs python3-numpy python3-sklearn): {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("cannot run {python} (set PACOM_PYTHON): {e}"),
    }

    let rate = PayloadRate::DEFAULT;
    let production = Variant::Carrier(rate);
    let variants = [
        Variant::Cover,
        production,
        Variant::Control(Naive::LsbReplacement, rate),
        Variant::Control(Naive::PlusMinusOne, rate),
    ];
    let dir: PathBuf =
        std::env::temp_dir().join(format!("stego-steganalysis-{}", std::process::id()));
    write_dataset(&dir, &variants);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("steganalysis/detect.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg("--data")
        .arg(&dir)
        .args(["--pool", &POOL.to_string()])
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let json = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "detector failed: {json}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{json}");

    let detectors = ["ws", "spa", "spam"];
    for control in [&variants[2], &variants[3]] {
        let best = detectors
            .iter()
            .map(|d| auc(&json, &control.name(), d, "pooled_auc"))
            .fold(0.0, f64::max);
        assert!(
            best > MIN_CONTROL_POOLED_AUC,
            "control {} undetected (best pooled AUC {best}): the detectors are too weak to vouch for anything",
            control.name()
        );
    }
    for d in detectors {
        // Either direction of a score separates: judge the carrier by the better one.
        let sym = |a: f64| a.max(1.0 - a);
        let block = sym(auc(&json, &production.name(), d, "block_auc"));
        let pooled = sym(auc(&json, &production.name(), d, "pooled_auc"));
        assert!(block <= MAX_BLOCK_AUC, "{d} per-block AUC {block}");
        assert!(pooled <= MAX_POOLED_AUC, "{d} pooled AUC {pooled}");
    }
}
