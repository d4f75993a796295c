use super::*;

fn senders(message: &str) -> Result<Vec<String>, HeaderError> {
    sender_fields(message.as_bytes()).map(|fields| fields.into_iter().flat_map(|f| f.addresses).collect())
}

#[test]
fn ordinary_messages_name_their_senders() {
    let rows: &[(&str, &[&str])] = &[
        ("From: scanner@contoso.com\r\n\r\nbody\r\n", &["scanner@contoso.com"]),
        ("From: Scanner <Scanner@Contoso.com>\r\nTo: a@b.example\r\n\r\n", &["Scanner@Contoso.com"]),
        ("From: \"Scanner, 2nd floor\" <scanner@contoso.com>\r\n\r\n", &["scanner@contoso.com"]),
        ("From: J. Smith <scanner@contoso.com>\r\n\r\n", &["scanner@contoso.com"]),
        ("From: =?utf-8?q?Sc=C3=A4nner?= <scanner@contoso.com>\r\n\r\n", &["scanner@contoso.com"]),
        ("From: scanner@contoso.com (the scanner)\r\n\r\n", &["scanner@contoso.com"]),
        ("From:\r\n scanner@contoso.com\r\n\r\n", &["scanner@contoso.com"]),
        (
            "From: a@contoso.com, Alerts <alerts@contoso.com>\r\nSender: a@contoso.com\r\n\r\n",
            &["a@contoso.com", "alerts@contoso.com", "a@contoso.com"],
        ),
        ("Resent-From: a@contoso.com\r\nResent-From: b@contoso.com\r\n\r\n", &["a@contoso.com", "b@contoso.com"]),
        ("From: Team: a@contoso.com, b@contoso.com;\r\n\r\n", &["a@contoso.com", "b@contoso.com"]),
        ("Subject: no sender fields\r\n\r\n", &[]),
        ("", &[]),
        ("\r\nFrom: body text, not a field\r\n", &[]),
        // A bare body (devices send those): no field at all.
        ("scan complete\r\n3 pages\r\n", &[]),
    ];
    for (message, expected) in rows {
        let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(senders(message), Ok(expected), "{message:?}");
    }
}

#[test]
fn the_cases_seen_in_issue_12_are_refused() {
    let rows: &[(&str, HeaderError)] = &[
        ("From: CEO <ceo@contoso.com>\r\nFrom: scanner@contoso.com\r\n\r\n", HeaderError::Repeated),
        ("From: CEO <ceo@contoso.com>\r\nFrom:\r\n\r\n", HeaderError::Repeated),
        ("From: CEO <ceo@contoso.com>\r\nno colon here\r\nFrom: scanner@contoso.com\r\n\r\n", HeaderError::NotAField),
        ("From: ceo@fabrikam.example\r\nFrom: scanner@contoso.com\r\n\r\n", HeaderError::Repeated),
        (
            "From: scanner@contoso.com\r\nSender: ceo@contoso.com\r\nSender: scanner@contoso.com\r\n\r\n",
            HeaderError::Repeated,
        ),
        ("From:\r\n\r\n", HeaderError::Unreadable),
        ("From:   \r\n\r\n", HeaderError::Unreadable),
    ];
    for (message, expected) in rows {
        assert_eq!(senders(message), Err(*expected), "{message:?}");
    }
}

#[test]
fn ambiguous_sections_are_refused() {
    let rows: &[(&str, HeaderError)] = &[
        // Whitespace-only line: a continuation for some readers, the end of the header for others.
        ("From: scanner@contoso.com\r\n \r\nFrom: ceo@contoso.com\r\n\r\n", HeaderError::BadFolding),
        (" From: ceo@contoso.com\r\n\r\n", HeaderError::BadFolding),
        // The obsolete space before the colon: some readers take it for From, Python does not.
        ("Subject: x\r\nFrom : ceo@contoso.com\r\n\r\n", HeaderError::NotAField),
        // A bare body in which a reader that skips junk would still find a From.
        ("junk line\r\nFrom: ceo@contoso.com\r\n\r\n", HeaderError::NotAField),
        ("From ceo@contoso.com Mon Jan  1 00:00:00 2026\r\nSubject: x\r\n\r\n", HeaderError::NotAField),
        ("Subject: x\r\nFrom\x0b: ceo@contoso.com\r\n\r\n", HeaderError::ControlCharacter),
        ("Subject: x\x0c\r\n\r\n", HeaderError::ControlCharacter),
        ("Subject: x\nFrom: ceo@contoso.com\r\n\r\n", HeaderError::ControlCharacter),
        ("Fr\u{f6}m: ceo@contoso.com\r\nFrom: a@contoso.com\r\n\r\n", HeaderError::NotAField),
    ];
    for (message, expected) in rows {
        assert_eq!(senders(message), Err(*expected), "{message:?}");
    }
}

#[test]
fn unreadable_sender_values_are_refused() {
    for value in [
        "ceo",
        "<ceo>",
        "scanner@contoso.com <ceo@contoso.com>",
        "<ceo@contoso.com>scanner@contoso.com",
        "scanner@contoso.com,",
        ",scanner@contoso.com",
        "scanner@contoso.com,,a@contoso.com",
        "scanner @ contoso.com",
        "scanner@[127.0.0.1]",
        "<@route.example:ceo@contoso.com>",
        "\"unterminated@contoso.com",
        "(unterminated comment scanner@contoso.com",
        "Undisclosed:;",
        "a@contoso.com; b@contoso.com",
        "=?utf-8?q?ceo=40contoso.com?=",
        "scanner@contoso",
    ] {
        let message = format!("From: {value}\r\n\r\n");
        assert!(senders(&message).is_err(), "{value:?} -> {:?}", senders(&message));
    }
    // Sender names exactly one mailbox.
    assert_eq!(senders("Sender: a@contoso.com, b@contoso.com\r\n\r\n"), Err(HeaderError::Unreadable));
}

#[test]
fn quoted_local_parts_are_refused_because_readers_disagree() {
    // mail-parser 0.11 reads `"scanner"@contoso.com` as the name "scanner" and the address
    // "@contoso.com"; a reading two parsers do not share is refused.
    for value in ["\"scanner\"@contoso.com", "\"scanner@contoso.com\"@evil.example", "\"a b\"@contoso.com"] {
        assert_eq!(senders(&format!("From: {value}\r\n\r\n")), Err(HeaderError::Disagreement), "{value}");
    }
    // Ours keeps a local part that is not a dot-atom quoted, so it can match no mailbox.
    let mut p = Parser { tokens: tokenize("\"scanner@contoso.com\"@evil.example").unwrap(), pos: 0 };
    assert_eq!(p.mailbox().as_deref(), Some("\"scanner@contoso.com\"@evil.example"));
}
