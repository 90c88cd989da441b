//! `pacom stego`: the private-mode carrier for people and tests — make a
//! cover, fill it with random payload at the configured rate, read it back.
//!
//! Seeds and keys are any text; they are hashed to 32 bytes, so the same text
//! gives the same cover or key on every machine.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use stego::tool::{cover_bytes, embed_file, extract_file, seed_from_text};
use stego::{PayloadRate, PcmCarrier};

#[derive(Subcommand)]
pub enum StegoCmd {
    /// Write a generated WAV cover (16-bit PCM, 44.1 kHz stereo).
    Cover {
        /// Any text; the same seed always gives the same recording.
        #[arg(long)]
        seed: String,
        /// Size of the WAV file in bytes (header included).
        #[arg(long)]
        size: u64,
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
    },
    /// Hide random payload in every 16 KiB block of a WAV file.
    Embed {
        #[command(flatten)]
        key: KeyArgs,
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
        /// Seed of the random payload (for reproducible experiments).
        #[arg(long, default_value_t = 1)]
        payload_seed: u64,
    },
    /// Recover what every block of a WAV file carries for this key.
    Extract {
        #[command(flatten)]
        key: KeyArgs,
        #[arg(long = "in")]
        input: PathBuf,
    },
}

#[derive(Args)]
pub struct KeyArgs {
    /// The group key, as text.
    #[arg(long, env = "PACOM_STEGO_KEY", hide_env_values = true)]
    key: String,
    /// Payload rate in thousandths of a bit per sample (default: the production rate).
    #[arg(long)]
    rate: Option<u16>,
}

impl KeyArgs {
    fn carrier(&self) -> Result<PcmCarrier> {
        let rate = match self.rate {
            None => PayloadRate::DEFAULT,
            Some(0) => bail!("--rate must be at least 1 (thousandths of a bit per sample)"),
            Some(r) if r > 500 => {
                bail!("--rate {r} is above the carrier's limit of 500 (half a bit per sample)")
            }
            Some(r) => PayloadRate::per_mille(r),
        };
        Ok(PcmCarrier::new(seed_from_text(&self.key), rate))
    }
}

fn read_wav(path: &PathBuf) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() < 44 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        bail!("{} is not a RIFF/WAVE file", path.display());
    }
    Ok(bytes)
}

pub fn run(cmd: StegoCmd) -> Result<()> {
    match cmd {
        StegoCmd::Cover { seed, size, out } => {
            if size < 44 {
                bail!("--size {size} is smaller than a WAV header (44 bytes)");
            }
            let (name, bytes) = cover_bytes(&seed_from_text(&seed), size);
            std::fs::write(&out, &bytes)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!("{}: {} bytes ({name})", out.display(), bytes.len());
        }
        StegoCmd::Embed {
            key,
            input,
            out,
            payload_seed,
        } => {
            let carrier = key.carrier()?;
            let wav = read_wav(&input)?;
            let (stego, r) = embed_file(&carrier, &wav, payload_seed);
            std::fs::write(&out, stego)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!(
                "blocks {} embedded {} bytes_hidden {} changes {} changes_per_bit {:.4} rate {:.3} bits/sample",
                r.blocks,
                r.blocks_embedded,
                r.bytes_hidden,
                r.changes,
                r.changes as f64 / r.message_bits.max(1) as f64,
                carrier.rate().bits_per_sample()
            );
        }
        StegoCmd::Extract { key, input } => {
            let carrier = key.carrier()?;
            let wav = read_wav(&input)?;
            let (_, r) = extract_file(&carrier, &wav);
            for (i, b) in r.per_block.iter().enumerate() {
                match b {
                    Ok(n) => println!("block {i}\t{n} bytes"),
                    Err(e) => println!("block {i}\t{e}"),
                }
            }
            println!("bytes_recovered {}", r.bytes_recovered);
        }
    }
    Ok(())
}
