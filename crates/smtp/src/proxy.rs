//! The PROXY protocol (HAProxy's v1 text and v2 binary headers) from a trusted load balancer.
//!
//! Behind a TCP balancer every connection comes from the balancer's address, so lockout, the
//! per-address limits, device-credential allow lists, connectors, the sign-in log, Received
//! headers and fail2ban would all see the balancer. A balancer in `listen.trusted_proxies` says
//! who the client is in a header before the SMTP (or TLS) bytes; this module reads exactly that
//! header and nothing after it, so the session and the TLS handshake see the client's bytes
//! untouched. A connection from a trusted address without a valid header is dropped; a header
//! from any other address is never read as one (the session refuses it as a command).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// How long a trusted proxy may take to send its header.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// v1 headers are at most 107 bytes (the specification's bound).
const V1_MAX: usize = 107;
/// v2: 16 fixed bytes, then addresses and TLVs. HAProxy's TLVs (unique id, TLS facts) fit in
/// far less; anything larger is not a header we take.
const V2_MAX_PAYLOAD: usize = 2048;
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// Enough to tell v1 from v2: "PROXY UNKNOWN\r\n" is the shortest header (15 bytes).
const PREFIX: usize = 15;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("the connection closed before a complete PROXY header")]
    Closed,
    #[error("no PROXY header in time")]
    Timeout,
    #[error("not a PROXY protocol header")]
    NotAHeader,
    #[error("a PROXY header longer than allowed")]
    TooLong,
    #[error("a malformed PROXY header: {0}")]
    Malformed(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What the header said about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A proxied client at this address.
    Client(SocketAddr),
    /// The balancer speaking for itself (v2 `LOCAL`, v1 `UNKNOWN`: its health checks).
    Proxy,
}

/// Whether `ip` may send a PROXY header.
pub fn is_trusted(trusted: &[authrelay_core::Cidr], ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    trusted.iter().any(|c| c.contains(ip))
}

/// Reads one PROXY header (v1 or v2) from the start of `stream`, byte-exact: not one byte of
/// what follows is consumed. Bounded in size and, by the caller, in time ([`read_header`]).
async fn read_exact_header<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Vec<u8>, ProxyError> {
    let mut header = vec![0u8; PREFIX];
    fill(stream, &mut header).await?;
    if header.starts_with(b"PROXY ") {
        // v1: one byte at a time up to CRLF, so nothing after it is taken.
        let mut byte = [0u8; 1];
        while !header.ends_with(b"\r\n") {
            if header.len() >= V1_MAX {
                return Err(ProxyError::TooLong);
            }
            fill(stream, &mut byte).await?;
            header.push(byte[0]);
        }
        return Ok(header);
    }
    if header[..12] != V2_SIGNATURE[..] {
        return Err(ProxyError::NotAHeader);
    }
    let mut rest = [0u8; 1];
    fill(stream, &mut rest).await?;
    header.push(rest[0]);
    let payload = u16::from_be_bytes([header[14], header[15]]) as usize;
    if payload > V2_MAX_PAYLOAD {
        return Err(ProxyError::TooLong);
    }
    let start = header.len();
    header.resize(start + payload, 0);
    fill(stream, &mut header[start..]).await?;
    Ok(header)
}

async fn fill<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut [u8]) -> Result<(), ProxyError> {
    match stream.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(ProxyError::Closed),
        Err(e) => Err(e.into()),
    }
}

/// Reads and checks the header a trusted proxy sends first, within `within`
/// ([`HEADER_TIMEOUT`] on the listeners).
pub async fn read_header<S: AsyncRead + Unpin>(stream: &mut S, within: Duration) -> Result<Origin, ProxyError> {
    let bytes = tokio::time::timeout(within, read_exact_header(stream)).await.map_err(|_| ProxyError::Timeout)??;
    parse(&bytes)
}

/// The origin a complete header names (ppp checks the grammar).
pub fn parse(bytes: &[u8]) -> Result<Origin, ProxyError> {
    use ppp::HeaderResult;
    match HeaderResult::parse(bytes) {
        HeaderResult::V1(Ok(h)) => {
            if h.header.len() != bytes.len() {
                return Err(ProxyError::Malformed("bytes after the v1 header".into()));
            }
            Ok(match h.addresses {
                ppp::v1::Addresses::Tcp4(a) => {
                    Origin::Client(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port))
                }
                ppp::v1::Addresses::Tcp6(a) => {
                    Origin::Client(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port))
                }
                ppp::v1::Addresses::Unknown => Origin::Proxy,
            })
        }
        HeaderResult::V2(Ok(h)) => {
            if h.len() != bytes.len() {
                return Err(ProxyError::Malformed("bytes after the v2 header".into()));
            }
            if h.command == ppp::v2::Command::Local {
                return Ok(Origin::Proxy);
            }
            match h.addresses {
                ppp::v2::Addresses::IPv4(a) => {
                    Ok(Origin::Client(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port)))
                }
                ppp::v2::Addresses::IPv6(a) => {
                    Ok(Origin::Client(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port)))
                }
                // A PROXY command must name a TCP client; a UNIX socket or nothing is not one.
                other => Err(ProxyError::Malformed(format!("no client address ({:?})", other.address_family()))),
            }
        }
        HeaderResult::V1(Err(e)) => Err(ProxyError::Malformed(e.to_string())),
        HeaderResult::V2(Err(e)) => Err(ProxyError::Malformed(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn v2(command: u8, family: u8, addresses: &[u8], tlvs: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | command);
        h.push(family);
        h.extend_from_slice(&((addresses.len() + tlvs.len()) as u16).to_be_bytes());
        h.extend_from_slice(addresses);
        h.extend_from_slice(tlvs);
        h
    }

    fn v2_ipv4(src: [u8; 4], port: u16) -> Vec<u8> {
        let mut a = src.to_vec();
        a.extend_from_slice(&[127, 0, 0, 1]);
        a.extend_from_slice(&port.to_be_bytes());
        a.extend_from_slice(&587u16.to_be_bytes());
        v2(1, 0x11, &a, &[])
    }

    /// Writes `bytes` into one end of a pipe, reads the header from the other, and returns the
    /// origin and what is left unread.
    async fn through_pipe(bytes: &[u8]) -> (Result<Origin, ProxyError>, Vec<u8>) {
        let (mut client, mut server) = tokio::io::duplex(8192);
        client.write_all(bytes).await.unwrap();
        drop(client);
        let origin = read_header(&mut server, HEADER_TIMEOUT).await;
        let mut rest = vec![];
        server.read_to_end(&mut rest).await.unwrap();
        (origin, rest)
    }

    #[tokio::test]
    async fn v1_and_v2_name_the_client_and_leave_the_rest_unread() {
        let (origin, rest) = through_pipe(b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 587\r\nEHLO x\r\n").await;
        assert_eq!(origin.unwrap(), Origin::Client("192.0.2.7:40000".parse().unwrap()));
        assert_eq!(rest, b"EHLO x\r\n");

        let (origin, rest) = through_pipe(b"PROXY TCP6 2001:db8::7 ::1 40000 587\r\n\x16\x03\x01").await;
        assert_eq!(origin.unwrap(), Origin::Client("[2001:db8::7]:40000".parse().unwrap()));
        assert_eq!(rest, b"\x16\x03\x01", "a TLS ClientHello right behind the header is untouched");

        let mut bytes = v2_ipv4([198, 51, 100, 9], 51000);
        bytes.extend_from_slice(b"\x16\x03\x01rest");
        let (origin, rest) = through_pipe(&bytes).await;
        assert_eq!(origin.unwrap(), Origin::Client("198.51.100.9:51000".parse().unwrap()));
        assert_eq!(rest, b"\x16\x03\x01rest");

        // TLVs (HAProxy's unique id) are part of the header.
        let mut a = vec![203, 0, 113, 5, 127, 0, 0, 1];
        a.extend_from_slice(&1234u16.to_be_bytes());
        a.extend_from_slice(&587u16.to_be_bytes());
        let tlv = [0x05, 0x00, 0x03, b'a', b'b', b'c'];
        let mut bytes = v2(1, 0x11, &a, &tlv);
        bytes.extend_from_slice(b"QUIT\r\n");
        let (origin, rest) = through_pipe(&bytes).await;
        assert_eq!(origin.unwrap(), Origin::Client("203.0.113.5:1234".parse().unwrap()));
        assert_eq!(rest, b"QUIT\r\n");
    }

    #[tokio::test]
    async fn health_checks_speak_for_the_proxy() {
        assert_eq!(through_pipe(b"PROXY UNKNOWN\r\n").await.0.unwrap(), Origin::Proxy);
        assert_eq!(through_pipe(&v2(0, 0x00, &[], &[])).await.0.unwrap(), Origin::Proxy);
    }

    #[tokio::test]
    async fn anything_else_is_refused() {
        for bad in [
            &b"EHLO printer.contoso.com\r\n"[..],
            b"PROXY TCP4 999.0.2.7 127.0.0.1 40000 587\r\n",
            b"PROXY TCP4 192.0.2.7 127.0.0.1 40000\r\n",
            b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 587\n\r\n",
            b"PROXY TCP5 192.0.2.7 127.0.0.1 40000 587\r\n",
            b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 587",
            b"PROXY ",
            b"",
        ] {
            let (origin, _) = through_pipe(bad).await;
            assert!(origin.is_err(), "{:?} -> {origin:?}", String::from_utf8_lossy(bad));
        }
        // v1 without CRLF within 107 bytes.
        let long = format!("PROXY TCP4 {}\r\n", "1".repeat(200));
        assert!(matches!(through_pipe(long.as_bytes()).await.0, Err(ProxyError::TooLong)));
        // v2: a UNIX socket names no client; a payload past the bound; a wrong version.
        assert!(through_pipe(&v2(1, 0x31, &[0u8; 216], &[])).await.0.is_err());
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert!(matches!(through_pipe(&huge).await.0, Err(ProxyError::TooLong)));
        let mut v3 = v2_ipv4([192, 0, 2, 1], 1);
        v3[12] = 0x31;
        assert!(through_pipe(&v3).await.0.is_err());
        // An address block shorter than its family needs.
        assert!(through_pipe(&v2(1, 0x11, &[192, 0, 2, 1], &[])).await.0.is_err());
    }

    #[tokio::test]
    async fn a_silent_proxy_times_out() {
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(b"PROXY TCP4 192.0.2.7").await.unwrap();
        let within = Duration::from_millis(200);
        assert!(matches!(read_header(&mut server, within).await, Err(ProxyError::Timeout)));
    }

    #[test]
    fn trust_is_by_address_and_covers_mapped_ipv4() {
        let trusted = vec!["127.0.0.1/32".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        assert!(is_trusted(&trusted, "127.0.0.1".parse().unwrap()));
        assert!(is_trusted(&trusted, "10.1.2.3".parse().unwrap()));
        assert!(is_trusted(&trusted, "::ffff:10.1.2.3".parse().unwrap()));
        assert!(!is_trusted(&trusted, "127.0.0.2".parse().unwrap()));
        assert!(!is_trusted(&[], "127.0.0.1".parse().unwrap()));
    }
}
