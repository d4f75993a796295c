//! Onward delivery through Microsoft Graph (`kind = "graph"`): `POST /users/{id}/sendMail` with
//! the message as MIME, base64-encoded, `Content-Type: text/plain`, and an application token of
//! the client-credentials grant (`Mail.Send`, scope `https://graph.microsoft.com/.default`). No
//! SMTP AUTH is needed anywhere in the tenant.
//!
//! Recipients: Graph sends to the message's To, Cc and Bcc headers, not to an envelope. Envelope
//! recipients missing from them are added in a `Bcc:` header first (Exchange keeps Bcc out of
//! what recipients see); otherwise the bytes go out exactly as queued (and DKIM-signed).
//!
//! Outcomes (README, "Microsoft Graph route"), one for every recipient of the call:
//! - 2xx (Graph answers 202 Accepted): delivered.
//! - 401: the token is dropped and fetched again once, the request repeated once; then deferred.
//! - 403 and 404 (no Mail.Send, an application access policy that leaves the mailbox out, a
//!   mailbox that does not exist): deferred — the admin's to fix, like a refused SMTP sign-in.
//! - 408, 429, 5xx and transport failures: deferred. A `Retry-After` (429, 503) is honoured: the
//!   route sends nothing to Graph until it has passed; messages due earlier are deferred
//!   without a request.
//! - other 4xx (400 malformed MIME, 413, 415, 422…): bounced with Graph's error code and text.
//! - a message whose request body would exceed Graph's 4 MB limit (the base64 form of the MIME,
//!   so about 3 MB of message): bounced before any request, saying so.
//!
//! Sent Items: Graph's MIME sendMail always keeps a copy in the mailbox's Sent Items; only its
//! JSON form takes `saveToSentItems`. With `save_to_sent_items = false` the message is therefore
//! sent in the JSON form, built from the MIME: subject, From, Reply-To, To/Cc/Bcc (plus the
//! envelope's missing recipients), the HTML or text body, attachments (inline ones keep their
//! Content-ID) and up to five X- headers — the other headers and the exact MIME structure are
//! not kept (Exchange writes its own), so the default stays `true` and byte-exact.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;

use crate::config::Graph;
use crate::Attempt;
use crate::Job;

/// Graph's limit on a request body: the base64 MIME of sendMail must fit in 4 MB.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// Longest Retry-After taken as given; a larger one is capped (a typo at the far side should not
/// stop a route for days).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Wait assumed after a 429 without a usable Retry-After.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Whole-request timeout of a sendMail call (up to 4 MB uploaded).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Most characters of Graph's error text kept in a reply.
const MAX_ERROR_TEXT: usize = 300;

/// Words that mark this module's bounce replies, for [`explanation`].
const TOO_LARGE: &str = "message too large for Microsoft Graph";
const REFUSED: &str = "Microsoft Graph refused the message";

/// The catalogue message explaining a bounce reply of this module to people (the reply itself
/// is quoted as it is, crates/delivery/src/dsn.rs).
pub fn explanation(reply: &str) -> Option<&'static str> {
    if reply.contains(TOO_LARGE) {
        Some("dsn-graph-too-large")
    } else if reply.contains(REFUSED) {
        Some("dsn-graph-refused")
    } else {
        None
    }
}

/// One Graph route's client: its HTTP client, token source and throttling state.
pub struct GraphClient {
    http: reqwest::Client,
    tokens: Arc<authrelay_oauth::TokenSource>,
    /// Until when Graph asked this route to wait (Retry-After).
    wait_until: std::sync::Mutex<Option<Instant>>,
    /// The host named as the remote side in delivery results and bounces.
    host: String,
}

/// The size of `n` bytes in base64 (padded, no line breaks).
pub fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

impl GraphClient {
    /// Errors name the setting at fault.
    pub fn new(route: &Graph) -> Result<GraphClient, String> {
        let base = authrelay_oauth::http::check_url(&route.base_url).map_err(|e| format!("routes.graph_url: {e}"))?;
        let tokens = authrelay_oauth::TokenSource::new((*route.oauth).clone(), route.ca_file.as_deref())
            .map_err(|e| format!("routes.token_endpoint: {e}"))?;
        let http = authrelay_oauth::http::client_with_timeout(route.ca_file.as_deref(), REQUEST_TIMEOUT)
            .map_err(|e| format!("routes.ca_file: {e}"))?;
        Ok(GraphClient {
            http,
            tokens: Arc::new(tokens),
            wait_until: std::sync::Mutex::new(None),
            host: base.host_str().unwrap_or("graph").to_string(),
        })
    }

    /// Sends `job` as `route.user`; one attempt per recipient, in order.
    pub async fn send(&self, route: &Graph, job: &Job<'_>) -> Vec<Attempt> {
        let remote = Some(self.host.clone());
        let all = |a: Attempt| vec![a; job.recipients.len()];
        let message = with_envelope_bcc(job.message, job.recipients);
        let encoded_len = base64_len(message.len());
        if encoded_len > MAX_REQUEST_BYTES {
            return all(Attempt::perm(
                format!(
                    "552 5.3.4 {TOO_LARGE}: {} bytes are {encoded_len} bytes base64-encoded, above the 4 MB sendMail limit ({MAX_REQUEST_BYTES} bytes); send it through an SMTP route or make it smaller",
                    message.len()
                ),
                None,
            ));
        }
        if let Some(left) = self.waiting() {
            return all(Attempt::temp(
                format!(
                    "451 4.7.0 Microsoft Graph asked this route to wait (Retry-After); not sent, {} s left",
                    left.as_secs().max(1)
                ),
                remote,
            ));
        }
        let (content_type, body) = if route.save_to_sent_items {
            ("text/plain", base64::engine::general_purpose::STANDARD.encode(&message))
        } else {
            let json = json_form(&message, job.recipients).to_string();
            if json.len() > MAX_REQUEST_BYTES {
                return all(Attempt::perm(
                    format!(
                        "552 5.3.4 {TOO_LARGE}: its JSON form is {} bytes, above the 4 MB sendMail limit ({MAX_REQUEST_BYTES} bytes); send it through an SMTP route or make it smaller",
                        json.len()
                    ),
                    None,
                ));
            }
            ("application/json", json)
        };
        let url = match send_mail_url(&route.base_url, &route.user) {
            Ok(u) => u,
            Err(e) => return all(Attempt::temp(format!("451 4.3.5 Graph URL: {e}"), None)),
        };
        let mut token = match self.tokens.token().await {
            Ok(t) => t,
            Err(e) => return all(Attempt::temp(format!("OAuth for Microsoft Graph: {e}"), None)),
        };
        let mut retried = false;
        loop {
            let response = self
                .http
                .post(url.clone())
                .bearer_auth(&token)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body.clone())
                .send()
                .await;
            let response = match response {
                Ok(r) => r,
                Err(e) => {
                    // Nothing answered: the destination is down, not this message's problem.
                    return all(Attempt::temp(format!("Microsoft Graph at {}: {}", self.host, e.without_url()), None));
                }
            };
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let request_id = response
                .headers()
                .get("request-id")
                .and_then(|v| v.to_str().ok())
                .map(|v| format!(" request-id {}", one_line(v, 64)))
                .unwrap_or_default();
            let text = response.bytes().await.map(|b| error_text(&b)).unwrap_or_default();
            match status {
                200..=299 => {
                    return all(Attempt::delivered(
                        format!("250 2.0.0 accepted by Microsoft Graph (HTTP {status}){request_id}"),
                        remote,
                    ))
                }
                401 if !retried => {
                    // A token Graph refuses (revoked consent, another tenant's key) stays
                    // refused: drop it and fetch a new one, once (issue 18.6).
                    retried = true;
                    self.tokens.invalidate(&token).await;
                    tracing::info!(host = %self.host, "Microsoft Graph refused the token; fetching a new one");
                    token = match self.tokens.token().await {
                        Ok(t) => t,
                        Err(e) => {
                            return all(Attempt::temp(
                                format!("451 4.7.0 Graph HTTP 401{text}; a new token: {e}"),
                                remote,
                            ))
                        }
                    };
                    continue;
                }
                429 | 503 => {
                    let wait = retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
                    self.wait(wait);
                    return all(Attempt::temp(
                        format!(
                            "451 4.7.0 Microsoft Graph HTTP {status}{text}{request_id}; retry after {} s",
                            wait.as_secs()
                        ),
                        remote,
                    ));
                }
                401 | 403 | 404 | 408 | 500..=599 => {
                    if let Some(wait) = retry_after {
                        self.wait(wait);
                    }
                    return all(Attempt::temp(
                        format!("451 4.4.0 Microsoft Graph HTTP {status}{text}{request_id}"),
                        remote,
                    ));
                }
                _ => {
                    return all(Attempt::perm(format!("550 5.6.0 {REFUSED}: HTTP {status}{text}{request_id}"), remote))
                }
            }
        }
    }

    /// Time left of a wait Graph asked for, if any.
    fn waiting(&self) -> Option<Duration> {
        let mut until = self.wait_until.lock().unwrap_or_else(|e| e.into_inner());
        match *until {
            Some(at) if at > Instant::now() => Some(at - Instant::now()),
            Some(_) => {
                *until = None;
                None
            }
            None => None,
        }
    }

    fn wait(&self, wait: Duration) {
        let mut until = self.wait_until.lock().unwrap_or_else(|e| e.into_inner());
        let at = Instant::now() + wait.min(MAX_RETRY_AFTER);
        *until = Some(until.map_or(at, |u| u.max(at)));
        tracing::warn!(host = %self.host, wait_secs = wait.as_secs(), "Microsoft Graph throttled this route; waiting");
    }
}

/// `{base}/users/{user}/sendMail`, the user name one encoded path segment.
pub fn send_mail_url(base: &str, user: &str) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(base).map_err(|e| e.to_string())?;
    url.path_segments_mut()
        .map_err(|_| format!("'{base}' cannot take a path"))?
        .pop_if_empty()
        .extend(["users", user, "sendMail"]);
    Ok(url)
}

/// Retry-After as delay-seconds (RFC 9110 10.2.3); an HTTP date counts from now.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let format = time::format_description::well_known::Rfc2822;
    let at = time::OffsetDateTime::parse(value, &format).ok()?;
    let left = at - time::OffsetDateTime::now_utc();
    Some(Duration::from_secs(left.whole_seconds().max(0) as u64).min(MAX_RETRY_AFTER))
}

/// `": CODE: message"` from Graph's error JSON (`{"error": {"code", "message"}}`), one line,
/// bounded; empty when there is none.
fn error_text(body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body[..body.len().min(1 << 16)]) else {
        return String::new();
    };
    let code = v["error"]["code"].as_str().unwrap_or("");
    let message = v["error"]["message"].as_str().unwrap_or("");
    match (code.is_empty(), message.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(" {}", one_line(code, 80)),
        (true, false) => format!(" {}", one_line(message, MAX_ERROR_TEXT)),
        (false, false) => format!(" {}: {}", one_line(code, 80), one_line(message, MAX_ERROR_TEXT)),
    }
}

fn one_line(s: &str, max: usize) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).take(max).collect()
}

/// The message with a `Bcc:` header first for the envelope recipients its To, Cc and Bcc
/// headers do not name (Graph sends to those headers only); unchanged when they name them all.
pub fn with_envelope_bcc<'a>(message: &'a [u8], recipients: &[String]) -> std::borrow::Cow<'a, [u8]> {
    let named = header_recipients(message);
    let missing: Vec<&String> = recipients.iter().filter(|r| !named.contains(&r.to_ascii_lowercase())).collect();
    if missing.is_empty() {
        return std::borrow::Cow::Borrowed(message);
    }
    let list: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
    let mut out = format!("Bcc: {}\r\n", list.join(",\r\n ")).into_bytes();
    out.extend_from_slice(message);
    std::borrow::Cow::Owned(out)
}

/// Most X- headers Graph takes in `internetMessageHeaders`.
const MAX_X_HEADERS: usize = 5;

/// The `sendMail` JSON body for `message` with `saveToSentItems: false` (see the module text
/// for what is kept). Envelope recipients no header names go to `bccRecipients`.
pub fn json_form(message: &[u8], recipients: &[String]) -> serde_json::Value {
    use mail_parser::MimeHeaders;
    use serde_json::json;
    let Some(parsed) = mail_parser::MessageParser::new().parse(message) else {
        return json!({"message": {}, "saveToSentItems": false});
    };
    let people = |field: Option<&mail_parser::Address>| -> Vec<serde_json::Value> {
        field
            .into_iter()
            .flat_map(|a| a.iter())
            .filter_map(|a| {
                let address = a.address()?;
                Some(match a.name() {
                    Some(name) => json!({"emailAddress": {"address": address, "name": name}}),
                    None => json!({"emailAddress": {"address": address}}),
                })
            })
            .collect()
    };
    let named = header_recipients(message);
    let mut bcc = people(parsed.bcc());
    for r in recipients.iter().filter(|r| !named.contains(&r.to_ascii_lowercase())) {
        bcc.push(json!({"emailAddress": {"address": r}}));
    }
    let body = match (parsed.body_html(0), parsed.body_text(0)) {
        // body_html also answers for a text-only message (converted); take it only when the
        // message has an HTML part of its own.
        (Some(html), _) if parsed.html_part(0).is_some_and(|p| p.is_text_html()) => {
            json!({"contentType": "HTML", "content": html})
        }
        (_, Some(text)) => json!({"contentType": "Text", "content": text}),
        _ => json!({"contentType": "Text", "content": ""}),
    };
    let attachments: Vec<serde_json::Value> = parsed
        .attachments()
        .map(|part| {
            let content_type = part
                .content_type()
                .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("octet-stream")))
                .unwrap_or_else(|| "application/octet-stream".into());
            let inline = part.content_disposition().is_some_and(|d| d.is_inline());
            let mut a = json!({
                "@odata.type": "#microsoft.graph.fileAttachment",
                "name": part.attachment_name().unwrap_or("attachment"),
                "contentType": content_type,
                "contentBytes": base64::engine::general_purpose::STANDARD.encode(part.contents()),
                "isInline": inline,
            });
            if let Some(id) = part.content_id() {
                a["contentId"] = json!(id);
            }
            a
        })
        .collect();
    let x_headers: Vec<serde_json::Value> = parsed
        .headers_raw()
        .filter(|(name, _)| name.len() > 2 && name[..2].eq_ignore_ascii_case("x-"))
        .take(MAX_X_HEADERS)
        .map(|(name, value)| json!({"name": name, "value": one_line(value.trim(), 990)}))
        .collect();
    let mut m = json!({
        "subject": parsed.subject().unwrap_or(""),
        "body": body,
        "toRecipients": people(parsed.to()),
        "ccRecipients": people(parsed.cc()),
        "bccRecipients": bcc,
    });
    if let Some(from) = people(parsed.from()).into_iter().next() {
        m["from"] = from;
    }
    let reply_to = people(parsed.reply_to());
    if !reply_to.is_empty() {
        m["replyTo"] = json!(reply_to);
    }
    if !attachments.is_empty() {
        m["attachments"] = json!(attachments);
    }
    if !x_headers.is_empty() {
        m["internetMessageHeaders"] = json!(x_headers);
    }
    json!({"message": m, "saveToSentItems": false})
}

/// The lower-case addresses of the To, Cc and Bcc headers.
fn header_recipients(message: &[u8]) -> Vec<String> {
    let Some(parsed) = mail_parser::MessageParser::new().parse_headers(message) else { return vec![] };
    let mut out = vec![];
    for field in [parsed.to(), parsed.cc(), parsed.bcc()].into_iter().flatten() {
        for addr in field.iter() {
            if let Some(a) = addr.address() {
                out.push(a.to_ascii_lowercase());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_mail_url_encodes_the_mailbox() {
        let u = send_mail_url("https://graph.microsoft.com/v1.0", "relay@contoso.com").unwrap();
        assert_eq!(u.as_str(), "https://graph.microsoft.com/v1.0/users/relay@contoso.com/sendMail");
        let u = send_mail_url("https://127.0.0.1:8443/v1.0/", "a/b?c@contoso.com").unwrap();
        assert_eq!(u.as_str(), "https://127.0.0.1:8443/v1.0/users/a%2Fb%3Fc@contoso.com/sendMail");
    }

    #[test]
    fn retry_after_seconds_or_date() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("999999"), Some(MAX_RETRY_AFTER), "capped");
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO), "a past date: now");
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn base64_size_of_the_request() {
        assert_eq!(base64_len(0), 0);
        assert_eq!(base64_len(1), 4);
        assert_eq!(base64_len(3), 4);
        assert_eq!(base64_len(4), 8);
        for n in [1usize, 2, 3, 100, 1000, 3_145_728] {
            assert_eq!(base64_len(n), base64::engine::general_purpose::STANDARD.encode(vec![0u8; n]).len());
        }
        // About 3 MB of MIME is the most that fits.
        assert!(base64_len(3 * 1024 * 1024) <= MAX_REQUEST_BYTES);
        assert!(base64_len(3 * 1024 * 1024 + 1) > MAX_REQUEST_BYTES);
    }

    /// The explanations exist in every language (a missing one would show its raw id).
    #[test]
    fn bounce_explanations_in_every_language() {
        use authrelay_i18n::{t, Lang};
        let too_large = format!("552 5.3.4 {TOO_LARGE}: 5000000 bytes");
        let refused = format!("550 5.6.0 {REFUSED}: HTTP 400 ErrorInvalidRecipients: x");
        assert_eq!(explanation(&too_large), Some("dsn-graph-too-large"));
        assert_eq!(explanation(&refused), Some("dsn-graph-refused"));
        assert_eq!(explanation("550 5.1.1 no such user"), None);
        for lang in [Lang::En, Lang::Ko, Lang::Id] {
            for id in ["dsn-graph-too-large", "dsn-graph-refused"] {
                let text = t(lang, id, &[]);
                assert!(!text.contains(id) && text.contains("Microsoft Graph"), "{lang:?} {id}: {text}");
            }
        }
    }

    #[test]
    fn graph_error_text() {
        let body = br#"{"error":{"code":"ErrorInvalidRecipients","message":"At least one recipient\nis not valid."}}"#;
        assert_eq!(error_text(body), " ErrorInvalidRecipients: At least one recipient is not valid.");
        assert_eq!(error_text(b"<html>"), "");
        assert_eq!(error_text(br#"{"error":{"code":"X"}}"#), " X");
    }

    #[test]
    fn the_json_form_for_no_sent_items_copy() {
        let m = b"From: \"Scanner\" <scanner@contoso.com>\r\nTo: a@contoso.com\r\nSubject: Scan 42\r\n\
                  X-Device: mfp-2\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
                  --b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
                  --b\r\nContent-Type: application/pdf; name=scan.pdf\r\nContent-Disposition: attachment; filename=scan.pdf\r\n\
                  Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n";
        let v = json_form(m, &["a@contoso.com".into(), "hidden@fabrikam.com".into()]);
        assert_eq!(v["saveToSentItems"], false);
        let msg = &v["message"];
        assert_eq!(msg["subject"], "Scan 42");
        assert_eq!(msg["body"]["contentType"], "Text");
        assert!(msg["body"]["content"].as_str().unwrap().starts_with("See attached."));
        assert_eq!(msg["from"]["emailAddress"]["address"], "scanner@contoso.com");
        assert_eq!(msg["toRecipients"][0]["emailAddress"]["address"], "a@contoso.com");
        assert_eq!(msg["bccRecipients"][0]["emailAddress"]["address"], "hidden@fabrikam.com");
        assert_eq!(msg["attachments"][0]["name"], "scan.pdf");
        assert_eq!(msg["attachments"][0]["contentType"], "application/pdf");
        assert_eq!(msg["attachments"][0]["contentBytes"], "JVBERi0xLjQK");
        assert_eq!(msg["internetMessageHeaders"][0]["name"], "X-Device");
    }

    #[test]
    fn envelope_recipients_not_in_the_headers_go_in_bcc() {
        let m =
            b"From: scanner@contoso.com\r\nTo: A <a@contoso.com>\r\nCc: b@fabrikam.com\r\nSubject: s\r\n\r\nbody\r\n";
        let all = ["a@contoso.com".to_string(), "B@fabrikam.com".to_string()];
        assert!(matches!(with_envelope_bcc(m, &all), std::borrow::Cow::Borrowed(_)), "named: unchanged");
        let more = ["a@contoso.com".to_string(), "hidden@contoso.com".to_string(), "x@y.example".to_string()];
        let out = with_envelope_bcc(m, &more);
        assert_eq!(&out[..], [&b"Bcc: hidden@contoso.com,\r\n x@y.example\r\n"[..], m].concat());
        assert_eq!(header_recipients(&out).len(), 4);
    }
}
