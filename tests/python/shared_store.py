"""Two s3seal instances over one PostgreSQL store (tests/shared_store.rs).

Instance A is at S3SEAL_ENDPOINT, instance B at S3SEAL_B_ENDPOINT, with the
same credentials. Each scenario prints one JSON line and exits non-zero when
what it checks does not hold.

  propagation-disable          a key disabled through A is refused by B
  propagation-policy BUCKET K  a bucket policy put through B is enforced by A
  concurrent-ops               200 concurrent alias/rotation/policy operations
"""
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from s3clients import client as s3_client

# The documented propagation bound (src/store/postgres/cache.rs).
BOUND_SECONDS = 1.0


def kms(endpoint):
    return boto3.client(
        "kms", endpoint_url=endpoint, aws_access_key_id=os.environ["S3SEAL_KEY"],
        aws_secret_access_key=os.environ["S3SEAL_SECRET"], region_name=os.environ["S3SEAL_REGION"],
        config=Config(retries={"max_attempts": 1}, max_pool_connections=32),
    )


def s3(endpoint):
    return s3_client(endpoint, os.environ["S3SEAL_KEY"], os.environ["S3SEAL_SECRET"],
                     os.environ["S3SEAL_REGION"])


A, B = os.environ["S3SEAL_ENDPOINT"], os.environ["S3SEAL_B_ENDPOINT"]


def error_code(call):
    try:
        call()
        return None
    except ClientError as err:
        return err.response["Error"]["Code"]


def wait_until(condition, limit=5.0):
    """Polls `condition` every 10 ms; seconds until it held (None: never)."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if condition():
            return time.monotonic() - start
        time.sleep(0.01)
    return None


def propagation_disable():
    ka, kb = kms(A), kms(B)
    key = ka.create_key(Description="propagation")["KeyMetadata"]["KeyId"]
    encrypt_on_b = lambda: kb.encrypt(KeyId=key, Plaintext=b"x")
    encrypt_on_b()  # B has now read (and cached) the key
    ka.disable_key(KeyId=key)
    refused = wait_until(lambda: error_code(encrypt_on_b) == "DisabledException")
    ka.enable_key(KeyId=key)
    usable = wait_until(lambda: error_code(encrypt_on_b) is None)
    print(json.dumps({"refused_after": refused, "usable_after": usable}))
    ok = refused is not None and refused <= BOUND_SECONDS and usable is not None and usable <= BOUND_SECONDS
    sys.exit(0 if ok else 1)


def propagation_policy(bucket, key):
    sa, sb = s3(A), s3(B)
    get_on_a = lambda: sa.get_object(Bucket=bucket, Key=key)["Body"].read()
    get_on_a()  # A has now read (and cached) the bucket's settings
    deny = {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "NoReads", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{bucket}/*",
        }],
    }
    sb.put_bucket_policy(Bucket=bucket, Policy=json.dumps(deny))
    denied = wait_until(lambda: error_code(get_on_a) == "AccessDenied")
    sb.delete_bucket_policy(Bucket=bucket)
    allowed = wait_until(lambda: error_code(get_on_a) is None)
    print(json.dumps({"denied_after": denied, "allowed_after": allowed}))
    ok = denied is not None and denied <= BOUND_SECONDS and allowed is not None and allowed <= BOUND_SECONDS
    sys.exit(0 if ok else 1)


def concurrent_ops():
    """200 operations on both instances at once: rotations, alias creation
    (unique and contested), alias updates and key policy writes. Afterwards
    both instances must report one consistent state with no lost update."""
    clients = [kms(A), kms(B)]
    run = str(time.time_ns())
    keys = [clients[0].create_key(Description=f"concurrency {i}")["KeyMetadata"]["KeyId"] for i in range(5)]
    ops = []
    for i in range(50):  # 10 on-demand rotations per key
        ops.append(("rotate", keys[i % 5], None))
    for i in range(50):  # 50 unique aliases
        ops.append(("create", f"alias/u-{run}-{i}", keys[i % 5]))
    for i in range(25):  # 5 names, 5 contenders each: exactly one may win
        ops.append(("create", f"alias/c-{run}-{i % 5}", keys[i % 5]))
    for i in range(25):  # 5 updated names, 5 updates each
        ops.append(("update", f"alias/m-{run}-{i % 5}", keys[(i + 1) % 5]))
    for i in range(50):  # 10 policies written per key
        ops.append(("policy", keys[i % 5], i))
    assert len(ops) == 200
    for n in range(5):  # the names updates aim at exist beforehand
        clients[0].create_alias(AliasName=f"alias/m-{run}-{n}", TargetKeyId=keys[0])

    def policy(marker):
        return json.dumps({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": f"marker-{marker}", "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
                "Action": "kms:*", "Resource": "*",
            }],
        })

    def perform(indexed):
        index, (kind, name, arg) = indexed
        kc = clients[index % 2]  # alternate instances
        try:
            if kind == "rotate":
                kc.rotate_key_on_demand(KeyId=name)
            elif kind == "create":
                kc.create_alias(AliasName=name, TargetKeyId=arg)
            elif kind == "update":
                kc.update_alias(AliasName=name, TargetKeyId=arg)
            else:
                kc.put_key_policy(KeyId=name, PolicyName="default", Policy=policy(arg))
            return (kind, name, arg, None)
        except ClientError as err:
            return (kind, name, arg, err.response["Error"]["Code"])

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(perform, enumerate(ops)))

    problems = []
    unexpected = [r for r in results if r[3] and not (r[0] == "create" and "/c-" in r[1] and r[3] == "AlreadyExistsException")]
    if unexpected:
        problems.append(f"unexpected failures: {unexpected[:5]}")

    def aliases(kc):
        out, marker = {}, None
        while True:
            page = kc.list_aliases(**({"Marker": marker} if marker else {}), Limit=100)
            for alias in page["Aliases"]:
                if run in alias["AliasName"]:
                    out[alias["AliasName"]] = alias.get("TargetKeyId")
            if not page.get("Truncated"):
                return out
            marker = page["NextMarker"]

    time.sleep(BOUND_SECONDS)
    seen = [aliases(kc) for kc in clients]
    if seen[0] != seen[1]:
        problems.append("the instances list different aliases")
    listed = seen[0]
    for i in range(50):
        name = f"alias/u-{run}-{i}"
        if listed.get(name) != keys[i % 5]:
            problems.append(f"{name} -> {listed.get(name)}, expected {keys[i % 5]}")
    for n in range(5):
        name = f"alias/c-{run}-{n}"
        winners = [r for r in results if r[0] == "create" and r[1] == name and r[3] is None]
        if len(winners) != 1:
            problems.append(f"{name}: {len(winners)} creations succeeded, expected exactly 1")
        elif listed.get(name) != winners[0][2]:
            problems.append(f"{name} names {listed.get(name)}, not its creator's key")
        name = f"alias/m-{run}-{n}"
        requested = {r[2] for r in results if r[0] == "update" and r[1] == name}
        if listed.get(name) not in requested:
            problems.append(f"{name} -> {listed.get(name)}, not one of the updates {requested}")
    for n, key in enumerate(keys):
        for kc, label in zip(clients, "AB"):
            rotations = kc.list_key_rotations(KeyId=key)["Rotations"]
            if len(rotations) != 10:
                problems.append(f"{label}: key {n} shows {len(rotations)} rotations, expected 10 (lost update)")
            written = json.loads(kc.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
            marker = written["Statement"][0]["Sid"]
            expected = {f"marker-{i}" for i in range(50) if i % 5 == n}
            if marker not in expected:
                problems.append(f"{label}: key {n} has policy {marker}, not one written for it")
        # Every version still decrypts what it encrypted: encrypt on A, decrypt on B.
        blob = clients[0].encrypt(KeyId=key, Plaintext=b"after")["CiphertextBlob"]
        if clients[1].decrypt(CiphertextBlob=blob)["Plaintext"] != b"after":
            problems.append(f"key {n}: A's ciphertext does not decrypt on B")
    print(json.dumps({"operations": len(results), "problems": problems}))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    scenario = sys.argv[1]
    if scenario == "propagation-disable":
        propagation_disable()
    elif scenario == "propagation-policy":
        propagation_policy(sys.argv[2], sys.argv[3])
    elif scenario == "concurrent-ops":
        concurrent_ops()
    else:
        sys.exit(f"unknown scenario {scenario}")
