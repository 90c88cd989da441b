use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

fn request_bytes(target: &TargetAddr) -> Vec<u8> {
    let mut out = vec![5, 1, 0];
    target.encode_into(&mut out).expect("test target encodes");
    out
}

fn targets() -> Vec<TargetAddr> {
    vec![
        TargetAddr::Ip(SocketAddr::from((Ipv4Addr::new(93, 184, 216, 34), 80))),
        TargetAddr::Ip(SocketAddr::from((
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
            443,
        ))),
        TargetAddr::Domain("example.org".into(), 8080),
        TargetAddr::Domain("a".repeat(MAX_NAME_LEN), 1),
    ]
}

/// Feeds all bytes at once, expecting a complete request.
fn run(policy: AuthPolicy, bytes: &[u8]) -> (Vec<u8>, SocksRequest, Vec<u8>) {
    match SocksServer::new(policy).on_bytes(bytes) {
        Ok(Progress::Ready {
            send,
            request,
            early_data,
        }) => (send, request, early_data),
        other => panic!("expected a request, got {other:?}"),
    }
}

#[test]
fn no_auth_round_trip_every_address_type() {
    for t in targets() {
        let mut bytes = vec![5, 1, 0];
        bytes.extend(request_bytes(&t));
        let (send, req, early) = run(AuthPolicy::Either, &bytes);
        assert_eq!(send, vec![5, 0]);
        assert_eq!(req.target, t);
        assert_eq!(req.isolation, None);
        assert!(early.is_empty());
    }
}

#[test]
fn user_pass_round_trip_gives_isolation_and_keeps_early_data() {
    for t in targets() {
        let mut bytes = vec![5, 2, 0, 2, 1, 4];
        bytes.extend(b"user");
        bytes.push(0); // empty password, as `curl -U user:` sends
        bytes.extend(request_bytes(&t));
        bytes.extend(b"GET / HTTP/1.0\r\n\r\n");
        let (send, req, early) = run(AuthPolicy::Either, &bytes);
        assert_eq!(send, vec![5, 2, 1, 0]);
        assert_eq!(req.target, t);
        assert_eq!(req.isolation, Some((b"user".to_vec(), Vec::new())));
        assert_eq!(early, b"GET / HTTP/1.0\r\n\r\n");
        assert!(
            !format!("{req:?}").contains("user"),
            "Debug hides credentials"
        );
    }
}

#[test]
fn byte_at_a_time_gives_same_result() {
    let t = TargetAddr::Domain("only-the-exit.test".into(), 80);
    let mut bytes = vec![5, 2, 0, 2, 1, 1, b'u', 2, b'p', b'w'];
    bytes.extend(request_bytes(&t));
    bytes.extend(b"xyz");
    let mut s = SocksServer::new(AuthPolicy::Either);
    let mut sent = Vec::new();
    let mut done = None;
    for (i, b) in bytes.iter().enumerate() {
        if done.is_some() {
            assert_eq!(i, bytes.len() - 3, "request ends before the early bytes");
            break;
        }
        match s.on_bytes(std::slice::from_ref(b)).expect("valid input") {
            Progress::NeedMore { send } => sent.extend(send),
            Progress::Ready {
                send,
                request,
                early_data,
            } => {
                sent.extend(send);
                done = Some((request, early_data));
            }
        }
    }
    assert_eq!(sent, vec![5, 2, 1, 0]);
    let (req, early) = done.expect("request completes on the last address byte");
    assert_eq!(req.target, t);
    assert_eq!(req.isolation, Some((b"u".to_vec(), b"pw".to_vec())));
    // The request completed with the port, before the early bytes arrived.
    assert!(early.is_empty());
    assert_eq!(s.on_bytes(b"x"), Err(SocksError::AfterRequest));
}

#[test]
fn auth_policies_choose_methods() {
    let (send, ..) = run(
        AuthPolicy::NoAuth,
        &[5, 2, 0, 2, 5, 1, 0, 1, 1, 2, 3, 4, 0, 80],
    );
    assert_eq!(send, vec![5, 0]);
    let mut s = SocksServer::new(AuthPolicy::UserPass);
    let e = s.on_bytes(&[5, 1, 0]).expect_err("no-auth refused");
    assert_eq!(e, SocksError::NoAcceptableMethod);
    assert_eq!(e.closing_bytes(), vec![5, 0xFF]);
    let mut s = SocksServer::new(AuthPolicy::NoAuth);
    assert_eq!(s.on_bytes(&[5, 1, 2]), Err(SocksError::NoAcceptableMethod));
}

#[test]
fn reply_encodes_both_families() {
    let v4 = reply(
        ReplyCode::Succeeded,
        SocketAddr::from(([1, 2, 3, 4], 0x1234)),
    );
    assert_eq!(v4, vec![5, 0, 0, 1, 1, 2, 3, 4, 0x12, 0x34]);
    let v6 = reply(
        ReplyCode::HostUnreachable,
        SocketAddr::from((Ipv6Addr::LOCALHOST, 1)),
    );
    assert_eq!(v6.len(), 4 + 16 + 2);
    assert_eq!(&v6[..4], &[5, 4, 0, 4]);
}

/// Every malformed class: input, expected error, expected closing bytes.
#[test]
fn malformed_inputs_get_the_right_error_and_reply() {
    let fail = |code: u8| vec![5, code, 0, 1, 0, 0, 0, 0, 0, 0];
    let cases: Vec<(&str, Vec<u8>, SocksError, Vec<u8>)> = vec![
        (
            "socks4 greeting",
            vec![4, 1, 0, 80, 1, 2, 3, 4, 0],
            SocksError::BadVersion {
                stage: Stage::Greeting,
                version: 4,
            },
            vec![],
        ),
        (
            "no methods",
            vec![5, 0],
            SocksError::NoMethods,
            vec![5, 0xFF],
        ),
        (
            "bad auth version",
            vec![5, 1, 2, 5, 1, b'u', 1, b'p'],
            SocksError::BadAuthVersion(5),
            vec![5, 2, 1, 1],
        ),
        (
            "empty username",
            vec![5, 1, 2, 1, 0, 0],
            SocksError::EmptyUsername,
            vec![5, 2, 1, 1],
        ),
        (
            "request version",
            vec![5, 1, 0, 4, 1, 0, 1, 1, 2, 3, 4, 0, 80],
            SocksError::BadVersion {
                stage: Stage::Request,
                version: 4,
            },
            [vec![5, 0], fail(1)].concat(),
        ),
        (
            "bind",
            vec![5, 1, 0, 5, 2, 0, 1, 1, 2, 3, 4, 0, 80],
            SocksError::UnknownCommand(2),
            [vec![5, 0], fail(7)].concat(),
        ),
        (
            "udp associate",
            vec![5, 1, 0, 5, 3, 0, 1, 0, 0, 0, 0, 0, 0],
            SocksError::UnknownCommand(3),
            [vec![5, 0], fail(7)].concat(),
        ),
        (
            "address type",
            vec![5, 1, 0, 5, 1, 0, 9, 1, 2, 3, 4, 0, 80],
            SocksError::Address(AddrError::UnknownType(9)),
            [vec![5, 0], fail(8)].concat(),
        ),
        (
            "zero-length name",
            vec![5, 1, 0, 5, 1, 0, 3, 0, 0, 80],
            SocksError::Address(AddrError::EmptyName),
            [vec![5, 0], fail(1)].concat(),
        ),
        (
            "NUL in name",
            vec![5, 1, 0, 5, 1, 0, 3, 3, b'a', 0, b'b', 0, 80],
            SocksError::Address(AddrError::BadName),
            [vec![5, 0], fail(1)].concat(),
        ),
    ];
    for (what, bytes, want, closing) in cases {
        // The reply to the greeting was already sent when the request fails,
        // so collect what a server would have written in total.
        let mut s = SocksServer::new(AuthPolicy::Either);
        let mut written = Vec::new();
        let mut err = None;
        for b in &bytes {
            match s.on_bytes(std::slice::from_ref(b)) {
                Ok(Progress::NeedMore { send }) => written.extend(send),
                Ok(Progress::Ready { .. }) => panic!("{what}: accepted"),
                Err(e) => {
                    written.extend(e.closing_bytes());
                    err = Some(e);
                    break;
                }
            }
        }
        assert_eq!(err.as_ref(), Some(&want), "{what}");
        assert_eq!(written, closing, "{what}");
        // All at once: replies due before the failure are not lost.
        let mut whole = SocksServer::new(AuthPolicy::Either);
        let e = whole.on_bytes(&bytes).expect_err(what);
        assert_eq!(e, want, "{what}: all at once");
        assert_eq!(whole.take_closing_bytes(&e), closing, "{what}: all at once");
        assert_eq!(s.on_bytes(&[5]), Err(want), "{what}: stays failed");
    }
}

#[test]
fn truncation_at_every_stage_is_reported() {
    let mut full = vec![5, 1, 2, 1, 1, b'u', 1, b'p'];
    full.extend(request_bytes(&TargetAddr::Domain("x.test".into(), 80)));
    let stage_at = |n: usize| match n {
        0..=2 => Stage::Greeting,
        3..=7 => Stage::Auth,
        _ => Stage::Request,
    };
    for cut in 0..full.len() {
        let mut s = SocksServer::new(AuthPolicy::Either);
        match s.on_bytes(&full[..cut]) {
            Ok(Progress::NeedMore { .. }) => {}
            other => panic!("cut {cut}: {other:?}"),
        }
        assert_eq!(
            s.on_eof(),
            SocksError::Truncated(stage_at(cut)),
            "cut {cut}"
        );
    }
}

#[test]
fn random_bytes_never_panic_and_buffer_stays_small() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x50c5);
    let mut outcomes = [0usize; 3];
    for _ in 0..20_000 {
        let mut s = SocksServer::new(AuthPolicy::Either);
        // Bias the first bytes towards valid prefixes to reach deep states.
        let len = rng.gen_range(0..600);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        let prefix: &[u8] = match rng.gen_range(0..3) {
            0 => &[5, 1, 0, 5, 1, 0],
            1 => &[5, 1, 2, 1],
            _ => &[],
        };
        for (i, b) in prefix.iter().enumerate() {
            if let Some(slot) = bytes.get_mut(i) {
                *slot = *b;
            }
        }
        let mut rest = bytes.as_slice();
        let outcome = loop {
            let n = rng.gen_range(1..=rest.len().max(1)).min(rest.len());
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            match s.on_bytes(chunk) {
                Ok(Progress::NeedMore { .. }) if rest.is_empty() => break 0,
                Ok(Progress::NeedMore { .. }) => assert!(s.buffered() <= 2 + 255 + 256),
                Ok(Progress::Ready { .. }) => break 1,
                Err(e) => {
                    let _ = e.closing_bytes();
                    break 2;
                }
            }
        };
        outcomes[outcome] += 1;
    }
    // The generator reaches every outcome, so the loop tests something.
    assert!(outcomes.iter().all(|&n| n > 0), "{outcomes:?}");
}
