//! How well a newcomer reads x from a bootstrap node's HAVE order (Algorithms
//! 2 and 3), against the number of HAVEs observed and the noise rate, and how
//! often an ordinary client's order decodes to something (false positives).
//!
//! `cargo run --release -p pacom-core --example decoder_quality [trials]`

use pacom_core::bootstrap::{
    have_order, DecoderParams, DownloadModel, HaveOrderDecoder, HaveOrderEncoder,
};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

const KEY: &[u8] = b"decoder quality";
const PIECES: u32 = 2000;

fn main() {
    let trials: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(400);
    let params = DecoderParams::default();
    let probe = HaveOrderDecoder::new(KEY, &[0; 20], &params).expect("default params are valid");
    println!(
        "# windows (len: threshold): {:?}",
        probe
            .windows()
            .iter()
            .map(|w| (w.len, w.threshold))
            .collect::<Vec<_>>()
    );
    println!(
        "# analytic false-positive bound per decode call: {:.3e}",
        probe.false_positive_bound()
    );
    let observed = [16usize, 24, 32, 48, 64, 96, 128, 192, 256];
    let noises = [0.0, 0.1, 0.2, 0.3];
    println!("# P(decode right x) / P(wrong x), {trials} trials per cell, {PIECES}-piece torrent, observation starts at a random point");
    print!("{:>6}", "HAVEs");
    for n in noises {
        print!(" | noise {:>3.0}%      ", n * 100.0);
    }
    println!();
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    for &seen in &observed {
        print!("{seen:>6}");
        for &noise in &noises {
            let (mut right, mut wrong) = (0, 0);
            for _ in 0..trials {
                let torrent: [u8; 20] = rng.gen();
                let x = rng.gen_range(1..=100u8);
                let mut enc = HaveOrderEncoder::new(KEY, &torrent, PIECES, rng.gen());
                enc.set_x(Some(x));
                let start = rng.gen_range(0..(PIECES as usize - seen));
                let model = DownloadModel {
                    noise,
                    ..DownloadModel::default()
                };
                let order = have_order(&mut enc, PIECES, &model, start + seen, &mut rng);
                let dec = HaveOrderDecoder::new(KEY, &torrent, &params).unwrap();
                match dec.decode(&order[start..]) {
                    Some(d) if d.x == x => right += 1,
                    Some(_) => wrong += 1,
                    None => {}
                }
            }
            let t = trials as f64;
            print!(" | {:>6.3} / {:>6.4}", right as f64 / t, wrong as f64 / t);
        }
        println!();
    }
    let fp_trials = trials * 50;
    let mut hits = 0;
    for _ in 0..fp_trials {
        let torrent: [u8; 20] = rng.gen();
        let mut order: Vec<u32> = (0..PIECES).collect();
        order.shuffle(&mut rng);
        order.truncate(256);
        let dec = HaveOrderDecoder::new(KEY, &torrent, &params).unwrap();
        hits += usize::from(dec.decode(&order).is_some());
    }
    println!(
        "# false positives on random 256-HAVE orders: {hits} / {fp_trials} = {:.2e} (bound {:.2e})",
        hits as f64 / fp_trials as f64,
        probe.false_positive_bound()
    );

    // A newcomer decodes repeatedly as HAVEs arrive: the per-peer rate over a
    // whole ordinary download, decoding after every 16th HAVE.
    let peers = (trials / 2).max(50);
    let mut flagged = 0;
    for _ in 0..peers {
        let torrent: [u8; 20] = rng.gen();
        let mut order: Vec<u32> = (0..PIECES).collect();
        order.shuffle(&mut rng);
        let dec = HaveOrderDecoder::new(KEY, &torrent, &params).unwrap();
        let hit = (16..=order.len())
            .step_by(16)
            .any(|end| dec.decode(&order[..end]).is_some());
        flagged += usize::from(hit);
    }
    println!(
        "# ordinary peers ever decoded over a {PIECES}-piece download (decode every 16 HAVEs): {flagged} / {peers} = {:.2e}",
        flagged as f64 / peers as f64
    );
}
