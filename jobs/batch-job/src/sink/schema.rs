//! Diesel's view of the tables created by `migrations/` (keep in step with
//! `up.sql`; the MySQL integration test reads every table through these).

diesel::table! {
    use diesel::sql_types::*;
    /// Audit of every run.
    batch_runs (run_id) {
        run_id -> Unsigned<Bigint>,
        started_at -> Datetime,
        finished_at -> Nullable<Datetime>,
        outcome -> Varchar,
        reason -> Varchar,
        day_from -> Date,
        day_to -> Date,
        source_url -> Varchar,
        visitor_definition -> Varchar,
        success_below -> Unsigned<Smallint>,
        skip_corrupt -> Bool,
        days_written -> Unsigned<Integer>,
        days_without_data -> Unsigned<Integer>,
        files_read -> Unsigned<Integer>,
        files_in_progress -> Unsigned<Integer>,
        files_corrupt -> Unsigned<Integer>,
        records_skipped -> Unsigned<Bigint>,
        blocks_skipped -> Unsigned<Bigint>,
        bytes_read -> Unsigned<Bigint>,
        events_read -> Unsigned<Bigint>,
        events_unique -> Unsigned<Bigint>,
        inputs -> Nullable<Text>,
        error -> Nullable<Text>,
        host -> Varchar,
        pid -> Unsigned<Integer>,
        job_version -> Varchar,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    /// One row per day: reports 1 and 2 (totals), basis of report 3.
    daily_traffic (day) {
        day -> Date,
        weekday -> Unsigned<Tinyint>,
        requests -> Unsigned<Bigint>,
        unique_visitors -> Unsigned<Bigint>,
        success_requests -> Unsigned<Bigint>,
        failure_requests -> Unsigned<Bigint>,
        bytes_sent -> Unsigned<Bigint>,
        events_read -> Unsigned<Bigint>,
        duplicates_dropped -> Unsigned<Bigint>,
        visitor_definition -> Varchar,
        success_below -> Unsigned<Smallint>,
        run_id -> Unsigned<Bigint>,
        computed_at -> Datetime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    /// Report 2 per status code.
    daily_status_codes (day, status) {
        day -> Date,
        status -> Unsigned<Smallint>,
        status_class -> Unsigned<Tinyint>,
        is_success -> Bool,
        requests -> Unsigned<Bigint>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    /// Report 4.
    hourly_traffic (day, hour) {
        day -> Date,
        hour -> Unsigned<Tinyint>,
        requests -> Unsigned<Bigint>,
        unique_visitors -> Unsigned<Bigint>,
        bytes_sent -> Unsigned<Bigint>,
        success_requests -> Unsigned<Bigint>,
        failure_requests -> Unsigned<Bigint>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    /// What each reported day was computed from (`batch-job reconcile`).
    reported_inputs (day) {
        day -> Date,
        files -> Unsigned<Integer>,
        bytes -> Unsigned<Bigint>,
        digest -> Char,
        run_id -> Unsigned<Bigint>,
        reported_at -> Datetime,
    }
}

diesel::joinable!(daily_status_codes -> daily_traffic (day));
diesel::joinable!(hourly_traffic -> daily_traffic (day));

diesel::table! {
    use diesel::sql_types::*;
    /// Daily traffic per web server and per category.
    daily_dimension_traffic (day, dimension, value) {
        day -> Date,
        dimension -> Varchar,
        value -> Varchar,
        requests -> Unsigned<Bigint>,
        unique_visitors -> Unsigned<Bigint>,
        success_requests -> Unsigned<Bigint>,
        failure_requests -> Unsigned<Bigint>,
        bytes_sent -> Unsigned<Bigint>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    /// Hourly traffic per web server and per category (`hour_start` is computed by MySQL).
    hourly_dimension_traffic (day, hour, dimension, value) {
        day -> Date,
        hour -> Unsigned<Tinyint>,
        dimension -> Varchar,
        value -> Varchar,
        requests -> Unsigned<Bigint>,
        unique_visitors -> Unsigned<Bigint>,
        success_requests -> Unsigned<Bigint>,
        failure_requests -> Unsigned<Bigint>,
        bytes_sent -> Unsigned<Bigint>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    /// The most requested paths of each day.
    daily_top_paths (day, rank) {
        day -> Date,
        rank -> Unsigned<Smallint>,
        path -> Text,
        requests -> Unsigned<Bigint>,
        success_requests -> Unsigned<Bigint>,
        failure_requests -> Unsigned<Bigint>,
        bytes_sent -> Unsigned<Bigint>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    /// Each day's visitor set (XXH3-128 of the visitor keys).
    daily_visitors (day, visitor) {
        day -> Date,
        visitor -> Binary,
    }
}
