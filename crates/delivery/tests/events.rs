//! The queue manager's loop is driven by the spool's announcements, not by rescans: with the
//! scan interval set to a minute, a message accepted while the manager runs is still delivered
//! at once, and a message put into `queue/` before the start is found by the startup scan.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authrelay_delivery::{DeliveryConfig, QueueManager, SystemClock};
use authrelay_directory::sqlite::SqliteDirectory;
use authrelay_directory::{Directory, NewUser};
use authrelay_spool::{Envelope, Spool};
use tokio_util::sync::CancellationToken;

fn envelope() -> Envelope {
    Envelope {
        mail_from: "scanner@contoso.com".into(),
        rcpt_to: vec!["scanner@contoso.com".into()],
        auth_user: "scanner@contoso.com".into(),
        client_ip: "127.0.0.1".into(),
        received_at: 1_800_000_000,
        smtputf8: false,
        body_8bit: false,
        connector: None,
    }
}

fn delivered(data: &std::path::Path) -> usize {
    std::fs::read_dir(data.join("mailboxes/scanner@contoso.com/new")).map(|d| d.count()).unwrap_or(0)
}

async fn wait_for(what: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if what() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    what()
}

#[tokio::test]
async fn accepted_messages_are_delivered_without_waiting_for_a_rescan() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let directory = SqliteDirectory::open(&data.join("authrelay.db")).await.unwrap();
    directory.create_org("Contoso", &["contoso.com".to_string()]).await.unwrap();
    directory
        .create_user(NewUser {
            address: "scanner@contoso.com".into(),
            display_name: "Scanner".into(),
            password_hash: "$argon2id$unused".into(),
        })
        .await
        .unwrap();
    let spool = Spool::open(&data.join("spool")).unwrap();
    // Queued before the manager exists: found by the one startup scan.
    spool.accept(&envelope(), b"Subject: before\r\n\r\nbody\r\n").await.unwrap();

    let mut config = DeliveryConfig::new("mx.test", &data);
    config.scan_interval = Duration::from_secs(60);
    config.rate_per_minute = 1000;
    let manager = QueueManager::new(spool.clone(), Arc::new(directory), config, Arc::new(SystemClock)).unwrap();
    let stop = CancellationToken::new();
    let running = tokio::spawn(manager.run(stop.clone()));

    assert!(wait_for(|| delivered(&data) == 1).await, "the message queued before the start was not delivered");
    for i in 0..20 {
        spool.accept(&envelope(), format!("Subject: {i}\r\n\r\nbody\r\n").as_bytes()).await.unwrap();
    }
    assert!(
        wait_for(|| delivered(&data) == 21 && spool.list().unwrap().is_empty()).await,
        "announced messages must be delivered long before the next scan (60 s): {} delivered, {} queued",
        delivered(&data),
        spool.list().unwrap().len()
    );
    // Delivered on the first attempt: no delivery state is left behind.
    assert_eq!(std::fs::read_dir(data.join("delivery/state")).unwrap().count(), 0);
    stop.cancel();
    running.await.unwrap();
}
