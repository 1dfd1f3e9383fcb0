-- gantry schema, PostgreSQL flavour. Same tables, columns and index names as
-- the SQLite schema (internal/store/sqlite/migrations), native types here.

CREATE TABLE site_configs (
	key   text PRIMARY KEY,
	value text NOT NULL
);

CREATE TABLE organizations (
	id         uuid PRIMARY KEY,
	name       text NOT NULL,
	is_default boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX organizations_name_key ON organizations (lower(name));
-- At most one default organization: racing creators collide here.
CREATE UNIQUE INDEX organizations_default_key ON organizations (is_default) WHERE is_default;

CREATE TABLE users (
	id              uuid PRIMARY KEY,
	email           text NOT NULL,
	-- Byte-order collation so ORDER BY username matches SQLite's.
	username        text COLLATE "C" NOT NULL,
	name            text NOT NULL DEFAULT '',
	avatar_url      text NOT NULL DEFAULT '',
	hashed_password bytea,
	status          text NOT NULL,
	login_type      text NOT NULL,
	roles           jsonb NOT NULL DEFAULT '[]',
	created_at      timestamptz NOT NULL,
	updated_at      timestamptz NOT NULL,
	last_seen_at    timestamptz NOT NULL,
	deleted         boolean NOT NULL DEFAULT false
);
-- Case-insensitive uniqueness among live users; deleted users free the name.
CREATE UNIQUE INDEX users_username_key ON users (lower(username)) WHERE NOT deleted;
CREATE UNIQUE INDEX users_email_key ON users (lower(email)) WHERE NOT deleted AND email <> '';

CREATE TABLE api_keys (
	id               text PRIMARY KEY,
	hashed_secret    bytea NOT NULL,
	user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	last_used        timestamptz NOT NULL,
	expires_at       timestamptz NOT NULL,
	created_at       timestamptz NOT NULL,
	updated_at       timestamptz NOT NULL,
	login_type       text NOT NULL,
	lifetime_seconds bigint NOT NULL DEFAULT 0,
	ip_address       text NOT NULL DEFAULT '',
	token_name       text NOT NULL DEFAULT '',
	scopes           jsonb NOT NULL DEFAULT '[]',
	allow_list       jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id, created_at);
CREATE INDEX api_keys_expires_at_idx ON api_keys (expires_at);
CREATE UNIQUE INDEX api_keys_user_token_name_key ON api_keys (user_id, token_name) WHERE login_type = 'token';

-- AI Bridge records. Children carry no foreign key (as in Coder: the gateway
-- writes in batches and retention deletes children explicitly).
CREATE TABLE aibridge_interceptions (
	id                uuid PRIMARY KEY,
	initiator_id      uuid NOT NULL,
	api_key_id        text NOT NULL DEFAULT '',
	provider          text NOT NULL,
	provider_name     text NOT NULL DEFAULT '',
	model             text NOT NULL,
	client            text NOT NULL DEFAULT '',
	client_session_id text NOT NULL DEFAULT '',
	user_agent        text NOT NULL DEFAULT '',
	metadata          jsonb,
	started_at        timestamptz NOT NULL,
	ended_at          timestamptz
);
CREATE INDEX aibridge_interceptions_started_idx ON aibridge_interceptions (started_at DESC, id DESC);
CREATE INDEX aibridge_interceptions_initiator_idx ON aibridge_interceptions (initiator_id, started_at DESC);

CREATE TABLE aibridge_token_usages (
	id                       uuid PRIMARY KEY,
	interception_id          uuid NOT NULL,
	provider_response_id     text NOT NULL DEFAULT '',
	input_tokens             bigint NOT NULL DEFAULT 0,
	output_tokens            bigint NOT NULL DEFAULT 0,
	cache_read_input_tokens  bigint NOT NULL DEFAULT 0,
	cache_write_input_tokens bigint NOT NULL DEFAULT 0,
	metadata                 jsonb,
	created_at               timestamptz NOT NULL
);
CREATE INDEX aibridge_token_usages_interception_idx ON aibridge_token_usages (interception_id);
CREATE INDEX aibridge_token_usages_response_idx ON aibridge_token_usages (provider_response_id);

CREATE TABLE aibridge_user_prompts (
	id                   uuid PRIMARY KEY,
	interception_id      uuid NOT NULL,
	provider_response_id text NOT NULL DEFAULT '',
	prompt               text NOT NULL,
	metadata             jsonb,
	created_at           timestamptz NOT NULL
);
CREATE INDEX aibridge_user_prompts_interception_idx ON aibridge_user_prompts (interception_id);
CREATE INDEX aibridge_user_prompts_response_idx ON aibridge_user_prompts (provider_response_id);

CREATE TABLE aibridge_tool_usages (
	id                    uuid PRIMARY KEY,
	interception_id       uuid NOT NULL,
	provider_response_id  text NOT NULL DEFAULT '',
	provider_tool_call_id text NOT NULL DEFAULT '',
	server_url            text NOT NULL DEFAULT '',
	tool                  text NOT NULL,
	input                 text NOT NULL DEFAULT '',
	injected              boolean NOT NULL DEFAULT false,
	invocation_error      text NOT NULL DEFAULT '',
	metadata              jsonb,
	created_at            timestamptz NOT NULL
);
CREATE INDEX aibridge_tool_usages_interception_idx ON aibridge_tool_usages (interception_id);
CREATE INDEX aibridge_tool_usages_response_idx ON aibridge_tool_usages (provider_response_id);
CREATE INDEX aibridge_tool_usages_call_idx ON aibridge_tool_usages (provider_tool_call_id);

CREATE TABLE aibridge_model_thoughts (
	id              uuid PRIMARY KEY,
	interception_id uuid NOT NULL,
	content         text NOT NULL,
	metadata        jsonb,
	created_at      timestamptz NOT NULL
);
CREATE INDEX aibridge_model_thoughts_interception_idx ON aibridge_model_thoughts (interception_id);
