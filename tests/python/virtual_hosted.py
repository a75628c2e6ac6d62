"""Virtual-hosted-style requests (bucket.<domain>) with boto3; prints JSON or raises.

  run DOMAIN BUCKET    DOMAIN resolves to 127.0.0.1 inside this script
"""
import json
import os
import socket
import sys
import urllib.parse

import boto3
from botocore.config import Config


def run(domain, bucket):
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host == domain or host.endswith("." + domain):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    socket.getaddrinfo = resolve
    port = urllib.parse.urlparse(os.environ["S3SEAL_ENDPOINT"]).port

    def client(style):
        return boto3.client("s3", endpoint_url=f"http://{domain}:{port}", aws_access_key_id=os.environ["S3SEAL_KEY"],
                            aws_secret_access_key=os.environ["S3SEAL_SECRET"], region_name=os.environ["S3SEAL_REGION"],
                            config=Config(s3={"addressing_style": style}, retries={"max_attempts": 1}))

    virtual, path = client("virtual"), client("path")
    path.create_bucket(Bucket=bucket)
    virtual.put_object(Bucket=bucket, Key="dir/a b.txt", Body=b"virtually sealed")
    assert virtual.get_object(Bucket=bucket, Key="dir/a b.txt")["Body"].read() == b"virtually sealed"
    assert path.get_object(Bucket=bucket, Key="dir/a b.txt")["Body"].read() == b"virtually sealed"
    keys = [o["Key"] for o in virtual.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["dir/a b.txt"], keys
    assert virtual.head_object(Bucket=bucket, Key="dir/a b.txt")["ContentLength"] == 16
    virtual.delete_object(Bucket=bucket, Key="dir/a b.txt")
    print(json.dumps({"ok": True}))


if __name__ == "__main__":
    {"run": run}[sys.argv[1]](*sys.argv[2:])
