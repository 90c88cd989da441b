//! The Docker swarm of `docker/compose.yml`: images built without any
//! registry, a popular torrent seeded and downloaded by plain libtorrent
//! peers in containers on a private network, and the `pacom/node` image.
//!
//! Skipped (with the reason printed) when no Docker engine answers; any other
//! problem fails the test.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use interop_tests::docker::{
    build_images, compose_file, leftovers, pacom_binary, prepare, unique_project, wait_for, Compose,
};
use sha1::{Digest, Sha1};

const LEECHERS: u32 = 2;
const POPULAR_SIZE: usize = 4 << 20;

/// The popular file as `docker/libtorrent/popular.py` defines it:
/// SHA-1(seed ‖ i as 8 big-endian bytes) for i = 0, 1, …, cut to `size`.
fn popular_file(seed: &str, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 20);
    let mut i: u64 = 0;
    while out.len() < size {
        let mut h = Sha1::new();
        h.update(seed.as_bytes());
        h.update(i.to_be_bytes());
        out.extend_from_slice(&h.finalize());
        i += 1;
    }
    out.truncate(size);
    out
}

fn sha1_hex(data: &[u8]) -> String {
    hex::encode(Sha1::digest(data))
}

/// `sha1sum FILE` in a container, as 40 hex digits.
fn sha1_in(swarm: &Compose, service: &str, index: u32, file: &str) -> Result<String> {
    let out = swarm.exec(service, index, &["sha1sum", file])?;
    ensure!(
        out.success(),
        "sha1sum {file} in {service} #{index} failed: {}",
        out.stderr
    );
    let digest = out.stdout.split_whitespace().next().unwrap_or_default();
    ensure!(digest.len() == 40, "odd sha1sum output: {}", out.stdout);
    Ok(digest.to_owned())
}

#[test]
fn popular_torrent_swarm_and_node_image_in_docker() -> Result<()> {
    if !prepare()? {
        return Ok(());
    }

    let t = Instant::now();
    let bin = pacom_binary()?;
    println!("pacom binary {} ready in {:?}", bin.display(), t.elapsed());
    let t = Instant::now();
    let log = build_images(Some(&bin))?;
    println!("{log}images ready in {:?}", t.elapsed());

    // A fresh seed each run: a stale file from an earlier run cannot pass.
    let seed = format!("popular-{}", unique_project("seed"));
    let expected = sha1_hex(&popular_file(&seed, POPULAR_SIZE));
    let size = POPULAR_SIZE.to_string();

    let t = Instant::now();
    let project = unique_project("swarm");
    let mut swarm = Compose::up_with(
        &project,
        &compose_file(),
        &[
            ("popular-leech", LEECHERS),
            // The PACOM services are tested by docker_pacom.rs.
            ("dht-seed", 0),
            ("bootstrap", 0),
            ("node", 0),
        ],
        &[
            ("PACOM_POPULAR_SIZE", size.as_str()),
            ("PACOM_POPULAR_SEED", seed.as_str()),
        ],
    )?;
    println!(
        "swarm {project} up on {}.0/24 in {:?}",
        swarm.net_prefix(),
        t.elapsed()
    );

    // The seeder generated the file the test expects.
    let seeded = wait_for(
        "the seeder's file",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || {
            let out = swarm.exec(
                "popular-seed",
                1,
                &["test", "-s", "/torrents/popular.torrent"],
            )?;
            if out.success() {
                Ok(Some(sha1_in(
                    &swarm,
                    "popular-seed",
                    1,
                    "/data/popular.bin",
                )?))
            } else {
                Ok(None)
            }
        },
    );
    let seeded = seeded.with_context(|| logs(&swarm))?;
    assert_eq!(
        seeded, expected,
        "the seeder's file is not the popular file"
    );

    // Each leecher downloads it from the swarm and reports completion.
    let t = Instant::now();
    for index in 1..=LEECHERS {
        let reported = wait_for(
            &format!("popular-leech #{index} to complete"),
            Duration::from_secs(180),
            Duration::from_secs(1),
            || {
                let out = swarm.exec("popular-leech", index, &["cat", "/data/.complete"])?;
                Ok(out.success().then(|| out.stdout.trim().to_owned()))
            },
        )
        .with_context(|| logs(&swarm))?;
        let on_disk = sha1_in(&swarm, "popular-leech", index, "/data/popular.bin")?;
        assert_eq!(on_disk, expected, "leecher #{index} has the wrong file");
        assert_eq!(reported, expected, "leecher #{index} reported another hash");
    }
    let leech_logs = swarm.logs("popular-leech")?;
    assert_eq!(
        leech_logs
            .matches(&format!("complete sha1={expected}"))
            .count(),
        LEECHERS as usize,
        "every leecher logs its completion once:\n{leech_logs}"
    );
    println!("{LEECHERS} leechers complete in {:?}", t.elapsed());

    // The node image runs the binary it was built with.
    let out = swarm.run("node", &["--version"])?;
    assert!(
        out.success(),
        "pacom --version in pacom/node failed: {}",
        out.stderr
    );
    assert_eq!(
        out.stdout.trim(),
        format!("pacom {}", env!("CARGO_PKG_VERSION")),
        "pacom --version printed something else"
    );

    let t = Instant::now();
    swarm.down()?;
    let left = leftovers(&project)?;
    assert!(left.is_empty(), "left behind after down: {left:?}");
    println!("torn down in {:?}", t.elapsed());

    // A test that panics with a swarm up still tears it down (Drop while unwinding).
    let t = Instant::now();
    let project = unique_project("panic");
    let result = std::panic::catch_unwind(|| {
        let swarm = Compose::up(
            &project,
            &compose_file(),
            &[
                ("popular-leech", 0),
                ("dht-seed", 0),
                ("bootstrap", 0),
                ("node", 0),
            ],
        )
        .expect("second swarm up");
        let left = leftovers(swarm.project()).expect("list the second swarm");
        assert!(
            left.iter().any(|l| l.starts_with("container ")),
            "the second swarm has no container: {left:?}"
        );
        panic!("deliberate panic with {} up", swarm.project());
    });
    assert!(result.is_err(), "the deliberate panic did not happen");
    let left = leftovers(&project)?;
    assert!(left.is_empty(), "left behind after a panic: {left:?}");
    println!("panic teardown checked in {:?}", t.elapsed());
    Ok(())
}

fn logs(swarm: &Compose) -> String {
    ["popular-seed", "popular-leech"]
        .iter()
        .map(|s| {
            swarm
                .logs(s)
                .unwrap_or_else(|e| format!("no logs of {s}: {e:#}"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn popular_file_matches_its_definition() {
    // Pinned to what popular.py produced for these parameters, so that the
    // Python and Rust definitions of the file cannot drift apart.
    let f = popular_file("popular", 1_000_000);
    assert_eq!(f.len(), 1_000_000);
    assert_eq!(
        sha1_hex(&f),
        "d528e240df34743e7c68eec93b743b0cd97e3b9e",
        "differs from popular.py seed --size 1000000 --seed popular"
    );
}
