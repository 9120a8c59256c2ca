//! Name newtypes: cheap to clone (`Arc<str>` inside) and impossible to mix up.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            pub fn new(name: impl Into<Arc<str>>) -> Self {
                Self(name.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(name: &str) -> Self {
                Self::new(name)
            }
        }
    };
}

name_type!(
    /// The name of an origin; unique across the whole config, so `drain ORIGIN` needs no pool.
    OriginName
);
name_type!(
    /// The name of a pool of origins.
    PoolName
);
name_type!(
    /// The name of a monitor (a health-check definition).
    MonitorName
);
name_type!(
    /// The name of a load balancer.
    LoadBalancerName
);
name_type!(
    /// The name of a database cluster.
    ClusterName
);
name_type!(
    /// The name of a database node in a cluster.
    NodeName
);
name_type!(
    /// The name of a `[[scorecard]]`.
    ScorecardName
);
name_type!(
    /// The name of a `[[notify]]` receiver.
    ReceiverName
);
name_type!(
    /// The name of a `[[signal]]`.
    SignalName
);
name_type!(
    /// The name of one Lifeline instance (one machine) among those sharing a store.
    InstanceName
);
