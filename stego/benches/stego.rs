//! Capacity, change rate and speed of the PCM carrier per payload rate.
//!
//! `cargo bench -p stego --bench stego` prints one row per rate: frame bytes
//! per 16 KiB block, ±1 changes per embedded message bit, and embedding and
//! extraction throughput in MB of cover per second.

use std::time::Instant;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use stego::pcm::EmbedStats;
use stego::tool::{block_id, seed_from_text, BLOCK_LEN};
use stego::{Carrier, Cover, PayloadRate, PcmCarrier, WavCover};

const BLOCKS: usize = 64;

fn main() {
    let cover = WavCover::new(&seed_from_text("bench"), ((BLOCKS + 1) * BLOCK_LEN) as u64);
    let blocks: Vec<Vec<u8>> = (1..=BLOCKS)
        .map(|b| {
            let mut buf = vec![0u8; BLOCK_LEN];
            cover.read_at((b * BLOCK_LEN) as u64, &mut buf).unwrap();
            buf
        })
        .collect();
    let t = Instant::now();
    for b in 1..=BLOCKS {
        let mut buf = vec![0u8; BLOCK_LEN];
        cover.read_at((b * BLOCK_LEN) as u64, &mut buf).unwrap();
    }
    let mb = (BLOCKS * BLOCK_LEN) as f64 / 1e6;
    println!(
        "cover generation: {:.2} MB/s ({BLOCKS} blocks)",
        mb / t.elapsed().as_secs_f64()
    );
    println!(
        "rate(bit/sample)  frame_bytes/block  changes/bit  change_rate  embed_MB/s  extract_MB/s"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for per_mille in [25, 50, 75, 100, 150, 200, 300] {
        let rate = PayloadRate::per_mille(per_mille);
        let carrier = PcmCarrier::new([5; 32], rate);
        let mut total = EmbedStats::default();
        let mut stego = Vec::with_capacity(BLOCKS);
        let t = Instant::now();
        for (i, c) in blocks.iter().enumerate() {
            let id = block_id(((i + 1) * BLOCK_LEN) as u64);
            let mut frame = vec![0u8; carrier.capacity(id, BLOCK_LEN)];
            rng.fill_bytes(&mut frame);
            let (s, st) = carrier.embed_with_stats(id, c, &frame).unwrap();
            total.message_bits += st.message_bits;
            total.changes += st.changes;
            stego.push((id, s, frame));
        }
        let embed = mb / t.elapsed().as_secs_f64();
        let t = Instant::now();
        for (id, s, frame) in &stego {
            assert_eq!(&carrier.extract(*id, s).unwrap(), frame);
        }
        let extract = mb / t.elapsed().as_secs_f64();
        println!(
            "{:>16.3}  {:>17}  {:>11.4}  {:>11.5}  {:>10.2}  {:>12.2}",
            rate.bits_per_sample(),
            carrier.capacity(block_id(BLOCK_LEN as u64), BLOCK_LEN),
            total.changes as f64 / total.message_bits as f64,
            total.changes as f64 / (BLOCKS * BLOCK_LEN / 2) as f64,
            embed,
            extract
        );
    }
}
