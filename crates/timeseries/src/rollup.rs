//! A rollup's shape and SQL: which aggregates a user asked for, the
//! mergeable state that keeps them (row count, count, sum, sum of squares,
//! min, max per column), and the statements that create, fill and read it.
//!
//! State is what a rollup stores; the aggregates users read are generated
//! columns computed from it, so a rollup built from another rollup (daily
//! from hourly) merges state and gets exactly the numbers a rollup of the
//! raw rows would: sums are `numeric` (each value converted once, then
//! added exactly), and the standard deviation is computed from the exact
//! sums with a single division.

use gridkit_sqltext::{quote_ident, quote_literal};
use serde_json::Value;

use crate::accumulate::{InputType, NativePlan, NativeType, StateOp};
use crate::Bucket;

/// Longest identifier PostgreSQL keeps (NAMEDATALEN - 1).
const MAX_NAME: usize = 63;

/// An aggregate function a rollup offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    /// Sample standard deviation (`stddev`, `stddev_samp`).
    Stddev,
    /// Rows above 75 (a safety index at high risk; docs/INDICES.md).
    HighRiskMinutes,
}

impl Func {
    fn parse(name: &str) -> Option<Func> {
        Some(match name.to_ascii_lowercase().as_str() {
            "count" => Func::Count,
            "sum" => Func::Sum,
            "avg" => Func::Avg,
            "min" => Func::Min,
            "max" => Func::Max,
            "stddev" | "stddev_samp" => Func::Stddev,
            "high_risk_minutes" => Func::HighRiskMinutes,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Func::Count => "count",
            Func::Sum => "sum",
            Func::Avg => "avg",
            Func::Min => "min",
            Func::Max => "max",
            Func::Stddev => "stddev",
            Func::HighRiskMinutes => "high_risk_minutes",
        }
    }

    /// The state this aggregate is computed from.
    fn needs(self) -> &'static [StateKind] {
        match self {
            Func::Count => &[StateKind::Count],
            Func::Sum => &[StateKind::Sum],
            Func::Avg => &[StateKind::Sum, StateKind::Count],
            Func::Min => &[StateKind::Min],
            Func::Max => &[StateKind::Max],
            Func::Stddev => &[StateKind::Sum, StateKind::SumSq, StateKind::Count],
            Func::HighRiskMinutes => &[StateKind::HighRisk],
        }
    }
}

/// One output column: `output = func(column)`; `count(*)` has no column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aggregate {
    pub output: String,
    pub func: Func,
    pub column: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollupError {
    #[error("aggregates must be a JSON object of output column to \"func(column)\", e.g. {{\"demand_avg\": \"avg(value)\", \"rows\": \"count(*)\"}}")]
    NotAnObject,
    #[error("aggregates must name at least one output column")]
    Empty,
    #[error("aggregate \"{0}\": {1} is not func(column) with func one of count, sum, avg, min, max, stddev, high_risk_minutes")]
    BadExpression(String, String),
    #[error("output column \"{0}\" is not allowed: {1}")]
    BadOutput(String, &'static str),
    #[error("column \"{0}\" does not exist in the source")]
    NoColumn(String),
    #[error("{func}({column}) needs a numeric column; \"{column}\" is {ty}")]
    NotNumeric { func: &'static str, column: String, ty: String },
    #[error("group_by column \"{0}\" {1}")]
    BadGroup(String, &'static str),
    #[error("the source rollup keeps no {0} state for \"{1}\"; add an aggregate over \"{1}\" that needs it (avg keeps sum and count, stddev also the sum of squares) to the source rollup")]
    NoState(&'static str, String),
    #[error("a rollup of {0} buckets cannot be built from one of {1} buckets; each bucket must be a whole number of the source's")]
    BucketMismatch(Bucket, Bucket),
    #[error(
        "the source rollup buckets in {0}, this one in {1}; a rollup built from another must use the same time zone"
    )]
    ZoneMismatch(String, String),
    #[error("state column name {0} is longer than 63 bytes; rename the column")]
    NameTooLong(String),
}

/// How a column's values add up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeKind {
    Integer,
    Floating,
    Numeric,
    /// Ordered but not numeric (text, timestamps, ...): min and max only.
    Other,
}

/// A column of the raw source: its SQL type and how it adds up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnType {
    pub sql: String,
    pub kind: TypeKind,
}

/// A rollup that is the source of another.
#[derive(Clone, Debug)]
pub struct SourceRollup {
    pub bucket: Bucket,
    pub zone: String,
    pub group_by: Vec<String>,
    /// The names of its state columns.
    pub states: Vec<String>,
}

/// What a rollup reads: the raw table's columns (for a rollup of a rollup,
/// the raw table at the bottom of the chain) and, when built from another
/// rollup, that rollup.
#[derive(Clone, Debug)]
pub struct Source {
    pub time_column: String,
    pub columns: Vec<(String, ColumnType)>,
    pub rollup: Option<SourceRollup>,
}

impl Source {
    fn column(&self, name: &str) -> Option<&ColumnType> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum StateKind {
    Rows,
    Count,
    Sum,
    SumSq,
    Min,
    Max,
    HighRisk,
}

impl StateKind {
    fn prefix(self) -> &'static str {
        match self {
            StateKind::Rows => "_n",
            StateKind::Count => "_count_",
            StateKind::Sum => "_sum_",
            StateKind::SumSq => "_sumsq_",
            StateKind::Min => "_min_",
            StateKind::Max => "_max_",
            StateKind::HighRisk => "_highrisk_",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            StateKind::Rows => "row count",
            StateKind::Count => "count",
            StateKind::Sum => "sum",
            StateKind::SumSq => "sum of squares",
            StateKind::Min => "min",
            StateKind::Max => "max",
            StateKind::HighRisk => "high-risk count",
        }
    }
}

/// One state column.
#[derive(Clone, Debug, PartialEq, Eq)]
struct State {
    kind: StateKind,
    column: Option<String>,
    sql_type: String,
}

impl State {
    fn name(&self) -> String {
        format!("{}{}", self.kind.prefix(), self.column.as_deref().unwrap_or(""))
    }
}

/// Parses `{"output": "func(column)", ...}`.
pub fn parse_aggregates(spec: &Value) -> Result<Vec<Aggregate>, RollupError> {
    let object = spec.as_object().ok_or(RollupError::NotAnObject)?;
    if object.is_empty() {
        return Err(RollupError::Empty);
    }
    let mut out = Vec::with_capacity(object.len());
    for (output, expr) in object {
        let text = expr.as_str().ok_or_else(|| RollupError::BadExpression(output.clone(), expr.to_string()))?;
        let bad = || RollupError::BadExpression(output.clone(), format!("\"{text}\""));
        let (func, rest) = text.trim().split_once('(').ok_or_else(bad)?;
        let arg = rest.strip_suffix(')').ok_or_else(bad)?.trim();
        let func = Func::parse(func.trim()).ok_or_else(bad)?;
        let column = match arg {
            "*" if func == Func::Count => None,
            "" | "*" => return Err(bad()),
            quoted if quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"') => {
                Some(quoted[1..quoted.len() - 1].replace("\"\"", "\""))
            }
            plain if plain.chars().all(|c| c.is_alphanumeric() || c == '_') => Some(plain.to_lowercase()),
            _ => return Err(bad()),
        };
        out.push(Aggregate { output: output.clone(), func, column });
    }
    Ok(out)
}

/// A checked rollup definition and the SQL that keeps it.
#[derive(Clone, Debug)]
pub struct Rollup {
    pub bucket: Bucket,
    zone_sql: String,
    utc: bool,
    group_by: Vec<(String, String)>,
    aggregates: Vec<(Aggregate, String)>,
    states: Vec<State>,
    time_sql: String,
    from_rollup: bool,
    /// Source columns of type real or double precision, whose sums are
    /// taken by gridkit's exact-sum aggregates.
    floating: Vec<String>,
}

impl Rollup {
    /// Checks a definition against its source.
    pub fn new(
        bucket: Bucket,
        zone: &str,
        group_by: &[String],
        aggregates: Vec<Aggregate>,
        source: &Source,
    ) -> Result<Rollup, RollupError> {
        if let Some(r) = &source.rollup {
            if r.zone != zone {
                return Err(RollupError::ZoneMismatch(r.zone.clone(), zone.to_string()));
            }
            if !bucket.is_made_of(r.bucket) {
                return Err(RollupError::BucketMismatch(bucket, r.bucket));
            }
        }
        let mut groups = Vec::with_capacity(group_by.len());
        for g in group_by {
            if g == "bucket" || g.starts_with('_') {
                return Err(RollupError::BadGroup(g.clone(), "is a name gridkit uses"));
            }
            if *g == source.time_column {
                return Err(RollupError::BadGroup(g.clone(), "is the time column; the bucket replaces it"));
            }
            if groups.iter().any(|(n, _): &(String, String)| n == g) {
                return Err(RollupError::BadGroup(g.clone(), "is listed twice"));
            }
            let ty = source.column(g).ok_or_else(|| RollupError::NoColumn(g.clone()))?;
            if let Some(r) = &source.rollup {
                if !r.group_by.contains(g) {
                    return Err(RollupError::BadGroup(g.clone(), "is not a group_by column of the source rollup"));
                }
            }
            groups.push((g.clone(), ty.sql.clone()));
        }
        if aggregates.is_empty() {
            return Err(RollupError::Empty);
        }
        let mut states = vec![State { kind: StateKind::Rows, column: None, sql_type: "bigint".into() }];
        let mut outputs: Vec<(Aggregate, String)> = Vec::with_capacity(aggregates.len());
        for a in aggregates {
            if a.output.is_empty() || a.output.len() > MAX_NAME {
                return Err(RollupError::BadOutput(a.output, "it must be 1 to 63 bytes"));
            }
            if a.output == "bucket" || a.output.starts_with('_') {
                return Err(RollupError::BadOutput(a.output, "the bucket and names starting with _ are gridkit's"));
            }
            if groups.iter().any(|(g, _)| *g == a.output) || outputs.iter().any(|(o, _)| o.output == a.output) {
                return Err(RollupError::BadOutput(a.output, "another column has this name"));
            }
            let needs: &[StateKind] = match &a.column {
                None => &[StateKind::Rows],
                Some(c) => {
                    let ty = source.column(c).ok_or_else(|| RollupError::NoColumn(c.clone()))?;
                    if matches!(a.func, Func::Sum | Func::Avg | Func::Stddev | Func::HighRiskMinutes)
                        && ty.kind == TypeKind::Other
                    {
                        return Err(RollupError::NotNumeric {
                            func: a.func.name(),
                            column: c.clone(),
                            ty: ty.sql.clone(),
                        });
                    }
                    a.func.needs()
                }
            };
            for &kind in needs {
                let state = State {
                    kind,
                    column: if kind == StateKind::Rows { None } else { a.column.clone() },
                    sql_type: match kind {
                        StateKind::Rows | StateKind::Count | StateKind::HighRisk => "bigint".into(),
                        StateKind::Sum | StateKind::SumSq => "numeric".into(),
                        StateKind::Min | StateKind::Max => {
                            source.column(a.column.as_deref().unwrap_or("")).map(|t| t.sql.clone()).unwrap_or_default()
                        }
                    },
                };
                if state.name().len() > MAX_NAME {
                    return Err(RollupError::NameTooLong(state.name()));
                }
                if let Some(r) = &source.rollup {
                    if !r.states.contains(&state.name()) {
                        return Err(RollupError::NoState(kind.describe(), a.column.clone().unwrap_or_default()));
                    }
                }
                if !states.contains(&state) {
                    states.push(state);
                }
            }
            let ty = match (a.func, &a.column) {
                (Func::Count | Func::HighRiskMinutes, _) => "bigint".to_string(),
                (Func::Avg | Func::Stddev, _) => "double precision".into(),
                (Func::Sum, Some(c)) if source.column(c).map(|t| t.kind) == Some(TypeKind::Floating) => {
                    "double precision".into()
                }
                (Func::Sum, _) => "numeric".into(),
                (Func::Min | Func::Max, Some(c)) => source.column(c).map(|t| t.sql.clone()).unwrap_or_default(),
                (Func::Min | Func::Max, None) => unreachable!("parse_aggregates gives min and max a column"),
            };
            outputs.push((a, ty));
        }
        states.sort_by(|a, b| (a.column.as_deref(), a.kind).cmp(&(b.column.as_deref(), b.kind)));
        let time_sql = match &source.rollup {
            Some(_) => quote_ident("bucket"),
            None => quote_ident(&source.time_column),
        };
        Ok(Rollup {
            bucket,
            zone_sql: quote_literal(zone),
            utc: Bucket::is_utc(zone),
            group_by: groups,
            aggregates: outputs,
            states,
            time_sql,
            from_rollup: source.rollup.is_some(),
            floating: source
                .columns
                .iter()
                .filter(|(_, t)| t.kind == TypeKind::Floating)
                .map(|(c, _)| c.clone())
                .collect(),
        })
    }

    /// SQL for the bucket start of a timestamptz expression.
    pub fn start_sql(&self, ts: &str) -> String {
        let utc = if self.utc { self.bucket.start_sql_utc(ts) } else { None };
        utc.unwrap_or_else(|| self.bucket.start_sql(ts, &self.zone_sql))
    }

    /// SQL for the start of the bucket after the one starting at `start`.
    pub fn next_sql(&self, start: &str) -> String {
        self.bucket.next_sql(start, &self.zone_sql)
    }

    /// The names of the state columns.
    #[cfg(test)]
    fn state_names(&self) -> Vec<String> {
        self.states.iter().map(State::name).collect()
    }

    fn output_sql(&self, a: &Aggregate) -> String {
        let st =
            |kind: StateKind| quote_ident(&State { kind, column: a.column.clone(), sql_type: String::new() }.name());
        match (a.func, &a.column) {
            (Func::Count, None) => quote_ident("_n"),
            (Func::Count, Some(_)) => st(StateKind::Count),
            (Func::Sum, _) => {
                let ty = &self.aggregates.iter().find(|(o, _)| o == a).map(|(_, t)| t.as_str()).unwrap_or("numeric");
                format!("({})::{ty}", st(StateKind::Sum))
            }
            (Func::Avg, _) => {
                format!("({} / NULLIF({}, 0))::double precision", st(StateKind::Sum), st(StateKind::Count))
            }
            (Func::Min, _) => st(StateKind::Min),
            (Func::Max, _) => st(StateKind::Max),
            (Func::HighRiskMinutes, _) => st(StateKind::HighRisk),
            (Func::Stddev, _) => {
                let (s, q, n) = (st(StateKind::Sum), st(StateKind::SumSq), st(StateKind::Count));
                format!(
                    "CASE WHEN {n} > 1 THEN pg_catalog.sqrt(GREATEST({n} * {q} - {s} * {s}, 0) / ({n} * ({n} - 1)))::double precision END"
                )
            }
        }
    }

    /// The state's aggregate over source rows.
    fn state_sql(&self, s: &State) -> String {
        let c = s.column.as_deref().map(quote_ident).unwrap_or_default();
        if self.from_rollup {
            let name = quote_ident(&s.name());
            return match s.kind {
                StateKind::Rows | StateKind::Count | StateKind::HighRisk => format!("pg_catalog.sum({name})::bigint"),
                StateKind::Sum | StateKind::SumSq => format!("pg_catalog.sum({name})"),
                StateKind::Min => format!("pg_catalog.min({name})"),
                StateKind::Max => format!("pg_catalog.max({name})"),
            };
        }
        match s.kind {
            StateKind::Rows => "pg_catalog.count(*)".into(),
            StateKind::Count => format!("pg_catalog.count({c})"),
            // Equal to sum(c::numeric) and sum(c::numeric * c::numeric),
            // at a fraction of the cost (src/exact_sum.rs).
            StateKind::Sum | StateKind::SumSq if s.column.as_ref().is_some_and(|c| self.floating.contains(c)) => {
                let f = if s.kind == StateKind::Sum { "_exact_sum" } else { "_exact_sum_squares" };
                format!("gridkit.{f}({c})")
            }
            StateKind::Sum => format!("pg_catalog.sum({c}::numeric)"),
            StateKind::SumSq => format!("pg_catalog.sum({c}::numeric * {c}::numeric)"),
            StateKind::Min => format!("pg_catalog.min({c})"),
            StateKind::Max => format!("pg_catalog.max({c})"),
            StateKind::HighRisk => format!("pg_catalog.count(*) FILTER (WHERE {c} > 75)"),
        }
    }

    fn group_list(&self) -> String {
        self.group_by.iter().map(|(g, _)| format!(", {}", quote_ident(g))).collect()
    }

    fn state_list(&self) -> String {
        self.states.iter().map(|s| format!(", {}", quote_ident(&s.name()))).collect()
    }

    /// `CREATE TABLE` of the rollup, partitioned by bucket, with its key.
    pub fn create_table_sql(&self, table: &str) -> String {
        let mut cols = vec!["bucket timestamp with time zone NOT NULL".to_string()];
        cols.extend(self.group_by.iter().map(|(g, ty)| format!("{} {ty}", quote_ident(g))));
        for (a, ty) in &self.aggregates {
            cols.push(format!("{} {ty} GENERATED ALWAYS AS ({}) STORED", quote_ident(&a.output), self.output_sql(a)));
        }
        for s in &self.states {
            let not_null = if matches!(s.kind, StateKind::Rows | StateKind::Count | StateKind::HighRisk) {
                " NOT NULL"
            } else {
                ""
            };
            cols.push(format!("{} {}{not_null}", quote_ident(&s.name()), s.sql_type));
        }
        let key: Vec<String> = self.group_by.iter().map(|(g, _)| quote_ident(g)).chain(["bucket".into()]).collect();
        // The unique key serves lookups per key; the BRIN index the bucket
        // ranges a refresh of a rollup built on this one reads.
        format!(
            "CREATE TABLE {table} (\n    {}\n) PARTITION BY RANGE (bucket);\n\
             CREATE UNIQUE INDEX ON {table} ({}) NULLS NOT DISTINCT;\n\
             CREATE INDEX ON {table} USING brin (bucket)",
            cols.join(",\n    "),
            key.join(", ")
        )
    }

    /// Bucket, group-by columns and state of the source rows of `from` with
    /// time in [`$1`, `$2`), one row per bucket and group.
    pub fn aggregate_sql(&self, from: &str, lower: &str, upper: Option<&str>) -> String {
        let t = &self.time_sql;
        let states: Vec<String> =
            self.states.iter().map(|s| format!(", {} AS {}", self.state_sql(s), quote_ident(&s.name()))).collect();
        let groups: String = (0..=self.group_by.len()).map(|i| (i + 1).to_string()).collect::<Vec<_>>().join(", ");
        let upper = upper.map(|u| format!(" AND {t} < {u}")).unwrap_or_default();
        format!(
            "SELECT {} AS bucket{}{} FROM {from} WHERE {t} >= {lower}{upper} GROUP BY {groups}",
            self.start_sql(t),
            self.group_list(),
            states.concat(),
        )
    }

    /// How to accumulate this rollup's state in Rust (`accumulate`), when
    /// its types allow: a rollup of raw rows, keys of integer, boolean or
    /// text type, aggregated columns of integer or float type (not the sum
    /// of squares of bigint, which could overflow). `column_type` gives a
    /// source column's type, `None` for any other.
    pub fn native_plan(&self, column_type: impl Fn(&str) -> Option<NativeType>) -> Option<NativePlan> {
        if self.from_rollup {
            return None;
        }
        let mut keys = Vec::with_capacity(self.group_by.len());
        for (g, _) in &self.group_by {
            let ty = column_type(g)?.key()?;
            keys.push((g.clone(), ty));
        }
        let mut inputs: Vec<(String, InputType)> = Vec::new();
        let mut states = Vec::with_capacity(self.states.len());
        for s in &self.states {
            let Some(c) = &s.column else {
                states.push(StateOp::Rows);
                continue;
            };
            let i = match inputs.iter().position(|(n, _)| n == c) {
                Some(i) => i,
                None => {
                    let ty = column_type(c)?.input()?;
                    inputs.push((c.clone(), ty));
                    inputs.len() - 1
                }
            };
            states.push(match s.kind {
                StateKind::Rows => StateOp::Rows,
                StateKind::Count => StateOp::Count(i),
                StateKind::Sum => StateOp::Sum(i),
                StateKind::SumSq if inputs[i].1 == InputType::Int8 => return None,
                StateKind::SumSq => StateOp::SumSq(i),
                StateKind::Min => StateOp::Min(i),
                StateKind::Max => StateOp::Max(i),
                StateKind::HighRisk => StateOp::HighRisk(i),
            });
        }
        let utc_bucket = if self.utc { self.bucket.start_utc(0).map(|_| self.bucket) } else { None };
        Some(NativePlan { utc_bucket, keys, inputs, states })
    }

    /// The rows a native refresh reads: time (or bucket start), the plan's
    /// keys and inputs, of the source rows of `from` with time in [`lower`,
    /// `upper`).
    pub fn native_select_sql(&self, plan: &NativePlan, from: &str, lower: &str, upper: &str) -> String {
        let t = &self.time_sql;
        let first = if plan.utc_bucket.is_some() { t.clone() } else { self.start_sql(t) };
        let columns: String = plan
            .keys
            .iter()
            .map(|(k, _)| k)
            .chain(plan.inputs.iter().map(|(c, _)| c))
            .map(|c| format!(", {}", quote_ident(c)))
            .collect();
        format!("SELECT {first}{columns} FROM {from} WHERE {t} >= {lower} AND {t} < {upper}")
    }

    /// Writes accumulated groups into `table`: one array parameter per
    /// column, bucket, keys, then states.
    pub fn native_insert_sql(&self, table: &str) -> String {
        let n = 1 + self.group_by.len() + self.states.len();
        let params: Vec<String> = (1..=n).map(|i| format!("pg_catalog.unnest(${i})")).collect();
        format!(
            "INSERT INTO {table} (bucket{}{}) SELECT * FROM ROWS FROM ({})",
            self.group_list(),
            self.state_list(),
            params.join(", ")
        )
    }

    /// Materializes the buckets in [`lower`, `upper`) (SQL expressions) of
    /// `from` into `table`.
    pub fn insert_sql(&self, table: &str, from: &str, lower: &str, upper: &str) -> String {
        format!(
            "INSERT INTO {table} (bucket{}{}) {}",
            self.group_list(),
            self.state_list(),
            self.aggregate_sql(from, lower, Some(upper))
        )
    }

    /// Bucket, group-by columns, outputs and state of the source rows of
    /// `from` with time in [`lower`, `upper`) (SQL expressions), aggregated
    /// on the fly: the realtime view's live part with its bounds inlined,
    /// so the planner can prune partitions.
    pub fn live_sql(&self, from: &str, lower: &str, upper: &str) -> String {
        self.live_select(from, lower, Some(upper))
    }

    /// The live part: the table's columns (outputs computed as the table's
    /// generated columns are) over source rows from `lower` on.
    fn live_select(&self, from: &str, lower: &str, upper: Option<&str>) -> String {
        let output_exprs: String = self
            .aggregates
            .iter()
            .map(|(a, _)| format!(", {} AS {}", self.output_sql(a), quote_ident(&a.output)))
            .collect();
        format!(
            "SELECT bucket{g}{output_exprs}{s} FROM ({live}) AS live",
            g = self.group_list(),
            s = self.state_list(),
            live = self.aggregate_sql(from, lower, upper),
        )
    }

    /// The view of materialized buckets before the watermark (`watermark`,
    /// SQL of a scalar subquery) and the live aggregation of `live_from`
    /// after it, shown only when `guard` (SQL of a boolean that refers to
    /// no column: checked once, before any row is read) is true.
    pub fn realtime_view_sql(&self, view: &str, table: &str, live_from: &str, watermark: &str, guard: &str) -> String {
        let outputs: String = self.aggregates.iter().map(|(a, _)| format!(", {}", quote_ident(&a.output))).collect();
        format!(
            "CREATE VIEW {view} AS\n\
             SELECT * FROM (\n\
             SELECT bucket{g}{outputs}{s} FROM {table} WHERE bucket < {watermark}\n\
             UNION ALL\n\
             {live}) r\n\
             WHERE {guard}",
            g = self.group_list(),
            s = self.state_list(),
            live = self.live_select(live_from, &format!("coalesce({watermark}, '-infinity')"), None),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accumulate::KeyType;
    use serde_json::json;

    fn raw() -> Source {
        let num = |k| ColumnType { sql: "double precision".into(), kind: k };
        Source {
            time_column: "ts".into(),
            columns: vec![
                ("ts".into(), ColumnType { sql: "timestamp with time zone".into(), kind: TypeKind::Other }),
                ("ba".into(), ColumnType { sql: "text".into(), kind: TypeKind::Other }),
                ("value".into(), num(TypeKind::Floating)),
                ("events".into(), ColumnType { sql: "integer".into(), kind: TypeKind::Integer }),
            ],
            rollup: None,
        }
    }

    #[test]
    fn aggregates_read_like_sql() {
        let a = parse_aggregates(&json!({"v": "avg(value)", "n": "COUNT(*)", "hi": "max( \"Odd Col\" )"})).unwrap();
        assert_eq!(a.len(), 3);
        assert!(a.contains(&Aggregate { output: "v".into(), func: Func::Avg, column: Some("value".into()) }));
        assert!(a.contains(&Aggregate { output: "n".into(), func: Func::Count, column: None }));
        assert!(a.contains(&Aggregate { output: "hi".into(), func: Func::Max, column: Some("Odd Col".into()) }));
        for bad in [
            json!([]),
            json!({}),
            json!({"v": 3}),
            json!({"v": "median(value)"}),
            json!({"v": "avg(*)"}),
            json!({"v": "avg(value"}),
            json!({"v": "avg(a; drop table x)"}),
        ] {
            assert!(parse_aggregates(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_aggregate_keeps_the_state_it_merges_from() {
        let aggs = parse_aggregates(&json!({"sd": "stddev(value)", "m": "avg(value)", "hi": "max(value)"})).unwrap();
        let r = Rollup::new(Bucket::Hours(1), "UTC", &["ba".into()], aggs, &raw()).unwrap();
        assert_eq!(r.state_names(), ["_n", "_count_value", "_sum_value", "_sumsq_value", "_max_value"]);
        let ddl = r.create_table_sql("t");
        assert!(ddl.contains("\"m\" double precision GENERATED ALWAYS AS ((\"_sum_value\" / NULLIF(\"_count_value\", 0))::double precision) STORED"), "{ddl}");
        assert!(ddl.contains("\"_max_value\" double precision"));
        assert!(ddl.contains("NULLS NOT DISTINCT"));
    }

    #[test]
    fn native_plans_cover_integer_float_and_text_types_only() {
        let types = |c: &str| match c {
            "ba" => Some(NativeType::Text),
            "value" => Some(NativeType::Float8),
            "events" => Some(NativeType::Int8),
            _ => None,
        };
        let aggs = parse_aggregates(&json!({"sd": "stddev(value)", "hi": "max(events)", "t": "sum(events)"})).unwrap();
        let r = Rollup::new(Bucket::Hours(1), "UTC", &["ba".into()], aggs, &raw()).unwrap();
        let plan = r.native_plan(types).unwrap();
        assert_eq!(plan.utc_bucket, Some(Bucket::Hours(1)));
        assert_eq!(plan.keys, vec![("ba".to_string(), KeyType::Text)]);
        assert_eq!(
            plan.inputs,
            vec![("events".to_string(), InputType::Int8), ("value".to_string(), InputType::Float8)]
        );
        // In the table's state order: _n, events' state, value's.
        assert_eq!(r.state_names(), ["_n", "_sum_events", "_max_events", "_count_value", "_sum_value", "_sumsq_value"]);
        assert_eq!(
            plan.states,
            vec![
                StateOp::Rows,
                StateOp::Sum(0),
                StateOp::Max(0),
                StateOp::Count(1),
                StateOp::Sum(1),
                StateOp::SumSq(1)
            ]
        );
        let select = r.native_select_sql(&plan, "src", "'a'", "'b'");
        assert_eq!(
            select,
            "SELECT \"ts\", \"ba\", \"events\", \"value\" FROM src WHERE \"ts\" >= 'a' AND \"ts\" < 'b'"
        );
        assert_eq!(
            r.native_insert_sql("t"),
            "INSERT INTO t (bucket, \"ba\", \"_n\", \"_sum_events\", \"_max_events\", \"_count_value\", \"_sum_value\", \"_sumsq_value\") \
             SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4), \
             pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7), pg_catalog.unnest($8))"
        );
        // Buckets in a zone come from SQL.
        let aggs = parse_aggregates(&json!({"n": "count(*)"})).unwrap();
        let local = Rollup::new(Bucket::Day, "America/New_York", &[], aggs, &raw()).unwrap();
        let plan = local.native_plan(types).unwrap();
        assert_eq!(plan.utc_bucket, None);
        assert!(local
            .native_select_sql(&plan, "src", "'a'", "'b'")
            .starts_with(&format!("SELECT {} ", local.start_sql("\"ts\""))));
        // bigint squares could overflow; numeric and other types stay in SQL.
        let sq = parse_aggregates(&json!({"sd": "stddev(events)"})).unwrap();
        assert!(Rollup::new(Bucket::Hours(1), "UTC", &[], sq, &raw()).unwrap().native_plan(types).is_none());
        let r = Rollup::new(
            Bucket::Hours(1),
            "UTC",
            &["ba".into()],
            parse_aggregates(&json!({"n": "count(*)"})).unwrap(),
            &raw(),
        )
        .unwrap();
        assert!(r.native_plan(|c| if c == "ba" { None } else { types(c) }).is_none());
        assert!(r.native_plan(|c| if c == "ba" { Some(NativeType::Float8) } else { types(c) }).is_none());
    }

    #[test]
    fn a_rollup_of_a_rollup_merges_state() {
        let hourly = Source {
            rollup: Some(SourceRollup {
                bucket: Bucket::Hours(1),
                zone: "America/New_York".into(),
                group_by: vec!["ba".into()],
                states: vec!["_n".into(), "_sum_value".into(), "_count_value".into()],
            }),
            ..raw()
        };
        let aggs = parse_aggregates(&json!({"m": "avg(value)", "n": "count(*)"})).unwrap();
        let daily = Rollup::new(Bucket::Day, "America/New_York", &["ba".into()], aggs.clone(), &hourly).unwrap();
        let sql = daily.insert_sql("d", "h", "$1", "$2");
        assert!(sql.contains("pg_catalog.sum(\"_sum_value\") AS \"_sum_value\""), "{sql}");
        assert!(sql.contains("pg_catalog.sum(\"_n\")::bigint AS \"_n\""), "{sql}");
        assert!(sql.contains("FROM h WHERE \"bucket\" >= $1 AND \"bucket\" < $2"), "{sql}");
        assert!(matches!(
            Rollup::new(Bucket::Day, "UTC", &[], aggs.clone(), &hourly),
            Err(RollupError::ZoneMismatch(..))
        ));
        assert!(matches!(
            Rollup::new(Bucket::Minutes(30), "America/New_York", &[], aggs, &hourly),
            Err(RollupError::BucketMismatch(..))
        ));
        let sd = parse_aggregates(&json!({"sd": "stddev(value)"})).unwrap();
        assert!(matches!(
            Rollup::new(Bucket::Day, "America/New_York", &[], sd, &hourly),
            Err(RollupError::NoState(..))
        ));
    }

    #[test]
    fn bad_definitions_name_what_is_wrong() {
        let new = |spec: Value, groups: &[&str]| {
            let g: Vec<String> = groups.iter().map(|s| s.to_string()).collect();
            Rollup::new(Bucket::Hours(1), "UTC", &g, parse_aggregates(&spec).unwrap(), &raw())
        };
        assert!(matches!(new(json!({"x": "avg(nope)"}), &[]), Err(RollupError::NoColumn(_))));
        assert!(matches!(new(json!({"x": "avg(ba)"}), &[]), Err(RollupError::NotNumeric { .. })));
        assert!(new(json!({"x": "max(ba)"}), &[]).is_ok());
        assert!(matches!(new(json!({"_x": "count(*)"}), &[]), Err(RollupError::BadOutput(..))));
        assert!(matches!(new(json!({"ba": "count(*)"}), &["ba"]), Err(RollupError::BadOutput(..))));
        assert!(matches!(new(json!({"n": "count(*)"}), &["ts"]), Err(RollupError::BadGroup(..))));
        assert!(matches!(new(json!({"n": "count(*)"}), &["ba", "ba"]), Err(RollupError::BadGroup(..))));
        assert!(matches!(new(json!({"n": "count(*)"}), &["zz"]), Err(RollupError::NoColumn(_))));
    }

    #[test]
    fn high_risk_minutes_count_and_merge() {
        let aggs = parse_aggregates(&json!({"risky": "high_risk_minutes(value)"})).unwrap();
        let r = Rollup::new(Bucket::Hours(1), "UTC", &[], aggs.clone(), &raw()).unwrap();
        assert_eq!(r.state_names(), ["_n", "_highrisk_value"]);
        assert!(r
            .insert_sql("t", "s", "$1", "$2")
            .contains("pg_catalog.count(*) FILTER (WHERE \"value\" > 75) AS \"_highrisk_value\""));
        let hourly = Source {
            rollup: Some(SourceRollup {
                bucket: Bucket::Hours(1),
                zone: "UTC".into(),
                group_by: vec![],
                states: vec!["_n".into(), "_highrisk_value".into()],
            }),
            ..raw()
        };
        let daily = Rollup::new(Bucket::Day, "UTC", &[], aggs, &hourly).unwrap();
        assert!(daily.insert_sql("d", "h", "$1", "$2").contains("pg_catalog.sum(\"_highrisk_value\")::bigint"));
    }

    #[test]
    fn sums_of_floats_read_as_floats_and_of_integers_exactly() {
        let r = Rollup::new(
            Bucket::Day,
            "UTC",
            &[],
            parse_aggregates(&json!({"s": "sum(value)", "e": "sum(events)"})).unwrap(),
            &raw(),
        )
        .unwrap();
        let ddl = r.create_table_sql("t");
        assert!(ddl.contains("\"s\" double precision GENERATED"), "{ddl}");
        assert!(ddl.contains("\"e\" numeric GENERATED"), "{ddl}");
    }
}
