"""Verifies every DKIM-Signature of a message with dkimpy (PyPI), the public key given on the
command line instead of fetched from DNS. Usage: dkim_verify.py MESSAGE_FILE 'v=DKIM1; k=rsa; p=...'
Exits 0 and prints "dkim ok" when the signature verifies."""
import sys
import dkim

msg = open(sys.argv[1], "rb").read()
record = sys.argv[2].encode()


def dnsfunc(name, timeout=5):
    return record


ok = dkim.verify(msg, dnsfunc=dnsfunc)
print("dkim ok" if ok else "dkim FAILED")
sys.exit(0 if ok else 1)
