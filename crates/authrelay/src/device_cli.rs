//! `authrelay device-credential add | list | revoke`: generated per-mailbox secrets for devices
//! that can send only a user name and a password (crates/directory/src/device.rs).

use authrelay_core::{effective_smtp_auth, Cidr, DeviceCredentialsPolicy};
use authrelay_directory::sqlite::SqliteDirectory;
use authrelay_directory::{device, Directory, NewDeviceCredential};
use authrelay_i18n::{t, Arg, Lang};
use clap::Subcommand;

use crate::output::{say, when, CliError};

#[derive(Debug, Subcommand)]
pub enum DeviceCredentialCommand {
    /// Create a device credential for a mailbox; the secret is printed once.
    Add {
        address: String,
        #[arg(long)]
        name: String,
        /// A client address range it may be used from (repeat for more); default any address.
        #[arg(long = "allow", value_name = "CIDR")]
        allow: Vec<String>,
        /// Last day it works (UTC), e.g. 2027-06-30, or an exact time, e.g. 2027-06-30T18:00:00Z.
        #[arg(long, value_name = "DATE", conflicts_with = "expires_in")]
        expires: Option<String>,
        /// Days from now until it stops working.
        #[arg(long, value_name = "DAYS")]
        expires_in: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// List a mailbox's device credentials (names, tags, limits and last use; never secrets).
    List {
        address: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device credential; devices using it are refused from their next attempt.
    Revoke {
        address: String,
        #[arg(long)]
        name: String,
    },
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// `--expires`: a day (valid through its end, UTC) or an RFC 3339 time; must lie in the future.
fn parse_expiry(value: &str, now: i64) -> Result<i64, CliError> {
    use time::format_description::well_known::Rfc3339;
    let bad = || CliError::new("err-bad-expiry").arg("value", value).usage();
    let text = value.trim();
    let at = if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        t.unix_timestamp()
    } else {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let day = time::Date::parse(text, &format).map_err(|_| bad())?;
        day.next_day().ok_or_else(bad)?.midnight().assume_utc().unix_timestamp()
    };
    if at <= now {
        return Err(CliError::new("err-expiry-past").arg("value", value).usage());
    }
    Ok(at)
}

pub async fn run(c: DeviceCredentialCommand, dir: &SqliteDirectory, lang: Lang) -> Result<(), CliError> {
    match c {
        DeviceCredentialCommand::Add { address, name, allow, expires, expires_in, json } => {
            let name = name.trim().to_string();
            if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
                return Err(CliError::new("err-bad-device-credential-name").usage());
            }
            let allow = allow
                .iter()
                .map(|c| c.parse::<Cidr>().map_err(|_| CliError::new("err-bad-cidr").arg("value", c).usage()))
                .collect::<Result<Vec<_>, _>>()?;
            let now = now();
            let expires_at = match (expires, expires_in) {
                (Some(date), _) => Some(parse_expiry(&date, now)?),
                (None, Some(days)) => Some(now + i64::from(days.max(1)) * 86_400),
                (None, None) => None,
            };
            let user = dir
                .user(&address)
                .await?
                .ok_or_else(|| CliError::new("err-unknown-user").arg("address", address.trim()).usage())?;
            let (secret, tag) = device::generate();
            let hashed = {
                let s = secret.clone();
                tokio::task::spawn_blocking(move || authrelay_directory::secrets::hash_secret(&s))
                    .await
                    .expect("hashing task")
            };
            let new = NewDeviceCredential { name: name.clone(), tag, hash: hashed, allow: allow.clone(), expires_at };
            let created = dir.add_device_credential(&user.address, new).await?;
            if json {
                let mut value = serde_json::to_value(&created).unwrap_or_default();
                value["address"] = user.address.clone().into();
                value["secret"] = secret.into();
                println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
                return Ok(());
            }
            let a = [("name", Arg::Str(&name)), ("address", Arg::Str(&user.address))];
            say(lang, "device-credential-created", &a);
            println!("  {secret}");
            say(lang, "device-credential-scope", &a);
            if allow.is_empty() {
                say(lang, "device-credential-allow-any", &[]);
            } else {
                let list: Vec<String> = allow.iter().map(Cidr::to_string).collect();
                say(lang, "device-credential-allow-list", &[("list", Arg::Str(&list.join(", ")))]);
            }
            match expires_at {
                Some(at) => say(lang, "device-credential-expires", &[("date", Arg::Str(&when(Some(at))))]),
                None => say(lang, "device-credential-never-expires", &a),
            }
            if let Some(org) = dir.org(&user.org).await? {
                if org.settings.device_credentials == DeviceCredentialsPolicy::Blocked {
                    say(lang, "device-credential-org-blocks", &[("org", Arg::Str(&org.name))]);
                }
                if !effective_smtp_auth(org.settings.smtp_auth, user.settings.smtp_auth).0 {
                    say(lang, "device-credential-smtp-auth-off", &[("address", Arg::Str(&user.address))]);
                }
            }
        }
        DeviceCredentialCommand::List { address, json } => {
            let list = dir.list_device_credentials(&address).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list).unwrap_or_default());
                return Ok(());
            }
            if list.is_empty() {
                say(lang, "device-credential-none", &[("address", Arg::Str(address.trim()))]);
                return Ok(());
            }
            println!("{}", t(lang, "device-credential-list-header", &[]));
            let any = t(lang, "device-credential-any-address", &[]);
            let never = t(lang, "device-credential-never", &[]);
            for d in list {
                let allow = if d.allow.is_empty() {
                    any.clone()
                } else {
                    d.allow.iter().map(Cidr::to_string).collect::<Vec<_>>().join(",")
                };
                let expires = d.expires_at.map(|e| when(Some(e))).unwrap_or_else(|| never.clone());
                println!(
                    "{:<24} {} {:<20} {:<20} {} {} {}",
                    d.name,
                    d.tag,
                    allow,
                    expires,
                    when(Some(d.created_at)),
                    when(d.last_used_at),
                    d.last_used_ip.as_deref().unwrap_or("-")
                );
            }
        }
        DeviceCredentialCommand::Revoke { address, name } => {
            dir.revoke_device_credential(&address, &name).await?;
            say(
                lang,
                "device-credential-revoked",
                &[("name", Arg::Str(name.trim())), ("address", Arg::Str(&address.trim().to_lowercase()))],
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_forms() {
        let now = 1_700_000_000; // 2023-11-14
                                 // A day is valid through its end, UTC.
        assert_eq!(parse_expiry("2027-06-30", now).unwrap(), 1_814_400_000);
        assert_eq!(parse_expiry("2027-06-30T18:00:00Z", now).unwrap(), 1_814_378_400);
        for bad in ["tomorrow", "2027-13-01", "30/06/2027", "", "2027-06-30T25:00:00Z"] {
            assert!(parse_expiry(bad, now).unwrap_err().render(Lang::En).contains("is not a date"), "{bad}");
        }
        assert!(parse_expiry("2020-01-01", now).unwrap_err().render(Lang::En).contains("not in the future"));
    }
}
