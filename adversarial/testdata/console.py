#!/usr/bin/env python3
"""A small web console that reads requests as leniently as real frameworks do.

It is the protected application of the adversarial tests: the gateway sits in
front of it, and the tests check that no request the gateway lets through
unchallenged is read by this console as a dangerous one. Every rule below that
says "lenient" is deliberate; do not tighten it, it is what is being tested.

Standard library only; runs on Python 3.11 and later.

    python3 console.py --port 0 [--early-hints] [--exit-with-stdin]

prints "LISTENING <port>" once it accepts connections on 127.0.0.1, then serves
until killed. Set CONSOLE_LOG=1 to log requests to stderr.
"""

import argparse
import email.parser
import email.utils
import hmac
import json
import os
import posixpath
import re
import secrets
import sys
import threading
import traceback
import unicodedata
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USERS = {name: name + "-password" for name in ("alice", "bob", "carol", "dave", "eve")}
INSTANCES = ("i-1001", "i-1002", "i-1003", "i-1004")
SESSION_COOKIE = "console_session"
OVERRIDE_HEADERS = ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override")
MAX_BODY = 1 << 20
EARLY_HINTS = False


class State:
    """Everything the console remembers, behind one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):  # callers hold the lock (or nothing runs yet)
        self.requests = []
        self.sessions = {}  # session id -> canonical user name
        self.instances = set(INSTANCES)
        self.deleted = []
        self.payments = []
        self.logins = []


STATE = State()


def canonical_user(name):
    """Lenient: NFKC, case folding and trimming, so "BOB", " Bob " and "ｂｏｂ" are bob."""
    return unicodedata.normalize("NFKC", name).casefold().strip()


def route_path(raw_path):
    """Turns the raw path into the one routed on, as lenient servers do."""
    path = urllib.parse.unquote(raw_path)  # fully decoded: %2f is a slash, %5c a backslash
    path = path.replace("\\", "/")  # backslashes are separators, as on IIS
    # ";params" end a segment and are dropped, as in Tomcat: /a;x=1/b;y -> /a/b
    path = "/".join(seg.split(";", 1)[0] for seg in path.split("/"))
    path = re.sub("/+", "/", "/" + path)  # repeated slashes merge
    path = posixpath.normpath(path)  # dot segments resolve, trailing slash goes
    return path.lower()  # case-insensitive routes


def first_values(qs):
    """parse_qs output -> name -> first value (first value wins, as in Flask)."""
    return {k: v[0] for k, v in urllib.parse.parse_qs(qs, keep_blank_values=True).items()}


def multipart_fields(content_type, body):
    """Multipart form fields (first value wins), parsed by the email package."""
    head = b"MIME-Version: 1.0\r\nContent-Type: " + content_type.encode("latin-1", "replace")
    msg = email.parser.BytesParser().parsebytes(head + b"\r\n\r\n" + body)
    fields = {}
    if not msg.is_multipart():
        return fields
    for part in msg.get_payload():
        name = part.get_param("name", header="content-disposition")
        if not name or part.get_param("filename", header="content-disposition"):
            continue  # a file upload is not a form field, as in Flask's request.form
        if isinstance(name, tuple):  # RFC 2231 encoded name
            name = email.utils.collapse_rfc2231_value(name)
        value = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
        fields.setdefault(name, value)
    return fields


def body_params(content_type, body):
    """Reads the body whatever Content-Type says. Returns (params, is_json)."""
    text = body.decode("utf-8", "replace")
    if text.lstrip().startswith("{"):
        # Lenient: JSON is sniffed from the body, not the Content-Type, so
        # text/plain (a "simple" cross-site request) is JSON too. json.loads
        # keeps the LAST of duplicated keys.
        try:
            obj = json.loads(text)
        except ValueError:
            return {}, True
        if not isinstance(obj, dict):
            return {}, True
        return {k: v for k, v in obj.items() if isinstance(v, str)}, True
    if content_type.lower().lstrip().startswith("multipart/form-data"):
        return multipart_fields(content_type, body), False
    return first_values(text), False  # anything else is a urlencoded form


def html(title, inner):
    return ("<!doctype html><html><head><title>%s</title></head><body><h1>%s</h1>%s</body></html>"
            % (title, title, inner)).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PyConsole/1.0"
    disable_nagle_algorithm = True  # headers and body are two writes; don't stall the second

    def log_message(self, fmt, *args):
        if os.environ.get("CONSOLE_LOG"):
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    def __getattr__(self, name):
        # Any method, in any case ("delete", "PURGE"), reaches handle_any;
        # http.server would otherwise answer 501 for a missing do_<METHOD>.
        if name.startswith("do_"):
            return self.handle_any
        raise AttributeError(name)

    # ---- reading the request

    def read_body(self):
        """The body by Transfer-Encoding: chunked, else by Content-Length."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline(1024).split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailer fields, ignored
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)  # the CRLF after the chunk
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length)

    def handle_any(self):
        parts = self.requestline.split()
        # The target exactly as received (http.server rewrites a leading "//" in self.path).
        self.target = parts[1] if len(parts) > 1 else self.path
        raw_path, _, query = self.target.partition("?")
        # An absolute-form target (http://host/path) is accepted, as Werkzeug does.
        raw_path = re.sub(r"(?i)^https?://[^/]*", "", raw_path) or "/"
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return self.respond(400, b"bad request body\n", "text/plain")
        headers = {}
        for name, value in self.headers.items():
            headers.setdefault(name, []).append(value)
        if raw_path in ("/__requests", "/__state", "/__reset"):
            return self.test_endpoint(raw_path)  # exact match, never the lenient rules
        with STATE.lock:
            STATE.requests.append({"method": self.command, "target": self.target,
                                   "header": headers, "body": body.decode("utf-8", "replace")})
        try:
            self.serve(raw_path, query, body)
        except Exception:
            traceback.print_exc()
            self.close_connection = True
            self.respond(500, b"internal error\n", "text/plain")

    def serve(self, raw_path, query, body):
        query_params = first_values(query)
        self.body_params, self.body_is_json = body_params(self.headers.get("Content-Type", ""), body)

        method = self.command.upper()
        for name in OVERRIDE_HEADERS:
            value = (self.headers.get(name) or "").strip()
            if value:  # lenient: any method may be overridden, by any of three headers
                method = value.upper()
                break
        else:
            override = (self.param(query_params, "_method") or "").strip()
            if override:  # Rails/Laravel-style _method, query or body (a blank one is ignored)
                method = override.upper()
        if method == "HEAD":
            method = "GET"  # served by the GET handler; respond() drops the body

        # Lenient: a proxy's X-Original-URL / X-Rewrite-URL names the path routed on,
        # as Symfony (with trusted proxies) and IIS URL Rewrite do.
        for name in ("X-Original-URL", "X-Rewrite-URL"):
            if self.headers.get(name):
                raw_path = self.headers.get(name).partition("?")[0]
                break
        self.route(method, route_path(raw_path), query_params)

    def param(self, query_params, name):
        """Lenient: reads the query before the body, as Flask's request.values does."""
        if name in query_params:
            return query_params[name]
        return self.body_params.get(name)

    def cookies(self):
        """Every console_session value of every Cookie header, in order."""
        values = []
        for header in self.headers.get_all("Cookie") or []:
            for pair in header.split(";"):
                name, _, value = pair.strip().partition("=")
                if name.strip() == SESSION_COOKIE:
                    values.append(value.strip().strip('"'))
        return values

    def session(self):
        """(session id, user) of the first console_session cookie naming a live session."""
        with STATE.lock:
            for sid in self.cookies():
                if sid in STATE.sessions:
                    return sid, STATE.sessions[sid]
        return None, None

    # ---- routes

    def route(self, method, path, query_params):
        if path == "/login" and method == "POST":
            return self.login(query_params)
        if path == "/login" and method == "GET":
            return self.respond(200, html("Sign in", '<form method="post" action="/login">'
                                          '<input name="username"><input name="password" type="password">'
                                          '<button>Sign in</button></form>'))
        if path == "/logout" and method in ("GET", "POST"):
            with STATE.lock:
                for sid in self.cookies():
                    STATE.sessions.pop(sid, None)
            return self.respond(303, b"", headers=[
                ("Location", "/login"),
                ("Set-Cookie", SESSION_COOKIE + "=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")])

        _, user = self.session()
        if user is None:
            if "text/html" in self.headers.get("Accept", "").lower():
                return self.respond(303, b"", headers=[("Location", "/login")])
            return self.json(401, {"error": "login required"})

        m = re.fullmatch(r"/(api/)?instances/([^/]+)(/delete)?", path)
        if path == "/api/whoami" and method == "GET":
            return self.json(200, {"user": user})
        if path == "/dashboard" and method == "GET":
            return self.respond(200, html("Dashboard", "<p>Signed in as %s.</p>" % user))
        if path in ("/api/instances", "/instances") and method == "GET":
            with STATE.lock:
                ids = sorted(STATE.instances)
            if path == "/instances":
                return self.respond(200, html("Instances", "".join("<p>%s</p>" % i for i in ids)))
            return self.json(200, ids)
        if m and m.group(1) and not m.group(3) and method == "DELETE":
            if not self.delete(m.group(2), user):
                return self.json(404, {"error": "no such instance"})
            return self.json(200, {"deleted": m.group(2)})
        if m and not m.group(1) and m.group(3) and method == "GET":
            return self.respond(200, html("Delete " + m.group(2), '<form method="post">'
                                          '<button>Delete</button></form>'))
        if m and not m.group(1) and m.group(3) and method == "POST":
            if not self.delete(m.group(2), user):
                return self.respond(404, html("Not found", ""))
            return self.respond(303, b"", headers=[("Location", "/instances")])
        if path == "/billing" and method == "GET":
            return self.respond(200, html("Billing", '<form method="post" action="/billing/pay">'
                                          '<button>Pay</button></form>'))
        if path in ("/billing/pay", "/api/billing/pay") and method == "POST":
            with STATE.lock:
                STATE.payments.append({"by": user})
            if path == "/billing/pay":
                return self.respond(303, b"", headers=[("Location", "/billing")])
            return self.json(200, {"paid": True})
        return self.respond(404, html("Not found", ""))

    def delete(self, instance, user):
        with STATE.lock:
            if instance not in STATE.instances:
                return False
            STATE.instances.remove(instance)
            STATE.deleted.append({"id": instance, "by": user})
            return True

    def login(self, query_params):
        name = self.param(query_params, "username")
        password = self.param(query_params, "password")
        user = canonical_user(name) if name is not None else None
        if user not in USERS or password is None or not hmac.compare_digest(
                password.encode(), USERS[user].encode()):
            if self.body_is_json:
                return self.json(401, {"error": "invalid credentials"})
            return self.respond(401, html("Sign in", "<p>Invalid credentials.</p>"))
        sid = secrets.token_urlsafe(32)
        with STATE.lock:
            STATE.sessions[sid] = user
            STATE.logins.append(user)
        if EARLY_HINTS and self.request_version == "HTTP/1.1":  # no 1xx for HTTP/1.0 clients
            self.wfile.write(("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n"
                              "Set-Cookie: console_early=%s; Path=/\r\n\r\n" % sid).encode())
        cookie = ("Set-Cookie", "%s=%s; Path=/; HttpOnly; SameSite=Lax" % (SESSION_COOKIE, sid))
        if self.body_is_json:
            return self.json(200, {"ok": True, "user": user}, headers=[cookie])
        return self.respond(303, b"", headers=[("Location", "/dashboard"), cookie])

    def test_endpoint(self, path):
        with STATE.lock:
            if path == "/__requests" and self.command == "GET":
                return self.json(200, STATE.requests)
            if path == "/__state" and self.command == "GET":
                return self.json(200, {"instances": sorted(STATE.instances), "deleted": STATE.deleted,
                                       "payments": STATE.payments, "logins": STATE.logins})
            if path == "/__reset" and self.command == "POST":
                STATE.reset()
                return self.json(200, {"ok": True})
        return self.respond(405, b"method not allowed\n", "text/plain")

    # ---- writing the response

    def json(self, status, obj, headers=()):
        self.respond(status, json.dumps(obj).encode(), "application/json", headers)

    def respond(self, status, body, content_type="text/html; charset=utf-8", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command.upper() != "HEAD":  # HEAD: same headers, no body on the wire
            self.wfile.write(body)


def main():
    global EARLY_HINTS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--early-hints", action="store_true",
                    help="send a 103 Early Hints response before a successful login")
    ap.add_argument("--exit-with-stdin", action="store_true",
                    help="exit when stdin reaches end of file (the parent has gone)")
    args = ap.parse_args()
    EARLY_HINTS = args.early_hints
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    if args.exit_with_stdin:
        def watch():
            while sys.stdin.buffer.read(4096):
                pass
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()
    print("LISTENING %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
