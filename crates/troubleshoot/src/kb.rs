//! The knowledge base of SMTP replies.
//!
//! An [`Entry`] recognises a reply by its basic code, enhanced status code and key words, and
//! names two catalogue messages: what the reply means and how to fix it, for that provider.
//! Our own entries are built from the reply catalogue itself (an exhaustive `match` over
//! [`ReplyId`], so a new reply cannot ship without an explanation); the other providers' come from
//! `docs/provider-replies.md`.
//!
//! Matching ignores the trailing `[HOST timestamp id]` part that Microsoft appends, compares words
//! case-insensitively, and prefers the provider the caller names (from the banner or host name)
//! or the one the reply itself betrays (an `outlook.com` trailer, `gsmtp`). A reply that no entry
//! matches is [`explain`]ed as `None`: unknown, never guessed.

use std::sync::OnceLock;

use authrelay_core::ReplyId;
use authrelay_i18n::Lang;
use authrelay_policy::Check;

use crate::Text;

/// Whose reply an entry describes; the fix differs per provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Authrelay,
    Microsoft365,
    Gmail,
    Generic,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Authrelay => "authrelay",
            Provider::Microsoft365 => "microsoft365",
            Provider::Gmail => "gmail",
            Provider::Generic => "generic",
        }
    }

    pub const ALL: &'static [Provider] =
        &[Provider::Authrelay, Provider::Microsoft365, Provider::Gmail, Provider::Generic];

    /// The provider's name as a person reads it.
    pub fn message_id(self) -> &'static str {
        match self {
            Provider::Authrelay => "ts-provider-authrelay",
            Provider::Microsoft365 => "ts-provider-microsoft365",
            Provider::Gmail => "ts-provider-gmail",
            Provider::Generic => "ts-provider-generic",
        }
    }

    /// The provider a server's greeting or host name reveals, if any.
    pub fn guess(banner: &str, host: &str) -> Option<Provider> {
        let text = format!("{banner} {host}").to_ascii_lowercase();
        if text.contains("authrelay esmtp") {
            Some(Provider::Authrelay)
        } else if ["outlook.com", "office365", "outlook.office", "microsoft esmtp"].iter().any(|w| text.contains(w)) {
            Some(Provider::Microsoft365)
        } else if ["gmail", "google", "gsmtp"].iter().any(|w| text.contains(w)) {
            Some(Provider::Gmail)
        } else {
            None
        }
    }
}

/// One known reply.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    /// Stable id, e.g. `ours-security-defaults`, `m365-smtp-auth-disabled-tenant`.
    pub id: &'static str,
    pub provider: Provider,
    /// Basic reply code; ignored when the reply as logged carries none (`5.7.60 SMTP; …`).
    pub code: Option<u16>,
    /// Enhanced status code (RFC 3463); `None` matches any.
    pub enhanced: Option<&'static str>,
    /// Every word must occur in the reply text (case-insensitive).
    pub words: Vec<&'static str>,
    /// For our entries: the catalogue reply this entry explains.
    pub reply: Option<ReplyId>,
    /// The check of the decision order the reply comes from, where there is one.
    pub layer: Option<Check>,
    /// Message id: what the reply means.
    pub means: &'static str,
    /// Message id: how to fix it (`$user` and `$org` are filled in when known).
    pub fix: &'static str,
}

/// What ours-entry fields a catalogue reply gets: (id, layer, means, fix).
fn ours_row(id: ReplyId) -> (&'static str, Option<Check>, &'static str, &'static str) {
    use ReplyId as R;
    const NONE: &str = "kb-fix-none";
    const CLIENT: &str = "kb-ours-client-fix";
    match id {
        R::AuthOk => ("ours-auth-ok", Some(Check::Accepted), "kb-ours-auth-ok", NONE),
        R::AuthBeforeTls => ("ours-auth-before-tls", Some(Check::Tls), "kb-ours-auth-before-tls", "kb-ours-tls-fix"),
        R::MailBeforeTls => ("ours-mail-before-tls", Some(Check::Tls), "kb-ours-mail-before-tls", "kb-ours-tls-fix"),
        R::UnknownMechanism => (
            "ours-unknown-mechanism",
            Some(Check::Mechanism),
            "kb-ours-unknown-mechanism",
            "kb-ours-unknown-mechanism-fix",
        ),
        R::AuthMalformed => ("ours-auth-malformed", Some(Check::Decoding), "kb-ours-auth-malformed", CLIENT),
        R::AuthCancelled => ("ours-auth-cancelled", Some(Check::Decoding), "kb-ours-auth-cancelled", CLIENT),
        R::BadCredentials => {
            ("ours-bad-credentials", Some(Check::Credentials), "kb-ours-bad-credentials", "kb-ours-bad-credentials-fix")
        }
        R::SignInBlocked => {
            ("ours-sign-in-blocked", Some(Check::SignIn), "kb-ours-sign-in-blocked", "kb-ours-sign-in-blocked-fix")
        }
        R::SmtpAuthDisabledTenant => (
            "ours-smtp-auth-disabled-tenant",
            Some(Check::AuthenticatedSmtp),
            "kb-ours-smtp-auth-disabled-tenant",
            "kb-ours-smtp-auth-disabled-tenant-fix",
        ),
        R::SmtpAuthDisabledMailbox => (
            "ours-smtp-auth-disabled-mailbox",
            Some(Check::AuthenticatedSmtp),
            "kb-ours-smtp-auth-disabled-mailbox",
            "kb-ours-smtp-auth-disabled-mailbox-fix",
        ),
        R::SecurityDefaults => (
            "ours-security-defaults",
            Some(Check::SecurityDefaults),
            "kb-ours-security-defaults",
            "kb-ours-security-defaults-fix",
        ),
        R::MfaRequired => ("ours-mfa-required", Some(Check::Mfa), "kb-ours-mfa-required", "kb-ours-mfa-required-fix"),
        R::AccountLocked => {
            ("ours-account-locked", Some(Check::Lockout), "kb-ours-account-locked", "kb-ours-account-locked-fix")
        }
        R::AuthTempFail => {
            ("ours-auth-temp-fail", Some(Check::Credentials), "kb-ours-auth-temp-fail", "kb-ours-server-fix")
        }
        R::AuthTooMany => {
            ("ours-auth-too-many", Some(Check::ClientBudget), "kb-ours-auth-too-many", "kb-ours-auth-too-many-fix")
        }
        R::AddressThrottled => (
            "ours-address-throttled",
            Some(Check::AddressBudget),
            "kb-ours-address-throttled",
            "kb-ours-auth-too-many-fix",
        ),
        R::DeviceCredentialAddress => (
            "ours-device-credential-address",
            Some(Check::DeviceCredentialAddress),
            "kb-ours-device-credential-address",
            "kb-ours-device-credential-address-fix",
        ),
        R::DeviceCredentialExpired => (
            "ours-device-credential-expired",
            Some(Check::DeviceCredentialExpiry),
            "kb-ours-device-credential-expired",
            "kb-ours-device-credential-expired-fix",
        ),
        R::DeviceCredentialsBlocked => (
            "ours-device-credentials-blocked",
            Some(Check::DeviceCredentialsPolicy),
            "kb-ours-device-credentials-blocked",
            "kb-ours-device-credentials-blocked-fix",
        ),
        R::OAuthTokenInvalid => (
            "ours-oauth-token-invalid",
            Some(Check::Credentials),
            "kb-ours-oauth-token-invalid",
            "kb-ours-oauth-token-invalid-fix",
        ),
        R::OAuthTokenExpired => (
            "ours-oauth-token-expired",
            Some(Check::Credentials),
            "kb-ours-oauth-token-expired",
            "kb-ours-oauth-token-expired-fix",
        ),
        R::ConnectorSenderDenied => (
            "ours-connector-sender-denied",
            Some(Check::Connector),
            "kb-ours-connector-sender-denied",
            "kb-ours-connector-sender-denied-fix",
        ),
        R::NotAuthenticated => {
            ("ours-not-authenticated", None, "kb-ours-not-authenticated", "kb-ours-not-authenticated-fix")
        }
        R::SendAsDenied => ("ours-send-as-denied", None, "kb-ours-send-as-denied", "kb-ours-send-as-denied-fix"),
        R::UnknownLocalRecipient => (
            "ours-unknown-local-recipient",
            None,
            "kb-ours-unknown-local-recipient",
            "kb-ours-unknown-local-recipient-fix",
        ),
        R::RecipientLookupFailed => {
            ("ours-recipient-lookup-failed", None, "kb-ours-recipient-lookup-failed", "kb-ours-server-fix")
        }
        R::ConcurrencyLimit => (
            "ours-concurrency-limit",
            Some(Check::MailboxSessions),
            "kb-ours-concurrency-limit",
            "kb-ours-concurrency-limit-fix",
        ),
        R::DailyRecipientQuota => ("ours-daily-quota", None, "kb-ours-daily-quota", "kb-ours-daily-quota-fix"),
        R::TooManyRecipients => {
            ("ours-too-many-recipients", None, "kb-ours-too-many-recipients", "kb-ours-too-many-recipients-fix")
        }
        R::MessageTooBig => ("ours-message-too-big", None, "kb-ours-message-too-big", "kb-ours-message-too-big-fix"),
        R::LineTooLong => ("ours-line-too-long", None, "kb-ours-line-too-long", CLIENT),
        R::BareLineEnding => {
            ("ours-bare-line-ending", None, "kb-ours-bare-line-ending", "kb-ours-bare-line-ending-fix")
        }
        R::NulInMessage => ("ours-nul-in-message", None, "kb-ours-nul-in-message", "kb-ours-bare-line-ending-fix"),
        R::HeaderSectionMalformed => (
            "ours-header-section-malformed",
            None,
            "kb-ours-header-section-malformed",
            "kb-ours-header-section-malformed-fix",
        ),
        R::StorageFull => ("ours-storage-full", None, "kb-ours-storage-full", "kb-ours-server-fix"),
        R::Queued => ("ours-queued", None, "kb-ours-queued", NONE),
        R::Greeting => ("ours-greeting", None, "kb-ours-greeting", NONE),
        R::Hello => ("ours-hello", None, "kb-ours-greeting", NONE),
        R::Closing => ("ours-closing", None, "kb-ours-closing", NONE),
        R::Ok => ("ours-ok", None, "kb-ours-step-ok", NONE),
        R::SenderOk => ("ours-sender-ok", None, "kb-ours-step-ok", NONE),
        R::RecipientOk => ("ours-recipient-ok", None, "kb-ours-step-ok", NONE),
        R::StartData => ("ours-start-data", None, "kb-ours-step-ok", NONE),
        R::StartTlsReady => ("ours-starttls-ready", None, "kb-ours-step-ok", NONE),
        R::AuthChallenge => ("ours-auth-challenge", None, "kb-ours-step-ok", NONE),
        R::CannotVerify => ("ours-cannot-verify", None, "kb-ours-informational", NONE),
        R::Help => ("ours-help", None, "kb-ours-informational", NONE),
        R::UnknownCommand => ("ours-unknown-command", None, "kb-ours-unknown-command", CLIENT),
        R::NotImplemented => ("ours-not-implemented", None, "kb-ours-unknown-command", CLIENT),
        R::SyntaxError => ("ours-syntax-error", None, "kb-ours-syntax", CLIENT),
        R::BadSenderAddress => ("ours-bad-sender-address", None, "kb-ours-bad-address", "kb-ours-bad-address-fix"),
        R::BadRecipientAddress => {
            ("ours-bad-recipient-address", None, "kb-ours-bad-address", "kb-ours-bad-address-fix")
        }
        R::UnsupportedParameter => ("ours-unsupported-parameter", None, "kb-ours-syntax", CLIENT),
        R::HelloFirst => ("ours-hello-first", None, "kb-ours-hello-first", CLIENT),
        R::NeedMail => ("ours-need-mail", None, "kb-ours-sequence", CLIENT),
        R::NeedRecipient => ("ours-need-recipient", None, "kb-ours-sequence", CLIENT),
        R::NestedMail => ("ours-nested-mail", None, "kb-ours-sequence", CLIENT),
        R::AlreadyAuthenticated => ("ours-already-authenticated", None, "kb-ours-sequence", CLIENT),
        R::AuthInTransaction => ("ours-auth-in-transaction", None, "kb-ours-sequence", CLIENT),
        R::TlsAlreadyActive => ("ours-tls-already-active", None, "kb-ours-sequence", CLIENT),
        R::StartTlsSyntax => ("ours-starttls-syntax", None, "kb-ours-syntax", CLIENT),
        R::Utf8NeedsSmtpUtf8 => ("ours-utf8-needs-smtputf8", None, "kb-ours-bad-address", "kb-ours-bad-address-fix"),
        R::DataLineTooLong => ("ours-data-line-too-long", None, "kb-ours-message-format", "kb-ours-message-format-fix"),
        R::HeaderTooBig => ("ours-header-too-big", None, "kb-ours-message-format", "kb-ours-message-format-fix"),
        R::QueueWriteFailed => ("ours-queue-write-failed", None, "kb-ours-queue-write-failed", "kb-ours-server-fix"),
        R::IdleTimeout => ("ours-idle-timeout", None, "kb-ours-idle-timeout", "kb-ours-idle-timeout-fix"),
        R::ShuttingDown => ("ours-shutting-down", None, "kb-ours-shutting-down", "kb-fix-retry"),
        R::TooManyConnections => ("ours-too-many-connections", None, "kb-ours-too-many-connections", "kb-fix-retry"),
        R::TooManyConnectionsFromAddress => (
            "ours-too-many-connections-from-address",
            None,
            "kb-ours-too-many-connections-from-address",
            "kb-ours-too-many-connections-from-address-fix",
        ),
        R::TooManyErrors => ("ours-too-many-errors", None, "kb-ours-too-many-errors", CLIENT),
        R::CredentialNoLongerValid => (
            "ours-credential-no-longer-valid",
            Some(Check::SignIn),
            "kb-ours-credential-no-longer-valid",
            "kb-ours-credential-no-longer-valid-fix",
        ),
        R::HttpOnSmtpPort => {
            ("ours-http-on-smtp-port", None, "kb-ours-http-on-smtp-port", "kb-ours-http-on-smtp-port-fix")
        }
        R::ProxyNotTrusted => {
            ("ours-proxy-not-trusted", None, "kb-ours-proxy-not-trusted", "kb-ours-proxy-not-trusted-fix")
        }
        R::LegacyListenerCredential => (
            "ours-legacy-listener-credential",
            Some(Check::ListenerCredentials),
            "kb-ours-legacy-listener-credential",
            "kb-ours-legacy-listener-credential-fix",
        ),
        R::ListenerClientRefused => (
            "ours-listener-client-refused",
            None,
            "kb-ours-listener-client-refused",
            "kb-ours-listener-client-refused-fix",
        ),
    }
}

/// Entries of other providers: (id, provider, code, enhanced, words, layer).
type Row = (&'static str, Provider, Option<u16>, Option<&'static str>, &'static [&'static str], Option<Check>);

const OTHERS: &[Row] = {
    use Check as C;
    use Provider::*;
    &[
        // Microsoft 365 / Exchange Online (docs/provider-replies.md).
        ("m365-auth-unsuccessful", Microsoft365, Some(535), Some("5.7.3"), &[], Some(C::Credentials)),
        (
            "m365-bad-credentials",
            Microsoft365,
            Some(535),
            Some("5.7.139"),
            &["user credentials were incorrect"],
            Some(C::Credentials),
        ),
        (
            "m365-smtp-auth-disabled-tenant",
            Microsoft365,
            Some(535),
            Some("5.7.139"),
            &["SmtpClientAuthentication is disabled for the Tenant"],
            Some(C::AuthenticatedSmtp),
        ),
        (
            "m365-smtp-auth-disabled-mailbox",
            Microsoft365,
            Some(535),
            Some("5.7.139"),
            &["SmtpClientAuthentication is disabled for the Mailbox"],
            Some(C::AuthenticatedSmtp),
        ),
        (
            "m365-security-defaults",
            Microsoft365,
            Some(535),
            Some("5.7.139"),
            &["security defaults policy"],
            Some(C::SecurityDefaults),
        ),
        (
            "m365-criteria-not-met",
            Microsoft365,
            Some(535),
            Some("5.7.139"),
            &["did not meet the criteria"],
            Some(C::Mfa),
        ),
        (
            "m365-basic-auth-disabled",
            Microsoft365,
            Some(535),
            Some("5.7.139"),
            &["basic authentication is disabled"],
            None,
        ),
        ("m365-account-locked", Microsoft365, Some(535), Some("5.7.139"), &["account locked"], Some(C::Lockout)),
        (
            "m365-basic-auth-retired",
            Microsoft365,
            Some(550),
            Some("5.7.30"),
            &["Basic authentication is not supported"],
            None,
        ),
        ("m365-not-authenticated", Microsoft365, Some(530), Some("5.7.57"), &[], None),
        ("m365-starttls-required", Microsoft365, Some(451), Some("5.7.3"), &["STARTTLS"], Some(C::Tls)),
        ("m365-unrecognized-auth-type", Microsoft365, Some(504), Some("5.7.4"), &[], Some(C::Mechanism)),
        ("m365-tls-version", Microsoft365, Some(421), Some("4.7.66"), &[], Some(C::Tls)),
        ("m365-send-as-denied", Microsoft365, Some(550), Some("5.7.60"), &[], None),
        ("m365-send-as-denied-storedrv", Microsoft365, Some(554), None, &["SendAsDenied"], None),
        ("m365-ip-blocked", Microsoft365, Some(550), Some("5.7.708"), &[], None),
        ("m365-tenant-threshold", Microsoft365, Some(550), Some("5.7.705"), &[], None),
        ("m365-unregistered-domain", Microsoft365, Some(550), Some("5.7.750"), &[], None),
        ("m365-concurrency-limit", Microsoft365, Some(432), Some("4.3.2"), &[], None),
        ("m365-daily-quota", Microsoft365, Some(554), Some("5.2.0"), &["SubmissionQuotaExceeded"], None),
        ("m365-mailbox-full", Microsoft365, Some(554), Some("5.2.2"), &["mailbox full"], None),
        ("m365-max-submission", Microsoft365, None, None, &["MaxSubmissionExceeded"], None),
        ("m365-header-too-large", Microsoft365, Some(552), Some("5.3.4"), &["Header size exceeds"], None),
        ("m365-bad-outbound-sender", Microsoft365, Some(550), Some("5.1.8"), &[], None),
        ("m365-send-hello-first", Microsoft365, Some(503), Some("5.5.2"), &["Send hello first"], None),
        ("m365-unrecognized-command", Microsoft365, Some(500), Some("5.3.3"), &[], None),
        ("m365-invalid-xoauth2", Microsoft365, Some(501), Some("5.5.124"), &[], Some(C::Decoding)),
        // Gmail / Google Workspace.
        (
            "gmail-app-password-required",
            Gmail,
            Some(534),
            Some("5.7.9"),
            &["Application-specific password required"],
            Some(C::Mfa),
        ),
        (
            "gmail-bad-credentials",
            Gmail,
            Some(535),
            Some("5.7.8"),
            &["Username and Password not accepted"],
            Some(C::Credentials),
        ),
        ("gmail-web-login-required", Gmail, Some(534), Some("5.7.14"), &[], None),
        ("gmail-starttls-first", Gmail, Some(530), Some("5.7.0"), &["STARTTLS"], Some(C::Tls)),
        ("gmail-too-many-logins", Gmail, Some(454), Some("4.7.0"), &["Too many login attempts"], Some(C::ClientBudget)),
        ("gmail-daily-limit", Gmail, Some(550), Some("5.4.5"), &[], None),
        ("gmail-message-too-large", Gmail, Some(552), Some("5.3.4"), &["Google"], None),
        // Generic RFC 4954 / 3207 / 5321 meanings.
        ("generic-auth-required", Generic, Some(530), Some("5.7.0"), &[], None),
        ("generic-mechanism-too-weak", Generic, Some(534), Some("5.7.9"), &[], None),
        ("generic-credentials-invalid", Generic, Some(535), Some("5.7.8"), &[], Some(C::Credentials)),
        ("generic-encryption-required", Generic, Some(538), Some("5.7.11"), &[], Some(C::Tls)),
        ("generic-temporary-auth-failure", Generic, Some(454), Some("4.7.0"), &[], None),
        ("generic-unrecognized-mechanism", Generic, Some(504), Some("5.5.4"), &[], Some(C::Mechanism)),
        ("generic-unrecognized-mechanism", Generic, Some(504), Some("5.7.4"), &[], Some(C::Mechanism)),
        ("generic-message-too-big", Generic, Some(552), Some("5.3.4"), &[], None),
        ("generic-too-many-recipients", Generic, Some(452), Some("4.5.3"), &[], None),
        ("generic-closing", Generic, Some(421), None, &[], None),
    ]
};

/// Message id of an entry that is not ours: `kb-<id>` and `kb-<id>-fix`.
fn other_ids(id: &'static str) -> (&'static str, &'static str) {
    // Leaked once per entry at first use (the table is built once): ids stay `&'static str`.
    let means: &'static str = Box::leak(format!("kb-{id}").into_boxed_str());
    let fix: &'static str = Box::leak(format!("kb-{id}-fix").into_boxed_str());
    (means, fix)
}

/// The whole knowledge base: ours first (catalogue order), then the other providers'.
pub fn entries() -> &'static [Entry] {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        let mut all = Vec::new();
        for &reply in ReplyId::ALL {
            let (id, layer, means, fix) = ours_row(reply);
            let (code, enhanced, template) = reply.row();
            let words = template.split("{}").map(str::trim).filter(|w| !w.is_empty()).collect();
            all.push(Entry {
                id,
                provider: Provider::Authrelay,
                code: Some(code),
                enhanced: (!enhanced.is_empty()).then_some(enhanced),
                words,
                reply: Some(reply),
                layer,
                means,
                fix,
            });
        }
        for &(id, provider, code, enhanced, words, layer) in OTHERS {
            let (means, fix) = other_ids(id);
            all.push(Entry { id, provider, code, enhanced, words: words.to_vec(), reply: None, layer, means, fix });
        }
        all
    })
}

/// The entry explaining one catalogue reply of ours.
pub fn entry_for(reply: ReplyId) -> &'static Entry {
    entries().iter().find(|e| e.reply == Some(reply)).expect("every catalogue reply has an entry")
}

/// A reply as a client logged it, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParsedReply {
    pub code: Option<u16>,
    pub enhanced: Option<String>,
    /// The text of every line joined by a space, without codes and without the trailer.
    pub text: String,
    /// Microsoft's trailing `[HOST timestamp id]`, when present.
    pub trailer: Option<String>,
}

fn is_enhanced(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..].iter().all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Splits `250-…` / `250 …` lines (or one line with no basic code, as some logs show them).
pub fn parse(reply: &str) -> ParsedReply {
    let mut code = None;
    let mut enhanced: Option<String> = None;
    let mut texts = Vec::new();
    for line in reply.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut rest = line;
        let b = line.as_bytes();
        if b.len() >= 3 && b[..3].iter().all(u8::is_ascii_digit) && (b.len() == 3 || b[3] == b' ' || b[3] == b'-') {
            code = code.or_else(|| line[..3].parse().ok());
            rest = line.get(4..).unwrap_or("").trim_start();
        }
        let first = rest.split_whitespace().next().unwrap_or("");
        // "5.7.60 SMTP; Client does not…": a logged form with a trailing semicolon-free code.
        let candidate = first.trim_end_matches([';', ',']);
        if is_enhanced(candidate) {
            enhanced.get_or_insert_with(|| candidate.to_string());
            rest = rest[first.len()..].trim_start();
        }
        texts.push(rest.to_string());
    }
    let mut text = texts.join(" ").trim().to_string();
    let mut trailer = None;
    if text.ends_with(']') {
        if let Some(open) = text.rfind('[') {
            let inside = &text[open + 1..text.len() - 1];
            if inside.contains('.') {
                trailer = Some(inside.to_string());
                text = text[..open].trim_end().to_string();
            }
        }
    }
    ParsedReply { code, enhanced, text, trailer }
}

fn matches(entry: &Entry, reply: &ParsedReply) -> Option<usize> {
    if let (Some(want), Some(got)) = (entry.code, reply.code) {
        if want != got {
            return None;
        }
    }
    if entry.code.is_some() && reply.code.is_none() && reply.enhanced.is_none() {
        return None;
    }
    if let Some(want) = entry.enhanced {
        if reply.enhanced.as_deref() != Some(want) {
            return None;
        }
    }
    let text = reply.text.to_ascii_lowercase();
    let mut score = 1;
    for word in &entry.words {
        if !text.contains(&word.to_ascii_lowercase()) {
            return None;
        }
        score += word.len();
    }
    Some(score)
}

/// The provider a reply betrays by itself.
fn provider_of(reply: &ParsedReply) -> Option<Provider> {
    let all = format!("{} {}", reply.text, reply.trailer.as_deref().unwrap_or("")).to_ascii_lowercase();
    if ["outlook.com", "aka.ms", "storedrv", "prod.outlook"].iter().any(|w| all.contains(w)) {
        return Some(Provider::Microsoft365);
    }
    if all.contains("gsmtp") || all.contains("google.com") {
        return Some(Provider::Gmail);
    }
    // Exactly one of our catalogue texts, with no trailer: our own server.
    if reply.trailer.is_none() {
        let exact = entries().iter().filter(|e| e.provider == Provider::Authrelay).any(|e| {
            let r = e.reply.expect("ours");
            let (code, enh, template) = r.row();
            !template.contains("{}")
                && reply.code == Some(code)
                && reply.enhanced.as_deref().unwrap_or("") == enh
                && reply.text == template
        });
        if exact {
            return Some(Provider::Authrelay);
        }
    }
    None
}

/// The explanation of one reply: which entry, and its texts in a language.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Explanation {
    pub entry: &'static str,
    pub provider: Provider,
    pub layer: Option<&'static str>,
    pub means: String,
    pub fix: String,
}

/// Who the fix is for: the mailbox and organisation, when the caller knows them.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub user: Option<String>,
    pub org: Option<String>,
}

/// Finds the entry for a reply. `hint` is the provider the caller believes it talks to; without
/// it the reply's own clues decide. Generic entries are used only when nothing specific matches.
/// `None` means the reply is unknown: callers must say so, not guess.
pub fn lookup(reply: &str, hint: Option<Provider>) -> Option<&'static Entry> {
    let parsed = parse(reply);
    if parsed.code.is_none() && parsed.enhanced.is_none() {
        return None;
    }
    let candidates: Vec<(&'static Entry, usize)> =
        entries().iter().filter_map(|e| matches(e, &parsed).map(|s| (e, s))).collect();
    let best = |pred: &dyn Fn(&Entry) -> bool| {
        candidates
            .iter()
            .filter(|(e, _)| pred(e))
            // Highest score; on a tie the earlier table row.
            .fold(None::<(&'static Entry, usize)>, |acc, &(e, s)| match acc {
                Some((_, best)) if best >= s => acc,
                _ => Some((e, s)),
            })
            .map(|(e, _)| e)
    };
    // The caller's hint (the banner) outranks clues in the text: Microsoft also sends our exact
    // wording without a trailer.
    let provider = hint.or_else(|| provider_of(&parsed));
    if let Some(p) = provider {
        if let Some(e) = best(&|e: &Entry| e.provider == p) {
            return Some(e);
        }
    }
    best(&|e: &Entry| e.provider != Provider::Generic).or_else(|| best(&|e: &Entry| e.provider == Provider::Generic))
}

/// Microsoft's entry for a reply that is word for word one of ours: authrelay copies Microsoft's
/// wording (docs/behaviour.md), so a pasted line without its server is Microsoft's as often as
/// ours. `None` when the reply is not such a twin.
pub fn microsoft_twin(reply: &str) -> Option<&'static Entry> {
    let parsed = parse(reply);
    if provider_of(&parsed) != Some(Provider::Authrelay) {
        return None;
    }
    entries()
        .iter()
        .filter(|e| e.provider == Provider::Microsoft365)
        .filter_map(|e| matches(e, &parsed).map(|s| (e, s)))
        .fold(None::<(&'static Entry, usize)>, |acc, (e, s)| match acc {
            Some((_, best)) if best >= s => acc,
            _ => Some((e, s)),
        })
        .map(|(e, _)| e)
}

/// [`lookup`] and render the entry's texts in `lang`.
pub fn explain(reply: &str, hint: Option<Provider>, ctx: &Context, lang: Lang) -> Option<Explanation> {
    lookup(reply, hint).map(|e| render(e, ctx, lang))
}

pub fn render(e: &'static Entry, ctx: &Context, lang: Lang) -> Explanation {
    let user = ctx.user.clone().unwrap_or_else(|| "ADDRESS".into());
    let org = ctx.org.clone().unwrap_or_else(|| "ORG".into());
    let text = |id: &'static str| Text::new(id).arg("user", &user).arg("org", &org).render(lang);
    Explanation {
        entry: e.id,
        provider: e.provider,
        layer: e.layer.map(Check::as_str),
        means: text(e.means),
        fix: text(e.fix),
    }
}

#[cfg(test)]
mod tests {
    /// The knowledge base and the policy agree: every catalogue reply the knowledge base places
    /// at a step of the AUTH decision order is a row of the policy table with that very check
    /// (so `decide` is the only producer of an AUTH refusal), and every refusal of the table is
    /// explained at its check. The two exceptions are replies the policy does not decide: the
    /// MAIL-stage "STARTTLS first" and the client's own `*` cancelling an exchange.
    #[test]
    fn every_auth_refusal_reply_is_a_row_of_the_policy_table() {
        use authrelay_policy::TABLE;
        // CredentialNoLongerValid closes an already authenticated session whose credential was
        // revoked (checked at MAIL), so it is no answer to AUTH.
        let not_decided = [ReplyId::MailBeforeTls, ReplyId::AuthCancelled, ReplyId::CredentialNoLongerValid];
        let mut auth_replies = 0;
        for &r in ReplyId::ALL {
            let (_, layer, _, _) = ours_row(r);
            let Some(check) = layer else { continue };
            if not_decided.contains(&r) {
                assert!(!TABLE.iter().any(|(_, t)| *t == r), "{r:?} is decided after all");
                continue;
            }
            auth_replies += 1;
            assert!(TABLE.contains(&(check, r)), "{r:?} at {check:?} is not a row of the policy table");
        }
        for (check, r) in TABLE {
            if r.code() < 400 && *r != ReplyId::AuthOk {
                continue; // a connector's accepted sender: no failure to explain
            }
            assert_eq!(ours_row(*r).1, Some(*check), "{r:?}");
        }
        assert_eq!(auth_replies, TABLE.len() - 1, "every row but the connector's 250 is explained");
    }

    use super::*;

    #[test]
    fn parses_codes_enhanced_codes_and_the_trailer() {
        let p = parse("535 5.7.3 Authentication unsuccessful [SGXP274CA0016.SGPP274.PROD.OUTLOOK.COM 2025-03-20T11:25:21.972Z 08DD66EDEFB0DFDF]");
        assert_eq!(p.code, Some(535));
        assert_eq!(p.enhanced.as_deref(), Some("5.7.3"));
        assert_eq!(p.text, "Authentication unsuccessful");
        assert!(p.trailer.unwrap().starts_with("SGXP274CA0016"));
        let p = parse("5.7.60 SMTP; Client does not have permissions to send as this sender.");
        assert_eq!((p.code, p.enhanced.as_deref()), (None, Some("5.7.60")));
        let p = parse("534-5.7.9 Application-specific password required. Learn more at\r\n534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor d2-20020a05 - gsmtp");
        assert_eq!(p.code, Some(534));
        assert!(p.text.contains("Learn more at https://support.google.com"), "{}", p.text);
        // Not a reply at all.
        assert!(lookup("hello world", None).is_none());
    }

    #[test]
    fn every_catalogue_reply_has_an_entry_that_recognises_it() {
        for &id in ReplyId::ALL {
            let entry = entry_for(id);
            let values = ["mx.example.net", "client", "1000"];
            let wire = id.with(&values[..id.placeholders()]).to_wire();
            let found = lookup(&wire, Some(Provider::Authrelay)).unwrap_or_else(|| panic!("{id:?}: {wire} unknown"));
            assert_eq!(found.id, entry.id, "{id:?}: {wire}");
        }
    }

    #[test]
    fn every_entry_is_explained_in_all_three_languages() {
        let catalogues: Vec<(Lang, Vec<String>)> =
            Lang::ALL.iter().map(|&l| (l, authrelay_i18n::message_ids(l))).collect();
        for e in entries() {
            for (lang, ids) in &catalogues {
                for id in [e.means, e.fix] {
                    assert!(ids.iter().any(|m| m == id), "{}: {id} missing in {}", e.id, lang.tag());
                }
                let x = render(e, &Context { user: Some("a@b.c".into()), org: Some("B".into()) }, *lang);
                assert!(!x.means.trim().is_empty() && !x.fix.trim().is_empty(), "{}", e.id);
                assert!(!x.means.contains("{ $") && !x.fix.contains("{ $"), "{}", e.id);
            }
        }
    }

    #[test]
    fn our_entries_name_the_layer_of_the_decision_order() {
        use ReplyId as R;
        for (reply, layer) in [
            (R::SmtpAuthDisabledTenant, "authenticated-smtp"),
            (R::SmtpAuthDisabledMailbox, "authenticated-smtp"),
            (R::SecurityDefaults, "security-defaults"),
            (R::MfaRequired, "mfa"),
            (R::SignInBlocked, "sign-in"),
            (R::BadCredentials, "credentials"),
            (R::AccountLocked, "lockout"),
            (R::AuthBeforeTls, "tls"),
        ] {
            let x = explain(&reply.reply().to_string(), None, &Context::default(), Lang::En).unwrap();
            assert_eq!(x.provider, Provider::Authrelay, "{reply:?}");
            assert_eq!(x.layer, Some(layer), "{reply:?}");
        }
    }

    #[test]
    fn provider_clues_pick_the_provider() {
        let tenant = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [MN2PR05CA0004.namprd05.prod.outlook.com 2023-09-12T20:59:57.214Z 08DBB276B7E699C4]";
        assert_eq!(lookup(tenant, None).unwrap().id, "m365-smtp-auth-disabled-tenant");
        // Our exact text, no trailer: ours, unless the caller knows it talks to Microsoft.
        let ours = ReplyId::SmtpAuthDisabledTenant.reply().to_string();
        assert_eq!(lookup(&ours, None).unwrap().id, "ours-smtp-auth-disabled-tenant");
        assert_eq!(lookup(&ours, Some(Provider::Microsoft365)).unwrap().id, "m365-smtp-auth-disabled-tenant");
        // Our text is Microsoft's word for word: the twin is Microsoft's entry for it.
        assert_eq!(microsoft_twin(&ours).unwrap().id, "m365-smtp-auth-disabled-tenant");
        assert!(microsoft_twin(tenant).is_none(), "already Microsoft's by its trailer");
        assert!(microsoft_twin(&ReplyId::Queued.with(&["ABC"]).to_wire()).is_none(), "no Microsoft twin");
        let ms_short = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox";
        assert_eq!(lookup(ms_short, Some(Provider::Microsoft365)).unwrap().id, "m365-smtp-auth-disabled-mailbox");
        assert_eq!(
            lookup("530 5.7.0 Must issue a STARTTLS command first. d2sm - gsmtp", None).unwrap().id,
            "gmail-starttls-first"
        );
        assert_eq!(lookup("530 5.7.0 Authentication required", None).unwrap().id, "generic-auth-required");
        // Known code, unknown meaning: not guessed.
        assert!(lookup("550 5.9.99 Something nobody has seen", None).is_none());
        assert!(lookup("299 whatever", None).is_none());
    }
}
