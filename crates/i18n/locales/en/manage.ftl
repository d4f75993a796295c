# Management pages (crates/admin/src/manage.rs): delete, rename, send as, organisation limits,
# DKIM, admin accounts, copy buttons.
manage-crumbs = Breadcrumb
manage-cancel = Cancel
manage-remove = Remove
manage-col-actions = Actions
manage-role-needed = Changing this requires the { $roles } role.
manage-copy = Copy
manage-copied = Copied
manage-copy-selected = Selected: press Ctrl+C to copy
manage-delete-link = Delete user
manage-delete-title = Delete { $address }?
manage-delete-intro = Deleting the user removes at once:
manage-delete-password = the password: the address no longer signs in
manage-delete-app-passwords = { $count ->
    [one] 1 app password
   *[other] { $count } app passwords
}
manage-delete-device-credentials = { $count ->
    [one] 1 device credential
   *[other] { $count } device credentials
}
manage-delete-send-as = { $count ->
    [one] 1 Send as permission
   *[other] { $count } Send as permissions
}
manage-delete-sessions = open sessions signed in as this user, which end within seconds
manage-delete-queue-stays = Mail this user already sent stays in the queue and is still delivered. The sign-in log and audit log keep their entries.
manage-delete-confirm = Delete user
manage-rename-title = Change address
manage-rename-intro = The user { $address } gets a new address. The password, app passwords, device credentials and settings move with it; the old address stops signing in at once.
manage-rename-domains = Domains of this organisation: { $domains }
manage-rename-new = New address
manage-rename-button = Change address
manage-send-as-title = Send as
manage-send-as-manage = Manage Send as
manage-send-as-intro = Addresses { $address } may use in From (besides its own). Each must be a valid address; the same rule as `authrelay user set --send-as`.
manage-send-as-none = No Send as permissions.
manage-send-as-add-label = Address to send as
manage-send-as-remove-label = Remove Send as { $address }
manage-send-as-granted-by = Users who may send as this address
manage-send-as-granted-none = Nobody else may send as this address.
manage-limits-title = Limits
manage-limits-intro = Limits for this organisation's users. Leave a field empty to use the server's limit (shown in grey); the same values as `authrelay org set`.
manage-limit-max-message-size = Largest message (bytes)
manage-limit-max-recipients = Recipients per message
manage-limit-daily-recipients = Recipients per user per 24 hours
manage-limit-max-sessions = Simultaneous sessions per user
manage-limit-server = Server limit: { $value }
manage-err-limit = Enter a whole number, or leave the field empty for the server's limit.
manage-dkim-title = DKIM
manage-dkim-intro = DKIM signs mail sent from a domain so receivers can check it came from here. Publish the TXT record of each key in the domain's DNS; every key listed signs outbound mail.
manage-dkim-signing = { $count ->
    [one] Signing outbound mail with 1 key
   *[other] Signing outbound mail with { $count } keys
}
manage-dkim-unsigned = No key: mail from this domain is not signed.
manage-dkim-selector = Selector
manage-dkim-created = Created
manage-dkim-record-name = TXT record name
manage-dkim-record-value = TXT record value
manage-dkim-algorithm = Key type
manage-dkim-selector-optional = Selector (optional)
manage-dkim-generate = Create key
manage-dkim-rotate = Create new key (rotate)
manage-dkim-made = Key { $selector } created. Publish its TXT record, then retire the old key.
manage-dkim-retire = Retire
manage-dkim-retire-label = Retire key { $selector }
manage-dkim-retire-hint = Stops signing with this key. Retire it after the new key's record is published.
manage-admin-role = Role
manage-admin-change-role = Change role
manage-admin-own = This is your own account: another Global administrator changes its role or removes it.
manage-admin-last-global = This is the only Global administrator: it cannot lose the role or be removed.
manage-admin-totp-reset = Reset authenticator app
manage-admin-totp-reset-intro = The admin registers a new authenticator app at their next sign-in. Their sessions and API tokens end now.
manage-admin-totp-reset-button = Reset authenticator app
manage-admin-remove = Remove admin
manage-admin-remove-link = Remove this admin
manage-admin-remove-title = Remove admin { $address }?
manage-admin-remove-role = the role { $role }
manage-admin-remove-sessions = every session: the admin is signed out at once
manage-admin-remove-tokens = { $count ->
    [one] 1 API token
   *[other] { $count } API tokens
}
manage-admin-remove-audit = The audit log keeps every change this admin made.
manage-admin-remove-confirm = Remove admin
done-user-deleted = User deleted.
done-renamed = Address changed. The old address no longer signs in.
done-dkim-retired = Key retired: mail is no longer signed with it.
done-totp-reset = Authenticator app reset. The admin registers a new one at their next sign-in.
done-admin-removed = Admin removed.
api-err-other-org = The domain { $domain } belongs to organisation { $org }. Choose an address in one of this user's organisation's domains.
api-err-last-global-admin = { $address } is the only Global administrator. Make another admin Global administrator first.
api-err-own-account = You cannot remove your own account or take Global administrator from it. Ask another Global administrator.
api-err-bad-selector = "{ $selector }" is not a valid selector. Use letters, digits and "-", at most 63 characters.
api-err-bad-algorithm = "{ $algorithm }" is not a DKIM key type. Use rsa or ed25519.
api-err-dkim-exists = { $domain } already has a DKIM key with selector { $selector }. Choose another selector.
api-err-unknown-dkim-key = { $domain } has no DKIM key with selector { $selector }.
action-user-delete = User deleted
action-user-rename = User address changed
action-admin-remove = Admin removed
action-dkim-generate = DKIM key created
action-dkim-retire = DKIM key retired

# Connectors page (crates/admin/src/manage.rs, connectors_page): read-only, set in the file.
connectors-title = Connectors
connectors-intro = A connector lets devices that cannot sign in at all (old printers, scanners, line-of-business apps) send without SMTP AUTH: only from the client addresses it lists and only as senders in its domains. Every other client must sign in and gets 530 5.7.57 otherwise. This is Microsoft 365's "SMTP relay" connector.
connectors-how-title = How to change connectors
connectors-how-file = Connectors are set in the configuration file, not here:
connectors-how-defaults = The server runs on its built-in defaults, without a configuration file. Write one with a [[connectors]] entry (see the example below) and start the server with --config pointing to it.
connectors-how-edit = Add or change a [[connectors]] entry: name, clients (addresses or ranges of the devices), sender_domains.
connectors-how-check = Check the file before applying it:
connectors-how-reload = Apply it without a restart (open sessions keep the rules they started with):
connectors-check-label = Which connector admits this device?
connectors-check-hint = The device's IP address, as in the sign-in log (192.0.2.10 or 192.0.2.10:50123).
connectors-check-button = Check
connectors-check-admitted = { $client } is admitted by the connector "{ $name }": a device there may send without signing in, as a sender in that connector's domains.
connectors-check-none = No connector admits { $client }: a device there must sign in (otherwise 530 5.7.57 Client not authenticated to send mail). To let it send without signing in, add its address to a connector's clients in the configuration file, then run authrelay reload.
connectors-clients = Client addresses
connectors-signins-from = Sign-ins from { $range }
connectors-sender-domains = Sender domains
connectors-max-recipients = Recipients per message
connectors-daily-per-sender = Recipients per sender address per 24 hours
connectors-daily-total = Recipients of all its senders per 24 hours
connectors-used = { $used } of { $limit } used in the last 24 hours
connectors-listeners = Listeners
connectors-listeners-default = the default listeners (STARTTLS and implicit TLS)
connectors-none = No connectors are configured: every device must sign in. A connector for devices that cannot sign in looks like this in the configuration file:
