//! What answering one request costs in the link, data against cover: with
//! the frame staged ahead (as the engine runs it) and built on the spot
//! (what every answer cost before staging). Any difference between data
//! and cover is time an observer of the PIECE could see.
//!
//! A benchmark, not a unit test (it only runs with `PACOM_BENCH=1`):
//! `PACOM_BENCH=1 cargo test -p pacom-core --test answer_cost -- --nocapture`

use std::time::Instant;

use pacom_core::link::{payload_capacity, Link, LinkConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const CAP: usize = 16384;
const ROUNDS: usize = 4000;

/// One sending link with its handshake done.
fn established(rng: &mut ChaCha20Rng) -> Link {
    let cfg = LinkConfig::public([7; 20]);
    let mut a = Link::new(&cfg, rng).expect("link");
    let mut b = Link::new(&cfg, rng).expect("link");
    let (ha, hb) = (
        a.next_frame(CAP).expect("frame"),
        b.next_frame(CAP).expect("frame"),
    );
    a.on_frame(&hb).expect("handshake");
    b.on_frame(&ha).expect("handshake");
    a
}

struct Case {
    name: &'static str,
    link: Link,
    staged: bool,
    /// Size of the cells written before each answer (`None`: cover).
    cell: Option<usize>,
    nanos: Vec<u64>,
}

fn median(v: &mut [u64]) -> f64 {
    v.sort_unstable();
    v[v.len() / 2] as f64 / 1e3
}

#[test]
fn answer_cost_data_against_cover() {
    if std::env::var_os("PACOM_BENCH").is_none() {
        eprintln!("skipped: set PACOM_BENCH=1 to run this benchmark");
        return;
    }
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let mut cases: Vec<Case> = [
        ("staged, cover", true, None),
        ("staged, data (16 KiB cells)", true, Some(16384)),
        ("staged, data (512 B cells)", true, Some(512)),
        ("on the spot, cover", false, None),
        ("on the spot, data (16 KiB cells)", false, Some(16384)),
        ("on the spot, data (512 B cells)", false, Some(512)),
    ]
    .into_iter()
    .map(|(name, staged, cell)| Case {
        name,
        link: established(&mut rng),
        staged,
        cell,
        nanos: Vec::with_capacity(ROUNDS),
    })
    .collect();
    // Round robin, so load from elsewhere on the host hits every case alike.
    for _ in 0..ROUNDS {
        for case in &mut cases {
            if let Some(cell) = case.cell {
                let mut left = payload_capacity(CAP);
                while left > 0 {
                    let n = cell.min(left);
                    case.link.write(vec![0x5a; n]).expect("write");
                    left -= n;
                }
            }
            if case.staged {
                case.link.stage(1);
            }
            let start = Instant::now();
            let frame = case.link.next_frame(CAP).expect("frame");
            case.nanos.push(start.elapsed().as_nanos() as u64);
            assert_eq!(frame.len(), CAP);
        }
    }
    let base = median(&mut cases[0].nanos);
    println!("{ROUNDS} answers of {CAP}-byte frames per case, Link::next_frame only");
    println!(
        "{:<36} {:>10} {:>16}",
        "case", "median µs", "/ staged cover"
    );
    for case in &mut cases {
        let stats = case.link.stats();
        let m = median(&mut case.nanos);
        println!("{:<36} {:>10.2} {:>16.3}", case.name, m, m / base);
        // The frames carried what the case says (else it measured nothing).
        assert_eq!(
            stats.data_frames_sent > 0,
            case.cell.is_some(),
            "{}",
            case.name
        );
        let unstaged = if case.staged { 0 } else { ROUNDS as u64 };
        assert_eq!(stats.unstaged_frames_sent, unstaged, "{}", case.name);
    }
}
