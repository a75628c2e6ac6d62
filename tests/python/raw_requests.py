"""Raw-request scenarios, one per sub-command; prints a JSON result.

  bad-payload-hash BUCKET KEY   signed hash of one body, another body sent
  skewed-clock BUCKET KEY       request dated 20 minutes ago
  good-put BUCKET KEY           control: a correct raw PUT
  expect-continue BUCKET KEY    PUTs of 0 and 1000 bytes with Expect: 100-continue,
                                the body sent only after "100 Continue" arrives
  rejected-body BUCKET KEY      a 1 MiB PUT signed with a wrong secret, body sent
                                at once; then a HEAD on the same connection
  rejected-large-body BUCKET KEY
                                a 64 MiB PUT signed with a wrong secret, sent in
                                full while the answer is read: the client must
                                get the 403 and finish sending without a reset
"""
import datetime
import hashlib
import json
import socket
import sys
import threading
import urllib.parse

import rawsign


def main():
    scenario, bucket, key = sys.argv[1:4]
    body = b"the body the client signed " * 100
    other = b"a different body, same size" * 100
    assert len(body) == len(other)
    path = f"/{bucket}/{key}"
    if scenario == "bad-payload-hash":
        status, data = rawsign.request("PUT", path, body=body, send_body=other)
    elif scenario == "skewed-clock":
        when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
        status, data = rawsign.request("PUT", path, body=body, when=when)
    elif scenario == "expect-continue":
        print(json.dumps({str(n): expect_continue(path, b"e" * n) for n in (0, 1000)}))
        return
    elif scenario == "rejected-body":
        print(json.dumps(rejected_body(path)))
        return
    elif scenario == "rejected-large-body":
        print(json.dumps(rejected_large_body(path)))
        return
    elif scenario == "good-put":
        status, data = rawsign.request("PUT", path, body=body)
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    print(json.dumps({"status": status, "body": data.decode(errors="replace"),
                      "sha256": hashlib.sha256(body).hexdigest()}))


def rejected_body(path):
    """A PUT whose signature is wrong, its 1 MiB body sent without waiting:
    the answer must arrive, and the connection stay usable."""
    endpoint, key, secret, region = rawsign.env()
    u = urllib.parse.urlparse(endpoint)
    sock = socket.create_connection((u.hostname, u.port), timeout=10)
    stream = sock.makefile("rb")
    payload = b"r" * (1 << 20)

    def request(method, body, signing_secret):
        headers = {"host": u.netloc}
        rawsign.sign(method, path, [], headers, hashlib.sha256(body).hexdigest(), key, signing_secret, region)
        headers["content-length"] = str(len(body))
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        sock.sendall(head.encode() + body)
        status, fields = rawsign.read_response_with_fields(stream, has_body=method != "HEAD")
        return status, fields.get("connection", "").lower() == "close"

    rejected, closes = request("PUT", payload, "not-the-secret")
    after = None if closes else request("HEAD", b"", secret)[0]
    sock.close()
    return {"rejected": rejected, "closes": closes, "next_on_same_connection": after}


def rejected_large_body(path):
    """Far more body than s3seal reads before refusing: it answers, then must
    let the rest arrive rather than reset the connection under the client."""
    endpoint, key, _, region = rawsign.env()
    u = urllib.parse.urlparse(endpoint)
    sock = socket.create_connection((u.hostname, u.port), timeout=30)
    length = 64 << 20
    headers = {"host": u.netloc}
    rawsign.sign("PUT", path, [], headers, "UNSIGNED-PAYLOAD", key, "not-the-secret", region)
    headers["content-length"] = str(length)
    head = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    outcome = {}

    def send():
        try:
            sock.sendall(head.encode())
            chunk = b"x" * (1 << 20)
            for _ in range(length >> 20):
                sock.sendall(chunk)
            outcome["sent_all"] = True
        except OSError as e:
            outcome["sent_all"] = False
            outcome["send_error"] = str(e)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        outcome["status"] = sock.makefile("rb").readline().decode().strip()
    except OSError as e:
        outcome["status"] = f"read failed: {e}"
    sender.join()
    sock.close()
    return outcome


def expect_continue(path, body):
    """PUT with Expect: 100-continue, then a HEAD on the same connection.
    Returns the status lines seen: interim (or None), final, and the HEAD's."""
    endpoint, key, secret, region = rawsign.env()
    u = urllib.parse.urlparse(endpoint)
    sock = socket.create_connection((u.hostname, u.port), timeout=10)
    stream = sock.makefile("rb")

    def send_head(method, payload, extra):
        headers = {"host": u.netloc, **extra}
        rawsign.sign(method, path, [], headers, hashlib.sha256(payload).hexdigest(), key, secret, region)
        headers["content-length"] = str(len(payload))
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        sock.sendall(head.encode())

    def read_response(has_body=True):
        return rawsign.read_response(stream, has_body)

    send_head("PUT", body, {"expect": "100-continue"})
    first = stream.readline().decode().strip()
    interim = None
    if first.startswith("HTTP/1.1 100"):
        interim = first
        stream.readline()
        sock.sendall(body)
        final = read_response()
    else:
        # A final answer without 100 Continue (allowed for an empty body): drain its headers.
        final = first
        closes = False
        while True:
            line = stream.readline().decode().strip()
            if not line:
                break
            closes = closes or line.lower() == "connection: close"
        if closes:
            # The server closes this connection (see src/server/expect_continue.rs):
            # it must really be closed, then the next request goes on a new one.
            eof = stream.read(1) == b""
            sock.close()
            return {"interim": interim, "final": final, "closed": eof}
    send_head("HEAD", b"", {})
    after = read_response(has_body=False)
    sock.close()
    return {"interim": interim, "final": final, "next_on_same_connection": after}

main()
