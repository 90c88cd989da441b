//! Canonical bencode encoding (BEP 3) for the metainfo we generate.
//!
//! The info hash is the SHA-1 of the info dictionary's exact bytes, so every
//! PACOM member must produce byte-identical output: dictionaries are kept in a
//! `BTreeMap` keyed by raw bytes, which yields the sorted-key order BEP 3
//! requires, and integers have no leading zeros.

use std::collections::BTreeMap;

/// A bencode value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Dict(BTreeMap<Vec<u8>, Value>),
}

impl Value {
    /// A byte string from anything byte-like.
    pub fn bytes(b: impl AsRef<[u8]>) -> Self {
        Value::Bytes(b.as_ref().to_vec())
    }

    /// A dictionary from `(key, value)` pairs; later duplicates win.
    pub fn dict<'a>(entries: impl IntoIterator<Item = (&'a str, Value)>) -> Self {
        Value::Dict(
            entries
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v))
                .collect(),
        )
    }

    /// Canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(i) => {
                out.push(b'i');
                out.extend_from_slice(i.to_string().as_bytes());
                out.push(b'e');
            }
            Value::Bytes(b) => encode_bytes(b, out),
            Value::List(items) => {
                out.push(b'l');
                for item in items {
                    item.encode_into(out);
                }
                out.push(b'e');
            }
            Value::Dict(map) => {
                out.push(b'd');
                for (k, v) in map {
                    encode_bytes(k, out);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }
}

fn encode_bytes(b: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_bep3_examples_with_sorted_keys() {
        assert_eq!(Value::Int(-3).encode(), b"i-3e");
        assert_eq!(Value::Int(0).encode(), b"i0e");
        assert_eq!(Value::bytes("spam").encode(), b"4:spam");
        let list = Value::List(vec![Value::bytes("spam"), Value::bytes("eggs")]);
        assert_eq!(list.encode(), b"l4:spam4:eggse");
        let dict = Value::dict([("spam", Value::bytes("eggs")), ("cow", Value::bytes("moo"))]);
        assert_eq!(dict.encode(), b"d3:cow3:moo4:spam4:eggse");
    }
}
