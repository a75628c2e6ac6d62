//! The `Range` request header as S3 applies it: one byte range, RFC 9110 syntax.
//!
//! S3 serves a single range. A header it cannot parse, or one listing several
//! ranges, is ignored (the whole object is returned); a syntactically valid
//! range that starts at or beyond the end of the object is `416 InvalidRange`.

/// A parsed `bytes=` range, before it is applied to an object size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=first-last` or `bytes=first-`.
    FromTo { first: u64, last: Option<u64> },
    /// `bytes=-n`: the last `n` bytes.
    Suffix(u64),
}

/// An inclusive range of bytes that exists in the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SatisfiedRange {
    pub first: u64,
    pub last: u64,
}

impl SatisfiedRange {
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The `Content-Range` response value.
    pub fn content_range(&self, total: u64) -> String {
        format!("bytes {}-{}/{total}", self.first, self.last)
    }
}

impl ByteRange {
    /// Parses a `Range` header value; `None` means "ignore it, serve everything".
    pub fn parse(value: &str) -> Option<ByteRange> {
        let spec = value.trim().strip_prefix("bytes=")?.trim();
        if spec.contains(',') {
            return None;
        }
        let (first, last) = spec.split_once('-')?;
        let (first, last) = (first.trim(), last.trim());
        let number = |s: &str| -> Option<u64> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        if first.is_empty() {
            return Some(ByteRange::Suffix(number(last)?));
        }
        let first = number(first)?;
        let last = if last.is_empty() {
            None
        } else {
            Some(number(last)?)
        };
        if matches!(last, Some(l) if l < first) {
            return None;
        }
        Some(ByteRange::FromTo { first, last })
    }

    /// Applies the range to an object of `size` bytes; `None` if unsatisfiable.
    pub fn satisfy(self, size: u64) -> Option<SatisfiedRange> {
        match self {
            ByteRange::FromTo { first, last } => {
                if first >= size {
                    return None;
                }
                let last = last.map_or(size - 1, |l| l.min(size - 1));
                Some(SatisfiedRange { first, last })
            }
            ByteRange::Suffix(n) => {
                if n == 0 || size == 0 {
                    return None;
                }
                Some(SatisfiedRange {
                    first: size.saturating_sub(n),
                    last: size - 1,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parsing() {
        assert_eq!(
            ByteRange::parse("bytes=0-9"),
            Some(ByteRange::FromTo {
                first: 0,
                last: Some(9)
            })
        );
        assert_eq!(
            ByteRange::parse("bytes=5-"),
            Some(ByteRange::FromTo {
                first: 5,
                last: None
            })
        );
        assert_eq!(ByteRange::parse("bytes=-3"), Some(ByteRange::Suffix(3)));
        assert_eq!(
            ByteRange::parse(" bytes= 1 - 2 "),
            Some(ByteRange::FromTo {
                first: 1,
                last: Some(2)
            })
        );
        for ignored in [
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=9-1",
            "bytes=-",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=1",
        ] {
            assert_eq!(ByteRange::parse(ignored), None, "{ignored}");
        }
    }

    #[test]
    fn satisfying() {
        let r = |s| ByteRange::parse(s).unwrap();
        assert_eq!(
            r("bytes=0-9").satisfy(5),
            Some(SatisfiedRange { first: 0, last: 4 })
        );
        assert_eq!(r("bytes=5-").satisfy(5), None);
        assert_eq!(
            r("bytes=-10").satisfy(5),
            Some(SatisfiedRange { first: 0, last: 4 })
        );
        assert_eq!(r("bytes=-0").satisfy(5), None);
        assert_eq!(r("bytes=0-0").satisfy(0), None);
        assert_eq!(r("bytes=-1").satisfy(0), None);
        assert_eq!(
            r("bytes=2-3").satisfy(10).unwrap().content_range(10),
            "bytes 2-3/10"
        );
    }

    proptest! {
        #[test]
        fn satisfied_ranges_lie_inside_the_object(first in 0u64..1000, len in 0u64..1000, size in 0u64..1000, suffix in any::<bool>()) {
            let range = if suffix { ByteRange::Suffix(len) } else { ByteRange::FromTo { first, last: Some(first + len) } };
            if let Some(s) = range.satisfy(size) {
                prop_assert!(s.first <= s.last && s.last < size);
            }
        }

        #[test]
        fn parser_never_panics(value in "\\PC{0,40}") {
            let _ = ByteRange::parse(&value);
        }
    }
}
