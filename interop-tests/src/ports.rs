//! Free loopback ports for programs that cannot report the port they chose.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::Mutex;

/// Ports already handed out in this process. Tests run in parallel threads:
/// two of them probing at once could otherwise be given the same port, and
/// one test's server would answer the other's clients.
static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A port free for both TCP and UDP on 127.0.0.1 at the time of the call and
/// never returned before by this process (bind :0, then release; a small race
/// with other processes remains).
pub fn free_port() -> anyhow::Result<u16> {
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    for _ in 0..200 {
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = tcp.local_addr()?.port();
        if given.contains(&port) {
            continue;
        }
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            given.insert(port);
            return Ok(port);
        }
    }
    anyhow::bail!("no port free for both TCP and UDP")
}
