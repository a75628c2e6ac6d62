//! What a run does: the operation, the objects, and which object (and which
//! part or range of it) each numbered work item touches.

use std::time::Duration;

use serde::Serialize;

use super::content::ContentSlice;
use super::driver::StopAt;

/// The operations the load generator drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// PutObject of whole objects.
    Put,
    /// GetObject of whole objects, each byte checked.
    Get,
    /// HeadObject, the length checked.
    Head,
    /// GetObject of `--range-size` ranges covering each object, checked.
    RangeGet,
    /// Multipart uploads of `--part-size` parts, parts of all objects in parallel.
    MultipartPut,
    /// KMS GenerateDataKey (AES_256) under `--key-id`.
    KmsGenerateDataKey,
    /// KMS Decrypt of data keys generated beforehand, the plaintext checked.
    KmsDecrypt,
    /// A soak: `--concurrency` clients, each on its own `--objects` keys,
    /// PUT/GET/ranged GET/HEAD/LIST/DELETE at random for `--duration`, sizes
    /// 0 B to `--max-size`, every answer checked (see the soak options).
    Soak,
}

impl Operation {
    pub fn is_kms(self) -> bool {
        matches!(self, Operation::KmsGenerateDataKey | Operation::KmsDecrypt)
    }

    /// Whether the objects must exist before the run (written unmeasured).
    pub fn reads_objects(self) -> bool {
        matches!(self, Operation::Get | Operation::Head | Operation::RangeGet)
    }
}

/// How the payload of a PUT or part is declared in its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PayloadSigning {
    /// `x-amz-content-sha256` is the body's SHA-256, which the server verifies
    /// (what the aws CLI does over plain HTTP).
    Signed,
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
}

/// One run's shape.
#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    pub operation: Operation,
    pub object_size: u64,
    pub objects: u64,
    pub concurrency: usize,
    pub part_size: u64,
    pub range_size: u64,
    pub payload: PayloadSigning,
    pub key_prefix: String,
}

/// The object (and byte span of it) one work item covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub object: u64,
    /// 1-based part number, for multipart uploads.
    pub part_number: u32,
    pub offset: u64,
    pub len: u64,
    /// Which pass over the objects this is: writes of later passes carry
    /// other bytes, so a store that deduplicates cannot skip them.
    pub pass: u64,
}

impl Span {
    /// The identity of the bytes: the object, and for writes, the pass.
    pub fn content_id(&self) -> u64 {
        self.object | (self.pass << 40)
    }

    /// The bytes this span sends or should read.
    pub fn content_slice(&self) -> ContentSlice {
        ContentSlice {
            content_id: self.content_id(),
            offset: self.offset,
            len: self.len,
        }
    }
}

impl Workload {
    pub fn key(&self, object: u64) -> String {
        format!("{}{}-{object:06}", self.key_prefix, self.object_size)
    }

    /// How many pieces (parts or ranges) each object is cut into.
    pub fn pieces_per_object(&self) -> u64 {
        let piece = match self.operation {
            Operation::MultipartPut => self.part_size,
            Operation::RangeGet => self.range_size,
            _ => return 1,
        };
        self.object_size.div_ceil(piece.max(1)).max(1)
    }

    /// What work item `item` touches: items cycle over the objects, and over
    /// the pieces of each object for ranges and parts.
    pub fn span(&self, item: u64) -> Span {
        let pieces = self.pieces_per_object();
        let object = (item / pieces) % self.objects.max(1);
        let piece = item % pieces;
        let piece_size = match self.operation {
            Operation::MultipartPut => self.part_size,
            Operation::RangeGet => self.range_size,
            _ => self.object_size,
        };
        let offset = piece * piece_size;
        let pass = match self.operation {
            Operation::Put | Operation::MultipartPut => item / (pieces * self.objects.max(1)),
            _ => 0,
        };
        Span {
            object,
            part_number: (piece + 1) as u32,
            offset,
            len: piece_size.min(self.object_size.saturating_sub(offset)),
            pass,
        }
    }

    /// When to stop: as asked, else after one pass over every piece of every
    /// object for parts and ranges, else after `default_duration`.
    pub fn stop_at(
        &self,
        operations: Option<u64>,
        duration: Option<Duration>,
        default_duration: Duration,
    ) -> StopAt {
        let one_pass = self.objects * self.pieces_per_object();
        match (self.operation, operations, duration) {
            // A multipart upload is only whole once every part is in.
            (Operation::MultipartPut, _, _) => StopAt {
                operations: Some(one_pass),
                duration: None,
            },
            (_, None, None) if self.operation == Operation::RangeGet => StopAt {
                operations: Some(one_pass),
                duration: None,
            },
            (_, None, None) => StopAt {
                operations: None,
                duration: Some(default_duration),
            },
            (_, operations, duration) => StopAt {
                operations,
                duration,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn workload(operation: Operation, size: u64, objects: u64) -> Workload {
        Workload {
            operation,
            object_size: size,
            objects,
            concurrency: 4,
            part_size: 8 * MIB,
            range_size: 8 * MIB,
            payload: PayloadSigning::Signed,
            key_prefix: "bench/".into(),
        }
    }

    #[test]
    fn parts_cover_each_object_exactly() {
        let w = workload(Operation::MultipartPut, 20 * MIB + 1, 2);
        assert_eq!(w.pieces_per_object(), 3);
        let spans: Vec<Span> = (0..6).map(|i| w.span(i)).collect();
        assert_eq!(
            spans[0],
            Span {
                object: 0,
                part_number: 1,
                offset: 0,
                len: 8 * MIB,
                pass: 0,
            }
        );
        assert_eq!(
            spans[2],
            Span {
                object: 0,
                part_number: 3,
                offset: 16 * MIB,
                len: 4 * MIB + 1,
                pass: 0,
            }
        );
        assert_eq!(spans[3].object, 1);
        assert_eq!(spans[3].part_number, 1);
        let total: u64 = spans.iter().map(|s| s.len).sum();
        assert_eq!(total, 2 * (20 * MIB + 1));
        assert_eq!(
            w.stop_at(Some(1), None, Duration::from_secs(1)).operations,
            Some(6)
        );
    }

    #[test]
    fn whole_object_items_cycle_over_the_objects() {
        let w = workload(Operation::Get, 4096, 3);
        let objects: Vec<u64> = (0..7).map(|i| w.span(i).object).collect();
        assert_eq!(objects, [0, 1, 2, 0, 1, 2, 0]);
        // Reads expect what the first pass of writes wrote ...
        assert!((0..7).all(|i| w.span(i).content_id() == w.span(i).object));
        // ... and each pass of writes writes other bytes.
        let put = workload(Operation::Put, 4096, 3);
        let passes: Vec<u64> = (0..7).map(|i| put.span(i).pass).collect();
        assert_eq!(passes, [0, 0, 0, 1, 1, 1, 2]);
        assert_ne!(put.span(0).content_id(), put.span(3).content_id());
        assert_eq!(w.span(4).len, 4096);
        assert_eq!(w.key(2), "bench/4096-000002");
        let stop = w.stop_at(None, None, Duration::from_secs(3));
        assert_eq!(
            (stop.operations, stop.duration),
            (None, Some(Duration::from_secs(3)))
        );
    }

    #[test]
    fn ranges_read_one_pass_unless_told_otherwise() {
        let w = workload(Operation::RangeGet, 1024 * MIB, 1);
        assert_eq!(w.pieces_per_object(), 128);
        assert_eq!(w.span(127).offset, 1016 * MIB);
        assert_eq!(
            w.stop_at(None, None, Duration::from_secs(1)).operations,
            Some(128)
        );
        let stop = w.stop_at(None, Some(Duration::from_secs(2)), Duration::from_secs(1));
        assert_eq!(stop.operations, None);
    }

    #[test]
    fn empty_objects_are_one_empty_piece() {
        let w = workload(Operation::RangeGet, 0, 1);
        assert_eq!(w.pieces_per_object(), 1);
        assert_eq!(w.span(0).len, 0);
    }
}
