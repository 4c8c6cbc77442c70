//! The catalogue of (op, outcome) cells each family's model can produce, the denominator of
//! outcome coverage. The core idea: a cell the model cannot produce is not counted as missed,
//! and a cell a run observes outside the catalogue is printed, so the two stay in step.

use crate::maps::family_of;
use crate::op::MapType;
use crate::profile::{MemAccounting, Profile};
use crate::reason::Why;

/// The outcomes of a row that are not refusals (ok, and what `alive` says): a map family's
/// from its file (`Family::ok_ops`), the other rows' here.
fn ok_cells(row: &str) -> Vec<(&'static str, &'static str)> {
    // (`typeN` rows are `invalid_type` by now: `row_of`.)
    if let Some(t) = MapType::from_word(row) {
        return (family_of(t).ok_ops)(t).iter().map(|op| (*op, "ok")).collect();
    }
    other_ok_cells(row).to_vec()
}

/// The ok cells of the rows that are not map families.
fn other_ok_cells(row: &str) -> &'static [(&'static str, &'static str)] {
    match row {
        "objects" => &[
            ("load", "ok"),
            ("mkcgroup", "ok"),
            ("open_cgroup", "ok"),
            ("perf_event", "ok"),
            ("fd_by_id", "ok"),
            ("alive", "alive"),
            ("alive", "gone"),
            ("settle", "gone"),
            ("rmdir", "ok"),
            ("dying", "ok"),
            ("settle_dying", "ok"),
            ("pin", "ok"),
            ("unpin", "ok"),
            ("get_pinned", "ok"),
            ("close", "ok"),
        ],
        // A scale run's `fill` (never generated: `run --fill` puts it first in every case).
        "scale" => &[("fill", "ok")],
        "fdtable" => &[
            ("fdtable", "ok"),
            ("rlimit", "ok"),
            ("dropcap", "ok"),
            ("idgap", "ok"),
        ],
        "cpu" => &[("cpu", "ok")],
        _ => &[],
    }
}

/// The row a reason's scope names: every `typeN` family is the `invalid_type` row.
fn row_of(family: &str) -> &str {
    if family.starts_with("type") {
        "invalid_type"
    } else {
        family
    }
}

/// Why a declared refusal path cannot be reached by a run here, if it cannot.
fn out_of_reach(why: Why, op: &str, profile: &Profile) -> Option<&'static str> {
    match why {
        Why::OldNoCommand if profile.hash_lookup_and_delete => {
            Some("hashes have LOOKUP_AND_DELETE on this kernel (3e87f192b405, 5.14)")
        }
        Why::KeyTooBig if profile.hash_key_size_lifted => {
            Some("hash keys are bounded by KMALLOC_MAX_SIZE only on this kernel (c6bde958a62b, 5.11)")
        }
        Why::LpmNoBatch if profile.lpm_batch => {
            Some("LPM_TRIE has batch ops on this kernel (5.13: batched operations in LPM trie maps)")
        }
        Why::BatchHole if profile.batch_skips_holes => {
            Some("LOOKUP_BATCH skips an ARRAY_OF_MAPS hole on this kernel (5644c6b50ffe, 6.14)")
        }
        Why::MapInMapNoBatch if profile.map_in_map_batch => {
            Some("map-in-map types have batch ops on this kernel (9263dddc7b6f, 5.19)")
        }
        Why::NoBatch if profile.percpu_array_batch => {
            Some("PERCPU_ARRAY has batch ops on this kernel (f008d732ab18, 5.13)")
        }
        Why::ProgFlags if profile.xdp_frags => Some(
            "the generator sets only BPF_F_XDP_HAS_FRAGS, which this kernel knows (c2f2cdbeffda, 5.18)",
        ),
        Why::Access if op == "freeze" && !profile.freeze_checks_write => {
            Some("FREEZE checks no write permission before 6.5 (c4c84f6fb2c4)")
        }
        Why::Alloc => Some(
            "allowed above a 1 GiB allocation, which the generator never asks for (nor forces the allocator to fail)",
        ),
        Why::Memlock if profile.mem_accounting == MemAccounting::Memcg => Some(
            "RLIMIT_MEMLOCK refuses maps and programs only before 5.11 (bpf_charge_memlock, bpf_prog_charge_memlock); this kernel charges the memory cgroup",
        ),
        Why::CpuFlags | Why::CpuRange if !profile.percpu_cpu_flags => {
            Some("BPF_F_CPU and BPF_F_ALL_CPUS are unknown flags before 7.0 (2b421662c788 series)")
        }
        Why::ZeroSeedCap if profile.cap_sys_admin => {
            Some("BPF_F_ZERO_SEED is refused only without CAP_SYS_ADMIN, which this process has")
        }
        _ => None,
    }
}

/// Cells of a coverage row (a map family word, `badfd`, `nonmap`, `objects`, `fdtable`,
/// `invalid_type` or `typeN`): its ok outcomes, and one `ERRNO[word]` cell per refusal path
/// whose scope (`reason.rs`) names the row, unless the path is out of reach here.
pub fn cells(family: &str, profile: &Profile) -> Vec<(&'static str, String)> {
    let row = row_of(family);
    let mut v: Vec<(&'static str, String)> =
        ok_cells(row).iter().map(|(op, o)| (*op, o.to_string())).collect();
    for why in Why::ALL {
        for (_, ops) in why.scope() {
            for op in ops.split(' ') {
                let cell = (op, why.cell(profile));
                let reach = out_of_reach(*why, op, profile).is_none();
                if reach && why.applies(row, op) && !v.contains(&cell) {
                    v.push(cell);
                }
            }
        }
    }
    v
}

/// Outcomes of a row that the kernel can give but no run here reaches, each with why: shown
/// as unreachable beside the coverage table, not left out silently and not counted.
pub fn unreachable(family: &str, profile: &Profile) -> Vec<(&'static str, String, &'static str)> {
    let row = row_of(family);
    let mut v = Vec::new();
    if crate::reason::rows_of("maps").contains(&row) {
        // map_freeze: EBUSY while map->writecnt is held, i.e. a writable mmap of the map; no
        // path of the model, because nothing here makes one.
        v.push((
            "freeze",
            "EBUSY[writecnt]".to_string(),
            "only with a writable mmap of the map, which mapcheck never makes",
        ));
    }
    // A cell another path reaches is in the catalogue, not here.
    let reached = cells(family, profile);
    for why in Why::ALL {
        for (_, ops) in why.scope() {
            for op in ops.split(' ') {
                let Some(reason) = out_of_reach(*why, op, profile) else {
                    continue;
                };
                let cell = (op, why.cell(profile), reason);
                let elsewhere = reached.iter().any(|(o, c)| *o == op && *c == cell.1);
                if why.applies(row, op) && !elsewhere && !v.contains(&cell) {
                    v.push(cell);
                }
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(p: &Profile, fam: &str, op: &str, o: &str) -> bool {
        cells(fam, p).iter().any(|c| c.0 == op && c.1 == o)
    }

    /// Unreachable cells are never in the catalogue (they would count as missed), and they
    /// follow the profile: ZERO_SEED's EPERM is reachable exactly without CAP_SYS_ADMIN.
    #[test]
    fn unreachable_cells_are_apart_from_the_catalogue() {
        let mut p = Profile::default();
        for cap in [true, false] {
            p.cap_sys_admin = cap;
            for fam in crate::reason::rows_of("maps") {
                let cat = cells(fam, &p);
                for (op, o, why) in unreachable(fam, &p) {
                    assert!(!why.is_empty());
                    assert!(
                        !cat.iter().any(|(c, co)| *c == op && *co == o),
                        "{fam}/{op}:{o} both"
                    );
                }
            }
            let eperm = unreachable("hash", &p)
                .iter()
                .any(|c| c.0 == "create" && c.1 == "EPERM[zero-seed]");
            assert_eq!(eperm, cap, "cap_sys_admin {cap}");
            assert_eq!(has(&p, "hash", "create", "EPERM[zero-seed]"), !cap);
            assert!(unreachable("array", &p)
                .iter()
                .any(|c| c.0 == "create" && c.1 == "ENOMEM[alloc]"));
        }
        // RLIMIT_MEMLOCK refuses maps only where the profile charges it (before 5.11).
        for (acct, reachable) in [(MemAccounting::Memcg, false), (MemAccounting::Rlimit, true)] {
            p.mem_accounting = acct;
            let listed = unreachable("array", &p).iter().any(|c| c.1 == "EPERM[memlock]");
            assert_eq!(
                has(&p, "array", "create", "EPERM[memlock]"),
                reachable,
                "{acct:?}"
            );
            assert_eq!(listed, !reachable, "{acct:?}");
            assert!(!has(&p, "prog_array", "create", "EPERM[memlock]"));
        }
    }

    /// The catalogue follows each reason's scope: a path is a cell exactly where it is declared.
    #[test]
    fn rows_follow_the_reasons_and_the_family() {
        let root = Profile::default();
        assert!(has(&root, "cgroup_array", "update", "ENOENT[removed]"));
        // A scale run's fill is its own row.
        assert!(has(&root, "scale", "fill", "ok") && !has(&root, "hash", "fill", "ok"));
        assert!(!has(&root, "prog_array", "update", "ENOENT[removed]"));
        assert!(has(&root, "prog_array", "update", "EINVAL[owner]"));
        assert!(has(&root, "objects", "load", "EINVAL[owner]"));
        assert!(has(&root, "array_of_maps", "update", "EINVAL[template]"));
        assert!(
            has(&root, "hash", "update", "EINVAL[flags]") && has(&root, "hash", "update", "EINVAL[f-lock]")
        );
        assert!(
            has(&root, "hash", "update", "EPERM[access]") && has(&root, "hash", "update", "EPERM[frozen]")
        );
        assert!(has(&root, "array", "freeze", "EPERM[refreeze]"));
        assert!(
            has(&root, "badfd", "freeze", "EBADF[no-fd]") && has(&root, "nonmap", "check", "EINVAL[not-map]")
        );
        assert!(has(&root, "badfd", "info", "EBADFD[no-fd]") && !has(&root, "badfd", "info", "EBADF[no-fd]"));
        assert!(has(&root, "hash", "info", "ok") && has(&root, "cgroup_array", "info", "ok"));
        // Every row has its ok cells: value arrays, map-holding maps, other objects.
        assert!(has(&root, "array", "update", "ok") && has(&root, "percpu_array", "check", "ok"));
        assert!(has(&root, "array_of_maps", "update", "ok") && has(&root, "hash_of_maps", "delete", "ok"));
        assert!(has(&root, "objects", "load", "ok"));
        // Queues and stacks: pushed, peeked, popped, never walked or dumped.
        for row in ["queue", "stack"] {
            assert!(has(&root, row, "update", "ok") && has(&root, row, "lookup_and_delete", "ok"));
            assert!(!has(&root, row, "check", "ok") && has(&root, row, "check", "ENOTSUPP[no-batch]"));
            assert!(
                has(&root, row, "next_key", "EINVAL[no-walk]") && !has(&root, row, "next_key", "ENOENT[end]")
            );
            assert!(has(&root, row, "lookup", "ENOENT[empty]") && has(&root, row, "update", "E2BIG[full]"));
        }
        assert!(
            has(&root, "type27", "create", "EINVAL[type]")
                && has(&root, "invalid_type", "create", "EINVAL[type]")
        );
        assert!(has(&root, "fdtable", "idgap", "ok") && has(&root, "fdtable", "create", "EMFILE[nofile]"));
        // Moving to a CPU is a row of its own: the move and the CPU that is not there.
        assert!(has(&root, "cpu", "cpu", "ok") && has(&root, "cpu", "cpu", "EINVAL[offline]"));
        assert!(cells("nothing", &root).is_empty());
        assert!(
            !has(&root, "hash_of_maps", "delete", "E2BIG[index]")
                && has(&root, "array_of_maps", "delete", "E2BIG[index]")
        );
        // Two paths with one errno are two cells: the coarse catalogue counted them as one.
        let einval_update = cells("prog_array", &root)
            .into_iter()
            .filter(|c| c.0 == "update" && c.1.starts_with("EINVAL["))
            .count();
        assert!(einval_update >= 3, "{einval_update}");
        // A profile's errno follows: freeze of a frozen map was EBUSY before 6.5.
        let old = Profile {
            freeze_checks_write: false,
            ..Profile::default()
        };
        assert!(has(&old, "array", "freeze", "EBUSY[refreeze]"));
    }

    /// Each dialect's own refusal path is a cell exactly on the kernels that refuse that way,
    /// and listed as unreachable on the others: flipping the dialect moves it across.
    #[test]
    fn dialect_paths_are_catalogued_where_the_kernel_has_them() {
        let new = Profile::default();
        let old = Profile {
            hash_lookup_and_delete: false,
            hash_key_size_lifted: false,
            percpu_array_batch: false,
            xdp_frags: false,
            freeze_checks_write: false,
            lpm_batch: false,
            ..Profile::default()
        };
        let seven = Profile {
            percpu_cpu_flags: true,
            ..Profile::default()
        };
        // 5.19 to 6.13: map-in-maps have batch ops, an ARRAY_OF_MAPS hole is EINTR.
        let holes = Profile {
            batch_skips_holes: false,
            ..Profile::default()
        };
        let no_mim_batch = Profile {
            map_in_map_batch: false,
            ..Profile::default()
        };
        // (row, op, cell, the profile that has it, one that does not)
        let paths = [
            ("array_of_maps", "lookup_batch", "EINTR[hole]", &holes, &new),
            (
                "hash_of_maps",
                "update_batch",
                "ENOTSUPP[no-batch]",
                &no_mim_batch,
                &new,
            ),
            ("hash", "lookup_and_delete", "ENOTSUPP[no-command]", &old, &new),
            ("percpu_hash", "create", "E2BIG[key-size]", &old, &new),
            ("percpu_array", "check", "ENOTSUPP[no-batch]", &old, &new),
            ("lpm_trie", "check", "ENOTSUPP[no-batch]", &old, &new),
            ("objects", "load", "EINVAL[prog-flags]", &old, &new),
            ("array", "freeze", "EPERM[access]", &new, &old),
            ("hash", "update", "EINVAL[cpu-flags]", &seven, &new),
            ("prog_array", "lookup", "EINVAL[cpu-flags]", &seven, &new),
            ("percpu_array", "lookup", "ERANGE[cpu-range]", &seven, &new),
            ("percpu_hash", "update", "ERANGE[cpu-range]", &seven, &new),
        ];
        for (row, op, cell, with, without) in paths {
            let apart = |p: &Profile| unreachable(row, p).iter().any(|c| c.0 == op && c.1 == cell);
            assert!(
                has(with, row, op, cell) && !apart(with),
                "{row}/{op}:{cell} where it is"
            );
            assert!(
                !has(without, row, op, cell) && apart(without),
                "{row}/{op}:{cell} elsewhere"
            );
        }
        // Rows outside a path's scope have it on no kernel, not even as unreachable.
        assert!(!unreachable("array", &new)
            .iter()
            .any(|c| c.1 == "E2BIG[key-size]"));
        assert!(!has(&seven, "array", "lookup", "ERANGE[cpu-range]"));
        assert!(!has(&old, "array", "create", "E2BIG[key-size]"));
    }
}
