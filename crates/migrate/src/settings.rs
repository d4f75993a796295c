//! The two Authenticated SMTP switches exported with Exchange Online PowerShell.
//!
//! Per mailbox, `Get-CASMailbox … | Select-Object PrimarySmtpAddress,
//! SmtpClientAuthenticationDisabled | Export-Csv`: `True` (off for the mailbox), `False` (on for
//! the mailbox, whatever the organisation says) or empty (`$null`: the mailbox follows the
//! organisation). The third state is the one scripts lose when they test `-eq $false`; here it
//! maps onto authrelay's own third state, `default`.
//!
//! Per organisation, `Get-TransportConfig`'s `SmtpClientAuthenticationDisabled`, accepted as
//! `Export-Csv` output, as the text `Format-List` prints, or as `ConvertTo-Json` output.

use std::collections::BTreeMap;

use authrelay_core::{Address, MailboxSmtpAuth, OrgSmtpAuth};
use serde::Serialize;

use crate::table::{normalize, Table};
use crate::ImportError;

/// The property both switches are called by.
pub const PROPERTY: &str = "SmtpClientAuthenticationDisabled";

/// A `SmtpClientAuthenticationDisabled` value as exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Disabled {
    /// `True`: SMTP AUTH off.
    True,
    /// `False`: SMTP AUTH on.
    False,
    /// Empty / `$null`: not set here (a mailbox follows its organisation).
    Unset,
}

impl Disabled {
    fn parse(value: &str) -> Option<Disabled> {
        match value.trim().trim_start_matches('$').to_ascii_lowercase().as_str() {
            "true" => Some(Disabled::True),
            "false" => Some(Disabled::False),
            "" | "null" => Some(Disabled::Unset),
            _ => None,
        }
    }

    /// The mailbox setting with the same meaning.
    pub fn mailbox(self) -> MailboxSmtpAuth {
        match self {
            Disabled::True => MailboxSmtpAuth::Disabled,
            Disabled::False => MailboxSmtpAuth::Enabled,
            Disabled::Unset => MailboxSmtpAuth::Default,
        }
    }

    /// The organisation setting with the same meaning; `Unset` says nothing.
    pub fn org(self) -> Option<OrgSmtpAuth> {
        match self {
            Disabled::True => Some(OrgSmtpAuth::Disabled),
            Disabled::False => Some(OrgSmtpAuth::Enabled),
            Disabled::Unset => None,
        }
    }

    /// As exported: `True`, `False` or empty.
    pub fn as_exported(self) -> &'static str {
        match self {
            Disabled::True => "True",
            Disabled::False => "False",
            Disabled::Unset => "",
        }
    }
}

/// One mailbox of the `Get-CASMailbox` export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mailbox {
    /// Lower-case.
    pub address: String,
    pub display_name: Option<String>,
    pub smtp_auth_disabled: Disabled,
}

/// The mailbox export's column keys, for `--column KEY=HEADER`.
pub const MAILBOX_KEYS: &[&str] = &["address", "smtp-auth-disabled", "display-name"];

const ADDRESS: &[&str] = &[
    "primarysmtpaddress",
    "primaryaddress",
    "emailaddress",
    "windowsemailaddress",
    "userprincipalname",
    "address",
    "mail",
];
const DISPLAY: &[&str] = &["displayname", "name"];

fn column(
    table: &Table,
    key: &str,
    overrides: &BTreeMap<String, String>,
    names: &[&str],
) -> Result<Option<usize>, ImportError> {
    match overrides.get(key) {
        Some(header) => table.named(header).map(Some).ok_or_else(|| ImportError::NoSuchColumn {
            file: table.file.clone(),
            header: header.clone(),
            found: table.headers.join(", "),
        }),
        None => Ok(table.column(|h| names.contains(&h))),
    }
}

/// Reads the `Get-CASMailbox` export. A mailbox listed twice must say the same both times.
pub fn parse_mailboxes(table: &Table, overrides: &BTreeMap<String, String>) -> Result<Vec<Mailbox>, ImportError> {
    let file = table.file.as_str();
    let missing = |column: &str, key: &str| ImportError::MissingColumn {
        file: file.into(),
        column: column.into(),
        key: key.into(),
        found: table.headers.join(", "),
    };
    let address =
        column(table, "address", overrides, ADDRESS)?.ok_or_else(|| missing("PrimarySmtpAddress", "address"))?;
    let disabled = column(table, "smtp-auth-disabled", overrides, &["smtpclientauthenticationdisabled"])?
        .ok_or_else(|| missing(PROPERTY, "smtp-auth-disabled"))?;
    let display = column(table, "display-name", overrides, DISPLAY)?;
    let mut seen: BTreeMap<String, Mailbox> = BTreeMap::new();
    for (i, row) in table.rows.iter().enumerate() {
        let line = i + 2;
        let cell = |c: usize| row.get(c).map(String::as_str).unwrap_or("");
        let bad = |c: usize| ImportError::BadValue {
            file: file.into(),
            line,
            column: table.headers[c].clone(),
            value: cell(c).into(),
        };
        let parsed = Address::parse(cell(address)).map_err(|_| bad(address))?.as_str().to_lowercase();
        let state = Disabled::parse(cell(disabled)).ok_or_else(|| bad(disabled))?;
        let mailbox = Mailbox {
            address: parsed.clone(),
            display_name: display.map(cell).filter(|d| !d.is_empty()).map(str::to_string),
            smtp_auth_disabled: state,
        };
        if let Some(earlier) = seen.get(&parsed) {
            if earlier.smtp_auth_disabled != state {
                return Err(ImportError::Conflict { file: file.into(), line, address: parsed });
            }
            continue;
        }
        seen.insert(parsed, mailbox);
    }
    Ok(seen.into_values().collect())
}

/// Reads `Get-TransportConfig` output: JSON, `Format-List` text, or CSV.
pub fn parse_org(file: &str, text: &str) -> Result<Disabled, ImportError> {
    let trimmed = text.trim_start();
    let missing = || ImportError::MissingColumn {
        file: file.into(),
        column: PROPERTY.into(),
        key: PROPERTY.into(),
        found: String::new(),
    };
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let value: serde_json::Value = serde_json::from_str(trimmed).map_err(|e| ImportError::Syntax {
            file: file.into(),
            line: e.line(),
            reason: e.to_string(),
        })?;
        let object = match &value {
            serde_json::Value::Array(items) if items.len() == 1 => &items[0],
            other => other,
        };
        let found = object
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(PROPERTY)))
            .map(|(_, v)| v)
            .ok_or_else(missing)?;
        return match found {
            serde_json::Value::Bool(true) => Ok(Disabled::True),
            serde_json::Value::Bool(false) => Ok(Disabled::False),
            serde_json::Value::Null => Ok(Disabled::Unset),
            serde_json::Value::String(s) => Disabled::parse(s).ok_or_else(|| ImportError::BadValue {
                file: file.into(),
                line: 0,
                column: PROPERTY.into(),
                value: s.clone(),
            }),
            other => Err(ImportError::BadValue {
                file: file.into(),
                line: 0,
                column: PROPERTY.into(),
                value: other.to_string(),
            }),
        };
    }
    // `Format-List`: `Name : value` lines (the name padded with spaces).
    for (i, line) in text.lines().enumerate() {
        if let Some((name, value)) = line.split_once(':') {
            if normalize(name) == "smtpclientauthenticationdisabled" && !name.contains(['"', ',', ';', '\t']) {
                return Disabled::parse(value).ok_or_else(|| ImportError::BadValue {
                    file: file.into(),
                    line: i + 1,
                    column: PROPERTY.into(),
                    value: value.trim().into(),
                });
            }
        }
    }
    let table = Table::parse(file, text)?;
    let c = table.column(|h| h == "smtpclientauthenticationdisabled").ok_or_else(|| ImportError::MissingColumn {
        file: file.into(),
        column: PROPERTY.into(),
        key: PROPERTY.into(),
        found: table.headers.join(", "),
    })?;
    let value = table.rows.first().and_then(|r| r.get(c)).map(String::as_str).unwrap_or("");
    Disabled::parse(value).ok_or_else(|| ImportError::BadValue {
        file: file.into(),
        line: 2,
        column: PROPERTY.into(),
        value: value.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailboxes(text: &str) -> Result<Vec<Mailbox>, ImportError> {
        parse_mailboxes(&Table::parse("m.csv", text).unwrap(), &BTreeMap::new())
    }

    #[test]
    fn three_states_survive() {
        let m = mailboxes(
            "#TYPE Selected.Microsoft.Exchange.Data.Directory.Management.CASMailbox\n\
             \"PrimarySmtpAddress\",\"SmtpClientAuthenticationDisabled\"\n\
             \"off@contoso.com\",\"True\"\n\"on@contoso.com\",\"False\"\n\"inherit@contoso.com\",\"\"\n\"null@contoso.com\",\"$null\"\n",
        )
        .unwrap();
        let states: Vec<_> = m.iter().map(|m| (m.address.as_str(), m.smtp_auth_disabled.mailbox())).collect();
        assert_eq!(
            states,
            [
                ("inherit@contoso.com", MailboxSmtpAuth::Default),
                ("null@contoso.com", MailboxSmtpAuth::Default),
                ("off@contoso.com", MailboxSmtpAuth::Disabled),
                ("on@contoso.com", MailboxSmtpAuth::Enabled),
            ]
        );
    }

    #[test]
    fn bad_mailbox_rows() {
        let e = mailboxes("PrimarySmtpAddress,SmtpClientAuthenticationDisabled\na@contoso.com,Yes\n").unwrap_err();
        assert!(matches!(e, ImportError::BadValue { line: 2, ref value, .. } if value == "Yes"), "{e:?}");
        let e =
            mailboxes("PrimarySmtpAddress,SmtpClientAuthenticationDisabled\na@contoso.com,True\nA@contoso.com,False\n")
                .unwrap_err();
        assert!(matches!(e, ImportError::Conflict { line: 3, .. }), "{e:?}");
        let e = mailboxes("PrimarySmtpAddress,Name\na@contoso.com,A\n").unwrap_err();
        assert!(matches!(e, ImportError::MissingColumn { ref key, .. } if key == "smtp-auth-disabled"), "{e:?}");
        // The same mailbox twice with the same value is fine.
        assert_eq!(
            mailboxes("PrimarySmtpAddress,SmtpClientAuthenticationDisabled\na@contoso.com,\nA@CONTOSO.COM,\n")
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn org_switch_in_every_shape() {
        let list = "\r\nRunspaceId                       : 5c1b…\r\nSmtpClientAuthenticationDisabled : True\r\nAllowLegacyTLSClients            : False\r\n";
        assert_eq!(parse_org("t.txt", list).unwrap(), Disabled::True);
        assert_eq!(
            parse_org("t.json", "{\"Identity\": \"Transport Settings\", \"SmtpClientAuthenticationDisabled\": false}")
                .unwrap(),
            Disabled::False
        );
        assert_eq!(parse_org("t.json", "[{\"smtpclientauthenticationdisabled\": null}]").unwrap(), Disabled::Unset);
        let csv = "#TYPE Microsoft.Exchange.Data.Directory.SystemConfiguration.TransportConfigContainer\n\"Identity\",\"SmtpClientAuthenticationDisabled\",\"MaxRecipientEnvelopeLimit\"\n\"Transport Settings\",\"False\",\"Unlimited\"\n";
        assert_eq!(parse_org("t.csv", csv).unwrap(), Disabled::False);
        assert!(matches!(
            parse_org("t.txt", "Identity : Transport Settings\n"),
            Err(ImportError::MissingColumn { .. })
        ));
        assert!(matches!(
            parse_org("t.txt", "SmtpClientAuthenticationDisabled : Maybe\n"),
            Err(ImportError::BadValue { line: 1, .. })
        ));
        assert!(matches!(
            parse_org("t.json", "{\"SmtpClientAuthenticationDisabled\": 1}"),
            Err(ImportError::BadValue { .. })
        ));
        assert!(matches!(parse_org("t.json", "{broken"), Err(ImportError::Syntax { .. })));
    }
}
