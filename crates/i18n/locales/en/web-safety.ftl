# The admin center's layout aids and its confirmations of weakening or destructive changes
# (issue 20).
web-skip-to-content = Skip to main content
web-menu = Menu

# Confirmations (crates/admin/src/confirm.rs).
confirm-cancel = Cancel
confirm-mailboxes-let-through = Mailboxes it would let through
confirm-devices-let-through = Devices of the last { $days } days it would let through
confirm-devices-cut-off = Devices of the last { $days } days it would cut off
confirm-no-devices = No mailbox and no device of the sign-in log of the last { $days } days would be let through or cut off.
confirm-col-last-seen = Last seen
confirm-col-attempts = Attempts
confirm-col-after = Deciding check after the change
confirm-sd-off-question = Turn security defaults off for { $org }?
confirm-sd-off-effect = Security defaults stop blocking sign-in with a password or an app password. Each mailbox is then protected only by its own settings (Authenticated SMTP, multi-factor authentication).
confirm-sd-off-button = Turn security defaults off
confirm-sd-on-question = Turn security defaults on for { $org }?
confirm-sd-on-effect = Sign-in with a password or an app password is refused for every mailbox of the organisation, so the devices below stop sending. Device credentials and OAuth are not affected.
confirm-sd-on-button = Turn security defaults on
confirm-org-smtp-auth-question = Turn Authenticated SMTP off for { $org }?
confirm-org-smtp-auth-effect = Mailboxes that follow the organisation setting can no longer sign in with SMTP AUTH, so the devices below stop sending.
confirm-org-app-passwords-question = Block app passwords in { $org }?
confirm-org-app-passwords-effect = App passwords of mailboxes with multi-factor authentication are refused, so the devices below stop sending.
confirm-org-device-credentials-question = Block device credentials in { $org }?
confirm-org-device-credentials-effect = Every device credential of the organisation is refused, so the devices below stop sending.
confirm-mailbox-smtp-auth-question = Change Authenticated SMTP for { $user }?
confirm-mailbox-smtp-auth-effect = After this change the mailbox can no longer sign in with SMTP AUTH, so the devices below stop sending.
confirm-mfa-question = Change multi-factor authentication?
confirm-mfa-effect = Multi-factor authentication refuses sign-in with the account password, so the devices below stop sending. App passwords (where allowed) and device credentials keep working.
confirm-block-question = Block sign-in for { $user }?
confirm-block-effect = Every sign-in of this mailbox is refused, whatever the credential, until sign-in is allowed again.
confirm-block-button = Block sign-in
confirm-save-button = Save anyway
confirm-revoke-app-password-question = Revoke the app password “{ $name }” of { $user }?
confirm-revoke-app-password-effect = Devices that sign in with it are refused from their next sign-in. This cannot be undone: a new app password has a new secret that must be typed into each device.
confirm-revoke-device-credential-question = Revoke the device credential “{ $name }” of { $user }?
confirm-revoke-device-credential-effect = The device that holds it is refused from its next sign-in. This cannot be undone: a new device credential has a new secret.
confirm-revoke-token-question = Revoke the API token “{ $name }”?
confirm-revoke-token-effect = Scripts that use it are refused from their next request. This cannot be undone.
confirm-revoke-button = Revoke
confirm-fact-last-used = Last used
confirm-fact-owner = Owner
