//! Per-candidate view of the mutual-information attack: for a relay, an
//! input link and the relay's other output links, each candidate's mean MI
//! score next to what the plug-in estimator's bias depends on (the link's
//! one-way delay, rate, and the alphabet and entropy of its packet counts
//! per 10 ms bin). Scoring every such set, with or without circuits,
//! tells whether an MI ranking follows a circuit or only the links'
//! delays: the control that decided the "MI inversion" (docs/lab).

use pacom_core::analysis::mutual_info::{flow_mutual_information, MiParams, PAPER_BIN};
use pacom_core::analysis::Flow;
use pacom_lab::Topology;

use super::error::LabCmdError;
use super::network::Observation;
use super::report::{f, Table};

/// One scored set: the link into `relay` and its candidate continuations.
#[derive(Clone, Debug)]
pub struct CandidateSet {
    pub input: usize,
    pub candidates: Vec<usize>,
    /// The circuit's continuation, when a circuit runs through this input.
    pub truth: Option<usize>,
}

/// Every (input link, other output links of its receiver) in `obs`, with
/// the circuits' hops marked by their true continuation.
pub fn all_sets(obs: &Observation) -> Vec<CandidateSet> {
    obs.links
        .iter()
        .enumerate()
        .map(|(i, input)| CandidateSet {
            input: i,
            candidates: obs
                .links
                .iter()
                .enumerate()
                .filter(|(_, l)| l.from == input.to && l.to != input.from)
                .map(|(c, _)| c)
                .collect(),
            truth: obs.hops.iter().find(|h| h.input == i).map(|h| h.truth),
        })
        .collect()
}

/// One-way delay of the host pair, in ms (`None` if not in the topology).
pub fn delay_ms(topology: &Topology, a: &str, b: &str) -> Option<f64> {
    topology
        .links
        .iter()
        .find(|l| (l.a == a && l.b == b) || (l.a == b && l.b == a))
        .map(|l| l.params.delay_ms)
}

/// Distinct per-bin packet counts and their entropy (nats) over `[0, duration)`.
fn alphabet_entropy(flow: &Flow, duration: f64) -> Result<(usize, f64), LabCmdError> {
    let bins = (duration / PAPER_BIN).floor() as usize;
    let counts = flow.bin_counts(0.0, PAPER_BIN, bins.max(1))?;
    let mut hist = std::collections::BTreeMap::<u32, u64>::new();
    for c in &counts {
        *hist.entry(*c).or_default() += 1;
    }
    let n = counts.len() as f64;
    let h = hist
        .values()
        .map(|&k| {
            let p = k as f64 / n;
            -p * p.ln()
        })
        .sum();
    Ok((hist.len(), h))
}

/// Spearman rank correlation (average ranks for ties); `None` under 3 values.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 3 {
        return None;
    }
    let rank = |v: &[f64]| {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            for k in i..=j {
                r[idx[k]] = (i + j) as f64 / 2.0;
            }
            i = j + 1;
        }
        r
    };
    let (rx, ry) = (rank(x), rank(y));
    let n = x.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum();
    (vx > 0.0 && vy > 0.0).then(|| cov / (vx * vy).sqrt())
}

/// What the per-candidate table says in a few numbers.
#[derive(Clone, Copy, Debug, Default)]
pub struct CandidateSummary {
    pub sets: usize,
    /// Mean over sets of Spearman(candidate delay, candidate mean MI).
    pub rho_delay_mi: f64,
    /// Mean over sets of Spearman(candidate alphabet, candidate mean MI).
    pub rho_alphabet_mi: f64,
    /// Sets with a true continuation.
    pub with_truth: usize,
    /// Mean over those of the truth's delay rank among the candidates,
    /// scaled to [0, 1] (0 = lowest delay; 0.5 = no preference).
    pub truth_delay_rank: f64,
    /// The same for its mean-MI rank (0 = least MI).
    pub truth_mi_rank: f64,
}

/// Rank of `v[i]` among `v` scaled to [0, 1] (ties count half).
fn scaled_rank(v: &[f64], i: usize) -> f64 {
    if v.len() < 2 {
        return 0.5;
    }
    let below = v.iter().filter(|&&x| x < v[i]).count() as f64;
    let tied = v.iter().filter(|&&x| x == v[i]).count() as f64 - 1.0;
    (below + tied / 2.0) / (v.len() - 1) as f64
}

/// Scores every set over disjoint windows of `window` seconds from 1 s and
/// returns the per-candidate table and its summary.
pub fn table(
    obs: &Observation,
    topology: &Topology,
    sets: &[CandidateSet],
    window: f64,
) -> Result<(Table, CandidateSummary), LabCmdError> {
    let mut t = Table::new(&[
        "relay",
        "input",
        "candidate",
        "truth",
        "delay_ms",
        "packets_per_s",
        "alphabet",
        "entropy_nats",
        "mi_mean",
    ]);
    let mut s = CandidateSummary::default();
    let (mut rho_d, mut rho_a, mut nd, mut na) = (0.0, 0.0, 0usize, 0usize);
    for set in sets {
        let input = &obs.links[set.input];
        let mut delays = Vec::new();
        let mut alphabets = Vec::new();
        let mut mis = Vec::new();
        for &c in &set.candidates {
            let out = &obs.links[c];
            let mut sum = 0.0;
            let mut n = 0usize;
            let mut start = 1.0;
            while start + window <= obs.duration {
                sum += flow_mutual_information(
                    &input.at_receiver,
                    &out.at_sender,
                    start,
                    window,
                    &MiParams::default(),
                )?;
                n += 1;
                start += window;
            }
            let mi = sum / n.max(1) as f64;
            let (alphabet, entropy) = alphabet_entropy(&out.at_sender, obs.duration)?;
            let delay = delay_ms(topology, &out.from, &out.to).unwrap_or(f64::NAN);
            t.push(vec![
                input.to.clone(),
                input.name(),
                out.name(),
                u8::from(set.truth == Some(c)).to_string(),
                f(delay, 1),
                f(out.at_sender.len() as f64 / obs.duration, 1),
                alphabet.to_string(),
                f(entropy, 3),
                f(mi, 4),
            ]);
            delays.push(delay);
            alphabets.push(alphabet as f64);
            mis.push(mi);
        }
        s.sets += 1;
        if let Some(r) = spearman(&delays, &mis) {
            rho_d += r;
            nd += 1;
        }
        if let Some(r) = spearman(&alphabets, &mis) {
            rho_a += r;
            na += 1;
        }
        if let Some(i) = set
            .truth
            .and_then(|tr| set.candidates.iter().position(|&c| c == tr))
        {
            s.with_truth += 1;
            s.truth_delay_rank += scaled_rank(&delays, i);
            s.truth_mi_rank += scaled_rank(&mis, i);
        }
    }
    s.rho_delay_mi = rho_d / nd.max(1) as f64;
    s.rho_alphabet_mi = rho_a / na.max(1) as f64;
    if s.with_truth > 0 {
        s.truth_delay_rank /= s.with_truth as f64;
        s.truth_mi_rank /= s.with_truth as f64;
    }
    Ok((t, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_sees_monotone_relations_and_ties() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert!((spearman(&x, &[10.0, 20.0, 30.0, 45.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((spearman(&x, &[4.0, 3.0, 2.0, 1.0]).unwrap() + 1.0).abs() < 1e-12);
        assert!(spearman(&x, &[1.0, 1.0, 1.0, 1.0]).is_none());
        assert!(spearman(&x[..2], &x[..2]).is_none());
    }

    #[test]
    fn scaled_rank_spans_zero_to_one() {
        let v = [5.0, 1.0, 3.0];
        assert_eq!(scaled_rank(&v, 1), 0.0);
        assert_eq!(scaled_rank(&v, 2), 0.5);
        assert_eq!(scaled_rank(&v, 0), 1.0);
        assert_eq!(scaled_rank(&[2.0, 2.0], 0), 0.5);
    }
}
