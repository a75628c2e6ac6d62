//! The `s3://bucket[/prefix]` argument of the tools.

use super::ToolError;

/// A bucket and an optional key prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    /// Empty for the whole bucket.
    pub prefix: String,
}

impl S3Url {
    pub fn parse(url: &str) -> Result<Self, ToolError> {
        let usage = || ToolError::Usage(format!("{url:?} is not of the form s3://bucket[/prefix]"));
        let rest = url.strip_prefix("s3://").ok_or_else(usage)?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() || bucket.contains(|c: char| c.is_whitespace()) {
            return Err(usage());
        }
        Ok(S3Url {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// A short name usable in a file name: `bucket` or `bucket-prefix`.
    pub fn file_stem(&self) -> String {
        let name = if self.prefix.is_empty() {
            self.bucket.clone()
        } else {
            format!("{}-{}", self.bucket, self.prefix)
        };
        name.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bucket_and_prefix() {
        let u = S3Url::parse("s3://b").unwrap();
        assert_eq!((u.bucket.as_str(), u.prefix.as_str()), ("b", ""));
        let u = S3Url::parse("s3://b/").unwrap();
        assert_eq!(u.prefix, "");
        let u = S3Url::parse("s3://b/logs/2024/").unwrap();
        assert_eq!((u.bucket.as_str(), u.prefix.as_str()), ("b", "logs/2024/"));
        assert_eq!(u.file_stem(), "b-logs_2024_");
        for bad in ["b", "s3://", "s3:///k", "http://b/k", "s3://a b/k"] {
            assert!(S3Url::parse(bad).is_err(), "{bad}");
        }
    }
}
