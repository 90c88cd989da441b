//! The joining decisions of §3.3 on a virtual clock: lookups of decoded
//! swarms, becoming a bootstrap node, rejoining after completion or loss.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use pacom_core::bootstrap::{JoinPlanner, RoleAction, RoleConfig};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, last))
}

fn cfg() -> RoleConfig {
    RoleConfig {
        min_bootstrap_nodes: 2,
        watch: secs(60),
        lookup_retry: secs(30),
        max_swarms: 2,
        lost_after: secs(20),
    }
}

#[test]
fn each_decoded_swarm_is_looked_up_once_until_the_retry_is_due() {
    let mut p = JoinPlanner::new(cfg(), secs(0));
    let a = ip(1);
    assert_eq!(
        p.on_decoded(secs(1), a, 4),
        Some(RoleAction::Lookup { ip: a, x: 4 })
    );
    assert_eq!(p.on_decoded(secs(2), a, 4), None);
    assert_eq!(p.on_decoded(secs(30), a, 4), None);
    // Another x at the same node (it switched adverts) is a new lookup.
    assert!(p.on_decoded(secs(30), a, 5).is_some());
    assert_eq!(
        p.on_decoded(secs(31), a, 4),
        Some(RoleAction::Lookup { ip: a, x: 4 })
    );
}

#[test]
fn a_node_that_finds_enough_bootstrap_nodes_never_becomes_one() {
    let mut p = JoinPlanner::new(cfg(), secs(0));
    for (n, when) in [(1u8, 5u64), (2, 9)] {
        assert!(p.on_decoded(secs(when), ip(n), 1).is_some());
        p.on_lookup(ip(n), true);
    }
    // A false decode (lookup finds nobody) does not count.
    assert!(p.on_decoded(secs(10), ip(9), 77).is_some());
    p.on_lookup(ip(9), false);
    assert_eq!(p.bootstrap_nodes(), 2);
    assert!(p.poll(secs(59)).is_empty());
    assert!(p.poll(secs(600)).is_empty());
    assert!(!p.is_bootstrap());
}

#[test]
fn too_few_bootstrap_nodes_after_the_watch_makes_one_exactly_once() {
    let mut p = JoinPlanner::new(cfg(), secs(100));
    assert!(p.on_decoded(secs(110), ip(1), 3).is_some());
    p.on_lookup(ip(1), true);
    assert!(p.poll(secs(159)).is_empty(), "still watching");
    assert_eq!(p.poll(secs(160)), vec![RoleAction::BecomeBootstrap]);
    assert!(p.is_bootstrap());
    assert!(p.poll(secs(1000)).is_empty(), "the role is taken once");
}

#[test]
fn swarms_are_capped_and_completion_rejoins_at_once() {
    let mut p = JoinPlanner::new(cfg(), secs(0));
    p.on_joined([1; 20]);
    p.on_joined([2; 20]);
    assert!(!p.wants_swarm());
    assert_eq!(p.on_decoded(secs(5), ip(3), 8), None, "enough swarms");
    assert_eq!(p.on_swarm_ended(secs(6), [9; 20], true), None, "unknown");
    assert_eq!(
        p.on_swarm_ended(secs(7), [1; 20], true),
        Some(RoleAction::Rebootstrap)
    );
    assert!(p.wants_swarm());
    // Lookups start afresh after a rebootstrap.
    assert!(p.on_decoded(secs(8), ip(3), 8).is_some());
    assert_eq!(p.swarms(), 1);
}

#[test]
fn losing_every_swarm_rebootstraps_after_the_grace() {
    let mut p = JoinPlanner::new(cfg(), secs(0));
    p.set_bootstrap();
    p.on_joined([1; 20]);
    assert!(p.on_decoded(secs(1), ip(1), 2).is_some());
    assert_eq!(p.on_swarm_ended(secs(10), [1; 20], false), None);
    assert!(p.poll(secs(29)).is_empty());
    // Rejoined in time: no rebootstrap.
    p.on_joined([3; 20]);
    assert!(p.poll(secs(40)).is_empty());
    assert_eq!(p.on_swarm_ended(secs(50), [3; 20], false), None);
    assert_eq!(p.poll(secs(70)), vec![RoleAction::Rebootstrap]);
    assert!(p.poll(secs(71)).is_empty(), "reported once");
    assert!(
        p.on_decoded(secs(72), ip(1), 2).is_some(),
        "lookups forgotten"
    );
}
