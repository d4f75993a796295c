"""A scripted smarthost for the OAuth bridge tests: STARTTLS required, then AUTH XOAUTH2 only.

usage: xoauth2_smarthost.py DIR CERT KEY MODE
  MODE first: the first token it sees is refused (RFC 7628 style: a 334 error challenge with
              base64 JSON, then 535 after the client's empty line), later ones are accepted;
  MODE all:   every token is refused;
  MODE none:  every token is accepted.
Writes DIR/port once it listens, appends each token seen to DIR/tokens (one a line, with
"refused" or "accepted"), and each message received to DIR/messages (one line of JSON with
mail_from, rcpt_to and the data). Stops by itself after 120 s.
"""
import asyncio, base64, json, os, ssl, sys

work, cert, key, mode = sys.argv[1:5]
seen = set()


def note(name, line):
    with open(os.path.join(work, name), "a") as f:
        f.write(line + "\n")


async def session(reader, writer):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    tls = False
    authed = False
    mail_from, rcpt_to = None, []

    async def say(line):
        writer.write(line.encode() + b"\r\n")
        await writer.drain()

    await say("220 smarthost.test ESMTP scripted")
    while True:
        raw = await asyncio.wait_for(reader.readline(), 30)
        if not raw:
            return
        line = raw.decode(errors="replace").rstrip("\r\n")
        verb = line.split(" ", 1)[0].upper()
        if verb == "EHLO":
            await say("250-smarthost.test")
            await say("250-AUTH XOAUTH2" if tls else "250-STARTTLS")
            await say("250 8BITMIME")
        elif verb == "STARTTLS" and not tls:
            await say("220 2.0.0 ready")
            await writer.start_tls(ctx)
            tls = True
        elif verb == "AUTH" and tls and line.upper().startswith("AUTH XOAUTH2 "):
            blob = base64.b64decode(line.split(" ", 2)[2]).decode()
            token = blob.split("auth=Bearer ", 1)[1].split("\x01", 1)[0]
            refuse = mode == "all" or (mode == "first" and not seen)
            seen.add(token)
            note("tokens", f"{token} {'refused' if refuse else 'accepted'}")
            if refuse:
                error = {"status": "401", "schemes": "bearer", "scope": "https://mail.example/"}
                await say("334 " + base64.b64encode(json.dumps(error).encode()).decode())
                await asyncio.wait_for(reader.readline(), 30)
                await say("535 5.7.3 Authentication unsuccessful [scripted]")
            else:
                authed = True
                await say("235 2.7.0 Authentication successful")
        elif verb == "MAIL" and authed:
            mail_from, rcpt_to = line[10:].strip("<>"), []
            await say("250 2.1.0 ok")
        elif verb == "RCPT" and mail_from is not None:
            rcpt_to.append(line[8:].strip("<>"))
            await say("250 2.1.5 ok")
        elif verb == "DATA" and rcpt_to:
            await say("354 go ahead")
            data = b""
            while True:
                chunk = await asyncio.wait_for(reader.readline(), 30)
                if chunk in (b".\r\n", b""):
                    break
                data += chunk
            note("messages", json.dumps({"mail_from": mail_from, "rcpt_to": rcpt_to, "data": data.decode(errors="replace")}))
            await say("250 2.0.0 queued")
            mail_from, rcpt_to = None, []
        elif verb == "RSET":
            mail_from, rcpt_to = None, []
            await say("250 2.0.0 ok")
        elif verb == "QUIT":
            await say("221 2.0.0 bye")
            writer.close()
            return
        else:
            await say("503 5.5.1 not now")


async def main():
    server = await asyncio.start_server(session, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with open(os.path.join(work, "port.tmp"), "w") as f:
        f.write(str(port))
    os.rename(os.path.join(work, "port.tmp"), os.path.join(work, "port"))
    async with server:
        await asyncio.sleep(120)


asyncio.run(main())
