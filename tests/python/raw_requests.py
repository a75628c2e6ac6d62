"""Raw-request scenarios, one per sub-command; prints a JSON result.

  bad-payload-hash BUCKET KEY   signed hash of one body, another body sent
  skewed-clock BUCKET KEY       request dated 20 minutes ago
  good-put BUCKET KEY           control: a correct raw PUT
"""
import datetime
import hashlib
import json
import sys

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
    elif scenario == "good-put":
        status, data = rawsign.request("PUT", path, body=body)
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    print(json.dumps({"status": status, "body": data.decode(errors="replace"),
                      "sha256": hashlib.sha256(body).hexdigest()}))


main()
