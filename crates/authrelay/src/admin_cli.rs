//! `authrelay admin …`: the admin center's accounts from the command line — the way to create
//! the first Global administrator, and to recover one who lost their password or phone.

use std::io::Read;

use crate::store::Dir;
use authrelay_i18n::{t, Arg, Lang};
use authrelay_ops::Role;
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

fn read_password() -> Result<String, CliError> {
    let mut input = String::new();
    std::io::stdin().take(4096).read_to_string(&mut input).map_err(|_| CliError::new("err-password-stdin").usage())?;
    let password = input.lines().next().unwrap_or("").to_string();
    if password.is_empty() {
        return Err(CliError::new("err-password-stdin").usage());
    }
    Ok(password)
}

pub async fn run(c: AdminCommand, dir: &Dir, lang: Lang) -> Result<(), CliError> {
    match c {
        AdminCommand::Add { address, role, password_stdin } => {
            let password = if password_stdin { Some(read_password()?) } else { None };
            let (ops, actor) = crate::operations::ops(dir);
            let (admin, generated) = ops.create_admin(&actor, &address, &role, password.as_deref()).await?;
            let role = Role::parse(&admin.role).unwrap_or(Role::Reports);
            let role_name = t(lang, role.name_id(), &[]);
            say(lang, "admin-cli-created", &[("address", Arg::Str(&admin.address)), ("role", Arg::Str(&role_name))]);
            if let Some(password) = generated {
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
                let rows: Vec<Vec<String>> = admins
                    .iter()
                    .map(|a| {
                        let role =
                            Role::parse(&a.role).map(|r| t(lang, r.name_id(), &[])).unwrap_or_else(|| a.role.clone());
                        let totp =
                            t(lang, if a.totp_enrolled { "admin-cli-totp-yes" } else { "admin-cli-totp-no" }, &[]);
                        vec![a.address.clone(), role, totp, when(lang, Some(a.created_at))]
                    })
                    .collect();
                let header = ["col-address", "col-role", "col-totp", "col-created"].map(|id| t(lang, id, &[]));
                crate::output::table(&header, &rows);
            }
        }
        AdminCommand::Password { address, .. } => {
            let password = read_password()?;
            let (ops, actor) = crate::operations::ops(dir);
            ops.set_admin_password(&actor, &address, &password).await?;
            say(lang, "admin-cli-password-set", &[("address", Arg::Str(address.trim()))]);
        }
        AdminCommand::SetRole { address, role } => {
            let (ops, actor) = crate::operations::ops(dir);
            let admin = ops.set_admin_role(&actor, &address, &role).await?;
            let role = Role::parse(&admin.role).unwrap_or(Role::Reports);
            let role_name = t(lang, role.name_id(), &[]);
            say(lang, "admin-cli-role-set", &[("address", Arg::Str(&admin.address)), ("role", Arg::Str(&role_name))]);
        }
        AdminCommand::ResetTotp { address } => {
            let (ops, actor) = crate::operations::ops(dir);
            ops.reset_admin_totp(&actor, &address).await?;
            say(lang, "admin-cli-totp-reset", &[("address", Arg::Str(address.trim()))]);
        }
    }
    Ok(())
}
