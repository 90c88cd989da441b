//! Circuits must not follow the lowest-delay links. A source reaches its
//! target through one of four relays whose links differ in delay by up to
//! two orders of magnitude; with the handshake jitter the relay a circuit
//! takes is (nearly) independent of those delays, without it the fastest
//! relay always wins. Delay shapes a link's packet timing, so a delay-led
//! path choice is visible to a passive observer (docs/lab, "MI inversion").

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{identities, node};
use pacom_core::session::{Config, DEFAULT_HANDSHAKE_JITTER};
use pacom_core::sim::Sim;

/// One-way delay (ms) of both links of relay 1..=4, like the lab's WAN
/// range (uniform in [1, 100] ms).
const RELAY_DELAY_MS: [u64; 4] = [2, 15, 50, 100];
const TARGET: usize = 5;

/// Source 0, relays 1–4, target 5; each relay links to both ends.
fn diamond(cfg: &Config, seed: u64) -> Sim {
    let mut g = vec![BTreeSet::new(); 6];
    for r in 1..=4 {
        for end in [0, TARGET] {
            g[r].insert(end);
            g[end].insert(r);
        }
    }
    let nodes = (0..6).map(|i| node(i, cfg, seed)).collect();
    Sim::new(nodes, g, |a, b| {
        let relay = if a == 0 || a == TARGET { b } else { a };
        (Duration::from_millis(RELAY_DELAY_MS[relay - 1]), 1e6)
    })
}

/// Builds `n` circuits (fresh sessions, one circuit each, flooded) and
/// returns how often each relay carried one, and the slowest set-up.
fn relay_counts(jitter: Duration, n: usize) -> ([usize; 4], Duration) {
    let cfg = Config {
        circuits_per_peer: 1,
        handshake_jitter: jitter,
        ..Config::default()
    };
    let mut sim = diamond(&cfg, 11);
    let target = identities(TARGET + 1)[TARGET].contact().clone();
    let mut counts = [0usize; 4];
    let mut slowest = Duration::ZERO;
    for _ in 0..n {
        let start = sim.now();
        let sid = sim.call(0, |node, now| node.connect_new(&target, now));
        let built = sim.run_until(start + Duration::from_secs(8), |s| {
            !s.node(0).session_circuits(sid).is_empty()
        });
        assert!(built, "no circuit within 8 s (jitter {jitter:?})");
        slowest = slowest.max(sim.now() - start);
        let (_, first) = sim.node(0).session_circuits(sid)[0];
        counts[first.0 as usize - 1] += 1;
        // Let the surplus copies die out before the next handshake.
        let quiet = sim.now() + Duration::from_secs(1) + jitter * 2;
        sim.run_until(quiet, |_| false);
    }
    // Every held copy went out (or was dropped with its link).
    assert!((0..6).all(|i| sim.node(i).held_handshakes() == 0));
    (counts, slowest)
}

#[test]
fn without_jitter_the_fastest_relay_always_wins() {
    let (counts, _) = relay_counts(Duration::ZERO, 20);
    assert_eq!(counts, [20, 0, 0, 0]);
}

#[test]
fn with_the_default_jitter_the_path_ignores_link_delays() {
    let n = 200;
    let (counts, slowest) = relay_counts(DEFAULT_HANDSHAKE_JITTER, n);
    eprintln!(
        "circuits per relay (delays {RELAY_DELAY_MS:?} ms): {counts:?}; slowest set-up {slowest:?}"
    );
    // Independence would give n/4 = 50 each. The delays still tilt the
    // race (a 196 ms head start against two draws of up to 1 s): the
    // race's own law gives 0.31, 0.29, 0.23, 0.16 (63, 58, 46, 33 of
    // 200) against certainty for the fastest without jitter. The bounds
    // sit about three standard deviations outside those.
    for (i, &c) in counts.iter().enumerate() {
        assert!(
            (18..=90).contains(&c),
            "relay {} ({} ms) carried {c} of {n}: {counts:?}",
            i + 1,
            RELAY_DELAY_MS[i]
        );
    }
    // Mean delay of the chosen relay: 41.75 ms if independent, 33 by
    // the race's law, 2 ms if the fastest always wins.
    let mean: f64 = counts
        .iter()
        .zip(RELAY_DELAY_MS)
        .map(|(&c, d)| c as f64 * d as f64)
        .sum::<f64>()
        / n as f64;
    assert!(
        mean > 22.0,
        "mean delay of chosen relays {mean:.1} ms: {counts:?}"
    );
    // Two draws per path, plus the links and the response: well within
    // the handshake time-out.
    assert!(
        slowest < DEFAULT_HANDSHAKE_JITTER * 2 + Duration::from_millis(500),
        "{slowest:?}"
    );
}
