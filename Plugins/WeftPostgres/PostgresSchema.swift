/// The store's schema, versioned: each migration takes the database from one version to the
/// next, in one transaction, and the version is kept in `weft_schema`.
///
/// Times are seconds since 1970 (`float8`), read from the database's clock
/// (`clock_timestamp()`), never from a worker's, unless a test injects a clock. Fencing tokens
/// and lease tokens are kept as `bigint`, shifted so that their unsigned order is kept.
enum PostgresSchema {
    /// The version this build writes and reads.
    static let currentVersion = 2

    /// The migrations, each a list of statements run in one transaction; the first takes an
    /// empty database to version 1.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE weft_values (run text NOT NULL, name text NOT NULL, value bytea NOT NULL, PRIMARY KEY (run, name))
            """,
            """
            CREATE TABLE weft_fences (run text NOT NULL, name text NOT NULL, token bigint NOT NULL, PRIMARY KEY (run, name))
            """,
            """
            CREATE TABLE weft_sets (run text NOT NULL, name text NOT NULL, member text NOT NULL, PRIMARY KEY (run, name, member))
            """,
            """
            CREATE TABLE weft_set_sizes (run text NOT NULL, name text NOT NULL, size bigint NOT NULL, PRIMARY KEY (run, name))
            """,
            """
            CREATE TABLE weft_counters (run text NOT NULL, name text NOT NULL, value bigint NOT NULL, PRIMARY KEY (run, name))
            """,
            """
            CREATE TABLE weft_leases (
                run text NOT NULL, name text NOT NULL, owner text NOT NULL, expires_at float8 NOT NULL, token bigint NOT NULL,
                PRIMARY KEY (run, name))
            """,
            """
            CREATE TABLE weft_timers (
                run text NOT NULL, name text NOT NULL, due_at float8 NOT NULL, claimed_until float8,
                payload bytea NOT NULL, state smallint NOT NULL DEFAULT 0, PRIMARY KEY (run, name))
            """,
            """
            CREATE INDEX weft_timers_due ON weft_timers (due_at) WHERE state = 0
            """,
            """
            CREATE TABLE weft_progress (run text PRIMARY KEY, quiet_until float8 NOT NULL)
            """,
            """
            CREATE INDEX weft_progress_quiet ON weft_progress (quiet_until)
            """,
            """
            CREATE TABLE weft_context (run text NOT NULL, key text NOT NULL, value bytea NOT NULL, PRIMARY KEY (run, key))
            """,
            """
            CREATE TABLE weft_context_origins (run text NOT NULL, origin text NOT NULL, PRIMARY KEY (run, origin))
            """,
            """
            -- Adds members to sets, in order; returns each set's size after its member was added.
            CREATE FUNCTION weft_add_to_sets(p_run text, p_names text[], p_members text[]) RETURNS bigint[]
            LANGUAGE plpgsql AS $$
            DECLARE
                sizes bigint[] := '{}';
                added int;
                current bigint;
            BEGIN
                FOR i IN 1 .. coalesce(array_length(p_names, 1), 0) LOOP
                    INSERT INTO weft_sets (run, name, member) VALUES (p_run, p_names[i], p_members[i]) ON CONFLICT DO NOTHING;
                    GET DIAGNOSTICS added = ROW_COUNT;
                    IF added = 1 THEN
                        INSERT INTO weft_set_sizes AS s (run, name, size) VALUES (p_run, p_names[i], 1)
                        ON CONFLICT (run, name) DO UPDATE SET size = s.size + 1 RETURNING size INTO current;
                    ELSE
                        SELECT size INTO current FROM weft_set_sizes WHERE run = p_run AND name = p_names[i];
                    END IF;
                    sizes := sizes || coalesce(current, 0);
                END LOOP;
                RETURN sizes;
            END $$
            """,
            """
            -- Checks p_token against the fence of (p_run, p_fence) and, when it may write (it is
            -- at least the highest token seen), raises the fence to it, in one statement that
            -- locks the fence's row until the caller's transaction ends.
            CREATE FUNCTION weft_fence_allows(p_run text, p_fence text, p_token bigint) RETURNS boolean
            LANGUAGE plpgsql AS $$
            DECLARE
                allowed boolean;
            BEGIN
                INSERT INTO weft_fences AS f (run, name, token) VALUES (p_run, p_fence, p_token)
                ON CONFLICT (run, name) DO UPDATE SET token = excluded.token WHERE f.token <= excluded.token
                RETURNING true INTO allowed;
                RETURN coalesce(allowed, false);
            END $$
            """,
            """
            -- Stores p_value at (p_run, p_name) unless it has one, fenced when p_fence is given;
            -- when stored, adds the members to their sets. Outcome 0: stored (with the sets'
            -- sizes), 1: exists (with the value), 2: fenced.
            CREATE FUNCTION weft_set_if_absent(
                p_run text, p_name text, p_value bytea, p_fence text, p_token bigint, p_sets text[], p_members text[],
                OUT outcome int, OUT existing bytea, OUT sizes bigint[])
            LANGUAGE plpgsql AS $$
            DECLARE
                stored int;
            BEGIN
                sizes := '{}';
                IF p_fence IS NOT NULL AND NOT weft_fence_allows(p_run, p_fence, p_token) THEN
                    outcome := 2;
                    RETURN;
                END IF;
                INSERT INTO weft_values (run, name, value) VALUES (p_run, p_name, p_value) ON CONFLICT DO NOTHING;
                GET DIAGNOSTICS stored = ROW_COUNT;
                IF stored = 0 THEN
                    outcome := 1;
                    SELECT value INTO existing FROM weft_values WHERE run = p_run AND name = p_name;
                    RETURN;
                END IF;
                outcome := 0;
                IF coalesce(array_length(p_sets, 1), 0) > 0 THEN
                    sizes := weft_add_to_sets(p_run, p_sets, p_members);
                END IF;
            END $$
            """,
            """
            -- Replaces the value at (p_run, p_name) when it is p_expected (NULL: absent), fenced
            -- when p_fence is given. Outcome 0: swapped, 1: mismatch (with the current value),
            -- 2: fenced.
            CREATE FUNCTION weft_compare_and_set(
                p_run text, p_name text, p_expected bytea, p_new bytea, p_fence text, p_token bigint,
                OUT outcome int, OUT current bytea)
            LANGUAGE plpgsql AS $$
            DECLARE
                changed int;
            BEGIN
                IF p_fence IS NOT NULL AND NOT weft_fence_allows(p_run, p_fence, p_token) THEN
                    outcome := 2;
                    RETURN;
                END IF;
                IF p_expected IS NULL THEN
                    INSERT INTO weft_values (run, name, value) VALUES (p_run, p_name, p_new) ON CONFLICT DO NOTHING;
                ELSE
                    UPDATE weft_values SET value = p_new WHERE run = p_run AND name = p_name AND value = p_expected;
                END IF;
                GET DIAGNOSTICS changed = ROW_COUNT;
                IF changed = 0 THEN
                    outcome := 1;
                    SELECT value INTO current FROM weft_values WHERE run = p_run AND name = p_name;
                    RETURN;
                END IF;
                outcome := 0;
            END $$
            """,
            """
            -- Applies a context patch (final values per key: sets, then deletes) at most once per
            -- origin; returns whether it was applied.
            CREATE FUNCTION weft_apply_context(
                p_run text, p_origin text, p_keys text[], p_values bytea[], p_deleted text[]) RETURNS boolean
            LANGUAGE plpgsql AS $$
            DECLARE
                fresh int;
            BEGIN
                IF p_origin IS NOT NULL THEN
                    INSERT INTO weft_context_origins (run, origin) VALUES (p_run, p_origin) ON CONFLICT DO NOTHING;
                    GET DIAGNOSTICS fresh = ROW_COUNT;
                    IF fresh = 0 THEN
                        RETURN false;
                    END IF;
                END IF;
                INSERT INTO weft_context AS c (run, key, value)
                SELECT p_run, k, v FROM unnest(p_keys, p_values) AS patch(k, v)
                ON CONFLICT (run, key) DO UPDATE SET value = excluded.value;
                DELETE FROM weft_context WHERE run = p_run AND key = ANY (p_deleted);
                RETURN true;
            END $$
            """,
            """
            -- Removes every record of a run.
            CREATE FUNCTION weft_delete_run(p_run text) RETURNS void
            LANGUAGE plpgsql AS $$
            BEGIN
                DELETE FROM weft_values WHERE run = p_run;
                DELETE FROM weft_fences WHERE run = p_run;
                DELETE FROM weft_sets WHERE run = p_run;
                DELETE FROM weft_set_sizes WHERE run = p_run;
                DELETE FROM weft_counters WHERE run = p_run;
                DELETE FROM weft_leases WHERE run = p_run;
                DELETE FROM weft_timers WHERE run = p_run;
                DELETE FROM weft_progress WHERE run = p_run;
                DELETE FROM weft_context WHERE run = p_run;
                DELETE FROM weft_context_origins WHERE run = p_run;
            END $$
            """,
        ],
        // 2: batches of operations in one statement; leases removed.
        [
            """
            -- Applies a batch of operations in order, in the caller's transaction. Step i is
            -- attempted when its conditions hold: those at positions (p_ends[i-1], p_ends[i]] of
            -- the condition arrays, each naming an earlier step that must have succeeded
            -- (outcome 0) and be of the kind the condition reads (0: a set-if-absent, 1: a
            -- compare-and-set, 2: a set addition whose size is p_sizes). Kinds: 0 read,
            -- 1 set-if-absent, 2 compare-and-set, 3 compare-and-set from absent, 4 add to set,
            -- 5 increment, 6 schedule a timer, 7 retire a timer, 8 record progress, 9 forget
            -- progress. One row per step: outcome -1 (not attempted), 0 (stored, swapped, done),
            -- 1 (exists, mismatch: with the value found) or 2 (fenced); the value read; the size,
            -- counter or whether a timer was scheduled.
            CREATE FUNCTION weft_apply_batch(
                p_kinds int[], p_runs text[], p_names text[], p_values bytea[], p_expected bytea[], p_fences text[],
                p_tokens bigint[], p_members text[], p_numbers bigint[], p_seconds float8[],
                p_ends int[], p_condition_kinds int[], p_condition_steps int[], p_sizes bigint[], p_now float8,
                OUT o_step int, OUT o_outcome int, OUT o_value bytea, OUT o_number bigint)
            RETURNS SETOF record
            LANGUAGE plpgsql AS $$
            DECLARE
                steps int := coalesce(array_length(p_kinds, 1), 0);
                outcomes int[] := '{}';
                numbers bigint[] := '{}';
                kinds_read int[] := ARRAY[1, 2, 4];
                now_at float8 := coalesce(p_now, extract(epoch from clock_timestamp()));
                condition_from int := 1;
                allowed boolean;
                target int;
                changed int;
            BEGIN
                FOR i IN 1 .. steps LOOP
                    allowed := true;
                    FOR c IN condition_from .. coalesce(p_ends[i], 0) LOOP
                        target := p_condition_steps[c];
                        IF target IS NULL OR target < 1 OR target >= i OR outcomes[target] IS DISTINCT FROM 0
                            OR (p_kinds[target] <> kinds_read[p_condition_kinds[c] + 1]
                                AND NOT (p_condition_kinds[c] = 1 AND p_kinds[target] = 3))
                            OR (p_condition_kinds[c] = 2 AND numbers[target] IS DISTINCT FROM p_sizes[c]) THEN
                            allowed := false;
                        END IF;
                    END LOOP;
                    condition_from := greatest(condition_from, coalesce(p_ends[i], 0) + 1);
                    o_step := i;
                    o_outcome := 0;
                    o_value := NULL;
                    o_number := NULL;
                    IF NOT allowed THEN
                        o_outcome := -1;
                    ELSIF p_kinds[i] = 0 THEN
                        SELECT v.value INTO o_value FROM weft_values v WHERE v.run = p_runs[i] AND v.name = p_names[i];
                    ELSIF p_kinds[i] = 1 THEN
                        SELECT s.outcome, s.existing INTO o_outcome, o_value FROM weft_set_if_absent(
                            p_runs[i], p_names[i], p_values[i], nullif(p_fences[i], ''), p_tokens[i], '{}'::text[], '{}'::text[]) s;
                    ELSIF p_kinds[i] = 2 OR p_kinds[i] = 3 THEN
                        SELECT s.outcome, s.current INTO o_outcome, o_value FROM weft_compare_and_set(
                            p_runs[i], p_names[i], CASE WHEN p_kinds[i] = 2 THEN p_expected[i] END, p_values[i],
                            nullif(p_fences[i], ''), p_tokens[i]) s;
                    ELSIF p_kinds[i] = 4 THEN
                        o_number := (weft_add_to_sets(p_runs[i], ARRAY[p_names[i]], ARRAY[p_members[i]]))[1];
                    ELSIF p_kinds[i] = 5 THEN
                        INSERT INTO weft_counters AS c (run, name, value) VALUES (p_runs[i], p_names[i], p_numbers[i])
                        ON CONFLICT (run, name) DO UPDATE SET value = c.value + excluded.value RETURNING c.value INTO o_number;
                    ELSIF p_kinds[i] = 6 THEN
                        INSERT INTO weft_timers (run, name, due_at, payload)
                        VALUES (p_runs[i], p_names[i], now_at + p_seconds[i], p_values[i]) ON CONFLICT DO NOTHING;
                        GET DIAGNOSTICS changed = ROW_COUNT;
                        o_number := changed;
                    ELSIF p_kinds[i] = 7 THEN
                        INSERT INTO weft_timers (run, name, due_at, payload, state) VALUES (p_runs[i], p_names[i], 0, '', 1)
                        ON CONFLICT (run, name) DO UPDATE SET state = 1;
                    ELSIF p_kinds[i] = 8 THEN
                        INSERT INTO weft_progress AS p (run, quiet_until) VALUES (p_runs[i], now_at + p_seconds[i])
                        ON CONFLICT (run) DO UPDATE SET quiet_until = greatest(p.quiet_until, excluded.quiet_until);
                    ELSIF p_kinds[i] = 9 THEN
                        DELETE FROM weft_progress WHERE run = p_runs[i];
                    ELSE
                        RAISE EXCEPTION 'weft_apply_batch: unknown operation %', p_kinds[i];
                    END IF;
                    outcomes[i] := o_outcome;
                    numbers[i] := o_number;
                    RETURN NEXT;
                END LOOP;
            END $$
            """,
            """
            CREATE OR REPLACE FUNCTION weft_delete_run(p_run text) RETURNS void
            LANGUAGE plpgsql AS $$
            BEGIN
                DELETE FROM weft_values WHERE run = p_run;
                DELETE FROM weft_fences WHERE run = p_run;
                DELETE FROM weft_sets WHERE run = p_run;
                DELETE FROM weft_set_sizes WHERE run = p_run;
                DELETE FROM weft_counters WHERE run = p_run;
                DELETE FROM weft_timers WHERE run = p_run;
                DELETE FROM weft_progress WHERE run = p_run;
                DELETE FROM weft_context WHERE run = p_run;
                DELETE FROM weft_context_origins WHERE run = p_run;
            END $$
            """,
            """
            DROP TABLE weft_leases
            """,
        ],
    ]
}
