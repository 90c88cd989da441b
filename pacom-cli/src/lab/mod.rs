//! `pacom lab`: experiments that make PACOM's anonymity claims measurable.
//! Each writes CSV tables, PNG plots and a markdown summary into its output
//! directory and prints a table. Traffic-analysis experiments run against a
//! [`network::NetworkKind`]: the continuous-time mix network of the paper's
//! Fig. 12 (the positive control) or PACOM nodes in the layout of Fig. 11.

pub mod anonymity;
pub mod attack;
pub mod candidates;
pub mod cover;
pub mod error;
pub mod mixnet;
pub mod mixnode;
pub mod network;
pub mod pacomnet;
pub mod plot;
pub mod report;
pub mod spectrum;
pub mod topology;
pub mod watermark;

use std::path::PathBuf;

use clap::{Args, Subcommand};

pub use error::LabCmdError;

/// Options every experiment takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Output directory (default: lab-out/<experiment>).
    #[arg(long, global = true)]
    pub out: Option<PathBuf>,
    /// Small sizes and short runs, for CI.
    #[arg(long, global = true)]
    pub quick: bool,
    /// Seed of every random choice.
    #[arg(long, global = true, default_value_t = 1)]
    pub seed: u64,
}

impl Common {
    pub fn out_dir(&self, experiment: &str) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| PathBuf::from("lab-out").join(experiment))
    }
}

#[derive(Args, Debug)]
pub struct LabArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub experiment: Experiment,
}

#[derive(Subcommand, Debug)]
pub enum Experiment {
    /// Average shortest path of networks built by the join process (Fig. 10).
    Topology(topology::TopologyArgs),
    /// Eq. (8) vs Theorem 2, and the intersection attack with its defences.
    Anonymity(anonymity::AnonymityArgs),
    /// Passive flow-correlation attacks on the Fig. 12 mix network (positive control).
    MixBaseline(attack::AttackArgs),
    /// Passive flow-correlation attacks (eq. 10 and mutual information) per hop.
    Attack(attack::AttackArgs),
    /// Power spectra of a hop's input and output link (Figs. 14, 17).
    Spectrum(attack::AttackArgs),
    /// Active attack: an interval-centroid watermark injected on one link.
    Watermark(attack::AttackArgs),
    /// Cover-traffic rate of PACOM clients (Fig. 18).
    Cover(cover::CoverArgs),
    /// One process of the emulated mix network (started by the experiments).
    #[command(hide = true)]
    MixNode(mixnode::MixNodeArgs),
}

pub fn run(args: LabArgs) -> Result<(), LabCmdError> {
    let common = args.common;
    match args.experiment {
        Experiment::Topology(a) => topology::run(a, common),
        Experiment::Anonymity(a) => anonymity::run(a, common),
        Experiment::MixBaseline(mut a) => {
            a.network = network::NetworkKind::Mix;
            attack::run(a, common, "mix-baseline")
        }
        Experiment::Attack(a) => attack::run(a, common, "attack"),
        Experiment::Spectrum(a) => spectrum::run(a, common),
        Experiment::Watermark(a) => watermark::run(a, common),
        Experiment::Cover(a) => cover::run(a, common),
        Experiment::MixNode(a) => mixnode::run(a),
    }
}
