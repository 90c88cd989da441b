//! The address book: names for contact strings, in `contacts.toml`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use pacom_core::identity::{Contact, Fingerprint};

/// Name → contact.
pub struct Contacts {
    path: PathBuf,
    entries: BTreeMap<String, String>,
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !ok {
        bail!("contact name {name:?} must be 1-64 letters, digits, '-', '_' or '.'");
    }
    Ok(())
}

impl Contacts {
    pub fn load(path: PathBuf) -> Result<Contacts> {
        let entries = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| {
                anyhow::anyhow!(
                    "corrupt contacts file {}: {}",
                    path.display(),
                    e.message().replace('\n', " ")
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        Ok(Contacts { path, entries })
    }

    fn save(&self) -> Result<()> {
        let text = toml::to_string(&self.entries)?;
        let tmp = self.path.with_extension("toml.tmp");
        std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    pub fn add(&mut self, name: &str, contact: &str) -> Result<Contact> {
        check_name(name)?;
        let c = Contact::parse(contact).map_err(|e| anyhow::anyhow!("malformed contact: {e}"))?;
        if let Some(old) = self.entries.get(name) {
            if old.trim() != c.to_contact_string() {
                bail!("contact {name:?} already exists with another key (remove it first)");
            }
        }
        self.entries.insert(name.to_string(), c.to_contact_string());
        self.save()?;
        Ok(c)
    }

    pub fn remove(&mut self, name: &str) -> Result<()> {
        if self.entries.remove(name).is_none() {
            bail!("unknown contact {name:?}");
        }
        self.save()
    }

    /// Every valid entry, sorted by name.
    pub fn list(&self) -> Vec<(String, Result<Contact>)> {
        self.entries
            .iter()
            .map(|(n, s)| {
                let c = Contact::parse(s).map_err(|e| anyhow::anyhow!("malformed contact: {e}"));
                (n.clone(), c)
            })
            .collect()
    }

    pub fn get(&self, name: &str) -> Result<Contact> {
        let s = self
            .entries
            .get(name)
            .with_context(|| format!("unknown contact {name:?} (see `pacom contacts list`)"))?;
        Contact::parse(s).map_err(|e| anyhow::anyhow!("contact {name:?} is malformed: {e}"))
    }

    /// The name under which `fp` is known.
    pub fn name_of(&self, fp: Fingerprint) -> Option<String> {
        self.list()
            .into_iter()
            .find(|(_, c)| c.as_ref().is_ok_and(|c| c.fingerprint() == fp))
            .map(|(n, _)| n)
    }
}
