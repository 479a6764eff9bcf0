use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn empty_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

#[test]
fn defaults_match_the_design_contract() {
    let dir = empty_dir();
    let s = Settings::load_from(dir.path(), env(&[])).unwrap();
    assert_eq!(s.http.gateway_addr.to_string(), "0.0.0.0:8080");
    assert_eq!(s.queue.job_ttl.as_secs(), 604_800);
    assert_eq!(s.queue.job_timeout.as_secs(), 600);
    assert_eq!(s.queue.job_max_attempts, 3);
    assert_eq!(s.http.max_body_bytes, 65_536);
    assert_eq!(s.queue.worker_heartbeat.as_secs(), 10);
    assert_eq!(s.queue.worker_missed_heartbeats, 3);
    assert_eq!(s.queue.worker_shutdown_grace.as_secs(), 30);
    assert_eq!(s.telemetry.log_format, LogFormat::Pretty);
    assert_eq!(s.redis.key_prefix, "designer:");
    assert_eq!(s.queue.metrics_interval, Duration::from_secs(5));
    assert_eq!(s.queue.worker_orphan_window(), Duration::from_secs(30));
    assert_eq!(
        s.artifacts.location,
        StoreLocation::Folder(PathBuf::from("./data/artifacts"))
    );
    assert_eq!(s.redis.url.expose_secret(), "redis://127.0.0.1:6379/0");
    assert_eq!(s.queue.worker_concurrency, 64);
    assert_eq!(s.llm.max_in_flight, 32);
    assert!(!s.auth.enabled);
    assert_eq!(s.auth.jwt_algorithm, JwtAlgorithm::Hs256);
    assert_eq!(s.auth.access_token_lifetime, Duration::from_secs(15 * 60));
    assert!(s.rate_limit.enabled);
    assert_eq!(s.rate_limit.requests, 100);
    assert_eq!(s.rate_limit.window.as_secs(), 60);
    assert!(s.rate_limit.fail_open);
    assert_eq!(s.rate_limit.max_active_jobs_per_principal, 0);
    assert_eq!(s.http.header_timeout, Duration::from_secs(10));
    assert_eq!(s.http.max_connections, 16_384);
    assert_eq!(s.http.max_streams, 16_384);
    assert_eq!(s.http.max_streams_per_principal, 100);
}

#[test]
fn the_predecessors_auth_and_rate_limit_names_are_read() {
    let dir = empty_dir();
    let s = Settings::load_from(
        dir.path(),
        env(&[
            ("AUTH_ENABLED", "true"),
            ("AUTH_API_KEYS", "alice:key-1"),
            ("JWT_SECRET_KEY", "0123456789abcdef0123456789abcdef"),
            ("JWT_ALGORITHM", "HS512"),
            ("JWT_ACCESS_TOKEN_EXPIRE_MINUTES", "5"),
            ("RATE_LIMIT_REQUESTS", "7"),
            ("RATE_LIMIT_WINDOW_SECONDS", "2"),
            ("RATE_LIMIT_FAIL_OPEN", "false"),
        ]),
    )
    .unwrap();
    assert!(s.auth.enabled);
    assert_eq!(s.auth.jwt_algorithm, JwtAlgorithm::Hs512);
    assert_eq!(s.auth.access_token_lifetime, Duration::from_secs(5 * 60));
    assert_eq!(s.rate_limit.requests, 7);
    assert_eq!(s.rate_limit.window, Duration::from_secs(2));
    assert!(!s.rate_limit.fail_open);
    let shown = format!("{s:?}");
    assert!(
        !shown.contains("key-1") && !shown.contains("0123456789abcdef"),
        "{shown}"
    );
    assert_eq!(s.telemetry.worker_metrics_addr.to_string(), "0.0.0.0:9091");
    assert_eq!(s.freecad.pool_size, 2);
    assert_eq!(s.freecad.pool_max_jobs, 200);
    assert_eq!(s.freecad.isolation, FreecadIsolation::Bubblewrap);
}

#[test]
fn the_variable_list_is_derived_from_the_settings_fields() {
    let names = environment_variables();
    for expected in [
        "REDIS_URL",
        "ARTIFACT_STORE_URL",
        "AWS_ENDPOINT_URL",
        "WORKER_SHUTDOWN_GRACE_SECONDS",
        "AGENT_PLANNER_PRIMARY",
        "CONFIG_DIR",
        "APP_ENV",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
    }
    assert!(!names.iter().any(|n| n == "LLM_AGENTS"), "{names:?}");
    // Every derived name really is read: setting it to garbage changes the outcome or is
    // accepted as a string, never ignored because of a spelling mismatch.
    let dir = empty_dir();
    let err = Settings::load_from(dir.path(), env(&[("ARTIFACT_SWEEP_INTERVAL_SECONDS", "x")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("artifact_sweep_interval_seconds"), "{err}");
}

#[test]
fn artifact_store_settings_are_checked_at_load() {
    let dir = empty_dir();
    let err = Settings::load_from(dir.path(), env(&[("ARTIFACT_STORE_URL", "ftp://x")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("ARTIFACT_STORE_URL"), "{err}");
    let err = Settings::load_from(dir.path(), env(&[("ARTIFACT_PRESIGNED_DOWNLOADS", "true")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("ARTIFACT_PRESIGNED_DOWNLOADS"), "{err}");
    let s3 = Settings::load_from(
        dir.path(),
        env(&[
            ("ARTIFACT_STORE_URL", "s3://bucket/prefix"),
            ("ARTIFACT_PRESIGNED_DOWNLOADS", "true"),
            ("AWS_SECRET_ACCESS_KEY", "very-secret-value"),
            ("AWS_ALLOW_HTTP", "true"),
        ]),
    )
    .unwrap();
    assert!(s3.artifacts.s3.allow_http && s3.artifacts.presigned_downloads);
    assert!(!format!("{s3:?}").contains("very-secret-value"));
}

#[test]
fn freecad_isolation_accepts_only_known_modes() {
    let dir = empty_dir();
    for mode in FreecadIsolation::ALL.map(FreecadIsolation::as_str) {
        let s = Settings::load_from(dir.path(), env(&[("FREECAD_ISOLATION", mode)])).unwrap();
        assert_eq!(s.freecad.isolation.as_str(), mode);
    }
    let err = Settings::load_from(dir.path(), env(&[("FREECAD_ISOLATION", "none")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("FREECAD_ISOLATION"), "{err}");
    let err = Settings::load_from(dir.path(), env(&[("FREECAD_POOL_MAX_JOBS", "0")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("FREECAD_POOL_MAX_JOBS"), "{err}");
    let cold = Settings::load_from(dir.path(), env(&[("FREECAD_POOL_SIZE", "0")])).unwrap();
    assert_eq!(cold.freecad.pool_size, 0, "0 means a fresh process per job");
}

#[test]
fn files_then_app_env_file_then_environment() {
    let dir = empty_dir();
    std::fs::write(
        dir.path().join("default.toml"),
        "job_timeout_seconds = 100\nmax_body_bytes = 1000\nlog_format = \"json\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("staging.toml"),
        "max_body_bytes = 2000\nworker_concurrency = 7\n",
    )
    .unwrap();

    let only_files = Settings::load_from(dir.path(), env(&[])).unwrap();
    assert_eq!(only_files.queue.job_timeout.as_secs(), 100);
    assert_eq!(only_files.http.max_body_bytes, 1000);
    assert_eq!(
        only_files.queue.worker_concurrency, 64,
        "staging.toml not chosen"
    );

    let staged = Settings::load_from(dir.path(), env(&[("APP_ENV", "staging")])).unwrap();
    assert_eq!(staged.queue.job_timeout.as_secs(), 100, "from default.toml");
    assert_eq!(
        staged.http.max_body_bytes, 2000,
        "staging.toml wins over default.toml"
    );
    assert_eq!(staged.queue.worker_concurrency, 7);
    assert_eq!(staged.telemetry.log_format, LogFormat::Json);

    let from_env = Settings::load_from(
        dir.path(),
        env(&[("APP_ENV", "staging"), ("MAX_BODY_BYTES", "3000")]),
    )
    .unwrap();
    assert_eq!(
        from_env.http.max_body_bytes, 3000,
        "environment wins over files"
    );
}

#[test]
fn predecessor_redis_host_port_names_build_the_url() {
    let dir = empty_dir();
    let s = Settings::load_from(
        dir.path(),
        env(&[
            ("REDIS_HOST", "redis.internal"),
            ("REDIS_PORT", "6380"),
            ("REDIS_DB", "2"),
            ("REDIS_PASSWORD", "s3cret"),
        ]),
    )
    .unwrap();
    assert_eq!(
        s.redis.url.expose_secret(),
        "redis://:s3cret@redis.internal:6380/2"
    );
    assert!(
        !format!("{s:?}").contains("s3cret"),
        "the password must never appear in Debug output"
    );
}

#[test]
fn redis_url_wins_over_host_and_port() {
    let dir = empty_dir();
    let s = Settings::load_from(
        dir.path(),
        env(&[
            ("REDIS_URL", "redis://cache:7000/1"),
            ("REDIS_HOST", "ignored"),
        ]),
    )
    .unwrap();
    assert_eq!(s.redis.url.expose_secret(), "redis://cache:7000/1");
}

#[test]
fn empty_environment_values_count_as_unset() {
    let dir = empty_dir();
    let s =
        Settings::load_from(dir.path(), env(&[("REDIS_URL", ""), ("FREECAD_CMD", "")])).unwrap();
    assert_eq!(
        s.redis.url.expose_secret(),
        "redis://127.0.0.1:6379/0",
        "an empty REDIS_URL falls back to host and port"
    );
    assert!(s.freecad.cmd.is_none());
}

#[test]
fn invalid_values_are_rejected_with_the_variable_name() {
    let dir = empty_dir();
    let err = Settings::load_from(dir.path(), env(&[("JOB_TIMEOUT_SECONDS", "0")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("JOB_TIMEOUT_SECONDS"), "{err}");
    let err = Settings::load_from(dir.path(), env(&[("MAX_BODY_BYTES", "lots")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_body_bytes"), "{err}");
}

#[test]
fn agent_models_default_to_the_predecessors() {
    let dir = empty_dir();
    let s = Settings::load_from(dir.path(), env(&[])).unwrap();
    let agents = &s.llm.agents;
    assert_eq!(
        agents.planner.primary,
        "anthropic/claude-3-5-sonnet-20241022"
    );
    assert_eq!(agents.planner.fallback_model(), Some("google/gemini-pro"));
    assert_eq!(agents.planner.temperature, 0.3);
    assert_eq!(agents.planner.max_tokens, 4096);
    assert_eq!(agents.generator.primary, "openai/gpt-4o");
    assert_eq!(
        agents.generator.fallback_model(),
        Some("deepseek/deepseek-coder")
    );
    assert_eq!(agents.generator.temperature, 0.2);
    assert_eq!(agents.generator.max_tokens, 8192);
    assert_eq!(agents.validator.fallback_model(), Some("openai/gpt-4o"));
    assert_eq!(agents.validator.max_tokens, 2048);
    assert_eq!(agents.orchestrator.temperature, 0.4);
    assert_eq!(s.llm.openai_base_url, "https://api.openai.com/v1");
    assert_eq!(s.llm.anthropic_base_url, "https://api.anthropic.com");
    assert_eq!(
        s.llm.gemini_base_url,
        "https://generativelanguage.googleapis.com"
    );
    assert_eq!(s.llm.deepseek_base_url, "https://api.deepseek.com/v1");
    assert_eq!(s.llm.ollama_base_url, "http://localhost:11434");
    assert!(s.llm.openai_api_key.is_none() && s.llm.gemini_api_key.as_ref().is_none());
    assert!(s.llm.stream);
}

#[test]
fn agent_models_layer_file_then_environment() {
    let dir = empty_dir();
    std::fs::write(
        dir.path().join("default.toml"),
        "[llm_agents.generator]\nprimary = \"ollama/qwen2.5-coder\"\nmax_tokens = 1000\n\
         [llm_agents.validator]\nfallback = \"none\"\n",
    )
    .unwrap();
    let from_file = Settings::load_from(dir.path(), env(&[])).unwrap();
    assert_eq!(
        from_file.llm.agents.generator.primary,
        "ollama/qwen2.5-coder"
    );
    assert_eq!(from_file.llm.agents.generator.max_tokens, 1000);
    assert_eq!(
        from_file.llm.agents.generator.temperature, 0.2,
        "keys the file leaves out keep their defaults"
    );
    assert_eq!(from_file.llm.agents.validator.fallback_model(), None);

    let from_env = Settings::load_from(
        dir.path(),
        env(&[
            ("AGENT_GENERATOR_PRIMARY", "deepseek/deepseek-reasoner"),
            ("AGENT_PLANNER_TEMPERATURE", "0.7"),
            ("AGENT_ORCHESTRATOR_MAX_TOKENS", "99"),
        ]),
    )
    .unwrap();
    let agents = &from_env.llm.agents;
    assert_eq!(agents.generator.primary, "deepseek/deepseek-reasoner");
    assert_eq!(agents.generator.max_tokens, 1000, "still from the file");
    assert_eq!(agents.planner.temperature, 0.7);
    assert_eq!(agents.orchestrator.max_tokens, 99);
}

#[test]
fn provider_keys_never_print_and_google_key_stands_in_for_gemini() {
    let dir = empty_dir();
    let s = Settings::load_from(
        dir.path(),
        env(&[
            ("OPENAI_API_KEY", "sk-openai-secret"),
            ("ANTHROPIC_API_KEY", "sk-ant-secret"),
            ("GOOGLE_API_KEY", "google-secret"),
            ("DEEPSEEK_API_KEY", "deepseek-secret"),
            ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1"),
        ]),
    )
    .unwrap();
    assert_eq!(
        s.llm.gemini_api_key.as_ref().unwrap().expose_secret(),
        "google-secret"
    );
    assert_eq!(s.llm.openai_base_url, "http://127.0.0.1:9/v1");
    let shown = format!("{s:?}");
    for secret in ["sk-openai", "sk-ant", "google-secret", "deepseek-secret"] {
        assert!(!shown.contains(secret), "{secret} printed in {shown}");
    }
}

#[test]
fn malformed_agent_models_name_the_variable() {
    let dir = empty_dir();
    for (name, value) in [
        ("AGENT_PLANNER_PRIMARY", "gpt-4o"),
        ("AGENT_GENERATOR_FALLBACK", "coder"),
        ("AGENT_VALIDATOR_TEMPERATURE", "3"),
        ("AGENT_ORCHESTRATOR_MAX_TOKENS", "0"),
    ] {
        let err = Settings::load_from(dir.path(), env(&[(name, value)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(name), "{name}: {err}");
    }
}

#[test]
fn principal_budgets_are_parsed_at_load_and_bad_ones_name_the_variable() {
    let dir = empty_dir();
    let s = Settings::load_from(
        dir.path(),
        env(&[
            (
                "PRINCIPAL_BUDGETS",
                "alice:usd=5,freecad_seconds=3600,period=1d",
            ),
            ("BUDGET_PERIOD", "1h"),
        ]),
    )
    .unwrap();
    let alice = s.budgets.principals.get("alice").unwrap();
    assert_eq!(alice.usd, Some(5.0));
    assert_eq!(alice.period.label(), "1d");
    assert_eq!(s.budgets.default_period.label(), "1h");
    assert!(s.budgets.principals.get("bob").is_none());
    assert!(!s.budgets.metrics_per_principal);

    for (name, value, needle) in [
        ("PRINCIPAL_BUDGETS", "alice:usd=five", "PRINCIPAL_BUDGETS"),
        ("BUDGET_PERIOD", "1y", "BUDGET_PERIOD"),
        (
            "BUDGET_WEBHOOK_URL",
            "ftp://billing/hook",
            "BUDGET_WEBHOOK_URL",
        ),
        (
            "BUDGET_WEBHOOK_URL",
            "http://billing.internal/hook",
            "WEBHOOK_SECRET",
        ),
    ] {
        let error = Settings::load_from(dir.path(), env(&[(name, value)])).unwrap_err();
        assert!(
            error.to_string().contains(needle),
            "{name}={value}: {error}"
        );
    }
    let signed = Settings::load_from(
        dir.path(),
        env(&[
            ("BUDGET_WEBHOOK_URL", "http://billing.internal/hook"),
            ("WEBHOOK_SECRET", "s3cret"),
        ]),
    )
    .unwrap();
    assert_eq!(
        signed.budgets.webhook_url.unwrap().as_str(),
        "http://billing.internal/hook"
    );
}

#[test]
fn the_result_cache_keeps_entries_a_week_and_zero_turns_it_off() {
    let dir = empty_dir();
    let s = Settings::load_from(dir.path(), env(&[])).unwrap();
    assert_eq!(s.result_cache.ttl, Some(Duration::from_secs(604_800)));
    let s = Settings::load_from(dir.path(), env(&[("RESULT_CACHE_TTL_SECONDS", "60")])).unwrap();
    assert_eq!(s.result_cache.ttl, Some(Duration::from_secs(60)));
    let s = Settings::load_from(dir.path(), env(&[("RESULT_CACHE_TTL_SECONDS", "0")])).unwrap();
    assert_eq!(s.result_cache.ttl, None);
}
