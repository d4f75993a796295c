"""A TLS client (Python's ssl and smtplib) for the ACME test (acme.rs) that verifies like a
device does: against a CA file and a host name.
Usage:
  acme_client.py root MGMT_PORT CA_FILE        prints Pebble's root (GET /roots/0 over HTTPS)
  acme_client.py verify PORT ROOT HOST         STARTTLS; prints "OK <SHA-256>" or "FAIL <reason>"
  acme_client.py held PORT ROOT HOST USER SECRET
                                               STARTTLS (verified), AUTH, MAIL, RCPT; prints
                                               "FP <SHA-256>", "RCPT-OK", waits for a line on
                                               stdin, then DATA; prints "DATA <code> <reply>"."""
import hashlib, smtplib, ssl, sys, urllib.request


def fingerprint(sock):
    digest = hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def say(line):
    print(line, flush=True)


mode = sys.argv[1]
if mode == "root":
    ctx = ssl.create_default_context(cafile=sys.argv[3])
    with urllib.request.urlopen("https://127.0.0.1:%s/roots/0" % sys.argv[2], context=ctx, timeout=10) as r:
        sys.stdout.write(r.read().decode())
elif mode == "verify":
    port, root, host = int(sys.argv[2]), sys.argv[3], sys.argv[4]
    ctx = ssl.create_default_context(cafile=root)
    try:
        with smtplib.SMTP("127.0.0.1", port, local_hostname="device", timeout=20) as s:
            s._host = host  # the name the certificate must carry (server_hostname)
            s.starttls(context=ctx)
            say("OK " + fingerprint(s.sock))
    except (ssl.SSLError, ssl.CertificateError) as e:
        say("FAIL %s" % e)
elif mode == "held":
    port, root, host, user, secret = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
    ctx = ssl.create_default_context(cafile=root)
    with smtplib.SMTP("127.0.0.1", port, local_hostname="device", timeout=120) as s:
        s._host = host
        s.starttls(context=ctx)
        say("FP " + fingerprint(s.sock))
        s.login(user, secret)
        code, _ = s.mail(user)
        assert code == 250, code
        code, _ = s.rcpt("archive@example.net")
        assert code == 250, code
        say("RCPT-OK")
        sys.stdin.readline()
        code, resp = s.data(b"From: %s\r\nTo: archive@example.net\r\nSubject: acme\r\n\r\nhello\r\n" % user.encode())
        say("DATA %d %s" % (code, resp.decode()))
else:
    sys.exit("unknown mode " + mode)
