//! The collaborating attack of §4.4.2 as a Monte-Carlo simulation, to check
//! Theorem 2 against the join law the nodes actually use.
//!
//! Each client joins c swarms (c from the truncated geometric law of
//! [`crate::bootstrap::sample_file_count`]); each swarm is advertised by a
//! bootstrap node that is malicious with probability q. A client all of
//! whose swarms are malicious is in trap mode and identified; the others
//! stay equally likely, so the adversary's distribution is the one of
//! [`trap_mode_distribution`] and its entropy is eq. (8).
//!
//! Theorem 2 plugs the *mean* swarm count r into q^r. Since q^c is convex in
//! c, E[q^c] >= q^E[c] (Jensen): the theorem slightly overstates anonymity
//! when c varies. [`expected_bits`] gives the exact expectation for the law.

use rand::Rng;

use super::anonymity::{effective_anonymity_set_size, theorem2, trap_mode_distribution};
use super::error::{probability, AnalysisError};
use crate::bootstrap::laws::{FILE_COUNT_P, MAX_FILE_COUNT};
use crate::bootstrap::sample_file_count;

/// One simulated network under the collaborating attack.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrapOutcome {
    pub clients: usize,
    pub malicious_fraction: f64,
    /// Mean number of swarms per client in this draw (Theorem 2's r).
    pub mean_swarms: f64,
    /// Clients whose swarms were all malicious.
    pub trapped: usize,
    /// Eq. (8) over the adversary's distribution, bits.
    pub simulated_bits: f64,
    /// Theorem 2 with the draw's mean swarm count, bits.
    pub theorem2_bits: f64,
    /// log2(n (1 - E[q^c])) for the exact swarm-count law, bits.
    pub expected_bits: f64,
}

/// E[q^c] under the truncated geometric swarm-count law.
pub fn expected_trap_probability(q: f64) -> Result<f64, AnalysisError> {
    probability("q", q)?;
    let p = FILE_COUNT_P;
    let mass = 1.0 - p.powi(i32::from(MAX_FILE_COUNT));
    Ok((1..=i32::from(MAX_FILE_COUNT))
        .map(|c| p.powi(c - 1) * (1.0 - p) / mass * q.powi(c))
        .sum())
}

/// log2(n (1 - E[q^c])): the expected entropy to first order.
pub fn expected_bits(n: usize, q: f64) -> Result<f64, AnalysisError> {
    let trap = expected_trap_probability(q)?;
    Ok((n as f64 * (1.0 - trap)).log2())
}

/// Draws `n` clients with malicious-bootstrap fraction `q` and measures the
/// adversary's entropy.
pub fn simulate_trap<R: Rng + ?Sized>(
    rng: &mut R,
    n: usize,
    q: f64,
) -> Result<TrapOutcome, AnalysisError> {
    probability("q", q)?;
    if n == 0 {
        return Err(AnalysisError::Empty { what: "clients" });
    }
    let mut swarms = 0u64;
    let mut trapped = 0usize;
    let mut rng = rng;
    for _ in 0..n {
        let c = sample_file_count(&mut rng);
        swarms += u64::from(c);
        if (0..c).all(|_| rng.gen_bool(q)) {
            trapped += 1;
        }
    }
    let mean_swarms = swarms as f64 / n as f64;
    let simulated_bits = if trapped == n {
        0.0
    } else {
        effective_anonymity_set_size(&trap_mode_distribution(n, trapped))?
    };
    Ok(TrapOutcome {
        clients: n,
        malicious_fraction: q,
        mean_swarms,
        trapped,
        simulated_bits,
        theorem2_bits: theorem2(n as f64, q, mean_swarms)?,
        expected_bits: expected_bits(n, q)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn simulation_matches_the_expectation_and_theorem2_bounds_it() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        for q in [0.0, 0.2, 0.5, 0.8] {
            let o = simulate_trap(&mut rng, 20_000, q).unwrap();
            assert!((o.simulated_bits - o.expected_bits).abs() < 0.03, "{o:?}");
            assert!(o.theorem2_bits + 1e-9 >= o.expected_bits, "{o:?}");
        }
        assert_eq!(expected_trap_probability(0.0).unwrap(), 0.0);
        assert!((expected_trap_probability(1.0).unwrap() - 1.0).abs() < 1e-12);
        assert!(simulate_trap(&mut rng, 10, 1.5).is_err());
    }
}
