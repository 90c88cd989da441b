//! The network under test of the traffic-analysis experiments. Each kind
//! runs real processes in a lab and returns what a passive observer of the
//! links saw, plus the ground truth (which output link continues which
//! input link at every hop), so `attack`, `spectrum` and `watermark` do not
//! care which network produced the traffic.

use clap::ValueEnum;
use pacom_core::analysis::Flow;

use super::error::LabCmdError;
use super::{mixnet, pacomnet};

/// Which network the attacks run against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum NetworkKind {
    /// Continuous-time (exponential) mixes in the paper's Fig. 12 layout.
    #[default]
    Mix,
    /// PACOM nodes in the paper's Fig. 11 layout.
    Pacom,
}

/// A directed link between two hosts, as the observer sees it at both ends.
#[derive(Clone, Debug)]
pub struct Link {
    pub from: String,
    pub to: String,
    /// Which of several connections between the two hosts (PACOM: the
    /// swarm, `A` or `B`, when two nodes share both swarms).
    pub via: Option<char>,
    /// Data packets at the sender's side (when they left `from`).
    pub at_sender: Flow,
    /// The same packets at the receiver's side (when they reached `to`).
    pub at_receiver: Flow,
}

impl Link {
    pub fn name(&self) -> String {
        match self.via {
            Some(v) => format!("{}->{}@{v}", self.from, self.to),
            None => format!("{}->{}", self.from, self.to),
        }
    }
}

/// One relay hop of one circuit: the link into the relay, the relay's
/// output links (the attacker's candidates), and the right answer.
#[derive(Clone, Debug)]
pub struct Hop {
    pub circuit: usize,
    /// 1-based position of the relay on the circuit.
    pub hop: usize,
    pub input: usize,
    pub candidates: Vec<usize>,
    pub truth: usize,
}

/// What one run produced.
#[derive(Clone, Debug)]
pub struct Observation {
    pub links: Vec<Link>,
    pub hops: Vec<Hop>,
    /// Seconds of traffic observed (from the log's start).
    pub duration: f64,
    /// Circuits as host paths, for the report (empty: path unknown).
    pub circuits: Vec<Vec<String>>,
    /// Table number of each entry of `circuits`.
    pub circuit_ids: Vec<usize>,
}

/// Traffic to drive through every circuit.
#[derive(Clone, Debug)]
pub struct RunPlan {
    /// Seconds each source sends.
    pub seconds: f64,
    pub seed: u64,
    /// Mean per-cell delay of the mixes (ms).
    pub mix_delay_ms: f64,
    /// Send times of each circuit's source (seconds from its start); `None`
    /// lets the network draw its default traffic.
    pub schedules: Option<Vec<Vec<f64>>>,
    /// Run only this circuit (1-based) of the table.
    pub only: Option<usize>,
    /// PACOM: blocks per second each link downloads.
    pub link_rate: f64,
    /// PACOM: probability of forwarding a handshake to one random neighbour.
    pub walk_p0: f64,
    /// PACOM: seconds a node gathers a handshake's copies before choosing
    /// the circuit's previous hop.
    pub handshake_window: f64,
    /// PACOM: bytes of the message sent at each schedule instant.
    pub message_bytes: usize,
}

impl NetworkKind {
    /// Runs the network with `plan` and observes every link. The mix
    /// network's circuits are fixed routes; PACOM's are built by the nodes,
    /// so its observation carries the paths they actually took.
    pub fn observe(self, plan: &RunPlan) -> Result<Observation, LabCmdError> {
        match self {
            NetworkKind::Mix => mixnet::run(plan),
            NetworkKind::Pacom => pacomnet::run(plan),
        }
    }

    /// Circuits the network carries (sources drive one each).
    pub fn circuits(self) -> Result<Vec<Vec<&'static str>>, LabCmdError> {
        match self {
            NetworkKind::Mix => Ok(mixnet::CIRCUITS.iter().map(|c| c.to_vec()).collect()),
            NetworkKind::Pacom => Ok(pacomnet::CIRCUITS.iter().map(|c| c.to_vec()).collect()),
        }
    }

    /// The circuit whose first hop the spectra are taken on: the one the
    /// paper plots (Fig. 14: P12 → P3 → P5; Fig. 17: P3 → P1 → P5).
    pub fn spectrum_circuit(self) -> usize {
        match self {
            NetworkKind::Mix => 3,
            NetworkKind::Pacom => 4,
        }
    }
}
