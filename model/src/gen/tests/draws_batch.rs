//! Batch commands: what each arm of `View::batch_op` draws.

use super::*;

#[test]
fn placeholder_draws_batch() {
    let _ = grid().count();
    let _ = gen_state(World::default(), GenConfig::default());
}
