# Device credentials, OAuth and connectors (issue 7).

device-credential-created = Created the device credential "{ $name }" for { $address }. Enter it in the device as the password, with { $address } as the user name; it is shown only now:
device-credential-scope = It works only for SMTP submission as { $address } (and its send-as addresses), never for any other sign-in.
device-credential-allow-any = Usable from any client address. Limit it with --allow, e.g. --allow 192.0.2.10/32.
device-credential-allow-list = Usable only from: { $list }
device-credential-expires = Expires: { $date }
device-credential-never-expires = Never expires; revoke it with `authrelay device-credential revoke { $address } --name "{ $name }"`.
device-credential-org-blocks = Note: the organisation "{ $org }" blocks device credentials, so this one will be refused until an admin runs `authrelay org set { $org } --device-credentials allowed`.
device-credential-smtp-auth-off = Note: Authenticated SMTP is off for { $address }, so this credential will be refused until an admin runs `authrelay user set { $address } --smtp-auth enabled`.
device-credential-none = { $address } has no device credentials. Create one with `authrelay device-credential add { $address } --name NAME`.
device-credential-revoked = Revoked the device credential "{ $name }" of { $address }. Devices using it can no longer send.
device-credential-list-header = NAME / TAG / ALLOWED FROM / EXPIRES / CREATED / LAST USED / LAST ADDRESS
device-credential-any-address = any
device-credential-never = never
err-unknown-device-credential = { $address } has no device credential named "{ $name }". See its device credentials with `authrelay device-credential list { $address }`.
err-device-credential-exists = { $address } already has a device credential named "{ $name }". Choose another name, or revoke the old one first with `authrelay device-credential revoke { $address } --name { $name }`.
err-too-many-device-credentials = { $address } already has 40 device credentials, the most allowed. Revoke unused ones with `authrelay device-credential revoke { $address } --name NAME`.
err-bad-device-credential-name = a device credential needs a name of 1 to 64 characters without control characters (line breaks, escapes), such as --name "2nd floor printer".
err-bad-cidr = "{ $value }" is not an address range: write it as 192.0.2.0/24, 2001:db8::/48 or a single address such as 192.0.2.10.
err-bad-expiry = "{ $value }" is not a date: write --expires 2027-06-30 (valid through that day, UTC) or 2027-06-30T18:00:00Z, or use --expires-in DAYS.
err-expiry-past = the expiry { $value } is not in the future: choose a later date, or leave --expires out for a credential that does not expire.
label-device-credentials = Device credentials
fix-device-credential-add = Keep security defaults and MFA and give the device a device credential for { $user }
fix-device-credential-note = The last command prints the secret once: enter it in the device as the password. It works only for SMTP submission as this mailbox; limit it with --allow CIDR and --expires-in DAYS.
path-device-credential = Active users → { $user } → Device credentials → Add (or the CLI command above)
err-oauth = cannot set up OAuth ([oauth] in the configuration): { $reason }. Check issuer, jwks_uri and ca_file with `authrelay config check`.
doctor-security-defaults-on-device-credentials = on: the account password and app passwords are refused, but the { $count } device credential(s) of this mailbox work; devices must use one of them.
doctor-mfa-on-device-credentials = { $mfa }: the account password is refused, but the { $count } device credential(s) of this mailbox work; devices must use one of them.

## Audit log names of the device-credential changes (and unlock), shown on the Audit log page.
action-user-device-credential-add = Device credential created
action-user-device-credential-revoke = Device credential revoked
action-org-device-credentials = Device credentials (organisation)
action-user-unlock = Smart lockout cleared
