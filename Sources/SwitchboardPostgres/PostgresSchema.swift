import Foundation
import Logging
import PostgresNIO

/// The cluster's tables and functions, created and migrated at start.
///
/// Several nodes may start at once: the migration runs under a session advisory lock, so one
/// node applies it and the others find it applied. Each migration is applied once, in its own
/// transaction, and recorded in `switchboard_schema_version`; a migration is never edited
/// after it shipped, only followed by another.
///
/// The writes that must be atomic are PL/pgSQL functions, so each is one round trip and one
/// transaction: an append takes its room's row lock (commit order is `seq` order), and
/// presence changes take an advisory lock per room and user (two nodes cannot both decide
/// they saw a user's first connection).
enum PostgresSchema {
    /// Any constant shared by every node; names the migration lock in `pg_locks`.
    static let migrationLock: Int64 = 0x5357_4954_4348 // "SWITCH"

    /// Each migration is a script of statements separated by lines holding only `;;` (the
    /// extended query protocol takes one statement at a time, and function bodies hold `;`).
    static let migrations: [String] = [
        // 1: rooms, messages, idempotency keys, tickets, nodes and presence.
        #"""
        CREATE TABLE switchboard_rooms (
            room text PRIMARY KEY,
            epoch text NOT NULL,
            seq bigint NOT NULL DEFAULT 0
        );
        ;;
        CREATE TABLE switchboard_messages (
            room text NOT NULL,
            seq bigint NOT NULL,
            sender text NOT NULL,
            body text NOT NULL,
            sent timestamptz NOT NULL,
            PRIMARY KEY (room, seq)
        );
        ;;
        CREATE TABLE switchboard_idempotency (
            room text NOT NULL,
            sender text NOT NULL,
            key text NOT NULL,
            seq bigint NOT NULL,
            created timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (room, sender, key)
        );
        ;;
        CREATE INDEX switchboard_idempotency_created ON switchboard_idempotency (created);
        ;;
        CREATE TABLE switchboard_tickets (
            ticket text PRIMARY KEY,
            username text NOT NULL,
            expires timestamptz NOT NULL
        );
        ;;
        CREATE INDEX switchboard_tickets_expires ON switchboard_tickets (expires);
        ;;
        CREATE TABLE switchboard_nodes (
            id uuid PRIMARY KEY,
            name text NOT NULL,
            started timestamptz NOT NULL DEFAULT now(),
            heartbeat timestamptz NOT NULL DEFAULT now()
        );
        ;;
        CREATE INDEX switchboard_nodes_name ON switchboard_nodes (name);
        ;;
        CREATE TABLE switchboard_presence (
            room text NOT NULL,
            username text NOT NULL,
            node uuid NOT NULL,
            PRIMARY KEY (room, username, node)
        );
        ;;
        CREATE INDEX switchboard_presence_node ON switchboard_presence (node);
        ;;

        -- A room's position, creating the room (with a fresh epoch) if it is new. Each
        -- statement of a volatile function sees what committed before it, so the SELECT
        -- finds the row another node inserted meanwhile.
        CREATE FUNCTION switchboard_position(p_room text) RETURNS TABLE (epoch text, seq bigint)
        LANGUAGE plpgsql AS $$
        #variable_conflict use_column
        BEGIN
            INSERT INTO switchboard_rooms (room, epoch) VALUES (p_room, gen_random_uuid()::text)
                ON CONFLICT (room) DO NOTHING;
            RETURN QUERY SELECT r.epoch, r.seq FROM switchboard_rooms r WHERE r.room = p_room;
        END $$;
        ;;

        -- Stores a batch of messages for one room, in order, each with the room's next
        -- seq, or recognises a resend by its key (also one earlier in the same batch). The
        -- room row's lock makes commit order seq order; one transaction (one WAL flush) for
        -- the batch. Each message's NOTIFY goes out at COMMIT, in order, with the message
        -- when it fits in NOTIFY's 8000 bytes, else only its room and seq (the listeners
        -- fetch it). Returns one row per message, in the order given. An empty key is none.
        CREATE FUNCTION switchboard_append(
            p_room text, p_senders text[], p_bodies text[], p_sent timestamptz[], p_keys text[], p_retention bigint
        ) RETURNS TABLE (seq bigint, duplicate boolean)
        LANGUAGE plpgsql AS $$
        #variable_conflict use_column
        DECLARE
            v_index integer;
            v_seq bigint;
            v_key text;
            v_payload text;
        BEGIN
            INSERT INTO switchboard_rooms (room, epoch) VALUES (p_room, gen_random_uuid()::text)
                ON CONFLICT (room) DO NOTHING;
            SELECT r.seq INTO v_seq FROM switchboard_rooms r WHERE r.room = p_room FOR UPDATE;
            FOR v_index IN 1 .. coalesce(array_length(p_senders, 1), 0) LOOP
                v_key := nullif(p_keys[v_index], '');
                IF v_key IS NOT NULL THEN
                    PERFORM 1 FROM switchboard_idempotency i
                        WHERE i.room = p_room AND i.sender = p_senders[v_index] AND i.key = v_key;
                    IF FOUND THEN
                        RETURN QUERY SELECT i.seq, true FROM switchboard_idempotency i
                            WHERE i.room = p_room AND i.sender = p_senders[v_index] AND i.key = v_key;
                        CONTINUE;
                    END IF;
                END IF;
                v_seq := v_seq + 1;
                INSERT INTO switchboard_messages (room, seq, sender, body, sent)
                    VALUES (p_room, v_seq, p_senders[v_index], p_bodies[v_index], p_sent[v_index]);
                IF v_key IS NOT NULL THEN
                    INSERT INTO switchboard_idempotency (room, sender, key, seq)
                        VALUES (p_room, p_senders[v_index], v_key, v_seq);
                END IF;
                v_payload := json_build_object(
                    'r', p_room, 's', v_seq, 'f', p_senders[v_index], 'm', p_bodies[v_index],
                    't', floor(extract(epoch FROM p_sent[v_index]) * 1000)::bigint
                )::text;
                IF octet_length(v_payload) > 7900 THEN
                    v_payload := json_build_object('r', p_room, 's', v_seq)::text;
                END IF;
                PERFORM pg_notify('switchboard', v_payload);
                RETURN QUERY SELECT v_seq, false;
            END LOOP;
            UPDATE switchboard_rooms r SET seq = v_seq WHERE r.room = p_room AND r.seq <> v_seq;
            DELETE FROM switchboard_messages m WHERE m.room = p_room AND m.seq <= v_seq - p_retention;
        END $$;
        ;;

        -- Makes (room, user, node) present or absent. Under a lock per room and user, so
        -- the node that sees the user's first row appear (or last row go) is the only one
        -- to announce it, once, to every node.
        CREATE FUNCTION switchboard_presence_set(p_room text, p_user text, p_node uuid, p_present boolean)
        RETURNS boolean
        LANGUAGE plpgsql AS $$
        DECLARE
            v_changed integer;
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtext('switchboard_presence'), hashtext(p_room || '/' || p_user));
            IF p_present THEN
                INSERT INTO switchboard_presence (room, username, node) VALUES (p_room, p_user, p_node)
                    ON CONFLICT DO NOTHING;
            ELSE
                DELETE FROM switchboard_presence p WHERE p.room = p_room AND p.username = p_user AND p.node = p_node;
            END IF;
            GET DIAGNOSTICS v_changed = ROW_COUNT;
            IF v_changed > 0 AND NOT EXISTS (
                SELECT 1 FROM switchboard_presence p WHERE p.room = p_room AND p.username = p_user AND p.node <> p_node
            ) THEN
                PERFORM pg_notify('switchboard', json_build_object(
                    'k', CASE WHEN p_present THEN 'joined' ELSE 'left' END, 'r', p_room, 'u', p_user
                )::text);
                RETURN true;
            END IF;
            RETURN false;
        END $$;
        ;;

        -- Removes a node's presence, announcing each user that had no other node.
        -- In (room, user) order, so two purges take their locks in the same order.
        CREATE FUNCTION switchboard_purge_node(p_node uuid) RETURNS integer
        LANGUAGE plpgsql AS $$
        DECLARE
            v_row record;
            v_count integer := 0;
        BEGIN
            FOR v_row IN SELECT p.room, p.username FROM switchboard_presence p WHERE p.node = p_node
                ORDER BY p.room, p.username
            LOOP
                PERFORM switchboard_presence_set(v_row.room, v_row.username, p_node, false);
                v_count := v_count + 1;
            END LOOP;
            RETURN v_count;
        END $$;
        ;;

        -- Registers a node's new life: the previous life of a node with the same name
        -- (restarted, maybe after kill -9) is purged at once rather than after its timeout.
        CREATE FUNCTION switchboard_register_node(p_node uuid, p_name text) RETURNS integer
        LANGUAGE plpgsql AS $$
        DECLARE
            v_old record;
            v_count integer := 0;
        BEGIN
            FOR v_old IN DELETE FROM switchboard_nodes n WHERE n.name = p_name AND n.id <> p_node RETURNING n.id LOOP
                v_count := v_count + switchboard_purge_node(v_old.id);
            END LOOP;
            INSERT INTO switchboard_nodes (id, name) VALUES (p_node, p_name)
                ON CONFLICT (id) DO UPDATE SET heartbeat = now();
            RETURN v_count;
        END $$;
        ;;

        -- Declares nodes that stopped heartbeating dead and purges their presence. The
        -- DELETE ... RETURNING hands each dead node to exactly one sweeping node.
        CREATE FUNCTION switchboard_sweep_nodes(p_timeout interval) RETURNS integer
        LANGUAGE plpgsql AS $$
        DECLARE
            v_dead record;
            v_count integer := 0;
        BEGIN
            FOR v_dead IN DELETE FROM switchboard_nodes n WHERE n.heartbeat < now() - p_timeout RETURNING n.id LOOP
                v_count := v_count + switchboard_purge_node(v_dead.id);
            END LOOP;
            -- Presence of a node whose row is gone (its purge was interrupted).
            FOR v_dead IN SELECT DISTINCT p.node AS id FROM switchboard_presence p
                WHERE NOT EXISTS (SELECT 1 FROM switchboard_nodes n WHERE n.id = p.node)
            LOOP
                v_count := v_count + switchboard_purge_node(v_dead.id);
            END LOOP;
            RETURN v_count;
        END $$;
        ;;
        """#,
    ]

    /// Brings the database to the latest schema. Safe when several nodes run it at once.
    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT pg_advisory_lock(\(migrationLock))", logger: logger)
        do {
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS switchboard_schema_version (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())",
                logger: logger
            )
            var current = 0
            for try await version in try await connection.query(
                "SELECT coalesce(max(version), 0) FROM switchboard_schema_version", logger: logger
            ).decode(Int.self) {
                current = version
            }
            for (index, migration) in migrations.enumerated() where index + 1 > current {
                let version = index + 1
                logger.notice("applying database migration", metadata: ["version": "\(version)"])
                try await connection.withTransaction(logger: logger) { transaction in
                    for statement in statements(of: migration) {
                        try await transaction.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await transaction.query("INSERT INTO switchboard_schema_version (version) VALUES (\(version))", logger: logger)
                }
            }
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(migrationLock))", logger: logger)
            throw error
        }
        try await connection.query("SELECT pg_advisory_unlock(\(migrationLock))", logger: logger)
    }

    static func statements(of script: String) -> [String] {
        script.components(separatedBy: "\n")
            .split { $0.trimmingCharacters(in: .whitespaces) == ";;" }
            .map { $0.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { !$0.isEmpty }
    }
}
