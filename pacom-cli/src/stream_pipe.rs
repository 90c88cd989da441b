//! A circuit stream carried over a control-socket connection, between the
//! daemon (which owns circuits) and `pacom socks` (which owns the SOCKS
//! port).
//!
//! Towards the daemon the connection carries the application's bytes as
//! they are, and end of file is a half-close. Towards `pacom socks` the
//! bytes come in frames, `kind ‖ u32 length ‖ payload`, because a Unix
//! socket cannot say "reset": a clean end (`FIN`) and a broken stream
//! (`RESET`, the circuit session failed) must reach the SOCKS client
//! differently — as a TCP close or as a TCP reset.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

const DATA: u8 = 0;
const FIN: u8 = 1;
const RESET: u8 = 2;
const HEADER: usize = 5;
/// Payload of one data frame at most.
const CHUNK: usize = 64 * 1024;

fn header(kind: u8, len: usize) -> [u8; HEADER] {
    let mut h = [kind, 0, 0, 0, 0];
    h[1..].copy_from_slice(&(len as u32).to_be_bytes());
    h
}

/// Daemon side: relays a circuit stream (`st_r`, `st_w`) and the control
/// connection (`ctl_r`, `ctl_w`) both ways until both directions ended.
pub async fn serve<CR, CW, SR, SW>(mut ctl_r: CR, mut ctl_w: CW, mut st_r: SR, mut st_w: SW)
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    SR: AsyncRead + Unpin,
    SW: AsyncWrite + Unpin,
{
    let up = async {
        match tokio::io::copy(&mut ctl_r, &mut st_w).await {
            Ok(_) => {
                let _ = st_w.shutdown().await;
            }
            Err(e) => tracing::debug!(error = %e, "socks front-end connection broke"),
        }
    };
    let down = async {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let (kind, n) = match st_r.read(&mut buf).await {
                Ok(0) => (FIN, 0),
                Ok(n) => (DATA, n),
                Err(e) => {
                    tracing::debug!(error = %e, "circuit stream broke");
                    (RESET, 0)
                }
            };
            let mut frame = header(kind, n).to_vec();
            frame.extend_from_slice(buf.get(..n).unwrap_or_default());
            if ctl_w.write_all(&frame).await.is_err() || kind != DATA {
                break;
            }
        }
        let _ = ctl_w.shutdown().await;
    };
    tokio::join!(up, down);
}

/// `pacom socks` side: the stream's bytes out of the frames. `RESET`, and
/// a connection that ends without `FIN`, read as "connection reset".
pub struct FrameReader<R> {
    inner: R,
    header: [u8; HEADER],
    have: usize,
    payload_left: usize,
    fin: bool,
}

impl<R> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner,
            header: [0; HEADER],
            have: 0,
            payload_left: 0,
            fin: false,
        }
    }
}

fn reset(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, why.to_string())
}

impl<R: AsyncRead + Unpin> AsyncRead for FrameReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.fin {
                return Poll::Ready(Ok(()));
            }
            if this.payload_left > 0 {
                let want = this.payload_left.min(buf.remaining());
                let mut part = ReadBuf::new(buf.initialize_unfilled_to(want));
                ready!(Pin::new(&mut this.inner).poll_read(cx, &mut part))?;
                let n = part.filled().len();
                if n == 0 {
                    return Poll::Ready(Err(reset("the node closed the stream mid-frame")));
                }
                buf.advance(n);
                this.payload_left -= n;
                return Poll::Ready(Ok(()));
            }
            let mut part = ReadBuf::new(this.header.get_mut(this.have..).unwrap_or_default());
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut part))?;
            let n = part.filled().len();
            if n == 0 {
                return Poll::Ready(Err(reset("the node closed the stream")));
            }
            this.have += n;
            if this.have < HEADER {
                continue;
            }
            this.have = 0;
            let mut len = [0u8; 4];
            len.copy_from_slice(&this.header[1..]);
            let len = u32::from_be_bytes(len) as usize;
            match this.header[0] {
                DATA if len <= CHUNK => this.payload_left = len,
                FIN if len == 0 => this.fin = true,
                RESET => return Poll::Ready(Err(reset("the circuit session failed"))),
                _ => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "bad stream frame from the node",
                    )))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(frames: Vec<u8>) -> (Vec<u8>, io::Result<usize>) {
        let mut r = FrameReader::new(&frames[..]);
        let mut got = Vec::new();
        let res = r.read_to_end(&mut got).await;
        (got, res)
    }

    #[tokio::test]
    async fn data_then_fin_is_a_clean_end() {
        let mut f = header(DATA, 3).to_vec();
        f.extend_from_slice(b"abc");
        f.extend_from_slice(&header(DATA, 0));
        f.extend_from_slice(&header(DATA, 2));
        f.extend_from_slice(b"de");
        f.extend_from_slice(&header(FIN, 0));
        f.extend_from_slice(b"ignored after fin");
        let (got, res) = read_all(f).await;
        assert_eq!(got, b"abcde");
        assert_eq!(res.unwrap(), 5);
    }

    #[tokio::test]
    async fn reset_truncation_and_garbage_are_errors() {
        let mut f = header(DATA, 2).to_vec();
        f.extend_from_slice(b"ok");
        f.extend_from_slice(&header(RESET, 0));
        let (got, res) = read_all(f).await;
        assert_eq!(got, b"ok");
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::ConnectionReset);

        // Ends without FIN: mid-payload, and between frames.
        let mut f = header(DATA, 10).to_vec();
        f.extend_from_slice(b"short");
        let (_, res) = read_all(f).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
        let (_, res) = read_all(header(DATA, 0).to_vec()).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::ConnectionReset);

        for bad in [header(9, 0), header(DATA, CHUNK + 1), header(FIN, 1)] {
            let (_, res) = read_all(bad.to_vec()).await;
            assert_eq!(res.unwrap_err().kind(), io::ErrorKind::InvalidData);
        }
    }

    #[tokio::test]
    async fn serve_frames_a_stream_and_ends_with_fin_or_reset() {
        let (mut front, daemon) = tokio::io::duplex(1024);
        let (ctl_r, ctl_w) = tokio::io::split(daemon);
        let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let st_r = std::io::Cursor::new(body.clone());
        let (sink, mut sink_r) = tokio::io::duplex(1 << 20);
        let task = tokio::spawn(async move { serve(ctl_r, ctl_w, st_r, sink).await });
        front.write_all(b"upstream").await.unwrap();
        front.shutdown().await.unwrap();
        let mut got = Vec::new();
        FrameReader::new(&mut front)
            .read_to_end(&mut got)
            .await
            .unwrap();
        assert!(got == body);
        task.await.unwrap();
        let mut up = Vec::new();
        sink_r.read_to_end(&mut up).await.unwrap();
        assert_eq!(up, b"upstream");

        // A stream that breaks arrives as a reset.
        let (mut front, daemon) = tokio::io::duplex(1024);
        let (ctl_r, ctl_w) = tokio::io::split(daemon);
        let broken = Broken;
        tokio::spawn(async move { serve(ctl_r, ctl_w, broken, tokio::io::sink()).await });
        front.shutdown().await.unwrap();
        let err = FrameReader::new(&mut front)
            .read_to_end(&mut Vec::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    }

    struct Broken;
    impl AsyncRead for Broken {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Ready(Err(reset("test")))
        }
    }
}
