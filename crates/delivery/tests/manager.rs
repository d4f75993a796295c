//! The queue manager in-process, with a real spool, a real SQLite directory, real sockets and a
//! manual clock that walks the retry schedule without waiting for it.

use std::sync::Arc;
use std::time::Duration;

use authrelay_delivery::config::{Route, RouteKind, Smarthost, TlsMode};
use authrelay_delivery::state::{StateStore, Status};
use authrelay_delivery::{DeliveryConfig, ManualClock, QueueManager, Schedule};
use authrelay_directory::sqlite::SqliteDirectory;
use authrelay_directory::{Directory, NewUser};
use authrelay_spool::{Envelope, Spool};

const T0: i64 = 1_800_000_000_000;

struct World {
    _dir: tempfile::TempDir,
    data: std::path::PathBuf,
    spool: Spool,
    clock: Arc<ManualClock>,
    manager: QueueManager,
    states: StateStore,
}

async fn world(routes: Vec<Route>) -> World {
    world_with(routes, None).await
}

async fn world_with(routes: Vec<Route>, concurrency: Option<usize>) -> World {
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
    let clock = Arc::new(ManualClock::new(T0));
    let mut config = DeliveryConfig::new("mx.test", &data);
    config.routes = routes;
    if let Some(n) = concurrency {
        config.concurrency = n;
    }
    config.connect_timeout = Duration::from_secs(2);
    config.schedule = Schedule {
        first_retry: Duration::from_secs(60),
        growth: 2.0,
        max_interval: Duration::from_secs(200),
        give_up_after: Duration::from_secs(600),
    };
    let manager = QueueManager::new(spool.clone(), Arc::new(directory), config, clock.clone()).unwrap();
    let states = StateStore::open(&authrelay_delivery::state::delivery_dir(&data), None).unwrap();
    World { _dir: dir, data, spool, clock, manager, states }
}

/// Everything to 127.0.0.1:`port`, plain SMTP (STARTTLS if offered), no AUTH.
fn smarthost(port: u16) -> Route {
    Route {
        domains: vec!["*".into()],
        kind: RouteKind::Smarthost(Smarthost {
            oauth: None,
            host: "127.0.0.1".into(),
            port,
            tls: TlsMode::Opportunistic,
            tls_name: None,
            user: None,
            password: None,
            ca_file: None,
        }),
        sender: Default::default(),
    }
}

fn envelope(to: &str) -> Envelope {
    Envelope {
        mail_from: "scanner@contoso.com".into(),
        rcpt_to: vec![to.into()],
        auth_user: "scanner@contoso.com".into(),
        client_ip: "127.0.0.1".into(),
        received_at: T0 / 1000,
        smtputf8: false,
        body_8bit: false,
        connector: None,
    }
}

fn inbox(w: &World, address: &str) -> Vec<Vec<u8>> {
    let dir = w.data.join("mailboxes").join(address).join("new");
    let mut out: Vec<Vec<u8>> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.flatten().map(|e| std::fs::read(e.path()).unwrap()).collect(),
        Err(_) => vec![],
    };
    out.sort();
    out
}

/// The counts the admin center's home page asks for follow the queue in memory: a message
/// accepted, deferred, held, given up and bounced, the bounce delivered.
#[tokio::test]
async fn queue_counts_follow_accept_defer_hold_bounce_and_delivery() {
    use authrelay_core::QueueCounts;
    let (_refusing, port) = refused_port();
    let w = world(vec![smarthost(port)]).await;
    assert_eq!(w.manager.counts(), QueueCounts::default());
    let id = w.spool.accept(&envelope("someone@far.test"), b"Subject: scan\r\n\r\nbody\r\n").await.unwrap();
    let other = w.spool.accept(&envelope("other@far.test"), b"Subject: two\r\n\r\nbody\r\n").await.unwrap();
    w.states.set_held(&other, true).unwrap();
    w.manager.run_due().await;
    let counts = w.manager.counts();
    assert_eq!((counts.queued, counts.deferred, counts.held), (2, 1, 1), "{counts:?}");
    // Released and retried: deferred too now.
    w.states.set_held(&other, false).unwrap();
    w.states.request_retry(&other).unwrap();
    w.manager.run_due().await;
    let counts = w.manager.counts();
    assert_eq!((counts.queued, counts.deferred, counts.held), (2, 2, 0), "{counts:?}");
    // Older than give_up_after (600 s): both fail for good and leave the queue; the two bounces
    // queued for them count once the manager has their announcement (at once when running).
    w.clock.set_ms(T0 + 700_000);
    w.manager.run_due().await;
    let counts = w.manager.counts();
    assert_eq!((counts.queued, counts.deferred, counts.failed, counts.delivered), (0, 0, 2, 0), "{counts:?}");
    assert!(w.spool.read(&id).is_err());
    assert_eq!(w.spool.list().unwrap().len(), 2, "the bounces");
    // The bounces go to the sender's local mailbox.
    w.manager.run_due().await;
    assert_eq!(w.manager.counts(), QueueCounts { queued: 0, deferred: 0, held: 0, delivered: 2, failed: 2 });
}

/// A far side that is down: every attempt is a refused connection. The manager retries
/// exactly on the schedule (60 s, then 120 s, then 200 s capped), gives up once the message is
/// older than 600 s, and bounces to the sender's local mailbox with the failure inside.
#[tokio::test]
async fn far_side_down_retries_on_schedule_then_gives_up_and_bounces() {
    let (_refusing, port) = refused_port();
    let route = smarthost(port);
    let w = world(vec![route]).await;
    let id = w.spool.accept(&envelope("someone@far.test"), b"Subject: scan\r\n\r\nbody\r\n").await.unwrap();

    let attempts = |w: &World| w.states.load(&id).unwrap().map(|s| s.recipients[0].attempts);
    w.manager.run_due().await;
    assert_eq!(attempts(&w), Some(1));
    let expected_next = [(60_000, 2), (120_000, 3), (200_000, 4), (200_000, 5)];
    let mut t = T0;
    for (delay, n) in expected_next {
        w.clock.set_ms(t + delay - 1_000);
        w.manager.run_due().await;
        assert_eq!(attempts(&w), Some(n - 1), "not tried before its time (t+{delay} ms)");
        w.clock.set_ms(t + delay);
        w.manager.run_due().await;
        assert_eq!(attempts(&w), Some(n), "tried at t+{delay} ms");
        t += delay;
    }
    // t = T0 + 580 s; the next attempt at +200 s is past the give-up age of 600 s.
    let state = w.states.load(&id).unwrap().unwrap();
    assert_eq!(state.recipients[0].status, Status::Pending);
    assert!(state.recipients[0].last_reply.as_deref().unwrap().contains("refused"), "{state:?}");
    w.clock.set_ms(t + 200_000);
    w.manager.run_due().await;
    assert!(w.states.load(&id).unwrap().is_none(), "finished message state is removed");
    assert!(w.spool.read(&id).is_err(), "finished message left the spool");
    // The bounce is in the spool now; the next pass delivers it locally.
    assert_eq!(w.spool.list().unwrap().len(), 1);
    w.manager.run_due().await;
    assert!(w.spool.list().unwrap().is_empty());
    let mail = inbox(&w, "scanner@contoso.com");
    assert_eq!(mail.len(), 1);
    let text = String::from_utf8_lossy(&mail[0]);
    assert!(text.contains("multipart/report; report-type=delivery-status"), "{text}");
    assert!(text.contains("Final-Recipient: rfc822; someone@far.test"));
    assert!(text.contains("gave up after 6 attempts"), "{text}");
    assert!(text.contains("Connection refused") || text.contains("refused"), "{text}");
}

/// Local recipients go to their Maildir byte for byte; an address of a hosted domain with no
/// mailbox fails permanently and the sender gets a bounce; a bounce is never bounced.
#[tokio::test]
async fn local_delivery_and_unknown_local_recipient() {
    let w = world(vec![]).await;
    let body = b"Received: from x\r\nSubject: hello\r\n\r\n.line\r\nbody\r\n";
    w.spool.accept(&envelope("SCANNER@contoso.com"), body).await.unwrap();
    w.manager.run_due().await;
    assert_eq!(inbox(&w, "scanner@contoso.com"), vec![body.to_vec()]);

    w.spool.accept(&envelope("nobody@contoso.com"), b"Subject: x\r\n\r\n").await.unwrap();
    w.manager.run_due().await; // fails, queues the bounce
    w.manager.run_due().await; // delivers the bounce
    let mail = inbox(&w, "scanner@contoso.com");
    assert_eq!(mail.len(), 2);
    assert!(mail.iter().any(|m| String::from_utf8_lossy(m).contains("550 5.1.1 <nobody@contoso.com>")));

    // A bounce (null sender) that fails produces nothing further.
    let mut bounce = envelope("ghost@contoso.com");
    bounce.mail_from.clear();
    bounce.auth_user.clear();
    w.spool.accept(&bounce, b"Subject: dsn\r\n\r\n").await.unwrap();
    w.manager.run_due().await;
    w.manager.run_due().await;
    assert!(w.spool.list().unwrap().is_empty());
    assert_eq!(inbox(&w, "scanner@contoso.com").len(), 2);
}

/// Messages beyond the per-minute rate wait for the next minute; none is refused.
#[tokio::test]
async fn over_the_rate_is_carried_over_to_the_next_minute() {
    let w = world(vec![]).await;
    for n in 0..35 {
        w.spool.accept(&envelope("scanner@contoso.com"), format!("Subject: {n}\r\n\r\n").as_bytes()).await.unwrap();
    }
    w.manager.run_due().await;
    assert_eq!(inbox(&w, "scanner@contoso.com").len(), 30);
    assert_eq!(w.spool.list().unwrap().len(), 5);
    w.clock.advance_ms(59_000);
    w.manager.run_due().await;
    assert_eq!(inbox(&w, "scanner@contoso.com").len(), 30);
    w.clock.advance_ms(1_000);
    w.manager.run_due().await;
    assert_eq!(inbox(&w, "scanner@contoso.com").len(), 35);
}

/// An upstream outage with a queue: once a destination's hosts all failed, the other messages
/// for it are postponed without a connection attempt, without an attempt counted and without a
/// state file written each; after the pause the next due message probes the destination again.
#[tokio::test]
async fn an_unreachable_destination_is_suspended_not_tried_per_message() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // A far side that accepts and hangs up at once: no greeting, a host failure.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(1000) {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let route = smarthost(port);
    let w = world_with(vec![route], Some(1)).await;
    let mut ids = vec![];
    for i in 0..30 {
        ids.push(w.spool.accept(&envelope(&format!("r{i}@far.test")), b"Subject: outage\r\n\r\nx\r\n").await.unwrap());
    }
    w.manager.run_due().await;
    assert_eq!(connections.load(Ordering::SeqCst), 1, "one message found the destination down");
    let tried: Vec<_> = ids.iter().filter_map(|id| w.states.load(id).unwrap()).collect();
    assert_eq!(tried.len(), 1, "the postponed ones wrote no state");
    assert_eq!(tried[0].recipients[0].attempts, 1);
    assert!(tried[0].recipients[0].last_reply.as_deref().unwrap_or("").contains("127.0.0.1"), "{tried:?}");
    assert_eq!(w.spool.list().unwrap().len(), 30, "nothing bounced, nothing lost");

    // Within the pause nothing is tried; after it (and after their spread-out retry times) the
    // first due message probes again, finds it still down, and the rest wait once more.
    w.clock.set_ms(T0 + 30_000);
    w.manager.run_due().await;
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    w.clock.set_ms(T0 + 95_000);
    w.manager.run_due().await;
    assert_eq!(connections.load(Ordering::SeqCst), 2, "one probe after the pause");
    assert_eq!(w.spool.list().unwrap().len(), 30);
}

/// A loopback port whose connections are refused for as long as the returned socket lives: it
/// is bound but never listens, so no other test can take the port meanwhile (a port merely
/// found free can be taken by a parallel test's server, which then answers instead).
fn refused_port() -> (socket2::Socket, u16) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    (socket, port)
}
