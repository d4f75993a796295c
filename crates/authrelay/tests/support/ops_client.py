"""An SMTP client (Python's smtplib) for the operations tests (reload.rs, backup.rs).
Usage:
  ops_client.py fp PORT                      implicit TLS; prints "FP <SHA-256 of the certificate>"
  ops_client.py held PORT USER SECRET        implicit TLS, AUTH, MAIL, RCPT; prints FP and
                                             "RCPT-OK", waits for a line on stdin, then DATA
  ops_client.py auth PORT USER SECRET        STARTTLS, AUTH; prints "AUTH-OK" or "AUTH-FAILED ..."
  ops_client.py load PORT USER SECRET COUNT  STARTTLS, AUTH, COUNT messages in one session;
                                             prints "ACK <queue id>" after each 250
  ops_client.py rcpts PORT USER SECRET N     STARTTLS, AUTH, MAIL; prints "MAIL-OK", waits for a
                                             line on stdin, then N RCPTs ("RCPT <code>" each)
                                             and DATA ("DATA <code>") if one was accepted
The server's certificate is not verified here: the tests compare fingerprints instead."""
import hashlib, smtplib, ssl, sys

mode, port = sys.argv[1], int(sys.argv[2])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE


def fingerprint(sock):
    digest = hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def say(line):
    print(line, flush=True)


message = b"From: scanner@contoso.com\r\nTo: archive@example.net\r\nSubject: ops\r\n\r\nhello\r\n"

if mode == "fp":
    with smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=20) as s:
        say("FP " + fingerprint(s.sock))
elif mode == "held":
    user, secret = sys.argv[3:5]
    with smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=60) as s:
        say("FP " + fingerprint(s.sock))
        s.login(user, secret)
        code, _ = s.mail(user)
        assert code == 250, code
        code, _ = s.rcpt("archive@example.net")
        assert code == 250, code
        say("RCPT-OK")
        sys.stdin.readline()
        code, resp = s.data(message)
        say("DATA %d %s" % (code, resp.decode()))
elif mode == "auth":
    user, secret = sys.argv[3:5]
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
        s.starttls(context=ctx)
        try:
            s.login(user, secret)
            say("AUTH-OK")
        except smtplib.SMTPAuthenticationError as e:
            say("AUTH-FAILED %d %s" % (e.smtp_code, e.smtp_error.decode()))
elif mode == "load":
    user, secret, count = sys.argv[3], sys.argv[4], int(sys.argv[5])
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.starttls(context=ctx)
        s.login(user, secret)
        for i in range(count):
            code, resp = s.mail(user)
            assert code == 250, (code, resp)
            code, resp = s.rcpt("archive@example.net")
            assert code == 250, (code, resp)
            code, resp = s.data(message)
            assert code == 250, (code, resp)
            say("ACK " + resp.decode().split()[-1])
elif mode == "rcpts":
    user, secret, n = sys.argv[3], sys.argv[4], int(sys.argv[5])
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.starttls(context=ctx)
        s.login(user, secret)
        code, resp = s.mail(user)
        assert code == 250, (code, resp)
        say("MAIL-OK")
        sys.stdin.readline()
        accepted = 0
        for i in range(n):
            code, _ = s.rcpt("archive%d@example.net" % i)
            accepted += code == 250
            say("RCPT %d" % code)
        if accepted:
            code, _ = s.data(message)
            say("DATA %d" % code)
else:
    sys.exit("unknown mode " + mode)
