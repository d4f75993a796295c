#!/usr/bin/env bash
# authrelay against Postfix on this machine, with the same load generator (`authrelay bench`).
#
# Both servers do the same job: submission on a loopback port with STARTTLS, SASL AUTH PLAIN
# required (Postfix through a Dovecot auth socket with the very same argon2id hash authrelay
# stores, so both pay the same password check), the same ECDSA P-256 certificate, default fsync
# behaviour, the message stored durably before the 250, and onward delivery of every message
# to the same discard sink (Postfix's smtp-sink on loopback): Postfix through `relayhost`,
# authrelay through a `[[routes]]` smarthost entry (per-mailbox delivery rate lifted, as Postfix
# has none). POSTFIX_DELIVER=0 keeps Postfix's messages in its hold queue instead (less work for
# Postfix than authrelay does, which always delivers).
#
# Rounds alternate (Postfix first in odd rounds, authrelay first in even ones), and every run
# starts with both queues empty (each server has delivered all it accepted before); the table
# shows the median of ROUNDS rounds per scenario. Then authrelay alone at 1/4/16/64 connections.
#
# With CLUSTER=1 (the default) two more servers join the same rounds (issue 15): one authrelay
# node on PostgreSQL (directory and queue in a throw-away PostgreSQL cluster started here on a
# loopback port, synchronous_commit on), and two such nodes behind HAProxy in TCP mode. For
# those runs it also reports the statements and WAL bytes PostgreSQL spent per message (accept,
# delivery and removal included: every run is drained before the counters are read), from
# pg_stat_statements and pg_current_wal_lsn(), so capacity at 10 or 100 nodes can be projected.
#
# Needs root (installs postfix and dovecot-core, and with CLUSTER=1 postgresql and haproxy, from
# Debian if missing). Loopback only; every step is bounded in time. Environment:
#   ROUNDS=3  SCALE=1 (multiplies message counts)  WORK=/tmp/authrelay-compare
#   AUTHRELAY=path/to/release/authrelay (default: build it)  SKIP_SCALING=1  POSTFIX_DELIVER=0
#   CLUSTER=0 (leave out the PostgreSQL servers)  SKIP_IDLE=1
set -euo pipefail

ROUNDS=${ROUNDS:-3}
SCALE=${SCALE:-1}
WORK=${WORK:-/tmp/authrelay-compare}
REPO=$(cd "$(dirname "$0")/.." && pwd)
PF_PORT=10587
SINK_PORT=10025
AR_PORT=12587
AR_TLS_PORT=12465
USER_ADDR=bench@bench.example
PASS='Tr4ffic-Load-Passw0rd!'
PF_CONF=/etc/postfix-authrelay-bench
PF_QUEUE=/var/spool/postfix-authrelay-bench
PF_DATA=/var/lib/postfix-authrelay-bench
T=timeout

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'compare.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root: Postfix and Dovecot need it (sudo bench/compare.sh)."

# ---- packages ----------------------------------------------------------------------------------
if ! command -v postfix >/dev/null || ! command -v dovecot >/dev/null || ! command -v openssl >/dev/null; then
  log "installing postfix, dovecot-core and openssl from Debian"
  export DEBIAN_FRONTEND=noninteractive
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  echo "postfix postfix/mailname string localhost" | debconf-set-selections
  $T 600 apt-get update -q >/dev/null
  $T 900 apt-get install -y -q postfix dovecot-core openssl >/dev/null
fi

CLUSTER=${CLUSTER:-1}
PG_PORT=15432
AR_PG_PORT=13587
AR_PG_B_PORT=14587
LB_PORT=15587
if [ "$CLUSTER" != 0 ] && { ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ ! -x /usr/sbin/haproxy ]; }; then
  log "installing postgresql and haproxy from Debian"
  export DEBIAN_FRONTEND=noninteractive
  $T 600 apt-get update -q >/dev/null
  $T 900 apt-get install -y -q --no-install-recommends postgresql haproxy >/dev/null
fi

# ---- authrelay release build -------------------------------------------------------------------
if [ -z "${AUTHRELAY:-}" ]; then
  log "building authrelay (release)"
  (cd "$REPO" && CARGO_TARGET_DIR=${RELEASE_TARGET_DIR:-/root/.cache/authrelay/target-release} \
     $T 3600 nice -n 10 cargo build --release -q -p authrelay)
  AUTHRELAY=${RELEASE_TARGET_DIR:-/root/.cache/authrelay/target-release}/release/authrelay
fi
[ -x "$AUTHRELAY" ] || die "no authrelay binary at $AUTHRELAY"

# ---- clean slate -------------------------------------------------------------------------------
PIDS=()
cleanup() {
  set +e
  [ -d "$PF_CONF" ] && $T 30 postfix -c "$PF_CONF" stop >/dev/null 2>&1
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  [ -f "$WORK/dovecot/run/master.pid" ] && kill "$(cat "$WORK/dovecot/run/master.pid")" 2>/dev/null
  [ -n "${PGBIN:-}" ] && [ -d "$WORK/pg/data" ] && su postgres -s /bin/sh -c "$PGBIN/pg_ctl stop -m fast -D $WORK/pg/data" >/dev/null 2>&1
  sleep 1
}
trap cleanup EXIT
cleanup
rm -rf "$WORK" "$PF_QUEUE" "$PF_DATA"
mkdir -p "$WORK/tls" "$WORK/results"

log "certificate (ECDSA P-256, self-signed, shared by both servers)"
$T 60 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 -subj /CN=localhost \
  -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" 2>/dev/null
chmod 600 "$WORK/tls/key.pem"

# ---- authrelay ---------------------------------------------------------------------------------
log "authrelay on 127.0.0.1:$AR_PORT"
cat >"$WORK/authrelay.toml" <<EOF
data_dir = "$WORK/authrelay"
hostname = "bench.localhost"
[listen]
submission = "127.0.0.1:$AR_PORT"
submissions = "127.0.0.1:$AR_TLS_PORT"
max_connections = 20000
[tls]
cert = "$WORK/tls/cert.pem"
key = "$WORK/tls/key.pem"
[limits]
max_connections_per_address = 20000
connections_per_address_per_minute = 10000000
# All load comes from one address; the default (8 waiting or running) answers 454 to an AUTH
# burst of 16 connections when the CPU is busy elsewhere.
auth_verifications_per_address = 64
max_sessions_per_mailbox = 100000
daily_recipients = 1000000000
[delivery]
rate_per_minute = 100000000
[[routes]]
domains = ["example.net"]
kind = "smarthost"
host = "127.0.0.1"
port = $SINK_PORT
tls = "opportunistic"
EOF
# The discard sink both servers deliver to.
/usr/sbin/smtp-sink -u postfix -c 127.0.0.1:$SINK_PORT 1000 >/dev/null 2>&1 &
PIDS+=("$!")
ar() { $T 60 "$AUTHRELAY" --config "$WORK/authrelay.toml" "$@"; }
ar org add Bench --domain bench.example >/dev/null
printf '%s\n' "$PASS" | ar user add "$USER_ADDR" --password-stdin >/dev/null
ar org set Bench --security-defaults off >/dev/null
ar user set "$USER_ADDR" --smtp-auth enabled >/dev/null
RUST_LOG=warn "$AUTHRELAY" --config "$WORK/authrelay.toml" serve 2>"$WORK/authrelay.log" &
AR_PID=$!
PIDS+=("$AR_PID")
for _ in $(seq 100); do [ -f "$WORK/authrelay/listen.json" ] && break; sleep 0.1; done
[ -f "$WORK/authrelay/listen.json" ] || die "authrelay did not start; see $WORK/authrelay.log"

# ---- PostgreSQL and two authrelay nodes on it, behind HAProxy (CLUSTER=1) -----------------------
PG_URL=postgres://authrelay@127.0.0.1:$PG_PORT/authrelay
pgq() { $T 60 "$PGBIN/psql" "$PG_URL" -XAtq -c "$1"; }
if [ "$CLUSTER" != 0 ]; then
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  log "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT"
  mkdir -p "$WORK/pg"; chown postgres:postgres "$WORK/pg"
  su postgres -s /bin/sh -c "$T 120 $PGBIN/initdb --auth=trust --username=authrelay --encoding=UTF8 --locale=C.UTF-8 -D $WORK/pg/data" >/dev/null
  su postgres -s /bin/sh -c "$T 60 $PGBIN/pg_ctl start -w -D $WORK/pg/data -l $WORK/pg/server.log -o '-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$WORK/pg -c max_connections=300 -c synchronous_commit=on -c shared_preload_libraries=pg_stat_statements'" >/dev/null
  $T 60 "$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U authrelay authrelay
  pgq "CREATE EXTENSION pg_stat_statements" >/dev/null
  for node in a b; do
    port=$AR_PG_PORT; [ "$node" = b ] && port=$AR_PG_B_PORT
    sed -e "s#^data_dir = .*#data_dir = \"$WORK/ar-pg-$node\"#" \
        -e "s#^submission = .*#submission = \"127.0.0.1:$port\"#" \
        -e "s#^submissions = .*#submissions = \"127.0.0.1:$((port + 1))\"#" \
        "$WORK/authrelay.toml" >"$WORK/authrelay-pg-$node.toml"
    printf '[store]\nurl = "%s"\nmax_connections = 32\n[admin]\nlisten = "127.0.0.1:%s"\n' "$PG_URL" "$((port + 5000))" \
      >>"$WORK/authrelay-pg-$node.toml"
  done
  arpg() { $T 60 "$AUTHRELAY" --config "$WORK/authrelay-pg-a.toml" "$@"; }
  arpg org add Bench --domain bench.example >/dev/null
  printf '%s\n' "$PASS" | arpg user add "$USER_ADDR" --password-stdin >/dev/null
  arpg org set Bench --security-defaults off >/dev/null
  arpg user set "$USER_ADDR" --smtp-auth enabled >/dev/null
  # Every node seals admins' TOTP secrets with the same key (README "Running more than one node").
  mkdir -p "$WORK/ar-pg-b"; chmod 700 "$WORK/ar-pg-b"
  cp "$WORK/ar-pg-a/admin-totp.key" "$WORK/ar-pg-b/admin-totp.key"
  for node in a b; do
    RUST_LOG=warn "$AUTHRELAY" --config "$WORK/authrelay-pg-$node.toml" serve 2>"$WORK/authrelay-pg-$node.log" &
    PIDS+=("$!")
  done
  for node in a b; do
    for _ in $(seq 100); do [ -f "$WORK/ar-pg-$node/listen.json" ] && break; sleep 0.1; done
    [ -f "$WORK/ar-pg-$node/listen.json" ] || die "authrelay node $node did not start; see $WORK/authrelay-pg-$node.log"
  done
  printf 'global\n  maxconn 4000\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 120s\n  timeout server 120s\nfrontend smtp\n  bind 127.0.0.1:%s\n  default_backend nodes\nbackend nodes\n  balance roundrobin\n  server a 127.0.0.1:%s\n  server b 127.0.0.1:%s\n' \
    "$LB_PORT" "$AR_PG_PORT" "$AR_PG_B_PORT" >"$WORK/haproxy.cfg"
  /usr/sbin/haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
  PIDS+=("$!")
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$LB_PORT) 2>/dev/null && break; sleep 0.2; done
fi

# The very same argon2id hash for Dovecot (libsodium reads the standard PHC string).
HASH=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select password_hash from users where address=?", (sys.argv[2],)).fetchone()[0])' \
  "$WORK/authrelay/authrelay.db" "$USER_ADDR")
case "$HASH" in '$argon2id$'*) ;; *) die "unexpected hash format in authrelay.db";; esac

# ---- Dovecot (auth only) -----------------------------------------------------------------------
log "dovecot auth service for Postfix SASL"
mkdir -p "$WORK/dovecot/run" "$PF_QUEUE/private"
printf '%s:{ARGON2ID}%s\n' "$USER_ADDR" "$HASH" >"$WORK/dovecot/users"
chmod 640 "$WORK/dovecot/users"; chgrp dovecot "$WORK/dovecot/users" 2>/dev/null || true
cat >"$WORK/dovecot/dovecot.conf" <<EOF
protocols =
base_dir = $WORK/dovecot/run
state_dir = $WORK/dovecot/run
log_path = $WORK/dovecot/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_cache_size = 0
passdb {
  driver = passwd-file
  args = $WORK/dovecot/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  unix_listener $PF_QUEUE/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
service anvil {
  chroot =
}
EOF
$T 10 doveadm pw -t "{ARGON2ID}$HASH" -p "$PASS" >/dev/null || die "dovecot cannot verify the argon2id hash"
$T 30 dovecot -c "$WORK/dovecot/dovecot.conf"

# ---- Postfix (alternate instance, loopback only) ------------------------------------------------
log "postfix on 127.0.0.1:$PF_PORT"
rm -rf "$PF_CONF"; mkdir -p "$PF_CONF" "$PF_DATA"
cp /usr/share/postfix/master.cf.dist "$PF_CONF/master.cf"
# Only the submission listener: remove the port-25 service, add ours.
sed -i '/^smtp[[:space:]]\+inet/d' "$PF_CONF/master.cf"
cat >>"$PF_CONF/master.cf" <<EOF
127.0.0.1:$PF_PORT inet n - n - - smtpd
EOF
DELIVERY="relayhost = [127.0.0.1]:$SINK_PORT"
if [ "${POSTFIX_DELIVER:-1}" = 0 ]; then
  DELIVERY="smtpd_data_restrictions = check_sender_access static:HOLD"
fi
cat >"$PF_CONF/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PF_QUEUE
data_directory = $PF_DATA
myhostname = bench.localhost
mydomain = localhost
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
maillog_file = $PF_DATA/postfix.log
smtpd_tls_cert_file = $WORK/tls/cert.pem
smtpd_tls_key_file = $WORK/tls/key.pem
smtpd_tls_security_level = encrypt
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
default_process_limit = 200
message_size_limit = 36700160
$DELIVERY
EOF
grep -q "alternate_config_directories.*$PF_CONF" /etc/postfix/main.cf 2>/dev/null ||
  { touch /etc/postfix/main.cf; postconf -c /etc/postfix -e "alternate_config_directories = $PF_CONF"; }
chown postfix "$PF_DATA"
$T 30 postfix -c "$PF_CONF" check
chown postfix "$PF_QUEUE/private"
$T 30 postfix -c "$PF_CONF" start || die "postfix did not start; see $PF_DATA/postfix.log"
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$PF_PORT) 2>/dev/null && break; sleep 0.2; done

# Both must accept one message before any figure counts.
CHECK_PORTS="$PF_PORT $AR_PORT"
[ "$CLUSTER" != 0 ] && CHECK_PORTS="$CHECK_PORTS $AR_PG_PORT $LB_PORT"
for port in $CHECK_PORTS; do
  $T 60 "$AUTHRELAY" bench --server "127.0.0.1:$port" --user "$USER_ADDR" --password "$PASS" --from "$USER_ADDR" \
    --messages 1 --time-limit 30 >"$WORK/results/check-$port.txt" 2>&1 ||
    die "the server on port $port does not accept mail; see $WORK/results/check-$port.txt, $PF_DATA/postfix.log, $WORK/dovecot/dovecot.log"
done

# ---- one bench run -----------------------------------------------------------------------------
# run NAME SERVER PORT ARGS... -> prints "msg/s p99_ms" and keeps the full output.
run() {
  local name=$1 port=$2; shift 2
  local out="$WORK/results/$name.txt"
  $T 900 "$AUTHRELAY" bench --server "127.0.0.1:$port" --tls starttls --user "$USER_ADDR" --password "$PASS" \
    --from "$USER_ADDR" --to sink@example.net --time-limit 600 "$@" >"$out" 2>&1 || true
  local last rate p99 accepted
  last=$(tail -n 1 "$out")
  case "$last" in *" accepted, 0 failed, "*) ;; *) log "$name: failures, see $out: $last";; esac
  rate=$(sed -n 's/.* failed, \([0-9.]*\) msg\/s$/\1/p' <<<"$last")
  p99=$(sed -n 's/.*Latency p50 \/ p90 \/ p99 \/ max *[0-9.]* ms \/ [0-9.]* ms \/ \([0-9.]*\) ms.*/\1/p' "$out")
  accepted=$(sed -n 's/^\([0-9]*\) accepted, .*/\1/p' <<<"$last")
  echo "${rate:-0} ${p99:-0} ${accepted:-0}"
}

# Both queues empty before a run starts: a server still delivering the previous run's messages
# (its own or the other server's) would be measured against that leftover work.
queued() {
  local pf ar
  pf=$(find "$PF_QUEUE"/maildrop "$PF_QUEUE"/incoming "$PF_QUEUE"/active "$PF_QUEUE"/deferred -type f 2>/dev/null | wc -l)
  ar=$(find "$WORK/authrelay/spool/queue" -type f 2>/dev/null | wc -l)
  pg=0
  [ "$CLUSTER" != 0 ] && pg=$(pgq "SELECT COUNT(*) FROM queue_messages" 2>/dev/null || echo 1)
  echo $((pf + ar + pg))
}
drain() {
  local n
  for _ in $(seq 600); do
    n=$(queued)
    [ "$n" = 0 ] && { sleep 0.5; return 0; }
    sleep 0.2
  done
  log "queues still hold $n messages after 120 s; measuring anyway"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

SCEN_NAMES=("1 conn, persistent, 1 KiB" "16 conn, persistent, 1 KiB" "8 conn, new session per msg, 1 KiB" "16 conn, persistent, 100 KiB")
SCEN_ARGS=(
  "--connections 1 --messages $((2000 * SCALE)) --size 1024"
  "--connections 16 --messages $((8000 * SCALE)) --size 1024"
  "--connections 8 --messages $((600 * SCALE)) --per-session 1 --size 1024"
  "--connections 16 --messages $((3000 * SCALE)) --size 102400"
)

SERVERS="postfix authrelay"
[ "$CLUSTER" != 0 ] && SERVERS="postfix authrelay pg cluster"
# PostgreSQL's work so far: statements run by every client of the database, and the WAL position.
pg_counters() { pgq "SELECT (SELECT COALESCE(SUM(calls), 0) FROM pg_stat_statements), pg_current_wal_lsn()" | tr '|' ' '; }

for round in $(seq "$ROUNDS"); do
  order=$SERVERS
  [ $((round % 2)) = 0 ] && order=$(tr ' ' '\n' <<<"$SERVERS" | tac | tr '\n' ' ')
  for i in "${!SCEN_NAMES[@]}"; do
    for server in $order; do
      case $server in
        postfix) port=$PF_PORT ;;
        authrelay) port=$AR_PORT ;;
        pg) port=$AR_PG_PORT ;;
        cluster) port=$LB_PORT ;;
      esac
      drain
      on_pg=0; { [ "$server" = pg ] || [ "$server" = cluster ]; } && on_pg=1
      [ "$on_pg" = 1 ] && read -r calls0 wal0 < <(pg_counters)
      # shellcheck disable=SC2086
      read -r rate p99 accepted < <(run "r${round}-s${i}-${server}" "$port" ${SCEN_ARGS[$i]})
      echo "$rate" >>"$WORK/results/s${i}-${server}.rate"
      echo "$p99" >>"$WORK/results/s${i}-${server}.p99"
      extra=""
      if [ "$on_pg" = 1 ] && [ "${accepted:-0}" -gt 0 ]; then
        drain
        read -r calls1 wal1 < <(pg_counters)
        wal=$(pgq "SELECT pg_wal_lsn_diff('$wal1', '$wal0')")
        awk -v c=$((calls1 - calls0)) -v n="$accepted" 'BEGIN { printf "%.1f\n", c / n }' >>"$WORK/results/s${i}-${server}.stmts"
        awk -v w="$wal" -v n="$accepted" 'BEGIN { printf "%.0f\n", w / n }' >>"$WORK/results/s${i}-${server}.wal"
        extra=", $(tail -n 1 "$WORK/results/s${i}-${server}.stmts") statements and $(tail -n 1 "$WORK/results/s${i}-${server}.wal") WAL bytes per message"
      fi
      log "round $round, ${SCEN_NAMES[$i]}, $server: $rate msg/s, p99 $p99 ms$extra"
    done
  done
done

[ "$ROUNDS" -gt 0 ] && {
echo
echo "authrelay vs Postfix $(postconf -d -h mail_version 2>/dev/null) — median of $ROUNDS alternating rounds, submission with STARTTLS + AUTH PLAIN, durable queue, onward delivery to a sink (POSTFIX_DELIVER=${POSTFIX_DELIVER:-1})"
printf '%-38s %12s %12s %8s %12s %12s\n' "scenario" "postfix msg/s" "authrelay" "ratio" "p99 postfix" "p99 authrelay"
for i in "${!SCEN_NAMES[@]}"; do
  pf=$(median <"$WORK/results/s${i}-postfix.rate"); ar=$(median <"$WORK/results/s${i}-authrelay.rate")
  pfp=$(median <"$WORK/results/s${i}-postfix.p99"); arp=$(median <"$WORK/results/s${i}-authrelay.p99")
  ratio=$(awk -v a="$ar" -v p="$pf" 'BEGIN { if (p > 0) printf "%.2fx", a / p; else print "-" }')
  printf '%-38s %12s %12s %8s %9s ms %9s ms\n' "${SCEN_NAMES[$i]}" "$pf" "$ar" "$ratio" "$pfp" "$arp"
done
if [ "$CLUSTER" != 0 ]; then
  echo
  echo "authrelay on PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') (synchronous_commit on): one node, and two nodes behind HAProxy; median msg/s, ratio to Postfix, PostgreSQL statements and WAL bytes per message (accept + delivery + removal)"
  printf '%-38s %10s %7s %7s %8s %10s %7s %7s %8s\n' "scenario" "1 node" "ratio" "stmts" "WAL B" "2 nodes" "ratio" "stmts" "WAL B"
  for i in "${!SCEN_NAMES[@]}"; do
    pf=$(median <"$WORK/results/s${i}-postfix.rate")
    row=$(printf '%-38s' "${SCEN_NAMES[$i]}")
    for server in pg cluster; do
      r=$(median <"$WORK/results/s${i}-${server}.rate")
      ratio=$(awk -v a="$r" -v p="$pf" 'BEGIN { if (p > 0) printf "%.2fx", a / p; else print "-" }')
      st=-; wl=-
      [ -s "$WORK/results/s${i}-${server}.stmts" ] && st=$(median <"$WORK/results/s${i}-${server}.stmts")
      [ -s "$WORK/results/s${i}-${server}.wal" ] && wl=$(median <"$WORK/results/s${i}-${server}.wal")
      row="$row $(printf '%10s %7s %7s %8s' "$r" "$ratio" "$st" "$wl")"
    done
    echo "$row"
  done
fi
}

if [ "${SKIP_SCALING:-0}" != 1 ]; then
  echo
  echo "authrelay alone, persistent sessions, 1 KiB: how msg/s grows with connections"
  printf '%-12s %12s %12s\n' "connections" "msg/s" "p99"
  for c in 1 4 16 64; do
    drain
    read -r rate p99 _ < <(run "scale-$c" "$AR_PORT" --connections "$c" --messages $(( (c == 1 ? 2000 : 500 * c) * SCALE )) --size 1024)
    printf '%-12s %12s %9s ms\n' "$c" "$rate" "$p99"
  done
fi

if [ "${SKIP_IDLE:-0}" != 1 ]; then
  IDLE=${IDLE:-10000}
  echo
  echo "authrelay memory with $IDLE idle authenticated sessions (STARTTLS + AUTH PLAIN, then idle)"
  ulimit -n $((IDLE + 1024)) 2>/dev/null || die "cannot raise the open-files limit to $((IDLE + 1024)) (hard limit: $(ulimit -Hn))"
  # The server inherited the old limit: restart it with the raised one.
  kill "$AR_PID"; wait "$AR_PID" 2>/dev/null || true
  RUST_LOG=warn "$AUTHRELAY" --config "$WORK/authrelay.toml" serve 2>>"$WORK/authrelay.log" &
  AR_PID=$!; PIDS+=("$AR_PID")
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$AR_PORT) 2>/dev/null && break; sleep 0.1; done
  base=$(awk '/^VmRSS/ {print $2}' /proc/$AR_PID/status)
  HOLD=${HOLD:-40}
  $T $((HOLD + 600)) "$AUTHRELAY" bench --server 127.0.0.1:$AR_PORT --user "$USER_ADDR" --password "$PASS" \
    --connections "$IDLE" --hold "$HOLD" >"$WORK/results/idle.txt" 2>&1 &
  BENCH_PID=$!
  peak=0; at_full=0
  while kill -0 "$BENCH_PID" 2>/dev/null; do
    rss=$(awk '/^VmRSS/ {print $2}' /proc/$AR_PID/status)
    conns=$(ls /proc/$AR_PID/fd 2>/dev/null | wc -l)
    [ "$rss" -gt "$peak" ] && peak=$rss
    # RSS while every session is open and idle (fds = sessions + a few).
    [ "$conns" -ge "$IDLE" ] && at_full=$rss
    sleep 1
  done
  wait "$BENCH_PID" || true
  hwm=$(awk '/^VmHWM/ {print $2}' /proc/$AR_PID/status)
  opened=$(sed -n 's/^ *Sessions opened *\([0-9]*\)$/\1/p' "$WORK/results/idle.txt")
  echo "sessions opened: ${opened:-?} of $IDLE"
  echo "server RSS before: $((base / 1024)) MiB; with all sessions idle: $((at_full / 1024)) MiB; peak sampled: $((peak / 1024)) MiB; VmHWM: $((hwm / 1024)) MiB"
  awk -v r="$at_full" -v b="$base" -v n="$IDLE" 'BEGIN { if (r > 0) printf "per idle session: %.1f KiB\n", (r - b) / n }'
fi
echo
echo "Full outputs: $WORK/results/"
