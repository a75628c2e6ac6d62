//! `s3seal bench soak`: a bounded soak test. Many clients run a mixed
//! workload (PUT, GET, ranged GET, HEAD, LIST, DELETE; objects from 0 B to
//! 64 MiB) for a set time, every answer checked, while the server's RSS and
//! open file descriptors are sampled to show whether they stay flat.
//!
//! - [`mix`]: the seeded choice of operation, key, size, range, signing;
//! - [`model`]: what each client expects of its own keys, and the listing check;
//! - [`budget`]: the total bytes written, paced (the store keeps deleted blocks);
//! - [`client`]: one client's loop and the checks of each answer;
//! - [`watch`] and [`flatness`]: sampling the server, and judging the samples;
//! - [`report`]: the result as text and JSON; [`cli`]: the options and one run.
//!
//! `scripts/soak` starts Garage and a release s3seal on loopback and runs it.

pub mod budget;
pub mod cli;
pub mod client;
pub mod flatness;
pub mod mix;
pub mod model;
pub mod report;
pub mod watch;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use self::budget::WriteBudget;
use self::client::{ClientOutcome, SoakClient, SoakShared};
use self::flatness::FlatnessRule;
use self::model::ClientModel;
use self::report::{ResourceReport, SoakReport};
use self::watch::{ProcessWatch, Sampled};
use super::s3_ops::BucketIo;
use crate::upstream::UpstreamClient;

/// The shape of one soak.
#[derive(Debug, Clone)]
pub struct SoakSettings {
    pub endpoint: String,
    pub clients: usize,
    pub keys_per_client: usize,
    pub duration: Duration,
    pub largest_size: u64,
    /// The most bytes PUT in all, paced over the duration.
    pub write_budget: Option<u64>,
    pub seed: u64,
    /// Client `n`'s keys are `<prefix>c<n>/<key number>`.
    pub prefix: String,
    pub watch: Option<WatchSettings>,
}

/// Which process to sample, how often, and what counts as flat.
#[derive(Debug, Clone, Copy)]
pub struct WatchSettings {
    pub pid: u32,
    pub every: Duration,
    pub rule: FlatnessRule,
}

/// Runs the soak against `io`'s bucket (`deleter` signs like `io`'s client).
pub async fn run(io: BucketIo, deleter: UpstreamClient, settings: SoakSettings) -> SoakReport {
    let started = Instant::now();
    let budget = match settings.write_budget {
        Some(total) => WriteBudget::new(total, settings.duration, settings.largest_size),
        None => WriteBudget::unlimited(),
    };
    let shared = Arc::new(SoakShared {
        io,
        deleter,
        largest_size: settings.largest_size,
        budget,
        started,
        deadline: started + settings.duration,
    });
    let (stop_sampling, sampling_stopped) = oneshot::channel();
    let sampling = settings.watch.map(|watch| {
        let process = ProcessWatch { pid: watch.pid };
        tokio::spawn(process.sample_until(started, watch.every, sampling_stopped))
    });

    let mut clients = Vec::with_capacity(settings.clients);
    for number in 0..settings.clients.max(1) as u64 {
        let model = ClientModel::new(number, &settings.prefix, settings.keys_per_client);
        let seed = settings.seed ^ number.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        clients.push(tokio::spawn(
            SoakClient::new(shared.clone(), model, seed).run(),
        ));
    }
    let mut outcome = ClientOutcome::default();
    let mut lost_clients = Vec::new();
    for client in clients {
        match client.await {
            Ok(client_outcome) => outcome.merge(client_outcome),
            Err(err) => lost_clients.push(format!("a client task failed: {err}")),
        }
    }
    let _ = stop_sampling.send(());
    let resources = match (settings.watch, sampling) {
        (Some(watch), Some(sampling)) => {
            let sampled = sampling.await.unwrap_or_else(|err| Sampled {
                samples: Vec::new(),
                error: Some(format!("the sampling task failed: {err}")),
            });
            let peak = ProcessWatch { pid: watch.pid }.peak_rss_kib().ok();
            Some(ResourceReport::new(
                &watch,
                sampled,
                peak,
                settings.duration,
            ))
        }
        _ => None,
    };
    SoakReport::new(
        &settings,
        outcome,
        lost_clients,
        started.elapsed(),
        resources,
    )
}
