//! The plan of an import, built against the directory as it is, and its application.
//!
//! Building reads only; [`apply`] makes exactly the changes the plan lists, in order:
//! organisations and their domains, the organisations' Authenticated SMTP, mailboxes and
//! theirs, one device credential per sender, the import record. Everything is keyed by what
//! already exists (an organisation by a domain it accepts, a mailbox by its address, a
//! credential by its name), so importing the same files again plans nothing and changes nothing.
//!
//! Who is a sender: every address of the SMTP AUTH clients report, and every mailbox whose
//! export says SMTP AUTH is explicitly on (`False`) although the report does not list it — it
//! was switched on for a reason, most likely a device that sends rarely. Those, and report rows
//! with no messages, are *inactive*: imported unless `skip_inactive`. Mailboxes that neither
//! appear in the report nor have SMTP AUTH switched on are counted, not imported.

use std::collections::{BTreeMap, BTreeSet};

use authrelay_core::{effective_smtp_auth, Cidr, DeviceCredentialsPolicy, MailboxSmtpAuth, OrgSmtpAuth, SignIn};
use authrelay_directory::{Directory, ImportedSender, NewDeviceCredential, NewUser, Org, OrgChange, UserChange};
use serde::Serialize;

use crate::report::{Protocol, Sender};
use crate::settings::Disabled;
use crate::{Exports, ImportError};

/// Where a site's address range applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteScope {
    All,
    Domain(String),
    Address(String),
}

/// `--site-cidr`: `DOMAIN=CIDR`, `ADDRESS=CIDR` or a bare `CIDR` for every sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub scope: SiteScope,
    pub cidr: Cidr,
}

impl std::str::FromStr for Site {
    type Err = ImportError;
    fn from_str(value: &str) -> Result<Site, ImportError> {
        let bad = || ImportError::BadSite { value: value.to_string() };
        let (scope, cidr) = match value.split_once('=') {
            Some((key, cidr)) => {
                let key = key.trim().trim_end_matches('.').to_lowercase();
                let scope = if key.contains('@') {
                    authrelay_core::Address::parse(&key).map_err(|_| bad())?;
                    SiteScope::Address(key)
                } else if authrelay_core::address::is_domain(&key) && key.contains('.') {
                    SiteScope::Domain(key)
                } else {
                    return Err(bad());
                };
                (scope, cidr)
            }
            None => (SiteScope::All, value),
        };
        Ok(Site { scope, cidr: cidr.trim().parse().map_err(|_| bad())? })
    }
}

/// The admin's choices.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Name of the organisation to create when none of the domains is accepted yet (default:
    /// the domain with the most senders).
    pub org_name: Option<String>,
    /// Leave out senders that sent nothing in the report's period.
    pub skip_inactive: bool,
    pub sites: Vec<Site>,
}

/// One organisation the import touches.
#[derive(Debug, Clone, Serialize)]
pub struct OrgStep {
    pub name: String,
    pub create: bool,
    /// Domains it accepts after the import, and those the import adds.
    pub domains: Vec<String>,
    pub add_domains: Vec<String>,
    /// Authenticated SMTP before (None: to be created) and after.
    pub smtp_auth_before: Option<OrgSmtpAuth>,
    pub smtp_auth_after: OrgSmtpAuth,
    pub device_credentials: DeviceCredentialsPolicy,
}

impl OrgStep {
    fn changes(&self) -> usize {
        usize::from(self.create)
            + self.add_domains.len() * usize::from(!self.create)
            + usize::from(self.smtp_auth_before.unwrap_or_default() != self.smtp_auth_after)
    }
}

/// One sender: its mailbox, its Authenticated SMTP state and its device credential.
#[derive(Debug, Clone, Serialize)]
pub struct SenderStep {
    pub address: String,
    pub org: String,
    pub messages: u64,
    pub tls10: Option<f64>,
    pub tls11: Option<f64>,
    pub tls12: Option<f64>,
    pub protocol: Protocol,
    /// Used a password with Microsoft 365 (or the report does not say).
    pub basic: bool,
    /// Used TLS 1.0 or 1.1: needs a legacy listener (or a firmware update).
    pub legacy_tls: bool,
    /// Sent nothing in the report's period.
    pub inactive: bool,
    /// Listed only in the mailbox export (SMTP AUTH switched on, nothing sent).
    pub from_mailbox_export: bool,
    /// Left out (`skip_inactive`); nothing below is done for it.
    pub skipped: bool,
    pub create_mailbox: bool,
    /// The mailbox export's value (None: the mailbox is not in that export, or none was given).
    pub m365_smtp_auth_disabled: Option<Disabled>,
    /// The mailbox's Authenticated SMTP before (None: to be created) and after.
    pub smtp_auth_before: Option<MailboxSmtpAuth>,
    pub smtp_auth_after: MailboxSmtpAuth,
    /// Effective Authenticated SMTP after the import, and whether the mailbox or the
    /// organisation decides it.
    pub smtp_auth_effective: bool,
    pub smtp_auth_from_mailbox: bool,
    pub credential: String,
    pub credential_exists: bool,
    pub allow: Vec<String>,
    /// A check that will still refuse the device after the import, if any
    /// ("authenticated-smtp", "device-credentials-policy", "sign-in").
    pub blocked_by: Option<&'static str>,
    /// The import record is new or says something new.
    pub record_changes: bool,
}

impl SenderStep {
    fn changes(&self) -> usize {
        if self.skipped {
            return 0;
        }
        usize::from(self.create_mailbox)
            + usize::from(self.smtp_auth_before.is_some_and(|b| b != self.smtp_auth_after))
            + usize::from(self.create_mailbox && self.smtp_auth_after != MailboxSmtpAuth::Default)
            + usize::from(!self.credential_exists)
            + usize::from(self.record_changes)
    }
}

/// What an import would do.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub orgs: Vec<OrgStep>,
    pub senders: Vec<SenderStep>,
    /// Mailboxes of the export that neither sent with SMTP AUTH nor have it switched on.
    pub not_imported: usize,
    /// The organisation file's value, if one was given.
    pub org_smtp_auth_disabled: Option<Disabled>,
    /// Changes applying would make; 0 = already imported.
    pub changes: usize,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes == 0
    }

    pub fn active(&self) -> impl Iterator<Item = &SenderStep> {
        self.senders.iter().filter(|s| !s.skipped)
    }
}

/// The name of the device credential an import gives a sender: from the report's address,
/// so `device-credential list` shows where it came from. At most 64 characters.
pub fn credential_name(address: &str) -> String {
    let local = address.split('@').next().unwrap_or(address);
    format!("m365 {local}").chars().take(64).collect()
}

fn valid_org_name(name: &str) -> bool {
    let name = name.trim();
    !name.is_empty() && name.len() <= 64 && !name.chars().any(char::is_control)
}

/// Builds the plan. Reads the directory; changes nothing.
pub async fn build(dir: &dyn Directory, exports: &Exports, options: &Options) -> Result<Plan, ImportError> {
    if let Some(name) = &options.org_name {
        if !valid_org_name(name) {
            return Err(ImportError::BadOrgName { value: name.clone() });
        }
    }
    let mailbox_of: BTreeMap<&str, &crate::settings::Mailbox> =
        exports.mailboxes.iter().map(|m| (m.address.as_str(), m)).collect();

    // Senders: the report, then mailboxes switched on that the report does not list.
    let mut senders: Vec<(Sender, bool)> = exports.senders.iter().map(|s| (s.clone(), false)).collect();
    let reported: BTreeSet<&str> = exports.senders.iter().map(|s| s.address.as_str()).collect();
    let mut not_imported = 0;
    for m in &exports.mailboxes {
        if reported.contains(m.address.as_str()) {
            continue;
        }
        if m.smtp_auth_disabled == Disabled::False {
            let domain = m.address.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_default();
            senders.push((
                Sender {
                    address: m.address.clone(),
                    domain,
                    messages: 0,
                    tls10: None,
                    tls11: None,
                    tls12: None,
                    protocol: Protocol::Unknown,
                },
                true,
            ));
        } else {
            not_imported += 1;
        }
    }
    senders.sort_by(|a, b| a.0.address.cmp(&b.0.address));
    let taken = |s: &Sender| !(options.skip_inactive && s.inactive());

    // Organisations: each domain's current one; domains no organisation accepts go to the
    // tenant's organisation (named, or the one already holding most senders, or a new one).
    let mut per_domain: BTreeMap<String, usize> = BTreeMap::new();
    for (s, _) in senders.iter().filter(|(s, _)| taken(s)) {
        *per_domain.entry(s.domain.clone()).or_default() += 1;
    }
    let mut owner: BTreeMap<String, Option<Org>> = BTreeMap::new();
    for d in per_domain.keys() {
        owner.insert(d.clone(), dir.org_for_domain(d).await?);
    }
    let busiest = |want_owned: bool| {
        per_domain
            .iter()
            .filter(|(d, _)| owner[*d].is_some() == want_owned)
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(d, _)| d.clone())
    };
    let tenant: Option<(String, Option<Org>)> = if owner.values().any(Option::is_none) {
        Some(match &options.org_name {
            Some(name) => (name.trim().to_string(), dir.org(name.trim()).await?),
            None => match busiest(true) {
                Some(d) => {
                    let org = owner[&d].clone().expect("owned");
                    (org.name.clone(), Some(org))
                }
                None => {
                    let name = busiest(false).unwrap_or_default();
                    let existing = dir.org(&name).await?;
                    (name, existing)
                }
            },
        })
    } else {
        None
    };
    let mut orgs: BTreeMap<String, OrgStep> = BTreeMap::new();
    let org_target = exports.org_smtp_auth_disabled.and_then(Disabled::org);
    let step_for = |org: Option<&Org>, name: &str| OrgStep {
        name: name.to_string(),
        create: org.is_none(),
        domains: org.map(|o| o.domains.clone()).unwrap_or_default(),
        add_domains: vec![],
        smtp_auth_before: org.map(|o| o.settings.smtp_auth),
        smtp_auth_after: org_target.unwrap_or(org.map(|o| o.settings.smtp_auth).unwrap_or_default()),
        device_credentials: org.map(|o| o.settings.device_credentials).unwrap_or_default(),
    };
    let mut org_of_domain: BTreeMap<String, String> = BTreeMap::new();
    for (domain, org) in &owner {
        let (name, existing) = match org {
            Some(o) => (o.name.clone(), Some(o)),
            None => {
                let (name, existing) = tenant.as_ref().expect("a domain without an organisation has a tenant");
                (name.clone(), existing.as_ref())
            }
        };
        let step = orgs.entry(name.clone()).or_insert_with(|| step_for(existing, &name));
        if org.is_none() && !step.domains.contains(domain) {
            step.domains.push(domain.clone());
            step.add_domains.push(domain.clone());
        }
        org_of_domain.insert(domain.clone(), name);
    }

    let known: BTreeMap<String, ImportedSender> =
        dir.imported_senders().await?.into_iter().map(|s| (s.address.clone(), s)).collect();
    let mut steps = vec![];
    for (s, from_export) in senders {
        let skipped = !taken(&s);
        let export = mailbox_of.get(s.address.as_str()).map(|m| m.smtp_auth_disabled);
        let credential = credential_name(&s.address);
        let org_name = org_of_domain.get(&s.domain).cloned().unwrap_or_default();
        let (user, creds) = match dir.user(&s.address).await? {
            Some(u) => {
                let creds = dir.list_device_credentials(&u.address).await?;
                (Some(u), creds)
            }
            None => (None, vec![]),
        };
        let before = user.as_ref().map(|u| u.settings.smtp_auth);
        // The export's value wins; without one a new mailbox follows its organisation and an
        // existing one keeps what it has.
        let after = export.map(Disabled::mailbox).or(before).unwrap_or_default();
        let org_step = orgs.get(&org_name);
        let org_auth = org_step.map(|o| o.smtp_auth_after).unwrap_or_default();
        let (effective, source) = effective_smtp_auth(org_auth, after);
        let blocked_by = if skipped {
            None
        } else if user.as_ref().is_some_and(|u| u.settings.sign_in == SignIn::Blocked) {
            Some("sign-in")
        } else if org_step.is_some_and(|o| o.device_credentials == DeviceCredentialsPolicy::Blocked) {
            Some("device-credentials-policy")
        } else if !effective {
            Some("authenticated-smtp")
        } else {
            None
        };
        let allow = allow_for(&options.sites, &s.address, &s.domain);
        let record = ImportedSender {
            address: s.address.clone(),
            org: org_name.clone(),
            credential: credential.clone(),
            messages: s.messages,
            tls10: s.tls10,
            tls11: s.tls11,
            tls12: s.tls12,
            protocol: s.protocol.as_str().into(),
            legacy_tls: s.legacy_tls(),
            imported_at: 0,
            updated_at: 0,
        };
        let record_changes = match known.get(&s.address) {
            Some(k) => ImportedSender { imported_at: 0, updated_at: 0, ..k.clone() } != record,
            None => true,
        };
        steps.push(SenderStep {
            org: org_name,
            messages: s.messages,
            tls10: s.tls10,
            tls11: s.tls11,
            tls12: s.tls12,
            protocol: s.protocol,
            basic: s.protocol.is_basic(),
            legacy_tls: s.legacy_tls(),
            inactive: s.inactive(),
            from_mailbox_export: from_export,
            skipped,
            create_mailbox: user.is_none(),
            m365_smtp_auth_disabled: export,
            smtp_auth_before: before,
            smtp_auth_after: after,
            smtp_auth_effective: effective,
            smtp_auth_from_mailbox: source == authrelay_core::SmtpAuthSource::Mailbox,
            credential_exists: creds.iter().any(|c| c.name == credential),
            credential,
            allow,
            blocked_by,
            record_changes,
            address: s.address,
        });
    }
    let orgs: Vec<OrgStep> = orgs.into_values().collect();
    let changes =
        orgs.iter().map(OrgStep::changes).sum::<usize>() + steps.iter().map(SenderStep::changes).sum::<usize>();
    Ok(Plan { orgs, senders: steps, not_imported, org_smtp_auth_disabled: exports.org_smtp_auth_disabled, changes })
}

/// The allow list of a sender: its address's ranges, else its domain's, else those for all.
fn allow_for(sites: &[Site], address: &str, domain: &str) -> Vec<String> {
    let pick = |want: &dyn Fn(&SiteScope) -> bool| -> Vec<String> {
        sites.iter().filter(|s| want(&s.scope)).map(|s| s.cidr.to_string()).collect()
    };
    let by_address = pick(&|s| matches!(s, SiteScope::Address(a) if a == address));
    if !by_address.is_empty() {
        return by_address;
    }
    let by_domain = pick(&|s| matches!(s, SiteScope::Domain(d) if d == domain));
    if !by_domain.is_empty() {
        return by_domain;
    }
    pick(&|s| matches!(s, SiteScope::All))
}

/// A device credential an import created; the secret exists only here, for the setup sheet.
#[derive(Debug, Clone, Serialize)]
pub struct Issued {
    pub address: String,
    pub org: String,
    pub credential: String,
    pub tag: String,
    pub secret: String,
    pub allow: Vec<String>,
    pub legacy_tls: bool,
    pub tls10: Option<f64>,
    pub tls11: Option<f64>,
    pub protocol: Protocol,
}

/// One change made, for the audit log (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub action: &'static str,
    pub target: String,
    pub before: String,
    pub after: String,
}

/// What [`apply`] did: the changes in order, the credentials issued, and the error that
/// stopped it, if one did (the changes before it stand and are listed).
#[derive(Debug, Default)]
pub struct Applied {
    pub changes: Vec<Change>,
    pub issued: Vec<Issued>,
    pub error: Option<ImportError>,
}

fn change(action: &'static str, target: &str, before: &str, after: &str) -> Change {
    Change { action, target: target.into(), before: before.into(), after: after.into() }
}

async fn hash(secret: String) -> String {
    tokio::task::spawn_blocking(move || authrelay_directory::secrets::hash_secret(&secret)).await.expect("hashing task")
}

/// Makes the plan's changes. `now` is unix seconds.
pub async fn apply(dir: &dyn Directory, plan: &Plan, now: i64) -> Applied {
    let mut done = Applied::default();
    if let Err(e) = apply_steps(dir, plan, now, &mut done).await {
        done.error = Some(e);
    }
    done
}

async fn apply_steps(dir: &dyn Directory, plan: &Plan, now: i64, done: &mut Applied) -> Result<(), ImportError> {
    for o in &plan.orgs {
        if o.create {
            let org = dir.create_org(&o.name, &o.add_domains).await?;
            done.changes.push(change("org.create", &org.name, "-", &org.domains.join(", ")));
        } else {
            for d in &o.add_domains {
                let before = dir.org(&o.name).await?.map(|x| x.domains.join(", ")).unwrap_or_default();
                let after = dir.add_domain(&o.name, d).await?;
                done.changes.push(change("org.add-domain", &o.name, &before, &after.domains.join(", ")));
            }
        }
        let before = o.smtp_auth_before.unwrap_or_default();
        if before != o.smtp_auth_after {
            dir.update_org(&o.name, OrgChange { smtp_auth: Some(o.smtp_auth_after), ..OrgChange::default() }).await?;
            done.changes.push(change("org.smtp-auth", &o.name, before.as_str(), o.smtp_auth_after.as_str()));
        }
    }
    for s in plan.active() {
        let mut before = s.smtp_auth_before;
        if s.create_mailbox {
            let password = authrelay_directory::secrets::generate_password();
            let user = dir
                .create_user(NewUser {
                    address: s.address.clone(),
                    display_name: String::new(),
                    password_hash: hash(password).await,
                })
                .await?;
            done.changes.push(change("user.create", &user.address, "-", &user.org));
            before = Some(user.settings.smtp_auth);
        }
        if let Some(b) = before.filter(|b| *b != s.smtp_auth_after) {
            dir.update_user(&s.address, UserChange { smtp_auth: Some(s.smtp_auth_after), ..UserChange::default() })
                .await?;
            done.changes.push(change("user.smtp-auth", &s.address, b.as_str(), s.smtp_auth_after.as_str()));
        }
        if !s.credential_exists {
            let allow = s.allow.iter().filter_map(|c| c.parse::<Cidr>().ok()).collect();
            let (secret, tag) = authrelay_directory::device::generate();
            let new = NewDeviceCredential {
                name: s.credential.clone(),
                tag: tag.clone(),
                hash: hash(secret.clone()).await,
                allow,
                expires_at: None,
            };
            let created = dir.add_device_credential(&s.address, new).await?;
            done.changes.push(change("user.device-credential-add", &s.address, "-", &created.name));
            done.issued.push(Issued {
                address: s.address.clone(),
                org: s.org.clone(),
                credential: created.name,
                tag,
                secret,
                allow: s.allow.clone(),
                legacy_tls: s.legacy_tls,
                tls10: s.tls10,
                tls11: s.tls11,
                protocol: s.protocol,
            });
        }
        if s.record_changes {
            dir.record_imported_sender(&ImportedSender {
                address: s.address.clone(),
                org: s.org.clone(),
                credential: s.credential.clone(),
                messages: s.messages,
                tls10: s.tls10,
                tls11: s.tls11,
                tls12: s.tls12,
                protocol: s.protocol.as_str().into(),
                legacy_tls: s.legacy_tls,
                imported_at: now,
                updated_at: now,
            })
            .await?;
            done.changes.push(change("import.m365-sender", &s.address, "-", &s.credential));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_forms() {
        let s: Site = "contoso.com=192.0.2.0/24".parse().unwrap();
        assert_eq!(s.scope, SiteScope::Domain("contoso.com".into()));
        let s: Site = "Scanner@Contoso.com=192.0.2.10".parse().unwrap();
        assert_eq!(
            (s.scope, s.cidr.to_string()),
            (SiteScope::Address("scanner@contoso.com".into()), "192.0.2.10/32".into())
        );
        assert_eq!("10.0.0.0/8".parse::<Site>().unwrap().scope, SiteScope::All);
        for bad in ["contoso.com=", "contoso.com=300.1.1.1/8", "nodot=10.0.0.0/8", "@contoso.com=10.0.0.0/8", "", "x"] {
            assert!(matches!(bad.parse::<Site>(), Err(ImportError::BadSite { .. })), "{bad}");
        }
        let sites: Vec<Site> =
            ["10.0.0.0/8", "contoso.com=192.0.2.0/24", "contoso.com=198.51.100.0/24", "mfp@contoso.com=192.0.2.7"]
                .iter()
                .map(|s| s.parse().unwrap())
                .collect();
        assert_eq!(allow_for(&sites, "mfp@contoso.com", "contoso.com"), ["192.0.2.7/32"]);
        assert_eq!(allow_for(&sites, "x@contoso.com", "contoso.com"), ["192.0.2.0/24", "198.51.100.0/24"]);
        assert_eq!(allow_for(&sites, "x@fabrikam.com", "fabrikam.com"), ["10.0.0.0/8"]);
        assert!(allow_for(&[], "x@fabrikam.com", "fabrikam.com").is_empty());
    }

    #[test]
    fn credential_names_come_from_the_address_and_fit() {
        assert_eq!(credential_name("scanner@contoso.com"), "m365 scanner");
        assert_eq!(credential_name(&format!("{}@contoso.com", "a".repeat(64))).chars().count(), 64);
    }
}
