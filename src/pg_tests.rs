//! In-database tests run by `cargo pgrx test` (the SQL regression suite in tests/pg_regress
//! covers the API as documentation; these pin the glue's behaviour from Rust).

#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;
    use pgrx::PgSqlErrorCode;

    const BUNDLED: &str = include_str!("../artifacts/purchase_model.json");

    fn load_bundled() -> i32 {
        Spi::get_one_with_args::<i32>("SELECT load_purchase_model($1::jsonb)", &[BUNDLED.into()])
            .unwrap()
            .unwrap()
    }

    fn setup_customers() {
        load_bundled();
        Spi::run(
            "CREATE TABLE customers (id int, x5 text, x12 text, x31 text, x44 float8, x53 float8,
               x56 float8, x58 float8, x62 float8, x81 text, x91 float8);
             INSERT INTO customers VALUES
               (1, 'saturday', '($1,000.00)', 'japan', 0.25, NULL, -1, 0, 1, 'July', 0.5),
               (2, NULL, '$6,882.34 ', 'mars', NULL, 0.1, 0.3, 1.2, -0.4, 'April', 0.1)",
        )
        .unwrap();
    }

    #[pg_test]
    fn versions_count_up() {
        assert_eq!(load_bundled(), 1);
        assert_eq!(load_bundled(), 2);
        let active =
            Spi::get_one::<i64>("SELECT count(*) FROM purchase.model_versions WHERE active")
                .unwrap();
        assert_eq!(active, Some(1));
    }

    #[pg_test]
    fn every_path_scores_the_same() {
        setup_customers();
        let same = Spi::get_one::<i64>(
            "SELECT count(*) FROM customers c
              WHERE predict_purchase(c) = predict_purchase(ROW(c.*)::customers)
                AND predict_purchase(c) = (score_purchase(c)).p_hat
                AND predict_purchase(c) = (predict_purchase_json(to_jsonb(c) - 'id')->0->>'p_hat')::float8
                AND purchase_outcome(c) = (predict_purchase(c) > 0.75)::int",
        )
        .unwrap();
        assert_eq!(same, Some(2));
        let p = Spi::get_one::<f64>("SELECT predict_purchase(c) FROM customers c WHERE id = 1")
            .unwrap()
            .unwrap();
        assert!((p - 0.817376168142).abs() < 1e-12, "{p}");
    }

    #[pg_test]
    fn table_rows_are_rewritten_to_columns() {
        setup_customers();
        let plan: Vec<String> = Spi::connect(|client| {
            client
                .select(
                    "EXPLAIN (VERBOSE) SELECT predict_purchase(c) FROM customers c",
                    None,
                    &[],
                )
                .unwrap()
                .filter_map(|row| row.get::<String>(1).unwrap())
                .collect()
        });
        assert!(
            plan.join("\n")
                .contains("predict_purchase_columns('default'::text"),
            "{plan:?}"
        );
    }

    #[pg_test(
        error = "purchase model \"default\" (version 1) reads column \"x81\", which row type thin does not have"
    )]
    fn a_missing_column_is_named() {
        load_bundled();
        Spi::run("CREATE TABLE thin (x5 text); INSERT INTO thin VALUES ('monday')").unwrap();
        Spi::run("SELECT predict_purchase(t) FROM thin t").unwrap();
    }

    #[pg_test(error = "invalid value \"abc\" for column \"x12\": not a number")]
    fn bad_money_text_is_an_error() {
        setup_customers();
        Spi::run("UPDATE customers SET x12 = 'abc' WHERE id = 2").unwrap();
        Spi::run("SELECT predict_purchase(c) FROM customers c").unwrap();
    }

    #[pg_test]
    fn a_refused_artifact_leaves_the_catalog_alone() {
        load_bundled();
        let refused = PgTryBuilder::new(|| {
            Spi::run("SELECT load_purchase_model('{\"format\": \"onnx\"}')").unwrap();
            false
        })
        .catch_others(|_| true)
        .execute();
        assert!(refused);
        assert_eq!(
            Spi::get_one::<i64>("SELECT count(*) FROM purchase.model_versions").unwrap(),
            Some(1)
        );
    }

    /// What a caught ERROR looked like: SQLSTATE, message, and DETAIL with any backtrace.
    fn caught(
        f: impl FnOnce() + std::panic::UnwindSafe,
    ) -> (PgSqlErrorCode, String, Option<String>) {
        PgTryBuilder::new(|| {
            f();
            None
        })
        .catch_others(|e| match e {
            pg_sys::panic::CaughtError::ErrorReport(r)
            | pg_sys::panic::CaughtError::PostgresError(r)
            | pg_sys::panic::CaughtError::RustPanic { ereport: r, .. } => Some((
                r.sql_error_code(),
                r.message().to_string(),
                r.detail_with_backtrace(),
            )),
        })
        .execute()
        .expect("an ERROR")
    }

    #[pg_test]
    fn no_backtrace_reaches_a_client_even_with_rust_backtrace_set() {
        // The server's environment asks for backtraces: pgrx's own panic hook would attach one to
        // the DETAIL of every error; pg_purchase's hook never does.
        std::env::set_var("RUST_BACKTRACE", "1");
        std::env::set_var("RUST_LIB_BACKTRACE", "1");
        // A bug (a Rust panic) inside a pg_purchase function: a plain internal error.
        let (code, message, detail) = caught(|| {
            crate::pg::errors::guard(|| -> i32 { panic!("index out of bounds: internals") });
        });
        assert_eq!(code, PgSqlErrorCode::ERRCODE_INTERNAL_ERROR);
        assert_eq!(message, "pg_purchase internal error");
        assert_eq!(detail, None);
        // A PostgreSQL error raised underneath keeps its SQLSTATE and message, and no backtrace.
        load_bundled();
        let (code, message, detail) = caught(|| {
            Spi::run("SELECT predict_purchase(t, (1/0)::text) FROM (SELECT 1 AS x5) t").unwrap();
        });
        assert_eq!(code, PgSqlErrorCode::ERRCODE_DIVISION_BY_ZERO);
        assert_eq!(message, "division by zero");
        assert_eq!(detail, None);
        // pg_purchase's own errors neither.
        let (code, _, detail) = caught(|| {
            Spi::run("SELECT clean_number('12 dollars')").unwrap();
        });
        assert_eq!(code, PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION);
        assert_eq!(detail, None);
    }
}
