"""What the boto3 test scripts share: clients of s3seal and of the upstream
(from the environment the Rust harness sets) and deterministic test data."""
import hashlib
import os

import boto3
from botocore.config import Config

MIB = 1024 * 1024


def client(endpoint, key, secret, region):
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
        region_name=region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                      max_pool_connections=16),
    )


def proxy():
    return client(os.environ["S3SEAL_ENDPOINT"], os.environ["S3SEAL_KEY"], os.environ["S3SEAL_SECRET"],
                  os.environ["S3SEAL_REGION"])


def upstream():
    return client(os.environ["UPSTREAM_ENDPOINT"], os.environ["UPSTREAM_KEY"], os.environ["UPSTREAM_SECRET"],
                  "garage")


def data(n, seed):
    """n bytes that depend only on seed."""
    out = bytearray()
    block = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:n])
