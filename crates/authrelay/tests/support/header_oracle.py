"""Send-as oracle: hostile header sections through the real server, judged by Python's `email`.

Usage: header_oracle.py PORT CAFILE USER PASSWORD PERMITTED[,PERMITTED...] SEED COUNT

Generates header sections from fragments (sender fields with permitted, forbidden and tricky
values, odd names, lines without a colon, whitespace-only lines, folding, mbox From lines, 8-bit
and control bytes) plus COUNT random combinations (seeded), and submits each with smtplib over
STARTTLS + AUTH (a fresh connection every 20 messages, and after any disconnect).

The oracle is Python's own reading: for each message the server accepted (250), every address
that `email` shows in From, Sender, Resent-From or Resent-Sender, under the compat32 policy
(email.utils.getaddresses) and under policy.default (headerregistry), must be permitted, and
every such field present must show at least one address. Control cases must be accepted and
the cases of issue 12 refused, so the run cannot pass by refusing everything.

Prints one JSON summary line; exits 1 with the violations on stderr."""
import email, email.policy, email.utils, json, random, smtplib, ssl, sys

port, cafile, user, password, permitted, seed, count = sys.argv[1:8]
PERMITTED = {a.lower() for a in permitted.split(",")}
rng = random.Random(int(seed))

GOOD = ["scanner@contoso.com", "Scanner <scanner@contoso.com>", "alerts@contoso.com",
        '"Scanner, floor 2" <SCANNER@contoso.com>', "scanner@contoso.com (the scanner)",
        "Alerts <alerts@contoso.com>, scanner@contoso.com",
        "=?utf-8?q?Sc=C3=A4nner?= <scanner@contoso.com>"]
BAD = ["ceo@contoso.com", "CEO <ceo@contoso.com>", "ceo@fabrikam.com", "boss@tailspin.example",
       "CEO@CONTOSO.COM"]
TRICKY = ['"scanner"@contoso.com', '"scanner@contoso.com" <ceo@contoso.com>', "scanner@contoso.com <ceo@contoso.com>",
          "<ceo@contoso.com> scanner@contoso.com", "scanner@contoso.com (ceo@contoso.com)",
          "(scanner@contoso.com) ceo@contoso.com", "scanner@contoso.com, ceo@contoso.com",
          "Team: scanner@contoso.com, ceo@contoso.com;", "Team:;", "", " ",
          '"ceo@contoso.com"@contoso.com', "ceo@contoso.com@contoso.com",
          "scanner@contoso.com\r\n ceo@contoso.com", "scanner@contoso.com\r\n\t<ceo@contoso.com>",
          "=?utf-8?q?ceo=40contoso.com?=", "=?utf-8?q?CEO?= <ceo@contoso.com>",
          "<scanner@contoso.com", "scanner@contoso.com>", '"a\\"b" <ceo@contoso.com>',
          "scanner@contoso.com;ceo@contoso.com", "<@evil.example:ceo@contoso.com>",
          "ceo@[127.0.0.1]", "scanner@contoso.com (c (nested) ceo@contoso.com)",
          "scanner@contoso.com (unclosed", "ceo@contoso.com.", "scanner @ contoso.com",
          "scanner@contoso.com,", ",ceo@contoso.com", '"Scanner" scanner@contoso.com',
          "scanner@contoso.com\x0bceo@contoso.com", "sc\xe4nner@contoso.com",
          "Team: scanner@contoso.com;, ceo@contoso.com", "ceo", "<>", "scanner@contoso"]
NAMES = ["From", "from", "FROM", "Sender", "Resent-From", "Resent-Sender", "resent-sender",
         "From ", "From\t", " From", "X-From", "Reply-To"]
NOISE = ["this line has no colon", " ", "\t", " continued", "From ceo@contoso.com Mon Jan  1 00:00:00 2026",
         ":empty name", "Subject: hello", "To: partner@example.net", "Fr\xf6m: ceo@contoso.com",
         ">From: ceo@contoso.com", "Subject: a\x0cb", "X-A: b\x1bc", ""]


def field(name, value):
    return "%s:%s%s" % (name, " " if value and not value.startswith(" ") else "", value)


def cases():
    out = []
    # Controls: must be accepted.
    for v in GOOD:
        out.append(("control", [field("From", v), "Subject: ok"]))
    out.append(("control", [field("From", "scanner@contoso.com"), field("Sender", "alerts@contoso.com")]))
    out.append(("control", ["Subject: no sender fields"]))
    # The cases of issue 12: must be refused.
    issue = [
        [field("From", "CEO <ceo@contoso.com>"), field("From", "scanner@contoso.com")],
        [field("From", "CEO <ceo@contoso.com>"), "From:"],
        [field("From", "CEO <ceo@contoso.com>"), "no colon here", field("From", "scanner@contoso.com")],
        [field("From", "boss@tailspin.example"), field("From", "scanner@contoso.com")],
        [field("From", "scanner@contoso.com"), field("Sender", "ceo@contoso.com"), field("Sender", "scanner@contoso.com")],
    ]
    out += [("issue", h) for h in issue]
    # Every name with every value.
    for name in NAMES:
        for v in GOOD + BAD + TRICKY:
            out.append(("single", [field(name, v), "Subject: s"]))
    # Every noise line between a forged and a permitted From, both ways round.
    for n in NOISE:
        for a, b in (("CEO <ceo@contoso.com>", "scanner@contoso.com"), ("scanner@contoso.com", "CEO <ceo@contoso.com>")):
            out.append(("noise", [field("From", a), n, field("From", b)]))
            out.append(("noise", [n, field("From", a)]))
            out.append(("noise", [field("Subject", "x"), n, field("Sender", a), field("From", b)]))
    # Random combinations.
    for _ in range(int(count)):
        lines = []
        for _ in range(rng.randint(1, 5)):
            r = rng.random()
            if r < 0.55:
                lines.append(field(rng.choice(NAMES), rng.choice(GOOD + BAD + TRICKY)))
            elif r < 0.85:
                lines.append(rng.choice(NOISE))
            else:
                lines.append(field(rng.choice(["Subject", "To", "Cc", "X-Mailer"]), rng.choice(GOOD + BAD)))
        out.append(("random", lines))
    return out


def python_view(raw):
    """{field: [addresses]} as Python's email shows them, under both policies."""
    view = {}
    for policy in (email.policy.compat32, email.policy.default):
        msg = email.message_from_bytes(raw, policy=policy)
        for name in ("From", "Sender", "Resent-From", "Resent-Sender"):
            values = msg.get_all(name) or []
            for v in values:
                addrs = []
                if policy is email.policy.compat32:
                    addrs = [a for _, a in email.utils.getaddresses([str(v)]) if a]
                else:
                    try:
                        addrs = [a.addr_spec for a in v.addresses if a.addr_spec and a.addr_spec != "<>"]
                    except Exception:
                        addrs = []
                view.setdefault(name, []).append(addrs)
    return view


def connect():
    ctx = ssl.create_default_context(cafile=cafile)
    s = smtplib.SMTP("localhost", int(port), local_hostname="printer.contoso.com", timeout=30)
    s.starttls(context=ctx)
    s.ehlo()
    s.login(user, password)
    return s


def submit(s, raw):
    code, resp = s.mail(user)
    if code != 250:
        raise RuntimeError("MAIL %d %s" % (code, resp))
    code, resp = s.rcpt("partner@example.net")
    if code != 250:
        raise RuntimeError("RCPT %d %s" % (code, resp))
    code, resp = s.data(raw)
    return code, resp.decode(errors="replace")


violations, results = [], {"accepted": 0, "refused": 0, "by_reply": {}}
s, sent_on_connection = None, 0
all_cases = cases()
for i, (kind, lines) in enumerate(all_cases):
    raw = ("\r\n".join(lines) + "\r\n\r\nbody line\r\n").encode("utf-8", "surrogateescape")
    for attempt in (1, 2):
        try:
            if s is None or sent_on_connection >= 20:
                if s is not None:
                    try:
                        s.quit()
                    except Exception:
                        pass
                s, sent_on_connection = connect(), 0
            try:
                code, text = submit(s, raw)
            except smtplib.SMTPDataError as e:
                code, text = e.smtp_code, e.smtp_error.decode(errors="replace")
            sent_on_connection += 1
            break
        except (smtplib.SMTPServerDisconnected, ConnectionError):
            s = None
            if attempt == 2:
                raise
    key = "%d %s" % (code, text.split(" ")[0])
    results["by_reply"][key] = results["by_reply"].get(key, 0) + 1
    view = python_view(raw)
    accepted = code == 250
    results["accepted" if accepted else "refused"] += 1
    if kind == "control" and not accepted:
        violations.append({"case": i, "why": "control refused", "reply": "%d %s" % (code, text), "raw": raw.decode(errors="replace")})
    if kind == "issue" and accepted:
        violations.append({"case": i, "why": "issue case accepted", "raw": raw.decode(errors="replace")})
    if accepted:
        for name, per_field in view.items():
            for addrs in per_field:
                bad = [a for a in addrs if a.lower() not in PERMITTED]
                if bad or not addrs:
                    violations.append({"case": i, "why": "accepted, but Python shows %s %r" % (name, addrs),
                                       "raw": raw.decode(errors="replace")})
if s is not None:
    try:
        s.quit()
    except Exception:
        pass
results["cases"] = len(all_cases)
results["violations"] = len(violations)
print(json.dumps(results, sort_keys=True))
for v in violations[:40]:
    print(json.dumps(v), file=sys.stderr)
sys.exit(1 if violations else 0)
