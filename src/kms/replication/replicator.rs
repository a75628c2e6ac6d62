//! [`Replicator`]: what a primary's deployment does with its peers.
//!
//! - [`Replicator::replicate`] (ReplicateKey) creates a replica in a peer
//!   deployment, with every version;
//! - [`Replicator::update_primary_region`] (UpdatePrimaryRegion) makes a
//!   replica the primary and this deployment's key a replica;
//! - [`Replicator::sync_pending`] brings every replica that is behind (a
//!   rotation, a changed rotation schedule, a new Region) up to date. The
//!   server runs it after such changes ([`Replicator::wake`]) and on every
//!   maintenance tick, so a peer that was down gets the change once it is back.
//!
//! One transfer runs at a time (per deployment): the key record is read
//! under that lock, and a replica is marked up to date only with the
//! generation it was actually sent.

use std::collections::BTreeMap;

use tokio::sync::{Mutex, Notify};

use super::peer::PeerClient;
use super::wire::{self, Regions, ReplicaAnswer, SharedProperties};
use super::{ReplicationError, transfer};
use crate::config::PeerRegion;
use crate::kms::keys::{MultiRegionConfig, Tag};
use crate::kms::{KeyManager, KeyRecord, KmsError};

/// What ReplicateKey asks for.
pub struct NewReplica {
    pub key_id: String,
    pub region: String,
    pub description: String,
    pub policy: Option<String>,
    pub tags: Vec<Tag>,
}

/// One replica brought up to date, or not.
pub struct SyncOutcome {
    pub key_id: String,
    pub region: String,
    /// The generation sent, or why it could not be.
    pub result: Result<u64, ReplicationError>,
}

pub struct Replicator {
    peers: BTreeMap<String, PeerClient>,
    transfers: Mutex<()>,
    wake: Notify,
}

impl Replicator {
    pub fn new(peers: &[PeerRegion]) -> Result<Self, String> {
        let peers = peers
            .iter()
            .map(|peer| Ok((peer.region.clone(), PeerClient::new(peer)?)))
            .collect::<Result<_, String>>()?;
        Ok(Replicator {
            peers,
            transfers: Mutex::new(()),
            wake: Notify::new(),
        })
    }

    /// Asks the background task to run [`Self::sync_pending`] now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Completes when [`Self::wake`] was called.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    fn peer(&self, region: &str) -> Result<&PeerClient, ReplicationError> {
        self.peers
            .get(region)
            .ok_or_else(|| ReplicationError::NoPeer(region.to_string()))
    }

    /// ReplicateKey: creates the replica of the primary key `new.key_id` in
    /// `new.region`'s deployment. Returns the replica's answer (its
    /// `KeyMetadata` and policy).
    pub async fn replicate(
        &self,
        kms: &KeyManager,
        new: NewReplica,
    ) -> Result<ReplicaAnswer, ReplicationError> {
        let peer = self.peer(&new.region)?;
        let _one_transfer = self.transfers.lock().await;
        let record = kms.describe_key(&new.key_id)?;
        let config = primary_config(kms, &record)?;
        if config.has_region(&new.region) {
            return Err(KmsError::AlreadyExists(format!(
                "{} already has a replica in {}",
                kms.key_arn(&record.key_id),
                new.region
            ))
            .into());
        }
        let mut regions = Regions::of(config);
        regions.replica_regions.push(new.region.clone());
        regions.generation += 1;
        let sent = regions.generation;
        let parameters = parameters_for(peer, &record.key_id).await?;
        check_same_account(kms, peer, &parameters)?;
        let message = wire::CreateReplica {
            key_id: record.key_id.clone(),
            import_token: parameters.import_token,
            shared: shared_properties(kms, &record, &parameters.public_key, regions)?,
            description: new.description,
            policy: new.policy,
            tags: new.tags.iter().map(wire::WireTag::from).collect(),
        };
        let answer: ReplicaAnswer = peer.call(wire::CREATE_REPLICA, &message).await?;
        kms.update_key(&record.key_id, |r| {
            let config = r.multi_region.as_mut().ok_or_else(not_multi_region)?;
            // Unchanged since it was read: the replica has this generation.
            let unchanged = config.generation + 1 == sent;
            if !config.replica_regions.contains(&new.region) {
                config.replica_regions.push(new.region.clone());
            }
            config.bump();
            if unchanged {
                config.mark_synced(&new.region, config.generation);
            }
            Ok(())
        })?;
        tracing::warn!(kms_key_id = %record.key_id, replica_region = %new.region, "replicated a multi-Region key");
        Ok(answer)
    }

    /// UpdatePrimaryRegion: the replica in `new_primary` becomes the primary,
    /// this deployment's key a replica. The replica is brought up to date
    /// first, so no version exists only here.
    pub async fn update_primary_region(
        &self,
        kms: &KeyManager,
        key_id: &str,
        new_primary: &str,
    ) -> Result<(), ReplicationError> {
        let peer = self.peer(new_primary)?;
        let _one_transfer = self.transfers.lock().await;
        let mut record = kms.describe_key(key_id)?;
        let config = primary_config(kms, &record)?;
        if !config.replica_regions.iter().any(|r| r == new_primary) {
            return Err(KmsError::NotFound(format!(
                "{} has no replica in {new_primary}",
                kms.key_arn(&record.key_id)
            ))
            .into());
        }
        if config.replicas_behind().iter().any(|r| r == new_primary) {
            self.push(kms, &record, new_primary).await?;
            record = kms.describe_key(key_id)?;
        }
        let config = primary_config(kms, &record)?;
        let mut replica_regions: Vec<String> = config
            .replica_regions
            .iter()
            .filter(|r| *r != new_primary)
            .cloned()
            .collect();
        replica_regions.push(kms.region().to_string());
        let regions = Regions {
            primary_region: new_primary.to_string(),
            replica_regions,
            generation: config.generation + 1,
        };
        let before = config.generation;
        let _: ReplicaAnswer = peer
            .call(
                wire::PROMOTE_REPLICA,
                &wire::PromoteReplica {
                    key_id: record.key_id.clone(),
                    multi_region_configuration: regions.clone(),
                },
            )
            .await?;
        kms.update_key(&record.key_id, |r| {
            let current = r.multi_region.as_ref().ok_or_else(not_multi_region)?;
            if current.generation != before {
                // A rotation slipped in after the replica was brought up to
                // date; it now exists only here. Say so loudly.
                tracing::error!(kms_key_id = %r.key_id, "the key changed while its primary Region moved; rotate it again in the new primary Region");
            }
            r.multi_region = Some(regions.into_config());
            Ok(())
        })?;
        tracing::warn!(kms_key_id = %record.key_id, primary_region = %new_primary, "moved a multi-Region key's primary to another Region");
        Ok(())
    }

    /// Brings every replica of every primary key held here that is behind
    /// up to date; one outcome per replica tried.
    pub async fn sync_pending(&self, kms: &KeyManager) -> Vec<SyncOutcome> {
        let _one_transfer = self.transfers.lock().await;
        let records = match kms.list_keys() {
            Ok(records) => records,
            Err(err) => {
                tracing::error!(error = %err, "cannot list keys to synchronise multi-Region replicas");
                return Vec::new();
            }
        };
        let mut outcomes = Vec::new();
        for record in records {
            let Some(config) = &record.multi_region else {
                continue;
            };
            if !config.is_primary_in(kms.region()) {
                continue;
            }
            for region in config.replicas_behind() {
                let result = self.push(kms, &record, &region).await;
                outcomes.push(SyncOutcome {
                    key_id: record.key_id.clone(),
                    region,
                    result,
                });
            }
        }
        outcomes
    }

    /// Sends `record`'s shared properties to its replica in `region`, and
    /// records the generation it now has. The caller holds the transfer lock.
    async fn push(
        &self,
        kms: &KeyManager,
        record: &KeyRecord,
        region: &str,
    ) -> Result<u64, ReplicationError> {
        let peer = self.peer(region)?;
        let regions = Regions::of(primary_config(kms, record)?);
        let sent = regions.generation;
        let parameters = parameters_for(peer, &record.key_id).await?;
        let message = wire::SyncReplica {
            key_id: record.key_id.clone(),
            import_token: parameters.import_token,
            shared: shared_properties(kms, record, &parameters.public_key, regions)?,
        };
        let _: ReplicaAnswer = peer.call(wire::SYNC_REPLICA, &message).await?;
        kms.update_key(&record.key_id, |r| {
            r.multi_region
                .as_mut()
                .ok_or_else(not_multi_region)?
                .mark_synced(region, sent);
            Ok(())
        })?;
        Ok(sent)
    }
}

/// A one-time wrapping key from `peer` for `key_id`'s material.
async fn parameters_for(
    peer: &PeerClient,
    key_id: &str,
) -> Result<wire::Parameters, ReplicationError> {
    peer.call(
        wire::GET_PARAMETERS,
        &wire::ParametersRequest {
            key_id: key_id.to_string(),
        },
    )
    .await
}

/// The multi-Region configuration of `record`, which must be a primary here.
fn primary_config<'r>(
    kms: &KeyManager,
    record: &'r KeyRecord,
) -> Result<&'r MultiRegionConfig, KmsError> {
    match &record.multi_region {
        Some(config) if config.is_primary_in(kms.region()) => Ok(config),
        _ => Err(KmsError::UnsupportedOperation(format!(
            "{} is not a multi-Region primary key",
            kms.key_arn(&record.key_id)
        ))),
    }
}

fn not_multi_region() -> KmsError {
    KmsError::Internal("the key is no longer a multi-Region key".into())
}

/// What `record` shares with its replicas, its material wrapped for the
/// receiver's `public_key`.
fn shared_properties(
    kms: &KeyManager,
    record: &KeyRecord,
    public_key: &str,
    regions: Regions,
) -> Result<SharedProperties, KmsError> {
    Ok(SharedProperties {
        key_spec: record.key_spec.clone(),
        key_usage: record.key_usage.clone(),
        origin: record.origin.clone(),
        key_versions: transfer::wrap_versions(kms, record, public_key)?,
        current_version: record.current_version,
        rotation_period_in_days: record.rotation.map(|r| r.period_days),
        next_rotation_date: record.rotation.map(|r| r.next_rotation_at),
        multi_region_configuration: regions,
    })
}

/// Related multi-Region keys share an account, as on AWS: their ARNs
/// differ only in the Region.
fn check_same_account(
    kms: &KeyManager,
    peer: &PeerClient,
    parameters: &wire::Parameters,
) -> Result<(), ReplicationError> {
    let account = &parameters.account_id;
    if account != kms.account_id() {
        return Err(ReplicationError::BadAnswer {
            region: peer.region().to_string(),
            reason: format!(
                "the replica is in account '{account}', not {}: set the same server.account_id in both deployments",
                kms.account_id()
            ),
        });
    }
    Ok(())
}
