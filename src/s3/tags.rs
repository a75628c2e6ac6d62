//! Object tags: reading an object's tags from the upstream, for policies that
//! condition on `s3:ExistingObjectTag/<key>`, and parsing `Tagging` documents.

use std::collections::HashMap;

use http::Method;
use serde::Deserialize;

use crate::state::AppState;
use crate::upstream::UpstreamRequest;

#[derive(Debug, Deserialize)]
struct Tagging {
    #[serde(rename = "TagSet")]
    tag_set: TagSet,
}

#[derive(Debug, Deserialize)]
struct TagSet {
    #[serde(rename = "Tag", default)]
    tags: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
struct Tag {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Value")]
    value: String,
}

/// The object's tags; empty if it has none, does not exist, or the upstream
/// does not support tagging (Garage), so tag conditions see no tags.
pub async fn object_tags(state: &AppState, bucket: &str, key: &str) -> HashMap<String, String> {
    let request = UpstreamRequest::bodyless(
        Method::GET,
        Some(bucket.to_string()),
        Some(key.to_string()),
        vec![("tagging".to_string(), String::new())],
    );
    let Ok(response) = state.upstream.send(request).await else {
        return HashMap::new();
    };
    if !response.status().is_success() {
        return HashMap::new();
    }
    let Ok(xml) = super::upstream_response::collect_limited(response.into_body(), 64 * 1024).await
    else {
        return HashMap::new();
    };
    parse_tags(&xml)
}

fn parse_tags(xml: &[u8]) -> HashMap<String, String> {
    parse_tagging(xml)
        .map(|tags| tags.into_iter().collect())
        .unwrap_or_default()
}

/// A `<Tagging><TagSet><Tag><Key>…</Key><Value>…</Value></Tag>…` document's
/// tags, in document order (also the form of a POST upload's `tagging` field).
pub fn parse_tagging(xml: &[u8]) -> Result<Vec<(String, String)>, quick_xml::DeError> {
    let tagging = super::xml::parse_xml::<Tagging>(xml)?;
    Ok(tagging
        .tag_set
        .tags
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_parse() {
        let tags = parse_tags(br#"<Tagging><TagSet><Tag><Key>team</Key><Value>pay</Value></Tag><Tag><Key>env</Key><Value>prod</Value></Tag></TagSet></Tagging>"#);
        assert_eq!(tags.get("team").map(String::as_str), Some("pay"));
        assert_eq!(tags.len(), 2);
        assert!(parse_tags(b"<Error/>").is_empty());
    }
}
