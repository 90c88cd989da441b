//! The whole §3.3 flow: a bootstrap node advertises a swarm in its HAVE order,
//! a newcomer decodes x and derives the same info hash from the dates it tries.

use std::net::{IpAddr, Ipv4Addr};

use pacom_core::bootstrap::{
    have_order, pacom_file_for, Advert, BootstrapState, DecoderParams, DownloadModel,
    HaveOrderDecoder, HaveOrderEncoder, RolloverPolicy, UtcDate,
};
use pacom_core::pacom_file::{CoverKind, PacomFileOptions};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

#[test]
fn newcomer_reaches_the_advertised_swarm() {
    let key = b"flow group key";
    let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 44));
    let popular = [0xAB; 20];
    let pieces = 1500;
    let opts = PacomFileOptions::with_size(256 << 10);
    let policy = RolloverPolicy::default();
    let day = UtcDate::from_ymd(2026, 11, 21).unwrap();
    // The node created its swarms on 21 November; the newcomer looks at 00:10 on the 22nd.
    let newcomer_time = day.offset(1).midnight_unix_secs() + 600;

    let mut state = BootstrapState::with_caps(day, &[3, 5, 4], [2; 32]).unwrap();
    let Advert::Advertise(x) = state.advert() else {
        panic!("a fresh node advertises")
    };
    let target = pacom_file_for(key, x, ip, state.date(), &CoverKind::Archive, &opts).unwrap();

    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut encoder = HaveOrderEncoder::new(key, &popular, pieces, [4; 32]);
    encoder.set_x(Some(x));
    let model = DownloadModel {
        noise: 0.15,
        ..DownloadModel::default()
    };
    let order = have_order(&mut encoder, pieces, &model, 400, &mut rng);
    let observed = &order[150..];

    let decoder = HaveOrderDecoder::new(key, &popular, &DecoderParams::default()).unwrap();
    let decoded = decoder.decode(observed).expect("x is readable").x;
    assert_eq!(decoded, x);
    assert!(policy.still_discoverable(state.date(), newcomer_time));
    let found = policy
        .candidate_dates(newcomer_time)
        .into_iter()
        .map(|d| pacom_file_for(key, decoded, ip, d, &CoverKind::Archive, &opts).unwrap())
        .find(|f| f.info_hash == target.info_hash);
    assert!(
        found.is_some(),
        "no candidate date gives the swarm's info hash"
    );

    // The newcomer joins; the node re-picks among non-full swarms (Case 2).
    let next = state.on_joined(x).unwrap();
    if let Advert::Advertise(y) = next {
        assert!(!state.swarms()[usize::from(y) - 1].is_full());
    }
}
