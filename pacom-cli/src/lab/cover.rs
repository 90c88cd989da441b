//! Fig. 18: the share of a PACOM client's bandwidth spent on cover traffic
//! as circuits are added. It is a property of PACOM nodes (frames with
//! `len = 0`); the mix baseline sends no cover traffic, so only the PACOM
//! network can answer it.

use clap::Args;

use super::error::LabCmdError;
use super::network::NetworkKind;
use super::Common;

#[derive(Args, Debug, Clone)]
pub struct CoverArgs {
    /// Network under test (only `pacom` has cover traffic).
    #[arg(long, value_enum, default_value_t = NetworkKind::Pacom)]
    pub network: NetworkKind,
    /// Most circuits initiated per client.
    #[arg(long, default_value_t = 4)]
    pub max_circuits: u32,
}

pub fn run(args: CoverArgs, _common: Common) -> Result<(), LabCmdError> {
    match args.network {
        NetworkKind::Mix => Err(LabCmdError::Param(
            "the mix network sends no cover traffic; use --network pacom".into(),
        )),
        NetworkKind::Pacom => Err(NetworkKind::pacom_unavailable()),
    }
}
