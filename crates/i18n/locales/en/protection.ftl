# Smart lockout and per-organisation limits (authrelay user unlock, org set/show, user show).
user-unlocked = Unlocked { $address }: it may sign in again at once, from any address.
user-unlock-not-locked = { $address } was not locked; its failure counters were cleared anyway.
label-lockout = Lockout
lockout-none = not locked
lockout-locked = locked until { $until } ({ $where })
lockout-counting = { $failures } recent failed attempts ({ $where })
lockout-where-unfamiliar = from unfamiliar addresses
lockout-where-familiar = from the familiar address { $ip }
label-max-message-size = Max message size
label-max-recipients = Recipients per message
label-daily-recipients = Recipients per 24 hours
label-max-sessions = Sessions per mailbox
limit-server-default = server default
