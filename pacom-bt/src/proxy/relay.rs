//! Copies bytes both ways between two streams with TCP half-close: when one
//! side stops sending, the other side's write half is shut down, and the
//! relay ends only when both directions have finished.

use std::io;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// Large enough to keep a loopback or circuit pipe busy.
const BUF: usize = 64 * 1024;

/// Relays `a_r → b_w` (after writing `early` to `b_w`) and `b_r → a_w`.
/// Returns the bytes moved each way (early data included). An error in
/// either direction ends both, since the stream is then broken.
pub async fn relay<AR, AW, BR, BW>(
    a_r: AR,
    mut a_w: AW,
    b_r: BR,
    mut b_w: BW,
    early: Vec<u8>,
) -> io::Result<(u64, u64)>
where
    AR: AsyncRead + Unpin,
    AW: AsyncWrite + Unpin,
    BR: AsyncRead + Unpin,
    BW: AsyncWrite + Unpin,
{
    let up = async {
        b_w.write_all(&early).await?;
        let n = tokio::io::copy_buf(&mut BufReader::with_capacity(BUF, a_r), &mut b_w).await?;
        b_w.shutdown().await?;
        Ok::<_, io::Error>(n + early.len() as u64)
    };
    let down = async {
        let n = tokio::io::copy_buf(&mut BufReader::with_capacity(BUF, b_r), &mut a_w).await?;
        a_w.shutdown().await?;
        Ok::<_, io::Error>(n)
    };
    tokio::try_join!(up, down)
}
