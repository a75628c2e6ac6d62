//! The audit log's files: naming, ordering, and reading a file's tail.
//!
//! Files are `audit-<first sequence, 20 digits>.jsonl` in `audit.dir`, so
//! their names sort in chain order. Each file ends with a signed digest once
//! it is closed (rotation, shutdown, or the next start after a crash).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

const PREFIX: &str = "audit-";
const SUFFIX: &str = ".jsonl";

pub fn file_name(first_sequence: u64) -> String {
    format!("{PREFIX}{first_sequence:020}{SUFFIX}")
}

/// The audit files in `dir`, oldest first.
pub fn log_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| is_log_file(path))
            .collect(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(err) => return Err(err),
    };
    files.sort();
    Ok(files)
}

fn is_log_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
}

/// Files given on the command line: directories expand to their audit files;
/// the result is in name order (chain order).
pub fn expand(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            files.extend(log_files(path)?);
        } else {
            files.push(path.clone());
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// The end of a file as the writer finds it at start.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FileTail {
    /// The last newline-terminated line, without its newline.
    pub last_line: Option<Vec<u8>>,
    /// Bytes up to and including the last newline.
    pub complete_len: u64,
    /// Bytes after the last newline: a write cut short by a crash.
    pub partial_len: u64,
}

/// Reads the last complete line of `path` (scanning backwards, so a large
/// file costs one small read).
pub fn read_tail(path: &Path) -> std::io::Result<FileTail> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut window = 64 * 1024u64;
    loop {
        let start = len.saturating_sub(window);
        file.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity((len - start) as usize);
        file.by_ref().take(len - start).read_to_end(&mut buf)?;
        if let Some(tail) = tail_of(&buf, start, len) {
            return Ok(tail);
        }
        if start == 0 {
            return Ok(FileTail {
                last_line: None,
                complete_len: 0,
                partial_len: len,
            });
        }
        window *= 4;
    }
}

/// The tail within `buf` (the file's bytes from `start` to `len`), if the
/// window holds the last complete line whole.
fn tail_of(buf: &[u8], start: u64, len: u64) -> Option<FileTail> {
    let last_newline = buf.iter().rposition(|&b| b == b'\n')?;
    let line_start = match buf[..last_newline].iter().rposition(|&b| b == b'\n') {
        Some(previous) => previous + 1,
        None if start == 0 => 0,
        None => return None,
    };
    let complete_len = start + last_newline as u64 + 1;
    Some(FileTail {
        last_line: Some(buf[line_start..last_newline].to_vec()),
        complete_len,
        partial_len: len - complete_len,
    })
}

/// A file's complete lines (without newlines) and the unterminated rest, if any.
pub type FileLines = (Vec<Vec<u8>>, Option<Vec<u8>>);

/// Every complete line of a file, and what follows the last newline.
pub fn read_lines(path: &Path) -> std::io::Result<FileLines> {
    let mut content = Vec::new();
    BufReader::new(File::open(path)?).read_to_end(&mut content)?;
    Ok(split_lines(&content))
}

/// [`read_lines`] of bytes already read.
pub fn split_lines(content: &[u8]) -> FileLines {
    let mut lines: Vec<Vec<u8>> = content.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    // After the last newline: empty for a complete file, else a cut record.
    let rest = lines.pop().filter(|rest| !rest.is_empty());
    (lines, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail(content: &[u8]) -> FileTail {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(file_name(1));
        std::fs::write(&path, content).unwrap();
        read_tail(&path).unwrap()
    }

    #[test]
    fn the_tail_is_the_last_complete_line() {
        assert_eq!(tail(b""), FileTail::default());
        let t = tail(b"a\nbb\n");
        assert_eq!(t.last_line.as_deref(), Some(&b"bb"[..]));
        assert_eq!((t.complete_len, t.partial_len), (5, 0));
        let t = tail(b"a\nbb\ncc");
        assert_eq!(t.last_line.as_deref(), Some(&b"bb"[..]));
        assert_eq!((t.complete_len, t.partial_len), (5, 2));
        let t = tail(b"partial");
        assert_eq!((t.last_line, t.complete_len, t.partial_len), (None, 0, 7));
    }

    #[test]
    fn long_lines_are_found_across_windows() {
        let long = vec![b'x'; 200 * 1024];
        let mut content = b"first\n".to_vec();
        content.extend_from_slice(&long);
        content.push(b'\n');
        let t = tail(&content);
        assert_eq!(t.last_line.unwrap().len(), long.len());
    }

    #[test]
    fn names_sort_in_sequence_order() {
        assert!(file_name(9) < file_name(10));
        assert!(is_log_file(Path::new(
            "/x/audit-00000000000000000001.jsonl"
        )));
        assert!(!is_log_file(Path::new("/x/other.jsonl")));
    }

    #[test]
    fn lines_keep_an_unterminated_rest_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"a\nb\nc").unwrap();
        let (lines, rest) = read_lines(&path).unwrap();
        assert_eq!(lines, vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(rest, Some(b"c".to_vec()));
    }
}
