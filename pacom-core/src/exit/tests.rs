use super::*;
use crate::socks::{ReplyCode, MAX_NAME_LEN};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("test address parses")
}

#[test]
fn defaults_refuse_local_networks_and_smtp() {
    let p = ExitPolicy::new();
    let cases = [
        ("10.1.2.3:80", RejectReason::Private),
        ("172.31.255.255:80", RejectReason::Private),
        ("192.168.0.1:443", RejectReason::Private),
        ("100.64.0.1:443", RejectReason::Private),
        ("[fd00::1]:80", RejectReason::Private),
        ("127.0.0.1:80", RejectReason::Loopback),
        ("127.255.0.9:80", RejectReason::Loopback),
        ("[::1]:80", RejectReason::Loopback),
        ("[::ffff:127.0.0.1]:80", RejectReason::Loopback),
        ("[::ffff:10.0.0.1]:80", RejectReason::Private),
        ("169.254.169.254:80", RejectReason::LinkLocal),
        ("[fe80::1]:80", RejectReason::LinkLocal),
        ("0.0.0.0:80", RejectReason::Unspecified),
        ("0.1.2.3:80", RejectReason::Unspecified),
        ("[::]:80", RejectReason::Unspecified),
        ("224.0.0.1:80", RejectReason::Multicast),
        ("[ff02::1]:80", RejectReason::Multicast),
        ("255.255.255.255:80", RejectReason::Broadcast),
        ("93.184.216.34:25", RejectReason::Smtp),
    ];
    for (a, why) in cases {
        assert_eq!(p.check(&sa(a)), Verdict::Reject(why), "{a}");
    }
    for a in [
        "93.184.216.34:80",
        "[2001:db8::1]:443",
        "172.32.0.1:80",
        "100.128.0.1:80",
    ] {
        assert_eq!(p.check(&sa(a)), Verdict::Accept, "{a}");
    }
}

#[test]
fn loopback_only_when_set_explicitly() {
    let p = ExitPolicy::new().allow_loopback(true);
    assert_eq!(p.check(&sa("127.0.0.1:8000")), Verdict::Accept);
    assert_eq!(p.check(&sa("[::1]:8000")), Verdict::Accept);
    // Still not SMTP, still not the private network.
    assert_eq!(
        p.check(&sa("127.0.0.1:25")),
        Verdict::Reject(RejectReason::Smtp)
    );
    assert_eq!(
        p.check(&sa("10.0.0.1:80")),
        Verdict::Reject(RejectReason::Private)
    );
}

#[test]
fn rules_first_match_wins_then_defaults() {
    let p = ExitPolicy::new()
        .with_rules([
            "accept 127.0.0.1/32:8000-9000",
            "reject *:443",
            "accept [fd00::]/8:22",
            "reject 93.184.0.0/16",
            "accept *:*",
        ])
        .expect("rules parse");
    assert_eq!(p.check(&sa("127.0.0.1:8500")), Verdict::Accept);
    assert_eq!(
        p.check(&sa("127.0.0.1:9001")),
        Verdict::Accept,
        "accept *:* after"
    );
    assert_eq!(
        p.check(&sa("1.1.1.1:443")),
        Verdict::Reject(RejectReason::Rule(1))
    );
    assert_eq!(p.check(&sa("[fd00::5]:22")), Verdict::Accept);
    assert_eq!(
        p.check(&sa("93.184.1.1:80")),
        Verdict::Reject(RejectReason::Rule(3))
    );
    // Never-valid destinations are refused whatever the rules say.
    assert_eq!(
        p.check(&sa("0.0.0.0:8000")),
        Verdict::Reject(RejectReason::Unspecified)
    );

    let narrow = ExitPolicy::new()
        .with_rules(["accept 127.0.0.1:8000-9000"])
        .expect("rule parses");
    assert_eq!(narrow.check(&sa("127.0.0.1:8080")), Verdict::Accept);
    assert_eq!(
        narrow.check(&sa("127.0.0.1:7999")),
        Verdict::Reject(RejectReason::Loopback)
    );
    assert_eq!(
        narrow.check(&sa("127.0.0.2:8080")),
        Verdict::Reject(RejectReason::Loopback)
    );
}

#[test]
fn rule_parsing_forms_and_errors() {
    let r: Rule = "reject *:25".parse().expect("parses");
    assert_eq!(r.action, Action::Reject);
    assert_eq!(r.net, None);
    assert_eq!(r.ports, PortRange { lo: 25, hi: 25 });
    let r: Rule = "accept [fe80::/10]:*".parse().expect("parses");
    assert_eq!(r.net, Some(("fe80::".parse::<IpAddr>().expect("ip"), 10)));
    assert_eq!(r.ports, PortRange::ALL);
    let r: Rule = "ALLOW 10.0.0.0/8".parse().expect("parses");
    assert_eq!(r.action, Action::Accept);
    assert_eq!(r.ports, PortRange::ALL);

    let kind = |s: &str| s.parse::<Rule>().expect_err(s).kind;
    assert_eq!(kind("accept"), PolicyErrorKind::Syntax);
    assert_eq!(kind("accept *:1 extra"), PolicyErrorKind::Syntax);
    assert_eq!(
        kind("permit *:1"),
        PolicyErrorKind::UnknownAction("permit".into())
    );
    assert_eq!(
        kind("accept 1.2.3:80"),
        PolicyErrorKind::BadAddress("1.2.3".into())
    );
    assert_eq!(
        kind("accept [::1:80"),
        PolicyErrorKind::BadAddress("[::1:80".into())
    );
    assert_eq!(
        kind("accept 1.2.3.4/33"),
        PolicyErrorKind::BadPrefix("33".into())
    );
    assert_eq!(
        kind("accept [::1]/129"),
        PolicyErrorKind::BadPrefix("129".into())
    );
    assert_eq!(
        kind("accept *:90-80"),
        PolicyErrorKind::BadPorts("90-80".into())
    );
    assert_eq!(
        kind("accept *:65536"),
        PolicyErrorKind::BadPorts("65536".into())
    );
    let e = ExitPolicy::new()
        .with_rules(["accept *:80", "nope"])
        .expect_err("second rule is bad");
    assert_eq!(e.rule, "nope");
    assert!(e.to_string().contains("nope"));
}

/// A name is resolved at the exit and every address is checked: a name
/// resolving to a private address is refused even next to a public one.
#[test]
fn name_resolving_to_private_address_is_refused() {
    let zone: HashMap<&str, Vec<&str>> = HashMap::from([
        ("public.test", vec!["93.184.216.34"]),
        ("rebind.test", vec!["93.184.216.34", "192.168.1.1"]),
        ("internal.test", vec!["10.0.0.7"]),
        ("empty.test", vec![]),
    ]);
    let resolve = |name: &str, port: u16| -> Vec<SocketAddr> {
        zone[name]
            .iter()
            .map(|ip| SocketAddr::new(ip.parse().expect("ip"), port))
            .collect()
    };
    let p = ExitPolicy::new();
    assert_eq!(p.check_all(&resolve("public.test", 80)), Verdict::Accept);
    assert_eq!(
        p.check_all(&resolve("rebind.test", 80)),
        Verdict::Reject(RejectReason::Private)
    );
    assert_eq!(
        p.check_all(&resolve("internal.test", 80)),
        Verdict::Reject(RejectReason::Private)
    );
    assert_eq!(
        p.check_all(&resolve("empty.test", 80)),
        Verdict::Reject(RejectReason::NoAddress)
    );
}

#[test]
fn begin_and_connected_round_trip() {
    let targets = [
        TargetAddr::Ip(sa("1.2.3.4:80")),
        TargetAddr::Ip(sa("[2001:db8::1]:443")),
        TargetAddr::Domain("only-the-exit.test".into(), 8080),
        TargetAddr::Domain("n".repeat(MAX_NAME_LEN), 1),
    ];
    for t in targets {
        let begin = Begin { target: t };
        let mut bytes = begin.encode().expect("encodes");
        let len = bytes.len();
        for cut in 0..len {
            match Begin::decode(&bytes[..cut]).expect("prefix is valid") {
                Decoded::NeedMore(n) => assert!(n > cut && n <= len),
                Decoded::Done(..) => panic!("complete at {cut} of {len}"),
            }
        }
        bytes.extend(b"tcp bytes");
        assert_eq!(Begin::decode(&bytes), Ok(Decoded::Done(begin, len)));
    }
    let replies = [
        ExitReply::Ok(sa("1.2.3.4:80")),
        ExitReply::Ok(sa("[::1]:8080")),
        ExitReply::Refused,
        ExitReply::HostUnreachable,
        ExitReply::NetUnreachable,
        ExitReply::NotAllowed,
        ExitReply::TtlExpired,
        ExitReply::GeneralFailure,
        ExitReply::ResolveFailed,
    ];
    for code in replies {
        let c = Connected { code };
        let bytes = c.encode();
        assert_eq!(Connected::decode(&bytes), Ok(Decoded::Done(c, bytes.len())));
    }
}

#[test]
fn stream_messages_reject_bad_input() {
    let too_long = Begin {
        target: TargetAddr::Domain("n".repeat(MAX_NAME_LEN + 1), 1),
    };
    assert_eq!(
        too_long.encode(),
        Err(WireError::Address(crate::socks::AddrError::NameTooLong(
            256
        )))
    );
    assert_eq!(Begin::decode(&[2, 1, 0, 7]), Err(WireError::BadVersion(2)));
    assert_eq!(
        Begin::decode(&[1, 2, 0, 1, 0]),
        Err(WireError::UnexpectedKind {
            expected: 1,
            got: 2
        })
    );
    // A huge declared length is refused before waiting for the body.
    assert_eq!(
        Begin::decode(&[1, 1, 0xFF, 0xFF]),
        Err(WireError::TooLong {
            len: 65535,
            max: 259
        })
    );
    // Body longer than the address inside it.
    assert_eq!(
        Begin::decode(&[1, 1, 0, 8, 1, 1, 2, 3, 4, 0, 80, 9]),
        Err(WireError::LengthMismatch {
            declared: 8,
            used: 7
        })
    );
    // Body shorter than the address inside it.
    assert!(matches!(
        Begin::decode(&[1, 1, 0, 6, 1, 1, 2, 3, 4, 0]),
        Err(WireError::LengthMismatch { .. })
    ));
    assert!(matches!(
        Connected::decode(&[1, 2, 0, 0]),
        Err(WireError::LengthMismatch { .. })
    ));
    assert!(matches!(
        Connected::decode(&[1, 2, 0, 2, 5, 0]),
        Err(WireError::LengthMismatch { .. })
    ));
    assert_eq!(
        Connected::decode(&[1, 2, 0, 6, 0, 3, 1, b'a', 0, 80]),
        Err(WireError::NotAnIp)
    );
    // Unknown failure codes from a newer exit read as general failure.
    assert_eq!(
        Connected::decode(&[1, 2, 0, 1, 0x7f]),
        Ok(Decoded::Done(
            Connected {
                code: ExitReply::GeneralFailure
            },
            5
        ))
    );
}

#[test]
fn random_stream_messages_never_panic() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut done = 0;
    for _ in 0..20_000 {
        let len = rng.gen_range(0..40);
        let mut b: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        if let Some(x) = b.get_mut(0) {
            *x = 1;
        }
        if let Some(x) = b.get_mut(1) {
            *x = rng.gen_range(1..=2);
        }
        if let Some(x) = b.get_mut(2) {
            *x = 0;
        }
        if rng.gen_bool(0.5) {
            if let Some(x) = b.get_mut(3) {
                *x = (len - 4) as u8;
            }
        }
        if let Some(x) = b.get_mut(4) {
            *x = rng.gen_range(0..5);
        }
        if let Ok(Decoded::Done(_, used)) = Begin::decode(&b) {
            assert!(used <= b.len());
            done += 1;
        }
        let _ = Connected::decode(&b);
    }
    assert!(done > 0, "generator reaches valid messages");
}

#[test]
fn exit_replies_map_to_socks_codes() {
    let map = [
        (ExitReply::Ok(sa("1.2.3.4:1")), ReplyCode::Succeeded),
        (ExitReply::GeneralFailure, ReplyCode::GeneralFailure),
        (ExitReply::NotAllowed, ReplyCode::NotAllowed),
        (ExitReply::NetUnreachable, ReplyCode::NetworkUnreachable),
        (ExitReply::HostUnreachable, ReplyCode::HostUnreachable),
        (ExitReply::ResolveFailed, ReplyCode::HostUnreachable),
        (ExitReply::Refused, ReplyCode::ConnectionRefused),
        (ExitReply::TtlExpired, ReplyCode::TtlExpired),
    ];
    for (e, c) in map {
        assert_eq!(e.socks_code(), c, "{e}");
    }
}

#[test]
fn stream_limits_per_circuit_and_global() {
    let mut l: StreamLimits<u64> = StreamLimits::new(2, 3);
    assert_eq!(l.acquire(&1), Ok(()));
    assert_eq!(l.acquire(&1), Ok(()));
    assert_eq!(l.acquire(&1), Err(LimitError::Circuit(2)));
    assert_eq!(l.acquire(&2), Ok(()));
    assert_eq!(l.acquire(&3), Err(LimitError::Global(3)));
    l.release(&1);
    assert_eq!(l.open_on(&1), 1);
    assert_eq!(l.acquire(&3), Ok(()));
    // Releasing an unknown circuit frees nothing.
    l.release(&9);
    assert_eq!(l.total(), 3);
    for c in [1, 2, 3] {
        l.release(&c);
        l.release(&c);
    }
    assert_eq!(l.total(), 0);
    assert_eq!(l.open_on(&1), 0);
}
