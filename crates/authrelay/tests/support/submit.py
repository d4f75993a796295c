"""Submits one message with Python's smtplib: STARTTLS, AUTH, MAIL, RCPT..., DATA.
Usage: submit.py PORT CAFILE USER PASSWORD FROM TO[,TO...] MESSAGE_FILE
Prints one line per reply, e.g. "RCPT 550 5.1.1 ..." and "DATA 250 2.0.0 OK queued as ..."."""
import smtplib, ssl, sys

port, cafile, user, password, sender, rcpts, path = sys.argv[1:8]
ctx = ssl.create_default_context(cafile=cafile)
msg = open(path, "rb").read()
with smtplib.SMTP("localhost", int(port), local_hostname="printer.contoso.com", timeout=20) as s:
    s.starttls(context=ctx)
    s.ehlo()
    s.login(user, password)
    code, resp = s.mail(sender)
    print("MAIL %d %s" % (code, resp.decode()))
    accepted = 0
    for r in rcpts.split(","):
        code, resp = s.rcpt(r)
        print("RCPT %d %s" % (code, resp.decode()))
        accepted += code == 250
    if accepted:
        code, resp = s.data(msg)
        print("DATA %d %s" % (code, resp.decode()))
