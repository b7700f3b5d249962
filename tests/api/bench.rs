//! `bench-db`, the raw insert rate the writer is measured against: every method stores the
//! rows it reports, with the dedup key intact, on the databases that offer it.

use crate::backend_tests;
use crate::common::{Backend, TestApp};
use ljwx_bigscreen::store::{BenchMethod, BenchOptions};

backend_tests!(every_method_stores_the_rows_it_reports);

async fn every_method_stores_the_rows_it_reports(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let methods: &[BenchMethod] = if backend == Backend::Postgres {
        &[BenchMethod::Multi, BenchMethod::Copy, BenchMethod::Json]
    } else {
        &[BenchMethod::Multi]
    };
    let mut expected = 0;
    for &method in methods {
        let result = app
            .store
            .bench_insert(BenchOptions {
                rows: 2500,
                chunk: 1000,
                connections: 2,
                method,
            })
            .await
            .expect("bench");
        assert_eq!(result.rows, 2500);
        assert!(result.rows_per_second > 0.0);
        expected += 2500;
        assert_eq!(
            app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
            expected,
            "{method:?}"
        );
    }
    // One wearer per device, as under load.
    assert_eq!(
        app.scalar("SELECT COUNT(DISTINCT user_id) FROM t_user_health_data")
            .await,
        1000
    );
    if backend != Backend::Postgres {
        for method in [BenchMethod::Copy, BenchMethod::Json] {
            let refused = app
                .store
                .bench_insert(BenchOptions {
                    rows: 10,
                    chunk: 10,
                    connections: 1,
                    method,
                })
                .await;
            assert!(refused.is_err(), "{method:?} is PostgreSQL only");
        }
    }
    app.stop().await;
}
