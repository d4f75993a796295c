#!/usr/bin/env python3
"""Soak test for authrelay (not part of scripts/test): many sessions at once from a mix of good
clients, bad passwords, slow clients and malformed ones, while the server is SIGKILLed and
restarted at random moments. At the end, every message that got `250 ... queued as` must be in
the queue exactly once, and none whose final "." was never sent may be there. A message whose
"." was sent but whose reply was lost to a kill is "in doubt": it may be there (at most once).

Loopback only; bounded in time (--duration) and in sessions (--max-sessions).

    cargo build -p authrelay && scripts/soak.py --duration 180
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import base64

USER = "scanner@contoso.com"
PASSWORD = "Soak-Test-Pass-2026!"
VICTIM = "victim@contoso.com"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, binary, workdir):
        self.binary = binary
        self.dir = workdir
        self.data = os.path.join(workdir, "data")
        self.sub = free_port()
        self.subs = free_port()
        self.config = os.path.join(workdir, "authrelay.toml")
        with open(self.config, "w") as f:
            f.write(
                f'hostname = "soak.authrelay.test"\n[listen]\nsubmission = "127.0.0.1:{self.sub}"\n'
                f'submissions = "127.0.0.1:{self.subs}"\nmax_connections = 500\n[limits]\n'
                "auth_failure_delay_ms = 0\ncommand_timeout_secs = 3\ndata_timeout_secs = 3\n"
                "data_deadline_secs = 6\nmax_connections_per_address = 400\n"
                "connections_per_address_per_minute = 1000000\naddress_failure_budget = 1000000\n"
                "address_failure_delay_step_ms = 0\nmax_sessions_per_mailbox = 1000\n"
                "daily_recipients = 100000000\nauth_failures_per_connection = 3\nshutdown_grace_secs = 5\n"
                # No admin center, and outbound delivery kept from draining the queue: every
                # message stays deferred (a smarthost on a closed loopback port), so the queue
                # shows exactly what was accepted.
                '[admin]\nlisten = ""\n[delivery]\nfirst_retry_secs = 86400\n'
                '[[routes]]\ndomains = ["example.net"]\nkind = "smarthost"\nhost = "127.0.0.1"\nport = 9\n'
            )
        self.proc = None
        self.log = open(os.path.join(workdir, "serve.log"), "ab")

    def cli(self, *args, stdin=None):
        return subprocess.run(
            [self.binary, "--data-dir", self.data, "--config", self.config, *args],
            input=stdin, capture_output=True, check=True, env={**os.environ, "LANG": "en_US.UTF-8"},
        ).stdout

    def start(self):
        listen = os.path.join(self.data, "listen.json")
        if os.path.exists(listen):
            os.remove(listen)
        self.proc = subprocess.Popen(
            [self.binary, "--data-dir", self.data, "--config", self.config, "serve"],
            stdout=subprocess.DEVNULL, stderr=self.log, env={**os.environ, "RUST_LOG": "warn"},
        )
        deadline = time.time() + 30
        while not os.path.exists(listen):
            if self.proc.poll() is not None:
                sys.exit(f"soak: the server exited with {self.proc.returncode}; see {self.dir}/serve.log")
            if time.time() > deadline:
                sys.exit("soak: the server did not start within 30 s")
            time.sleep(0.02)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.sessions = 0
        self.kinds = {}
        self.acked = []        # tokens with a 250 queued reply
        self.in_doubt = []     # "." sent, reply lost
        self.unsent = []       # never reached the final "."
        self.refused = 0       # connections refused (server down)

    def add(self, kind):
        with self.lock:
            self.sessions += 1
            self.kinds[kind] = self.kinds.get(kind, 0) + 1


TLS = ssl.create_default_context()
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE


class Conn:
    def __init__(self, port, timeout=10):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = TLS.wrap_socket(raw, server_hostname="localhost")
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("latin-1")

    def reply(self):
        for _ in range(100):
            line = self.line()
            if len(line) < 4 or line[3] != "-":
                return line
        raise ConnectionError("reply too long")

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def plain(user, password):
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def good(server, tally, rng, seq):
    token = f"soak-{os.getpid()}-{seq}-{rng.randrange(1 << 30):08x}"
    state = "unsent"
    try:
        c = Conn(server.subs)
        try:
            c.reply()
            c.cmd("EHLO good.soak")
            if not c.cmd("AUTH PLAIN " + plain(USER, PASSWORD)).startswith("235"):
                return
            for _ in range(rng.randint(1, 3)):
                token = f"soak-{os.getpid()}-{seq}-{rng.randrange(1 << 30):08x}"
                state = "unsent"
                assert c.cmd(f"MAIL FROM:<{USER}>").startswith("250")
                assert c.cmd("RCPT TO:<frontdesk@example.net>").startswith("250")
                assert c.cmd("DATA").startswith("354")
                body = f"From: {USER}\r\nSubject: {token}\r\nMessage-Id: <{token}@soak>\r\n\r\n"
                body += ("line of the soak message " + token + "\r\n") * rng.randint(1, 200)
                c.send(body)
                c.send(".\r\n")
                state = "doubt"
                r = c.reply()
                if r.startswith("250 2.0.0 OK queued as"):
                    state = "acked"
                    with tally.lock:
                        tally.acked.append(token)
                else:
                    state = "unsent" if r.startswith(("4", "5")) else state
                    with tally.lock:
                        (tally.unsent if state == "unsent" else tally.in_doubt).append(token)
                    return
            c.cmd("QUIT")
        finally:
            c.close()
    except (OSError, ConnectionError, AssertionError):
        if state != "acked":
            with tally.lock:
                (tally.in_doubt if state == "doubt" else tally.unsent).append(token)


def bad_password(server, tally, rng, seq):
    c = Conn(server.subs)
    try:
        c.reply()
        c.cmd("EHLO bad.soak")
        for _ in range(rng.randint(1, 4)):
            r = c.cmd("AUTH PLAIN " + plain(rng.choice([VICTIM, f"ghost{seq}@contoso.com"]), f"guess{seq}"))
            if r.startswith("421"):
                break
    finally:
        c.close()


def slow(server, tally, rng, seq):
    c = Conn(server.subs, timeout=15)
    try:
        c.reply()
        c.sock.settimeout(0.3)
        for b in b"EHLO a-slowloris-client-from-the-soak-test\r\n"[: rng.randint(3, 30)]:
            c.send(bytes([b]))
            time.sleep(rng.uniform(0.2, 0.6))
            try:
                if c.sock.recv(256):
                    break
            except socket.timeout:
                pass
    finally:
        c.close()


def malformed(server, tally, rng, seq):
    token = f"smuggled-{seq}-{rng.randrange(1 << 30):08x}"
    c = Conn(server.subs)
    try:
        c.reply()
        choice = rng.randrange(4)
        if choice == 0:
            for _ in range(rng.randint(1, 12)):
                c.send(bytes(rng.randrange(256) for _ in range(rng.randint(1, 700))) + b"\r\n")
        elif choice == 1:
            c.cmd("EHLO smuggler")
            c.cmd("AUTH PLAIN " + plain(USER, PASSWORD))
            c.cmd(f"MAIL FROM:<{USER}>")
            c.cmd("RCPT TO:<frontdesk@example.net>")
            c.cmd("DATA")
            ending = rng.choice([b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r.\n", b"\r\n.\r", b"\r\n.\n"])
            c.send(b"Subject: outer\r\n\r\nx" + ending + f"MAIL FROM:<{USER}>\r\nRCPT TO:<v@example.net>\r\n"
                   f"DATA\r\nSubject: {token}\r\n\r\n{token}\r\n.\r\n".encode())
            with tally.lock:
                tally.unsent.append(token)  # must never be queued as a message of its own
            c.reply()
        elif choice == 2:
            c.send("".join(rng.choice(["NOOP", "HELO", "MAIL FROM:<>", "AUTH", "STARTTLS", "BDAT 1"]) + "\r\n"
                           for _ in range(30)))
        else:
            c.send("EHLO " + "x" * rng.randint(400, 20000) + "\r\n")
        try:
            c.sock.settimeout(2)
            c.sock.recv(65536)
        except OSError:
            pass
    finally:
        c.close()


KINDS = [(good, 60), (bad_password, 15), (slow, 5), (malformed, 20)]


def worker(server, tally, deadline, max_sessions, seed, counter):
    rng = random.Random(seed)
    population = [k for k, _ in KINDS]
    weights = [w for _, w in KINDS]
    while time.time() < deadline:
        with counter["lock"]:
            if counter["n"] >= max_sessions:
                return
            counter["n"] += 1
            seq = counter["n"]
        kind = rng.choices(population, weights)[0]
        tally.add(kind.__name__)
        try:
            kind(server, tally, rng, seq)
        except ConnectionRefusedError:
            with tally.lock:
                tally.refused += 1
            time.sleep(0.05)
        except (OSError, ConnectionError):
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(os.path.expanduser("~"), ".cache/authrelay/target"))
    ap.add_argument("--binary", default=os.path.join(target, "debug", "authrelay"))
    ap.add_argument("--duration", type=float, default=180, help="seconds of load (default 180)")
    ap.add_argument("--max-sessions", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=24)
    ap.add_argument("--kill-every", type=float, nargs=2, default=[3, 12], metavar=("MIN", "MAX"))
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    if not os.path.exists(a.binary):
        sys.exit(f"soak: no binary at {a.binary}; run `cargo build -p authrelay` first or pass --binary")

    workdir = tempfile.mkdtemp(prefix="authrelay-soak-")
    server = Server(a.binary, workdir)
    server.cli("org", "add", "Contoso", "--domain", "contoso.com")
    server.cli("user", "add", USER, "--password-stdin", stdin=PASSWORD.encode())
    server.cli("user", "add", VICTIM, "--password-stdin", stdin=(PASSWORD + "v").encode())
    server.cli("org", "set", "Contoso", "--security-defaults", "off", "--smtp-auth", "enabled")
    server.start()

    tally = Tally()
    rng = random.Random(a.seed)
    deadline = time.time() + a.duration
    counter = {"n": 0, "lock": threading.Lock()}
    threads = [threading.Thread(target=worker, args=(server, tally, deadline, a.max_sessions, a.seed + i, counter),
                                daemon=True) for i in range(a.workers)]
    for t in threads:
        t.start()
    kills = 0
    while time.time() < deadline and any(t.is_alive() for t in threads):
        time.sleep(min(rng.uniform(*a.kill_every), max(0.0, deadline - time.time())))
        if time.time() >= deadline:
            break
        server.kill9()
        kills += 1
        time.sleep(rng.uniform(0, 0.5))
        server.start()
    for t in threads:
        t.join(timeout=60)
    server.stop()

    listing = json.loads(server.cli("queue", "list", "--json"))
    found = {}
    for m in listing:
        raw = server.cli("queue", "show", m["id"], "--raw")
        for line in raw.split(b"\r\n"):
            if line.startswith(b"Subject: "):
                token = line[len(b"Subject: "):].decode("latin-1")
                found[token] = found.get(token, 0) + 1
                break
    acked, doubt, unsent = set(tally.acked), set(tally.in_doubt), set(tally.unsent)
    missing = [t for t in acked if found.get(t, 0) != 1]
    dupes = [t for t, n in found.items() if n > 1]
    phantom = [t for t in found if t in unsent and t not in acked]
    unknown = [t for t in found if t not in acked and t not in doubt and t not in unsent and t != "outer"]
    doubt_found = sum(1 for t in doubt if t in found)
    print(f"soak: seed {a.seed}, {a.duration:.0f} s, {a.workers} workers")
    print(f"  sessions            {tally.sessions}  {dict(sorted(tally.kinds.items()))}")
    print(f"  connections refused {tally.refused} (server down between kill and restart)")
    print(f"  kills survived      {kills}")
    print(f"  messages acked      {len(acked)}")
    print(f"  messages in queue   {len(listing)} ({sum(1 for t in found if t in acked)} acked, "
          f"{doubt_found} of {len(doubt)} in doubt, {found.get('outer', 0)} smuggling outer)")
    print(f"  never sent '.'      {len(unsent)} (found: {len(phantom)})")
    ok = not missing and not dupes and not phantom and not unknown
    if not ok:
        print(f"  FAILED: missing/duplicated acked {missing[:10]}, duplicates {dupes[:10]}, "
              f"phantoms {phantom[:10]}, unknown {unknown[:10]}")
        print(f"  work directory kept: {workdir}")
        sys.exit(1)
    print("  OK: every acknowledged message is in the queue exactly once; nothing unacknowledged is")
    if a.keep:
        print(f"  work directory: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
