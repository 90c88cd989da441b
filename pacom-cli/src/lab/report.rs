//! What every experiment leaves behind: CSV tables, a markdown summary and a
//! table on stdout, all from the same rows so they cannot disagree.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use super::error::LabCmdError;

/// A table of named columns, rendered as CSV, markdown and plain text.
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    pub fn csv(&self) -> String {
        let mut s = self.header.join(",");
        s.push('\n');
        for r in &self.rows {
            s.push_str(&r.join(","));
            s.push('\n');
        }
        s
    }

    pub fn markdown(&self) -> String {
        let mut s = format!("| {} |\n", self.header.join(" | "));
        let _ = writeln!(s, "|{}", "---|".repeat(self.header.len()));
        for r in &self.rows {
            let _ = writeln!(s, "| {} |", r.join(" | "));
        }
        s
    }

    /// Columns padded to their widest cell.
    pub fn text(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(String::len).collect();
        for r in &self.rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.len());
            }
        }
        let line = |cells: &[String]| {
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:>w$}"))
                .collect::<Vec<_>>()
                .join("  ")
        };
        let mut s = line(&self.header);
        s.push('\n');
        for r in &self.rows {
            s.push_str(&line(r));
            s.push('\n');
        }
        s
    }
}

/// The output directory of one run.
pub struct Output {
    dir: PathBuf,
}

impl Output {
    pub fn create(dir: &Path) -> Result<Self, LabCmdError> {
        fs::create_dir_all(dir).map_err(|source| LabCmdError::File {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Output {
            dir: dir.to_path_buf(),
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> Result<PathBuf, LabCmdError> {
        let path = self.path(name);
        fs::write(&path, text).map_err(|source| LabCmdError::File {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    pub fn csv(&self, name: &str, table: &Table) -> Result<PathBuf, LabCmdError> {
        self.write(name, &table.csv())
    }
}

/// Formats a float for tables.
pub fn f(x: f64, digits: usize) -> String {
    format!("{x:.digits$}")
}
