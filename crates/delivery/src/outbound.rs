//! Onward delivery over SMTP: to a smarthost, or straight to the recipient domain's MX hosts.
//!
//! The wire is crates/transport's [`Connection`](authrelay_transport::Connection) (plain or
//! TLS, one bounded reply reader); the dialogue is written here, so each RCPT gets its own
//! result (a client that stops at the first refused recipient would turn one bad address into
//! a retry or bounce of all of them) and the dot-stuffed DATA goes out byte for byte.
//!
//! Reply classes decide the outcome (RFC 5321 4.2.1): 2yz delivered, 4yz and any connection,
//! TLS or timeout failure temporary, 5yz permanent. A host that fails before the transaction
//! (refused connection, non-220 greeting, failed EHLO or TLS) makes us try the next address
//! and the next MX, in preference order (RFC 5321 5.1).
//!
//! Connections are reused ([`crate::pool`]): after a transaction that ended cleanly (the final
//! reply to DATA, or RSET accepted after every recipient was refused) the greeted, encrypted and
//! signed-in connection waits idle for the next message to the same destination. A reused
//! connection that turns out closed, or fails or answers 421 before any recipient got an answer,
//! is dropped and the message goes out at once over a fresh connection; that is no failed
//! attempt. A connection that saw a protocol error, a timeout or a 421 is never reused.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use authrelay_transport::{tls, Reply, ReplyError, Stream};
use base64::Engine;
use hickory_resolver::config::{NameServerConfig, ProtocolConfig, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;
use tokio::io::ReadBuf;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::{DeliveryConfig, Route, RouteKind, Smarthost, TlsMode};
use crate::pool::{Destination, Pool, Pooled};
use crate::{Attempt, Job};

pub struct Outbound {
    hostname: String,
    connect_timeout: Duration,
    command_timeout: Duration,
    mx_port: u16,
    resolver: Option<TokioResolver>,
    /// The routes and what each needs (replaced whole by a reload, `set_routes`).
    table: std::sync::RwLock<Arc<RouteTable>>,
    /// For opportunistic TLS: encrypts, verifies nothing (RFC 7435).
    unverified: TlsConnector,
    /// Idle connections, ready for the next message to the same destination.
    pool: Arc<ConnectionPool>,
    /// Set while the task closing expired idle connections runs.
    reaper: Arc<AtomicBool>,
    /// Smarthost name → addresses, so a message does not cost a resolver call (see `smarthost_addrs`).
    resolved: std::sync::Mutex<std::collections::HashMap<(String, u16), Resolved>>,
}

/// When a smarthost name was looked up, and what it gave.
type Resolved = (Instant, Vec<SocketAddr>);

/// How long a smarthost's resolved addresses are reused.
const RESOLVED_TTL: Duration = Duration::from_secs(60);

type ConnectionPool = Pool<Destination, Connection>;

/// A failure of one host before any recipient got an answer; the next host is tried.
struct HostFailure(String);

/// Why a fresh connection could not be made ready for a transaction.
enum SetupFailure {
    /// Try the next address or host.
    Host(HostFailure),
    /// Signing in failed: every recipient is retried later (the admin's to fix).
    Auth(String),
}

impl From<HostFailure> for SetupFailure {
    fn from(f: HostFailure) -> Self {
        SetupFailure::Host(f)
    }
}

/// A connection greeted (and, as the route asks, encrypted and signed in), between transactions.
pub struct Connection {
    wire: authrelay_transport::Connection,
    /// The reply to the last EHLO (after TLS when TLS is up).
    ehlo: Reply,
}

/// How to sign in at a smarthost.
enum Login {
    Password {
        user: String,
        password: String,
    },
    /// XOAUTH2 with a token of the route's client-credentials source.
    XOAuth2 {
        user: String,
        token: String,
        source: Arc<authrelay_oauth::TokenSource>,
    },
}

/// Why signing in did not succeed.
enum AuthFailure {
    /// The far side answered and refused: the reply, as kept in the delivery state.
    Refused(String),
    /// No answer, or nothing to sign in with.
    Other(String),
}

/// How a transaction ended.
enum Ended {
    /// Every recipient has its attempt; the connection, when it may carry another transaction.
    Done(Vec<Attempt>, Option<Connection>),
    /// A reused connection failed before any recipient got an answer: nothing happened yet,
    /// the message goes out over a fresh connection.
    Stale(String),
}

impl Connection {
    /// False when the far side has closed the idle connection or sent something unasked (a
    /// 421 before closing): nothing may be waiting on a connection between transactions.
    fn looks_alive(&self) -> bool {
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        !self.wire.has_unread() && matches!(self.wire.stream().tcp().poll_peek(&mut cx, &mut buf), Poll::Pending)
    }

    /// Ends the connection politely; a far side that does not answer within a moment is left.
    async fn quit(mut self) {
        let _ = self.wire.command(b"QUIT\r\n", QUIT_WAIT).await;
        self.wire.shutdown(QUIT_WAIT).await;
    }
}

/// How long QUIT may take before the connection is simply dropped.
const QUIT_WAIT: Duration = Duration::from_secs(5);

/// `[[routes]]` with what each needs to connect: a verifying TLS connector (public roots plus
/// the route's `ca_file`) and, for an XOAUTH2 smarthost, its token source. One attempt uses one
/// table from start to end, so a reload never mixes two route lists within a message.
pub struct RouteTable {
    pub routes: Vec<Route>,
    verified: Vec<TlsConnector>,
    tokens: Vec<Option<Arc<authrelay_oauth::TokenSource>>>,
    /// For a Graph route, its client (token source, throttling state).
    graph: Vec<Option<Arc<crate::graph::GraphClient>>>,
}

impl RouteTable {
    /// Errors name the setting at fault.
    pub fn new(routes: Vec<Route>) -> Result<RouteTable, String> {
        let provider = tls::provider();
        let mut verified = vec![];
        let mut tokens = vec![];
        let mut graph = vec![];
        for route in &routes {
            graph.push(match &route.kind {
                RouteKind::Graph(g) => Some(Arc::new(crate::graph::GraphClient::new(g)?)),
                _ => None,
            });
            tokens.push(match &route.kind {
                RouteKind::Smarthost(Smarthost { oauth: Some(o), ca_file, .. }) => Some(Arc::new(
                    authrelay_oauth::TokenSource::new((**o).clone(), ca_file.as_deref())
                        .map_err(|e| format!("routes.token_endpoint: {e}"))?,
                )),
                _ => None,
            });
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let RouteKind::Smarthost(Smarthost { ca_file: Some(path), .. }) = &route.kind {
                use rustls::pki_types::pem::PemObject;
                let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("routes.ca_file {}: {e}", path.display()))?;
                for cert in certs {
                    let cert = cert.map_err(|e| format!("routes.ca_file {}: {e}", path.display()))?;
                    roots.add(cert).map_err(|e| format!("routes.ca_file {}: {e}", path.display()))?;
                }
            }
            let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            verified.push(TlsConnector::from(Arc::new(tls)));
        }
        Ok(RouteTable { routes, verified, tokens, graph })
    }

    /// The first route for `domain` (first match wins), with its index.
    pub fn route_for(&self, domain: &str) -> Option<(usize, &Route)> {
        self.routes.iter().enumerate().find(|(_, r)| r.domains.iter().any(|d| d == "*" || *d == domain))
    }
}

impl Outbound {
    /// Builds the TLS connectors and the resolver; errors name the setting at fault.
    pub fn new(config: &DeliveryConfig) -> Result<Outbound, String> {
        let table = RouteTable::new(config.routes.clone())?;
        let unverified = tls::opportunistic();

        let resolver = if config.nameservers.is_empty() {
            match hickory_resolver::system_conf::read_system_conf() {
                Ok((conf, opts)) => Some(
                    TokioResolver::builder_with_config(conf, TokioConnectionProvider::default())
                        .with_options(opts)
                        .build(),
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "no system DNS configuration; MX routes cannot resolve");
                    None
                }
            }
        } else {
            let mut servers = vec![];
            for addr in &config.nameservers {
                servers.push(NameServerConfig::new(*addr, ProtocolConfig::Udp));
                servers.push(NameServerConfig::new(*addr, ProtocolConfig::Tcp));
            }
            let conf = ResolverConfig::from_parts(None, vec![], servers);
            Some(TokioResolver::builder_with_config(conf, TokioConnectionProvider::default()).build())
        };
        Ok(Outbound {
            hostname: config.hostname.clone(),
            connect_timeout: config.connect_timeout,
            command_timeout: config.command_timeout,
            mx_port: config.mx_port,
            resolver,
            table: std::sync::RwLock::new(Arc::new(table)),
            unverified: TlsConnector::from(Arc::new(unverified)),
            pool: Arc::new(Pool::new(config.connection_idle, config.concurrency, config.messages_per_connection)),
            reaper: Arc::new(AtomicBool::new(false)),
            resolved: Default::default(),
        })
    }

    /// The route table in force.
    pub fn routes(&self) -> Arc<RouteTable> {
        self.table.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A reload's `[[routes]]`: attempts that start after it use them; an attempt under way
    /// finishes with the table it started with. On an error the routes in force stay.
    pub fn set_routes(&self, routes: Vec<Route>) -> Result<(), String> {
        let table = RouteTable::new(routes)?;
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
        Ok(())
    }

    /// The smarthost's addresses: from the last minute's lookup, else resolved now. Failed
    /// lookups are not kept.
    async fn smarthost_addrs(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        let key = (host.to_string(), port);
        if let Some((at, addrs)) = self.resolved.lock().unwrap().get(&key) {
            if at.elapsed() < RESOLVED_TTL {
                return Ok(addrs.clone());
            }
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
        self.resolved.lock().unwrap().insert(key, (Instant::now(), addrs.clone()));
        Ok(addrs)
    }

    /// Delivers `job` by `route` (index `route_index` in the config) for recipients of `domain`.
    /// Returns one attempt per recipient, in order.
    pub async fn deliver(&self, table: &RouteTable, route_index: usize, domain: &str, job: &Job<'_>) -> Vec<Attempt> {
        let route = &table.routes[route_index];
        if let (RouteKind::Graph(g), Some(client)) = (&route.kind, &table.graph[route_index]) {
            return client.send(g, job).await;
        }
        let targets = match &route.kind {
            RouteKind::Graph(_) => return all(job, Attempt::temp("451 4.3.0 Graph route without a client", None)),
            RouteKind::Smarthost(s) => match self.smarthost_addrs(&s.host, s.port).await {
                Ok(addrs) => vec![(s.host.clone(), addrs)],
                Err(e) => return all(job, Attempt::temp(format!("cannot resolve smarthost {}: {e}", s.host), None)),
            },
            RouteKind::Mx => match self.mx_targets(domain).await {
                Ok(t) => t,
                Err(a) => return all(job, a),
            },
        };
        let identity = match &route.kind {
            RouteKind::Smarthost(s) => s.user.clone(),
            RouteKind::Mx | RouteKind::Graph(_) => None,
        };
        let mode = match &route.kind {
            RouteKind::Smarthost(s) => s.tls,
            RouteKind::Mx | RouteKind::Graph(_) => TlsMode::Opportunistic,
        };
        let mut last = String::from("no address to connect to");
        for (host, addrs) in targets {
            for addr in addrs {
                let key =
                    Destination { route: route_index, host: host.clone(), addr, tls: mode, identity: identity.clone() };
                // Idle connections first; each is taken once, so this ends.
                while let Some(pooled) = self.take_idle(&key) {
                    match self.transaction(pooled.conn, &host, job, true).await {
                        Ended::Done(attempts, conn) => {
                            self.give_back(key, conn, pooled.used + 1);
                            return attempts;
                        }
                        Ended::Stale(why) => {
                            tracing::debug!(host = %host, addr = %addr, reason = %why, "reused connection gone; using a fresh one");
                        }
                    }
                }
                let tcp = match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                    Ok(Ok(tcp)) => tcp,
                    Ok(Err(e)) => {
                        last = format!("connect to {host}[{}]:{}: {e}", addr.ip(), addr.port());
                        tracing::info!(host = %host, addr = %addr, error = %e, "connection failed");
                        continue;
                    }
                    Err(_) => {
                        last = format!("connect to {host}[{}]:{}: timed out", addr.ip(), addr.port());
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                match self.session(tcp, table, route_index, &host).await {
                    Ok(conn) => match self.transaction(conn, &host, job, false).await {
                        Ended::Done(attempts, conn) => {
                            self.give_back(key, conn, 1);
                            return attempts;
                        }
                        Ended::Stale(why) => return all(job, Attempt::temp(why, Some(host.clone()))),
                    },
                    Err(SetupFailure::Auth(why)) => return all(job, Attempt::temp(why, Some(host.clone()))),
                    Err(SetupFailure::Host(HostFailure(why))) => {
                        tracing::info!(host = %host, addr = %addr, reason = %why, "host failed; trying the next");
                        last = why;
                    }
                }
            }
        }
        all(job, Attempt::temp(last, None))
    }

    /// An idle connection for `key` that still looks open; expired ones are closed on the way.
    fn take_idle(&self, key: &Destination) -> Option<Pooled<Connection>> {
        if !self.pool.enabled() {
            return None;
        }
        loop {
            let (found, expired) = self.pool.take(key, Instant::now());
            close_all(expired);
            let pooled = found?;
            if pooled.conn.looks_alive() {
                return Some(pooled);
            }
            tracing::debug!(host = %key.host, addr = %key.addr, "idle connection closed by the far side");
        }
    }

    /// Keeps a connection that may carry another transaction (`used` counts the one just
    /// done), or ends it with QUIT.
    fn give_back(&self, key: Destination, conn: Option<Connection>, used: u32) {
        let Some(conn) = conn else { return };
        if let Some(surplus) = self.pool.put(key, Pooled { conn, used }, Instant::now()) {
            close_all(vec![surplus]);
        }
        if self.pool.enabled() {
            self.start_reaper();
        }
    }

    /// Closes idle connections as they expire; runs while any connection is idle.
    fn start_reaper(&self) {
        if self.reaper.swap(true, Ordering::AcqRel) {
            return;
        }
        let pool: Weak<ConnectionPool> = Arc::downgrade(&self.pool);
        let running = self.reaper.clone();
        tokio::spawn(async move {
            loop {
                let next = match pool.upgrade() {
                    Some(p) => p.next_expiry(),
                    None => return,
                };
                let Some(at) = next else {
                    running.store(false, Ordering::Release);
                    // A connection returned meanwhile may have found the flag still set.
                    match pool.upgrade() {
                        Some(p) if p.idle_count() > 0 && !running.swap(true, Ordering::AcqRel) => continue,
                        _ => return,
                    }
                };
                tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                let Some(p) = pool.upgrade() else { return };
                close_all(p.sweep(Instant::now()));
            }
        });
    }

    /// MX hosts by preference with their addresses; the domain itself when it has no MX
    /// (RFC 5321 5.1 implicit MX).
    async fn mx_targets(&self, domain: &str) -> Result<Vec<(String, Vec<SocketAddr>)>, Attempt> {
        let Some(resolver) = &self.resolver else {
            return Err(Attempt::temp("no DNS resolver configured for MX routes", None));
        };
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        let mut hosts: Vec<(u16, String)> = vec![];
        match resolver.mx_lookup(fqdn.as_str()).await {
            Ok(lookup) => {
                for record in lookup.as_lookup().records() {
                    if let Some(mx) = record.data().as_mx() {
                        hosts.push((mx.preference(), mx.exchange().to_lowercase().to_string()));
                    }
                }
            }
            Err(e) if e.is_nx_domain() => {
                return Err(Attempt::perm(format!("550 5.1.2 domain {domain} does not exist (DNS NXDOMAIN)"), None))
            }
            Err(e) if e.is_no_records_found() => {}
            Err(e) => return Err(Attempt::temp(format!("MX lookup for {domain} failed: {e}"), None)),
        }
        // RFC 7505: a single MX of "." means the domain accepts no mail.
        if hosts.len() == 1 && (hosts[0].1 == "." || hosts[0].1.is_empty()) {
            return Err(Attempt::perm(format!("556 5.1.10 domain {domain} accepts no mail (null MX)"), None));
        }
        hosts.sort_by_key(|h| h.0);
        if hosts.is_empty() {
            hosts.push((0, fqdn.clone()));
        }
        let mut targets = vec![];
        let mut last_err = None;
        for (_, host) in hosts {
            match resolver.lookup_ip(host.as_str()).await {
                Ok(ips) => {
                    let addrs: Vec<SocketAddr> =
                        ips.iter().map(|ip: IpAddr| SocketAddr::new(ip, self.mx_port)).collect();
                    targets.push((host.trim_end_matches('.').to_string(), addrs));
                }
                Err(e) => last_err = Some(format!("address lookup for {host} failed: {e}")),
            }
        }
        if targets.iter().all(|t| t.1.is_empty()) {
            return Err(Attempt::temp(
                last_err.unwrap_or_else(|| format!("no address for the MX hosts of {domain}")),
                None,
            ));
        }
        Ok(targets)
    }

    /// Greets a fresh connection and, as the route asks, starts TLS and signs in.
    async fn session(
        &self,
        tcp: TcpStream,
        table: &RouteTable,
        route_index: usize,
        host: &str,
    ) -> Result<Connection, SetupFailure> {
        let route = &table.routes[route_index];
        let (mode, tls_name, login) = match &route.kind {
            RouteKind::Smarthost(s) => {
                let login = match (&s.user, &s.password, &table.tokens[route_index]) {
                    // XOAUTH2 with a token from the client-credentials grant (cached, renewed
                    // before it expires); a token endpoint that refuses is the admin's to fix.
                    (Some(u), _, Some(source)) => match source.token().await {
                        Ok(token) => Some(Login::XOAuth2 { user: u.clone(), token, source: source.clone() }),
                        Err(e) => return Err(HostFailure(format!("OAuth for {host}: {e}")).into()),
                    },
                    (Some(u), Some(p), None) => Some(Login::Password { user: u.clone(), password: p.clone() }),
                    _ => None,
                };
                (s.tls, s.tls_name.clone().unwrap_or_else(|| s.host.clone()), login)
            }
            RouteKind::Mx | RouteKind::Graph(_) => (TlsMode::Opportunistic, host.to_string(), None),
        };
        let name = tls::server_name(&tls_name).map_err(|e| HostFailure(format!("{host}: {e}")))?;
        let verified = &table.verified[route_index];
        let t = self.command_timeout;
        let mut wire = authrelay_transport::Connection::new(Stream::Plain(tcp));
        let mut conn = if mode == TlsMode::Implicit {
            wire =
                wire.upgrade(verified, name, t).await.map_err(|e| HostFailure(format!("{host}: TLS failed: {e}")))?;
            let ehlo = self.greet(&mut wire, host).await?;
            Connection { wire, ehlo }
        } else {
            let ehlo = self.greet(&mut wire, host).await?;
            if ehlo.has_keyword("STARTTLS") {
                let connector = if mode == TlsMode::StartTls { verified } else { &self.unverified };
                let go = wire.command(b"STARTTLS\r\n", t).await.map_err(|e| host_failure(host, "STARTTLS", &e))?;
                if go.code != 220 {
                    return Err(HostFailure(format!("{host}: STARTTLS failed: {}", go.summary())).into());
                }
                wire = wire
                    .upgrade(connector, name, t)
                    .await
                    .map_err(|e| HostFailure(format!("{host}: STARTTLS failed: {e}")))?;
                // RFC 3207 4.2: everything learned before TLS is forgotten; ask again.
                let ehlo = self.ehlo(&mut wire, host).await?;
                Connection { wire, ehlo }
            } else if mode == TlsMode::StartTls {
                return Err(HostFailure(format!("{host} does not offer STARTTLS, which this route requires")).into());
            } else if login.is_some() {
                return Err(HostFailure(format!("{host} offers no TLS; credentials are never sent in clear")).into());
            } else {
                Connection { wire, ehlo }
            }
        };
        if let Some(login) = &login {
            let mut result = self.authenticate(&mut conn, login).await;
            // A token the upstream refuses (revoked, its permissions changed, another tenant's
            // key) stays refused: drop it, fetch a new one once, and try again on this
            // connection, within this delivery attempt (issue 18.6).
            if let (Err(AuthFailure::Refused(first)), Login::XOAuth2 { user, token, source }) = (&result, login) {
                source.invalidate(token).await;
                tracing::info!(host = %host, reply = %first, "upstream refused the OAuth token; fetching a new one");
                result = match source.token().await {
                    Ok(fresh) => {
                        let retry = Login::XOAuth2 { user: user.clone(), token: fresh, source: source.clone() };
                        self.authenticate(&mut conn, &retry).await
                    }
                    Err(e) => Err(AuthFailure::Other(format!("{first}; a new token: {e}"))),
                };
            }
            if let Err(AuthFailure::Refused(why) | AuthFailure::Other(why)) = result {
                // Postfix's smtp_sasl_auth_soft_bounce: a credential problem is the admin's to
                // fix, so keep the mail and retry rather than bounce it.
                return Err(SetupFailure::Auth(format!("authentication at {host} failed: {why}")));
            }
        }
        Ok(conn)
    }

    /// Reads the greeting and says EHLO.
    async fn greet(&self, wire: &mut authrelay_transport::Connection, host: &str) -> Result<Reply, HostFailure> {
        let greeting = wire.read_reply(self.command_timeout).await.map_err(|e| match e {
            ReplyError::Timeout => HostFailure(format!("{host}: no greeting (timed out)")),
            e => host_failure(host, "greeting", &e),
        })?;
        if greeting.code != 220 {
            return Err(HostFailure(format!("{host} greeted with {}", greeting.summary())));
        }
        self.ehlo(wire, host).await
    }

    async fn ehlo(&self, wire: &mut authrelay_transport::Connection, host: &str) -> Result<Reply, HostFailure> {
        let line = format!("EHLO {}\r\n", self.hostname);
        let reply =
            wire.command(line.as_bytes(), self.command_timeout).await.map_err(|e| host_failure(host, "EHLO", &e))?;
        if reply.code != 250 {
            return Err(HostFailure(format!("{host}: EHLO failed: {}", reply.summary())));
        }
        Ok(reply)
    }

    /// AUTH with the route's credentials (RFC 4954): PLAIN when offered, else LOGIN; XOAUTH2
    /// for a token.
    async fn authenticate(&self, conn: &mut Connection, login: &Login) -> Result<(), AuthFailure> {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let offered = conn.ehlo.auth_mechanisms();
        let offers = |m: &str| offered.iter().any(|o| o == m);
        let t = self.command_timeout;
        let wire = &mut conn.wire;
        let other = |e: ReplyError| AuthFailure::Other(e.to_string());
        let reply = match login {
            Login::Password { user, password } if offers("PLAIN") => {
                let line = format!("AUTH PLAIN {}\r\n", b64(&format!("\0{user}\0{password}")));
                wire.command(line.as_bytes(), t).await.map_err(other)?
            }
            Login::Password { user, password } if offers("LOGIN") => {
                let mut r = wire.command(b"AUTH LOGIN\r\n", t).await.map_err(other)?;
                for answer in [user, password] {
                    if r.code != 334 {
                        break;
                    }
                    r = wire.command(format!("{}\r\n", b64(answer)).as_bytes(), t).await.map_err(other)?;
                }
                r
            }
            Login::XOAuth2 { user, token, .. } if offers("XOAUTH2") => {
                let line = format!("AUTH XOAUTH2 {}\r\n", b64(&format!("user={user}\x01auth=Bearer {token}\x01\x01")));
                let r = wire.command(line.as_bytes(), t).await.map_err(other)?;
                if r.code == 334 {
                    // The refusal comes as a challenge holding an error JSON; an empty line
                    // asks for the final reply (Google's and Microsoft's XOAUTH2 documentation).
                    let error = base64::engine::general_purpose::STANDARD
                        .decode(r.message().trim())
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    let last = wire.command(b"\r\n", t).await.map_err(other)?;
                    let error: String = error.chars().filter(|c| !c.is_control()).collect();
                    return Err(AuthFailure::Refused(format!("{} {error}", last.summary()).trim_end().to_string()));
                }
                r
            }
            _ => {
                let wanted = match login {
                    Login::Password { .. } => "PLAIN or LOGIN",
                    Login::XOAuth2 { .. } => "XOAUTH2",
                };
                let list = if offered.is_empty() { "none".to_string() } else { offered.join(" ") };
                return Err(AuthFailure::Other(format!("{wanted} not offered (offered: {list})")));
            }
        };
        match reply.code {
            235 => Ok(()),
            _ => Err(AuthFailure::Refused(reply.summary())),
        }
    }

    /// One mail transaction on a ready connection. `reused`: the connection carried an earlier
    /// transaction, so a failure before any recipient got an answer means it went stale.
    async fn transaction(&self, mut conn: Connection, host: &str, job: &Job<'_>, reused: bool) -> Ended {
        let remote = Some(host.to_string());
        let temp = |why: String| Ended::Done(all(job, Attempt::temp(why, remote.clone())), None);
        let mut params = String::new();
        if job.body_8bit && conn.ehlo.has_keyword("8BITMIME") {
            params.push_str(" BODY=8BITMIME");
        }
        if job.smtputf8 {
            if !conn.ehlo.has_keyword("SMTPUTF8") {
                // Nothing was sent: the connection stays usable for other messages.
                let why = format!("553 5.6.7 {host} does not support SMTPUTF8, which this message needs");
                return Ended::Done(all(job, Attempt::perm(why, remote)), Some(conn));
            }
            params.push_str(" SMTPUTF8");
        }
        let t = self.command_timeout;
        let c = &mut conn.wire;
        let mail = match c.command(format!("MAIL FROM:<{}>{params}\r\n", job.from).as_bytes(), t).await {
            Ok(r) if reused && r.code == 421 => return Ended::Stale(format!("MAIL FROM at {host}: {}", r.summary())),
            Ok(r) => r,
            Err(e) if reused => return Ended::Stale(format!("MAIL FROM at {host}: {e}")),
            Err(e) => return temp(format!("MAIL FROM at {host}: {e}")),
        };
        if mail.code / 100 != 2 {
            return Ended::Done(all(job, Attempt::from_code(mail.code, mail.summary(), remote)), None);
        }
        // A 421 anywhere means the far side is closing: the connection is not reused.
        let mut closing = false;
        let mut results: Vec<Option<Attempt>> = vec![None; job.recipients.len()];
        for (i, rcpt) in job.recipients.iter().enumerate() {
            match c.command(format!("RCPT TO:<{rcpt}>\r\n").as_bytes(), t).await {
                Ok(r) if reused && i == 0 && r.code == 421 => {
                    return Ended::Stale(format!("RCPT TO at {host}: {}", r.summary()))
                }
                Ok(r) if r.code / 100 == 2 => {}
                Ok(r) => {
                    closing |= r.code == 421;
                    results[i] = Some(Attempt::from_code(r.code, r.summary(), remote.clone()))
                }
                Err(e) if reused && i == 0 => return Ended::Stale(format!("RCPT TO at {host}: {e}")),
                Err(e) => return temp(format!("RCPT TO at {host}: {e}")),
            }
        }
        let pending: Vec<usize> = (0..results.len()).filter(|i| results[*i].is_none()).collect();
        if pending.is_empty() {
            // Every recipient refused: RSET ends the transaction; a 250 keeps the connection.
            let reusable = !closing && matches!(c.command(b"RSET\r\n", t).await, Ok(r) if r.code == 250);
            let results = results.into_iter().map(|r| r.expect("every recipient answered")).collect();
            if reusable {
                return Ended::Done(results, Some(conn));
            }
            conn.quit().await;
            return Ended::Done(results, None);
        }
        let (final_reply, clean) = match self.data(c, job.message).await {
            Ok((r, complete)) => (Attempt::from_code(r.code, r.summary(), remote.clone()), complete && r.code != 421),
            Err(why) => (Attempt::temp(format!("DATA at {host}: {why}"), remote.clone()), false),
        };
        for i in pending {
            results[i] = Some(final_reply.clone());
        }
        let results = results.into_iter().map(|r| r.expect("every recipient answered")).collect();
        if clean && !closing {
            return Ended::Done(results, Some(conn));
        }
        conn.quit().await;
        Ended::Done(results, None)
    }

    /// DATA with dot-stuffing (RFC 5321 4.5.2); the message is sent exactly, plus the
    /// terminator. The reply, and whether it is the final reply after the message (the
    /// transaction is over and the connection may carry another).
    async fn data(&self, c: &mut authrelay_transport::Connection, message: &[u8]) -> Result<(Reply, bool), String> {
        let t = self.command_timeout;
        let go = c.command(b"DATA\r\n", t).await.map_err(|e| e.to_string())?;
        if go.code != 354 {
            return Ok((go, false));
        }
        let body = dot_stuff(message);
        // One deadline for the whole message, as for any command.
        let deadline = tokio::time::Instant::now() + t;
        c.send(&body, t).await.map_err(|e| e.to_string())?;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        c.read_reply(left).await.map(|r| (r, true)).map_err(|e| e.to_string())
    }
}

/// The message with every line starting with "." doubled, and the end-of-data line.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    // A line at a time (memchr finds the ends), not a byte at a time: this runs over every
    // byte of every message sent onward.
    let mut rest = message;
    while !rest.is_empty() {
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        if rest[0] == b'.' {
            out.push(b'.');
        }
        out.extend_from_slice(&rest[..end]);
        rest = &rest[end..];
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Ends connections with QUIT in the background.
fn close_all(conns: Vec<Connection>) {
    for conn in conns {
        tokio::spawn(conn.quit());
    }
}

fn all(job: &Job<'_>, attempt: Attempt) -> Vec<Attempt> {
    vec![attempt; job.recipients.len()]
}

fn host_failure(host: &str, stage: &str, e: &ReplyError) -> HostFailure {
    HostFailure(format!("{host}: {stage} failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smarthost name is resolved once a minute, not per message (only `localhost` is looked
    /// up: no test depends on DNS).
    #[tokio::test]
    async fn smarthost_addresses_are_reused_for_a_minute() {
        let (outbound, _) = outbound(25, Duration::ZERO, 1);
        let first = outbound.smarthost_addrs("localhost", 2525).await.unwrap();
        assert!(!first.is_empty() && first.iter().all(|a| a.ip().is_loopback() && a.port() == 2525), "{first:?}");
        // Make the cached entry recognisable: a second call must return it, not a new lookup.
        let marked: SocketAddr = "127.0.0.9:2525".parse().unwrap();
        outbound.resolved.lock().unwrap().get_mut(&("localhost".to_string(), 2525)).unwrap().1 = vec![marked];
        assert_eq!(outbound.smarthost_addrs("localhost", 2525).await.unwrap(), vec![marked]);
        // Older than the TTL: looked up again.
        outbound.resolved.lock().unwrap().get_mut(&("localhost".to_string(), 2525)).unwrap().0 =
            Instant::now() - RESOLVED_TTL - Duration::from_secs(1);
        assert_eq!(outbound.smarthost_addrs("localhost", 2525).await.unwrap(), first);
    }

    #[test]
    fn dot_stuffing_per_rfc5321_4_5_2() {
        assert_eq!(dot_stuff(b".a\r\nb\r\n..c\r\n"), b"..a\r\nb\r\n...c\r\n.\r\n");
        assert_eq!(dot_stuff(b"no newline"), b"no newline\r\n.\r\n");
        assert_eq!(dot_stuff(b"x\r\n.\r\n"), b"x\r\n..\r\n.\r\n");
        assert_eq!(dot_stuff(b""), b".\r\n");
        assert_eq!(dot_stuff(b"."), b"..\r\n.\r\n");
        assert_eq!(dot_stuff(b"a\n.b\r\n"), b"a\n..b\r\n.\r\n", "a bare LF also starts a line");
    }

    /// The line-at-a-time version against the byte-at-a-time definition, on varied input.
    #[test]
    fn dot_stuffing_matches_the_bytewise_definition() {
        fn bytewise(message: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            let mut line_start = true;
            for &b in message {
                if line_start && b == b'.' {
                    out.push(b'.');
                }
                out.push(b);
                line_start = b == b'\n';
            }
            if !out.is_empty() && !out.ends_with(b"\r\n") {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b".\r\n");
            out
        }
        let alphabet = b".\r\na";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..400 {
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % 4) as usize]
                })
                .collect();
            assert_eq!(dot_stuff(&input), bytewise(&input), "{input:?}");
        }
    }

    /// A scripted SMTP server on 127.0.0.1 that counts connections. `drop_second_mail`: on a
    /// connection's second MAIL it closes without answering (a server gone while idle, seen
    /// only when the client writes).
    async fn far_side(drop_second_mail: bool) -> (u16, Arc<std::sync::atomic::AtomicUsize>, Arc<Mutex<Vec<String>>>) {
        use std::sync::atomic::AtomicUsize;
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(Mutex::new(vec![]));
        let (count, seen) = (connections.clone(), log.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                let seen = seen.clone();
                tokio::spawn(async move {
                    let (read, mut write) = tcp.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let mut mails = 0;
                    write.write_all(b"220 far side\r\n").await.unwrap();
                    while let Ok(Ok(Some(line))) =
                        tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await
                    {
                        let verb = line.split([' ', ':']).next().unwrap_or("").to_ascii_uppercase();
                        seen.lock().unwrap().push(format!("{n} {verb}"));
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" => b"250-far side\r\n250 8BITMIME\r\n",
                            "MAIL" => {
                                mails += 1;
                                if drop_second_mail && mails > 1 {
                                    return;
                                }
                                b"250 2.1.0 ok\r\n"
                            }
                            "RCPT" if line.contains("refused") => b"550 5.1.1 no such user\r\n",
                            "RCPT" => b"250 2.1.5 ok\r\n",
                            "RSET" => b"250 2.0.0 ok\r\n",
                            "DATA" => {
                                write.write_all(b"354 go ahead\r\n").await.unwrap();
                                while let Ok(Some(body)) = lines.next_line().await {
                                    if body == "." {
                                        break;
                                    }
                                }
                                b"250 2.0.0 queued\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                return;
                            }
                            _ => b"502 5.5.1 unknown\r\n",
                        };
                        if write.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (port, connections, log)
    }

    fn outbound(port: u16, idle: Duration, per_connection: u32) -> (Outbound, Route) {
        let mut config = DeliveryConfig::new("relay.test", "/nonexistent");
        config.connection_idle = idle;
        config.messages_per_connection = per_connection;
        config.command_timeout = Duration::from_secs(5);
        let route = Route {
            domains: vec!["*".into()],
            kind: RouteKind::Smarthost(Smarthost {
                host: "127.0.0.1".into(),
                port,
                tls: TlsMode::Opportunistic,
                tls_name: None,
                user: None,
                password: None,
                ca_file: None,
                oauth: None,
            }),
            sender: Default::default(),
        };
        config.routes.push(route.clone());
        (Outbound::new(&config).unwrap(), route)
    }

    async fn send(o: &Outbound, _route: &Route, to: &[&str]) -> Vec<crate::Outcome> {
        let recipients: Vec<String> = to.iter().map(|s| s.to_string()).collect();
        let job = Job {
            from: "printer@contoso.com",
            recipients: &recipients,
            message: b"Subject: t\r\n\r\nhello\r\n",
            smtputf8: false,
            body_8bit: false,
        };
        o.deliver(&o.routes(), 0, "example.net", &job).await.into_iter().map(|a| a.outcome).collect()
    }

    use crate::Outcome::{Delivered, Perm};
    use std::sync::Mutex;

    #[tokio::test]
    async fn messages_to_one_destination_share_a_connection_up_to_the_limit() {
        let (port, connections, log) = far_side(false).await;
        let (o, route) = outbound(port, Duration::from_secs(30), 3);
        for _ in 0..7 {
            assert_eq!(send(&o, &route, &["a@example.net"]).await, [Delivered]);
        }
        // 3 + 3 + 1 messages: the third transaction on a connection ends it.
        assert_eq!(connections.load(Ordering::SeqCst), 3, "{:?}", log.lock().unwrap());
        // All recipients refused: RSET, and the connection still serves the next message.
        assert_eq!(send(&o, &route, &["refused@example.net"]).await, [Perm]);
        assert_eq!(send(&o, &route, &["a@example.net", "refused@example.net"]).await, [Delivered, Perm]);
        assert_eq!(connections.load(Ordering::SeqCst), 3);
        assert!(log.lock().unwrap().iter().any(|l| l == "3 RSET"));
        // Used up after 3 transactions: the first two connections, and the third after the
        // message above; each is ended with QUIT (in the background).
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let quits: Vec<String> = log.lock().unwrap().iter().filter(|l| l.ends_with("QUIT")).cloned().collect();
            if quits.len() == 3 {
                assert_eq!(quits, ["1 QUIT", "2 QUIT", "3 QUIT"]);
                break;
            }
            assert!(Instant::now() < deadline, "{quits:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn zero_idle_time_opens_a_connection_per_message() {
        let (port, connections, _) = far_side(false).await;
        let (o, route) = outbound(port, Duration::ZERO, 100);
        for _ in 0..3 {
            assert_eq!(send(&o, &route, &["a@example.net"]).await, [Delivered]);
        }
        assert_eq!(connections.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn idle_connections_are_closed_with_quit_after_the_idle_time() {
        let (port, connections, log) = far_side(false).await;
        let (o, route) = outbound(port, Duration::from_millis(300), 100);
        assert_eq!(send(&o, &route, &["a@example.net"]).await, [Delivered]);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !log.lock().unwrap().iter().any(|l| l == "1 QUIT") {
            assert!(Instant::now() < deadline, "no QUIT after the idle time: {:?}", log.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(o.pool.idle_count(), 0);
        assert_eq!(send(&o, &route, &["a@example.net"]).await, [Delivered]);
        assert_eq!(connections.load(Ordering::SeqCst), 2, "a fresh connection after the expiry");
    }

    #[tokio::test]
    async fn a_reused_connection_that_dies_at_mail_is_replaced_without_a_failure() {
        let (port, connections, log) = far_side(true).await;
        let (o, route) = outbound(port, Duration::from_secs(30), 100);
        for _ in 0..3 {
            assert_eq!(send(&o, &route, &["a@example.net"]).await, [Delivered]);
        }
        // Each reuse met a closed connection at MAIL, and the message went out on a fresh one.
        assert_eq!(connections.load(Ordering::SeqCst), 3, "{:?}", log.lock().unwrap());
        let mails = log.lock().unwrap().iter().filter(|l| l.ends_with("MAIL")).count();
        assert_eq!(mails, 5, "two MAILs met a dead connection: {:?}", log.lock().unwrap());
    }

    #[test]
    fn reply_classes_decide_the_outcome() {
        use crate::Outcome;
        assert_eq!(Attempt::from_code(250, "", None).outcome, Outcome::Delivered);
        assert_eq!(Attempt::from_code(451, "", None).outcome, Outcome::Temp);
        assert_eq!(Attempt::from_code(550, "", None).outcome, Outcome::Perm);
        assert_eq!(Attempt::from_code(354, "", None).outcome, Outcome::Temp);
    }
}
