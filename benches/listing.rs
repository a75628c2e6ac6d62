//! Listing rewrite per page of 1000 entries.
//!
//! A ListObjects(V2) answer cannot be relayed as the upstream wrote it: each
//! `<Size>` is the sealed size, and s3seal rewrites it to the plaintext size
//! ([`s3seal::s3::listing`]). A full page is 1000 entries, so this cost is
//! paid 1000 times per LIST and bounds how fast a client can walk a bucket.
//!
//! - `rewrite_indexed`: the real path of a ListObjectsV2 page whose objects
//!   are all in the object index (the common case): quick-xml re-emits every
//!   event, and each entry's size comes from [`resolve_size`], one lookup in
//!   the embedded store (redb). The page is what the upstream sends
//!   for `encoding-type=url`, as the AWS CLI and SDKs ask.
//! - `rewrite_only`: the same page with each entry's listed size kept, to
//!   separate the XML rewrite from the index lookups.
//!
//! ListObjectVersions entries carry a `VersionId`, which the index does not
//! key on: each costs an upstream HEAD, so that path is bounded by the
//! upstream's latency, not by anything a micro-benchmark can measure.

use std::fmt::Write;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use s3seal::config::Config;
use s3seal::s3::listing::{resolve_size, rewrite_sizes};
use s3seal::s3::object_index::IndexEntry;
use s3seal::seal::StreamLayout;
use s3seal::state::AppState;

const ENTRIES: usize = 1000;
const BUCKET: &str = "bench-bucket";

/// One listed object: key, upstream ETag (quotes included), plaintext size.
struct Object {
    key: String,
    etag: String,
    plaintext: u64,
}

fn objects() -> Vec<Object> {
    (0..ENTRIES)
        .map(|i| Object {
            key: format!("data/2026/01/{:02}/object-{i:06}.json.gz", i % 28 + 1),
            etag: format!("\"{:032x}\"", (i as u128 + 1) * 0x9e37_79b9_7f4a_7c15),
            plaintext: 1000 + (i as u64 * 7919) % 5_000_000,
        })
        .collect()
}

/// A ListObjectsV2 page as an S3 store writes it for sealed objects: sealed
/// sizes, quoted ETags as entities, owner and checksum elements.
fn page(objects: &[Object]) -> String {
    let layout = StreamLayout::default_layout();
    let mut xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>{BUCKET}</Name><Prefix>data/</Prefix><KeyCount>{ENTRIES}</KeyCount><MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><NextContinuationToken>MWJlbmNoLWNvbnRpbnVhdGlvbi10b2tlbg==</NextContinuationToken>"#
    );
    for o in objects {
        let sealed = layout.sealed_len(o.plaintext).unwrap();
        let etag = o.etag.replace('"', "&quot;");
        write!(
            xml,
            "<Contents><Key>{}</Key><LastModified>2026-01-15T10:20:30.000Z</LastModified><ETag>{etag}</ETag><ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm><ChecksumType>FULL_OBJECT</ChecksumType><Size>{sealed}</Size><Owner><ID>0123456789abcdef0123456789abcdef</ID><DisplayName>s3seal</DisplayName></Owner><StorageClass>STANDARD</StorageClass></Contents>",
            o.key
        )
        .unwrap();
    }
    xml.push_str("</ListBucketResult>");
    xml
}

/// An s3seal state over a fresh embedded store in `dir` (no upstream is
/// contacted: every entry is found in the index).
fn state(dir: &std::path::Path) -> AppState {
    let file = dir.join("s3seal.toml");
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
[upstream]
url = "http://127.0.0.1:9"
access_key_id = "GKbench"
secret_access_key = "bench"
[store]
path = "{store}"
[kms]
root_key = "{root}"
[audit]
dir = "{audit}"
[[auth.credentials]]
access_key_id = "S3SEALBENCHKEY000001"
secret_access_key = "bench-secret"
principal = "app"
"#,
        store = dir.join("s3seal.redb").display(),
        root = "11".repeat(32),
        audit = dir.join("audit").display(),
    );
    std::fs::write(&file, toml).unwrap();
    AppState::new(Config::load(Some(&file)).unwrap()).unwrap()
}

fn rewrite(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path());
    let objects = objects();
    for o in &objects {
        let entry = IndexEntry {
            etag: o.etag.clone(),
            plaintext_size: Some(o.plaintext),
        };
        state.index.record(BUCKET, &o.key, &entry);
    }
    let xml = page(&objects).into_bytes();
    let entries: &[&[u8]] = &[b"Contents", b"Version"];
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    // The rewritten page holds the plaintext sizes (so every entry hit the index).
    let rewritten = rt
        .block_on(rewrite_sizes(&xml, entries, |e| {
            resolve_size(&state, BUCKET, true, e)
        }))
        .unwrap();
    let text = String::from_utf8(rewritten.to_vec()).unwrap();
    for o in &objects {
        assert!(text.contains(&format!("<Size>{}</Size>", o.plaintext)));
    }

    let mut group = c.benchmark_group("listing");
    group.throughput(Throughput::Elements(ENTRIES as u64));
    group.bench_function("rewrite_indexed", |b| {
        b.iter(|| {
            rt.block_on(rewrite_sizes(&xml, entries, |e| {
                resolve_size(&state, BUCKET, true, e)
            }))
            .unwrap()
        })
    });
    group.bench_function("rewrite_only", |b| {
        b.iter(|| {
            rt.block_on(rewrite_sizes(&xml, entries, |e| async move { Ok(e.size) }))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(20);
    targets = rewrite
}
criterion_main!(benches);
