"""An authenticated session that stays open: STARTTLS, AUTH LOGIN, prints "AUTH <code> <text>"
at once, then holds the session until its standard input closes, then QUIT.

usage: hold_session.py PORT CAFILE USER SECRET SOURCE_IP
"""
import smtplib
import ssl
import sys

port, cafile, user, secret, source = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=cafile)
# The cluster tests trust 127.0.0.1 as their load balancer: devices connect from 127.0.0.2.
s = smtplib.SMTP("localhost", int(port), local_hostname="device.contoso.com", timeout=60,
                 source_address=(source, 0))
s.starttls(context=ctx)
s.ehlo()
try:
    code, text = s.login(user, secret)
except smtplib.SMTPAuthenticationError as e:
    code, text = e.smtp_code, e.smtp_error
print("AUTH %d %s" % (code, text.decode()), flush=True)
sys.stdin.read()
try:
    s.quit()
except Exception:
    pass
