"""Browser POST form fields for s3seal, signed by botocore exactly as AWS SDKs
sign them (generate_presigned_post), for tests that then POST them with curl.

  sign sigv4|sigv2 BUCKET KEY EXPIRES_IN FIELDS_JSON CONDITIONS_JSON

Prints {"url": ..., "fields": [[name, value], ...]} with the fields in the
order a browser form would send them (the file goes last, added by the caller).
botocore adds the bucket and key conditions (a key ending in ${filename}
becomes a starts-with condition) and, for SigV4, the x-amz-algorithm,
x-amz-credential and x-amz-date conditions; any other field must be listed in
CONDITIONS_JSON, as on AWS.
"""
import json
import os
import sys

import boto3
from botocore.config import Config


def client(signature_version):
    return boto3.client(
        "s3",
        endpoint_url=os.environ["S3SEAL_ENDPOINT"],
        aws_access_key_id=os.environ["S3SEAL_KEY"],
        aws_secret_access_key=os.environ["S3SEAL_SECRET"],
        region_name=os.environ["S3SEAL_REGION"],
        config=Config(signature_version=signature_version, s3={"addressing_style": "path"}),
    )


def sign(version, bucket, key, expires_in, fields, conditions):
    signature_version = {"sigv4": "s3v4", "sigv2": "s3"}[version]
    post = client(signature_version).generate_presigned_post(
        Bucket=bucket,
        Key=key,
        Fields=json.loads(fields),
        Conditions=json.loads(conditions),
        ExpiresIn=int(expires_in),
    )
    print(json.dumps({"url": post["url"], "fields": list(post["fields"].items())}))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"sign": sign}[command](*args)
