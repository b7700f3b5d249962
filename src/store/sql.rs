//! Building multi-row statements for the three dialects.

use sea_orm::{DbBackend, Statement, Value};

/// Most keys in one `IN (…)` list (far below every backend's parameter limit).
pub const IDS_PER_QUERY: usize = 1000;

/// Bound parameters per statement we stay under: SQLite allows 32 766, MySQL and PostgreSQL
/// 65 535.
pub fn max_params(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Sqlite => 32_000,
        _ => 60_000,
    }
}

/// Rows of `columns` values that fit one statement, at most `cap`.
pub fn rows_per_statement(backend: DbBackend, columns: usize, cap: usize) -> usize {
    (max_params(backend) / columns).clamp(1, cap)
}

/// The rows of a full multi-row statement of `columns` values: the largest power of two that
/// fits, at most `cap`.
fn full_statement_rows(backend: DbBackend, columns: usize, cap: usize) -> usize {
    let fits = rows_per_statement(backend, columns, cap);
    1usize << (usize::BITS - 1 - fits.leading_zeros())
}

/// Splits `rows` into slices for multi-row statements of `columns` values each: full slices
/// of the largest power of two that fits (at most `cap`), then the remainder by its
/// hexadecimal digits, largest place first (100 rows: 96 and 4; 1000: 768, 224 and 8).
///
/// Each statement shape is prepared once per connection and then found in the driver's
/// statement cache (100 shapes); arbitrary row counts would make most flushes prepare a new
/// statement, and a server keeps every prepared statement. Digit by digit, a table has at most
/// 15 shapes per place (46 up to 4096 rows), and a remainder takes at most one statement per
/// place: where halving took one per binary digit (100 rows: 64, 32 and 4), each a round trip.
pub fn statement_chunks<T>(
    backend: DbBackend,
    columns: usize,
    cap: usize,
    rows: &[T],
) -> impl Iterator<Item = &[T]> {
    let full = full_statement_rows(backend, columns, cap);
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let take = if rest.len() >= full {
            full
        } else {
            let place = 16usize.pow(rest.len().ilog(16));
            rest.len() / place * place
        };
        let (head, tail) = rest.split_at(take);
        rest = tail;
        Some(head)
    })
}

/// Splits `rows` into multi-row statements that may repeat a row — inserts that skip
/// conflicting rows, where a repeated row is skipped like any duplicate — each with the
/// number of rows it is sent with: full slices of the largest power of two that fits (at
/// most `cap`), then the rest as one statement, its row count rounded up to a shape.
///
/// A shape is any count up to 16, then 9 to 16 times an eighth of a power of two (100 rows:
/// 104; 1000: 1024): eight shapes per doubling, and at most an eighth of the rows repeated.
/// A sample table's full statement is 2048 rows on MySQL (1024 on SQLite), so a table has
/// at most 72 shapes, each prepared once per connection and then found in the driver's
/// statement cache of 100. The health and quarantine tables share a connection's cache: one
/// that meets most shapes of both evicts the least recently used and prepares it again
/// when that shape comes back. Each repeated row is a write the database attempts and skips: with
/// four shapes per doubling (100 rows sent as 112) MariaDB's row writes (`Handler_write`)
/// in an open loop were 7 % more than with eight (docs/BENCHMARKS.md). Splitting the rest
/// into exact pieces instead took a statement, and a round trip, per hexadecimal digit (100
/// rows: 96 and 4).
pub fn padded_chunks<T>(
    backend: DbBackend,
    columns: usize,
    cap: usize,
    rows: &[T],
) -> impl Iterator<Item = (&[T], usize)> {
    let full = full_statement_rows(backend, columns, cap);
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let take = rest.len().min(full);
        let (head, tail) = rest.split_at(take);
        rest = tail;
        Some((head, padded_shape(take).min(full)))
    })
}

/// The row count a statement of `rows` rows is sent with (see [`padded_chunks`]).
pub fn padded_shape(rows: usize) -> usize {
    if rows <= 16 {
        return rows;
    }
    let step = 1usize << (rows.ilog2() - 3);
    rows.div_ceil(step) * step
}

/// `(?, ?, …), (?, ?, …)` (or `$1, $2, …` on PostgreSQL) for `rows` rows of `columns`.
pub fn values_list(backend: DbBackend, rows: usize, columns: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 4);
    let mut n = 0;
    for row in 0..rows {
        if row > 0 {
            out.push(',');
        }
        out.push('(');
        for col in 0..columns {
            if col > 0 {
                out.push(',');
            }
            n += 1;
            placeholder(backend, n, &mut out);
        }
        out.push(')');
    }
    out
}

/// `?, ?, ?` (or `$1, $2, $3`) for an `IN (…)` list.
pub fn in_list(backend: DbBackend, count: usize) -> String {
    let mut out = String::with_capacity(count * 4);
    for n in 1..=count {
        if n > 1 {
            out.push(',');
        }
        placeholder(backend, n, &mut out);
    }
    out
}

fn placeholder(backend: DbBackend, n: usize, out: &mut String) {
    use std::fmt::Write;
    match backend {
        DbBackend::Postgres => {
            let _ = write!(out, "${n}");
        }
        _ => out.push('?'),
    }
}

/// `INSERT … VALUES …` that skips rows whose `conflict` key exists, or, with `conflict`
/// empty, rows that conflict on any unique key.
pub fn insert_ignore(
    backend: DbBackend,
    table: &str,
    columns: &str,
    values: &str,
    conflict: &str,
) -> String {
    match backend {
        DbBackend::MySql => format!("INSERT IGNORE INTO {table} ({columns}) VALUES {values}"),
        _ if conflict.is_empty() => {
            format!("INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT DO NOTHING")
        }
        _ => format!(
            "INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT ({conflict}) DO NOTHING"
        ),
    }
}

/// Rows to skip for page `page` (from 1) of `size` rows out of `total`; `None` when the page
/// lies beyond them (an empty page, answered without asking the database: an offset past
/// what a database takes would be an error).
pub fn page_offset(page: u64, size: u64, total: u64) -> Option<u64> {
    page.saturating_sub(1)
        .checked_mul(size)
        .filter(|&offset| offset < total)
}

/// A statement with its parameters.
pub fn statement(backend: DbBackend, sql: String, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(backend, sql, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_per_dialect() {
        assert_eq!(values_list(DbBackend::MySql, 2, 2), "(?,?),(?,?)");
        assert_eq!(values_list(DbBackend::Postgres, 2, 2), "($1,$2),($3,$4)");
        assert_eq!(in_list(DbBackend::Postgres, 3), "$1,$2,$3");
        assert_eq!(rows_per_statement(DbBackend::Sqlite, 20, 1000), 1000);
        assert_eq!(rows_per_statement(DbBackend::Sqlite, 20_000, 1000), 1);
    }

    #[test]
    fn padded_chunks_take_few_shapes_and_repeat_an_eighth_at_most() {
        let chunks = |rows: usize| -> Vec<(usize, usize)> {
            let rows: Vec<usize> = (0..rows).collect();
            padded_chunks(DbBackend::MySql, 20, 4096, &rows)
                .map(|(slice, shape)| (slice.len(), shape))
                .collect()
        };
        assert_eq!(chunks(100), vec![(100, 104)]);
        assert_eq!(chunks(16), vec![(16, 16)]);
        assert_eq!(chunks(17), vec![(17, 18)]);
        assert_eq!(chunks(1000), vec![(1000, 1024)]);
        // 60 000 parameters of 20 columns: full statements of 2048 rows.
        assert_eq!(chunks(5000), vec![(2048, 2048), (2048, 2048), (904, 960)]);
        let shapes: std::collections::BTreeSet<usize> = (1..=2048).map(padded_shape).collect();
        assert_eq!(shapes.len(), 16 + 8 * 7);
        let shapes: std::collections::BTreeSet<usize> = (1..=4096).map(padded_shape).collect();
        assert_eq!(shapes.len(), 80);
        for rows in 1..=4096 {
            let shape = padded_shape(rows);
            assert!(
                shape >= rows && shape * 8 <= rows * 9,
                "{rows} rows sent as {shape}"
            );
        }
    }

    #[test]
    fn pages_beyond_the_rows_are_empty() {
        assert_eq!(page_offset(1, 50, 120), Some(0));
        assert_eq!(page_offset(3, 50, 120), Some(100));
        assert_eq!(page_offset(4, 50, 120), None);
        assert_eq!(page_offset(1, 50, 0), None);
        assert_eq!(page_offset(434_963_328_693_134_528, 50, 120), None);
        assert_eq!(page_offset(u64::MAX, u64::MAX, u64::MAX), None);
    }

    #[test]
    fn statement_chunks_are_full_then_hexadecimal_digits() {
        let sizes = |rows: usize, cap: usize| -> Vec<usize> {
            let rows: Vec<usize> = (0..rows).collect();
            statement_chunks(DbBackend::Postgres, 5, cap, &rows)
                .map(<[usize]>::len)
                .collect()
        };
        assert_eq!(sizes(1300, 512), vec![512, 512, 256, 16, 4]);
        assert_eq!(sizes(100, 4096), vec![96, 4]);
        assert_eq!(sizes(1000, 4096), vec![768, 224, 8]);
        assert_eq!(sizes(4095, 4096), vec![3840, 240, 15]);
        assert_eq!(sizes(16, 4096), vec![16]);
        // Every shape below the cap: a digit 1–15 at a place 1, 16, 256.
        let shapes: std::collections::BTreeSet<usize> =
            (1..4096).flat_map(|n| sizes(n, 4096)).collect();
        assert_eq!(shapes.len(), 45);
        let rows: Vec<u32> = (0..3).collect();
        let sizes: Vec<usize> = statement_chunks(DbBackend::Sqlite, 20_000, 512, &rows)
            .map(<[u32]>::len)
            .collect();
        assert_eq!(sizes, vec![1, 1, 1]);
    }
}
