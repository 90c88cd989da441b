//! Free loopback ports for programs that cannot report the port they chose.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};

/// A port free for both TCP and UDP on 127.0.0.1 at the time of the call
/// (bind :0, then release; a small race with other processes remains).
pub fn free_port() -> anyhow::Result<u16> {
    for _ in 0..50 {
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = tcp.local_addr()?.port();
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    anyhow::bail!("no port free for both TCP and UDP")
}
