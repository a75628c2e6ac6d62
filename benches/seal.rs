//! Seal and unseal throughput per segment size.
//!
//! Every object byte s3seal stores or serves goes through these paths, so
//! they bound a single core's share of PUT and GET bandwidth. Two groups:
//!
//! - `seal_body` / `unseal_body`: a 4 MiB object through [`SealingBody`] and
//!   [`UnsealingBody`], fed in 1 MiB frames and drained to the end, as a
//!   request pays it: the stream key derivation (HKDF), one AES-256-GCM call
//!   per segment, the copies into segment buffers, the plaintext checksum
//!   (CRC64NVME) and the sealed checksum record.
//! - `seal_segment` / `open_segment`: the bare AEAD call on one segment,
//!   the ceiling the bodies can approach; the gap between the two groups is
//!   the streaming overhead.
//!
//! The format allows segments of 2^12 to 2^24 bytes (s3seal writes 2^16);
//! small segments pay the per-call AEAD cost (nonce set-up, GHASH
//! finalisation, the tag) more often.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http_body::{Body, Frame};
use http_body_util::StreamBody;
use s3seal::body::FailureSlot;
use s3seal::kms::DataKey;
use s3seal::seal::segment::StreamCipher;
use s3seal::seal::{ReadPlan, SealingBody, StreamChecksum, StreamHeader, UnsealingBody};

/// Plaintext bytes per body benchmark: a few MiB, several frames.
const OBJECT_LEN: usize = 4 << 20;
/// Frame size of the bodies fed to the adapters.
const FRAME_LEN: usize = 1 << 20;
/// Segment sizes: the format's extremes, s3seal's default (16) and steps between.
const SEGMENT_LOG2: [u8; 6] = [12, 14, 16, 18, 20, 24];

type Frames =
    StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// `data` as a body of `FRAME_LEN` frames (slices of one buffer: no copies).
fn frames(data: &Bytes) -> Frames {
    let chunks: Vec<_> = (0..data.len())
        .step_by(FRAME_LEN)
        .map(|at| {
            Ok(Frame::data(
                data.slice(at..(at + FRAME_LEN).min(data.len())),
            ))
        })
        .collect();
    StreamBody::new(futures_util::stream::iter(chunks))
}

/// Polls `body` to its end, handing each data frame to `each`, as hyper
/// does when it sends a body. In-memory bodies never wait.
fn drain<B>(mut body: B, mut each: impl FnMut(Bytes))
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    each(data);
                }
            }
            Poll::Ready(Some(Err(err))) => panic!("body failed: {err:?}"),
            Poll::Ready(None) => return,
            Poll::Pending => panic!("an in-memory body waited"),
        }
    }
}

/// The whole output of `body` (set-up only; timed runs drop the frames).
fn collect<B>(body: B) -> Bytes
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    let mut out = BytesMut::new();
    drain(body, |data| out.extend_from_slice(&data));
    out.freeze()
}

fn sealing_body(key: &DataKey, plaintext: &Bytes, log2: u8) -> SealingBody<Frames> {
    let header = StreamHeader::new(log2, 0, plaintext.len() as u64).unwrap();
    SealingBody::new(
        frames(plaintext),
        key,
        header,
        StreamChecksum::full_object(None),
        FailureSlot::default(),
    )
    .unwrap()
}

fn plaintext(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0])
        .collect()
}

fn bodies(c: &mut Criterion) {
    let key = DataKey::generate().unwrap();
    let data = plaintext(OBJECT_LEN);
    let mut seal = c.benchmark_group("seal_body");
    seal.throughput(Throughput::Bytes(OBJECT_LEN as u64));
    for log2 in SEGMENT_LOG2 {
        seal.bench_with_input(
            BenchmarkId::from_parameter(1u64 << log2),
            &log2,
            |b, &log2| b.iter(|| drain(sealing_body(&key, &data, log2), drop)),
        );
    }
    seal.finish();

    let mut unseal = c.benchmark_group("unseal_body");
    unseal.throughput(Throughput::Bytes(OBJECT_LEN as u64));
    for log2 in SEGMENT_LOG2 {
        let sealed = collect(sealing_body(&key, &data, log2));
        let plan = ReadPlan::whole_single_stream(0, OBJECT_LEN as u64);
        let opened = collect(UnsealingBody::new(
            frames(&sealed),
            key.clone(),
            plan.clone(),
        ));
        assert_eq!(opened, data, "the sealed object round-trips");
        unseal.bench_with_input(
            BenchmarkId::from_parameter(1u64 << log2),
            &sealed,
            |b, sealed| {
                b.iter(|| {
                    drain(
                        UnsealingBody::new(frames(sealed), key.clone(), plan.clone()),
                        drop,
                    )
                })
            },
        );
    }
    unseal.finish();
}

fn segments(c: &mut Criterion) {
    let key = DataKey::generate().unwrap();
    let mut seal = c.benchmark_group("seal_segment");
    for log2 in SEGMENT_LOG2 {
        let len = 1usize << log2;
        let header = StreamHeader::new(log2, 0, len as u64).unwrap();
        let cipher = StreamCipher::new(&key, &header).unwrap();
        let mut buf = BytesMut::from(&plaintext(len)[..]);
        seal.throughput(Throughput::Bytes(len as u64));
        seal.bench_function(BenchmarkId::from_parameter(len), |b| {
            b.iter(|| {
                cipher.seal_segment(0, &mut buf).unwrap();
                buf.truncate(len);
            })
        });
    }
    seal.finish();

    let mut open = c.benchmark_group("open_segment");
    for log2 in SEGMENT_LOG2 {
        let len = 1usize << log2;
        let header = StreamHeader::new(log2, 0, len as u64).unwrap();
        let cipher = StreamCipher::new(&key, &header).unwrap();
        let mut sealed = BytesMut::from(&plaintext(len)[..]);
        cipher.seal_segment(0, &mut sealed).unwrap();
        // The copy of the sealed segment is made, untimed, right before each
        // call, so it is as hot in cache as a segment the unsealing body has
        // just assembled (batched copies would be read back from memory).
        open.throughput(Throughput::Bytes(len as u64));
        open.bench_function(BenchmarkId::from_parameter(len), |b| {
            b.iter_batched_ref(
                || sealed.clone(),
                |buf| cipher.open_segment(0, buf).unwrap(),
                BatchSize::PerIteration,
            )
        });
    }
    open.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = bodies, segments
}
criterion_main!(benches);
