//! The shared queue on a real PostgreSQL (crates/pgtest): claims are leases named by a token,
//! a lapsed claim is taken over and the old holder can no longer record, release or finish, and
//! a claim that finds nothing touches nobody's lease.

use std::time::Duration;

use authrelay_pgtest::TestPostgres;
use authrelay_spool::shared::SharedQueue;
use authrelay_spool::Envelope;

fn envelope(n: usize) -> Envelope {
    Envelope {
        mail_from: "scanner@contoso.com".into(),
        rcpt_to: vec![format!("r{n}@example.net")],
        auth_user: "scanner@contoso.com".into(),
        client_ip: "192.0.2.7".into(),
        received_at: 1_700_000_000,
        smtputf8: false,
        body_8bit: false,
        connector: None,
    }
}

async fn queue(pg: &TestPostgres) -> (SharedQueue, String) {
    let url = pg.new_database();
    let keys = tempfile::tempdir().unwrap();
    // The directory applies the shared database's schema, the queue's table included.
    let dir = authrelay_directory::postgres::PgDirectory::connect(&url, keys.path(), 2).await.unwrap();
    dir.close().await;
    (SharedQueue::connect(&url, 4).await.unwrap(), url)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test(flavor = "multi_thread")]
async fn claims_are_leases_only_their_token_can_use() {
    let pg = TestPostgres::start();
    let (q, _) = queue(&pg).await;
    let id = q.accept(&envelope(1), b"Subject: one\r\n\r\nbody\r\n").await.unwrap();
    let (env, bytes) = q.read(&id).await.unwrap();
    assert_eq!(env, envelope(1));
    assert_eq!(bytes, b"Subject: one\r\n\r\nbody\r\n");

    let lease = Duration::from_millis(1200);
    let mine = q.claim("node-a", lease, now_ms(), 10).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].message.id, id);
    assert_eq!(mine[0].claims, 1);
    // Node B finds nothing to claim while A's lease lasts, and its empty claim changes nothing.
    assert!(q.claim("node-b", lease, now_ms(), 10).await.unwrap().is_empty());
    assert!(q.renew(&id, mine[0].token, lease).await.unwrap());
    assert!(q.record(&id, mine[0].token, "{\"x\":1}").await.unwrap());

    // A stops renewing (it died): after the lease B takes it over with a token of its own.
    tokio::time::sleep(lease + Duration::from_millis(300)).await;
    let theirs = q.claim("node-b", lease, now_ms(), 10).await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].claims, 2, "a take-over is visible as a second claim");
    assert_eq!(theirs[0].state.as_deref(), Some("{\"x\":1}"), "A's recorded state carries over");
    assert_ne!(theirs[0].token, mine[0].token);
    // A, back from its stall, can neither renew, record, release nor finish with its old token.
    assert!(!q.renew(&id, mine[0].token, lease).await.unwrap());
    assert!(!q.record(&id, mine[0].token, "{\"x\":2}").await.unwrap());
    assert!(!q.release(&id, mine[0].token, 0).await.unwrap());
    assert!(!q.finish(&id, mine[0].token).await.unwrap());
    assert_eq!(q.entry(&id).await.unwrap().claimed_by.as_deref(), Some("node-b"));
    // B's release makes it due later; nobody claims it before then.
    assert!(q.release(&id, theirs[0].token, now_ms() + 60_000).await.unwrap());
    assert!(q.claim("node-a", lease, now_ms(), 10).await.unwrap().is_empty());
    // An admin's retry makes it claimable at once; hold keeps it from every node.
    q.request_retry(&id).await.unwrap();
    q.set_held(&id, true).await.unwrap();
    assert!(q.claim("node-a", lease, now_ms(), 10).await.unwrap().is_empty());
    q.set_held(&id, false).await.unwrap();
    let again = q.claim("node-a", lease, now_ms(), 10).await.unwrap();
    assert!(again[0].retry, "the retry request reaches the claimer");
    assert!(q.finish(&id, again[0].token).await.unwrap());
    assert!(q.list().await.unwrap().is_empty());
    assert_eq!(q.count(now_ms()).await.unwrap(), (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_claimers_never_share_a_message() {
    let pg = TestPostgres::start();
    let (q, _) = queue(&pg).await;
    for n in 0..200 {
        q.accept(&envelope(n), format!("Subject: {n}\r\n\r\n.\r\n").as_bytes()).await.unwrap();
    }
    let mut claimers = vec![];
    for c in 0..4 {
        let q = q.clone();
        claimers.push(tokio::spawn(async move {
            let mut got = vec![];
            for _ in 0..100 {
                let batch = q.claim(&format!("node-{c}"), Duration::from_secs(30), now_ms(), 7).await.unwrap();
                if batch.is_empty() {
                    break;
                }
                got.extend(batch.into_iter().map(|b| b.message.id));
            }
            got
        }));
    }
    let mut all = vec![];
    for c in claimers {
        all.extend(c.await.unwrap());
    }
    let distinct: std::collections::HashSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), 200, "every message claimed");
    assert_eq!(distinct.len(), 200, "no message claimed twice while leased");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_accept_wakes_a_listening_node() {
    let pg = TestPostgres::start();
    let (q, url) = queue(&pg).await;
    let other = SharedQueue::connect(&url, 2).await.unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let listener = other.spawn_listener(stop.clone());
    // The listener's first wake-up (it claims whatever arrived while it was not listening).
    tokio::time::timeout(Duration::from_secs(10), other.woken()).await.expect("listening");
    q.accept(&envelope(1), b"Subject: wake\r\n\r\n").await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), other.woken()).await.expect("woken by the accept");
    stop.cancel();
    let _ = listener.await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_asked_for_during_a_delivery_is_kept_for_the_next_claim() {
    let pg = TestPostgres::start();
    let (q, _) = queue(&pg).await;
    let id = q.accept(&envelope(1), b"Subject: busy\r\n\r\n").await.unwrap();
    let lease = Duration::from_secs(30);
    let first = q.claim("node-a", lease, now_ms(), 1).await.unwrap();
    // While node A delivers, an admin asks for a retry; nobody may take the message meanwhile.
    q.request_retry(&id).await.unwrap();
    assert!(q.claim("node-b", lease, now_ms(), 1).await.unwrap().is_empty());
    // A's attempt failed for now and it releases the message for an hour later: the retry wins.
    assert!(q.release(&id, first[0].token, now_ms() + 3_600_000).await.unwrap());
    let next = q.claim("node-b", lease, now_ms(), 1).await.unwrap();
    assert_eq!(next.len(), 1, "the retry request made it due at once");
    assert!(next[0].retry);
}
