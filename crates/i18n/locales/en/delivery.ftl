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
dsn-english-follows = English
queue-rcpt-pending = waiting
queue-rcpt-delivered = delivered
queue-rcpt-failed = failed
