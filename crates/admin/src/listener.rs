//! The admin listener: HTTPS: TLS handshakes run in their own tasks (bounded by a
//! timeout), so a slow client cannot hold up the others.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use authrelay_core::Cidr;
use axum::extract::ConnectInfo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(
        listener: TcpListener,
        config: Arc<tokio_rustls::rustls::ServerConfig>,
        stop: CancellationToken,
    ) -> Self {
        let local = listener.local_addr().expect("bound listener has an address");
        let (tx, ready) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stop.cancelled() => return,
                    a = listener.accept() => a,
                };
                let (tcp, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "admin listener accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    if let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        let _ = tx.send((tls, peer)).await;
                    }
                });
            }
        });
        TlsListener { ready, local }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop ended (shutdown): wait for the graceful shutdown to finish.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// The peer of a connection, for both the plain and the TLS listener.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>> for ClientAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>> for ClientAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

/// The client's IP address as text: the connection's peer, or — when the peer is one of the
/// `trusted` load balancers — the nearest address of the forwarding chain (`Forwarded: for=`,
/// else `X-Forwarded-For`, read from the right) that is not itself trusted. A client cannot
/// pick its own address: headers from an untrusted peer are ignored, and an unreadable entry
/// stops the walk at the last trusted hop.
pub fn client_ip(info: &ConnectInfo<ClientAddr>, headers: &axum::http::HeaderMap, trusted: &[Cidr]) -> String {
    forwarded_client(info.0 .0.ip(), headers, trusted).to_string()
}

pub fn forwarded_client(peer: IpAddr, headers: &axum::http::HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|e| e.trim().to_string()).collect::<Vec<_>>())
            .collect()
    };
    let forwarded: Vec<String> = values("forwarded")
        .iter()
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                key.trim().eq_ignore_ascii_case("for").then(|| value.trim().trim_matches('"').to_string())
            })
        })
        .collect();
    let chain = if forwarded.is_empty() { values("x-forwarded-for") } else { forwarded };
    let mut client = peer;
    for entry in chain.iter().rev() {
        let Some(ip) = parse_node(entry) else { break };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// An address as forwarding headers write it: `192.0.2.7`, `192.0.2.7:4711`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711` or a bare IPv6 address.
fn parse_node(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    text.strip_prefix('[')?.split(']').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/24".parse().unwrap()];
        let lb: IpAddr = "10.0.0.5".parse().unwrap();
        let client: IpAddr = "198.51.100.7".parse().unwrap();
        let outsider: IpAddr = "203.0.113.9".parse().unwrap();
        let xff = |v: &str| headers(&[("x-forwarded-for", v)]);
        // From an untrusted peer, the headers are the client's own words: ignored.
        assert_eq!(forwarded_client(outsider, &xff("198.51.100.7"), &trusted), outsider);
        // Through the balancer: the address it saw.
        assert_eq!(forwarded_client(lb, &xff("198.51.100.7"), &trusted), client);
        // A forged left part is not believed: the nearest untrusted address wins.
        assert_eq!(forwarded_client(lb, &xff("192.0.2.66, 198.51.100.7"), &trusted), client);
        // Two trusted hops.
        assert_eq!(forwarded_client(lb, &xff("198.51.100.7, 10.0.0.9"), &trusted), client);
        // Forwarded (RFC 7239) wins over X-Forwarded-For, with ports and IPv6 brackets.
        let both =
            headers(&[("forwarded", "for=\"[2001:db8::1]:4711\";proto=https"), ("x-forwarded-for", "192.0.2.1")]);
        assert_eq!(forwarded_client(lb, &both, &trusted), "2001:db8::1".parse::<IpAddr>().unwrap());
        assert_eq!(forwarded_client(lb, &headers(&[("forwarded", "for=198.51.100.7:80")]), &trusted), client);
        // Unreadable or missing: the balancer's own address, never something made up.
        assert_eq!(forwarded_client(lb, &xff("unknown"), &trusted), lb);
        assert_eq!(forwarded_client(lb, &HeaderMap::new(), &trusted), lb);
        // Nothing trusted: the peer, whatever the headers say.
        assert_eq!(forwarded_client(lb, &xff("198.51.100.7"), &[]), lb);
    }
}
