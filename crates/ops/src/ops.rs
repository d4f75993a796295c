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
}

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
        Ops { directory, store, listeners: vec![] }
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
        let after = self.store.set_admin_role(&before.address, role.as_str()).await?;
        if before.role != after.role {
            self.audit(&actor.name, "admin.role", &after.address, &before.role, &after.role).await;
        }
        Ok(after)
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
