//! Who makes a change: the name written to the audit log and the role that bounds it.

use crate::error::OpsError;
use crate::roles::{Permission, Role};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// As written to the audit log: the admin's address, "address (API token NAME)", or
    /// "cli:USER@HOST".
    pub name: String,
    pub role: Role,
    /// The admin account behind a web or API caller (owner of the API tokens it creates).
    pub admin_id: Option<i64>,
}

impl Actor {
    /// A signed-in admin (web page or API with a session cookie).
    pub fn admin(address: &str, role: Role, admin_id: i64) -> Self {
        Actor { name: address.to_string(), role, admin_id: Some(admin_id) }
    }

    /// An admin calling the API with one of their tokens.
    pub fn token(address: &str, token: &str, role: Role, admin_id: i64) -> Self {
        Actor { name: format!("{address} (API token {})", clean(token)), role, admin_id: Some(admin_id) }
    }

    /// The command line: whoever can open the data directory may change anything, so the role
    /// is Global; the audit log names the operating-system user and host.
    pub fn cli() -> Self {
        Actor { name: format!("cli:{}@{}", clean(&os_user()), clean(&host_name())), role: Role::Global, admin_id: None }
    }

    /// A change the server makes on its own behalf (e.g. the sign-in limiter's lock).
    pub fn system(what: &str) -> Self {
        Actor { name: format!("system:{}", clean(what)), role: Role::Global, admin_id: None }
    }

    pub fn may(&self, p: Permission) -> bool {
        self.role.allows(p)
    }

    pub fn require(&self, p: Permission) -> Result<(), OpsError> {
        if self.may(p) {
            Ok(())
        } else {
            Err(OpsError::Forbidden { needed: p, have: self.role })
        }
    }
}

/// Printable, bounded: actor names end up in logs and tables.
fn clean(s: &str) -> String {
    let s: String = s.chars().filter(|c| !c.is_control() && !c.is_whitespace()).take(64).collect();
    if s.is_empty() {
        "unknown".into()
    } else {
        s
    }
}

/// The effective user's login name (getpwuid_r), else `uid<N>`.
fn os_user() -> String {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to live storage of the stated size; the name is read only
    // when the call reports success.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc == 0 && !result.is_null() && !pwd.pw_name.is_null() {
        // SAFETY: pw_name points into `buf`, NUL-terminated by getpwuid_r.
        let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
        return name.to_string_lossy().into_owned();
    }
    format!("uid{uid}")
}

fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable for its whole length.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_actor_names_user_and_host() {
        let a = Actor::cli();
        let rest = a.name.strip_prefix("cli:").expect("cli: prefix");
        let (user, host) = rest.split_once('@').expect("user@host");
        assert!(!user.is_empty() && !host.is_empty());
        assert_eq!(a.role, Role::Global);
    }

    #[test]
    fn token_names_cannot_forge_log_text() {
        let a = Actor::token("a@x.example", "t\n2026 admin.create evil", Role::User, 1);
        assert_eq!(a.name, "a@x.example (API token t2026admin.createevil)");
    }
}
