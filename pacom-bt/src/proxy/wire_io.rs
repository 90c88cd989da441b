//! Reads one stream-begin message off an async stream without reading past
//! it: the TCP bytes that follow belong to the application.

use pacom_core::exit::{Decoded, WireError, HEADER_LEN};
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt};

#[derive(Debug, thiserror::Error)]
pub enum WireIoError {
    #[error("reading the stream message: {0}")]
    Io(#[from] io::Error),
    #[error("bad stream message: {0}")]
    Wire(#[from] WireError),
}

/// Reads exactly one message. The decoder bounds the declared length before
/// this grows the buffer, so a peer cannot make it allocate more.
pub async fn read_message<R, T>(
    r: &mut R,
    decode: fn(&[u8]) -> Result<Decoded<T>, WireError>,
) -> Result<T, WireIoError>
where
    R: AsyncRead + Unpin + ?Sized,
{
    let mut buf = Vec::with_capacity(64);
    let mut need = HEADER_LEN;
    loop {
        if buf.len() < need {
            let have = buf.len();
            buf.resize(need, 0);
            r.read_exact(&mut buf[have..]).await?;
        }
        match decode(&buf)? {
            Decoded::NeedMore(n) if n > buf.len() => need = n,
            Decoded::NeedMore(_) => {
                return Err(WireIoError::Io(io::Error::other(
                    "decoder asked for no more bytes than it had",
                )))
            }
            Decoded::Done(msg, _) => return Ok(msg),
        }
    }
}
