//! The admin center: a JSON REST API under `/api` and server-rendered web pages, on their own
//! listener (default `127.0.0.1:8025`).
//!
//! Both surfaces write the same directory records the CLI writes, so a change applies on the
//! next AUTH attempt. Admins sign in with an address and an argon2id password; while security
//! defaults are on they also give a TOTP code (RFC 6238). Roles decide what each admin may
//! change; every change goes to the audit log.
//!
//! Layout: `roles.rs` (roles and permissions), `totp.rs` (RFC 6238, base32, QR), `auth.rs`
//! (sign-in, sessions, cookies, CSRF, rate limit, who is calling), `api.rs` (JSON handlers and
//! the route table the OpenAPI test checks), `web.rs` (pages), `ops.rs` (the changes both
//! surfaces make, with their audit records), `troubleshoot.rs` (the Troubleshooter page and API:
//! the doctor's verdict with one-click fixes, the knowledge base's explanations), `devices.rs`
//! (device credentials on the user panel and in the API), `templates/` (minijinja),
//! `openapi.json`.

pub mod api;
pub mod auth;
pub mod devices;
pub mod ops;
pub mod roles;
pub mod totp;
pub mod troubleshoot;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use authrelay_directory::admin::AdminStore;
use authrelay_directory::Directory;
use authrelay_spool::Spool;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use roles::{Permission, Role};

/// The OpenAPI 3 document of `/api`, served at `/api/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Settings of the admin listener.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// Serve HTTPS with this configuration (cookies then get the Secure flag).
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// How long a sign-in lasts.
    pub session_ttl: Duration,
    /// Failed sign-ins allowed per address (and, times four, per client address) in
    /// `signin_window` before further attempts are refused.
    pub signin_failures: u32,
    pub signin_window: Duration,
    /// The server's limits, for the Troubleshooter's `limits` check.
    pub doctor_limits: authrelay_troubleshoot::doctor::Limits,
}

impl AdminConfig {
    pub fn new(listen: SocketAddr) -> Self {
        AdminConfig {
            listen,
            tls: None,
            session_ttl: Duration::from_secs(8 * 3600),
            signin_failures: 5,
            signin_window: Duration::from_secs(15 * 60),
            doctor_limits: authrelay_troubleshoot::doctor::Limits::default(),
        }
    }
}

/// What every handler reaches: the stores, the queue, the templates and the limiter.
pub struct AppState {
    pub directory: Arc<dyn Directory>,
    pub store: Arc<dyn AdminStore>,
    pub spool: Option<Spool>,
    pub config: AdminConfig,
    pub templates: minijinja::Environment<'static>,
    pub limiter: auth::SignInLimiter,
}

pub type SharedState = Arc<AppState>;

/// The whole admin application: pages, API and the CSRF guard in front of the pages' forms.
pub fn app(state: SharedState) -> Router {
    Router::new()
        .merge(web::routes())
        .merge(api::routes().router)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::csrf_guard))
        .layer(axum::middleware::from_fn(auth::security_headers))
        .with_state(state)
}

/// A running admin listener.
pub struct AdminHandle {
    pub address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    shutdown: CancellationToken,
}

impl AdminHandle {
    /// Stops accepting and waits (at most `grace`) for requests in flight.
    pub async fn stop(self, grace: Duration) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(grace, self.task).await;
    }
}

/// Binds the listener and serves the admin center until [`AdminHandle::stop`].
pub async fn start(
    config: AdminConfig,
    directory: Arc<dyn Directory>,
    store: Arc<dyn AdminStore>,
    spool: Option<Spool>,
) -> std::io::Result<AdminHandle> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.listen)))?;
    let address = listener.local_addr()?;
    let tls = config.tls.clone();
    let state = Arc::new(AppState {
        directory,
        store,
        spool,
        limiter: auth::SignInLimiter::new(config.signin_failures, config.signin_window),
        config,
        templates: web::templates(),
    });
    let app = app(state).into_make_service_with_connect_info::<auth::ClientAddr>();
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let task = match tls {
        None => tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await;
            if let Err(e) = served {
                tracing::error!(error = %e, "admin listener failed");
            }
        }),
        Some(tls) => tokio::spawn(async move {
            let listener = tls_listener::TlsListener::new(listener, tls, stop.clone());
            let served = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await;
            if let Err(e) = served {
                tracing::error!(error = %e, "admin listener failed");
            }
        }),
    };
    Ok(AdminHandle { address, task, shutdown })
}

pub(crate) mod tls_listener {
    //! HTTPS for the admin listener: TLS handshakes run in their own tasks (bounded by a
    //! timeout), so a slow client cannot hold up the others.

    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::Duration;

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
}

/// Current time in unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
