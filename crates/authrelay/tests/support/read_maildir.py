"""Reads a Maildir with Python's standard `mailbox` module and prints each message's bytes in
base64, one per line, sorted. Usage: read_maildir.py DIR"""
import base64, mailbox, sys

md = mailbox.Maildir(sys.argv[1], factory=None, create=False)
for blob in sorted(md.get_bytes(k) for k in md.keys()):
    print(base64.b64encode(blob).decode())
