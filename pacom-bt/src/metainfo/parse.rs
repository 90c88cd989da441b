//! Decoding torrents and info dicts with `bendy`'s streaming decoder.
//!
//! `bendy` validates structure (and rejects unsorted or duplicate keys, as
//! canonical bencode requires); this module maps the keys BEP 3/12/27 define
//! onto [`Info`] and [`Metainfo`] and checks their values.

use std::collections::HashSet;

use bendy::decoding::{Decoder, DictDecoder, Error as BendyError, ListDecoder, Object};

use super::{
    check_path, FileEntry, Info, InfoHash, Metainfo, MetainfoError, MAX_BENCODE_DEPTH,
    MAX_PIECE_LENGTH,
};

fn bencode_err(context: &'static str) -> impl Fn(BendyError) -> MetainfoError {
    move |e| MetainfoError::Bencode {
        context,
        message: e.to_string(),
    }
}

fn decoder(data: &[u8]) -> Decoder<'_> {
    Decoder::new(data).with_max_depth(MAX_BENCODE_DEPTH)
}

fn top_dict<'o, 's>(
    dec: &'o mut Decoder<'s>,
    context: &'static str,
) -> Result<DictDecoder<'o, 's>, MetainfoError> {
    match dec.next_object().map_err(bencode_err(context))? {
        Some(Object::Dict(d)) => Ok(d),
        Some(_) => Err(MetainfoError::NotADict { context }),
        None => Err(MetainfoError::Bencode {
            context,
            message: "empty input".into(),
        }),
    }
}

fn int(v: Object<'_, '_>, key: &'static str) -> Result<i64, MetainfoError> {
    match v {
        Object::Integer(s) => s.parse().map_err(|_| MetainfoError::InvalidValue {
            key,
            reason: format!("integer {s} out of range"),
        }),
        _ => Err(MetainfoError::WrongType {
            key,
            expected: "integer",
        }),
    }
}

fn bytes<'s>(v: Object<'_, 's>, key: &'static str) -> Result<&'s [u8], MetainfoError> {
    match v {
        Object::Bytes(b) => Ok(b),
        _ => Err(MetainfoError::WrongType {
            key,
            expected: "byte string",
        }),
    }
}

fn utf8(v: Object<'_, '_>, key: &'static str) -> Result<String, MetainfoError> {
    let b = bytes(v, key)?;
    String::from_utf8(b.to_vec()).map_err(|_| MetainfoError::InvalidValue {
        key,
        reason: "not UTF-8".into(),
    })
}

fn list<'o, 's>(
    v: Object<'o, 's>,
    key: &'static str,
) -> Result<ListDecoder<'o, 's>, MetainfoError> {
    match v {
        Object::List(l) => Ok(l),
        _ => Err(MetainfoError::WrongType {
            key,
            expected: "list",
        }),
    }
}

/// Parses a whole `.torrent` file.
pub(super) fn torrent(data: &[u8]) -> Result<Metainfo, MetainfoError> {
    const CTX: &str = "torrent";
    let mut dec = decoder(data);
    let mut dict = top_dict(&mut dec, CTX)?;
    let mut info_raw: Option<&[u8]> = None;
    let mut announce = None;
    let mut announce_list = Vec::new();
    let mut comment = None;
    let mut created_by = None;
    let mut creation_date = None;
    while let Some((key, value)) = dict.next_pair().map_err(bencode_err(CTX))? {
        match key {
            b"info" => match value {
                Object::Dict(d) => info_raw = Some(d.into_raw().map_err(bencode_err("info"))?),
                _ => return Err(MetainfoError::NotADict { context: "info" }),
            },
            // Outer keys are advisory: a malformed one is dropped, not fatal,
            // as other clients do.
            b"announce" => announce = utf8(value, "announce").ok(),
            b"announce-list" => announce_list = tiers(value)?,
            b"comment" => comment = bytes(value, "comment").ok().map(lossy),
            b"created by" => created_by = bytes(value, "created by").ok().map(lossy),
            b"creation date" => creation_date = int(value, "creation date").ok(),
            _ => {}
        }
    }
    drop(dict);
    let info_bytes = info_raw.ok_or(MetainfoError::MissingKey {
        context: CTX,
        key: "info",
    })?;
    let info = info_dict(info_bytes)?;
    Ok(Metainfo {
        info,
        info_hash: InfoHash::of(info_bytes),
        info_bytes: info_bytes.to_vec(),
        announce,
        announce_list,
        comment,
        created_by,
        creation_date,
    })
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// BEP 12 tiers; entries that are not UTF-8 strings are skipped.
fn tiers(value: Object<'_, '_>) -> Result<Vec<Vec<String>>, MetainfoError> {
    const KEY: &str = "announce-list";
    let mut out = Vec::new();
    let Ok(mut outer) = list(value, KEY) else {
        return Ok(out);
    };
    while let Some(tier) = outer.next_object().map_err(bencode_err(KEY))? {
        let Object::List(mut tier) = tier else {
            continue;
        };
        let mut urls = Vec::new();
        while let Some(url) = tier.next_object().map_err(bencode_err(KEY))? {
            if let Ok(u) = utf8(url, KEY) {
                urls.push(u);
            }
        }
        if !urls.is_empty() {
            out.push(urls);
        }
    }
    Ok(out)
}

/// Parses a bencoded info dict, which must be the whole of `raw`.
pub(super) fn info_dict(raw: &[u8]) -> Result<Info, MetainfoError> {
    const CTX: &str = "info";
    let mut dec = decoder(raw);
    let mut dict = top_dict(&mut dec, CTX)?;
    let mut name = None;
    let mut name_utf8 = None;
    let mut piece_length = None;
    let mut pieces = None;
    let mut length = None;
    let mut files = None;
    let mut private = false;
    while let Some((key, value)) = dict.next_pair().map_err(bencode_err(CTX))? {
        match key {
            b"name" => name = Some(utf8(value, "name")?),
            b"name.utf-8" => name_utf8 = utf8(value, "name.utf-8").ok(),
            b"piece length" => piece_length = Some(int(value, "piece length")?),
            b"pieces" => pieces = Some(bytes(value, "pieces")?),
            b"length" => length = Some(int(value, "length")?),
            b"files" => files = Some(file_list(value)?),
            b"private" => private = int(value, "private")? == 1,
            _ => {}
        }
    }
    drop(dict);
    if dec.next_object().map_err(bencode_err(CTX))?.is_some() {
        return Err(MetainfoError::Bencode {
            context: CTX,
            message: "trailing data after the info dict".into(),
        });
    }

    let name = name_utf8.or(name).ok_or(MetainfoError::MissingKey {
        context: CTX,
        key: "name",
    })?;
    check_path(std::slice::from_ref(&name))?;
    let piece_length = piece_length.ok_or(MetainfoError::MissingKey {
        context: CTX,
        key: "piece length",
    })?;
    if piece_length <= 0 || piece_length > i64::from(MAX_PIECE_LENGTH) {
        return Err(MetainfoError::InvalidValue {
            key: "piece length",
            reason: format!("{piece_length} is outside 1..={MAX_PIECE_LENGTH}"),
        });
    }
    let piece_length = piece_length as u32;
    let pieces = pieces.ok_or(MetainfoError::MissingKey {
        context: CTX,
        key: "pieces",
    })?;
    if pieces.len() % 20 != 0 {
        return Err(MetainfoError::PiecesLength { len: pieces.len() });
    }

    let (multi_file, files) = match (length, files) {
        (Some(_), Some(_)) => {
            return Err(MetainfoError::InvalidValue {
                key: "files",
                reason: "both `length` and `files` present".into(),
            })
        }
        (None, None) => {
            return Err(MetainfoError::MissingKey {
                context: CTX,
                key: "length or files",
            })
        }
        (Some(len), None) => {
            let length = u64::try_from(len).map_err(|_| MetainfoError::InvalidValue {
                key: "length",
                reason: format!("negative length {len}"),
            })?;
            (
                false,
                vec![FileEntry {
                    path: vec![name.clone()],
                    length,
                    offset: 0,
                    pad: false,
                }],
            )
        }
        (None, Some(list)) => (true, place_files(&name, list)?),
    };
    let total_length = files.last().map_or(0, |f| f.offset + f.length);
    if total_length == 0 {
        return Err(MetainfoError::InvalidValue {
            key: "length",
            reason: "torrent holds no data".into(),
        });
    }
    let expected = total_length.div_ceil(u64::from(piece_length));
    if expected != (pieces.len() / 20) as u64 || expected > u64::from(u32::MAX) {
        return Err(MetainfoError::PieceCount {
            expected,
            found: pieces.len() / 20,
            total_length,
            piece_length,
        });
    }
    let pieces = pieces
        .chunks_exact(20)
        .map(|c| {
            let mut h = [0u8; 20];
            h.copy_from_slice(c);
            h
        })
        .collect();
    Ok(Info {
        name,
        piece_length,
        pieces,
        files,
        private,
        multi_file,
    })
}

/// A file as listed in `files`, before placement.
struct RawFile {
    path: Vec<String>,
    length: u64,
    pad: bool,
}

fn file_list(value: Object<'_, '_>) -> Result<Vec<RawFile>, MetainfoError> {
    const KEY: &str = "files";
    let mut l = list(value, KEY)?;
    let mut out = Vec::new();
    while let Some(item) = l.next_object().map_err(bencode_err(KEY))? {
        let Object::Dict(mut d) = item else {
            return Err(MetainfoError::NotADict {
                context: "files entry",
            });
        };
        let mut length = None;
        let mut path = None;
        let mut path_utf8 = None;
        let mut pad = false;
        while let Some((k, v)) = d.next_pair().map_err(bencode_err(KEY))? {
            match k {
                b"length" => length = Some(int(v, "files.length")?),
                b"path" => path = Some(path_list(v, "files.path")?),
                b"path.utf-8" => path_utf8 = path_list(v, "files.path.utf-8").ok(),
                b"attr" => pad = bytes(v, "files.attr").is_ok_and(|a| a.contains(&b'p')),
                _ => {}
            }
        }
        let length = length.ok_or(MetainfoError::MissingKey {
            context: "files entry",
            key: "length",
        })?;
        let length = u64::try_from(length).map_err(|_| MetainfoError::InvalidValue {
            key: "files.length",
            reason: format!("negative length {length}"),
        })?;
        let path = path_utf8.or(path).ok_or(MetainfoError::MissingKey {
            context: "files entry",
            key: "path",
        })?;
        out.push(RawFile { path, length, pad });
    }
    if out.is_empty() {
        return Err(MetainfoError::InvalidValue {
            key: "files",
            reason: "empty file list".into(),
        });
    }
    Ok(out)
}

fn path_list(value: Object<'_, '_>, key: &'static str) -> Result<Vec<String>, MetainfoError> {
    let mut l = list(value, key)?;
    let mut out = Vec::new();
    while let Some(c) = l.next_object().map_err(bencode_err(key))? {
        out.push(utf8(c, key)?);
    }
    Ok(out)
}

/// Prefixes each path with the torrent name, checks it, and assigns offsets.
fn place_files(name: &str, raw: Vec<RawFile>) -> Result<Vec<FileEntry>, MetainfoError> {
    let mut seen = HashSet::new();
    let mut offset = 0u64;
    let mut out = Vec::with_capacity(raw.len());
    for f in raw {
        let mut path = Vec::with_capacity(f.path.len() + 1);
        path.push(name.to_owned());
        path.extend(f.path);
        if path.len() < 2 {
            return Err(MetainfoError::BadPath {
                path: name.to_owned(),
                reason: "file entry with an empty path",
            });
        }
        check_path(&path)?;
        if !seen.insert(path.clone()) {
            return Err(MetainfoError::BadPath {
                path: path.join("/"),
                reason: "duplicate file path",
            });
        }
        let entry = FileEntry {
            path,
            length: f.length,
            offset,
            pad: f.pad,
        };
        offset = offset
            .checked_add(f.length)
            .ok_or(MetainfoError::InvalidValue {
                key: "files.length",
                reason: "total length overflows".into(),
            })?;
        out.push(entry);
    }
    Ok(out)
}
