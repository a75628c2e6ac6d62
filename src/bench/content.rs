//! The bytes the load generator writes, and the check of what it reads back.
//!
//! Every object is a sequence of [`PATTERN_LEN`]-byte pieces, each a
//! rotation of one pseudo-random pattern by an offset derived from the seed,
//! the object's index and the piece's index. So bodies cost no CPU to
//! produce (frames are slices of one shared buffer, never copies), a GET can
//! be checked byte for byte without keeping what was written, and an object
//! served under another object's name is caught. Pieces differ from each
//! other, so a store that deduplicates fixed-size blocks (Garage does, by
//! 1 MiB block hash) stores and hashes as much as it would for real data:
//! with one repeating window, it stored one block per object and looked
//! twice as fast as it is. Two processes with the same seed agree on every
//! object, so `get` can read what an earlier `put` run wrote.
//!
//! Signed payloads need each body's SHA-256. [`ObjectContent::sha256_hex`]
//! keeps each one it computed: a run that writes the same objects again
//! hashes each body once, so the client's own hashing does not distort what
//! is measured. A run that writes every content once (the soak) keeps none
//! ([`ObjectContent::each_written_once`]), so its memory does not grow.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::StreamBody;
use sha2::{Digest, Sha256};

use crate::body::{self, ProxyBody};

/// Length of the pattern and of each piece (and the largest frame a body yields).
pub const PATTERN_LEN: usize = 1 << 20;

/// Bytes `offset..offset + len` of the content `content_id`: what a PUT or
/// part sends, or what a GET should read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentSlice {
    pub content_id: u64,
    pub offset: u64,
    pub len: u64,
}

/// The deterministic content of every object of a run.
pub struct ObjectContent {
    /// The pattern twice over, so any window of up to `PATTERN_LEN` bytes is
    /// one contiguous slice.
    doubled: Bytes,
    seed: u64,
    hashes: Mutex<HashMap<(u64, u64, u64), String>>,
    keep_hashes: bool,
}

impl ObjectContent {
    pub fn new(seed: u64) -> Self {
        Self::with_hash_cache(seed, true)
    }

    /// For runs that write each content id once: body hashes are not kept.
    pub fn each_written_once(seed: u64) -> Self {
        Self::with_hash_cache(seed, false)
    }

    fn with_hash_cache(seed: u64, keep_hashes: bool) -> Self {
        let mut pattern = Vec::with_capacity(2 * PATTERN_LEN);
        let mut state = seed;
        while pattern.len() < PATTERN_LEN {
            pattern.extend_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        pattern.extend_from_within(..PATTERN_LEN);
        ObjectContent {
            doubled: Bytes::from(pattern),
            seed,
            hashes: Mutex::new(HashMap::new()),
            keep_hashes,
        }
    }

    /// Where piece `piece` of object `index` starts in the pattern.
    fn piece_start(&self, index: u64, piece: u64) -> usize {
        let mut state = self.seed
            ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ piece.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        (splitmix64(&mut state) % PATTERN_LEN as u64) as usize
    }

    /// Position in the pattern of byte `offset` of object `index`, and how
    /// many bytes from there on are the same piece.
    fn pattern_position(&self, index: u64, offset: u64) -> (usize, usize) {
        let piece = offset / PATTERN_LEN as u64;
        let within = (offset % PATTERN_LEN as u64) as usize;
        let at = (self.piece_start(index, piece) + within) % PATTERN_LEN;
        (at, PATTERN_LEN - within)
    }

    /// Bytes `offset..offset + len` of object `index`, as frames of at most
    /// [`PATTERN_LEN`] bytes that share the pattern's buffer.
    pub fn frames(&self, index: u64, offset: u64, len: u64) -> Vec<Bytes> {
        let mut frames = Vec::with_capacity((len / PATTERN_LEN as u64 + 1) as usize);
        let mut done = 0u64;
        while done < len {
            let (at, piece_left) = self.pattern_position(index, offset + done);
            let take = (len - done).min(piece_left as u64) as usize;
            frames.push(self.doubled.slice(at..at + take));
            done += take as u64;
        }
        frames
    }

    /// A streaming request body of bytes `offset..offset + len` of object `index`.
    pub fn body(&self, index: u64, offset: u64, len: u64) -> ProxyBody {
        let frames = self.frames(index, offset, len);
        let stream = futures_util::stream::iter(
            frames
                .into_iter()
                .map(|frame| Ok::<_, std::convert::Infallible>(Frame::data(frame))),
        );
        body::boxed(StreamBody::new(stream))
    }

    /// The hex SHA-256 of bytes `offset..offset + len` of object `index`,
    /// computed once (unless the hashes are not kept).
    pub fn sha256_hex(&self, index: u64, offset: u64, len: u64) -> String {
        let key = (index, offset, len);
        if let Some(hash) = self.lock_hashes().get(&key) {
            return hash.clone();
        }
        let mut hasher = Sha256::new();
        for frame in self.frames(index, offset, len) {
            hasher.update(&frame);
        }
        let hash = hex::encode(hasher.finalize());
        if self.keep_hashes {
            self.lock_hashes().insert(key, hash.clone());
        }
        hash
    }

    fn lock_hashes(&self) -> std::sync::MutexGuard<'_, HashMap<(u64, u64, u64), String>> {
        // A panic while holding the lock leaves a valid map: keep using it.
        self.hashes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A checker for a body that should hold object `index` from `offset` on.
    pub fn checker(&self, index: u64, offset: u64) -> ContentChecker<'_> {
        ContentChecker {
            content: self,
            index,
            offset,
            position: 0,
        }
    }
}

/// Compares a body, chunk by chunk, with the bytes it should hold.
pub struct ContentChecker<'a> {
    content: &'a ObjectContent,
    index: u64,
    offset: u64,
    position: u64,
}

impl ContentChecker<'_> {
    /// Checks the next `chunk`; on a difference, the object offset of its first byte.
    pub fn check(&mut self, chunk: &[u8]) -> Result<(), u64> {
        let mut rest = chunk;
        while !rest.is_empty() {
            let (at, piece_left) = self
                .content
                .pattern_position(self.index, self.offset + self.position);
            let take = rest.len().min(piece_left);
            let expected = &self.content.doubled[at..at + take];
            if expected != &rest[..take] {
                let first = expected
                    .iter()
                    .zip(&rest[..take])
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                return Err(self.offset + self.position + first as u64);
            }
            self.position += take as u64;
            rest = &rest[take..];
        }
        Ok(())
    }

    /// Bytes checked so far.
    pub fn checked(&self) -> u64 {
        self.position
    }
}

/// SplitMix64: a tiny, well-known generator, enough for filler bytes (the
/// pattern needs to be varied and reproducible, not secret) and for the
/// soak's choices.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concat(frames: Vec<Bytes>) -> Vec<u8> {
        frames.iter().flat_map(|f| f.iter().copied()).collect()
    }

    #[test]
    fn same_seed_same_bytes_other_object_other_bytes() {
        let a = ObjectContent::new(7);
        let b = ObjectContent::new(7);
        assert_eq!(concat(a.frames(3, 0, 5000)), concat(b.frames(3, 0, 5000)));
        assert_ne!(concat(a.frames(3, 0, 5000)), concat(a.frames(4, 0, 5000)));
        assert_ne!(
            concat(a.frames(3, 0, 5000)),
            concat(ObjectContent::new(8).frames(3, 0, 5000))
        );
    }

    #[test]
    fn a_range_is_the_matching_slice_of_the_whole() {
        let content = ObjectContent::new(1);
        let len = 3 * PATTERN_LEN as u64 + 123;
        let whole = concat(content.frames(9, 0, len));
        assert_eq!(whole.len() as u64, len);
        assert!(
            content
                .frames(9, 0, len)
                .iter()
                .all(|f| f.len() <= PATTERN_LEN)
        );
        let (first, count) = (PATTERN_LEN as u64 - 5, PATTERN_LEN as u64 + 10);
        let range = concat(content.frames(9, first, count));
        assert_eq!(range, whole[first as usize..(first + count) as usize]);
    }

    #[test]
    fn the_checker_accepts_the_content_and_names_the_first_wrong_byte() {
        let content = ObjectContent::new(2);
        let mut body = concat(content.frames(5, 100, 70_000));
        let mut checker = content.checker(5, 100);
        for chunk in body.chunks(4096) {
            assert_eq!(checker.check(chunk), Ok(()));
        }
        assert_eq!(checker.checked(), 70_000);
        body[50_000] ^= 1;
        let mut checker = content.checker(5, 100);
        let result = body.chunks(333).try_for_each(|c| checker.check(c));
        assert_eq!(result, Err(100 + 50_000));
        // Another object's bytes are not this object's.
        let other = concat(content.frames(6, 100, 4096));
        assert!(content.checker(5, 100).check(&other).is_err());
    }

    #[test]
    fn no_two_pieces_are_alike() {
        let content = ObjectContent::new(4);
        let pieces: std::collections::HashSet<Vec<u8>> = (0..2)
            .flat_map(|object| content.frames(object, 0, 64 * PATTERN_LEN as u64))
            .map(|frame| frame.to_vec())
            .collect();
        assert_eq!(pieces.len(), 128);
    }

    #[test]
    fn hashes_match_the_body_and_are_cached() {
        let content = ObjectContent::new(3);
        let body = concat(content.frames(1, 0, 10_000));
        assert_eq!(
            content.sha256_hex(1, 0, 10_000),
            hex::encode(Sha256::digest(&body))
        );
        assert_eq!(content.lock_hashes().len(), 1);
        content.sha256_hex(1, 0, 10_000);
        assert_eq!(content.lock_hashes().len(), 1);
        let once = ObjectContent::each_written_once(3);
        assert_eq!(
            once.sha256_hex(1, 0, 10_000),
            content.sha256_hex(1, 0, 10_000)
        );
        assert!(once.lock_hashes().is_empty());
    }
}
