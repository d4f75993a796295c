//! `authrelay admin …`: the admin center's accounts from the command line — the way to create
//! the first Global administrator, and to recover one who lost their password or phone.

use std::io::Read;

use authrelay_admin::Role;
use authrelay_directory::admin::{AdminError, AdminStore, NewAdmin};
use authrelay_directory::secrets;
use authrelay_directory::sqlite::SqliteDirectory;
use authrelay_i18n::{t, Arg, Lang};
use clap::Subcommand;

use crate::output::{say, when, CliError};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin. Roles: global, security, exchange, user, reports.
    Add {
        address: String,
        /// global (Global administrator), security (Security administrator), exchange (Exchange
        /// administrator), user (User administrator) or reports (Reports reader).
        #[arg(long, value_name = "ROLE")]
        role: String,
        /// Read the password from standard input (first line); otherwise one is generated.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List admins and their roles.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Set a new password, read from standard input.
    Password {
        address: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Change an admin's role.
    SetRole {
        address: String,
        #[arg(long, value_name = "ROLE")]
        role: String,
    },
    /// Forget the admin's authenticator app; they enrol a new one at their next sign-in.
    ResetTotp { address: String },
}

fn parse_role(role: &str) -> Result<Role, CliError> {
    Role::parse(role).ok_or_else(|| CliError::new("admin-cli-err-role").arg("role", role).usage())
}

fn admin_error(e: AdminError) -> CliError {
    match e {
        AdminError::AdminExists(a) => CliError::new("admin-cli-err-exists").arg("address", a).usage(),
        AdminError::UnknownAdmin(a) => CliError::new("admin-cli-err-unknown").arg("address", a).usage(),
        AdminError::Directory(d) => d.into(),
    }
}

fn read_password() -> Result<String, CliError> {
    let mut input = String::new();
    std::io::stdin().take(4096).read_to_string(&mut input).map_err(|_| CliError::new("err-password-stdin").usage())?;
    let password = input.lines().next().unwrap_or("").to_string();
    if password.is_empty() {
        return Err(CliError::new("err-password-stdin").usage());
    }
    Ok(password)
}

fn strong(password: &str, address: &str) -> Result<(), CliError> {
    use secrets::WeakPassword::*;
    secrets::check_password_strength(password, address).map_err(|e| {
        let id = match e {
            TooShort { .. } => "err-password-too-short",
            TooFewKinds => "err-password-few-kinds",
            ContainsAddress => "err-password-contains-address",
            Common => "err-password-common",
        };
        CliError::new(id).arg("min", secrets::MIN_PASSWORD_LEN).usage()
    })
}

async fn hash(secret: String) -> String {
    tokio::task::spawn_blocking(move || secrets::hash_secret(&secret)).await.expect("hashing task")
}

pub async fn run(c: AdminCommand, dir: &SqliteDirectory, lang: Lang) -> Result<(), CliError> {
    match c {
        AdminCommand::Add { address, role, password_stdin } => {
            let address = authrelay_core::Address::parse(&address)
                .map_err(|e| CliError::new("err-bad-address").arg("address", &address).arg("reason", e).usage())?;
            let role = parse_role(&role)?;
            let (password, generated) = if password_stdin {
                let p = read_password()?;
                strong(&p, address.as_str())?;
                (p, false)
            } else {
                (secrets::generate_password(), true)
            };
            let admin = dir
                .create_admin(NewAdmin {
                    address: address.to_string(),
                    role: role.as_str().into(),
                    password_hash: hash(password.clone()).await,
                })
                .await
                .map_err(admin_error)?;
            let role_name = t(lang, role.name_id(), &[]);
            say(lang, "admin-cli-created", &[("address", Arg::Str(&admin.address)), ("role", Arg::Str(&role_name))]);
            if generated {
                say(lang, "user-password-generated", &[]);
                println!("  {password}");
            }
            say(lang, "admin-cli-created-next", &[]);
        }
        AdminCommand::List { json } => {
            let admins = dir.list_admins().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&admins).unwrap_or_default());
            } else if admins.is_empty() {
                say(lang, "admin-cli-none", &[]);
            } else {
                for a in &admins {
                    let role =
                        Role::parse(&a.role).map(|r| t(lang, r.name_id(), &[])).unwrap_or_else(|| a.role.clone());
                    let totp = t(lang, if a.totp_enrolled { "admin-cli-totp-yes" } else { "admin-cli-totp-no" }, &[]);
                    println!("{:<40} {:<28} {:<24} {}", a.address, role, totp, when(Some(a.created_at)));
                }
            }
        }
        AdminCommand::Password { address, .. } => {
            let password = read_password()?;
            strong(&password, &address)?;
            dir.set_admin_password(&address, &hash(password).await).await.map_err(admin_error)?;
            say(lang, "admin-cli-password-set", &[("address", Arg::Str(address.trim()))]);
        }
        AdminCommand::SetRole { address, role } => {
            let role = parse_role(&role)?;
            let admin = dir.set_admin_role(&address, role.as_str()).await.map_err(admin_error)?;
            let role_name = t(lang, role.name_id(), &[]);
            say(lang, "admin-cli-role-set", &[("address", Arg::Str(&admin.address)), ("role", Arg::Str(&role_name))]);
        }
        AdminCommand::ResetTotp { address } => {
            dir.set_admin_totp(&address, None).await.map_err(admin_error)?;
            say(lang, "admin-cli-totp-reset", &[("address", Arg::Str(address.trim()))]);
        }
    }
    Ok(())
}
