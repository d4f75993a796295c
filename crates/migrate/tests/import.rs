//! Plan and apply against a real SQLite directory, with export files shaped as Microsoft 365
//! writes them (`fixtures/`): the report in UTF-8 with a BOM (English headers, quoted, `%`),
//! UTF-16 LE (Korean headers, tabs: Excel's "Unicode Text") and UTF-16 BE (Indonesian headers,
//! `;`, decimal commas); the mailbox switch from Windows PowerShell 5.1 (UTF-16 LE, `#TYPE`
//! line) and PowerShell 7 (`;`, UTF-8 BOM); the organisation switch as `Format-List` text and
//! as JSON.

use std::collections::BTreeMap;

use authrelay_core::{MailboxSmtpAuth, OrgSmtpAuth};
use authrelay_directory::sqlite::SqliteDirectory;
use authrelay_directory::Directory;
use authrelay_migrate::plan::{self, Options, Site};
use authrelay_migrate::{read_exports, Exports, Files};

fn fixture(name: &str) -> (String, Vec<u8>) {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    (name.to_string(), std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

fn exports(report: &str, mailboxes: &str, org: &str) -> Exports {
    let files =
        Files { report: fixture(report), mailboxes: Some(fixture(mailboxes)), org_settings: Some(fixture(org)) };
    read_exports(&files, &BTreeMap::new()).unwrap()
}

const VARIANTS: &[(&str, &str, &str)] = &[
    ("report-en-utf8-bom.csv", "mailboxes-ps51-utf16le.csv", "transportconfig-fl-utf16le.txt"),
    ("report-ko-utf16le.txt", "mailboxes-ps7-utf8-bom.csv", "transportconfig.json"),
    ("report-id-utf16be.csv", "mailboxes-ps51-utf16le.csv", "transportconfig.json"),
];

#[test]
fn every_variant_reads_the_same() {
    let first = exports(VARIANTS[0].0, VARIANTS[0].1, VARIANTS[0].2);
    assert_eq!(first.senders.len(), 4);
    assert_eq!(first.mailboxes.len(), 7);
    for (r, m, o) in &VARIANTS[1..] {
        let other = exports(r, m, o);
        assert_eq!(other.senders, first.senders, "{r}");
        assert_eq!(other.mailboxes, first.mailboxes, "{m}");
        assert_eq!(other.org_smtp_auth_disabled, first.org_smtp_auth_disabled, "{o}");
    }
    let mfp = first.senders.iter().find(|s| s.address == "mfp-2f@contoso.com").unwrap();
    assert_eq!((mfp.tls10, mfp.tls12, mfp.messages), (Some(62.5), Some(37.5), 88));
    let erp = first.senders.iter().find(|s| s.address == "erp@contoso.com").unwrap();
    assert_eq!(erp.messages, 1530);
}

async fn state(dir: &SqliteDirectory) -> String {
    let mut out = format!("{:?}\n", dir.list_orgs().await.unwrap());
    for u in dir.list_users(None).await.unwrap() {
        out +=
            &format!("{} {:?} {:?}\n", u.address, u.settings, dir.list_device_credentials(&u.address).await.unwrap());
    }
    out += &format!("{:?}", dir.imported_senders().await.unwrap());
    out
}

#[tokio::test]
async fn dry_run_changes_nothing_and_a_second_import_changes_nothing() {
    for (r, m, o) in VARIANTS {
        let dir = SqliteDirectory::open_in_memory().await.unwrap();
        let ex = exports(r, m, o);
        let options = Options { org_name: Some("Contoso".into()), ..Options::default() };

        // Dry run: the plan lists everything, the directory is untouched.
        let empty = state(&dir).await;
        let p = plan::build(&dir, &ex, &options).await.unwrap();
        assert_eq!(state(&dir).await, empty);
        assert_eq!(p.orgs.len(), 1);
        let org = &p.orgs[0];
        assert!(org.create);
        assert_eq!(org.add_domains, ["contoso.com", "fabrikam.com"]);
        assert_eq!((org.smtp_auth_before, org.smtp_auth_after), (None, OrgSmtpAuth::Enabled));
        let senders: Vec<&str> = p.senders.iter().map(|s| s.address.as_str()).collect();
        assert_eq!(
            senders,
            [
                "erp@contoso.com",
                "fax@fabrikam.com",
                "mfp-2f@contoso.com",
                "rare-report@contoso.com",
                "scanner@contoso.com"
            ]
        );
        assert_eq!(p.not_imported, 2, "alice (inherits) and bob (off) neither sent nor have SMTP AUTH on");
        let by = |a: &str| p.senders.iter().find(|s| s.address == a).unwrap();
        // The three states, mirrored.
        assert_eq!(by("scanner@contoso.com").smtp_auth_after, MailboxSmtpAuth::Enabled);
        assert_eq!(by("mfp-2f@contoso.com").smtp_auth_after, MailboxSmtpAuth::Default);
        assert!(by("mfp-2f@contoso.com").smtp_auth_effective && !by("mfp-2f@contoso.com").smtp_auth_from_mailbox);
        assert_eq!(by("fax@fabrikam.com").smtp_auth_after, MailboxSmtpAuth::Disabled);
        assert_eq!(by("fax@fabrikam.com").blocked_by, Some("authenticated-smtp"));
        // TLS 1.0 / 1.1 senders flagged, others not; basic vs OAuth; inactive.
        assert!(by("mfp-2f@contoso.com").legacy_tls && by("fax@fabrikam.com").legacy_tls);
        assert!(!by("scanner@contoso.com").legacy_tls && !by("erp@contoso.com").legacy_tls);
        assert!(by("scanner@contoso.com").basic && !by("erp@contoso.com").basic);
        assert!(by("fax@fabrikam.com").inactive && by("rare-report@contoso.com").inactive);
        assert!(by("rare-report@contoso.com").from_mailbox_export);
        assert!(!p.is_empty());

        // Apply: every change made, a credential per sender.
        let applied = plan::apply(&dir, &p, 1_800_000_000).await;
        assert!(applied.error.is_none(), "{:?}", applied.error);
        assert_eq!(applied.issued.len(), 5);
        assert_eq!(applied.changes.len(), p.changes, "the plan counted what apply did");
        let fax = dir.user("fax@fabrikam.com").await.unwrap().unwrap();
        assert_eq!(fax.settings.smtp_auth, MailboxSmtpAuth::Disabled);
        assert_eq!(dir.user("mfp-2f@contoso.com").await.unwrap().unwrap().settings.smtp_auth, MailboxSmtpAuth::Default);
        assert_eq!(dir.org("Contoso").await.unwrap().unwrap().settings.smtp_auth, OrgSmtpAuth::Enabled);
        for i in &applied.issued {
            let stored = dir.auth_record(&i.address).await.unwrap().unwrap();
            assert_eq!(stored.device_credentials.len(), 1);
            assert!(authrelay_directory::secrets::verify_secret(&i.secret, &stored.device_credentials[0].hash));
        }
        assert!(
            applied.changes.iter().all(|c| !c.after.contains("adc_") && !c.before.contains("adc_")),
            "no secret in the audit trail"
        );

        // Again, from every variant: nothing planned, nothing changed.
        let after = state(&dir).await;
        for (r2, m2, o2) in VARIANTS {
            let again = plan::build(&dir, &exports(r2, m2, o2), &options).await.unwrap();
            assert!(again.is_empty(), "{r2}: {:?}", again);
            assert!(again.senders.iter().all(|s| s.credential_exists && !s.create_mailbox));
            let applied = plan::apply(&dir, &again, 1_800_000_100).await;
            assert!(applied.changes.is_empty() && applied.issued.is_empty() && applied.error.is_none());
            assert_eq!(state(&dir).await, after, "{r2}");
        }
    }
}

#[tokio::test]
async fn skip_inactive_sites_and_an_existing_organisation() {
    let dir = SqliteDirectory::open_in_memory().await.unwrap();
    // The tenant already exists here with one of the domains and stricter settings.
    dir.create_org("Contoso", &["contoso.com".to_string()]).await.unwrap();
    let ex = exports(VARIANTS[0].0, VARIANTS[0].1, VARIANTS[0].2);
    let sites: Vec<Site> = ["contoso.com=192.0.2.0/24", "mfp-2f@contoso.com=192.0.2.7", "198.51.100.0/24"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let options = Options { skip_inactive: true, sites, ..Options::default() };
    let p = plan::build(&dir, &ex, &options).await.unwrap();
    // fabrikam.com belongs to no organisation; fax@fabrikam.com is skipped (inactive), so no
    // domain is added for it.
    assert_eq!(p.orgs.len(), 1);
    assert!(!p.orgs[0].create && p.orgs[0].add_domains.is_empty());
    let skipped: Vec<&str> = p.senders.iter().filter(|s| s.skipped).map(|s| s.address.as_str()).collect();
    assert_eq!(skipped, ["fax@fabrikam.com", "rare-report@contoso.com"]);
    let by = |a: &str| p.senders.iter().find(|s| s.address == a).unwrap();
    assert_eq!(by("mfp-2f@contoso.com").allow, ["192.0.2.7/32"]);
    assert_eq!(by("scanner@contoso.com").allow, ["192.0.2.0/24"]);
    let applied = plan::apply(&dir, &p, 1_800_000_000).await;
    assert!(applied.error.is_none(), "{:?}", applied.error);
    assert_eq!(applied.issued.len(), 3);
    assert!(dir.user("fax@fabrikam.com").await.unwrap().is_none());
    let creds = dir.list_device_credentials("mfp-2f@contoso.com").await.unwrap();
    assert_eq!(creds[0].allow.iter().map(|c| c.to_string()).collect::<Vec<_>>(), ["192.0.2.7/32"]);
    assert_eq!(dir.org("Contoso").await.unwrap().unwrap().settings.smtp_auth, OrgSmtpAuth::Enabled);

    // Without --skip-inactive the skipped ones come in now; fabrikam.com joins Contoso.
    let p = plan::build(&dir, &ex, &Options::default()).await.unwrap();
    assert_eq!(p.orgs[0].add_domains, ["fabrikam.com"]);
    let applied = plan::apply(&dir, &p, 1_800_000_100).await;
    assert!(applied.error.is_none(), "{:?}", applied.error);
    assert_eq!(
        applied.issued.iter().map(|i| i.address.as_str()).collect::<Vec<_>>(),
        ["fax@fabrikam.com", "rare-report@contoso.com"]
    );

    // A revoked credential is issued again by the next import; the rest stays.
    dir.revoke_device_credential("scanner@contoso.com", "m365 scanner").await.unwrap();
    let p = plan::build(&dir, &ex, &Options::default()).await.unwrap();
    assert_eq!(p.changes, 1);
    let applied = plan::apply(&dir, &p, 1_800_000_200).await;
    assert_eq!(applied.issued.len(), 1);
    assert_eq!(applied.issued[0].address, "scanner@contoso.com");
}

#[tokio::test]
async fn domains_join_the_tenants_organisation_unless_another_is_named() {
    // One Microsoft 365 tenant is one organisation: a domain nobody accepts yet joins the
    // organisation that already holds the tenant's other domain…
    let dir = SqliteDirectory::open_in_memory().await.unwrap();
    dir.create_org("Fabrikam", &["fabrikam.com".to_string()]).await.unwrap();
    let ex = exports(VARIANTS[0].0, VARIANTS[0].1, VARIANTS[0].2);
    let p = plan::build(&dir, &ex, &Options::default()).await.unwrap();
    let names: Vec<(&str, bool, Vec<String>)> =
        p.orgs.iter().map(|o| (o.name.as_str(), o.create, o.add_domains.clone())).collect();
    assert_eq!(names, [("Fabrikam", false, vec!["contoso.com".to_string()])]);

    // …unless --org names another: then it goes there, and fabrikam.com stays where it is.
    let named = Options { org_name: Some("Contoso".into()), ..Options::default() };
    let p = plan::build(&dir, &ex, &named).await.unwrap();
    let names: Vec<(&str, bool)> = p.orgs.iter().map(|o| (o.name.as_str(), o.create)).collect();
    assert_eq!(names, [("Contoso", true), ("Fabrikam", false)]);
    assert_eq!(p.senders.iter().find(|s| s.address == "fax@fabrikam.com").unwrap().org, "Fabrikam");
    let applied = plan::apply(&dir, &p, 1).await;
    assert!(applied.error.is_none(), "{:?}", applied.error);
    assert!(plan::build(&dir, &ex, &named).await.unwrap().is_empty());
    assert!(plan::build(&dir, &ex, &Options::default()).await.unwrap().is_empty());

    // With no organisation at all and no name, the busiest domain names the new one.
    let fresh = SqliteDirectory::open_in_memory().await.unwrap();
    let p = plan::build(&fresh, &ex, &Options::default()).await.unwrap();
    assert_eq!((p.orgs[0].name.as_str(), p.orgs[0].add_domains.len()), ("contoso.com", 2));
    assert!(matches!(
        plan::build(&fresh, &ex, &Options { org_name: Some(" ".into()), ..Options::default() }).await,
        Err(authrelay_migrate::ImportError::BadOrgName { .. })
    ));
}
