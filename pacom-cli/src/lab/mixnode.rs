//! `pacom lab mix-node`: one process of the emulated mix network, started
//! by the experiments inside a lab namespace (hidden from `--help`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use pacom_lab::mixnode::{run as run_role, Role};

use super::error::LabCmdError;

#[derive(Args, Debug)]
pub struct MixNodeArgs {
    #[command(subcommand)]
    pub role: RoleCmd,
}

#[derive(Subcommand, Debug)]
pub enum RoleCmd {
    /// Relay flows with exponential per-cell delays.
    Mix {
        /// LISTEN=NEXT, e.g. 10.78.0.2:7001=10.78.0.5:7001 (repeatable).
        #[arg(long = "route", required = true)]
        routes: Vec<String>,
        #[arg(long, default_value_t = 10.0)]
        mean_delay_ms: f64,
        #[arg(long, default_value_t = 0)]
        flow_seed: u64,
    },
    /// Send one cell at each time (seconds, one per line) of a schedule file.
    Source {
        #[arg(long)]
        connect: SocketAddr,
        #[arg(long)]
        schedule: PathBuf,
    },
    /// Accept flows and discard them.
    Sink {
        #[arg(long = "listen", required = true)]
        listen: Vec<SocketAddr>,
    },
}

fn parse_route(s: &str) -> Result<(SocketAddr, SocketAddr), LabCmdError> {
    let bad = || LabCmdError::Param(format!("route {s:?} is not LISTEN=NEXT"));
    let (l, n) = s.split_once('=').ok_or_else(bad)?;
    Ok((l.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?))
}

pub fn run(args: MixNodeArgs) -> Result<(), LabCmdError> {
    let role = match args.role {
        RoleCmd::Mix {
            routes,
            mean_delay_ms,
            flow_seed,
        } => {
            if !(mean_delay_ms.is_finite() && mean_delay_ms > 0.0) {
                return Err(LabCmdError::Param(format!(
                    "mean delay {mean_delay_ms} ms must be > 0"
                )));
            }
            Role::Mix {
                routes: routes
                    .iter()
                    .map(|r| parse_route(r))
                    .collect::<Result<_, _>>()?,
                mean_delay: Duration::from_secs_f64(mean_delay_ms / 1000.0),
                seed: flow_seed,
            }
        }
        RoleCmd::Source { connect, schedule } => {
            let text = std::fs::read_to_string(&schedule).map_err(|source| LabCmdError::File {
                path: schedule.clone(),
                source,
            })?;
            let times = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    l.trim().parse::<f64>().map_err(|_| {
                        LabCmdError::Param(format!("{}: bad time {l:?}", schedule.display()))
                    })
                })
                .collect::<Result<_, _>>()?;
            Role::Source {
                connect,
                schedule: times,
            }
        }
        RoleCmd::Sink { listen } => Role::Sink { listen },
    };
    run_role(role).map_err(LabCmdError::Lab)
}
