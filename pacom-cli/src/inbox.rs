//! The inbox: received messages checked (signature, recipient, MD5, length)
//! and appended to `inbox/messages.jsonl`; received files saved under
//! `inbox/files/`. The daemon writes it, `pacom inbox` reads it.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use md5::{Digest, Md5};
use pacom_core::envelope::{Body, Chunk, Envelope, Packet, Verdict};
use pacom_core::identity::Fingerprint;
use serde::{Deserialize, Serialize};

use crate::contacts::Contacts;
use crate::datadir::DataDir;

/// One line of the inbox log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// Hex of the envelope id.
    pub id: String,
    pub received_at: u64,
    pub sent_at: u64,
    pub from_fingerprint: String,
    pub from_contact: String,
    /// The sender's name in our contacts, when the signature verified.
    pub from_name: Option<String>,
    pub verified: bool,
    /// "text" or "file".
    pub kind: String,
    pub text: Option<String>,
    pub file: Option<PathBuf>,
    pub size: Option<u64>,
    pub md5: Option<String>,
    /// Whether the received bytes matched the announced MD5 and length.
    pub intact: Option<bool>,
}

impl Record {
    /// Who sent it, as a user should read it.
    pub fn sender_label(&self) -> String {
        let short = &self.from_fingerprint[..self.from_fingerprint.len().min(12)];
        match (&self.from_name, self.verified) {
            (Some(n), true) => n.clone(),
            (None, true) => format!("{short} (not in contacts)"),
            (_, false) => format!("unverified {short}"),
        }
    }

    pub fn one_line(&self) -> String {
        let what = match (self.kind.as_str(), &self.text, &self.file) {
            ("text", Some(t), _) => t.clone(),
            (_, _, Some(p)) => format!(
                "file {} ({} bytes, md5 {}{})",
                p.display(),
                self.size.unwrap_or(0),
                self.md5.as_deref().unwrap_or("?"),
                if self.intact == Some(true) {
                    ", verified"
                } else {
                    ", CORRUPT"
                }
            ),
            _ => "(empty)".into(),
        };
        format!(
            "[{}] {}: {}",
            clock(self.received_at),
            self.sender_label(),
            what
        )
    }
}

fn clock(unix: u64) -> String {
    let d = pacom_core::bootstrap::UtcDate::from_unix_secs(unix as i64);
    let (y, m, dd) = d.ymd();
    let s = unix % 86_400;
    format!(
        "{y:04}-{m:02}-{dd:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

struct Assembly {
    env: Envelope,
    verified: bool,
    name: String,
    length: u64,
    md5: [u8; 16],
    chunks: u32,
    next: u32,
    data: Vec<u8>,
}

/// The daemon's receiving side.
pub struct Inbox {
    dir: DataDir,
    me: Fingerprint,
    seen: HashSet<String>,
    files: HashMap<[u8; 16], Assembly>,
}

impl Inbox {
    pub fn open(dir: DataDir, me: Fingerprint) -> Result<Inbox> {
        std::fs::create_dir_all(dir.inbox_files())
            .with_context(|| format!("cannot create {}", dir.inbox_files().display()))?;
        let seen = read_all(&dir.inbox_log())?
            .into_iter()
            .map(|r| r.id)
            .collect();
        Ok(Inbox {
            dir,
            me,
            seen,
            files: HashMap::new(),
        })
    }

    /// Handles one session message; returns the record it completed.
    pub fn on_message(&mut self, data: &[u8]) -> Option<Record> {
        let packet = match Packet::decode(data) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, len = data.len(), "dropping undecodable message");
                return None;
            }
        };
        let rec = match packet {
            Packet::Envelope(env) => self.on_envelope(*env)?,
            Packet::Chunk(c) => self.on_chunk(c)?,
        };
        if let Err(e) = self.append(&rec) {
            tracing::error!(error = %e, "cannot write the inbox");
        }
        Some(rec)
    }

    fn on_envelope(&mut self, env: Envelope) -> Option<Record> {
        let id = hex::encode(env.id);
        if self.seen.contains(&id) {
            tracing::debug!("duplicate message ignored");
            return None;
        }
        let verified = match env.verify(self.me) {
            Verdict::Valid => true,
            Verdict::BadSignature => false,
            Verdict::NotForUs => {
                tracing::warn!("dropping a message addressed to someone else");
                return None;
            }
        };
        match env.body.clone() {
            Body::Text(t) => {
                let mut r = self.record(&env, verified, "text");
                r.text = Some(t);
                Some(r)
            }
            Body::File {
                name,
                length,
                md5,
                chunks,
            } => {
                let a = Assembly {
                    env,
                    verified,
                    name,
                    length,
                    md5,
                    chunks,
                    next: 0,
                    data: Vec::with_capacity(length.min(64 << 20) as usize),
                };
                let fid = a.env.id;
                self.files.insert(fid, a);
                if chunks == 0 {
                    return self.finish(fid);
                }
                None
            }
        }
    }

    fn on_chunk(&mut self, c: Chunk) -> Option<Record> {
        let a = self.files.get_mut(&c.file_id)?;
        if c.index != a.next || a.data.len() as u64 + c.data.len() as u64 > a.length {
            tracing::warn!(
                index = c.index,
                "file chunk out of order or too long; file dropped"
            );
            self.files.remove(&c.file_id);
            return None;
        }
        a.data.extend_from_slice(&c.data);
        a.next += 1;
        if a.next == a.chunks {
            return self.finish(c.file_id);
        }
        None
    }

    fn finish(&mut self, fid: [u8; 16]) -> Option<Record> {
        let a = self.files.remove(&fid)?;
        let got: [u8; 16] = Md5::digest(&a.data).into();
        let intact = got == a.md5 && a.data.len() as u64 == a.length;
        let mut r = self.record(&a.env, a.verified, "file");
        r.size = Some(a.data.len() as u64);
        r.md5 = Some(hex::encode(got));
        r.intact = Some(intact);
        if intact {
            let path = unique_path(&self.dir.inbox_files(), &a.name);
            match std::fs::write(&path, &a.data) {
                Ok(()) => r.file = Some(path),
                Err(e) => tracing::error!(error = %e, "cannot save received file"),
            }
        } else {
            tracing::warn!("received file failed its MD5/length check; not saved");
        }
        Some(r)
    }

    fn record(&mut self, env: &Envelope, verified: bool, kind: &str) -> Record {
        let id = hex::encode(env.id);
        self.seen.insert(id.clone());
        let from_name = if verified {
            Contacts::load(self.dir.contacts())
                .ok()
                .and_then(|c| c.name_of(env.sender.fingerprint()))
        } else {
            None
        };
        Record {
            id,
            received_at: unix_now(),
            sent_at: env.timestamp,
            from_fingerprint: env.sender.fingerprint().to_string(),
            from_contact: env.sender.to_contact_string(),
            from_name,
            verified,
            kind: kind.into(),
            text: None,
            file: None,
            size: None,
            md5: None,
            intact: None,
        }
    }

    fn append(&self, r: &Record) -> Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.inbox_log())?;
        let mut line = serde_json::to_string(r)?;
        line.push('\n');
        f.write_all(line.as_bytes())?;
        Ok(())
    }
}

fn unique_path(dir: &Path, name: &str) -> PathBuf {
    let base: String = Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_. ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let base = if base.trim_matches('.').is_empty() {
        "file".to_string()
    } else {
        base
    };
    let mut p = dir.join(&base);
    let mut i = 1;
    while p.exists() {
        p = dir.join(format!("{i}-{base}"));
        i += 1;
    }
    p
}

/// Every record of a log (a missing log is empty; bad lines are skipped).
pub fn read_all(path: &Path) -> Result<Vec<Record>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}
