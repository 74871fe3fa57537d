#!/usr/bin/env python3
"""The fixtures of scripts/openapi-fuzz.sh (standard library only): a tenant of its own for the admin API
half, and a signed-in customer for the flow API half.

The settings flow and the session operations act for a signed-in customer, and in production mode the
only way to become one is to sign up through the flows with the code mailed to the address. So:

  openapi-fuzz-customer.py sink PORT_FILE MAIL_DIR
      An SMTP sink on loopback (enough of RFC 5321 for Tessera's mailer): writes the port it listens on
      to PORT_FILE, and each mail it receives to MAIL_DIR as JSON ({"to": ..., "text": ...}). Runs until
      it is killed.

  openapi-fuzz-customer.py session PUBLIC_URL MAIL_DIR EMAIL PASSWORD
      Signs EMAIL up in the `default` tenant through the JSON flow API (or, when it already has an
      account, signs it in), and prints the session token.

  openapi-fuzz-customer.py tenant ADMIN_URL KEY_FILE SLUG
      Creates the tenant SLUG through the admin API with the key in KEY_FILE.
"""
import email
import email.policy
import json
import os
import socketserver
import sys
import time
import urllib.error
import urllib.request


# --- the SMTP sink ------------------------------------------------------------------------------
class Smtp(socketserver.StreamRequestHandler):
    mail_dir = "."
    count = 0

    def reply(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        self.reply("220 openapi-fuzz sink")
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            command = line.decode("latin-1").strip().upper()
            if command.startswith(("EHLO", "HELO")):
                self.wfile.write(b"250-openapi-fuzz\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n")
                self.wfile.flush()
            elif command == "DATA":
                self.reply("354 go ahead")
                data = bytearray()
                while True:
                    chunk = self.rfile.readline(1 << 20)
                    if not chunk or chunk in (b".\r\n", b".\n"):
                        break
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                self.store(bytes(data))
                self.reply("250 queued")
            elif command == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")

    def store(self, data):
        message = email.message_from_bytes(data, policy=email.policy.default)
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        Smtp.count += 1
        path = os.path.join(self.mail_dir, f"{Smtp.count:06d}.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump({"to": str(message.get("To", "")), "text": text}, f)
        os.replace(path + ".tmp", path)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def sink(port_file, mail_dir):
    Smtp.mail_dir = mail_dir
    with Server(("127.0.0.1", 0), Smtp) as server:
        with open(port_file + ".tmp", "w", encoding="utf-8") as f:
            f.write(str(server.server_address[1]))
        os.replace(port_file + ".tmp", port_file)
        server.serve_forever()


# --- signing a customer up ----------------------------------------------------------------------
def call(method, url, body=None, secret=None, bearer=None):
    headers = {"content-type": "application/json"}
    if secret:
        headers["tessera-flow-secret"] = secret
    if bearer:
        headers["authorization"] = f"Bearer {bearer}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def code_for(mail_dir, address, seen):
    """The six-digit code of the first new mail to `address` (waits for the mail worker)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for name in sorted(os.listdir(mail_dir)):
            if not name.endswith(".json") or name in seen:
                continue
            seen.add(name)
            with open(os.path.join(mail_dir, name), encoding="utf-8") as f:
                mail = json.load(f)
            if address.lower() in mail["to"].lower():
                words = "".join(c if c.isdigit() else " " for c in mail["text"]).split()
                code = next((w for w in words if len(w) == 6), None)
                if code:
                    return code
        time.sleep(0.1)
    raise SystemExit(f"no code was mailed to {address}")


def flow(base, kind):
    status, answer = call("POST", f"{base}/t/default/api/flows/{kind}", {})
    if status != 201:
        raise SystemExit(f"starting a {kind} flow answered {status}: {answer}")
    url = f"{base}/t/default/api/flows/{kind}/{answer['flow']['id']}"
    return url, answer["flow_secret"]


def step(url, secret, body, expect_state=None):
    status, answer = call("POST", url, body, secret)
    state = (answer or {}).get("flow", {}).get("state")
    if status != 200 or (expect_state and state != expect_state):
        raise SystemExit(f"{url} answered {status} at {state}: {json.dumps(answer)[:2000]}")
    return answer


def session(base, mail_dir, address, password):
    url, secret = flow(base, "login")
    status, answer = call("POST", url, {"identifier": address, "password": password}, secret)
    if status == 200 and answer.get("session_token"):
        return answer["session_token"]
    seen = set(os.listdir(mail_dir))
    url, secret = flow(base, "registration")
    step(url, secret, {"email": address, "accept_terms": "true"}, "sent_email")
    step(url, secret, {"code": code_for(mail_dir, address, seen)}, "details")
    answer = step(url, secret, {"password": password})
    token = answer.get("session_token")
    if not token:
        raise SystemExit(f"signing up answered no session: {json.dumps(answer)[:2000]}")
    return token


def tenant(admin, key_file, slug):
    with open(key_file, encoding="utf-8") as f:
        key = f.read().strip()
    status, answer = call("POST", f"{admin}/admin/v1/tenants", {"slug": slug, "name": slug}, bearer=key)
    if status != 201:
        raise SystemExit(f"creating the tenant {slug} answered {status}: {answer}")


def main(argv):
    if len(argv) == 4 and argv[1] == "sink":
        sink(argv[2], argv[3])
    elif len(argv) == 6 and argv[1] == "session":
        print(session(argv[2].rstrip("/"), argv[3], argv[4], argv[5]))
    elif len(argv) == 5 and argv[1] == "tenant":
        tenant(argv[2].rstrip("/"), argv[3], argv[4])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
