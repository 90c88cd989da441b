//! Command-line access to the PCM carrier for people and experiments.
//!
//! ```text
//! stegotool cover   --seed S --size BYTES -o cover.wav
//! stegotool embed   --key K --in cover.wav -o out.wav [--rate PER_MILLE]
//! stegotool extract --key K --in out.wav [--rate PER_MILLE]
//! stegotool dataset --dir D [--files N] [--blocks B] [--rates 25,50,100] [--control-rate PER_MILLE]
//! ```
//! Seeds and keys are any text (hashed with SHA-256).

use std::collections::HashMap;
use std::process::ExitCode;

use stego::controls::Naive;
use stego::dataset::{file_variants, Variant};
use stego::tool::{cover_bytes, embed_file, extract_file, seed_from_text};
use stego::{PayloadRate, PcmCarrier};

type Res<T> = Result<T, String>;

fn parse(args: &[String]) -> Res<HashMap<String, String>> {
    let mut m = HashMap::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let name = flag
            .strip_prefix("--")
            .or_else(|| flag.strip_prefix('-'))
            .ok_or_else(|| format!("unexpected argument {flag}"))?;
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        m.insert(
            if name == "o" {
                "out".into()
            } else {
                name.to_string()
            },
            value.clone(),
        );
    }
    Ok(m)
}

fn get<'a>(m: &'a HashMap<String, String>, k: &str) -> Res<&'a str> {
    m.get(k)
        .map(String::as_str)
        .ok_or_else(|| format!("missing --{k}"))
}

fn num<T: std::str::FromStr>(m: &HashMap<String, String>, k: &str, default: T) -> Res<T> {
    m.get(k).map_or(Ok(default), |v| {
        v.parse().map_err(|_| format!("bad --{k} {v}"))
    })
}

fn rate(m: &HashMap<String, String>) -> Res<PayloadRate> {
    let pm = num(m, "rate", PayloadRate::DEFAULT.as_per_mille())?;
    Ok(PayloadRate::per_mille(pm))
}

fn run(cmd: &str, m: &HashMap<String, String>) -> Res<()> {
    match cmd {
        "cover" => {
            let (name, bytes) =
                cover_bytes(&seed_from_text(get(m, "seed")?), num(m, "size", 0u64)?);
            std::fs::write(get(m, "out")?, &bytes).map_err(|e| e.to_string())?;
            println!("{name}\t{} bytes", bytes.len());
        }
        "embed" => {
            let carrier = PcmCarrier::new(seed_from_text(get(m, "key")?), rate(m)?);
            let wav = std::fs::read(get(m, "in")?).map_err(|e| e.to_string())?;
            let (out, r) = embed_file(&carrier, &wav, num(m, "payload-seed", 1u64)?);
            std::fs::write(get(m, "out")?, out).map_err(|e| e.to_string())?;
            println!(
                "blocks {} embedded {} bytes_hidden {} changes {} changes_per_bit {:.4}",
                r.blocks,
                r.blocks_embedded,
                r.bytes_hidden,
                r.changes,
                r.changes as f64 / r.message_bits.max(1) as f64
            );
        }
        "extract" => {
            let carrier = PcmCarrier::new(seed_from_text(get(m, "key")?), rate(m)?);
            let wav = std::fs::read(get(m, "in")?).map_err(|e| e.to_string())?;
            let (_, r) = extract_file(&carrier, &wav);
            for (i, b) in r.per_block.iter().enumerate() {
                match b {
                    Ok(n) => println!("block {i}\t{n} bytes"),
                    Err(e) => println!("block {i}\t{e}"),
                }
            }
            println!("bytes_recovered {}", r.bytes_recovered);
        }
        "dataset" => dataset(m)?,
        _ => return Err(format!("unknown command {cmd}")),
    }
    Ok(())
}

fn dataset(m: &HashMap<String, String>) -> Res<()> {
    let dir = std::path::PathBuf::from(get(m, "dir")?);
    let files: u32 = num(m, "files", 16)?;
    let blocks: usize = num(m, "blocks", 128)?;
    let rates: Vec<u16> = num(m, "rates", String::from("50"))?
        .split(',')
        .map(|r| r.parse().map_err(|_| format!("bad rate {r}")))
        .collect::<Res<_>>()?;
    let control = PayloadRate::per_mille(num(m, "control-rate", rates[0])?);
    let mut variants = vec![Variant::Cover];
    variants.extend(
        rates
            .iter()
            .map(|&r| Variant::Carrier(PayloadRate::per_mille(r))),
    );
    variants.push(Variant::Control(Naive::LsbReplacement, control));
    variants.push(Variant::Control(Naive::PlusMinusOne, control));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut totals: HashMap<String, (usize, usize)> = HashMap::new();
    for f in 0..files {
        for v in file_variants(f, blocks, &variants) {
            let name = v.variant.name();
            std::fs::write(dir.join(format!("{name}_{f:03}.i16")), &v.bytes)
                .map_err(|e| e.to_string())?;
            let t = totals.entry(name).or_default();
            t.0 += v.changes;
            t.1 += v.samples;
        }
    }
    let names: Vec<String> = variants
        .iter()
        .map(|v| format!("\"{}\"", v.name()))
        .collect();
    let manifest = format!(
        "{{\"files\": {files}, \"blocks\": {blocks}, \"samples_per_block\": 8192, \"variants\": [{}]}}\n",
        names.join(", ")
    );
    std::fs::write(dir.join("manifest.json"), manifest).map_err(|e| e.to_string())?;
    for v in &variants {
        let (c, s) = totals[&v.name()];
        println!(
            "{}\tchange rate {:.5}",
            v.name(),
            c as f64 / s.max(1) as f64
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprintln!("usage: stegotool cover|embed|extract|dataset [--flag value]...");
        return ExitCode::from(2);
    };
    match parse(&args[1..]).and_then(|m| run(cmd, &m)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stegotool: {e}");
            ExitCode::FAILURE
        }
    }
}
