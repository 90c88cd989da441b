//! `pacom`: the command people and tests run.

mod bootstrap_config;
mod config;
mod contacts;
mod control;
mod daemon;
mod datadir;
mod demo;
mod demo_world;
mod dht_node;
mod inbox;
mod lab;
mod outbox;
mod proxy;
mod proxy_config;
mod setup;
mod socks_cmd;
mod status;
mod stego_cmd;
mod stream_pipe;
mod torrent;
mod user;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use config::{ModeName, Overrides};
use datadir::DataDir;

#[derive(Parser)]
#[command(
    name = "pacom",
    version,
    about = "Parasitic anonymous communication inside BitTorrent"
)]
struct Cli {
    /// The node's data directory (default: $XDG_DATA_HOME/pacom).
    #[arg(long, global = true, env = "PACOM_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an identity key pair and a commented config; prints the contact string.
    Init {
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Print our contact string and fingerprint.
    Id,
    /// Manage the address book.
    #[command(subcommand)]
    Contacts(user::ContactsCmd),
    /// Run the node (until SIGINT/SIGTERM).
    Run {
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Send a message or a file to a contact through the running node.
    Send {
        /// Contact name (see `pacom contacts list`).
        name: String,
        #[arg(long, conflicts_with = "file")]
        message: Option<String>,
        #[arg(long)]
        file: Option<PathBuf>,
        /// Return once queued instead of waiting for delivery.
        #[arg(long)]
        no_wait: bool,
    },
    /// Show received messages and files.
    Inbox {
        /// Keep printing new messages as they arrive.
        #[arg(long)]
        follow: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Interactive line chat with a contact.
    Chat { name: String },
    /// A SOCKS5 proxy whose streams leave through exits, over circuits of the running node.
    Socks {
        /// Where SOCKS clients connect.
        #[arg(long, default_value = "127.0.0.1:1080")]
        listen: std::net::SocketAddr,
        /// An exit: contact name or contact string (repeatable; default: the
        /// config's `[socks] exits`).
        #[arg(long = "exit")]
        exits: Vec<String>,
    },
    /// Swarms, neighbours, link rates, circuits and sessions of the running node.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// A local PACOM world in one process: builds a circuit, sends a message and a file.
    Demo {
        #[arg(long, default_value_t = 4)]
        nodes: usize,
        #[arg(long, value_enum, default_value_t = ModeName::Public)]
        mode: ModeName,
    },
    /// A plain mainline DHT node in server mode, for networks without a DHT
    /// (the seed others give as --dht-bootstrap).
    DhtNode {
        /// UDP address to listen on.
        #[arg(long, default_value = "0.0.0.0:6881")]
        listen: std::net::SocketAddr,
        /// Other DHT nodes to join, host:port (repeatable).
        #[arg(long)]
        bootstrap: Vec<String>,
    },
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
    let default_level = match cli.command {
        Command::Run { .. } | Command::Socks { .. } | Command::DhtNode { .. } => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        // No colour codes in files and container logs.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let dd = DataDir::new(cli.data_dir);
    let res = match cli.command {
        Command::Init { overrides } => user::init(&dd, &overrides),
        Command::Id => user::id(&dd),
        Command::Contacts(cmd) => dd.require_init().and_then(|_| user::contacts(&dd, cmd)),
        Command::Run { overrides } => daemon::run(dd, overrides),
        Command::Send {
            name,
            message,
            file,
            no_wait,
        } => dd
            .require_init()
            .and_then(|_| user::send(&dd, &name, message, file, no_wait)),
        Command::Inbox { follow, json } => user::inbox(&dd, follow, json),
        Command::Chat { name } => dd.require_init().and_then(|_| user::chat(&dd, &name)),
        Command::Socks { listen, exits } => dd
            .require_init()
            .and_then(|_| socks_cmd::run(&dd, listen, exits)),
        Command::Status { json } => user::status(&dd, json),
        Command::Demo { nodes, mode } => demo::run(nodes, mode),
        Command::DhtNode { listen, bootstrap } => dht_node::run(listen, &bootstrap),
        Command::Torrent(cmd) => torrent::run(cmd),
        Command::Stego(cmd) => stego_cmd::run(cmd),
        Command::Lab(args) => lab::run(args).map_err(Into::into),
    };
    if let Err(e) = res {
        eprintln!("pacom: error: {e:#}");
        std::process::exit(1);
    }
}
