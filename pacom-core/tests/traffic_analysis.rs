//! The attacks of paper §4.3/§6.6 on synthetic flows, with seeded rngs.
//!
//! Positive controls: through a continuous-time exponential mix the
//! mutual-information and frequency attacks find the right output link and
//! the watermark survives, so these attacks *can* succeed. Negative case:
//! links whose traffic is independent of the input (what Theorem 1 says
//! PACOM links are) leave the attacker at chance, 1/3.

use pacom_core::analysis::detect::{guess, Closer, DetectionRate};
use pacom_core::analysis::frequency::{self, flow_distance};
use pacom_core::analysis::mix::mix_flows;
use pacom_core::analysis::mutual_info::{self, flow_mutual_information, MiParams};
use pacom_core::analysis::watermark::{detect, embed, WatermarkKey, WatermarkParams};
use pacom_core::analysis::Flow;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

const CANDIDATES: usize = 3;
/// Observation window: [1 s, 1 s + LENGTH) skips the mix's start-up.
const START: f64 = 1.0;
const LENGTH: f64 = 60.0;
/// Mean delay of the exponential mix: 20 ms, as in the flow-correlation
/// paper's test-bed (§6.2).
const MIX_DELAY: f64 = 0.02;

/// One trial's observations: the attacked input link and the candidate
/// output links, with the index of the one that really carries it.
struct Trial {
    input: Flow,
    outputs: Vec<Flow>,
    truth: usize,
}

/// Three Poisson inputs through one exponential mix, each to its own output
/// link that also carries independent cross traffic.
fn mix_trial(rng: &mut ChaCha20Rng, rate: f64, noise: f64, mean_delay: f64) -> Trial {
    let duration = START + LENGTH + 1.0;
    let inputs: Vec<Flow> = (0..CANDIDATES)
        .map(|_| Flow::poisson(rng, rate, duration, 512).unwrap())
        .collect();
    let mut routes: Vec<usize> = (0..CANDIDATES).collect();
    routes.shuffle(rng);
    let refs: Vec<&Flow> = inputs.iter().collect();
    let mixed = mix_flows(rng, mean_delay, &refs, &routes, CANDIDATES).unwrap();
    let outputs = mixed
        .iter()
        .map(|m| Flow::merge([m, &Flow::poisson(rng, noise, duration, 512).unwrap()]))
        .collect();
    Trial {
        input: inputs[0].clone(),
        outputs,
        truth: routes[0],
    }
}

/// PACOM's links: every link's traffic comes from its own request process,
/// independent of the input link. Which output "really" relays the circuit
/// is chosen at random, as the data inside is invisible.
fn independent_trial(rng: &mut ChaCha20Rng, rate: f64) -> Trial {
    let duration = START + LENGTH + 1.0;
    Trial {
        input: Flow::poisson(rng, rate, duration, 512).unwrap(),
        outputs: (0..CANDIDATES)
            .map(|_| Flow::poisson(rng, rate, duration, 512).unwrap())
            .collect(),
        truth: rng.gen_range(0..CANDIDATES),
    }
}

fn mi_attack(t: &Trial, rng: &mut ChaCha20Rng) -> bool {
    let params = MiParams {
        bin_width: mutual_info::PAPER_BIN,
        max_count: None,
    };
    let scores: Vec<f64> = t
        .outputs
        .iter()
        .map(|o| flow_mutual_information(&t.input, o, START, LENGTH, &params).unwrap())
        .collect();
    guess(&scores, Closer::Higher, rng) == Some(t.truth)
}

fn frequency_attack(t: &Trial, rng: &mut ChaCha20Rng) -> bool {
    let scores: Vec<f64> = t
        .outputs
        .iter()
        .map(|o| flow_distance(&t.input, o, START, LENGTH, frequency::PAPER_BIN).unwrap())
        .collect();
    guess(&scores, Closer::Lower, rng) == Some(t.truth)
}

fn rate(
    trials: usize,
    seed: u64,
    make: impl Fn(&mut ChaCha20Rng) -> Trial,
    attack: fn(&Trial, &mut ChaCha20Rng) -> bool,
) -> DetectionRate {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut d = DetectionRate::default();
    for _ in 0..trials {
        let t = make(&mut rng);
        d.record(attack(&t, &mut rng));
    }
    d
}

#[test]
fn mi_attack_breaks_an_exponential_mix() {
    let d = rate(60, 11, |r| mix_trial(r, 100.0, 100.0, MIX_DELAY), mi_attack);
    eprintln!("MI attack on exp mix: {d:?} rate {:.3}", d.rate());
    assert!(d.rate() >= 0.9, "{d:?}");
}

#[test]
fn frequency_attack_breaks_an_exponential_mix() {
    let d = rate(
        60,
        12,
        |r| mix_trial(r, 100.0, 100.0, MIX_DELAY),
        frequency_attack,
    );
    eprintln!("frequency attack on exp mix: {d:?} rate {:.3}", d.rate());
    assert!(d.rate() >= 0.9, "{d:?}");
}

#[test]
fn mi_attack_is_at_chance_on_independent_links() {
    let d = rate(300, 13, |r| independent_trial(r, 100.0), mi_attack);
    eprintln!("MI attack on independent links: {d:?} rate {:.3}", d.rate());
    assert!(d.consistent_with(1.0 / 3.0, 0.99).unwrap(), "{d:?}");
}

#[test]
fn frequency_attack_is_at_chance_on_independent_links() {
    let d = rate(300, 14, |r| independent_trial(r, 100.0), frequency_attack);
    eprintln!(
        "frequency attack on independent links: {d:?} rate {:.3}",
        d.rate()
    );
    assert!(d.consistent_with(1.0 / 3.0, 0.99).unwrap(), "{d:?}");
}

/// The active attack: watermark the input link, look for the mark on every
/// output link. It must show on the mix output that carries the flow and not
/// on the others (which carry other inputs) nor on independent links.
#[test]
fn watermark_crosses_the_mix_and_only_its_own_output() {
    let params = WatermarkParams {
        offset: START,
        interval: 0.5,
        redundancy: 4,
        amplitude: 0.35,
        intervals: 200,
        threshold: 4,
    };
    let bits_n = 24;
    let mut rng = ChaCha20Rng::seed_from_u64(15);
    let (mut true_hits, mut false_hits, mut independent_hits) = (0, 0, 0);
    let (mut true_hamming, mut other_hamming) = (Vec::new(), Vec::new());
    let trials = 20;
    for trial in 0..trials {
        let key = WatermarkKey::derive(1000 + trial, bits_n, &params).unwrap();
        let bits: Vec<bool> = (0..bits_n).map(|_| rng.gen()).collect();
        let duration = START + 101.0;
        let inputs: Vec<Flow> = (0..CANDIDATES)
            .map(|_| Flow::poisson(&mut rng, 100.0, duration, 512).unwrap())
            .collect();
        let marked = embed(&inputs[0], &key, &bits, &params).unwrap();
        let mut routes: Vec<usize> = (0..CANDIDATES).collect();
        routes.shuffle(&mut rng);
        let refs: Vec<&Flow> = std::iter::once(&marked).chain(&inputs[1..]).collect();
        let mixed = mix_flows(&mut rng, MIX_DELAY, &refs, &routes, CANDIDATES).unwrap();
        for (j, m) in mixed.iter().enumerate() {
            let noise = Flow::poisson(&mut rng, 100.0, duration, 512).unwrap();
            let d = detect(&Flow::merge([m, &noise]), &key, &bits, &params).unwrap();
            if j == routes[0] {
                true_hits += usize::from(d.present);
                true_hamming.push(d.hamming);
            } else {
                false_hits += usize::from(d.present);
                other_hamming.push(d.hamming);
            }
        }
        // A PACOM-like link: independent of the watermarked input.
        let independent = Flow::poisson(&mut rng, 200.0, duration, 512).unwrap();
        independent_hits +=
            usize::from(detect(&independent, &key, &bits, &params).unwrap().present);
    }
    eprintln!(
        "watermark: found on its output {true_hits}/{trials} (hamming {true_hamming:?}); \
         on other outputs {false_hits}/{} (hamming {other_hamming:?}); on independent links {independent_hits}/{trials}",
        2 * trials
    );
    assert!(
        true_hits >= 18,
        "watermark lost in the mix: {true_hamming:?}"
    );
    // Unmarked flows decode coin flips: P(Bin(24, 1/2) <= 4) = 8e-4 per check.
    assert!(
        false_hits <= 2,
        "false positives on other outputs: {other_hamming:?}"
    );
    assert!(
        independent_hits <= 1,
        "false positives on independent links"
    );
    let mean = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len() as f64;
    assert!(
        mean(&other_hamming) > 9.0,
        "other outputs decode the mark: {other_hamming:?}"
    );
}
