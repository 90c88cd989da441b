//! The download side of one PACOM link: which block to request, and when.
//!
//! Requests are paced by a token bucket whose tokens arrive as a Poisson
//! process at the configured rate (like a rate-limited client refilling its
//! request pipeline), and never more than `h` are outstanding. The block is
//! drawn uniformly from those the peer has, we lack and have not already
//! asked this peer for. The pacer owns its random generator, so no other
//! component's draws (let alone hidden data) shift its schedule.

use std::time::Duration;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, Exp};

use super::{BlockRequest, Geometry, Progress, ScheduleError};

/// Outstanding requests per peer in the BitTorrent specification and the paper (h).
pub const DEFAULT_MAX_OUTSTANDING: usize = 10;

/// Tries of rejection sampling before enumerating the candidates.
const SAMPLE_TRIES: usize = 64;

/// Download rate of one link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    /// Only the `h` outstanding limit applies (the peer's answers pace us).
    Unlimited,
    /// Mean blocks per second of a Poisson token process.
    BlocksPerSec(f64),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PacerConfig {
    pub rate: Rate,
    /// `h`: requests in flight to this peer at most.
    pub max_outstanding: usize,
    /// Tokens the bucket holds at most (burst after a stall).
    pub burst: u32,
}

impl Default for PacerConfig {
    fn default() -> Self {
        Self {
            rate: Rate::Unlimited,
            max_outstanding: DEFAULT_MAX_OUTSTANDING,
            burst: DEFAULT_MAX_OUTSTANDING as u32,
        }
    }
}

/// Request decisions for one peer.
#[derive(Debug)]
pub struct RequestPacer {
    cfg: PacerConfig,
    exp: Option<Exp<f64>>,
    geometry: Geometry,
    peer_pieces: Vec<bool>,
    peer_piece_count: u32,
    choked: bool,
    /// `R(Pi, Pj)`: block indices asked for and not yet answered.
    outstanding: Vec<u32>,
    tokens: u32,
    /// Time of the next token arrival; `None` until the first poll.
    next_token_at: Option<Duration>,
    /// Once random probing misses (few candidates left), the blocks that
    /// may still be candidates, so a pick costs O(1) amortised instead of a
    /// scan of the whole file per request (which dominated the CPU at
    /// thousands of blocks/s). Entries go stale when our progress grows
    /// (it only grows) and are dropped when drawn; new pieces at the peer
    /// and requests given back are added.
    pool: Option<Vec<u32>>,
    rng: ChaCha20Rng,
}

fn exp_for(rate: Rate) -> Result<Option<Exp<f64>>, ScheduleError> {
    match rate {
        Rate::Unlimited => Ok(None),
        Rate::BlocksPerSec(r) if r.is_finite() && r > 0.0 => {
            Exp::new(r).map(Some).map_err(|_| ScheduleError::BadRate(r))
        }
        Rate::BlocksPerSec(r) => Err(ScheduleError::BadRate(r)),
    }
}

impl RequestPacer {
    /// A pacer for a peer that has nothing yet and has not unchoked us.
    /// The bucket starts full.
    pub fn new<R: RngCore>(
        cfg: PacerConfig,
        geometry: Geometry,
        rng: &mut R,
    ) -> Result<Self, ScheduleError> {
        Ok(Self {
            exp: exp_for(cfg.rate)?,
            cfg,
            geometry,
            peer_pieces: vec![false; geometry.num_pieces() as usize],
            peer_piece_count: 0,
            choked: true,
            outstanding: Vec::with_capacity(cfg.max_outstanding),
            tokens: cfg.burst,
            next_token_at: None,
            pool: None,
            rng: ChaCha20Rng::from_rng(rng).map_err(|_| ScheduleError::Rng)?,
        })
    }

    /// Changes the rate (a user's decision, never a reaction to queues).
    pub fn set_rate(&mut self, rate: Rate, now: Duration) -> Result<(), ScheduleError> {
        let exp = exp_for(rate)?;
        self.refill(now);
        self.cfg.rate = rate;
        self.exp = exp;
        // Memoryless: restarting the arrival clock now keeps it a Poisson process.
        self.next_token_at = self.exp.map(|e| now + self.draw(e));
        Ok(())
    }

    pub fn config(&self) -> PacerConfig {
        self.cfg
    }

    /// The peer announced a piece (HAVE).
    pub fn on_have(&mut self, piece: u32) -> Result<(), ScheduleError> {
        let pieces = self.geometry.num_pieces();
        let slot = self
            .peer_pieces
            .get_mut(piece as usize)
            .ok_or(ScheduleError::NoSuchPiece { piece, pieces })?;
        if !*slot {
            *slot = true;
            self.peer_piece_count += 1;
            if let Some(pool) = &mut self.pool {
                let first = self.geometry.first_block(piece);
                pool.extend(first..first + self.geometry.blocks_in_piece(piece));
            }
        }
        Ok(())
    }

    /// The peer's BITFIELD (wire format: high bit of byte 0 is piece 0).
    /// Spare bits are ignored.
    pub fn on_bitfield(&mut self, bits: &[u8]) {
        for piece in 0..self.geometry.num_pieces() {
            let set = bits
                .get(piece as usize / 8)
                .is_some_and(|b| b >> (7 - piece % 8) & 1 == 1);
            if set {
                // In range by construction.
                let _ = self.on_have(piece);
            }
        }
    }

    /// The peer choked us: it discards our requests (no fast extension).
    pub fn on_choke(&mut self) {
        self.choked = true;
        if let Some(pool) = &mut self.pool {
            pool.extend_from_slice(&self.outstanding);
        }
        self.outstanding.clear();
    }

    pub fn on_unchoke(&mut self) {
        self.choked = false;
    }

    /// A PIECE arrived. Returns whether it answered an outstanding request
    /// (a late answer after a timeout does not; its frame must still go to the link).
    pub fn on_piece(&mut self, block: &BlockRequest) -> bool {
        self.forget(block)
    }

    /// The engine gave up waiting for `block`; it may be requested again.
    pub fn on_request_timeout(&mut self, block: &BlockRequest) -> bool {
        let forgot = self.forget(block);
        if let (true, Some(pool), Ok(index)) =
            (forgot, &mut self.pool, self.geometry.index_of(block))
        {
            pool.push(index);
        }
        forgot
    }

    fn forget(&mut self, block: &BlockRequest) -> bool {
        let Ok(index) = self.geometry.index_of(block) else {
            return false;
        };
        match self.outstanding.iter().position(|i| *i == index) {
            Some(pos) => {
                self.outstanding.swap_remove(pos);
                true
            }
            None => false,
        }
    }

    /// Whether the peer has a piece we lack: the INTERESTED state to show it.
    /// Like every decision here it depends on pieces only, never on data.
    pub fn is_interested(&self, have: &Progress) -> bool {
        self.peer_pieces
            .iter()
            .enumerate()
            .any(|(piece, has)| *has && !have.has_piece(piece as u32))
    }

    /// Nothing to ask this peer for and nothing outstanding: the peer has no
    /// block we lack (until it announces a new piece), so no frame can come
    /// from it. Decided by piece sets only, never by data.
    pub fn is_starved(&self) -> bool {
        self.pool.as_ref().is_some_and(Vec::is_empty) && self.outstanding.is_empty()
    }

    /// Requests in flight.
    pub fn outstanding(&self) -> impl Iterator<Item = BlockRequest> + '_ {
        self.outstanding.iter().map(|i| self.geometry.block(*i))
    }

    /// The requests to send now. `have` is our own progress in this swarm.
    pub fn poll(&mut self, now: Duration, have: &Progress) -> Vec<BlockRequest> {
        self.refill(now);
        let mut out = Vec::new();
        if self.choked {
            return out;
        }
        while self.outstanding.len() < self.cfg.max_outstanding
            && (self.exp.is_none() || self.tokens > 0)
        {
            let Some(index) = self.pick(have) else {
                break;
            };
            self.outstanding.push(index);
            if self.exp.is_some() {
                self.tokens -= 1;
            }
            out.push(self.geometry.block(index));
        }
        out
    }

    /// When to poll next if nothing else happens (a PIECE, HAVE or unchoke
    /// also warrant a poll). `None`: only those events can change anything.
    pub fn next_wakeup(&self, now: Duration) -> Option<Duration> {
        if self.choked || self.tokens >= self.cfg.burst {
            return None;
        }
        self.next_token_at.map(|t| t.saturating_sub(now))
    }

    fn draw(&mut self, exp: Exp<f64>) -> Duration {
        Duration::from_secs_f64(exp.sample(&mut self.rng))
    }

    fn refill(&mut self, now: Duration) {
        let Some(exp) = self.exp else {
            return;
        };
        let mut next = match self.next_token_at {
            Some(t) => t,
            None => {
                self.next_token_at = Some(now + self.draw(exp));
                return;
            }
        };
        while next <= now {
            if self.tokens < self.cfg.burst {
                self.tokens += 1;
                next += self.draw(exp);
            } else {
                // Arrivals into a full bucket are lost; by memorylessness the
                // next one after `now` is `now` plus a fresh draw.
                next = now + self.draw(exp);
            }
        }
        self.next_token_at = Some(next);
    }

    fn is_candidate(&self, have: &Progress, index: u32) -> bool {
        self.peer_pieces
            .get(self.geometry.piece_of(index) as usize)
            .is_some_and(|p| *p)
            && !have.has_block(index)
            && !self.outstanding.contains(&index)
    }

    /// A uniformly random block the peer has, we lack and have not asked for.
    fn pick(&mut self, have: &Progress) -> Option<u32> {
        let n = self.geometry.num_blocks();
        if self.peer_piece_count == 0 {
            return None;
        }
        if self.pool.is_none() {
            for _ in 0..SAMPLE_TRIES {
                let index = self.rng.gen_range(0..n);
                if self.is_candidate(have, index) {
                    return Some(index);
                }
            }
            self.pool = Some((0..n).filter(|i| self.is_candidate(have, *i)).collect());
        }
        // Uniform over the live entries: stale ones are drawn and dropped.
        loop {
            let pool = self.pool.as_mut()?;
            if pool.is_empty() {
                return None;
            }
            let index = pool.swap_remove(self.rng.gen_range(0..pool.len()));
            if self.is_candidate(have, index) {
                return Some(index);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(rate: Rate, seed: u64) -> (RequestPacer, Progress, Geometry) {
        let g = Geometry::new(64 * 65536, 65536, 16384).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let cfg = PacerConfig {
            rate,
            ..PacerConfig::default()
        };
        let mut p = RequestPacer::new(cfg, g, &mut rng).unwrap();
        p.on_bitfield(&[0xff; 8]);
        p.on_unchoke();
        (p, Progress::new(g), g)
    }

    #[test]
    fn never_more_than_h_outstanding_and_never_what_we_have() {
        let (mut p, mut have, g) = setup(Rate::Unlimited, 1);
        for i in 0..g.num_blocks() / 2 {
            have.on_block(&g.block(i * 2)).unwrap();
        }
        let first = p.poll(Duration::ZERO, &have);
        assert_eq!(first.len(), DEFAULT_MAX_OUTSTANDING);
        assert!(p.poll(Duration::ZERO, &have).is_empty());
        let mut seen = std::collections::HashSet::new();
        for b in &first {
            assert!(seen.insert(*b), "duplicate request");
            assert!(!have.has_block(g.index_of(b).unwrap()));
        }
        assert!(p.on_piece(&first[0]));
        assert!(!p.on_piece(&first[0]));
        assert_eq!(p.poll(Duration::ZERO, &have).len(), 1);
        p.on_choke();
        assert_eq!(p.outstanding().count(), 0);
        assert!(p.poll(Duration::ZERO, &have).is_empty());
    }

    #[test]
    fn only_pieces_the_peer_has_and_stops_when_none_left() {
        let g = Geometry::new(8 * 65536, 65536, 16384).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let mut p = RequestPacer::new(PacerConfig::default(), g, &mut rng).unwrap();
        p.on_unchoke();
        let mut have = Progress::new(g);
        assert!(p.poll(Duration::ZERO, &have).is_empty(), "peer has nothing");
        assert!(!p.is_interested(&have));
        p.on_have(5).unwrap();
        assert!(p.is_interested(&have));
        assert!(p.on_have(8).is_err());
        let reqs = p.poll(Duration::ZERO, &have);
        assert_eq!(reqs.len(), 4);
        assert!(reqs.iter().all(|r| r.piece == 5));
        for r in &reqs {
            p.on_piece(r);
            have.on_block(r).unwrap();
        }
        assert!(p.poll(Duration::ZERO, &have).is_empty());
        assert!(!p.is_interested(&have));
    }

    #[test]
    fn choice_is_uniform_over_candidates() {
        // 16 candidate blocks; 16000 single draws; chi-square with 15 df < 37.7 (0.1%).
        let g = Geometry::new(4 * 65536, 65536, 16384).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let cfg = PacerConfig {
            max_outstanding: 1,
            ..PacerConfig::default()
        };
        let mut p = RequestPacer::new(cfg, g, &mut rng).unwrap();
        p.on_bitfield(&[0xf0]);
        p.on_unchoke();
        let have = Progress::new(g);
        let mut counts = [0f64; 16];
        for _ in 0..16_000 {
            let r = p.poll(Duration::ZERO, &have);
            counts[g.index_of(&r[0]).unwrap() as usize] += 1.0;
            p.on_request_timeout(&r[0]);
        }
        let chi: f64 = counts.iter().map(|c| (c - 1000.0).powi(2) / 1000.0).sum();
        assert!(chi < 37.7, "chi-square {chi}");
    }

    #[test]
    fn poisson_tokens_give_the_configured_rate() {
        let (mut p, have, _) = setup(Rate::BlocksPerSec(50.0), 4);
        let mut now = Duration::ZERO;
        let mut issued = 0usize;
        let mut gaps = Vec::new();
        let mut last = None;
        while now < Duration::from_secs(200) {
            for r in p.poll(now, &have) {
                issued += 1;
                if let Some(l) = last {
                    gaps.push((now - l).as_secs_f64());
                }
                last = Some(now);
                // Answered at once: the bucket, not h, is the limit.
                p.on_piece(&r);
            }
            let wait = p.next_wakeup(now).expect("tokens below burst");
            assert!(wait > Duration::ZERO);
            now += wait;
        }
        // 10 000 expected (+ the initial burst of 10); 5 sd is 500.
        assert!((9_500..=10_520).contains(&issued), "issued {issued}");
        // Exponential gaps: the coefficient of variation is about 1
        // (a fixed-interval pacer would give 0).
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        let cv = var.sqrt() / mean;
        assert!((0.9..1.1).contains(&cv), "cv {cv}");
    }

    #[test]
    fn full_bucket_needs_no_wakeup_and_rate_changes_take_effect() {
        let (mut p, have, _) = setup(Rate::BlocksPerSec(10.0), 5);
        assert_eq!(p.poll(Duration::ZERO, &have).len(), 10);
        // h outstanding; tokens refill to the burst, then nothing to wake for.
        let later = Duration::from_secs(100);
        assert!(p.poll(later, &have).is_empty());
        assert_eq!(p.next_wakeup(later), None);
        assert!(p.set_rate(Rate::BlocksPerSec(0.0), later).is_err());
        assert!(p.set_rate(Rate::BlocksPerSec(1000.0), later).is_ok());
        for r in p.outstanding().collect::<Vec<_>>() {
            p.on_piece(&r);
        }
        assert_eq!(p.poll(later, &have).len(), 10);
        assert!(p.next_wakeup(later).unwrap() < Duration::from_millis(100));
    }

    #[test]
    fn nothing_left_is_remembered_until_the_peer_or_a_timeout_changes_it() {
        let g = Geometry::new(8 * 65536, 65536, 16384).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let mut p = RequestPacer::new(PacerConfig::default(), g, &mut rng).unwrap();
        p.on_bitfield(&[0b1000_0000]);
        p.on_unchoke();
        let mut have = Progress::new(g);
        // Piece 0 has four blocks: all asked for, then nothing is left.
        let asked = p.poll(Duration::ZERO, &have);
        assert_eq!(asked.len(), 4);
        assert!(asked.iter().all(|b| b.piece == 0));
        assert!(p.poll(Duration::ZERO, &have).is_empty());
        assert!(!p.is_starved(), "answers are still due");
        // A timed-out request may be asked for again.
        assert!(p.on_request_timeout(&asked[0]));
        assert_eq!(p.poll(Duration::ZERO, &have), vec![asked[0]]);
        for b in &asked {
            p.on_piece(b);
            have.on_block(b).unwrap();
        }
        assert!(p.poll(Duration::ZERO, &have).is_empty());
        assert!(p.is_starved());
        // A new piece at the peer is new work.
        p.on_have(3).unwrap();
        let more = p.poll(Duration::ZERO, &have);
        assert_eq!(more.len(), 4);
        assert!(more.iter().all(|b| b.piece == 3));
        assert!(!p.is_starved());
    }
}
