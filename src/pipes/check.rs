//! `ltv-pipes check`: every pipe file loads, and (with a database) PostgreSQL
//! accepts its SQL, planned with the declared defaults and examples.

use std::path::Path;

use sqlx::PgPool;

use super::registry::load_dir;
use super::Pipe;

/// One line per problem: `file:line: why`, or `<name>: PostgreSQL: why`.
pub async fn check_dir(dir: &Path, pool: Option<&PgPool>) -> anyhow::Result<(usize, Vec<String>)> {
    let mut problems = Vec::new();
    let mut ok = 0;
    let files = load_dir(dir)?;
    if files.is_empty() {
        problems.push(format!("{}: no .pipe files", dir.display()));
    }
    for (_, loaded) in files {
        match loaded {
            Err(e) => problems.push(e),
            Ok(pipe) => match pool {
                Some(pool) => match explain(pool, &pipe).await {
                    Ok(()) => ok += 1,
                    Err(e) => problems.push(format!(
                        "{}.pipe: PostgreSQL rejects its SQL: {e}",
                        pipe.name()
                    )),
                },
                None => ok += 1,
            },
        }
    }
    Ok((ok, problems))
}

/// Plans (does not run) the pipe's SQL with its example values.
pub async fn explain(pool: &PgPool, pipe: &Pipe) -> Result<(), String> {
    let compiled = pipe
        .compile(&pipe.example_values())
        .map_err(|e| e.to_string())?;
    let mut explain = compiled.clone();
    explain.sql = format!("EXPLAIN {}", compiled.sql);
    let mut tx = pool
        .begin_with("BEGIN READ ONLY")
        .await
        .map_err(|e| e.to_string())?;
    let mut query = sqlx::query(explain.sql.as_str());
    for bind in &explain.binds {
        query = super::run::bind_value(query, bind);
    }
    query.execute(&mut *tx).await.map_err(|e| match e {
        sqlx::Error::Database(db) => db.message().to_string(),
        other => other.to_string(),
    })?;
    tx.rollback().await.map_err(|e| e.to_string())
}
