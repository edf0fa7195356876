//! Finding tracefs and reading tracepoint format files.
//!
//! The kernel prints a tracepoint's record layout in `events/<category>/<event>/format` (tabs
//! shown here as spaces):
//!
//! ```text
//! name: sched_process_exec
//! ID: 365
//! format:
//!     field:unsigned short common_type;    offset:0;    size:2;    signed:0;
//!     ...
//!     field:__data_loc char[] filename;    offset:8;    size:4;    signed:0;
//!
//! print fmt: "filename=%s ...", ...
//! ```

use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};

use super::LayoutError;

/// Where tracefs is mounted on kernels since 4.1.
pub const TRACEFS_ROOT: &str = "/sys/kernel/tracing";
/// The older place, under debugfs (which mounts tracefs there on first access).
pub const DEBUGFS_TRACING_ROOT: &str = "/sys/kernel/debug/tracing";

/// One tracepoint's record layout, as its format file describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Format {
    /// The event name (`sched_process_exec`), without its category.
    pub name: String,
    /// The tracepoint's id, as `perf_event_open` takes it.
    pub id: u32,
    /// Every field, the common ones (`common_type`, `common_pid`, ...) first.
    pub fields: Vec<Field>,
}

/// One field of a tracepoint record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// The C type without the field name, array bounds moved onto it (`char[16]`) and without
    /// the `__data_loc` marker (`char[]`), which [`Field::data_loc`] records instead.
    pub c_type: String,
    /// Byte offset in the record.
    pub offset: u32,
    /// Size in bytes; 4 for a `__data_loc` field (the word that locates the data).
    pub size: u32,
    pub signed: bool,
    /// A `__data_loc` field: a 32-bit word holding the data's length (high 16 bits) and its
    /// offset in the record (low 16 bits), with the data itself at the end of the record.
    pub data_loc: bool,
}

/// The tracefs root of this machine: `/sys/kernel/tracing`, else `/sys/kernel/debug/tracing`,
/// mounting tracefs at `/sys/kernel/tracing` if neither is there.
pub fn find_or_mount() -> Result<PathBuf, LayoutError> {
    let candidates = [Path::new(TRACEFS_ROOT), Path::new(DEBUGFS_TRACING_ROOT)];
    if let Some(root) = find(&candidates) {
        return Ok(root);
    }

    // Mounted but closed to us (a user with CAP_BPF but not CAP_DAC_READ_SEARCH): mounting
    // again would fail and blame the mount.
    for root in candidates {
        if let Err(e) = root.join("events").metadata()
            && e.kind() == io::ErrorKind::PermissionDenied
        {
            return Err(LayoutError::TracefsPermission {
                path: root.to_path_buf(),
            });
        }
    }

    log::debug!("tracefs is not mounted; mounting it at {TRACEFS_ROOT}");
    match mount_tracefs(Path::new(TRACEFS_ROOT)) {
        Ok(()) => Ok(PathBuf::from(TRACEFS_ROOT)),
        // Another tracer started at the same moment may have mounted it first.
        Err(e) => find(&candidates).ok_or(e),
    }
}

/// The first candidate that has an `events` directory, the sign of a mounted tracefs.
fn find(candidates: &[&Path]) -> Option<PathBuf> {
    candidates
        .iter()
        .find(|root| root.join("events").is_dir())
        .map(|root| root.to_path_buf())
}

fn mount_tracefs(target: &Path) -> Result<(), LayoutError> {
    let not_mounted = |error| LayoutError::TracefsNotMounted { error };
    let target_c = CString::new(target.as_os_str().as_encoded_bytes())
        .map_err(|_| not_mounted(io::Error::from(io::ErrorKind::InvalidInput)))?;

    // SAFETY: every pointer is to a NUL-terminated string that outlives the call; tracefs
    // takes no mount data, so NULL is allowed.
    let rc = unsafe {
        libc::mount(
            c"tracefs".as_ptr(),
            target_c.as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(not_mounted(io::Error::last_os_error()));
    }
    Ok(())
}

/// Reads and parses `<root>/events/<category>/<event>/format`.
pub fn read_format(root: &Path, category: &str, event: &str) -> Result<Format, LayoutError> {
    let path = root
        .join("events")
        .join(category)
        .join(event)
        .join("format");
    let tracepoint = format!("{category}/{event}");

    let text = std::fs::read_to_string(&path).map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => LayoutError::TracepointMissing {
            tracepoint: tracepoint.clone(),
            path: path.clone(),
        },
        io::ErrorKind::PermissionDenied => LayoutError::TracefsPermission { path: path.clone() },
        _ => LayoutError::TracefsRead {
            path: path.clone(),
            error,
        },
    })?;

    // The parser only knows the event name; the caller's category/event is clearer.
    Format::parse(&text).map_err(|error| match error {
        LayoutError::FormatSyntax { line, reason, .. } => LayoutError::FormatSyntax {
            tracepoint,
            line,
            reason,
        },
        other => other,
    })
}

impl Format {
    /// Parses the text of a tracepoint format file. Everything from `print fmt:` on is ignored.
    pub fn parse(text: &str) -> Result<Format, LayoutError> {
        let mut name: Option<String> = None;
        let mut id: Option<u32> = None;
        let mut in_fields = false;
        let mut fields = Vec::new();

        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            let error = |reason: String| LayoutError::FormatSyntax {
                tracepoint: name.clone().unwrap_or_else(|| "(unnamed)".to_owned()),
                line: index + 1,
                reason,
            };
            if line.is_empty() {
                continue;
            }
            if line.starts_with("print fmt:") {
                break;
            }

            if in_fields {
                if !line.starts_with("field:") {
                    return Err(error(format!("expected a `field:` line, found `{line}`")));
                }
                fields.push(
                    parse_field(line).map_err(|reason| error(format!("{reason} in `{line}`")))?,
                );
            } else if let Some(value) = line.strip_prefix("name:") {
                name = Some(value.trim().to_owned());
            } else if let Some(value) = line.strip_prefix("ID:") {
                let value = value.trim();
                id = Some(
                    value
                        .parse()
                        .map_err(|_| error(format!("bad ID `{value}`")))?,
                );
            } else if line == "format:" {
                in_fields = true;
            } else {
                return Err(error(format!("unexpected line `{line}`")));
            }
        }

        let missing = |what: &str| LayoutError::FormatSyntax {
            tracepoint: name.clone().unwrap_or_else(|| "(unnamed)".to_owned()),
            line: text.lines().count(),
            reason: format!("no `{what}` line"),
        };
        match (name.clone(), id, in_fields) {
            (Some(name), Some(id), true) => Ok(Format { name, id, fields }),
            (None, ..) => Err(missing("name:")),
            (_, None, _) => Err(missing("ID:")),
            (.., false) => Err(missing("format:")),
        }
    }

    /// The field called `name`, or an error naming this tracepoint and the field.
    pub fn field(&self, name: &str) -> Result<&Field, LayoutError> {
        self.fields
            .iter()
            .find(|field| field.name == name)
            .ok_or_else(|| LayoutError::FieldMissing {
                tracepoint: self.name.clone(),
                field: name.to_owned(),
            })
    }
}

/// Parses `field:<declaration>; offset:N; size:N; signed:N;` (`signed` may be missing on old
/// kernels; keys this parser does not know are skipped).
fn parse_field(line: &str) -> Result<Field, String> {
    let mut declaration = None;
    let (mut offset, mut size, mut signed) = (None, None, false);

    for part in line
        .split(';')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        let (key, value) = part
            .split_once(':')
            .ok_or_else(|| format!("`{part}` is not `key:value`"))?;
        let number = || {
            value
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("bad {key} `{value}`"))
        };
        match key.trim() {
            "field" => declaration = Some(value.trim()),
            "offset" => offset = Some(number()?),
            "size" => size = Some(number()?),
            "signed" => signed = number()? != 0,
            _ => {}
        }
    }

    let declaration = declaration.ok_or("no field declaration")?;
    let (name, c_type, data_loc) = parse_declaration(declaration)?;
    Ok(Field {
        name,
        c_type,
        offset: offset.ok_or("no offset")?,
        size: size.ok_or("no size")?,
        signed,
        data_loc,
    })
}

/// Splits a C declaration such as `const char *const * argv`, `char comm[16]` or
/// `__data_loc char[] filename` into its name, its type and whether it is `__data_loc`.
fn parse_declaration(declaration: &str) -> Result<(String, String, bool), String> {
    let mut rest = declaration.trim();

    // Array bounds after the name belong to the type: `comm[16]` is a `char[16]`.
    let mut bounds = String::new();
    while rest.ends_with(']') {
        let open = rest.rfind('[').ok_or("unbalanced `]`")?;
        bounds.insert_str(0, &rest[open..]);
        rest = rest[..open].trim_end();
    }

    let name_start = rest
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    let name = &rest[name_start..];
    let mut c_type = rest[..name_start].trim();
    if name.is_empty() || c_type.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "cannot split `{declaration}` into a type and a name"
        ));
    }

    let data_loc = match c_type.strip_prefix("__data_loc") {
        Some(inner) if inner.starts_with(char::is_whitespace) => {
            c_type = inner.trim_start();
            true
        }
        _ => false,
    };
    Ok((name.to_owned(), format!("{c_type}{bounds}"), data_loc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::fixtures::{self, KERNELS};

    #[test]
    fn sched_process_fork_pids_move_from_24_44_to_12_20_on_6_18() {
        for kernel in &KERNELS[..3] {
            let fork = fixtures::format(kernel, "sched", "sched_process_fork");
            assert_eq!(fork.field("parent_pid").unwrap().offset, 24, "{kernel}");
            assert_eq!(fork.field("child_pid").unwrap().offset, 44, "{kernel}");
            assert_eq!(
                fork.field("parent_comm").unwrap().c_type,
                "char[16]",
                "{kernel}"
            );
        }
        let fork = fixtures::format(KERNELS[3], "sched", "sched_process_fork");
        assert_eq!(fork.field("parent_pid").unwrap().offset, 12);
        assert_eq!(fork.field("child_pid").unwrap().offset, 20);
        assert!(fork.field("parent_comm").unwrap().data_loc);
    }

    #[test]
    fn sched_process_exec_filename_is_data_loc_on_every_kernel() {
        for kernel in KERNELS {
            let exec = fixtures::format(kernel, "sched", "sched_process_exec");
            let filename = exec.field("filename").unwrap();
            assert!(filename.data_loc, "{kernel}");
            assert_eq!(filename.c_type, "char[]", "{kernel}");
            assert_eq!((filename.offset, filename.size), (8, 4), "{kernel}");
        }
    }

    #[test]
    fn parses_every_line_of_a_format_file() {
        let exec = fixtures::format(KERNELS[3], "sched", "sched_process_exec");
        assert_eq!(exec.name, "sched_process_exec");
        assert_eq!(exec.id, 365);
        let expected = [
            ("common_type", "unsigned short", 0, 2, false, false),
            ("common_flags", "unsigned char", 2, 1, false, false),
            ("common_preempt_count", "unsigned char", 3, 1, false, false),
            ("common_pid", "int", 4, 4, true, false),
            ("filename", "char[]", 8, 4, false, true),
            ("pid", "pid_t", 12, 4, true, false),
            ("old_pid", "pid_t", 16, 4, true, false),
        ];
        let got: Vec<_> = exec
            .fields
            .iter()
            .map(|f| {
                (
                    f.name.as_str(),
                    f.c_type.as_str(),
                    f.offset,
                    f.size,
                    f.signed,
                    f.data_loc,
                )
            })
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn pointer_declarations_keep_their_whole_type() {
        let execve = fixtures::format(KERNELS[0], "syscalls", "sys_enter_execve");
        let argv = execve.field("argv").unwrap();
        assert_eq!(argv.c_type, "const char *const *");
        assert_eq!((argv.offset, argv.size, argv.data_loc), (24, 8, false));
        assert_eq!(execve.field("filename").unwrap().c_type, "const char *");
    }

    #[test]
    fn declarations_split_into_name_and_type() {
        let split = |d| parse_declaration(d).unwrap();
        assert_eq!(
            split("char comm[16]"),
            ("comm".into(), "char[16]".into(), false)
        );
        assert_eq!(
            split("int grid[2][3]"),
            ("grid".into(), "int[2][3]".into(), false)
        );
        assert_eq!(
            split("const char *const *argv"),
            ("argv".into(), "const char *const *".into(), false)
        );
        assert_eq!(
            split("__data_loc char[] name"),
            ("name".into(), "char[]".into(), true)
        );
        assert_eq!(
            split("u32 __data_locx"),
            ("__data_locx".into(), "u32".into(), false)
        );
        assert!(parse_declaration("pid").is_err());
        assert!(parse_declaration("char [16]").is_err());
    }

    #[test]
    fn missing_field_error_names_tracepoint_and_field() {
        let exec = fixtures::format(KERNELS[0], "sched", "sched_process_exec");
        let err = exec.field("no_such_field").unwrap_err();
        assert!(matches!(err, LayoutError::FieldMissing { .. }));
        let message = err.to_string();
        assert!(message.contains("sched_process_exec"), "{message}");
        assert!(message.contains("no_such_field"), "{message}");
    }

    #[test]
    fn malformed_field_line_is_an_error_with_its_line_number() {
        let text = "name: t\nID: 7\nformat:\n\tfield:int a;\toffset:0;\tsize:4;\tsigned:1;\n\
                    \tfield:int b;\toffset:x;\tsize:4;\tsigned:1;\n";
        let err = Format::parse(text).unwrap_err();
        let LayoutError::FormatSyntax {
            tracepoint,
            line,
            reason,
        } = &err
        else {
            panic!("unexpected error {err}");
        };
        assert_eq!((tracepoint.as_str(), *line), ("t", 5));
        assert!(reason.contains("bad offset"), "{reason}");

        let no_size = "name: t\nID: 7\nformat:\n\tfield:int a;\toffset:0;\n";
        assert!(
            Format::parse(no_size)
                .unwrap_err()
                .to_string()
                .contains("no size")
        );
        let stray = "name: t\nID: 7\nformat:\n\tgarbage\n";
        assert!(
            Format::parse(stray)
                .unwrap_err()
                .to_string()
                .contains("garbage")
        );
        let no_id = "name: t\nformat:\n";
        assert!(
            Format::parse(no_id)
                .unwrap_err()
                .to_string()
                .contains("ID:")
        );
    }

    #[test]
    fn read_format_names_the_missing_tracepoint() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
        let err = read_format(&root, "sched", "sched_no_such_event").unwrap_err();
        assert!(matches!(err, LayoutError::TracepointMissing { .. }));
        let message = err.to_string();
        assert!(message.contains("sched/sched_no_such_event"), "{message}");
        assert!(message.contains("lacks"), "{message}");
    }

    #[test]
    fn read_format_reads_events_category_event_format() {
        let root = scratch_dir("read-format");
        let dir = root.join("events/sched/sched_process_exec");
        std::fs::create_dir_all(&dir).unwrap();
        let text = fixtures::format_text(KERNELS[1], "sched", "sched_process_exec");
        std::fs::write(dir.join("format"), &text).unwrap();

        let exec = read_format(&root, "sched", "sched_process_exec").unwrap();
        assert_eq!(exec, Format::parse(&text).unwrap());
        assert_eq!(exec.field("old_pid").unwrap().offset, 16);

        std::fs::write(dir.join("format"), "name: x\nbogus\n").unwrap();
        let err = read_format(&root, "sched", "sched_process_exec").unwrap_err();
        assert!(
            err.to_string().contains("sched/sched_process_exec"),
            "{err}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn find_prefers_the_first_root_that_has_events() {
        let base = scratch_dir("find");
        let (empty, mounted) = (base.join("empty"), base.join("mounted"));
        std::fs::create_dir_all(&empty).unwrap();
        std::fs::create_dir_all(mounted.join("events")).unwrap();

        assert_eq!(find(&[&empty, &mounted]), Some(mounted.clone()));
        assert_eq!(find(&[&mounted, &empty]), Some(mounted.clone()));
        assert_eq!(find(&[&empty]), None);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn tracefs_mount_error_says_what_to_run() {
        let err = LayoutError::TracefsNotMounted {
            error: io::Error::from_raw_os_error(libc::EPERM),
        };
        assert!(
            err.to_string()
                .contains("mount -t tracefs tracefs /sys/kernel/tracing"),
            "{err}"
        );
    }

    /// A fresh directory under the system temp dir, unique to this test process.
    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tracer-layout-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
