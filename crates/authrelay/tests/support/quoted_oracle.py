"""Quoted local parts on the way out (issue 12), against tests/support/raw_sink.py.

Usage: quoted_oracle.py PORT CAFILE USER PASSWORD LINES_FILE

For each local part (quoted ones whose content is or is not a dot-atom, and unquoted hostile
ones): an authenticated session sends RCPT TO:<local@remote.example>, and a connector session
(no AUTH, from 127.0.0.1) sends MAIL FROM:<local@contoso.com>, each with raw commands so no
client library re-quotes anything. Each address is either refused at MAIL/RCPT, or it reaches
the far side as one plain `<addr-spec>` (nothing after it but known parameters) that Python's
own address parser reads as the same user and domain as the original. Prints a JSON summary;
exits 1 with the violations on stderr."""
import email.headerregistry, json, re, smtplib, ssl, sys, time

port, cafile, user, password, lines_file = sys.argv[1:6]
LOCALS = ['"x> RET=FULL ENVID=injected AUTH=<ceo@contoso.com>"', '"victim@internal.example"', '"a b"',
          '"john.doe"', '"john"', r'"a\"b"', r'"a\\b"', '"a,b"', '"a;b"', '"a:b"', '"a(b)"', '"a<b>"',
          '".a"', '"a."', '"a..b"', '"+tag"', '"a\tb"', '"%x"', '"a>"', '"<a"', "victim@internal.example",
          "a..b", ".a", "plain", "first.last", "o'hara", "a+b", '"x"> NOTIFY=NEVER']


def meaning(addr):
    try:
        a = email.headerregistry.Address(addr_spec=addr)
        return (a.username, a.domain.lower())
    except Exception as e:
        return ("unparseable", str(e))


def session(auth):
    s = smtplib.SMTP("localhost", int(port), local_hostname="mfp.contoso.com", timeout=20,
                     source_address=("127.0.0.1", 0))
    s.starttls(context=ssl.create_default_context(cafile=cafile))
    s.ehlo()
    if auth:
        s.login(user, password)
    return s


sent, refused, violations = [], 0, []
for i, local in enumerate(LOCALS):
    for kind in ("rcpt", "mail"):
        s = session(kind == "rcpt")
        tag = "case%d%s" % (i, kind)
        if kind == "rcpt":
            mail_from, rcpt = user, "%s@remote.example" % local
        else:
            mail_from, rcpt = "%s@contoso.com" % local, "%s@remote.example" % tag
        code, _ = s.docmd("MAIL", "FROM:<%s>" % mail_from)
        if code == 250:
            code, _ = s.docmd("RCPT", "TO:<%s>" % rcpt)
        if code == 250:
            code, _ = s.data(("Subject: %s\r\n\r\nbody\r\n" % tag).encode())
            if code != 250:
                violations.append({"local": local, "kind": kind, "why": "DATA %d" % code})
            sent.append((tag, kind, mail_from if kind == "mail" else rcpt))
        else:
            refused += 1
        s.quit()

# Wait (bounded) for every accepted message to reach the far side.
deadline = time.time() + 60
while True:
    try:
        lines = [json.loads(l) for l in open(lines_file)]
    except FileNotFoundError:
        lines = []
    if sum(1 for l in lines if l.startswith("Subject: case")) >= len(sent) or time.time() > deadline:
        break
    time.sleep(0.2)

# Group the far side's lines by transaction: MAIL, RCPT..., DATA lines.
transactions, current = [], None
for l in lines:
    if l.upper().startswith("MAIL FROM:"):
        current = {"mail": l, "rcpt": [], "subject": None}
        transactions.append(current)
    elif current and l.upper().startswith("RCPT TO:"):
        current["rcpt"].append(l)
    elif current and l.startswith("Subject: "):
        current["subject"] = l[len("Subject: "):].strip()
PATH = re.compile(r"^(MAIL FROM|RCPT TO):<([^<>\s]*)>((?: (?:BODY=8BITMIME|SMTPUTF8|SIZE=\d+))*)\r\n$", re.I)
for tag, kind, original in sent:
    t = next((t for t in transactions if t["subject"] == tag), None)
    if t is None:
        violations.append({"case": tag, "why": "accepted but never reached the far side"})
        continue
    raw = t["mail"] if kind == "mail" else next(iter(t["rcpt"]), "")
    m = PATH.match(raw)
    if not m:
        violations.append({"case": tag, "why": "far side got %r" % raw})
    elif meaning(m.group(2)) != meaning(original):
        violations.append({"case": tag, "why": "%r became %r" % (original, m.group(2))})

print(json.dumps({"cases": 2 * len(LOCALS), "accepted": len(sent), "refused": refused,
                  "violations": len(violations)}))
for v in violations:
    print(json.dumps(v), file=sys.stderr)
sys.exit(1 if violations else 0)
