//! Detection rates of the passive attacks against a continuous-time
//! exponential mix, by mean mix delay and observation length (the shape of
//! Fig. 6 in the flow-correlation paper), and against independent links
//! (what PACOM's Theorem 1 says its links are). Three candidate outputs, each
//! also carrying independent cross traffic at the input's rate.
//!
//! `cargo run --release -p pacom-core --example attack_rates`

use pacom_core::analysis::detect::{guess, Closer, DetectionRate};
use pacom_core::analysis::frequency::{self, flow_distance};
use pacom_core::analysis::mix::mix_flows;
use pacom_core::analysis::mutual_info::{flow_mutual_information, MiParams};
use pacom_core::analysis::Flow;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

const K: usize = 3;
const RATE: f64 = 100.0;
const TRIALS: usize = 200;

/// Input flow, candidate outputs, index of the true one; `None` mix delay
/// means independent links.
fn trial(rng: &mut ChaCha20Rng, delay: Option<f64>, length: f64) -> (Flow, Vec<Flow>, usize) {
    let d = length + 2.0;
    let inputs: Vec<Flow> = (0..K)
        .map(|_| Flow::poisson(rng, RATE, d, 512).unwrap())
        .collect();
    let Some(delay) = delay else {
        let outs = (0..K)
            .map(|_| Flow::poisson(rng, 2.0 * RATE, d, 512).unwrap())
            .collect();
        return (inputs[0].clone(), outs, rng.gen_range(0..K));
    };
    let mut routes: Vec<usize> = (0..K).collect();
    routes.shuffle(rng);
    let refs: Vec<&Flow> = inputs.iter().collect();
    let outs = mix_flows(rng, delay, &refs, &routes, K)
        .unwrap()
        .iter()
        .map(|m| Flow::merge([m, &Flow::poisson(rng, RATE, d, 512).unwrap()]))
        .collect();
    (inputs[0].clone(), outs, routes[0])
}

fn main() {
    println!("delay_ms length_s  MI_rate [99% CI]          eq10_rate [99% CI]");
    for delay in [
        Some(0.01),
        Some(0.02),
        Some(0.05),
        Some(0.1),
        Some(0.2),
        None,
    ] {
        for length in [5.0, 30.0] {
            let mut rng = ChaCha20Rng::seed_from_u64(7);
            let (mut mi, mut fq) = (DetectionRate::default(), DetectionRate::default());
            for _ in 0..TRIALS {
                let (input, outs, truth) = trial(&mut rng, delay, length);
                let m: Vec<f64> = outs
                    .iter()
                    .map(|o| {
                        flow_mutual_information(&input, o, 1.0, length, &MiParams::default())
                            .unwrap()
                    })
                    .collect();
                let f: Vec<f64> = outs
                    .iter()
                    .map(|o| flow_distance(&input, o, 1.0, length, frequency::PAPER_BIN).unwrap())
                    .collect();
                mi.record(guess(&m, Closer::Higher, &mut rng) == Some(truth));
                fq.record(guess(&f, Closer::Lower, &mut rng) == Some(truth));
            }
            let (ml, mh) = mi.clopper_pearson(0.99).unwrap();
            let (fl, fh) = fq.clopper_pearson(0.99).unwrap();
            let label = delay.map_or("indep".to_string(), |d| format!("{:.0}", d * 1000.0));
            println!(
                "{label:>8} {length:>8} {:>8.3} [{ml:.3}, {mh:.3}]   {:>8.3} [{fl:.3}, {fh:.3}]",
                mi.rate(),
                fq.rate()
            );
        }
    }
}
