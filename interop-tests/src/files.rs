//! Deterministic test content and byte-for-byte directory comparison.
//!
//! Content comes from a seeded ChaCha stream so a failing transfer can be
//! reproduced exactly, and so two processes can regenerate the same bytes.

use std::fs;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Writes `len` pseudo-random bytes derived from `seed` to `path` (parents created).
pub fn write_random_file(path: &Path, len: u64, seed: u64) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out =
        BufWriter::new(fs::File::create(path).with_context(|| path.display().to_string())?);
    let mut buf = vec![0u8; 1 << 16];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        rng.fill_bytes(&mut buf[..n]);
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    Ok(())
}

/// A small multi-file tree under `root/name` with awkward sizes (empty-ish,
/// sub-piece, piece-straddling, nested). Returns the relative paths and sizes.
pub fn write_random_tree(root: &Path, name: &str, seed: u64) -> Result<Vec<(PathBuf, u64)>> {
    let layout: [(&str, u64); 5] = [
        ("a.bin", 1),
        ("b.bin", 100_000),
        ("sub/c.bin", 16_384 * 3 + 7),
        ("sub/deeper/d.bin", 250_001),
        ("z.txt", 4_096),
    ];
    let mut out = Vec::new();
    for (i, (rel, len)) in layout.iter().enumerate() {
        let rel = Path::new(name).join(rel);
        write_random_file(&root.join(&rel), *len, seed.wrapping_add(i as u64))?;
        out.push((rel, *len));
    }
    Ok(out)
}

/// All regular files under `dir`, relative and sorted.
fn list_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).with_context(|| d.display().to_string())? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir)?.to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Compares two files or directory trees byte for byte. The error names the
/// first file and offset that differ, or the file missing on one side.
pub fn compare_paths(expected: &Path, actual: &Path) -> Result<()> {
    if expected.is_file() {
        return compare_files(expected, actual);
    }
    let want = list_files(expected)?;
    let got = list_files(actual)?;
    if want != got {
        bail!("file lists differ: expected {want:?}, got {got:?}");
    }
    for rel in want {
        compare_files(&expected.join(&rel), &actual.join(&rel))?;
    }
    Ok(())
}

fn compare_files(a: &Path, b: &Path) -> Result<()> {
    let open = |p: &Path| fs::File::open(p).with_context(|| format!("open {}", p.display()));
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    let (la, lb) = (fa.metadata()?.len(), fb.metadata()?.len());
    let mut ba = vec![0u8; 1 << 16];
    let mut bb = vec![0u8; 1 << 16];
    let mut offset = 0u64;
    loop {
        let na = read_full(&mut fa, &mut ba)?;
        let nb = read_full(&mut fb, &mut bb)?;
        let n = na.min(nb);
        if let Some(i) = (0..n).find(|&i| ba[i] != bb[i]) {
            bail!(
                "{} and {} differ at byte {}",
                a.display(),
                b.display(),
                offset + i as u64
            );
        }
        if na != nb {
            bail!(
                "{} ({la} bytes) and {} ({lb} bytes) differ in length",
                a.display(),
                b.display()
            );
        }
        if n == 0 {
            return Ok(());
        }
        offset += n as u64;
    }
}

fn read_full(f: &mut fs::File, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let got = f.read(&mut buf[n..])?;
        if got == 0 {
            break;
        }
        n += got;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_and_first_difference_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        write_random_tree(&a, "t", 7).unwrap();
        write_random_tree(&b, "t", 7).unwrap();
        compare_paths(&a, &b).unwrap();
        let victim = b.join("t/sub/deeper/d.bin");
        let mut bytes = fs::read(&victim).unwrap();
        bytes[70_000] ^= 1;
        fs::write(&victim, bytes).unwrap();
        let err = compare_paths(&a, &b).unwrap_err().to_string();
        assert!(err.contains("at byte 70000"), "{err}");
    }
}
