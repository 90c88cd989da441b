//! Anonymity metrics of paper §4: the effective anonymity set size of eq. (8)
//! (Serjantov–Danezis entropy), Theorem 2's `log(n(1 - q^r))` against
//! collaborating bootstrap nodes, and the intersection attack of §4.4.1.
//! Logarithms are base 2 (bits): a uniform set of N clients gives log2 N.

use std::collections::BTreeSet;

use super::error::{positive, probability, AnalysisError};

/// Eq. (8): `S = -Σ Pr(Pu) log2 Pr(Pu)` over the adversary's distribution of
/// who the sender is. Zero entries contribute nothing.
pub fn effective_anonymity_set_size(probabilities: &[f64]) -> Result<f64, AnalysisError> {
    if probabilities.is_empty() {
        return Err(AnalysisError::Empty {
            what: "distribution",
        });
    }
    for &p in probabilities {
        probability("Pr(Pu)", p)?;
    }
    let sum: f64 = probabilities.iter().sum();
    if (sum - 1.0).abs() > 1e-9 {
        return Err(AnalysisError::NotADistribution { sum });
    }
    Ok(-probabilities
        .iter()
        .filter(|&&p| p > 0.0)
        .map(|p| p * p.log2())
        .sum::<f64>())
}

/// Theorem 2: `log2(n (1 - q^r))` for n clients, a fraction q of malicious
/// bootstrap nodes and r swarms per client on average. Clients in trap mode
/// (all r swarms malicious, probability q^r) are identified; the rest form a
/// uniform set.
pub fn theorem2(n: f64, q: f64, r: f64) -> Result<f64, AnalysisError> {
    positive("n", n)?;
    probability("q", q)?;
    positive("r", r)?;
    Ok((n * (1.0 - q.powf(r))).log2())
}

/// The distribution the adversary of Theorem 2 holds over `n` clients of
/// which `trapped` are known not to be the sender (point mass 0) and the
/// rest are equally likely. Its entropy is Theorem 2's value for a given
/// trap count.
pub fn trap_mode_distribution(n: usize, trapped: usize) -> Vec<f64> {
    let free = n.saturating_sub(trapped);
    let p = if free == 0 { 0.0 } else { 1.0 / free as f64 };
    (0..n).map(|i| if i < free { p } else { 0.0 }).collect()
}

/// The intersection attack of §4.4.1: each time the target receives, the
/// attacker intersects the set of clients online; the sender must be in all.
#[derive(Clone, Debug, Default)]
pub struct IntersectionAttack {
    suspects: Option<BTreeSet<u64>>,
    rounds: usize,
}

impl IntersectionAttack {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the clients online during one communication round.
    pub fn observe(&mut self, online: &BTreeSet<u64>) {
        self.rounds += 1;
        self.suspects = Some(match self.suspects.take() {
            None => online.clone(),
            Some(s) => s.intersection(online).copied().collect(),
        });
    }

    /// Current suspects (empty before any observation).
    pub fn suspects(&self) -> BTreeSet<u64> {
        self.suspects.clone().unwrap_or_default()
    }

    pub fn rounds(&self) -> usize {
        self.rounds
    }

    /// The success criterion of §4.4.1 (after Wright et al.): the sender is
    /// still a suspect and at most `max_suspects` remain.
    pub fn succeeded(&self, sender: u64, max_suspects: usize) -> bool {
        self.suspects
            .as_ref()
            .is_some_and(|s| s.contains(&sender) && s.len() <= max_suspects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_set_has_log_n_bits() {
        let s = effective_anonymity_set_size(&[0.125; 8]).unwrap();
        assert!((s - 3.0).abs() < 1e-12);
        assert_eq!(effective_anonymity_set_size(&[1.0, 0.0]).unwrap(), 0.0);
        assert!(effective_anonymity_set_size(&[0.5, 0.4]).is_err());
        assert!(effective_anonymity_set_size(&[1.5, -0.5]).is_err());
    }

    #[test]
    fn theorem2_equals_entropy_of_the_trap_mode_distribution() {
        let (n, q, r) = (1000.0, 0.2, 2.0);
        let t = theorem2(n, q, r).unwrap();
        // q^r = 0.04: 40 clients trapped.
        let d = trap_mode_distribution(1000, 40);
        let s = effective_anonymity_set_size(&d).unwrap();
        assert!((t - s).abs() < 1e-9, "{t} vs {s}");
        assert!(
            theorem2(1000.0, 0.2, 4.0).unwrap() > t,
            "more swarms, more anonymity"
        );
        assert!(theorem2(10.0, 1.5, 1.0).is_err());
    }

    #[test]
    fn intersection_narrows_to_the_always_online_sender() {
        let mut a = IntersectionAttack::new();
        a.observe(&[1, 2, 3, 4].into());
        assert!(!a.succeeded(1, 2));
        a.observe(&[1, 3, 5].into());
        a.observe(&[1, 4, 5, 6].into());
        assert_eq!(a.suspects(), [1].into());
        assert!(a.succeeded(1, 10) && !a.succeeded(2, 10));
        assert_eq!(a.rounds(), 3);
    }
}
