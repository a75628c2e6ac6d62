//! `s3seal verify`: reads every object, or a random sample, through s3seal
//! to its end. A sealed object that fails to decrypt or authenticate ends
//! its body with an error; one that is cut short delivers fewer bytes than
//! its Content-Length. Plaintext objects are reported too.

use std::sync::Arc;

use http_body_util::BodyExt;

use super::ToolError;
use super::client::{ListedObject, S3Client};
use super::report::{Outcome, Wording};
use super::scan::{Listing, ObjectTask};

pub const WORDING: Wording = Wording {
    command: "verify",
    done: "verified",
    plaintext: "still plaintext",
};

/// Which objects to read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Selection {
    All,
    /// A uniform random sample of this many objects (reservoir sampling).
    Sample(usize),
    /// Each object with this probability.
    Fraction(f64),
}

pub struct Verifier {
    client: Arc<S3Client>,
    bucket: String,
    /// Count plaintext objects as failures.
    require_sealed: bool,
}

impl ObjectTask for Verifier {
    async fn process(&self, object: ListedObject) -> Outcome {
        match self.verify(&object.key).await {
            Ok(outcome) => outcome,
            Err(ToolError::Status { status: 404, .. }) => Outcome::Vanished,
            Err(err) => Outcome::Failed(err.to_string()),
        }
    }
}

impl Verifier {
    pub fn new(client: Arc<S3Client>, bucket: String, require_sealed: bool) -> Self {
        Verifier {
            client,
            bucket,
            require_sealed,
        }
    }

    async fn verify(&self, key: &str) -> Result<Outcome, ToolError> {
        let response = self.client.get(&self.bucket, key, None, None).await?;
        let sealed = response
            .headers()
            .contains_key("x-amz-server-side-encryption");
        let expected = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let mut body = response.into_body();
        let mut read = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                ToolError::Body(format!(
                    "the read failed after {read} bytes (decryption or verification error): {}",
                    crate::upstream::error_chain(e.as_ref())
                ))
            })?;
            read += frame.data_ref().map_or(0, |d| d.len() as u64);
        }
        if let Some(expected) = expected.filter(|&e| e != read) {
            return Err(ToolError::Body(format!(
                "truncated: {read} of {expected} bytes"
            )));
        }
        Ok(match (sealed, self.require_sealed) {
            (true, _) => Outcome::Done { bytes: read },
            (false, false) => Outcome::Plaintext,
            (false, true) => Outcome::Failed("still plaintext".into()),
        })
    }
}

/// Objects of `inner` kept with probability `fraction`.
pub struct FractionListing<L> {
    inner: L,
    fraction: f64,
    random: Random,
}

impl<L: Listing> FractionListing<L> {
    pub fn new(inner: L, fraction: f64) -> Self {
        FractionListing {
            inner,
            fraction,
            random: Random::seeded(),
        }
    }
}

impl<L: Listing> Listing for FractionListing<L> {
    async fn next_page(&mut self) -> Result<Option<Vec<ListedObject>>, ToolError> {
        let Some(page) = self.inner.next_page().await? else {
            return Ok(None);
        };
        Ok(Some(
            page.into_iter()
                .filter(|_| self.random.unit() < self.fraction)
                .collect(),
        ))
    }
}

/// A uniform sample of `size` objects of `inner`: the whole listing is read
/// first, keeping only the sample in memory.
pub async fn sample<L: Listing>(mut inner: L, size: usize) -> Result<FixedListing, ToolError> {
    let mut random = Random::seeded();
    let mut reservoir = Vec::with_capacity(size);
    let mut seen = 0u64;
    while let Some(page) = inner.next_page().await? {
        for object in page {
            seen += 1;
            if reservoir.len() < size {
                reservoir.push(object);
            } else if let Some(slot) = random.below(seen).filter(|&i| (i as usize) < size) {
                reservoir[slot as usize] = object;
            }
        }
    }
    // Listing order (key order) again, as the rest of the tools expect.
    reservoir.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(FixedListing(Some(reservoir)))
}

/// A listing already in memory: one page.
pub struct FixedListing(Option<Vec<ListedObject>>);

impl Listing for FixedListing {
    async fn next_page(&mut self) -> Result<Option<Vec<ListedObject>>, ToolError> {
        Ok(self.0.take())
    }
}

/// xorshift64*: enough to pick a sample, no need for a cryptographic source.
struct Random(u64);

impl Random {
    fn seeded() -> Self {
        let mut seed = [0u8; 8];
        // A fixed seed still samples; only the choice becomes predictable.
        let _ = getrandom::fill(&mut seed);
        Random(u64::from_le_bytes(seed) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// In [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// In [0, n), `None` for n = 0.
    fn below(&mut self, n: u64) -> Option<u64> {
        (n > 0).then(|| self.next() % n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pages(Vec<Vec<ListedObject>>);

    impl Listing for Pages {
        async fn next_page(&mut self) -> Result<Option<Vec<ListedObject>>, ToolError> {
            Ok((!self.0.is_empty()).then(|| self.0.remove(0)))
        }
    }

    fn objects(range: std::ops::Range<u32>) -> Vec<ListedObject> {
        range
            .map(|i| ListedObject {
                key: format!("k{i:04}"),
                size: 1,
            })
            .collect()
    }

    #[tokio::test]
    async fn samples_are_distinct_sorted_and_of_the_asked_size() {
        let pages = Pages(vec![objects(0..500), objects(500..1000)]);
        let mut fixed = sample(pages, 20).await.unwrap();
        let picked = fixed.next_page().await.unwrap().unwrap();
        assert_eq!(picked.len(), 20);
        assert!(picked.windows(2).all(|w| w[0].key < w[1].key));
        assert!(fixed.next_page().await.unwrap().is_none());
        let small = sample(Pages(vec![objects(0..3)]), 20).await.unwrap();
        assert_eq!(small.0.map(|v| v.len()), Some(3));
    }

    #[tokio::test]
    async fn fractions_keep_about_that_share() {
        let mut listing = FractionListing::new(Pages(vec![objects(0..10_000)]), 0.25);
        let kept = listing.next_page().await.unwrap().unwrap().len();
        assert!((2000..3000).contains(&kept), "{kept}");
        let mut none = FractionListing::new(Pages(vec![objects(0..100)]), 0.0);
        assert!(none.next_page().await.unwrap().unwrap().is_empty());
    }
}
