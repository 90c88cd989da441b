//! `pacom`: the command people and tests run.

mod lab;
mod stego_cmd;
mod torrent;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "pacom",
    version,
    about = "Parasitic anonymous communication inside BitTorrent"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Plain BitTorrent: create, seed and download torrents.
    #[command(subcommand)]
    Torrent(torrent::TorrentCmd),
    /// Private-mode steganography: covers, embedding, extraction.
    #[command(subcommand)]
    Stego(stego_cmd::StegoCmd),
    /// Experiments that measure PACOM's anonymity claims.
    Lab(lab::LabArgs),
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let res = match cli.command {
        Command::Torrent(cmd) => torrent::run(cmd),
        Command::Stego(cmd) => stego_cmd::run(cmd),
        Command::Lab(args) => lab::run(args).map_err(Into::into),
    };
    if let Err(e) = res {
        eprintln!("pacom: error: {e:#}");
        std::process::exit(1);
    }
}
