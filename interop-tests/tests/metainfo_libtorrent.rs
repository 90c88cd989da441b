//! Our metainfo against libtorrent-rasterbar (Python bindings): torrents we
//! create must load in libtorrent with the same info hash, and torrents
//! libtorrent creates (v1-only and hybrid v1+v2) must parse in ours.
//!
//! The interpreter is `$PACOM_PYTHON`, else `/usr/bin/python3` (the one the
//! distribution's `libtorrent` module is built for). A missing interpreter or
//! module fails the test: it must not pass without having compared anything.

use std::path::{Path, PathBuf};
use std::process::Command;

use pacom_bt::metainfo::{create_from_path, CreateOptions, Metainfo};

fn python() -> PathBuf {
    std::env::var_os("PACOM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/python3"))
}

/// Runs `script` with `args`; returns stdout lines. Panics with the reason if
/// Python or its `libtorrent` module is unavailable or the script fails.
fn run_python(script: &str, args: &[String]) -> Vec<String> {
    let py = python();
    let out = Command::new(&py)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); install python3-libtorrent or set PACOM_PYTHON",
                py.display()
            )
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'libtorrent'"),
        "{} has no `libtorrent` module (install python3-libtorrent or set PACOM_PYTHON): {stderr}",
        py.display()
    );
    assert!(out.status.success(), "python script failed: {stderr}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Writes the content used by both directions: single files and directories.
fn make_content(root: &Path) -> Vec<(PathBuf, u32)> {
    let mut cases = Vec::new();
    for (name, len, pl) in [
        ("one-byte.bin", 1usize, 16 * 1024u32),
        ("exact.bin", 4 * 32 * 1024, 32 * 1024),
        ("short-last.bin", 200_000, 16 * 1024),
        ("bigger.bin", 1_000_000, 64 * 1024),
    ] {
        let p = root.join(name);
        std::fs::write(&p, pattern(len, len as u32)).expect("write content");
        cases.push((p, pl));
    }
    let dir = root.join("folder");
    std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
    for (rel, len) in [
        ("a.txt", 1000usize),
        ("sub/b.bin", 70_000),
        ("sub/c.bin", 32 * 1024),
        ("z", 5),
    ] {
        std::fs::write(dir.join(rel), pattern(len, 7 + len as u32)).expect("write content");
    }
    cases.push((dir.clone(), 16 * 1024));
    cases.push((dir, 32 * 1024));
    cases
}

const LOAD_SCRIPT: &str = r#"
import sys
import libtorrent as lt
for path in sys.argv[1:]:
    ti = lt.torrent_info(path)
    print(str(ti.info_hashes().v1), ti.num_pieces(), ti.total_size(), ti.piece_length(), ti.num_files())
"#;

#[test]
fn libtorrent_loads_torrents_we_create() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let content = tmp.path().join("content");
    std::fs::create_dir_all(&content).expect("mkdir");
    let mut ours = Vec::new();
    let mut paths = Vec::new();
    for (i, (src, pl)) in make_content(&content).into_iter().enumerate() {
        let opts = CreateOptions {
            piece_length: Some(pl),
            trackers: vec!["http://127.0.0.1:1/announce".into()],
            ..Default::default()
        };
        let m = create_from_path(&src, &opts).expect("create torrent");
        let out = tmp.path().join(format!("{i}.torrent"));
        std::fs::write(&out, m.to_bytes()).expect("write torrent");
        paths.push(out.display().to_string());
        ours.push(m);
    }
    let lines = run_python(LOAD_SCRIPT, &paths);
    assert_eq!(lines.len(), ours.len(), "libtorrent output: {lines:?}");
    for (m, line) in ours.iter().zip(&lines) {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 5, "{line}");
        assert_eq!(f[0], m.info_hash.to_hex(), "info hash of {}", m.info.name);
        assert_eq!(
            f[1],
            m.info.num_pieces().to_string(),
            "pieces of {}",
            m.info.name
        );
        assert_eq!(f[2], m.info.total_length().to_string());
        assert_eq!(f[3], m.info.piece_length.to_string());
        assert_eq!(f[4], m.info.files.len().to_string());
    }
}

const CREATE_SCRIPT: &str = r#"
import os, sys
import libtorrent as lt
for spec in sys.argv[1:]:
    src, piece_length, flags, out = spec.split("|")
    fs = lt.file_storage()
    lt.add_files(fs, src)
    flag = lt.create_torrent.v1_only if flags == "v1" else 0
    t = lt.create_torrent(fs, int(piece_length), flags=flag)
    lt.set_piece_hashes(t, os.path.dirname(src))
    data = lt.bencode(t.generate())
    with open(out, "wb") as f:
        f.write(data)
    ti = lt.torrent_info(out)
    print(str(ti.info_hashes().v1), ti.num_pieces(), ti.total_size())
"#;

#[test]
fn we_parse_torrents_libtorrent_creates() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let content = tmp.path().join("content");
    std::fs::create_dir_all(&content).expect("mkdir");
    let mut specs = Vec::new();
    let mut outs = Vec::new();
    for (i, (src, pl)) in make_content(&content).into_iter().enumerate() {
        for flags in ["v1", "hybrid"] {
            let out = tmp.path().join(format!("lt-{i}-{flags}.torrent"));
            specs.push(format!("{}|{pl}|{flags}|{}", src.display(), out.display()));
            outs.push(out);
        }
    }
    let lines = run_python(CREATE_SCRIPT, &specs);
    assert_eq!(lines.len(), outs.len(), "libtorrent output: {lines:?}");
    for (out, line) in outs.iter().zip(&lines) {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 3, "{line}");
        let bytes = std::fs::read(out).expect("read libtorrent's torrent");
        let m = Metainfo::from_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
        assert_eq!(m.info_hash.to_hex(), f[0], "{}", out.display());
        assert_eq!(m.info.num_pieces().to_string(), f[1], "{}", out.display());
        assert_eq!(m.info.total_length().to_string(), f[2], "{}", out.display());
        // Our writer keeps the info dict verbatim, so the hash survives a rewrite.
        let again = Metainfo::from_bytes(&m.to_bytes()).expect("reparse");
        assert_eq!(again.info_hash, m.info_hash);
    }
}
