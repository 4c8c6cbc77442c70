//! `mapcheck matrix-table`: the kernel matrix's table from the results directories that
//! `ci/matrix.sh` filled, one per kernel; exit 1 unless every kernel ran every step and agreed.
//! `mapcheck dialects`: the running kernel's dialects, as probed.

use super::{exit, CmdResult};
use crate::matrix::{table, Row};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub(super) struct MatrixArgs {
    /// One results directory per kernel (its name is the kernel line).
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// Write the rows as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The corpus, for the cases that pin each dialect.
    #[arg(long, default_value = "regressions")]
    corpus: PathBuf,
}

/// `mapcheck dialects`: one line per dialect, `name yes|no  # change`.
pub(super) fn cmd_dialects() -> CmdResult {
    super::need_kernel()?;
    let p = crate::env::detect_profile();
    print!("{}", crate::matrix::dialect_lines(&p));
    Ok(exit::AGREE)
}

pub(super) fn cmd_matrix_table(a: MatrixArgs) -> CmdResult {
    // A kernel the archive does not give (a CI without network to it) is a skip, said on its
    // row, only where the caller allows it.
    let unavailable_ok = std::env::var("MAPCHECK_MATRIX_UNAVAILABLE_OK").is_ok_and(|v| v == "1");
    let rows: Vec<Row> = a
        .dirs
        .iter()
        .map(|d| Row::read_allowing(d, unavailable_ok))
        .collect();
    print!("{}", table(&rows));
    println!();
    print!("{}", crate::matrix::dialect_table(&rows, &a.corpus));
    if let Some(p) = &a.json {
        let text = serde_json::to_string_pretty(&rows).expect("plain data serializes");
        std::fs::write(p, text + "\n").map_err(|e| (exit::ENVIRONMENT, format!("{}: {e}", p.display())))?;
    }
    let skipped = rows.iter().filter(|r| r.skipped.is_some()).count();
    if skipped > 0 {
        eprintln!(
            "mapcheck: {skipped} of {} kernels skipped (not available)",
            rows.len()
        );
    }
    let failed = rows.iter().filter(|r| !r.problems.is_empty()).count();
    if failed > 0 {
        return Err((
            exit::DIVERGENCE,
            format!("{failed} of {} kernels failed", rows.len()),
        ));
    }
    Ok(exit::AGREE)
}
