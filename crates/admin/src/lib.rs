//! The admin center: a JSON REST API under `/api` and server-rendered web pages, on their own
//! listener (default `127.0.0.1:8025`).
//!
//! Every change goes through the operations layer (`authrelay-ops`), the same one the CLI
//! uses: one validation, one write, one audit record with the actor. Admins sign in with an
//! address and an argon2id password; while security defaults are on they also give a TOTP code
//! (RFC 6238). Roles decide what each admin may change.
//!
//! Layout, by layer (a module uses only the ones listed before it; `scripts/module-cycles`
//! checks this): `http.rs` (HTTP vocabulary: the JSON error and its mapping from the operations
//! layer, cookies, extractors, form decoding, security headers), `totp.rs` (RFC 6238, base32,
//! QR, secrets sealed at rest), `limiter.rs` (sign-in failure counts), `listener.rs` (HTTPS
//! and the peer address), `lists.rs` (pager, sign-in CSV, the sign-ins chart, where to return
//! after sign-in), `state.rs` (settings and shared state), `auth.rs` (sign-in,
//! sessions, who is calling), `troubleshoot.rs` (the doctor's verdict, one-click fixes and the
//! knowledge base, without handlers), `migrate.rs` (the Microsoft 365 import's plan, apply with
//! audit records, and checklist views, without handlers), then the two surfaces, which hold every handler: `api.rs`
//! (JSON handlers, the views both surfaces show, the route table the OpenAPI test checks) and
//! `web.rs` (pages and the CSRF guard of their forms), and `manage.rs` (the management pages:
//! delete, rename, send-as, organisation limits, DKIM, admin accounts; it uses web.rs's page
//! helpers). `lib.rs` only composes.

pub mod api;
pub mod auth;
mod confirm;
pub mod http;
pub mod limiter;
pub mod listener;
pub mod lists;
pub mod manage;
pub mod migrate;
pub mod state;
pub mod totp;
pub mod troubleshoot;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use authrelay_delivery::queue_admin::QueueAdmin;
use authrelay_directory::admin::AdminStore;
use authrelay_directory::Directory;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use authrelay_ops::{Permission, Role};
pub use state::{now, AdminConfig, AppState, SharedState};

/// The OpenAPI 3 document of `/api`, served at `/api/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// The whole admin application: pages, API and the CSRF guard in front of the pages' forms.
pub fn app(state: SharedState) -> Router {
    Router::new()
        .merge(web::routes())
        .merge(manage::routes())
        .merge(api::routes().router)
        .layer(axum::middleware::from_fn_with_state(state.clone(), web::csrf_guard))
        .layer(axum::extract::DefaultBodyLimit::max(http::MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::request_guard))
        .layer(axum::middleware::from_fn(http::security_headers))
        .with_state(state)
}

/// A running admin listener.
pub struct AdminHandle {
    pub address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    shutdown: CancellationToken,
    allowed_hosts: Arc<std::sync::RwLock<Vec<String>>>,
}

impl AdminHandle {
    /// Replaces the host names the admin center answers to (a reload of the configuration).
    pub fn set_allowed_hosts(&self, hosts: Vec<String>) {
        *self.allowed_hosts.write().unwrap_or_else(|e| e.into_inner()) = hosts;
    }

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
    spool: Option<QueueAdmin>,
) -> std::io::Result<AdminHandle> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.listen)))?;
    let address = listener.local_addr()?;
    let tls = config.tls.clone();
    let allowed_hosts = Arc::new(std::sync::RwLock::new(config.allowed_hosts.clone()));
    let state = Arc::new(AppState {
        allowed_hosts: allowed_hosts.clone(),
        ops: match &config.data_dir {
            Some(dir) => authrelay_ops::Ops::new(directory.clone(), store.clone()).with_data_dir(dir),
            None => authrelay_ops::Ops::new(directory.clone(), store.clone()),
        },
        directory,
        store,
        spool,
        limiter: limiter::SignInLimiter::new(config.signin_failures, config.signin_window),
        config,
        templates: manage::templates(web::templates()),
    });
    let app = app(state).into_make_service_with_connect_info::<listener::ClientAddr>();
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
            let listener = listener::TlsListener::new(listener, tls, stop.clone());
            let served = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await;
            if let Err(e) = served {
                tracing::error!(error = %e, "admin listener failed");
            }
        }),
    };
    Ok(AdminHandle { address, task, shutdown, allowed_hosts })
}
