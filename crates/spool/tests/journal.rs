//! The spool's write-ahead journal: after an unclean stop, queue files the filesystem never
//! wrote come back byte for byte from their records, removals stay removed, a torn record ends
//! the replay, checkpoints drop what is already durable, and only one process owns a spool.
//!
//! A power cut is simulated by doing to the queue files what the page cache would have lost:
//! deleting, truncating or emptying files written since the last checkpoint.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use authrelay_core::QueueId;
use authrelay_spool::{Envelope, JournalOptions, ReplayReport, Spool, SpoolError};

fn envelope(i: usize) -> Envelope {
    Envelope {
        mail_from: "scanner@contoso.com".into(),
        rcpt_to: vec![format!("r{i}@example.net")],
        auth_user: "scanner@contoso.com".into(),
        client_ip: "192.0.2.7".into(),
        received_at: 1_800_000_000,
        smtputf8: false,
        body_8bit: false,
        connector: None,
    }
}

/// No checkpoint during the test: everything accepted stays in the journal.
fn no_checkpoints() -> JournalOptions {
    JournalOptions { checkpoint_interval: Duration::from_secs(3600), ..JournalOptions::default() }
}

fn body(i: usize, len: usize) -> Vec<u8> {
    let mut b = format!("Subject: message {i}\r\n\r\n").into_bytes();
    b.extend((0..len).map(|n| b"abcdefghijklmnopqrstuvwxyz\r\n."[(n + i) % 29]));
    b
}

fn queue_file(root: &Path, id: &QueueId) -> PathBuf {
    root.join("queue").join(id.as_str())
}

fn segments(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(root.join("journal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "journal"))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn queue_files_lost_in_a_power_cut_come_back_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let spool = Spool::open_with(root, no_checkpoints()).unwrap();
    let mut accepted = Vec::new();
    for i in 0..20 {
        let message = body(i, [10, 1000, 70_000][i % 3]);
        let id = spool.accept(&envelope(i), &message).await.unwrap();
        accepted.push((id, message));
    }
    // Files written, as at a checkpoint that is not made (no syncfs, no checkpoint record).
    spool.flush().unwrap();
    // Three are delivered; one of those removals is then "lost" (the file reappears).
    let first_file = fs::read(queue_file(root, &accepted[0].0)).unwrap();
    for (id, _) in &accepted[..3] {
        spool.remove_async(id).await.unwrap();
    }
    spool.simulate_crash();

    let originals: Vec<Vec<u8>> = accepted[3..].iter().map(|(id, _)| fs::read(queue_file(root, id)).unwrap()).collect();
    // What an unsynced page cache loses: whole files, tails, contents.
    for (id, _) in &accepted[3..8] {
        fs::remove_file(queue_file(root, id)).unwrap();
    }
    for (id, _) in &accepted[8..11] {
        let f = OpenOptions::new().write(true).open(queue_file(root, id)).unwrap();
        let len = f.metadata().unwrap().len();
        f.set_len(len / 2).unwrap();
    }
    fs::write(queue_file(root, &accepted[11].0), b"").unwrap();
    fs::write(queue_file(root, &accepted[0].0), &first_file).unwrap();

    let spool = Spool::open_with(root, no_checkpoints()).unwrap();
    assert_eq!(spool.replayed(), ReplayReport { records: 23, restored: 9, removed: 1 });
    for (i, (id, message)) in accepted.iter().enumerate().skip(3) {
        let (env, got) = spool.read(id).unwrap();
        assert_eq!(env, envelope(i));
        assert!(&got == message, "message {i} differs after replay");
        assert_eq!(fs::read(queue_file(root, id)).unwrap(), originals[i - 3]);
    }
    for (id, _) in &accepted[..3] {
        assert!(matches!(spool.read(id), Err(SpoolError::NotFound(_))));
    }
    assert_eq!(spool.list().unwrap().len(), 17);
    assert!(spool.scan().unwrap().corrupt.is_empty());
    // The journal starts over: a second open has nothing to replay.
    drop(spool);
    let spool = Spool::open_with(root, no_checkpoints()).unwrap();
    assert_eq!(spool.replayed(), ReplayReport::default());
    assert_eq!(spool.list().unwrap().len(), 17);
}

#[tokio::test]
async fn a_torn_record_ends_the_replay() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let spool = Spool::open_with(root, no_checkpoints()).unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(spool.accept(&envelope(i), &body(i, 500)).await.unwrap());
    }
    spool.flush().unwrap();
    spool.simulate_crash();
    for id in &ids {
        fs::remove_file(queue_file(root, id)).unwrap();
    }
    // Damage one byte inside the last record's payload, as a write cut short would.
    let segment = segments(root).pop().unwrap();
    let mut bytes = fs::read(&segment).unwrap();
    let at = bytes.windows(20).rposition(|w| w == ids[2].as_str().as_bytes()).unwrap() + 300;
    bytes[at] ^= 0x01;
    fs::write(&segment, bytes).unwrap();

    let spool = Spool::open_with(root, no_checkpoints()).unwrap();
    assert_eq!(spool.replayed(), ReplayReport { records: 2, restored: 2, removed: 0 });
    assert_eq!(spool.read(&ids[0]).unwrap().1, body(0, 500));
    assert_eq!(spool.read(&ids[1]).unwrap().1, body(1, 500));
    assert!(matches!(spool.read(&ids[2]), Err(SpoolError::NotFound(_))));
}

#[tokio::test]
async fn records_span_segments_including_one_larger_than_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let options = JournalOptions { segment_size: 8 << 10, ..no_checkpoints() };
    let spool = Spool::open_with(root, options).unwrap();
    let mut accepted = Vec::new();
    for (i, len) in [3000, 3000, 3000, 40_000, 3000, 100].into_iter().enumerate() {
        let message = body(i, len);
        accepted.push((spool.accept(&envelope(i), &message).await.unwrap(), message));
    }
    assert!(segments(root).len() >= 4, "{:?}", segments(root));
    spool.simulate_crash();
    for (id, _) in &accepted {
        assert!(!queue_file(root, id).exists(), "held in memory when the process died");
    }
    let spool = Spool::open_with(root, options).unwrap();
    assert_eq!(spool.replayed().restored, 6);
    for (id, message) in &accepted {
        assert!(&spool.read(id).unwrap().1 == message);
    }
    assert_eq!(segments(root).len(), 1, "the journal starts over with one segment");
}

#[tokio::test]
async fn a_checkpoint_retires_what_is_already_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let options =
        JournalOptions { segment_size: 8 << 10, checkpoint_interval: Duration::from_millis(50), ..Default::default() };
    let spool = Spool::open_with(root, options).unwrap();
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(spool.accept(&envelope(i), &body(i, 3000)).await.unwrap());
    }
    // On a loaded machine the accepts span several checkpoint rounds; a round that began before
    // the last accept retires only part of the journal, the next one the rest.
    let deadline = Instant::now() + Duration::from_secs(10);
    while (spool.checkpoints() == 0 || segments(root).len() > 2) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(spool.checkpoints() >= 1, "no checkpoint within 10 s");
    // Segments before the checkpoint are gone.
    assert!(segments(root).len() <= 2, "{:?}", segments(root));
    drop(spool);
    // Deleted by hand after the checkpoint: the journal no longer speaks for it.
    fs::remove_file(queue_file(root, &ids[0])).unwrap();
    let spool = Spool::open_with(root, options).unwrap();
    assert_eq!(spool.replayed(), ReplayReport::default());
    assert_eq!(spool.list().unwrap().len(), 11);
}

#[tokio::test]
async fn an_operator_deletion_from_another_process_survives_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let owner = Spool::open_with(root, no_checkpoints()).unwrap();
    let keep = owner.accept(&envelope(1), b"keep").await.unwrap();
    let gone = owner.accept(&envelope(2), b"delete me").await.unwrap();

    let cli = Spool::attach(root).unwrap();
    assert_eq!(cli.list().unwrap().len(), 2);
    cli.remove(&gone).unwrap();
    assert!(matches!(cli.remove(&gone), Err(SpoolError::NotFound(_))));
    drop(cli);
    // Neither was written to `queue/`: only the journal can bring anything back.
    owner.simulate_crash();
    assert!(!queue_file(root, &keep).exists());

    let owner = Spool::open_with(root, no_checkpoints()).unwrap();
    assert_eq!(owner.read(&keep).unwrap().1, b"keep");
    assert!(matches!(owner.read(&gone), Err(SpoolError::NotFound(_))));
    assert_eq!(fs::read_dir(root.join("removed")).unwrap().count(), 0, "markers are cleared after the replay");
}

#[tokio::test]
async fn an_attached_process_writes_durably_without_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let owner = Spool::open(root).unwrap();
    let cli = Spool::attach(root).unwrap();
    // Attaching never cleans up: a file being written by the owner stays.
    fs::write(root.join("incoming").join("01A2090CADB0BB291366"), b"in flight").unwrap();
    let id = cli.accept(&envelope(1), b"from the cli").await.unwrap();
    assert_eq!(cli.syncs(), 0);
    assert_eq!(owner.read(&id).unwrap().1, b"from the cli");
    assert!(root.join("incoming").join("01A2090CADB0BB291366").exists());
}

#[tokio::test]
async fn a_second_owner_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let first = Spool::open(dir.path()).unwrap();
    let options = JournalOptions { lock_wait: Duration::from_millis(200), ..JournalOptions::default() };
    let err = Spool::open_with(dir.path(), options).err().expect("two owners of one spool");
    assert!(err.to_string().contains("locked by another authrelay process"), "{err}");
    drop(first);
    // Once the first owner is gone, the spool can be opened again.
    Spool::open(dir.path()).unwrap();
}

fn queue_files(root: &Path) -> usize {
    fs::read_dir(root.join("queue")).unwrap().count()
}

/// A message delivered before the next checkpoint never gets a queue file: its journal records
/// (accept, done) are all it leaves, and a replay of them restores nothing.
#[tokio::test]
async fn a_message_delivered_at_once_never_touches_the_queue_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let spool = Spool::open_with(root, no_checkpoints()).unwrap();
    let id = spool.accept(&envelope(1), b"Subject: fast\r\n\r\nx\r\n").await.unwrap();
    assert_eq!(queue_files(root), 0, "held in memory, durable in the journal");
    assert_eq!(spool.read(&id).unwrap().1, b"Subject: fast\r\n\r\nx\r\n");
    assert_eq!(spool.entry(&id).unwrap().envelope, envelope(1));
    assert_eq!(spool.list().unwrap().len(), 1);
    spool.remove_async(&id).await.unwrap();
    assert!(matches!(spool.read(&id), Err(SpoolError::NotFound(_))));
    assert!(matches!(spool.remove_async(&id).await, Err(SpoolError::NotFound(_))));
    spool.flush().unwrap();
    assert_eq!(queue_files(root), 0);
    spool.simulate_crash();
    let spool = Spool::open_with(root, no_checkpoints()).unwrap();
    assert_eq!(spool.replayed(), ReplayReport { records: 2, restored: 0, removed: 0 });
    assert!(spool.list().unwrap().is_empty());
}

/// Messages still queued get their files at the next checkpoint, and when the spool closes.
#[tokio::test]
async fn queued_messages_get_their_files_at_a_checkpoint_or_at_close() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let options = JournalOptions { checkpoint_interval: Duration::from_millis(50), ..JournalOptions::default() };
    let spool = Spool::open_with(root, options).unwrap();
    let waiting = spool.accept(&envelope(1), &body(1, 2000)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while spool.checkpoints() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(spool.checkpoints() >= 1, "no checkpoint within 10 s");
    assert!(queue_file(root, &waiting).exists(), "written before the checkpoint");
    drop(spool);

    let spool = Spool::open_with(root, no_checkpoints()).unwrap();
    let late = spool.accept(&envelope(2), &body(2, 2000)).await.unwrap();
    assert!(!queue_file(root, &late).exists());
    drop(spool);
    assert!(queue_file(root, &late).exists(), "a clean close writes it");
    // And checkpoints: the next start has nothing to replay.
    assert_eq!(Spool::open(root).unwrap().replayed(), ReplayReport::default());
    let cli = Spool::attach(root).unwrap();
    assert_eq!(cli.read(&late).unwrap().1, body(2, 2000));
    assert_eq!(cli.read(&waiting).unwrap().1, body(1, 2000));
}

/// The CLI runs in another process while the server holds messages in memory: it finds them
/// in the journal, can show them, and a deletion keeps the server from writing them later.
#[tokio::test]
async fn an_attached_process_sees_messages_the_owner_holds_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let owner = Spool::open_with(root, no_checkpoints()).unwrap();
    let a = owner.accept(&envelope(1), b"only in the journal").await.unwrap();
    let b = owner.accept(&envelope(2), b"delivered already").await.unwrap();
    owner.remove_async(&b).await.unwrap();
    let c = owner.accept(&envelope(3), b"to be deleted").await.unwrap();
    assert_eq!(queue_files(root), 0);

    let cli = Spool::attach(root).unwrap();
    let listed: Vec<QueueId> = cli.list().unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(listed, vec![a.clone(), c.clone()]);
    assert_eq!(cli.read(&a).unwrap(), (envelope(1), b"only in the journal".to_vec()));
    assert_eq!(cli.entry(&c).unwrap().size, 13);
    cli.remove(&c).unwrap();
    drop(cli);

    owner.flush().unwrap();
    assert!(queue_file(root, &a).exists());
    assert!(!queue_file(root, &c).exists(), "deleted by the operator: never written");
    drop(owner);
    let owner = Spool::open_with(root, no_checkpoints()).unwrap();
    let listed: Vec<QueueId> = owner.list().unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(listed, vec![a]);
}

/// Past the memory bound an accept writes its file at once; nothing else changes.
#[tokio::test]
async fn past_the_memory_bound_files_are_written_at_accept() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let options = JournalOptions { memory_bytes: 4096, ..no_checkpoints() };
    let spool = Spool::open_with(root, options).unwrap();
    let held = spool.accept(&envelope(1), &body(1, 1000)).await.unwrap();
    let big = spool.accept(&envelope(2), &body(2, 5000)).await.unwrap();
    assert!(!queue_file(root, &held).exists());
    assert!(queue_file(root, &big).exists());
    assert_eq!(spool.read(&big).unwrap().1, body(2, 5000));
    spool.remove_async(&big).await.unwrap();
    assert!(!queue_file(root, &big).exists());
    assert_eq!(spool.list().unwrap().len(), 1);
}
