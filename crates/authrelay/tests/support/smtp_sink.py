"""An SMTP far side for the delivery tests, built on aiosmtpd (PyPI), not on our code.

Each accepted message is written to --dir as <n>.json (envelope, TLS and AUTH facts, the bytes
in base64). Modes: ok; tempfail-once (the first DATA gets 451, later ones 250); reject (every
RCPT gets 550 with a recognisable text); 421-reused (the second MAIL on a connection gets 421
and the connection is closed, as a server ending an idle session does). --delay holds the DATA
reply; --tls-cert/--tls-key offer STARTTLS and require it; --auth USER:PASS requires AUTH (only
after TLS); --idle-timeout closes connections idle that long (seconds); --port listens on a
given port (to restart a sink in place).

Every connection that carries a MAIL command appends a line to <dir>/connections (STARTTLS
sessions count once: the session after STARTTLS is the one that sends MAIL), and every MAIL
refused by 421-reused a line to <dir>/refused.
"""
import argparse, asyncio, base64, json, os, socket, ssl, sys, threading, time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

p = argparse.ArgumentParser()
p.add_argument("--dir", required=True)
p.add_argument("--port-file", required=True)
p.add_argument("--mode", default="ok")
p.add_argument("--delay", type=float, default=0)
p.add_argument("--tls-cert")
p.add_argument("--tls-key")
p.add_argument("--auth")
p.add_argument("--idle-timeout", type=float, default=300)
p.add_argument("--port", type=int, default=0)
args = p.parse_args()
os.makedirs(args.dir, exist_ok=True)
lock = threading.Lock()
counter = {"data": 0, "saved": 0}


def note(name, line):
    with lock:
        with open(os.path.join(args.dir, name), "a") as f:
            f.write(line + "\n")


class Handler:
    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        mails = getattr(session, "mails", 0) + 1
        session.mails = mails
        if mails == 1:
            note("connections", "%s:%d" % session.peer[:2])
        if args.mode == "421-reused" and mails > 1:
            note("refused", "%s:%d" % session.peer[:2])
            server.loop.call_soon(server.transport.close)
            return "421 4.4.2 sink-says-closing-idle-session"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if args.mode == "reject":
            return "550 5.1.1 <%s>: Recipient address rejected: sink-says-no-such-user" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        with lock:
            counter["data"] += 1
            n = counter["data"]
        with open(os.path.join(args.dir, "attempts"), "a") as f:
            f.write("%d\n" % n)
        if args.mode == "tempfail-once" and n == 1:
            return "451 4.3.0 sink-says-try-again-later"
        if args.delay:
            await asyncio.sleep(args.delay)
        with lock:
            counter["saved"] += 1
            k = counter["saved"]
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "authenticated": bool(session.authenticated),
            "data": base64.b64encode(envelope.original_content).decode(),
        }
        tmp = os.path.join(args.dir, "%d.tmp" % k)
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(args.dir, "%d.json" % k))
        return "250 2.0.0 OK sink-accepted"


def authenticator(server, session, envelope, mechanism, auth_data):
    user, password = args.auth.split(":", 1)
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password
    return AuthResult(success=ok, handled=False)


port = args.port
if not port:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
kw = dict(hostname="127.0.0.1", port=port, decode_data=False, enable_SMTPUTF8=True, ready_timeout=10,
          timeout=args.idle_timeout)
if args.tls_cert:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.tls_cert, args.tls_key)
    kw.update(tls_context=ctx, require_starttls=True)
if args.auth:
    kw.update(authenticator=authenticator, auth_required=True, auth_require_tls=True)
controller = Controller(Handler(), **kw)
controller.start()
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(port))
os.rename(args.port_file + ".tmp", args.port_file)
try:
    while True:
        time.sleep(3600)
except KeyboardInterrupt:
    controller.stop()
