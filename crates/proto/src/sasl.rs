//! SASL responses for AUTH PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login).

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
}
