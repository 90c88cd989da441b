//! The piece picker of a bootstrap node downloading a popular torrent F: it
//! hides x in the order of its HAVE messages (paper Appendix A, Algorithm 2).
//!
//! Rarest first like any client, but only among the pieces of the class the
//! core [`HaveOrderEncoder`] prefers for x; with no x it is plain rarest
//! first. The encoder is shared with a [`HaveOrderControl`] so the bootstrap
//! role can change x (Case 2) or stop hiding (Case 1) while F downloads.

use std::sync::{Arc, Mutex, MutexGuard};

use pacom_core::bootstrap::HaveOrderEncoder;
use rand::Rng;

use crate::picker::{PickContext, PiecePicker};

fn lock(m: &Mutex<HaveOrderEncoder>) -> MutexGuard<'_, HaveOrderEncoder> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Changes what a [`HaveOrderPicker`] hides; cheap to clone.
#[derive(Clone)]
pub struct HaveOrderControl {
    encoder: Arc<Mutex<HaveOrderEncoder>>,
}

impl HaveOrderControl {
    /// Hides `x` from the next piece on (`None`: pick like an ordinary client).
    pub fn set_x(&self, x: Option<u8>) {
        lock(&self.encoder).set_x(x);
    }

    /// The x being hidden.
    pub fn x(&self) -> Option<u8> {
        lock(&self.encoder).x()
    }

    /// Choices forced out of the preferred class because peers offered none.
    pub fn noisy_choices(&self) -> u64 {
        lock(&self.encoder).noisy_choices()
    }
}

/// A [`PiecePicker`] for F that hides x in the HAVE order.
pub struct HaveOrderPicker {
    encoder: Arc<Mutex<HaveOrderEncoder>>,
    /// Verified pieces the encoder was told about (resumed pieces included).
    synced: u32,
}

impl HaveOrderPicker {
    /// A picker for F (`info_hash`, `num_pieces`) under `group_key`, and the
    /// control that changes its x.
    pub fn new(
        group_key: &[u8],
        info_hash: &[u8; 20],
        num_pieces: u32,
        x: Option<u8>,
    ) -> (Self, HaveOrderControl) {
        let mut encoder =
            HaveOrderEncoder::new(group_key, info_hash, num_pieces, rand::thread_rng().gen());
        encoder.set_x(x);
        let encoder = Arc::new(Mutex::new(encoder));
        let control = HaveOrderControl {
            encoder: encoder.clone(),
        };
        (Self { encoder, synced: 0 }, control)
    }
}

impl PiecePicker for HaveOrderPicker {
    fn pick(&mut self, ctx: &PickContext<'_>) -> Option<u32> {
        let mut encoder = lock(&self.encoder);
        // Pieces we had before downloading (resume) never pass through
        // `on_piece_complete`; catch up once when the counts disagree.
        if ctx.have.count_ones() != self.synced {
            for piece in ctx.have.iter_ones() {
                encoder.on_completed(piece);
            }
            self.synced = ctx.have.count_ones();
        }
        let candidates: Vec<(u32, u32)> = ctx
            .peer_has
            .iter_ones()
            .filter(|&i| ctx.candidate(i))
            .map(|i| (i, ctx.availability.get(i as usize).copied().unwrap_or(0)))
            .collect();
        encoder.choose_rarest(&candidates)
    }

    fn on_piece_complete(&mut self, index: u32) {
        lock(&self.encoder).on_completed(index);
        self.synced += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitfield::Bitfield;
    use pacom_core::bootstrap::ClassHashes;
    use std::collections::HashSet;

    const KEY: &[u8] = b"picker test key";
    const F: [u8; 20] = [7; 20];

    /// Drives the picker over a whole download from one seed and returns
    /// the completion order.
    fn download(picker: &mut HaveOrderPicker, n: u32) -> Vec<u32> {
        let seed = Bitfield::full(n);
        let mut have = Bitfield::new(n);
        let availability = vec![1; n as usize];
        let in_flight = HashSet::new();
        let mut order = Vec::new();
        loop {
            let ctx = PickContext {
                peer: "127.0.0.1:1".parse().unwrap(),
                peer_has: &seed,
                have: &have,
                availability: &availability,
                in_flight: &in_flight,
            };
            let Some(p) = picker.pick(&ctx) else { break };
            assert!(!have.get(p));
            have.set(p);
            picker.on_piece_complete(p);
            order.push(p);
        }
        order
    }

    #[test]
    fn hides_x_as_class_one_first_then_class_two() {
        let n = 300;
        let (mut picker, control) = HaveOrderPicker::new(KEY, &F, n, Some(42));
        assert_eq!(control.x(), Some(42));
        let order = download(&mut picker, n);
        assert_eq!(order.len(), n as usize);
        let classes = ClassHashes::new(KEY, &F);
        let ones = (0..n).filter(|&p| classes.is_class1(42, p)).count();
        assert!(order[..ones].iter().all(|&p| classes.is_class1(42, p)));
        assert!(order[ones..].iter().all(|&p| !classes.is_class1(42, p)));
        assert_eq!(control.noisy_choices(), 0);
    }

    #[test]
    fn x_can_change_mid_download_and_none_picks_rarest() {
        let n = 64;
        let (mut picker, control) = HaveOrderPicker::new(KEY, &F, n, None);
        let mut peer = Bitfield::new(n);
        peer.set(3);
        peer.set(9);
        let have = Bitfield::new(n);
        let mut availability = vec![4; n as usize];
        availability[9] = 1;
        let in_flight = HashSet::new();
        let ctx = PickContext {
            peer: "127.0.0.1:1".parse().unwrap(),
            peer_has: &peer,
            have: &have,
            availability: &availability,
            in_flight: &in_flight,
        };
        assert_eq!(picker.pick(&ctx), Some(9));
        control.set_x(Some(200));
        assert_eq!(control.x(), None, "out-of-range x stops hiding");
        control.set_x(Some(5));
        assert_eq!(control.x(), Some(5));
    }
}
