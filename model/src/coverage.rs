//! The catalogue of (op, outcome) cells each family's model can produce, the denominator of
//! outcome coverage. The core idea: a cell the model cannot produce is not counted as missed,
//! and a cell a run observes outside the catalogue is printed, so the two stay in step.

use crate::profile::Profile;

/// Cells of the five fd-holding families.
fn fd_map_cells(family: &str) -> Vec<(&'static str, &'static str)> {
    let mut v = vec![
        ("create", "ok"),
        ("create", "EINVAL"),
        ("update", "ok"),
        ("update", "EINVAL"),
        ("update", "EPERM"),
        ("update", "E2BIG"),
        ("update", "EBADF"),
        ("lookup", "EINVAL"),
        ("lookup", "EPERM"),
        ("delete", "ok"),
        ("delete", "ENOENT"),
        ("delete", "EPERM"),
        ("next_key", "ok"),
        ("next_key", "ENOENT"),
        ("next_key", "EPERM"),
        ("lookup_and_delete", "ENOTSUPP"),
        ("lookup_and_delete", "EINVAL"),
        ("lookup_and_delete", "EPERM"),
        ("freeze", "ok"),
        ("freeze", "EPERM"),
        ("close", "ok"),
        ("info", "ok"),
        ("check", "ok"),
        ("check", "EPERM"),
    ];
    match family {
        "prog_array" | "array_of_maps" | "hash_of_maps" => v.extend([("lookup", "ok"), ("lookup", "ENOENT")]),
        _ => v.push(("lookup", "ENOTSUPP")),
    }
    if family != "hash_of_maps" {
        v.push(("delete", "E2BIG"));
    }
    match family {
        "perf_event_array" => v.push(("update", "EOPNOTSUPP")),
        "cgroup_array" => v.push(("update", "ENOENT")),
        "array_of_maps" => v.extend([("create", "EBADF"), ("create", "ENOTSUPP")]),
        "hash_of_maps" => {
            v.retain(|c| *c != ("delete", "E2BIG"));
            v.extend([
                ("create", "EBADF"),
                ("create", "ENOTSUPP"),
                ("create", "E2BIG"),
                ("update", "EEXIST"),
                ("update", "ENOENT"),
            ]);
        }
        _ => {}
    }
    v
}

/// Cells of a coverage row: a map family word, `badfd`, or `invalid_type`.
pub fn cells(family: &str, profile: &Profile) -> Vec<(&'static str, String)> {
    let mut v: Vec<(&'static str, &'static str)> = Vec::new();
    let common = [
        ("lookup", "ok"),
        ("lookup", "EINVAL"),
        ("lookup", "EPERM"),
        ("lookup", "ENOENT"),
        ("update", "ok"),
        ("update", "EINVAL"),
        ("update", "EPERM"),
        ("update", "E2BIG"),
        ("update", "EEXIST"),
        ("next_key", "ok"),
        ("next_key", "ENOENT"),
        ("next_key", "EPERM"),
        ("lookup_and_delete", "EINVAL"),
        ("lookup_and_delete", "EPERM"),
        ("freeze", "ok"),
        ("freeze", "EPERM"),
        ("close", "ok"),
        ("info", "ok"),
        ("check", "ok"),
        ("check", "EPERM"),
        ("create", "ok"),
        ("create", "EINVAL"),
        ("create", "E2BIG"),
    ];
    match family {
        "array" | "percpu_array" => {
            v.extend(common);
            v.extend([
                ("delete", "EINVAL"),
                ("delete", "EPERM"),
                ("lookup_and_delete", "ENOTSUPP"),
            ]);
        }
        "hash" | "percpu_hash" => {
            v.extend(common);
            v.extend([
                ("update", "ENOENT"),
                ("delete", "ok"),
                ("delete", "ENOENT"),
                ("delete", "EPERM"),
                ("lookup_and_delete", "ok"),
                ("lookup_and_delete", "ENOENT"),
            ]);
            if !profile.cap_sys_admin {
                v.push(("create", "EPERM"));
            }
        }
        "prog_array" | "perf_event_array" | "cgroup_array" | "array_of_maps" | "hash_of_maps" => {
            v.extend(fd_map_cells(family));
        }
        // A bad fd and a non-map fd (program, cgroup, perf; O_PATH) fail the same two ways.
        "nonmap" | "badfd" => {
            for op in [
                "update",
                "lookup",
                "delete",
                "next_key",
                "lookup_and_delete",
                "freeze",
                "check",
            ] {
                v.push((op, "EBADF"));
                v.push((op, "EINVAL"));
            }
            // bpf_obj_get_info_by_fd says EBADFD where the others say EBADF (a closed or
            // never-opened number; an O_PATH cgroup fd).
            v.extend([("info", "EBADFD"), ("info", "EINVAL")]);
        }
        "objects" => v.extend([
            ("load", "ok"),
            ("load", "EBADF"),
            ("load", "EINVAL"),
            ("mkcgroup", "ok"),
            ("open_cgroup", "ok"),
            ("open_cgroup", "ENOENT"),
            ("perf_event", "ok"),
            ("fd_by_id", "ok"),
            ("fd_by_id", "EINVAL"),
            ("fd_by_id", "ENOENT"),
            ("alive", "alive"),
            ("alive", "gone"),
            ("settle", "gone"),
            ("rmdir", "ok"),
            ("rmdir", "ENOENT"),
            ("dying", "ok"),
            ("settle_dying", "ok"),
            ("pin", "ok"),
            ("pin", "EEXIST"),
            ("pin", "EINVAL"),
            ("unpin", "ok"),
            ("unpin", "ENOENT"),
            ("get_pinned", "ok"),
            ("get_pinned", "EINVAL"),
            ("get_pinned", "ENOENT"),
            ("close", "ok"),
        ]),
        f if f == "invalid_type" || f.starts_with("type") => v.push(("create", "EINVAL")),
        // fdtable cases: the limit ops, and every fd-making op refused for want of an fd.
        "fdtable" => v.extend([
            ("fdtable", "ok"),
            ("rlimit", "ok"),
            ("rlimit", "EINVAL"),
            ("rlimit", "EPERM"),
            ("dropcap", "ok"),
            ("idgap", "ok"),
            ("create", "EMFILE"),
            ("load", "EMFILE"),
            ("fd_by_id", "EMFILE"),
            ("perf_event", "EMFILE"),
            ("mkcgroup", "EMFILE"),
            ("open_cgroup", "EMFILE"),
            ("get_pinned", "EMFILE"),
        ]),
        _ => {}
    }
    v.into_iter().map(|(op, o)| (op, o.to_string())).collect()
}

/// Outcomes of a row that the kernel can give but no run here reaches, each with why: shown
/// as unreachable beside the coverage table, not left out silently and not counted.
pub fn unreachable(family: &str, profile: &Profile) -> Vec<(&'static str, &'static str, &'static str)> {
    let mut v = Vec::new();
    let value = matches!(family, "array" | "percpu_array" | "hash" | "percpu_hash");
    if value
        || matches!(
            family,
            "prog_array" | "perf_event_array" | "cgroup_array" | "array_of_maps" | "hash_of_maps"
        )
    {
        // map_freeze: EBUSY while map->writecnt is held, i.e. a writable mmap of the map.
        v.push((
            "freeze",
            "EBUSY",
            "only with a writable mmap of the map, which mapcheck never makes",
        ));
    }
    if value {
        v.push((
            "create",
            "ENOMEM",
            "allowed above a 1 GiB allocation, which the generator never asks for (nor forces the allocator to fail)",
        ));
        if profile.mem_accounting == crate::profile::MemAccounting::Memcg {
            v.push((
                "create",
                "EPERM",
                "RLIMIT_MEMLOCK refuses maps only before 5.11 (bpf_charge_memlock); this kernel charges the memory cgroup",
            ));
        }
    }
    if matches!(family, "hash" | "percpu_hash") && profile.cap_sys_admin {
        // htab_map_alloc_check: BPF_F_ZERO_SEED without CAP_SYS_ADMIN.
        v.retain(|c| c.0 != "create" || c.1 != "EPERM");
        v.push((
            "create",
            "EPERM",
            "BPF_F_ZERO_SEED is refused only without CAP_SYS_ADMIN, which this process has",
        ));
    }
    // A cell another path reaches is in the catalogue, not here (cells are op and errno).
    let reachable = cells(family, profile);
    v.retain(|(op, o, _)| !reachable.iter().any(|(c, co)| c == op && co == o));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unreachable cells are never in the catalogue (they would count as missed), and they
    /// follow the profile: ZERO_SEED's EPERM is reachable exactly without CAP_SYS_ADMIN.
    #[test]
    fn unreachable_cells_are_apart_from_the_catalogue() {
        let mut p = Profile::default();
        for cap in [true, false] {
            p.cap_sys_admin = cap;
            for fam in [
                "array",
                "percpu_array",
                "hash",
                "percpu_hash",
                "prog_array",
                "hash_of_maps",
            ] {
                let cat = cells(fam, &p);
                for (op, o, why) in unreachable(fam, &p) {
                    assert!(!why.is_empty());
                    assert!(
                        !cat.iter().any(|(c, co)| *c == op && co == o),
                        "{fam}/{op}:{o} both"
                    );
                }
            }
            let eperm = unreachable("hash", &p)
                .iter()
                .any(|c| c.0 == "create" && c.1 == "EPERM");
            assert_eq!(eperm, cap, "cap_sys_admin {cap}");
            assert!(unreachable("array", &p)
                .iter()
                .any(|c| c.0 == "create" && c.1 == "ENOMEM"));
        }
    }

    #[test]
    fn rows_follow_the_profile_and_the_family() {
        let root = Profile::default();
        let user = Profile {
            cap_sys_admin: false,
            ..Profile::default()
        };
        let has =
            |p: &Profile, fam: &str, op: &str, o: &str| cells(fam, p).iter().any(|c| c.0 == op && c.1 == o);
        assert!(has(&user, "hash", "create", "EPERM") && !has(&root, "hash", "create", "EPERM"));
        assert!(
            has(&root, "cgroup_array", "update", "ENOENT") && !has(&root, "prog_array", "update", "ENOENT")
        );
        assert!(has(&root, "badfd", "freeze", "EBADF") && has(&root, "nonmap", "check", "EINVAL"));
        assert!(has(&root, "badfd", "info", "EBADFD") && !has(&root, "badfd", "info", "EBADF"));
        assert!(has(&root, "hash", "info", "ok") && has(&root, "cgroup_array", "info", "ok"));
        assert!(has(&root, "type27", "create", "EINVAL") && has(&root, "invalid_type", "create", "EINVAL"));
        assert!(has(&root, "fdtable", "idgap", "ok") && cells("nothing", &root).is_empty());
        assert!(
            !has(&root, "hash_of_maps", "delete", "E2BIG") && has(&root, "array_of_maps", "delete", "E2BIG")
        );
    }
}
