"""Presigned URLs (SigV4 query authentication) against s3seal, used with curl;
prints a JSON result or raises.

  run BUCKET
"""
import json
import os
import subprocess
import sys
import time

import boto3
from botocore.config import Config


def client(**cfg):
    return boto3.client("s3", endpoint_url=os.environ["S3SEAL_ENDPOINT"], aws_access_key_id=os.environ["S3SEAL_KEY"],
                        aws_secret_access_key=os.environ["S3SEAL_SECRET"], region_name=os.environ["S3SEAL_REGION"],
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, **cfg))


def upstream():
    return boto3.client("s3", endpoint_url=os.environ["UPSTREAM_ENDPOINT"], aws_access_key_id=os.environ["UPSTREAM_KEY"],
                        aws_secret_access_key=os.environ["UPSTREAM_SECRET"], region_name="garage",
                        config=Config(s3={"addressing_style": "path"}))


def curl(method, url, data=None):
    args = ["curl", "-s", "-S", "-X", method, "-o", "-", "-w", "\n%{http_code}", url]
    if method == "HEAD":
        args = ["curl", "-s", "-S", "-I", "-o", "/dev/null", "-w", "%{http_code}", url]
    if data is not None:
        args += ["--data-binary", "@-", "-H", "Content-Type: application/octet-stream"]
    out = subprocess.run(args, input=data, capture_output=True, check=True).stdout
    body, _, status = out.rpartition(b"\n") if method != "HEAD" else (b"", b"", out)
    return int(status), body


def run(bucket):
    s3 = client()
    s3.create_bucket(Bucket=bucket)
    data = b"presigned plaintext " * 5000
    put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=300)
    status, body = curl("PUT", put, data)
    assert status == 200, (status, body)
    stored = upstream().get_object(Bucket=bucket, Key="p")["Body"].read()
    assert data[:40] not in stored, "a presigned PUT stored plaintext"
    get = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=300)
    status, body = curl("GET", get)
    assert status == 200 and body == data, (status, len(body))
    head = s3.generate_presigned_url("head_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=300)
    assert curl("HEAD", head)[0] == 200
    # Tampered: another signature, another key in the path.
    status, body = curl("GET", get.replace("X-Amz-Signature=", "X-Amz-Signature=0"))
    assert status == 403 and b"SignatureDoesNotMatch" in body, (status, body)
    status, body = curl("GET", get.replace(f"/{bucket}/p?", f"/{bucket}/q?"))
    assert status == 403 and b"SignatureDoesNotMatch" in body, (status, body)
    # Expired.
    short = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=1)
    time.sleep(2.5)
    status, body = curl("GET", short)
    assert status == 403 and b"Request has expired" in body, (status, body)
    delete = s3.generate_presigned_url("delete_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=300)
    assert curl("DELETE", delete)[0] == 204
    assert curl("GET", get)[0] == 404
    print(json.dumps({"ok": True}))


if __name__ == "__main__":
    {"run": run}[sys.argv[1]](*sys.argv[2:])
