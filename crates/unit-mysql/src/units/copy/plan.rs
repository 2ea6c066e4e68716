//! Which parts of which tables are left to copy: a big table is split into key ranges
//! on its first run, and the split is recorded with the checkpoints.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use tracing::{debug, info};
use unit_core::ErrScope;

use super::CopyUnit;
use super::part::{CopyContext, Part, PartCopy, decode_key};
use crate::adapter::cancel::cancellable;
use crate::adapter::classify::Operation;
use crate::catalog::schema::raw;
use crate::catalog::schema::{Table, ident};
use crate::error::{Error, stmt_err};

impl CopyUnit {
    /// The work left: every unfinished part of every table (planned on the first run),
    /// and a verification for each table an earlier run finished. Largest parts first,
    /// so that the copy does not end with one big range running alone.
    pub(super) async fn jobs(&self, ctx: &Arc<CopyContext>) -> Result<VecDeque<PartCopy>, Error> {
        let mut verify = Vec::new();
        let mut parts = Vec::new();
        for table in &self.tables {
            let table = Arc::new(table.clone());
            let plan = self.plan(ctx, &table).await?;
            let open: Vec<Part> = plan.iter().filter(|p| !p.done).cloned().collect();
            let copied = plan
                .iter()
                .fold((0, 0), |(r, b), p| (r + p.copied.0, b + p.copied.1));
            ctx.recorder.planned(
                &table.database,
                &table.name,
                copied,
                i64::try_from(table.estimated_rows).unwrap_or(i64::MAX),
                open.is_empty(),
            );
            let remaining = Arc::new(AtomicUsize::new(open.len()));
            if open.is_empty() {
                debug!(table = %table.display_name(), "already copied");
                verify.push(PartCopy {
                    ctx: ctx.clone(),
                    table,
                    part: None,
                    remaining,
                });
                continue;
            }
            let share = table.estimated_rows / plan.len() as u64;
            for part in open {
                parts.push((
                    share,
                    PartCopy {
                        ctx: ctx.clone(),
                        table: table.clone(),
                        part: Some(part),
                        remaining: remaining.clone(),
                    },
                ));
            }
        }
        parts.sort_by_key(|(share, _)| std::cmp::Reverse(*share));
        Ok(verify
            .into_iter()
            .chain(parts.into_iter().map(|(_, job)| job))
            .collect())
    }

    /// The table's parts as recorded in the checkpoint table, or, on the table's first
    /// run, a new split recorded there before anything is copied (so every later run
    /// continues the same parts; see [`unit_sql::CheckpointStore::plan`]).
    pub(super) async fn plan(&self, ctx: &CopyContext, table: &Table) -> Result<Vec<Part>, Error> {
        let recorded = self.recorded_parts(ctx, table, &[]).await?;
        if !recorded.is_empty() {
            return Ok(recorded);
        }
        let spans: Vec<_> = self
            .spans(ctx, table)
            .await?
            .into_iter()
            .map(|(lo, hi)| (lo.map(|v| v.to_string()), hi.map(|v| v.to_string())))
            .collect();
        let parts = self.recorded_parts(ctx, table, &spans).await?;
        if parts.len() > 1 {
            info!(table = %table.display_name(), parts = parts.len(), "table split into key ranges");
        }
        Ok(parts)
    }

    /// The table's recorded parts, after recording `spans` where none were.
    async fn recorded_parts(
        &self,
        ctx: &CopyContext,
        table: &Table,
        spans: &[(Option<String>, Option<String>)],
    ) -> Result<Vec<Part>, Error> {
        let read = async {
            let mut conn = ctx.target.acquire().await?;
            ctx.store
                .plan(&mut conn, &table.database, &table.name, spans)
                .await
        };
        let parts = cancellable(&ctx.cancel, read).await.map_err(|e| {
            stmt_err(
                ErrScope::Downstream,
                Operation::Query("SELECT ... FROM copy_checkpoint"),
                e,
            )
        })?;
        Ok(parts
            .into_iter()
            .map(|p| Part {
                index: p.part,
                lo: p.lo,
                hi: p.hi,
                last_key: p.last_key.map(|k| decode_key(&k)),
                done: p.done,
                copied: (p.rows, p.bytes),
            })
            .collect())
    }

    /// Ranges of the first key column to copy at the same time: several when the table
    /// is estimated to hold at least twice `split_rows` rows and its key starts with an
    /// integer column, else one range covering everything.
    pub(super) async fn spans(
        &self,
        ctx: &CopyContext,
        table: &Table,
    ) -> Result<Vec<(Option<i128>, Option<i128>)>, Error> {
        let whole = vec![(None, None)];
        let split_rows = self.config.copy.split_rows;
        let wanted = table
            .estimated_rows
            .checked_div(split_rows)
            .unwrap_or(1)
            .min(self.config.copy.concurrency as u64);
        let Some(first) = table.key.first().map(|&i| &table.columns[i]) else {
            return Ok(whole);
        };
        if wanted < 2 || !first.is_integer() {
            return Ok(whole);
        }
        let column = ident(&first.name);
        let sql = format!(
            "SELECT MIN({column}), MAX({column}) FROM {}",
            table.qualified()
        );
        let row = cancellable(&ctx.cancel, sqlx::raw_sql(&sql).fetch_one(&ctx.source))
            .await
            .map_err(|e| stmt_err(ErrScope::Upstream, Operation::Query(&sql), e))?;
        let int = |i| raw(&row, i).and_then(|b| String::from_utf8(b).ok()?.parse::<i128>().ok());
        Ok(match (int(0), int(1)) {
            (Some(min), Some(max)) => split_span(min, max, u32::try_from(wanted).unwrap_or(1)),
            _ => whole,
        })
    }
}

/// Splits the integer span `min..=max` into at most `parts` ranges of equal width. The
/// first range is open below and the last open above, so that rows outside the span
/// (added to the source later) still belong to a range.
fn split_span(min: i128, max: i128, parts: u32) -> Vec<(Option<i128>, Option<i128>)> {
    let width = max.saturating_sub(min).saturating_add(1).max(1);
    let parts = i128::from(parts.max(1)).min(width);
    let mut spans = Vec::new();
    let mut lo = None;
    for i in 1..parts {
        let bound = min + width * i / parts;
        spans.push((lo, Some(bound)));
        lo = Some(bound);
    }
    spans.push((lo, None));
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_cover_every_integer_once_and_are_open_at_both_ends() {
        for (min, max, parts) in [
            (1, 400_000, 4),
            (-5, 5, 3),
            (7, 7, 4),
            (1, 3, 8),
            (0, i128::from(u64::MAX), 4),
            (i128::from(i64::MIN), i128::from(i64::MAX), 3),
        ] {
            let spans = split_span(min, max, parts);
            let want = u32::try_from((max - min + 1).min(i128::from(parts))).unwrap();
            assert_eq!(spans.len(), want as usize, "{min}..={max} in {parts}");
            assert_eq!(spans[0].0, None);
            assert_eq!(spans[spans.len() - 1].1, None);
            for pair in spans.windows(2) {
                // Adjacent: one ends where the next begins, strictly increasing.
                assert_eq!(pair[0].1, pair[1].0);
                let (Some(end), Some(start)) = (pair[0].1, pair[0].0.or(Some(min - 1))) else {
                    panic!("inner bounds are set: {spans:?}");
                };
                assert!(start < end, "{spans:?}");
            }
        }
        assert_eq!(split_span(1, 100, 4)[1], (Some(26), Some(51)));
        assert_eq!(split_span(1, 100, 1), vec![(None, None)]);
        assert_eq!(split_span(1, 100, 0), vec![(None, None)]);
    }
}
