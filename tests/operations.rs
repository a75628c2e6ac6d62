//! The operator's endpoints on `server.admin_listen`: liveness and readiness
//! (store, root of trust, upstream), against real Garage.

mod common;

use common::*;

fn with_admin(extra_env: Vec<(String, String)>) -> (S3seal, String) {
    let port = free_port();
    let mut env = vec![(
        "S3SEAL_SERVER_ADMIN_LISTEN".to_string(),
        format!("127.0.0.1:{port}"),
    )];
    env.extend(extra_env);
    let s3seal = S3seal::start_with(S3sealOptions {
        env,
        ..Default::default()
    });
    wait_for_port(
        port,
        "s3seal admin listener",
        &s3seal.dir.join("s3seal.log"),
    );
    (s3seal, format!("http://127.0.0.1:{port}"))
}

#[test]
fn health_endpoints_report_live_and_ready() {
    let (s3seal, admin) = with_admin(Vec::new());
    let (status, body) = http_get(&format!("{admin}/health/live"));
    assert_eq!(status, 200, "{body}");
    let (status, body) = http_get(&format!("{admin}/health/ready"));
    assert_eq!(status, 200, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["ready"], true, "{ready}");
    let names: Vec<&str> = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["store", "root_of_trust", "upstream"], "{ready}");
    assert_eq!(http_get(&format!("{admin}/metrics-typo")).0, 404);
    // The S3 listener does not serve them: there it is an (unsigned) S3 request.
    let (status, _) = http_get(&format!("{}/health/live", s3seal.endpoint()));
    assert_eq!(status, 403);
}

#[test]
fn readiness_fails_while_the_upstream_is_unreachable() {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let (_s3seal, admin) = with_admin(vec![("S3SEAL_UPSTREAM_URL".into(), dead)]);
    assert_eq!(http_get(&format!("{admin}/health/live")).0, 200);
    let (status, body) = http_get(&format!("{admin}/health/ready"));
    assert_eq!(status, 503, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    let upstream = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "upstream")
        .unwrap()
        .clone();
    assert_eq!(upstream["ok"], false, "{ready}");
    assert!(
        upstream["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{ready}"
    );
    let store_ok = ready["checks"][0]["ok"].clone();
    assert_eq!(store_ok, true, "{ready}");
}

/// The value of the sample `name{labels}` in a Prometheus text scrape.
fn sample(scrape: &str, name_and_labels: &str) -> Option<f64> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
}

#[test]
fn metrics_count_known_traffic() {
    let (s3seal, admin) = with_admin(Vec::new());
    let b = make_bucket(&s3seal, "metrics");
    let dir = tempfile::tempdir().unwrap();
    let sizes = [0usize, 1000, 200_000];
    for (i, size) in sizes.iter().enumerate() {
        let file = temp_file(dir.path(), &format!("f{i}"), &test_data(*size, i as u64));
        ok(&s3seal.put_file(&b, &format!("k{i}"), &file, &[]));
    }
    ok(&s3seal.get_file(&b, "k2", &dir.path().join("back")));
    fails_with(&s3seal.head(&b, "missing"), "404");

    let (status, scrape) = http_get(&format!("{admin}/metrics"));
    assert_eq!(status, 200);
    let count = |series: &str| {
        sample(&scrape, series).unwrap_or_else(|| panic!("no {series} in:\n{scrape}"))
    };
    assert_eq!(
        count(r#"s3seal_requests_total{operation="PutObject",status="200"}"#),
        3.0
    );
    assert_eq!(
        count(r#"s3seal_requests_total{operation="GetObject",status="200"}"#),
        1.0
    );
    assert_eq!(
        count(r#"s3seal_requests_total{operation="HeadObject",status="404"}"#),
        1.0
    );
    assert_eq!(
        count(r#"s3seal_request_duration_seconds_count{operation="PutObject"}"#),
        3.0
    );
    assert_eq!(count("s3seal_bytes_sealed_total"), 201_000.0);
    assert_eq!(count("s3seal_bytes_unsealed_total"), 200_000.0);
    // Three data keys generated, one unwrapped (the GET).
    assert!(
        count(r#"s3seal_kms_operations_total{action="kms:GenerateDataKey",result="ok"}"#) >= 3.0
    );
    assert!(count(r#"s3seal_kms_operations_total{action="kms:Decrypt",result="ok"}"#) >= 1.0);
    assert!(count(r#"s3seal_upstream_requests_total{outcome="200"}"#) >= 4.0);
    assert!(
        scrape.contains("s3seal_upstream_duration_seconds_bucket"),
        "{scrape}"
    );
    assert!(count("s3seal_active_connections") >= 0.0);
}
