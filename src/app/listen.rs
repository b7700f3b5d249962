//! The listening socket, with an accept queue for thousands of watches.

use socket2::{Domain, Protocol, Socket, Type};
use std::net::SocketAddr;

/// Connections the kernel completes before the server accepts them (Linux caps it at
/// `net.core.somaxconn`, 4096 by default). The standard library's 128 overflows when a few
/// hundred watches connect at once — after a restart, say — and the kernel then drops their
/// handshakes, to be retried a second later or reset.
const BACKLOG: i32 = 4096;

/// A socket listening on `address` with a [`BACKLOG`]-long accept queue.
pub fn listen(address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    // A restarted instance binds its port again at once, beside its predecessor's closing
    // connections.
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}
