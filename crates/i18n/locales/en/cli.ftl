# authrelay command-line messages (English). Every error says what to do next.

error-prefix = error:

## Errors from the directory
err-unknown-org = there is no organisation named "{ $name }". See the existing ones with `authrelay org list`, or create it with `authrelay org add { $name } --domain example.com`.
err-org-exists = an organisation named "{ $name }" already exists. Pick another name, or change it with `authrelay org set { $name } ...`.
err-domain-taken = the domain { $domain } already belongs to the organisation "{ $org }". A domain can belong to one organisation only; add users to "{ $org }" instead.
err-no-org-for-domain = no organisation accepts the domain { $domain }. Create one with `authrelay org add NAME --domain { $domain }`, or add the domain to an existing one with `authrelay org set NAME --add-domain { $domain }`.
err-unknown-user = there is no user { $address }. See the existing ones with `authrelay user list`, or create it with `authrelay user add { $address }`.
err-user-exists = the user { $address } already exists. Change it with `authrelay user set { $address } ...` or reset its password with `authrelay user password { $address } --password-stdin`.
err-unknown-app-password = { $address } has no app password named "{ $name }". See its app passwords with `authrelay app-password list { $address }`.
err-app-password-exists = { $address } already has an app password named "{ $name }". Choose another name, or revoke the old one first with `authrelay app-password revoke { $address } --name { $name }`.
err-too-many-app-passwords = { $address } already has 40 app passwords, the most allowed. Revoke unused ones with `authrelay app-password revoke { $address } --name NAME`.
err-storage = the database could not be read or written ({ $reason }). Check that the data directory is on a writable disk with free space, then try again.

## Errors about files, the network and configuration
err-spool = the queue at { $path } could not be used ({ $reason }). Check the directory's permissions and free disk space.
err-shared-queue = the shared queue in PostgreSQL could not be used ({ $reason }). Check that the database in [store] url answers (`authrelay store migrate --check` tests the connection and schema).
err-tls = the TLS certificate could not be loaded ({ $reason }). Fix tls.cert and tls.key in the configuration, or remove both to use a self-signed certificate.
err-listen = could not open a listening port ({ $reason }). Another program may be using the port: choose another with --submission ADDR / --submissions ADDR.
err-data-dir = the data directory { $path } could not be used ({ $reason }). Choose another with --data-dir DIR or AUTHRELAY_DATA_DIR.
err-config = the configuration has problems:
    { $problems }
    Fix them and check again with `authrelay config check`.
err-io = output could not be written ({ $reason }).
config-ok = The configuration is valid. Effective settings:

## Errors in what was typed
err-bad-address = "{ $address }" is not a usable mail address: { $reason }. Write it as name@example.com.
err-bad-domain = "{ $domain }" is not a domain name. Write it as example.com, without @ or spaces.
err-bad-org-name = an organisation name must be 1 to 64 characters without control characters (line breaks, escapes), such as "Contoso".
err-nothing-to-set = nothing to change. Give at least one option to `{ $command }`; see `--help` for the list.
err-bad-app-password-name = an app password needs a name of 1 to 64 characters without control characters (line breaks, escapes), such as --name "office scanner".
err-password-stdin = no password arrived on standard input. Pipe it in, for example: printf '%s\n' 'your password' | authrelay user password ADDRESS --password-stdin
err-password-too-short = the password is too short. Use at least { $min } characters, or leave out --password-stdin and let authrelay generate a strong one.
err-password-few-kinds = the password is too simple. Mix at least three of: lower-case letters, upper-case letters, digits, symbols, or use a passphrase of 20 characters or more.
err-password-contains-address = the password contains the user's own name. Choose one that does not.
err-password-common = the password is on the list of passwords attackers try first. Choose a less common one.
err-bad-queue-id = "{ $id }" is not a queue id. Queue ids are 20 characters of 0-9 and A-F, as shown by `authrelay queue list`.
err-queue-not-found = there is no queued message { $id }. It may have been delivered already; see `authrelay queue list`.

## Organisations
org-created = Created the organisation "{ $name }" for { $domains }.
org-created-next = New organisations start with security defaults on and SMTP AUTH off, as Microsoft 365 tenants do. Add a mailbox with `authrelay user add someone@{ $domain }`.
org-updated = Updated the organisation "{ $name }".
org-none = There are no organisations yet. Create one with `authrelay org add NAME --domain example.com`.

## Users
user-created = Created the user { $address } in the organisation "{ $org }".
user-password-generated = Generated password (shown only now; store it in the device's settings):
user-created-next = To let a device send as { $address }, see what blocks it with `authrelay user show { $address }`.
user-updated = Updated { $address }.
user-password-set = The password of { $address } is changed. Devices using the old one will fail with 535 5.7.139 until they are updated.
user-none = There are no users yet. Create one with `authrelay user add name@example.com`.
smtp-auth-effective-on-mailbox = in effect: on, set on this mailbox
smtp-auth-effective-on-org = in effect: on, following the organisation
smtp-auth-effective-off-mailbox = in effect: off, set on this mailbox
smtp-auth-effective-off-org = in effect: off, following the organisation

## App passwords
app-password-created = Created the app password "{ $name }" for { $address }. Enter it in the device instead of the account password; it is shown only now:
app-password-org-blocks = Note: the organisation "{ $org }" blocks app passwords, so this one will be refused until an admin runs `authrelay org set { $org } --app-passwords allowed`.
app-password-none = { $address } has no app passwords.
app-password-revoked = Revoked the app password "{ $name }" of { $address }. Devices using it can no longer sign in.

## Queue
queue-count = { $count ->
    [one] 1 message in the queue.
   *[other] { $count } messages in the queue.
}
queue-corrupt = warning: a damaged queue file was found and will not be delivered: { $reason }
queue-size = Size: { $size } bytes

## Sign-in log
signins-none = No sign-in attempts recorded yet.

## Labels
label-org = Organisation
label-domains = Domains
label-security-defaults = Security defaults
label-org-smtp-auth = SMTP AUTH (org-wide)
label-app-passwords = App passwords
label-address = Address
label-display-name = Display name
label-sign-in = Sign-in
label-mailbox-smtp-auth = Authenticated SMTP
label-mfa = MFA
label-send-as = Send as
err-bad-display-name = the display name must be 1 to 256 characters without control characters (line breaks, escapes). Fix --display-name.
err-forbidden = the { $role } role may not do this ({ $needed }). Run the command as an administrator who may.

## authrelay cert show
cert-self-signed = The listeners serve the self-signed certificate { $file } (made by authrelay; renewed at start when fewer than 30 days are left). A device that verifies the server must trust this certificate: import the PEM below, or compare the fingerprint.
cert-configured = The listeners serve the configured certificate { $file } (tls.cert). Devices that trust its issuer verify it as they are.
cert-subject = Subject
cert-issuer = Issuer
cert-names = Names
cert-valid-from = Valid from (UTC)
cert-valid-until = Valid until (UTC)
cert-fingerprint = SHA-256 fingerprint
cert-pem-follows = The certificate (PEM):
cert-acme = The listeners serve the certificate { $file } from the ACME CA (tls.acme), renewed by the server when a third of its lifetime is left. Devices that trust the CA verify it as they are.
cert-acme-status = ACME: { $failures } failed attempts in a row; last attempt { $attempt }; last success { $success }; next attempt { $next }; last error: { $error }
cert-renew-requested = Asked the running server (pid { $pid }) to renew the certificate from { $directory }; waiting up to { $secs } s.
cert-renew-done = The server obtained a new certificate, valid until { $until } (UTC); new connections get it, open sessions keep theirs.
cert-renew-failed = The renewal failed: { $error }. The server retries on its own; the current certificate stays in use.
cert-renew-pending = No result within { $secs } s; the server is still working on it. Watch its log, or run `authrelay cert show` later.
err-acme-off = tls.acme is not configured: only a certificate from an ACME CA is renewed by the server. A self-signed certificate is made anew at start; a configured tls.cert is yours to replace (then `authrelay reload`).
err-no-server = No running server found for { $dir }: { $reason }. Start it with `authrelay serve` (or `systemctl start authrelay`).
err-signal = Cannot signal the server (pid { $pid }): { $reason }. Run this as root or as the server's user, or use `systemctl reload authrelay`.
reload-sent = Sent SIGHUP to the server (pid { $pid }).
reload-done = Reloaded: { $reloaded }. Open sessions continue with the settings they started with; new ones get the new settings.
reload-restart-needed = Changed but read only at start (restart to apply): { $sections }
reload-failed-parts = Not applied (see the log): { $parts }
reload-refused = Reload refused, the settings in force stay: the configuration does not load. { $problems }
reload-no-answer = The server did not report the reload within { $secs } s; see its log.

# Backup and restore (README "Backup").
backup-done = Backup written to { $file } ({ $size } bytes): the database, { $messages } queued messages and { $files } other files (certificates, keys, delivery state). Keep it as safe as the server itself: it holds password hashes and private keys. Restore it with: authrelay restore --from FILE --data-dir NEW-DIR
err-backup = the backup { $file } could not be written ({ $reason }). Check free space and permissions where the archive goes, then run authrelay backup again.
err-backup-no-data = there is no database in { $dir } to back up. Name the server's data directory with --data-dir DIR (the package uses /var/lib/authrelay).
err-backup-postgres = the directory is kept in PostgreSQL ([store] url), not in the data directory: back it up with pg_dump (or your cluster's own backups), and copy each node's data directory for its keys and queue.
store-migrated = { $applied } schema migrations applied; { $url } is up to date ({ $total } in all).
store-copy-table = { $table }: { $rows } rows, sha256 { $sha }
store-copied = Copied { $tables } tables from { $from } to { $to }: every table read back with the same rows and checksum. Point every node at it with [store] url, give each node this data directory's admin-totp.key, then start them.
store-copy-queue = queue: { $messages } messages ({ $bytes } bytes, sha256 { $sha }) moved into the shared queue, each read back byte for byte and then removed from { $spool }{ $corrupt }
store-copy-queue-corrupt = ; { $count } damaged spool files left there for you to inspect
err-store-copy-from = --from must be "sqlite" (this data directory's authrelay.db) or the path of an authrelay.db file; got '{ $from }'.
err-store-copy-to = --to must be a PostgreSQL URL such as postgres://authrelay:PASSWORD@db.example:5432/authrelay; got '{ $to }'.
err-store-not-postgres = this command needs a PostgreSQL store: set [store] url in the configuration or pass --database-url postgres://….
restore-done = Restored { $file } (taken { $taken }) into { $dir }: the database, { $messages } queued messages and { $files } other files. Start the server with --data-dir { $dir }.
err-restore-not-empty = { $dir } is not empty; a backup is restored only into an empty or missing directory, so nothing in use is overwritten. Name a new directory with --data-dir DIR, or move this one away first.
err-restore-not-backup = { $file } is not a whole authrelay backup ({ $reason }). Nothing was restored; use an archive written by authrelay backup.
err-restore-read = the backup { $file } cannot be read ({ $reason }). Name the archive authrelay backup wrote with --from FILE.

## Table headers of the CLI lists (issue 19)
col-state = State
col-envelope = Sender -> recipients
col-totp = Authenticator app

## config check problems (crates/config/src/problem.rs holds the English texts and their ids)
config-problem-positive = must be greater than 0
config-problem-positive-rate = must be greater than 0 (30 is Microsoft's limit)
config-problem-between = must be between { $a } and { $b }
config-problem-line-length = must be at least 998 (RFC 5322 2.1.1 allows lines of 998 characters)
config-problem-lockout-max = must be at least lockout.duration_secs
config-problem-verify-workers = must be at most 256 (each running verification holds 19 MiB)
config-problem-retention = must be at most 36500 (100 years)
config-problem-messages-per-connection = must be at least 1 (1: a new connection per message)
config-problem-no-file = no file at { $a }
config-problem-cannot-read-file = cannot read the file: { $a }
config-problem-cannot-read = cannot read { $a }: { $b }
config-problem-not-domain = "{ $a }" is not a domain
config-problem-not-host-name = "{ $a }" is not a valid host name
config-problem-admin-host = "{ $a }" is not a host name such as admin.contoso.com (no port, no scheme)
config-problem-listen = "{ $a }" is not an address:port such as 127.0.0.1:2587 (use "" to turn it off)
config-problem-admin-listen = "{ $a }" is not an address:port such as 127.0.0.1:8025 (use "" to turn the admin center off)
config-problem-proxy-everyone = "{ $a }" trusts every address; list the load balancers' addresses
config-problem-cidr = "{ $a }": { $b }; write an address or a CIDR such as "10.0.0.5/32"
config-problem-open-relay = "{ $a }" admits every address, which would make an open relay; list the devices' addresses
config-problem-nameserver = "{ $a }" is not an IP address or address:port
config-problem-auth-method = "{ $a }" is not an auth method; use "password" or "xoauth2"
config-problem-no-listener = both listeners are off; nothing would accept mail
config-problem-tls-pair = set both tls.cert and tls.key (PEM files), or neither to use the self-signed certificate
config-problem-oauth-required = required when [oauth] is present
config-problem-connector-clients = list the client addresses that may send without AUTH, e.g. ["192.0.2.10/32"]
config-problem-connector-domains = list the domains the devices send from, e.g. ["contoso.com"]
config-problem-route-domains = list at least one domain, or "*" for every domain
config-problem-smarthost-host = a smarthost route needs host, e.g. "smtp.office365.com"
config-problem-tls-mode = must be "implicit", "starttls" or "opportunistic"
config-problem-password-both = set password or password_file, not both
config-problem-user-password = set both user and password (or password_file), or neither
config-problem-opportunistic-credentials = "opportunistic" sends the password or token without a verified certificate; use tls = "starttls" or "implicit" (with ca_file for a private CA), or remove the credentials
config-problem-mx-credentials = an mx route takes no host or credentials; use kind = "smarthost"
config-problem-xoauth2-password = a route with auth = "xoauth2" takes no password; remove it
config-problem-xoauth2-needs = auth = "xoauth2" needs { $a }, e.g. { $b }
config-problem-client-secret-both = set client_secret or client_secret_file, not both
config-problem-acme-domains = list the names the certificate must carry, e.g. ["smtp.contoso.com"]
config-problem-acme-ip = "{ $a }" is an IP address; ACME certificates here name DNS names only
config-problem-acme-fqdn = "{ $a }" is not a fully qualified domain name such as smtp.contoso.com
config-problem-acme-contact = "{ $a }" is not a mail address such as postmaster@contoso.com
config-problem-store-url = "{ $a }" is not a PostgreSQL URL; write postgres://USER:PASSWORD@HOST:5432/DATABASE, or leave it out for the embedded SQLite database
config-problem-store-connections = { $a } is too few; the server needs at least 2 (default { $b })
config-problem-store-lease = { $a } is outside 3..3600 seconds (default { $b })
config-problem-listener-address = "{ $a }" is not an address:port such as 192.168.50.1:2525
config-problem-listener-taken = { $a } is already a listener
config-problem-choice = "{ $a }" is not one of: { $b }
config-problem-plain-tls-min = a plain listener has no TLS; leave tls_min out (or use kind = "starttls")
config-problem-legacy-tls-feature = TLS { $a } needs a build with the legacy-tls feature (OpenSSL): install libssl-dev and pkg-config, then cargo build --release --features legacy-tls (README "Legacy devices")
config-problem-listener-everyone = "{ $a }" admits every address; list the devices' own addresses or subnets
config-problem-legacy-clients = a legacy listener (old TLS, no TLS or bare_newline = "normalize") needs clients: the devices' addresses or subnets, e.g. ["192.168.50.0/24"]
config-problem-legacy-public-address = { $a } is not a loopback or private address: a legacy listener there exposes weak or no TLS beyond your network; bind it to the devices' VLAN, or set acknowledge_public = true if that is what you mean
config-problem-legacy-public-clients = clients { $a } are not private ranges: a legacy listener for them exposes weak or no TLS beyond your network; list the devices' VLAN, or set acknowledge_public = true if that is what you mean
config-problem-legacy-password = "{ $a }" may not sign in over weak or no TLS; give the device a device credential (authrelay device-credential add)
config-problem-listener-connector = no [[connectors]] entry is named "{ $a }"
config-problem-other = the configuration could not be read: { $text }

label-org-language = Language of bounces
err-bad-language = "{ $value }" is not a language we ship. Use --language en, ko or id.

## Command-line errors (clap's refusals, crates/authrelay/src/main.rs)
clap-invalid-choice = "{ $value }" is not a value of { $arg }. Possible values: { $choices }.
clap-invalid-value = "{ $value }" is not a valid value of { $arg }.
clap-unknown-argument = the option { $arg } does not exist here.
clap-unknown-command = "{ $command }" is not a command.
clap-missing-argument = { $arg } is required.
clap-conflict = { $arg } cannot be used together with { $other }.
clap-too-many = { $arg } was given more than once.
clap-other = the command line could not be read: { $text }
clap-usage = Usage:
clap-help-hint = For the options and commands, run the command with --help.
