"""A device submitting through authrelay with Python's smtplib (STARTTLS, then AUTH, then one
message), optionally from a chosen loopback source address.

usage: device_client.py PORT CAFILE USER SECRET SOURCE_IP MECHANISM [FROM]
MECHANISM is LOGIN, PLAIN, XOAUTH2 or OAUTHBEARER (SECRET is then the bearer token).
Exit 0 = queued, 3 = AUTH refused (prints "AUTH-FAILED code text"), 4 = refused later.
"""
import base64
import smtplib
import ssl
import sys

port, cafile, user, secret, source, mechanism = sys.argv[1:7]
sender = sys.argv[7] if len(sys.argv) > 7 else user
ctx = ssl.create_default_context(cafile=cafile)
with smtplib.SMTP("localhost", int(port), local_hostname="device.contoso.com", timeout=15,
                  source_address=(source, 0)) as s:
    s.starttls(context=ctx)
    s.ehlo()
    print("EHLO-AUTH", s.esmtp_features.get("auth", ""))
    try:
        if mechanism == "XOAUTH2":
            # smtplib's own AUTH machinery with an authobject (initial response); an error
            # challenge (334 + base64 JSON) is answered with an empty line, as RFC 7628 asks.
            def xoauth2(challenge=None):
                if challenge is None:
                    return "user=%s\x01auth=Bearer %s\x01\x01" % (user, secret)
                print("CHALLENGE", challenge.decode())
                return ""
            s.auth("XOAUTH2", xoauth2, initial_response_ok=True)
        elif mechanism == "OAUTHBEARER":
            def oauthbearer(challenge=None):
                if challenge is None:
                    return "n,a=%s,\x01auth=Bearer %s\x01\x01" % (user, secret)
                print("CHALLENGE", challenge.decode())
                return "\x01"
            s.auth("OAUTHBEARER", oauthbearer, initial_response_ok=True)
        elif mechanism == "PLAIN":
            s.auth("PLAIN", lambda c=None: "\0%s\0%s" % (user, secret), initial_response_ok=True)
        else:
            s.login(user, secret)
    except smtplib.SMTPAuthenticationError as e:
        print("AUTH-FAILED %d %s" % (e.smtp_code, e.smtp_error.decode()))
        sys.exit(3)
    print("AUTH-OK")
    msg = ("From: %s\r\nTo: frontdesk@example.net\r\nSubject: device test\r\n\r\nscan attached\r\n" % sender).encode()
    try:
        s.sendmail(sender, ["frontdesk@example.net"], msg)
    except smtplib.SMTPException as e:
        print("SEND-FAILED", e)
        sys.exit(4)
    print("QUEUED")
