# `authrelay bench`: the load generator and the queue-scale measurements (English).

bench-start = Loading { $server } (TLS: { $tls }) with { $connections } connections: { $messages } messages of { $size } bytes, { $per_session } per session (0 = one session per connection).
bench-hold-start = Opening { $connections } authenticated sessions to { $server } and holding them idle for { $secs } s.
bench-replies = Replies and errors other than an accepted message (count, stage: reply):
bench-label-accepted = Accepted
bench-label-failed = Failed
bench-label-elapsed = Elapsed
bench-label-msgs-per-sec = Messages per second
bench-label-sessions = Sessions opened
bench-label-sessions-per-sec = Sessions per second
bench-label-resumed = TLS sessions resumed
bench-label-latency = Latency p50 / p90 / p99 / max
bench-queue-filled = Queued { $count } messages in { $secs } s ({ $rate } per second) in { $path }.
bench-queue-recovered = Opened and scanned the queue at { $path } as a server start does:
bench-label-queued = Messages found
bench-label-open = Open (cleanup)
bench-label-scan = Scan of every message
bench-label-rss = Resident memory
bench-label-peak-rss = Peak resident memory

bench-flood-start = Flooding { $server } with { $attempts } AUTH attempts at once from { $sources } loopback addresses (wrong passwords for invented users).
bench-flood-replies = How the attempts were answered (count, stage: reply):
bench-label-rss-before = Server memory before
bench-label-rss-max = Server memory, most seen during the run
bench-label-real-signed-in = Real client sign-ins during the run
bench-label-real-latency = Real client sign-in time first / median / max
err-bench-no-server = say which server to load with --server, for example --server 127.0.0.1:2587.
err-bench-not-loopback = { $address } is not on this machine. authrelay bench only loads servers on loopback: use 127.0.0.1:PORT or [::1]:PORT.
err-bench-unresolvable = "{ $server }" is not a server address. Write it as HOST:PORT, for example 127.0.0.1:2587.
err-bench-zero = { $flag } must be at least 1.
err-bench-failures = { $failed } of { $total } messages were not accepted. The replies listed above say at which step and with which code; check the user, password and TLS mode given to authrelay bench.
err-bench-sessions-failed = { $failed } of { $total } sessions could not be opened. The replies listed above say why; raise the server's connection limit (listen.max_connections) or `ulimit -n` if the limit was reached.
