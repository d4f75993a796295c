//! Errors and messages the CLI prints, rendered through the i18n catalogue.

use authrelay_directory::DirectoryError;
use authrelay_i18n::{t, Arg, Lang};

/// A CLI failure: a catalogue message id with its arguments. Every one names the fix.
#[derive(Debug)]
pub struct CliError {
    pub id: &'static str,
    pub args: Vec<(&'static str, String)>,
    pub code: u8,
}

impl CliError {
    pub fn new(id: &'static str) -> Self {
        CliError { id, args: vec![], code: 1 }
    }

    pub fn arg(mut self, name: &'static str, value: impl ToString) -> Self {
        self.args.push((name, value.to_string()));
        self
    }

    /// Exit code 2: the request itself is wrong (as clap uses for usage errors).
    pub fn usage(mut self) -> Self {
        self.code = 2;
        self
    }

    pub fn exit_code(&self) -> u8 {
        self.code
    }

    pub fn render(&self, lang: Lang) -> String {
        let args: Vec<(&str, Arg)> = self.args.iter().map(|(k, v)| (*k, Arg::Str(v))).collect();
        format!("{} {}", t(lang, "error-prefix", &[]), t(lang, self.id, &args))
    }
}

impl From<DirectoryError> for CliError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::UnknownOrg(name) => CliError::new("err-unknown-org").arg("name", name).usage(),
            DirectoryError::OrgExists(name) => CliError::new("err-org-exists").arg("name", name).usage(),
            DirectoryError::DomainTaken { domain, org } => {
                CliError::new("err-domain-taken").arg("domain", domain).arg("org", org).usage()
            }
            DirectoryError::NoOrgForDomain(domain) => {
                CliError::new("err-no-org-for-domain").arg("domain", domain).usage()
            }
            DirectoryError::UnknownUser(address) => CliError::new("err-unknown-user").arg("address", address).usage(),
            DirectoryError::UserExists(address) => CliError::new("err-user-exists").arg("address", address).usage(),
            DirectoryError::UnknownAppPassword { user, name } => {
                CliError::new("err-unknown-app-password").arg("address", user).arg("name", name).usage()
            }
            DirectoryError::AppPasswordExists { user, name } => {
                CliError::new("err-app-password-exists").arg("address", user).arg("name", name).usage()
            }
            DirectoryError::TooManyAppPasswords(user) => {
                CliError::new("err-too-many-app-passwords").arg("address", user).usage()
            }
            DirectoryError::UnknownDeviceCredential { user, name } => {
                CliError::new("err-unknown-device-credential").arg("address", user).arg("name", name).usage()
            }
            DirectoryError::DeviceCredentialExists { user, name } => {
                CliError::new("err-device-credential-exists").arg("address", user).arg("name", name).usage()
            }
            DirectoryError::TooManyDeviceCredentials(user) => {
                CliError::new("err-too-many-device-credentials").arg("address", user).usage()
            }
            DirectoryError::Storage(reason) => CliError::new("err-storage").arg("reason", reason),
        }
    }
}

/// Prints a catalogue message on stdout.
pub fn say(lang: Lang, id: &str, args: &[(&str, Arg<'_>)]) {
    println!("{}", t(lang, id, args));
}

/// A unix time as `lang` writes it, in UTC with the zone named (docs/localization.md), or "-".
pub fn when(lang: Lang, unix: Option<i64>) -> String {
    authrelay_i18n::format::time_or_dash(lang, unix)
}

/// Pads `label` to `width` terminal columns. Hangul and CJK characters take two columns, so
/// counting characters (as `{:<22}` does) would misalign the Korean output.
pub fn pad(label: &str, width: usize) -> String {
    format!("{label}{}", " ".repeat(width.saturating_sub(columns(label))))
}

/// Terminal columns `text` takes: Hangul and CJK characters take two.
pub fn columns(text: &str) -> usize {
    let wide = |c: char| matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFF00..=0xFF60);
    text.chars().map(|c| if wide(c) { 2 } else { 1 }).sum()
}

/// Prints a table with a header row, each column as wide as its widest cell in terminal
/// columns, so Korean headers and values line up.
pub fn table(header: &[String], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| columns(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(columns(cell));
            }
        }
    }
    let line = |cells: &[String]| {
        let last = cells.len().saturating_sub(1);
        let parts: Vec<String> =
            cells.iter().enumerate().map(|(i, c)| if i == last { c.clone() } else { pad(c, widths[i]) }).collect();
        println!("{}", parts.join("  "));
    };
    line(header);
    for row in rows {
        line(row);
    }
}

/// One "  label  value" line of a `show` command.
pub fn field(label: &str, value: impl std::fmt::Display) {
    println!("  {} {value}", pad(label, 26));
}

/// The one mapping from an operation's refusal to a CLI message and exit code.
impl From<authrelay_ops::OpsError> for CliError {
    fn from(e: authrelay_ops::OpsError) -> Self {
        use authrelay_directory::secrets::{WeakPassword, MIN_PASSWORD_LEN};
        use authrelay_ops::OpsError as E;
        match e {
            E::Directory(d) => d.into(),
            // The CLI acts as Global administrator; kept total for an actor with less.
            E::Forbidden { needed, have } => {
                CliError::new("err-forbidden").arg("needed", format!("{needed:?}")).arg("role", have.as_str()).usage()
            }
            E::BadAddress { input, reason } => {
                CliError::new("err-bad-address").arg("address", input).arg("reason", reason).usage()
            }
            E::BadDomain { input } => CliError::new("err-bad-domain").arg("domain", input).usage(),
            E::NoDomain => CliError::new("err-bad-domain").arg("domain", "").usage(),
            E::BadOrgName => CliError::new("err-bad-org-name").usage(),
            E::BadDisplayName => CliError::new("err-bad-display-name").usage(),
            E::BadAppPasswordName => CliError::new("err-bad-app-password-name").usage(),
            E::BadDeviceCredentialName => CliError::new("err-bad-device-credential-name").usage(),
            E::BadTokenName => CliError::new("api-err-bad-token-name").usage(),
            E::BadRole { input } => CliError::new("admin-cli-err-role").arg("role", input).usage(),
            E::BadCidr { value } => CliError::new("err-bad-cidr").arg("value", value).usage(),
            E::BadExpiry { value } => CliError::new("err-bad-expiry").arg("value", value).usage(),
            E::ExpiryPast { value } => CliError::new("err-expiry-past").arg("value", value).usage(),
            E::WeakPassword(w) => {
                let id = match w {
                    WeakPassword::TooShort { .. } => "err-password-too-short",
                    WeakPassword::TooFewKinds => "err-password-few-kinds",
                    WeakPassword::ContainsAddress => "err-password-contains-address",
                    WeakPassword::Common => "err-password-common",
                };
                CliError::new(id).arg("min", MIN_PASSWORD_LEN).usage()
            }
            E::AdminExists(a) => CliError::new("admin-cli-err-exists").arg("address", a).usage(),
            E::UnknownAdmin(a) => CliError::new("admin-cli-err-unknown").arg("address", a).usage(),
            E::UnknownToken => CliError::new("api-err-unknown-token").usage(),
            E::NothingToSet => CliError::new("err-nothing-to-set").arg("command", "authrelay").usage(),
            E::OtherOrg { domain, org } => {
                CliError::new("api-err-other-org").arg("domain", domain).arg("org", org).usage()
            }
            E::LastGlobalAdmin(a) => CliError::new("api-err-last-global-admin").arg("address", a).usage(),
            E::OwnAccount => CliError::new("api-err-own-account").usage(),
            E::BadSelector(s) => CliError::new("err-dkim-bad-selector").arg("selector", s).usage(),
            E::BadAlgorithm(a) => CliError::new("err-dkim-algorithm").arg("algorithm", a).usage(),
            E::DkimExists { domain, selector } => {
                CliError::new("api-err-dkim-exists").arg("domain", domain).arg("selector", selector).usage()
            }
            E::UnknownDkimKey { domain, selector } => {
                CliError::new("api-err-unknown-dkim-key").arg("domain", domain).arg("selector", selector).usage()
            }
            E::DkimStore(reason) => CliError::new("err-dkim").arg("reason", reason),
        }
    }
}
