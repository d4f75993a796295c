//! The reply catalogue: every SMTP reply authrelay can send, in one table.
//!
//! Rows marked *spec* are the contract of docs/behaviour.md ("The replies that matter to an
//! admin") and must not change wording: admins search for these texts and the troubleshooter
//! keys on them. A `{}` in a text is filled in, in order, by [`ReplyId::with`].

use std::fmt;

macro_rules! catalogue {
    ($($(#[$meta:meta])* $id:ident => ($code:literal, $enhanced:literal, $text:literal)),+ $(,)?) => {
        /// Names every reply the server can send. `as_str()` is the id used in the sign-in log.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum ReplyId { $($(#[$meta])* $id),+ }

        impl ReplyId {
            pub const ALL: &'static [ReplyId] = &[$(ReplyId::$id),+];

            /// (basic code, enhanced status code or "", text template)
            pub fn row(self) -> (u16, &'static str, &'static str) {
                match self { $(ReplyId::$id => ($code, $enhanced, $text)),+ }
            }

            pub fn as_str(self) -> &'static str {
                match self { $(ReplyId::$id => stringify!($id)),+ }
            }

            pub fn from_name(name: &str) -> Option<ReplyId> {
                match name { $(stringify!($id) => Some(ReplyId::$id),)+ _ => None }
            }
        }
    };
}

catalogue! {
    // --- spec §3: AUTH ---------------------------------------------------------------------
    /// *spec* credentials accepted
    AuthOk => (235, "2.7.0", "Authentication successful"),
    /// *spec* AUTH on a connection without TLS
    AuthBeforeTls => (538, "5.7.11", "Encryption required for requested authentication mechanism"),
    /// *spec* MAIL on the submission port before STARTTLS
    MailBeforeTls => (530, "5.7.0", "Must issue a STARTTLS command first"),
    /// *spec* AUTH with a mechanism we do not offer
    UnknownMechanism => (504, "5.7.4", "Unrecognized authentication type"),
    /// *spec* bad base64 or malformed SASL response
    AuthMalformed => (501, "5.5.2", "Cannot decode response"),
    /// *spec* client sent `*`
    AuthCancelled => (501, "5.0.0", "Authentication cancelled"),
    /// *spec* unknown user, wrong password, revoked app password: one reply for all
    BadCredentials => (535, "5.7.139", "Authentication unsuccessful, the user credentials were incorrect."),
    /// *spec* the user's sign-in is blocked
    SignInBlocked => (535, "5.7.139", "Authentication unsuccessful, the user account is disabled."),
    /// *spec* effective Authenticated SMTP is off because of the organisation setting
    SmtpAuthDisabledTenant => (535, "5.7.139", "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."),
    /// *spec* effective Authenticated SMTP is off because the mailbox says disabled
    SmtpAuthDisabledMailbox => (535, "5.7.139", "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox."),
    /// *spec* security defaults on and a password or app password was used
    SecurityDefaults => (535, "5.7.139", "Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator."),
    /// *spec* MFA on and the account password used, or an app password while the org blocks them
    MfaRequired => (535, "5.7.139", "Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator."),
    /// *spec* smart lockout
    AccountLocked => (535, "5.7.139", "Authentication unsuccessful, account locked."),
    /// *spec* the directory could not be read
    AuthTempFail => (454, "4.7.0", "Temporary authentication failure"),
    /// *spec* too many failures on this connection; the session closes after it
    AuthTooMany => (421, "4.7.0", "Too many failed authentication attempts; closing connection"),
    /// the client's address used up its failure budget across connections; the session closes
    AddressThrottled => (421, "4.7.0", "Too many failed authentication attempts from your address; try again later"),

    // --- device credentials and OAuth (issue 7) ----------------------------------------------
    /// a valid device credential used from a client address outside its allow list
    DeviceCredentialAddress => (535, "5.7.139", "Authentication unsuccessful, this device credential is not allowed from your address."),
    /// a valid device credential past its expiry date
    DeviceCredentialExpired => (535, "5.7.139", "Authentication unsuccessful, this device credential has expired."),
    /// a valid device credential while the organisation blocks device credentials
    DeviceCredentialsBlocked => (535, "5.7.139", "Authentication unsuccessful, device credentials are blocked by your organization. Contact your administrator."),
    /// an OAuth bearer token with a bad signature, issuer or audience, or no usable user claim
    OAuthTokenInvalid => (535, "5.7.139", "Authentication unsuccessful, the OAuth token is not valid for this server."),
    /// an OAuth bearer token past its expiry (`exp`)
    OAuthTokenExpired => (535, "5.7.139", "Authentication unsuccessful, the OAuth token has expired."),
    /// a valid credential of a kind this legacy listener (weak or no TLS, `[[listeners]]
    /// credentials`) does not accept: an account or app password must not cross such a path
    LegacyListenerCredential => (535, "5.7.139", "Authentication unsuccessful, this port has weak or no encryption and accepts only device credentials. Create a device credential for this device (authrelay device-credential add), or use the standard submission port with TLS 1.2 or later."),
    /// unauthenticated MAIL from a connector's address with a sender domain the connector does not allow
    ConnectorSenderDenied => (550, "5.7.64", "TenantAttribution; Relay Access Denied"),

    // --- spec §3: sending -------------------------------------------------------------------
    /// *spec* MAIL without a successful AUTH
    NotAuthenticated => (530, "5.7.57", "Client not authenticated to send mail."),
    /// *spec* MAIL FROM or header From/Sender is not an address this mailbox may send as
    SendAsDenied => (550, "5.7.60", "Client does not have permissions to send as this sender."),
    /// *spec* too many concurrent authenticated sessions of one mailbox
    ConcurrencyLimit => (432, "4.3.2", "Concurrent connections limit exceeded."),
    /// *spec* rolling 24 h recipient quota
    DailyRecipientQuota => (554, "5.2.0", "Submission quota exceeded: daily recipient limit reached."),
    /// *spec* more RCPT than allowed in one message
    TooManyRecipients => (452, "4.5.3", "Too many recipients"),
    /// *spec* over the size limit
    MessageTooBig => (552, "5.3.4", "Message size exceeds fixed maximum message size"),
    /// *spec* command line over 512 octets (RFC 5321 4.5.3.1.4)
    LineTooLong => (500, "5.5.2", "Line too long"),
    /// *spec* bare CR or LF inside DATA (SMTP smuggling defence)
    BareLineEnding => (550, "5.6.0", "Message contains bare CR or LF; lines must end with CRLF"),
    /// a NUL byte inside DATA: not allowed in SMTP content (RFC 5321 2.3.8), and a next hop that
    /// drops it could read `<CRLF>NUL.<CRLF>` as the end of the message (SMTP smuggling)
    NulInMessage => (550, "5.6.0", "Message contains a NUL byte, which SMTP does not allow"),
    /// a header section readers could split differently, a repeated From or Sender, or a sender
    /// field without a readable address (docs: README "Security")
    HeaderSectionMalformed => (554, "5.6.0", "Message header section is malformed: every header line needs a name and a colon, and From and Sender may appear once each with a readable address"),
    /// *spec* message stored durably
    Queued => (250, "2.0.0", "OK queued as {}"),

    // --- session mechanics --------------------------------------------------------------------
    /// greeting; {} is the server's host name
    Greeting => (220, "", "{} authrelay ESMTP ready"),
    /// reply to HELO, and the first line of the EHLO reply; {} host, {} client's name
    Hello => (250, "", "{} Hello {}"),
    /// QUIT
    Closing => (221, "2.0.0", "Bye"),
    /// RSET, NOOP
    Ok => (250, "2.0.0", "OK"),
    /// MAIL accepted
    SenderOk => (250, "2.1.0", "Sender OK"),
    /// RCPT accepted
    RecipientOk => (250, "2.1.5", "Recipient OK"),
    /// DATA accepted, send the message
    StartData => (354, "", "Start mail input; end with <CRLF>.<CRLF>"),
    /// STARTTLS accepted
    StartTlsReady => (220, "2.0.0", "Ready to start TLS"),
    /// SASL challenge; {} is the base64 challenge (may be empty)
    AuthChallenge => (334, "", "{}"),
    /// VRFY is answered without revealing whether the mailbox exists (RFC 5321 3.5.3)
    CannotVerify => (252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"),
    /// HELP
    Help => (214, "2.0.0", "authrelay accepts EHLO HELO STARTTLS AUTH MAIL RCPT DATA RSET NOOP VRFY HELP QUIT; see the admin guide for SMTP AUTH troubleshooting"),
    /// a verb we do not know
    UnknownCommand => (500, "5.5.1", "Unrecognized command"),
    /// a verb we know but do not implement (TURN, ETRN, EXPN, BDAT…)
    NotImplemented => (502, "5.5.1", "Command not implemented"),
    /// arguments of a known verb do not parse
    SyntaxError => (501, "5.5.4", "Syntax error in parameters or arguments"),
    /// MAIL FROM address does not parse
    BadSenderAddress => (501, "5.1.7", "Bad sender address syntax"),
    /// RCPT TO address does not parse
    BadRecipientAddress => (501, "5.1.3", "Bad recipient address syntax"),
    /// RCPT to a domain we host, for a mailbox that does not exist (refused now, not bounced later)
    UnknownLocalRecipient => (550, "5.1.1", "Recipient address rejected: no such mailbox here"),
    /// RCPT to a domain we host while the directory cannot be read
    RecipientLookupFailed => (451, "4.3.0", "Temporary failure looking up the recipient; please try again later"),
    /// a MAIL or RCPT parameter we do not support (RFC 5321 4.1.1.11)
    UnsupportedParameter => (555, "5.5.4", "Unsupported MAIL or RCPT parameter"),
    /// a command before EHLO/HELO
    HelloFirst => (503, "5.5.2", "Send hello first"),
    /// RCPT without MAIL
    NeedMail => (503, "5.5.1", "Need MAIL command first"),
    /// DATA without RCPT
    NeedRecipient => (503, "5.5.1", "Need RCPT command first"),
    /// MAIL inside a transaction
    NestedMail => (503, "5.5.1", "Sender already given; use RSET to start over"),
    /// AUTH after a successful AUTH
    AlreadyAuthenticated => (503, "5.5.1", "Already authenticated"),
    /// AUTH during a mail transaction
    AuthInTransaction => (503, "5.5.1", "AUTH not allowed during a mail transaction"),
    /// STARTTLS when TLS is already active
    TlsAlreadyActive => (503, "5.5.1", "TLS already active"),
    /// STARTTLS with arguments, or pipelined data after STARTTLS
    StartTlsSyntax => (501, "5.5.4", "STARTTLS takes no parameters and must be the last command in its group"),
    /// SMTPUTF8 address without the SMTPUTF8 parameter (RFC 6531 3.4)
    Utf8NeedsSmtpUtf8 => (553, "5.6.7", "Non-ASCII address requires the SMTPUTF8 parameter"),
    /// a DATA line over the configured limit; {} is the limit in octets
    DataLineTooLong => (552, "5.3.4", "Message line exceeds {} octets"),
    /// the header section is over the configured limit
    HeaderTooBig => (552, "5.3.4", "Header size exceeds fixed maximum size"),
    /// the data directory's file system is full (ENOSPC, EDQUOT); nothing was kept
    StorageFull => (452, "4.3.1", "Insufficient system storage; nothing was kept, please try again later"),
    /// the message could not be stored; nothing was kept
    QueueWriteFailed => (451, "4.3.0", "Could not store the message; nothing was kept, please try again later"),
    /// the session was idle too long (RFC 5321 4.5.3.2)
    IdleTimeout => (421, "4.4.2", "Idle timeout; closing connection"),
    /// the server is stopping
    ShuttingDown => (421, "4.3.2", "Service shutting down; please try again later"),
    /// the global connection cap is reached
    TooManyConnections => (421, "4.7.0", "Too many connections; please try again later"),
    /// one client address holds too many connections, or opens them too fast
    TooManyConnectionsFromAddress => (421, "4.7.0", "Too many connections from your address; please try again later"),
    /// too many protocol errors in one session
    TooManyErrors => (421, "4.7.0", "Too many errors; closing connection"),
    /// the credential an open session signed in with was revoked, replaced or blocked since
    CredentialNoLongerValid => (421, "4.7.0", "The credential this session signed in with is no longer valid; closing connection"),
    /// an HTTP request arrived on an SMTP port (cross-protocol attack or a misconfigured tool)
    HttpOnSmtpPort => (421, "4.7.0", "This is an SMTP server, not a web server; closing connection"),
    /// a connection to a legacy listener (`[[listeners]]`) from an address outside its `clients`
    /// and its connectors' ranges: refused before the greeting (RFC 5321 3.1)
    ListenerClientRefused => (554, "5.7.1", "This port serves only the devices its administrator listed; your address is not one of them"),
    /// A PROXY protocol header from an address not in `listen.trusted_proxies`: it would name
    /// any client address it liked.
    ProxyNotTrusted => (421, "4.7.0", "PROXY protocol header not accepted from your address; closing connection"),
}

/// One rendered reply, ready for the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub id: ReplyId,
    pub code: u16,
    pub enhanced: &'static str,
    /// One or more lines of text, without codes and without CRLF.
    pub lines: Vec<String>,
}

impl ReplyId {
    /// How many `{}` values the row's text takes.
    pub fn placeholders(self) -> usize {
        self.row().2.matches("{}").count()
    }

    /// The reply of a row that takes no value. A row that takes one must go through
    /// [`ReplyId::with`]: no reply on the wire may carry a `{}` (the test
    /// `no_reply_on_the_wire_carries_a_placeholder` walks the callers).
    pub fn reply(self) -> Reply {
        self.with(&[])
    }

    /// The reply with each `{}` replaced by the next argument. A missing value is a caller bug:
    /// debug builds (every test) panic; a release build says "-" rather than send the braces.
    pub fn with(self, args: &[&str]) -> Reply {
        debug_assert_eq!(args.len(), self.placeholders(), "{self:?} takes {} value(s)", self.placeholders());
        let (code, enhanced, template) = self.row();
        let mut text = String::with_capacity(template.len() + 32);
        let mut args = args.iter();
        let mut rest = template;
        while let Some(pos) = rest.find("{}") {
            text.push_str(&rest[..pos]);
            match args.next() {
                Some(arg) => text.push_str(arg),
                None => text.push('-'),
            }
            rest = &rest[pos + 2..];
        }
        text.push_str(rest);
        Reply { id: self, code, enhanced, lines: vec![text] }
    }

    pub fn code(self) -> u16 {
        self.row().0
    }

    /// Whether the session must close the connection after sending this reply.
    pub fn closes_connection(self) -> bool {
        self.code() == 421 || self == ReplyId::Closing
    }
}

impl Reply {
    /// Adds continuation lines (EHLO keywords, HELP text).
    pub fn with_lines(mut self, more: impl IntoIterator<Item = String>) -> Reply {
        self.lines.extend(more);
        self
    }

    /// Wire form: `code-enh text` continuation lines and a final `code enh text`, each CRLF.
    /// Multi-line replies repeat the enhanced code on every line (RFC 2034 §3) except EHLO
    /// keyword lines, which have none.
    pub fn to_wire(&self) -> String {
        let mut out = String::new();
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            out.push_str(&self.code.to_string());
            out.push(sep);
            if !self.enhanced.is_empty() {
                out.push_str(self.enhanced);
                out.push(' ');
            }
            out.push_str(line);
            out.push_str("\r\n");
        }
        out
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.to_wire().trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_rows_have_exact_wire_text() {
        // A few rows the seed quotes; a change to these breaks admins' searches.
        assert_eq!(ReplyId::NotAuthenticated.reply().to_string(), "530 5.7.57 Client not authenticated to send mail.");
        assert_eq!(
            ReplyId::SmtpAuthDisabledTenant.reply().to_string(),
            "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."
        );
        assert_eq!(ReplyId::Queued.with(&["ABC"]).to_wire(), "250 2.0.0 OK queued as ABC\r\n");
    }

    #[test]
    fn multi_line_replies_use_hyphen_continuations() {
        let r = ReplyId::Hello.with(&["mx", "client"]).with_lines(["PIPELINING".to_string(), "SIZE 10".to_string()]);
        assert_eq!(r.to_wire(), "250-mx Hello client\r\n250-PIPELINING\r\n250 SIZE 10\r\n");
    }

    #[test]
    fn every_row_that_takes_a_value_is_filled() {
        let mut templated = 0;
        for id in ReplyId::ALL {
            let n = id.placeholders();
            if n == 0 {
                assert!(!id.reply().to_wire().contains("{}"), "{id:?}");
                continue;
            }
            templated += 1;
            let args: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let wire = id.with(&refs).to_wire();
            assert!(!wire.contains("{}") && refs.iter().all(|a| wire.contains(a)), "{id:?}: {wire}");
            // Too few values is refused (debug builds; tests run those).
            assert!(std::panic::catch_unwind(|| id.reply()).is_err(), "{id:?}.reply() must not pass");
        }
        assert!(templated >= 5, "the rows with values are walked");
    }

    /// Every use of a row that takes a value, anywhere in the workspace's sources, fills it:
    /// `ReplyId::Row` is followed by `.with(`. (Issue 12: `552 5.3.4 Message line exceeds {}
    /// octets` reached the wire through a mapping that returned the bare id.)
    #[test]
    fn no_reply_on_the_wire_carries_a_placeholder() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = vec![];
        for krate in std::fs::read_dir(&crates).unwrap().flatten() {
            if krate.path().join("src").is_dir() {
                walk(&krate.path().join("src"), &mut files);
            }
        }
        assert!(files.len() > 50, "walked {} files", files.len());
        let templated: Vec<&ReplyId> = ReplyId::ALL.iter().filter(|id| id.placeholders() > 0).collect();
        let mut bad = vec![];
        // Test modules (`tests.rs`) name rows to compare replies with; they send none.
        let sends = |f: &&std::path::PathBuf| !f.ends_with("core/src/reply.rs") && !f.ends_with("tests.rs");
        for file in files.iter().filter(sends) {
            let text = std::fs::read_to_string(file).unwrap();
            for id in &templated {
                let needle = format!("ReplyId::{}", id.as_str());
                for (pos, _) in text.match_indices(&needle) {
                    let after = &text[pos + needle.len()..];
                    let next = after.chars().next().unwrap_or(' ');
                    if next.is_alphanumeric() || next == '_' {
                        continue; // a longer name
                    }
                    if !after.trim_start().starts_with(".with(") {
                        bad.push(format!("{}: {needle}", file.display()));
                    }
                }
            }
        }
        assert!(bad.is_empty(), "rows that take a value used without .with(): {bad:#?}");
    }

    #[test]
    fn every_row_is_well_formed() {
        for id in ReplyId::ALL {
            let (code, enhanced, text) = id.row();
            assert!((200..600).contains(&code), "{id:?}");
            if !enhanced.is_empty() {
                let class = enhanced.chars().next().unwrap();
                assert_eq!(class.to_digit(10).unwrap() as u16, code / 100, "{id:?}: class of {enhanced} vs {code}");
            }
            assert!(!text.is_empty() && !text.contains('\r') && !text.contains('\n'));
            assert_eq!(ReplyId::from_name(id.as_str()), Some(*id));
        }
    }
}
