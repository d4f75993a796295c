"""A far side that records every line it receives, byte for byte (no SMTP library between the
wire and the record): the place to see exactly what authrelay sends to a next hop.

Usage: raw_sink.py PORT_FILE LINES_FILE
Answers 220/250/354/221 to everything (EHLO: 8BITMIME and SMTPUTF8, no STARTTLS, no AUTH), and
appends each command line and each DATA line to LINES_FILE as one JSON string per line. A
transaction's lines (MAIL to the end of its DATA) are written together, so transactions on
parallel connections never interleave in the file."""
import json, socket, sys, threading

port_file, lines_file = sys.argv[1:3]
lock = threading.Lock()


def record(lines):
    with lock:
        with open(lines_file, "a") as f:
            for line in lines:
                f.write(json.dumps(line.decode("latin-1")) + "\n")


def serve(conn):
    f = conn.makefile("rb")
    conn.sendall(b"220 raw.sink ESMTP\r\n")
    in_data = False
    transaction = []  # the open transaction's lines, written when it ends
    for line in f:
        verb = line[:4].upper()
        if not in_data and verb == b"MAIL":
            record(transaction)
            transaction = []
        if transaction or (not in_data and verb == b"MAIL"):
            transaction.append(line)
        else:
            record([line])
        if in_data:
            if line == b".\r\n":
                in_data = False
                record(transaction)
                transaction = []
                conn.sendall(b"250 2.0.0 kept\r\n")
            continue
        if verb == b"EHLO":
            conn.sendall(b"250-raw.sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
        elif verb == b"DATA":
            in_data = True
            conn.sendall(b"354 go on\r\n")
        elif verb == b"QUIT":
            conn.sendall(b"221 bye\r\n")
            break
        else:
            conn.sendall(b"250 2.0.0 ok\r\n")
    record(transaction)
    conn.close()


s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
with open(port_file + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
import os
os.rename(port_file + ".tmp", port_file)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
