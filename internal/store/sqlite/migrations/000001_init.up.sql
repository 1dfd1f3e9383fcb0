-- gantry schema, SQLite flavour. Conventions (see internal/store/internal/sqldb):
-- UUIDs as canonical TEXT, times as INTEGER Unix microseconds (UTC), booleans
-- as INTEGER 0/1, JSON as TEXT. STRICT tables reject values of the wrong type.

CREATE TABLE site_configs (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE organizations (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	is_default INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX organizations_name_key ON organizations (lower(name));
-- At most one default organization: racing creators collide here.
CREATE UNIQUE INDEX organizations_default_key ON organizations (is_default) WHERE is_default;

CREATE TABLE users (
	id              TEXT PRIMARY KEY,
	email           TEXT NOT NULL,
	username        TEXT NOT NULL,
	name            TEXT NOT NULL DEFAULT '',
	avatar_url      TEXT NOT NULL DEFAULT '',
	hashed_password BLOB,
	status          TEXT NOT NULL,
	login_type      TEXT NOT NULL,
	roles           TEXT NOT NULL DEFAULT '[]',
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	last_seen_at    INTEGER NOT NULL,
	deleted         INTEGER NOT NULL DEFAULT 0
) STRICT;
-- Case-insensitive uniqueness among live users; deleted users free the name.
CREATE UNIQUE INDEX users_username_key ON users (lower(username)) WHERE NOT deleted;
CREATE UNIQUE INDEX users_email_key ON users (lower(email)) WHERE NOT deleted AND email <> '';

CREATE TABLE api_keys (
	id               TEXT PRIMARY KEY,
	hashed_secret    BLOB NOT NULL,
	user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	last_used        INTEGER NOT NULL,
	expires_at       INTEGER NOT NULL,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL,
	login_type       TEXT NOT NULL,
	lifetime_seconds INTEGER NOT NULL DEFAULT 0,
	ip_address       TEXT NOT NULL DEFAULT '',
	token_name       TEXT NOT NULL DEFAULT '',
	scopes           TEXT NOT NULL DEFAULT '[]',
	allow_list       TEXT NOT NULL DEFAULT '[]'
) STRICT, WITHOUT ROWID;
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id, created_at);
CREATE INDEX api_keys_expires_at_idx ON api_keys (expires_at);
CREATE UNIQUE INDEX api_keys_user_token_name_key ON api_keys (user_id, token_name) WHERE login_type = 'token';

-- AI Bridge records. Children carry no foreign key (as in Coder: the gateway
-- writes in batches and retention deletes children explicitly).
CREATE TABLE aibridge_interceptions (
	id                TEXT PRIMARY KEY,
	initiator_id      TEXT NOT NULL,
	api_key_id        TEXT NOT NULL DEFAULT '',
	provider          TEXT NOT NULL,
	provider_name     TEXT NOT NULL DEFAULT '',
	model             TEXT NOT NULL,
	client            TEXT NOT NULL DEFAULT '',
	client_session_id TEXT NOT NULL DEFAULT '',
	user_agent        TEXT NOT NULL DEFAULT '',
	metadata          TEXT,
	started_at        INTEGER NOT NULL,
	ended_at          INTEGER
) STRICT;
CREATE INDEX aibridge_interceptions_started_idx ON aibridge_interceptions (started_at DESC, id DESC);
CREATE INDEX aibridge_interceptions_initiator_idx ON aibridge_interceptions (initiator_id, started_at DESC);

CREATE TABLE aibridge_token_usages (
	id                      TEXT PRIMARY KEY,
	interception_id         TEXT NOT NULL,
	provider_response_id    TEXT NOT NULL DEFAULT '',
	input_tokens            INTEGER NOT NULL DEFAULT 0,
	output_tokens           INTEGER NOT NULL DEFAULT 0,
	cache_read_input_tokens INTEGER NOT NULL DEFAULT 0,
	cache_write_input_tokens INTEGER NOT NULL DEFAULT 0,
	metadata                TEXT,
	created_at              INTEGER NOT NULL
) STRICT;
CREATE INDEX aibridge_token_usages_interception_idx ON aibridge_token_usages (interception_id);
CREATE INDEX aibridge_token_usages_response_idx ON aibridge_token_usages (provider_response_id);

CREATE TABLE aibridge_user_prompts (
	id                   TEXT PRIMARY KEY,
	interception_id      TEXT NOT NULL,
	provider_response_id TEXT NOT NULL DEFAULT '',
	prompt               TEXT NOT NULL,
	metadata             TEXT,
	created_at           INTEGER NOT NULL
) STRICT;
CREATE INDEX aibridge_user_prompts_interception_idx ON aibridge_user_prompts (interception_id);
CREATE INDEX aibridge_user_prompts_response_idx ON aibridge_user_prompts (provider_response_id);

CREATE TABLE aibridge_tool_usages (
	id                    TEXT PRIMARY KEY,
	interception_id       TEXT NOT NULL,
	provider_response_id  TEXT NOT NULL DEFAULT '',
	provider_tool_call_id TEXT NOT NULL DEFAULT '',
	server_url            TEXT NOT NULL DEFAULT '',
	tool                  TEXT NOT NULL,
	input                 TEXT NOT NULL DEFAULT '',
	injected              INTEGER NOT NULL DEFAULT 0,
	invocation_error      TEXT NOT NULL DEFAULT '',
	metadata              TEXT,
	created_at            INTEGER NOT NULL
) STRICT;
CREATE INDEX aibridge_tool_usages_interception_idx ON aibridge_tool_usages (interception_id);
CREATE INDEX aibridge_tool_usages_response_idx ON aibridge_tool_usages (provider_response_id);
CREATE INDEX aibridge_tool_usages_call_idx ON aibridge_tool_usages (provider_tool_call_id);

CREATE TABLE aibridge_model_thoughts (
	id              TEXT PRIMARY KEY,
	interception_id TEXT NOT NULL,
	content         TEXT NOT NULL,
	metadata        TEXT,
	created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX aibridge_model_thoughts_interception_idx ON aibridge_model_thoughts (interception_id);
