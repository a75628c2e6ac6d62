//! `s3seal bench` against real Garage, through s3seal and directly, the
//! side-by-side comparison script (benches/compare.py) and the soak
//! (`s3seal bench soak`, scripts/soak) end to end with tiny workloads.
//! These check that the load generator does what it reports (every byte
//! read back checked, errors counted, exit code), not speed: speed is
//! measured by scripts/bench-compare, never asserted in tests.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

/// Runs `s3seal bench <args>` as `key`/`secret`; returns the JSON report and the output.
fn bench(dir: &Path, key: &str, secret: &str, args: &[&str]) -> (serde_json::Value, Output) {
    let report = dir.join(format!(
        "report-{}-{}.json",
        std::process::id(),
        next_number()
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_s3seal"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .arg(&report)
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .output()
        .expect("run s3seal bench");
    let text = std::fs::read_to_string(&report).unwrap_or_else(|_| {
        panic!(
            "s3seal bench {args:?} wrote no report:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (serde_json::from_str(&text).expect("JSON report"), out)
}

fn next_number() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// A run that must have succeeded: exit 0, no errors, `operations` done.
fn assert_clean(report: &serde_json::Value, out: &Output, operations: u64) {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["operations"], operations, "{report}");
    for field in ["p50", "p90", "p99", "max"] {
        assert!(
            report["latency_ms"][field].as_f64().unwrap() > 0.0,
            "{report}"
        );
    }
}

/// `s3seal bench` against s3seal as the test client, `args` split on spaces.
fn bench_s3seal(s3seal: &S3seal, secret: &str, args: &str) -> (serde_json::Value, Output) {
    let endpoint = s3seal.endpoint();
    let mut all = vec!["--endpoint-url", endpoint.as_str()];
    all.extend(args.split_whitespace());
    bench(&s3seal.dir, CLIENT_KEY, secret, &all)
}

#[test]
fn every_operation_runs_through_s3seal_with_each_byte_checked() {
    let s3seal = S3seal::start();
    let bucket = make_bucket(&s3seal, "bench");
    let run =
        |args: &str| bench_s3seal(&s3seal, CLIENT_SECRET, &format!("--bucket {bucket} {args}"));

    // Whole objects: five passes of PUTs over 8 objects (each pass other
    // bytes), then one pass, then GET and HEAD of what that pass wrote.
    let (put, out) = run("put --size 4KiB --concurrency 4 --objects 8 --count 40");
    assert_clean(&put, &out, 40);
    assert_eq!(put["bytes"], 40 * 4096);
    assert_eq!(put["payload"], "signed");
    let (put, out) = run("put --size 4KiB --concurrency 4 --objects 8 --count 8");
    assert_clean(&put, &out, 8);
    let (get, out) = run("get --size 4KiB --objects 8 --count 24 --skip-prepare");
    assert_clean(&get, &out, 24);
    assert_eq!(get["bytes"], 24 * 4096);
    let (head, out) = run("head --size 4KiB --objects 8 --count 8 --skip-prepare");
    assert_clean(&head, &out, 8);

    // A GET that writes its own objects first, with unsigned payloads.
    let (get, out) = run("get --size 300KiB --objects 3 --count 6 --payload unsigned");
    assert_clean(&get, &out, 6);

    // Multipart: 2 objects of 12 MiB + 1 byte in 5 MiB parts = 6 parts; then
    // ranged GETs of 1 MiB read those objects back through their ranges.
    let size = 12 * 1024 * 1024 + 1;
    let (mpu, out) = run(&format!(
        "multipart-put --size {size} --objects 2 --part-size 5MiB --concurrency 3"
    ));
    assert_clean(&mpu, &out, 6);
    assert_eq!(mpu["bytes"], 2 * size);
    let prefix = format!("s3seal-bench/{size}-");
    let listed = json(&s3seal.aws(&[
        "s3api",
        "list-objects-v2",
        "--bucket",
        &bucket,
        "--prefix",
        &prefix,
    ]));
    let sizes: Vec<u64> = listed["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["Size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [size; 2]);
    let (ranges, out) = run(&format!(
        "range-get --size {size} --objects 2 --range-size 1MiB --concurrency 4 --skip-prepare"
    ));
    // One pass: 13 ranges per object, the last of one byte.
    assert_clean(&ranges, &out, 26);
    assert_eq!(ranges["bytes"], 2 * size);

    // The KMS API: data keys generated, and decrypted back to the same plaintext.
    let kms = "--key-id alias/aws/s3 --concurrency 4 --count 40";
    let (generated, out) = bench_s3seal(
        &s3seal,
        CLIENT_SECRET,
        &format!("kms-generate-data-key {kms}"),
    );
    assert_clean(&generated, &out, 40);
    let (decrypted, out) = bench_s3seal(&s3seal, CLIENT_SECRET, &format!("kms-decrypt {kms}"));
    assert_clean(&decrypted, &out, 40);
}

#[test]
fn bytes_that_differ_and_refusals_are_counted_and_fail_the_run() {
    let s3seal = S3seal::start();
    let bucket = make_bucket(&s3seal, "bench-bad");
    let common = format!("--bucket {bucket} --size 64KiB --objects 4");
    let (put, out) = bench_s3seal(
        &s3seal,
        CLIENT_SECRET,
        &format!("{common} put --count 4 --seed 1"),
    );
    assert_clean(&put, &out, 4);
    // Reading them expecting another seed's bytes: every GET is a mismatch.
    let (get, out) = bench_s3seal(
        &s3seal,
        CLIENT_SECRET,
        &format!("{common} get --count 8 --seed 2 --skip-prepare"),
    );
    assert_eq!(out.status.code(), Some(1), "{get}");
    assert_eq!(get["operations"], 0, "{get}");
    assert_eq!(get["mismatches"], 8, "{get}");
    assert_eq!(get["error_counts"]["content mismatch"], 8, "{get}");
    let sample = get["error_samples"][0].as_str().unwrap();
    assert!(sample.contains("differs from what was written"), "{get}");
    // A wrong secret: each request refused, counted by status and S3 code.
    let (denied, out) = bench_s3seal(
        &s3seal,
        "not-the-secret",
        &format!("{common} put --count 3"),
    );
    assert_eq!(out.status.code(), Some(1), "{denied}");
    assert_eq!(
        denied["error_counts"]["403 SignatureDoesNotMatch"], 3,
        "{denied}"
    );
}

#[test]
fn the_store_can_be_measured_directly() {
    let garage = garage();
    let bucket = bucket("bench-direct");
    ok(&garage.aws(&["s3api", "create-bucket", "--bucket", &bucket]));
    let dir = repo_path("target/tmp");
    std::fs::create_dir_all(&dir).unwrap();
    let endpoint = garage.endpoint();
    let run = |args: &str| {
        let common = format!(
            "--endpoint-url {endpoint} --region garage --bucket {bucket} --size 10KiB {args}"
        );
        let args: Vec<&str> = common.split_whitespace().collect();
        bench(&dir, &garage.key_id, &garage.secret, &args)
    };
    let (put, out) = run("put --count 5 --objects 5");
    assert_clean(&put, &out, 5);
    let (get, out) = run("get --count 10 --objects 5 --skip-prepare");
    assert_clean(&get, &out, 10);
}

#[test]
fn the_comparison_script_measures_all_three_targets() {
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"];
    assert!(
        nginx.iter().any(|p| Path::new(p).exists()),
        "nginx is not installed: scripts/test installs it (apt-get install nginx)"
    );
    let work = repo_path(&format!("target/tmp/bench-compare-{}", std::process::id()));
    let out_prefix = work.join("result");
    let run = Command::new("python3")
        .arg(repo_path("benches/compare.py"))
        .args(["--s3seal", env!("CARGO_BIN_EXE_s3seal")])
        .args([
            "--rounds",
            "1",
            "--duration",
            "0.3",
            "--big-size",
            "2MiB",
            "--big-count",
            "2",
        ])
        .args(["--huge-size", "12MiB", "--kms-duration", "0.3"])
        .arg("--workdir")
        .arg(work.join("stack"))
        .arg("--out")
        .arg(&out_prefix)
        .output()
        .expect("run benches/compare.py");
    let result = std::fs::read_to_string(out_prefix.with_extension("json")).unwrap_or_else(|_| {
        panic!(
            "compare.py wrote no result:\n{}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        )
    });
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let result: serde_json::Value = serde_json::from_str(&result).unwrap();
    let rows = result["summary"]["workloads"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    for row in rows {
        for target in ["garage", "nginx", "s3seal"] {
            assert_eq!(row[target]["errors"], 0, "{row}");
            assert!(
                row[target]["ops_per_second"]["median"].as_f64().unwrap() > 0.0,
                "{row}"
            );
        }
        assert!(
            row["ratio_to_garage"]["median"].as_f64().unwrap() > 0.0,
            "{row}"
        );
        assert!(
            row["ratio_to_nginx"]["median"].as_f64().unwrap() > 0.0,
            "{row}"
        );
        if !row["workload"].as_str().unwrap().starts_with("4KiB") {
            assert!(
                row["s3seal_cpu_seconds_per_gb"]["median"].as_f64().unwrap() > 0.0,
                "{row}"
            );
        }
    }
    for operation in ["kms-generate-data-key", "kms-decrypt"] {
        let kms = &result["summary"]["kms"][operation];
        assert_eq!(kms["errors"], 0, "{kms}");
        assert!(kms["requests_per_second"]["median"].as_f64().unwrap() > 0.0);
    }
    let rss = &result["summary"]["s3seal_rss_mib"];
    assert!(rss["peak"].as_f64().unwrap() >= rss["idle"].as_f64().unwrap());
    let table = std::fs::read_to_string(out_prefix.with_extension("md")).unwrap();
    assert!(
        table.contains("| 4KiB GET c=32 |") && table.contains("kms-generate-data-key"),
        "{table}"
    );
    let _ = std::fs::remove_dir_all(&work);
}

/// `s3seal bench soak` through s3seal as `args` (split on spaces) say, in `bucket`.
fn soak(s3seal: &S3seal, bucket: &str, args: &str) -> (serde_json::Value, Output) {
    bench_s3seal(
        s3seal,
        CLIENT_SECRET,
        &format!("soak --bucket {bucket} --max-size 1MiB {args}"),
    )
}

#[test]
fn a_short_soak_checks_every_answer_and_watches_s3seal() {
    let s3seal = S3seal::start();
    let bucket = make_bucket(&s3seal, "soak");
    // Generous margins: this checks that the soak samples and judges, not
    // that a 15-second run on a shared machine is flat (scripts/soak does).
    let (report, out) = soak(
        &s3seal,
        &bucket,
        &format!(
            "--concurrency 8 --objects 4 --duration 15 --watch-pid {} --sample-every 1 \
             --rss-margin 1GiB --fd-margin 1000",
            s3seal.pid()
        ),
    );
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["passed"], true, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["mismatches"], 0, "{report}");
    for operation in ["put", "get", "range-get", "head", "list", "delete"] {
        let done = report["operations"][operation]["operations"]
            .as_u64()
            .unwrap();
        assert!(done > 0, "no {operation}: {report}");
    }
    // Reads were checked: bytes compared, and deleted or unwritten keys answered 404.
    assert!(report["bytes_checked"].as_u64().unwrap() > 0, "{report}");
    assert!(report["absent_confirmed"].as_u64().unwrap() > 0, "{report}");
    assert!(report["largest_size"] == 1 << 20, "{report}");
    let resources = &report["resources"];
    assert!(
        resources["samples"].as_array().unwrap().len() >= 10,
        "{resources}"
    );
    assert!(
        resources["rss_kib"]["max"].as_u64().unwrap() > 1024,
        "{resources}"
    );
    assert!(
        resources["fds"]["first"].as_u64().unwrap() > 3,
        "{resources}"
    );
    assert_eq!(resources["flatness"]["rss_flat"], true, "{resources}");
    // The soak deletes what it wrote.
    let listed = json(&s3seal.aws(&["s3api", "list-objects-v2", "--bucket", &bucket]));
    assert!(
        listed["Contents"].as_array().is_none_or(|c| c.is_empty()),
        "{listed}"
    );
}

#[test]
fn an_object_the_soak_did_not_write_fails_it() {
    let s3seal = S3seal::start();
    let bucket = make_bucket(&s3seal, "soak-stray");
    let stray = temp_file(&s3seal.dir, "stray", b"not written by the soak");
    // Under client 0's prefix, written after the soak emptied it at start:
    // its listings (at the latest the last one) must report it.
    let (report, out) = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(std::time::Duration::from_secs(2));
            ok(&s3seal.put_file(&bucket, "s3seal-bench/soak/c000/99999", &stray, &[]));
        });
        soak(&s3seal, &bucket, "--concurrency 2 --objects 3 --duration 5")
    });
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert_eq!(report["passed"], false, "{report}");
    assert!(report["mismatches"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(
        report["mismatches"], report["operations"]["list"]["mismatches"],
        "{report}"
    );
    let samples = report["error_samples"].to_string();
    assert!(
        samples.contains("c000/99999 is listed, but this client never wrote it"),
        "{report}"
    );
}

#[test]
fn the_soak_script_runs_its_own_stack_and_deletes_its_data() {
    let work = repo_path(&format!("target/tmp/soak-script-{}", std::process::id()));
    let out_prefix = work.join("result");
    let stack = work.join("stack");
    let run = Command::new(repo_path("scripts/soak"))
        .args(["--s3seal", env!("CARGO_BIN_EXE_s3seal")])
        .args(["--duration", "8", "--clients", "4", "--keys", "4"])
        .args(["--max-size", "256KiB", "--sample-every", "1"])
        .args(["--rss-margin", "1GiB", "--fd-margin", "1000"])
        // Explicit: the default budget wants 11 GiB free (a full soak's
        // headroom), more than a CI machine may have; 8 s write far less.
        .args(["--write-budget", "256MiB"])
        .arg("--workdir")
        .arg(&stack)
        .arg("--out")
        .arg(&out_prefix)
        .output()
        .expect("run scripts/soak");
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_prefix.with_extension("json")).unwrap())
            .unwrap();
    assert_eq!(report["passed"], true, "{report}");
    assert_eq!(report["clients"], 4, "{report}");
    assert_eq!(report["write_budget"], 256 * 1024 * 1024, "{report}");
    let table = std::fs::read_to_string(out_prefix.with_extension("md")).unwrap();
    assert!(
        table.contains("scripts/soak --s3seal") && table.contains("verdict: PASS"),
        "{table}"
    );
    // The stores' data is gone; the logs stay.
    assert!(!stack.join("garage/data").exists());
    assert!(!stack.join("s3seal/store.redb").exists());
    assert!(stack.join("s3seal.log").exists());
    let _ = std::fs::remove_dir_all(&work);
}
