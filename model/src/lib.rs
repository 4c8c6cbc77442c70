//! mapcheck-model: a pure state-machine model of Linux BPF maps as seen through `bpf(2)`.
//! The core idea: for a world and an op, the model says which outcomes the kernel may produce
//! (`World::allowed`), and follows the one the kernel chose (`World::apply`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod coverage;
pub mod errno;
pub mod fault;
#[cfg(feature = "proptest")]
pub mod gen;
pub mod jhash;
pub mod limits;
pub mod maps;
pub mod op;
pub mod outcome;
pub mod profile;
pub mod reason;
pub mod rfc;
pub mod text;
pub mod world;

pub use errno::Errno;
pub use fault::Fault;
pub use op::{BadFd, Call, FdRef, Handle, Kind, MapSpec, MapType, Op, ProgSpec, ProgType, Resource, Value};
pub use outcome::{Allowed, Expect, MapState, Outcome, Ret};
pub use profile::Profile;
pub use reason::Why;
pub use world::World;
