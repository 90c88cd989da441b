//! The relay's circuit table: everything a relay knows about circuits it
//! does not terminate.

use std::collections::BTreeMap;
use std::time::Duration;

use super::NeighbourId;
use crate::cell::HandshakeId;

/// `(last_hop, h_id, next_hop, r_time, suc_flag)` of the paper. With
/// flooding there are several candidate next hops; the one a response came
/// back from becomes the circuit's (`suc_next`, which doubles as suc_flag).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayRecord {
    pub last_hop: NeighbourId,
    pub h_id: HandshakeId,
    pub next_hops: Vec<NeighbourId>,
    pub r_time: Duration,
    pub suc_next: Option<NeighbourId>,
    /// Last time a cell used this record; idle circuits are forgotten.
    pub last_used: Duration,
}

/// Records by `h_id`, and the set of handshake ids already seen.
#[derive(Debug, Default)]
pub struct RelayTable {
    records: BTreeMap<HandshakeId, RelayRecord>,
    seen: BTreeMap<HandshakeId, Duration>,
}

/// Where a data or destroy cell goes next.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    To(NeighbourId),
    Unknown,
}

impl RelayTable {
    /// Marks `h_id` seen; false if it was already.
    pub fn mark_seen(&mut self, h_id: HandshakeId, now: Duration) -> bool {
        if self.seen.contains_key(&h_id) {
            return false;
        }
        self.seen.insert(h_id, now);
        true
    }

    pub fn is_seen(&self, h_id: HandshakeId) -> bool {
        self.seen.contains_key(&h_id)
    }

    pub fn insert(&mut self, rec: RelayRecord) {
        self.records.insert(rec.h_id, rec);
    }

    pub fn get(&self, h_id: HandshakeId) -> Option<&RelayRecord> {
        self.records.get(&h_id)
    }

    pub fn records(&self) -> impl Iterator<Item = &RelayRecord> {
        self.records.values()
    }

    pub fn seen_ids(&self) -> impl Iterator<Item = (&HandshakeId, &Duration)> {
        self.seen.iter()
    }

    /// A response for `h_id` arrived from `from`. Returns where to send it
    /// on (`Ok`) or, when another branch already won, `Err(())` so the
    /// caller destroys the losing branch.
    #[allow(clippy::result_unit_err)]
    pub fn on_response(
        &mut self,
        h_id: HandshakeId,
        from: NeighbourId,
        now: Duration,
    ) -> Result<Option<NeighbourId>, ()> {
        let Some(r) = self.records.get_mut(&h_id) else {
            return Ok(None);
        };
        if !r.next_hops.contains(&from) {
            return Ok(None);
        }
        match r.suc_next {
            None => {
                r.suc_next = Some(from);
                r.last_used = now;
                Ok(Some(r.last_hop))
            }
            Some(n) if n == from => Ok(None),
            Some(_) => Err(()),
        }
    }

    /// Routes a data cell of an established circuit.
    pub fn route_data(&mut self, h_id: HandshakeId, from: NeighbourId, now: Duration) -> Route {
        let Some(r) = self.records.get_mut(&h_id) else {
            return Route::Unknown;
        };
        let Some(next) = r.suc_next else {
            return Route::Unknown;
        };
        r.last_used = now;
        if from == r.last_hop {
            Route::To(next)
        } else if from == next {
            Route::To(r.last_hop)
        } else {
            Route::Unknown
        }
    }

    /// A destroy from `from`: forget the record, return the other side.
    pub fn on_destroy(&mut self, h_id: HandshakeId, from: NeighbourId) -> Option<NeighbourId> {
        let r = self.records.get(&h_id)?;
        let other = if from == r.last_hop {
            r.suc_next
        } else if Some(from) == r.suc_next {
            Some(r.last_hop)
        } else {
            return None;
        };
        self.records.remove(&h_id);
        other
    }

    /// A neighbour went away: drop its records, and return `(h_id, other
    /// side)` for every established circuit through it, to destroy.
    pub fn on_neighbour_down(&mut self, n: NeighbourId) -> Vec<(HandshakeId, NeighbourId)> {
        let mut out = Vec::new();
        self.records.retain(|h, r| {
            r.next_hops.retain(|x| *x != n);
            if r.last_hop == n {
                if let Some(s) = r.suc_next {
                    out.push((*h, s));
                }
                return false;
            }
            if r.suc_next == Some(n) {
                out.push((*h, r.last_hop));
                return false;
            }
            true
        });
        out
    }

    /// Purges unsuccessful records older than `t`, idle circuits, and seen
    /// ids older than `seen_for`.
    pub fn purge(&mut self, now: Duration, t: Duration, idle: Duration, seen_for: Duration) {
        self.records.retain(|_, r| match r.suc_next {
            None => now.saturating_sub(r.r_time) <= t,
            Some(_) => now.saturating_sub(r.last_used) <= idle,
        });
        self.seen
            .retain(|_, at| now.saturating_sub(*at) <= seen_for);
    }

    /// Soonest time a purge could change something.
    pub fn next_purge(&self, t: Duration, idle: Duration, seen_for: Duration) -> Option<Duration> {
        let a = self.records.values().map(|r| match r.suc_next {
            None => r.r_time + t,
            Some(_) => r.last_used + idle,
        });
        let b = self.seen.values().map(|at| *at + seen_for);
        a.chain(b).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(h: u64) -> RelayRecord {
        RelayRecord {
            last_hop: NeighbourId(1),
            h_id: h,
            next_hops: vec![NeighbourId(2), NeighbourId(3)],
            r_time: Duration::ZERO,
            suc_next: None,
            last_used: Duration::ZERO,
        }
    }

    #[test]
    fn response_marks_success_and_routes_both_ways() {
        let mut t = RelayTable::default();
        t.insert(rec(5));
        let now = Duration::from_secs(1);
        assert_eq!(t.route_data(5, NeighbourId(1), now), Route::Unknown);
        assert_eq!(t.on_response(5, NeighbourId(9), now), Ok(None));
        assert_eq!(
            t.on_response(5, NeighbourId(3), now),
            Ok(Some(NeighbourId(1)))
        );
        assert_eq!(t.on_response(5, NeighbourId(2), now), Err(()));
        assert_eq!(
            t.route_data(5, NeighbourId(1), now),
            Route::To(NeighbourId(3))
        );
        assert_eq!(
            t.route_data(5, NeighbourId(3), now),
            Route::To(NeighbourId(1))
        );
        assert_eq!(t.route_data(5, NeighbourId(2), now), Route::Unknown);
        assert_eq!(
            t.on_neighbour_down(NeighbourId(3)),
            vec![(5, NeighbourId(1))]
        );
        assert!(t.get(5).is_none());
    }

    #[test]
    fn purge_drops_stale_unsuccessful_only() {
        let mut t = RelayTable::default();
        t.insert(rec(1));
        let mut ok = rec(2);
        ok.suc_next = Some(NeighbourId(2));
        t.insert(ok);
        t.purge(
            Duration::from_secs(31),
            Duration::from_secs(30),
            Duration::from_secs(600),
            Duration::from_secs(60),
        );
        assert!(t.get(1).is_none());
        assert!(t.get(2).is_some());
    }
}
