//! The columns of a row argument, as the planner can pass them instead of the row: for each
//! column the name the row value would carry at execution and an expression of its value.
//! `planner.rs` binds the model's inputs to these names and passes only the bound expressions.
//!
//! Exactness rests on naming each column as the executor names the row it would build:
//! - a table or view row (a Var of a named composite type): the type's attribute names;
//! - a subquery's or CTE's row (a Var of type `record`, e.g. `FROM (SELECT ... OFFSET 0) s`):
//!   the range-table entry's column aliases (`eref->colnames`), which ExecEvalWholeRowVar gives
//!   the record it builds, over the visible (non-junk) output columns (`expandRTE`);
//! - `ROW(...)` of a named type (`ROW(c.*)::customers`, a flattened view's row): the type's
//!   attribute names, one field per attribute (dropped ones included);
//! - `ROW(...)` of type `record` (a flattened subquery's, CTE's or UNION ALL branch's row):
//!   `colnames` where set and not empty, else `f1, f2, ...` (ExecTypeFromExprList, then
//!   ExecTypeSetColNames).
//!
//! Anything else (a function's record, a PlaceHolderVar on the nullable side of an outer join,
//! a row with volatile fields) gives None and stays on the generic row path.

use pgrx::prelude::*;
use std::ffi::CStr;

/// One column of the row: its name and a fresh expression of its value (owned by the plan).
pub struct RowColumn {
    pub name: String,
    pub expr: *mut pg_sys::Node,
}

/// The columns of `row` (an argument of a scoring call in `root`'s query), or None when they
/// cannot be named exactly as the executor would name them.
///
/// # Safety
/// `root` must be the planner's valid PlannerInfo with a non-null `parse`; `row` must be a
/// valid expression node of that query. Runs in the planner's memory context.
pub unsafe fn row_columns(
    root: *mut pg_sys::PlannerInfo,
    row: *mut pg_sys::Node,
) -> Option<Vec<RowColumn>> {
    // SAFETY: the contract; nodes are read as a Var or a RowExpr only after their tags say so.
    unsafe {
        if pgrx::is_a(row, pg_sys::NodeTag::T_Var) {
            let var = row as *mut pg_sys::Var;
            if (*var).varattno != 0
                || (*var).varlevelsup != 0
                || on_nullable_side(
                    (*(*root).parse).jointree as *mut pg_sys::Node,
                    (*var).varno,
                    false,
                )
            {
                return None;
            }
            if (*var).vartype == pg_sys::RECORDOID {
                subquery_columns(root, (*var).varno)
            } else {
                Some(named_type_vars(var))
            }
        } else if pgrx::is_a(row, pg_sys::NodeTag::T_RowExpr) {
            let rowexpr = row as *mut pg_sys::RowExpr;
            if pg_sys::contain_volatile_functions(row) {
                return None;
            }
            row_fields(rowexpr)
        } else {
            None
        }
    }
}

/// A table or view row: one Var per attribute of its named type, dropped ones left out.
///
/// # Safety
/// `var` must be a valid whole-row Var of a named composite type.
unsafe fn named_type_vars(var: *mut pg_sys::Var) -> Vec<RowColumn> {
    // SAFETY: a named composite type (the contract), so the typcache has its descriptor; the
    // copy is palloc'd in the planner's context; makeVar builds fresh nodes.
    unsafe {
        let desc = pg_sys::lookup_rowtype_tupdesc_copy((*var).vartype, -1);
        let attrs = (*desc).attrs.as_slice((*desc).natts as usize);
        attrs
            .iter()
            .enumerate()
            .filter(|(_, a)| !a.attisdropped)
            .map(|(index, a)| RowColumn {
                name: pgrx::name_data_to_str(&a.attname).to_string(),
                expr: pg_sys::makeVar(
                    (*var).varno,
                    (index + 1) as i16,
                    a.atttypid,
                    a.atttypmod,
                    a.attcollation,
                    0,
                )
                .cast(),
            })
            .collect()
    }
}

/// A subquery's or CTE's row (a whole-row Var of type record): the entry's visible columns
/// under its column aliases, as Vars of the entry.
///
/// # Safety
/// `root` as for [`row_columns`]; `varno` is the Var's range-table index in `root->parse`.
unsafe fn subquery_columns(root: *mut pg_sys::PlannerInfo, varno: i32) -> Option<Vec<RowColumn>> {
    // SAFETY: the range table is a valid List of RangeTblEntry (the contract), indexed only
    // below its length; expandRTE returns lists of String and Var nodes of equal length.
    unsafe {
        let rtable = (*(*root).parse).rtable;
        if varno < 1 || varno > pg_sys::list_length(rtable) {
            return None;
        }
        let rte = pg_sys::list_nth(rtable, varno - 1) as *mut pg_sys::RangeTblEntry;
        let kind = (*rte).rtekind;
        if kind != pg_sys::RTEKind::RTE_SUBQUERY && kind != pg_sys::RTEKind::RTE_CTE {
            return None;
        }
        let mut names = std::ptr::null_mut::<pg_sys::List>();
        let mut vars = std::ptr::null_mut::<pg_sys::List>();
        pg_sys::expandRTE(rte, varno, 0, -1, false, &mut names, &mut vars);
        let n = pg_sys::list_length(names);
        if n != pg_sys::list_length(vars) {
            return None;
        }
        let mut columns = Vec::with_capacity(n as usize);
        for i in 0..n {
            let name = string_node(pg_sys::list_nth(names, i).cast())?;
            // An empty alias leaves the executor's own name in place: not ours to guess.
            if name.is_empty() {
                return None;
            }
            columns.push(RowColumn {
                name,
                expr: pg_sys::list_nth(vars, i).cast(),
            });
        }
        Some(columns)
    }
}

/// `ROW(...)`: its fields under the names the executor gives the row value.
///
/// # Safety
/// `rowexpr` must be a valid RowExpr.
unsafe fn row_fields(rowexpr: *mut pg_sys::RowExpr) -> Option<Vec<RowColumn>> {
    // SAFETY: a valid RowExpr (the contract): its args and colnames are valid Lists (colnames
    // of String nodes); a named composite type's descriptor comes from the typcache (copied
    // into the planner's context); a RowExpr of a named type has one field per attribute.
    unsafe {
        let args = (*rowexpr).args;
        let nargs = pg_sys::list_length(args);
        let field = |i: i32| pg_sys::copyObjectImpl(pg_sys::list_nth(args, i)).cast();
        if (*rowexpr).row_typeid != pg_sys::RECORDOID {
            let desc = pg_sys::lookup_rowtype_tupdesc_copy((*rowexpr).row_typeid, -1);
            let attrs = (*desc).attrs.as_slice((*desc).natts as usize);
            if attrs.len() != nargs as usize {
                return None;
            }
            return Some(
                attrs
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| !a.attisdropped)
                    .map(|(index, a)| RowColumn {
                        name: pgrx::name_data_to_str(&a.attname).to_string(),
                        expr: field(index as i32),
                    })
                    .collect(),
            );
        }
        let colnames = (*rowexpr).colnames;
        let named = pg_sys::list_length(colnames);
        let mut columns = Vec::with_capacity(nargs as usize);
        for i in 0..nargs {
            let alias = if i < named {
                string_node(pg_sys::list_nth(colnames, i).cast())?
            } else {
                String::new()
            };
            let name = if alias.is_empty() {
                format!("f{}", i + 1)
            } else {
                alias
            };
            columns.push(RowColumn {
                name,
                expr: field(i),
            });
        }
        Some(columns)
    }
}

/// The text of a String node, or None for any other node or non-UTF-8 text.
///
/// # Safety
/// `node` must be NULL or a valid Node.
unsafe fn string_node(node: *mut pg_sys::Node) -> Option<String> {
    // SAFETY: a valid node (the contract), read as a String only after its tag says so; its
    // sval is a NUL-terminated C string.
    unsafe {
        if node.is_null() || !pgrx::is_a(node, pg_sys::NodeTag::T_String) {
            return None;
        }
        let s = (*(node as *mut pg_sys::String)).sval;
        if s.is_null() {
            return None;
        }
        CStr::from_ptr(s).to_str().ok().map(str::to_string)
    }
}

/// Whether range-table entry `varno` sits on the nullable side of an outer join, where its
/// whole-row value can be NULL while a rewrite would score NULL columns as "all missing".
///
/// # Safety
/// `node` must be NULL or a valid node of a query's join tree.
unsafe fn on_nullable_side(node: *mut pg_sys::Node, varno: i32, nullable: bool) -> bool {
    if node.is_null() {
        return false;
    }
    // SAFETY: a valid join-tree node (the contract), read as a RangeTblRef, FromExpr or
    // JoinExpr only after its tag says so; their children (fromlist elements, larg, rarg) are
    // join-tree nodes too.
    unsafe {
        if pgrx::is_a(node, pg_sys::NodeTag::T_RangeTblRef) {
            return nullable && (*(node as *mut pg_sys::RangeTblRef)).rtindex == varno;
        }
        if pgrx::is_a(node, pg_sys::NodeTag::T_FromExpr) {
            let list = (*(node as *mut pg_sys::FromExpr)).fromlist;
            return (0..pg_sys::list_length(list))
                .any(|i| on_nullable_side(pg_sys::list_nth(list, i).cast(), varno, nullable));
        }
        if pgrx::is_a(node, pg_sys::NodeTag::T_JoinExpr) {
            let j = node as *mut pg_sys::JoinExpr;
            use pg_sys::JoinType::*;
            let (left_nullable, right_nullable) = match (*j).jointype {
                JOIN_LEFT | JOIN_ANTI => (false, true),
                JOIN_RIGHT => (true, false),
                JOIN_FULL => (true, true),
                _ => (false, false),
            };
            return on_nullable_side((*j).larg, varno, nullable || left_nullable)
                || on_nullable_side((*j).rarg, varno, nullable || right_nullable);
        }
    }
    // Anything unexpected: be conservative.
    true
}
