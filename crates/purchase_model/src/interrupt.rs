//! A hook through which long pure computations (validating and compiling a large artifact,
//! scoring its reference rows) let PostgreSQL cancel them. The pure crate cannot call pgrx;
//! the pg layer installs `CHECK_FOR_INTERRUPTS` here before it loads a model.

use std::sync::OnceLock;

static HOOK: OnceLock<fn()> = OnceLock::new();

/// Installs the interrupt check (the first call wins; later calls are no-ops).
pub fn set_interrupt_check(check: fn()) {
    let _ = HOOK.set(check);
}

/// Runs the installed check, if any. Cheap enough to call once per input, level or check row.
#[inline]
pub fn check_interrupts() {
    if let Some(check) = HOOK.get() {
        check();
    }
}

/// Counts work in a loop too fine-grained to check on every step (a JSON node, a number):
/// the check runs every 4096 ticks.
#[inline]
pub fn tick() {
    use std::sync::atomic::{AtomicU32, Ordering};
    static TICKS: AtomicU32 = AtomicU32::new(0);
    if TICKS.fetch_add(1, Ordering::Relaxed).is_multiple_of(4096) {
        check_interrupts();
    }
}
