//! The active attack: an interval-centroid timing watermark injected on the
//! first link of circuit 1 (the attacker delays the source's packets in
//! the marked intervals) and sought on every observed link. The detector
//! does not know the path's latency, so it tries offsets in 25 ms steps up
//! to 1.5 s and keeps the best Hamming distance; the threshold is set for a
//! false-positive rate near 1e-3 per link under that search.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use pacom_core::analysis::watermark::{detect, embed, WatermarkKey, WatermarkParams};
use pacom_core::analysis::Flow;

use super::attack::AttackArgs;
use super::error::LabCmdError;
use super::mixnet::bursty_schedule;
use super::report::{f, Output, Table};
use super::Common;

const INTERVAL: f64 = 0.3;
const AMPLITUDE: f64 = 0.15;
const REDUNDANCY: usize = 3;
const MARKED_CIRCUIT: usize = 0;

/// Smallest t with P(Bin(bits, 1/2) <= t) * offsets <= 1e-3, minus nothing:
/// the threshold for "watermark present".
fn threshold(bits: usize, offsets: usize) -> usize {
    let mut cdf = 0.0;
    let mut c = 1.0f64;
    let total = 2f64.powi(bits as i32);
    for t in 0..=bits {
        if t > 0 {
            c = c * (bits - t + 1) as f64 / t as f64;
        }
        cdf += c / total;
        if cdf * offsets as f64 > 1e-3 {
            return t.saturating_sub(1);
        }
    }
    bits
}

pub fn run(args: AttackArgs, common: Common) -> Result<(), LabCmdError> {
    args.network.circuits()?;
    let mut plan = args.plan(&common)?;
    if args.seconds.is_none() {
        // Enough intervals for 32 bits even in quick mode.
        plan.seconds = if common.quick { 60.0 } else { 120.0 };
    }
    let circuits = args.network.circuits()?;
    let mut rng = ChaCha20Rng::seed_from_u64(common.seed ^ 0x5741_5445);
    let intervals = ((plan.seconds - 1.0) / INTERVAL) as usize;
    let bits = (intervals / (2 * REDUNDANCY)).min(64);
    let offsets: Vec<f64> = (0..60).map(|i| i as f64 * 0.025).collect();
    let params = WatermarkParams {
        offset: 0.5,
        interval: INTERVAL,
        redundancy: REDUNDANCY,
        amplitude: AMPLITUDE,
        intervals,
        threshold: threshold(bits, offsets.len()),
    };
    let key = WatermarkKey::derive(rng.gen(), bits, &params)?;
    let message: Vec<bool> = (0..bits).map(|_| rng.gen()).collect();
    let mut schedules: Vec<Vec<f64>> = (0..circuits.len())
        .map(|_| bursty_schedule(&mut rng, plan.seconds))
        .collect();
    let marked = embed(
        &Flow::from_times(schedules[MARKED_CIRCUIT].iter().copied(), 1),
        &key,
        &message,
        &params,
    )?;
    schedules[MARKED_CIRCUIT] = marked.times().collect();
    plan.schedules = Some(schedules);
    let out = Output::create(&common.out_dir("watermark"))?;
    let obs = args.network.observe(&plan)?;
    // PACOM circuits take the path the nodes' handshake found.
    let path = &obs.circuits[MARKED_CIRCUIT];
    if path.is_empty() {
        return Err(LabCmdError::Failed(
            "the marked circuit has no single path (rebuilt during the run)".into(),
        ));
    }
    let on_path = |from: &str, to: &str| path.windows(2).any(|w| w[0] == from && w[1] == to);
    let mut table = Table::new(&[
        "link",
        "on_marked_circuit",
        "best_hamming",
        "bits",
        "present",
    ]);
    let (mut tp, mut pos, mut fp, mut neg) = (0, 0, 0, 0);
    for l in &obs.links {
        let mut best = usize::MAX;
        for &o in &offsets {
            let p = WatermarkParams {
                offset: params.offset + o,
                ..params
            };
            best = best.min(detect(&l.at_sender, &key, &message, &p)?.hamming);
        }
        let present = best <= params.threshold;
        let truth = on_path(&l.from, &l.to);
        if truth {
            pos += 1;
            tp += usize::from(present);
        } else {
            neg += 1;
            fp += usize::from(present);
        }
        table.push(vec![
            l.name(),
            truth.to_string(),
            best.to_string(),
            bits.to_string(),
            present.to_string(),
        ]);
    }
    out.csv("watermark.csv", &table)?;
    let mut rates = Table::new(&["true_positive_rate", "false_positive_rate", "threshold"]);
    rates.push(vec![
        f(tp as f64 / pos.max(1) as f64, 3),
        f(fp as f64 / neg.max(1) as f64, 3),
        params.threshold.to_string(),
    ]);
    out.csv("rates.csv", &rates)?;
    out.write(
        "summary.md",
        &format!(
            "# Interval-centroid watermark, {:?} network\n\nMarked: circuit {} ({}), {} bits, \
             interval {INTERVAL} s, amplitude {AMPLITUDE} s, redundancy {REDUNDANCY}, \
             {:.0} s of traffic. A link is flagged when its best Hamming distance over {} \
             offsets is at most {}. The mark is in the source's send times: the cells the \
             mix source writes, or the messages the PACOM source hands its node (the most an \
             attacker on the first link or at the sender's application can impose).\n\n{}\n{}",
            args.network,
            MARKED_CIRCUIT + 1,
            path.join(" → "),
            bits,
            plan.seconds,
            offsets.len(),
            params.threshold,
            table.markdown(),
            rates.markdown()
        ),
    )?;
    println!("{}\n{}", table.text(), rates.text());
    Ok(())
}
