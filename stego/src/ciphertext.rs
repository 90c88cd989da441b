//! Public mode: the block *is* the (already encrypted) frame.

use crate::carrier::{BlockId, Carrier, CarrierError};

/// The whole block carries frame bytes; ciphertext is indistinguishable from
/// the pseudo-random archive cover, so there is nothing to hide it in.
#[derive(Clone, Copy, Debug, Default)]
pub struct CiphertextCarrier;

impl Carrier for CiphertextCarrier {
    fn capacity(&self, _id: BlockId, block_len: usize) -> usize {
        block_len
    }

    fn embed(&self, _id: BlockId, cover: &[u8], frame: &[u8]) -> Result<Vec<u8>, CarrierError> {
        if frame.len() != cover.len() {
            return Err(CarrierError::FrameLength {
                got: frame.len(),
                capacity: cover.len(),
            });
        }
        Ok(frame.to_vec())
    }

    fn extract(&self, _id: BlockId, block: &[u8]) -> Result<Vec<u8>, CarrierError> {
        Ok(block.to_vec())
    }

    fn block_is_frame(&self) -> bool {
        true
    }

    fn extract_into(
        &self,
        _id: BlockId,
        block: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CarrierError> {
        out.clear();
        out.extend_from_slice(block);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_is_the_block() {
        let id = BlockId {
            piece: 3,
            offset: 16384,
            file_offset: 3 * 262144 + 16384,
        };
        let c = CiphertextCarrier;
        assert_eq!(c.capacity(id, 16384), 16384);
        let frame: Vec<u8> = (0..16384u32).map(|i| (i * 7) as u8).collect();
        let block = c.embed(id, &[0u8; 16384], &frame).unwrap();
        assert_eq!(c.extract(id, &block).unwrap(), frame);
        assert!(c.block_is_frame());
        let mut out = vec![9u8; 3];
        c.extract_into(id, &block, &mut out).unwrap();
        assert_eq!(out, frame);
        assert!(matches!(
            c.embed(id, &[0u8; 16384], &frame[..100]),
            Err(CarrierError::FrameLength { .. })
        ));
    }
}
