-- riskd rule store, schema version 1 (PRAGMA user_version = 1).
-- Versions are immutable: a change of rules is a new version; exactly one
-- version per scenario is active. Lists live apart from versions. API keys
-- are stored as SHA-256 hashes only. See docs/internals/store.md.

CREATE TABLE IF NOT EXISTS scenarios (
	name            TEXT PRIMARY KEY,
	active_version  INTEGER,
	created_at      INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS versions (
	scenario        TEXT NOT NULL REFERENCES scenarios(name),
	version         INTEGER NOT NULL,
	created_at      INTEGER NOT NULL,
	description     TEXT,
	checksum        TEXT NOT NULL,   -- sha256 of the canonical definition
	nrules          INTEGER NOT NULL,
	definition      TEXT NOT NULL,   -- canonical JSON, lists excluded
	PRIMARY KEY (scenario, version)
);

CREATE TRIGGER IF NOT EXISTS versions_immutable
BEFORE UPDATE ON versions
BEGIN
	SELECT RAISE(ABORT, 'versions are immutable');
END;

CREATE TABLE IF NOT EXISTS rules (
	scenario        TEXT NOT NULL,
	version         INTEGER NOT NULL,
	idx             INTEGER NOT NULL,
	id              TEXT NOT NULL,
	name            TEXT,
	reason          TEXT,
	when_expr       TEXT NOT NULL,
	score           INTEGER NOT NULL,
	action          TEXT,
	mode            TEXT NOT NULL,
	tags            TEXT,            -- JSON array
	PRIMARY KEY (scenario, version, idx),
	FOREIGN KEY (scenario, version) REFERENCES versions(scenario, version)
);

CREATE TABLE IF NOT EXISTS activations (
	seq             INTEGER PRIMARY KEY AUTOINCREMENT,
	scenario        TEXT NOT NULL REFERENCES scenarios(name),
	version         INTEGER NOT NULL,
	activated_at    INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS lists (
	name            TEXT PRIMARY KEY,
	updated_at      INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS list_items (
	list            TEXT NOT NULL REFERENCES lists(name) ON DELETE CASCADE,
	item            TEXT NOT NULL,
	PRIMARY KEY (list, item)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS api_keys (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	name            TEXT UNIQUE,
	role            TEXT NOT NULL CHECK (role IN ('score', 'admin')),
	prefix          TEXT NOT NULL,
	hash            TEXT NOT NULL UNIQUE,
	created_at      INTEGER NOT NULL,
	revoked_at      INTEGER
);
