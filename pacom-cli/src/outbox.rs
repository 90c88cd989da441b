//! The outbox: every message handed to the daemon is written here before it
//! is sent and removed once delivered or failed, so a node stopped (or
//! killed) meanwhile sends it again after restart. The recipient drops the
//! copies it already has by envelope id.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use pacom_core::identity::Contact;

const MAGIC: &[u8] = b"PACOM-OUTBOX-1\n";

/// One queued message: its session messages in order.
pub struct Entry {
    pub path: PathBuf,
    pub to: Contact,
    pub packets: Vec<Vec<u8>>,
}

/// Persists an entry (atomically) and returns it.
pub fn store(dir: &Path, to: &Contact, packets: Vec<Vec<u8>>, id: &[u8; 16]) -> Result<Entry> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut buf = Vec::with_capacity(packets.iter().map(|p| p.len() + 4).sum::<usize>() + 1024);
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(to.to_contact_string().as_bytes());
    buf.push(b'\n');
    for p in &packets {
        buf.extend_from_slice(&(p.len() as u32).to_be_bytes());
        buf.extend_from_slice(p);
    }
    let path = dir.join(format!("{}.msg", hex::encode(id)));
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &buf).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Entry {
        path,
        to: to.clone(),
        packets,
    })
}

fn parse(path: &Path) -> Result<Entry> {
    let bytes = std::fs::read(path)?;
    let rest = bytes.strip_prefix(MAGIC).context("not an outbox entry")?;
    let nl = rest
        .iter()
        .position(|b| *b == b'\n')
        .context("truncated entry")?;
    let to = std::str::from_utf8(&rest[..nl]).context("bad contact")?;
    let to = Contact::parse(to).map_err(|e| anyhow::anyhow!("bad contact: {e}"))?;
    let mut r = &rest[nl + 1..];
    let mut packets = Vec::new();
    while !r.is_empty() {
        if r.len() < 4 {
            bail!("truncated entry");
        }
        let n = u32::from_be_bytes([r[0], r[1], r[2], r[3]]) as usize;
        if r.len() < 4 + n {
            bail!("truncated entry");
        }
        packets.push(r[4..4 + n].to_vec());
        r = &r[4 + n..];
    }
    Ok(Entry {
        path: path.to_path_buf(),
        to,
        packets,
    })
}

/// Every readable entry; unreadable ones are reported and set aside.
pub fn load_all(dir: &Path) -> Vec<Entry> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "msg") {
            match parse(&p) {
                Ok(en) => out.push(en),
                Err(err) => {
                    tracing::warn!(path = %p.display(), error = %err, "unreadable outbox entry set aside");
                    let _ = std::fs::rename(&p, p.with_extension("bad"));
                }
            }
        }
    }
    out
}

pub fn remove(entry: &Entry) {
    if let Err(e) = std::fs::remove_file(&entry.path) {
        tracing::warn!(error = %e, "cannot remove delivered outbox entry");
    }
}
