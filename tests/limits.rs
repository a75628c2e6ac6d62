//! The `[limits]` against abuse, each exercised by a misbehaving client
//! against a real s3seal over real Garage: slow and idle clients are cut off,
//! oversized headers and connection floods get S3's errors, principals over
//! their rate are throttled, and nothing half-received is stored.

mod common;

use common::*;

fn start(limits: &str) -> S3seal {
    S3seal::start_with(S3sealOptions {
        extra_config: format!("[limits]\n{limits}\n"),
        ..Default::default()
    })
}

fn scenario(s3seal: &S3seal, args: &[&str]) -> serde_json::Value {
    let out = s3seal.python("limits.py", args);
    serde_json::from_str(&ok(&out)).expect("the scenario prints JSON")
}

#[test]
fn slow_and_idle_clients_are_disconnected() {
    let s3seal = start("header_read_timeout_seconds = 2\nbody_idle_timeout_seconds = 2");
    let bucket = make_bucket(&s3seal, "limits-slow");

    // A head that never ends: closed after the header timeout, unanswered.
    let slow = scenario(&s3seal, &["slow-head"]);
    let waited = slow["seconds"].as_f64().unwrap();
    assert!((1.5..10.0).contains(&waited), "{slow}");

    // A kept-alive connection that goes quiet is closed too.
    let idle = scenario(&s3seal, &["idle-keepalive"]);
    assert!(
        idle["first_status"].as_str().unwrap().contains("403"),
        "{idle}"
    );
    let waited = idle["seconds"].as_f64().unwrap();
    assert!((1.5..10.0).contains(&waited), "{idle}");

    // A body that stops: RequestTimeout, and nothing stored.
    let stalled = scenario(&s3seal, &["stalled-body", &bucket, "stalled"]);
    assert!(
        stalled["status_line"].as_str().unwrap().contains("400"),
        "{stalled}"
    );
    assert!(
        stalled["body"]
            .as_str()
            .unwrap()
            .contains("<Code>RequestTimeout</Code>"),
        "{stalled}"
    );
    fails_with(&s3seal.head(&bucket, "stalled"), "404");
    fails_with(&upstream_head(&bucket, "stalled"), "404");
    assert!(
        s3seal
            .log()
            .contains("Your socket connection to the server was not read from"),
        "the refusal is logged"
    );
    // The server is as usable as before.
    let dir = tempfile::tempdir().unwrap();
    let f = temp_file(dir.path(), "f", b"after the slow clients");
    ok(&s3seal.put_file(&bucket, "after", &f, &[]));
}

#[test]
fn connections_past_the_limit_get_slow_down() {
    let s3seal = start("max_connections = 3");
    let bucket = make_bucket(&s3seal, "limits-conns");
    let held = scenario(&s3seal, &["held-connections", "3", &bucket]);
    assert_eq!(held["over_the_limit"], "503 SlowDown", "{held}");
    // Like every S3 answer, it carries a request id (16 hex digits).
    let id = held["request_id"].as_str().unwrap_or_default();
    assert!(
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{held}"
    );
    assert_eq!(held["after_one_closed"], "ok", "{held}");
}

#[test]
fn oversized_header_sections_are_refused_as_s3_does() {
    let s3seal = start("max_header_bytes = 4096\nmax_header_count = 40");
    let bucket = make_bucket(&s3seal, "limits-head");
    let dir = tempfile::tempdir().unwrap();
    let f = temp_file(dir.path(), "f", b"metadata-heavy");
    let put_with_metadata = |key: &str, metadata: &str| {
        s3seal.aws(&[
            "s3api",
            "put-object",
            "--bucket",
            &bucket,
            "--key",
            key,
            "--body",
            f.to_str().unwrap(),
            "--metadata",
            metadata,
        ])
    };
    let big = format!("big={}", "m".repeat(5000));
    fails_with(
        &put_with_metadata("big", &big),
        "RequestHeaderSectionTooLarge",
    );
    let many: Vec<String> = (0..45).map(|i| format!("m{i}=v")).collect();
    fails_with(
        &put_with_metadata("many", &many.join(",")),
        "RequestHeaderSectionTooLarge",
    );
    fails_with(&s3seal.head(&bucket, "big"), "404");
    fails_with(&s3seal.head(&bucket, "many"), "404");
    // Within the limits, metadata is stored as before.
    ok(&put_with_metadata("fine", "a=1,b=2"));
}

#[test]
fn principals_over_their_rate_are_throttled() {
    // One request per second after a burst of 5: of 60 in a row, most are
    // refused, whichever way the principal signs them.
    let s3seal = start("requests_per_second = 1\nburst = 5");
    let bucket = make_bucket(&s3seal, "limits-rate");
    std::thread::sleep(std::time::Duration::from_secs(6));
    let outcomes = scenario(&s3seal, &["burst", "20", &bucket]);
    let count = |api: &str, outcome: &str| outcomes[api][outcome].as_u64().unwrap_or(0);
    let served = count("s3", "ok") + count("kms", "ok") + count("post", "ok");
    let slow_down = count("s3", "503 SlowDown") + count("post", "503 SlowDown");
    let throttled = count("kms", "400 ThrottlingException");
    // S3, KMS and POST-form calls share the principal's bucket: 5 at once,
    // then one a second.
    let seconds = outcomes["seconds"].as_f64().unwrap();
    assert!(served as f64 <= 5.0 + seconds.ceil() + 1.0, "{outcomes}");
    assert!(served >= 5, "{outcomes}");
    assert_eq!(served + slow_down + throttled, 60, "{outcomes}");
    assert!(slow_down > 0 && throttled > 0, "{outcomes}");
    assert!(count("post", "503 SlowDown") > 0, "{outcomes}");
    // The bucket refills: a request a few seconds later is served.
    std::thread::sleep(std::time::Duration::from_secs(3));
    ok(&s3seal.aws(&["s3api", "head-bucket", "--bucket", &bucket]));
}

#[test]
fn xml_bodies_have_a_size_limit() {
    let s3seal = S3seal::start();
    let bucket = make_bucket(&s3seal, "limits-xml");
    let answers = scenario(&s3seal, &["big-xml", &bucket]);
    assert_eq!(answers["huge"]["status"], 400, "{answers}");
    let huge = answers["huge"]["body"].as_str().unwrap();
    assert!(huge.contains("<Code>EntityTooLarge</Code>"), "{answers}");
    assert_eq!(answers["too_many"]["status"], 400, "{answers}");
    let too_many = answers["too_many"]["body"].as_str().unwrap();
    assert!(too_many.contains("<Code>MalformedXML</Code>"), "{answers}");
}
