//! Prometheus metrics: the crates count through the `metrics` facade (connections and replies
//! in smtp, AUTH outcomes by deciding check and credential kind, verification-pool waits,
//! accepted messages and journal syncs in spool, deliveries by destination and outcome); this
//! module installs the one recorder and renders it for the admin listener's `/metrics`, adding
//! the gauges read at scrape time (queue depth by state, certificate expiry).

use std::path::Path;
use std::sync::Arc;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

/// Sets the certificate expiry gauge from the certificate the listeners serve (at start and
/// after a reload swapped it).
pub fn certificate_served(cert: &Path) {
    if let Some(facts) = crate::tls::read_facts(cert) {
        metrics::gauge!("authrelay_tls_certificate_expiry_timestamp_seconds").set(facts.not_after as f64);
    }
}

/// Installs the process-wide recorder; returns the renderer, or `None` when a recorder was
/// already installed (a second `serve` in one process, as some tests do).
pub fn install(
    queue: Arc<dyn authrelay_core::QueueCounter>,
    cert: &Path,
) -> Option<authrelay_admin::state::MetricsRenderer> {
    let recorder = PrometheusBuilder::new()
        // Histograms as buckets (summaries cannot be added up across nodes).
        .set_buckets_for_metric(
            Matcher::Full("authrelay_journal_sync_seconds".into()),
            &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0],
        )
        .ok()?
        .set_buckets_for_metric(
            Matcher::Full("authrelay_auth_verification_wait_seconds".into()),
            &[0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
        )
        .ok()?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).ok()?;
    describe();
    certificate_served(cert);
    // Present from the start (0 without `[tls] acme`), so dashboards and alerts find it.
    metrics::counter!("authrelay_tls_certificate_renewal_failures_total").increment(0);
    Some(authrelay_admin::state::MetricsRenderer(Arc::new(move || {
        let counts = queue.counts();
        for (state, n) in [("queued", counts.queued), ("deferred", counts.deferred), ("held", counts.held)] {
            metrics::gauge!("authrelay_queue_messages", "state" => state).set(n as f64);
        }
        handle.run_upkeep();
        handle.render()
    })))
}

/// HELP lines, so a scrape explains itself.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!("authrelay_smtp_connections_total", "SMTP connections served, by listener.");
    describe_counter!(
        "authrelay_smtp_connections_refused_total",
        "SMTP connections refused before a session (connection caps), by reply."
    );
    describe_gauge!("authrelay_smtp_sessions_open", "SMTP sessions open now, by listener.");
    describe_counter!("authrelay_smtp_replies_total", "SMTP replies sent, by code and catalogue id.");
    describe_counter!(
        "authrelay_auth_attempts_total",
        "AUTH attempts, by the check that decided them, the credential kind and the result."
    );
    describe_counter!(
        "authrelay_legacy_signins_total",
        "AUTH attempts and connector senders through a legacy listener (old TLS, no TLS, bare LFs), by TLS version (none) and result."
    );
    describe_counter!(
        "authrelay_auth_verifications_busy_total",
        "AUTH attempts answered 454 because the verification pool was busy, by reason."
    );
    describe_histogram!(
        "authrelay_auth_verification_wait_seconds",
        Unit::Seconds,
        "Time an AUTH attempt waited for an argon2id worker."
    );
    describe_counter!("authrelay_messages_total", "Messages offered to the queue at end of DATA, by outcome.");
    describe_histogram!(
        "authrelay_journal_sync_seconds",
        Unit::Seconds,
        "Duration of one fdatasync of the spool journal (one per group of accepts)."
    );
    describe_counter!(
        "authrelay_deliveries_total",
        "Delivery attempts per recipient, by destination (local, mx, smarthost) and outcome."
    );
    describe_gauge!("authrelay_queue_messages", "Messages in the queue now, by state.");
    describe_gauge!(
        "authrelay_tls_certificate_expiry_timestamp_seconds",
        Unit::Seconds,
        "When the listeners' TLS certificate expires (Unix time)."
    );
    describe_counter!(
        "authrelay_tls_certificate_renewal_failures_total",
        "Failed attempts to obtain or renew the certificate from the ACME CA (tls.acme)."
    );
}
