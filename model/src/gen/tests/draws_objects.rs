//! Objects, fds and creates: what each arm of `View::object`, `View::fd_by_id`,
//! `View::fd_for`, `View::create` and `invalidate` draws.

use super::*;

#[test]
fn placeholder_draws_objects() {
    let _ = grid().count();
    let _ = gen_state(World::default(), GenConfig::default());
}
