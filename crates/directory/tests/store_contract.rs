//! One contract, both backends: every [`Store`] method is exercised on SQLite and on a real
//! PostgreSQL (crates/pgtest), and must give the same answers. What only a shared database can
//! show — two nodes counting the same lockout, adding to the same quota — runs on PostgreSQL
//! with two independent connection pools, as two nodes hold them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authrelay_core::{Check, CredentialKind, MfaState, ReplyId, SecurityDefaults};
use authrelay_directory::admin::{AdminError, AdminSession, AdminStore, AuditEntry, NewAdmin};
use authrelay_directory::listing::PageRequest;
use authrelay_directory::postgres::PgDirectory;
use authrelay_directory::sqlite::SqliteDirectory;
use authrelay_directory::{
    AuditFilter, Directory, DirectoryError, ImportedSender, LockoutPolicy, NewAppPassword, NewDeviceCredential,
    NewUser, OrgChange, OrgLimits, SignInEntry, SignInFilter, Store, SubmissionCount, UserChange,
};
use authrelay_pgtest::TestPostgres;

fn user(address: &str) -> NewUser {
    NewUser { address: address.into(), display_name: format!(" {address} "), password_hash: format!("h-{address}") }
}

fn signin(at: i64, user: &str, success: bool) -> SignInEntry {
    SignInEntry {
        at,
        client_ip: "192.0.2.7".into(),
        client_port: 50_123,
        tls: "TLSv1.3".into(),
        mechanism: "PLAIN".into(),
        user: user.into(),
        credential: Some(CredentialKind::DeviceCredential),
        check: if success { Check::Accepted } else { Check::Credentials },
        reply: Some(if success { ReplyId::AuthOk } else { ReplyId::BadCredentials }),
        success,
        // A legacy listener's name reads back as written (README "Legacy devices").
        listener: (!success).then(|| "plain 192.0.2.1:2525".to_string()),
    }
}

fn audit(at: i64, action: &str) -> AuditEntry {
    AuditEntry {
        at,
        actor: "x".into(),
        action: action.into(),
        target: "t".into(),
        before: "-".into(),
        after: "y".into(),
    }
}

/// Organisations, users, send-as, app passwords and device credentials.
async fn accounts(store: &dyn Store) {
    let b = store.backend();
    let org = store.create_org(" Contoso ", &["Contoso.COM.".into(), "contoso.com".into()]).await.unwrap();
    assert_eq!((org.name.as_str(), org.domains.clone()), ("Contoso", vec!["contoso.com".to_string()]), "{b}");
    assert!(matches!(store.create_org("CONTOSO", &[]).await, Err(DirectoryError::OrgExists(_))), "{b}");
    let taken = store.create_org("Fabrikam", &["contoso.com".into()]).await;
    assert!(matches!(taken, Err(DirectoryError::DomainTaken { .. })), "{b}");
    store.create_org("Fabrikam", &["fabrikam.com".into()]).await.unwrap();
    let org = store.add_domain("contoso", "mail.contoso.com").await.unwrap();
    assert_eq!(org.domains, ["contoso.com", "mail.contoso.com"], "{b}: domains keep their order");
    let names: Vec<String> = store.list_orgs().await.unwrap().into_iter().map(|o| o.name).collect();
    assert_eq!(names, ["Contoso", "Fabrikam"], "{b}");
    assert!(store.hosts_domain("MAIL.contoso.com").await.unwrap(), "{b}");
    assert!(!store.hosts_domain("example.org").await.unwrap(), "{b}");
    assert_eq!(store.org_for_domain("fabrikam.com").await.unwrap().unwrap().name, "Fabrikam", "{b}");
    let off = OrgChange { security_defaults: Some(SecurityDefaults::Off), ..Default::default() };
    assert_eq!(store.update_org("Contoso", off).await.unwrap().settings.security_defaults, SecurityDefaults::Off);

    let alice = store.create_user(user("Alice@Contoso.com")).await.unwrap();
    assert_eq!((alice.address.as_str(), alice.display_name.as_str()), ("alice@contoso.com", "Alice@Contoso.com"));
    assert!(matches!(store.create_user(user("alice@contoso.com")).await, Err(DirectoryError::UserExists(_))));
    assert!(matches!(store.create_user(user("x@nowhere.example")).await, Err(DirectoryError::NoOrgForDomain(_))));
    store.create_user(user("bob@fabrikam.com")).await.unwrap();
    let change = UserChange {
        mfa: Some(MfaState::Enforced),
        add_send_as: vec!["<Scanner@Contoso.com>".into(), "alice@contoso.com".into(), "".into()],
        ..Default::default()
    };
    let alice = store.update_user("ALICE@contoso.com", change).await.unwrap();
    assert_eq!(alice.settings.mfa, MfaState::Enforced, "{b}");
    assert_eq!(alice.send_as, ["scanner@contoso.com"], "{b}");
    let again = UserChange { add_send_as: vec!["scanner@contoso.com".into()], ..Default::default() };
    assert_eq!(store.update_user("alice@contoso.com", again).await.unwrap().send_as.len(), 1, "{b}");
    assert_eq!(store.list_users(Some("contoso")).await.unwrap().len(), 1, "{b}");
    assert_eq!(store.list_users(None).await.unwrap().len(), 2, "{b}");
    assert!(matches!(store.list_users(Some("nope")).await, Err(DirectoryError::UnknownOrg(_))), "{b}");
    store.set_password_hash("alice@contoso.com", "new-hash").await.unwrap();

    let app = NewAppPassword { name: "scanner".into(), hint: "abcd".into(), hash: "ah".into() };
    let made = store.add_app_password("alice@contoso.com", app.clone()).await.unwrap();
    let twice = store.add_app_password("alice@contoso.com", app.clone()).await;
    assert!(matches!(twice, Err(DirectoryError::AppPasswordExists { .. })), "{b}");
    for i in 1..40 {
        let next = NewAppPassword { name: format!("a{i}"), ..app.clone() };
        store.add_app_password("alice@contoso.com", next).await.unwrap();
    }
    let over = store.add_app_password("alice@contoso.com", NewAppPassword { name: "41st".into(), ..app }).await;
    assert!(matches!(over, Err(DirectoryError::TooManyAppPasswords(_))), "{b}");
    store.touch_app_password(made.id, 1234).await.unwrap();
    assert_eq!(store.list_app_passwords("alice@contoso.com").await.unwrap()[0].last_used_at, Some(1234), "{b}");
    store.revoke_app_password("alice@contoso.com", "scanner").await.unwrap();
    let gone = store.revoke_app_password("alice@contoso.com", "scanner").await;
    assert!(matches!(gone, Err(DirectoryError::UnknownAppPassword { .. })), "{b}");

    let device = NewDeviceCredential {
        name: "printer".into(),
        tag: format!("tag{b}"),
        hash: "dh".into(),
        allow: vec!["192.0.2.0/24".parse().unwrap()],
        expires_at: Some(99_999_999_999),
    };
    let cred = store.add_device_credential("alice@contoso.com", device.clone()).await.unwrap();
    let same =
        store.add_device_credential("alice@contoso.com", NewDeviceCredential { tag: "t2".into(), ..device }).await;
    assert!(matches!(same, Err(DirectoryError::DeviceCredentialExists { .. })), "{b}");
    store.touch_device_credential(cred.id, 77, "192.0.2.9").await.unwrap();
    let listed = store.list_device_credentials("alice@contoso.com").await.unwrap();
    assert_eq!((listed.len(), listed[0].last_used_ip.as_deref(), listed[0].allow.len()), (1, Some("192.0.2.9"), 1));

    let record = store.auth_record("Alice@Contoso.com").await.unwrap().unwrap();
    assert_eq!(record.password_hash, "new-hash", "{b}");
    assert_eq!(record.org.security_defaults, SecurityDefaults::Off, "{b}");
    assert_eq!(record.app_passwords.len(), 39, "{b}: the revoked one is gone");
    assert_eq!(record.device_credentials.len(), 1, "{b}");
    assert!(store.auth_record("nobody@contoso.com").await.unwrap().is_none(), "{b}");
    assert!(store.auth_record("not an address").await.unwrap().is_none(), "{b}");
    store.revoke_device_credential("alice@contoso.com", "printer").await.unwrap();
    assert!(store.auth_record("alice@contoso.com").await.unwrap().unwrap().device_credentials.is_empty(), "{b}");

    // Grants to send as alice held by others: one follows her rename; one that would duplicate
    // an existing grant of the new address merges into it.
    for grantee in ["bob@contoso.com", "carol@contoso.com"] {
        store.create_user(user(grantee)).await.unwrap();
    }
    let grant =
        |add: &[&str]| UserChange { add_send_as: add.iter().map(|a| a.to_string()).collect(), ..Default::default() };
    store.update_user("bob@contoso.com", grant(&["alice@contoso.com", "noreply@contoso.com"])).await.unwrap();
    store.update_user("carol@contoso.com", grant(&["alice@contoso.com", "alice.smith@contoso.com"])).await.unwrap();

    // Rename keeps the row (password, app passwords follow); delete takes them with it.
    let renamed = store.rename_user("alice@contoso.com", "Alice.Smith@Contoso.com").await.unwrap();
    let send_as = |who: &'static str| async move { store.auth_record(who).await.unwrap().unwrap().user.send_as };
    assert_eq!(send_as("bob@contoso.com").await, ["alice.smith@contoso.com", "noreply@contoso.com"], "{b}");
    assert_eq!(send_as("carol@contoso.com").await, ["alice.smith@contoso.com"], "{b}");
    assert_eq!(renamed.address, "alice.smith@contoso.com", "{b}");
    assert!(store.auth_record("alice@contoso.com").await.unwrap().is_none(), "{b}: the old address is gone");
    let moved = store.auth_record("alice.smith@contoso.com").await.unwrap().unwrap();
    assert_eq!((moved.password_hash.as_str(), moved.app_passwords.len()), ("new-hash", 39), "{b}");
    let nowhere = store.rename_user("alice.smith@contoso.com", "a@nowhere.example").await;
    assert!(matches!(nowhere, Err(DirectoryError::NoOrgForDomain(_))), "{b}");
    let gone = store.delete_user("alice.smith@contoso.com").await.unwrap();
    assert_eq!(gone.id, moved.user.id, "{b}");
    // Others' grants to send as her go with her mailbox; their other grants stay.
    assert_eq!(send_as("bob@contoso.com").await, ["noreply@contoso.com"], "{b}");
    assert!(send_as("carol@contoso.com").await.is_empty(), "{b}");
    assert!(store.auth_record("alice.smith@contoso.com").await.unwrap().is_none(), "{b}");
    assert!(matches!(store.delete_user("alice.smith@contoso.com").await, Err(DirectoryError::UnknownUser(_))), "{b}");
}

/// Sign-in log, lockout, quota, limits, the clients report and imported senders.
async fn records(store: &dyn Store) {
    let b = store.backend();
    for at in 1..=5 {
        store.record_signin(&signin(at, "Alice@Contoso.com", at % 2 == 0)).await.unwrap();
    }
    let mine = SignInFilter { user: Some("alice@CONTOSO.com".into()), ..Default::default() };
    let rows = store.signins(&mine).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.at).collect::<Vec<_>>(), [5, 4, 3, 2, 1], "{b}");
    assert_eq!(rows[0], signin(5, "Alice@Contoso.com", false), "{b}: a row reads back as written");
    let legacy = SignInFilter { legacy_only: true, ..mine.clone() };
    let legacy_ats: Vec<i64> = store.signins(&legacy).await.unwrap().iter().map(|r| r.at).collect();
    assert_eq!(legacy_ats, [5, 3, 1], "{b}: only the rows of a legacy listener");
    let failed = SignInFilter { success: Some(false), limit: Some(2), ..Default::default() };
    assert_eq!(store.signins(&failed).await.unwrap().iter().map(|r| r.at).collect::<Vec<_>>(), [5, 3], "{b}");
    assert_eq!(store.prune_signins(4, 1).await.unwrap(), 3, "{b}");
    assert_eq!(store.signins(&SignInFilter::default()).await.unwrap().len(), 2, "{b}");

    let policy = LockoutPolicy { threshold: 3, window_secs: 600, base_secs: 60, max_secs: 600, familiar_secs: 3600 };
    for i in 0..2 {
        let s = store.record_auth_failure("Alice@contoso.com", "198.51.100.1", 1000 + i, &policy).await.unwrap();
        assert_eq!(s.locked_until, None, "{b}");
    }
    let locked = store.record_auth_failure("alice@contoso.com ", "198.51.100.2", 1002, &policy).await.unwrap();
    assert_eq!((locked.locked_until, locked.newly_locked), (Some(1062), true), "{b}");
    let status = store.lockout_status("alice@contoso.com", "198.51.100.3", 1010, &policy).await.unwrap();
    assert_eq!(status.locked_until, Some(1062), "{b}");
    assert_eq!(store.lockouts("alice@contoso.com").await.unwrap()[0].lockouts, 1, "{b}");
    assert_eq!(store.unlock("alice@contoso.com", 1010).await.unwrap(), 1, "{b}");
    store.record_auth_success("alice@contoso.com", "198.51.100.9", 1020, &policy).await.unwrap();
    assert!(store.lockout_status("alice@contoso.com", "198.51.100.9", 1021, &policy).await.unwrap().familiar, "{b}");

    store.record_recipients("alice@contoso.com", 120_000, 5).await.unwrap();
    let batch = [("ALICE@contoso.com".to_string(), 120_030, 7), ("bob@fabrikam.com".to_string(), 120_000, 1)];
    store.record_recipients_batch(&batch).await.unwrap();
    assert_eq!(store.recipients_since("alice@contoso.com", 119_000).await.unwrap(), 12, "{b}");
    assert_eq!(
        store.recipients_since("alice@contoso.com", 120_000).await.unwrap(),
        0,
        "{b}: minutes count from their start"
    );
    let set = OrgLimits { max_sessions: Some(2), max_recipients: Some(9), ..Default::default() };
    let limits = store.set_org_limits("Contoso", set).await.unwrap();
    assert_eq!((limits.max_sessions, limits.max_recipients, limits.daily_recipients), (Some(2), Some(9), None), "{b}");
    let clear = OrgLimits { max_recipients: Some(0), ..Default::default() };
    let limits = store.set_org_limits("contoso", clear).await.unwrap();
    assert_eq!((limits.max_sessions, limits.max_recipients), (Some(2), None), "{b}: 0 clears an override");
    assert!(matches!(store.org_limits("nope").await, Err(DirectoryError::UnknownOrg(_))), "{b}");
    // The bounce language (issue 19): none until set, then what was set; unknown orgs refused.
    assert_eq!(store.org_language("Contoso").await.unwrap(), None, "{b}");
    assert_eq!(store.set_org_language("Contoso", Some("ko")).await.unwrap().as_deref(), Some("ko"), "{b}");
    assert_eq!(store.org_language("Contoso").await.unwrap().as_deref(), Some("ko"), "{b}");
    assert!(matches!(store.set_org_language("nope", Some("id")).await, Err(DirectoryError::UnknownOrg(_))), "{b}");

    let count = |messages, last_at| SubmissionCount {
        user: "Alice@contoso.com".into(),
        day: 20_000,
        tls: "TLSv1.3".into(),
        credential: "device-credential".into(),
        messages,
        last_at,
    };
    store.record_submissions(&[count(2, 50), count(3, 40)]).await.unwrap();
    let counted = store.submissions_since(20_000 * 86_400).await.unwrap();
    assert_eq!(counted, [SubmissionCount { user: "alice@contoso.com".into(), ..count(5, 50) }], "{b}");
    let imported = ImportedSender {
        address: "Scanner@contoso.com".into(),
        org: "Contoso".into(),
        credential: "scanner".into(),
        messages: 12_345,
        tls10: Some(12.5),
        tls11: None,
        tls12: Some(87.5),
        protocol: "basic".into(),
        legacy_tls: true,
        imported_at: 1,
        updated_at: 2,
    };
    store.record_imported_sender(&imported).await.unwrap();
    store.record_imported_sender(&ImportedSender { updated_at: 3, ..imported.clone() }).await.unwrap();
    let expected = ImportedSender { address: "scanner@contoso.com".into(), updated_at: 3, ..imported };
    assert_eq!(store.imported_senders().await.unwrap(), [expected], "{b}");
}

/// The admin store: accounts, TOTP, sessions, tokens, audit.
async fn admin_side(store: &dyn Store) {
    let b = store.backend();
    let new = |address: &str| NewAdmin { address: address.into(), role: "global".into(), password_hash: "p".into() };
    let boss = store.create_admin(new("Boss@Contoso.com")).await.unwrap();
    assert!(matches!(store.create_admin(new("boss@contoso.com")).await, Err(AdminError::AdminExists(_))), "{b}");
    store.set_admin_totp("BOSS@contoso.com", Some("JBSWY3DPEHPK3PXP")).await.unwrap();
    let secrets = store.admin_secrets("boss@contoso.com").await.unwrap().unwrap();
    assert_eq!(secrets.totp_secret.as_deref(), Some("JBSWY3DPEHPK3PXP"), "{b}");
    assert!(store.use_totp_step(boss.id, 10).await.unwrap(), "{b}");
    assert!(!store.use_totp_step(boss.id, 10).await.unwrap(), "{b}: a step is used once");
    let session = AdminSession {
        token_hash: "t1".into(),
        admin: boss.clone(),
        csrf: "c".into(),
        mfa_done: false,
        pending_totp: Some("P".into()),
        created_at: 1,
        expires_at: 100,
    };
    store.create_session(&session).await.unwrap();
    store.update_session("t1", true, None).await.unwrap();
    let found = store.session("t1", 50).await.unwrap().unwrap();
    assert!(found.mfa_done && found.pending_totp.is_none(), "{b}");
    assert!(store.session("t1", 100).await.unwrap().is_none(), "{b}: expired");
    let token = store.create_api_token(boss.id, "ci", "reports", "th").await.unwrap();
    assert_eq!(store.use_api_token("th", 9).await.unwrap().unwrap().0.name, "ci", "{b}");
    assert!(!store.revoke_api_token(token.id, Some(boss.id + 1)).await.unwrap(), "{b}: another admin's token");
    assert!(store.revoke_api_token(token.id, None).await.unwrap(), "{b}");
    assert!(store.list_api_tokens(Some(boss.id)).await.unwrap()[0].revoked_at.is_some(), "{b}");
    store.record_audit(&audit(1, "a")).await.unwrap();
    store.record_audit(&audit(2, "b")).await.unwrap();
    assert_eq!(store.audit(1).await.unwrap()[0].action, "b", "{b}");
    assert_eq!(store.end_admin_sessions(boss.id).await.unwrap(), 1, "{b}");
    store.delete_admin("Boss@contoso.com").await.unwrap();
    assert!(store.admin_secrets("boss@contoso.com").await.unwrap().is_none(), "{b}");
    assert!(store.list_api_tokens(Some(boss.id)).await.unwrap().is_empty(), "{b}: tokens go with the admin");
    assert!(matches!(store.delete_admin("boss@contoso.com").await, Err(AdminError::UnknownAdmin(_))), "{b}");
    store.ping().await.unwrap();
}

/// The admin center's lists: pages with totals, substring and client-range filters, the
/// chart's buckets, expiring credentials and audit filters (crate::listing holds the rules).
async fn lists(store: &dyn Store) {
    let b = store.backend();
    const T0: i64 = 1_000_000;
    let clients = ["198.51.100.1", "198.51.100.200", "203.0.113.5", "2001:db8::7", "::ffff:198.51.100.9"];
    for i in 0..250_i64 {
        let user = if i % 2 == 0 { "Printer.Floor2@Contoso.com" } else { "scanner_1%@contoso.com" };
        let mut e = signin(T0 + i * 60, user, i % 5 != 0);
        e.client_ip = clients[(i % 5) as usize].into();
        store.record_signin(&e).await.unwrap();
    }
    let recent = SignInFilter { since: Some(T0), ..Default::default() };
    assert_eq!(store.count_signins(&recent).await.unwrap(), 250, "{b}");
    let page = store.signins_page(&recent, PageRequest::new(Some(3), Some(100), None, None)).await.unwrap();
    assert_eq!((page.total, page.items.len(), page.first(), page.last()), (250, 50, 201, 250), "{b}");
    assert_eq!(page.items[0].at, T0 + 49 * 60, "{b}: the third page starts 200 rows after the newest");
    let part = |p: &str| SignInFilter { user_contains: Some(p.into()), ..recent.clone() };
    assert_eq!(store.count_signins(&part("FLOOR2")).await.unwrap(), 125, "{b}: case-insensitive substring");
    assert_eq!(store.count_signins(&part("_1%")).await.unwrap(), 125, "{b}: wildcards match themselves");
    assert_eq!(store.count_signins(&part("r_1")).await.unwrap(), 125, "{b}");
    assert_eq!(store.count_signins(&part("r.1")).await.unwrap(), 0, "{b}");
    let client = |c: &str| SignInFilter { client: Some(c.parse().unwrap()), ..recent.clone() };
    assert_eq!(store.count_signins(&client("198.51.100.0/24")).await.unwrap(), 150, "{b}: mapped IPv4 included");
    assert_eq!(store.count_signins(&client("198.51.100.200:4711")).await.unwrap(), 50, "{b}");
    assert_eq!(store.count_signins(&client("[2001:db8::7]:25")).await.unwrap(), 50, "{b}");
    assert_eq!(store.count_signins(&client("192.0.2.0/24")).await.unwrap(), 0, "{b}");
    let listed = store.signins(&SignInFilter { limit: Some(3), ..client("2001:db8::/32") }).await.unwrap();
    assert!(listed.iter().all(|e| e.client_ip == "2001:db8::7") && listed.len() == 3, "{b}");

    let buckets = store.signin_buckets(&recent, 3600).await.unwrap();
    assert_eq!(buckets.iter().map(|k| k.succeeded + k.refused).sum::<u64>(), 250, "{b}");
    assert_eq!(buckets.iter().map(|k| k.refused).sum::<u64>(), 50, "{b}");
    assert!(buckets.iter().all(|k| k.start % 3600 == 0) && buckets.windows(2).all(|w| w[0].start < w[1].start), "{b}");

    store.create_org("Listing", &["listing.example".into()]).await.unwrap();
    store.create_user(user("dev@listing.example")).await.unwrap();
    for (name, expires_at) in [("late", Some(5_000)), ("soon", Some(2_000)), ("never", None)] {
        let new = NewDeviceCredential {
            name: name.into(),
            tag: format!("lt{name}{b}"),
            hash: "h".into(),
            allow: vec![],
            expires_at,
        };
        store.add_device_credential("dev@listing.example", new).await.unwrap();
    }
    let expiring = store.expiring_device_credentials(6_000).await.unwrap();
    let names: Vec<_> = expiring.iter().map(|(a, d)| format!("{a} {}", d.name)).collect();
    assert_eq!(names, ["dev@listing.example soon", "dev@listing.example late"], "{b}");
    store.revoke_device_credential("dev@listing.example", "soon").await.unwrap();
    assert_eq!(store.expiring_device_credentials(6_000).await.unwrap().len(), 1, "{b}: revoked ones are gone");

    for i in 0..30_i64 {
        let action = ["user.set", "user.create", "queue.retry"][(i % 3) as usize];
        let e = AuditEntry {
            actor: format!("Admin{}@Contoso.com", i % 2),
            target: format!("box{i}@x"),
            ..audit(T0 + i, action)
        };
        store.record_audit(&e).await.unwrap();
    }
    let audit_page = |f: AuditFilter| async move {
        store
            .audit_page(&AuditFilter { since: Some(T0), ..f }, PageRequest::new(None, Some(4), None, None))
            .await
            .unwrap()
    };
    let all = audit_page(AuditFilter::default()).await;
    assert_eq!((all.total, all.items.len(), all.items[0].at), (30, 4, T0 + 29), "{b}");
    let users = audit_page(AuditFilter { action: Some("user.".into()), ..Default::default() }).await;
    assert_eq!(users.total, 20, "{b}: a prefix ending in '.'");
    let exact = audit_page(AuditFilter { action: Some("user.set".into()), ..Default::default() }).await;
    assert_eq!(exact.total, 10, "{b}");
    let actor = audit_page(AuditFilter { actor: Some("ADMIN1@".into()), ..Default::default() }).await;
    assert_eq!(actor.total, 15, "{b}");
    let target =
        audit_page(AuditFilter { target: Some("box1".into()), until: Some(T0 + 15), ..Default::default() }).await;
    assert_eq!(target.total, 7, "{b}: box1, box10..box15");
}

async fn contract(store: &dyn Store) {
    accounts(store).await;
    records(store).await;
    admin_side(store).await;
    lists(store).await;
}

#[tokio::test]
async fn sqlite_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteDirectory::open(&dir.path().join("authrelay.db")).await.unwrap();
    contract(&store).await;
}

#[tokio::test]
async fn postgres_keeps_the_contract_and_nodes_share_counters() {
    let pg = TestPostgres::start();
    let url = pg.new_database();
    let keys = tempfile::tempdir().unwrap();
    let store = PgDirectory::connect(&url, keys.path(), 4).await.unwrap();
    contract(&store).await;
    assert_eq!(store.migrate().await.unwrap(), 0, "migrating again applies nothing");

    // Two nodes (two pools) failing one name at once: every failure is counted exactly once,
    // and the lockout comes on the threshold whichever node saw the last failure.
    let node_a = Arc::new(store);
    let node_b = Arc::new(PgDirectory::connect(&url, keys.path(), 4).await.unwrap());
    let policy = LockoutPolicy { threshold: 40, window_secs: 600, base_secs: 60, max_secs: 600, familiar_secs: 3600 };
    let mut tasks = Vec::new();
    for i in 0..39 {
        let node = if i % 2 == 0 { node_a.clone() } else { node_b.clone() };
        tasks.push(tokio::spawn(async move {
            node.record_auth_failure("bob@fabrikam.com", "203.0.113.5", 5000, &policy).await.unwrap()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().locked_until, None);
    }
    assert_eq!(node_b.lockouts("bob@fabrikam.com").await.unwrap()[0].failures, 39, "no failure lost to a race");
    let last = node_b.record_auth_failure("bob@fabrikam.com", "203.0.113.6", 5001, &policy).await.unwrap();
    assert!(last.newly_locked);
    let seen_by_a = node_a.lockout_status("bob@fabrikam.com", "203.0.113.7", 5002, &policy).await.unwrap();
    assert!(seen_by_a.locked_until.is_some(), "the other node sees the lockout");

    // Quota additions from both nodes land in the same minute's row.
    let mut tasks = Vec::new();
    for i in 0..20u32 {
        let node = if i % 2 == 0 { node_a.clone() } else { node_b.clone() };
        tasks.push(tokio::spawn(async move { node.record_recipients("bob@fabrikam.com", 7_200, 1).await.unwrap() }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(node_a.recipients_since("bob@fabrikam.com", 7_000).await.unwrap(), 21);
    let rows = pg.psql(&url, "SELECT COUNT(*) FROM recipient_usage WHERE address = 'bob@fabrikam.com' AND at = 7200");
    assert_eq!(rows, "1");
}

#[tokio::test]
async fn an_unreachable_postgres_is_a_storage_error_within_seconds_and_service_resumes() {
    let mut pg = TestPostgres::start();
    let url = pg.new_database();
    let keys = tempfile::tempdir().unwrap();
    let store = PgDirectory::connect(&url, keys.path(), 2).await.unwrap();
    store.create_org("Contoso", &["contoso.com".into()]).await.unwrap();
    pg.stop();
    let started = Instant::now();
    let err = store.auth_record("a@contoso.com").await.unwrap_err();
    assert!(matches!(err, DirectoryError::Storage(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    pg.restart();
    // The pool replaces its broken connections by itself.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match store.org("Contoso").await {
            Ok(Some(_)) => break,
            other if Instant::now() > deadline => panic!("no recovery within 15 s: {other:?}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

#[tokio::test]
async fn a_sqlite_store_copies_into_postgres_every_table_read_back_identical() {
    // Every table of the SQLite side holds rows (the contract's, plus a live session with the
    // second factor done and a lockout counter, which the contract removes again), so each of
    // copy.rs's SQLite reads is compared, value by value, with PostgreSQL's read-back.
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteDirectory::open(&dir.path().join("authrelay.db")).await.unwrap();
    contract(&sqlite).await;
    // The contract removes its admin (and with it the admin's tokens and sessions): one that stays.
    let keeper = NewAdmin { address: "keeper@contoso.com".into(), role: "global".into(), password_hash: "p".into() };
    let boss = sqlite.create_admin(keeper).await.unwrap();
    sqlite.create_api_token(boss.id, "kept", "reports", "th-kept").await.unwrap();
    // Likewise a mailbox that stays gets a send-as grant and an app password.
    let stays = sqlite.list_users(None).await.unwrap().remove(0).address;
    let grant = UserChange { add_send_as: vec!["desk@contoso.com".into()], ..Default::default() };
    sqlite.update_user(&stays, grant).await.unwrap();
    let app = NewAppPassword { name: "kept".into(), hint: "h".into(), hash: "x".into() };
    sqlite.add_app_password(&stays, app).await.unwrap();
    let session = AdminSession {
        token_hash: "t2".into(),
        admin: boss,
        csrf: "c2".into(),
        mfa_done: true,
        pending_totp: None,
        created_at: 1,
        expires_at: 100,
    };
    sqlite.create_session(&session).await.unwrap();
    sqlite.record_auth_failure("carol@contoso.com", "203.0.113.1", 1, &LockoutPolicy::default()).await.unwrap();

    let pg = TestPostgres::start();
    let url = pg.new_database();
    let postgres = PgDirectory::connect(&url, dir.path(), 2).await.unwrap();
    let report = authrelay_directory::copy::sqlite_to_postgres(&sqlite, &postgres).await.unwrap();
    let empty: Vec<&str> = report.iter().filter(|t| t.rows == 0).map(|t| t.table.as_str()).collect();
    assert!(empty.is_empty(), "tables copied without a row to compare: {empty:?}");
    assert_eq!(report.len(), 16, "{report:?}");
    // And the copy reads back through the PostgreSQL store as it was written to SQLite.
    assert_eq!(postgres.list_users(None).await.unwrap(), sqlite.list_users(None).await.unwrap());
    assert_eq!(postgres.imported_senders().await.unwrap(), sqlite.imported_senders().await.unwrap());
    assert_eq!(
        postgres.signins(&SignInFilter::default()).await.unwrap(),
        sqlite.signins(&SignInFilter::default()).await.unwrap()
    );
    assert!(postgres.session("t2", 50).await.unwrap().unwrap().mfa_done);
}
