//! Magnet links (BEP 9): how a user hands over a torrent without its metainfo.
//!
//! Only v1 (`urn:btih:`) hashes are understood, in hex (40 digits) or base32
//! (32 characters). Parsing is lenient where other clients are (unknown keys,
//! unusable `x.pe` peers are skipped) and strict about the hash.

use std::net::SocketAddr;

use thiserror::Error;

use crate::metainfo::InfoHash;

/// Longest magnet URI we parse; real ones are a few hundred bytes.
const MAX_URI_LEN: usize = 64 * 1024;

/// Why a magnet link was rejected.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MagnetError {
    #[error("not a magnet URI: {0}")]
    NotMagnet(String),
    #[error("magnet URI longer than {MAX_URI_LEN} bytes")]
    TooLong,
    #[error("magnet has no `xt=urn:btih:` info hash")]
    MissingInfoHash,
    #[error("magnet has only a v2 (btmh) hash, which is not supported")]
    OnlyV2,
    #[error("bad btih value {0:?}: expected 40 hex or 32 base32 characters")]
    BadInfoHash(String),
}

/// A parsed magnet link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Magnet {
    pub info_hash: InfoHash,
    /// `dn`: a name to show until the metadata arrives.
    pub display_name: Option<String>,
    /// `tr`, in order.
    pub trackers: Vec<String>,
    /// `x.pe`: peers to try directly.
    pub peers: Vec<SocketAddr>,
}

impl Magnet {
    /// Parses `magnet:?xt=urn:btih:...&dn=...&tr=...&x.pe=...`.
    pub fn parse(uri: &str) -> Result<Self, MagnetError> {
        if uri.len() > MAX_URI_LEN {
            return Err(MagnetError::TooLong);
        }
        let url = url::Url::parse(uri).map_err(|e| MagnetError::NotMagnet(e.to_string()))?;
        if url.scheme() != "magnet" {
            return Err(MagnetError::NotMagnet(format!("scheme {:?}", url.scheme())));
        }
        let mut info_hash = None;
        let mut saw_v2 = false;
        let mut display_name = None;
        let mut trackers = Vec::new();
        let mut peers = Vec::new();
        for (key, value) in url.query_pairs() {
            // `xt.1`, `tr.2`... number repeated keys; treat them like the bare key.
            let base = key.split('.').next().unwrap_or("");
            let base = if key == "x.pe" { "x.pe" } else { base };
            match base {
                "xt" => {
                    let lower = value.to_ascii_lowercase();
                    if let Some(h) = lower.strip_prefix("urn:btih:") {
                        if info_hash.is_none() {
                            info_hash = Some(parse_btih(&value[value.len() - h.len()..])?);
                        }
                    } else if lower.starts_with("urn:btmh:") {
                        saw_v2 = true;
                    }
                }
                "dn" => display_name = Some(value.into_owned()),
                "tr" if !trackers.iter().any(|t| *t == value) => {
                    trackers.push(value.into_owned());
                }
                "x.pe" => peers.extend(value.parse::<SocketAddr>().ok()),
                _ => {}
            }
        }
        let info_hash = match info_hash {
            Some(h) => h,
            None if saw_v2 => return Err(MagnetError::OnlyV2),
            None => return Err(MagnetError::MissingInfoHash),
        };
        Ok(Self {
            info_hash,
            display_name,
            trackers,
            peers,
        })
    }

    /// Formats the link with a hex hash and percent-encoded values.
    pub fn to_uri(&self) -> String {
        let mut s = format!("magnet:?xt=urn:btih:{}", self.info_hash.to_hex());
        if let Some(dn) = &self.display_name {
            s.push_str("&dn=");
            s.push_str(&percent_encode(dn));
        }
        for t in &self.trackers {
            s.push_str("&tr=");
            s.push_str(&percent_encode(t));
        }
        for p in &self.peers {
            s.push_str("&x.pe=");
            s.push_str(&percent_encode(&p.to_string()));
        }
        s
    }
}

impl std::str::FromStr for Magnet {
    type Err = MagnetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl std::fmt::Display for Magnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_uri())
    }
}

fn parse_btih(v: &str) -> Result<InfoHash, MagnetError> {
    let bad = || MagnetError::BadInfoHash(v.chars().take(64).collect());
    match v.len() {
        40 => InfoHash::from_hex(v).map_err(|_| bad()),
        32 => base32_decode(v).map(InfoHash).ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// RFC 4648 base32 (either case, no padding) of exactly 20 bytes.
fn base32_decode(s: &str) -> Option<[u8; 20]> {
    let mut out = [0u8; 20];
    let mut acc: u64 = 0;
    let mut bits = 0u32;
    let mut n = 0usize;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            *out.get_mut(n)? = (acc >> bits) as u8;
            n += 1;
            acc &= (1 << bits) - 1;
        }
    }
    (n == 20 && bits == 0).then_some(out)
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

    #[test]
    fn parses_hex_with_name_trackers_and_peers() {
        let m = Magnet::parse(&format!(
            "magnet:?xt=urn:btih:{}&dn=My%20File+name&tr=udp%3A%2F%2Ft.example%3A80%2Fannounce\
             &tr=http://b.example/a&x.pe=10.0.0.1:6881&x.pe=[::1]:7000&x.pe=host:1",
            HEX.to_uppercase()
        ))
        .unwrap();
        assert_eq!(m.info_hash.to_hex(), HEX);
        assert_eq!(m.display_name.as_deref(), Some("My File name"));
        assert_eq!(
            m.trackers,
            vec!["udp://t.example:80/announce", "http://b.example/a"]
        );
        assert_eq!(
            m.peers,
            vec![
                "10.0.0.1:6881".parse().unwrap(),
                "[::1]:7000".parse().unwrap()
            ]
        );
        assert_eq!(Magnet::parse(&m.to_uri()).unwrap(), m);
    }

    #[test]
    fn parses_base32() {
        // 20 bytes 0x00..0x13 in base32.
        let bytes: Vec<u8> = (0u8..20).collect();
        let b32 = "AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQT";
        let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{b32}")).unwrap();
        assert_eq!(&m.info_hash.0[..], &bytes[..]);
        let m2 = Magnet::parse(&format!("magnet:?xt=urn:btih:{}", b32.to_lowercase())).unwrap();
        assert_eq!(m2.info_hash, m.info_hash);
    }

    #[test]
    fn rejects_bad_magnets() {
        assert!(matches!(
            Magnet::parse("http://x/?xt=urn:btih:".to_owned().as_str()),
            Err(MagnetError::NotMagnet(_))
        ));
        assert!(matches!(
            Magnet::parse("not a uri"),
            Err(MagnetError::NotMagnet(_))
        ));
        assert_eq!(
            Magnet::parse("magnet:?dn=x"),
            Err(MagnetError::MissingInfoHash)
        );
        assert!(matches!(
            Magnet::parse("magnet:?xt=urn:btih:1234"),
            Err(MagnetError::BadInfoHash(_))
        ));
        assert!(matches!(
            Magnet::parse(&format!("magnet:?xt=urn:btih:{}", "g".repeat(40))),
            Err(MagnetError::BadInfoHash(_))
        ));
        assert!(matches!(
            Magnet::parse(&format!("magnet:?xt=urn:btih:{}", "1".repeat(32))),
            Err(MagnetError::BadInfoHash(_))
        ));
        assert_eq!(
            Magnet::parse("magnet:?xt=urn:btmh:1220abcd"),
            Err(MagnetError::OnlyV2)
        );
        assert_eq!(
            Magnet::parse(&"a".repeat(MAX_URI_LEN + 1)),
            Err(MagnetError::TooLong)
        );
    }

    #[test]
    fn to_uri_escapes_values() {
        let m = Magnet {
            info_hash: InfoHash::from_hex(HEX).unwrap(),
            display_name: Some("a&b=c d".into()),
            trackers: vec!["http://t/a?x=1&y=2".into()],
            peers: vec!["127.0.0.1:1".parse().unwrap()],
        };
        let uri = m.to_uri();
        assert!(uri.contains("dn=a%26b%3Dc%20d"), "{uri}");
        assert_eq!(Magnet::parse(&uri).unwrap(), m);
    }

    #[test]
    fn parse_survives_random_input() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let good = format!("magnet:?xt=urn:btih:{HEX}&dn=a%20b&tr=http%3A%2F%2Fx&x.pe=1.2.3.4:5");
        let alphabet = b"magnet:?=&%xt.urnbtihAZ27[]:/0123456789abcdef+ \xff";
        for _ in 0..5000 {
            let mut s: Vec<u8> = good.clone().into_bytes();
            for _ in 0..rng.gen_range(1..5) {
                let i = rng.gen_range(0..s.len());
                let c = alphabet[rng.gen_range(0..alphabet.len())];
                match rng.gen_range(0..3) {
                    0 => s[i] = c,
                    1 => s.truncate(i.max(1)),
                    _ => s.insert(i, c),
                }
            }
            let s = String::from_utf8_lossy(&s);
            if let Ok(m) = Magnet::parse(&s) {
                // Whatever parses must survive its own round trip.
                assert_eq!(Magnet::parse(&m.to_uri()).as_ref(), Ok(&m), "{s}");
            }
        }
    }
}
