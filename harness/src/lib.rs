//! mapcheck: runs a pure model of BPF maps in lockstep with the real `bpf(2)` interface.
//!
//! Every op goes to both the model (`mapcheck_model::World`) and the kernel (`kernel::Kernel`);
//! the first outcome the model does not allow is a divergence, shrunk by proptest to a minimal
//! op script, written to disk, then reported.
//!
//! # Debugging a divergence
//! 1. `mapcheck run` prints the numbered minimal script and writes it to
//!    `regressions/found/<name>.case` before printing.
//! 2. `mapcheck replay regressions/found/<name>.case` reruns exactly that script.
//! 3. Decide: a model bug (fix `model/`, keep the case) or a kernel finding (document it in the
//!    case's `# why:` line, keep the case). Never loosen the comparison.
#![deny(missing_docs)]

pub mod amplify;
pub mod cli;
pub mod corpus;
pub mod env;
pub mod faulty;
pub mod fuzz;
pub mod idlock;
pub mod isolate;
pub mod kernel;
pub mod lockstep;
pub mod matrix;
pub mod replay;
pub mod report;
pub mod repro;
pub mod rfcdiff;
pub mod selftest;
pub mod spawn;
pub mod sys;
