//! Fig. 18: the share of a PACOM client's bandwidth spent on cover traffic
//! as circuits are added. It is a property of PACOM nodes (frames with
//! `len = 0`); the mix baseline sends no cover traffic, so only the PACOM
//! network can answer it. For each number c of circuits per client, every
//! one of the eight Fig. 11 nodes opens circuits to c random other nodes
//! and sends Poisson traffic through each; the nodes' own frame counters
//! give data and cover frames sent over the run.

use clap::Args;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, Exp};

use super::error::LabCmdError;
use super::network::{NetworkKind, RunPlan};
use super::pacomnet::{hosts, run_pairs};
use super::plot::{try_line_chart, Chart, Scale, Series};
use super::report::{f, Output, Table};
use super::Common;

#[derive(Args, Debug, Clone)]
pub struct CoverArgs {
    /// Network under test (only `pacom` has cover traffic).
    #[arg(long, value_enum, default_value_t = NetworkKind::Pacom)]
    pub network: NetworkKind,
    /// Most circuits initiated per client.
    #[arg(long, default_value_t = 4)]
    pub max_circuits: u32,
    /// Seconds of traffic per point (default 60, 20 with --quick).
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Blocks (16 KiB) per second each link downloads.
    #[arg(long, default_value_t = 4.0)]
    pub link_rate: f64,
    /// Messages per second each circuit's source sends (Poisson).
    #[arg(long, default_value_t = 5.0)]
    pub message_rate: f64,
    /// Bytes per message.
    #[arg(long, default_value_t = 8192)]
    pub message_bytes: usize,
}

/// One point of Fig. 18.
struct Point {
    circuits: u32,
    cover_share: f64,
    min_share: f64,
    max_share: f64,
    mean_relays: f64,
    known_paths: usize,
}

pub fn run(args: CoverArgs, common: Common) -> Result<(), LabCmdError> {
    if args.network == NetworkKind::Mix {
        return Err(LabCmdError::Param(
            "the mix network sends no cover traffic; use --network pacom".into(),
        ));
    }
    let seconds = args
        .seconds
        .unwrap_or(if common.quick { 20.0 } else { 60.0 });
    if !(5.0..=3600.0).contains(&seconds) || !(1..=7).contains(&args.max_circuits) {
        return Err(LabCmdError::Param(
            "--seconds must be in [5, 3600] and --max-circuits in [1, 7]".into(),
        ));
    }
    if !(args.message_rate > 0.0 && args.message_rate <= 100.0) || args.message_bytes == 0 {
        return Err(LabCmdError::Param(
            "--message-rate must be in (0, 100] and --message-bytes > 0".into(),
        ));
    }
    let out = Output::create(&common.out_dir("cover"))?;
    let mut rng = ChaCha20Rng::seed_from_u64(common.seed ^ 0xc0fe);
    let names = hosts();
    let gap = Exp::new(args.message_rate).expect("positive rate");
    let mut points = Vec::new();
    let mut per_node = Table::new(&["circuits_per_client", "host", "data_frames", "cover_frames"]);
    for c in 1..=args.max_circuits {
        let mut pairs = Vec::new();
        for src in &names {
            let mut others: Vec<&String> = names.iter().filter(|n| *n != src).collect();
            others.shuffle(&mut rng);
            for dst in others.into_iter().take(c as usize) {
                pairs.push((src.clone(), dst.clone()));
            }
        }
        let schedules = pairs
            .iter()
            .map(|_| {
                let mut t = gap.sample(&mut rng);
                let mut v = Vec::new();
                while t < seconds {
                    v.push(t);
                    t += gap.sample(&mut rng);
                }
                v
            })
            .collect();
        let plan = RunPlan {
            seconds,
            seed: common.seed.wrapping_add(u64::from(c)),
            mix_delay_ms: 0.0,
            schedules: Some(schedules),
            only: None,
            link_rate: args.link_rate,
            walk_p0: 0.0,
            handshake_window: pacom_core::session::DEFAULT_HANDSHAKE_WINDOW.as_secs_f64(),
            message_bytes: args.message_bytes,
        };
        let (obs, traffic) = run_pairs(&plan, &pairs)?;
        let shares: Vec<f64> = traffic
            .iter()
            .map(|t| {
                let all = t.data_frames_sent + t.cover_frames_sent;
                per_node.push(vec![
                    c.to_string(),
                    t.host.clone(),
                    t.data_frames_sent.to_string(),
                    t.cover_frames_sent.to_string(),
                ]);
                if all == 0 {
                    1.0
                } else {
                    t.cover_frames_sent as f64 / all as f64
                }
            })
            .collect();
        let known: Vec<&Vec<String>> = obs.circuits.iter().filter(|p| !p.is_empty()).collect();
        let relays = known.iter().map(|p| p.len() - 2).sum::<usize>() as f64;
        let p = Point {
            circuits: c,
            cover_share: shares.iter().sum::<f64>() / shares.len() as f64,
            min_share: shares.iter().copied().fold(1.0, f64::min),
            max_share: shares.iter().copied().fold(0.0, f64::max),
            mean_relays: relays / known.len().max(1) as f64,
            known_paths: known.len(),
        };
        tracing::info!(c, share = p.cover_share, "cover point");
        points.push(p);
    }
    let mut table = Table::new(&[
        "circuits_per_client",
        "cover_share_mean",
        "cover_share_min",
        "cover_share_max",
        "mean_relays_per_circuit",
        "circuits_with_known_path",
    ]);
    for p in &points {
        table.push(vec![
            p.circuits.to_string(),
            f(p.cover_share, 3),
            f(p.min_share, 3),
            f(p.max_share, 3),
            f(p.mean_relays, 2),
            format!("{}/{}", p.known_paths, p.circuits as usize * names.len()),
        ]);
    }
    out.csv("cover.csv", &table)?;
    out.csv("cover-per-node.csv", &per_node)?;
    try_line_chart(
        &out.path("cover.png"),
        &Chart {
            title: "Average cover traffic rate of a PACOM client (Fig. 18)",
            x_label: "circuits initiated per client",
            y_label: "share of frames sent that are cover",
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
            series: &[Series::new(
                "cover share",
                points
                    .iter()
                    .map(|p| (f64::from(p.circuits), p.cover_share))
                    .collect(),
            )],
            legend_upper_left: false,
        },
    );
    out.write(
        "summary.md",
        &format!(
            "# Cover traffic rate (Fig. 18)\n\nThe eight nodes of Fig. 11; each opens c circuits \
             to random other nodes (circuits built by flooding, so paths are shortest ones, \
             not the paper's fixed length 4) and sends {} messages/s of {} bytes (Poisson) \
             through each for {seconds:.0} s. Links download {} blocks/s of 16 KiB. Cover share \
             = cover frames / all frames a node sent, from the nodes' own counters, averaged \
             over nodes.\n\n{}\nThe paper reports about 50 % cover with one circuit per client, \
             falling to about 10 % with four; the level depends on offered load against the \
             configured link rate, which the paper does not give.\n",
            args.message_rate,
            args.message_bytes,
            args.link_rate,
            table.markdown()
        ),
    )?;
    println!("{}", table.text());
    Ok(())
}
