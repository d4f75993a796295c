//! `authrelay device-credential add | list | revoke`: generated per-mailbox secrets for devices
//! that can send only a user name and a password (crates/directory/src/device.rs).

use crate::store::Dir;
use authrelay_core::{effective_smtp_auth, Cidr, DeviceCredentialsPolicy};
use authrelay_i18n::{t, Arg, Lang};
use authrelay_ops::DeviceCredentialSpec;
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

pub async fn run(c: DeviceCredentialCommand, dir: &Dir, lang: Lang) -> Result<(), CliError> {
    match c {
        DeviceCredentialCommand::Add { address, name, allow, expires, expires_in, json } => {
            let (ops, actor) = crate::operations::ops(dir);
            let spec = DeviceCredentialSpec { name, allow, expires, expires_in_days: expires_in };
            let (created, secret) = ops.add_device_credential(&actor, &address, spec).await?;
            let user = ops.user(&address).await?;
            let (name, allow, expires_at) = (created.name.clone(), created.allow.clone(), created.expires_at);
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
                Some(at) => say(lang, "device-credential-expires", &[("date", Arg::Str(&when(lang, Some(at))))]),
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
            let any = t(lang, "device-credential-any-address", &[]);
            let never = t(lang, "device-credential-never", &[]);
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|d| {
                    let allow = if d.allow.is_empty() {
                        any.clone()
                    } else {
                        d.allow.iter().map(Cidr::to_string).collect::<Vec<_>>().join(",")
                    };
                    let expires = d.expires_at.map(|e| when(lang, Some(e))).unwrap_or_else(|| never.clone());
                    vec![
                        d.name.clone(),
                        d.tag.clone(),
                        allow,
                        expires,
                        when(lang, Some(d.created_at)),
                        when(lang, d.last_used_at),
                        d.last_used_ip.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            if !rows.is_empty() {
                // The catalogue's header names the seven columns, " / " between them.
                let header: Vec<String> =
                    t(lang, "device-credential-list-header", &[]).split(" / ").map(String::from).collect();
                crate::output::table(&header, &rows);
            }
        }
        DeviceCredentialCommand::Revoke { address, name } => {
            let (ops, actor) = crate::operations::ops(dir);
            ops.revoke_device_credential(&actor, &address, &name).await?;
            say(
                lang,
                "device-credential-revoked",
                &[("name", Arg::Str(name.trim())), ("address", Arg::Str(&address.trim().to_lowercase()))],
            );
        }
    }
    Ok(())
}
