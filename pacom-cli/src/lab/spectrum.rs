//! Power spectra of the input and output links of one hop (Figs. 14, 17):
//! packet counts in 50 ms bins, FFT, |X|²/n. In a mix network the output
//! link's spectrum follows the input's; on PACOM links it should not.
//! The hop is the first of the circuit the paper plots (circuit 3 of
//! Table 3, P12 → P3 → P5, in the mix network; circuit 4 of Table 4,
//! P3 → P1 → P5 in the paper, alone in the PACOM network, where the relay
//! is whichever the nodes' handshake took); the relay's other output link
//! is shown too.

use pacom_core::analysis::frequency::{
    power_spectrum, spectral_distance, spectrum_frequencies, PAPER_BIN,
};
use pacom_core::analysis::Flow;

use super::attack::AttackArgs;
use super::error::LabCmdError;
use super::plot::{try_line_chart, Chart, Scale, Series};
use super::report::{f, Output, Table};
use super::Common;

/// Hop (1-based) the spectra are taken on.
const HOP: usize = 1;
/// Periodogram bins averaged per plotted point.
const BAND: usize = 8;

fn counts(flow: &Flow, seconds: f64) -> Result<Vec<f64>, LabCmdError> {
    let bins = (seconds / PAPER_BIN) as usize;
    Ok(flow
        .bin_counts(0.0, PAPER_BIN, bins)?
        .into_iter()
        .map(f64::from)
        .collect())
}

pub fn run(args: AttackArgs, common: Common) -> Result<(), LabCmdError> {
    args.network.circuits()?;
    let mut plan = args.plan(&common)?;
    if args.seconds.is_none() {
        plan.seconds = if common.quick { 30.0 } else { 60.0 };
    }
    let circuit = args.network.spectrum_circuit();
    if args.network == super::network::NetworkKind::Pacom {
        // Fig. 17 is taken with the circuit alone in the network.
        plan.only = Some(plan.only.unwrap_or(circuit));
    }
    let out = Output::create(&common.out_dir("spectrum"))?;
    let obs = args.network.observe(&plan)?;
    let circuit = plan.only.unwrap_or(circuit);
    let hop = obs
        .hops
        .iter()
        .find(|h| h.circuit == circuit && h.hop == HOP)
        .ok_or_else(|| {
            LabCmdError::Failed(format!("circuit {circuit} has no relay with a known path"))
        })?;
    let other = hop
        .candidates
        .iter()
        .copied()
        .find(|&c| c != hop.truth)
        .ok_or_else(|| LabCmdError::Failed("the relay has one output link only".into()))?;
    let input = counts(&obs.links[hop.input].at_receiver, obs.duration)?;
    let output = counts(&obs.links[hop.truth].at_sender, obs.duration)?;
    let unrelated = counts(&obs.links[other].at_sender, obs.duration)?;
    let freqs = spectrum_frequencies(input.len(), PAPER_BIN);
    let (pi, po, pu) = (
        power_spectrum(&input),
        power_spectrum(&output),
        power_spectrum(&unrelated),
    );
    let names = [
        obs.links[hop.input].name(),
        obs.links[hop.truth].name(),
        obs.links[other].name(),
    ];
    let mut table = Table::new(&[
        "frequency_hz",
        &format!("input {}", names[0]),
        &format!("output {}", names[1]),
        &format!("other output {}", names[2]),
    ]);
    for k in 0..freqs.len() {
        table.push(vec![f(freqs[k], 4), f(pi[k], 5), f(po[k], 5), f(pu[k], 5)]);
    }
    out.csv("spectrum.csv", &table)?;
    let d_true = spectral_distance(&input, &output)?;
    let d_other = spectral_distance(&input, &unrelated)?;
    // The raw periodogram is too noisy to read; the plot averages bands of
    // BAND bins (the CSV keeps every bin).
    let pts = |p: &[f64]| -> Vec<(f64, f64)> {
        freqs[1..]
            .chunks(BAND)
            .zip(p[1..].chunks(BAND))
            .map(|(x, y)| {
                let n = y.len() as f64;
                (
                    x.iter().sum::<f64>() / n,
                    (y.iter().sum::<f64>() / n).max(1e-6),
                )
            })
            .collect()
    };
    try_line_chart(
        &out.path("spectrum.png"),
        &Chart {
            title: &format!(
                "Power spectrum, first hop of circuit {circuit} ({:?})",
                args.network
            ),
            x_label: "frequency (Hz)",
            y_label: "power",
            x_scale: Scale::Linear,
            y_scale: Scale::Log,
            series: &[
                Series::new(format!("input {}", names[0]), pts(&pi)),
                Series::new(format!("output {}", names[1]), pts(&po)),
                Series::new(format!("other output {}", names[2]), pts(&pu)),
            ],
            legend_upper_left: false,
        },
    );
    let mut dist = Table::new(&["pair", "eq10_distance"]);
    dist.push(vec![format!("{} vs {}", names[0], names[1]), f(d_true, 4)]);
    dist.push(vec![format!("{} vs {}", names[0], names[2]), f(d_other, 4)]);
    out.csv("distance.csv", &dist)?;
    out.write(
        "summary.md",
        &format!(
            "# Power spectra, {:?} network (Figs. 14/17)\n\n{:.0} s of traffic, 50 ms bins, \
             mean removed. Spectra in `spectrum.csv`, plot in `spectrum.png`.\n\n{}\n\
             Distance 1 means identical spectral shape (eq. 10 as implemented: inverse cosine \
             similarity of magnitude spectra).\n",
            args.network,
            obs.duration,
            dist.markdown()
        ),
    )?;
    println!("{}", dist.text());
    Ok(())
}
