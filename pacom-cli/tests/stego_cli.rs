//! Drives the real `pacom stego` binary: a cover is made, filled and read
//! back; sox reads the result; a wrong key recovers nothing.

use std::process::Command;

fn pacom(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pacom"))
        .args(args)
        .output()
        .expect("run pacom");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn field(text: &str, name: &str) -> u64 {
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        if w == name {
            return words.next().and_then(|v| v.parse().ok()).expect(name);
        }
    }
    panic!("no {name} in {text:?}");
}

#[test]
fn cover_embed_extract_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let cover = dir.path().join("cover.wav");
    let stego = dir.path().join("stego.wav");
    let (c, s) = (cover.to_str().unwrap(), stego.to_str().unwrap());
    let size = 40 * 16384u64;

    let (ok, _, err) = pacom(&[
        "stego",
        "cover",
        "--seed",
        "album",
        "--size",
        &size.to_string(),
        "-o",
        c,
    ]);
    assert!(ok, "{err}");
    assert_eq!(std::fs::metadata(&cover).unwrap().len(), size);

    let (ok, out, err) = pacom(&[
        "stego",
        "embed",
        "--key",
        "group secret",
        "--in",
        c,
        "-o",
        s,
    ]);
    assert!(ok, "{err}");
    let hidden = field(&out, "bytes_hidden");
    assert_eq!(field(&out, "blocks"), 40);
    assert!(
        hidden >= 39 * 100,
        "only {hidden} bytes hidden in 40 blocks"
    );

    let original = std::fs::read(&cover).unwrap();
    let changed = std::fs::read(&stego).unwrap();
    assert_eq!(original.len(), changed.len());
    assert_eq!(original[..44], changed[..44], "header must not change");
    assert_ne!(original, changed);

    let (ok, out, err) = pacom(&["stego", "extract", "--key", "group secret", "--in", s]);
    assert!(ok, "{err}");
    assert_eq!(field(&out, "bytes_recovered"), hidden);

    let (ok, out, _) = pacom(&["stego", "extract", "--key", "another group", "--in", s]);
    assert!(ok);
    assert_eq!(field(&out, "bytes_recovered"), 0);

    let sox = Command::new("sox").args(["--i", "-r", s]).output();
    match sox {
        Ok(o) => {
            assert!(o.status.success(), "sox cannot read the stego file");
            assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "44100");
        }
        Err(e) => panic!("sox is needed (the test command installs it): {e}"),
    }
}

#[test]
fn bad_input_is_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let not_wav = dir.path().join("x.wav");
    std::fs::write(
        &not_wav,
        b"hello, not a wave file at all, just some text bytes here",
    )
    .unwrap();
    let p = not_wav.to_str().unwrap();
    for args in [
        vec!["stego", "extract", "--key", "k", "--in", p],
        vec![
            "stego",
            "extract",
            "--key",
            "k",
            "--in",
            "/nonexistent/file.wav",
        ],
        vec![
            "stego", "embed", "--key", "k", "--rate", "0", "--in", p, "-o", p,
        ],
        vec!["stego", "cover", "--seed", "s", "--size", "10", "-o", p],
    ] {
        let (ok, _, err) = pacom(&args);
        assert!(!ok, "{args:?} should fail");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("pacom: error:"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
