//! `Spool::remove_async`: removals of delivered messages share journal syncs (a removal
//! waits briefly for another sync to ride along with), a lone removal still completes on its
//! own, and a removed message is gone for good.

use std::time::{Duration, Instant};

use authrelay_spool::{Envelope, Spool, SpoolError};

fn envelope() -> Envelope {
    Envelope {
        mail_from: "alice@contoso.com".into(),
        rcpt_to: vec!["bob@example.net".into()],
        auth_user: "alice@contoso.com".into(),
        client_ip: "127.0.0.1".into(),
        received_at: 1_800_000_000,
        smtputf8: false,
        body_8bit: false,
        connector: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_removals_share_journal_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(spool.accept(&envelope(), format!("m{i}").as_bytes()).await.unwrap());
    }
    let before = spool.syncs();
    let tasks: Vec<_> = ids
        .iter()
        .cloned()
        .map(|id| {
            let spool = spool.clone();
            tokio::spawn(async move { spool.remove_async(&id).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let used = spool.syncs() - before;
    assert!((1..6).contains(&used), "6 removals took {used} journal syncs");
    assert!(spool.list().unwrap().is_empty());
    for id in &ids {
        assert!(matches!(spool.read(id), Err(SpoolError::NotFound(_))));
        assert!(matches!(spool.remove_async(id).await, Err(SpoolError::NotFound(_))));
    }
}

#[tokio::test]
async fn a_lone_removal_completes_on_its_own_sync() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let id = spool.accept(&envelope(), b"x").await.unwrap();
    let before = spool.syncs();
    let start = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), spool.remove_async(&id)).await.expect("removal hangs").unwrap();
    assert_eq!(spool.syncs(), before + 1);
    assert!(start.elapsed() >= Duration::from_millis(40), "it waited for company first");
    assert!(spool.list().unwrap().is_empty());
}
