//! The knowledge base against other providers' replies.
//!
//! Each `fixtures/*.txt` is a recorded dialogue of Microsoft 365 or Gmail (or of an unknown
//! server). A small loopback server replays it line by line — real TCP, a real TLS handshake
//! after STARTTLS with a certificate made here — while the real `probe` talks to it; the test then
//! checks that probe explains the refusal with the expected entry, for that provider, and never
//! shows the password. A table test below feeds the knowledge base every reply line quoted in
//! `docs/provider-replies.md`.
//!
//! Fixture lines: `S: text` the server sends; `C: PREFIX` the client's next line must start with
//! PREFIX (`*` = any); `TLS` the server's side of the handshake; `BODY` lines up to the final dot;
//! `ARGS: send` probe with `--send`; `EXPECT-ENTRY`, `EXPECT-PROVIDER`, `EXPECT-TEXT` (in the fix).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use authrelay_i18n::Lang;
use authrelay_troubleshoot::kb::{self, Provider};
use authrelay_troubleshoot::probe::{self, TlsMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PASSWORD: &str = "Device-Secret-2026!";

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Stream {
    async fn line(&mut self) -> Result<String, String> {
        let mut out = Vec::new();
        loop {
            let mut b = [0u8; 1];
            let n = match self {
                Stream::Plain(s) => s.read(&mut b).await,
                Stream::Tls(s) => s.read(&mut b).await,
            }
            .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err(format!("client closed after {:?}", String::from_utf8_lossy(&out)));
            }
            if b[0] == b'\n' {
                return Ok(String::from_utf8_lossy(&out).trim_end_matches('\r').to_string());
            }
            out.push(b[0]);
            if out.len() > 100_000 {
                return Err("line too long".into());
            }
        }
    }

    async fn send(&mut self, line: &str) -> Result<(), String> {
        let data = format!("{line}\r\n");
        match self {
            Stream::Plain(s) => s.write_all(data.as_bytes()).await,
            Stream::Tls(s) => s.write_all(data.as_bytes()).await.and(s.flush().await),
        }
        .map_err(|e| e.to_string())
    }
}

/// Replays `script` to the first client; returns every client line it received.
async fn replay(
    listener: TcpListener,
    script: Vec<String>,
    acceptor: tokio_rustls::TlsAcceptor,
) -> Result<Vec<String>, String> {
    let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
    let mut stream = Stream::Plain(tcp);
    let mut seen = vec![];
    for step in script {
        if let Some(text) = step.strip_prefix("S: ") {
            stream.send(text).await?;
        } else if let Some(prefix) = step.strip_prefix("C: ") {
            let line = stream.line().await?;
            if prefix != "*" && !line.to_ascii_uppercase().starts_with(&prefix.to_ascii_uppercase()) {
                return Err(format!("expected a line starting with {prefix:?}, got {line:?}"));
            }
            seen.push(line);
        } else if step == "BODY" {
            for _ in 0..1000 {
                let line = stream.line().await?;
                seen.push(line.clone());
                if line == "." {
                    break;
                }
            }
        } else if step == "TLS" {
            let Stream::Plain(tcp) = stream else { return Err("TLS twice".into()) };
            stream = Stream::Tls(Box::new(acceptor.accept(tcp).await.map_err(|e| e.to_string())?));
        }
    }
    Ok(seen)
}

struct Fixture {
    script: Vec<String>,
    send: bool,
    entry: String,
    provider: Option<String>,
    text: Option<String>,
}

fn load(path: &Path) -> Fixture {
    let raw = std::fs::read_to_string(path).unwrap();
    let mut f = Fixture { script: vec![], send: false, entry: String::new(), provider: None, text: None };
    for line in raw.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        if let Some(v) = line.strip_prefix("EXPECT-ENTRY: ") {
            f.entry = v.to_string();
        } else if let Some(v) = line.strip_prefix("EXPECT-PROVIDER: ") {
            f.provider = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("EXPECT-TEXT: ") {
            f.text = Some(v.to_string());
        } else if line == "ARGS: send" {
            f.send = true;
        } else {
            f.script.push(line.to_string());
        }
    }
    assert!(!f.entry.is_empty(), "{}: no EXPECT-ENTRY", path.display());
    f
}

/// A certificate for "localhost" and the acceptor that serves it; the PEM goes to `dir`.
fn tls(dir: &Path) -> (tokio_rustls::TlsAcceptor, std::path::PathBuf) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let pem = dir.join("ca.pem");
    std::fs::write(&pem, certified.cert.pem()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(certified.key_pair.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), pem)
}

async fn run_fixture(path: &Path) {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let fixture = load(path);
    let dir = tempfile::tempdir().unwrap();
    let (acceptor, ca) = tls(dir.path());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(replay(listener, fixture.script.clone(), acceptor));

    let mut opts = probe::Options::new(&format!("localhost:{port}"), TlsMode::StartTls);
    opts.user = Some("scanner@contoso.com".into());
    opts.password = Some(PASSWORD.into());
    opts.ca_file = Some(ca);
    opts.timeout = Duration::from_secs(10);
    if fixture.send {
        opts.send = true;
        opts.from = Some("noreply@contoso.com".into());
        opts.to = Some("frontdesk@example.net".into());
    }
    let report = tokio::time::timeout(Duration::from_secs(30), probe::run(&opts, Lang::En)).await.expect("probe ends");
    let seen = tokio::time::timeout(Duration::from_secs(10), server).await.expect("replay ends").unwrap();
    let seen = seen.unwrap_or_else(|e| panic!("{name}: the dialogue diverged from the recording: {e}\n{report:#?}"));

    assert!(!report.ok, "{name}: a refusal must not be reported as success");
    assert_eq!(report.tls.as_ref().map(|t| t.chain_verified), Some(true), "{name}");
    let finding = report.findings.last().unwrap_or_else(|| panic!("{name}: no refusal found: {report:#?}"));
    match (&finding.explanation, fixture.entry.as_str()) {
        (None, "unknown") => {
            let text = report.render_text(Lang::En);
            assert!(text.contains("unknown reply"), "{name}: {text}");
        }
        (Some(x), want) => {
            assert_eq!(x.entry, want, "{name}: {}", finding.reply);
            if let Some(p) = &fixture.provider {
                assert_eq!(x.provider.as_str(), p, "{name}");
                assert_eq!(report.provider.map(|p| p.as_str().to_string()).as_ref(), Some(p), "{name}: banner");
            }
            if let Some(t) = &fixture.text {
                assert!(x.fix.contains(t.as_str()), "{name}: fix lacks {t:?}: {}", x.fix);
            }
            // Korean and Indonesian explanations exist and differ from English.
            for lang in [Lang::Ko, Lang::Id] {
                let other = kb::explain(&finding.reply, report.provider, &kb::Context::default(), lang).unwrap();
                assert_eq!(other.entry, x.entry);
                assert_ne!(other.means, x.means, "{name}: {lang:?}");
            }
        }
        (None, want) => panic!("{name}: expected {want}, the reply was unknown: {}", finding.reply),
    }
    // The secret never appears: neither in the transcript nor base64-encoded.
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    let json = serde_json::to_string(&report).unwrap();
    for secret in [PASSWORD.to_string(), b64(PASSWORD), b64("scanner@contoso.com")] {
        assert!(!json.contains(&secret), "{name}: {secret} leaked");
    }
    // ...while the server did receive it (the probe really authenticated).
    assert!(
        seen.iter()
            .any(|l| l.contains(&b64(PASSWORD)) || l.contains(&b64(&format!("\0scanner@contoso.com\0{PASSWORD}")))),
        "{name}: {seen:?}"
    );
}

#[tokio::test]
async fn probe_explains_every_recorded_provider_dialogue() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut paths: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    assert!(paths.len() >= 12, "fixtures missing in {}", dir.display());
    for path in paths {
        run_fixture(&path).await;
    }
}

/// Every provider reply line collected for docs/provider-replies.md, with the entry it must get.
#[test]
fn every_quoted_provider_reply_is_recognised() {
    use Provider::*;
    let ms = Some(Microsoft365);
    let rows: &[(&str, Option<Provider>, &str)] = &[
        ("535 5.7.3 Authentication unsuccessful [SN2PR00CA0018.namprd00.prod.outlook.com]", None, "m365-auth-unsuccessful"),
        ("535 5.7.3 authentication has terminated unsuccessfully because the user name or password is incorrect", ms, "m365-auth-unsuccessful"),
        ("535 5.7.139 Authentication unsuccessful, the user credentials were incorrect. [PH0PR07CA0004.namprd07.prod.outlook.com]", None, "m365-bad-credentials"),
        ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.", None, "m365-smtp-auth-disabled-tenant"),
        ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox", ms, "m365-smtp-auth-disabled-mailbox"),
        ("535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy.", ms, "m365-security-defaults"),
        ("535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator. [MN2PR07CA0004.namprd07.prod.outlook.com 2024-08-13T18:27:55.030Z 08DCBB430284475F]", None, "m365-criteria-not-met"),
        ("535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [BM1P287CA0015.INDP287.PROD.OUTLOOK.COM]", None, "m365-basic-auth-disabled"),
        ("535 5.7.139 Authentication unsuccessful, account locked.", ms, "m365-account-locked"),
        ("550 5.7.30 Basic authentication is not supported for Client Submission.", None, "m365-basic-auth-retired"),
        ("530 5.7.57 Client not authenticated to send mail. [US22278CA0034.US7P278.PROD.OUTLOOK.COM 2024-10-24T08:00:00.000Z 08DCF3]", None, "m365-not-authenticated"),
        ("5.7.57 SMTP; Client was not authenticated to send anonymous mail during MAIL FROM [AM0PR10CA0081.EURPRD10.PROD.OUTLOOK.COM]", None, "m365-not-authenticated"),
        ("451 5.7.3 STARTTLS is required to send mail [SG2PR02CA0073.apcprd02.prod.outlook.com 2024-07-24T03:43:18.298Z 08DCAB6EB788477A]", None, "m365-starttls-required"),
        ("504 5.7.4 Unrecognized authentication type [ME2PR01CA0084.ausprd01.prod.outlook.com 2025-10-09T08:34:00.456Z 08DE05E7CF894786]", None, "m365-unrecognized-auth-type"),
        ("421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS 1.2. Visit https://aka.ms/smtp_auth_tls. [SA9P221CA0019.NAMP221.PROD.OUTLOOK.COM]", None, "m365-tls-version"),
        ("5.7.60 SMTP; Client does not have permissions to send as this sender.", ms, "m365-send-as-denied"),
        ("554 5.2.252 SendAsDenied; info@bizadmin.com.au not allowed to send as noreply@bizadmin.com.au; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message [BeginDiagnosticData]Cannot submit message.", None, "m365-send-as-denied-storedrv"),
        ("554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message Cannot submit message.", None, "m365-send-as-denied-storedrv"),
        ("550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP. For more information please go to http://go.microsoft.com/fwlink/?LinkId=526653 AS(7230) [BM1PR01MB1076.INDPRD01.PROD.OUTLOOK.COM]", None, "m365-ip-blocked"),
        ("550 5.7.705 Access denied, tenant has exceeded threshold", ms, "m365-tenant-threshold"),
        ("550 5.7.750 Client blocked from sending from unregistered domain", ms, "m365-unregistered-domain"),
        ("432 4.3.2 Concurrent connections limit exceeded.", ms, "m365-concurrency-limit"),
        ("4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded.", None, "m365-concurrency-limit"),
        ("554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException", None, "m365-daily-quota"),
        ("554 5.2.2 mailbox full; STOREDRV.Submission.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded", None, "m365-mailbox-full"),
        ("554 5.2.0 MapiExceptionMaxSubmissionExceeded; Message size exceeds maximum size limit.; STOREDRV.Submission.Exception:MessageSubmissionExceededException.MapiExceptionMaxSubmissionExceeded", None, "m365-max-submission"),
        ("552 5.3.4 Header size exceeds fixed maximum size", ms, "m365-header-too-large"),
        ("550 5.1.8 Bad outbound sender", ms, "m365-bad-outbound-sender"),
        ("503 5.5.2 Send hello first [PR0P264CA0090.FRAP264.PROD.OUTLOOK.COM]", None, "m365-send-hello-first"),
        ("500 5.3.3 Unrecognized command 'unknown' [xx.PROD.OUTLOOK.COM 2024-03-01T09:55:18.157Z xx]", None, "m365-unrecognized-command"),
        ("501 5.5.124 Invalid XOAUTH2 auth data", ms, "m365-invalid-xoauth2"),
        ("534-5.7.9 Application-specific password required.", Some(Gmail), "gmail-app-password-required"),
        ("535-5.7.8 Username and Password not accepted.", Some(Gmail), "gmail-bad-credentials"),
        ("534-5.7.14 Please log in via your web browser and then try again.", Some(Gmail), "gmail-web-login-required"),
        ("530 5.7.0 Must issue a STARTTLS command first.", Some(Gmail), "gmail-starttls-first"),
        ("454 4.7.0 Too many login attempts, please try again later.", Some(Gmail), "gmail-too-many-logins"),
        ("550 5.4.5 Daily user sending limit exceeded.", Some(Gmail), "gmail-daily-limit"),
        ("552 5.3.4 Your message exceeded Google's message size limits.", Some(Gmail), "gmail-message-too-large"),
        // Generic RFC codes from a server nobody recognises.
        ("530 5.7.0 Authentication required", None, "generic-auth-required"),
        ("534 5.7.9 Authentication mechanism is too weak", None, "generic-mechanism-too-weak"),
        ("535 5.7.8 Authentication credentials invalid", None, "generic-credentials-invalid"),
        ("538 5.7.11 Encryption required for requested authentication mechanism", None, "ours-auth-before-tls"),
        ("454 4.7.0 Temporary authentication failure", None, "ours-auth-temp-fail"),
        ("504 5.5.4 Unrecognized authentication type", None, "generic-unrecognized-mechanism"),
        ("552 5.3.4 Message too big", None, "generic-message-too-big"),
        ("452 4.5.3 Too many recipients", None, "ours-too-many-recipients"),
        ("421 4.7.0 mx.example.org closing connection: rate limit", None, "generic-closing"),
    ];
    let mut wrong = vec![];
    for (line, hint, want) in rows {
        let got = kb::lookup(line, *hint).map(|e| e.id).unwrap_or("unknown");
        if got != *want {
            wrong.push(format!("{line}\n   expected {want}, got {got}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Replies nobody has described stay unknown.
    for line in ["550 5.9.99 Something nobody has seen", "535 5.7.0 frobnicated", "451 4.4.4 odd"] {
        assert!(kb::lookup(line, Some(Microsoft365)).is_none(), "{line} must be unknown");
    }
}
