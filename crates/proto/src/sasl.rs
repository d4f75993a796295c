//! SASL responses for AUTH PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login), XOAUTH2
//! (Google's and Microsoft's bearer-token mechanism) and OAUTHBEARER (RFC 7628).

use authrelay_core::ReplyId;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslError {
    /// Not base64, not UTF-8, or not the shape the mechanism requires.
    Malformed,
    /// The client sent `*` (RFC 4954 §4).
    Cancelled,
}

impl SaslError {
    pub fn reply_id(self) -> ReplyId {
        match self {
            SaslError::Malformed => ReplyId::AuthMalformed,
            SaslError::Cancelled => ReplyId::AuthCancelled,
        }
    }
}

/// A decoded PLAIN response. `Debug` hides the password so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainResponse {
    pub authzid: String,
    pub authcid: String,
    pub password: String,
}

impl std::fmt::Debug for PlainResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainResponse")
            .field("authzid", &self.authzid)
            .field("authcid", &self.authcid)
            .field("password", &"<redacted>")
            .finish()
    }
}

fn decode(b64: &str) -> Result<Vec<u8>, SaslError> {
    let b64 = b64.trim();
    if b64 == "*" {
        return Err(SaslError::Cancelled);
    }
    STANDARD.decode(b64).map_err(|_| SaslError::Malformed)
}

/// `[authzid] NUL authcid NUL passwd`, base64. `=` stands for an empty initial response.
pub fn decode_plain(b64: &str) -> Result<PlainResponse, SaslError> {
    let raw = if b64.trim() == "=" { Vec::new() } else { decode(b64)? };
    let text = String::from_utf8(raw).map_err(|_| SaslError::Malformed)?;
    let mut parts = text.split('\0');
    let (Some(authzid), Some(authcid), Some(password), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    if authcid.is_empty() || password.is_empty() || authcid.len() > 320 || password.len() > 1024 {
        return Err(SaslError::Malformed);
    }
    Ok(PlainResponse { authzid: authzid.to_string(), authcid: authcid.to_string(), password: password.to_string() })
}

/// One LOGIN field (user name or password), base64.
pub fn decode_login_field(b64: &str) -> Result<String, SaslError> {
    let raw = decode(b64)?;
    let text = String::from_utf8(raw).map_err(|_| SaslError::Malformed)?;
    if text.is_empty() || text.len() > 1024 || text.contains('\0') {
        return Err(SaslError::Malformed);
    }
    Ok(text)
}

/// Longest bearer token accepted (JWTs from Entra ID run to about 2.5 KB; the AUTH line is
/// capped at 12288 octets anyway).
pub const MAX_TOKEN_LEN: usize = 8192;

/// A decoded XOAUTH2 or OAUTHBEARER response. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerResponse {
    /// The user the client names (`user=` in XOAUTH2, `a=` in OAUTHBEARER), if any. The token's
    /// own user claim decides; a different name here is refused.
    pub user: Option<String>,
    pub token: String,
}

impl std::fmt::Debug for BearerResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerResponse").field("user", &self.user).field("token", &"<redacted>").finish()
    }
}

/// `auth=Bearer <token>` from one key=value pair; the scheme is case-insensitive (RFC 6750 §2.1).
fn bearer_value(value: &str) -> Result<String, SaslError> {
    let (scheme, token) = value.split_once(' ').ok_or(SaslError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(SaslError::Malformed);
    }
    let token = token.trim_matches(' ');
    // RFC 6750 §2.1 b64token: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then "="s.
    let body = token.trim_end_matches('=');
    let ok = !body.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    if !ok {
        return Err(SaslError::Malformed);
    }
    Ok(token.to_string())
}

fn checked_user(user: &str) -> Result<String, SaslError> {
    if user.is_empty() || user.len() > 320 || user.chars().any(char::is_control) {
        return Err(SaslError::Malformed);
    }
    Ok(user.to_string())
}

/// XOAUTH2: base64 of `user=<user>^Aauth=Bearer <token>^A^A` (^A = 0x01).
pub fn decode_xoauth2(b64: &str) -> Result<BearerResponse, SaslError> {
    let raw = decode(b64)?;
    let text = String::from_utf8(raw).map_err(|_| SaslError::Malformed)?;
    let body = text.strip_suffix("\x01\x01").ok_or(SaslError::Malformed)?;
    let mut user = None;
    let mut token = None;
    for pair in body.split('\x01') {
        let (key, value) = pair.split_once('=').ok_or(SaslError::Malformed)?;
        match key {
            "user" if user.is_none() => user = Some(checked_user(value)?),
            "auth" if token.is_none() => token = Some(bearer_value(value)?),
            _ => return Err(SaslError::Malformed),
        }
    }
    Ok(BearerResponse { user: Some(user.ok_or(SaslError::Malformed)?), token: token.ok_or(SaslError::Malformed)? })
}

/// Decodes a `saslname` of the GS2 header (RFC 5801 §4): `=2C` is `,` and `=3D` is `=`.
fn gs2_name(name: &str) -> Result<String, SaslError> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(pos) = rest.find('=') {
        out.push_str(&rest[..pos]);
        match rest.get(pos..pos + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(SaslError::Malformed),
        }
        rest = &rest[pos + 3..];
    }
    out.push_str(rest);
    checked_user(&out)
}

/// OAUTHBEARER (RFC 7628 §3.1): base64 of `gs2-header ^A *(key=value ^A) ^A`, where the GS2
/// header is `n,` or `y,` (no channel binding; `p=` is refused), then `a=<authzid>` or nothing,
/// then `,`. Keys other than `auth` (`host`, `port`, …) are allowed and ignored.
pub fn decode_oauthbearer(b64: &str) -> Result<BearerResponse, SaslError> {
    let raw = decode(b64)?;
    let text = String::from_utf8(raw).map_err(|_| SaslError::Malformed)?;
    let (gs2, rest) = text.split_once('\x01').ok_or(SaslError::Malformed)?;
    let mut parts = gs2.splitn(3, ',');
    let (Some(flag), Some(authzid), Some("")) = (parts.next(), parts.next(), parts.next()) else {
        return Err(SaslError::Malformed);
    };
    if flag != "n" && flag != "y" {
        return Err(SaslError::Malformed);
    }
    let user = match authzid {
        "" => None,
        a => Some(gs2_name(a.strip_prefix("a=").ok_or(SaslError::Malformed)?)?),
    };
    let body = rest.strip_suffix("\x01\x01").ok_or(SaslError::Malformed)?;
    let mut token = None;
    for pair in body.split('\x01') {
        let (key, value) = pair.split_once('=').ok_or(SaslError::Malformed)?;
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(SaslError::Malformed);
        }
        if key == "auth" {
            if token.is_some() {
                return Err(SaslError::Malformed);
            }
            token = Some(bearer_value(value)?);
        }
    }
    Ok(BearerResponse { user, token: token.ok_or(SaslError::Malformed)? })
}

/// The client's answer to an RFC 7628 §3.2.2 error challenge: an empty response, or for
/// OAUTHBEARER a single ^A (`AQ==`). Anything else is also taken as the end of the exchange;
/// the server replies 535 either way.
pub fn is_error_acknowledgement(line: &str) -> bool {
    matches!(line.trim(), "" | "AQ==" | "=")
}

/// The base64 error challenge of RFC 7628 §3.2.2 (a 334 continuation): a JSON object with
/// `status` (`invalid_token`, or `insufficient_scope`), and `scope` / `openid-configuration`
/// when known. Values are JSON-escaped.
pub fn error_challenge(status: &str, scope: Option<&str>, openid_configuration: Option<&str>) -> String {
    fn escape(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out
    }
    let mut json = format!("{{\"status\":\"{}\"", escape(status));
    if let Some(scope) = scope {
        json.push_str(&format!(",\"scope\":\"{}\"", escape(scope)));
    }
    if let Some(url) = openid_configuration {
        json.push_str(&format!(",\"openid-configuration\":\"{}\"", escape(url)));
    }
    json.push('}');
    STANDARD.encode(json)
}

/// The bearer fuzz target's checks (fuzz/fuzz_targets/bearer.rs, replayed on stable by
/// `tests/fuzz_corpus.rs`); panics on a violation.
pub fn check_bearer_invariants(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for decoded in [decode_xoauth2(&text), decode_oauthbearer(&text)] {
        match decoded {
            Ok(b) => {
                let body = b.token.trim_end_matches('=');
                assert!(!body.is_empty() && b.token.len() <= MAX_TOKEN_LEN, "token shape");
                assert!(body.bytes().all(|c| c.is_ascii_alphanumeric() || b"-._~+/".contains(&c)), "token characters");
                if let Some(user) = &b.user {
                    assert!(!user.is_empty() && !user.chars().any(char::is_control), "user");
                }
            }
            Err(e) => {
                let _ = e.reply_id().reply().to_wire();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> String {
        STANDARD.encode(s)
    }

    #[test]
    fn plain() {
        let r = decode_plain(&b64(b"\0scanner@contoso.com\0s3cret")).unwrap();
        assert_eq!(
            (r.authzid.as_str(), r.authcid.as_str(), r.password.as_str()),
            ("", "scanner@contoso.com", "s3cret")
        );
        assert!(!format!("{r:?}").contains("s3cret"));
        for bad in
            [b64(b"no-nuls"), b64(b"\0user\0"), b64(b"\0\0pw"), b64(b"a\0b\0c\0d"), "!!!".into(), b64(b"\0u\0\xff")]
        {
            assert_eq!(decode_plain(&bad), Err(SaslError::Malformed), "{bad}");
        }
        assert_eq!(decode_plain("*"), Err(SaslError::Cancelled));
    }

    #[test]
    fn login() {
        assert_eq!(decode_login_field(&b64(b"user@x.example")).unwrap(), "user@x.example");
        assert_eq!(decode_login_field("*"), Err(SaslError::Cancelled));
        assert_eq!(decode_login_field("%%%"), Err(SaslError::Malformed));
        assert_eq!(decode_login_field(""), Err(SaslError::Malformed));
    }

    #[test]
    fn xoauth2() {
        let ok = decode_xoauth2(&b64(b"user=scanner@contoso.com\x01auth=Bearer eyJ.abc-_~+/.sig==\x01\x01")).unwrap();
        assert_eq!(ok.user.as_deref(), Some("scanner@contoso.com"));
        assert_eq!(ok.token, "eyJ.abc-_~+/.sig==");
        assert!(!format!("{ok:?}").contains("eyJ"));
        // The scheme is case-insensitive.
        assert!(decode_xoauth2(&b64(b"user=u@x.example\x01auth=bearer t0k\x01\x01")).is_ok());
        let long = format!("user=u@x.example\x01auth=Bearer {}\x01\x01", "a".repeat(MAX_TOKEN_LEN + 1));
        for bad in [
            b64(b"user=u@x.example\x01auth=Bearer tok\x01"), // one ^A at the end
            b64(b"user=u@x.example\x01auth=Bearer tok"),     // none
            b64(b"auth=Bearer tok\x01\x01"),                 // no user
            b64(b"user=u@x.example\x01\x01"),                // no token
            b64(b"user=u@x.example\x01auth=Basic dXNlcg==\x01\x01"), // not a bearer token
            b64(b"user=u@x.example\x01auth=Bearer \x01\x01"), // empty token
            b64(b"user=u@x.example\x01auth=Bearer a b\x01\x01"), // space inside
            b64(b"user=u@x.example\x01auth=Bearer a\"b\x01\x01"), // quote inside
            b64(b"user=u@x.example\x01auth=Bearer =\x01\x01"), // padding only
            b64(b"user=u@x.example\x01user=v@x.example\x01auth=Bearer t\x01\x01"), // twice
            b64(b"user=u\r\n@x\x01auth=Bearer t\x01\x01"),   // control characters
            b64(b"user=u@x.example\x01auth=Bearer t\x01host=x\x01\x01"), // unknown key
            b64(b"user=\xff\x01auth=Bearer t\x01\x01"),      // not UTF-8
            b64(long.as_bytes()),
            "not base64!".into(),
            String::new(),
        ] {
            assert_eq!(decode_xoauth2(&bad), Err(SaslError::Malformed), "{bad}");
        }
        assert_eq!(decode_xoauth2("*"), Err(SaslError::Cancelled));
    }

    /// RFC 7628 §4.1 and §4.2 examples, and hostile variations.
    #[test]
    fn oauthbearer() {
        let rfc = b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01";
        let ok = decode_oauthbearer(&b64(rfc)).unwrap();
        assert_eq!(ok.user.as_deref(), Some("user@example.com"));
        assert_eq!(ok.token, "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==");
        let no_authzid = decode_oauthbearer(&b64(b"n,,\x01auth=Bearer tok\x01\x01")).unwrap();
        assert_eq!(no_authzid.user, None);
        let escaped = decode_oauthbearer(&b64(b"y,a=we=2Cird=3Dname@x.example,\x01auth=Bearer t\x01\x01")).unwrap();
        assert_eq!(escaped.user.as_deref(), Some("we,ird=name@x.example"));
        for bad in [
            b64(b"p=tls-unique,,\x01auth=Bearer t\x01\x01"), // channel binding: not offered
            b64(b"x,,\x01auth=Bearer t\x01\x01"),
            b64(b"n,u@x.example,\x01auth=Bearer t\x01\x01"), // authzid without a=
            b64(b"n,a=bad=escape,\x01auth=Bearer t\x01\x01"),
            b64(b"n,a=,\x01auth=Bearer t\x01\x01"),
            b64(b"n,,\x01auth=Bearer t\x01"),
            b64(b"n,,\x01host=x\x01\x01"),                         // no auth
            b64(b"n,,\x01auth=Bearer t\x01auth=Bearer u\x01\x01"), // auth twice
            b64(b"n,,\x01=x\x01auth=Bearer t\x01\x01"),
            b64(b"n,,\x01ho st=x\x01auth=Bearer t\x01\x01"),
            b64(b"n,,auth=Bearer t\x01\x01"), // no separator after the header
            b64(b"n\x01auth=Bearer t\x01\x01"),
            b64(b"n,,extra,\x01auth=Bearer t\x01\x01"),
        ] {
            assert_eq!(decode_oauthbearer(&bad), Err(SaslError::Malformed), "{bad}");
        }
    }

    /// RFC 7628 §3.2.2: the error challenge is base64 JSON, escaped.
    #[test]
    fn error_challenge_is_base64_json() {
        let c = error_challenge(
            "invalid_token",
            Some("openid"),
            Some("https://idp.example/.well-known/openid-configuration"),
        );
        let json = String::from_utf8(STANDARD.decode(c).unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"status":"invalid_token","scope":"openid","openid-configuration":"https://idp.example/.well-known/openid-configuration"}"#
        );
        let hostile = String::from_utf8(STANDARD.decode(error_challenge("a\"b\\c\n", None, None)).unwrap()).unwrap();
        assert_eq!(hostile, r#"{"status":"a\"b\\c\u000a"}"#);
        for ack in ["", "AQ==", "  ", "="] {
            assert!(is_error_acknowledgement(ack), "{ack:?}");
        }
        assert!(!is_error_acknowledgement("dXNlcg=="));
    }
}
