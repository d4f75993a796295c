//! Admin roles and what each may do, as in Microsoft 365's built-in roles.
//!
//! The spellings (`global`, `security`, `exchange`, `user`, `reports`) are a contract: they are
//! stored in the database, accepted by `authrelay admin add --role`, and appear in the API.

use serde::Serialize;

/// A built-in admin role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Global administrator: everything.
    Global,
    /// Security administrator: security defaults, MFA, app passwords, sign-in logs.
    Security,
    /// Exchange administrator: Authenticated SMTP org-wide and per mailbox, the queue.
    Exchange,
    /// User administrator: users, passwords, sign-in blocked.
    User,
    /// Reports reader: read-only logs and reports.
    Reports,
}

/// Something an admin may do. Each API handler and each form asks for exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Permission {
    /// See organisations and users (every role).
    ReadDirectory,
    /// Create organisations and add accepted domains.
    ManageOrgs,
    /// Create users, reset passwords, block sign-in, rename.
    ManageUsers,
    ManageSecurityDefaults,
    ManageMfa,
    /// The organisation's app-password policy and users' app passwords.
    ManageAppPasswords,
    /// Authenticated SMTP, org-wide and per mailbox.
    ManageSmtpAuth,
    ReadSignins,
    ReadReports,
    ReadQueue,
    /// Retry, hold, release and delete queued messages.
    ManageQueue,
    ReadAudit,
    /// Create admins and see every admin's API tokens.
    ManageAdmins,
}

impl Role {
    pub const ALL: &'static [Role] = &[Role::Global, Role::Security, Role::Exchange, Role::User, Role::Reports];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Global => "global",
            Role::Security => "security",
            Role::Exchange => "exchange",
            Role::User => "user",
            Role::Reports => "reports",
        }
    }

    /// Accepts the short spelling, case-insensitively, and the English role names
    /// ("Security administrator", "security-administrator", "reports reader").
    pub fn parse(s: &str) -> Option<Role> {
        let key: String = s.trim().to_ascii_lowercase().chars().filter(|c| c.is_ascii_alphabetic()).collect();
        match key.as_str() {
            "global" | "globaladministrator" | "globaladmin" => Some(Role::Global),
            "security" | "securityadministrator" | "securityadmin" => Some(Role::Security),
            "exchange" | "exchangeadministrator" | "exchangeadmin" => Some(Role::Exchange),
            "user" | "useradministrator" | "useradmin" => Some(Role::User),
            "reports" | "reportsreader" | "reportreader" => Some(Role::Reports),
            _ => None,
        }
    }

    /// The catalogue id of the role's display name ("Security administrator").
    pub fn name_id(self) -> &'static str {
        match self {
            Role::Global => "role-global",
            Role::Security => "role-security",
            Role::Exchange => "role-exchange",
            Role::User => "role-user",
            Role::Reports => "role-reports",
        }
    }

    pub fn allows(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Global => true,
            Role::Security => matches!(
                p,
                ReadDirectory
                    | ManageSecurityDefaults
                    | ManageMfa
                    | ManageAppPasswords
                    | ReadSignins
                    | ReadReports
                    | ReadAudit
            ),
            Role::Exchange => matches!(p, ReadDirectory | ManageSmtpAuth | ReadQueue | ManageQueue | ReadReports),
            Role::User => matches!(p, ReadDirectory | ManageUsers),
            Role::Reports => matches!(p, ReadDirectory | ReadSignins | ReadReports | ReadAudit),
        }
    }

    /// The roles that have `p`, most specific first and Global administrator last, for the
    /// "requires the … role" message.
    pub fn holders(p: Permission) -> Vec<Role> {
        let mut roles: Vec<Role> = Role::ALL.iter().copied().filter(|r| *r != Role::Global && r.allows(p)).collect();
        roles.push(Role::Global);
        roles
    }
}

impl Permission {
    pub const ALL: &'static [Permission] = &[
        Permission::ReadDirectory,
        Permission::ManageOrgs,
        Permission::ManageUsers,
        Permission::ManageSecurityDefaults,
        Permission::ManageMfa,
        Permission::ManageAppPasswords,
        Permission::ManageSmtpAuth,
        Permission::ReadSignins,
        Permission::ReadReports,
        Permission::ReadQueue,
        Permission::ManageQueue,
        Permission::ReadAudit,
        Permission::ManageAdmins,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission::*;

    #[test]
    fn the_role_table() {
        // (role, what it may do); everything else is refused.
        let table: &[(Role, &[Permission])] = &[
            (Role::Global, Permission::ALL),
            (
                Role::Security,
                &[
                    ReadDirectory,
                    ManageSecurityDefaults,
                    ManageMfa,
                    ManageAppPasswords,
                    ReadSignins,
                    ReadReports,
                    ReadAudit,
                ],
            ),
            (Role::Exchange, &[ReadDirectory, ManageSmtpAuth, ReadQueue, ManageQueue, ReadReports]),
            (Role::User, &[ReadDirectory, ManageUsers]),
            (Role::Reports, &[ReadDirectory, ReadSignins, ReadReports, ReadAudit]),
        ];
        for (role, allowed) in table {
            for p in Permission::ALL {
                assert_eq!(role.allows(*p), allowed.contains(p), "{role:?} {p:?}");
            }
        }
    }

    #[test]
    fn spellings() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(*r));
        }
        assert_eq!(Role::parse("Security administrator"), Some(Role::Security));
        assert_eq!(Role::parse("reports-reader"), Some(Role::Reports));
        assert_eq!(Role::parse("owner"), None);
    }

    #[test]
    fn holders_end_with_global() {
        assert_eq!(Role::holders(ManageMfa), [Role::Security, Role::Global]);
        assert_eq!(Role::holders(ManageOrgs), [Role::Global]);
    }
}
