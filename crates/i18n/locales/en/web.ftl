# Web admin center and admin API messages (crates/admin).

app-name = authrelay admin center
web-language = Language
web-change = Change
web-sign-out = Sign out
web-nav = Admin center navigation
web-save = Save
web-save-changes = Save changes
web-add = Add
web-apply = Apply
web-revoke = Revoke
web-back-home = Back to Home
web-readonly = Only an admin with the { $roles } role can change this.
web-csrf-failed = This form has expired or did not come from this admin center. Reload the page and submit it again.
web-mfa-pick-action = Choose whether to enable, enforce or disable multi-factor authentication.
web-mfa-pick-users = Select at least one user first.
page-error-title = Something needs your attention
list-or = { " or " }
lang-en = English
lang-ko = 한국어
lang-id = Bahasa Indonesia

role-global = Global administrator
role-security = Security administrator
role-exchange = Exchange administrator
role-user = User administrator
role-reports = Reports reader

nav-home = Home
nav-group-users = Users
nav-active-users = Active users
nav-mfa = Multi-factor authentication
nav-group-settings = Settings
nav-org = Organisation
nav-admins = Admins and API tokens
nav-group-monitoring = Health and reports
nav-signins = Sign-in logs
nav-report = SMTP AUTH clients report
nav-queue = Queue
nav-connectors = Connectors
nav-audit = Audit log
nav-troubleshoot = Troubleshooter
nav-soon = coming soon

signin-title = Sign in to the admin center
signin-intro = Use your admin account. Mailbox accounts cannot sign in here.
signin-address = Admin address
signin-password = Password
signin-submit = Sign in
signin-expired = Your session has ended. Sign in again.

totp-title = Verify your identity
totp-enroll-intro = Security defaults require a second sign-in step for admins. Scan this QR code with an authenticator app (Microsoft Authenticator, Google Authenticator or similar), then enter the 6-digit code it shows.
totp-enroll-manual = Can't scan it? Enter this key in the app instead:
totp-enter = Enter the 6-digit code from your authenticator app.
totp-code = Code
totp-verify = Verify

home-title = Welcome to the admin center
home-users = Users
home-failures = Failed sign-ins in the last 24 hours
home-legacy = Devices on legacy paths (old TLS, no TLS) in the last 7 days
home-queued = Messages in the queue
home-orgs = Organisations
home-no-orgs = There are no organisations yet. Create one under Organisation.
home-warning-certificate = Certificate renewal keeps failing (ACME): the listeners still serve the current certificate until it expires. See the log and `authrelay cert show`.

col-org = Organisation
col-domains = Domains
col-domain = Domain
col-security-defaults = Security defaults
col-org-smtp-auth = SMTP AUTH (organisation)
col-app-passwords = App passwords
col-display-name = Display name
col-address = Username
col-sign-in = Sign-in
col-mfa = Multi-factor authentication
col-mfa-status = MFA status
col-smtp-auth = Authenticated SMTP
col-name = Name
col-created = Created
col-last-used = Last used
col-time = Date
col-user = User
col-client = Client address
col-tls = Protocol
col-credential = Credential
col-result = Result
col-check = Deciding check
col-reply = Reply to the device
col-role = Role
col-id = Message ID
col-size = Size
col-from = From
col-to = To

value-enabled = Enabled
value-disabled = Disabled
value-allowed = Allowed
value-blocked = Blocked
value-sd-on = Enabled
value-sd-off = Disabled
value-mfa-disabled = Disabled
value-mfa-enabled = Enabled
value-mfa-enforced = Enforced
value-yes = Yes
value-no = No
source-mailbox = set on the mailbox
source-organisation = follows the organisation
cred-password = Account password
cred-app-password = App password
period-1 = Last hour
period-24 = Last 24 hours
period-168 = Last 7 days
period-720 = Last 30 days
period-2160 = Last 90 days

users-search = Search users
users-search-button = Search
users-all-orgs = All organisations
users-none = No users match.
users-add = Add a user
users-add-button = Add user
users-password-optional = Password (leave empty to generate a strong one)
users-created = Created { $address }.
users-created-password = Give the user this password now; it is not shown again:

tab-account = Account
tab-mail = Mail
account-block = Block sign-in
account-block-label = Block this user from signing in (SMTP AUTH is refused with "the user account is disabled")
account-reset-password = Reset password
account-new-password = New password (leave empty to generate a strong one)
account-reset-button = Reset password
account-app-passwords = App passwords
account-app-passwords-blocked = The organisation blocks app passwords, so they are refused at sign-in until an admin allows them under Organisation → Mail settings.
account-no-app-passwords = No app passwords.
account-app-password-add = Create app password
secret-once-password = The new password is shown only once. Copy it now:
secret-once-app-password = The app password is shown only once. Put it in the device or app now:
secret-once-token = The API token is shown only once. Store it in your automation now:

mail-email-apps = Email apps
mail-email-apps-intro = Choose which apps this mailbox may use to sign in and send mail.
mail-manage-email-apps = Manage email apps
email-apps-intro = Printers, scanners and applications that send mail by signing in over SMTP need Authenticated SMTP.
email-apps-smtp-help = Lets devices and apps sign in with SMTP AUTH to send mail as this mailbox.
email-apps-follow-org = Follow the organisation setting (currently { $state })

mfa-intro = Select users to change their per-user multi-factor authentication. While MFA is enabled or enforced, the account password is refused for SMTP AUTH; an app password works if the organisation allows app passwords.
mfa-select-all = Select all
mfa-enable = Enable
mfa-enforce = Enforce
mfa-disable = Disable
mfa-quick-steps = Quick steps
mfa-user-help = Devices that cannot do multi-factor authentication need an app password, or MFA turned off for this user.

orgs-add = Add an organisation
orgs-add-button = Add organisation
tab-properties = Properties
tab-org-mail = Mail settings
org-manage-sd = Manage security defaults
org-add-domain = Add an accepted domain

sd-title = Security defaults
sd-intro = Security defaults turn on basic protection for everyone in the organisation: admins must use multi-factor authentication, and legacy sign-in with a password over SMTP AUTH is blocked.
sd-off-not-recommended = Disabled (not recommended)
sd-reason = Why are you turning them off?
sd-reason-devices = My organisation has devices or apps that must sign in with SMTP AUTH
sd-reason-ca = My organisation uses Conditional Access
sd-reason-other = Other
sd-off-warning = With security defaults off, devices can sign in with a password over SMTP AUTH again (if Authenticated SMTP is on for their mailbox).

org-mail-smtp-title = Authenticated SMTP for the whole organisation
org-mail-smtp-label = Turn on SMTP AUTH for every mailbox that follows the organisation setting
org-mail-smtp-help = A mailbox's own setting (Active users → user → Mail → Manage email apps) wins over this one.
org-mail-ap-title = App passwords
org-mail-ap-label = Allow users to create app passwords to sign in to apps that cannot do multi-factor authentication
org-mail-ap-help = App passwords are the safer way to keep an old device sending while MFA stays on.

web-signins-all = All
web-signins-success = Success
web-signins-failure = Failure
web-signins-period = Period
web-signins-none = No sign-ins in this period.
web-check-tls = Encryption (TLS)
web-check-mechanism = Authentication mechanism
web-check-decoding = Malformed response
web-check-lockout = Smart lockout
web-check-client-budget = Too many failures from this client
web-check-credentials = Username or password
web-check-sign-in = Sign-in blocked
web-check-authenticated-smtp = Authenticated SMTP
web-check-security-defaults = Security defaults
web-check-mfa = Multi-factor authentication
web-check-accepted = Accepted
web-check-address-budget = Too many failures from this address
web-check-device-credentials-policy = Device credentials blocked
web-check-device-credential-expiry = Device credential expired
web-check-device-credential-address = Device credential used from another address
web-check-listener-credentials = Credential kind not accepted on this legacy port
web-legacy-path = Legacy path
web-check-mailbox-sessions = Too many sessions for this mailbox
web-check-connector = Connector
web-check-unlock = Unlocked by an administrator

report-intro = Who signs in with SMTP AUTH, how, and how often. Use it to find the devices a change would affect.
report-days = Period
report-last-days = Last { $days } days
report-csv = Export CSV
report-ok = Successful sign-ins
report-failed = Failed sign-ins
report-legacy = Legacy path
report-legacy-only = Only senders on legacy paths
report-mechanisms = Mechanisms
report-last-seen = Last seen

web-queue-count = Messages
web-queue-size = Total size
web-queue-oldest = Oldest message
web-queue-corrupt = Damaged files
web-queue-messages = Messages waiting
web-queue-empty = The queue is empty.

audit-intro = Every change made in the admin center or through the API: who, what, the value before and after, and when.
audit-who = Changed by
audit-what = Change
audit-target = Object
audit-before = Before
audit-after = After
audit-none = No changes recorded yet.
action-org-security-defaults = Security defaults
action-org-smtp-auth = Authenticated SMTP (organisation)
action-org-app-passwords = App passwords (organisation)
action-org-create = Organisation created
action-org-add-domain = Domain added
action-org-security-defaults-reason = Reason for turning security defaults off
action-user-display-name = Display name
action-user-sign-in = Sign-in
action-user-smtp-auth = Authenticated SMTP (mailbox)
action-user-mfa = Multi-factor authentication
action-user-create = User created
action-user-password-reset = Password reset
action-user-app-password-add = App password created
action-user-app-password-revoke = App password revoked
action-admin-create = Admin created
action-admin-totp-enrolled = Admin enrolled an authenticator app
action-token-create = API token created
action-token-revoke = API token revoked

admins-totp = Authenticator app
admins-add = Add an admin
admins-add-button = Add admin
tokens-title = API tokens
tokens-intro = Tokens let scripts call the API with a role. A token never carries more than the role of the admin who made it.
tokens-owner = Created by
tokens-revoked = Revoked
tokens-none = No API tokens.
tokens-add = Create token

done-saved = Saved. The change applies to the next sign-in.
done-created = Created.
done-revoked = Revoked.
done-password = The password was reset.
done-app-password = App password created.
done-token = API token created.

api-err-storage = The directory cannot be read or written right now. Try again shortly; if it persists, check the server's log.
api-err-role = This needs the { $roles } role; you are signed in as { $role }. Ask a Global administrator to assign the role or to make the change.
api-err-bad-token = The API token is not valid or was revoked. Create a new one under Admins and API tokens.
api-err-token-role = The API token's role is no longer held by the admin who created it. Create a new token.
api-err-not-signed-in = You are not signed in. Sign in with POST /api/session, or send an API token as "Authorization: Bearer …".
api-err-session-expired = Your session has expired. Sign in again.
api-err-totp-pending = Finish signing in with your authenticator code first (POST /api/session/totp).
api-err-csrf = The request lacks the session's CSRF token. Send the csrf_token from the sign-in answer in the X-CSRF-Token header.
api-err-rate-limited = Too many failed sign-ins. Wait 15 minutes before trying again.
api-err-bad-credentials = The admin address or password is incorrect.
api-err-totp-required = Security defaults require an authenticator code for admins. Send the 6-digit code as "totp".
api-err-totp-invalid = The authenticator code is wrong or was already used. Wait for the next code and try again.
api-err-totp-not-pending = This sign-in is not waiting for an authenticator code.
api-err-not-found = There is no such API endpoint. See /api/openapi.json.
api-err-bad-request = The request could not be read: { $detail }
api-err-bad-value = "{ $value }" is not a valid { $field }. Use one of: { $choices }.
api-err-bad-days = The report period must be between 7 and 90 days.
api-err-bad-client-address = "{ $value }" is not a client address: give an IP address such as 192.0.2.10 (or 192.0.2.10:50123 as the sign-in log shows it).
api-err-unknown-org = There is no organisation named "{ $name }".
api-err-org-exists = An organisation named "{ $name }" already exists. Choose another name.
api-err-domain-taken = The domain { $domain } already belongs to the organisation "{ $org }". Remove it there first.
api-err-no-org-for-domain = No organisation accepts the domain { $domain }. Add the domain to an organisation first.
api-err-unknown-user = There is no user { $address }.
api-err-user-exists = The user { $address } already exists.
api-err-unknown-app-password = { $address } has no app password named "{ $name }".
api-err-app-password-exists = { $address } already has an app password named "{ $name }". Choose another name.
api-err-too-many-app-passwords = { $address } already has 40 app passwords. Revoke one first.
api-err-bad-address = "{ $address }" is not an email address. Use the form name@example.com.
api-err-bad-domain = "{ $domain }" is not a domain name. Use the form example.com.
api-err-bad-org-name = The organisation name must be 1 to 64 characters without control characters.
api-err-bad-display-name = The display name must be 1 to 256 characters without control characters.
api-err-bad-app-password-name = The app password name must be 1 to 64 characters without control characters.
api-err-bad-token-name = The token name must be 1 to 64 characters without control characters.
api-err-bad-role = "{ $role }" is not a role. Use one of: global, security, exchange, user, reports.
api-err-admin-exists = An admin { $address } already exists.
api-err-unknown-token = There is no live API token with that id that you may revoke.
api-err-password-too-short = The password is too short. Use at least { $min } characters, or leave it empty to get a generated one.
api-err-password-few-kinds = The password is too simple. Mix at least three of: lower-case, upper-case, digits, symbols, or use a passphrase of 20 characters or more.
api-err-password-contains-address = The password contains the user's own name. Choose one that does not.
api-err-password-common = The password is on the list attackers try first. Choose a less common one.

# authrelay admin … (the admin center's accounts on the command line)
admin-cli-created = Created the admin { $address } with the role { $role }.
admin-cli-created-next = Sign in to the admin center (default http://127.0.0.1:8025). While security defaults are on, the first sign-in enrols an authenticator app.
admin-cli-none = There are no admins yet. Create the first with `authrelay admin add you@example.com --role global`.
admin-cli-totp-yes = authenticator enrolled
admin-cli-totp-no = no authenticator yet
admin-cli-password-set = Set a new password for the admin { $address }.
admin-cli-role-set = The admin { $address } now has the role { $role }.
admin-cli-totp-reset = Removed the authenticator app of { $address }; they enrol a new one at their next sign-in.
admin-cli-err-role = "{ $role }" is not a role. Use one of: global (Global administrator), security (Security administrator), exchange (Exchange administrator), user (User administrator), reports (Reports reader).
admin-cli-err-exists = an admin { $address } already exists. Change their role with `authrelay admin set-role { $address } --role ROLE`.
admin-cli-err-unknown = there is no admin { $address }. See the existing ones with `authrelay admin list`.
api-err-totp-locked = Too many wrong authenticator codes for this account: its second factor is locked for an hour (longer after each further wrong code). Wait, or ask a Global administrator to run `authrelay admin reset-totp ADDRESS` and enrol again.
api-err-unknown-host = This admin center does not answer to that host name. Use its address (such as 127.0.0.1:8025), localhost, or add the name to `[admin] hosts` in the configuration.
api-err-too-large = The request is too large. Requests to the admin center are limited to 64 KiB of body and 8 KiB of address.

## Audit actions and values added with issue 19 (docs/glossary.md)
action-admin-password-reset = Admin password reset
action-admin-role = Admin role changed
action-admin-sign-in-failed = Admin sign-in failed
action-admin-totp-locked = Admin locked out of the authenticator check
action-admin-totp-reset = Admin authenticator app reset
action-org-daily-recipients = Recipients per day (limit)
action-org-language = Language of bounce messages
action-org-max-message-size = Maximum message size
action-org-max-recipients = Recipients per message (limit)
action-org-max-sessions = Sessions at once per mailbox (limit)
action-user-send-as = Send as
value-mailbox-default = Default (follows the organisation)
value-token-live = Active
value-token-revoked = Revoked

## Why a request could not be read (API error details)
api-detail-nothing-to-change = it asks for no change.
api-detail-missing-field = the field "{ $field }" is missing.
api-detail-unknown-field = there is no field "{ $field }".
api-detail-unknown-value = "{ $value }" is not one of: { $choices }.
api-detail-invalid-value = a value has the wrong type or form ({ $technical }).
api-detail-content-type = send the body as JSON with Content-Type: application/json.
api-detail-not-json = the body is not valid JSON ({ $technical }).
api-detail-other = technical detail: { $technical }
api-detail-too-many-users = at most { $max } users at once.
value-totp-enrolled = Authenticator app registered
value-totp-not-enrolled = No authenticator app
value-totp-locked = Locked after too many wrong codes
value-sessions-ended = { $sessions ->
    [one] 1 session ended
   *[other] { $sessions } sessions ended
}, { $tokens ->
    [one] 1 token revoked
   *[other] { $tokens } tokens revoked
}
value-stage-password = Wrong password
value-stage-totp = Wrong authenticator code

# The queue page: state, attempts and last reply per recipient, and the actions on a message.
web-queue-col-recipients = Recipients: state, attempts, next try, last reply
web-queue-col-next = Next try
web-queue-col-actions = Actions
web-queue-attempts = { $count ->
    [one] 1 attempt
   *[other] { $count } attempts
}
web-queue-retry = Retry now
web-queue-hold = Hold
web-queue-release = Release
web-queue-delete = Delete…
web-queue-delete-title = Delete message { $id }?
web-queue-delete-effect = The message is removed from the queue. Its recipients will not receive it, and no bounce is sent to the sender. This cannot be undone.
web-queue-delete-confirm = Delete permanently
web-queue-delete-cancel = Keep it in the queue
done-queue-retry = Retry requested: the pending recipients are tried within a few seconds.
done-queue-hold = The message is held and will not be delivered until it is released.
done-queue-release = The message is released and will be delivered on its schedule.
done-queue-delete = The message was removed from the queue.
action-queue-retry = Queued message retried
action-queue-hold = Queued message held
action-queue-release = Queued message released
action-queue-delete = Queued message deleted
api-err-queue-not-found = There is no queued message { $id }. It may have been delivered or deleted already.
