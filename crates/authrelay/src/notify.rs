//! systemd's readiness protocol (sd_notify(3)) for `Type=notify` (etc/systemd/authrelay.service):
//! one datagram per state change to the socket named by `$NOTIFY_SOCKET`. Without that variable
//! (not started by systemd) nothing is sent.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;

/// Every listener is bound and the spool is open.
pub fn ready() {
    send("READY=1\nSTATUS=accepting mail");
}

/// The server stops accepting and lets transactions in flight finish.
pub fn stopping() {
    send("STOPPING=1\nSTATUS=stopping");
}

/// A reload (SIGHUP) begins; [`ready`] ends it. systemd wants the monotonic clock with it.
pub fn reloading() {
    send(&format!("RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading", monotonic_usec()));
}

fn send(state: &str) {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else { return };
    if let Err(e) = send_to(target.as_bytes(), state.as_bytes()) {
        tracing::warn!(socket = %target.to_string_lossy(), error = %e, "cannot notify systemd");
    }
}

/// `target` is a path, or `@name` for a socket in the abstract namespace.
fn send_to(target: &[u8], message: &[u8]) -> io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    match target.strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(message, &address)?;
        }
        None => {
            socket.send_to(message, std::ffi::OsStr::from_bytes(target))?;
        }
    }
    Ok(())
}

fn monotonic_usec() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid timespec to write into; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_reach_path_and_abstract_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let bound = UnixDatagram::bind(&path).unwrap();
        send_to(path.as_os_str().as_bytes(), b"READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = bound.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("authrelay-notify-test-{}", std::process::id());
        let abstract_socket =
            UnixDatagram::bind_addr(&std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        send_to(format!("@{name}").as_bytes(), b"STOPPING=1").unwrap();
        let n = abstract_socket.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
    }
}
