//! Turning ring-buffer records into [`Event`]s. Every length is checked against the record's
//! real size: a malformed record is an error, never a panic or a silently shortened event.

use bytes::Buf;
use tracer_common::{COMM_LEN, ExecRecord, ExitRecord, ForkRecord, RecordHeader, RecordKind};

use crate::event::{Comm, Event, EventKind, Exec, Exit, Fork};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record of {got} bytes is shorter than its fixed part ({need} bytes)")]
    Short { got: usize, need: usize },
    #[error("record has unknown kind {0}")]
    UnknownKind(u32),
    #[error("record claims {claimed} variable bytes but carries {got}")]
    BadLength { claimed: usize, got: usize },
}

/// Decodes one record.
pub fn decode(record: &[u8]) -> Result<Event, DecodeError> {
    check_len(record, size_of::<RecordHeader>())?;
    let mut buf = record;
    let kind = buf.get_u32_le();
    let flags = buf.get_u32_le();
    let ktime_ns = buf.get_u64_le();
    let pid = buf.get_u32_le();
    let tid = buf.get_u32_le();
    let ppid = buf.get_u32_le();
    let uid = buf.get_u32_le();
    let comm = Comm::new(&buf[..COMM_LEN]);
    buf.advance(COMM_LEN);

    let kind = match RecordKind::from_u32(kind) {
        Some(RecordKind::Exec | RecordKind::ExecFailed) => {
            check_len(record, size_of::<ExecRecord>())?;
            let start_ns = buf.get_u64_le();
            let old_tid = buf.get_u32_le();
            let retval = buf.get_i32_le();
            let argv_size = buf.get_u32_le();
            let filename_len = usize::from(buf.get_u16_le());
            let argv_len = usize::from(buf.get_u16_le());
            if buf.len() != filename_len + argv_len {
                return Err(DecodeError::BadLength {
                    claimed: filename_len + argv_len,
                    got: buf.len(),
                });
            }
            let (filename, argv) = buf.split_at(filename_len);
            EventKind::Exec(Exec {
                start_ns,
                old_tid,
                retval,
                filename: filename.to_vec(),
                argv: split_argv(argv),
                argv_size,
            })
        }
        Some(RecordKind::Fork) => {
            check_len(record, size_of::<ForkRecord>())?;
            EventKind::Fork(Fork {
                caller_pid: buf.get_u32_le(),
                caller_tid: buf.get_u32_le(),
            })
        }
        Some(RecordKind::Exit) => {
            check_len(record, size_of::<ExitRecord>())?;
            EventKind::Exit(Exit {
                exit_code: buf.get_u32_le(),
            })
        }
        None => return Err(DecodeError::UnknownKind(kind)),
    };
    Ok(Event {
        ktime_ns,
        pid,
        tid,
        ppid,
        uid,
        comm,
        flags,
        kind,
    })
}

fn check_len(record: &[u8], need: usize) -> Result<(), DecodeError> {
    if record.len() < need {
        Err(DecodeError::Short {
            got: record.len(),
            need,
        })
    } else {
        Ok(())
    }
}

/// Splits NUL-terminated arguments. A last argument without its NUL (argv cut short) is kept;
/// a lone NUL is one empty argument (`execve(path, [""])`, or what the kernel runs since 5.18
/// for an empty argv).
fn split_argv(bytes: &[u8]) -> Vec<Vec<u8>> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    bytes.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: RecordKind) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(kind as u32).to_le_bytes());
        v.extend_from_slice(&3u32.to_le_bytes()); // flags
        v.extend_from_slice(&1_500_000_000u64.to_le_bytes());
        v.extend_from_slice(&100u32.to_le_bytes()); // pid
        v.extend_from_slice(&101u32.to_le_bytes()); // tid
        v.extend_from_slice(&7u32.to_le_bytes()); // ppid
        v.extend_from_slice(&1000u32.to_le_bytes()); // uid
        let mut comm = [0u8; COMM_LEN];
        comm[..4].copy_from_slice(b"echo");
        v.extend_from_slice(&comm);
        v
    }

    fn exec_record(filename: &[u8], argv: &[u8]) -> Vec<u8> {
        let mut v = header(RecordKind::Exec);
        v.extend_from_slice(&1_400_000_000u64.to_le_bytes()); // start_ns
        v.extend_from_slice(&55u32.to_le_bytes()); // old_tid
        v.extend_from_slice(&0i32.to_le_bytes());
        v.extend_from_slice(&(argv.len() as u32).to_le_bytes());
        v.extend_from_slice(&(filename.len() as u16).to_le_bytes());
        v.extend_from_slice(&(argv.len() as u16).to_le_bytes());
        v.extend_from_slice(filename);
        v.extend_from_slice(argv);
        v
    }

    #[test]
    fn exec_record_decodes_every_field_and_argument() {
        let record = exec_record(b"/bin/echo", b"/bin/echo\0hello world\0x\0");
        let ev = decode(&record).unwrap();
        assert_eq!(ev.pid, 100);
        assert_eq!(ev.tid, 101);
        assert_eq!(ev.ppid, 7);
        assert_eq!(ev.uid, 1000);
        assert_eq!(ev.flags, 3);
        assert_eq!(ev.ktime_ns, 1_500_000_000);
        assert_eq!(ev.comm, b"echo");
        let EventKind::Exec(exec) = ev.kind else {
            panic!("not an exec")
        };
        assert_eq!(exec.old_tid, 55);
        assert_eq!(exec.start_ns, 1_400_000_000);
        assert_eq!(exec.filename, b"/bin/echo");
        assert_eq!(
            exec.argv,
            vec![
                b"/bin/echo".to_vec(),
                b"hello world".to_vec(),
                b"x".to_vec()
            ]
        );
    }

    #[test]
    fn empty_arguments_are_kept_and_a_cut_last_argument_survives() {
        let record = exec_record(b"/bin/true", b"a\0\0b");
        let EventKind::Exec(exec) = decode(&record).unwrap().kind else {
            panic!("not an exec")
        };
        assert_eq!(exec.argv, vec![b"a".to_vec(), b"".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn a_lone_nul_is_one_empty_argument_and_no_bytes_no_argument() {
        let EventKind::Exec(exec) = decode(&exec_record(b"/bin/true", b"\0")).unwrap().kind else {
            panic!("not an exec")
        };
        assert_eq!(exec.argv, vec![Vec::<u8>::new()]);
        let EventKind::Exec(exec) = decode(&exec_record(b"/bin/true", b"")).unwrap().kind else {
            panic!("not an exec")
        };
        assert!(exec.argv.is_empty());
    }

    #[test]
    fn a_length_beyond_the_record_is_an_error_not_a_panic() {
        let mut record = exec_record(b"/bin/echo", b"x\0");
        record.truncate(record.len() - 1);
        assert_eq!(
            decode(&record),
            Err(DecodeError::BadLength {
                claimed: 11,
                got: 10
            })
        );
        assert_eq!(
            decode(&record[..20]),
            Err(DecodeError::Short { got: 20, need: 48 })
        );
    }

    #[test]
    fn unknown_kinds_are_reported() {
        let mut record = header(RecordKind::Exit);
        record[0] = 99;
        record.extend_from_slice(&[0; 8]);
        assert_eq!(decode(&record), Err(DecodeError::UnknownKind(99)));
    }

    #[test]
    fn exit_and_fork_records_decode() {
        let mut record = header(RecordKind::Exit);
        record.extend_from_slice(&0x0100u32.to_le_bytes());
        record.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(
            decode(&record).unwrap().kind,
            EventKind::Exit(Exit { exit_code: 0x100 })
        );
        let mut record = header(RecordKind::Fork);
        record.extend_from_slice(&9u32.to_le_bytes());
        record.extend_from_slice(&10u32.to_le_bytes());
        assert_eq!(
            decode(&record).unwrap().kind,
            EventKind::Fork(Fork {
                caller_pid: 9,
                caller_tid: 10
            })
        );
    }
}
