//! Which IAM action (`s3:…`) and resource each S3 operation is, as AWS's
//! "Actions, resources, and condition keys for Amazon S3" defines them.
//! Bucket policies are evaluated against these.

use http::Method;

use super::route::Operation;

/// The IAM actions an operation needs (all of them must be allowed).
pub fn actions_for(operation: &Operation, has_version_id: bool) -> Vec<&'static str> {
    use Operation::*;
    let versioned = |plain: &'static str, version: &'static str| {
        if has_version_id { version } else { plain }
    };
    match operation {
        ListBuckets => vec!["s3:ListAllMyBuckets"],
        CreateBucket => vec!["s3:CreateBucket"],
        DeleteBucket => vec!["s3:DeleteBucket"],
        HeadBucket | ListObjects | ListObjectsV2 => vec!["s3:ListBucket"],
        ListObjectVersions => vec!["s3:ListBucketVersions"],
        ListMultipartUploads => vec!["s3:ListBucketMultipartUploads"],
        GetBucketLocation => vec!["s3:GetBucketLocation"],
        DeleteObjects => vec!["s3:DeleteObject"],
        PostObject | PutObject | CreateMultipartUpload | UploadPart | CompleteMultipartUpload => {
            vec!["s3:PutObject"]
        }
        // The source side (s3:GetObject on the source) is checked separately.
        CopyObject | UploadPartCopy => vec!["s3:PutObject"],
        GetObject | HeadObject | SelectObjectContent => {
            vec![versioned("s3:GetObject", "s3:GetObjectVersion")]
        }
        DeleteObject => vec![versioned("s3:DeleteObject", "s3:DeleteObjectVersion")],
        AbortMultipartUpload => vec!["s3:AbortMultipartUpload"],
        ListParts => vec!["s3:ListMultipartUploadParts"],
        GetObjectAttributes => vec![versioned(
            "s3:GetObjectAttributes",
            "s3:GetObjectVersionAttributes",
        )],
        RestoreObject => vec!["s3:RestoreObject"],
        GetObjectTorrent => vec![versioned(
            "s3:GetObjectTorrent",
            "s3:GetObjectVersionTorrent",
        )],
        UpdateObjectEncryption => vec!["s3:PutObject", "s3:UpdateObjectEncryption"],
        BucketConfig {
            method,
            subresource,
        } => bucket_config_action(method, subresource)
            .into_iter()
            .collect(),
        ObjectConfig {
            method,
            subresource,
        } => object_config_action(method, subresource, has_version_id)
            .into_iter()
            .collect(),
        Unknown => vec![],
    }
}

fn bucket_config_action(method: &Method, subresource: &str) -> Option<&'static str> {
    let get = *method == Method::GET;
    let delete = *method == Method::DELETE;
    Some(match subresource {
        "policy" if get => "s3:GetBucketPolicy",
        "policy" if delete => "s3:DeleteBucketPolicy",
        "policy" => "s3:PutBucketPolicy",
        "policyStatus" => "s3:GetBucketPolicyStatus",
        "encryption" if get => "s3:GetEncryptionConfiguration",
        "encryption" => "s3:PutEncryptionConfiguration",
        "versioning" if get => "s3:GetBucketVersioning",
        "versioning" => "s3:PutBucketVersioning",
        "tagging" if get => "s3:GetBucketTagging",
        "tagging" => "s3:PutBucketTagging",
        "acl" if get => "s3:GetBucketAcl",
        "acl" => "s3:PutBucketAcl",
        "cors" if get => "s3:GetBucketCORS",
        "cors" => "s3:PutBucketCORS",
        "lifecycle" if get => "s3:GetLifecycleConfiguration",
        "lifecycle" => "s3:PutLifecycleConfiguration",
        "website" if get => "s3:GetBucketWebsite",
        "website" if delete => "s3:DeleteBucketWebsite",
        "website" => "s3:PutBucketWebsite",
        "logging" if get => "s3:GetBucketLogging",
        "logging" => "s3:PutBucketLogging",
        "notification" if get => "s3:GetBucketNotification",
        "notification" => "s3:PutBucketNotification",
        "object-lock" if get => "s3:GetBucketObjectLockConfiguration",
        "object-lock" => "s3:PutBucketObjectLockConfiguration",
        "publicAccessBlock" if get => "s3:GetBucketPublicAccessBlock",
        "publicAccessBlock" => "s3:PutBucketPublicAccessBlock",
        "ownershipControls" if get => "s3:GetBucketOwnershipControls",
        "ownershipControls" => "s3:PutBucketOwnershipControls",
        "replication" if get => "s3:GetReplicationConfiguration",
        "replication" => "s3:PutReplicationConfiguration",
        "requestPayment" if get => "s3:GetBucketRequestPayment",
        "requestPayment" => "s3:PutBucketRequestPayment",
        "accelerate" if get => "s3:GetAccelerateConfiguration",
        "accelerate" => "s3:PutAccelerateConfiguration",
        "analytics" if get => "s3:GetAnalyticsConfiguration",
        "analytics" => "s3:PutAnalyticsConfiguration",
        "inventory" if get => "s3:GetInventoryConfiguration",
        "inventory" => "s3:PutInventoryConfiguration",
        "metrics" if get => "s3:GetMetricsConfiguration",
        "metrics" => "s3:PutMetricsConfiguration",
        "intelligent-tiering" if get => "s3:GetIntelligentTieringConfiguration",
        "intelligent-tiering" => "s3:PutIntelligentTieringConfiguration",
        "metadataTable" if get => "s3:GetBucketMetadataTableConfiguration",
        "metadataTable" if delete => "s3:DeleteBucketMetadataTableConfiguration",
        "metadataTable" => "s3:CreateBucketMetadataTableConfiguration",
        _ => return None,
    })
}

fn object_config_action(
    method: &Method,
    subresource: &str,
    versioned: bool,
) -> Option<&'static str> {
    let get = *method == Method::GET;
    let delete = *method == Method::DELETE;
    Some(match (subresource, versioned) {
        ("tagging", false) if get => "s3:GetObjectTagging",
        ("tagging", true) if get => "s3:GetObjectVersionTagging",
        ("tagging", false) if delete => "s3:DeleteObjectTagging",
        ("tagging", true) if delete => "s3:DeleteObjectVersionTagging",
        ("tagging", false) => "s3:PutObjectTagging",
        ("tagging", true) => "s3:PutObjectVersionTagging",
        ("acl", false) if get => "s3:GetObjectAcl",
        ("acl", true) if get => "s3:GetObjectVersionAcl",
        ("acl", false) => "s3:PutObjectAcl",
        ("acl", true) => "s3:PutObjectVersionAcl",
        ("retention", _) if get => "s3:GetObjectRetention",
        ("retention", _) => "s3:PutObjectRetention",
        ("legal-hold", _) if get => "s3:GetObjectLegalHold",
        ("legal-hold", _) => "s3:PutObjectLegalHold",
        _ => return None,
    })
}

/// Every S3 action a bucket policy may name (beyond those above, the ones
/// AWS defines that s3seal never evaluates but policies copied from AWS use).
pub const KNOWN_ACTIONS: &[&str] = &[
    "s3:AbortMultipartUpload",
    "s3:BypassGovernanceRetention",
    "s3:CreateBucket",
    "s3:CreateBucketMetadataTableConfiguration",
    "s3:DeleteBucket",
    "s3:DeleteBucketMetadataTableConfiguration",
    "s3:DeleteBucketPolicy",
    "s3:DeleteBucketWebsite",
    "s3:DeleteObject",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersion",
    "s3:DeleteObjectVersionTagging",
    "s3:GetAccelerateConfiguration",
    "s3:GetAnalyticsConfiguration",
    "s3:GetBucketAcl",
    "s3:GetBucketCORS",
    "s3:GetBucketLocation",
    "s3:GetBucketLogging",
    "s3:GetBucketMetadataTableConfiguration",
    "s3:GetBucketNotification",
    "s3:GetBucketObjectLockConfiguration",
    "s3:GetBucketOwnershipControls",
    "s3:GetBucketPolicy",
    "s3:GetBucketPolicyStatus",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketRequestPayment",
    "s3:GetBucketTagging",
    "s3:GetBucketVersioning",
    "s3:GetBucketWebsite",
    "s3:GetEncryptionConfiguration",
    "s3:GetIntelligentTieringConfiguration",
    "s3:GetInventoryConfiguration",
    "s3:GetLifecycleConfiguration",
    "s3:GetMetricsConfiguration",
    "s3:GetObject",
    "s3:GetObjectAcl",
    "s3:GetObjectAttributes",
    "s3:GetObjectLegalHold",
    "s3:GetObjectRetention",
    "s3:GetObjectTagging",
    "s3:GetObjectTorrent",
    "s3:GetObjectVersion",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectVersionAttributes",
    "s3:GetObjectVersionTagging",
    "s3:GetObjectVersionTorrent",
    "s3:GetReplicationConfiguration",
    "s3:ListAllMyBuckets",
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
    "s3:ListBucketVersions",
    "s3:ListMultipartUploadParts",
    "s3:PutAccelerateConfiguration",
    "s3:PutAnalyticsConfiguration",
    "s3:PutBucketAcl",
    "s3:PutBucketCORS",
    "s3:PutBucketLogging",
    "s3:PutBucketNotification",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutBucketOwnershipControls",
    "s3:PutBucketPolicy",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketRequestPayment",
    "s3:PutBucketTagging",
    "s3:PutBucketVersioning",
    "s3:PutBucketWebsite",
    "s3:PutEncryptionConfiguration",
    "s3:PutIntelligentTieringConfiguration",
    "s3:PutInventoryConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:PutMetricsConfiguration",
    "s3:PutObject",
    "s3:PutObjectAcl",
    "s3:PutObjectLegalHold",
    "s3:PutObjectRetention",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionAcl",
    "s3:PutObjectVersionTagging",
    "s3:PutReplicationConfiguration",
    "s3:ReplicateDelete",
    "s3:ReplicateObject",
    "s3:ReplicateTags",
    "s3:RestoreObject",
    "s3:UpdateObjectEncryption",
];

/// Is `pattern` (with wildcards) an action that names at least one S3 action?
pub fn is_valid_action_pattern(pattern: &str) -> bool {
    pattern == "*"
        || KNOWN_ACTIONS
            .iter()
            .any(|action| crate::policy::wildcard::glob_match(pattern, action, true))
}

/// The resource ARN of a bucket, or of an object in it.
pub fn resource_arn(bucket: Option<&str>, key: Option<&str>) -> String {
    match (bucket, key) {
        (Some(b), Some(k)) => format!("arn:aws:s3:::{b}/{k}"),
        (Some(b), None) => format!("arn:aws:s3:::{b}"),
        _ => "*".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_is_put_object_and_versions_have_their_own_actions() {
        for op in [
            Operation::CreateMultipartUpload,
            Operation::UploadPart,
            Operation::CompleteMultipartUpload,
        ] {
            assert_eq!(actions_for(&op, false), vec!["s3:PutObject"]);
        }
        assert_eq!(
            actions_for(&Operation::GetObject, true),
            vec!["s3:GetObjectVersion"]
        );
        assert_eq!(
            actions_for(&Operation::HeadBucket, false),
            vec!["s3:ListBucket"]
        );
        let policy = Operation::BucketConfig {
            method: Method::PUT,
            subresource: "policy",
        };
        assert_eq!(actions_for(&policy, false), vec!["s3:PutBucketPolicy"]);
        let tags = Operation::ObjectConfig {
            method: Method::DELETE,
            subresource: "tagging",
        };
        assert_eq!(actions_for(&tags, false), vec!["s3:DeleteObjectTagging"]);
    }

    #[test]
    fn every_mapped_action_is_known() {
        use Operation::*;
        let ops = [
            ListBuckets,
            CreateBucket,
            DeleteBucket,
            HeadBucket,
            ListObjects,
            ListObjectVersions,
            ListMultipartUploads,
            GetBucketLocation,
            DeleteObjects,
            PutObject,
            GetObject,
            DeleteObject,
            AbortMultipartUpload,
            ListParts,
            GetObjectAttributes,
            RestoreObject,
            GetObjectTorrent,
            UpdateObjectEncryption,
        ];
        for op in ops {
            for versioned in [false, true] {
                for action in actions_for(&op, versioned) {
                    assert!(KNOWN_ACTIONS.contains(&action), "{action}");
                }
            }
        }
    }

    #[test]
    fn action_patterns() {
        assert!(is_valid_action_pattern("s3:*"));
        assert!(is_valid_action_pattern("s3:Get*"));
        assert!(is_valid_action_pattern("s3:getobject"));
        assert!(is_valid_action_pattern("*"));
        assert!(!is_valid_action_pattern("s3:GetObjectz"));
        assert!(!is_valid_action_pattern("kms:Decrypt"));
    }
}
