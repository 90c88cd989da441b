//! Random PACOM-like topologies and path lengths.

use std::collections::{BTreeSet, VecDeque};

use rand::Rng;

/// Undirected graph as adjacency sets.
pub type Graph = Vec<BTreeSet<usize>>;

/// A connected random graph whose degrees lie mostly in `[min_deg, max_deg]`:
/// a random spanning tree (so it is connected) topped up with random edges
/// until every node reaches a degree drawn uniformly from the range.
pub fn random_graph<R: Rng>(rng: &mut R, n: usize, min_deg: usize, max_deg: usize) -> Graph {
    let mut g: Graph = vec![BTreeSet::new(); n];
    for i in 1..n {
        let j = rng.gen_range(0..i);
        g[i].insert(j);
        g[j].insert(i);
    }
    let want: Vec<usize> = (0..n).map(|_| rng.gen_range(min_deg..=max_deg)).collect();
    for i in 0..n {
        let mut tries = 0;
        while g[i].len() < want[i] && tries < 20 * n {
            tries += 1;
            let j = rng.gen_range(0..n);
            if j != i && !g[i].contains(&j) && g[j].len() < max_deg {
                g[i].insert(j);
                g[j].insert(i);
            }
        }
    }
    g
}

/// Hop distances from `src` (`usize::MAX` when unreachable), skipping
/// nodes for which `alive` is false.
pub fn bfs(g: &Graph, src: usize, alive: &[bool]) -> Vec<usize> {
    let mut d = vec![usize::MAX; g.len()];
    let mut q = VecDeque::new();
    d[src] = 0;
    q.push_back(src);
    while let Some(u) = q.pop_front() {
        for &v in &g[u] {
            if alive[v] && d[v] == usize::MAX {
                d[v] = d[u] + 1;
                q.push_back(v);
            }
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn graph_is_connected_with_bounded_degrees() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let g = random_graph(&mut rng, 200, 3, 10);
        let d = bfs(&g, 0, &[true; 200]);
        assert!(d.iter().all(|x| *x != usize::MAX));
        let min = g.iter().map(|s| s.len()).min().unwrap_or(0);
        let max = g.iter().map(|s| s.len()).max().unwrap_or(0);
        assert!(min >= 2 && max <= 11, "degrees {min}..{max}");
    }
}
