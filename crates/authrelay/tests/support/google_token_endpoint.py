"""A scripted Google OAuth token endpoint for the service-account tests (RFC 7523 §2.1, the
JWT-bearer grant with domain-wide delegation), on loopback, plain HTTP.

usage: google_token_endpoint.py DIR CERT CLIENT_EMAIL KEY_ID SUBJECT SCOPE
  CERT: the service account's public certificate (PEM); the assertion's RS256 signature must
  verify with its key. A token is issued only when grant_type is the JWT-bearer grant, the
  header names KEY_ID, iss = CLIENT_EMAIL, sub = SUBJECT (the one delegated mailbox),
  scope = SCOPE, aud = this endpoint's own URL, and iat/exp are sane (exp within an hour).
  Refusals are Google's: 400 invalid_grant (bad signature, sub, aud, times) or
  unauthorized_client (a scope not granted to the delegation).
Writes DIR/url once it listens; appends one JSON line per request to DIR/requests with the
verdict and the claims seen. Stops by itself after 120 s.
"""
import base64, json, os, secrets, sys, threading, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

work, cert_path, client_email, key_id, subject, scope = sys.argv[1:7]
public_key = x509.load_pem_x509_certificate(open(cert_path, "rb").read()).public_key()
url = None


def b64d(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verdict(form):
    if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
        return "unsupported_grant_type", "Invalid grant_type", {}
    try:
        head, body, sig = form["assertion"].split(".")
        header, claims = json.loads(b64d(head)), json.loads(b64d(body))
    except Exception:
        return "invalid_grant", "Invalid JWT", {}
    if header.get("alg") != "RS256" or header.get("kid") != key_id:
        return "invalid_grant", "Invalid JWT Signature.", claims
    try:
        public_key.verify(b64d(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        return "invalid_grant", "Invalid JWT Signature.", claims
    now = time.time()
    if claims.get("iss") != client_email:
        return "invalid_grant", "Invalid issuer", claims
    if claims.get("aud") != url:
        return "invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe", claims
    if not (claims.get("iat", 0) <= now + 60 and now < claims.get("exp", 0) <= claims.get("iat", 0) + 3600):
        return "invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe", claims
    if claims.get("sub") != subject:
        return "invalid_grant", "Invalid email or User ID", claims
    if claims.get("scope") != scope:
        return ("unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, "
                "or client not authorized for any of the scopes requested.", claims)
    return None, None, claims


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        error, description, claims = verdict(form) if self.path == "/token" else ("not_found", self.path, {})
        if error is None:
            answer = {"access_token": "ya29." + secrets.token_urlsafe(24), "expires_in": 3599, "token_type": "Bearer"}
            status = 200
        else:
            answer = {"error": error, "error_description": description}
            status = 400
        with open(os.path.join(work, "requests"), "a") as f:
            f.write(json.dumps({"status": status, "error": error, "claims": claims, "form_keys": sorted(form)}) + "\n")
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
url = f"http://127.0.0.1:{server.server_address[1]}/token"
with open(os.path.join(work, "url.tmp"), "w") as f:
    f.write(url)
os.rename(os.path.join(work, "url.tmp"), os.path.join(work, "url"))
threading.Timer(120, server.shutdown).start()
server.serve_forever()
