//! End-to-end behaviour of the PCM carrier on generated covers.

use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use stego::tool::{block_id, cover_bytes, embed_file, extract_file, seed_from_text, BLOCK_LEN};
use stego::{samples, BlockId, Carrier, CarrierError, Cover, PayloadRate, PcmCarrier, WavCover};

const KEY: [u8; 32] = [42; 32];

fn cover(blocks: usize) -> Vec<u8> {
    cover_bytes(&seed_from_text("roundtrip"), (blocks * BLOCK_LEN) as u64).1
}

#[test]
fn random_frames_in_random_blocks_in_random_order() {
    let wav = cover(40);
    let carrier = PcmCarrier::new(KEY, PayloadRate::DEFAULT);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut sent = Vec::new();
    for (i, c) in wav.chunks(BLOCK_LEN).enumerate() {
        let id = block_id((i * BLOCK_LEN) as u64);
        let mut frame = vec![0u8; carrier.capacity(id, c.len())];
        rng.fill_bytes(&mut frame);
        let block = carrier.embed(id, c, &frame).unwrap();
        assert_eq!(block.len(), c.len());
        sent.push((id, block, frame, c.to_vec()));
    }
    sent.shuffle(&mut rng);
    for (id, block, frame, cover) in &sent {
        assert_eq!(&carrier.extract(*id, block).unwrap(), frame);
        // The plain cover and other ids never verify.
        assert_eq!(carrier.extract(*id, cover), Err(CarrierError::NotCarrying));
        let other = BlockId {
            offset: id.offset ^ 16_384,
            ..*id
        };
        assert_eq!(
            carrier.extract(other, block),
            Err(CarrierError::NotCarrying)
        );
        let moved = BlockId {
            piece: id.piece + 1,
            ..*id
        };
        assert_eq!(
            carrier.extract(moved, block),
            Err(CarrierError::NotCarrying)
        );
    }
}

#[test]
fn foreign_corrupt_and_truncated_blocks_fail_the_tag() {
    let wav = cover(4);
    let id = block_id(2 * BLOCK_LEN as u64);
    let c = &wav[2 * BLOCK_LEN..3 * BLOCK_LEN];
    let carrier = PcmCarrier::new(KEY, PayloadRate::DEFAULT);
    let frame = vec![0u8; carrier.capacity(id, BLOCK_LEN)];
    let block = carrier.embed(id, c, &frame).unwrap();
    let other_key = PcmCarrier::new([7; 32], PayloadRate::DEFAULT);
    assert_eq!(
        other_key.extract(id, &block),
        Err(CarrierError::NotCarrying)
    );
    let other_rate = PcmCarrier::new(KEY, PayloadRate::per_mille(80));
    assert!(other_rate.extract(id, &block).is_err());
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    // Any corruption either leaves the carried parities intact (same frame)
    // or fails the tag: never a different frame.
    let mut failed = 0;
    for _ in 0..50 {
        let mut bad = block.clone();
        for _ in 0..rng.gen_range(1..20) {
            let i = rng.gen_range(0..bad.len());
            bad[i] ^= 1 << rng.gen_range(0..8);
        }
        match carrier.extract(id, &bad) {
            Ok(f) => assert_eq!(f, frame),
            Err(e) => {
                assert_eq!(e, CarrierError::NotCarrying);
                failed += 1;
            }
        }
    }
    assert!(failed > 10, "{failed}");
    // Flipping the parity of any one usable sample breaks the frame.
    let x = samples::read(&block, (0, BLOCK_LEN / 2));
    for i in (0..x.len()).filter(|&i| samples::usable(x[i])).step_by(97) {
        let mut bad = block.clone();
        bad[2 * i] ^= 1;
        assert_eq!(
            carrier.extract(id, &bad),
            Err(CarrierError::NotCarrying),
            "{i}"
        );
    }
    for len in [0, 1, 2, 100, 5000, BLOCK_LEN - 1, BLOCK_LEN - 2] {
        assert!(carrier.extract(id, &block[..len]).is_err(), "{len}");
    }
    let noise: Vec<u8> = (0..BLOCK_LEN).map(|_| rng.gen()).collect();
    assert_eq!(carrier.extract(id, &noise), Err(CarrierError::NotCarrying));
    assert_eq!(
        carrier.extract(id, &[0u8; BLOCK_LEN]),
        Err(CarrierError::NotCarrying)
    );
    assert!(matches!(
        carrier.embed(id, c, &frame[1..]),
        Err(CarrierError::FrameLength { .. })
    ));
    assert!(matches!(
        carrier.embed(id, &[0u8; BLOCK_LEN], &frame),
        Err(CarrierError::Cover(_))
    ));
}

#[test]
fn capacity_depends_on_length_and_rate_only() {
    let carrier = PcmCarrier::new(KEY, PayloadRate::DEFAULT);
    let a = block_id(BLOCK_LEN as u64 * 5);
    let b = block_id(BLOCK_LEN as u64 * 77);
    let full = carrier.capacity(a, BLOCK_LEN);
    assert_eq!(full, carrier.capacity(b, BLOCK_LEN));
    // 8192 samples at the default rate, minus an 8-byte tag.
    let expected = 8192 * usize::from(PayloadRate::DEFAULT.as_per_mille()) / 8000 - 8;
    assert_eq!(full, expected);
    assert!(carrier.capacity(block_id(0), BLOCK_LEN) <= full);
    let higher = PcmCarrier::new(KEY, PayloadRate::per_mille(200));
    assert!(higher.capacity(a, BLOCK_LEN) > full);
}

#[test]
fn changes_are_plus_minus_one_and_spare_silence_and_clipping() {
    let c = WavCover::new(&seed_from_text("edges"), 20 * BLOCK_LEN as u64);
    let mut block = vec![0u8; BLOCK_LEN];
    c.read_at(3 * BLOCK_LEN as u64, &mut block).unwrap();
    // Splice in digital silence, near-silence and clipped runs.
    let mut x = samples::read(&block, (0, BLOCK_LEN / 2));
    x[1000..1400].fill(0);
    for (i, v) in x[2000..2300].iter_mut().enumerate() {
        *v = [-3, 2, 5, -6][i % 4];
    }
    x[3000..3100].fill(i16::MAX);
    x[3100..3200].fill(i16::MIN);
    x[3200..3300].fill(32_764);
    samples::write(&mut block, 0, &x);
    let id = block_id(3 * BLOCK_LEN as u64);
    let mut totals = 0;
    for seed in 0..20u64 {
        let carrier = PcmCarrier::new(
            seed_from_text(&seed.to_string()),
            PayloadRate::per_mille(150),
        );
        let mut frame = vec![0u8; carrier.capacity(id, BLOCK_LEN)];
        ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut frame);
        let out = carrier.embed(id, &block, &frame).unwrap();
        assert_eq!(carrier.extract(id, &out).unwrap(), frame);
        let y = samples::read(&out, (0, BLOCK_LEN / 2));
        for (i, (&a, &b)) in x.iter().zip(&y).enumerate() {
            let d = (i32::from(a) - i32::from(b)).abs();
            assert!(d <= 1, "sample {i} moved by {d}");
            if !samples::usable(a) {
                assert_eq!(d, 0, "unusable sample {i} ({a}) changed");
            }
            assert_eq!(samples::usable(a), samples::usable(b), "usability of {i}");
            totals += d as usize;
        }
        assert!(x[1000..1400] == y[1000..1400] && x[2000..2300] == y[2000..2300]);
        assert!(x[3000..3300] == y[3000..3300]);
        // Neighbours of clipped runs are spared too.
        assert!(x[2995..3000] == y[2995..3000] && x[3300..3304] == y[3300..3304]);
    }
    assert!(totals > 0);
}

#[test]
fn stego_files_stay_valid_wav_for_hound_and_sox() {
    let wav = cover(24);
    let carrier = PcmCarrier::new(KEY, PayloadRate::DEFAULT);
    let (out, report) = embed_file(&carrier, &wav, 9);
    assert_eq!(out.len(), wav.len());
    assert_eq!(out[..44], wav[..44]);
    assert_eq!(report.blocks_embedded, report.blocks);
    assert!(report.changes > 0 && report.changes < report.message_bits);
    let (frames, ex) = extract_file(&carrier, &out);
    assert_eq!(frames.len(), report.blocks);
    assert_eq!(ex.bytes_recovered, report.bytes_hidden);

    let dir = std::env::temp_dir().join(format!("stego-wav-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.wav");
    std::fs::write(&path, &out).unwrap();
    let mut reader = hound::WavReader::open(&path).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 44_100, 16)
    );
    let decoded: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    assert_eq!(decoded.len(), (out.len() - 44) / 2);
    assert_eq!(decoded, samples::read(&out, (44, decoded.len())));

    for args in [vec!["--i"], vec![]] {
        let mut cmd = std::process::Command::new("sox");
        cmd.args(&args).arg(&path);
        if args.is_empty() {
            cmd.args(["-n", "stat"]);
        }
        let o = cmd
            .output()
            .expect("sox is required (scripts/test.sh installs it)");
        assert!(
            o.status.success(),
            "sox {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let text =
            String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
        if args.is_empty() {
            assert!(text.contains("Samples read"), "{text}");
        } else {
            assert!(text.contains("44100") && text.contains("16-bit"), "{text}");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
