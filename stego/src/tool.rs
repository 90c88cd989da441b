//! Whole-file operations behind the `stegotool` example (and, later, the
//! `pacom stego` subcommands): generate a cover, fill every block of a WAV
//! file, recover every block. Pure functions over byte buffers; the caller
//! does the file I/O.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use crate::carrier::{BlockId, Carrier, CarrierError};
use crate::cover::Cover;
use crate::pcm::PcmCarrier;
use crate::wav_cover::WavCover;

/// BitTorrent block size.
pub const BLOCK_LEN: usize = 16_384;
/// Piece length assumed when naming blocks by (piece, offset).
pub const PIECE_LEN: u64 = 256 * 1024;

/// A 32-byte seed or key from any text (hex is not required).
pub fn seed_from_text(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The id of the block starting at `file_offset` of a single-file torrent.
pub fn block_id(file_offset: u64) -> BlockId {
    BlockId {
        piece: (file_offset / PIECE_LEN) as u32,
        offset: (file_offset % PIECE_LEN) as u32,
        file_offset,
    }
}

/// The whole cover file generated from `seed`, about `size` bytes.
pub fn cover_bytes(seed: &[u8; 32], size: u64) -> (String, Vec<u8>) {
    let cover = WavCover::new(seed, size);
    let mut buf = vec![0u8; cover.len() as usize];
    cover
        .read_at(0, &mut buf)
        .expect("a cover reads its own length");
    (cover.name().to_string(), buf)
}

/// What [`embed_file`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EmbedReport {
    pub blocks: usize,
    pub blocks_embedded: usize,
    pub bytes_hidden: usize,
    pub message_bits: usize,
    pub changes: usize,
    pub usable_samples: usize,
}

/// Fills every block of `wav` with a random frame (from `payload_seed`) at the
/// carrier's rate; blocks that cannot carry are left as they are.
pub fn embed_file(carrier: &PcmCarrier, wav: &[u8], payload_seed: u64) -> (Vec<u8>, EmbedReport) {
    let mut out = Vec::with_capacity(wav.len());
    let mut report = EmbedReport::default();
    let mut rng = ChaCha8Rng::seed_from_u64(payload_seed);
    for (i, cover) in wav.chunks(BLOCK_LEN).enumerate() {
        let id = block_id((i * BLOCK_LEN) as u64);
        let mut frame = vec![0u8; carrier.capacity(id, cover.len())];
        rng.fill_bytes(&mut frame);
        report.blocks += 1;
        match carrier.embed_with_stats(id, cover, &frame) {
            Ok((block, stats)) => {
                out.extend_from_slice(&block);
                report.blocks_embedded += 1;
                report.bytes_hidden += frame.len();
                report.message_bits += stats.message_bits;
                report.changes += stats.changes;
                report.usable_samples += stats.usable;
            }
            Err(_) => out.extend_from_slice(cover),
        }
    }
    (out, report)
}

/// What [`extract_file`] found: per block, the recovered frame length or why not.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ExtractReport {
    pub per_block: Vec<Result<usize, CarrierError>>,
    pub bytes_recovered: usize,
}

/// Extracts every block of `wav`, returning the frames in file order.
pub fn extract_file(carrier: &PcmCarrier, wav: &[u8]) -> (Vec<Vec<u8>>, ExtractReport) {
    let mut frames = Vec::new();
    let mut report = ExtractReport::default();
    for (i, block) in wav.chunks(BLOCK_LEN).enumerate() {
        let id = block_id((i * BLOCK_LEN) as u64);
        match carrier.extract(id, block) {
            Ok(frame) => {
                report.bytes_recovered += frame.len();
                report.per_block.push(Ok(frame.len()));
                frames.push(frame);
            }
            Err(e) => report.per_block.push(Err(e)),
        }
    }
    (frames, report)
}
