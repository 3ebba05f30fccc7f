//! Per-backend cache of layer plans.
//!
//! A plan stays valid until the registry or the layer's source relation
//! changes. PostgreSQL tells every backend about such changes through relcache
//! invalidations: DDL on a source invalidates that relation, and statement
//! triggers on `gridkit.layer`, `gridkit.pyramid` and `gridkit.generalization`
//! invalidate those tables (see `registry_changed`): a new build swapped in
//! is read from the next tile on, before its predecessor's tables go. Our callback only raises a flag, because it may run in
//! the middle of anything, including our own use of the cache; the next lookup
//! sees the flag and drops every plan.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use pgrx::pg_sys::{self, Oid};
use pgrx::spi::Spi;
use rustc_hash::{FxHashMap, FxHashSet};

use super::plan::LayerPlan;
use super::registry::{registry_relids, unknown_layer};
use crate::error::SqlResult;

thread_local! {
    static PLANS: RefCell<FxHashMap<String, Rc<LayerPlan>>> = RefCell::new(FxHashMap::default());
    /// Relations whose invalidation makes the cached plans stale.
    static WATCHED: RefCell<FxHashSet<Oid>> = RefCell::new(FxHashSet::default());
    static STALE: Cell<bool> = const { Cell::new(false) };
}

pub fn init() {
    // SAFETY: called once per backend from _PG_init; the callback has the
    // signature PostgreSQL expects.
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache_invalidation), pg_sys::Datum::from(0)) };
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: Oid) {
    // `try_` variants: never panic here, not even while the sets are borrowed
    // or the thread is exiting. When in doubt, treat the cache as stale.
    let watched = relid == Oid::INVALID
        || WATCHED.try_with(|w| w.try_borrow().map(|w| w.contains(&relid)).unwrap_or(true)).unwrap_or(true);
    if watched {
        let _ = STALE.try_with(|s| s.set(true));
    }
}

/// The plan for layer `name`, loading it on first use.
pub fn get(name: &str) -> SqlResult<Rc<LayerPlan>> {
    // Hear about registry, pyramid and band changes committed since this
    // transaction last took a lock.
    // SAFETY: safe to call at any time outside a critical section.
    unsafe { pg_sys::AcceptInvalidationMessages() };
    if STALE.replace(false) {
        PLANS.with(|p| p.borrow_mut().clear());
        WATCHED.with(|w| w.borrow_mut().clear());
    }
    if let Some(plan) = PLANS.with(|p| p.borrow().get(name).cloned()) {
        return Ok(plan);
    }
    let (plan, registry) = Spi::connect(|client| -> SqlResult<_> {
        let plan = LayerPlan::load(client, name)?.ok_or_else(|| unknown_layer(name))?;
        Ok((plan, registry_relids(client)?))
    })?;
    let plan = Rc::new(plan);
    // An invalidation that arrived while we were loading may have raced with
    // our catalog reads: serve this plan once, but do not keep it.
    if !STALE.get() {
        WATCHED.with(|w| {
            w.borrow_mut().extend(registry.into_iter().chain([plan.relid]).chain(plan.relations_under.iter().copied()))
        });
        PLANS.with(|p| p.borrow_mut().insert(name.to_string(), plan.clone()));
    }
    Ok(plan)
}
