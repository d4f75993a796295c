//! The operations. One function per change, so a hook (ending sessions when a credential is
//! revoked, an import flow) has one place to attach.

use std::sync::Arc;

use authrelay_core::{AppPasswordsPolicy, DeviceCredentialsPolicy, MailboxSmtpAuth, MfaState, OrgSmtpAuth};
use authrelay_core::{SecurityDefaults, SignIn};
use authrelay_directory::admin::{token_hash, Admin, AdminStore, ApiToken, AuditEntry, NewAdmin};
use authrelay_directory::secrets;
use authrelay_directory::{DeviceCredential, NewDeviceCredential, User, UserChange};
use authrelay_directory::{Directory, DirectoryError, NewAppPassword, NewUser, Org, OrgChange, OrgLimits};

use crate::actor::Actor;
use crate::error::OpsError;
use crate::roles::{Permission, Role};
use crate::validate;

/// A change other parts may need to react to (a credential that stops working should end the
/// sessions that signed in with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The mailbox's password changed, its sign-in was blocked, or a credential of it was
    /// revoked: sessions authenticated as it should be re-checked.
    CredentialsChanged { user: String },
    /// The admin's password or second factor changed: their sessions and tokens are gone.
    AdminCredentialsChanged { admin: String },
}

/// Told about every [`Change`] after it is written.
pub trait ChangeListener: Send + Sync + 'static {
    fn changed(&self, change: &Change);
}

/// The stores the operations write, and who to tell.
#[derive(Clone)]
pub struct Ops {
    pub directory: Arc<dyn Directory>,
    pub store: Arc<dyn AdminStore>,
    listeners: Vec<Arc<dyn ChangeListener>>,
    /// Where DKIM keys live (`<data_dir>/dkim/<domain>/`); `None`: DKIM cannot be managed here.
    data_dir: Option<std::path::PathBuf>,
}

/// What deleting a mailbox removed with it (shown on the confirmation and in the answer).
#[derive(Debug, Clone, serde::Serialize)]
pub struct UserDeletion {
    pub user: User,
    pub app_passwords: usize,
    pub device_credentials: usize,
}

/// One DKIM key of a domain and the TXT record that publishes it.
pub use authrelay_delivery::dkim::KeyInfo as DkimKey;

/// Changes to an organisation; each value needs its own permission.
#[derive(Debug, Default, Clone)]
pub struct OrgEdit {
    pub security_defaults: Option<SecurityDefaults>,
    pub smtp_auth: Option<OrgSmtpAuth>,
    pub app_passwords: Option<AppPasswordsPolicy>,
    /// Whether mailboxes may use device credentials (same permission as app passwords).
    pub device_credentials: Option<DeviceCredentialsPolicy>,
}

/// Changes to a user; each value needs its own permission.
#[derive(Debug, Default, Clone)]
pub struct UserEdit {
    pub display_name: Option<String>,
    pub sign_in: Option<SignIn>,
    pub smtp_auth: Option<MailboxSmtpAuth>,
    pub mfa: Option<MfaState>,
    pub add_send_as: Vec<String>,
    pub remove_send_as: Vec<String>,
}

/// What a new device credential is limited to.
#[derive(Debug, Default, Clone)]
pub struct DeviceCredentialSpec {
    pub name: String,
    /// Client-address ranges (CIDR or single address); empty = any address.
    pub allow: Vec<String>,
    /// RFC 3339 time or a date (YYYY-MM-DD, valid through that day, UTC).
    pub expires: Option<String>,
    pub expires_in_days: Option<u32>,
}

/// Current time in unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

async fn hash(secret: String) -> String {
    tokio::task::spawn_blocking(move || secrets::hash_secret(&secret)).await.expect("hashing task")
}

/// A caller-chosen password checked against the strength rules, or a generated one (returned
/// so it can be shown once).
fn password_or_generated(given: Option<&str>, address: &str) -> Result<(String, Option<String>), OpsError> {
    match given.filter(|p| !p.is_empty()) {
        Some(p) => {
            secrets::check_password_strength(p, address)?;
            Ok((p.to_string(), None))
        }
        None => {
            let p = secrets::generate_password();
            Ok((p.clone(), Some(p)))
        }
    }
}

fn parse_role(input: &str) -> Result<Role, OpsError> {
    Role::parse(input).ok_or_else(|| OpsError::BadRole { input: input.chars().take(40).collect() })
}

impl Ops {
    pub fn new(directory: Arc<dyn Directory>, store: Arc<dyn AdminStore>) -> Self {
        Ops { directory, store, listeners: vec![], data_dir: None }
    }

    /// Lets the DKIM operations find the key directory.
    pub fn with_data_dir(mut self, data_dir: impl Into<std::path::PathBuf>) -> Self {
        self.data_dir = Some(data_dir.into());
        self
    }

    /// Adds a listener told about every [`Change`].
    pub fn with_listener(mut self, listener: Arc<dyn ChangeListener>) -> Self {
        self.listeners.push(listener);
        self
    }

    fn tell(&self, change: Change) {
        for l in &self.listeners {
            l.changed(&change);
        }
    }

    /// Writes one audit record; a failure to write it is logged (the change itself stands).
    pub async fn audit(&self, actor: &str, action: &str, target: &str, before: &str, after: &str) {
        let entry = AuditEntry {
            at: now(),
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            before: before.into(),
            after: after.into(),
        };
        if let Err(e) = self.store.record_audit(&entry).await {
            tracing::error!(error = %e, action, target, "cannot write the audit log");
        }
    }

    pub async fn org(&self, name: &str) -> Result<Org, OpsError> {
        self.directory.org(name).await?.ok_or_else(|| DirectoryError::UnknownOrg(name.to_string()).into())
    }

    pub async fn user(&self, address: &str) -> Result<User, OpsError> {
        self.directory.user(address).await?.ok_or_else(|| DirectoryError::UnknownUser(address.to_string()).into())
    }

    // --- organisations -----------------------------------------------------------------------

    pub async fn create_org(&self, actor: &Actor, name: &str, domains: &[String]) -> Result<Org, OpsError> {
        actor.require(Permission::ManageOrgs)?;
        let name = validate::org_name(name)?;
        let domains = domains.iter().map(|d| validate::domain(d)).collect::<Result<Vec<_>, _>>()?;
        if domains.is_empty() {
            return Err(OpsError::NoDomain);
        }
        let org = self.directory.create_org(&name, &domains).await?;
        self.audit(&actor.name, "org.create", &org.name, "-", &org.domains.join(", ")).await;
        Ok(org)
    }

    pub async fn add_domain(&self, actor: &Actor, org: &str, domain: &str) -> Result<Org, OpsError> {
        actor.require(Permission::ManageOrgs)?;
        let domain = validate::domain(domain)?;
        let before = self.org(org).await?;
        let after = self.directory.add_domain(&before.name, &domain).await?;
        if before.domains != after.domains {
            let (b, a) = (before.domains.join(", "), after.domains.join(", "));
            self.audit(&actor.name, "org.add-domain", &after.name, &b, &a).await;
        }
        Ok(after)
    }

    pub async fn edit_org(&self, actor: &Actor, name: &str, edit: OrgEdit) -> Result<Org, OpsError> {
        if edit.security_defaults.is_some() {
            actor.require(Permission::ManageSecurityDefaults)?;
        }
        if edit.smtp_auth.is_some() {
            actor.require(Permission::ManageSmtpAuth)?;
        }
        if edit.app_passwords.is_some() || edit.device_credentials.is_some() {
            actor.require(Permission::ManageAppPasswords)?;
        }
        let before = self.org(name).await?;
        let change = OrgChange {
            security_defaults: edit.security_defaults,
            smtp_auth: edit.smtp_auth,
            app_passwords: edit.app_passwords,
            device_credentials: edit.device_credentials,
        };
        let after = self.directory.update_org(&before.name, change).await?;
        let (b, a) = (&before.settings, &after.settings);
        for (action, old, new) in [
            ("org.security-defaults", b.security_defaults.as_str(), a.security_defaults.as_str()),
            ("org.smtp-auth", b.smtp_auth.as_str(), a.smtp_auth.as_str()),
            ("org.app-passwords", b.app_passwords.as_str(), a.app_passwords.as_str()),
            ("org.device-credentials", b.device_credentials.as_str(), a.device_credentials.as_str()),
        ] {
            if old != new {
                self.audit(&actor.name, action, &after.name, old, new).await;
            }
        }
        Ok(after)
    }

    /// Sets the organisation's limits (only the values given change).
    pub async fn set_org_limits(&self, actor: &Actor, name: &str, limits: OrgLimits) -> Result<OrgLimits, OpsError> {
        actor.require(Permission::ManageOrgs)?;
        let org = self.org(name).await?;
        let before = self.directory.org_limits(&org.name).await?;
        let after = self.directory.set_org_limits(&org.name, limits).await?;
        let show = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        for (action, old, new) in [
            ("org.max-message-size", before.max_message_size, after.max_message_size),
            ("org.max-recipients", before.max_recipients, after.max_recipients),
            ("org.daily-recipients", before.daily_recipients, after.daily_recipients),
            ("org.max-sessions", before.max_sessions, after.max_sessions),
        ] {
            if old != new {
                self.audit(&actor.name, action, &org.name, &show(old), &show(new)).await;
            }
        }
        Ok(after)
    }

    /// Sets the language of the organisation's bounce messages ("en", "ko", "id"; the caller
    /// has checked the tag). Audited as `org.language`.
    pub async fn set_org_language(&self, actor: &Actor, name: &str, language: &str) -> Result<String, OpsError> {
        actor.require(Permission::ManageOrgs)?;
        let org = self.org(name).await?;
        let before = self.directory.org_language(&org.name).await?;
        let after = self.directory.set_org_language(&org.name, Some(language)).await?;
        let after = after.unwrap_or_else(|| language.to_string());
        let before = before.unwrap_or_else(|| "en".to_string());
        if before != after {
            self.audit(&actor.name, "org.language", &org.name, &before, &after).await;
        }
        Ok(after)
    }

    // --- users -------------------------------------------------------------------------------

    /// Creates a user; with no password given, generates one and returns it (shown once).
    pub async fn create_user(
        &self,
        actor: &Actor,
        address: &str,
        display_name: Option<&str>,
        password: Option<&str>,
    ) -> Result<(User, Option<String>), OpsError> {
        actor.require(Permission::ManageUsers)?;
        let address = validate::address(address)?;
        let display_name = match display_name.map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) => validate::display_name(d)?,
            None => validate::display_name(address.local_part())?,
        };
        let (password, generated) = password_or_generated(password, address.as_str())?;
        let user = self
            .directory
            .create_user(NewUser { address: address.to_string(), display_name, password_hash: hash(password).await })
            .await?;
        self.audit(&actor.name, "user.create", &user.address, "-", &user.org).await;
        Ok((user, generated))
    }

    pub async fn edit_user(&self, actor: &Actor, address: &str, edit: UserEdit) -> Result<User, OpsError> {
        if edit.display_name.is_some() || edit.sign_in.is_some() {
            actor.require(Permission::ManageUsers)?;
        }
        if edit.smtp_auth.is_some() {
            actor.require(Permission::ManageSmtpAuth)?;
        }
        if edit.mfa.is_some() {
            actor.require(Permission::ManageMfa)?;
        }
        if !edit.add_send_as.is_empty() || !edit.remove_send_as.is_empty() {
            actor.require(Permission::ManageUsers)?;
        }
        let display_name = edit.display_name.as_deref().map(validate::display_name).transpose()?;
        let parse_all = |list: &[String]| -> Result<Vec<String>, OpsError> {
            list.iter().map(|a| validate::address(a).map(|a| a.to_string())).collect()
        };
        let add_send_as = parse_all(&edit.add_send_as)?;
        let remove_send_as = parse_all(&edit.remove_send_as)?;
        let before = self.user(address).await?;
        let change = UserChange {
            display_name,
            sign_in: edit.sign_in,
            smtp_auth: edit.smtp_auth,
            mfa: edit.mfa,
            add_send_as,
            remove_send_as,
        };
        let after = self.directory.update_user(&before.address, change).await?;
        let (b, a) = (&before.settings, &after.settings);
        let (send_as_before, send_as_after) = (before.send_as.join(", "), after.send_as.join(", "));
        for (action, old, new) in [
            ("user.display-name", before.display_name.as_str(), after.display_name.as_str()),
            ("user.sign-in", b.sign_in.as_str(), a.sign_in.as_str()),
            ("user.smtp-auth", b.smtp_auth.as_str(), a.smtp_auth.as_str()),
            ("user.mfa", b.mfa.as_str(), a.mfa.as_str()),
            ("user.send-as", send_as_before.as_str(), send_as_after.as_str()),
        ] {
            if old != new {
                let (old, new) = (if old.is_empty() { "-" } else { old }, if new.is_empty() { "-" } else { new });
                self.audit(&actor.name, action, &after.address, old, new).await;
            }
        }
        if b.sign_in != a.sign_in && a.sign_in == SignIn::Blocked {
            self.tell(Change::CredentialsChanged { user: after.address.clone() });
        }
        Ok(after)
    }

    /// Sets a new password (generated when none is given; returned then).
    pub async fn reset_password(
        &self,
        actor: &Actor,
        address: &str,
        password: Option<&str>,
    ) -> Result<Option<String>, OpsError> {
        actor.require(Permission::ManageUsers)?;
        let user = self.user(address).await?;
        let (password, generated) = password_or_generated(password, &user.address)?;
        self.directory.set_password_hash(&user.address, &hash(password).await).await?;
        self.audit(&actor.name, "user.password-reset", &user.address, "-", "-").await;
        self.tell(Change::CredentialsChanged { user: user.address.clone() });
        Ok(generated)
    }

    /// Clears a mailbox's smart-lockout counters; returns how many entries were cleared.
    pub async fn unlock_user(&self, actor: &Actor, address: &str) -> Result<u64, OpsError> {
        actor.require(Permission::ManageUsers)?;
        let user = self.user(address).await?;
        let cleared = self.directory.unlock(&user.address, now()).await?;
        self.audit(&actor.name, "user.unlock", &user.address, &cleared.to_string(), "0").await;
        Ok(cleared)
    }

    /// What [`Ops::delete_user`] would remove: the mailbox, its app passwords and device
    /// credentials (for the confirmation page; nothing changes).
    pub async fn user_deletion_preview(&self, address: &str) -> Result<UserDeletion, OpsError> {
        let user = self.user(address).await?;
        let app_passwords = self.directory.list_app_passwords(&user.address).await?.len();
        let device_credentials = self.directory.list_device_credentials(&user.address).await?.len();
        Ok(UserDeletion { user, app_passwords, device_credentials })
    }

    /// Deletes a mailbox: its password, app passwords, device credentials and send-as grants go;
    /// sessions signed in as it end at their next re-check; mail it queued is still delivered.
    pub async fn delete_user(&self, actor: &Actor, address: &str) -> Result<UserDeletion, OpsError> {
        actor.require(Permission::ManageUsers)?;
        let preview = self.user_deletion_preview(address).await?;
        let user = self.directory.delete_user(&preview.user.address).await?;
        // Before: the organisation it belonged to (a name, shown as written in every language).
        self.audit(&actor.name, "user.delete", &user.address, &user.org, "-").await;
        self.tell(Change::CredentialsChanged { user: user.address.clone() });
        Ok(UserDeletion { user, ..preview })
    }

    /// Changes a mailbox's address within its organisation's accepted domains: the password,
    /// app passwords, device credentials and settings follow; the old address stops signing in.
    pub async fn rename_user(&self, actor: &Actor, address: &str, new_address: &str) -> Result<User, OpsError> {
        actor.require(Permission::ManageUsers)?;
        let new_address = validate::address(new_address)?;
        let before = self.user(address).await?;
        let owner = self.directory.org_for_domain(new_address.domain()).await?;
        match owner {
            None => return Err(DirectoryError::NoOrgForDomain(new_address.domain().to_string()).into()),
            Some(org) if org.name != before.org => {
                return Err(OpsError::OtherOrg { domain: new_address.domain().to_string(), org: org.name })
            }
            Some(_) => {}
        }
        if new_address.as_str() == before.address {
            return Err(OpsError::NothingToSet);
        }
        let after = self.directory.rename_user(&before.address, new_address.as_str()).await?;
        self.audit(&actor.name, "user.rename", &after.address, &before.address, &after.address).await;
        self.tell(Change::CredentialsChanged { user: before.address.clone() });
        Ok(after)
    }

    /// Sets MFA for several users at once; stops at the first unknown user (earlier ones stay set).
    pub async fn bulk_mfa(&self, actor: &Actor, users: &[String], mfa: MfaState) -> Result<Vec<User>, OpsError> {
        actor.require(Permission::ManageMfa)?;
        let mut done = vec![];
        for address in users {
            done.push(self.edit_user(actor, address, UserEdit { mfa: Some(mfa), ..Default::default() }).await?);
        }
        Ok(done)
    }

    // --- app passwords and device credentials ------------------------------------------------

    /// Creates an app password; returns the user and the secret (shown once).
    pub async fn add_app_password(&self, actor: &Actor, address: &str, name: &str) -> Result<(User, String), OpsError> {
        actor.require(Permission::ManageAppPasswords)?;
        let name = validate::app_password_name(name)?;
        let user = self.user(address).await?;
        // AUTH tries the one app password whose hint (first letters) matches what was typed, so
        // two live ones with the same hint would leave the second unusable: draw until the hint is
        // free (26^3 hints, at most 40 app passwords, so a few draws at most).
        let taken: Vec<String> = match self.directory.auth_record(&user.address).await? {
            Some(r) => r.app_passwords.into_iter().map(|a| a.hint).collect(),
            None => vec![],
        };
        let (secret, normalized, hint) = (0..1000)
            .map(|_| {
                let secret = secrets::generate_app_password();
                let normalized = secrets::normalize_app_password(&secret);
                let hint = secrets::app_password_hint(&normalized);
                (secret, normalized, hint)
            })
            .find(|(_, _, hint)| !taken.contains(hint))
            .expect("a free hint among 17,576");
        let new = NewAppPassword { name: name.clone(), hint, hash: hash(normalized).await };
        self.directory.add_app_password(&user.address, new).await?;
        self.audit(&actor.name, "user.app-password-add", &user.address, "-", &name).await;
        Ok((user, secret))
    }

    pub async fn revoke_app_password(&self, actor: &Actor, address: &str, name: &str) -> Result<(), OpsError> {
        actor.require(Permission::ManageAppPasswords)?;
        let user = self.user(address).await?;
        self.directory.revoke_app_password(&user.address, name).await?;
        self.audit(&actor.name, "user.app-password-revoke", &user.address, name, "-").await;
        self.tell(Change::CredentialsChanged { user: user.address.clone() });
        Ok(())
    }

    /// Creates a device credential; returns it and the secret (shown once).
    pub async fn add_device_credential(
        &self,
        actor: &Actor,
        address: &str,
        spec: DeviceCredentialSpec,
    ) -> Result<(DeviceCredential, String), OpsError> {
        actor.require(Permission::ManageAppPasswords)?;
        let name = validate::device_credential_name(&spec.name)?;
        let allow = validate::cidrs(&spec.allow)?;
        let now = now();
        let expires = spec.expires.as_deref().map(str::trim).filter(|e| !e.is_empty());
        let expires_at = match (expires, spec.expires_in_days) {
            (Some(e), _) => Some(validate::expiry(e, now)?),
            (None, Some(days)) => Some(now + i64::from(days.clamp(1, 3650)) * 86_400),
            (None, None) => None,
        };
        let user = self.user(address).await?;
        let (secret, tag) = authrelay_directory::device::generate();
        let new = NewDeviceCredential { name, tag, hash: hash(secret.clone()).await, allow, expires_at };
        let created = self.directory.add_device_credential(&user.address, new).await?;
        self.audit(&actor.name, "user.device-credential-add", &user.address, "-", &created.name).await;
        Ok((created, secret))
    }

    pub async fn revoke_device_credential(&self, actor: &Actor, address: &str, name: &str) -> Result<(), OpsError> {
        actor.require(Permission::ManageAppPasswords)?;
        let user = self.user(address).await?;
        self.directory.revoke_device_credential(&user.address, name).await?;
        self.audit(&actor.name, "user.device-credential-revoke", &user.address, name, "-").await;
        self.tell(Change::CredentialsChanged { user: user.address.clone() });
        Ok(())
    }

    // --- admin accounts and API tokens -------------------------------------------------------

    /// Creates an admin; with no password given, generates one (returned, shown once).
    pub async fn create_admin(
        &self,
        actor: &Actor,
        address: &str,
        role: &str,
        password: Option<&str>,
    ) -> Result<(Admin, Option<String>), OpsError> {
        actor.require(Permission::ManageAdmins)?;
        let address = validate::address(address)?;
        let role = parse_role(role)?;
        // An admin's password is never empty: an empty one given is a weak one, not a request
        // to generate.
        let (password, generated) = match password {
            Some(p) => {
                secrets::check_password_strength(p, address.as_str())?;
                (p.to_string(), None)
            }
            None => password_or_generated(None, address.as_str())?,
        };
        let new =
            NewAdmin { address: address.to_string(), role: role.as_str().into(), password_hash: hash(password).await };
        let admin = self.store.create_admin(new).await?;
        self.audit(&actor.name, "admin.create", &admin.address, "-", role.as_str()).await;
        Ok((admin, generated))
    }

    async fn admin(&self, address: &str) -> Result<Admin, OpsError> {
        let found = self.store.admin_secrets(address.trim()).await?;
        found.map(|s| s.admin).ok_or_else(|| OpsError::UnknownAdmin(address.trim().to_string()))
    }

    /// Ends every session and revokes every API token of an admin whose credentials changed.
    async fn end_admin_access(&self, admin: &Admin) -> Result<(u64, u64), OpsError> {
        let ended = self.store.end_admin_sessions(admin.id).await?;
        let revoked = self.store.revoke_admin_tokens(admin.id, now()).await?;
        self.tell(Change::AdminCredentialsChanged { admin: admin.address.clone() });
        Ok((ended, revoked))
    }

    /// Sets an admin's password; their sessions and API tokens end (whoever held the old
    /// password may have opened them).
    pub async fn set_admin_password(&self, actor: &Actor, address: &str, password: &str) -> Result<(), OpsError> {
        actor.require(Permission::ManageAdmins)?;
        let admin = self.admin(address).await?;
        secrets::check_password_strength(password, &admin.address)?;
        self.store.set_admin_password(&admin.address, &hash(password.to_string()).await).await?;
        let (sessions, tokens) = self.end_admin_access(&admin).await?;
        let after = format!("{sessions} sessions ended, {tokens} tokens revoked");
        self.audit(&actor.name, "admin.password-reset", &admin.address, "-", &after).await;
        Ok(())
    }

    pub async fn set_admin_role(&self, actor: &Actor, address: &str, role: &str) -> Result<Admin, OpsError> {
        actor.require(Permission::ManageAdmins)?;
        let role = parse_role(role)?;
        let before = self.admin(address).await?;
        if role != Role::Global {
            self.keep_a_global_admin(actor, &before).await?;
        }
        let after = self.store.set_admin_role(&before.address, role.as_str()).await?;
        if before.role != after.role {
            self.audit(&actor.name, "admin.role", &after.address, &before.role, &after.role).await;
        }
        Ok(after)
    }

    /// Refuses a change that takes Global administrator away from `target`: never from the
    /// last one (nobody could manage admins then, short of the CLI), and never from the acting
    /// admin's own account (another admin does it, so a slip cannot lock oneself out).
    async fn keep_a_global_admin(&self, actor: &Actor, target: &Admin) -> Result<(), OpsError> {
        if actor.admin_id == Some(target.id) {
            return Err(OpsError::OwnAccount);
        }
        if Role::parse(&target.role) == Some(Role::Global) {
            let globals =
                self.store.list_admins().await?.iter().filter(|a| Role::parse(&a.role) == Some(Role::Global)).count();
            if globals <= 1 {
                return Err(OpsError::LastGlobalAdmin(target.address.clone()));
            }
        }
        Ok(())
    }

    /// Removes an admin account with its sessions and API tokens. Never the last Global
    /// administrator, never the acting admin's own account.
    pub async fn remove_admin(&self, actor: &Actor, address: &str) -> Result<Admin, OpsError> {
        actor.require(Permission::ManageAdmins)?;
        let admin = self.admin(address).await?;
        self.keep_a_global_admin(actor, &admin).await?;
        self.store.delete_admin(&admin.address).await?;
        self.tell(Change::AdminCredentialsChanged { admin: admin.address.clone() });
        self.audit(&actor.name, "admin.remove", &admin.address, &admin.role, "-").await;
        Ok(admin)
    }

    /// Forgets the admin's authenticator app (they enrol again at their next sign-in); their
    /// sessions and API tokens end.
    pub async fn reset_admin_totp(&self, actor: &Actor, address: &str) -> Result<(), OpsError> {
        actor.require(Permission::ManageAdmins)?;
        let admin = self.admin(address).await?;
        self.store.set_admin_totp(&admin.address, None).await?;
        let (sessions, tokens) = self.end_admin_access(&admin).await?;
        let after = format!("not enrolled; {sessions} sessions ended, {tokens} tokens revoked");
        let before = if admin.totp_enrolled { "enrolled" } else { "not enrolled" };
        self.audit(&actor.name, "admin.totp-reset", &admin.address, before, &after).await;
        Ok(())
    }

    /// Creates an API token for the actor's own admin account, carrying `role` (the actor's own
    /// unless they may manage admins). Returns the token record and the secret (shown once).
    pub async fn create_token(
        &self,
        actor: &Actor,
        name: &str,
        role: Option<&str>,
    ) -> Result<(ApiToken, String), OpsError> {
        let name = validate::token_name(name)?;
        let role = match role.filter(|r| !r.is_empty()) {
            None => actor.role,
            Some(r) => parse_role(r)?,
        };
        if role != actor.role {
            actor.require(Permission::ManageAdmins)?;
        }
        let Some(admin_id) = actor.admin_id else {
            return Err(OpsError::UnknownAdmin(actor.name.clone()));
        };
        let secret = format!("art_{}", random_token());
        let token = self.store.create_api_token(admin_id, &name, role.as_str(), &token_hash(&secret)).await?;
        self.audit(&actor.name, "token.create", &name, "-", role.as_str()).await;
        Ok((token, secret))
    }

    /// Revokes one of the actor's tokens (any token, for those who may manage admins).
    pub async fn revoke_token(&self, actor: &Actor, id: i64) -> Result<(), OpsError> {
        let owner = if actor.may(Permission::ManageAdmins) { None } else { actor.admin_id.or(Some(-1)) };
        if !self.store.revoke_api_token(id, owner).await? {
            return Err(OpsError::UnknownToken);
        }
        self.audit(&actor.name, "token.revoke", &id.to_string(), "live", "revoked").await;
        Ok(())
    }
}

impl Ops {
    // --- DKIM keys ---------------------------------------------------------------------------

    fn dkim_dir(&self) -> Result<&std::path::Path, OpsError> {
        self.data_dir.as_deref().ok_or_else(|| OpsError::DkimStore("no data directory".into()))
    }

    /// An accepted domain (DKIM keys are only made and shown for domains an organisation has).
    async fn accepted_domain(&self, domain: &str) -> Result<String, OpsError> {
        let domain = validate::domain(domain)?;
        match self.directory.org_for_domain(&domain).await? {
            Some(_) => Ok(domain),
            None => Err(DirectoryError::NoOrgForDomain(domain).into()),
        }
    }

    /// The domain's DKIM keys (every one signs outbound mail from the domain) with their
    /// records.
    pub async fn dkim_keys(&self, actor: &Actor, domain: &str) -> Result<Vec<DkimKey>, OpsError> {
        actor.require(Permission::ReadDirectory)?;
        let domain = self.accepted_domain(domain).await?;
        let dir = self.dkim_dir()?.to_path_buf();
        tokio::task::spawn_blocking(move || authrelay_delivery::dkim::list(&dir, &domain))
            .await
            .map_err(|e| OpsError::DkimStore(e.to_string()))
    }

    /// Makes a new signing key for an accepted domain (as `authrelay dkim generate`); the
    /// selector defaults to the algorithm and today's date. Outbound mail is signed with it
    /// from the next delivery on, next to any older key until that one is retired.
    pub async fn generate_dkim(
        &self,
        actor: &Actor,
        domain: &str,
        algorithm: &str,
        selector: Option<&str>,
    ) -> Result<DkimKey, OpsError> {
        use authrelay_delivery::dkim::{self, Algorithm, DkimError};
        actor.require(Permission::ManageOrgs)?;
        let algorithm = algorithm.trim();
        let alg: Algorithm =
            algorithm.parse().map_err(|_| OpsError::BadAlgorithm(algorithm.chars().take(20).collect()))?;
        let domain = self.accepted_domain(domain).await?;
        let selector = match selector.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => s.to_string(),
            None => dkim::default_selector(alg, now()),
        };
        let dir = self.dkim_dir()?.to_path_buf();
        let (d, s) = (domain.clone(), selector.clone());
        let made = tokio::task::spawn_blocking(move || dkim::generate(&dir, &d, alg, &s))
            .await
            .map_err(|e| OpsError::DkimStore(e.to_string()))?;
        let made = made.map_err(|e| match e {
            DkimError::Exists { selector, .. } => OpsError::DkimExists { domain: domain.clone(), selector },
            DkimError::BadSelector(s) => OpsError::BadSelector(s.chars().take(70).collect()),
            other => OpsError::DkimStore(other.to_string()),
        })?;
        self.audit(&actor.name, "dkim.generate", &domain, "-", &format!("{} ({})", made.selector, alg.as_str())).await;
        let keys = self.dkim_keys(actor, &domain).await?;
        keys.into_iter()
            .find(|k| k.selector == made.selector)
            .ok_or_else(|| OpsError::DkimStore("the new key cannot be read back".into()))
    }

    /// Stops signing with a key (its file is kept beside the others, renamed, so it can be
    /// put back by hand). Retire the old key once the new record is published.
    pub async fn retire_dkim(&self, actor: &Actor, domain: &str, selector: &str) -> Result<(), OpsError> {
        actor.require(Permission::ManageOrgs)?;
        let domain = self.accepted_domain(domain).await?;
        let dir = self.dkim_dir()?.to_path_buf();
        let (d, s) = (domain.clone(), selector.trim().to_string());
        let retired = tokio::task::spawn_blocking(move || authrelay_delivery::dkim::retire(&dir, &d, &s, now()))
            .await
            .map_err(|e| OpsError::DkimStore(e.to_string()))?;
        match retired {
            Ok(true) => {}
            Ok(false) => {
                return Err(OpsError::UnknownDkimKey { domain, selector: selector.trim().chars().take(70).collect() })
            }
            Err(e) => return Err(OpsError::DkimStore(e.to_string())),
        }
        self.audit(&actor.name, "dkim.retire", &domain, selector.trim(), "-").await;
        Ok(())
    }
}

/// A random 256-bit value, hex: session ids, CSRF tokens, API tokens.
pub fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use authrelay_directory::sqlite::SqliteDirectory;

    async fn contoso() -> (Arc<SqliteDirectory>, Ops, Actor) {
        let dir = Arc::new(SqliteDirectory::open_in_memory().await.unwrap());
        let ops = Ops::new(dir.clone(), dir.clone());
        let actor = Actor::cli();
        ops.create_org(&actor, "Contoso", &["contoso.com".into(), "contoso.net".into()]).await.unwrap();
        ops.create_org(&actor, "Fabrikam", &["fabrikam.com".into()]).await.unwrap();
        (dir, ops, actor)
    }

    /// Rename keeps the row (so the password and app passwords follow), frees the old
    /// address, refuses another organisation's domain and a taken address, and is audited.
    #[tokio::test]
    async fn rename_moves_credentials_and_frees_the_old_address() {
        let (dir, ops, actor) = contoso().await;
        ops.create_user(&actor, "scanner@contoso.com", None, Some("Correct-Horse-42")).await.unwrap();
        ops.create_user(&actor, "taken@contoso.com", None, None).await.unwrap();
        ops.add_app_password(&actor, "scanner@contoso.com", "copier").await.unwrap();
        let helpdesk = Actor::admin("help@contoso.com", Role::Reports, 7);
        assert!(matches!(
            ops.rename_user(&helpdesk, "scanner@contoso.com", "mfp@contoso.com").await,
            Err(OpsError::Forbidden { .. })
        ));
        assert!(matches!(
            ops.rename_user(&actor, "scanner@contoso.com", "mfp@fabrikam.com").await,
            Err(OpsError::OtherOrg { ref org, .. }) if org == "Fabrikam"
        ));
        assert!(matches!(
            ops.rename_user(&actor, "scanner@contoso.com", "mfp@nowhere.example").await,
            Err(OpsError::Directory(DirectoryError::NoOrgForDomain(_)))
        ));
        assert!(matches!(
            ops.rename_user(&actor, "scanner@contoso.com", "taken@contoso.com").await,
            Err(OpsError::Directory(DirectoryError::UserExists(_)))
        ));
        assert!(matches!(
            ops.rename_user(&actor, "scanner@contoso.com", "not an address").await,
            Err(OpsError::BadAddress { .. })
        ));
        let before = dir.auth_record("scanner@contoso.com").await.unwrap().unwrap();
        let after = ops.rename_user(&actor, "Scanner@Contoso.com", "MFP@contoso.net").await.unwrap();
        assert_eq!(after.address, "mfp@contoso.net");
        assert!(dir.user("scanner@contoso.com").await.unwrap().is_none(), "the old address is gone");
        let moved = dir.auth_record("mfp@contoso.net").await.unwrap().unwrap();
        assert_eq!(moved.user.id, before.user.id);
        assert_eq!(moved.password_hash, before.password_hash);
        assert_eq!(moved.app_passwords.len(), 1);
        let audit = dir.audit(10).await.unwrap();
        let entry = audit.iter().find(|e| e.action == "user.rename").unwrap();
        assert_eq!((entry.before.as_str(), entry.after.as_str()), ("scanner@contoso.com", "mfp@contoso.net"));
    }

    /// Delete removes the mailbox with its credentials and send-as grants, answers what went,
    /// and is audited; a role without ManageUsers is refused before anything changes.
    #[tokio::test]
    async fn delete_removes_the_mailbox_and_its_credentials() {
        let (dir, ops, actor) = contoso().await;
        ops.create_user(&actor, "scanner@contoso.com", None, None).await.unwrap();
        ops.add_app_password(&actor, "scanner@contoso.com", "copier").await.unwrap();
        let spec = DeviceCredentialSpec { name: "mfp".into(), ..Default::default() };
        ops.add_device_credential(&actor, "scanner@contoso.com", spec).await.unwrap();
        let edit = UserEdit { add_send_as: vec!["noreply@contoso.com".into()], ..Default::default() };
        ops.edit_user(&actor, "scanner@contoso.com", edit).await.unwrap();
        let exchange = Actor::admin("ex@contoso.com", Role::Exchange, 3);
        assert!(matches!(ops.delete_user(&exchange, "scanner@contoso.com").await, Err(OpsError::Forbidden { .. })));
        let gone = ops.delete_user(&actor, "scanner@contoso.com").await.unwrap();
        assert_eq!((gone.app_passwords, gone.device_credentials), (1, 1));
        assert_eq!(gone.user.send_as, ["noreply@contoso.com"]);
        assert!(dir.auth_record("scanner@contoso.com").await.unwrap().is_none());
        assert!(matches!(
            ops.delete_user(&actor, "scanner@contoso.com").await,
            Err(OpsError::Directory(DirectoryError::UnknownUser(_)))
        ));
        // The address can be created again, with nothing of the old mailbox.
        ops.create_user(&actor, "scanner@contoso.com", None, None).await.unwrap();
        assert!(dir.list_app_passwords("scanner@contoso.com").await.unwrap().is_empty());
        assert!(dir.audit(20).await.unwrap().iter().any(|e| e.action == "user.delete" && e.before == "Contoso"));
    }

    /// The last Global administrator can neither be demoted nor removed, and nobody removes or
    /// demotes their own account; with a second Global administrator both work.
    #[tokio::test]
    async fn admin_removal_keeps_a_global_admin_and_guards_the_own_account() {
        let (dir, ops, cli) = contoso().await;
        let (boss, _) = ops.create_admin(&cli, "boss@contoso.com", "global", None).await.unwrap();
        let (help, _) = ops.create_admin(&cli, "help@contoso.com", "user", None).await.unwrap();
        let me = Actor::admin(&boss.address, Role::Global, boss.id);
        assert!(matches!(ops.remove_admin(&me, "boss@contoso.com").await, Err(OpsError::OwnAccount)));
        assert!(matches!(ops.set_admin_role(&me, "boss@contoso.com", "reports").await, Err(OpsError::OwnAccount)));
        assert!(matches!(
            ops.set_admin_role(&cli, "boss@contoso.com", "reports").await,
            Err(OpsError::LastGlobalAdmin(_))
        ));
        assert!(matches!(ops.remove_admin(&cli, "boss@contoso.com").await, Err(OpsError::LastGlobalAdmin(_))));
        let helper = Actor::admin(&help.address, Role::User, help.id);
        assert!(matches!(ops.remove_admin(&helper, "boss@contoso.com").await, Err(OpsError::Forbidden { .. })));
        // Raising yourself to Global is not what the guard is about; the CLI promotes.
        ops.set_admin_role(&me, "help@contoso.com", "global").await.unwrap();
        ops.set_admin_role(&me, "help@contoso.com", "security").await.unwrap();
        dir.create_api_token(help.id, "script", "user", &token_hash("art_x")).await.unwrap();
        ops.remove_admin(&me, "help@contoso.com").await.unwrap();
        assert!(dir.admin_secrets("help@contoso.com").await.unwrap().is_none());
        assert!(dir.list_api_tokens(Some(help.id)).await.unwrap().is_empty(), "tokens go with the admin");
        assert!(matches!(ops.remove_admin(&me, "help@contoso.com").await, Err(OpsError::UnknownAdmin(_))));
        let audit = dir.audit(20).await.unwrap();
        assert!(audit
            .iter()
            .any(|e| e.action == "admin.remove" && e.target == "help@contoso.com" && e.actor == boss.address));
    }

    /// DKIM keys are made only for accepted domains, by a role that may manage organisations;
    /// the record the operation answers is the one listed later; retiring stops listing it.
    #[tokio::test]
    async fn dkim_keys_for_accepted_domains_only() {
        let (dir, ops, actor) = contoso().await;
        let data = tempfile::tempdir().unwrap();
        let ops = Ops { data_dir: Some(data.path().to_path_buf()), ..ops };
        let exchange = Actor::admin("ex@contoso.com", Role::Exchange, 3);
        assert!(matches!(
            ops.generate_dkim(&exchange, "contoso.com", "rsa", None).await,
            Err(OpsError::Forbidden { .. })
        ));
        assert!(matches!(
            ops.generate_dkim(&actor, "nowhere.example", "rsa", None).await,
            Err(OpsError::Directory(DirectoryError::NoOrgForDomain(_)))
        ));
        assert!(matches!(ops.generate_dkim(&actor, "contoso.com", "dsa", None).await, Err(OpsError::BadAlgorithm(_))));
        assert!(matches!(
            ops.generate_dkim(&actor, "contoso.com", "rsa", Some("a/b")).await,
            Err(OpsError::BadSelector(_))
        ));
        let made = ops.generate_dkim(&actor, "Contoso.com", "ed25519", Some("s1")).await.unwrap();
        assert!(made.record_value.starts_with("v=DKIM1; k=ed25519; p="));
        assert!(matches!(
            ops.generate_dkim(&actor, "contoso.com", "rsa", Some("s1")).await,
            Err(OpsError::DkimExists { .. })
        ));
        let listed = ops.dkim_keys(&exchange, "contoso.com").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].record_value, made.record_value);
        assert!(matches!(ops.retire_dkim(&actor, "contoso.com", "s2").await, Err(OpsError::UnknownDkimKey { .. })));
        ops.retire_dkim(&actor, "contoso.com", "s1").await.unwrap();
        assert!(ops.dkim_keys(&actor, "contoso.com").await.unwrap().is_empty());
        let actions: Vec<String> = dir.audit(20).await.unwrap().into_iter().map(|e| e.action).collect();
        assert!(actions.contains(&"dkim.generate".to_string()) && actions.contains(&"dkim.retire".to_string()));
    }

    #[tokio::test]
    async fn app_password_hints_of_a_mailbox_never_repeat() {
        let dir = Arc::new(SqliteDirectory::open_in_memory().await.unwrap());
        let ops = Ops::new(dir.clone(), dir.clone());
        let actor = Actor::cli();
        ops.create_org(&actor, "Contoso", &["contoso.com".into()]).await.unwrap();
        ops.create_user(&actor, "scanner@contoso.com", None, None).await.unwrap();
        for i in 0..40 {
            ops.add_app_password(&actor, "scanner@contoso.com", &format!("device {i}")).await.unwrap();
        }
        let record = dir.auth_record("scanner@contoso.com").await.unwrap().unwrap();
        let mut hints: Vec<&str> = record.app_passwords.iter().map(|a| a.hint.as_str()).collect();
        hints.sort();
        hints.dedup();
        assert_eq!(hints.len(), 40, "two app passwords share a hint: only the first would work");
        let audit = dir.audit(100).await.unwrap();
        assert!(audit.iter().all(|e| e.actor.starts_with("cli:")));
        assert_eq!(audit.iter().filter(|e| e.action == "user.app-password-add").count(), 40);
    }
}
