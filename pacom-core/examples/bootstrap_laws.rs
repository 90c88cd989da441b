//! Sample statistics of the file-count and swarm-cap laws next to their
//! exact values. `cargo run --release -p pacom-core --example bootstrap_laws`

use pacom_core::bootstrap::{
    file_count_mean, file_count_variance, pareto_params, sample_file_count, sample_swarm_cap,
    sample_swarm_cap_real,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    (
        mean,
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0),
    )
}

fn main() {
    let n = 1_000_000;
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let c: Vec<f64> = (0..n)
        .map(|_| f64::from(sample_file_count(&mut rng)))
        .collect();
    let (m, v) = mean_var(&c);
    println!(
        "file count c: sample mean {m:.4} var {v:.3}; exact mean {:.4} var {:.3}",
        file_count_mean(),
        file_count_variance()
    );
    let (alpha, xm) = pareto_params(11.12, 13.42);
    let b: Vec<f64> = (0..n).map(|_| sample_swarm_cap_real(&mut rng)).collect();
    let (m, v) = mean_var(&b);
    println!("swarm cap (real): alpha {alpha:.4} x_m {xm:.4}; sample mean {m:.3} var {v:.3} (target 11.12, 13.42)");
    let b: Vec<f64> = (0..n)
        .map(|_| f64::from(sample_swarm_cap(&mut rng)))
        .collect();
    let (m, v) = mean_var(&b);
    println!("swarm cap (rounded): sample mean {m:.3} var {v:.3}");
}
