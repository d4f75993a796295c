//! The plan and the checklist as text, in the admin's language (what `authrelay import m365`
//! and `authrelay import status` print).

use authrelay_i18n::{t, Arg, Lang};

use crate::plan::{Plan, SenderStep};
use crate::report::Protocol;
use crate::settings::Disabled;
use crate::status::{Line, State};

fn pct(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v.fract() == 0.0 => format!("{v:.0}%"),
        Some(v) => format!("{v:.1}%"),
    }
}

fn when(unix: Option<i64>) -> String {
    unix.and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| "-".into())
}

/// The catalogue id naming a mailbox export value, three states plus "not in the export".
pub fn m365_state_id(value: Option<Disabled>) -> &'static str {
    match value {
        Some(Disabled::True) => "import-m365-true",
        Some(Disabled::False) => "import-m365-false",
        Some(Disabled::Unset) => "import-m365-unset",
        None => "import-m365-absent",
    }
}

/// The catalogue id of the effective state after the import.
pub fn effective_id(s: &SenderStep) -> &'static str {
    match (s.smtp_auth_effective, s.smtp_auth_from_mailbox) {
        (true, true) => "import-effective-on-mailbox",
        (true, false) => "import-effective-on-org",
        (false, true) => "import-effective-off-mailbox",
        (false, false) => "import-effective-off-org",
    }
}

/// The notes under one sender: each a catalogue id with its arguments.
pub fn sender_notes(s: &SenderStep) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let a = |k: &'static str, v: &str| (k, v.to_string());
    let mut notes = vec![];
    if s.skipped {
        notes.push(("import-plan-skipped", vec![]));
        return notes;
    }
    notes.push(if s.create_mailbox {
        ("import-plan-mailbox-create", vec![a("org", &s.org)])
    } else {
        ("import-plan-mailbox-exists", vec![a("org", &s.org)])
    });
    notes.push((
        "import-plan-smtp-auth",
        vec![
            a("before", s.smtp_auth_before.map(|b| b.as_str()).unwrap_or("-")),
            a("after", s.smtp_auth_after.as_str()),
            a("m365", m365_state_id(s.m365_smtp_auth_disabled)),
            a("effective", effective_id(s)),
        ],
    ));
    notes.push(if s.credential_exists {
        ("import-plan-credential-exists", vec![a("name", &s.credential)])
    } else if s.allow.is_empty() {
        ("import-plan-credential-create", vec![a("name", &s.credential)])
    } else {
        ("import-plan-credential-create-allow", vec![a("name", &s.credential), a("allow", &s.allow.join(", "))])
    });
    notes.push(match s.protocol {
        Protocol::Basic => ("import-plan-basic", vec![]),
        Protocol::OAuth => ("import-plan-oauth", vec![]),
        Protocol::Unknown if s.from_mailbox_export => ("import-plan-from-export", vec![]),
        Protocol::Unknown => ("import-plan-protocol-unknown", vec![]),
    });
    if s.legacy_tls {
        notes.push(("import-plan-legacy", vec![a("tls10", &pct(s.tls10)), a("tls11", &pct(s.tls11))]));
    }
    if s.inactive {
        notes.push(("import-plan-inactive", vec![]));
    }
    match s.blocked_by {
        Some("authenticated-smtp") => notes.push(("import-plan-blocked-smtp-auth", vec![a("address", &s.address)])),
        Some("device-credentials-policy") => notes.push(("import-plan-blocked-policy", vec![a("org", &s.org)])),
        Some(_) => notes.push(("import-plan-blocked-sign-in", vec![a("address", &s.address)])),
        None => {}
    }
    notes
}

/// Renders a catalogue message; the arguments `m365` and `effective` are themselves catalogue
/// ids and are translated first.
pub fn say(lang: Lang, id: &str, args: &[(&'static str, String)]) -> String {
    let translated: Vec<(&str, String)> = args
        .iter()
        .map(|(k, v)| (*k, if matches!(*k, "m365" | "effective") { t(lang, v, &[]) } else { v.clone() }))
        .collect();
    let args: Vec<(&str, Arg)> = translated.iter().map(|(k, v)| (*k, Arg::Str(v))).collect();
    t(lang, id, &args)
}

/// The whole plan as text. `applying` chooses the heading.
pub fn plan(lang: Lang, plan: &Plan, applying: bool) -> String {
    let mut out = vec![t(lang, if applying { "import-plan-title-apply" } else { "import-plan-title" }, &[])];
    let s = |v: &str| v.to_string();
    out.push(String::new());
    out.push(t(lang, "import-plan-orgs", &[]));
    for o in &plan.orgs {
        out.push(if o.create {
            say(lang, "import-plan-org-create", &[("name", s(&o.name)), ("domains", o.add_domains.join(", "))])
        } else {
            say(lang, "import-plan-org-exists", &[("name", s(&o.name)), ("domains", o.domains.join(", "))])
        });
        if !o.create {
            for d in &o.add_domains {
                out.push(say(lang, "import-plan-org-add-domain", &[("name", s(&o.name)), ("domain", s(d))]));
            }
        }
        let before = o.smtp_auth_before.unwrap_or_default();
        out.push(match plan.org_smtp_auth_disabled {
            None => say(
                lang,
                "import-plan-org-smtp-auth-none",
                &[("name", s(&o.name)), ("after", s(o.smtp_auth_after.as_str()))],
            ),
            Some(v) if before != o.smtp_auth_after => say(
                lang,
                "import-plan-org-smtp-auth-change",
                &[
                    ("name", s(&o.name)),
                    ("before", s(before.as_str())),
                    ("after", s(o.smtp_auth_after.as_str())),
                    ("value", s(if v.as_exported().is_empty() { "$null" } else { v.as_exported() })),
                ],
            ),
            Some(_) => say(
                lang,
                "import-plan-org-smtp-auth-same",
                &[("name", s(&o.name)), ("after", s(o.smtp_auth_after.as_str()))],
            ),
        });
    }
    let new_domains: Vec<String> = plan.orgs.iter().flat_map(|o| o.add_domains.clone()).collect();
    if !new_domains.is_empty() {
        out.push(say(lang, "import-plan-local-domains", &[("domains", new_domains.join(", "))]));
    }
    out.push(String::new());
    out.push(say(lang, "import-plan-senders", &[("count", plan.senders.len().to_string())]));
    for sender in &plan.senders {
        out.push(say(
            lang,
            "import-plan-sender",
            &[
                ("address", s(&sender.address)),
                ("messages", sender.messages.to_string()),
                ("tls10", pct(sender.tls10)),
                ("tls11", pct(sender.tls11)),
                ("tls12", pct(sender.tls12)),
            ],
        ));
        for (id, args) in sender_notes(sender) {
            out.push(format!("      {}", say(lang, id, &args)));
        }
    }
    if plan.not_imported > 0 {
        out.push(say(lang, "import-plan-not-imported", &[("count", plan.not_imported.to_string())]));
    }
    out.push(String::new());
    let active: Vec<&SenderStep> = plan.active().collect();
    out.push(say(
        lang,
        "import-plan-summary",
        &[
            ("senders", active.len().to_string()),
            ("basic", active.iter().filter(|s| s.basic).count().to_string()),
            ("legacy", active.iter().filter(|s| s.legacy_tls).count().to_string()),
            ("inactive", plan.senders.iter().filter(|s| s.inactive).count().to_string()),
            ("skipped", plan.senders.iter().filter(|s| s.skipped).count().to_string()),
        ],
    ));
    if !applying {
        out.push(if plan.is_empty() {
            t(lang, "import-plan-nothing", &[])
        } else {
            say(lang, "import-plan-changes", &[("changes", plan.changes.to_string())])
        });
    }
    out.join("\n")
}

/// The catalogue id of a checklist state.
pub fn state_id(state: State) -> &'static str {
    match state {
        State::Done => "import-state-done",
        State::Failing => "import-state-failing",
        State::NotSeen => "import-state-not-seen",
        State::NoCredential => "import-state-no-credential",
    }
}

/// The detail of one checklist line.
pub fn detail(lang: Lang, l: &Line) -> String {
    let s = |v: &str| v.to_string();
    let mut text = match l.state {
        State::Done => say(
            lang,
            "import-status-done",
            &[("when", when(l.last_used_at)), ("ip", s(l.last_used_ip.as_deref().unwrap_or("-")))],
        ),
        State::Failing => say(
            lang,
            "import-status-failing",
            &[
                ("check", s(l.check.as_deref().unwrap_or("-"))),
                ("reply", s(l.reply.as_deref().unwrap_or("-"))),
                ("when", when(l.failed_at)),
                ("ip", s(l.client_ip.as_deref().unwrap_or("-"))),
                ("address", s(&l.address)),
            ],
        ),
        State::NotSeen => t(lang, "import-status-not-seen", &[]),
        State::NoCredential => say(lang, "import-status-no-credential", &[("name", s(&l.credential))]),
    };
    if l.legacy_tls && l.state != State::Done {
        text.push_str(&t(lang, "import-status-legacy", &[]));
    }
    text
}

/// The checklist as text.
pub fn checklist(lang: Lang, lines: &[Line]) -> String {
    if lines.is_empty() {
        return t(lang, "import-status-none", &[]);
    }
    let mut out = vec![t(lang, "import-status-header", &[])];
    for l in lines {
        out.push(format!(
            "{:<32} {:<16} {:<14} {}",
            l.address,
            l.org,
            t(lang, state_id(l.state), &[]),
            detail(lang, l)
        ));
    }
    let count = |st: State| lines.iter().filter(|l| l.state == st).count().to_string();
    out.push(String::new());
    out.push(say(
        lang,
        "import-status-summary",
        &[
            ("done", count(State::Done)),
            ("total", lines.len().to_string()),
            ("failing", count(State::Failing)),
            ("waiting", count(State::NotSeen)),
        ],
    ));
    out.join("\n")
}
