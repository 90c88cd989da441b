//! The bootstrap node role (paper §3.3): c PACOM files created and served
//! as swarms, each announced on the DHT, members counted against each
//! swarm's Pareto cap, and the x of a non-full swarm handed to the HAVE-order
//! picker of the popular torrent being downloaded (Case 2), or none once all
//! are full (Case 1).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use pacom_core::bootstrap::{Advert, BootstrapState, UtcDate};
use pacom_core::pacom_file::PacomFile;

use super::newcomer::FileRecipe;
use super::Links;
use crate::dht::Dht;
use crate::metainfo::InfoHash;

/// One swarm the node created.
pub struct OwnSwarm {
    pub x: u8,
    pub file: Arc<PacomFile>,
}

/// The bootstrap role of one node for one date.
pub struct BootstrapRole {
    state: BootstrapState,
    ip: IpAddr,
    swarms: HashMap<InfoHash, OwnSwarm>,
}

impl BootstrapRole {
    /// Draws c and the caps (or takes `caps`, for tests and operators) and
    /// generates the c PACOM files of (`ip`, `date`).
    pub async fn create(
        recipe: &FileRecipe,
        ip: IpAddr,
        date: UtcDate,
        caps: Option<&[u32]>,
        rng_seed: [u8; 32],
    ) -> Result<Self, String> {
        let state = match caps {
            Some(caps) => {
                BootstrapState::with_caps(date, caps, rng_seed).map_err(|e| e.to_string())?
            }
            None => BootstrapState::new(date, rng_seed),
        };
        let mut swarms = HashMap::new();
        for s in state.swarms() {
            let file = recipe.generate(s.x, ip, date).await?;
            swarms.insert(InfoHash(file.info_hash), OwnSwarm { x: s.x, file });
        }
        tracing::info!(c = swarms.len(), "bootstrap role: swarms created");
        Ok(Self { state, ip, swarms })
    }

    /// The address the swarms' seeds use.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The swarms, by info hash.
    pub fn swarms(&self) -> &HashMap<InfoHash, OwnSwarm> {
        &self.swarms
    }

    /// The x to hide now (`None`: Case 1, stop hiding).
    pub fn advert(&self) -> Option<u8> {
        match self.state.advert() {
            Advert::Advertise(x) => Some(x),
            Advert::Stopped => None,
        }
    }

    /// Members of each swarm (the node included), as the core state counts them.
    pub fn members(&self) -> Vec<(u8, u32, u32)> {
        self.state
            .swarms()
            .iter()
            .map(|s| (s.x, s.members, s.cap))
            .collect()
    }

    /// Counts each swarm's members from the live links (one per PACOM
    /// neighbour) and re-picks the advert when a swarm grew. Returns the new
    /// advert.
    pub fn count_members(&mut self, links: &Links) -> Option<u8> {
        let mut counts: HashMap<InfoHash, u32> = HashMap::new();
        for n in links.neighbours() {
            *counts.entry(n.swarm).or_default() += 1;
        }
        for (ih, swarm) in &self.swarms {
            let members = 1 + counts.get(ih).copied().unwrap_or(0);
            if let Err(e) = self.state.set_members(swarm.x, members) {
                tracing::warn!(error = %e, "swarm bookkeeping");
            }
        }
        self.advert()
    }

    /// Announces every swarm on the DHT at `port` (first time and periodically:
    /// DHT entries expire).
    pub async fn announce(&self, dht: &Dht, port: u16) -> Vec<String> {
        let mut errors = Vec::new();
        for ih in self.swarms.keys() {
            if let Err(e) = dht.announce(ih.0, Some(port)).await {
                errors.push(e.to_string());
            }
        }
        errors
    }
}
