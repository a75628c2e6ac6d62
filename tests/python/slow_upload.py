"""Sends a signed PUT in two halves: prints "half-sent", waits for a line on
stdin, sends the rest, prints the response status."""
import hashlib
import sys

import rawsign


def main():
    bucket, key = sys.argv[1:3]
    body = bytes(range(256)) * 782
    body = body[:200000]
    endpoint, ak, sk, region = rawsign.env()
    conn, host = rawsign.connection(endpoint)
    headers = {"host": host}
    rawsign.sign("PUT", f"/{bucket}/{key}", [], headers, hashlib.sha256(body).hexdigest(), ak, sk, region)
    headers["content-length"] = str(len(body))
    conn.putrequest("PUT", f"/{bucket}/{key}", skip_host=True, skip_accept_encoding=True)
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders()
    conn.send(body[:100000])
    print("half-sent", flush=True)
    sys.stdin.readline()
    conn.send(body[100000:])
    resp = conn.getresponse()
    resp.read()
    print(resp.status, flush=True)


main()
