//! Cover and stego blocks for steganalysis experiments: for one generated
//! file, every block in every variant (cover, PCM carrier at some rates,
//! and the naive positive controls), as raw little-endian samples.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::carrier::Carrier;
use crate::controls::{self, Naive};
use crate::cover::Cover;
use crate::pcm::{PayloadRate, PcmCarrier};
use crate::tool::{block_id, seed_from_text, BLOCK_LEN};
use crate::wav_cover::WavCover;

/// How a block of a variant was produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Cover,
    Carrier(PayloadRate),
    Control(Naive, PayloadRate),
}

impl Variant {
    /// File-name stem, e.g. `stc050`, `lsbr050`, `pm1050`.
    pub fn name(self) -> String {
        match self {
            Variant::Cover => "cover".into(),
            Variant::Carrier(r) => format!("stc{:03}", r.as_per_mille()),
            Variant::Control(Naive::LsbReplacement, r) => format!("lsbr{:03}", r.as_per_mille()),
            Variant::Control(Naive::PlusMinusOne, r) => format!("pm1{:03}", r.as_per_mille()),
        }
    }
}

/// One variant of one file: its samples and how many of them changed.
#[derive(Clone, Debug)]
pub struct VariantData {
    pub variant: Variant,
    pub bytes: Vec<u8>,
    pub changes: usize,
    pub samples: usize,
}

/// Blocks 1..=`blocks` (block 0 holds the header) of generated file `file`
/// in every variant. Blocks that the carrier refuses are left as cover.
pub fn file_variants(file: u32, blocks: usize, variants: &[Variant]) -> Vec<VariantData> {
    let cover = WavCover::new(
        &seed_from_text(&format!("steganalysis cover {file}")),
        ((blocks + 1) * BLOCK_LEN) as u64 + 4096,
    );
    let key = seed_from_text(&format!("steganalysis key {file}"));
    let mut rng = ChaCha8Rng::seed_from_u64(u64::from(file));
    let mut out: Vec<VariantData> = variants
        .iter()
        .map(|&variant| VariantData {
            variant,
            bytes: Vec::with_capacity(blocks * BLOCK_LEN),
            changes: 0,
            samples: 0,
        })
        .collect();
    let mut block = vec![0u8; BLOCK_LEN];
    for b in 1..=blocks {
        let off = (b * BLOCK_LEN) as u64;
        cover
            .read_at(off, &mut block)
            .expect("blocks lie inside the cover");
        let id = block_id(off);
        for v in out.iter_mut() {
            let (stego, changes) = match v.variant {
                Variant::Cover => (block.clone(), 0),
                Variant::Carrier(rate) => {
                    let carrier = PcmCarrier::new(key, rate);
                    let mut frame = vec![0u8; carrier.capacity(id, BLOCK_LEN)];
                    rng.fill_bytes(&mut frame);
                    match carrier.embed_with_stats(id, &block, &frame) {
                        Ok((s, stats)) => (s, stats.changes),
                        Err(_) => (block.clone(), 0),
                    }
                }
                Variant::Control(kind, rate) => {
                    let mut s = block.clone();
                    let n = controls::embed(kind, &mut s, off, rate, rng.next_u64());
                    (s, n)
                }
            };
            v.bytes.extend_from_slice(&stego);
            v.changes += changes;
            v.samples += BLOCK_LEN / 2;
        }
    }
    out
}
