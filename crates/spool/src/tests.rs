//! Spool tests against real files in a temporary directory.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;

use super::*;

fn envelope(rcpt: &str) -> Envelope {
    Envelope {
        mail_from: "alice@example.com".into(),
        rcpt_to: vec![rcpt.into(), "carol@example.org".into()],
        auth_user: "alice@example.com".into(),
        client_ip: "2001:db8::1".into(),
        received_at: 1_700_000_000,
        smtputf8: false,
        body_8bit: false,
        connector: None,
    }
}

fn queue_file(spool: &Spool, id: &QueueId) -> PathBuf {
    spool.root().join("queue").join(id.as_str())
}

#[tokio::test]
async fn accept_then_read_returns_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();

    let every_byte: Vec<u8> = (0..=255u8).collect();
    let mut big = Vec::new();
    while big.len() < 1 << 20 {
        big.extend_from_slice(b"line of text\r\n");
        big.extend_from_slice(&every_byte);
    }
    let null_sender_utf8 = Envelope {
        mail_from: String::new(),
        rcpt_to: vec!["用户@例子.广告".into(), "line\nbreak@x".into()],
        smtputf8: true,
        body_8bit: true,
        connector: None,
        ..envelope("bob@example.net")
    };
    let cases: Vec<(&str, Envelope, Vec<u8>)> = vec![
        ("empty message", envelope("bob@example.net"), vec![]),
        ("crlf and dots", envelope("bob@example.net"), b"Subject: hi\r\n\r\n.\r\n..x\r\n\r\n".to_vec()),
        ("all 256 byte values", null_sender_utf8.clone(), every_byte.clone()),
        ("bare lf, nul, no final newline", null_sender_utf8, b"a\nb\0c\rAUTHRELAY-SPOOL 1\n".to_vec()),
        ("one mebibyte", envelope("bob@example.net"), big),
    ];
    for (name, env, message) in cases {
        let id = spool.accept(&env, &message).await.unwrap();
        let (got_env, got) = spool.read(&id).unwrap();
        assert_eq!(got_env, env, "{name}");
        assert!(got == message, "{name}: bytes differ");
    }
    // Nothing is left behind in incoming/.
    assert_eq!(fs::read_dir(dir.path().join("incoming")).unwrap().count(), 0);
}

#[tokio::test]
async fn open_deletes_leftovers_in_incoming_and_keeps_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let id = spool.accept(&envelope("bob@example.net"), b"kept").await.unwrap();
    drop(spool);

    // What a crash mid-accept leaves behind: a half-written file, plus oddities.
    let incoming = dir.path().join("incoming");
    fs::write(incoming.join("00018BCFE5680012345678"), b"AUTHRELAY-SPOOL 1\n{\"mail").unwrap();
    fs::write(incoming.join("stray"), b"").unwrap();
    fs::create_dir(incoming.join("subdir")).unwrap();
    fs::write(incoming.join("subdir").join("f"), b"x").unwrap();

    let spool = Spool::open(dir.path()).unwrap();
    assert_eq!(fs::read_dir(&incoming).unwrap().count(), 0);
    let listed: Vec<QueueId> = spool.list().unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(listed, vec![id.clone()]);
    assert_eq!(spool.read(&id).unwrap().1, b"kept");
}

#[tokio::test]
async fn directories_and_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("spool");
    let spool = Spool::open(&root).unwrap();
    let id = spool.accept(&envelope("bob@example.net"), b"x").await.unwrap();
    spool.flush().unwrap();
    for (path, mode) in [
        (root.clone(), 0o700),
        (root.join("incoming"), 0o700),
        (root.join("queue"), 0o700),
        (queue_file(&spool, &id), 0o600),
    ] {
        let got = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(got, mode, "{}", path.display());
    }
}

#[tokio::test]
async fn truncated_queue_file_is_corrupt_and_never_listed() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let good = spool.accept(&envelope("bob@example.net"), b"fine\r\n").await.unwrap();
    let message = b"Subject: torn\r\n\r\nthis body will lose its tail\r\n";
    let torn = spool.accept(&envelope("bob@example.net"), message).await.unwrap();
    spool.flush().unwrap();

    let path = queue_file(&spool, &torn);
    let len = fs::metadata(&path).unwrap().len();
    for cut in [len - 1, len - 10, 40, 10, 0] {
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(cut).unwrap();
        drop(f);
        match spool.read(&torn) {
            Err(SpoolError::Corrupt { id, .. }) => assert_eq!(id, torn.as_str()),
            other => panic!("cut at {cut}: expected Corrupt, got {other:?}"),
        }
        let scan = spool.scan().unwrap();
        let ids: Vec<&QueueId> = scan.messages.iter().map(|m| &m.id).collect();
        assert_eq!(ids, vec![&good], "cut at {cut}");
        assert_eq!(scan.corrupt.len(), 1, "cut at {cut}");
        assert_eq!(spool.list().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn flipped_byte_is_caught_by_read() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let id = spool.accept(&envelope("bob@example.net"), b"payload").await.unwrap();
    spool.flush().unwrap();
    let path = queue_file(&spool, &id);
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&path, bytes).unwrap();
    assert!(matches!(spool.read(&id), Err(SpoolError::Corrupt { .. })));
}

#[tokio::test]
async fn foreign_file_names_in_queue_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    fs::write(dir.path().join("queue").join("notes.txt"), b"hello").unwrap();
    let scan = spool.scan().unwrap();
    assert!(scan.messages.is_empty());
    assert!(matches!(&scan.corrupt[..], [SpoolError::Corrupt { id, .. }] if id == "notes.txt"), "{:?}", scan.corrupt);
}

#[tokio::test]
async fn list_is_in_arrival_order_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let before = unix_millis() as i64 / 1000;
    let mut ids = Vec::new();
    // Back to back, often within one millisecond: ids must still sort in arrival order.
    for i in 0..20 {
        let body = format!("message {i}\r\n");
        let rcpt = format!("r{i}@example.net");
        ids.push(spool.accept(&envelope(&rcpt), body.as_bytes()).await.unwrap());
    }
    let after = unix_millis() as i64 / 1000;
    drop(spool);

    let spool = Spool::open(dir.path()).unwrap();
    let listed = spool.list().unwrap();
    assert_eq!(listed.iter().map(|m| &m.id).collect::<Vec<_>>(), ids.iter().collect::<Vec<_>>());
    for (i, m) in listed.iter().enumerate() {
        assert_eq!(m.envelope, envelope(&format!("r{i}@example.net")));
        assert_eq!(m.size, format!("message {i}\r\n").len() as u64);
        assert!((before..=after).contains(&m.queued_at));
    }
    let json = serde_json::to_value(&listed[0]).unwrap();
    assert_eq!(json["id"], ids[0].as_str());
}

#[tokio::test]
async fn remove_deletes_and_then_reports_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let a = spool.accept(&envelope("bob@example.net"), b"a").await.unwrap();
    let b = spool.accept(&envelope("bob@example.net"), b"b").await.unwrap();
    spool.remove(&a).unwrap();
    assert!(matches!(spool.read(&a), Err(SpoolError::NotFound(id)) if id == a.as_str()));
    assert!(matches!(spool.remove(&a), Err(SpoolError::NotFound(_))));
    let listed: Vec<QueueId> = spool.list().unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(listed, vec![b]);
    let never = QueueId::new(1, 2);
    assert!(matches!(spool.read(&never), Err(SpoolError::NotFound(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_accepts_all_land_with_unique_ids() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let mut tasks = Vec::new();
    for t in 0..50 {
        let spool = spool.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in 0..4 {
                let body = format!("task {t} message {i}\r\n").into_bytes();
                let id = spool.accept(&envelope("bob@example.net"), &body).await.unwrap();
                out.push((id, body));
            }
            out
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    assert_eq!(all.len(), 200);
    let unique: HashSet<&QueueId> = all.iter().map(|(id, _)| id).collect();
    assert_eq!(unique.len(), 200);
    for (id, body) in &all {
        assert_eq!(&spool.read(id).unwrap().1, body);
    }
    assert_eq!(spool.list().unwrap().len(), 200);
    assert!(spool.scan().unwrap().corrupt.is_empty());
    // Every accept waited for a journal sync, and never more than one each.
    assert!((1..=200).contains(&spool.syncs()), "{}", spool.syncs());
}

/// With a short gathering pause before each journal sync, concurrent accepts must share
/// syncs: the group commit is working, not one sync per message.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_shares_journal_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions { gather: Duration::from_millis(20), ..JournalOptions::default() };
    let spool = Spool::open_with(dir.path(), options).unwrap();
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let spool = spool.clone();
            tokio::spawn(
                async move { spool.accept(&envelope("bob@example.net"), format!("{i}").as_bytes()).await.unwrap() },
            )
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let syncs = spool.syncs();
    assert!((1..50).contains(&syncs), "100 accepts took {syncs} journal syncs");
    assert_eq!(spool.list().unwrap().len(), 100);
}

#[tokio::test]
async fn idle_accept_costs_one_journal_sync() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    for n in 1..=3 {
        spool.accept(&envelope("bob@example.net"), b"x").await.unwrap();
        assert_eq!(spool.syncs(), n);
    }
}

#[test]
fn error_texts_name_the_message() {
    let e = SpoolError::Corrupt { id: "ABC".into(), reason: "checksum mismatch".into() };
    assert_eq!(e.to_string(), "spool file ABC is corrupt: checksum mismatch");
    assert_eq!(SpoolError::NotFound("ABC".into()).to_string(), "no queued message with id ABC");
}

/// `visit` reads the queue a batch at a time on several threads: across batch boundaries every
/// message is seen exactly once, and damaged files come back as corrupt, not as messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn visit_sees_every_message_once_across_batches() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let total = SCAN_BATCH + 300;
    let tasks: Vec<_> = (0..32)
        .map(|t| {
            let spool = spool.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in (t..total).step_by(32) {
                    ids.push(spool.accept(&envelope("bob@example.net"), format!("{i}").as_bytes()).await.unwrap());
                }
                ids
            })
        })
        .collect();
    let mut accepted = HashSet::new();
    for t in tasks {
        accepted.extend(t.await.unwrap());
    }
    assert_eq!(accepted.len(), total);
    spool.flush().unwrap();
    fs::write(dir.path().join("queue").join("stray.txt"), b"x").unwrap();
    let torn = accepted.iter().next().unwrap().clone();
    OpenOptions::new().write(true).open(queue_file(&spool, &torn)).unwrap().set_len(10).unwrap();

    let mut seen = HashSet::new();
    let corrupt = spool.visit(|m| assert!(seen.insert(m.id), "a message seen twice")).unwrap();
    assert_eq!(seen.len(), total - 1);
    assert!(!seen.contains(&torn));
    assert_eq!(corrupt.len(), 2, "{corrupt:?}");
    assert!(seen.iter().all(|id| accepted.contains(id)));
}
