//! Where archive files go: a table's directory inside the archive root,
//! and the names of its files.

/// A table's archive directory as given: relative, made of plain names
/// (letters, digits, `_`, `-`, `.`, not starting with a dot, so never `.`
/// or `..`), at most 8 deep. Returns it normalized (`a//b/` is `a/b`), or
/// why it is refused.
pub fn relative_directory(directory: &str) -> Result<String, String> {
    if directory.starts_with('/') {
        return Err("is absolute; it must be relative to gridkit.archive_directory".into());
    }
    let parts: Vec<&str> = directory.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return Err("is empty".into());
    }
    if parts.len() > 8 {
        return Err("is more than 8 directories deep".into());
    }
    for p in &parts {
        let plain = p.len() <= 100
            && !p.starts_with('.')
            && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !plain {
            return Err(format!("has the component \"{p}\"; components are letters, digits, _, - and . (not first)"));
        }
    }
    Ok(parts.join("/"))
}

/// A name made safe for a file name (anything else becomes `_`).
pub fn file_part(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

/// The file of archive `id` of table `schema.table` holding [lower, upper)
/// (microseconds from 1970-01-01 UTC): unique by its id, readable by its
/// table and range.
pub fn file_name(schema: &str, table: &str, lower: i64, upper: i64, id: i64) -> String {
    format!(
        "{}.{}_{}_{}_{id}.parquet",
        file_part(schema),
        file_part(table),
        crate::civil::file_stamp(lower),
        crate::civil::file_stamp(upper)
    )
}

/// `numeric`'s type modifier as (precision, scale); `None` unconstrained.
/// The scale is 11 bits, signed (PostgreSQL 15 allows negative scales).
pub fn numeric_typmod(typmod: i32) -> Option<(i32, i32)> {
    if typmod < 4 {
        return None;
    }
    let t = typmod - 4;
    Some(((t >> 16) & 0xffff, ((t & 0x7ff) ^ 0x400) - 0x400))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_stay_inside_the_root() {
        assert_eq!(relative_directory("traffic").unwrap(), "traffic");
        assert_eq!(relative_directory("traffic//minutes/").unwrap(), "traffic/minutes");
        assert_eq!(relative_directory("v1.2").unwrap(), "v1.2");
        for bad in
            ["", "/", "/etc", "../x", "a/../../b", ".hidden", "a/./b", "a b", "a\\b", "x/..", "a/b/c/d/e/f/g/h/i"]
        {
            assert!(relative_directory(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn file_names_carry_table_range_and_id() {
        assert_eq!(
            file_name("demo", "safety minutes/x", 1_796_688_000_000_000, 1_796_774_400_000_000, 42),
            "demo.safety_minutes_x_20261208T000000Z_20261209T000000Z_42.parquet"
        );
    }

    #[test]
    fn numeric_typmods_decode() {
        // numeric(12,3), numeric(5,-2) and numeric(2,5) as PostgreSQL 15 encodes them.
        assert_eq!(numeric_typmod(((12 << 16) | 3) + 4), Some((12, 3)));
        assert_eq!(numeric_typmod(((5 << 16) | (-2i32 & 0x7ff)) + 4), Some((5, -2)));
        assert_eq!(numeric_typmod(((2 << 16) | 5) + 4), Some((2, 5)));
        assert_eq!(numeric_typmod(-1), None);
    }
}
