//! The admin commands: each works on the data directory directly, so it can run beside a live
//! server; the server reads the directory on every AUTH attempt, so changes apply at once.

use std::io::Read;

use crate::store::Dir;
use authrelay_core::{effective_smtp_auth, Address, QueueId};
use authrelay_directory::SignInFilter;
use authrelay_ops::{OrgEdit, UserEdit};

use crate::operations::ops;
use authrelay_i18n::{t, value, Arg, Lang};

use crate::cli::*;
use crate::output::{field, say, when, CliError};
use authrelay_config::{self as config, Effective};

pub async fn run(cli: Cli, lang: Lang) -> Result<(), CliError> {
    let serve_args = match &cli.command {
        Command::Serve(a) => a.clone(),
        _ => ServeArgs::default(),
    };
    let overrides = config::Overrides { database_url: cli.database_url.clone(), ..serve_args.overrides() };
    let effective = config::load(cli.config.as_deref(), cli.data_dir.as_deref(), &overrides).map_err(|problems| {
        let list: Vec<String> = problems
            .iter()
            .map(|p| {
                let (id, args) = p.message_id();
                let args: Vec<(&str, Arg)> = args.iter().map(|(k, v)| (*k, Arg::Str(v))).collect();
                format!("  {}: {}", p.key, t(lang, id, &args))
            })
            .collect();
        CliError::new("err-config").arg("problems", list.join("\n")).usage()
    })?;
    match cli.command {
        Command::Serve(_) => {
            init_logging();
            let source =
                crate::serve::ConfigSource { file: cli.config.clone(), data_dir: cli.data_dir.clone(), overrides };
            crate::serve::serve(effective, source).await
        }
        Command::Config(ConfigCommand::Check) => {
            say(lang, "config-ok", &[]);
            print!("{}", effective.to_toml());
            Ok(())
        }
        Command::Cert(CertCommand::Show { json }) => cert_show(&effective, json, lang),
        Command::Cert(CertCommand::Renew { wait }) => crate::control::cert_renew(&effective, wait, lang).await,
        Command::Reload { wait } => crate::control::reload(&effective, wait, lang).await,
        Command::Org(c) => org(c, &open_directory(&effective).await?, lang).await,
        Command::User(c) => user(c, &open_directory(&effective).await?, lang).await,
        Command::AppPassword(c) => app_password(c, &open_directory(&effective).await?, lang).await,
        Command::DeviceCredential(c) => crate::device_cli::run(c, &open_directory(&effective).await?, lang).await,
        Command::Queue(c) => queue(c, &effective, lang).await,
        Command::Dkim(c) => crate::delivery_cli::dkim(c, &effective, lang),
        Command::Oauth(c) => crate::oauth_cli::run(c, &effective, lang),
        Command::Signins(a) => signins(a, &open_directory(&effective).await?, lang).await,
        c @ (Command::Doctor(_) | Command::Probe(_)) => crate::troubleshoot_cmd::run(c, &effective, lang).await,
        Command::Bench(a) => crate::bench_cmd::run(a, &effective, lang).await,
        Command::Admin(c) => crate::admin_cli::run(c, &open_directory(&effective).await?, lang).await,
        Command::Import(c) => crate::import_cli::run(c, &open_directory(&effective).await?, &effective, lang).await,
        Command::Store(c) => crate::store_cli::run(c, &effective, lang).await,
        Command::Backup { to } => crate::backup::backup(&effective, &to, lang).await,
        Command::Restore { from } => crate::backup::restore(&effective, &from, lang),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "authrelay", &mut std::io::stdout());
            Ok(())
        }
        Command::Manpages { to } => manpages(&to),
    }
}

/// `authrelay.1` and one page per command (`authrelay-user.1`, `authrelay-user-add.1`, …),
/// made from the same texts as `--help`.
fn manpages(dir: &std::path::Path) -> Result<(), CliError> {
    use clap::CommandFactory;
    let fail = |e: std::io::Error| CliError::new("err-data-dir").arg("path", dir.display()).arg("reason", e);
    std::fs::create_dir_all(dir).map_err(fail)?;
    fn write(cmd: clap::Command, name: String, usage: String, dir: &std::path::Path) -> std::io::Result<()> {
        let cmd = cmd.display_name(name.clone()).bin_name(usage.clone());
        let mut page = vec![];
        clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
        std::fs::write(dir.join(format!("{name}.1")), page)?;
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            write(sub.clone(), format!("{name}-{}", sub.get_name()), format!("{usage} {}", sub.get_name()), dir)?;
        }
        Ok(())
    }
    write(Cli::command(), "authrelay".into(), "authrelay".into(), dir).map_err(fail)
}

/// `cert show`: what a device must trust to verify this server.
fn cert_show(effective: &Effective, json: bool, lang: Lang) -> Result<(), CliError> {
    let (cert, _) = crate::tls::ensure_certificate(effective).map_err(|e| CliError::new("err-tls").arg("reason", e))?;
    let der = crate::tls::first_der(&cert)
        .ok_or_else(|| CliError::new("err-tls").arg("reason", format!("{} holds no certificate", cert.display())))?;
    let facts = authrelay_troubleshoot::cert::facts(&der).unwrap_or_default();
    let fingerprint = {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(&der);
        digest.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
    };
    let pem = std::fs::read_to_string(&cert).unwrap_or_default();
    let first_pem = pem.split_inclusive("-----END CERTIFICATE-----").next().unwrap_or("").trim().to_string();
    let acme = crate::acme::paths(&effective.data_dir);
    let from_acme = effective.tls.acme.is_some() && cert == acme.cert;
    let self_signed = effective.tls.cert.is_none() && !from_acme;
    let status = if effective.tls.acme.is_some() { crate::acme::Status::read(&effective.data_dir) } else { None };
    if json {
        let v = serde_json::json!({
            "file": cert.display().to_string(),
            "self_signed": self_signed,
            "acme": from_acme,
            "acme_status": status,
            "subject": facts.subject,
            "issuer": facts.issuer,
            "names": facts.names,
            "not_before": facts.not_before,
            "not_after": facts.not_after,
            "sha256": fingerprint,
            "pem": first_pem,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    let file = cert.display().to_string();
    let kind = match (from_acme, self_signed) {
        (true, _) => "cert-acme",
        (false, true) => "cert-self-signed",
        (false, false) => "cert-configured",
    };
    say(lang, kind, &[("file", Arg::from(file.as_str()))]);
    if let Some(s) = &status {
        let error = s.last_error.clone().unwrap_or_else(|| "-".into());
        say(
            lang,
            "cert-acme-status",
            &[
                ("failures", Arg::from(s.consecutive_failures as i64)),
                ("attempt", Arg::from(when(lang, s.last_attempt).as_str())),
                ("success", Arg::from(when(lang, s.last_success).as_str())),
                ("next", Arg::from(when(lang, s.next_attempt).as_str())),
                ("error", Arg::from(error.as_str())),
            ],
        );
    }
    field(&t(lang, "cert-subject", &[]), &facts.subject);
    field(&t(lang, "cert-issuer", &[]), &facts.issuer);
    field(&t(lang, "cert-names", &[]), facts.names.join(", "));
    field(&t(lang, "cert-valid-from", &[]), when(lang, Some(facts.not_before)));
    field(&t(lang, "cert-valid-until", &[]), when(lang, Some(facts.not_after)));
    field(&t(lang, "cert-fingerprint", &[]), &fingerprint);
    say(lang, "cert-pem-follows", &[]);
    println!("{first_pem}");
    Ok(())
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

async fn open_directory(config: &Effective) -> Result<Dir, CliError> {
    crate::store::open(config, crate::store::Opener::Command).await
}

fn json_out<T: serde::Serialize>(value: &T) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

fn parse_address(input: &str) -> Result<Address, CliError> {
    Address::parse(input).map_err(|e| CliError::new("err-bad-address").arg("address", input).arg("reason", e).usage())
}

async fn org(c: OrgCommand, dir: &Dir, lang: Lang) -> Result<(), CliError> {
    match c {
        OrgCommand::Add { name, domains } => {
            let (ops, actor) = ops(dir);
            let org = ops.create_org(&actor, &name, &domains).await?;
            say(lang, "org-created", &[("name", Arg::Str(&org.name)), ("domains", Arg::Str(&org.domains.join(", ")))]);
            print_org(&org, lang);
            say(lang, "org-created-next", &[("name", Arg::Str(&org.name)), ("domain", Arg::Str(&org.domains[0]))]);
        }
        OrgCommand::List { json } => {
            let orgs = dir.list_orgs().await?;
            if json {
                json_out(&orgs);
            } else if orgs.is_empty() {
                say(lang, "org-none", &[]);
            } else {
                let header = [
                    t(lang, "label-org", &[]),
                    t(lang, "label-domains", &[]),
                    t(lang, "label-security-defaults", &[]),
                    t(lang, "label-org-smtp-auth", &[]),
                    t(lang, "label-app-passwords", &[]),
                ];
                let rows: Vec<Vec<String>> = orgs
                    .iter()
                    .map(|o| {
                        vec![
                            o.name.clone(),
                            o.domains.join(", "),
                            value(lang, o.settings.security_defaults),
                            value(lang, o.settings.smtp_auth),
                            value(lang, o.settings.app_passwords),
                        ]
                    })
                    .collect();
                crate::output::table(&header, &rows);
            }
        }
        OrgCommand::Show { name, json } => {
            let org =
                dir.org(&name).await?.ok_or_else(|| CliError::new("err-unknown-org").arg("name", &name).usage())?;
            if json {
                json_out(&org);
            } else {
                print_org(&org, lang);
                crate::protection_cli::print_org_limits(dir, &org.name, lang).await?;
            }
        }
        OrgCommand::Set {
            name,
            security_defaults,
            smtp_auth,
            app_passwords,
            device_credentials,
            add_domains,
            max_message_size,
            max_recipients,
            daily_recipients,
            max_sessions,
            language,
        } => {
            let limits =
                authrelay_directory::OrgLimits { max_message_size, max_recipients, daily_recipients, max_sessions };
            let language = match language.as_deref() {
                None => None,
                Some(tag) => Some(
                    Lang::parse(tag).ok_or_else(|| CliError::new("err-bad-language").arg("value", tag).usage())?.tag(),
                ),
            };
            if security_defaults.is_none()
                && language.is_none()
                && smtp_auth.is_none()
                && app_passwords.is_none()
                && device_credentials.is_none()
                && add_domains.is_empty()
                && limits == authrelay_directory::OrgLimits::default()
            {
                return Err(CliError::new("err-nothing-to-set").arg("command", "authrelay org set NAME").usage());
            }
            let (ops, actor) = ops(dir);
            let before = ops.org(&name).await?;
            for d in &add_domains {
                ops.add_domain(&actor, &before.name, d).await?;
            }
            let edit = OrgEdit { security_defaults, smtp_auth, app_passwords, device_credentials };
            let after = ops.edit_org(&actor, &before.name, edit).await?;
            if limits != authrelay_directory::OrgLimits::default() {
                ops.set_org_limits(&actor, &after.name, limits).await?;
            }
            if let Some(language) = language {
                ops.set_org_language(&actor, &after.name, language).await?;
            }
            say(lang, "org-updated", &[("name", Arg::Str(&after.name))]);
            print_org(&after, lang);
            crate::protection_cli::print_org_limits(dir, &after.name, lang).await?;
        }
    }
    Ok(())
}

fn print_org(org: &authrelay_directory::Org, lang: Lang) {
    let s = &org.settings;
    field(&t(lang, "label-org", &[]), &org.name);
    field(&t(lang, "label-domains", &[]), org.domains.join(", "));
    field(&t(lang, "label-security-defaults", &[]), value(lang, s.security_defaults));
    field(&t(lang, "label-org-smtp-auth", &[]), value(lang, s.smtp_auth));
    field(&t(lang, "label-app-passwords", &[]), value(lang, s.app_passwords));
    field(&t(lang, "label-device-credentials", &[]), value(lang, s.device_credentials));
}

fn read_password_stdin() -> Result<String, CliError> {
    let mut input = String::new();
    std::io::stdin().take(4096).read_to_string(&mut input).map_err(|_| CliError::new("err-password-stdin").usage())?;
    let password = input.lines().next().unwrap_or("").to_string();
    if password.is_empty() {
        return Err(CliError::new("err-password-stdin").usage());
    }
    Ok(password)
}

async fn user(c: UserCommand, dir: &Dir, lang: Lang) -> Result<(), CliError> {
    match c {
        UserCommand::Add { address, display_name, password_stdin } => {
            let address = parse_address(&address)?;
            if dir.org_for_domain(address.domain()).await?.is_none() {
                return Err(CliError::new("err-no-org-for-domain").arg("domain", address.domain()).usage());
            }
            let password = if password_stdin { Some(read_password_stdin()?) } else { None };
            let (ops, actor) = ops(dir);
            let (user, generated) =
                ops.create_user(&actor, address.as_str(), display_name.as_deref(), password.as_deref()).await?;
            say(lang, "user-created", &[("address", Arg::Str(&user.address)), ("org", Arg::Str(&user.org))]);
            if let Some(password) = generated {
                say(lang, "user-password-generated", &[]);
                println!("  {password}");
            }
            say(lang, "user-created-next", &[("address", Arg::Str(&user.address))]);
        }
        UserCommand::Set { address, smtp_auth, mfa, sign_in, send_as, remove_send_as, display_name } => {
            let address = parse_address(&address)?;
            if smtp_auth.is_none()
                && mfa.is_none()
                && sign_in.is_none()
                && send_as.is_empty()
                && remove_send_as.is_empty()
                && display_name.is_none()
            {
                return Err(CliError::new("err-nothing-to-set").arg("command", "authrelay user set ADDRESS").usage());
            }
            let (ops, actor) = ops(dir);
            let edit = UserEdit { display_name, sign_in, smtp_auth, mfa, add_send_as: send_as, remove_send_as };
            let user = ops.edit_user(&actor, address.as_str(), edit).await?;
            say(lang, "user-updated", &[("address", Arg::Str(&user.address))]);
            print_user(&user, dir, lang).await?;
        }
        UserCommand::Password { address, .. } => {
            let address = parse_address(&address)?;
            let password = read_password_stdin()?;
            let (ops, actor) = ops(dir);
            ops.reset_password(&actor, address.as_str(), Some(&password)).await?;
            say(lang, "user-password-set", &[("address", Arg::Str(address.as_str()))]);
        }
        UserCommand::Unlock { address } => crate::protection_cli::unlock(dir, &parse_address(&address)?, lang).await?,
        UserCommand::List { org, json } => {
            let users = dir.list_users(org.as_deref()).await?;
            if json {
                json_out(&users);
            } else if users.is_empty() {
                say(lang, "user-none", &[]);
            } else {
                let header = [
                    t(lang, "label-address", &[]),
                    t(lang, "label-org", &[]),
                    t(lang, "label-sign-in", &[]),
                    t(lang, "label-mailbox-smtp-auth", &[]),
                    t(lang, "label-mfa", &[]),
                ];
                let rows: Vec<Vec<String>> = users
                    .iter()
                    .map(|u| {
                        vec![
                            u.address.clone(),
                            u.org.clone(),
                            value(lang, u.settings.sign_in),
                            value(lang, u.settings.smtp_auth),
                            value(lang, u.settings.mfa),
                        ]
                    })
                    .collect();
                crate::output::table(&header, &rows);
            }
        }
        UserCommand::Show { address, json } => {
            let address = parse_address(&address)?;
            let user = dir
                .user(address.as_str())
                .await?
                .ok_or_else(|| CliError::new("err-unknown-user").arg("address", &address).usage())?;
            if json {
                json_out(&user);
            } else {
                print_user(&user, dir, lang).await?;
            }
        }
    }
    Ok(())
}

async fn print_user(user: &authrelay_directory::User, dir: &Dir, lang: Lang) -> Result<(), CliError> {
    let org = dir.org(&user.org).await?.ok_or_else(|| CliError::new("err-unknown-org").arg("name", &user.org))?;
    let (enabled, source) = effective_smtp_auth(org.settings.smtp_auth, user.settings.smtp_auth);
    let effective = t(
        lang,
        match (enabled, source) {
            (true, authrelay_core::SmtpAuthSource::Mailbox) => "smtp-auth-effective-on-mailbox",
            (true, authrelay_core::SmtpAuthSource::Organisation) => "smtp-auth-effective-on-org",
            (false, authrelay_core::SmtpAuthSource::Mailbox) => "smtp-auth-effective-off-mailbox",
            (false, authrelay_core::SmtpAuthSource::Organisation) => "smtp-auth-effective-off-org",
        },
        &[],
    );
    let s = &user.settings;
    field(&t(lang, "label-address", &[]), &user.address);
    field(&t(lang, "label-display-name", &[]), &user.display_name);
    field(&t(lang, "label-org", &[]), &user.org);
    field(&t(lang, "label-sign-in", &[]), value(lang, s.sign_in));
    field(&t(lang, "label-mailbox-smtp-auth", &[]), format!("{} ({effective})", value(lang, s.smtp_auth)));
    field(&t(lang, "label-mfa", &[]), value(lang, s.mfa));
    field(&t(lang, "label-security-defaults", &[]), value(lang, org.settings.security_defaults));
    let send_as = if user.send_as.is_empty() { "-".to_string() } else { user.send_as.join(", ") };
    field(&t(lang, "label-send-as", &[]), send_as);
    crate::protection_cli::print_lockout(dir, &user.address, lang).await?;
    Ok(())
}

async fn app_password(c: AppPasswordCommand, dir: &Dir, lang: Lang) -> Result<(), CliError> {
    match c {
        AppPasswordCommand::Add { address, name } => {
            let address = parse_address(&address)?;
            let (ops, actor) = ops(dir);
            let (user, secret) = ops.add_app_password(&actor, address.as_str(), &name).await?;
            let name = name.trim();
            say(lang, "app-password-created", &[("name", Arg::Str(name)), ("address", Arg::Str(&user.address))]);
            println!("  {secret}");
            let org = dir.org(&user.org).await?;
            if org.is_some_and(|o| o.settings.app_passwords == authrelay_core::AppPasswordsPolicy::Blocked) {
                say(lang, "app-password-org-blocks", &[("org", Arg::Str(&user.org))]);
            }
        }
        AppPasswordCommand::List { address } => {
            let address = parse_address(&address)?;
            let list = dir.list_app_passwords(address.as_str()).await?;
            if list.is_empty() {
                say(lang, "app-password-none", &[("address", Arg::Str(address.as_str()))]);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|a| vec![a.name.clone(), when(lang, Some(a.created_at)), when(lang, a.last_used_at)])
                .collect();
            if !rows.is_empty() {
                let header = [t(lang, "col-name", &[]), t(lang, "col-created", &[]), t(lang, "col-last-used", &[])];
                crate::output::table(&header, &rows);
            }
        }
        AppPasswordCommand::Revoke { address, name } => {
            let address = parse_address(&address)?;
            let (ops, actor) = ops(dir);
            ops.revoke_app_password(&actor, address.as_str(), &name).await?;
            say(lang, "app-password-revoked", &[("name", Arg::Str(&name)), ("address", Arg::Str(address.as_str()))]);
        }
    }
    Ok(())
}

async fn queue(c: QueueCommand, config: &Effective, lang: Lang) -> Result<(), CliError> {
    let queue = crate::delivery_cli::open_queue(config).await?;
    match c {
        QueueCommand::List { json } => crate::delivery_cli::list(&queue, json, lang).await?,
        QueueCommand::Show { id, raw } => {
            let qid = QueueId::parse(&id).ok_or_else(|| CliError::new("err-bad-queue-id").arg("id", &id).usage())?;
            let (envelope, message) =
                queue.read(&qid).await.map_err(|e| crate::delivery_cli::queue_error(&queue, &id, e))?;
            if raw {
                use std::io::Write;
                std::io::stdout().write_all(&message).map_err(|e| CliError::new("err-io").arg("reason", e))?;
            } else {
                json_out(&envelope);
                let entry = queue
                    .entry(&qid, crate::delivery_cli::now_ms())
                    .await
                    .map_err(|e| crate::delivery_cli::queue_error(&queue, &id, e))?;
                crate::delivery_cli::print_state(&entry, lang);
                let header_end =
                    message.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 2).unwrap_or(message.len());
                println!("{}", String::from_utf8_lossy(&message[..header_end]));
                say(lang, "queue-size", &[("size", Arg::Str(&authrelay_i18n::size(lang, message.len() as u64)))]);
            }
        }
        QueueCommand::Retry { id, all } => crate::delivery_cli::retry(&queue, id, all, lang).await?,
        QueueCommand::Hold { id } => crate::delivery_cli::hold(&queue, &id, true, lang).await?,
        QueueCommand::Release { id } => crate::delivery_cli::hold(&queue, &id, false, lang).await?,
        QueueCommand::Delete { id } => crate::delivery_cli::delete(&queue, &id, lang).await?,
    }
    if let Some(shared) = queue.shared() {
        shared.close().await;
    }
    Ok(())
}

async fn signins(a: SigninsArgs, dir: &Dir, lang: Lang) -> Result<(), CliError> {
    let filter = SignInFilter {
        user: a.user.map(|u| u.to_lowercase()),
        success: a.failures.then_some(false),
        limit: Some(a.last.unwrap_or(20)),
        ..Default::default()
    };
    let entries = dir.signins(&filter).await?;
    if a.json {
        json_out(&entries);
        return Ok(());
    }
    if entries.is_empty() {
        say(lang, "signins-none", &[]);
    }
    // Oldest first on screen, like a log. The user name and mechanism come from the client:
    // quoted and escaped, so no name can add a row or pose as another column.
    for e in entries.iter().rev() {
        let (code, enhanced, text) = e.reply.map(|r| r.row()).unwrap_or((0, "", ""));
        let user = if e.user.is_empty() { "-".to_string() } else { authrelay_core::display::quoted(&e.user) };
        // The check and credential in the reader's language; the reply stays as the device saw it.
        println!(
            "{}  {}:{}  {}  {}  {}  {}  {}  {} {} {}",
            when(lang, Some(e.at)),
            e.client_ip,
            e.client_port,
            e.tls,
            authrelay_core::Quoted(&e.mechanism),
            user,
            e.credential.map(|c| value(lang, c)).unwrap_or_else(|| "-".into()),
            value(lang, e.check),
            code,
            enhanced,
            text
        );
    }
    Ok(())
}
