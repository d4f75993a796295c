# authrelay import m365 / import status (crates/migrate), its setup sheets and admin center pages.

## Errors reading the exports
import-err-read = cannot read { $file }: { $reason }.
import-err-encoding = { $file } is neither UTF-8 nor UTF-16 text. Export it again as CSV (UTF-8), or in PowerShell add -Encoding UTF8 to Export-Csv.
import-err-empty = { $file } has no header line. Export the report again with its column names.
import-err-syntax = { $file } line { $line } cannot be read as CSV: { $reason }.
import-err-missing-column = { $file } has no column "{ $column }" (its columns: { $found }). Export it again with that column, or name the column with --column { $key }=HEADER.
import-err-no-such-column = { $file } has no column named "{ $header }" (its columns: { $found }). Check the --column value.
import-err-bad-value = { $file } line { $line }, column "{ $column }": "{ $value }" cannot be read. Correct that cell or export the report again.
import-err-domain-mismatch = { $file } line { $line }: { $address } is not in the domain "{ $domain }" written beside it. Correct the row.
import-err-conflict = { $file } line { $line }: { $address } is listed again with a different SmtpClientAuthenticationDisabled value. Keep one row per mailbox.
import-err-no-senders = { $file } lists no sender. Choose a longer date range in the report (up to 90 days) and export it again.
import-err-bad-site = "{ $value }" is not DOMAIN=CIDR, ADDRESS=CIDR or CIDR, e.g. --site-cidr contoso.com=192.0.2.0/24.
import-err-bad-column = "{ $value }" is not KEY=HEADER with KEY one of: { $keys }.
import-err-bad-org-name = "{ $value }" is not an organisation name: use 1 to 64 characters without control characters.
import-err-directory = the directory refused a change: { $reason }.
err-import-needs-sheets = --apply issues { $count } device credentials, which are shown only once: add --sheets DIR to write their setup sheets.
err-import-sheets-dir = cannot write the setup sheets to { $dir }: { $reason }.
err-import-stopped = the import stopped after { $count } changes: { $reason }. Fix the cause and run the same command again; what was done is kept and is not done twice.
err-import-not-done = { $pending } of { $total } imported senders have not signed in with their device credential yet.

## The plan
import-plan-title = Import plan (dry run: nothing is changed; add --apply to make these changes):
import-plan-title-apply = Importing:
import-plan-orgs = Organisations:
import-plan-org-create = { "  " }create the organisation "{ $name }" with the domains { $domains }
import-plan-org-exists = { "  " }the organisation "{ $name }" exists ({ $domains })
import-plan-org-add-domain = { "  " }add the domain { $domain } to "{ $name }"
import-plan-org-smtp-auth-change = { "    " }Authenticated SMTP (organisation-wide): { $before } → { $after }, as in Microsoft 365 (SmtpClientAuthenticationDisabled = { $value })
import-plan-org-smtp-auth-same = { "    " }Authenticated SMTP (organisation-wide): { $after }, as in Microsoft 365
import-plan-org-smtp-auth-none = { "    " }Authenticated SMTP (organisation-wide): { $after } (no --org-settings file given, so it is not mirrored)
import-plan-local-domains = { "  " }Note: authrelay delivers mail for { $domains } to its own mailboxes from now on, and refuses addresses there that it does not know. Devices that mail colleagues in these domains keep working only for the mailboxes imported here.
import-plan-senders = Senders ({ $count }):
import-plan-sender = { "  " }{ $address }: { $messages } messages; TLS 1.0 { $tls10 }, TLS 1.1 { $tls11 }, TLS 1.2 { $tls12 }
import-plan-mailbox-create = mailbox: create in "{ $org }"
import-plan-mailbox-exists = mailbox: exists in "{ $org }"
import-plan-smtp-auth = Authenticated SMTP: { $m365 } in Microsoft 365; here { $before } → { $after } ({ $effective })
import-m365-true = True (off for the mailbox)
import-m365-false = False (on for the mailbox)
import-m365-unset = empty (follows the organisation)
import-m365-absent = not in the mailbox export
import-effective-on-mailbox = on, set on the mailbox
import-effective-on-org = on, from the organisation
import-effective-off-mailbox = off, set on the mailbox
import-effective-off-org = off, from the organisation
import-plan-credential-create = device credential "{ $name }": create (usable from any address)
import-plan-credential-create-allow = device credential "{ $name }": create, usable only from { $allow }
import-plan-credential-exists = device credential "{ $name }": exists, not changed
import-plan-basic = used basic authentication (a password) with Microsoft 365
import-plan-oauth = used OAuth with Microsoft 365; it could sign in here with OAuth too (see [oauth]), a device credential is issued anyway
import-plan-protocol-unknown = the report has no authentication protocol column: treated as basic authentication
import-plan-from-export = not in the report, but SMTP AUTH is switched on for it in Microsoft 365
import-plan-legacy = ⚠ used TLS 1.0 ({ $tls10 }) or 1.1 ({ $tls11 }): needs a legacy listener, as authrelay accepts TLS 1.2 and 1.3 only; update the device's firmware first (see its setup sheet)
import-plan-inactive = sent nothing in the report's period: add --skip-inactive to leave it out
import-plan-skipped = skipped (--skip-inactive): sent nothing in the report's period
import-plan-blocked-smtp-auth = ⚠ will still be refused: Authenticated SMTP is off for it here. Fix: authrelay user set { $address } --smtp-auth enabled
import-plan-blocked-policy = ⚠ will still be refused: "{ $org }" blocks device credentials. Fix: authrelay org set "{ $org }" --device-credentials allowed
import-plan-blocked-sign-in = ⚠ will still be refused: sign-in is blocked for it. Fix: authrelay user set { $address } --sign-in allowed
import-plan-not-imported = { "  " }{ $count } more mailboxes of the mailbox export neither sent with SMTP AUTH nor have it switched on: not imported.
import-plan-summary = { $senders } senders to import: { $basic } used basic authentication, { $legacy } need a legacy listener (TLS 1.0/1.1), { $inactive } sent nothing in the report's period ({ $skipped } skipped).
import-plan-changes = { $changes } changes. Run the same command with --apply --sheets DIR to make them and write a setup sheet per device.
import-plan-nothing = Nothing to change: everything in these files is already imported.
import-applied = Done: { $count } changes made.
import-applied-nothing = Nothing changed: everything in these files was already imported.
import-sheets-written = Wrote { $count } setup sheets to { $dir } (index.html holds them all, one per page). Each shows its device credential, which is not shown again: print them, then delete the files.
import-next-status = Follow the cutover with `authrelay import status`.

## The checklist
import-status-none = Nothing imported yet. Start with `authrelay import m365 --report FILE.csv`.
import-status-header = SENDER                           ORGANISATION     STATE          DETAIL
import-state-done = done
import-state-failing = still failing
import-state-not-seen = not yet seen
import-state-no-credential = no credential
import-status-done = signed in with its device credential at { $when } from { $ip }
import-status-failing = the last attempt was refused at { $when } from { $ip } by the check "{ $check }" ({ $reply }); run authrelay doctor { $address } --explain-last
import-status-not-seen = no sign-in since the import
import-status-no-credential = its device credential "{ $name }" was revoked; import again to issue a new one
import-status-legacy = { " " }(needs a legacy listener: TLS 1.0/1.1)
import-status-summary = { $done } of { $total } senders done; { $failing } still failing, { $waiting } not yet seen.

## Setup sheets
sheet-title-all = Setup sheets ({ $count } devices)
sheet-heading = Setup sheet: { $address }
sheet-intro = Enter these values in the device's e-mail (SMTP) settings. It sends as { $address } for "{ $org }" through authrelay instead of Microsoft 365.
sheet-server = SMTP server
sheet-port = Port
sheet-port-alt-tls = or { $port } with SSL/TLS
sheet-tls = Encryption
sheet-tls-starttls = STARTTLS (often called "TLS"), TLS 1.2 or newer
sheet-tls-implicit = SSL/TLS (implicit TLS), TLS 1.2 or newer
sheet-auth = SMTP authentication
sheet-auth-value = on: LOGIN or PLAIN (not "POP before SMTP")
sheet-user = User name
sheet-password = Password
sheet-from = Sender (From) address
sheet-allowed-from = Works only from
sheet-allow-any = any address
sheet-qr = The QR code holds the same settings as text, for a phone or a device that reads QR codes.
sheet-once = This password is a device credential: it is printed only on this sheet and never shown again. Keep the sheet like a password and shred it after setup.
sheet-credential-note = It is the device credential "{ $name }" (tag { $tag }): it works only for sending mail as this address, never for signing in anywhere else. A lost one is revoked and replaced.
sheet-legacy-heading = ⚠ This device used old TLS with Microsoft 365
sheet-legacy-body = Microsoft 365's report shows { $address } sending with TLS 1.0 ({ $tls10 }) or TLS 1.1 ({ $tls11 }). authrelay accepts TLS 1.2 and 1.3 only, so this device needs a firmware update or a legacy listener.
sheet-tls10-heading = If the device only speaks TLS 1.0
sheet-tls10-body = authrelay accepts TLS 1.2 and 1.3 only. A device that offers nothing newer fails during the TLS handshake, before any sign-in, so the sign-in log shows nothing for it.
sheet-tls-fix = What to do: install the maker's latest firmware and turn on TLS 1.2 in its security settings (many printers made since 2016 can). If no firmware offers TLS 1.2, ask the administrator for a legacy listener — see "Moving from Microsoft 365 before basic auth switches off" in authrelay's README — or replace the device.
sheet-check-heading = Check it afterwards
sheet-check-body = Send a test scan or message, then the administrator runs:

## Admin center
nav-import = Import from Microsoft 365
nav-import-status = Cutover checklist
web-import-intro = Upload what you exported from Microsoft 365, check the plan, apply it and print a setup sheet per device. Nothing changes until you press Apply.
web-import-report = SMTP AUTH clients report (CSV, required)
web-import-mailboxes = Get-CASMailbox export (CSV, optional)
web-import-org = Get-TransportConfig output (CSV, text or JSON, optional)
web-import-org-name = Name for a new organisation (optional)
web-import-sites = Allowed address ranges per site (optional, one per line: DOMAIN=CIDR, ADDRESS=CIDR or CIDR)
web-import-skip-inactive = Leave out senders that sent nothing in the report's period
web-import-server = SMTP server name on the sheets
web-import-plan-button = Show the plan
web-import-apply-button = Apply and make the setup sheets
web-import-plan-title = Plan
web-import-nothing = Nothing to change: everything in these files is already imported.
web-import-changes = { $changes } changes will be made.
web-import-col-sender = Sender
web-import-col-messages = Messages
web-import-col-tls = TLS 1.0 / 1.1 / 1.2
web-import-col-auth = Authentication
web-import-col-smtp-auth = Authenticated SMTP
web-import-col-credential = Device credential
web-import-col-notes = Notes
web-import-applied-title = Imported
web-import-sheets-title = Setup sheets
web-import-sheets-once = The setup sheets below show each device credential once. Print them or download them now: they cannot be made again (revoke a credential and import again for a new one).
web-import-download = Download the setup sheets (HTML)
web-import-print = Print
web-import-no-sheets = No device credential was issued, so there is no new setup sheet.
web-import-status-intro = Each imported sender and whether its device has signed in with its device credential yet. The cutover is complete when every line says done.
web-import-col-state = State
web-import-col-detail = Detail
web-import-col-org = Organisation
action-import-m365-sender = Imported from Microsoft 365 (device credential)
