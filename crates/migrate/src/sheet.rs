//! Setup sheets: one printable page per device, in the admin's language, with everything the
//! person at the printer needs — server, ports, TLS mode, user name, the device credential
//! (shown only here), a QR code of the same settings, what to do when the device speaks only
//! TLS 1.0, and the command that checks it afterwards.
//!
//! HTML with a print stylesheet (A4 and Letter both fit; one sheet per page). No PDF writer:
//! the sheets must print Hangul, which a PDF crate can only do by embedding a CJK font we would
//! have to ship; every browser prints this page to PDF with the system's fonts.

use authrelay_i18n::{t, Arg, Lang};
use minijinja::{context, Environment};
use serde::Serialize;

use crate::plan::Issued;

/// How devices reach this server.
#[derive(Debug, Clone, Serialize)]
pub struct Server {
    /// The name devices put in their "SMTP server" field (matches the TLS certificate).
    pub host: String,
    /// STARTTLS submission port (587 in production), if that listener is on.
    pub starttls_port: Option<u16>,
    /// Implicit-TLS port (465 in production), if that listener is on.
    pub tls_port: Option<u16>,
}

impl Server {
    /// The port and mode a sheet recommends: STARTTLS when offered (what most devices call
    /// "TLS" or "STARTTLS"), else implicit TLS ("SSL/TLS").
    fn primary(&self) -> (u16, &'static str) {
        match (self.starttls_port, self.tls_port) {
            (Some(p), _) => (p, "starttls"),
            (None, Some(p)) => (p, "tls"),
            (None, None) => (587, "starttls"),
        }
    }
}

/// The settings as the QR code carries them: one `key=value` per line, readable by any phone
/// camera app and by a person.
pub fn qr_text(server: &Server, issued: &Issued) -> String {
    let (port, mode) = server.primary();
    format!(
        "SMTP\nserver={}\nport={port}\ntls={mode}\nauth=login\nuser={}\npassword={}\nfrom={}\n",
        server.host, issued.address, issued.secret, issued.address
    )
}

fn qr_svg(text: &str) -> String {
    qrcode::QrCode::new(text.as_bytes())
        .map(|c| c.render::<qrcode::render::svg::Color>().min_dimensions(180, 180).quiet_zone(true).build())
        .unwrap_or_default()
}

/// The sheets' stylesheet: inline in a saved file, served as a file where a page's
/// Content-Security-Policy forbids inline styles (the admin center).
pub const CSS: &str = r#"  body { font-family: "Noto Sans", "NanumGothic", "Malgun Gothic", Arial, sans-serif; color: #111; margin: 0; }
  .sheet { max-width: 180mm; margin: 10mm auto; padding: 0 6mm; }
  .sheet + .sheet { border-top: 1px dashed #999; padding-top: 10mm; }
  h1 { font-size: 20pt; margin: 0 0 2mm; }
  .sub { color: #444; margin: 0 0 6mm; }
  table.settings { border-collapse: collapse; width: 100%; font-size: 12pt; }
  table.settings th { text-align: left; width: 38%; padding: 2mm 3mm; background: #f1f1f1; border: 1px solid #bbb; font-weight: 600; }
  table.settings td { padding: 2mm 3mm; border: 1px solid #bbb; font-family: "DejaVu Sans Mono", Consolas, monospace; word-break: break-all; }
  .secret { font-size: 13pt; font-weight: 700; letter-spacing: .03em; }
  .row { display: flex; gap: 6mm; align-items: flex-start; margin-top: 5mm; }
  .qr svg { width: 45mm; height: 45mm; }
  .box { border: 2px solid #b00; padding: 3mm 4mm; margin-top: 5mm; }
  .box.info { border-color: #777; }
  .box h2 { font-size: 12pt; margin: 0 0 2mm; }
  code, pre { font-family: "DejaVu Sans Mono", Consolas, monospace; }
  pre { background: #f6f6f6; padding: 2mm 3mm; white-space: pre-wrap; margin: 1mm 0; }
  .once { font-weight: 600; }
  @page { size: auto; margin: 10mm; }
  .banner { max-width: 180mm; margin: 6mm auto; padding: 4mm 6mm; border: 1px solid #bbb; background: #fafafa; }
  .banner table { border-collapse: collapse; } .banner td, .banner th { padding: 1mm 3mm; text-align: left; }
  @media print {
    .noprint { display: none; }
    body { font-size: 10pt; }
    h1 { font-size: 16pt; }
    .sub { margin-bottom: 3mm; }
    table.settings { font-size: 10.5pt; }
    table.settings th, table.settings td { padding: 1.2mm 2.5mm; }
    .qr svg { width: 36mm; height: 36mm; }
    .row { margin-top: 3mm; }
    .row p, .box p { margin: 1mm 0; }
    .box { margin-top: 3mm; padding: 2mm 3mm; }
    pre { margin: 0; padding: 1.5mm 2.5mm; }
    .sheet { margin: 0 auto; padding: 0; page-break-after: always; break-after: page; }
    .sheet + .sheet { border-top: none; padding-top: 0; }
    .sheet:last-child { page-break-after: auto; break-after: auto; }
    .box, table.settings, .row { break-inside: avoid; }
  }
"#;

const TEMPLATE: &str = r#"<!doctype html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<link rel="icon" href="data:,">
{% if css_href %}<link rel="stylesheet" href="{{ css_href }}">{% else %}<style>
{{ css }}</style>{% endif %}
</head>
<body>
{% if banner %}<div class="noprint banner">{{ banner }}</div>{% endif %}
{% for s in sheets %}
<section class="sheet" data-address="{{ s.address }}" data-legacy-tls="{{ 'yes' if s.legacy else 'no' }}">
  <h1>{{ s.heading }}</h1>
  <p class="sub">{{ s.intro }}</p>
  <table class="settings">
    <tr><th>{{ labels.server }}</th><td class="f-server">{{ server.host }}</td></tr>
    <tr><th>{{ labels.port }}</th><td class="f-port">{{ s.port_text }}</td></tr>
    <tr><th>{{ labels.tls }}</th><td class="f-tls">{{ s.tls_text }}</td></tr>
    <tr><th>{{ labels.auth }}</th><td class="f-auth">{{ labels.auth_value }}</td></tr>
    <tr><th>{{ labels.user }}</th><td class="f-user">{{ s.address }}</td></tr>
    <tr><th>{{ labels.password }}</th><td class="f-password"><span class="secret">{{ s.secret }}</span></td></tr>
    <tr><th>{{ labels.from }}</th><td class="f-from">{{ s.address }}</td></tr>
    <tr><th>{{ labels.allowed_from }}</th><td class="f-allow">{{ s.allow }}</td></tr>
  </table>
  <div class="row">
    <div class="qr" title="{{ labels.qr }}">{{ s.qr }}</div>
    <div>
      <p class="once">{{ s.once }}</p>
      <p>{{ s.credential_note }}</p>
      <p>{{ labels.qr }}</p>
    </div>
  </div>
  <div class="box{{ '' if s.legacy else ' info' }} tls-advice">
    <h2>{{ s.tls_heading }}</h2>
    <p>{{ s.tls_body }}</p>
    <p>{{ labels.tls_fix }}</p>
  </div>
  <div class="box info check">
    <h2>{{ labels.check_heading }}</h2>
    <p>{{ labels.check_body }}</p>
    <pre class="f-doctor">authrelay doctor {{ s.address }} --explain-last
authrelay import status</pre>
  </div>
</section>
{% endfor %}
</body>
</html>
"#;

fn pct(v: Option<f64>) -> String {
    let v = v.unwrap_or(0.0);
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// One HTML document holding a sheet per device, in `lang`, with its stylesheet inline.
pub fn render(lang: Lang, server: &Server, issued: &[Issued]) -> String {
    render_page(lang, server, issued, None, None)
}

/// [`render`] with the stylesheet linked from `css_href` and, above the sheets, `banner` (safe
/// HTML, hidden when printed): the admin center's page around the sheets.
pub fn render_page(
    lang: Lang,
    server: &Server,
    issued: &[Issued],
    css_href: Option<&str>,
    banner: Option<String>,
) -> String {
    let tr = |id: &str, args: &[(&str, Arg)]| t(lang, id, args);
    let (port, mode) = server.primary();
    let other = match mode {
        "starttls" => server.tls_port.map(|p| tr("sheet-port-alt-tls", &[("port", Arg::Str(&p.to_string()))])),
        _ => None,
    };
    let sheets: Vec<_> = issued
        .iter()
        .map(|i| {
            let a = |k| (k, Arg::Str(&i.address));
            let port_text = match &other {
                Some(alt) => format!("{port} ({alt})"),
                None => port.to_string(),
            };
            let tls_text = tr(if mode == "starttls" { "sheet-tls-starttls" } else { "sheet-tls-implicit" }, &[]);
            let (tls_heading, tls_body) = if i.legacy_tls {
                (
                    tr("sheet-legacy-heading", &[]),
                    tr(
                        "sheet-legacy-body",
                        &[a("address"), ("tls10", Arg::Str(&pct(i.tls10))), ("tls11", Arg::Str(&pct(i.tls11)))],
                    ),
                )
            } else {
                (tr("sheet-tls10-heading", &[]), tr("sheet-tls10-body", &[]))
            };
            context! {
                address => i.address.clone(),
                secret => i.secret.clone(),
                legacy => i.legacy_tls,
                heading => tr("sheet-heading", &[a("address")]),
                intro => tr("sheet-intro", &[a("address"), ("org", Arg::Str(&i.org))]),
                port_text, tls_text, tls_heading, tls_body,
                allow => if i.allow.is_empty() { tr("sheet-allow-any", &[]) } else { i.allow.join(", ") },
                once => tr("sheet-once", &[]),
                credential_note => tr("sheet-credential-note", &[("name", Arg::Str(&i.credential)), ("tag", Arg::Str(&i.tag))]),
                qr => minijinja::Value::from_safe_string(qr_svg(&qr_text(server, i))),
            }
        })
        .collect();
    let labels = context! {
        server => tr("sheet-server", &[]),
        port => tr("sheet-port", &[]),
        tls => tr("sheet-tls", &[]),
        auth => tr("sheet-auth", &[]),
        auth_value => tr("sheet-auth-value", &[]),
        user => tr("sheet-user", &[]),
        password => tr("sheet-password", &[]),
        from => tr("sheet-from", &[]),
        allowed_from => tr("sheet-allowed-from", &[]),
        qr => tr("sheet-qr", &[]),
        tls_fix => tr("sheet-tls-fix", &[]),
        check_heading => tr("sheet-check-heading", &[]),
        check_body => tr("sheet-check-body", &[]),
    };
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("sheets.html", TEMPLATE).expect("sheet template parses");
    let title = match issued {
        [one] => tr("sheet-heading", &[("address", Arg::Str(&one.address))]),
        _ => tr("sheet-title-all", &[("count", Arg::from(issued.len()))]),
    };
    env.get_template("sheets.html")
        .and_then(|tpl| {
            tpl.render(context! {
                lang => lang.tag(), title, server, labels, sheets, css => minijinja::Value::from_safe_string(CSS.to_string()),
                css_href, banner => banner.map(minijinja::Value::from_safe_string),
            })
        })
        .expect("sheet template renders")
}

/// A file name for one device's sheet: the address with anything but letters, digits, `.`,
/// `-`, `_` and `@` replaced, so no address can name a path outside the output directory.
pub fn file_name(address: &str) -> String {
    let safe: String = address
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') { c } else { '_' })
        .collect();
    format!("{}.html", safe.trim_start_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Protocol;

    fn issued(address: &str, legacy: bool) -> Issued {
        Issued {
            address: address.into(),
            org: "Contoso".into(),
            credential: "m365 x".into(),
            tag: "abcdefgh".into(),
            secret: "adc_abcdefgh_secretsecretsecretsecretsecretsecr".into(),
            allow: vec!["192.0.2.0/24".into()],
            legacy_tls: legacy,
            tls10: Some(if legacy { 62.5 } else { 0.0 }),
            tls11: Some(0.0),
            protocol: Protocol::Basic,
        }
    }

    #[test]
    fn each_language_has_the_fields_and_escapes_what_the_report_said() {
        let server = Server { host: "smtp.contoso.com".into(), starttls_port: Some(587), tls_port: Some(465) };
        let devices = [issued("mfp@contoso.com", true), issued("a<b>\"@contoso.com", false)];
        for lang in Lang::ALL {
            // minijinja escapes '/' too.
            let html = render(*lang, &server, &devices).replace("&#x2f;", "/");
            assert_eq!(html.matches("<section class=\"sheet\"").count(), 2);
            for field in [
                "smtp.contoso.com",
                "587",
                "465",
                "adc_abcdefgh_secret",
                "192.0.2.0/24",
                "authrelay doctor mfp@contoso.com",
                "<svg",
            ] {
                assert!(html.contains(field), "{lang:?}: {field}");
            }
            assert!(html.contains("62.5"), "{lang:?}: the TLS 1.0 share is on the legacy sheet");
            assert!(!html.contains("a<b>"), "{lang:?}: unescaped address");
            assert!(html.contains("@media print"));
        }
        assert!(render(Lang::Ko, &server, &devices).contains("lang=\"ko\""));
        assert_ne!(render(Lang::Id, &server, &devices[..1]), render(Lang::En, &server, &devices[..1]));
    }

    #[test]
    fn qr_payload_and_file_names() {
        let server = Server { host: "smtp.contoso.com".into(), starttls_port: None, tls_port: Some(465) };
        let text = qr_text(&server, &issued("mfp@contoso.com", false));
        assert!(text.contains("port=465\ntls=tls\n") && text.contains("user=mfp@contoso.com\npassword=adc_"), "{text}");
        assert_eq!(file_name("mfp@contoso.com"), "mfp@contoso.com.html");
        assert_eq!(file_name("../../etc/passwd@x.com"), "_.._etc_passwd@x.com.html");
        assert!(!file_name("a/b\\c@x.com").contains(['/', '\\']));
    }
}
