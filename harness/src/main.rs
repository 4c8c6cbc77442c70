//! The `mapcheck` binary; everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    mapcheck::cli::main()
}
