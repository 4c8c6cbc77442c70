//! `mapcheck repro --c CASE`: a case as a standalone C program (raw `bpf(2)` and the other
//! syscalls, kernel UAPI headers only) that performs each op, prints its outcome in the
//! script syntax, and compares it with what the model allows where that is one outcome.
//! The core idea: what a kernel developer attaches to a bug report needs neither Rust nor
//! libbpf, and says the same thing the divergence report said.

use crate::corpus::Case;
use mapcheck_model::outcome::fmt_outcome;
use mapcheck_model::{Allowed, BadFd, Expect, FdRef, Kind, MapType, Op, Resource, Ret, Value, World};
use std::fmt::Write;

const PRELUDE: &str = r#"#define _GNU_SOURCE
#pragma GCC diagnostic ignored "-Wunused-function"
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NEVER_OPENED 0x3ffffff0
static int fds[4][256], mfail, closed_fd = -1, notbpf_fd = -1;
static unsigned ids[4][256];
static int made[4][256]; /* handles that created their object: ids are named by these */
static int fdtable;
static char cgdir[512], bpffs[64], out[8192];
static int bpffs_in_tmp;
static const char *kl = "mpce";

static long sys_bpf(int cmd, union bpf_attr *a) { return syscall(__NR_bpf, cmd, a, sizeof(*a)); }

static const char *ename(int e) {
	static char b[16];
	switch (e) {
	case EPERM: return "EPERM"; case ENOENT: return "ENOENT"; case EINTR: return "EINTR";
	case EIO: return "EIO"; case E2BIG: return "E2BIG"; case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN"; case ENOMEM: return "ENOMEM"; case EACCES: return "EACCES";
	case EFAULT: return "EFAULT"; case EBUSY: return "EBUSY"; case EEXIST: return "EEXIST";
	case EINVAL: return "EINVAL"; case EMFILE: return "EMFILE"; case ENOSPC: return "ENOSPC";
	case EBADFD: return "EBADFD"; case EOPNOTSUPP: return "EOPNOTSUPP"; case 524: return "ENOTSUPP";
	}
	snprintf(b, sizeof b, "E%d", e);
	return b;
}

/* The handle that created the object with this id, as the script names it. */
static const char *handle_of(int kind, unsigned id) {
	static char b[16];
	for (int n = 0; n < 256; n++)
		if (ids[kind][n] == id && id && made[kind][n]) { snprintf(b, sizeof b, "%c%d", kl[kind], n); return b; }
	return "?";
}

static void hex(char *dst, const unsigned char *b, int n) {
	for (int i = 0; i < n; i++) sprintf(dst + 2 * i, "%02x", b[i]);
	dst[2 * n] = 0;
}

/* Value bytes that spell an id as mapcheck writes one (id:m1, id:?) print as that text, as
   value_text in outcome.rs does; anything else as hex. dst holds 2n+1 bytes. */
static void valtext(char *dst, const unsigned char *b, int n) {
	if (n == 4 && !memcmp(b, "id:?", 4)) { memcpy(dst, "id:?", 5); return; }
	if (n >= 5 && n <= 14 && !memcmp(b, "id:", 3) && b[3] && strchr("mpce", b[3])) {
		unsigned long long v = 0; int ok = 1; char t[32];
		for (int i = 4; i < n; i++) { if (b[i] < '0' || b[i] > '9') ok = 0; else v = v * 10 + (b[i] - '0'); }
		if (ok && v <= 0xffffffffULL) {
			snprintf(t, sizeof t, "id:%c%llu", b[3], v);
			if ((int)strlen(t) == n && !memcmp(t, b, n)) { memcpy(dst, t, n + 1); return; }
		}
	}
	hex(dst, b, n);
}

/* A value of a map of bytes holding ids: "id:m1" for an id of the script's maps, else hex. */
static void idval(char *dst, const unsigned char *b) {
	unsigned id; memcpy(&id, b, 4);
	const char *h = handle_of(0, id);
	if (id && strcmp(h, "?")) sprintf(dst, "id:%s", h); else hex(dst, b, 4);
}

static unsigned obj_id(int kind, int fd) {
	union bpf_attr a; memset(&a, 0, sizeof a);
	unsigned char info[256]; memset(info, 0, sizeof info);
	a.info.bpf_fd = fd; a.info.info_len = sizeof info; a.info.info = (uintptr_t)info;
	if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a)) return 0;
	/* id follows type (maps) or type (progs): both at offset 4 */
	(void)kind;
	return *(unsigned *)(info + 4);
}

static void new_fd(int kind, int n, int fd, int creates) {
	fds[kind][n] = fd;
	made[kind][n] |= creates;
	if (kind < 2 && !ids[kind][n]) ids[kind][n] = obj_id(kind, fd);
	if (fdtable) snprintf(out, sizeof out, "ok fd=%c%d num=%d", kl[kind], n, fd);
	else snprintf(out, sizeof out, "ok fd=%c%d", kl[kind], n);
}

static void result(long r) {
	if (r < 0) snprintf(out, sizeof out, "%s", ename(errno));
	else snprintf(out, sizeof out, "ok");
}

/* A batch command's answer as mapcheck writes it: a bare errno when nothing was written
   (count as passed, no cursor, no records), else "ok"/errno, count, records, cursor. */
static void hexlist(const char *name, const unsigned char *b, unsigned n, unsigned len) {
	size_t at = strlen(out);
	at += snprintf(out + at, at < sizeof out ? sizeof out - at : 0, " %s=", name);
	for (unsigned i = 0; i < n && at + 2 * len + 2 < sizeof out; i++) {
		if (i) out[at++] = ',';
		hex(out + at, b + (size_t)i * len, len);
		at += 2 * len;
	}
}

static void vallist(const unsigned char *b, unsigned n, unsigned len) {
	size_t at = strlen(out);
	at += snprintf(out + at, at < sizeof out ? sizeof out - at : 0, " values=");
	for (unsigned i = 0; i < n && at + 2 * len + 2 < sizeof out; i++) {
		if (i) out[at++] = ',';
		valtext(out + at, b + (size_t)i * len, len);
		at += strlen(out + at);
	}
}

static int poisoned(const unsigned char *b, size_t n) {
	for (size_t i = 0; i < n; i++) if (b[i] != 0xa5) return 0;
	return 1;
}

static void batch_out(long r, unsigned asked, unsigned got, const unsigned char *kb, unsigned ks,
		      const unsigned char *vb, unsigned vl, const unsigned char *ob, unsigned ol, int idk) {
	int e = errno, wrote_out = ob && !poisoned(ob, ol);
	int untouched = (!kb || poisoned(kb, (size_t)asked * ks)) && (!vb || poisoned(vb, (size_t)asked * vl));
	if (r < 0 && got == asked && !wrote_out && untouched) { snprintf(out, sizeof out, "%s", ename(e)); return; }
	snprintf(out, sizeof out, "%s count=%u", r < 0 ? ename(e) : "ok", got);
	if (kb && got && ks) hexlist("keys", kb, got, ks);
	if (vb && got && vl && idk >= 0) {
		/* A map-in-map's values are map ids: named by the handle that made the map. */
		size_t at = strlen(out);
		for (unsigned i = 0; i < got && at + 24 < sizeof out; i++) {
			unsigned id; memcpy(&id, vb + (size_t)i * vl, 4);
			at += snprintf(out + at, sizeof out - at, "%s%s", i ? "," : " ids=", handle_of(idk, id));
		}
	} else if (vb && got && vl == 4 && idk == -2) {
		size_t at = strlen(out);
		for (unsigned i = 0; i < got && at + 24 < sizeof out; i++) {
			char h[24]; idval(h, vb + (size_t)i * 4);
			at += snprintf(out + at, sizeof out - at, "%s%s", i ? "," : " values=", h);
		}
	} else if (vb && got && vl) vallist(vb, got, vl);
	if (wrote_out) hexlist("out", ob, 1, ol);
}

static void step(int i, const char *op, const char *want) {
	printf("%d: %s => %s\n", i, op, out);
	if (want && strcmp(out, want)) { printf("   MISMATCH: the model allows %s\n", want); mfail++; }
	fflush(stdout);
}

static int alive(int kind, int n) {
	union bpf_attr a; memset(&a, 0, sizeof a);
	a.start_id = ids[kind][n] - 1;
	if (sys_bpf(kind ? BPF_PROG_GET_NEXT_ID : BPF_MAP_GET_NEXT_ID, &a)) return 0;
	return a.next_id == ids[kind][n];
}

/* The cgroup v2 mount (from /proc/self/mountinfo), or $CGROUP2. */
static void cgroup_setup(void) {
	char root[256] = "/sys/fs/cgroup", line[1024], mnt[256];
	FILE *f = fopen("/proc/self/mountinfo", "r");
	while (f && fgets(line, sizeof line, f))
		if (strstr(line, " - cgroup2 ") && sscanf(line, "%*s %*s %*s %*s %255s", mnt) == 1) {
			snprintf(root, sizeof root, "%s", mnt);
			break;
		}
	if (f) fclose(f);
	if (getenv("CGROUP2")) snprintf(root, sizeof root, "%s", getenv("CGROUP2"));
	snprintf(cgdir, sizeof cgdir, "%s/mapcheck-%d-repro", root, getpid());
	mkdir(cgdir, 0755);
}

/* Pins go to a bpffs of this process's own, mounted over /sys/fs/bpf in a private mount
 * namespace: it goes with the process however that ends (a crash, a signal) and never meets
 * the host's pins. Without a namespace, a directory in /tmp that cleanup() unmounts. */
static void bpffs_setup(void) {
	if (bpffs[0]) return;
	if (!unshare(CLONE_NEWNS) && !mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)
	    && !mount("bpf", "/sys/fs/bpf", "bpf", 0, NULL)) {
		strcpy(bpffs, "/sys/fs/bpf");
		return;
	}
	strcpy(bpffs, "/tmp/mapcheck-repro-bpffs-XXXXXX");
	if (!mkdtemp(bpffs)) { perror("bpffs"); return; }
	bpffs_in_tmp = 1;
	if (mount("bpf", bpffs, "bpf", 0, NULL)) perror("bpffs");
}

static const char *tname(unsigned t) {
	static char b[16];
	switch (t) {
	case 1: return "hash"; case 2: return "array"; case 3: return "prog_array";
	case 4: return "perf_event_array"; case 5: return "percpu_hash"; case 6: return "percpu_array";
	case 8: return "cgroup_array"; case 12: return "array_of_maps"; case 13: return "hash_of_maps";
	}
	snprintf(b, sizeof b, "type%u", t);
	return b;
}

/* BPF_OBJ_GET_INFO_BY_FD of a map into a poisoned buffer up to map_extra (6.18 reads `hash`
 * back from the buffer), printed as the script syntax prints it. */
static void map_info(int fd) {
	struct bpf_map_info i; memset(&i, 0xa5, sizeof i);
	union bpf_attr a; memset(&a, 0, sizeof a);
	a.info.bpf_fd = fd; a.info.info_len = offsetof(struct bpf_map_info, map_extra) + 8; a.info.info = (uintptr_t)&i;
	if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a)) { result(-1); return; }
	char nm[80] = ""; int end = 16;
	while (end > 0 && !i.name[end - 1]) end--;
	for (int k = 0; k < end; k++) {
		unsigned char ch = i.name[k];
		if (ch > 0x20 && ch < 0x7f && ch != '"' && ch != '\\') sprintf(nm + strlen(nm), "%c", ch);
		else sprintf(nm + strlen(nm), "\\x%02x", ch);
	}
	int n = snprintf(out, sizeof out, "ok id=%s type=%s key=%u value=%u entries=%u flags=0x%x name=\"%s\"",
		handle_of(0, i.id), tname(i.type), i.key_size, i.value_size, i.max_entries, i.map_flags, nm);
	if (i.map_extra) snprintf(out + n, sizeof out - n, " extra=0x%llx", (unsigned long long)i.map_extra);
}

static void pin_path(char *p, int kind, int n) { sprintf(p, "%s/%c%d", bpffs, kl[kind], n); }

static void cleanup(void) {
	char p[600];
	for (int n = 255; n >= 0; n--) { snprintf(p, sizeof p, "%s/c%d", cgdir, n); rmdir(p); }
	if (cgdir[0]) rmdir(cgdir);
	if (bpffs_in_tmp) { umount2(bpffs, MNT_DETACH); rmdir(bpffs); }
}
"#;

fn c_bytes(b: &[u8]) -> String {
    let items: Vec<String> = b.iter().map(|x| format!("0x{x:02x}")).collect();
    format!(
        "{{{}}}",
        if items.is_empty() {
            "0".into()
        } else {
            items.join(",")
        }
    )
}

fn c_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.bytes() {
        match c {
            b'"' | b'\\' => {
                o.push('\\');
                o.push(c as char);
            }
            0x20..=0x7e => o.push(c as char),
            _ => o.push_str(&format!("\\x{c:02x}\"\"")),
        }
    }
    o.push('"');
    o
}

fn kind_ix(k: Kind) -> usize {
    k as usize
}

/// The C expression for the fd an `FdRef` stands for.
fn fd_expr(r: FdRef) -> String {
    match r {
        FdRef::Handle(h) => format!("fds[{}][{}]", kind_ix(h.kind), h.n),
        FdRef::Bad(BadFd::Closed) => "closed_fd".into(),
        FdRef::Bad(BadFd::NeverOpened) => "NEVER_OPENED".into(),
        FdRef::Bad(BadFd::NotBpf) => "notbpf_fd".into(),
    }
}

/// The key pointer of an element op: NULL for a keyless map (key_size 0), as the backend
/// passes it (`__bpf_copy_key` refuses any other), else the key buffer.
fn key_ptr(ks: usize) -> &'static str {
    match ks {
        0 => "0; (void)k",
        _ => "(uintptr_t)k",
    }
}

/// The buffer sizes the harness uses for an element op on `map`: the map's key size and
/// syscall value size, 64 and 64 through a non-map fd.
fn sizes(world: &World, map: FdRef) -> (usize, usize) {
    match map {
        FdRef::Handle(h) => world.map(h).map_or((64, 64), |m| {
            let vs = m.spec.value_size as usize;
            let vl = if m.spec.map_type.is_percpu() {
                vs.div_ceil(8) * 8 * world.profile.possible_cpus as usize
            } else if m.spec.map_type.holds_fds() {
                4
            } else {
                vs
            };
            (m.spec.key_size as usize, vl)
        }),
        FdRef::Bad(_) => (64, 64),
    }
}

/// What a value read back from `map` means: an id of this kind, or bytes.
fn id_kind(world: &World, map: FdRef) -> Option<Kind> {
    let FdRef::Handle(h) = map else { return None };
    match world.map(h)?.spec.map_type {
        MapType::ProgArray => Some(Kind::Prog),
        MapType::ArrayOfMaps | MapType::HashOfMaps => Some(Kind::Map),
        _ => None,
    }
}

/// Does `map` hold ids written as its bytes (`MapObj::ids`)? Its values are printed as ids.
fn holds_ids(world: &World, map: FdRef) -> bool {
    let FdRef::Handle(h) = map else { return false };
    world
        .map(h)
        .is_some_and(|m| m.ids == Some(true) && m.spec.value_size == 4 && !m.spec.map_type.is_percpu())
}

/// `batch_out`'s last argument: the kind of id a value is, -2 for a map of bytes holding ids.
fn batch_idk(world: &World, map: FdRef) -> i32 {
    match id_kind(world, map) {
        Some(k) => kind_ix(k) as i32,
        None if holds_ids(world, map) => -2,
        None => -1,
    }
}

fn padded(b: &[u8], n: usize) -> Vec<u8> {
    let mut v = b.to_vec();
    if v.len() < n {
        v.resize(n, 0);
    }
    v
}

/// The C statements for one op; they leave its outcome text in `out`.
fn op_code(world: &World, op: &Op) -> String {
    let mut c = String::new();
    let value_out = |c: &mut String, buf: &str, len: usize, map: FdRef| match id_kind(world, map) {
        None if holds_ids(world, map) => {
            let _ = writeln!(
                c,
                "\t\tchar h[24]; idval(h, {buf}); snprintf(out, sizeof out, \"ok value=%s\", h);"
            );
        }
        Some(k) => {
            let _ = writeln!(
                c,
                "\t\tunsigned id; memcpy(&id, {buf}, 4); snprintf(out, sizeof out, \"ok id=%s\", handle_of({}, id));",
                kind_ix(k)
            );
        }
        None => {
            let _ = writeln!(
                c,
                "\t\tchar h[{}]; valtext(h, {buf}, {len}); snprintf(out, sizeof out, \"ok value=%s\", h);",
                2 * len + 1
            );
        }
    };
    match op {
        Op::CreateMap { handle, spec } => {
            let _ = writeln!(c, "\tunion bpf_attr a; memset(&a, 0, sizeof a);");
            let _ = writeln!(
                c,
                "\ta.map_type = {}; a.key_size = {}; a.value_size = {}; a.max_entries = {}; a.map_flags = {:#x}; a.numa_node = {};",
                spec.map_type.raw(), spec.key_size, spec.value_size, spec.max_entries, spec.map_flags, spec.numa_node
            );
            if spec.map_extra != 0 {
                let _ = writeln!(c, "\ta.map_extra = {:#x}ULL;", spec.map_extra);
            }
            if !spec.name.is_empty() {
                let _ = writeln!(
                    c,
                    "\t{{ static const unsigned char nm[] = {}; memcpy(a.map_name, nm, {}); }}",
                    c_bytes(&spec.name),
                    spec.name.len().min(16)
                );
            }
            if let Some(r) = spec.inner {
                let _ = writeln!(c, "\ta.inner_map_fd = {};", fd_expr(r));
            }
            let _ = writeln!(
                c,
                "\tlong fd = sys_bpf(BPF_MAP_CREATE, &a);\n\tif (fd < 0) result(fd); else new_fd(0, {}, fd, 1);",
                handle.n
            );
        }
        Op::Update {
            map,
            key,
            value,
            flags,
        } => {
            let (ks, vl) = sizes(world, *map);
            let val = match value {
                Value::Bytes(b) => format!("static unsigned char v[] = {};", c_bytes(&padded(b, vl.max(1)))),
                Value::Fd(r) => format!(
                    "unsigned char v[{}]; memset(v, 0, sizeof v); int vfd = {}; memcpy(v, &vfd, 4);",
                    vl.max(4),
                    fd_expr(*r)
                ),
                Value::Id(r) => format!(
                    "unsigned char v[{}]; memset(v, 0, sizeof v); unsigned vid = obj_id(0, {}); memcpy(v, &vid, 4);",
                    vl.max(4),
                    fd_expr(FdRef::Handle(*r))
                ),
            };
            let _ = writeln!(
                c,
                "\tstatic unsigned char k[] = {};\n\t{val}\n\tunion bpf_attr a; memset(&a, 0, sizeof a);\n\ta.map_fd = {}; a.key = {}; a.value = (uintptr_t)v; a.flags = {flags:#x};\n\tresult(sys_bpf(BPF_MAP_UPDATE_ELEM, &a));",
                c_bytes(&padded(key, ks.max(1))),
                fd_expr(*map),
                key_ptr(ks)
            );
        }
        // A bloom filter's peek reads the value buffer and writes nothing back: "ok" or an errno.
        Op::Lookup {
            map,
            key,
            input,
            flags,
        } if !input.is_empty() => {
            let (ks, vl) = sizes(world, *map);
            let _ = writeln!(
                c,
                "\tstatic unsigned char k[] = {};\n\tstatic unsigned char v[] = {};\n\tunion bpf_attr a; memset(&a, 0, sizeof a);\n\ta.map_fd = {}; a.key = {}; a.value = (uintptr_t)v; a.flags = {flags:#x};\n\tresult(sys_bpf(BPF_MAP_LOOKUP_ELEM, &a));",
                c_bytes(&padded(key, ks.max(1))),
                c_bytes(&padded(input, vl.max(4))),
                fd_expr(*map),
                key_ptr(ks)
            );
        }
        Op::Lookup { map, key, flags, .. } | Op::LookupAndDelete { map, key, flags } => {
            let (ks, vl) = sizes(world, *map);
            let cmd = if matches!(op, Op::Lookup { .. }) {
                "BPF_MAP_LOOKUP_ELEM"
            } else {
                "BPF_MAP_LOOKUP_AND_DELETE_ELEM"
            };
            let _ = writeln!(
                c,
                "\tstatic unsigned char k[] = {};\n\tunsigned char v[{}]; memset(v, 0, sizeof v);\n\tunion bpf_attr a; memset(&a, 0, sizeof a);\n\ta.map_fd = {}; a.key = {}; a.value = (uintptr_t)v; a.flags = {flags:#x};\n\tif (sys_bpf({cmd}, &a)) result(-1); else {{",
                c_bytes(&padded(key, ks.max(1))),
                vl.max(4),
                fd_expr(*map),
                key_ptr(ks)
            );
            value_out(&mut c, "v", vl, *map);
            c.push_str("\t}\n");
        }
        Op::Delete { map, key } => {
            let (ks, _) = sizes(world, *map);
            let _ = writeln!(
                c,
                "\tstatic unsigned char k[] = {};\n\tunion bpf_attr a; memset(&a, 0, sizeof a);\n\ta.map_fd = {}; a.key = {};\n\tresult(sys_bpf(BPF_MAP_DELETE_ELEM, &a));",
                c_bytes(&padded(key, ks.max(1))),
                fd_expr(*map),
                key_ptr(ks)
            );
        }
        Op::GetNextKey { map, key } => {
            let (ks, _) = sizes(world, *map);
            let kexpr = match key {
                Some(k) => format!(
                    "static unsigned char k[] = {}; a.key = {};",
                    c_bytes(&padded(k, ks.max(1))),
                    key_ptr(ks)
                ),
                None => "a.key = 0;".into(),
            };
            let _ = writeln!(
                c,
                "\tunion bpf_attr a; memset(&a, 0, sizeof a);\n\t{kexpr}\n\tunsigned char nk[{}]; a.map_fd = {}; a.next_key = (uintptr_t)nk;\n\tif (sys_bpf(BPF_MAP_GET_NEXT_KEY, &a)) result(-1); else {{ char h[{}]; hex(h, nk, {ks}); snprintf(out, sizeof out, \"ok key=%s\", h); }}",
                ks.max(1),
                fd_expr(*map),
                2 * ks + 1
            );
        }
        Op::Freeze { map } => {
            let _ = writeln!(
                c,
                "\tunion bpf_attr a; memset(&a, 0, sizeof a); a.map_fd = {};\n\tresult(sys_bpf(BPF_MAP_FREEZE, &a));",
                fd_expr(*map)
            );
        }
        // A keyless map has no walk: `check` is its LOOKUP_BATCH, which it has none of.
        Op::Check { map } if matches!(map, FdRef::Handle(h) if world.map(*h).is_some_and(|m| m.spec.map_type.is_keyless())) =>
        {
            let _ = writeln!(
                c,
                "\tunsigned char kb[4], vb[{v}], ob[4];\n\tunion bpf_attr a; memset(&a, 0, sizeof a);\n\ta.batch.map_fd = {fd}; a.batch.keys = (uintptr_t)kb; a.batch.values = (uintptr_t)vb; a.batch.out_batch = (uintptr_t)ob; a.batch.count = 1;\n\tresult(sys_bpf(BPF_MAP_LOOKUP_BATCH, &a));",
                v = sizes(world, *map).1.max(4),
                fd = fd_expr(*map)
            );
        }
        Op::Check { map } => {
            // The full state as GET_NEXT_KEY walks it: entries (value maps) or slots.
            let (ks, vl) = sizes(world, *map);
            let word = if id_kind(world, *map).is_some()
                || matches!(map, FdRef::Handle(h) if world.map(*h).is_some_and(|m| m.spec.map_type.holds_fds()))
            {
                "slots"
            } else {
                "entries"
            };
            let _ = writeln!(
                c,
                "\tunsigned char cur[{k}], nk[{k}], v[{v}]; int n = 0, err = 0, first = 1;\n\tfor (;;) {{\n\t\tunion bpf_attr a; memset(&a, 0, sizeof a); a.map_fd = {fd};\n\t\ta.key = first ? 0 : (uintptr_t)cur; a.next_key = (uintptr_t)nk;\n\t\tif (sys_bpf(BPF_MAP_GET_NEXT_KEY, &a)) {{ if (errno != ENOENT) err = errno; break; }}\n\t\tmemcpy(cur, nk, sizeof cur); first = 0; n++;\n\t\tunion bpf_attr l; memset(&l, 0, sizeof l); l.map_fd = {fd}; l.key = (uintptr_t)cur; l.value = (uintptr_t)v;\n\t\tsys_bpf(BPF_MAP_LOOKUP_ELEM, &l);\n\t\tif (n > {max}) break;\n\t}}\n\tif (err) snprintf(out, sizeof out, \"%s\", ename(err)); else snprintf(out, sizeof out, \"ok {word}=%d\", n);",
                k = ks.max(1),
                v = vl.max(4),
                fd = fd_expr(*map),
                max = 1 << 20
            );
        }
        Op::Close { handle } => {
            let _ = writeln!(c, "\tresult(close({}));", fd_expr(FdRef::Handle(*handle)));
        }
        Op::Fill { map, n, from } => {
            // mapcheck_model::op::fill_key / fill_value, every CPU's slot alike.
            let (ks, vl) = sizes(world, FdRef::Handle(*map));
            let (vs, stride) = world.map(*map).map_or((vl, vl), |m| {
                let vs = m.spec.value_size as usize;
                (
                    vs,
                    if m.spec.map_type.is_percpu() {
                        vs.div_ceil(8) * 8
                    } else {
                        vl
                    },
                )
            });
            let _ = writeln!(
                c,
                "	unsigned n = {n}, from = {from}, ks = {ks}, vs = {vs}, vl = {vl}, stride = {stride};\n\tunsigned char *k = calloc(n ? n : 1, ks ? ks : 1), *v = calloc(n ? n : 1, vl ? vl : 1);\n\tfor (unsigned i = 0; i < n; i++) {{\n\t\tfor (unsigned j = 0; j < ks && j < 4; j++) k[i * ks + j] = (from + i) >> (8 * j);\n\t\tunsigned x = (from + i) * 0x9e3779b9u ^ 0xa5a5a5a5u;\n\t\tfor (unsigned s = 0; s + vs <= vl; s += stride)\n\t\t\tfor (unsigned j = 0; j < vs; j++) v[i * vl + s + j] = (unsigned char)(x >> (8 * (j % 4))) ^ (j / 4);\n\t}}\n\tunion bpf_attr a; memset(&a, 0, sizeof a);\n\ta.batch.map_fd = {}; a.batch.keys = (uintptr_t)k; a.batch.values = (uintptr_t)v; a.batch.count = n;\n\tlong r = sys_bpf(BPF_MAP_UPDATE_BATCH, &a);\n\tif (r) result(r); else snprintf(out, sizeof out, \"ok count=%u\", a.batch.count);\n\tfree(k); free(v);",
                fd_expr(FdRef::Handle(*map))
            );
        }
        Op::Info { map } => {
            let _ = writeln!(c, "\tmap_info({});", fd_expr(*map));
        }
        Op::LookupBatch {
            map,
            delete,
            cursor,
            count,
            elem_flags,
            flags,
        } => {
            let (ks, vl) = sizes(world, *map);
            let tok = match map {
                FdRef::Handle(h) => world
                    .map(*h)
                    .map_or(4, |m| mapcheck_model::world::batch_cursor_len(&m.spec)),
                FdRef::Bad(_) => 4,
            }
            .max(1);
            let cmd = if *delete {
                "BPF_MAP_LOOKUP_AND_DELETE_BATCH"
            } else {
                "BPF_MAP_LOOKUP_BATCH"
            };
            let inb = match cursor {
                Some(cur) => format!(
                    "static unsigned char ib[] = {}; a.batch.in_batch = (uintptr_t)ib;",
                    c_bytes(&padded(cur, tok))
                ),
                None => String::new(),
            };
            let _ = writeln!(
                c,
                "\tunsigned n = {count}, ks = {ks}, vl = {vl};\n\tunsigned char *kb = malloc((size_t)n * ks + 1), *vb = malloc((size_t)n * vl + 1), ob[{tok}];\n\tmemset(kb, 0xa5, (size_t)n * ks + 1); memset(vb, 0xa5, (size_t)n * vl + 1); memset(ob, 0xa5, sizeof ob);\n\tunion bpf_attr a; memset(&a, 0, sizeof a);\n\t{inb}\n\ta.batch.map_fd = {fd}; a.batch.out_batch = (uintptr_t)ob; a.batch.keys = (uintptr_t)kb; a.batch.values = (uintptr_t)vb; a.batch.count = n; a.batch.elem_flags = {elem_flags:#x}ULL; a.batch.flags = {flags:#x}ULL;\n\tlong r = sys_bpf({cmd}, &a);\n\tbatch_out(r, n, a.batch.count, kb, ks, vb, vl, ob, sizeof ob, {idk});\n\tfree(kb); free(vb);",
                fd = fd_expr(*map),
                idk = batch_idk(world, *map)
            );
        }
        Op::UpdateBatch {
            map,
            keys,
            values,
            elem_flags,
            flags,
        } => {
            let (ks, vl) = sizes(world, *map);
            let kb: Vec<u8> = keys.iter().flat_map(|k| padded(k, ks)).collect();
            let _ = writeln!(
                c,
                "\tstatic unsigned char kb[] = {};\n\tunsigned char vb[{}]; memset(vb, 0, sizeof vb);",
                c_bytes(&padded(&kb, 1)),
                (vl * values.len()).max(1)
            );
            for (i, v) in values.iter().enumerate() {
                match v {
                    Value::Bytes(b) => {
                        let _ = writeln!(
                            c,
                            "\t{{ static const unsigned char v[] = {}; memcpy(vb + {}, v, {}); }}",
                            c_bytes(&padded(b, vl.max(1))),
                            i * vl,
                            vl
                        );
                    }
                    Value::Fd(r) => {
                        let _ = writeln!(
                            c,
                            "\t{{ int vfd = {}; memcpy(vb + {}, &vfd, 4); }}",
                            fd_expr(*r),
                            i * vl
                        );
                    }
                    Value::Id(r) => {
                        let _ = writeln!(
                            c,
                            "\t{{ unsigned vid = obj_id(0, {}); memcpy(vb + {}, &vid, 4); }}",
                            fd_expr(FdRef::Handle(*r)),
                            i * vl
                        );
                    }
                }
            }
            let _ = writeln!(
                c,
                "\tunion bpf_attr a; memset(&a, 0, sizeof a);\n\ta.batch.map_fd = {}; a.batch.keys = (uintptr_t)kb; a.batch.values = (uintptr_t)vb; a.batch.count = {n}; a.batch.elem_flags = {elem_flags:#x}ULL; a.batch.flags = {flags:#x}ULL;\n\tlong r = sys_bpf(BPF_MAP_UPDATE_BATCH, &a);\n\tbatch_out(r, {n}, a.batch.count, 0, 0, 0, 0, 0, 0, -1);",
                fd_expr(*map),
                n = keys.len()
            );
        }
        Op::DeleteBatch {
            map,
            keys,
            elem_flags,
            flags,
        } => {
            let (ks, _) = sizes(world, *map);
            let kb: Vec<u8> = keys.iter().flat_map(|k| padded(k, ks)).collect();
            let _ = writeln!(
                c,
                "\tstatic unsigned char kb[] = {};\n\tunion bpf_attr a; memset(&a, 0, sizeof a);\n\ta.batch.map_fd = {}; a.batch.keys = (uintptr_t)kb; a.batch.count = {n}; a.batch.elem_flags = {elem_flags:#x}ULL; a.batch.flags = {flags:#x}ULL;\n\tlong r = sys_bpf(BPF_MAP_DELETE_BATCH, &a);\n\tbatch_out(r, {n}, a.batch.count, 0, 0, 0, 0, 0, 0, -1);",
                c_bytes(&padded(&kb, 1)),
                fd_expr(*map),
                n = keys.len()
            );
        }
        Op::LoadProg { handle, spec, uses } => {
            let _ = writeln!(
                c,
                "\tstruct bpf_insn in[{}]; int i = 0; memset(in, 0, sizeof in);",
                2 * uses.len() + 2
            );
            for r in uses {
                let _ = writeln!(
                    c,
                    "\tin[i].code = BPF_LD | BPF_DW | BPF_IMM; in[i].dst_reg = 1; in[i].src_reg = BPF_PSEUDO_MAP_FD; in[i].imm = {}; i += 2;",
                    fd_expr(*r)
                );
            }
            let _ = writeln!(
                c,
                "\tin[i].code = BPF_ALU64 | BPF_MOV | BPF_K; i++; in[i].code = BPF_JMP | BPF_EXIT; i++;\n\tunion bpf_attr a; memset(&a, 0, sizeof a);\n\ta.prog_type = {}; a.insns = (uintptr_t)in; a.insn_cnt = i; a.license = (uintptr_t)\"GPL\";\n\ta.prog_flags = {}; a.expected_attach_type = {};\n\tlong fd = sys_bpf(BPF_PROG_LOAD, &a);\n\tif (fd < 0) result(fd); else new_fd(1, {}, fd, 1);",
                spec.prog_type.raw(),
                if spec.xdp_frags { "1 << 5" } else { "0" },
                spec.attach,
                handle.n
            );
        }
        Op::FdById {
            handle,
            target,
            open_flags,
        } => {
            let k = kind_ix(target.kind);
            let _ = writeln!(
                c,
                "\tunion bpf_attr a; memset(&a, 0, sizeof a); a.{} = ids[{k}][{}]; a.open_flags = {open_flags:#x};\n\tlong fd = sys_bpf({}, &a);\n\tif (fd < 0) result(fd); else new_fd({k}, {}, fd, 0);",
                if k == 0 { "map_id" } else { "prog_id" },
                target.n,
                if k == 0 { "BPF_MAP_GET_FD_BY_ID" } else { "BPF_PROG_GET_FD_BY_ID" },
                handle.n
            );
        }
        Op::Alive { target } => {
            let _ = writeln!(
                c,
                "\tsnprintf(out, sizeof out, alive({}, {}) ? \"ok alive\" : \"ok gone\");",
                kind_ix(target.kind),
                target.n
            );
        }
        Op::Settle { target } => {
            let _ = writeln!(
                c,
                "\tstruct timespec t0, t; clock_gettime(CLOCK_MONOTONIC, &t0);\n\tfor (;;) {{ if (!alive({k}, {n})) break; clock_gettime(CLOCK_MONOTONIC, &t); if (t.tv_sec - t0.tv_sec > 5) break; usleep(200); }}\n\tsnprintf(out, sizeof out, alive({k}, {n}) ? \"ok alive\" : \"ok gone\");",
                k = kind_ix(target.kind),
                n = target.n
            );
        }
        Op::MakeCgroup { handle } => {
            let _ = writeln!(
                c,
                "\tchar p[600]; snprintf(p, sizeof p, \"%s/c{n}\", cgdir);\n\tif (mkdir(p, 0755)) result(-1); else {{ int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC); if (fd < 0) result(fd); else new_fd(2, {n}, fd, 1); }}",
                n = handle.n
            );
        }
        Op::OpenCgroup { handle, target, path } => {
            let _ = writeln!(
                c,
                "\tchar p[600]; snprintf(p, sizeof p, \"%s/c{}\", cgdir);\n\tint fd = open(p, O_DIRECTORY | O_CLOEXEC | {});\n\tif (fd < 0) result(fd); else new_fd(2, {}, fd, 0);",
                target.n,
                if *path { "O_PATH" } else { "O_RDONLY" },
                handle.n
            );
        }
        Op::Rmdir { target } => {
            let _ = writeln!(
                c,
                "\tchar p[600]; snprintf(p, sizeof p, \"%s/c{}\", cgdir);\n\tresult(rmdir(p));",
                target.n
            );
        }
        Op::OpenPerf { handle, inherit } => {
            let _ = writeln!(
                c,
                "\tstruct perf_event_attr pa; memset(&pa, 0, sizeof pa);\n\tpa.type = PERF_TYPE_SOFTWARE; pa.size = sizeof pa; pa.config = PERF_COUNT_SW_BPF_OUTPUT;\n\tpa.sample_period = 1; pa.sample_type = PERF_SAMPLE_RAW; pa.inherit = {i};\n\tlong fd = syscall(__NR_perf_event_open, &pa, {pid}, {cpu}, -1, PERF_FLAG_FD_CLOEXEC);\n\tif (fd < 0) result(fd); else new_fd(3, {n}, fd, 1);",
                i = *inherit as u8,
                pid = if *inherit { 0 } else { -1 },
                cpu = if *inherit { -1 } else { 0 },
                n = handle.n
            );
        }
        Op::Dying => {
            let _ = writeln!(
                c,
                "\tchar p[600], line[256]; int n = -1; snprintf(p, sizeof p, \"%s/cgroup.stat\", cgdir);\n\tFILE *f = fopen(p, \"r\");\n\twhile (f && fgets(line, sizeof line, f)) sscanf(line, \"nr_dying_descendants %d\", &n);\n\tif (f) fclose(f);\n\tif (n < 0) snprintf(out, sizeof out, \"ENOENT\"); else snprintf(out, sizeof out, \"ok count=%d\", n);"
            );
        }
        Op::SettleDying { max } => {
            let _ = writeln!(
                c,
                "\tchar p[600], line[256]; int n = -1; snprintf(p, sizeof p, \"%s/cgroup.stat\", cgdir);\n\tfor (int t = 0; t < 10000; t++) {{\n\t\tn = -1; FILE *f = fopen(p, \"r\");\n\t\twhile (f && fgets(line, sizeof line, f)) sscanf(line, \"nr_dying_descendants %d\", &n);\n\t\tif (f) fclose(f);\n\t\tif (n <= {max}) break;\n\t\tusleep(500);\n\t}}\n\tif (n < 0) snprintf(out, sizeof out, \"ENOENT\"); else snprintf(out, sizeof out, \"ok count=%d\", n);"
            );
        }
        Op::Pin { target } => {
            let _ = writeln!(
                c,
                "\tbpffs_setup(); char p[128]; pin_path(p, {k}, {n});\n\tunion bpf_attr a; memset(&a, 0, sizeof a); a.pathname = (uintptr_t)p; a.bpf_fd = {fd};\n\tresult(sys_bpf(BPF_OBJ_PIN, &a));",
                k = kind_ix(target.kind),
                n = target.n,
                fd = fd_expr(FdRef::Handle(*target))
            );
        }
        Op::Unpin { target } => {
            let _ = writeln!(
                c,
                "\tbpffs_setup(); char p[128]; pin_path(p, {}, {});\n\tresult(unlink(p));",
                kind_ix(target.kind),
                target.n
            );
        }
        Op::GetPinned {
            handle,
            target,
            file_flags,
        } => {
            let _ = writeln!(
                c,
                "\tbpffs_setup(); char p[128]; pin_path(p, {}, {});\n\tunion bpf_attr a; memset(&a, 0, sizeof a); a.pathname = (uintptr_t)p; a.file_flags = {file_flags:#x};\n\tlong fd = sys_bpf(BPF_OBJ_GET, &a);\n\tif (fd < 0) result(fd); else new_fd({}, {}, fd, 0);",
                kind_ix(target.kind),
                target.n,
                kind_ix(handle.kind),
                handle.n
            );
        }
        Op::FdTable => {
            // fds 0-2 stay open, nothing else below 900 (the scratch fds move up), limits set.
            let _ = writeln!(
                c,
                "\tstruct rlimit r; getrlimit(RLIMIT_NOFILE, &r); rlim_t hard = r.rlim_max < 4096 ? r.rlim_max : 4096;\n\tstruct rlimit big = {{hard, hard}}; setrlimit(RLIMIT_NOFILE, &big);\n\tnotbpf_fd = fcntl(notbpf_fd, F_DUPFD_CLOEXEC, 900); closed_fd = notbpf_fd + 1;\n\tfor (int i = 3; i < 900; i++) close(i);\n\tgetrlimit(RLIMIT_MEMLOCK, &r); r.rlim_cur = r.rlim_max; setrlimit(RLIMIT_MEMLOCK, &r);\n\tstruct rlimit lo = {{hard < 64 ? hard : 64, hard}};\n\tresult(setrlimit(RLIMIT_NOFILE, &lo)); fdtable = 1;"
            );
        }
        Op::SetRlimit { res, soft, hard } => {
            let lim = |v: u64| {
                if v == u64::MAX {
                    "RLIM_INFINITY".to_string()
                } else {
                    format!("{v}ULL")
                }
            };
            let _ = writeln!(
                c,
                "\tstruct rlimit r = {{{}, {}}};\n\tresult(setrlimit({}, &r));",
                lim(*soft),
                lim(*hard),
                match res {
                    Resource::Nofile => "RLIMIT_NOFILE",
                    Resource::Memlock => "RLIMIT_MEMLOCK",
                }
            );
        }
        Op::DropCap => {
            let _ = writeln!(
                c,
                "\tstruct __user_cap_header_struct h = {{_LINUX_CAPABILITY_VERSION_3, 0}}; struct __user_cap_data_struct d[2];\n\tlong r = syscall(__NR_capget, &h, d);\n\tif (!r) {{ d[0].effective &= ~(1u << CAP_SYS_RESOURCE); r = syscall(__NR_capset, &h, d); }}\n\tresult(r);"
            );
        }
        Op::IdGap { from, to } => {
            let _ = writeln!(
                c,
                "\tsnprintf(out, sizeof out, \"ok count=%u\", ids[0][{}] - ids[0][{}]);",
                to.n, from.n
            );
        }
        // `c_program` refuses these before it writes anything.
        Op::ProgElem { .. } => {}
        Op::Cpu { cpu } => {
            let _ = writeln!(
                c,
                "\tcpu_set_t s; CPU_ZERO(&s); CPU_SET({cpu}, &s);\n\tresult(sched_setaffinity(0, sizeof s, &s));"
            );
        }
    }
    c
}

/// The C program for `case`, following the model from `world`: each op's expected outcome
/// is the model's where it allows exactly one (a hash walk's order, a deferred release or a
/// full-state dump is printed but not asserted).
pub fn c_program(case: &Case, world: &World) -> Result<String, String> {
    let mut w = world.clone();
    let mut body = String::new();
    for (i, s) in case.steps.iter().enumerate() {
        if let Op::ProgElem { .. } = s.op {
            return Err(format!(
                "line {}: `{}`: program-side ops have no C form yet (the program is built in harness/src/sys.rs: prog_elem_insns)",
                s.line, s.op
            ));
        }
        // The C tables hold 256 handles of each kind.
        if let Some(h) = s.op.creates().filter(|h| h.n >= 256) {
            return Err(format!(
                "line {}: `{h}`: the C reproducer takes handles up to 255",
                s.line
            ));
        }
        if let Err(why) = w.precondition(&s.op) {
            return Err(format!(
                "line {}: the model no longer accepts `{}`: {why}",
                s.line, s.op
            ));
        }
        let allowed = w.allowed(&s.op);
        let want = match &allowed {
            Allowed::Exactly(o @ (Err(_) | Ok(_))) if !matches!(o, Ok(Ret::State(_)) | Ok(Ret::Slots(_))) => {
                Some(fmt_outcome(o))
            }
            _ => None,
        };
        let op_text = s.op.to_string();
        let _ = writeln!(
            body,
            "\t/* {}: {} */\n\t{{\n{}\t}}\n\tstep({}, {}, {});",
            i + 1,
            op_text,
            op_code(&w, &s.op)
                .lines()
                .map(|l| format!("\t{l}\n"))
                .collect::<String>(),
            i + 1,
            c_str(&op_text),
            want.as_deref().map_or("NULL".into(), c_str)
        );
        // Follow what the script recorded (the kernel's path), else the model's prediction.
        let o = match &s.expect {
            Some(Expect::Exactly(o)) => o.clone(),
            _ => mapcheck_model::gen::predict(&w, &s.op),
        };
        let o = match (&o, &allowed) {
            (Ok(Ret::Fd(h)), Allowed::Exactly(Ok(Ret::FdAt(_, n)))) => Ok(Ret::FdAt(*h, *n)),
            _ => o,
        };
        w.apply(&s.op, &o);
    }
    let mut prog = String::new();
    let _ = writeln!(
        prog,
        "/* {}: generated by `mapcheck repro --c` from a mapcheck case.\n * kernel: {} ({} possible CPUs; per-CPU buffers are sized for that)",
        case.name, world.profile.release, world.profile.possible_cpus
    );
    for (k, v) in &case.header {
        if k != "case" {
            let _ = writeln!(prog, " * {k}: {}", v.replace("*/", "* /"));
        }
    }
    let _ = writeln!(
        prog,
        " * Build: gcc -O2 -o repro repro.c; run as root. Each line: step, op, the kernel's\n * outcome; a MISMATCH line where the model allows one other outcome (exit 1). */"
    );
    prog.push_str(PRELUDE);
    let _ = writeln!(
        prog,
        "\nint main(void)\n{{\n\tsetvbuf(stdout, NULL, _IOLBF, 0);\n\tnotbpf_fd = open(\"/dev/null\", O_RDONLY | O_CLOEXEC);\n\t/* A closed number high in the table, as the backend takes it: the lowest free one would be the next map's. */\n\tstruct rlimit nr; getrlimit(RLIMIT_NOFILE, &nr); int base = nr.rlim_cur - 1 < 4096 ? (int)nr.rlim_cur - 1 : 4096;\n\tclosed_fd = fcntl(notbpf_fd, F_DUPFD_CLOEXEC, base); close(closed_fd);\n\tcgroup_setup();\n{body}\tcleanup();\n\tif (mfail) printf(\"%d mismatch(es) with the model\\n\", mfail);\n\treturn mfail ? 1 : 0;\n}}"
    );
    Ok(prog)
}

/// Parses the program's output: the outcome text of each step, by step number.
pub fn parse_output(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .filter_map(|l| {
            let (n, rest) = l.split_once(": ")?;
            let n = n.trim().parse().ok()?;
            let (_, outcome) = rest.rsplit_once(" => ")?;
            Some((n, outcome.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn every_op_kind_becomes_c() {
        let text = "fdtable\nm0 = create array key=4 value=8 entries=2 name=\"a.b\"\n\
                    update m0 key=00000000 value=0102030405060708\nlookup m0 key=00000000\n\
                    next_key m0 key=NULL\ndelete badfd:closed key=00000000\nfreeze m0\ncheck m0\n\
                    p0 = load xdp frags uses=m0\nm1 = fd_by_id m0 flags=RDONLY\nalive m0\n\
                    rlimit nofile soft=8 hard=inf\ndropcap sys_resource\nm2 = create hash key=4 value=4 entries=1\n\
                    idgap m0 m2\nclose m1\n";
        let case = Case::parse(text, Path::new("t.case")).unwrap();
        let c = c_program(&case, &World::default()).unwrap();
        for needle in [
            "BPF_MAP_CREATE",
            "BPF_MAP_UPDATE_ELEM",
            "BPF_MAP_GET_NEXT_KEY",
            "BPF_PROG_LOAD",
            "BPF_MAP_GET_FD_BY_ID",
            "RLIM_INFINITY",
            "__NR_capset",
            "ids[0][2] - ids[0][0]",
            "\"ok fd=m0 num=3\"",
            "{0x61,0x2e,0x62}",
        ] {
            assert!(c.contains(needle), "{needle} missing");
        }
        assert_eq!(
            parse_output("1: fdtable => ok\n   MISMATCH: x\n2: m0 = create => EMFILE\n"),
            vec![(1, "ok".to_string()), (2, "EMFILE".to_string())]
        );
    }
}
