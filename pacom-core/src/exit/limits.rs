//! Open-stream accounting, so one circuit (or everyone) cannot exhaust the
//! exit's sockets.

use std::collections::HashMap;
use std::hash::Hash;

/// Which limit a new stream would exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("circuit already has {0} open streams")]
    Circuit(usize),
    #[error("exit already has {0} open streams")]
    Global(usize),
}

/// Counts open streams per circuit key `K` and in total.
#[derive(Debug, Clone)]
pub struct StreamLimits<K> {
    per_circuit: usize,
    global: usize,
    open: HashMap<K, usize>,
    total: usize,
}

impl<K: Hash + Eq + Clone> StreamLimits<K> {
    pub fn new(per_circuit: usize, global: usize) -> Self {
        StreamLimits {
            per_circuit,
            global,
            open: HashMap::new(),
            total: 0,
        }
    }

    /// Takes a slot for a new stream on `circuit`, or says which limit is full.
    pub fn acquire(&mut self, circuit: &K) -> Result<(), LimitError> {
        if self.total >= self.global {
            return Err(LimitError::Global(self.total));
        }
        let n = self.open.get(circuit).copied().unwrap_or(0);
        if n >= self.per_circuit {
            return Err(LimitError::Circuit(n));
        }
        self.open.insert(circuit.clone(), n + 1);
        self.total += 1;
        Ok(())
    }

    /// Returns a slot. Releasing more than was acquired is ignored, so a
    /// double release cannot free capacity that is still in use elsewhere.
    pub fn release(&mut self, circuit: &K) {
        let Some(n) = self.open.get_mut(circuit) else {
            return;
        };
        *n -= 1;
        if *n == 0 {
            self.open.remove(circuit);
        }
        self.total -= 1;
    }

    pub fn open_on(&self, circuit: &K) -> usize {
        self.open.get(circuit).copied().unwrap_or(0)
    }

    pub fn total(&self) -> usize {
        self.total
    }
}
