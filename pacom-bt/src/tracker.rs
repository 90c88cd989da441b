//! HTTP tracker client: BEP 3 announce with compact peer lists (BEP 23,
//! `peers6` from BEP 7), spoken over a plain tokio `TcpStream`.
//!
//! The HTTP/1.1 exchange is written by hand because a tracker announce is one
//! GET with a small bencoded answer; a full HTTP stack would be most of the
//! dependency weight of this crate. Everything the tracker sends is untrusted:
//! sizes are capped, the whole exchange has a deadline, and malformed answers
//! become [`TrackerError`]s, never panics.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use bendy::decoding::{Decoder, Object};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Default deadline for one announce (connect, send, receive).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// Default cap on the whole HTTP response (headers and body).
pub const DEFAULT_MAX_RESPONSE: usize = 1 << 20;

/// The `event` parameter of an announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnounceEvent {
    Started,
    Completed,
    Stopped,
    /// A periodic re-announce: no `event` parameter is sent.
    Regular,
}

impl AnnounceEvent {
    fn as_param(self) -> Option<&'static str> {
        match self {
            AnnounceEvent::Started => Some("started"),
            AnnounceEvent::Completed => Some("completed"),
            AnnounceEvent::Stopped => Some("stopped"),
            AnnounceEvent::Regular => None,
        }
    }
}

/// What we tell the tracker about ourselves and one torrent.
#[derive(Debug, Clone)]
pub struct AnnounceRequest {
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    pub port: u16,
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    pub event: AnnounceEvent,
    pub numwant: Option<u32>,
    /// Address to report instead of the one the tracker sees (BEP 3 `ip`).
    pub ip: Option<IpAddr>,
}

/// The tracker's answer, with IPv4 and IPv6 peers merged in tracker order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceResponse {
    pub interval: Duration,
    pub min_interval: Option<Duration>,
    pub peers: Vec<SocketAddr>,
    /// Seeders, when the tracker says.
    pub complete: Option<u32>,
    /// Leechers, when the tracker says.
    pub incomplete: Option<u32>,
    pub warning: Option<String>,
}

/// Limits of one announce; [`announce`] uses the defaults.
#[derive(Debug, Clone, Copy)]
pub struct AnnounceOptions {
    pub timeout: Duration,
    pub max_response: usize,
}

impl Default for AnnounceOptions {
    fn default() -> Self {
        AnnounceOptions {
            timeout: DEFAULT_TIMEOUT,
            max_response: DEFAULT_MAX_RESPONSE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    #[error("unsupported tracker URL (only http:// is supported): {0}")]
    Unsupported(String),
    #[error("invalid tracker URL: {0}")]
    InvalidUrl(String),
    #[error("tracker connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("tracker did not answer within {0:?}")]
    Timeout(Duration),
    #[error("tracker response exceeds {0} bytes")]
    TooLarge(usize),
    #[error("malformed HTTP response from tracker: {0}")]
    Http(String),
    #[error("tracker answered HTTP status {0}")]
    Status(u16),
    #[error("malformed tracker response: {0}")]
    Malformed(String),
    #[error("tracker refused the announce: {0}")]
    Failure(String),
}

/// Announces to an `http://` tracker with default limits.
pub async fn announce(url: &str, req: &AnnounceRequest) -> Result<AnnounceResponse, TrackerError> {
    announce_with(url, req, AnnounceOptions::default()).await
}

/// Announces to an `http://` tracker with explicit limits.
pub async fn announce_with(
    url: &str,
    req: &AnnounceRequest,
    opts: AnnounceOptions,
) -> Result<AnnounceResponse, TrackerError> {
    let target = Target::parse(url)?;
    let request = target.request(req);
    let raw = tokio::time::timeout(opts.timeout, exchange(&target, &request, opts.max_response))
        .await
        .map_err(|_| TrackerError::Timeout(opts.timeout))??;
    let (status, body) = raw;
    match (status, parse_body(&body)) {
        // Some trackers send `failure reason` with a non-200 status.
        (_, Err(TrackerError::Failure(reason))) => Err(TrackerError::Failure(reason)),
        (200, parsed) => parsed,
        (status, _) => Err(TrackerError::Status(status)),
    }
}

/// Where to connect and what path to ask for.
struct Target {
    host: String,
    port: u16,
    /// Path plus any query the URL already had (private trackers put keys there).
    path_and_query: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, TrackerError> {
        let parsed = url::Url::parse(url).map_err(|e| TrackerError::InvalidUrl(e.to_string()))?;
        if parsed.scheme() != "http" {
            return Err(TrackerError::Unsupported(parsed.scheme().to_owned()));
        }
        let host = match parsed.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            None => return Err(TrackerError::InvalidUrl("no host".into())),
        };
        let port = parsed.port().unwrap_or(80);
        let mut path_and_query = parsed.path().to_owned();
        if let Some(q) = parsed.query() {
            path_and_query.push('?');
            path_and_query.push_str(q);
        }
        Ok(Target {
            host,
            port,
            path_and_query,
        })
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// The full HTTP/1.1 GET for one announce.
    fn request(&self, req: &AnnounceRequest) -> Vec<u8> {
        let mut q = self.path_and_query.clone();
        q.push(if q.contains('?') { '&' } else { '?' });
        q.push_str("info_hash=");
        percent_encode(&req.info_hash, &mut q);
        q.push_str("&peer_id=");
        percent_encode(&req.peer_id, &mut q);
        let _ = write!(
            q,
            "&port={}&uploaded={}&downloaded={}&left={}&compact=1&no_peer_id=1",
            req.port, req.uploaded, req.downloaded, req.left
        );
        if let Some(event) = req.event.as_param() {
            let _ = write!(q, "&event={event}");
        }
        if let Some(n) = req.numwant {
            let _ = write!(q, "&numwant={n}");
        }
        if let Some(ip) = req.ip {
            q.push_str("&ip=");
            percent_encode(ip.to_string().as_bytes(), &mut q);
        }
        format!(
            "GET {q} HTTP/1.1\r\nHost: {}\r\nUser-Agent: pacom/{}\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n",
            self.host_header(),
            env!("CARGO_PKG_VERSION")
        )
        .into_bytes()
    }
}

/// Percent-encodes everything except RFC 3986 unreserved characters.
fn percent_encode(bytes: &[u8], out: &mut String) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Sends the request and reads until a complete response (or EOF) arrives.
async fn exchange(
    target: &Target,
    request: &[u8],
    max: usize,
) -> Result<(u16, Vec<u8>), TrackerError> {
    let mut stream = TcpStream::connect((target.host.as_str(), target.port)).await?;
    stream.write_all(request).await?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return match parse_http(&buf, true)? {
                Some(done) => Ok(done),
                None => Err(TrackerError::Http("connection closed mid-response".into())),
            };
        }
        if buf.len() + n > max {
            return Err(TrackerError::TooLarge(max));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(done) = parse_http(&buf, false)? {
            return Ok(done);
        }
    }
}

/// Parses a buffered HTTP response. `Ok(None)` means "need more bytes".
/// With `eof`, a body without length or chunking ends at the close.
fn parse_http(buf: &[u8], eof: bool) -> Result<Option<(u16, Vec<u8>)>, TrackerError> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| TrackerError::Http("non-UTF-8 header".into()))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(TrackerError::Http(format!(
            "bad status line {status_line:?}"
        )));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| TrackerError::Http(format!("bad status line {status_line:?}")))?;
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let len: usize = value
                .parse()
                .map_err(|_| TrackerError::Http(format!("bad Content-Length {value:?}")))?;
            content_length = Some(len);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            chunked = true;
        }
    }
    let body = &buf[head_end + 4..];
    if chunked {
        return match dechunk(body)? {
            Some(decoded) => Ok(Some((status, decoded))),
            None if eof => Err(TrackerError::Http("truncated chunked body".into())),
            None => Ok(None),
        };
    }
    match content_length {
        Some(len) if body.len() >= len => Ok(Some((status, body[..len].to_vec()))),
        Some(_) if eof => Err(TrackerError::Http(
            "body shorter than Content-Length".into(),
        )),
        Some(_) => Ok(None),
        None if eof => Ok(Some((status, body.to_vec()))),
        None => Ok(None),
    }
}

/// Decodes a chunked body; `Ok(None)` until the final zero-size chunk arrived.
fn dechunk(mut body: &[u8]) -> Result<Option<Vec<u8>>, TrackerError> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = find(body, b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&body[..line_end])
            .map_err(|_| TrackerError::Http("bad chunk size".into()))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| TrackerError::Http(format!("bad chunk size {size_text:?}")))?;
        let rest = &body[line_end + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        let Some(needed) = size.checked_add(2) else {
            return Err(TrackerError::Http("chunk size overflow".into()));
        };
        if rest.len() < needed {
            return Ok(None);
        }
        if &rest[size..needed] != b"\r\n" {
            return Err(TrackerError::Http("chunk not followed by CRLF".into()));
        }
        out.extend_from_slice(&rest[..size]);
        body = &rest[needed..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn malformed(what: impl std::fmt::Display) -> TrackerError {
    TrackerError::Malformed(what.to_string())
}

/// Parses the bencoded announce answer.
pub fn parse_body(body: &[u8]) -> Result<AnnounceResponse, TrackerError> {
    let mut decoder = Decoder::new(body).with_max_depth(8);
    let object = decoder
        .next_object()
        .map_err(malformed)?
        .ok_or_else(|| malformed("empty body"))?;
    let Object::Dict(mut dict) = object else {
        return Err(malformed("top level is not a dictionary"));
    };
    let mut failure = None;
    let mut warning = None;
    let mut interval = None;
    let mut min_interval = None;
    let mut complete = None;
    let mut incomplete = None;
    let mut peers = Vec::new();
    let mut peers6 = Vec::new();
    while let Some((key, value)) = dict.next_pair().map_err(malformed)? {
        match key {
            b"failure reason" => failure = Some(text(value)?),
            b"warning message" => warning = Some(text(value)?),
            b"interval" => interval = Some(seconds(value)?),
            b"min interval" => min_interval = Some(seconds(value)?),
            b"complete" => complete = Some(count(value)?),
            b"incomplete" => incomplete = Some(count(value)?),
            b"peers" => peers = peer_list(value, 6)?,
            b"peers6" => peers6 = peer_list(value, 18)?,
            _ => {}
        }
    }
    if let Some(reason) = failure {
        return Err(TrackerError::Failure(reason));
    }
    peers.extend(peers6);
    Ok(AnnounceResponse {
        interval: interval.ok_or_else(|| malformed("missing interval"))?,
        min_interval,
        peers,
        complete,
        incomplete,
        warning,
    })
}

fn text(value: Object<'_, '_>) -> Result<String, TrackerError> {
    match value {
        Object::Bytes(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        _ => Err(malformed("expected a byte string")),
    }
}

fn integer(value: Object<'_, '_>) -> Result<i64, TrackerError> {
    match value {
        Object::Integer(s) => s.parse().map_err(|_| malformed(format!("bad integer {s}"))),
        _ => Err(malformed("expected an integer")),
    }
}

fn count(value: Object<'_, '_>) -> Result<u32, TrackerError> {
    let n = integer(value)?;
    u32::try_from(n).map_err(|_| malformed(format!("count out of range: {n}")))
}

fn seconds(value: Object<'_, '_>) -> Result<Duration, TrackerError> {
    let n = integer(value)?;
    u64::try_from(n)
        .map(Duration::from_secs)
        .map_err(|_| malformed(format!("negative interval {n}")))
}

/// Peers as a compact string (`stride` 6 for IPv4, 18 for IPv6) or as a
/// list of `{ip, port}` dictionaries (the original BEP 3 model).
fn peer_list(value: Object<'_, '_>, stride: usize) -> Result<Vec<SocketAddr>, TrackerError> {
    match value {
        Object::Bytes(b) => compact_peers(b, stride),
        Object::List(mut list) => {
            let mut out = Vec::new();
            while let Some(item) = list.next_object().map_err(malformed)? {
                let Object::Dict(mut d) = item else {
                    return Err(malformed("peer entry is not a dictionary"));
                };
                let mut ip = None;
                let mut port = None;
                while let Some((k, v)) = d.next_pair().map_err(malformed)? {
                    match k {
                        b"ip" => ip = Some(text(v)?),
                        b"port" => port = Some(integer(v)?),
                        _ => {}
                    }
                }
                let (Some(ip), Some(port)) = (ip, port) else {
                    return Err(malformed("peer entry lacks ip or port"));
                };
                let port = u16::try_from(port).map_err(|_| malformed("peer port out of range"))?;
                // Host names are allowed by BEP 3 but resolving them is a tracker's job.
                match ip.trim().parse::<IpAddr>() {
                    Ok(ip) => out.push(SocketAddr::new(ip, port)),
                    Err(_) => tracing::debug!("skipping non-IP peer entry from tracker"),
                }
            }
            Ok(out)
        }
        _ => Err(malformed("peers is neither a string nor a list")),
    }
}

fn compact_peers(bytes: &[u8], stride: usize) -> Result<Vec<SocketAddr>, TrackerError> {
    let chunks = bytes.chunks_exact(stride);
    if !chunks.remainder().is_empty() {
        return Err(malformed(format!(
            "compact peer string of {} bytes is not a multiple of {stride}",
            bytes.len()
        )));
    }
    Ok(chunks
        .map(|c| {
            let (ip, port) = c.split_at(stride - 2);
            let port = u16::from_be_bytes([port[0], port[1]]);
            let ip = match <[u8; 4]>::try_from(ip) {
                Ok(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
                Err(_) => {
                    let mut v6 = [0u8; 16];
                    v6.copy_from_slice(ip);
                    IpAddr::V6(Ipv6Addr::from(v6))
                }
            };
            SocketAddr::new(ip, port)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_ipv4_and_ipv6() {
        let mut body =
            b"d8:completei2e10:incompletei1e8:intervali900e12:min intervali60e5:peers12:".to_vec();
        body.extend_from_slice(&[127, 0, 0, 1, 0x1A, 0xE1, 10, 0, 0, 2, 0, 80]);
        body.extend_from_slice(b"6:peers618:");
        body.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        body.extend_from_slice(&[0, 81]);
        body.push(b'e');
        let r = parse_body(&body).unwrap();
        assert_eq!(r.interval, Duration::from_secs(900));
        assert_eq!(r.min_interval, Some(Duration::from_secs(60)));
        assert_eq!((r.complete, r.incomplete), (Some(2), Some(1)));
        let want: Vec<SocketAddr> = vec![
            "127.0.0.1:6881".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
            "[::1]:81".parse().unwrap(),
        ];
        assert_eq!(r.peers, want);
    }

    #[test]
    fn dict_model_peers() {
        let body = b"d8:intervali30e5:peersld2:ip9:127.0.0.17:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti7000eed2:ip3:::14:porti7001eed2:ip11:example.org4:porti1eeee";
        let r = parse_body(body).unwrap();
        let want: Vec<SocketAddr> = vec![
            "127.0.0.1:7000".parse().unwrap(),
            "[::1]:7001".parse().unwrap(),
        ];
        assert_eq!(r.peers, want);
    }

    #[test]
    fn failure_and_malformed() {
        match parse_body(b"d14:failure reason6:nope!!e") {
            Err(TrackerError::Failure(r)) => assert_eq!(r, "nope!!"),
            other => panic!("{other:?}"),
        }
        for bad in [
            &b""[..],
            b"i3e",
            b"d8:intervali-5ee",
            b"d5:peers3:abce",
            b"d8:intervali30e5:peers5:abcdee",
            b"d8:intervali30e5:peersli3eee",
            b"d8:interval",
            b"\xff\xfe",
        ] {
            assert!(
                matches!(parse_body(bad), Err(TrackerError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn http_content_length_and_chunked() {
        let full = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA";
        assert_eq!(
            parse_http(full, false).unwrap(),
            Some((200, b"hello".to_vec()))
        );
        assert_eq!(parse_http(&full[..40], false).unwrap(), None);
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\n\r\n";
        assert_eq!(
            parse_http(chunked, false).unwrap(),
            Some((200, b"hello".to_vec()))
        );
        assert_eq!(parse_http(&chunked[..60], false).unwrap(), None);
        assert!(parse_http(&chunked[..60], true).is_err());
        let close = b"HTTP/1.0 404 Not Found\r\n\r\nbody";
        assert_eq!(parse_http(close, false).unwrap(), None);
        assert_eq!(
            parse_http(close, true).unwrap(),
            Some((404, b"body".to_vec()))
        );
        assert!(parse_http(b"SMTP 200\r\n\r\n", true).is_err());
        assert!(parse_http(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            false
        )
        .is_err());
    }

    #[test]
    fn request_encoding() {
        let t = Target::parse("http://127.0.0.1:6969/announce?key=a%20b").unwrap();
        let req = AnnounceRequest {
            info_hash: [0xff; 20],
            peer_id: *b"-PC0001-abcdefghij.~",
            port: 6881,
            uploaded: 1,
            downloaded: 2,
            left: 3,
            event: AnnounceEvent::Started,
            numwant: Some(50),
            ip: Some("10.0.0.1".parse().unwrap()),
        };
        let text = String::from_utf8(t.request(&req)).unwrap();
        let line = text.lines().next().unwrap();
        assert!(
            line.starts_with("GET /announce?key=a%20b&info_hash=%FF%FF"),
            "{line}"
        );
        assert!(line.contains(
            "&peer_id=-PC0001-abcdefghij.~&port=6881&uploaded=1&downloaded=2&left=3&compact=1"
        ));
        assert!(line.contains("&event=started&numwant=50&ip=10.0.0.1 HTTP/1.1"));
        assert!(text.contains("\r\nHost: 127.0.0.1:6969\r\n"));
        assert!(matches!(
            Target::parse("udp://tracker.example:80/announce"),
            Err(TrackerError::Unsupported(_))
        ));
        assert!(matches!(
            Target::parse("https://tracker.example/announce"),
            Err(TrackerError::Unsupported(_))
        ));
    }
}
