//! Listeners, the connection cap, and graceful shutdown.
//!
//! `Server::start` binds every configured listener and returns a handle with the bound
//! addresses (port 0 in tests becomes a real port). Stopping cancels one token: accept loops
//! end, idle sessions get `421 4.3.2`, sessions in a transaction finish it first, and the handle
//! waits for them (bounded by a grace period).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use authrelay_core::ReplyId;

use crate::config::{ListenerKind, ListenerRules};
use crate::session::{Session, Shared};
use crate::stream::Stream;

pub struct Server {
    pub listeners: Vec<(ListenerKind, SocketAddr)>,
    /// Most connections served at once; one more is told `421 4.7.0` and closed.
    pub max_connections: usize,
    /// Load balancers whose connections start with a PROXY header (proxy.rs).
    pub trusted_proxies: Vec<authrelay_core::Cidr>,
    pub shared: Arc<Shared>,
    /// For the implicit-TLS port and STARTTLS.
    pub tls: TlsAcceptor,
    /// `[[listeners]]`: more listeners, each with its own rules (legacy devices: old TLS, no
    /// TLS, bare LFs; README "Legacy devices").
    pub extra: Vec<(SocketAddr, Arc<ListenerRules>)>,
    /// The certificate and key PEM files, for a listed listener whose `tls_min` is below 1.2
    /// (OpenSSL reads them itself; legacy_tls.rs).
    pub pem_files: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

pub struct ServerHandle {
    pub addresses: Vec<(ListenerKind, SocketAddr)>,
    /// The bound addresses of `Server::extra`, in its order.
    pub extra_addresses: Vec<SocketAddr>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl ServerHandle {
    pub fn address(&self, kind: ListenerKind) -> Option<SocketAddr> {
        self.addresses.iter().find(|(k, _)| *k == kind).map(|(_, a)| *a)
    }

    /// Stops accepting, lets transactions in flight finish (at most `grace`), then returns.
    pub async fn stop(self, grace: Duration) {
        self.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait()).await.is_err() {
            tracing::warn!("some sessions were still open after the shutdown grace period");
        }
    }
}

impl Server {
    pub async fn start(self) -> std::io::Result<ServerHandle> {
        let tracker = TaskTracker::new();
        let shutdown = self.shared.shutdown.clone();
        let slots = Arc::new(Semaphore::new(self.max_connections));
        let mut addresses = vec![];
        let mut extra_addresses = vec![];
        let listeners = self.listeners.iter().map(|(kind, addr)| (*kind, *addr, None));
        let extra = self.extra.iter().map(|(addr, rules)| (rules.kind, *addr, Some(rules.clone())));
        for (kind, addr, rules) in listeners.chain(extra) {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
            let local = listener.local_addr()?;
            match &rules {
                None => {
                    tracing::info!(address = %local, kind = ?kind, "listening");
                    addresses.push((kind, local));
                }
                Some(r) => {
                    tracing::info!(address = %local, kind = kind.as_str(), legacy = r.is_legacy(), tls_min = r.tls_min.as_str(), "listening ([[listeners]])");
                    extra_addresses.push(local);
                }
            }
            let trusted = Arc::new(self.trusted_proxies.clone());
            let rules = rules.map(|r| {
                let mut r = (*r).clone();
                r.pem_files = self.pem_files.clone();
                Arc::new(r)
            });
            let shared = (self.shared.clone(), self.tls.clone(), rules);
            tracker.spawn(accept_loop(listener, kind, shared, slots.clone(), trusted, tracker.clone()));
        }
        Ok(ServerHandle { addresses, extra_addresses, shutdown, tracker })
    }
}

async fn accept_loop(
    listener: TcpListener,
    kind: ListenerKind,
    (shared, tls, rules): (Arc<Shared>, TlsAcceptor, Option<Arc<ListenerRules>>),
    slots: Arc<Semaphore>,
    trusted_proxies: Arc<Vec<authrelay_core::Cidr>>,
    tracker: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shared.shutdown.cancelled() => return,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        if crate::proxy::is_trusted(&trusted_proxies, peer.ip()) {
            // The client's address is in the header: the per-address checks wait for it.
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                tracker.spawn(refuse(tcp, ReplyId::TooManyConnections));
                continue;
            };
            let (shared, tls, rules) = (shared.clone(), tls.clone(), rules.clone());
            tracker.spawn(async move {
                let _permit = permit;
                serve_proxied(shared, tls, (kind, rules), tcp, peer).await;
            });
            continue;
        }
        // Per-address cap, connection rate and failure budget (protection.rs) before the global cap.
        let address_permit = match shared.auth.guard().admit(peer.ip()) {
            Ok(p) => p,
            Err(reply) => {
                tracing::info!(client = %peer.ip(), reply = reply.as_str(), "connection refused for its address");
                tracker.spawn(refuse(tcp, reply));
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracker.spawn(refuse(tcp, ReplyId::TooManyConnections));
            continue;
        };
        let (shared, tls, rules) = (shared.clone(), tls.clone(), rules.clone());
        tracker.spawn(async move {
            let _permit = permit;
            let _address_permit = address_permit;
            serve(shared, tls, (kind, rules), tcp, peer).await;
        });
    }
}

/// A connection from a trusted load balancer: its PROXY header first, then the client's
/// address goes through the same per-address checks as a direct client's.
async fn serve_proxied(
    shared: Arc<Shared>,
    tls: TlsAcceptor,
    kind: (ListenerKind, Option<Arc<ListenerRules>>),
    mut tcp: TcpStream,
    proxy: SocketAddr,
) {
    let client = match crate::proxy::read_header(&mut tcp, crate::proxy::HEADER_TIMEOUT).await {
        Ok(crate::proxy::Origin::Client(client)) => client,
        // The balancer's own health check: a session like any other, under its own address.
        Ok(crate::proxy::Origin::Proxy) => proxy,
        Err(e) => {
            // Nothing was said to the balancer's client yet; dropping the connection is the
            // protocol's answer to a bad header.
            tracing::warn!(proxy = %proxy, error = %e, "connection from a trusted proxy dropped");
            return;
        }
    };
    let _address_permit = match shared.auth.guard().admit(client.ip()) {
        Ok(p) => p,
        Err(reply) => {
            tracing::info!(client = %client.ip(), proxy = %proxy, reply = reply.as_str(), "connection refused for its address");
            refuse(tcp, reply).await;
            return;
        }
    };
    serve(shared, tls, kind, tcp, client).await;
}

async fn serve(
    shared: Arc<Shared>,
    tls: TlsAcceptor,
    (kind, rules): (ListenerKind, Option<Arc<ListenerRules>>),
    tcp: TcpStream,
    peer: SocketAddr,
) {
    // A listed listener admits its clients and its connectors' clients, nobody else: refused
    // before the greeting, so nothing of the weaker path is offered to them.
    if let Some(r) = &rules {
        let connectors = shared.connectors.current();
        if !r.lists_client(peer.ip()) && connectors.connector_among(peer.ip(), &r.connectors).is_none() {
            tracing::info!(client = %peer.ip(), listener = %r.name, "connection refused: address not among the listener's clients");
            refuse(tcp, ReplyId::ListenerClientRefused).await;
            return;
        }
    }
    let listener = match (&rules, kind) {
        (Some(r), _) if r.is_legacy() => "legacy",
        (_, kind) => kind.as_str(),
    };
    metrics::counter!("authrelay_smtp_connections_total", "listener" => listener).increment(1);
    let open = metrics::gauge!("authrelay_smtp_sessions_open", "listener" => listener);
    open.increment(1.0);
    // Decremented however the session ends.
    struct Open(metrics::Gauge);
    impl Drop for Open {
        fn drop(&mut self) {
            self.0.decrement(1.0);
        }
    }
    let _open = Open(open);
    #[cfg(feature = "legacy-tls")]
    let legacy_tls = rules.as_ref().and_then(|r| crate::legacy_tls::LegacyTls::for_listener(r));
    let stream = match kind {
        #[cfg(feature = "legacy-tls")]
        ListenerKind::Submissions if legacy_tls.is_some() => {
            let legacy = legacy_tls.as_ref().expect("checked");
            match tokio::time::timeout(Duration::from_secs(30), legacy.accept(tcp)).await {
                Ok(Ok(tls)) => Stream::Legacy(Box::new(tls)),
                Ok(Err(e)) => {
                    tracing::info!(client = %peer, error = %e, "TLS handshake failed (legacy listener)");
                    return;
                }
                Err(_) => return,
            }
        }
        ListenerKind::Submission | ListenerKind::Plain => Stream::Plain(tcp),
        ListenerKind::Submissions => match tokio::time::timeout(Duration::from_secs(30), tls.accept(tcp)).await {
            Ok(Ok(tls)) => Stream::Tls(Box::new(tls)),
            Ok(Err(e)) => {
                tracing::info!(client = %peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => return,
        },
    };
    // No STARTTLS where the admin said there is no TLS.
    let starttls = (kind != ListenerKind::Plain).then_some(tls);
    let session = Session::new(shared, kind, peer, starttls).with_rules(rules);
    #[cfg(feature = "legacy-tls")]
    let session = session.with_legacy_tls(legacy_tls);
    session.run(stream).await;
}

async fn refuse(mut tcp: TcpStream, reply: ReplyId) {
    metrics::counter!("authrelay_smtp_connections_refused_total", "reply" => reply.as_str()).increment(1);
    let reply = reply.reply().to_wire();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.write_all(reply.as_bytes())).await;
    let _ = tcp.shutdown().await;
}
