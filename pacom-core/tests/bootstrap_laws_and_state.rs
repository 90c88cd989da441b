//! Swarm laws, date rollover and the bootstrap node's swarm bookkeeping.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

use pacom_core::bootstrap::{
    file_count_mean, file_count_variance, file_seed, pacom_file_for, sample_file_count,
    sample_swarm_cap, sample_swarm_cap_real, Advert, BootstrapError, BootstrapState,
    RolloverPolicy, UtcDate,
};
use pacom_core::pacom_file::{CoverKind, PacomFileOptions};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

#[test]
fn file_count_matches_the_truncated_geometric_law() {
    let mut rng = ChaCha20Rng::seed_from_u64(21);
    let xs: Vec<f64> = (0..200_000)
        .map(|_| f64::from(sample_file_count(&mut rng)))
        .collect();
    assert!(xs.iter().all(|&c| (1.0..=100.0).contains(&c)));
    let (mean, var) = mean_var(&xs);
    // Exact mean ≈ 6.901, sd ≈ 6.39: the standard error of 200k draws is
    // 0.014, so 0.06 is > 4 standard errors.
    assert!((mean - file_count_mean()).abs() < 0.06, "mean {mean}");
    assert!(
        (var / file_count_variance() - 1.0).abs() < 0.05,
        "var {var}"
    );
    let ones = xs.iter().filter(|&&c| c == 1.0).count() as f64 / xs.len() as f64;
    assert!((ones - (1.0 - 0.8551)).abs() < 0.005, "P(c=1) {ones}");
}

#[test]
fn swarm_cap_matches_the_pareto_moments() {
    let mut rng = ChaCha20Rng::seed_from_u64(22);
    let real: Vec<f64> = (0..400_000)
        .map(|_| sample_swarm_cap_real(&mut rng))
        .collect();
    let (mean, var) = mean_var(&real);
    // Mean within 2 %. The variance of a Pareto with α ≈ 4.2 has a barely
    // finite fourth moment, so its sample estimate converges slowly: 25 %.
    assert!((mean / 11.12 - 1.0).abs() < 0.02, "mean {mean}");
    assert!((var / 13.42 - 1.0).abs() < 0.25, "var {var}");
    assert!(real.iter().all(|&b| b >= 8.46));
    let caps: Vec<f64> = (0..400_000)
        .map(|_| f64::from(sample_swarm_cap(&mut rng)))
        .collect();
    let (mean, _) = mean_var(&caps);
    assert!(caps.iter().all(|&b| b >= 8.0 && b.fract() == 0.0));
    assert!((mean / 11.12 - 1.0).abs() < 0.02, "rounded mean {mean}");
}

#[test]
fn candidate_dates_around_midnight() {
    let policy = RolloverPolicy::default();
    let day = UtcDate::from_ymd(2026, 11, 22).unwrap();
    let midnight = day.midnight_unix_secs();
    assert_eq!(policy.candidate_dates(midnight + 12 * 3600), vec![day]);
    assert_eq!(
        policy.candidate_dates(midnight + 60),
        vec![day, day.offset(-1)]
    );
    assert_eq!(policy.candidate_dates(midnight + 2 * 3600), vec![day]);
    assert_eq!(
        policy.candidate_dates(midnight + 86_400 - 60),
        vec![day, day.offset(1)]
    );
    assert!(policy.still_discoverable(day, midnight + 86_400 + 3600));
    assert!(!policy.still_discoverable(day, midnight + 86_400 + 2 * 3600));
}

#[test]
fn newcomer_after_midnight_finds_yesterdays_swarm() {
    let key = b"group";
    let ip = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9));
    let day = UtcDate::from_ymd(2026, 12, 31).unwrap();
    let opts = PacomFileOptions::with_size(200_000);
    // The bootstrap node created swarm x = 4 late on 31 December.
    let created = pacom_file_for(key, 4, ip, day, &CoverKind::Archive, &opts).unwrap();
    let policy = RolloverPolicy::default();
    let just_after = day.offset(1).midnight_unix_secs() + 90;
    assert!(policy.still_discoverable(day, just_after));
    let found = policy.candidate_dates(just_after).into_iter().find(|&d| {
        pacom_file_for(key, 4, ip, d, &CoverKind::Archive, &opts)
            .unwrap()
            .info_hash
            == created.info_hash
    });
    assert_eq!(found, Some(day));
    assert_eq!(day.offset(1).ymd(), (2027, 1, 1));
    // At noon the next day the old swarm is no longer among the candidates.
    let noon = day.offset(1).midnight_unix_secs() + 43_200;
    let seeds: HashSet<_> = policy
        .candidate_dates(noon)
        .into_iter()
        .map(|d| file_seed(key, 4, ip, d))
        .collect();
    assert!(!seeds.contains(&file_seed(key, 4, ip, day)));
}

#[test]
fn full_swarms_stop_being_advertised_and_all_full_is_case_1() {
    let day = UtcDate::from_days(20_000);
    let mut state = BootstrapState::with_caps(day, &[2, 3, 4], [5; 32]).unwrap();
    assert!(state.is_active());
    let mut joins = 0;
    let mut advertised_full = false;
    while let Advert::Advertise(x) = state.advert() {
        state.on_joined(x).unwrap();
        joins += 1;
        if let Advert::Advertise(next) = state.advert() {
            advertised_full |= state.swarms()[usize::from(next) - 1].is_full();
        }
        assert!(joins <= 6, "more joins than free slots");
    }
    // Caps 2 + 3 + 4 with the node in each: 1 + 2 + 3 free slots.
    assert_eq!(joins, 6);
    assert!(!advertised_full);
    assert!(!state.is_active());
    assert!(state.swarms().iter().all(|s| s.is_full()));
    // Case 1 is final even if a member leaves.
    assert_eq!(state.on_left(1).unwrap(), Advert::Stopped);
    assert_eq!(
        state.on_joined(9),
        Err(BootstrapError::UnknownSwarm { x: 9, count: 3 })
    );
    assert!(BootstrapState::with_caps(day, &[], [0; 32]).is_err());
}

#[test]
fn set_members_can_fill_a_swarm_directly() {
    let day = UtcDate::from_days(20_000);
    let mut state = BootstrapState::with_caps(day, &[5, 5], [1; 32]).unwrap();
    assert_eq!(state.set_members(1, 5).unwrap(), Advert::Advertise(2));
    assert_eq!(state.set_members(2, 7).unwrap(), Advert::Stopped);
}

#[test]
fn drawn_states_follow_the_laws() {
    let day = UtcDate::from_days(20_000);
    let counts: Vec<f64> = (0..2000u32)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            let s = BootstrapState::new(day, seed);
            assert!(s.swarms().iter().all(|sw| sw.cap >= 2 && sw.members == 1));
            s.swarms().len() as f64
        })
        .collect();
    let (mean, _) = mean_var(&counts);
    // sd 6.39 / sqrt(2000) = 0.14: 0.6 is > 4 standard errors.
    assert!((mean - file_count_mean()).abs() < 0.6, "mean c {mean}");
}
