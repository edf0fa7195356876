//! Showing untrusted bytes (argv, filenames, comm) on one line of a terminal.
//!
//! Any process can exec with arguments that hold newlines, terminal escape sequences or bytes
//! that are not UTF-8. [`escape`] writes them so that one event stays one line and nothing
//! reaches the terminal as a control sequence; [`quote`] does the same in a form that a POSIX
//! shell (bash for the `$'...'` case) reads back as the original bytes.
//!
//! Besides the C0 controls, C1 controls (U+0080..U+009F, which some terminals obey even in
//! UTF-8) and the bidirectional embedding, override and isolate controls (U+202A..U+202E,
//! U+2066..U+2069, which can make text display in an order other than the one it has) are
//! escaped. Other invisible characters, such as zero-width spaces, are printed as they are.

use super::push_hex_byte;

/// Writes `arg` for text output: printable ASCII as is, `\\`, `\n`, `\t`, `\r`, `\xHH` for the
/// other C0 controls, DEL and each byte that is not valid UTF-8, `\u{XXXX}` for C1 and
/// bidirectional controls, and any other valid UTF-8 as is.
///
/// The result is always valid UTF-8 and never holds a control character.
pub fn escape(arg: &[u8], out: &mut Vec<u8>) {
    if arg.iter().all(|&b| is_plain_ascii(b)) {
        out.extend_from_slice(arg);
        return;
    }

    for chunk in arg.utf8_chunks() {
        escape_str(chunk.valid(), out);
        for &byte in chunk.invalid() {
            push_hex_escape(out, byte);
        }
    }
}

/// Writes `arg` as a shell word that reads back as exactly `arg`: as is when made only of
/// `[A-Za-z0-9_@%+=:,./-]`, else in single quotes (a `'` inside written `'\''`), or in bash's
/// `$'...'` when it holds a byte that [`escape`] would escape other than `\`.
pub fn quote(arg: &[u8], out: &mut Vec<u8>) {
    if arg.is_empty() {
        out.extend_from_slice(b"''");
    } else if arg.iter().all(|&b| is_shell_safe(b)) {
        out.extend_from_slice(arg);
    } else if needs_ansi_c_quoting(arg) {
        ansi_c_quote(arg, out);
    } else {
        single_quote(arg, out);
    }
}

/// Bytes that [`escape`] copies unchanged in ASCII.
fn is_plain_ascii(byte: u8) -> bool {
    (0x20..0x7f).contains(&byte) && byte != b'\\'
}

/// C0 controls and DEL.
fn is_ascii_control(byte: u8) -> bool {
    byte < 0x20 || byte == 0x7f
}

/// Valid characters that are still written as escapes: C1 and bidirectional controls.
fn is_hidden_control(c: char) -> bool {
    matches!(c, '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn is_shell_safe(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&byte)
}

fn push_hex_escape(out: &mut Vec<u8>, byte: u8) {
    out.extend_from_slice(b"\\x");
    push_hex_byte(out, byte);
}

/// The escapes shared by text output and `$'...'`, for one ASCII byte that needs one.
fn push_ascii_escape(out: &mut Vec<u8>, byte: u8) {
    match byte {
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\t' => out.extend_from_slice(b"\\t"),
        b'\r' => out.extend_from_slice(b"\\r"),
        _ => push_hex_escape(out, byte),
    }
}

/// [`escape`] for valid UTF-8: copies runs that need nothing in one go.
fn escape_str(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    let mut run_start = 0;
    for (i, c) in s.char_indices() {
        let ascii_escape = c.is_ascii() && !is_plain_ascii(c as u8);
        if !ascii_escape && !is_hidden_control(c) {
            continue;
        }

        out.extend_from_slice(&bytes[run_start..i]);
        if ascii_escape {
            push_ascii_escape(out, c as u8);
        } else {
            push_unicode_escape(out, c);
        }
        run_start = i + c.len_utf8();
    }
    out.extend_from_slice(&bytes[run_start..]);
}

/// `\u{XXXX}` with four lowercase hex digits; every character escaped this way is below
/// U+10000.
fn push_unicode_escape(out: &mut Vec<u8>, c: char) {
    let [_, _, high, low] = u32::from(c).to_be_bytes();
    out.extend_from_slice(b"\\u{");
    push_hex_byte(out, high);
    push_hex_byte(out, low);
    out.push(b'}');
}

fn needs_ansi_c_quoting(arg: &[u8]) -> bool {
    match std::str::from_utf8(arg) {
        Err(_) => true,
        Ok(s) => {
            s.bytes().any(is_ascii_control) || (!s.is_ascii() && s.chars().any(is_hidden_control))
        }
    }
}

fn single_quote(arg: &[u8], out: &mut Vec<u8>) {
    out.push(b'\'');
    for part in arg.split(|&b| b == b'\'').enumerate() {
        if part.0 > 0 {
            out.extend_from_slice(b"'\\''");
        }
        out.extend_from_slice(part.1);
    }
    out.push(b'\'');
}

/// bash's `$'...'`. Every byte that is not printable is written `\xHH`, even inside a valid
/// UTF-8 character, because bash turns `\xHH` back into that byte whatever the locale (its
/// `\u` would depend on the locale).
fn ansi_c_quote(arg: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"$'");
    for chunk in arg.utf8_chunks() {
        let valid = chunk.valid();
        let bytes = valid.as_bytes();
        let mut run_start = 0;
        for (i, c) in valid.char_indices() {
            let special = if c.is_ascii() {
                is_ascii_control(c as u8) || c == '\\' || c == '\''
            } else {
                is_hidden_control(c)
            };
            if !special {
                continue;
            }

            out.extend_from_slice(&bytes[run_start..i]);
            let end = i + c.len_utf8();
            match c {
                '\'' => out.extend_from_slice(b"\\'"),
                _ if c.is_ascii() => push_ascii_escape(out, c as u8),
                _ => bytes[i..end].iter().for_each(|&b| push_hex_escape(out, b)),
            }
            run_start = end;
        }
        out.extend_from_slice(&bytes[run_start..]);

        for &byte in chunk.invalid() {
            push_hex_escape(out, byte);
        }
    }
    out.push(b'\'');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(arg: &[u8]) -> String {
        let mut out = Vec::new();
        escape(arg, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn quoted(arg: &[u8]) -> String {
        let mut out = Vec::new();
        quote(arg, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escape_keeps_printable_ascii() {
        assert_eq!(
            escaped(b"/bin/echo hello, world!~"),
            "/bin/echo hello, world!~"
        );
    }

    #[test]
    fn escape_doubles_backslash() {
        assert_eq!(escaped(b"a\\b"), "a\\\\b");
    }

    #[test]
    fn escape_writes_newline_tab_and_carriage_return_as_two_characters() {
        assert_eq!(escaped(b"a\nb\tc\rd"), "a\\nb\\tc\\rd");
    }

    #[test]
    fn escape_writes_esc_other_controls_and_del_as_hex() {
        assert_eq!(escaped(b"\x1b[31mred"), "\\x1b[31mred");
        assert_eq!(
            escaped(b"\x00\x01\x07\x08\x0b\x0c\x1f\x7f"),
            "\\x00\\x01\\x07\\x08\\x0b\\x0c\\x1f\\x7f"
        );
    }

    #[test]
    fn escape_writes_each_invalid_utf8_byte_as_hex() {
        assert_eq!(escaped(b"a\xffb"), "a\\xffb");
        assert_eq!(escaped(b"\xe2\x82"), "\\xe2\\x82");
        assert_eq!(escaped(b"\xc3\xa9\xc3"), "\u{e9}\\xc3");
    }

    #[test]
    fn escape_keeps_valid_non_ascii_utf8() {
        assert_eq!(
            escaped("café ünïcødé 日本 🦀".as_bytes()),
            "café ünïcødé 日本 🦀"
        );
    }

    #[test]
    fn escape_writes_c1_and_bidi_controls_as_unicode_escapes() {
        assert_eq!(escaped("a\u{85}b\u{9b}".as_bytes()), "a\\u{0085}b\\u{009b}");
        assert_eq!(escaped("x\u{202e}txt.exe".as_bytes()), "x\\u{202e}txt.exe");
        assert_eq!(
            escaped("\u{202a}\u{2066}\u{2069}".as_bytes()),
            "\\u{202a}\\u{2066}\\u{2069}"
        );
        assert_eq!(
            escaped("\u{a0}\u{2065}\u{206a}".as_bytes()),
            "\u{a0}\u{2065}\u{206a}"
        );
    }

    #[test]
    fn escaped_output_never_holds_a_control_character() {
        let every_byte: Vec<u8> = (0..=255).collect();
        let out = escaped(&every_byte);
        assert!(!out.chars().any(|c| c.is_control()), "{out:?}");
    }

    #[test]
    fn quote_leaves_safe_words_alone() {
        assert_eq!(quoted(b"/usr/bin/cat"), "/usr/bin/cat");
        assert_eq!(
            quoted(b"--opt=a,b:c@d%e+f_g-1.2"),
            "--opt=a,b:c@d%e+f_g-1.2"
        );
    }

    #[test]
    fn quote_puts_empty_argument_in_single_quotes() {
        assert_eq!(quoted(b""), "''");
    }

    #[test]
    fn quote_uses_single_quotes_for_spaces_and_shell_characters() {
        assert_eq!(quoted(b"a b"), "'a b'");
        assert_eq!(quoted(b"$HOME"), "'$HOME'");
        assert_eq!(quoted(b"a\\b"), "'a\\b'");
        assert_eq!(quoted(b"*"), "'*'");
        assert_eq!(quoted("café".as_bytes()), "'café'");
    }

    #[test]
    fn quote_writes_single_quote_as_close_escape_reopen() {
        assert_eq!(quoted(b"it's"), "'it'\\''s'");
        assert_eq!(quoted(b"'"), "''\\'''");
    }

    #[test]
    fn quote_uses_ansi_c_quoting_for_controls_and_invalid_utf8() {
        assert_eq!(quoted(b"a\nb"), "$'a\\nb'");
        assert_eq!(quoted(b"\x1b[31m it's \\"), "$'\\x1b[31m it\\'s \\\\'");
        assert_eq!(quoted(b"\xff\t"), "$'\\xff\\t'");
        assert_eq!(quoted("é\u{202e}".as_bytes()), "$'é\\xe2\\x80\\xae'");
    }

    #[test]
    fn quoted_words_read_back_as_the_original_bytes_in_bash() {
        use std::os::unix::ffi::OsStrExt;

        let Ok(bash) = std::process::Command::new("bash").arg("--version").output() else {
            return;
        };
        if !bash.status.success() {
            return;
        }

        let args: [&[u8]; 8] = [
            b"plain",
            b"",
            b"a b",
            b"it's",
            b"a\nb\tc\rd\x1b[0m\x7f",
            b"\\'\\",
            b"\xff\xfe\xc3",
            "x\u{202e}\u{85}é".as_bytes(),
        ];
        for arg in args {
            let mut script = b"printf %s ".to_vec();
            quote(arg, &mut script);
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(std::ffi::OsStr::from_bytes(&script))
                .output()
                .unwrap();
            assert_eq!(out.stdout, arg, "{:?}", String::from_utf8_lossy(&script));
        }
    }
}
