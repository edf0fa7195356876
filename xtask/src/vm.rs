//! `cargo xtask vm-test`: tracer's smoke test on Debian's cloud kernels, booted under QEMU.
//!
//! For each kernel series (5.10 from bullseye, 6.1 from bookworm, 6.12 from trixie) xtask
//! boots the kernel with an initramfs holding busybox, the release tracer with the shared
//! libraries it links, an `/init` and a workload script. `/init` starts two tracers
//! (`--json -x`, and text with `-a 3 -x`), runs the workload while both trace, stops them with
//! SIGINT and writes their output, framed by markers, to the second serial port, which QEMU
//! writes to a file; kernel messages stay on the first port, so that they cannot split a JSON
//! line. When tracer fails, `/init` runs it once more with `-vv`, for the verifier's log.
//! xtask then checks the exact PIDs, argv and errno against those the workload recorded.
//!
//! Kernels come from the Debian archive that the host's own apt sources name, through a
//! private apt configuration under `target/vm-cache/apt/<suite>` (removed once the kernel is
//! cached): the host's package lists and state are left alone. The newest image of a suite is the one its
//! `linux-image-cloud-amd64` metapackage depends on. Only its `vmlinuz` is kept, in
//! `target/vm-cache/kernels/<series>`, and a cached kernel is used as it is: delete that
//! folder to fetch a newer one. Debian's cloud kernels have what the test needs built in (the
//! 8250 serial console, devtmpfs, BTF, syscall tracepoints), so no module is loaded.
//!
//! QEMU runs under TCG: CI runners are often VMs themselves, without nested KVM, and TCG boots
//! these kernels in seconds.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::{apt, cmd};

/// A kernel series and the Debian suite whose cloud kernel it is.
#[derive(Clone, Copy)]
struct Kernel {
    series: &'static str,
    suite: &'static str,
}

/// The kernels `vm-test` boots when no `--kernel` is given, oldest first.
const KERNELS: [Kernel; 3] = [
    Kernel {
        series: "5.10",
        suite: "bullseye",
    },
    Kernel {
        series: "6.1",
        suite: "bookworm",
    },
    Kernel {
        series: "6.12",
        suite: "trixie",
    },
];

/// Host commands the test runs; busybox may be the dynamic build, whose libraries are then
/// copied as tracer's are.
const HOST_PACKAGES: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("busybox", "busybox-static"),
    ("dpkg-deb", "dpkg"),
];

/// How long one VM may take, boot to power-off. Under TCG a run takes well under a minute;
/// a slow CI runner gets generous headroom.
const VM_TIMEOUT: Duration = Duration::from_secs(180);

/// The busybox applets `/init` and the workload call, linked in `/bin`. `echo` is also the
/// program the workload execs, so it must be a file rather than the shell's builtin.
const APPLETS: &[&str] = &[
    "sh", "cat", "dmesg", "echo", "grep", "ls", "mount", "poweroff", "sleep", "uname",
];

const INIT: &str = r#"#!/bin/sh
# /init of tracer's VM test, written by xtask/src/vm.rs, which checks what this prints.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "vm: Linux $(uname -r)"
# tracefs is left unmounted on purpose: tracer mounts it itself when it is missing.

# Waits for the tracer with PID $1 to write its ready line to $2; fails if it exits first or
# takes more than two minutes.
ready() {
    i=0
    while ! grep -q 'Tracing exec()s' "$2"; do
        kill -0 "$1" 2>/dev/null || return 1
        [ "$i" -lt 1200 ] || return 1
        i=$((i + 1))
        sleep 0.1
    done
}

ready=no
: >/tmp/workload.out
: >/tmp/workload.err
: >/tmp/text.out
: >/tmp/text.err
/bin/tracer --json -x >/tmp/json.out 2>/tmp/json.err &
json=$!
text=
# The second tracer starts once the first is ready, so that only the first mounts tracefs.
if ready "$json" /tmp/json.err; then
    /bin/tracer -a 3 -x >/tmp/text.out 2>/tmp/text.err &
    text=$!
    if ready "$text" /tmp/text.err; then
        echo "vm: tracers ready, running the workload"
        /bin/sh /workload.sh >/tmp/workload.out 2>/tmp/workload.err
        cat /tmp/workload.out
        ready=yes
    fi
fi
kill -INT $json $text 2>/dev/null
(sleep 30; kill -KILL $json $text 2>/dev/null) &
wait $json
json_exit=$?
text_exit=none
if [ -n "$text" ]; then
    wait $text
    text_exit=$?
fi

if [ "$ready" != yes ] || [ "$json_exit" != 0 ] || [ "$text_exit" != 0 ]; then
    echo "vm: tracer failed; running it again with -vv"
    /bin/tracer -vv --json -x -d 2 >/dev/null 2>/tmp/vv.err
fi

frame() {
    echo "===$1-BEGIN==="
    cat "$2"
    echo "===$1-END==="
}
{
    echo "===STATUS-BEGIN==="
    echo "READY=$ready"
    echo "JSON_EXIT=$json_exit"
    echo "TEXT_EXIT=$text_exit"
    echo "===STATUS-END==="
    frame WORKLOAD /tmp/workload.out
    frame WORKLOAD-STDERR /tmp/workload.err
    frame JSON /tmp/json.out
    frame JSON-STDERR /tmp/json.err
    frame TEXT /tmp/text.out
    frame TEXT-STDERR /tmp/text.err
    if [ -e /tmp/vv.err ]; then
        frame TRACER-VV /tmp/vv.err
        dmesg >/tmp/dmesg
        frame DMESG /tmp/dmesg
    fi
    echo "===DONE==="
} >/dev/ttyS1 2>&1
poweroff -f
"#;

/// Every process is started with `&` so that `$!` names it; `wait` keeps the events in order.
const WORKLOAD: &str = r#"# The workload of tracer's VM test: xtask/src/vm.rs checks each exec below.
echo "WORKLOAD_PID=$$"
/bin/echo "hello world" x &
echo "ECHO_PID=$!"
wait
/bin/echo a b c d e &
echo "MANY_PID=$!"
wait
/nonexistent/cmd arg &
echo "MISSING_PID=$!"
wait
/bin/sh -c 'exec /bin/echo re-exec' &
echo "REEXEC_PID=$!"
wait
"#;

const USAGE: &str = "usage: cargo xtask vm-test [--kernel 5.10|6.1|6.12]";

/// `cargo xtask vm-test [--kernel SERIES]`.
pub fn run(args: &[String]) -> Result<(), String> {
    let kernels = parse_args(args)?;
    if std::env::consts::ARCH != "x86_64" {
        return Err(
            "vm-test boots x86-64 Debian kernels with an x86-64 tracer: run it on x86-64".into(),
        );
    }
    apt::ensure(HOST_PACKAGES)?;
    let tracer = crate::build(&["--release".into()])?;

    let target = crate::root().join("target");
    let cache = target.join("vm-cache");
    let work = target.join("vm-test");
    create_dir(&work)?;
    let initramfs = work.join("initramfs.cpio");
    write_file(&initramfs, &initramfs_image(&tracer)?)?;

    let started = Instant::now();
    let mut archive = None;
    let mut failed = 0;
    for kernel in &kernels {
        let dir = work.join(kernel.series);
        let outcome = kernel_image(*kernel, &cache, &mut archive).and_then(|image| {
            let vm = boot(&image, &initramfs, &dir)?;
            Ok((image, vm))
        });
        let (image, vm) = match outcome {
            Ok(done) => done,
            Err(e) => {
                failed += 1;
                println!("vm-test {}: FAIL: {e}", kernel.series);
                continue;
            }
        };
        let failures = check(&vm);
        let secs = vm.elapsed.as_secs_f64();
        if let Some(first) = failures.first() {
            failed += 1;
            println!(
                "vm-test {} ({}): FAIL in {secs:.1} s: {first}",
                kernel.series, image.package
            );
            print_failure(&vm, &failures, &dir);
        } else {
            println!(
                "vm-test {} ({}): PASS in {secs:.1} s",
                kernel.series, image.package
            );
        }
    }

    println!(
        "vm-test: {} of {} kernels passed in {:.1} s",
        kernels.len() - failed,
        kernels.len(),
        started.elapsed().as_secs_f64()
    );
    if failed > 0 {
        return Err(format!("{failed} of {} kernels failed", kernels.len()));
    }
    Ok(())
}

fn parse_args(args: &[String]) -> Result<Vec<Kernel>, String> {
    match args {
        [] => Ok(KERNELS.to_vec()),
        [flag, series] if flag == "--kernel" => KERNELS
            .iter()
            .find(|k| k.series == series)
            .map(|k| vec![*k])
            .ok_or_else(|| format!("vm-test: no kernel {series}\n{USAGE}")),
        _ => Err(format!(
            "vm-test: bad arguments {}\n{USAGE}",
            args.join(" ")
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Kernels: found through the host's apt sources, cached under target/vm-cache.

/// A kernel ready to boot.
struct KernelImage {
    vmlinuz: PathBuf,
    /// The Debian package and version it came from, e.g. `linux-image-6.1.0-50-cloud-amd64
    /// 6.1.176-1`.
    package: String,
}

/// The cached kernel of `kernel.series`, fetched first if it is not cached yet. `archive` is
/// the host's Debian archive, looked up on the first fetch.
fn kernel_image(
    kernel: Kernel,
    cache: &Path,
    archive: &mut Option<Archive>,
) -> Result<KernelImage, String> {
    let dir = cache.join("kernels").join(kernel.series);
    let vmlinuz = dir.join("vmlinuz");
    let package_file = dir.join("package");
    if let (true, Ok(package)) = (vmlinuz.is_file(), fs::read_to_string(&package_file)) {
        return Ok(KernelImage {
            vmlinuz,
            package: package.trim().to_string(),
        });
    }

    let archive = match archive {
        Some(archive) => archive,
        None => archive.insert(host_archive()?),
    };
    let apt_dir = cache.join("apt").join(kernel.suite);
    let apt = PrivateApt::new(&apt_dir, kernel.suite, archive)?;
    eprintln!(
        "xtask: vm-test {}: fetching the {} package list from {}",
        kernel.series, kernel.suite, archive.uri
    );
    cmd::run(apt.command("apt-get").args(["-q", "update"]))?;
    let (name, version) = apt.newest_cloud_image(kernel.series)?;

    // Download and unpack in a scratch folder, and move the kernel in last, so that an
    // interrupted run leaves no half-written kernel in the cache.
    let download = cache.join("download");
    let _ = fs::remove_dir_all(&download);
    create_dir(&download)?;
    cmd::run(
        apt.command("apt-get")
            .args(["-q", "download", &format!("{name}={version}")])
            .current_dir(&download),
    )?;
    let deb = only_file(&download, "*.deb", |name| name.ends_with(".deb"))?;
    let unpacked = download.join("root");
    cmd::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;
    let boot = unpacked.join("boot");
    let image = only_file(&boot, "vmlinuz-*", |name| name.starts_with("vmlinuz-"))?;

    create_dir(&dir)?;
    let partial = dir.join("vmlinuz.partial");
    fs::copy(&image, &partial).map_err(|e| {
        format!(
            "cannot copy {} to {}: {e}",
            image.display(),
            partial.display()
        )
    })?;
    let package = format!("{name} {version}");
    write_file(&package_file, format!("{package}\n").as_bytes())?;
    fs::rename(&partial, &vmlinuz)
        .map_err(|e| format!("cannot rename {}: {e}", partial.display()))?;
    // The package lists are only needed again to fetch a newer kernel, which updates them.
    let _ = fs::remove_dir_all(&download);
    let _ = fs::remove_dir_all(&apt_dir);
    Ok(KernelImage { vmlinuz, package })
}

/// The Debian archive the host's apt sources use: where the other suites are fetched from.
#[derive(Debug, PartialEq)]
struct Archive {
    uri: String,
    /// The `Signed-By` value of that source, as deb822 writes it (a keyring path, or a key
    /// block whose continuation lines start with a space).
    signed_by: Option<String>,
}

/// One `deb` entry of an apt sources file.
#[derive(Debug, Default)]
struct Source {
    uris: Vec<String>,
    suites: Vec<String>,
    components: Vec<String>,
    signed_by: Option<String>,
}

/// Reads `/etc/apt/sources.list` and `/etc/apt/sources.list.d/*.{list,sources}` (the files
/// apt itself reads, in its order) and returns the first Debian archive among them.
fn host_archive() -> Result<Archive, String> {
    let mut sources = Vec::new();
    if let Ok(text) = fs::read_to_string("/etc/apt/sources.list") {
        sources.extend(parse_one_line_sources(&text));
    }
    let mut parts: Vec<PathBuf> = fs::read_dir("/etc/apt/sources.list.d")
        .map(|dir| dir.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    parts.sort();
    for path in parts {
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        match path.extension().and_then(|e| e.to_str()) {
            Some("list") => sources.extend(parse_one_line_sources(&text)),
            Some("sources") => sources.extend(parse_deb822_sources(&text)),
            _ => {}
        }
    }
    main_archive(&sources).ok_or_else(|| {
        "no Debian archive in the apt sources (/etc/apt/sources.list, \
         /etc/apt/sources.list.d): vm-test needs a `deb` source with a release suite such \
         as bookworm and the main component"
            .into()
    })
}

/// The first source that carries a release suite (not `-updates`, `-security` or
/// `-backports`) with `main`: that archive also has the other releases.
fn main_archive(sources: &[Source]) -> Option<Archive> {
    sources
        .iter()
        .filter(|s| s.suites.iter().any(|suite| !suite.contains(['-', '/'])))
        .filter(|s| s.components.iter().any(|c| c == "main"))
        .find_map(|s| {
            let uri = s.uris.iter().find(|u| !u.starts_with("cdrom:"))?;
            Some(Archive {
                uri: uri.trim_end_matches('/').to_string(),
                signed_by: s.signed_by.clone(),
            })
        })
}

/// The `deb` lines of a one-line-style file: `deb [opt=value ...] URI SUITE COMPONENT...`.
fn parse_one_line_sources(text: &str) -> Vec<Source> {
    let mut sources = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace().peekable();
        if words.next() != Some("deb") {
            continue;
        }
        let mut source = Source::default();
        if words.peek().is_some_and(|w| w.starts_with('[')) {
            for word in words.by_ref() {
                let option = word.trim_start_matches('[').trim_end_matches(']');
                if let Some(keyring) = option.strip_prefix("signed-by=") {
                    source.signed_by = Some(keyring.to_string());
                }
                if word.ends_with(']') {
                    break;
                }
            }
        }
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        source.uris.push(uri.to_string());
        source.suites.push(suite.to_string());
        source.components = words.map(str::to_string).collect();
        sources.push(source);
    }
    sources
}

/// The enabled `deb` stanzas of a deb822-style `.sources` file.
fn parse_deb822_sources(text: &str) -> Vec<Source> {
    let mut sources = Vec::new();
    for stanza in deb822_stanzas(text) {
        let field = |name: &str| {
            stanza
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.as_str())
        };
        let words = |name: &str| -> Vec<String> {
            field(name)
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect()
        };
        let enabled = !field("Enabled").is_some_and(|v| v.eq_ignore_ascii_case("no"));
        if !enabled || !words("Types").iter().any(|t| t == "deb") {
            continue;
        }
        sources.push(Source {
            uris: words("URIs"),
            suites: words("Suites"),
            components: words("Components"),
            signed_by: field("Signed-By").map(str::to_string),
        });
    }
    sources
}

/// Splits deb822 text into stanzas of `(field, value)`. A value spanning several lines keeps
/// its continuation lines, each with its leading whitespace, after a `\n`.
fn deb822_stanzas(text: &str) -> Vec<Vec<(String, String)>> {
    let mut stanzas = Vec::new();
    let mut stanza: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !stanza.is_empty() {
                stanzas.push(std::mem::take(&mut stanza));
            }
        } else if line.starts_with('#') {
            continue;
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = stanza.last_mut() {
                value.push('\n');
                value.push_str(line);
            }
        } else if let Some((key, value)) = line.split_once(':') {
            stanza.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    if !stanza.is_empty() {
        stanzas.push(stanza);
    }
    stanzas
}

/// apt with its own sources, lists and cache under one folder: it neither reads nor changes
/// the host's package lists. The host's `apt.conf.d` still applies, so a proxy set there is
/// used.
struct PrivateApt {
    dir: PathBuf,
}

impl PrivateApt {
    fn new(dir: &Path, suite: &str, archive: &Archive) -> Result<Self, String> {
        for sub in ["sources.list.d", "lists/partial", "cache/archives/partial"] {
            create_dir(&dir.join(sub))?;
        }
        let mut sources = format!(
            "Types: deb\nURIs: {}\nSuites: {suite}\nComponents: main\nArchitectures: amd64\n",
            archive.uri
        );
        if let Some(signed_by) = &archive.signed_by {
            let _ = writeln!(sources, "Signed-By: {signed_by}");
        }
        write_file(
            &dir.join("sources.list.d/debian.sources"),
            sources.as_bytes(),
        )?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    fn command(&self, program: &str) -> Command {
        let dir = |sub: &str| self.dir.join(sub).display().to_string();
        let mut command = Command::new(program);
        for option in [
            "Dir::Etc::SourceList=/dev/null".to_string(),
            format!("Dir::Etc::SourceParts={}", dir("sources.list.d")),
            format!("Dir::State::Lists={}", dir("lists")),
            format!("Dir::Cache={}", dir("cache")),
            "Dir::State::Status=/dev/null".into(),
            "Dir::Etc::Preferences=/dev/null".into(),
            "Dir::Etc::PreferencesParts=/dev/null".into(),
            "Acquire::Languages=none".into(),
            // apt drops to `_apt` to download, which cannot write to a root-owned cache; apt
            // ignores this when it does not run as root.
            "APT::Sandbox::User=root".into(),
        ] {
            command.arg("-o").arg(option);
        }
        command.env("DEBIAN_FRONTEND", "noninteractive");
        command
    }

    /// The versioned image package that `linux-image-cloud-amd64` depends on, and its
    /// version, checked to be of `series`.
    fn newest_cloud_image(&self, series: &str) -> Result<(String, String), String> {
        let meta = "linux-image-cloud-amd64";
        let show = cmd::output(
            self.command("apt-cache")
                .args(["show", "--no-all-versions", meta]),
        )
        .ok_or_else(|| format!("apt-cache show {meta} failed (see {})", self.dir.display()))?;
        let depends = show
            .lines()
            .find_map(|l| l.strip_prefix("Depends:"))
            .ok_or_else(|| format!("{meta} has no Depends"))?;
        // `linux-image-6.1.0-50-cloud-amd64 (= 6.1.176-1)`
        let mut words = depends
            .split([',', '|'])
            .next()
            .unwrap_or_default()
            .split_whitespace();
        let name = words.next().unwrap_or_default().to_string();
        let version = words
            .collect::<String>()
            .trim_start_matches("(=")
            .trim_end_matches(')')
            .to_string();
        let expected = format!("linux-image-{series}.");
        if !name.starts_with(&expected) || !name.ends_with("-cloud-amd64") || version.is_empty() {
            return Err(format!(
                "{meta} depends on `{}`, not an exact version of {expected}*-cloud-amd64",
                depends.trim()
            ));
        }
        Ok((name, version))
    }
}

// ---------------------------------------------------------------------------------------
// The initramfs.

/// An uncompressed newc archive (the kernel unpacks it as is) with busybox, tracer, their
/// shared libraries at the paths `ldd` gives, `/init` and the workload. tracer is the release
/// binary as built, linked to glibc, rather than a static build: the VM runs the very binary
/// the host does, and no other target has to be installed.
fn initramfs_image(tracer: &Path) -> Result<Vec<u8>, String> {
    let busybox = cmd::output(Command::new("sh").args(["-c", "command -v busybox"]))
        .map(|p| PathBuf::from(p.trim()))
        .ok_or("busybox is not on PATH")?;

    let mut archive = cpio::Archive::default();
    for dir in ["dev", "proc", "sys", "tmp"] {
        archive.dir(dir);
    }
    // The kernel opens it for /init's stdio before devtmpfs is mounted.
    archive.char_device("dev/console", 5, 1);
    archive.file("bin/busybox", 0o755, &read(&busybox)?);
    for applet in APPLETS {
        archive.symlink(&format!("bin/{applet}"), "busybox");
    }
    archive.file("bin/tracer", 0o755, &read(tracer)?);
    let mut libraries = shared_libraries(tracer)?;
    libraries.extend(shared_libraries(&busybox)?);
    libraries.sort();
    libraries.dedup();
    for library in &libraries {
        let path = library.to_string_lossy();
        archive.file(path.trim_start_matches('/'), 0o755, &read(library)?);
    }
    archive.file("init", 0o755, INIT.as_bytes());
    archive.file("workload.sh", 0o644, WORKLOAD.as_bytes());
    Ok(archive.finish())
}

/// The shared libraries and the loader `binary` needs, as `ldd` lists them; none for a static
/// binary.
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, String> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| format!("cannot run ldd: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if text.contains("not a dynamic executable") || stderr.contains("not a dynamic executable")
        {
            return Ok(Vec::new());
        }
        return Err(format!(
            "ldd {} failed: {}",
            binary.display(),
            stderr.trim()
        ));
    }
    // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)`, `/lib64/ld-linux-x86-64.so.2
    // (0x...)`, and `linux-vdso.so.1 (0x...)`, which the kernel provides.
    Ok(text
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = line.split_once("=>").map_or(line, |(_, path)| path.trim());
            path.split_whitespace()
                .next()
                .filter(|p| p.starts_with('/'))
        })
        .map(PathBuf::from)
        .collect())
}

/// The cpio "newc" format the kernel's initramfs unpacker reads.
mod cpio {
    use std::collections::BTreeSet;

    const DIR: u32 = 0o040_000;
    const FILE: u32 = 0o100_000;
    const SYMLINK: u32 = 0o120_000;
    const CHAR_DEVICE: u32 = 0o020_000;

    /// Entries owned by root, with parent folders added before their first child.
    #[derive(Default)]
    pub struct Archive {
        out: Vec<u8>,
        dirs: BTreeSet<String>,
        inode: u32,
    }

    impl Archive {
        pub fn dir(&mut self, path: &str) {
            if path.is_empty() || self.dirs.contains(path) {
                return;
            }
            self.parents(path);
            self.dirs.insert(path.to_string());
            self.entry(path, DIR | 0o755, 2, (0, 0), b"");
        }

        pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) {
            self.parents(path);
            self.entry(path, FILE | mode, 1, (0, 0), data);
        }

        pub fn symlink(&mut self, path: &str, target: &str) {
            self.parents(path);
            self.entry(path, SYMLINK | 0o777, 1, (0, 0), target.as_bytes());
        }

        pub fn char_device(&mut self, path: &str, major: u32, minor: u32) {
            self.parents(path);
            self.entry(path, CHAR_DEVICE | 0o600, 1, (major, minor), b"");
        }

        pub fn finish(mut self) -> Vec<u8> {
            self.inode = 0;
            self.entry("TRAILER!!!", 0, 1, (0, 0), b"");
            self.out
        }

        fn parents(&mut self, path: &str) {
            if let Some((parent, _)) = path.rsplit_once('/') {
                self.dir(parent);
            }
        }

        fn entry(&mut self, name: &str, mode: u32, links: u32, rdev: (u32, u32), data: &[u8]) {
            self.inode += 1;
            let size = u32::try_from(data.len()).expect("initramfs files are under 4 GiB");
            let name_size = u32::try_from(name.len() + 1).expect("short names");
            // magic, then inode, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
            // rdevmajor, rdevminor, namesize, check: eight hex digits each.
            self.out.extend_from_slice(b"070701");
            for field in [
                self.inode, mode, 0, 0, links, 0, size, 0, 0, rdev.0, rdev.1, name_size, 0,
            ] {
                self.out
                    .extend_from_slice(format!("{field:08x}").as_bytes());
            }
            self.out.extend_from_slice(name.as_bytes());
            self.out.push(0);
            self.pad();
            self.out.extend_from_slice(data);
            self.pad();
        }

        /// Header plus name, and data, each end on a multiple of four bytes.
        fn pad(&mut self) {
            while !self.out.len().is_multiple_of(4) {
                self.out.push(0);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Booting.

/// What one VM left behind.
struct Vm {
    /// The second serial port: the framed sections `/init` wrote.
    sections: BTreeMap<String, Vec<String>>,
    /// Whether `/init` got to the end of its report.
    done: bool,
    /// The first serial port: the kernel's messages and `/init`'s progress.
    console: String,
    /// QEMU's exit, or that it was killed at the timeout.
    ending: String,
    elapsed: Duration,
}

fn boot(image: &KernelImage, initramfs: &Path, dir: &Path) -> Result<Vm, String> {
    create_dir(dir)?;
    let console = dir.join("console.log");
    let results = dir.join("results.log");
    for file in [&console, &results] {
        let _ = fs::remove_file(file);
    }
    let qemu_log = fs::File::create(dir.join("qemu.log"))
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;

    let mut qemu = Command::new("qemu-system-x86_64");
    qemu.args(["-accel", "tcg", "-cpu", "max", "-m", "1024", "-smp", "1"])
        .args(["-nodefaults", "-display", "none", "-no-reboot"])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .arg("-serial")
        .arg(format!("file:{}", results.display()))
        .arg("-kernel")
        .arg(&image.vmlinuz)
        .arg("-initrd")
        .arg(initramfs)
        .args(["-append", "console=ttyS0 panic=-1 quiet"])
        .stdin(Stdio::null())
        .stdout(qemu_log.try_clone().map_err(|e| e.to_string())?)
        .stderr(qemu_log);

    let started = Instant::now();
    let mut child = qemu
        .spawn()
        .map_err(|e| format!("cannot start qemu-system-x86_64: {e}"))?;
    let ending = loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break "powered off".to_string(),
            Ok(Some(status)) => break format!("QEMU ended with {status}"),
            Ok(None) if started.elapsed() > VM_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                break format!("timed out after {} s", VM_TIMEOUT.as_secs());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("cannot wait for QEMU: {e}")),
        }
    };
    let elapsed = started.elapsed();

    let qemu_errors = fs::read_to_string(dir.join("qemu.log")).unwrap_or_default();
    let results = fs::read_to_string(&results).unwrap_or_default();
    let (sections, done) = parse_sections(&results);
    if !done && !qemu_errors.trim().is_empty() {
        return Err(format!("QEMU: {}", qemu_errors.trim()));
    }
    Ok(Vm {
        sections,
        done,
        console: fs::read_to_string(&console).unwrap_or_default(),
        ending,
        elapsed,
    })
}

/// Splits the second serial port's text into its `===NAME-BEGIN===` ... `===NAME-END===`
/// sections, and says whether `===DONE===` ended it.
fn parse_sections(text: &str) -> (BTreeMap<String, Vec<String>>, bool) {
    let mut sections = BTreeMap::new();
    let mut current: Option<(String, Vec<String>)> = None;
    let mut done = false;
    // The tty turns each `\n` into `\r\n`.
    for line in text.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some((name, lines)) = &mut current {
            if line
                .strip_prefix("===")
                .and_then(|l| l.strip_suffix("-END==="))
                == Some(name)
            {
                let (name, lines) = current.take().expect("a section is open");
                sections.insert(name, lines);
            } else {
                lines.push(line.to_string());
            }
        } else if let Some(name) = line
            .strip_prefix("===")
            .and_then(|l| l.strip_suffix("-BEGIN==="))
        {
            current = Some((name.to_string(), Vec::new()));
        } else if line == "===DONE===" {
            done = true;
        }
    }
    (sections, done)
}

// ---------------------------------------------------------------------------------------
// The checks.

/// Every way the VM's output differs from what the workload must produce; empty on success.
fn check(vm: &Vm) -> Vec<String> {
    let mut failures = Vec::new();
    if !vm.done {
        failures.push(format!("the VM did not finish its report ({})", vm.ending));
        return failures;
    }
    let section = |name: &str| vm.sections.get(name).map(Vec::as_slice).unwrap_or_default();

    let status = key_values(section("STATUS"));
    if status.get("READY").map(String::as_str) != Some("yes") {
        let stderr = [section("JSON-STDERR"), section("TEXT-STDERR")];
        let why = stderr
            .iter()
            .find_map(|s| error_line(s))
            .unwrap_or("no message");
        let verdict = stderr
            .iter()
            .find_map(|s| verifier_verdict(s))
            .map(|v| format!("; the verifier's verdict: {v}"))
            .unwrap_or_default();
        failures.push(format!("tracer did not start: {why}{verdict}"));
        return failures;
    }
    for (key, which) in [("JSON_EXIT", "--json -x"), ("TEXT_EXIT", "-a 3 -x")] {
        if status.get(key).map(String::as_str) != Some("0") {
            failures.push(format!(
                "tracer {which} exited with status {} after SIGINT",
                status.get(key).map_or("?", String::as_str)
            ));
        }
    }
    for name in ["JSON-STDERR", "TEXT-STDERR"] {
        match last_line(section(name)) {
            Some(line) if line.starts_with("tracer: ") && line.ends_with(", 0 lost") => {}
            other => failures.push(format!(
                "{name}: the last line is not tracer's `..., 0 lost` summary: {}",
                other.unwrap_or("(empty)")
            )),
        }
    }

    let recorded = key_values(section("WORKLOAD"));
    let pid = |key: &str| recorded.get(key).and_then(|v| v.parse::<i64>().ok());
    let (Some(workload), Some(echo), Some(many), Some(missing), Some(reexec)) = (
        pid("WORKLOAD_PID"),
        pid("ECHO_PID"),
        pid("MANY_PID"),
        pid("MISSING_PID"),
        pid("REEXEC_PID"),
    ) else {
        failures.push(format!(
            "the workload did not record its PIDs: {recorded:?}"
        ));
        return failures;
    };
    let pids = Pids {
        workload,
        echo,
        many,
        missing,
        reexec,
    };
    check_json(section("JSON"), pids, &mut failures);
    check_text(section("TEXT"), pids, &mut failures);
    failures
}

/// The PIDs the workload recorded: its own, and those of the processes it started.
#[derive(Clone, Copy)]
struct Pids {
    workload: i64,
    echo: i64,
    many: i64,
    missing: i64,
    reexec: i64,
}

/// The `--json -x` output: every line is an object of a known type, nothing was lost, and the
/// workload's forks, execs and exits carry exactly the PIDs, argv and errors it recorded,
/// re-execs included (JSON always has them).
fn check_json(lines: &[String], pids: Pids, failures: &mut Vec<String>) {
    use Expected::{Absent, Int, Str, Strings};

    let mut events = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        let value = match json::parse(line) {
            Ok(value) => value,
            Err(e) => {
                failures.push(format!("JSON line {n} is not valid JSON ({e}): {line}"));
                continue;
            }
        };
        let json::Value::Object(fields) = &value else {
            failures.push(format!("JSON line {n} is not an object: {line}"));
            continue;
        };
        let first_keys: Vec<&str> = fields.iter().take(3).map(|(k, _)| k.as_str()).collect();
        if first_keys != ["type", "ktime_ns", "time"] {
            failures.push(format!(
                "JSON line {n} does not start with type, ktime_ns, time: {line}"
            ));
        }
        match value.get("type").and_then(json::Value::as_str) {
            Some("exec" | "exec_failed" | "fork" | "exit" | "reparent") => events.push(value),
            Some("lost") => failures.push(format!("JSON: tracer lost events: {line}")),
            _ => failures.push(format!("JSON line {n} has an unknown type: {line}")),
        }
    }
    // The event of `kind` for `pid`; for an exec, the one whose argv starts with `argv0`.
    let find = |kind: &str, pid: i64, argv0: Option<&str>| {
        events.iter().find(|e| {
            e.get("type").and_then(json::Value::as_str) == Some(kind)
                && e.get("pid").and_then(json::Value::as_i64) == Some(pid)
                && argv0.is_none_or(|argv0| {
                    e.get("argv")
                        .and_then(json::Value::as_strings)
                        .is_some_and(|argv| argv.first() == Some(&argv0))
                })
        })
    };

    let mut expect = |what: &str, event: Option<&json::Value>, fields: &[(&str, Expected<'_>)]| {
        let Some(event) = event else {
            failures.push(format!("JSON: no {what}"));
            return;
        };
        for (key, expected) in fields {
            let value = event.get(key);
            let matches = match expected {
                Int(n) => value.and_then(json::Value::as_i64) == Some(*n),
                Str(s) => value.and_then(json::Value::as_str) == Some(*s),
                Strings(list) => value.and_then(json::Value::as_strings).as_deref() == Some(*list),
                Absent => value.is_none(),
            };
            if !matches {
                failures.push(format!(
                    "JSON: {what}: {key} is {}, expected {expected}",
                    value.map_or("missing".into(), json::Value::to_string)
                ));
            }
        }
    };

    let Pids {
        workload,
        echo,
        many,
        missing,
        reexec,
    } = pids;
    expect(
        "exec of the workload script",
        find("exec", workload, Some("/bin/sh")),
        &[
            ("ppid", Int(1)),
            ("comm", Str("sh")),
            ("filename", Str("/bin/sh")),
            ("argv", Strings(&["/bin/sh", "/workload.sh"])),
            ("retval", Int(0)),
        ],
    );
    expect(
        "fork of the workload script",
        find("fork", workload, None),
        &[
            ("ppid", Int(1)),
            ("caller_pid", Int(1)),
            ("caller_tid", Int(1)),
        ],
    );
    // The child is a copy of the shell until it execs.
    expect(
        "fork of the echo",
        find("fork", echo, None),
        &[
            ("ppid", Int(workload)),
            ("uid", Int(0)),
            ("comm", Str("sh")),
            ("caller_pid", Int(workload)),
            ("caller_tid", Int(workload)),
            ("flags", Strings(&[])),
        ],
    );
    expect(
        "exec of /bin/echo \"hello world\" x",
        find("exec", echo, Some("/bin/echo")),
        &[
            ("tid", Absent),
            ("ppid", Int(workload)),
            ("uid", Int(0)),
            ("comm", Str("echo")),
            ("filename", Str("/bin/echo")),
            ("argv", Strings(&["/bin/echo", "hello world", "x"])),
            ("argv_size", Int(24)),
            ("flags", Strings(&[])),
            ("retval", Int(0)),
            ("errno", Absent),
        ],
    );
    expect(
        "exit of the echo",
        find("exit", echo, None),
        &[
            ("ppid", Int(workload)),
            ("comm", Str("echo")),
            ("exit_code", Int(0)),
            ("signal", Absent),
            ("core_dumped", Absent),
            ("flags", Strings(&[])),
        ],
    );
    expect(
        "exec of /bin/echo a b c d e",
        find("exec", many, Some("/bin/echo")),
        &[
            ("ppid", Int(workload)),
            ("argv", Strings(&["/bin/echo", "a", "b", "c", "d", "e"])),
            ("argv_size", Int(20)),
            ("flags", Strings(&[])),
        ],
    );
    // A failed exec leaves the caller as it was: the shell's child, still named sh.
    expect(
        "failed exec of /nonexistent/cmd",
        find("exec_failed", missing, Some("/nonexistent/cmd")),
        &[
            ("ppid", Int(workload)),
            ("comm", Str("sh")),
            ("filename", Str("/nonexistent/cmd")),
            ("argv", Strings(&["/nonexistent/cmd", "arg"])),
            ("argv_size", Int(0)),
            ("flags", Strings(&[])),
            ("retval", Int(-2)),
            ("errno", Str("ENOENT")),
        ],
    );
    // ash's child exits with 127 when the command is not found.
    expect(
        "exit of the failed exec's process",
        find("exit", missing, None),
        &[
            ("ppid", Int(workload)),
            ("comm", Str("sh")),
            ("exit_code", Int(127)),
        ],
    );
    expect(
        "exec of sh -c 'exec /bin/echo re-exec'",
        find("exec", reexec, Some("/bin/sh")),
        &[
            ("ppid", Int(workload)),
            (
                "argv",
                Strings(&["/bin/sh", "-c", "exec /bin/echo re-exec"]),
            ),
        ],
    );
    expect(
        "re-exec of /bin/echo re-exec",
        find("exec", reexec, Some("/bin/echo")),
        &[
            ("ppid", Int(workload)),
            ("comm", Str("echo")),
            ("argv", Strings(&["/bin/echo", "re-exec"])),
        ],
    );
}

/// The `-a 3 -x` text output: perf-tools columns, ` [...]` after the third argument, the
/// failed exec's error and path, and the re-exec hidden (there is no `-r`).
fn check_text(lines: &[String], pids: Pids, failures: &mut Vec<String>) {
    let Pids {
        workload,
        echo,
        many,
        missing,
        reexec,
    } = pids;
    if lines.first().map(String::as_str) != Some("   PID   PPID ARGS") {
        failures.push(format!("text: the header is {:?}", lines.first()));
    }
    let row = |pid: i64, args: &str| format!("{pid:>6} {workload:>6} {args}");
    for expected in [
        format!("{workload:>6} {:>6} /bin/sh /workload.sh", 1),
        row(echo, "/bin/echo hello world x"),
        row(many, "/bin/echo a b [...]"),
        row(
            missing,
            "/nonexistent/cmd arg [ret=-2 ENOENT: /nonexistent/cmd]",
        ),
        row(reexec, "/bin/sh -c exec /bin/echo re-exec"),
    ] {
        if !lines.contains(&expected) {
            failures.push(format!("text: no line {expected:?}"));
        }
    }
    let hidden = row(reexec, "/bin/echo re-exec");
    if lines.contains(&hidden) {
        failures.push(format!("text: the re-exec is shown without -r: {hidden:?}"));
    }
}

/// What a check wants of a JSON key: an integer, a string, an array of strings, or nothing.
enum Expected<'a> {
    Int(i64),
    Str(&'a str),
    Strings(&'a [&'a str]),
    /// The key must not be there.
    Absent,
}

impl std::fmt::Display for Expected<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expected::Int(n) => write!(f, "{n}"),
            Expected::Str(s) => write!(f, "{s:?}"),
            Expected::Strings(list) => write!(f, "{list:?}"),
            Expected::Absent => f.write_str("no such key"),
        }
    }
}

fn key_values(lines: &[String]) -> BTreeMap<String, String> {
    lines
        .iter()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// tracer's first error line, `tracer: ...`.
fn error_line(lines: &[String]) -> Option<&str> {
    lines
        .iter()
        .map(String::as_str)
        .find(|l| l.starts_with("tracer: "))
}

/// The last line of a verifier log, which says why it refused the program, with the
/// instruction before it: the log ends with statistics that start with `verification time`.
fn verifier_verdict(lines: &[String]) -> Option<String> {
    let stats = lines
        .iter()
        .position(|l| l.starts_with("verification time"))?;
    let mut before = lines[..stats]
        .iter()
        .rev()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty());
    let verdict = before.next()?;
    Some(match before.next() {
        Some(insn) if insn.starts_with(|c: char| c.is_ascii_digit()) => {
            format!("{verdict} (at {insn})")
        }
        _ => verdict.to_string(),
    })
}

fn last_line(lines: &[String]) -> Option<&str> {
    lines.iter().rev().map(|l| l.trim()).find(|l| !l.is_empty())
}

/// Shows what explains a failure: the checks that failed after the first (which the FAIL line
/// gave), tracer's stderr, its `-vv` run and the end of the kernel's log when `/init` made
/// them, else the end of the console. Long sections are cut in the middle (the verifier's
/// verdict is at the end of its log); `results.log` has them whole.
fn print_failure(vm: &Vm, failures: &[String], dir: &Path) {
    for failure in failures.iter().skip(1) {
        println!("  - {failure}");
    }
    let mut shown = false;
    for (name, head, tail) in [
        ("JSON-STDERR", 15, 45),
        ("TEXT-STDERR", 15, 45),
        ("WORKLOAD-STDERR", 15, 45),
        ("TRACER-VV", 15, 45),
        ("DMESG", 0, 20),
    ] {
        let Some(lines) = vm.sections.get(name).filter(|l| !l.is_empty()) else {
            continue;
        };
        if name == "TEXT-STDERR" && vm.sections.get("JSON-STDERR") == Some(lines) {
            println!("  --- {name}: the same as JSON-STDERR ---");
            continue;
        }
        shown = true;
        println!("  --- {name} ---");
        print_cut(lines.iter().map(String::as_str), head, tail);
    }
    if !shown {
        println!("  --- console ---");
        print_cut(vm.console.lines().map(|l| l.trim_end_matches('\r')), 0, 40);
    }
    println!(
        "  (console, results and QEMU's log are in {})",
        dir.display()
    );
}

/// Prints `lines`, or only the first `head` and the last `tail` of them.
fn print_cut<'a>(lines: impl Iterator<Item = &'a str>, head: usize, tail: usize) {
    let lines: Vec<&str> = lines.collect();
    if lines.len() <= head + tail {
        for line in &lines {
            println!("  {line}");
        }
        return;
    }
    for line in &lines[..head] {
        println!("  {line}");
    }
    println!("  [... {} more lines ...]", lines.len() - head - tail);
    for line in &lines[lines.len() - tail..] {
        println!("  {line}");
    }
}

/// Just enough JSON to check tracer's lines: a strict parser of one value.
mod json {
    use std::fmt;

    #[derive(Debug, PartialEq)]
    pub enum Value {
        Null,
        Bool(bool),
        /// The number as written; only integers are read back.
        Number(String),
        String(String),
        Array(Vec<Value>),
        Object(Vec<(String, Value)>),
    }

    impl Value {
        pub fn get(&self, key: &str) -> Option<&Value> {
            match self {
                Value::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
                _ => None,
            }
        }

        pub fn as_str(&self) -> Option<&str> {
            match self {
                Value::String(s) => Some(s),
                _ => None,
            }
        }

        pub fn as_i64(&self) -> Option<i64> {
            match self {
                Value::Number(n) => n.parse().ok(),
                _ => None,
            }
        }

        /// An array of strings, as a list.
        pub fn as_strings(&self) -> Option<Vec<&str>> {
            match self {
                Value::Array(items) => items.iter().map(Value::as_str).collect(),
                _ => None,
            }
        }
    }

    impl fmt::Display for Value {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Value::Null => f.write_str("null"),
                Value::Bool(b) => write!(f, "{b}"),
                Value::Number(n) => f.write_str(n),
                Value::String(s) => write!(f, "{s:?}"),
                Value::Array(items) => {
                    f.write_str("[")?;
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            f.write_str(",")?;
                        }
                        write!(f, "{item}")?;
                    }
                    f.write_str("]")
                }
                Value::Object(fields) => {
                    f.write_str("{")?;
                    for (i, (key, value)) in fields.iter().enumerate() {
                        if i > 0 {
                            f.write_str(",")?;
                        }
                        write!(f, "{key:?}:{value}")?;
                    }
                    f.write_str("}")
                }
            }
        }
    }

    /// Parses `text`, which must hold exactly one JSON value.
    pub fn parse(text: &str) -> Result<Value, String> {
        let mut parser = Parser {
            bytes: text.as_bytes(),
            pos: 0,
        };
        let value = parser.value(0)?;
        parser.skip_whitespace();
        if parser.pos != parser.bytes.len() {
            return Err(format!("unexpected text at byte {}", parser.pos));
        }
        Ok(value)
    }

    /// Nesting deeper than this is refused rather than risking the stack.
    const MAX_DEPTH: usize = 64;

    struct Parser<'a> {
        bytes: &'a [u8],
        pos: usize,
    }

    impl Parser<'_> {
        fn value(&mut self, depth: usize) -> Result<Value, String> {
            if depth > MAX_DEPTH {
                return Err("nested too deeply".into());
            }
            self.skip_whitespace();
            match self.peek() {
                Some(b'{') => self.object(depth),
                Some(b'[') => self.array(depth),
                Some(b'"') => self.string().map(Value::String),
                Some(b'-' | b'0'..=b'9') => self.number(),
                Some(b't') => self.literal("true", Value::Bool(true)),
                Some(b'f') => self.literal("false", Value::Bool(false)),
                Some(b'n') => self.literal("null", Value::Null),
                _ => Err(self.error("a value")),
            }
        }

        fn object(&mut self, depth: usize) -> Result<Value, String> {
            self.pos += 1;
            let mut fields = Vec::new();
            self.skip_whitespace();
            if self.eat(b'}') {
                return Ok(Value::Object(fields));
            }
            loop {
                self.skip_whitespace();
                if self.peek() != Some(b'"') {
                    return Err(self.error("a key"));
                }
                let key = self.string()?;
                self.skip_whitespace();
                if !self.eat(b':') {
                    return Err(self.error("':'"));
                }
                fields.push((key, self.value(depth + 1)?));
                self.skip_whitespace();
                if self.eat(b'}') {
                    return Ok(Value::Object(fields));
                }
                if !self.eat(b',') {
                    return Err(self.error("',' or '}'"));
                }
            }
        }

        fn array(&mut self, depth: usize) -> Result<Value, String> {
            self.pos += 1;
            let mut items = Vec::new();
            self.skip_whitespace();
            if self.eat(b']') {
                return Ok(Value::Array(items));
            }
            loop {
                items.push(self.value(depth + 1)?);
                self.skip_whitespace();
                if self.eat(b']') {
                    return Ok(Value::Array(items));
                }
                if !self.eat(b',') {
                    return Err(self.error("',' or ']'"));
                }
            }
        }

        fn string(&mut self) -> Result<String, String> {
            self.pos += 1;
            let mut out = Vec::new();
            loop {
                let Some(byte) = self.peek() else {
                    return Err(self.error("the end of the string"));
                };
                self.pos += 1;
                match byte {
                    b'"' => break,
                    b'\\' => {
                        let escaped = self.peek().ok_or_else(|| self.error("an escape"))?;
                        self.pos += 1;
                        let c = match escaped {
                            b'"' => '"',
                            b'\\' => '\\',
                            b'/' => '/',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'u' => self.unicode_escape()?,
                            _ => return Err(self.error("a valid escape")),
                        };
                        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                    }
                    0..0x20 => return Err(self.error("no control character in a string")),
                    _ => out.push(byte),
                }
            }
            // The input is a `str` and only whole ASCII bytes were split off or added.
            Ok(String::from_utf8(out).expect("UTF-8 in, UTF-8 out"))
        }

        /// After `\u`: four hex digits, or a surrogate pair of two escapes.
        fn unicode_escape(&mut self) -> Result<char, String> {
            let first = self.hex4()?;
            let code = if (0xd800..0xdc00).contains(&first) {
                if !(self.eat(b'\\') && self.eat(b'u')) {
                    return Err(self.error("the second half of a surrogate pair"));
                }
                let second = self.hex4()?;
                if !(0xdc00..0xe000).contains(&second) {
                    return Err(self.error("a low surrogate"));
                }
                0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
            } else {
                first
            };
            char::from_u32(code).ok_or_else(|| self.error("a Unicode scalar value"))
        }

        fn hex4(&mut self) -> Result<u32, String> {
            let digits = self
                .bytes
                .get(self.pos..self.pos + 4)
                .and_then(|d| std::str::from_utf8(d).ok())
                .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or_else(|| self.error("four hex digits"))?;
            self.pos += 4;
            Ok(u32::from_str_radix(digits, 16).expect("checked hex digits"))
        }

        /// `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?`
        fn number(&mut self) -> Result<Value, String> {
            let start = self.pos;
            self.eat(b'-');
            if !self.eat(b'0') && self.digits() == 0 {
                return Err(self.error("a digit"));
            }
            if self.eat(b'.') && self.digits() == 0 {
                return Err(self.error("a digit after '.'"));
            }
            if self.eat(b'e') || self.eat(b'E') {
                let _ = self.eat(b'+') || self.eat(b'-');
                if self.digits() == 0 {
                    return Err(self.error("an exponent"));
                }
            }
            let text = std::str::from_utf8(&self.bytes[start..self.pos]).expect("ASCII");
            Ok(Value::Number(text.to_string()))
        }

        fn digits(&mut self) -> usize {
            let start = self.pos;
            while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                self.pos += 1;
            }
            self.pos - start
        }

        fn literal(&mut self, word: &str, value: Value) -> Result<Value, String> {
            if self.bytes[self.pos..].starts_with(word.as_bytes()) {
                self.pos += word.len();
                Ok(value)
            } else {
                Err(self.error(word))
            }
        }

        fn skip_whitespace(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                self.pos += 1;
            }
        }

        fn peek(&self) -> Option<u8> {
            self.bytes.get(self.pos).copied()
        }

        fn eat(&mut self, byte: u8) -> bool {
            let matched = self.peek() == Some(byte);
            if matched {
                self.pos += 1;
            }
            matched
        }

        fn error(&self, expected: &str) -> String {
            format!("expected {expected} at byte {}", self.pos)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Files.

fn create_dir(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn write_file(path: &Path, data: &[u8]) -> Result<(), String> {
    fs::write(path, data).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// The one file in `dir` whose name `matches`, described by `pattern`.
fn only_file(dir: &Path, pattern: &str, matches: impl Fn(&str) -> bool) -> Result<PathBuf, String> {
    let files: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| matches(&file_name(p)))
        .collect();
    match files.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "expected one {pattern} in {}, found {}",
            dir.display(),
            files.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_release_source_is_the_archive_in_either_format() {
        let deb822 = "Types: deb\n# a comment\nURIs: http://mirror.example/debian-security\n\
                      Suites: bookworm-security\nComponents: main\n\n\
                      Types: deb deb-src\nURIs: http://mirror.example/debian/\n\
                      Suites: bookworm bookworm-updates\nComponents: main contrib\n\
                      Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n";
        assert_eq!(
            main_archive(&parse_deb822_sources(deb822)),
            Some(Archive {
                uri: "http://mirror.example/debian".into(),
                signed_by: Some("\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc".into()),
            })
        );

        let one_line = "# deb http://old.example/debian bookworm main\n\
                        deb-src http://src.example/debian bookworm main\n\
                        deb http://mirror.example/debian bookworm-updates main\n\
                        deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] \
                        http://mirror.example/debian bookworm main # the archive\n";
        assert_eq!(
            main_archive(&parse_one_line_sources(one_line)),
            Some(Archive {
                uri: "http://mirror.example/debian".into(),
                signed_by: Some("/usr/share/keyrings/k.gpg".into()),
            })
        );
    }

    #[test]
    fn disabled_and_non_main_sources_are_skipped() {
        let text = "Types: deb\nURIs: http://a.example/debian\nSuites: bookworm\n\
                    Components: main\nEnabled: no\n\n\
                    Types: deb\nURIs: http://b.example/nodejs\nSuites: nodistro\nComponents: x\n";
        assert_eq!(main_archive(&parse_deb822_sources(text)), None);
    }

    #[test]
    fn sections_are_read_between_their_markers() {
        let text = "noise\r\n===A-BEGIN===\r\nx=1\r\n===B-BEGIN===\r\n===A-END===\r\n\
                    ===DONE===\r\n";
        let (sections, done) = parse_sections(text);
        assert!(done);
        assert_eq!(sections["A"], ["x=1", "===B-BEGIN==="]);
        assert!(!sections.contains_key("B"));
    }

    #[test]
    fn json_objects_parse_and_bad_json_is_refused() {
        let value =
            json::parse(r#" {"a":[1,-2.5e3,"x\"\u00e9\ud83d\ude00"],"b":{},"c":null} "#).unwrap();
        assert_eq!(
            value.get("a").and_then(|a| match a {
                json::Value::Array(items) => items[2].as_str().map(str::to_string),
                _ => None,
            }),
            Some("x\"é😀".into())
        );
        assert_eq!(
            value.to_string(),
            r#"{"a":[1,-2.5e3,"x\"é😀"],"b":{},"c":null}"#
        );
        for bad in [
            "",
            "{",
            "{\"a\":1,}",
            "[01]",
            "\"\\ud800\"",
            "{} {}",
            "\"a\tb\"",
            "1.",
        ] {
            assert!(json::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn cpio_entries_are_aligned_and_parents_come_first() {
        let mut archive = cpio::Archive::default();
        archive.file("a/b/c", 0o644, b"hello");
        let bytes = archive.finish();
        assert_eq!(bytes.len() % 4, 0);
        let text = String::from_utf8_lossy(&bytes);
        let a = text.find("a\0").unwrap();
        let ab = text.find("a/b\0").unwrap();
        let abc = text.find("a/b/c\0").unwrap();
        assert!(a < ab && ab < abc);
        // A 110-byte header and an 11-byte name, padded to 124.
        assert!(text.ends_with("0000000b00000000TRAILER!!!\0\0\0\0"));
    }
}
