//! Passive flow correlation per hop (§6.6, Figs. 13, 15, 16): at every relay
//! of every circuit the attacker compares the input link's packet timings
//! with each output link's and guesses the continuation, by the
//! frequency-domain distance of eq. (10) (50 ms bins, smallest wins) and by
//! the mutual-information statistic of Zhu et al. (10 ms bins, largest
//! wins). Detection rate against observation time, with exact 95 %
//! intervals; chance is 1 / (number of output links) per trial, and the
//! 99 % region of random guessing is the exact Poisson-binomial one.

use clap::Args;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use pacom_core::analysis::detect::{
    chance_interval, clopper_pearson, guess, guess_null_interval, Closer, DetectionRate,
};
use pacom_core::analysis::frequency::{flow_distance, PAPER_BIN as FREQ_BIN};
use pacom_core::analysis::mutual_info::{flow_mutual_information, MiParams};

use super::candidates;
use super::error::LabCmdError;
use super::network::{NetworkKind, Observation, RunPlan};
use super::plot::{try_line_chart, Chart, Scale, Series};
use super::report::{f, Output, Table};
use super::Common;

#[derive(Args, Debug, Clone)]
pub struct AttackArgs {
    /// Network under test.
    #[arg(long, value_enum, default_value_t = NetworkKind::Mix)]
    pub network: NetworkKind,
    /// Seconds of traffic per source (default 120, 40 with --quick).
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Mean per-cell delay of each mix (ms).
    #[arg(long, default_value_t = 10.0)]
    pub mix_delay_ms: f64,
    /// PACOM: blocks (16 KiB) per second each link downloads.
    #[arg(long, default_value_t = 10.0)]
    pub link_rate: f64,
    /// PACOM: probability that a node forwards a handshake to one random
    /// neighbour instead of flooding it. 0 floods (circuits take a shortest
    /// path: one relay between the swarms); 0.5 gives paths of one to
    /// three relays, like Table 4's.
    #[arg(long, default_value_t = 0.5)]
    pub walk_p0: f64,
    /// PACOM: seconds a node gathers a handshake's copies before choosing
    /// the circuit's previous hop among the fewest-hop ones (the node's
    /// default keeps circuits from following the lowest-delay links; 0
    /// reproduces fastest-path circuits).
    #[arg(long, default_value_t = pacom_core::session::DEFAULT_HANDSHAKE_WINDOW.as_secs_f64())]
    pub handshake_window: f64,
    /// PACOM: keep only this circuit of Table 4 alive (Fig. 16's case).
    #[arg(long)]
    pub only_circuit: Option<usize>,
    /// Build the circuits (one message each, before observation starts)
    /// but send nothing through them while the links are observed: the
    /// control run for telling data-driven effects from the topology's.
    #[arg(long)]
    pub idle: bool,
    /// PACOM: build no circuit and send nothing; score every relay's input
    /// against its other output links (`candidates.csv`). The control for
    /// effects of the links alone (delay, pacing) on the MI ranking.
    #[arg(long)]
    pub no_circuits: bool,
}

impl AttackArgs {
    pub fn seconds(&self, quick: bool) -> f64 {
        self.seconds.unwrap_or(if quick { 40.0 } else { 120.0 })
    }

    pub fn plan(&self, common: &Common) -> Result<RunPlan, LabCmdError> {
        let seconds = self.seconds(common.quick);
        if !(5.0..=3600.0).contains(&seconds) {
            return Err(LabCmdError::Param(format!(
                "--seconds {seconds} not in [5, 3600]"
            )));
        }
        if !(self.mix_delay_ms.is_finite() && self.mix_delay_ms > 0.0) {
            return Err(LabCmdError::Param("--mix-delay-ms must be > 0".into()));
        }
        Ok(RunPlan {
            seconds,
            seed: common.seed,
            mix_delay_ms: self.mix_delay_ms,
            schedules: self.idle.then(|| {
                let circuits = match (self.network, self.only_circuit) {
                    (NetworkKind::Pacom, Some(_)) => 1,
                    (NetworkKind::Pacom, None) => super::pacomnet::CIRCUITS.len(),
                    (NetworkKind::Mix, _) => super::mixnet::CIRCUITS.len(),
                };
                vec![Vec::new(); circuits]
            }),
            only: self.only_circuit,
            link_rate: self.link_rate,
            walk_p0: self.walk_p0,
            handshake_window: self.handshake_window,
            message_bytes: super::pacomnet::MESSAGE_BYTES,
        })
    }
}

/// The two passive attacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attack {
    Frequency,
    MutualInformation,
}

impl Attack {
    pub const ALL: [Attack; 2] = [Attack::Frequency, Attack::MutualInformation];

    pub fn name(self) -> &'static str {
        match self {
            Attack::Frequency => "frequency-eq10",
            Attack::MutualInformation => "mutual-information",
        }
    }

    fn closer(self) -> Closer {
        match self {
            Attack::Frequency => Closer::Lower,
            Attack::MutualInformation => Closer::Higher,
        }
    }
}

/// Detection rate of one attack, window length and hop (0 = all hops).
#[derive(Clone, Copy, Debug)]
pub struct DetectionPoint {
    pub attack: Attack,
    pub window: f64,
    pub hop: usize,
    pub rate: DetectionRate,
    /// The same scores read the other way round (the least correlated
    /// candidate guessed): far above chance means the true output link
    /// stands out by being unlike the input. That is a leak only if it
    /// goes away when the circuit carries nothing (`--idle`): a pair of
    /// links can also be unlike each other through delays and pacing alone.
    pub inverted: DetectionRate,
    pub chance: f64,
    /// 99 % region of random guessing, as rates.
    pub chance_lo: f64,
    pub chance_hi: f64,
    /// 99 % region of an attacker whose guesses carry no information on
    /// the truth, given the guesses it made (each hop's true link drawn
    /// uniformly from its candidates): the null that stays valid when a
    /// hop's windows are not independent trials, as rates.
    pub null_lo: f64,
    pub null_hi: f64,
    /// The same for the inverted guess.
    pub inverted_null_lo: f64,
    pub inverted_null_hi: f64,
}

/// Observation windows for a run of `seconds`: doubling from 0.5 s up to
/// half the run (so the longest still gives two trials per hop).
pub fn windows(seconds: f64) -> Vec<f64> {
    std::iter::successors(Some(0.5), |w| Some(w * 2.0))
        .take_while(|&w| w <= (seconds - 1.0) / 2.0)
        .collect()
}

/// Runs both attacks on every hop over disjoint windows of each length.
pub fn detect(
    obs: &Observation,
    windows: &[f64],
    seed: u64,
) -> Result<Vec<DetectionPoint>, LabCmdError> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let max_hop = obs.hops.iter().map(|h| h.hop).max().unwrap_or(0);
    let mut out = Vec::new();
    for attack in Attack::ALL {
        for &w in windows {
            let mut per_hop = vec![DetectionRate::default(); max_hop + 1];
            let mut inverted = vec![DetectionRate::default(); max_hop + 1];
            let mut odds: Vec<Vec<f64>> = vec![Vec::new(); max_hop + 1];
            // Per observed hop: how often each candidate was named.
            let mut named: Vec<[Vec<u64>; 2]> = obs
                .hops
                .iter()
                .map(|h| [vec![0; h.candidates.len()], vec![0; h.candidates.len()]])
                .collect();
            let mut start = 1.0;
            while start + w <= obs.duration {
                for (j, hop) in obs.hops.iter().enumerate() {
                    let input = &obs.links[hop.input].at_receiver;
                    let scores = hop
                        .candidates
                        .iter()
                        .map(|&c| {
                            let output = &obs.links[c].at_sender;
                            match attack {
                                Attack::Frequency => {
                                    flow_distance(input, output, start, w, FREQ_BIN)
                                }
                                Attack::MutualInformation => flow_mutual_information(
                                    input,
                                    output,
                                    start,
                                    w,
                                    &MiParams::default(),
                                ),
                            }
                        })
                        .collect::<Result<Vec<f64>, _>>()?;
                    let pick = guess(&scores, attack.closer(), &mut rng);
                    if let Some(i) = pick {
                        named[j][0][i] += 1;
                    }
                    let correct = pick.map(|i| hop.candidates[i]) == Some(hop.truth);
                    per_hop[0].record(correct);
                    per_hop[hop.hop].record(correct);
                    let other = match attack.closer() {
                        Closer::Higher => Closer::Lower,
                        Closer::Lower => Closer::Higher,
                    };
                    let pick = guess(&scores, other, &mut rng);
                    if let Some(i) = pick {
                        named[j][1][i] += 1;
                    }
                    let correct = pick.map(|i| hop.candidates[i]) == Some(hop.truth);
                    inverted[0].record(correct);
                    inverted[hop.hop].record(correct);
                    let p = 1.0 / hop.candidates.len().max(1) as f64;
                    odds[0].push(p);
                    odds[hop.hop].push(p);
                }
                start += w;
            }
            for (hop, rate) in per_hop.into_iter().enumerate() {
                if rate.trials > 0 {
                    let n = odds[hop].len() as f64;
                    let (lo, hi) = chance_interval(&odds[hop], 0.99)?;
                    let null = |k: usize| {
                        let g: Vec<Vec<u64>> = obs
                            .hops
                            .iter()
                            .zip(&named)
                            .filter(|(h, _)| hop == 0 || h.hop == hop)
                            .map(|(_, n)| n[k].clone())
                            .collect();
                        guess_null_interval(&g, 0.99).map(|(lo, hi)| (lo as f64 / n, hi as f64 / n))
                    };
                    let (null_lo, null_hi) = null(0)?;
                    let (inverted_null_lo, inverted_null_hi) = null(1)?;
                    out.push(DetectionPoint {
                        attack,
                        window: w,
                        hop,
                        rate,
                        inverted: inverted[hop],
                        chance: odds[hop].iter().sum::<f64>() / n,
                        chance_lo: lo as f64 / n,
                        chance_hi: hi as f64 / n,
                        null_lo,
                        null_hi,
                        inverted_null_lo,
                        inverted_null_hi,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Runs the network, the attacks, and writes the report.
pub fn run(args: AttackArgs, common: Common, name: &str) -> Result<(), LabCmdError> {
    args.network.circuits()?;
    let plan = args.plan(&common)?;
    let out = Output::create(&common.out_dir(name))?;
    let started = std::time::Instant::now();
    if args.no_circuits {
        if args.network != NetworkKind::Pacom {
            return Err(LabCmdError::Param(
                "--no-circuits applies to --network pacom".into(),
            ));
        }
        let (obs, _) = super::pacomnet::run_pairs(&plan, &[])?;
        return write_candidates(&out, &obs, plan.seed, started.elapsed().as_secs_f64());
    }
    let obs = args.network.observe(&plan)?;
    let ran = started.elapsed().as_secs_f64();
    let points = detect(&obs, &windows(obs.duration), common.seed)?;
    let mut table = Table::new(&[
        "attack",
        "window_s",
        "hop",
        "hits",
        "trials",
        "detection_rate",
        "ci95_low",
        "ci95_high",
        "chance",
        "chance_lo99",
        "chance_hi99",
        "inverted_rate",
        "null_lo99",
        "null_hi99",
        "inverted_null_lo99",
        "inverted_null_hi99",
    ]);
    for p in &points {
        let (lo, hi) = clopper_pearson(p.rate.hits, p.rate.trials, 0.95)?;
        table.push(vec![
            p.attack.name().to_string(),
            f(p.window, 1),
            if p.hop == 0 {
                "all".into()
            } else {
                p.hop.to_string()
            },
            p.rate.hits.to_string(),
            p.rate.trials.to_string(),
            f(p.rate.rate(), 3),
            f(lo, 3),
            f(hi, 3),
            f(p.chance, 3),
            f(p.chance_lo, 3),
            f(p.chance_hi, 3),
            f(p.inverted.rate(), 3),
            f(p.null_lo, 3),
            f(p.null_hi, 3),
            f(p.inverted_null_lo, 3),
            f(p.inverted_null_hi, 3),
        ]);
    }
    out.csv("detection.csv", &table)?;
    let mut links = Table::new(&["link", "packets", "bytes", "packets_per_s"]);
    for l in &obs.links {
        links.push(vec![
            l.name(),
            l.at_sender.len().to_string(),
            l.at_sender.bytes().to_string(),
            f(l.at_sender.len() as f64 / obs.duration, 1),
        ]);
    }
    out.csv("links.csv", &links)?;
    let mut series: Vec<Series> = Attack::ALL
        .iter()
        .map(|&a| {
            Series::new(
                a.name(),
                points
                    .iter()
                    .filter(|p| p.attack == a && p.hop == 0)
                    .map(|p| (p.window, p.rate.rate()))
                    .collect(),
            )
        })
        .collect();
    if let Some(p) = points.first() {
        series.push(Series::new(
            "random guess",
            points
                .iter()
                .filter(|q| q.attack == p.attack && q.hop == 0)
                .map(|q| (q.window, q.chance))
                .collect(),
        ));
    }
    let title = format!("Detection rate per hop, {:?} network", args.network);
    try_line_chart(
        &out.path("detection.png"),
        &Chart {
            title: &title,
            x_label: "observation time (s)",
            y_label: "detection rate",
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
            series: &series,
            legend_upper_left: false,
        },
    );
    let circuits: String = obs
        .circuits
        .iter()
        .zip(&obs.circuit_ids)
        .map(|(c, i)| {
            if c.is_empty() {
                format!("{i}. (no single path: not built, or rebuilt during the run)\n")
            } else {
                format!("{i}. {}\n", c.join(" → "))
            }
        })
        .collect();
    let traffic = if args.idle {
        "IDLE CONTROL RUN (--idle): each circuit carried one message while being built, \
         before the observation; no source sent anything while the links were observed."
    } else {
        ""
    };
    let setup = match args.network {
        NetworkKind::Mix => format!(
            "Each source sent {:.0} s of bursty Poisson traffic (512-byte cells); mixes delay \
             every cell by Exp(mean {} ms).",
            plan.seconds, plan.mix_delay_ms
        ),
        NetworkKind::Pacom => format!(
            "Each source handed its node a {}-byte message at every instant of {:.0} s of \
             bursty Poisson traffic; circuits were built by the nodes' own handshakes (walk \
             p0 = {}) between the end points of Table 4, and the paths above are the ones the \
             nodes' circuit tables show (before and after the run). Every PACOM link downloads \
             {} blocks/s of 16 KiB, data or cover. Output candidates of a relay: its links \
             except the one back to the previous hop.",
            plan.message_bytes, plan.seconds, plan.walk_p0, plan.link_rate
        ),
    };
    let paper = match args.network {
        NetworkKind::Mix => {
            "The paper (Fig. 13) reports detection reaching 1.0 on every hop of \
             the mix network as observation time grows; chance is 0.5."
        }
        NetworkKind::Pacom => {
            "The paper reports detection close to random guessing (1/3) on \
             the first hop with the 8 circuits of Table 4 (Fig. 15), and with one circuit \
             alive detection falling towards 0 as observation time grows (Fig. 16)."
        }
    };
    let summary = format!(
        "# Passive flow correlation, {:?} network\n\nCircuits:\n\n{circuits}\n{setup} {traffic} \
         One-way delays between hosts uniform in [1, 100] ms. The attacker sees only packet \
         times on the links (switch frame log), the input at the relay's side and the outputs \
         as they leave it. Run took {ran:.1} s.\n\n\
         Detection rate (hop `all` pools every hop of every circuit; `chance_lo99`–`chance_hi99` \
         is the 99 % region of random guessing with independent trials; `inverted_rate` guesses \
         the least correlated candidate instead; `null_lo99`–`null_hi99` (and `inverted_…` for \
         the inverted guess) is the 99 % region if the guesses carry no information on the \
         truth, given the guesses made: each hop's true link uniform among its candidates. It \
         is the valid null when a hop's windows are not independent trials, e.g. when scores \
         follow the links' delays, see `candidates.md`):\n\n{}\nLinks:\n\n{}\n{paper}\n",
        args.network,
        table.markdown(),
        links.markdown()
    );
    out.write("summary.md", &summary)?;
    println!("{}", table.text());
    if args.network == NetworkKind::Pacom {
        write_candidates(&out, &obs, plan.seed, ran)?;
    }
    Ok(())
}

/// Window of the per-candidate mean MI (the CI test's window).
const CANDIDATE_WINDOW: f64 = 2.0;

/// Writes `candidates.csv` (every relay input against its other output
/// links, circuits' continuations marked) and prints its summary.
fn write_candidates(
    out: &Output,
    obs: &Observation,
    seed: u64,
    ran: f64,
) -> Result<(), LabCmdError> {
    let topology = super::pacomnet::topology(seed);
    let sets = candidates::all_sets(obs);
    let (table, s) = candidates::table(obs, &topology, &sets, CANDIDATE_WINDOW)?;
    out.csv("candidates.csv", &table)?;
    let line = format!(
        "candidate sets: {} (window {CANDIDATE_WINDOW} s, run {ran:.0} s); mean Spearman \
         rho(delay, MI) = {:.3}, rho(alphabet, MI) = {:.3}; {} with a circuit: true \
         continuation's delay rank {:.3}, MI rank {:.3} (0 = lowest, 0.5 = none)",
        s.sets,
        s.rho_delay_mi,
        s.rho_alphabet_mi,
        s.with_truth,
        s.truth_delay_rank,
        s.truth_mi_rank
    );
    out.write("candidates.md", &format!("{line}\n\n{}", table.markdown()))?;
    println!("{line}");
    Ok(())
}
