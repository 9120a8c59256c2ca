//! Opening the store `[store]` names: the embedded state file, or etcd. Either way events are
//! stamped with this instance's name, and nothing else in the daemon knows which it is.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use lifeline_model::{StoreBackend, Timestamp, Topology};
use lifeline_store::{EmbeddedStore, EtcdStore, Role, Stamped, StateStore};

/// Opens the store; `reset` (`--reset-state`) moves the embedded state file aside first. An etcd
/// that does not answer fails within its connect timeout, naming the endpoints. Events are
/// stamped with the token of `role` while it leads.
pub async fn open(
    topology: &Topology,
    reset: bool,
    role: Role,
) -> anyhow::Result<Arc<dyn StateStore>> {
    let instance = topology.instance.name.clone();
    let store: Arc<dyn StateStore> = match &topology.store {
        StoreBackend::Embedded => Arc::new(
            open_embedded(&topology.admin.state_file, reset)
                .context("cannot open the state store")?,
        ),
        StoreBackend::Etcd(_) if reset => bail!(
            "--reset-state moves the embedded state file aside; the store is etcd, whose state \
             the other instances share: remove its keys with etcdctl if that is really meant"
        ),
        StoreBackend::Etcd(settings) => Arc::new(
            EtcdStore::connect(settings, &instance)
                .await
                .context("cannot open the state store")?,
        ),
    };
    Ok(Arc::new(Stamped::new(store, instance, role)))
}

/// Opens the state file, or with `reset` moves it aside first and starts with an empty one.
fn open_embedded(path: &Path, reset: bool) -> Result<EmbeddedStore, lifeline_store::StoreError> {
    if !reset {
        return EmbeddedStore::open(path);
    }
    let (store, aside) = EmbeddedStore::reset(path, Timestamp::now())?;
    match aside {
        Some(aside) => tracing::warn!(
            path = %path.display(),
            moved_to = %aside.display(),
            "--reset-state: moved the old state file aside; starting with an empty store"
        ),
        None => tracing::info!(
            path = %path.display(),
            "--reset-state: there was no state file to move aside"
        ),
    }
    Ok(store)
}
