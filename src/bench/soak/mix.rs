//! What a soak client does next: the operation, the key, the object size,
//! the range, the payload signing. Everything is drawn from a seeded
//! generator, so a run with the same seed makes the same choices (as long
//! as the write budget, which depends on timing, grants the same PUTs).

use serde::Serialize;

use super::super::content::splitmix64;
use super::super::plan::PayloadSigning;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
/// s3seal seals in segments of this size: object sizes around its multiples
/// are where off-by-one errors would be.
const SEAL_SEGMENT: u64 = 64 * KIB;

/// A reproducible stream of pseudo-random numbers (SplitMix64).
#[derive(Debug, Clone)]
pub struct SeededRng {
    state: u64,
}

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        SeededRng { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        splitmix64(&mut self.state)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high.saturating_sub(low).saturating_add(1))
    }

    /// Picks one item by weight; `None` when every weight is 0.
    pub fn weighted<T: Copy>(&mut self, choices: &[(T, u64)]) -> Option<T> {
        let total: u64 = choices.iter().map(|(_, weight)| weight).sum();
        let mut ticket = self.below(total);
        for &(choice, weight) in choices {
            if ticket < weight {
                return Some(choice);
            }
            ticket -= weight;
        }
        None
    }
}

/// The requests a soak client makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SoakOperation {
    /// PutObject of a whole object, its size from [`draw_size`].
    Put,
    /// GetObject of the whole object, every byte checked (or 404 checked).
    Get,
    /// GetObject of a random range of the object, every byte checked.
    RangeGet,
    /// HeadObject: Content-Length and ETag checked (or 404 checked).
    Head,
    /// ListObjectsV2 of the client's prefix: keys and sizes checked.
    List,
    /// DeleteObject, followed by a GET that must answer 404 NoSuchKey.
    Delete,
}

impl SoakOperation {
    pub const ALL: [SoakOperation; 6] = [
        SoakOperation::Put,
        SoakOperation::Get,
        SoakOperation::RangeGet,
        SoakOperation::Head,
        SoakOperation::List,
        SoakOperation::Delete,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SoakOperation::Put => "put",
            SoakOperation::Get => "get",
            SoakOperation::RangeGet => "range-get",
            SoakOperation::Head => "head",
            SoakOperation::List => "list",
            SoakOperation::Delete => "delete",
        }
    }
}

/// How often each operation is chosen (percent).
pub const OPERATION_WEIGHTS: [(SoakOperation, u64); 6] = [
    (SoakOperation::Put, 30),
    (SoakOperation::Get, 30),
    (SoakOperation::RangeGet, 8),
    (SoakOperation::Head, 14),
    (SoakOperation::List, 8),
    (SoakOperation::Delete, 10),
];

/// The next operation; a PUT only if `put_allowed` (else another one, in
/// the same proportions among themselves).
pub fn choose_operation(rng: &mut SeededRng, put_allowed: bool) -> SoakOperation {
    let weights = OPERATION_WEIGHTS.map(|(operation, weight)| {
        let allowed = put_allowed || operation != SoakOperation::Put;
        (operation, if allowed { weight } else { 0 })
    });
    rng.weighted(&weights).unwrap_or(SoakOperation::Get)
}

/// A class of object sizes, chosen by weight, then a size within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeClass {
    Empty,
    /// 1 B to 64 KiB.
    Small,
    /// A multiple of the 64 KiB seal segment (1 to 16 of them), minus one,
    /// exact, or plus one.
    SegmentEdge,
    /// 64 KiB to 1 MiB.
    Medium,
    /// 1 MiB to 8 MiB.
    Large,
    /// Exactly the largest size (64 MiB by default).
    Largest,
}

/// How often each size class is drawn (percent): mostly small, some 1 to
/// 8 MiB, rarely the largest. The mean is about 1.6 MiB with a 64 MiB largest.
pub const SIZE_WEIGHTS: [(SizeClass, u64); 6] = [
    (SizeClass::Empty, 4),
    (SizeClass::Small, 50),
    (SizeClass::SegmentEdge, 8),
    (SizeClass::Medium, 20),
    (SizeClass::Large, 17),
    (SizeClass::Largest, 1),
];

/// The size of the next PUT, at most `largest`.
pub fn draw_size(rng: &mut SeededRng, largest: u64) -> u64 {
    let class = rng.weighted(&SIZE_WEIGHTS).unwrap_or(SizeClass::Small);
    let size = match class {
        SizeClass::Empty => 0,
        SizeClass::Small => rng.between(1, 64 * KIB),
        SizeClass::SegmentEdge => {
            let segments = rng.between(1, 16);
            (segments * SEAL_SEGMENT + rng.below(3)).saturating_sub(1)
        }
        SizeClass::Medium => rng.between(64 * KIB, MIB),
        SizeClass::Large => rng.between(MIB, 8 * MIB),
        SizeClass::Largest => largest,
    };
    size.min(largest)
}

/// A range (first and last byte) within an object of `len` bytes; `None`
/// for an empty object, which has no ranges.
pub fn choose_range(rng: &mut SeededRng, len: u64) -> Option<(u64, u64)> {
    if len == 0 {
        return None;
    }
    let first = rng.below(len);
    let last = rng.between(first, len - 1);
    Some((first, last))
}

/// Signed (SHA-256 verified by the server) or `UNSIGNED-PAYLOAD`, half and half.
pub fn choose_payload(rng: &mut SeededRng) -> PayloadSigning {
    if rng.below(2) == 0 {
        PayloadSigning::Signed
    } else {
        PayloadSigning::Unsigned
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn the_same_seed_makes_the_same_choices() {
        let draw = |seed| {
            let mut rng = SeededRng::new(seed);
            (0..50)
                .map(|_| {
                    (
                        choose_operation(&mut rng, true),
                        draw_size(&mut rng, 64 * MIB),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn operations_follow_their_weights_and_puts_can_be_held_back() {
        let mut rng = SeededRng::new(1);
        let mut counts: HashMap<SoakOperation, u64> = HashMap::new();
        for _ in 0..100_000 {
            *counts.entry(choose_operation(&mut rng, true)).or_default() += 1;
        }
        for (operation, weight) in OPERATION_WEIGHTS {
            let share = counts[&operation] as f64 / 1000.0;
            assert!(
                (share - weight as f64).abs() < 1.0,
                "{operation:?}: {share}% for weight {weight}"
            );
        }
        let without_puts: Vec<SoakOperation> = (0..10_000)
            .map(|_| choose_operation(&mut rng, false))
            .collect();
        assert!(!without_puts.contains(&SoakOperation::Put));
        assert!(without_puts.contains(&SoakOperation::Delete));
    }

    #[test]
    fn sizes_span_empty_to_the_largest_mostly_small() {
        let mut rng = SeededRng::new(2);
        let sizes: Vec<u64> = (0..100_000)
            .map(|_| draw_size(&mut rng, 64 * MIB))
            .collect();
        let share = |f: &dyn Fn(u64) -> bool| {
            sizes.iter().filter(|&&s| f(s)).count() as f64 / sizes.len() as f64
        };
        assert!(sizes.iter().all(|&s| s <= 64 * MIB));
        assert!((share(&|s| s == 0) - 0.04).abs() < 0.01);
        assert!(share(&|s| s <= 64 * KIB) > 0.5);
        assert!(share(&|s| s <= MIB) > 0.8);
        assert!((share(&|s| s > MIB && s <= 8 * MIB) - 0.17).abs() < 0.02);
        assert!((share(&|s| s == 64 * MIB) - 0.01).abs() < 0.003);
        // Sizes around the seal segments, on both sides.
        for edge in [SEAL_SEGMENT - 1, SEAL_SEGMENT, SEAL_SEGMENT + 1] {
            assert!(sizes.contains(&edge), "{edge}");
        }
        let mean = sizes.iter().sum::<u64>() as f64 / sizes.len() as f64 / MIB as f64;
        assert!((1.3..1.9).contains(&mean), "mean {mean} MiB");
    }

    #[test]
    fn a_smaller_largest_caps_every_size() {
        let mut rng = SeededRng::new(3);
        let sizes: Vec<u64> = (0..10_000)
            .map(|_| draw_size(&mut rng, 100 * KIB))
            .collect();
        assert!(sizes.iter().all(|&s| s <= 100 * KIB));
        assert!(sizes.contains(&(100 * KIB)));
        assert!(sizes.contains(&0));
    }

    #[test]
    fn ranges_stay_within_the_object() {
        let mut rng = SeededRng::new(4);
        assert_eq!(choose_range(&mut rng, 0), None);
        assert_eq!(choose_range(&mut rng, 1), Some((0, 0)));
        for _ in 0..10_000 {
            let len = rng.between(1, 3 * MIB);
            let (first, last) = choose_range(&mut rng, len).unwrap();
            assert!(first <= last && last < len, "{first}-{last} of {len}");
        }
    }

    #[test]
    fn both_payload_signings_are_used() {
        let mut rng = SeededRng::new(5);
        let signed = (0..1000)
            .filter(|_| choose_payload(&mut rng) == PayloadSigning::Signed)
            .count();
        assert!((400..600).contains(&signed), "{signed}");
    }

    #[test]
    fn weighted_choice_skips_zero_weights() {
        let mut rng = SeededRng::new(6);
        assert_eq!(rng.weighted::<u8>(&[(1, 0), (2, 0)]), None);
        assert!((0..100).all(|_| rng.weighted(&[(1, 0), (2, 5)]) == Some(2)));
        assert_eq!(rng.between(3, 3), 3);
        assert_eq!(rng.below(0), 0);
    }
}
