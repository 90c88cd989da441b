//! The newcomer's side of joining (paper §3.3): read x from each peer's HAVE
//! order in a popular torrent, derive that peer's PACOM file for each date it
//! may have used, and look its info hash up on the DHT.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use pacom_core::bootstrap::{
    pacom_file_for, Decoded, DecoderParams, HaveOrderDecoder, RolloverPolicy, UtcDate,
};
use pacom_core::pacom_file::{CoverKind, PacomFile, PacomFileOptions};

use crate::dht::Dht;

/// How often a peer's order is decoded: after every this many new HAVEs.
pub const DECODE_EVERY: usize = 4;

/// HAVE orders of the peers of one popular torrent, decoded as they grow.
pub struct HaveWatch {
    decoder: HaveOrderDecoder,
    orders: HashMap<SocketAddr, Vec<u32>>,
    min_len: usize,
    max_len: usize,
}

impl HaveWatch {
    /// A watch of the torrent `info_hash` under `group_key`.
    pub fn new(
        group_key: &[u8],
        info_hash: &[u8; 20],
        params: &DecoderParams,
    ) -> Result<Self, pacom_core::bootstrap::BootstrapError> {
        let decoder = HaveOrderDecoder::new(group_key, info_hash, params)?;
        let min_len = decoder.windows().first().map_or(0, |w| w.len as usize);
        let max_len = decoder.windows().last().map_or(0, |w| w.len as usize);
        Ok(Self {
            decoder,
            orders: HashMap::new(),
            min_len,
            max_len,
        })
    }

    /// Records a HAVE; every [`DECODE_EVERY`] HAVEs of a peer its order is
    /// decoded. Returns the peer's IP and what it hides when that works.
    pub fn on_have(&mut self, peer: SocketAddr, piece: u32) -> Option<(IpAddr, Decoded)> {
        let order = self.orders.entry(peer).or_default();
        order.push(piece);
        // Keep a margin over the longest window: repeats count once.
        if order.len() > 4 * self.max_len.max(1) {
            order.drain(..order.len() - 2 * self.max_len);
        }
        if order.len() < self.min_len || !order.len().is_multiple_of(DECODE_EVERY) {
            return None;
        }
        self.decoder.decode(order).map(|d| (peer.ip(), d))
    }

    /// Forgets a peer's order (the engine resent what it saw after a lag).
    pub fn replace(&mut self, peer: SocketAddr, order: Vec<u32>) {
        self.orders.insert(peer, order);
    }

    /// The decoder in use.
    pub fn decoder(&self) -> &HaveOrderDecoder {
        &self.decoder
    }
}

/// What a lookup of (bootstrap node IP, x) found.
#[derive(Debug)]
pub struct LookupResult {
    pub ip: IpAddr,
    pub x: u8,
    /// The date whose swarm had peers, its file, and the peers.
    pub found: Option<(UtcDate, Arc<PacomFile>, Vec<SocketAddr>)>,
    /// Errors met on the way (file generation, DHT), for the status.
    pub errors: Vec<String>,
}

/// What a node needs to regenerate someone's PACOM files.
#[derive(Clone, Debug)]
pub struct FileRecipe {
    pub group_key: [u8; 32],
    pub kind: CoverKind,
    pub options: PacomFileOptions,
    /// Files generated so far; share one between recipes that agree on
    /// key, kind and options (nodes in one process) to render each once.
    pub cache: FileCache,
}

type Slot = Arc<tokio::sync::Mutex<Option<Arc<PacomFile>>>>;
/// (x, bootstrap node IP, date): what names a PACOM file under one recipe.
type FileKey = (u8, IpAddr, UtcDate);

/// Generated PACOM files by (x, IP, date). Rendering a cover hashes every
/// piece, and lookups repeat (retries, several dates), so it is kept.
#[derive(Clone, Debug, Default)]
pub struct FileCache(Arc<std::sync::Mutex<HashMap<FileKey, Slot>>>);

impl FileCache {
    fn slot(&self, key: FileKey) -> Slot {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key).or_default().clone()
    }
}

impl FileRecipe {
    /// The x-th PACOM file of the bootstrap node at `ip` on `date`
    /// (hashing the whole cover: runs on a blocking thread, once per cache).
    pub async fn generate(
        &self,
        x: u8,
        ip: IpAddr,
        date: UtcDate,
    ) -> Result<Arc<PacomFile>, String> {
        let slot = self.cache.slot((x, ip, date));
        let mut guard = slot.lock().await;
        if let Some(f) = guard.as_ref() {
            return Ok(f.clone());
        }
        let file = self.render(x, ip, date).await?;
        *guard = Some(file.clone());
        Ok(file)
    }

    async fn render(&self, x: u8, ip: IpAddr, date: UtcDate) -> Result<Arc<PacomFile>, String> {
        let recipe = self.clone();
        tokio::task::spawn_blocking(move || {
            pacom_file_for(
                &recipe.group_key,
                x,
                ip,
                date,
                &recipe.kind,
                &recipe.options,
            )
            .map(Arc::new)
            .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| format!("file generation task: {e}"))?
    }
}

/// Derives swarm x of the node at `ip` for each date a newcomer at
/// `now_unix_secs` tries (most likely first) and stops at the first whose
/// info hash has peers on the DHT.
pub async fn look_up(
    dht: &Dht,
    recipe: &FileRecipe,
    policy: &RolloverPolicy,
    ip: IpAddr,
    x: u8,
    now_unix_secs: i64,
) -> LookupResult {
    let mut errors = Vec::new();
    for date in policy.candidate_dates(now_unix_secs) {
        let file = match recipe.generate(x, ip, date).await {
            Ok(f) => f,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        match dht.get_peers(file.info_hash).await {
            Ok(peers) if !peers.is_empty() => {
                tracing::debug!(x, n = peers.len(), "decoded swarm has peers");
                return LookupResult {
                    ip,
                    x,
                    found: Some((date, file, peers)),
                    errors,
                };
            }
            Ok(_) => {}
            Err(e) => errors.push(e.to_string()),
        }
    }
    LookupResult {
        ip,
        x,
        found: None,
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacom_core::bootstrap::{have_order, DownloadModel, HaveOrderEncoder};
    use rand::SeedableRng;

    #[test]
    fn a_hiding_peer_is_decoded_and_an_interleaved_random_one_is_not() {
        let key = [3u8; 32];
        let f = [9u8; 20];
        let n = 400;
        let mut enc = HaveOrderEncoder::new(&key, &f, n, [1; 32]);
        enc.set_x(Some(17));
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let hidden = have_order(&mut enc, n, &DownloadModel::default(), 120, &mut rng);
        let mut watch = HaveWatch::new(&key, &f, &DecoderParams::default()).unwrap();
        let pb: SocketAddr = "192.0.2.7:6881".parse().unwrap();
        let other: SocketAddr = "192.0.2.8:51413".parse().unwrap();
        let mut got = None;
        for (i, &p) in hidden.iter().enumerate() {
            // The other peer sends pieces in plain index order.
            assert!(watch.on_have(other, i as u32).is_none());
            if let Some(d) = watch.on_have(pb, p) {
                got.get_or_insert(d);
            }
        }
        let (ip, d) = got.expect("decoded");
        assert_eq!(ip, pb.ip());
        assert_eq!(d.x, 17);
    }
}
