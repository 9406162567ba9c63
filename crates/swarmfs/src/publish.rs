//! BEP 46 on BEP 44: publishing a torrent under a key, resolving a mutable magnet, keeping the
//! item alive and noticing newer versions.

use swarmfs_dht::{DhtError, MutableItem, Value};
use swarmfs_metainfo::{MAX_SALT_LEN, Magnet, MagnetTarget, MutableTarget};
use tokio::sync::watch;

use crate::client::Client;
use crate::error::{LookupError, PublishError};
use crate::keypair::Keypair;
use crate::tasks::stopped;
use crate::updates::Version;

impl Client {
    /// Publishes the torrent of magnet `url` under `keypair` (and `salt`, empty for none) as a
    /// BEP 46 mutable item `{ih: <info-hash>}` with the next sequence number, and keeps it alive
    /// by storing it again every [republish interval](crate::ClientBuilder::republish_interval)
    /// for as long as the client runs. Returns the mutable magnet
    /// `magnet:?xs=urn:btpk:<hex>[&s=<hex salt>]`.
    ///
    /// The current version is read first and replaced with compare-and-swap: when another
    /// publisher stored a version meanwhile, this fails with [`PublishError::Conflict`] instead
    /// of silently overwriting it. Publishing the torrent that is already the current version
    /// stores nothing new.
    pub async fn publish(
        &self,
        url: &str,
        keypair: &Keypair,
        salt: &[u8],
    ) -> Result<String, PublishError> {
        check_salt(salt)?;
        let dht = self.dht_or(PublishError::NoDht)?;
        let info_hash = immutable_info_hash(url)?;
        let current = dht
            .get_mutable(&keypair.public_key(), salt)
            .await
            .map_err(PublishError::Dht)?;
        if let Some(item) = &current
            && item.value().bep46_info_hash() == Some(*info_hash.as_bytes())
        {
            self.keep_alive(item.clone());
            return Ok(mutable_magnet(keypair, salt));
        }
        self.publish_replacing(url, keypair, salt, current.map(|i| i.seq()))
            .await
    }

    /// Publishes like [`Client::publish`], but replaces exactly version `expected` (`None`: no
    /// version exists yet), with sequence number `expected + 1` (or 1): the step
    /// [`Client::publish`] takes after reading the current version, for callers that read it
    /// themselves ([`Client::resolve`]).
    pub async fn publish_replacing(
        &self,
        url: &str,
        keypair: &Keypair,
        salt: &[u8],
        expected: Option<i64>,
    ) -> Result<String, PublishError> {
        check_salt(salt)?;
        let dht = self.dht_or(PublishError::NoDht)?;
        if self.inner.tasks.is_stopped() {
            return Err(PublishError::Stopped);
        }
        let info_hash = immutable_info_hash(url)?;
        let seq = expected.map_or(1, |s| s.saturating_add(1));
        let item = MutableItem::sign(
            keypair.signing_key(),
            salt,
            seq,
            Value::bep46(info_hash.as_bytes()),
        )?;
        match dht.put_mutable(item.clone(), expected).await {
            Ok(_) => {}
            // A node that already holds exactly this item refuses it under `cas` too: our own
            // node reached again through an entry with a foreign id (mainline nodes file a
            // `find_node` requester under the target it asked for). That is not a conflict.
            Err(DhtError::Conflict { stored, .. })
                if stored > 0 && self.holds(dht, &item, salt).await => {}
            Err(DhtError::Conflict { .. }) => return Err(PublishError::Conflict { expected }),
            Err(DhtError::Shutdown) => return Err(PublishError::Stopped),
            Err(e) => return Err(PublishError::Dht(e)),
        }
        self.keep_alive(item);
        Ok(mutable_magnet(keypair, salt))
    }

    /// Whether the newest version in the DHT is `item` itself.
    async fn holds(&self, dht: &swarmfs_dht::Dht, item: &MutableItem, salt: &[u8]) -> bool {
        let public_key = *item.key();
        match dht.get_mutable(&public_key, salt).await {
            Ok(Some(now)) => now.seq() == item.seq() && now.value() == item.value(),
            _ => false,
        }
    }

    /// Republishes `item` until the client stops or a newer version of it is published.
    fn keep_alive(&self, item: MutableItem) {
        let Some(dht) = self.dht().cloned() else {
            return;
        };
        let target = item.target();
        let (stop, mut stopped_rx) = watch::channel(false);
        if let Some(old) = self.republishers().insert(target, stop) {
            old.send_replace(true);
        }
        let every = self.inner.settings.republish_interval;
        self.inner.tasks.spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = stopped(&mut stopped_rx) => return,
                }
                match dht.put_mutable(item.clone(), None).await {
                    Ok(_) => {}
                    Err(DhtError::Conflict { .. } | DhtError::Shutdown) => return,
                    Err(e) => tracing::debug!(error = %e, "republish failed; retrying later"),
                }
            }
        });
    }

    pub(crate) async fn resolve_target(&self, t: &MutableTarget) -> Result<Version, LookupError> {
        let dht = self.dht_or(LookupError::NoDht)?;
        let item = dht
            .get_mutable(t.public_key(), t.salt())
            .await?
            .ok_or_else(|| LookupError::NoItem {
                public_key: hex::encode(t.public_key()),
            })?;
        let ih = item
            .value()
            .bep46_info_hash()
            .ok_or_else(|| LookupError::NotBep46 {
                public_key: hex::encode(t.public_key()),
            })?;
        Ok(Client::info_hash_version(item.seq(), ih))
    }
}

/// Polls the DHT for newer versions of `target` until `closed` or the DHT stops.
pub(crate) async fn poll_updates(
    client: Client,
    target: MutableTarget,
    tx: watch::Sender<Option<Version>>,
    mut closed: watch::Receiver<bool>,
) {
    let every = client.inner.settings.update_interval;
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = stopped(&mut closed) => return,
        }
        match client.resolve_target(&target).await {
            Ok(v) => {
                let newer = tx.borrow().as_ref().is_none_or(|cur| v.seq > cur.seq);
                if newer {
                    tx.send_replace(Some(v));
                }
            }
            Err(LookupError::Dht(DhtError::Shutdown) | LookupError::NoDht) => return,
            Err(e) => tracing::debug!(error = %e, "update poll failed"),
        }
    }
}

fn check_salt(salt: &[u8]) -> Result<(), PublishError> {
    if salt.len() > MAX_SALT_LEN {
        return Err(PublishError::SaltTooLong { len: salt.len() });
    }
    Ok(())
}

fn immutable_info_hash(url: &str) -> Result<swarmfs_metainfo::InfoHash, PublishError> {
    Magnet::parse(url)?
        .info_hash()
        .ok_or(PublishError::NoInfoHash)
}

/// `magnet:?xs=urn:btpk:<hex>[&s=<hex salt>]`.
fn mutable_magnet(keypair: &Keypair, salt: &[u8]) -> String {
    match MutableTarget::new(keypair.public_key(), salt) {
        Some(t) => Magnet::with_target(MagnetTarget::Mutable(t)).to_string(),
        // The salt length was checked, so `new` cannot refuse it; spell the key out anyway.
        None => format!("magnet:?xs=urn:btpk:{}", keypair.public_key_hex()),
    }
}
