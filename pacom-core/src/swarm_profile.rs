//! What a swarm's mode fixes besides the link keys: the kind of cover file
//! and the carrier that hides a frame in one of its blocks.
//!
//! Public mode: a pseudo-encrypted archive and the ciphertext carrier (the
//! block is the frame). Private mode: a generated PCM recording and the
//! ±1/STC carrier, keyed per swarm from the group key so that a block of one
//! swarm never opens under another's key.

use std::sync::Arc;

use hkdf::Hkdf;
use sha2::Sha256;
use stego::{Carrier, CiphertextCarrier, Cover, PayloadRate, PcmCarrier, WavCover};

use crate::link::{LinkConfig, Mode, DEFAULT_PUBLIC_GROUP_KEY};
use crate::pacom_file::{CoverFactory, CoverKind, PacomFileError};

/// Sizes of generated recordings when the options fix none: 20 to 70
/// minutes of CD-quality stereo, like a live set or a long field recording.
const WAV_MIN_SECONDS: u64 = 20 * 60;
const WAV_MAX_SECONDS: u64 = 70 * 60;
const WAV_BYTES_PER_SECOND: u64 = 44_100 * 4;

/// Private-mode covers: one long 16-bit 44.1 kHz stereo WAV recording.
#[derive(Debug, Default, Clone, Copy)]
pub struct WavCoverFactory;

impl CoverFactory for WavCoverFactory {
    fn kind_name(&self) -> &str {
        "wav"
    }

    fn build(&self, seed: [u8; 32], size: Option<u64>) -> Result<Box<dyn Cover>, PacomFileError> {
        let size = size.unwrap_or_else(|| {
            // The duration is part of what the seed decides, so every member
            // regenerates the same file.
            let d = u64::from_le_bytes(seed[24..32].try_into().unwrap_or([0; 8]));
            let secs = WAV_MIN_SECONDS + d % (WAV_MAX_SECONDS - WAV_MIN_SECONDS + 1);
            secs * WAV_BYTES_PER_SECOND
        });
        Ok(Box::new(WavCover::new(&seed, size)))
    }
}

/// A swarm's mode with its key, cover kind and carrier.
#[derive(Clone)]
pub struct SwarmProfile {
    pub mode: Mode,
    pub group_key: [u8; 32],
    /// Private mode only: payload rate of the PCM carrier.
    pub payload_rate: PayloadRate,
}

impl std::fmt::Debug for SwarmProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The group key is a secret: never printed.
        f.debug_struct("SwarmProfile")
            .field("mode", &self.mode)
            .field("payload_rate", &self.payload_rate)
            .finish_non_exhaustive()
    }
}

impl SwarmProfile {
    /// The public network: published key, archive covers, ciphertext blocks.
    pub fn public() -> Self {
        SwarmProfile {
            mode: Mode::Public,
            group_key: DEFAULT_PUBLIC_GROUP_KEY,
            payload_rate: PayloadRate::DEFAULT,
        }
    }

    /// A private group: its shared key, audio covers, steganographic blocks.
    pub fn private(group_key: [u8; 32]) -> Self {
        SwarmProfile {
            mode: Mode::Private,
            group_key,
            payload_rate: PayloadRate::DEFAULT,
        }
    }

    /// The cover kind PACOM files of this mode wrap.
    pub fn cover_kind(&self) -> CoverKind {
        match self.mode {
            Mode::Public => CoverKind::Archive,
            Mode::Private => CoverKind::Custom(Arc::new(WavCoverFactory)),
        }
    }

    /// The carrier for the swarm of `info_hash`.
    pub fn carrier(&self, info_hash: &[u8; 20]) -> Arc<dyn Carrier> {
        match self.mode {
            Mode::Public => Arc::new(CiphertextCarrier),
            Mode::Private => Arc::new(PcmCarrier::new(
                stego_key(&self.group_key, info_hash),
                self.payload_rate,
            )),
        }
    }

    /// Link configuration for the swarm of `info_hash`.
    pub fn link_config(&self, info_hash: [u8; 20]) -> LinkConfig {
        match self.mode {
            Mode::Public => LinkConfig::public(info_hash),
            Mode::Private => LinkConfig::private(self.group_key, info_hash),
        }
    }
}

/// The PCM carrier's key for one swarm: HKDF-SHA256 over the group key,
/// salted with the info hash.
pub fn stego_key(group_key: &[u8; 32], info_hash: &[u8; 20]) -> [u8; 32] {
    let hk = Hkdf::<Sha256>::new(Some(info_hash), group_key);
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit: cannot fail.
    if hk.expand(b"pacom stego carrier v1", &mut out).is_err() {
        out = [0u8; 32];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pacom_file::{PacomFile, PacomFileOptions};
    use stego::BlockId;

    #[test]
    fn private_profile_round_trips_a_frame_through_a_generated_recording() {
        let profile = SwarmProfile::private([7; 32]);
        let file = PacomFile::generate(
            [3; 32],
            &profile.cover_kind(),
            &PacomFileOptions::with_size(1 << 20),
        )
        .expect("file");
        assert!(file.name.ends_with(".wav"), "{}", file.name);
        let carrier = profile.carrier(&file.info_hash);
        let id = BlockId {
            piece: 0,
            offset: 16384,
            file_offset: 16384,
        };
        let cover = file.block(0, 16384, 16384).expect("block");
        let cap = carrier.capacity(id, cover.len());
        assert!(cap >= 64, "capacity {cap}");
        let frame: Vec<u8> = (0..cap).map(|i| (i * 7) as u8).collect();
        let block = carrier.embed(id, &cover, &frame).expect("embed");
        assert_eq!(block.len(), cover.len());
        assert_eq!(carrier.extract(id, &block).expect("extract"), frame);
        // Another swarm's key does not open it.
        let other = profile.carrier(&[9; 20]);
        assert!(other.extract(id, &block).is_err());
    }

    #[test]
    fn recording_length_is_decided_by_the_seed() {
        let a = WavCoverFactory.build([1; 32], None).expect("a");
        let b = WavCoverFactory.build([1; 32], None).expect("b");
        assert_eq!(a.len(), b.len());
        let secs = a.len() / WAV_BYTES_PER_SECOND;
        assert!(
            (WAV_MIN_SECONDS - 1..=WAV_MAX_SECONDS).contains(&secs),
            "{secs}"
        );
    }
}
