#!/usr/bin/env bash
# Fuzzes the admin API against its own OpenAPI document with schemathesis (PyPI): a real server
# on loopback with a throwaway data directory, a Global administrator's API token, every
# operation exercised with generated inputs. Passes when no answer is a server error (5xx) and
# every answer matches the document (status code, content type, body schema). The checks that
# need every validation rule expressed in the schema (positive_data_acceptance,
# negative_data_rejection: "a password of 3 characters is schema-valid but refused") are not run.
#
#   scripts/fuzz-api.sh [MAX_EXAMPLES]      (default 60 per operation)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/authrelay/target}"
examples="${1:-60}"

command -v schemathesis >/dev/null 2>&1 || python3 -m pip install -q schemathesis \
  || python3 -m pip install -q --break-system-packages schemathesis
cargo build -q -p authrelay
bin="$CARGO_TARGET_DIR/debug/authrelay"

work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export AUTHRELAY_DATA_DIR="$work/data"
cat > "$work/authrelay.toml" <<TOML
[listen]
submission = "127.0.0.1:0"
submissions = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
# The fuzzer signs in with random passwords too; keep the limiter from hiding other answers.
signin_failures = 100000
TOML
export AUTHRELAY_CONFIG="$work/authrelay.toml"
"$bin" org add Contoso --domain contoso.com >/dev/null
"$bin" org set Contoso --security-defaults off >/dev/null
printf 'Scan-To-Mail-2026!\n' | "$bin" user add scanner@contoso.com --password-stdin >/dev/null
printf 'Rnd-Adm1n-Pass-2026!\n' | "$bin" admin add fuzz@contoso.com --role global --password-stdin >/dev/null
"$bin" serve >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do [ -s "$work/data/listen.json" ] && break; sleep 0.1; done
admin="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['admin'])" "$work/data/listen.json")"
base="http://$admin"

# A session, then an API token for the fuzzer (tokens need no CSRF header).
token="$(python3 - "$base" <<'PY'
import json, sys, urllib.request
base = sys.argv[1]
req = urllib.request.Request(base + "/api/session", method="POST",
    data=json.dumps({"address": "fuzz@contoso.com", "password": "Rnd-Adm1n-Pass-2026!"}).encode(),
    headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req) as r:
    cookie = r.headers["Set-Cookie"].split(";")[0]
    csrf = json.load(r)["csrf_token"]
req = urllib.request.Request(base + "/api/tokens", method="POST", data=json.dumps({"name": "fuzz"}).encode(),
    headers={"Content-Type": "application/json", "Cookie": cookie, "X-CSRF-Token": csrf})
with urllib.request.urlopen(req) as r:
    print(json.load(r)["secret"])
PY
)"

echo "fuzz-api: $base, $examples examples per operation" >&2
status=0
# Revoking tokens could end the fuzzer's own access half-way; that is covered by the API tests.
schemathesis run "$base/api/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --max-examples "$examples" \
  --exclude-path '/api/tokens/{id}' \
  --workers 1 \
  --report junit --report-dir "$work/report" || status=$?
echo "fuzz-api: schemathesis exit status $status" >&2
grep -E "panicked|ERROR" "$work/serve.log" | head -20 >&2 || true
exit "$status"
