"""A scripted Microsoft Graph endpoint for the Graph route tests: HTTPS on loopback, records
every request and answers from a script.

usage: graph_endpoint.py DIR CERT KEY RESPONSES
  RESPONSES: JSON list; the n-th request gets the n-th entry {"status", "headers", "body"}
  (body: JSON), later requests 202 Accepted with no body, as Graph answers sendMail.
Writes DIR/port once it listens; appends one JSON line per request to DIR/requests: the time
(float seconds), method, path, Content-Type, Authorization and the raw body (base64). Stops
by itself after 120 s.
"""
import base64, json, os, ssl, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

work, cert, key, responses = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
lock = threading.Lock()
count = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global count
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with lock:
            n = count
            count += 1
            with open(os.path.join(work, "requests"), "a") as f:
                f.write(json.dumps({
                    "t": time.time(), "method": "POST", "path": self.path,
                    "content_type": self.headers.get("Content-Type"),
                    "authorization": self.headers.get("Authorization"),
                    "body": base64.b64encode(body).decode(),
                }) + "\n")
        answer = responses[n] if n < len(responses) else {"status": 202}
        data = json.dumps(answer["body"]).encode() if "body" in answer else b""
        self.send_response(answer["status"])
        for name, value in answer.get("headers", {}).items():
            self.send_header(name, value)
        self.send_header("request-id", f"req-{n}")
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(os.path.join(work, "port.tmp"), "w") as f:
    f.write(str(server.server_address[1]))
os.rename(os.path.join(work, "port.tmp"), os.path.join(work, "port"))
threading.Timer(120, server.shutdown).start()
server.serve_forever()
