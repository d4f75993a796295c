# Delivery: the queue manager, `authrelay queue`, `authrelay dkim`.
err-delivery = delivery could not start ({ $reason }). Check the [delivery] and [[routes]] settings with `authrelay config check`.
queue-state-active = active
queue-state-deferred = deferred
queue-state-held = held
queue-state-throttled = throttled
queue-state-done = done
queue-state-new = new
queue-state-counts = By state: { $summary }
queue-recipients = Recipients:
queue-retry-requested = { $id }: retry requested. The running server tries its pending recipients within a few seconds.
queue-retry-all = { $count ->
    [one] Retry requested for 1 message.
   *[other] Retry requested for { $count } messages.
}
queue-held = { $id } is held and will not be delivered until `authrelay queue release { $id }`.
queue-released = { $id } is released and will be delivered on its schedule.
queue-deleted = { $id } was removed from the queue. It will not be delivered, and no bounce is sent.
dkim-generated = Created a { $algorithm } DKIM key for { $domain } with selector { $selector }: { $path }
dkim-publish = Publish this TXT record in the DNS of { $domain }. Mail from { $domain } sent onward is signed from now on.
err-dkim-exists = a DKIM key with selector { $selector } already exists for { $domain } ({ $path }). Choose another --selector, or remove that file to replace the key.
err-dkim-bad-selector = "{ $selector }" is not a valid selector. Use letters, digits and "-", at most 63 characters.
err-dkim-algorithm = "{ $algorithm }" is not a DKIM key type. Use --algorithm rsa or --algorithm ed25519.
err-dkim = the DKIM key could not be created ({ $reason }). Check that the data directory is writable.

## Bounces (crates/delivery/src/dsn.rs): the part for people
dsn-subject = Undelivered Mail Returned to Sender
dsn-intro = This is the mail system at { $host }.
dsn-not-delivered = { $count ->
    [one] Your message could not be delivered to one recipient.
   *[other] Your message could not be delivered to { $count } recipients.
}
dsn-reply-quoted = The reply of the receiving side is quoted for each.
dsn-remote-host = host { $host }
dsn-last-attempt = last attempt { $time }
dsn-graph-too-large = Microsoft Graph takes a message of at most 4 MB in base64 form (about 3 MB of message). Send it again smaller, or ask the administrator for an SMTP route.
dsn-graph-refused = Microsoft Graph refused this message; its error code and text are quoted above.
dsn-english-follows = English
queue-rcpt-pending = waiting
queue-rcpt-delivered = delivered
queue-rcpt-failed = failed

## authrelay oauth keygen
oauth-keygen-done = Created a key and a self-signed certificate for OAuth certificate credentials:
    certificate: { $certificate }
    private key: { $key } (only this server needs it; it never leaves this machine)
oauth-keygen-thumbprints = Thumbprint (SHA-1, as the Entra admin center shows it): { $sha1 }
    x5t#S256 (sent in every client assertion): { $s256 }
oauth-keygen-expires = The certificate is valid until { $date }. Make a new one and upload it before then.
oauth-keygen-route = Upload the certificate below to the app registration (Entra admin center › App registrations › the app › Certificates & secrets › Certificates › Upload certificate), then put in the route:
    client_certificate_file = "{ $certificate }"
    client_key_file = "{ $key }"
err-oauth-keygen-exists = { $path } already exists. Move it away, or choose another directory with --out.
err-oauth-keygen-days = { $days } days is not a validity period. Use --days between 1 and 3650.
err-oauth-keygen = the key could not be created ({ $reason }). Check that the directory is writable.

## Route credentials and presets: config check problems (crates/config/src/problem.rs holds the English texts)
config-problem-oauth-credential = auth = "xoauth2" needs a credential: client_certificate_file and client_key_file, client_secret_file (first line) or client_secret, or service_account_file (Google)
config-problem-credential-one = set one credential: a client secret, a certificate, or a service account key
config-problem-certificate-pair = set both client_certificate_file and client_key_file (authrelay oauth keygen writes them)
config-problem-no-certificate = { $a } holds no PEM certificate
config-problem-no-rsa-key = { $a } holds no RSA private key (PEM) usable for RS256
config-problem-service-account-file = { $a } is not a Google service-account key file (JSON with client_email and private_key)
config-problem-google-service-account = Google has no client-credentials grant: set service_account_file to the service account's JSON key (with domain-wide delegation)
config-problem-preset = "{ $a }" is not a preset; use { $b }
config-problem-preset-tenant = preset "{ $a }" needs tenant = "<tenant id or contoso.onmicrosoft.com>"
config-problem-tenant = "{ $a }" is not a tenant id or domain
config-problem-route-kinds = "{ $a }" is not a route kind; use "smarthost", "graph" or "mx"
config-problem-graph-preset = a graph route takes preset = "microsoft365" or none, not "{ $a }"
config-problem-graph-keys = a graph route signs in with OAuth only and takes no host, port, tls or password
config-problem-graph-only = save_to_sent_items and graph_url belong to kind = "graph" routes
config-problem-rewrite-sender = must be "off", "envelope", "from" or "both"
config-problem-sender-identity = rewrite_sender needs the relay identity: set sender_identity (or user) to the address the upstream lets it send as
config-problem-send-as = "{ $a }" is not an address or @domain
