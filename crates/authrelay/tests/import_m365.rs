//! `authrelay import m365` and `authrelay import status` (issue 14) through the real binary and
//! the real server: dry run changes nothing; apply writes the setup sheets; the same files again
//! (in their UTF-16 variants too) change nothing; a device (swaks) configured from nothing but
//! its sheet sends, and the cutover checklist shows it done while another is still failing with
//! the check that refuses it; TLS 1.0/1.1 senders are flagged for a legacy listener.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestServer;

fn fixture(name: &str) -> String {
    format!("{}/../migrate/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn import_args<'a>(report: &'a str, mailboxes: &'a str, org: &'a str) -> Vec<String> {
    ["import", "m365", "--report", report, "--mailboxes", mailboxes, "--org-settings", org, "--org", "Contoso"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn run(server: &TestServer, args: &[String]) -> (i32, String, String) {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = server.cli(&refs);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn en_variant() -> Vec<String> {
    import_args(
        &fixture("report-en-utf8-bom.csv"),
        &fixture("mailboxes-ps51-utf16le.csv"),
        &fixture("transportconfig-fl-utf16le.txt"),
    )
}

/// The text of the first element with `class` inside the sheet section of `address`.
fn field(html: &str, address: &str, class: &str) -> String {
    let start = html.find(&format!("data-address=\"{address}\"")).unwrap_or_else(|| panic!("no sheet for {address}"));
    let section = &html[start..html[start..].find("</section>").map(|e| start + e).unwrap()];
    let at = section.find(&format!("class=\"{class}\"")).unwrap_or_else(|| panic!("no {class} on {address}'s sheet"));
    let text = &section[at..];
    let text = &text[text.find('>').unwrap() + 1..];
    let text = &text[..text.find("</td>").or_else(|| text.find("</pre>")).unwrap()];
    // Drop inner tags (the password sits in a span) and undo minijinja's escapes.
    let mut plain = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => plain.push(c),
            _ => {}
        }
    }
    plain.replace("&#x2f;", "/").replace("&quot;", "\"").replace("&amp;", "&").trim().to_string()
}

fn sheets_dir(server: &TestServer) -> PathBuf {
    server.dir.path().join("sheets")
}

fn read_sheet(dir: &Path, address: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{address}.html"))).unwrap()
}

#[test]
fn dry_run_changes_nothing_apply_writes_sheets_and_the_second_import_changes_nothing() {
    let server = TestServer::start();
    let (code, plan, err) = run(&server, &en_variant());
    assert_eq!(code, 0, "{err}");
    assert!(plan.contains("dry run"), "{plan}");
    assert!(plan.contains("create the organisation \"Contoso\" with the domains contoso.com, fabrikam.com"), "{plan}");
    assert!(plan.contains("empty (follows the organisation) in Microsoft 365"), "{plan}");
    assert!(plan.contains("needs a legacy listener"), "{plan}");
    assert_eq!(server.ok(&["org", "list", "--json"]).trim(), "[]", "the dry run created nothing");
    assert_eq!(server.ok(&["user", "list", "--json"]).trim(), "[]", "no user after a dry run");

    // --apply without a place for the sheets is refused before anything is done.
    let mut apply = en_variant();
    apply.push("--apply".into());
    let (code, _, err) = run(&server, &apply);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("add --sheets DIR"), "{err}");
    assert_eq!(server.ok(&["org", "list", "--json"]).trim(), "[]");

    let dir = sheets_dir(&server);
    apply.extend(["--sheets".into(), dir.display().to_string(), "--server-name".into(), "smtp.contoso.test".into()]);
    let (code, out, err) = run(&server, &apply);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Wrote 5 setup sheets"), "{out}");
    assert!(out.contains("changes made"), "{out}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(dir.join("index.html")).unwrap().permissions().mode() & 0o077,
        0,
        "sheets hold secrets"
    );
    let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert_eq!(index.matches("<section class=\"sheet\"").count(), 5);
    for address in
        ["scanner@contoso.com", "mfp-2f@contoso.com", "erp@contoso.com", "fax@fabrikam.com", "rare-report@contoso.com"]
    {
        let sheet = read_sheet(&dir, address);
        assert_eq!(field(&sheet, address, "f-server"), "smtp.contoso.test");
        assert_eq!(field(&sheet, address, "f-user"), address);
        assert!(field(&sheet, address, "f-password").starts_with("adc_"));
        assert!(field(&sheet, address, "f-port").starts_with(&server.submission.port().to_string()));
        assert!(field(&sheet, address, "f-doctor").contains(&format!("authrelay doctor {address}")));
        assert!(sheet.contains("<svg"), "QR code on {address}'s sheet");
    }
    // The TLS 1.0 / 1.1 senders' sheets say so; the others carry only the general advice.
    for (address, legacy) in [("mfp-2f@contoso.com", true), ("fax@fabrikam.com", true), ("scanner@contoso.com", false)]
    {
        let sheet = read_sheet(&dir, address);
        assert_eq!(sheet.contains("data-legacy-tls=\"yes\""), legacy, "{address}");
        assert_eq!(sheet.contains("used old TLS with Microsoft 365"), legacy, "{address}");
        assert!(sheet.contains("If the device only speaks TLS 1.0") != legacy, "{address}");
    }
    // The three states, mirrored.
    let show = |a: &str| server.ok(&["user", "show", a, "--json"]);
    assert!(show("scanner@contoso.com").contains("\"smtp_auth\": \"enabled\""));
    assert!(show("mfp-2f@contoso.com").contains("\"smtp_auth\": \"default\""));
    assert!(show("fax@fabrikam.com").contains("\"smtp_auth\": \"disabled\""));

    // Again, in every encoding: nothing to change, nothing changed, no new sheet.
    let before = (
        server.ok(&["org", "list", "--json"]),
        server.ok(&["device-credential", "list", "scanner@contoso.com", "--json"]),
    );
    for (r, m, o) in [
        ("report-en-utf8-bom.csv", "mailboxes-ps51-utf16le.csv", "transportconfig-fl-utf16le.txt"),
        ("report-ko-utf16le.txt", "mailboxes-ps7-utf8-bom.csv", "transportconfig.json"),
        ("report-id-utf16be.csv", "mailboxes-ps51-utf16le.csv", "transportconfig.json"),
    ] {
        let mut again = import_args(&fixture(r), &fixture(m), &fixture(o));
        let (code, out, err) = run(&server, &again);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("Nothing to change: everything in these files is already imported."), "{r}: {out}");
        again.extend(["--apply".into()]);
        let (code, out, err) = run(&server, &again);
        assert_eq!(code, 0, "{r}: {err}");
        assert!(out.contains("Nothing changed"), "{r}: {out}");
        assert!(!out.contains("adc_"), "{r}: {out}");
    }
    assert_eq!(
        before,
        (
            server.ok(&["org", "list", "--json"]),
            server.ok(&["device-credential", "list", "scanner@contoso.com", "--json"])
        )
    );
}

#[test]
fn bad_exports_are_refused_with_the_file_line_and_fix() {
    let server = TestServer::start();
    let bad = server.dir.path().join("bad.csv");
    std::fs::write(&bad, "Sender address,TLS 1.0,Messages sent\nscanner@contoso.com,120%,5\n").unwrap();
    let (code, _, err) = run(&server, &["import".into(), "m365".into(), "--report".into(), bad.display().to_string()]);
    assert_eq!(code, 2);
    assert!(err.contains("line 2") && err.contains("\"120%\""), "{err}");
    std::fs::write(&bad, "Absender;TLS 1.0;Nachrichten\nscanner@contoso.com;0;5\n").unwrap();
    let (code, _, err) = run(&server, &["import".into(), "m365".into(), "--report".into(), bad.display().to_string()]);
    assert_eq!(code, 2);
    assert!(err.contains("--column sender=HEADER"), "{err}");
    // Named with --column, the same file is read (and a Korean run says so in Korean).
    let args: Vec<String> = [
        "--lang",
        "ko",
        "import",
        "m365",
        "--report",
        &bad.display().to_string(),
        "--column",
        "sender=Absender",
        "--column",
        "messages=Nachrichten",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (code, out, err) = run(&server, &args);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("가져오기 계획"), "{out}");
    let (code, _, err) = run(&server, &["import".into(), "m365".into(), "--report".into(), "/nonexistent.csv".into()]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read /nonexistent.csv"), "{err}");
}

fn swaks(server: &str, port: &str, tls: &str, user: &str, password: &str) -> (bool, String) {
    let mut cmd = Command::new("swaks");
    cmd.args([
        "--server",
        &format!("{server}:{port}"),
        "--auth",
        "LOGIN",
        "--auth-user",
        user,
        "--auth-password",
        password,
    ]);
    cmd.args([
        "--from",
        user,
        "--to",
        "frontdesk@example.net",
        "--header",
        "Subject: Scan 0042",
        "--body",
        "scan attached",
    ]);
    cmd.args(["--timeout", "20"]);
    if tls.starts_with("STARTTLS") {
        cmd.arg("--tls");
    } else {
        cmd.arg("--tlsc");
    }
    let out = cmd.output().expect("swaks must be installed to run this test");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn walk_import_sheet_device_sends_readiness_done() {
    let server = TestServer::start();
    let dir = sheets_dir(&server);
    let mut apply = en_variant();
    apply.extend([
        "--apply".into(),
        "--sheets".into(),
        dir.display().to_string(),
        "--server-name".into(),
        "127.0.0.1".into(),
    ]);
    let (code, out, err) = run(&server, &apply);
    assert_eq!(code, 0, "{out}{err}");

    // Before any device: every line "not yet seen", exit code 1.
    let status = server.cli(&["import", "status"]);
    let text = String::from_utf8_lossy(&status.stdout).to_string();
    assert_eq!(status.status.code(), Some(1), "{text}");
    assert_eq!(text.matches("no sign-in since the import").count(), 5, "{text}");
    assert!(text.contains("0 of 5 senders done"), "{text}");

    // The scanner's technician types in exactly what the sheet says.
    let sheet = read_sheet(&dir, "scanner@contoso.com");
    let host = field(&sheet, "scanner@contoso.com", "f-server");
    let port = field(&sheet, "scanner@contoso.com", "f-port");
    let port = port.split_whitespace().next().unwrap().to_string();
    let tls = field(&sheet, "scanner@contoso.com", "f-tls");
    let user = field(&sheet, "scanner@contoso.com", "f-user");
    let password = field(&sheet, "scanner@contoso.com", "f-password");
    let (ok, transcript) = swaks(&host, &port, &tls, &user, &password);
    assert!(ok, "{transcript}");
    assert!(transcript.contains("235 2.7.0 Authentication successful"), "{transcript}");
    assert!(transcript.contains("250 2.0.0 OK queued as"), "{transcript}");

    // The fax's sheet is right too, but Microsoft 365 had SMTP AUTH off for that mailbox and the
    // import mirrored it: refused, and the checklist names the deciding check.
    let fax = read_sheet(&dir, "fax@fabrikam.com");
    let (ok, transcript) =
        swaks(&host, &port, &tls, "fax@fabrikam.com", &field(&fax, "fax@fabrikam.com", "f-password"));
    assert!(!ok && transcript.contains("SmtpClientAuthentication is disabled for the Mailbox"), "{transcript}");

    let out = server.cli(&["import", "status", "--json"]);
    let lines: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let state = |a: &str| lines.as_array().unwrap().iter().find(|l| l["address"] == a).unwrap().clone();
    assert_eq!(state("scanner@contoso.com")["state"], "done");
    assert_eq!(state("scanner@contoso.com")["last_used_ip"], "127.0.0.1");
    assert_eq!(state("fax@fabrikam.com")["state"], "failing");
    assert_eq!(state("fax@fabrikam.com")["check"], "authenticated-smtp");
    assert_eq!(state("mfp-2f@contoso.com")["state"], "not-seen");
    assert_eq!(state("mfp-2f@contoso.com")["legacy_tls"], true);
    let text = String::from_utf8_lossy(&server.cli(&["--lang", "id", "import", "status"]).stdout).to_string();
    assert!(text.contains("1 dari 5 pengirim selesai"), "{text}");
    assert!(text.contains("perlu listener lama"), "{text}");

    // The admin fixes the fax the way the plan suggested; it sends and the line turns done.
    server.ok(&["user", "set", "fax@fabrikam.com", "--smtp-auth", "enabled"]);
    let (ok, transcript) =
        swaks(&host, &port, &tls, "fax@fabrikam.com", &field(&fax, "fax@fabrikam.com", "f-password"));
    assert!(ok, "{transcript}");
    let out = server.cli(&["import", "status", "--json"]);
    let lines: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(lines.as_array().unwrap().iter().filter(|l| l["state"] == "done").count(), 2);
}
