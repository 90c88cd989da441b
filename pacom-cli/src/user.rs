//! The user-facing commands around a node: `init`, `id`, `contacts`,
//! `send`, `inbox`, `chat`, `status`.

use std::io::{BufRead, IsTerminal, Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::{Config, ModeName, Overrides};
use crate::contacts::Contacts;
use crate::control::{Client, Request, Response};
use crate::datadir::{restrict, write_secret, DataDir};
use crate::inbox::{read_all, Record};

#[derive(Subcommand)]
pub enum ContactsCmd {
    /// Remember CONTACT (a pacom1: string) as NAME.
    Add { name: String, contact: String },
    /// List known contacts.
    List,
    /// Forget NAME.
    Remove { name: String },
}

pub fn init(dd: &DataDir, overrides: &Overrides) -> Result<()> {
    if dd.identity().exists() {
        bail!(
            "{} is already initialised (identity {} exists)",
            dd.root.display(),
            dd.identity().display()
        );
    }
    std::fs::create_dir_all(&dd.root)
        .with_context(|| format!("cannot create {}", dd.root.display()))?;
    std::fs::set_permissions(&dd.root, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot set permissions of {}", dd.root.display()))?;
    let mode = overrides.mode.unwrap_or(ModeName::Public);
    let group_key_file = match (mode, &overrides.group_key_file) {
        (ModeName::Private, Some(f)) => {
            DataDir::read_group_key(f)?;
            Some(std::fs::canonicalize(f).with_context(|| format!("{}", f.display()))?)
        }
        (ModeName::Private, None) => {
            let mut key = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
            write_secret(
                &dd.group_key(),
                format!("{}\n", hex::encode(key)).as_bytes(),
            )?;
            eprintln!(
                "generated a new group key in {}: share it with your group out of band",
                dd.group_key().display()
            );
            Some(dd.group_key())
        }
        (ModeName::Public, _) => None,
    };
    let mut cfg = Config::new("0.0.0.0:6881".parse()?, mode, group_key_file);
    let mut o = overrides.clone();
    o.group_key_file = None;
    cfg.apply(&o)?;
    let id = dd.create_identity()?;
    std::fs::write(dd.config(), cfg.render()?)
        .with_context(|| format!("cannot write {}", dd.config().display()))?;
    restrict(&dd.config())?;
    println!("{}", id.contact().to_contact_string());
    eprintln!(
        "initialised {} (fingerprint {}); share the contact string above",
        dd.root.display(),
        id.fingerprint()
    );
    Ok(())
}

pub fn id(dd: &DataDir) -> Result<()> {
    let id = dd.load_identity()?;
    println!("{}", id.contact().to_contact_string());
    println!("fingerprint {}", id.fingerprint());
    Ok(())
}

pub fn contacts(dd: &DataDir, cmd: ContactsCmd) -> Result<()> {
    let mut c = Contacts::load(dd.contacts())?;
    match cmd {
        ContactsCmd::Add { name, contact } => {
            let k = c.add(&name, &contact)?;
            println!("added {name} ({})", k.fingerprint());
        }
        ContactsCmd::List => {
            for (name, k) in c.list() {
                match k {
                    Ok(k) => println!("{name}\t{}\t{}", k.fingerprint(), k.to_contact_string()),
                    Err(e) => println!("{name}\t(invalid: {e})"),
                }
            }
        }
        ContactsCmd::Remove { name } => {
            c.remove(&name)?;
            println!("removed {name}");
        }
    }
    Ok(())
}

pub fn send(
    dd: &DataDir,
    name: &str,
    message: Option<String>,
    file: Option<PathBuf>,
    no_wait: bool,
) -> Result<()> {
    let contact = Contacts::load(dd.contacts())?.get(name)?;
    let file = match file {
        Some(p) => {
            let abs = std::fs::canonicalize(&p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            std::fs::File::open(&abs)
                .and_then(|mut f| f.read(&mut [0u8; 1]))
                .with_context(|| format!("cannot read {}", p.display()))?;
            if !abs.is_file() {
                bail!("{} is not a regular file", p.display());
            }
            Some(abs)
        }
        None => None,
    };
    if message.is_none() == file.is_none() {
        bail!("give exactly one of --message or --file");
    }
    let is_file = file.is_some();
    let mut client = Client::connect(&dd.socket())?;
    client.request(&Request::Send {
        to: contact.to_contact_string(),
        text: message,
        file,
        wait: !no_wait,
    })?;
    let mut bar: Option<ProgressBar> = None;
    while let Some(r) = client.next()? {
        match r {
            Response::Queued { bytes } => {
                if no_wait {
                    println!("queued for {name}");
                    return Ok(());
                }
                if is_file {
                    let b = ProgressBar::new(bytes);
                    if !std::io::stderr().is_terminal() {
                        b.set_draw_target(indicatif::ProgressDrawTarget::hidden());
                    }
                    b.set_style(
                        ProgressStyle::with_template(
                            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar = Some(b);
                }
            }
            Response::Progress { done, .. } => {
                if let Some(b) = &bar {
                    b.set_position(done);
                }
            }
            Response::Delivered => {
                if let Some(b) = &bar {
                    b.finish_and_clear();
                }
                println!("delivered to {name}");
                return Ok(());
            }
            Response::Failed { reason } => bail!("not delivered to {name}: {reason}"),
            Response::Kept { reason } => bail!("not delivered to {name} yet: {reason}"),
            Response::Error { message } => bail!("{message}"),
            Response::Status { .. }
            | Response::Message { .. }
            | Response::StreamOpen
            | Response::StreamRefused { .. } => {}
        }
    }
    bail!("the node closed the connection before delivery")
}

pub fn status(dd: &DataDir, json: bool) -> Result<()> {
    dd.require_init()?;
    let mut client = Client::connect(&dd.socket())?;
    client.request(&Request::Status)?;
    match client.next()? {
        Some(Response::Status { status }) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", crate::status::render(&status));
            }
            Ok(())
        }
        Some(Response::Error { message }) => bail!("{message}"),
        _ => bail!("the node sent no status"),
    }
}

fn print_record(r: &Record, json: bool) {
    if json {
        println!("{}", serde_json::to_string(r).unwrap_or_default());
    } else {
        println!("{}", r.one_line());
    }
}

pub fn inbox(dd: &DataDir, follow: bool, json: bool) -> Result<()> {
    dd.require_init()?;
    let path = dd.inbox_log();
    for r in read_all(&path)? {
        print_record(&r, json);
    }
    if !follow {
        return Ok(());
    }
    let mut offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let mut partial = String::new();
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let Ok(mut f) = std::fs::File::open(&path) else {
            continue;
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len <= offset {
            continue;
        }
        f.seek(SeekFrom::Start(offset))?;
        let mut buf = String::new();
        f.take(len - offset).read_to_string(&mut buf)?;
        offset = len;
        partial.push_str(&buf);
        while let Some(i) = partial.find('\n') {
            let line: String = partial.drain(..=i).collect();
            if let Ok(r) = serde_json::from_str::<Record>(&line) {
                print_record(&r, json);
            }
        }
    }
}

pub fn chat(dd: &DataDir, name: &str) -> Result<()> {
    let contact = Contacts::load(dd.contacts())?.get(name)?;
    let fp = contact.fingerprint().to_string();
    let mut sub = Client::connect(&dd.socket())?;
    sub.request(&Request::Subscribe)?;
    let peer = name.to_string();
    std::thread::spawn(move || {
        while let Ok(Some(r)) = sub.next() {
            if let Response::Message { record } = r {
                if record.from_fingerprint == fp && record.verified {
                    match &record.text {
                        Some(t) => println!("{peer}> {t}"),
                        None => println!("{}", record.one_line()),
                    }
                }
            }
        }
        eprintln!("(the node stopped)");
        std::process::exit(1);
    });
    eprintln!("chatting with {name}; type lines, end with Ctrl-D");
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let mut c = Client::connect(&dd.socket())?;
        c.request(&Request::Send {
            to: contact.to_contact_string(),
            text: Some(line),
            file: None,
            wait: true,
        })?;
        loop {
            match c.next()? {
                Some(Response::Delivered) => break,
                Some(Response::Failed { reason }) | Some(Response::Kept { reason }) => {
                    eprintln!("(not delivered: {reason})");
                    break;
                }
                Some(Response::Error { message }) => {
                    eprintln!("(error: {message})");
                    break;
                }
                Some(_) => {}
                None => bail!("the node closed the connection"),
            }
        }
    }
    Ok(())
}
