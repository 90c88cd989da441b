//! Anonymity metrics of §4 against synthetic data: Theorem 2 against a
//! simulated trap-mode count, the intersection attack of §4.4.1 over a
//! synthetic churn trace, and the power spectra behind Figs. 14 and 17.

use std::collections::BTreeSet;

use pacom_core::analysis::anonymity::{
    effective_anonymity_set_size, theorem2, trap_mode_distribution, IntersectionAttack,
};
use pacom_core::analysis::frequency::power_spectrum;
use pacom_core::analysis::mix::mix_flows;
use pacom_core::analysis::Flow;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

#[test]
fn theorem2_matches_a_simulated_population() {
    // n clients each join r swarms; each swarm is malicious with prob. q.
    let (n, q, r) = (20_000usize, 0.3f64, 3u32);
    let mut rng = ChaCha20Rng::seed_from_u64(21);
    let trapped = (0..n).filter(|_| (0..r).all(|_| rng.gen_bool(q))).count();
    let simulated = effective_anonymity_set_size(&trap_mode_distribution(n, trapped)).unwrap();
    let predicted = theorem2(n as f64, q, f64::from(r)).unwrap();
    eprintln!("trapped {trapped}; S simulated {simulated:.4} bits, Theorem 2 {predicted:.4} bits");
    assert!((simulated - predicted).abs() < 0.01);
}

/// Online sets over `rounds` rounds of a churning population of `n` clients
/// (each online with probability 1/2); the sender (id 0) is online in a
/// round with probability `sender_online`.
fn churn(rng: &mut ChaCha20Rng, n: u64, rounds: usize, sender_online: f64) -> Vec<BTreeSet<u64>> {
    (0..rounds)
        .map(|_| {
            let mut s: BTreeSet<u64> = (1..n).filter(|_| rng.gen_bool(0.5)).collect();
            if rng.gen_bool(sender_online) {
                s.insert(0);
            }
            s
        })
        .collect()
}

#[test]
fn intersection_attack_wins_on_a_steady_sender_and_fails_on_extended_uptime() {
    let mut rng = ChaCha20Rng::seed_from_u64(22);
    let (mut steady, mut extended) = (0, 0);
    for _ in 0..50 {
        // The receiver is seen receiving in 12 rounds; a sender that is only
        // online when it talks is always in the online set.
        let mut a = IntersectionAttack::new();
        churn(&mut rng, 500, 12, 1.0)
            .iter()
            .for_each(|s| a.observe(s));
        steady += usize::from(a.succeeded(0, 10));
        // With random uptime extension (§4.4.1) the receiver's rounds do not
        // imply the sender is online: here it is online in 70 % of them.
        let mut b = IntersectionAttack::new();
        churn(&mut rng, 500, 12, 0.7)
            .iter()
            .for_each(|s| b.observe(s));
        extended += usize::from(b.succeeded(0, 10));
    }
    eprintln!("intersection attack success: steady {steady}/50, extended uptime {extended}/50");
    assert!(steady >= 45);
    assert!(extended <= 5);
}

/// Correlation coefficient of two equal-length series.
fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (ma, mb) = (mean(a), mean(b));
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn power_spectra_track_through_a_mix_but_not_across_independent_links() {
    // Bursty input (on/off at a few Hz) so the spectrum has shape, as a
    // circuit's data does; 50 ms bins as in Figs. 14 and 17.
    let mut rng = ChaCha20Rng::seed_from_u64(23);
    let times: Vec<f64> = Flow::poisson(&mut rng, 200.0, 60.0, 1)
        .unwrap()
        .times()
        .filter(|t| (t * 3.0).fract() < 0.5)
        .collect();
    let input = Flow::from_times(times, 1);
    let out = mix_flows(&mut rng, 0.02, &[&input], &[0], 1)
        .unwrap()
        .remove(0);
    let independent = Flow::poisson(&mut rng, 100.0, 60.0, 1).unwrap();
    let spectrum = |f: &Flow| {
        let counts = f.bin_counts(0.0, 0.05, 1024).unwrap();
        power_spectrum(&counts.into_iter().map(f64::from).collect::<Vec<_>>())
    };
    let (si, so, sx) = (spectrum(&input), spectrum(&out), spectrum(&independent));
    let through_mix = correlation(&si, &so);
    let across = correlation(&si, &sx);
    eprintln!("power-spectrum correlation: through mix {through_mix:.3}, independent {across:.3}");
    assert!(through_mix > 0.9);
    assert!(across.abs() < 0.2);
}
