//! Element ops, keys, values, CPU flags and start states: what each arm of `View::decode`,
//! `View::key`, `View::byte_value`, `cpu_flags`, `start_state` and `hunt` draws.

use super::*;

#[test]
fn placeholder_draws_decode() {
    let _ = grid().count();
    let _ = gen_state(World::default(), GenConfig::default());
}
