//! Case scripts on disk: parsing with file-and-line errors, atomic writes, and replay.
//! The core idea: a case is checked against the model's preconditions before it runs, so a
//! script the model no longer accepts is reported as stale instead of run.

use mapcheck_model::text::parse_line;
use mapcheck_model::{Expect, Op};
use std::fmt;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// One line of a script.
#[derive(Clone, Debug)]
pub struct Step {
    /// The op.
    pub op: Op,
    /// The outcome the script recorded, if any.
    pub expect: Option<Expect>,
    /// 1-based line in the file.
    pub line: usize,
    /// The line ends in `# finding`: its recording is what a correct kernel does, and a
    /// kernel that does what the model expects instead shows the case's `# finding:`.
    pub finding: bool,
}

/// A named op script with its provenance: the unit of the corpus.
#[derive(Clone, Debug)]
pub struct Case {
    /// `# case:` header, else the file stem.
    pub name: String,
    /// `# key: value` header lines in order (case, why, kernel, seed, ...).
    pub header: Vec<(String, String)>,
    /// The ops.
    pub steps: Vec<Step>,
    /// Where it was read from or written to.
    pub path: Option<PathBuf>,
}

/// A script that could not be read: file, line and what was expected.
#[derive(Debug)]
pub struct CaseError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line, 0 for the whole file.
    pub line: usize,
    /// What was wrong.
    pub msg: String,
}

impl fmt::Display for CaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.msg)
    }
}

impl Case {
    /// Parses a script's text.
    pub fn parse(text: &str, path: &Path) -> Result<Case, CaseError> {
        let mut header = Vec::new();
        let mut steps = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if let Some(comment) = line.strip_prefix('#') {
                if let Some((k, v)) = comment.split_once(':') {
                    let k = k.trim();
                    if !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    {
                        header.push((k.to_string(), v.trim().to_string()));
                    }
                }
                continue;
            }
            // A trailing comment after the op.
            let (body, comment) = line.split_once(" #").unwrap_or((line, ""));
            let body = body.trim();
            if body.is_empty() {
                continue;
            }
            let (op, expect) = parse_line(body).map_err(|e| CaseError {
                path: path.to_path_buf(),
                line: i + 1,
                msg: e.0,
            })?;
            steps.push(Step {
                op,
                expect,
                line: i + 1,
                finding: comment.trim() == "finding",
            });
        }
        if steps.is_empty() {
            return Err(CaseError {
                path: path.to_path_buf(),
                line: 0,
                msg: "no ops in this script".into(),
            });
        }
        let name = header
            .iter()
            .find(|(k, _)| k == "case")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| {
                path.file_stem()
                    .map_or("case".into(), |s| s.to_string_lossy().into_owned())
            });
        Ok(Case {
            name,
            header,
            steps,
            path: Some(path.to_path_buf()),
        })
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Case, CaseError> {
        let text = std::fs::read_to_string(path).map_err(|e| CaseError {
            path: path.to_path_buf(),
            line: 0,
            msg: e.to_string(),
        })?;
        Case::parse(&text, path)
    }

    /// A header value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.header
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The script text (what `parse` reads back).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.header {
            s.push_str(&format!("# {k}: {v}\n"));
        }
        for st in &self.steps {
            s.push_str(&st.op.to_string());
            if let Some(e) = &st.expect {
                s.push_str(&format!(" => {e}"));
            }
            s.push('\n');
        }
        s
    }

    /// The ops alone.
    pub fn ops(&self) -> Vec<Op> {
        self.steps.iter().map(|s| s.op.clone()).collect()
    }
}

/// Writes `text` to `dir/name` atomically (temp file in the same directory, fsync, rename):
/// a crash leaves either no file or the whole file.
pub fn write_atomic(dir: &Path, name: &str, text: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(name);
    // An O_TMPFILE file has no name until it is complete and linked in, so a kill at any
    // moment leaves either nothing or the whole file. linkat refuses to replace: write the
    // unnamed file's link under a fresh name, then rename over the target.
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .mode(0o644)
        .open(dir)
    {
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        let proc_path = std::ffi::CString::new(format!("/proc/self/fd/{}", f.as_raw_fd()))?;
        let staged = dir.join(format!(".{name}.{}.{}", std::process::id(), crate::env::unique()));
        let staged_c = std::ffi::CString::new(staged.as_os_str().as_bytes())?;
        // SAFETY: two NUL-terminated paths, live for the call.
        let r = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                proc_path.as_ptr(),
                libc::AT_FDCWD,
                staged_c.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if r == 0 {
            // The staged name holds the complete text; the rename is atomic.
            std::fs::rename(&staged, &path)?;
            return Ok(path);
        }
    }
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok(path)
}

/// Every `*.case` file under the given paths (directories recursively), sorted.
pub fn collect(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(p)?.collect::<Result<_, _>>()?;
            entries.sort_by_key(|e| e.path());
            let sub: Vec<PathBuf> = entries.iter().map(|e| e.path()).collect();
            for s in sub {
                if s.is_dir() || s.extension().is_some_and(|e| e == "case") {
                    out.extend(collect(&[s])?);
                }
            }
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}
