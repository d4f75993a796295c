//! One problem found in the configuration: the key and what is wrong with it.

/// One problem found in the configuration; `key` names where, `message` what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

/// Every problem text the configuration checks write, as a template (`{a}`, `{b}`, `{c}` stand
/// for the parts that vary), with the catalogue message that says it in the reader's language
/// (`crates/i18n/locales/*/cli.ftl`, `config-problem-…`). The English texts stay here, next to
/// the checks; a test keeps every text the checks can write matched by a row.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("must be greater than 0", "config-problem-positive"),
    ("must be greater than 0 (30 is Microsoft's limit)", "config-problem-positive-rate"),
    ("must be between {a} and {b}", "config-problem-between"),
    ("must be at least 998 (RFC 5322 2.1.1 allows lines of 998 characters)", "config-problem-line-length"),
    ("must be at least lockout.duration_secs", "config-problem-lockout-max"),
    ("must be at most 256 (each running verification holds 19 MiB)", "config-problem-verify-workers"),
    ("must be at most 36500 (100 years)", "config-problem-retention"),
    ("must be at least 1 (1: a new connection per message)", "config-problem-messages-per-connection"),
    ("no file at {a}", "config-problem-no-file"),
    ("cannot read the file: {a}", "config-problem-cannot-read-file"),
    ("cannot read {a}: {b}", "config-problem-cannot-read"),
    ("'{a}' is not a domain", "config-problem-not-domain"),
    ("'{a}' is not a valid host name", "config-problem-not-host-name"),
    ("'{a}' is not a host name such as admin.contoso.com (no port, no scheme)", "config-problem-admin-host"),
    ("'{a}' is not an address:port such as 127.0.0.1:2587 (use \"\" to turn it off)", "config-problem-listen"),
    (
        "'{a}' is not an address:port such as 127.0.0.1:8025 (use \"\" to turn the admin center off)",
        "config-problem-admin-listen",
    ),
    ("'{a}' trusts every address; list the load balancers' addresses", "config-problem-proxy-everyone"),
    ("'{a}': {b}; write an address or a CIDR such as \"10.0.0.5/32\"", "config-problem-cidr"),
    (
        "'{a}' admits every address, which would make an open relay; list the devices' addresses",
        "config-problem-open-relay",
    ),
    ("'{a}' is not an IP address or address:port", "config-problem-nameserver"),
    ("'{a}' is not a route kind; use \"smarthost\", \"graph\" or \"mx\"", "config-problem-route-kinds"),
    ("a graph route takes preset = \"microsoft365\" or none, not '{a}'", "config-problem-graph-preset"),
    (
        "a graph route signs in with OAuth only and takes no host, port, tls or password",
        "config-problem-graph-keys",
    ),
    ("save_to_sent_items and graph_url belong to kind = \"graph\" routes", "config-problem-graph-only"),
    ("must be \"off\", \"envelope\", \"from\" or \"both\"", "config-problem-rewrite-sender"),
    (
        "rewrite_sender needs the relay identity: set sender_identity (or user) to the address the upstream lets it send as",
        "config-problem-sender-identity",
    ),
    ("'{a}' is not an address or @domain", "config-problem-send-as"),
    ("'{a}' is not an auth method; use \"password\" or \"xoauth2\"", "config-problem-auth-method"),
    ("both listeners are off; nothing would accept mail", "config-problem-no-listener"),
    (
        "set both tls.cert and tls.key (PEM files), or neither to use the self-signed certificate",
        "config-problem-tls-pair",
    ),
    ("required when [oauth] is present", "config-problem-oauth-required"),
    (
        "list the client addresses that may send without AUTH, e.g. [\"192.0.2.10/32\"]",
        "config-problem-connector-clients",
    ),
    ("list the domains the devices send from, e.g. [\"contoso.com\"]", "config-problem-connector-domains"),
    ("list at least one domain, or \"*\" for every domain", "config-problem-route-domains"),
    ("a smarthost route needs host, e.g. \"smtp.office365.com\"", "config-problem-smarthost-host"),
    ("must be \"implicit\", \"starttls\" or \"opportunistic\"", "config-problem-tls-mode"),
    ("set password or password_file, not both", "config-problem-password-both"),
    ("set both user and password (or password_file), or neither", "config-problem-user-password"),
    (
        "\"opportunistic\" sends the password or token without a verified certificate; use tls = \"starttls\" or \"implicit\" (with ca_file for a private CA), or remove the credentials",
        "config-problem-opportunistic-credentials",
    ),
    ("an mx route takes no host or credentials; use kind = \"smarthost\"", "config-problem-mx-credentials"),
    ("a route with auth = \"xoauth2\" takes no password; remove it", "config-problem-xoauth2-password"),
    ("auth = \"xoauth2\" needs {a}, e.g. {b}", "config-problem-xoauth2-needs"),
    (
        "auth = \"xoauth2\" needs a credential: client_certificate_file and client_key_file, client_secret_file (first line) or client_secret, or service_account_file (Google)",
        "config-problem-oauth-credential",
    ),
    ("set one credential: a client secret, a certificate, or a service account key", "config-problem-credential-one"),
    (
        "set both client_certificate_file and client_key_file (authrelay oauth keygen writes them)",
        "config-problem-certificate-pair",
    ),
    ("{a} holds no PEM certificate", "config-problem-no-certificate"),
    ("{a} holds no RSA private key (PEM) usable for RS256", "config-problem-no-rsa-key"),
    (
        "{a} is not a Google service-account key file (JSON with client_email and private_key)",
        "config-problem-service-account-file",
    ),
    (
        "Google has no client-credentials grant: set service_account_file to the service account's JSON key (with domain-wide delegation)",
        "config-problem-google-service-account",
    ),
    ("'{a}' is not a preset; use {b}", "config-problem-preset"),
    ("preset \"{a}\" needs tenant = \"<tenant id or contoso.onmicrosoft.com>\"", "config-problem-preset-tenant"),
    ("'{a}' is not a tenant id or domain", "config-problem-tenant"),
    ("set client_secret or client_secret_file, not both", "config-problem-client-secret-both"),
    ("list the names the certificate must carry, e.g. [\"smtp.contoso.com\"]", "config-problem-acme-domains"),
    ("'{a}' is an IP address; ACME certificates here name DNS names only", "config-problem-acme-ip"),
    ("'{a}' is not a fully qualified domain name such as smtp.contoso.com", "config-problem-acme-fqdn"),
    ("'{a}' is not a mail address such as postmaster@contoso.com", "config-problem-acme-contact"),
    (
        "'{a}' is not a PostgreSQL URL; write postgres://USER:PASSWORD@HOST:5432/DATABASE, or leave it out for the embedded SQLite database",
        "config-problem-store-url",
    ),
    ("{a} is too few; the server needs at least 2 (default {b})", "config-problem-store-connections"),
    ("{a} is outside 3..3600 seconds (default {b})", "config-problem-store-lease"),
    ("'{a}' is not an address:port such as 192.168.50.1:2525", "config-problem-listener-address"),
    ("{a} is already a listener", "config-problem-listener-taken"),
    ("'{a}' is not one of: {b}", "config-problem-choice"),
    ("a plain listener has no TLS; leave tls_min out (or use kind = \"starttls\")", "config-problem-plain-tls-min"),
    (
        "TLS {a} needs a build with the legacy-tls feature (OpenSSL): install libssl-dev and pkg-config, then cargo build --release --features legacy-tls (README \"Legacy devices\")",
        "config-problem-legacy-tls-feature",
    ),
    ("'{a}' admits every address; list the devices' own addresses or subnets", "config-problem-listener-everyone"),
    (
        "a legacy listener (old TLS, no TLS or bare_newline = \"normalize\") needs clients: the devices' addresses or subnets, e.g. [\"192.168.50.0/24\"]",
        "config-problem-legacy-clients",
    ),
    (
        "{a} is not a loopback or private address: a legacy listener there exposes weak or no TLS beyond your network; bind it to the devices' VLAN, or set acknowledge_public = true if that is what you mean",
        "config-problem-legacy-public-address",
    ),
    (
        "clients {a} are not private ranges: a legacy listener for them exposes weak or no TLS beyond your network; list the devices' VLAN, or set acknowledge_public = true if that is what you mean",
        "config-problem-legacy-public-clients",
    ),
    (
        "'{a}' may not sign in over weak or no TLS; give the device a device credential (authrelay device-credential add)",
        "config-problem-legacy-password",
    ),
    ("no [[connectors]] entry is named '{a}'", "config-problem-listener-connector"),
];

/// The catalogue message of a problem text the templates do not cover: another component's
/// error (TOML syntax, an address parser), shown with a localized lead and the text itself.
pub const OTHER: &str = "config-problem-other";

/// Matches `text` against `template`; returns the values of `{a}`, `{b}`, … in order.
fn matches(template: &str, text: &str) -> Option<Vec<String>> {
    let mut values = vec![];
    let mut rest = text;
    let mut pieces = template.split('{').peekable();
    let first = pieces.next()?;
    rest = rest.strip_prefix(first)?;
    while let Some(piece) = pieces.next() {
        let (_, literal) = piece.split_once('}')?;
        let value_end = if literal.is_empty() && pieces.peek().is_none() {
            rest.len()
        } else if literal.is_empty() {
            return None;
        } else if pieces.peek().is_none() {
            // The last literal ends the text.
            rest.len().checked_sub(literal.len()).filter(|&at| rest[at..] == *literal)?
        } else {
            rest.find(literal)?
        };
        values.push(rest[..value_end].to_string());
        rest = &rest[value_end + literal.len()..];
    }
    (rest.is_empty()).then_some(values)
}

impl Problem {
    /// The catalogue message saying this problem and its arguments (`a`, `b`, `text`); texts of
    /// other components get [`OTHER`] with the text as `text`.
    pub fn message_id(&self) -> (&'static str, Vec<(&'static str, String)>) {
        for (template, id) in TEMPLATES {
            if let Some(values) = matches(template, &self.message) {
                let names = ["a", "b", "c"];
                return (id, names.iter().copied().zip(values).collect());
            }
        }
        (OTHER, vec![("text", self.message.clone())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(message: &str) -> Problem {
        Problem { key: "k".into(), message: message.into() }
    }

    #[test]
    fn templates_take_their_values_out() {
        assert_eq!(p("must be greater than 0").message_id().0, "config-problem-positive");
        assert_eq!(
            p("must be between 1.0 and 10.0").message_id(),
            ("config-problem-between", vec![("a", "1.0".into()), ("b", "10.0".into())])
        );
        assert_eq!(
            p("cannot read /etc/x: No such file").message_id(),
            ("config-problem-cannot-read", vec![("a", "/etc/x".into()), ("b", "No such file".into())])
        );
        assert_eq!(p("no file at /x.pem").message_id(), ("config-problem-no-file", vec![("a", "/x.pem".into())]));
        assert_eq!(p("expected `=` at line 3").message_id().0, OTHER);
    }

    /// Every problem text the checks of this crate write (string literals and `format!`
    /// strings after `message:` or in `problem(key, …)`) matches a template.
    #[test]
    fn every_problem_text_of_the_checks_has_a_template() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut seen = 0;
        let mut unmatched = vec![];
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n == "problem.rs") {
                continue;
            }
            let src = std::fs::read_to_string(&path).unwrap();
            let src = src.split("#[cfg(test)]").next().unwrap();
            for marker in ["message: ", "problem(", "message = "] {
                for (at, _) in src.match_indices(marker) {
                    let tail = &src[at + marker.len()..];
                    // The text: the first string literal within the call, `{x}` placeholders
                    // of format! made template values.
                    let Some(open) = tail.find('"') else { continue };
                    if tail[..open].contains(';') || tail[..open].contains('}') && !tail[..open].contains("format!") {
                        continue;
                    }
                    let (_, after_key) = if marker == "problem(" {
                        // problem(KEY, TEXT): skip the key argument.
                        match tail.split_once(", ") {
                            Some(x) => x,
                            None => continue,
                        }
                    } else {
                        ("", tail)
                    };
                    let after_key = after_key.trim_start();
                    let after_key = after_key.strip_prefix("format!(").map(str::trim_start).unwrap_or(after_key);
                    let Some(body) = after_key.strip_prefix('"') else { continue };
                    let mut text = String::new();
                    let mut chars = body.chars();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => text.push(chars.next().unwrap_or('\\')),
                            '"' => break,
                            c => text.push(c),
                        }
                    }
                    // format! placeholders become a sample value the template must accept.
                    let mut sample = String::new();
                    let mut in_placeholder = false;
                    for c in text.chars() {
                        match c {
                            '{' => in_placeholder = true,
                            '}' if in_placeholder => {
                                in_placeholder = false;
                                sample.push_str("X1");
                            }
                            _ if in_placeholder => {}
                            c => sample.push(c),
                        }
                    }
                    seen += 1;
                    if p(&sample).message_id().0 == OTHER {
                        unmatched.push(format!("{}: {text}", path.display()));
                    }
                }
            }
        }
        assert!(seen > 30, "only {seen} problem texts found: the scan is broken");
        assert!(unmatched.is_empty(), "problem texts without a template:\n{}", unmatched.join("\n"));
    }
}
