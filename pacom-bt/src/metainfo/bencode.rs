//! A minimal bencode *writer*.
//!
//! Reading goes through `bendy`'s decoder, but `bendy` cannot splice
//! already-encoded bytes into its output, and a torrent must carry its info
//! dict byte for byte (the info hash is the SHA-1 of those bytes). Writing
//! bencode is four rules, so we keep this tiny writer instead. Callers emit
//! dictionary keys in sorted order; debug builds check it.

/// Appends bencoded values to a byte vector.
#[derive(Default)]
pub(crate) struct Writer {
    out: Vec<u8>,
    #[cfg(debug_assertions)]
    last_keys: Vec<Option<Vec<u8>>>,
}

impl Writer {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    pub(crate) fn int(&mut self, v: i64) -> &mut Self {
        self.out.push(b'i');
        self.out.extend_from_slice(v.to_string().as_bytes());
        self.out.push(b'e');
        self
    }

    pub(crate) fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.out.extend_from_slice(v.len().to_string().as_bytes());
        self.out.push(b':');
        self.out.extend_from_slice(v);
        self
    }

    pub(crate) fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }

    /// Appends an already-encoded value verbatim.
    pub(crate) fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.out.extend_from_slice(v);
        self
    }

    pub(crate) fn begin_list(&mut self) -> &mut Self {
        self.out.push(b'l');
        #[cfg(debug_assertions)]
        self.last_keys.push(None);
        self
    }

    pub(crate) fn begin_dict(&mut self) -> &mut Self {
        self.out.push(b'd');
        #[cfg(debug_assertions)]
        self.last_keys.push(None);
        self
    }

    pub(crate) fn end(&mut self) -> &mut Self {
        self.out.push(b'e');
        #[cfg(debug_assertions)]
        self.last_keys.pop();
        self
    }

    /// Writes a dictionary key; keys of one dict must come in ascending order.
    pub(crate) fn key(&mut self, k: &str) -> &mut Self {
        #[cfg(debug_assertions)]
        if let Some(slot) = self.last_keys.last_mut() {
            debug_assert!(
                slot.as_deref().is_none_or(|prev| prev < k.as_bytes()),
                "bencode keys out of order at {k}"
            );
            *slot = Some(k.as_bytes().to_vec());
        }
        self.str(k)
    }
}

#[cfg(test)]
mod tests {
    use super::Writer;

    #[test]
    fn writes_canonical_bencode() {
        let mut w = Writer::new();
        w.begin_dict()
            .key("a")
            .int(-3)
            .key("b")
            .begin_list()
            .str("xy")
            .raw(b"i0e")
            .end()
            .end();
        assert_eq!(w.into_bytes(), b"d1:ai-3e1:bl2:xyi0eee");
    }
}
