//! The runtimes the Backend serves right now: the registry, and for each runtime the lifetime of
//! its handle and the recipe it was built from. A reload replaces it whole; a request works on
//! the one it found.

use std::collections::HashMap;
use std::sync::Arc;

use yoi_registry_core::{RuntimeHandle, RuntimeId, RuntimeRegistry};

use crate::lifetime::Lifetime;
use crate::registry_builder::{Built, Recipe, registry_of};

/// The runtimes served, as of one configuration.
pub(crate) struct Served {
    pub(crate) registry: Arc<RuntimeRegistry>,
    runtimes: HashMap<RuntimeId, ServedRuntime>,
}

struct ServedRuntime {
    lifetime: Lifetime,
    /// `None` for a registry not built from a configuration (a reload rebuilds it).
    recipe: Option<Recipe>,
}

impl Served {
    /// The runtimes of `registry`, as given, each at the start of its lifetime.
    pub(crate) fn of_registry(registry: RuntimeRegistry) -> Self {
        let runtimes = registry
            .handles()
            .iter()
            .map(|handle| {
                let runtime = ServedRuntime {
                    lifetime: Lifetime::default(),
                    recipe: None,
                };
                (handle.descriptor().id.clone(), runtime)
            })
            .collect();
        Self {
            registry: Arc::new(registry),
            runtimes,
        }
    }

    /// The runtimes `built` from a configuration. Those whose handle `previous` serves keep
    /// their lifetime; the others begin one.
    pub(crate) fn of_built(built: Vec<Built>, previous: Option<&Self>) -> Self {
        let registry = registry_of(&built);
        let runtimes = built
            .into_iter()
            .map(|Built { handle, recipe }| {
                let id = handle.descriptor().id.clone();
                let lifetime = previous
                    .filter(|previous| previous.serves(&handle))
                    .and_then(|previous| previous.lifetime(&id));
                let runtime = ServedRuntime {
                    lifetime: lifetime.unwrap_or_default(),
                    recipe: Some(recipe),
                };
                (id, runtime)
            })
            .collect();
        Self {
            registry: Arc::new(registry),
            runtimes,
        }
    }

    /// The handle serving the runtime `recipe` builds, if it is the one served.
    pub(crate) fn running(&self, recipe: &Recipe) -> Option<Arc<dyn RuntimeHandle>> {
        let id = recipe.runtime_id();
        if self.runtimes.get(id)?.recipe.as_ref() != Some(recipe) {
            return None;
        }
        self.registry.get(id).ok().cloned()
    }

    /// Whether `handle` is the one serving its runtime.
    pub(crate) fn serves(&self, handle: &Arc<dyn RuntimeHandle>) -> bool {
        self.registry
            .get(&handle.descriptor().id)
            .is_ok_and(|served| Arc::ptr_eq(served, handle))
    }

    /// The lifetime of the runtime `id`'s handle.
    pub(crate) fn lifetime(&self, id: &RuntimeId) -> Option<Lifetime> {
        self.runtimes
            .get(id)
            .map(|runtime| runtime.lifetime.clone())
    }
}
